#!/usr/bin/python3
"""Plots win rate against KL(policy || base) from infalign-eval results files.

One figure: a column per N (the eval's best_of_n), best-of-N win rates on the top row and
worst-of-N on the bottom row; every policy of every results file is a point with its
interval (vertical) and its KL standard error (horizontal); where the results carry the
calibrated-space theory curve of a policy's transform, it is drawn dashed in the same colour;
where they carry the oracle (oracle.enabled, or an oracle.json of `infalign-eval oracle`), each
transform's oracle curve on the real rewards is drawn solid, in the colour of the policy
trained with that transform. Needs Debian's python3-matplotlib (scripts/install_deps.sh
installs it), hence the shebang /usr/bin/python3 rather than whatever python3 comes first in
PATH.

    scripts/plot_eval.py runs/a/eval/results.json [more.json ...] \
        [--judge reward_model|gold] [--out win_rates.png]
    scripts/plot_eval.py runs/a/eval/oracle.json --out oracle.png
"""
import argparse
import json
import sys


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", help="results.json files written by infalign-eval")
    parser.add_argument("--judge", default="reward_model", help="judge to plot (default reward_model)")
    parser.add_argument("--out", default="win_rates.png", help="output PNG")
    args = parser.parse_args()

    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        sys.exit("plot_eval.py needs matplotlib: apt-get install python3-matplotlib")

    runs, curves, oracle_ns = [], {}, []
    for path in args.results:
        try:
            with open(path) as f:
                results = json.load(f)
        except (OSError, ValueError) as e:
            sys.exit(f"{path}: cannot read results ({e})")
        for policy in results.get("policies", []):
            judge = next((j for j in policy["judges"] if j["judge"] == args.judge), None)
            if judge is None:
                continue
            runs.append((policy["name"], policy, judge, path))
        oracle = results if "curves" in results else results.get("oracle")
        if oracle:
            oracle_ns = oracle["n"]
            for curve in oracle["curves"]:
                if curve["judge"] == args.judge:
                    curves.setdefault(curve["transform"], curve)
    if not runs and not curves:
        sys.exit(f"no policy or oracle in {', '.join(args.results)} was judged by {args.judge}")
    # Policy names as labels, with the file where two files hold the same name.
    names = [name for name, _, _, _ in runs]
    runs = [(name if names.count(name) == 1 else f"{path}:{name}", p, j)
            for name, p, j, path in runs]

    ns = sorted({row["n"] for _, _, judge in runs for row in judge["win_rates"]} | set(oracle_ns))
    fig, axes = plt.subplots(2, len(ns), figsize=(3.2 * len(ns), 6.4), squeeze=False,
                             sharex=True, sharey="row")
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    colour_of = {}  # oracle transform -> the colour of the policy trained with it
    for i, (label, policy, judge) in enumerate(runs):
        colour = colours[i % len(colours)]
        own = (judge.get("oracle") or {}).get("transform")
        if own:
            colour_of.setdefault(own, colour)
        kl, kl_se = policy["kl_k1"]["mean"], policy["kl_k1"]["se"]
        rows = {row["n"]: row for row in judge["win_rates"]}
        theory = policy.get("theory") if args.judge == "reward_model" else None
        for c, n in enumerate(ns):
            for r, key in enumerate(("best_of_n", "worst_of_n")):
                ax = axes[r][c]
                if n in rows:
                    e = rows[n][key]
                    ax.errorbar([kl], [e["mean"]], yerr=[[e["mean"] - e["lo"]], [e["hi"] - e["mean"]]],
                                xerr=[kl_se], fmt="o", color=colour,
                                label=label if (r, c) == (0, 0) else None)
                if theory and n in theory["n"]:
                    k = theory["n"].index(n)
                    ax.plot(theory["kl"], theory[key][k], "--", color=colour, linewidth=1,
                            label=f"theory: {theory['transform']}" if (r, c) == (0, 0) else None)
    spare = iter(colours[len(runs) % len(colours):] + colours)
    for transform, curve in curves.items():
        colour = colour_of.get(transform) or next(spare)
        kls = [p["kl"] for p in curve["points"]]
        for c, n in enumerate(ns):
            if n not in oracle_ns:
                continue
            k = oracle_ns.index(n)
            for r, key in enumerate(("best_of_n", "worst_of_n")):
                axes[r][c].plot(kls, [p[key][k]["mean"] for p in curve["points"]], "-",
                                color=colour, linewidth=1.2, alpha=0.8,
                                label=f"oracle: {curve['label']}" if (r, c) == (0, 0) else None)
    for c, n in enumerate(ns):
        axes[0][c].set_title("standard" if n == 1 else f"N = {n}")
        axes[1][c].set_xlabel("KL(policy || base), nats")
        for r in range(2):
            axes[r][c].axhline(0.5, color="grey", linewidth=0.5)
            axes[r][c].grid(alpha=0.3)
    axes[0][0].set_ylabel("best-of-N win rate")
    axes[1][0].set_ylabel("worst-of-N win rate")
    fig.suptitle(f"Win rate against the base (judge: {args.judge}) vs KL; solid: the oracle of "
                 "each transform on these rewards; dashed: calibrated-space theory", fontsize=10)
    axes[0][0].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
