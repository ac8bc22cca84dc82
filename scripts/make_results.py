#!/usr/bin/python3
"""Writes docs/results.md (the paper's comparison on the default task) from the results.json
of scripts/reproduce.sh (one evaluation of every run; several files also work): one table per
target KL (runs of several training seeds averaged, with the spread over seeds), the verdicts on
the paper's three claims (standard by the calibrated identity, best-of-N by exp, worst-of-N by
-exp) with effect sizes, paired intervals and the oracle's prediction, the oracle of each transform with
each run's KL efficiency and fraction of the oracle's gain, the gold-judge view, the task variant
(--variant: its evaluation; --heterogeneity: calibration reports), and two plots (win rate vs KL
under the reward model and under the gold judge, with the oracle curves) next to the markdown
file, and what the sweep cost (from the stages' own records). Policy names are
<method>_kl<KL>[_s<seed>], variant_<method>_kl<KL> in the variant. The same run directories give
the same file.

    scripts/make_results.py --out docs/results.md runs/reproduce/eval/results.json \
        [--variant runs/reproduce/variant/eval/results.json] \
        [--heterogeneity default=runs/default/calibration/calibration_report.json ...]
"""
import argparse
import copy
import datetime
import math
import random
import json
import os
import re
import statistics
import subprocess
import sys

METHODS = {
    "rlhf_raw": "standard RLHF, raw reward",
    "rlhf_calibrated": "calibrated identity",
    "ctrl_bon4": "CTRL exp(t u), t = 12.63",
    "ctrl_won4": "CTRL -exp(-t u), t = 9.68",
}


def cell(e):
    text = f"{e['mean']:.3f} [{e['lo']:.3f}, {e['hi']:.3f}]"
    if e.get("seed_sd") is not None:
        text += f" ±{e['seed_sd']:.3f}"
    return text


def bootstrap(values, resamples=2000, confidence=0.95, seed=1):
    rng = random.Random(seed)
    k = len(values)
    means = sorted(sum(values[rng.randrange(k)] for _ in range(k)) / k for _ in range(resamples))
    return (means[int((1 - confidence) / 2 * (resamples - 1))],
            means[int((1 + confidence) / 2 * (resamples - 1))])


def sd(values):
    m = sum(values) / len(values)
    return math.sqrt(sum((v - m) ** 2 for v in values) / (len(values) - 1))


def aggregate(entries):
    """One (policy, results) for the runs of one method and KL: with several training seeds, every
    win rate and the KL are means over the seeds, the per-prompt values the seeds' per-prompt
    means (what paired comparisons resample), the interval a bootstrap over prompts of those, and
    `seed_sd` the standard deviation of the seeds' own means (the training runs' spread)."""
    if len(entries) == 1:
        return entries[0]
    ps = [p for p, _ in entries]
    # Per-prompt values average only over evaluations of the same prompts and base samples.
    same_prompts = len({r.get("pairing_key") or None for _, r in entries}) == 1 and \
        entries[0][1].get("pairing_key")
    agg = copy.deepcopy(ps[0])
    agg["seeds"] = len(ps)
    kls = [p["kl_k1"]["mean"] for p in ps]
    agg["kl_k1"] = {"mean": sum(kls) / len(kls), "lo": min(kls), "hi": max(kls),
                    "se": math.sqrt(sum(p["kl_k1"]["se"] ** 2 for p in ps)) / len(ps),
                    "seed_sd": sd(kls)}
    for j, judge in enumerate(agg["judges"]):
        for r, row in enumerate(judge["win_rates"]):
            for side in ("best_of_n", "worst_of_n"):
                rows = [p["judges"][j]["win_rates"][r] for p in ps]
                means = [x[side]["mean"] for x in rows]
                pps = [x.get(side + "_per_prompt") for x in rows]
                out = {"mean": sum(means) / len(means), "seed_sd": sd(means), "se": None}
                if same_prompts and all(pps) and len({len(v) for v in pps}) == 1:
                    avg = [sum(v) / len(v) for v in zip(*pps)]
                    out["lo"], out["hi"] = bootstrap(avg)
                    row[side + "_per_prompt"] = avg
                else:
                    out["lo"] = sum(x[side]["lo"] for x in rows) / len(rows)
                    out["hi"] = sum(x[side]["hi"] for x in rows) / len(rows)
                    row[side + "_per_prompt"] = None
                row[side] = out
    return agg, entries[0][1]


def rates(policy, judge, n):
    for j in policy["judges"]:
        if j["judge"] == judge:
            for row in j["win_rates"]:
                if row["n"] == n:
                    return row["best_of_n"], row["worst_of_n"]
    return None, None


def per_prompt(policy, judge, n, key):
    """The per-prompt win rates of rates(...)[key] (None in files that lack them)."""
    for j in policy["judges"]:
        if j["judge"] == judge:
            for row in j["win_rates"]:
                if row["n"] == n:
                    return row.get(("best_of_n", "worst_of_n")[key] + "_per_prompt")
    return None


def paired_difference(a, b, resamples=2000, confidence=0.95, seed=1):
    """mean(a - b) with a percentile bootstrap interval, prompts resampled jointly."""
    d = [x - y for x, y in zip(a, b)]
    lo, hi = bootstrap(d, resamples, confidence, seed)
    return sum(d) / len(d), lo, hi


def compare(a, b, pa=None, pb=None):
    """a minus b: paired interval when both have per-prompt values of the same prompts and base
    samples (pa, pb), else whether the two intervals overlap. Returns (text, apart)."""
    if pa and pb and len(pa) == len(pb):
        diff, lo, hi = paired_difference(pa, pb)
        apart = lo > 0 or hi < 0
        return f"{diff:+.3f} [{lo:+.3f}, {hi:+.3f}]" + (" (paired interval excludes 0)" if apart else ""), apart
    diff = a["mean"] - b["mean"]
    overlap = a["lo"] <= b["hi"] and b["lo"] <= a["hi"]
    return f"{diff:+.3f}" + ("" if overlap else " (intervals apart)"), not overlap


# The transform spec each method trains with (oracle.transforms / OracleTransform::spec).
SPECS = {"rlhf_raw": "raw", "rlhf_calibrated": "identity", "ctrl_bon4": "exp:12.63",
         "ctrl_won4": "negexp:9.68"}
# The metric each method's transform targets: (label, n, best).
TARGETS = {"rlhf_raw": ("standard", 1, True), "rlhf_calibrated": ("standard", 1, True),
           "ctrl_bon4": ("best-of-4", 4, True), "ctrl_won4": ("worst-of-4", 4, False)}


def oracle_section(all_runs, base_results, oracle, n, title):
    """The oracle of each method's transform on the evaluation's rewards, and each run's KL
    efficiency and fraction of its transform's oracle gain (reward-model judge). all_runs:
    (label, method, policy) of every training run, seeds apart."""
    ns = oracle["n"]
    if 1 not in ns or n not in ns:
        return []
    i1, i_n = ns.index(1), ns.index(n)
    curves = {c["transform"]: c for c in oracle["curves"] if c["judge"] == "reward_model"}
    lines = [title, "",
             f"The KL-regularised optimum pi_ref exp(Phi(u) / beta) / Z of each method's transform, "
             f"computed by `infalign-eval` (oracle.enabled) on the evaluation prompts' real rewards: "
             f"{oracle['candidates']} base samples per prompt reweighted (each calibrated against the "
             f"others), in duels against the {oracle['opponents']} base samples the trained "
             "policies faced (reward-model judge; mean over prompts; docs/frontier.md). It is the "
             "best any solver can do with that transform at that KL, so it says which claims can "
             "hold on this task at all.", "",
             f"| transform | KL | standard | best-of-{n} | worst-of-{n} |", "|---|---|---|---|---|"]
    for method, spec in SPECS.items():
        c = curves.get(spec)
        if not c:
            continue
        for point in c["points"]:
            if point["target_kl"] not in (0.1, 0.25, 0.5, 1.0):
                continue
            lines.append(f"| {METHODS[method]} | {point['kl']:.2f} | "
                         f"{point['best_of_n'][i1]['mean']:.3f} | "
                         f"{point['best_of_n'][i_n]['mean']:.3f} | "
                         f"{point['worst_of_n'][i_n]['mean']:.3f} |")
    lines += ["", "Which transform's optimum is best at each KL (the oracle's prediction for the "
              "paper's claims on this task):", ""]
    for point_kl in (0.1, 0.25, 0.5, 1.0):
        best = {}
        for label, cn, key in (("standard", 1, 0), (f"best-of-{n}", n, 0), (f"worst-of-{n}", n, 1)):
            predicted = oracle_prediction(oracle, point_kl, cn, key)
            if predicted:
                method, margin, values = predicted
                best[label] = f"{METHODS[method]} ({values[method]:.3f}, +{margin:.3f} over the next)"
        if best:
            lines.append(f"- KL {point_kl}: " + "; ".join(f"{k}: {v}" for k, v in best.items()) + ".")
    lines += ["", "Each run against the oracle of its own transform at the run's measured KL: "
              "u_kl is the KL of the distribution of its calibrated rewards u (a lower bound of "
              "the sequence KL; its estimator's floor on the base's own samples is "
              + ", ".join(f"{u['u_kl']['mean']:.3f} ({j})"
                          for j, u in base_results["base"].get("u", {}).items())
              + "), KL efficiency = u_kl / KL, and the fraction of the oracle's gain over 0.5 "
              "(win - 0.5) / (oracle win - 0.5), with 95% intervals (prompts resampled jointly).",
              "", f"| run | measured KL | u_kl | KL efficiency | standard | best-of-{n} | "
              f"worst-of-{n} | on its own target |", "|---|---|---|---|---|---|---|---|"]

    def fraction(gain, want_n, best):
        for row in (gain or {}).get("rows", []):
            if row["n"] == want_n and (want_n == 1 or (row["procedure"] == "best_of_n") == best):
                f = row["fraction"]
                if f is None:
                    return "-"
                return f"{f['mean']:.2f} [{f['lo']:.2f}, {f['hi']:.2f}]"
        return "-"

    for run_label, method, p in all_runs:
        j = next((x for x in p["judges"] if x["judge"] == "reward_model"), None)
        if j is None or j.get("u") is None:
            continue
        eff = j["u"]["kl_efficiency"]
        gain = j.get("oracle")
        label, tn, tb = TARGETS[method]
        lines.append(
            f"| {run_label} | {p['kl_k1']['mean']:.3f} | "
            f"{j['u']['u_kl']['mean']:.3f} | {'-' if eff is None else f'{eff:.2f}'} | "
            f"{fraction(gain, 1, True)} | {fraction(gain, n, True)} | "
            f"{fraction(gain, n, False)} | {label}: {fraction(gain, tn, tb)} |")
    return lines + [""]


def load_runs(paths, prefix=""):
    """(method, kl) -> [(policy, results), ...] (seed 1234 first), every run apart, the oracle."""
    grouped, all_runs, oracle, first = {}, [], None, None
    for path in paths:
        with open(path) as f:
            r = json.load(f)
        first = first or r
        for p in r["policies"]:
            m = re.match(re.escape(prefix) + r"(.+?)_kl([0-9.]+)(?:_s([0-9]+))?$", p["name"])
            if not m or m.group(1) not in METHODS:
                sys.exit(f"{path}: policy name {p['name']} is not {prefix}<method>_kl<KL>[_s<seed>]")
            method, kl, seed = m.group(1), m.group(2), m.group(3)
            grouped.setdefault((method, kl), []).append((seed is not None, p, r))
            all_runs.append((f"{METHODS[method]}, KL {kl}" + (f", seed {seed}" if seed else ""),
                             method, p))
        oracle = oracle or r.get("oracle")
    runs = {key: [(p, r) for _, p, r in sorted(v, key=lambda e: e[0])] for key, v in grouped.items()}
    return runs, all_runs, oracle, first


def kl_tables(runs, kls, n):
    lines = []
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
            seeds = p.get("seeds", 1)
            kl_text = (f"{p['kl_k1']['mean']:.3f} ±{p['kl_k1']['seed_sd']:.3f}" if seeds > 1 else
                       f"{p['kl_k1']['mean']:.3f} +- {p['kl_k1']['se']:.3f}")
            lines.append(f"| {label}{f' ({seeds} seeds)' if seeds > 1 else ''} | {kl_text} | "
                         f"{cell(std)} | {cell(b)} | {cell(w)} | "
                         f"{cell(gb) if gb else '-'} | {cell(gw) if gw else '-'} |")
        lines.append("")
    return lines


def oracle_prediction(oracle, kl, n, key):
    """Which method's transform has the best optimum at target KL `kl` for win rate (n, key) under
    the reward-model judge, by how much over the next: (method, margin, {method: value}), or None
    without an oracle point there."""
    if not oracle or n not in oracle["n"]:
        return None
    idx = oracle["n"].index(n)
    values = {}
    for method, spec in SPECS.items():
        c = next((c for c in oracle["curves"]
                  if c["judge"] == "reward_model" and c["transform"] == spec), None)
        pt = next((p for p in c["points"] if abs(p["target_kl"] - float(kl)) < 1e-9), None) if c else None
        if pt:
            values[method] = pt[("best_of_n", "worst_of_n")[key]][idx]["mean"]
    if len(values) < 2:
        return None
    ranked = sorted(values, key=values.get, reverse=True)
    return ranked[0], values[ranked[0]] - values[ranked[1]], values


# The paper's claims: (name, method, n of the procedure (None: the --n), key 0 best / 1 worst).
CLAIMS = (("standard", "rlhf_calibrated", 1, 0), ("best", "ctrl_bon4", None, 0),
          ("worst", "ctrl_won4", None, 1))


def claims(runs, kls, n, oracle=None):
    lines = ["## The paper's claims, as measured here", "",
              f"Claim 1: the calibrated identity has the highest standard win rate at matched KL. "
              f"Claim 2: CTRL with exp(t u) has the highest best-of-{n} win rate. Claim 3: CTRL "
              f"with -exp(-t u) has the highest worst-of-{n} win rate. A claim "
              "**holds** at a KL when the method's win rate is above every other method's and "
              "each difference is significant: its paired 95% bootstrap interval [lo, hi] "
              "(prompts resampled jointly; every run faced the same prompts and base samples) "
              "excludes 0, or, for results files without per-prompt values, the two intervals "
              "are apart; where the runs have several training seeds, each difference must also "
              "exceed twice its standard error over seeds, sqrt(sd_a^2 / k_a + sd_b^2 / k_b). "
              "It **does not hold** when another method is higher by a significant difference, "
              "and is **not separable** otherwise (the highest, or below another method, by a "
              "difference that is not significant). Under the "
              "reward model, whose rewards the oracle reweights, a claim is **not predicted by "
              "the oracle** when, at that KL, another transform's optimum beats the method's own "
              "(the task itself, not the method, rules it out), whatever the trained runs show. "
              "Effect sizes are the method's win rate minus the other method's.", ""]
    tally = {}
    paired_any = False
    for judge, judge_label in (("reward_model", "reward model"), ("gold", "gold judge")):
        for claim, method, claim_n, key in CLAIMS:
            cn = claim_n or n
            who = METHODS[method]
            for kl in kls:
                mine = runs.get((method, kl))
                if mine is None or rates(mine[0], judge, cn)[key] is None:
                    continue
                me = rates(mine[0], judge, cn)[key]
                me_pp = per_prompt(mine[0], judge, cn, key)
                parts, higher, overlapping = [], [], []
                for other in METHODS:
                    if other == method or (other, kl) not in runs:
                        continue
                    them = rates(runs[(other, kl)][0], judge, cn)[key]
                    if them is None:
                        continue
                    key_a = mine[1].get("pairing_key")
                    pair = bool(key_a) and runs[(other, kl)][1].get("pairing_key") == key_a
                    text, apart = compare(
                        me, them, me_pp if pair else None,
                        per_prompt(runs[(other, kl)][0], judge, cn, key) if pair else None)
                    paired_any = paired_any or ("[" in text)
                    # The spread between training runs: with seeds on either side, the
                    # difference must also stand out from it.
                    seed_se = math.sqrt(sum(
                        (e["seed_sd"] ** 2) / p.get("seeds", 1)
                        for e, p in ((me, mine[0]), (them, runs[(other, kl)][0]))
                        if e.get("seed_sd") is not None))
                    over_seeds = abs(me["mean"] - them["mean"]) > 2 * seed_se
                    if seed_se > 0 and not over_seeds:
                        text += f" (within 2 seed se, {2 * seed_se:.3f})"
                    parts.append(f"vs {METHODS[other]} {text}")
                    if them["mean"] > me["mean"] and apart and over_seeds:
                        higher.append(METHODS[other])
                    elif them["mean"] >= me["mean"] or not apart or not over_seeds:
                        overlapping.append(METHODS[other])
                measured = ("does not hold" if higher else
                            "not separable" if overlapping else "holds")
                predicted = oracle_prediction(oracle, kl, cn, key) if judge == "reward_model" else None
                note = ""
                verdict = measured
                if predicted:
                    best, margin, values = predicted
                    if best != method:
                        verdict = "not predicted by the oracle"
                        note = (f"the oracle: {METHODS[best]}'s optimum is best here, "
                                f"{values[best]:.3f} against {values.get(method, float('nan')):.3f}; "
                                f"the trained runs: {measured}")
                    else:
                        note = f"the oracle predicts it, by {margin:.3f}"
                tally.setdefault((judge, claim), []).append(verdict)
                metric = "standard" if claim == "standard" else f"{claim}-of-{cn}"
                why = [f"{', '.join(higher)} higher"] if higher and verdict == measured else []
                why += [note] if note else []
                lines.append(f"- {judge_label}, KL {kl}, {metric}: {who} {cell(me)}; "
                             + "; ".join(parts) + f". **{verdict}**"
                             + (f" ({'; '.join(why)})" if why else "") + ".")
        lines.append("")
    lines += ["### Verdict", ""]
    for (judge, claim), verdicts in tally.items():
        counts = {v: verdicts.count(v) for v in ("holds", "not separable", "does not hold",
                                                 "not predicted by the oracle")}
        label = "reward model" if judge == "reward_model" else "gold judge"
        metric = "standard win rate" if claim == "standard" else f"{claim}-of-{n}"
        lines.append(f"- {metric} under the {label}: "
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
    if len(kls) > 1:
        lines += ["", "### At matched measured KL", "",
                  "Each claim's run against the other methods' win rates linearly interpolated (between "
                  "their two runs nearest in measured KL) to the CTRL run's measured KL; interval "
                  "ends are interpolated the same way; '-' where the KL is outside a method's runs.",
                  "", f"| judge | run (measured KL) | win rate | the run | "
                  + " | ".join(METHODS[m] for m in METHODS) + " |",
                  "|---|---|---|---|" + "---|" * len(METHODS)]

        def at_kl(method, judge, key, k, cn):
            pts = sorted(((runs[(m, kl)][0]["kl_k1"]["mean"], rates(runs[(m, kl)][0], judge, cn)[key])
                          for (m, kl) in runs if m == method), key=lambda t: t[0])
            pts = [(x, e) for x, e in pts if e is not None]
            for (x0, e0), (x1, e1) in zip(pts, pts[1:]):
                if x0 <= k <= x1 and x1 > x0:
                    w = (k - x0) / (x1 - x0)
                    return {q: e0[q] + w * (e1[q] - e0[q]) for q in ("mean", "lo", "hi")}
            return None

        for judge in ("reward_model", "gold"):
            for method, key, proc, cn in (("rlhf_calibrated", 0, "standard", 1),
                                          ("ctrl_bon4", 0, f"best-of-{n}", n),
                                          ("ctrl_won4", 1, f"worst-of-{n}", n)):
                for kl in kls:
                    if (method, kl) not in runs:
                        continue
                    p = runs[(method, kl)][0]
                    k = p["kl_k1"]["mean"]
                    me = rates(p, judge, cn)[key]
                    if me is None:
                        continue
                    row = [judge.replace("_", " "), f"{METHODS[method].split(',')[0]} @ {kl} ({k:.2f})",
                           proc, cell(me)]
                    for other in METHODS:
                        if other == method:
                            row.append("")
                            continue
                        e = at_kl(other, judge, key, k, cn)
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
    return lines, paired_any


def heterogeneity_section(reports):
    lines = ["## How much calibration has to correct", "",
             "From each reward model's calibration cache (`calibration_report.json`, "
             "`heterogeneity`): the share of the base rewards' variance that lies between prompts "
             "(what calibration removes from a raw reward), the spread of the per-prompt standard "
             "deviations (their CV, p10 and p90: what makes a raw reward's scale differ between "
             "prompts), and the share of tied adjacent base rewards.", "",
             "| reward model | between-prompt share | per-prompt SD: mean | CV | p10 | p90 | ties |",
             "|---|---|---|---|---|---|---|"]
    found = []
    for label, path in reports:
        h = None
        if os.path.exists(path):
            with open(path) as f:
                h = json.load(f).get("heterogeneity")
        if not h:
            lines.append(f"| {label} | - | - | - | - | - | - |")
            continue
        lines.append(f"| {label} | {100 * h['between_prompt_share']:.1f}% | {h['sd_mean']:.2f} | "
                     f"{h['sd_cv']:.2f} | {h['sd_p10']:.2f} | {h['sd_p90']:.2f} | "
                     f"{100 * h['tie_fraction']:.1f}% |")
        found.append((label, h))
    if found:
        text = ("What calibration has to do here: at the KL-regularised optimum a per-prompt shift "
                "of the reward cancels (pi_ref exp(r / beta) is normalised prompt by prompt), and "
                "a per-prompt baseline (the shipped RLOO solver's) removes it from the gradient "
                "too, so the between-prompt share alone changes little; what calibration corrects "
                "is how widely each prompt's rewards spread (raw-reward RLHF's effective beta is "
                "beta / SD_x), measured by the CV of the per-prompt SDs. ")
        for label, h in found:
            share, cv = h["between_prompt_share"], h["sd_cv"]
            text += (f"{label}: {100 * share:.0f}% of the variance between prompts, SD CV "
                     f"{cv:.2f} ({'small' if cv < 0.25 else 'large'} spread heterogeneity). ")
        if all(h["sd_cv"] < 0.25 for _, h in found):
            text += ("No reward model here has per-prompt spread heterogeneity worth the name: "
                     "the raw reward is close to one monotone map of u in every prompt, so the "
                     "calibrated identity and raw-reward RLHF optimise nearly the same thing, and "
                     "the oracle's margins between them stay small. The paper's calibration claim "
                     "needs prompts whose responses spread differently (a CV of 0.5 or more: "
                     "prompts where responses barely differ mixed with prompts where they differ "
                     "widely, or a judge whose scale depends on the prompt).")
        else:
            text += ("Where the CV is large, raw-reward RLHF spends its KL unevenly across "
                     "prompts, and calibration has something to correct.")
        lines += ["", text]
    return lines + [""]


def last_json_line(path):
    with open(path) as f:
        lines = [l for l in f if l.strip()]
    return json.loads(lines[-1]) if lines else {}


def sweep_time_section(result_paths):
    """What the sweep cost, from the files its stages wrote: each PPO run's training wall clock
    (metrics.jsonl, summed over resumes), the calibration caches and reward models built under
    the sweep's directory, and the evaluations."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(result_paths[0])))
    ppo, caches, evals = [], {}, []
    for path in result_paths:
        with open(path) as f:
            r = json.load(f)
        evals.append(r.get("seconds", 0.0))
        for p in r["policies"]:
            metrics = os.path.join(p["path"], "metrics.jsonl")
            if os.path.exists(metrics):
                ppo.append(last_json_line(metrics).get("wall_seconds", 0.0))
            resolved = os.path.join(p["path"], "config.resolved.yaml")
            if os.path.exists(resolved):
                with open(resolved) as f:
                    m = re.search(r'^\s*cache_path:\s*"?([^"\n]+)"?\s*$', f.read(), re.M)
                if m:
                    caches[os.path.abspath(m.group(1))] = True
    cache_seconds = []
    for cache in sorted(caches):
        report = os.path.join(os.path.dirname(cache), "calibration_report.json")
        if cache.startswith(root + os.sep) and os.path.exists(report):
            with open(report) as f:
                cache_seconds.append(json.load(f).get("build_seconds", 0.0))
    rewards = []
    for dirpath, _, files in os.walk(root):
        if "reward_report.json" in files:
            with open(os.path.join(dirpath, "reward_report.json")) as f:
                rewards.append(json.load(f).get("wall_seconds", 0.0))
    rows = [("PPO runs", ppo), ("calibration caches built for the sweep", cache_seconds),
            ("reward models trained for the sweep", rewards), ("evaluations", evals)]
    total = sum(sum(v) for _, v in rows)
    lines = ["## What the sweep cost", "",
             "Wall-clock seconds its stages recorded (training time summed over resumes; "
             "start-up and the quickstart's shared stages not counted), on the machine and day "
             "that ran it:", "",
             "| stage | count | total | median | max |", "|---|---|---|---|---|"]
    for name, values in rows:
        if values:
            lines.append(f"| {name} | {len(values)} | {sum(values):.0f} s | "
                         f"{statistics.median(values):.0f} s | {max(values):.0f} s |")
    lines += ["", f"Total: {total:.0f} s ({total / 3600:.2f} h)."]
    if len(ppo) > 2:
        # Runs that shared the machine (builds, other jobs) take longer; at the median a run,
        # the sweep's own cost.
        typical = total - sum(ppo) + statistics.median(ppo) * len(ppo)
        lines.append(f"With every PPO run at the median run's time: {typical:.0f} s "
                     f"({typical / 3600:.2f} h).")
    lines.append("")
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", nargs="+")
    ap.add_argument("--out", required=True)
    ap.add_argument("--n", type=int, default=4)
    ap.add_argument("--variant", help="results.json of the task variant's evaluation")
    ap.add_argument("--heterogeneity", action="append", default=[],
                    help="LABEL=calibration_report.json (repeatable)")
    ap.add_argument("--no-plots", action="store_true", help="skip the plots (tests)")
    args = ap.parse_args()
    grouped, all_runs, oracle, some = load_runs(args.results)
    runs = {key: aggregate(entries) for key, entries in grouped.items()}
    n = args.n
    kls = sorted({kl for _, kl in runs}, key=float)
    seeds = max(len(v) for v in grouped.values())
    # The evaluations' date (not today's), so the same run directories give the same file.
    written = datetime.datetime.fromtimestamp(
        max(os.path.getmtime(p) for p in args.results), datetime.timezone.utc).date().isoformat()
    lines = [
        "# Results: the InfAlign comparison on the default task",
        "",
        f"Written by `scripts/reproduce.sh` (`scripts/make_results.py`) from evaluations of "
        f"{written}: each method trained by stage ppo at a target KL "
        "(adaptive beta from the theory tool's starting value), all evaluated against the base "
        f"on {some['prompts']} evaluation prompts x {some['samples_per_prompt']} samples per model "
        "(one evaluation: the same prompts and base samples for every run); "
        f"win rates against the base with {round(100 * some['confidence'])}% bootstrap intervals "
        "over prompts, KL(policy || base) per sequence (k1, mean +- standard error)."
        + (f" Where a method has {seeds} training seeds, its row is the mean over them: the "
           "interval is the evaluation's (prompts resampled, the seeds' per-prompt means), "
           "and ±x is the standard deviation over the seeds, the training runs' own spread."
           if seeds > 1 else ""),
        "",
    ]
    lines += kl_tables(runs, kls, n)
    claim_lines, paired_any = claims(runs, kls, n, oracle)
    lines += claim_lines
    if oracle:
        lines += oracle_section(all_runs, some, oracle, n,
                                "## The oracle: what each transform's optimum reaches on this task")
    if args.heterogeneity:
        bad = [h for h in args.heterogeneity if "=" not in h]
        if bad:
            sys.exit(f"--heterogeneity {bad[0]}: expected LABEL=calibration_report.json")
        lines += heterogeneity_section([h.split("=", 1) for h in args.heterogeneity])
    if args.variant and os.path.exists(args.variant):
        vgrouped, vall, voracle, vsome = load_runs([args.variant], prefix="variant_")
        vruns = {key: aggregate(entries) for key, entries in vgrouped.items()}
        vkls = sorted({kl for _, kl in vruns}, key=float)
        lines += ["# The variant: a reward model that reads prompt + response", "",
                  "The same base policy, data and methods with a reward model trained on the same "
                  "preferences but reading the prompt with the response (`reward.input: "
                  "prompt_response`), its own calibration cache, one training seed, and an "
                  "evaluation whose reward-model judge is that model (the gold judge is the same "
                  "hidden one).", ""]
        lines += kl_tables(vruns, vkls, n)
        vclaims, vpaired = claims(vruns, vkls, n, voracle)
        lines += [l.replace("## The paper's claims, as measured here",
                            "## The paper's claims on the variant") for l in vclaims]
        paired_any = paired_any or vpaired
        if voracle:
            lines += oracle_section(vall, vsome, voracle, n, "## The oracle on the variant")
    elif args.variant:
        lines += ["# The variant", "", f"Not yet evaluated ({args.variant} is missing).", ""]
    timed = list(args.results) + ([args.variant] if args.variant and os.path.exists(args.variant)
                                  else [])
    lines += sweep_time_section(timed)
    lines += ["", "Caveats: "
              + (f"the rows at KL {', '.join(kl for kl in kls if len(grouped[(next(iter(METHODS)), kl)]) == 1) or '-'} "
                 "are one training run each, so their intervals cover the evaluation's sampling "
                 "only; " if seeds > 1 else
                 "each method is one training run (one seed), so the intervals cover the "
                 "evaluation's sampling of prompts and responses, not the variation between "
                 "training runs; ")
              + ("differences between runs have paired intervals over prompts. "
                 if paired_any else "the runs are compared through separate intervals, not a "
                 "paired test. ")
              + "Measured KLs differ from the targets: compare rows at similar measured KL.",
              "", "## Plots", ""]
    base = os.path.splitext(args.out)[0]
    plots = [("", args.results)]
    if args.variant and os.path.exists(args.variant):
        plots.append(("variant_", [args.variant]))
    for tag, files in ([] if args.no_plots else plots):
        for judge in ("reward_model", "gold"):
            png = f"{base}_{tag}{judge}.png"
            subprocess.run(["/usr/bin/python3",
                            os.path.join(os.path.dirname(__file__), "plot_eval.py"),
                            "--judge", judge, "--out", png] + files, check=True,
                           stdout=subprocess.DEVNULL)
            lines.append(f"![win rate vs KL, {tag.replace('_', ', ')}judge {judge}]"
                         f"({os.path.basename(png)})")
            lines.append("")
    with open(args.out, "w") as f:
        f.write("\n".join(lines))


if __name__ == "__main__":
    main()
