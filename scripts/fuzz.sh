#!/usr/bin/env bash
# libFuzzer campaigns over the parsers of user and disk input (tests/fuzz): YAML configs and
# overrides, safetensors headers and indexes, the calibration cache, a checkpoint's state.json,
# prompt and preference files (text and JSONL), and tokenizer.json. Builds the targets with clang,
# AddressSanitizer and UndefinedBehaviorSanitizer in $FUZZ_BUILD_DIR (default build-fuzz), runs
# each for --seconds from a scratch copy of its committed seed corpus (tests/fuzz/corpus/<target>),
# two at a time, and prints target, executions, seconds and crashes. Exit 1 when any target
# crashes, times out on an input (> 10 s), leaks or reports undefined behaviour; the input that
# did it is kept in $FUZZ_OUT (default: a scratch directory, printed).
#   scripts/fuzz.sh [--seconds N] [target ...]        (default 600 s each: the campaign)
#   scripts/fuzz.sh --seconds 10                      (the smoke: CTest label fuzz)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=600
targets=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --seconds) seconds=$2; shift 2 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) targets+=("$1"); shift ;;
  esac
done
((${#targets[@]})) ||
  targets=(config safetensors calibration_cache train_state data_files tokenizer_json)
build=${FUZZ_BUILD_DIR:-build-fuzz}
flags="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -g -O1"
if [[ ! -f "$build/build.ninja" ]]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_FLAGS="$flags" \
    -DCMAKE_C_FLAGS="$flags" -DINFALIGN_FUZZ=ON -DINFALIGN_BUILD_TESTS=OFF >/dev/null
fi
ninja -C "$build" -j "${JOBS:-$(nproc)}" fuzz_targets >/dev/null
out=${FUZZ_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/infalign-fuzz.XXXXXX")}
mkdir -p "$out"
run_one() {
  local t=$1 corpus="$out/corpus/$1"
  mkdir -p "$corpus" "$out/artifacts/$t"
  cp -r "tests/fuzz/corpus/$t/." "$corpus/" 2>/dev/null || true
  if [[ $t == tokenizer_json ]]; then
    # The fetched small tokenizers (scripts/fetch_tokenizers.sh), when there: real vocabularies.
    for f in data/tokenizers/small-*/tokenizer.json; do
      [[ -f $f ]] && cp "$f" "$corpus/fetched-$(basename "$(dirname "$f")").json"
    done
  fi
  # -rss_limit_mb: a parser that allocates gigabytes on a small input is a bug too.
  ASAN_OPTIONS=detect_leaks=1 "$build/tests/fuzz/fuzz_$t" "$corpus" -max_total_time="$seconds" \
    -timeout=10 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
    -artifact_prefix="$out/artifacts/$t/" >"$out/$t.log" 2>&1
}
pids=()
status=0
for t in "${targets[@]}"; do
  run_one "$t" &
  pids+=($!)
  if ((${#pids[@]} >= $(nproc))); then
    wait "${pids[0]}" || status=1
    pids=("${pids[@]:1}")
  fi
done
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
printf '%-18s %12s %8s %8s %8s\n' target executions seconds corpus crashes
for t in "${targets[@]}"; do
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$out/$t.log" | grep -o '[0-9]*$' || echo 0)
  secs=$(grep -o 'Done [0-9]* runs in [0-9]* second' "$out/$t.log" | awk '{ print $5 }' || true)
  crashes=$(find "$out/artifacts/$t" -type f | wc -l)
  printf '%-18s %12s %8s %8s %8s\n' "$t" "$runs" "${secs:-?}" "$(find "$out/corpus/$t" -type f | wc -l)" "$crashes"
  if ((crashes > 0)); then
    status=1
    echo "  $t: see $out/$t.log and $out/artifacts/$t/"
  fi
done
((status == 0)) || echo "[fuzz] FAILED: outputs kept in $out"
((status == 0)) && [[ -z ${FUZZ_OUT:-} ]] && rm -rf "$out"
exit $status
