#!/usr/bin/env bash
# The measurements that chose the PPO solver (issue 17; docs/benchmarks.md, "Choosing the
# solver"): variants of one method trained at a target KL, then one evaluation of all of them
# with the oracle (eval_runs.yaml), so each variant's fraction of its transform's oracle gain and
# its KL efficiency come from the same prompts and base samples.
#   scripts/solver_search.sh METHOD KL NAME [--set key=value ...] [-- NAME [--set ...] ...]
#   scripts/solver_search.sh --eval METHOD KL NAME...   evaluate finished variants only
# e.g.
#   scripts/solver_search.sh ctrl_bon4 0.5 rloo4 --set ppo.advantage=rloo \
#       --set ppo.samples_per_prompt=4 -- group4 --set ppo.advantage=group --set ppo.samples_per_prompt=4
# Runs go to runs/solver/<METHOD>_kl<KL>_<NAME>; the evaluation to
# runs/solver/eval_<METHOD>_kl<KL>_<first NAME>.
# Run after scripts/quickstart.sh (the base policy, reward model and calibration cache).
set -euo pipefail
cd "$(dirname "$0")/.."

eval_only=0
if [[ "${1:-}" == "--eval" ]]; then
  eval_only=1
  shift
fi
method=$1 kl=$2
shift 2
names=()
while (($# > 0)); do
  name=$1
  shift
  args=()
  while (($# > 0)) && [[ "$1" != "--" ]]; do
    args+=("$1")
    shift
  done
  (($# > 0)) && shift  # the --
  names+=("$name")
  run=runs/solver/${method}_kl${kl}_$name
  if ((!eval_only)) && [[ ! -e "$run/final/model.safetensors" ]]; then
    start=$(date +%s)
    build/infalign-train --config "configs/default/$method.yaml" --set run.run_dir="$run" \
      --set run.name="${method}_kl${kl}_$name" --set ppo.target_kl="$kl" "${args[@]}"
    echo "[solver] $name: $(($(date +%s) - start)) s"
  fi
done
policies=$(for n in "${names[@]}"; do printf 'runs/solver/%s_kl%s_%s,' "$method" "$kl" "$n"; done)
out=runs/solver/eval_${method}_kl${kl}_${names[0]}
build/infalign-eval --config configs/default/eval_runs.yaml --set "eval.policies=[${policies%,}]" \
  --set eval.output_dir="$out" --set run.run_dir="$out" --set "eval.best_of_n=[1,4]"
/usr/bin/python3 - "$out/results.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
print("| variant | KL | u_kl | KL efficiency | standard | best-of-4 | worst-of-4 | oracle fraction: standard / best-of-4 / worst-of-4 |")
print("|---|---|---|---|---|---|---|---|")
for p in r["policies"]:
    j = next(x for x in p["judges"] if x["judge"] == "reward_model")
    rows = {x["n"]: x for x in j["win_rates"]}
    frac = {}
    for g in (j.get("oracle") or {}).get("rows", []):
        f = g["fraction"]
        frac[(g["n"], g["procedure"])] = "-" if f is None else f"{f['mean']:.2f}"
    eff = j["u"]["kl_efficiency"]
    print(f"| {p['name']} | {p['kl_k1']['mean']:.3f} | {j['u']['u_kl']['mean']:.3f} | "
          f"{'-' if eff is None else f'{eff:.2f}'} | {rows[1]['best_of_n']['mean']:.3f} | "
          f"{rows[4]['best_of_n']['mean']:.3f} | {rows[4]['worst_of_n']['mean']:.3f} | "
          f"{frac.get((1, 'standard'), '-')} / {frac.get((4, 'best_of_n'), '-')} / "
          f"{frac.get((4, 'worst_of_n'), '-')} |")
EOF
