#!/usr/bin/env bash
# The 1B-class run of docs/memory.md: configs/examples/tinyllama_memory.yaml (a TinyLlama-shaped
# random model, LoRA, RLOO, checkpointed blocks, a reward program) through the random model's
# creation, calibration + 2 PPO iterations and a small evaluation, each phase under
# /usr/bin/time; prints a table of wall seconds and peak RSS per phase (also in
# runs/tinyllama/phases.tsv). Needs scripts/build.sh and about 10 GB of free disk.
#   scripts/tinyllama_run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${BUILD_DIR:-build}
config=(--config configs/examples/tinyllama_memory.yaml)
out=runs/tinyllama
mkdir -p "$out" runs/byo/corpus
scripts/fetch_tokenizers.sh >/dev/null
[[ -f data/tokenizers/llama3-32k/tokenizer.json ]] ||
  python3 scripts/make_small_tokenizer.py --source data/tokenizers/llama3 \
    --out data/tokenizers/llama3-32k --vocab 32000 \
    --special '<|begin_of_text|>,<|end_of_text|>,<|reserved_special_token_0|>,<|start_header_id|>,<|end_header_id|>,<|eot_id|>'
# The text stage lm reads (it trains nothing here: train.total_steps 0) and 8 + 4 chat prompts.
cat README.md docs/*.md | sed 's/[[:space:]]*$//' | grep -v '^$' >"$out/corpus.txt"
awk 'NR % 10 != 0' "$out/corpus.txt" >runs/byo/corpus/train.txt
awk 'NR % 10 == 0' "$out/corpus.txt" >runs/byo/corpus/valid.txt
head -n 8 configs/examples/byo/chats_train.jsonl >"$out/chats_train.jsonl"
head -n 4 configs/examples/byo/chats_eval.jsonl >"$out/chats_eval.jsonl"
for split in train eval; do
  python3 scripts/render_prompts.py --model data/tokenizers/llama3-32k \
    --input "$out/chats_$split.jsonl" --output "$out/prompts_$split.jsonl"
done
printf 'phase\twall_seconds\tpeak_rss_gib\n' >"$out/phases.tsv"
phase() {
  local name=$1
  shift
  /usr/bin/time -f "%e %M" -o "$out/$name.time" "$@" 2>"$out/$name.log" ||
    { tail -n 20 "$out/$name.log"; exit 1; }
  awk -v name="$name" '{ printf "%s\t%s\t%.2f\n", name, $1, $2 / 1048576 }' "$out/$name.time" |
    tee -a "$out/phases.tsv"
}
[[ -f "$out/model/config.json" ]] ||
  phase random_model "$bin/infalign-train" "${config[@]}" --set run.stage=lm \
    --set 'model.init_from=""' --set train.total_steps=0 --set "train.output_dir=$out/model" \
    --set "run.run_dir=$out/lm"
phase calibrate_ppo "$bin/infalign-train" "${config[@]}"
phase eval "$bin/infalign-eval" "${config[@]}"
echo "[tinyllama] done: $out/phases.tsv"
