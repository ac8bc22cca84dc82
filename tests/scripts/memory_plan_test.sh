#!/usr/bin/env bash
# The memory plan against the measured peak RSS on three small PPO configurations (a random
# 23M-parameter Llama, 2 iterations each): float32 full fine-tuning with a value model (GAE);
# bfloat16 frozen reference with the exact-KL estimator and checkpointed blocks; LoRA with
# checkpointed blocks and a bfloat16 sampler. Each run logs "measured/plan R" at its end; R must
# lie within 15% of 1. Prints the table docs/memory.md quotes.
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=${BUILD_DIR:-build}
out=$(mktemp -d "${TMPDIR:-/tmp}/memory-plan.XXXXXX")
trap 'rm -rf "$out"' EXIT
# The tokenizer of configs/examples/byo/llama.yaml (scripts/test.sh fetches it before CTest runs;
# fetching here could race with the other tests that fetch).
[[ -f data/tokenizers/small-llama3/tokenizer.json ]] ||
  { echo "data/tokenizers/small-llama3 is missing: run scripts/fetch_tokenizers.sh"; exit 1; }
awk 'NF' README.md >"$out/train.txt"
awk 'NF' docs/memory.md >"$out/valid.txt"
awk 'length($0) > 20 && length($0) < 120 && n++ < 32' README.md >"$out/prompts.txt"
cat >"$out/shape.yaml" <<YAML
model:
  init_from: $out/model
  hidden_size: 512
  intermediate_size: 1408
  num_hidden_layers: 8
  num_attention_heads: 8
  num_key_value_heads: 2
data:
  train_file: $out/train.txt
  valid_file: $out/valid.txt
  train_prompts_file: $out/prompts.txt
  eval_prompts_file: $out/prompts.txt
  max_prompt_tokens: 32
transform:
  kind: raw
generation:
  max_new_tokens: 32
ppo:
  total_steps: 2
  rollout_batch_size: 32
  num_mini_batches: 2
checkpoint:
  every_steps: 0
YAML
config=(--config configs/examples/byo/llama.yaml --overlay "$out/shape.yaml")
"$bin/infalign-train" "${config[@]}" --set run.stage=lm --set 'model.init_from=""' \
  --set train.total_steps=0 --set "train.output_dir=$out/model" --set "run.run_dir=$out/lm" \
  >"$out/lm.log" 2>&1 || { tail -n 20 "$out/lm.log"; exit 1; }
declare -A sets=(
  [full_fp32_gae]="--set ppo.advantage=gae --set ppo.samples_per_prompt=1"
  [bf16_frozen_exact_kl_ckpt]="--set run.frozen_dtype=bfloat16 --set ppo.kl_estimator=full --set train.gradient_checkpointing=true"
  [lora_ckpt_bf16_sampler]="--set lora.rank=8 --set train.gradient_checkpointing=true --set generation.dtype=bfloat16"
)
status=0
printf '%-28s %10s %10s %8s\n' configuration plan measured ratio
for name in full_fp32_gae bf16_frozen_exact_kl_ckpt lora_ckpt_bf16_sampler; do
  # shellcheck disable=SC2086
  "$bin/infalign-train" "${config[@]}" ${sets[$name]} --set "run.run_dir=$out/$name" \
    >"$out/$name.log" 2>&1 || { tail -n 20 "$out/$name.log"; exit 1; }
  line=$(grep -o 'peak RSS .*measured/plan [0-9.]*' "$out/$name.log") ||
    { echo "$name: no measured/plan line"; exit 1; }
  read -r measured plan ratio < <(sed -E 's/peak RSS (.*) \(plan (.*), measured\/plan (.*)/\1|\2|\3/' <<<"$line" |
    awk -F'|' '{ gsub(/ /, "", $1); gsub(/ /, "", $2); print $1, $2, $3 }')
  printf '%-28s %10s %10s %8s\n' "$name" "$plan" "$measured" "$ratio"
  awk -v r="$ratio" 'BEGIN { exit !(r >= 0.85 && r <= 1.15) }' ||
    { echo "  $name: measured/plan $ratio is not within 15% of 1"; status=1; }
done
exit $status
