#!/usr/bin/python3
"""Sums the self time per operator of a Chrome trace written by `bench_ppo --profile FILE`
(the legacy autograd profiler: complete events "X" with ts/dur in microseconds). Self time is an
event's duration less its direct children's on the same thread. Usage:
    tests/bench/ppo/trace_summary.py trace.json [--top 30]
"""
import argparse
import collections
import json


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("trace")
    ap.add_argument("--top", type=int, default=30)
    args = ap.parse_args()
    with open(args.trace) as f:
        data = json.load(f)
    events = data["traceEvents"] if isinstance(data, dict) else data
    by_thread = collections.defaultdict(list)
    for e in events:
        if e.get("ph") == "X" and "dur" in e:
            by_thread[e.get("tid")].append(e)
    self_us = collections.Counter()
    calls = collections.Counter()
    total = 0.0
    for evs in by_thread.values():
        evs.sort(key=lambda e: (e["ts"], -e["dur"]))
        stack = []  # [event, children's time]
        def close(item):
            e, child = item
            self_us[e["name"]] += e["dur"] - child
            calls[e["name"]] += 1
            if stack:
                stack[-1][1] += e["dur"]
        for e in evs:
            while stack and stack[-1][0]["ts"] + stack[-1][0]["dur"] <= e["ts"]:
                close(stack.pop())
            if not stack:
                total += e["dur"]
            stack.append([e, 0.0])
        while stack:
            close(stack.pop())
    print(f"{'operator':<44} {'calls':>7} {'self ms':>9} {'share':>6}")
    for name, us in self_us.most_common(args.top):
        print(f"{name:<44} {calls[name]:>7} {us / 1000:>9.2f} {100 * us / total:>5.1f}%")
    print(f"{'(all top-level events)':<44} {'':>7} {total / 1000:>9.2f}")


if __name__ == "__main__":
    main()
