#!/usr/bin/python3
"""Writes docs/results.md (the paper's comparison on the default task) from the results.json
files of scripts/reproduce.sh: one table per target KL, the verdicts on the paper's two claims
with effect sizes and whether the 95% intervals overlap, the gold-judge view, and two plots
(win rate vs KL under the reward model and under the gold judge) next to the markdown file.

    scripts/make_results.py --out docs/results.md runs/reproduce/*_kl*/eval/results.json
"""
import argparse
import datetime
import json
import os
import re
import subprocess
import sys

METHODS = {
    "rlhf_raw": "standard RLHF, raw reward",
    "rlhf_calibrated": "calibrated identity",
    "ctrl_bon4": "CTRL exp(t u), t = 12.63",
    "ctrl_won4": "CTRL -exp(-t u), t = 9.68",
}


def cell(e):
    return f"{e['mean']:.3f} [{e['lo']:.3f}, {e['hi']:.3f}]"


def rates(policy, judge, n):
    for j in policy["judges"]:
        if j["judge"] == judge:
            for row in j["win_rates"]:
                if row["n"] == n:
                    return row["best_of_n"], row["worst_of_n"]
    return None, None


def compare(a, b):
    diff = a["mean"] - b["mean"]
    overlap = a["lo"] <= b["hi"] and b["lo"] <= a["hi"]
    return f"{diff:+.3f}" + ("" if overlap else " (intervals apart)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", nargs="+")
    ap.add_argument("--out", required=True)
    ap.add_argument("--n", type=int, default=4)
    args = ap.parse_args()
    runs = {}
    for path in args.results:
        with open(path) as f:
            r = json.load(f)
        p = r["policies"][0]
        m = re.match(r"(.+)_kl([0-9.]+)$", p["name"])
        if not m or m.group(1) not in METHODS:
            sys.exit(f"{path}: policy name {p['name']} is not <method>_kl<KL>")
        runs[(m.group(1), m.group(2))] = (p, r)
    n = args.n
    kls = sorted({kl for _, kl in runs}, key=float)
    some = next(iter(runs.values()))[1]
    lines = [
        "# Results: the InfAlign comparison on the default task",
        "",
        f"Written by `scripts/reproduce.sh` (`scripts/make_results.py`) on "
        f"{datetime.date.today().isoformat()}: each method trained by stage ppo at a target KL "
        "(adaptive beta from the theory tool's starting value), each evaluated against the base "
        f"on {some['prompts']} evaluation prompts x {some['samples_per_prompt']} samples per model; "
        f"win rates against the base with {round(100 * some['confidence'])}% bootstrap intervals "
        "over prompts, KL(policy || base) per sequence (k1, mean +- standard error).",
        "",
    ]
    for kl in kls:
        lines += [f"## Target KL {kl}", "",
                  f"| method | measured KL | RM standard | RM best-of-{n} | RM worst-of-{n} | "
                  f"gold best-of-{n} | gold worst-of-{n} |",
                  "|---|---|---|---|---|---|---|"]
        for method, label in METHODS.items():
            if (method, kl) not in runs:
                continue
            p, _ = runs[(method, kl)]
            std, _ = rates(p, "reward_model", 1)
            b, w = rates(p, "reward_model", n)
            gb, gw = rates(p, "gold", n)
            lines.append(f"| {label} | {p['kl_k1']['mean']:.3f} +- {p['kl_k1']['se']:.3f} | "
                         f"{cell(std)} | {cell(b)} | {cell(w)} | "
                         f"{cell(gb) if gb else '-'} | {cell(gw) if gw else '-'} |")
        lines.append("")
    lines += ["## The paper's claims, as measured here", ""]
    for kl in kls:
        bon = runs.get(("ctrl_bon4", kl))
        won = runs.get(("ctrl_won4", kl))
        for claim, mine, key in (("best", bon, 0), ("worst", won, 1)):
            if mine is None:
                continue
            me = rates(mine[0], "reward_model", n)[key]
            parts = []
            for other in METHODS:
                if other in ("ctrl_bon4", "ctrl_won4") and other == mine[0]["name"].rsplit("_kl", 1)[0]:
                    continue
                if (other, kl) not in runs:
                    continue
                them = rates(runs[(other, kl)][0], "reward_model", n)[key]
                parts.append(f"vs {METHODS[other]} {compare(me, them)}")
            who = "exp" if claim == "best" else "-exp"
            lines.append(f"- KL {kl}, {claim}-of-{n} (reward model): CTRL {who} {cell(me)}; "
                         + "; ".join(parts) + ".")
    lines += ["", "A claim holds at a KL when the CTRL transform's win rate is above every other "
              "method's with intervals apart; the differences above are the effect sizes. "
              "Measured KLs differ somewhat from the targets: compare rows at similar measured KL.",
              "", "## Plots", ""]
    base = os.path.splitext(args.out)[0]
    for judge in ("reward_model", "gold"):
        png = f"{base}_{judge}.png"
        subprocess.run(["/usr/bin/python3", os.path.join(os.path.dirname(__file__), "plot_eval.py"),
                        "--judge", judge, "--out", png] + args.results, check=True,
                       stdout=subprocess.DEVNULL)
        lines.append(f"![win rate vs KL, judge {judge}]({os.path.basename(png)})")
        lines.append("")
    with open(args.out, "w") as f:
        f.write("\n".join(lines))


if __name__ == "__main__":
    main()
