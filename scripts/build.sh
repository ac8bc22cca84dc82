#!/usr/bin/env bash
# Configures and builds infalign into build/ (Release, Ninja, ccache when present).
#   scripts/build.sh [extra cmake -D options...]
# Environment: BUILD_DIR (default: build), JOBS (default: number of cores), BUILD_TARGETS (default:
# everything, tests and benchmarks included; scripts/quickstart.sh builds the product only).
set -euo pipefail
cd "$(dirname "$0")/.."

build_dir=${BUILD_DIR:-build}
jobs=${JOBS:-$(nproc)}
# Compiler: INFALIGN_CXX if set, else the one docs/development.md measured faster here.
cxx=${INFALIGN_CXX:-}
if [[ -z "$cxx" ]] && command -v clang++ >/dev/null 2>&1; then cxx=clang++; fi
cxx_arg=()
if [[ -n "$cxx" && ! -f "$build_dir/CMakeCache.txt" ]]; then cxx_arg=(-DCMAKE_CXX_COMPILER="$cxx"); fi

# Configure once (ninja re-runs CMake itself when a CMakeLists.txt changes), or when options are given.
if [[ $# -gt 0 || ! -f "$build_dir/build.ninja" ]]; then
  cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release "${cxx_arg[@]}" "$@" >/dev/null
fi
read -r -a targets <<<"${BUILD_TARGETS:-}"
ninja -C "$build_dir" -j "$jobs" "${targets[@]}"
