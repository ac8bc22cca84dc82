#!/usr/bin/env bash
# Measures what docs/development.md reports: a clean build (-j2, ccache off) and one-file
# rebuilds, for each compiler given (default: g++ and clang++ when present).
#   scripts/measure_build.sh [g++|clang++ ...]
set -euo pipefail
cd "$(dirname "$0")/.."

compilers=("$@")
if ((${#compilers[@]} == 0)); then
  compilers=(g++)
  command -v clang++ >/dev/null 2>&1 && compilers+=(clang++)
fi
seconds() {  # runs "$@" quietly, prints its wall time in seconds
  local s e
  s=$(date +%s%N)
  "$@" >/dev/null
  e=$(date +%s%N)
  echo "$(((e - s) / 1000000))e-3"
}

printf '| compiler | clean build -j2 (s) | touch src/model/llama.cpp (s) | touch src/config/load.cpp (s) | touch tests/unit/config/load_test.cpp (s) |\n'
printf '|---|---|---|---|---|\n'
for cxx in "${compilers[@]}"; do
  dir=$(mktemp -d /tmp/infalign-measure-XXXXXX)
  export CCACHE_DISABLE=1
  cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER="$cxx" >/dev/null
  clean=$(seconds ninja -C "$dir" -j2)
  touch src/model/llama.cpp
  torch_file=$(seconds ninja -C "$dir" -j2)
  touch src/config/load.cpp
  base_file=$(seconds ninja -C "$dir" -j2)
  touch tests/unit/config/load_test.cpp
  test_file=$(seconds ninja -C "$dir" -j2)
  printf '| %s | %.1f | %.1f | %.1f | %.1f |\n' "$("$cxx" --version | head -1)" "$clean" "$torch_file" "$base_file" "$test_file"
  rm -rf "$dir"
done
