#!/usr/bin/python3
"""scripts/make_results.py on a small results.json made here: the verdict of each claim (holds,
not separable, does not hold, not predicted by the oracle) from per-prompt win rates built so
each case is unambiguous, and the same file from the same inputs."""
import json
import math
import os
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "scripts", "make_results.py")
PROMPTS = 60
BASE = [0.5 + 0.1 * math.sin(i) for i in range(PROMPTS)]


def estimate(per_prompt):
    mean = sum(per_prompt) / len(per_prompt)
    return {"mean": mean, "lo": mean - 0.02, "hi": mean + 0.02, "se": 0.01}


def policy(name, kl, standard, best4, worst4):
    """A policy entry with per-prompt win rates (lists) for n = 1 and n = 4, both judges."""
    rows = []
    for n, best, worst in ((1, standard, standard), (4, best4, worst4)):
        rows.append({"n": n, "best_of_n": estimate(best), "worst_of_n": estimate(worst),
                     "best_of_n_per_prompt": best, "worst_of_n_per_prompt": worst})
    return {"name": name, "path": "/nonexistent/" + name,
            "kl_k1": {"mean": kl, "se": 0.01, "lo": kl - 0.02, "hi": kl + 0.02},
            "judges": [{"judge": "reward_model", "win_rates": rows},
                       {"judge": "gold", "win_rates": rows}],
            "transform": None, "theory": None}


def shifted(delta, wiggle=0.0):
    return [b + delta + (wiggle if i % 2 else -wiggle) for i, b in enumerate(BASE)]


def oracle_point(kl, standard, best4, worst4):
    return {"target_kl": kl, "kl": kl, "beta": 0.1,
            "best_of_n": [{"mean": standard}, {"mean": best4}],
            "worst_of_n": [{"mean": standard}, {"mean": worst4}]}


def results():
    policies = []
    for kl in ("0.5", "1.0"):
        k = float(kl)
        # Standard: raw above the calibrated identity (does not hold at 0.5; at 1.0 the oracle
        # itself ranks raw first). Best-of-4: exp clearly above all (holds). Worst-of-4: -exp
        # above the rest (0.5) or below them (1.0) by a hair that flips sign prompt by prompt
        # (not separable either way).
        hair = 0.001 if kl == "0.5" else -0.001
        policies += [
            policy(f"rlhf_raw_kl{kl}", k, shifted(0.05), shifted(0.0), shifted(0.0)),
            policy(f"rlhf_calibrated_kl{kl}", k, shifted(0.0), shifted(0.0), shifted(0.0)),
            policy(f"ctrl_bon4_kl{kl}", k, shifted(-0.02), shifted(0.10, 0.01), shifted(-0.05)),
            policy(f"ctrl_won4_kl{kl}", k, shifted(-0.02), shifted(-0.05), shifted(hair, 0.05)),
        ]
    # The oracle: at KL 0.5 each claim's transform has the best optimum; at 1.0 raw's optimum
    # beats the identity's at the standard win rate.
    curves = []
    for spec, at_half, at_one in (
            ("raw", (0.69, 0.80, 0.80), (0.80, 0.85, 0.85)),
            ("identity", (0.70, 0.80, 0.85), (0.78, 0.86, 0.90)),
            ("exp:12.63", (0.65, 0.86, 0.70), (0.70, 0.92, 0.75)),
            ("negexp:9.68", (0.66, 0.70, 0.90), (0.72, 0.75, 0.95))):
        curves.append({"judge": "reward_model", "transform": spec, "label": spec, "max_kl": 1.5,
                       "points": [oracle_point(0.5, *at_half), oracle_point(1.0, *at_one)]})
    return {"infalign_version": "test", "config_hash": "x", "seed": 1, "prompts": PROMPTS,
            "samples_per_prompt": 32, "confidence": 0.95, "bootstrap_resamples": 200,
            "calibration_samples": 256, "temperature": 1.0, "seconds": 12.5,
            "pairing_key": "same-base-samples", "base": {},
            "oracle": {"n": [1, 4], "candidates": 256, "opponents": 32,
                       "calibration_samples": 256, "curves": curves},
            "policies": policies}


class MakeResultsTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        eval_dir = os.path.join(self.dir.name, "sweep", "eval")
        os.makedirs(eval_dir)
        self.results = os.path.join(eval_dir, "results.json")
        with open(self.results, "w") as f:
            json.dump(results(), f)
        os.utime(self.results, (1767312000, 1767312000))  # 2026-01-02 UTC

    def tearDown(self):
        self.dir.cleanup()

    def make(self, out):
        r = subprocess.run([sys.executable, SCRIPT, "--out", out, "--no-plots", self.results],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(out) as f:
            return f.read()

    def verdict_line(self, text, prefix):
        lines = [l for l in text.splitlines() if l.startswith(prefix)]
        self.assertEqual(len(lines), 1, f"{prefix!r} in:\n{text}")
        return lines[0]

    def test_each_verdict_from_paired_intervals_and_the_oracle(self):
        text = self.make(os.path.join(self.dir.name, "results.md"))
        best = self.verdict_line(text, "- reward model, KL 0.5, best-of-4:")
        self.assertIn("**holds** (the oracle predicts it, by 0.060)", best)
        self.assertIn("(paired interval excludes 0)", best)
        for kl in ("0.5", "1.0"):
            worst = self.verdict_line(text, f"- reward model, KL {kl}, worst-of-4:")
            self.assertIn("**not separable**", worst)
        standard = self.verdict_line(text, "- reward model, KL 0.5, standard:")
        self.assertIn("**does not hold** (standard RLHF, raw reward higher; the oracle predicts it, "
                      "by 0.010)", standard)
        self.assertIn("vs standard RLHF, raw reward -0.050 [-0.050, -0.050]", standard)
        ruled_out = self.verdict_line(text, "- reward model, KL 1.0, standard:")
        self.assertIn("**not predicted by the oracle** (the oracle: standard RLHF, raw reward's "
                      "optimum is best here, 0.800 against 0.780; the trained runs: does not "
                      "hold)", ruled_out)
        # The gold judge has no oracle: its verdicts are the measured ones.
        self.assertIn("**does not hold**",
                      self.verdict_line(text, "- gold judge, KL 1.0, standard:"))
        self.assertIn("- standard win rate under the reward model: 1 of 2 KLs does not hold, "
                      "1 of 2 KLs not predicted by the oracle.", text)
        self.assertIn("- best-of-4 under the reward model: 2 of 2 KLs holds.", text)
        self.assertIn("from evaluations of 2026-01-02", text)
        self.assertIn("| evaluations | 1 | 12 s |", text)

    def test_the_same_inputs_give_the_same_file(self):
        a = self.make(os.path.join(self.dir.name, "a.md"))
        b = self.make(os.path.join(self.dir.name, "b.md"))
        self.assertEqual(a, b)


if __name__ == "__main__":
    unittest.main()
