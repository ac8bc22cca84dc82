#!/usr/bin/env bash
# The memory plans of docs/memory.md: `infalign-train --check` of PPO for three model sizes
# (TinyLlama's 1.1B shape, Llama-2-7B's and Llama-2-13B's; no weights needed: model.init_from
# names no directory, so the plan takes the shapes from the model section) in three
# configurations, with a reward model of the policy's size, a rollout of 64 sequences of 256
# prompt + 256 response tokens and micro-batches of 4. Prints
# each planned peak per process, its biggest term, and whether it fits 24, 80 and 141 GB
# devices. Planned on this machine, so the runtime term is this CPU process's (a GPU's CUDA
# context is about 0.5 GiB instead).
#   scripts/memory_plans.sh [--markdown]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${BUILD_DIR:-build}
markdown=${1:-}
out=$(mktemp -d "${TMPDIR:-/tmp}/memory-plans.XXXXXX")
trap 'rm -rf "$out"' EXIT
common=(--config configs/examples/tinyllama_memory.yaml --check
  --set "model.init_from=$out/policy" --set reward.kind=model --set "reward.model_path=$out/reward_model"
  --set ppo.rollout_batch_size=64 --set ppo.samples_per_prompt=4 --set ppo.num_mini_batches=4
  --set ppo.micro_batch_size=4 --set data.max_prompt_tokens=255
  --set generation.max_new_tokens=256 --set generation.batch_size=64
  --set model.max_position_embeddings=4096 --set run.memory_check=false)
declare -A models=(
  [1.1B]="--set model.hidden_size=2048 --set model.intermediate_size=5632 --set model.num_hidden_layers=22 --set model.num_attention_heads=32 --set model.num_key_value_heads=4"
  [7B]="--set model.hidden_size=4096 --set model.intermediate_size=11008 --set model.num_hidden_layers=32 --set model.num_attention_heads=32 --set model.num_key_value_heads=32"
  [13B]="--set model.hidden_size=5120 --set model.intermediate_size=13824 --set model.num_hidden_layers=40 --set model.num_attention_heads=40 --set model.num_key_value_heads=40"
)
declare -A configs=(
  [fp32-full-gae]="--set lora.rank=0 --set run.frozen_dtype=float32 --set ppo.advantage=gae --set ppo.samples_per_prompt=1 --set train.gradient_checkpointing=false"
  [bf16-frozen-rloo-ckpt]="--set lora.rank=0 --set run.frozen_dtype=bfloat16 --set ppo.advantage=rloo --set train.gradient_checkpointing=true"
  [lora16-bf16-rloo-ckpt]="--set lora.rank=16 --set lora.targets=[q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj] --set run.frozen_dtype=bfloat16 --set ppo.advantage=rloo --set train.gradient_checkpointing=true"
)
fits() { awk -v p="$1" -v gb="$2" 'BEGIN { print (p * 1073741824 <= gb * 1e9) ? "yes" : "no" }'; }
if [[ $markdown == --markdown ]]; then
  echo "| model | configuration | planned peak | biggest term | 24 GB | 80 GB | 141 GB |"
  echo "|---|---|---|---|---|---|---|"
else
  printf '%-6s %-24s %12s  %-5s %-5s %-5s  %s\n' model configuration peak 24GB 80GB 141GB "biggest term"
fi
for model in 1.1B 7B 13B; do
  for config in fp32-full-gae bf16-frozen-rloo-ckpt lora16-bf16-rloo-ckpt; do
    dir="$out/$model-$config"
    # shellcheck disable=SC2086
    "$bin/infalign-train" "${common[@]}" ${models[$model]} ${configs[$config]} \
      --set "run.run_dir=$dir" >"$dir.log" 2>&1 || { tail -n 20 "$dir.log"; exit 1; }
    peak=$(grep -o 'planned peak [0-9.]* [GM]iB' "$dir.log" | awk '{ print ($4 == "GiB") ? $3 : $3 / 1024 }')
    biggest=$(grep -m1 -A1 'planned peak' "$dir.log" | tail -n 1 | sed -E 's/.*memory: +//; s/ +/ /g')
    if [[ $markdown == --markdown ]]; then
      echo "| $model | $config | $peak GiB | $biggest | $(fits "$peak" 24) | $(fits "$peak" 80) | $(fits "$peak" 141) |"
    else
      printf '%-6s %-24s %8.1f GiB  %-5s %-5s %-5s  %s\n' "$model" "$config" "$peak" \
        "$(fits "$peak" 24)" "$(fits "$peak" 80)" "$(fits "$peak" 141)" "$biggest"
    fi
  done
done
