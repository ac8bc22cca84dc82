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
    lines += ["## The paper's claims, as measured here", "",
              "Claim 1: CTRL with exp(t u) has the highest best-of-4 win rate at matched KL. "
              "Claim 2: CTRL with -exp(-t u) has the highest worst-of-4 win rate. A claim "
              "**holds** at a KL when the CTRL run's win rate is above every other method's with "
              "95% intervals apart, is **not separable** when it is the highest but an interval "
              "overlaps, and **does not hold** when another method is higher. Effect sizes are "
              "the differences in win rate.", ""]
    tally = {}
    for judge, judge_label in (("reward_model", "reward model"), ("gold", "gold judge")):
        for claim, method, key, who in (("best", "ctrl_bon4", 0, "exp"),
                                        ("worst", "ctrl_won4", 1, "-exp")):
            for kl in kls:
                mine = runs.get((method, kl))
                if mine is None or rates(mine[0], judge, n)[key] is None:
                    continue
                me = rates(mine[0], judge, n)[key]
                parts, higher, overlapping = [], [], []
                for other in METHODS:
                    if other == method or (other, kl) not in runs:
                        continue
                    them = rates(runs[(other, kl)][0], judge, n)[key]
                    if them is None:
                        continue
                    parts.append(f"vs {METHODS[other]} {compare(me, them)}")
                    if them["mean"] >= me["mean"]:
                        higher.append(METHODS[other])
                    elif them["hi"] >= me["lo"]:
                        overlapping.append(METHODS[other])
                verdict = ("does not hold" if higher else
                           "not separable" if overlapping else "holds")
                tally.setdefault((judge, claim), []).append(verdict)
                lines.append(f"- {judge_label}, KL {kl}, {claim}-of-{n}: CTRL {who} {cell(me)}; "
                             + "; ".join(parts) + f". **{verdict}**"
                             + (f" ({', '.join(higher)} higher)" if higher else "") + ".")
        lines.append("")
    lines += ["### Verdict", ""]
    for (judge, claim), verdicts in tally.items():
        counts = {v: verdicts.count(v) for v in ("holds", "not separable", "does not hold")}
        label = "reward model" if judge == "reward_model" else "gold judge"
        lines.append(f"- {claim}-of-{n} under the {label}: "
                     + ", ".join(f"{c} of {len(verdicts)} KLs {v}" for v, c in counts.items() if c)
                     + ".")
    # Runs whose measured KL is far from their target: the rows above then do not compare at
    # matched KL, so also compare each CTRL run with the other methods interpolated to its KL.
    off = [(m, kl, runs[(m, kl)][0]["kl_k1"]["mean"]) for (m, kl) in sorted(runs)
           if not 0.67 <= runs[(m, kl)][0]["kl_k1"]["mean"] / float(kl) <= 1.5]
    if off:
        lines += ["", "Runs that missed their KL target by more than a factor 1.5 (so the rows at "
                  "that target are not at matched KL): "
                  + "; ".join(f"{METHODS[m]} at target {kl}: measured {k:.2f}" for m, kl, k in off)
                  + "."]
    lines += ["", "### At matched measured KL", "",
              "Each CTRL run against the other methods' win rates linearly interpolated (between "
              "their two runs nearest in measured KL) to the CTRL run's measured KL; interval "
              "ends are interpolated the same way; '-' where the KL is outside a method's runs.",
              "", f"| judge | CTRL run (measured KL) | procedure | CTRL | "
              + " | ".join(METHODS[m] for m in METHODS) + " |",
              "|---|---|---|---|" + "---|" * len(METHODS)]

    def at_kl(method, judge, key, k):
        pts = sorted((runs[(m, kl)][0]["kl_k1"]["mean"], rates(runs[(m, kl)][0], judge, n)[key])
                     for (m, kl) in runs if m == method)
        pts = [(x, e) for x, e in pts if e is not None]
        for (x0, e0), (x1, e1) in zip(pts, pts[1:]):
            if x0 <= k <= x1 and x1 > x0:
                w = (k - x0) / (x1 - x0)
                return {q: e0[q] + w * (e1[q] - e0[q]) for q in ("mean", "lo", "hi")}
        return None

    for judge in ("reward_model", "gold"):
        for method, key, proc in (("ctrl_bon4", 0, f"best-of-{n}"), ("ctrl_won4", 1, f"worst-of-{n}")):
            for kl in kls:
                if (method, kl) not in runs:
                    continue
                p = runs[(method, kl)][0]
                k = p["kl_k1"]["mean"]
                me = rates(p, judge, n)[key]
                if me is None:
                    continue
                row = [judge.replace("_", " "), f"{METHODS[method].split(',')[0]} @ {kl} ({k:.2f})",
                       proc, cell(me)]
                for other in METHODS:
                    if other == method:
                        row.append("")
                        continue
                    e = at_kl(other, judge, key, k)
                    row.append("-" if e is None else f"{cell(e)} ({me['mean'] - e['mean']:+.3f})")
                lines.append("| " + " | ".join(row) + " |")
    lines += ["", "Over-optimisation (the reward model's view against the hidden gold judge's): "
              "for each run, the standard win rate under both judges; a policy that games the "
              "learned reward model gains under it and not under the gold judge.", "",
              "| run | measured KL | RM standard | gold standard | RM - gold |", "|---|---|---|---|---|"]
    for kl in kls:
        for method, label in METHODS.items():
            if (method, kl) not in runs:
                continue
            p, _ = runs[(method, kl)]
            rm, _ = rates(p, "reward_model", 1)
            gold, _ = rates(p, "gold", 1)
            if rm is None or gold is None:
                continue
            lines.append(f"| {label}, KL {kl} | {p['kl_k1']['mean']:.3f} | {cell(rm)} | "
                         f"{cell(gold)} | {rm['mean'] - gold['mean']:+.3f} |")
    lines += ["", "Caveats: each method is one training run (one seed), so the intervals cover the "
              "evaluation's sampling of prompts and responses, not the variation between training "
              "runs; the runs are compared through separate intervals, not a paired test. "
              "Measured KLs differ from the targets: compare rows at similar measured KL.",
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
