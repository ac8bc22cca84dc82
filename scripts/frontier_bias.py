#!/usr/bin/python3
"""Measures the finite-sample bias of the frontier estimators against the theory module, on
synthetic uniform rewards (`infalign-eval oracle --synthetic uniform`), and prints the tables of
docs/frontier.md:

1. the oracle's standard / best-of-N / worst-of-N win rates at a KL against the analytic values
   (`infalign-eval theory`), for several candidate counts (each candidate calibrated against the
   others, as infalign-eval does), and for separate calibration sets;
2. the u_kl estimator at the evaluation's sizes (200 prompts x 32 samples, u against the
   candidates) against the true KL of the density.

    scripts/frontier_bias.py [--eval build/infalign-eval] [--quick]
"""
import argparse
import json
import statistics
import subprocess

TRANSFORMS = [("identity", []), ("exp:12.63", ["--t", "12.63"]), ("negexp:9.68", ["--t", "9.68"])]


def run(binary, args):
    out = subprocess.run([binary] + args + ["--json"], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--eval", default="build/infalign-eval")
    ap.add_argument("--n", type=int, default=4)
    ap.add_argument("--quick", action="store_true", help="one seed, fewer sizes")
    args = ap.parse_args()
    seeds = [1] if args.quick else [1, 2, 3]
    kls = [0.1, 0.5, 1.0] if args.quick else [0.1, 0.25, 0.5, 1.0]
    counts = [128, 256] if args.quick else [64, 128, 256, 512]
    n = args.n

    print(f"## Oracle against the theory (N = {n}; 2,000 prompts, 32 opponents, "
          f"mean of {len(seeds)} seeds; oracle - theory)\n")
    print("| transform | KL | candidates | calibration | standard | best-of-N | worst-of-N |")
    print("|---|---|---|---|---|---|---|")
    for name, flags in TRANSFORMS:
        kind = name.split(":")[0]
        for kl in kls:
            theory = run(args.eval, ["theory", "--transform", kind] + flags +
                         ["--kl", str(kl), "--n", str(n)])
            sizes = [(m, 0) for m in counts] + [(512, 128), (512, 512)]
            for m, k in sizes:
                rows = [run(args.eval, ["oracle", "--synthetic", "uniform", "--transform", kind] +
                            flags + ["--kl", str(kl), "--n", str(n), "--prompts", "2000",
                                     "--candidates", str(m), "--calibration", str(k),
                                     "--seed", str(s)]) for s in seeds]
                diff = {key: statistics.mean(r[key] for r in rows) - theory[key]
                        for key in ("standard", "bon", "won")}
                cal = "the others" if k == 0 else f"separate {k}"
                print(f"| {name} | {kl} | {m} | {cal} | {diff['standard']:+.4f} | "
                      f"{diff['bon']:+.4f} | {diff['won']:+.4f} |")

    u_seeds = range(1, 4 if args.quick else 11)
    print(f"\n## u_kl at the evaluation's sizes (200 prompts x 32 samples, u against 256 "
          f"calibration samples; {len(u_seeds)} seeds)\n")
    print("| transform | KL | u_kl mean | bias | bias / KL | sd over seeds | bootstrap sd |")
    print("|---|---|---|---|---|---|---|")
    for name, flags in TRANSFORMS:
        kind = name.split(":")[0]
        for kl in kls:
            rows = [run(args.eval, ["oracle", "--synthetic", "uniform", "--transform", kind] +
                        flags + ["--kl", str(kl), "--n", str(n), "--prompts", "200",
                                 "--candidates", "256", "--samples", "32", "--seed", str(s)])
                    for s in u_seeds]
            values = [r["u_kl"] for r in rows]
            mean = statistics.mean(values)
            sd = statistics.stdev(values) if len(values) > 1 else 0.0
            boot = statistics.mean(r["u_kl_se"] for r in rows)
            print(f"| {name} | {kl} | {mean:.4f} | {mean - kl:+.4f} | {(mean - kl) / kl:+.1%} | "
                  f"{sd:.4f} | {boot:.4f} |")


if __name__ == "__main__":
    main()
