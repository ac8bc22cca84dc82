#!/usr/bin/env bash
# Checks the module layering of docs/design.md: every `#include "infalign/<module>/..."` in
# include/ and src/ must be allowed for the including module, torch-free modules include no
# LibTorch header, and third-party headers stay where they belong. Prints each violation;
# exits 1 if there is any. Runs as the CTest test `layering`.
set -uo pipefail
cd "$(dirname "$0")/.."

declare -A allowed=(
  [core]=""
  [config]="core"
  [tokenizer]="core config"
  [theory]="core"
  [data]="core config tokenizer"
  [runtime]="core config"
  [checkpoint]="core config runtime"
  [model]="core config runtime checkpoint"
  [generation]="core config runtime model"
  [reward]="core config runtime tokenizer checkpoint model generation"
  [calibration]="core config tokenizer theory data runtime checkpoint model generation reward"
  [loop]="core config data runtime checkpoint"
  [train]="core config tokenizer data runtime checkpoint loop model generation reward"
  [ppo]="core config tokenizer theory data runtime checkpoint loop model generation reward calibration"
  [eval]="core config tokenizer theory data runtime checkpoint model generation reward calibration"
  [app]="core config tokenizer theory data runtime checkpoint loop model generation reward calibration train ppo eval"
  [cli]="core config tokenizer theory data runtime checkpoint loop model generation reward calibration train ppo eval app"
)
torch_free="core config tokenizer theory data"

violations=0
report() {
  echo "layering: $*"
  violations=$((violations + 1))
}

while IFS= read -r file; do
  case "$file" in
    include/infalign/*) module=${file#include/infalign/}; module=${module%%/*} ;;
    src/*) module=${file#src/}; module=${module%%/*} ;;
    *) continue ;;
  esac
  if [[ -z "${allowed[$module]+x}" ]]; then
    report "$file: module '$module' is not in the layering table (scripts/check_layering.sh)"
    continue
  fi
  while IFS= read -r line; do
    n=${line%%:*}
    inc=${line#*:}
    if [[ "$inc" =~ \#include\ \"infalign/([a-z_]+)/ ]]; then
      dep=${BASH_REMATCH[1]}
      if [[ "$dep" != "$module" && " ${allowed[$module]} " != *" $dep "* ]]; then
        report "$file:$n: module '$module' must not include infalign/$dep/"
      fi
    fi
    if [[ " $torch_free " == *" $module "* && "$inc" =~ \#include\ \<(torch|ATen|c10)/ ]]; then
      report "$file:$n: module '$module' is torch-free but includes a LibTorch header"
    fi
    if [[ "$inc" =~ \#include\ \<yaml-cpp/ && "$file" != src/config/* ]]; then
      report "$file:$n: yaml-cpp belongs in src/config only"
    fi
    if [[ "$inc" =~ \#include\ \<spdlog/ && "$file" != src/core/*.cpp ]]; then
      report "$file:$n: spdlog belongs in src/core/*.cpp only"
    fi
    if [[ "$inc" =~ \#include\ \<nlohmann/ && "$file" != src/*.cpp && "$file" != src/*/*.cpp ]]; then
      report "$file:$n: nlohmann-json belongs in .cpp files only"
    fi
    if [[ "$inc" =~ \#include\ \<sentencepiece && "$file" != src/tokenizer/* ]]; then
      report "$file:$n: SentencePiece belongs in src/tokenizer only (it must be dlopen'ed)"
    fi
  done < <(grep -n '^#include' "$file")
done < <(git ls-files -co --exclude-standard -- include src | grep -E '\.(h|cpp)$')

if ((violations > 0)); then
  echo "layering: $violations violation(s)"
  exit 1
fi
echo "layering: ok"
