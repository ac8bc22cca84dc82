#!/usr/bin/python3
"""Prints the calibrated-space tables of docs/method.md, computed by `infalign-eval theory`.

    /usr/bin/python3 scripts/method_numbers.py [--eval build/infalign-eval]

Every number is the theory tool's (exact calibration, K -> infinity); rerun after changing the
theory module and paste the output into docs/method.md.
"""
import argparse
import json
import subprocess


def theory(tool, *args):
    out = subprocess.run([tool, "theory", "--json", *map(str, args)], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--eval", default="build/infalign-eval")
    tool = ap.parse_args().eval

    print("Best t at a KL budget (normalised transform; W the procedure's win rate against the "
          "base with the same N):\n")
    print("| procedure, N | KL 0.25: t, W | KL 0.5: t, W | KL 1.0: t, W |")
    print("|---|---|---|---|")
    for procedure in ("bon", "won"):
        for n in (2, 4, 8):
            cells = []
            for kl in (0.25, 0.5, 1.0):
                r = theory(tool, "--optimize-t", "--procedure", procedure, "--n", n, "--kl", kl)
                cells.append(f"{r['t']:.2f}, {r[procedure]:.4f}")
            name = "best-of" if procedure == "bon" else "worst-of"
            print(f"| {name}-{n} | " + " | ".join(cells) + " |")

    print("\nHow flat the optimum is (best-of-4 at KL 0.5, exp with t around the best 12.63):\n")
    print("| t | best-of-4 |")
    print("|---|---|")
    for t in (12.63 / 1.5, 12.63, 12.63 * 1.5):
        r = theory(tool, "--transform", "exp", "--t", round(t, 2), "--n", 4, "--kl", 0.5)
        print(f"| {round(t, 2)} | {r['bon']:.4f} |")

    print("\nAt KL 0.5, N = 4: each transform's policy, and the optimal policy of each "
          "procedure:\n")
    print("| transform | beta | standard | best-of-4 | worst-of-4 |")
    print("|---|---|---|---|---|")
    rows = [("identity", ["--transform", "identity"]),
            ("log", ["--transform", "log"]),
            ("probit (raw reward, Gaussian)", ["--transform", "probit"]),
            ("exp, t = 12.63", ["--transform", "exp", "--t", 12.63]),
            ("negexp, t = 9.68", ["--transform", "negexp", "--t", 9.68])]
    for name, args in rows:
        r = theory(tool, *args, "--n", 4, "--kl", 0.5)
        print(f"| {name} | {r['beta']:.5g} | {r['standard']:.4f} | {r['bon']:.4f} | "
              f"{r['won']:.4f} |")
    r = theory(tool, "--transform", "identity", "--n", 4, "--kl", 0.5, "--optimal")
    print(f"| optimal | - | - | {r['optimal']['bon']['win']:.4f} | "
          f"{r['optimal']['won']['win']:.4f} |")

    print("\nClosed forms the tests check (log: the best-of-M policy at beta = 1 / (M - 1), "
          "unnormalised):\n")
    print("| policy | KL | standard | best-of-4 |")
    print("|---|---|---|---|")
    for m in (2, 4, 8):
        r = theory(tool, "--transform", "log", "--unnormalized", "--beta", 1.0 / (m - 1), "--n", 4)
        print(f"| best-of-{m} of the base | {r['kl']:.6f} | {r['standard']:.6f} | {r['bon']:.6f} |")
    for lam in (1, 2, 5, 10):
        r = theory(tool, "--transform", "identity", "--beta", 1.0 / lam, "--n", 4)
        print(f"| identity, beta = 1/{lam} | {r['kl']:.6f} | {r['standard']:.6f} | {r['bon']:.6f} |")


if __name__ == "__main__":
    main()
