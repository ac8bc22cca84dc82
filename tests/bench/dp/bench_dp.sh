#!/usr/bin/env bash
# PPO iteration throughput of stage ppo with 1 and with 2 processes (scripts/launch.sh, Gloo on
# loopback), side by side from one run: configs/default/ctrl_bon4.yaml on the default models
# (run scripts/quickstart.sh first), float32 sampling and training so that both runs compute the
# same thing, ITERATIONS iterations each (default 8) into a scratch directory, repeated REPEATS
# times (default 3), interleaved. Prints the median seconds per iteration over iterations 3..N of
# each run (the first two warm up) and rollouts/s.
#   tests/bench/dp/bench_dp.sh [ITERATIONS] [REPEATS]
set -euo pipefail
cd "$(dirname "$0")/../../.."
iterations=${1:-8}
repeats=${2:-3}
for f in runs/default/base_model/model.safetensors runs/default/reward_model/model.safetensors \
  runs/default/calibration/calibration.cache; do
  [[ -e "$f" ]] || { echo "bench_dp.sh: $f is missing; run scripts/quickstart.sh first" >&2; exit 2; }
done
scratch=$(mktemp -d "${TMPDIR:-/tmp}/infalign-bench-dp.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
args=(--config configs/default/ctrl_bon4.yaml --set ppo.total_steps="$iterations"
  --set generation.dtype=float32 --set run.dtype=float32 --set checkpoint.every_steps=0
  --set logging.log_file=false --set logging.level=warn)

# Median over iterations 3.. of the sum of the phase timings in metrics.jsonl.
seconds_per_iteration() {
  /usr/bin/python3 - "$1" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
t = [sum(r[k] for k in r if k.startswith("timing/")) for r in rows if r["step"] >= 3]
print(f"{statistics.median(t):.3f}")
PY
}

one=() two=()
for ((r = 1; r <= repeats; r++)); do
  build/infalign-train "${args[@]}" --set run.run_dir="$scratch/one_$r" >/dev/null
  one+=("$(seconds_per_iteration "$scratch/one_$r/metrics.jsonl")")
  scripts/launch.sh -n 2 -- build/infalign-train "${args[@]}" --set run.run_dir="$scratch/two_$r" >/dev/null
  two+=("$(seconds_per_iteration "$scratch/two_$r/metrics.jsonl")")
done
batch=$(build/infalign-train "${args[@]}" --dump-config | awk '$1 == "rollout_batch_size:" {print $2}')
/usr/bin/python3 - "$batch" "${one[*]}" "${two[*]}" "$(nproc)" <<'PY'
import statistics, sys
batch, one, two, cores = int(sys.argv[1]), list(map(float, sys.argv[2].split())), list(map(float, sys.argv[3].split())), sys.argv[4]
a, b = statistics.median(one), statistics.median(two)
print(f"PPO iteration ({batch} rollouts, ctrl_bon4, float32), {cores} cores, median of {len(one)} runs")
print("| processes | s / iteration | rollouts / s | runs |")
print("|---|---|---|---|")
print(f"| 1 | {a:.2f} | {batch / a:.1f} | {', '.join(f'{x:.2f}' for x in one)} |")
print(f"| 2 | {b:.2f} | {batch / b:.1f} | {', '.join(f'{x:.2f}' for x in two)} |")
print(f"2 processes / 1 process throughput: {a / b:.2f}x")
PY
