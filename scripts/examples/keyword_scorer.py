#!/usr/bin/python3
"""A rule-based reward for `reward.kind: command`: scores each response by the words it uses.

Reads a batch as JSONL on stdin, one {"prompt": ..., "response": ...} a line, and prints one
score a line on stdout, in order (the protocol in docs/config-reference.md, reward.command):

    score = (good words - bad words) / sqrt(words + 1) - length_penalty * |words - target|

Words are lower-cased runs of letters and apostrophes; the word lists come from --good / --bad
(comma-separated) or --good-file / --bad-file (one word a line). Example config:

    reward:
      kind: command
      command: /usr/bin/python3 scripts/examples/keyword_scorer.py --good kind,happy,love --bad sad
"""
import argparse
import json
import math
import re
import sys

WORD = re.compile(r"[a-z']+")


def word_set(inline, path):
    words = {w.strip().lower() for w in (inline or "").split(",") if w.strip()}
    if path:
        with open(path, encoding="utf-8") as f:
            words |= {line.strip().lower() for line in f
                      if line.strip() and not line.startswith("#")}
    return words


def score(response, good, bad, target, penalty):
    words = WORD.findall(response.lower())
    hits = sum(w in good for w in words) - sum(w in bad for w in words)
    value = hits / math.sqrt(len(words) + 1)
    if penalty:
        value -= penalty * abs(len(words) - target)
    return value


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--good", help="comma-separated words that raise the score")
    ap.add_argument("--bad", help="comma-separated words that lower it")
    ap.add_argument("--good-file", help="a file of good words, one a line")
    ap.add_argument("--bad-file", help="a file of bad words, one a line")
    ap.add_argument("--target-length", type=int, default=0, help="words a response should have")
    ap.add_argument("--length-penalty", type=float, default=0.0, help="score lost per word off")
    args = ap.parse_args(argv)
    good = word_set(args.good, args.good_file)
    bad = word_set(args.bad, args.bad_file)
    out = []
    for number, line in enumerate(sys.stdin, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            response = item["response"]
        except (ValueError, KeyError, TypeError) as e:
            print(f"keyword_scorer.py: input line {number}: {e}", file=sys.stderr)
            return 1
        out.append(repr(score(response, good, bad, args.target_length, args.length_penalty)))
    sys.stdout.write("".join(v + "\n" for v in out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
