#!/usr/bin/env bash
# The bring-your-own example (configs/examples/byo/): for each family, a small model made here
# with its tokenizer kind, aligned from JSONL chat prompts against a reward program:
#   llama    Llama layout, Hugging Face tokenizer.json (from Llama 3's vocabulary)
#   qwen2    Qwen2 layout (q/k/v biases), tokenizer.json (from Qwen2.5's vocabulary)
#   mistral  Mistral layout, SentencePiece without a pad piece (trained here)
# Steps: tokenizers (scripts/fetch_tokenizers.sh; infalign-spm-train for mistral), the text the
# fresh models learn from (README.md and docs/*.md, a line a record), prompts rendered through
# each tokenizer's chat template (scripts/render_prompts.py), then per family
#   infalign-train stage lm -> infalign-train (ppo: calibration cache, then PPO) -> infalign-eval
# Usage: scripts/byo_example.sh [--out DIR] [llama] [qwen2] [mistral]     (default: all three,
# under runs/byo; --out puts everything elsewhere through an overlay). Run scripts/build.sh first.
# Each run takes <out>/<family>/made.yaml as an overlay: the paths and vocabulary sizes made here.
set -euo pipefail
cd "$(dirname "$0")/.."

out=runs/byo
families=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --out) out=$2; shift 2 ;;
    llama | qwen2 | mistral) families+=("$1"); shift ;;
    *) echo "byo_example.sh: unknown argument $1 (families: llama qwen2 mistral; --out DIR)" >&2; exit 2 ;;
  esac
done
((${#families[@]} > 0)) || families=(llama qwen2 mistral)
bin=${BUILD_DIR:-build}
for tool in infalign-train infalign-eval infalign-spm-train; do
  [[ -x "$bin/$tool" ]] || { echo "byo_example.sh: $bin/$tool not found; run scripts/build.sh" >&2; exit 2; }
done
examples=configs/examples/byo

scripts/fetch_tokenizers.sh >/dev/null

# The text: non-empty lines of the docs, every 10th for validation.
mkdir -p "$out/corpus"
cat README.md docs/*.md | sed 's/[[:space:]]*$//' | grep -v '^$' >"$out/corpus/all.txt"
awk 'NR % 10 != 0' "$out/corpus/all.txt" >"$out/corpus/train.txt"
awk 'NR % 10 == 0' "$out/corpus/all.txt" >"$out/corpus/valid.txt"

for family in "${families[@]}"; do
  dir=$out/$family
  mkdir -p "$dir"
  case $family in
    llama) tokenizer=data/tokenizers/small-llama3/tokenizer.json vocab=1030 ;;
    qwen2) tokenizer=data/tokenizers/small-qwen2/tokenizer.json vocab=1027 ;;
    mistral)
      tokenizer=$dir/tokenizer/tokenizer.model vocab=1000
      if [[ ! -f "$tokenizer" ]]; then
        mkdir -p "$dir/tokenizer"
        # As Mistral ships its tokenizer.model: unk 0, <s> 1, </s> 2, no pad piece.
        "$bin/infalign-spm-train" "--input=$out/corpus/train.txt --model_prefix=$dir/tokenizer/tokenizer --vocab_size=1000 --model_type=bpe --character_coverage=1.0 --unk_id=0 --bos_id=1 --eos_id=2 --pad_id=-1 --num_threads=1 --minloglevel=2" 2>"$dir/tokenizer/train.log"
      fi
      cp "$examples/mistral/tokenizer_config.json" "$dir/tokenizer/"
      ;;
  esac
  # What this script made: the config's paths under $out (the file's own when --out is runs/byo)
  # and the vocabulary sizes, kept over any overlay that shrinks models (INFALIGN_CONFIG_OVERLAY).
  cat >"$dir/made.yaml" <<YAML
run:
  run_dir: $dir/ppo
model:
  init_from: $dir/lm/model
  vocab_size: $vocab
tokenizer:
  path: $tokenizer
  vocab_size: $vocab
data:
  train_file: $out/corpus/train.txt
  valid_file: $out/corpus/valid.txt
  train_prompts_file: $dir/prompts_train.jsonl
  eval_prompts_file: $dir/prompts_eval.jsonl
eval:
  policies: [$dir/ppo]
  base_model: $dir/lm/model
  output_dir: $dir/eval
YAML
  for split in train eval; do
    python3 scripts/render_prompts.py --model "$(dirname "$tokenizer")" \
      --input "$examples/chats_$split.jsonl" --output "$dir/prompts_$split.jsonl"
  done
  config=(--config "$examples/$family.yaml" --overlay "$dir/made.yaml")
  echo "[byo] $family: a fresh $family model ($tokenizer)"
  "$bin/infalign-train" "${config[@]}" --set run.stage=lm --set 'model.init_from=""' \
    --set "run.run_dir=$dir/lm"
  echo "[byo] $family: calibrate + PPO"
  "$bin/infalign-train" "${config[@]}"
  echo "[byo] $family: evaluate"
  "$bin/infalign-eval" "${config[@]}"
done
echo "[byo] done: ${families[*]} under $out (each: lm/, ppo/, eval/results.json)"
