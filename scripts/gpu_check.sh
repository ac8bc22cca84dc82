#!/usr/bin/env bash
# The prepared GPU check (issue 9): on a machine with an NVIDIA GPU and PyTorch but no network,
# with .gpu/deps from scripts/gpu_prepare.sh, builds infalign against PyTorch's LibTorch (CUDA),
# runs the `gpu` test label (CUDA against CPU on the same weights), then the generation and
# PPO-step benchmarks on CUDA, printing tokens/s. About 5 minutes on 16 cores; every step prints
# its time. Output is also written to $OUT/gpu_check.log when OUT is set (the device tool).
#   bash scripts/gpu_check.sh            on the GPU machine
#   bash scripts/gpu_check.sh --dry-run  here: the same build against this machine's python3
#                                        torch (Debian's, CPU) in build-gpu-dry, the gpu label
#                                        (its tests skip without CUDA), and no benchmarks
# Environment: PYTHON (default python3; the one whose torch to build against), JOBS.
set -euo pipefail
cd "$(dirname "$0")/.."
dry=0
[[ "${1:-}" == "--dry-run" ]] && dry=1
if [[ -n "${OUT:-}" ]]; then exec > >(tee "$OUT/gpu_check.log") 2>&1; fi
t0=$(date +%s)
step() { echo "[gpu_check] $(($(date +%s) - t0)) s: $*"; }

deps=$PWD/.gpu/deps
if [[ ! -d $deps/usr ]]; then
  echo "gpu_check.sh: $deps is missing; run scripts/gpu_prepare.sh on a machine with apt first" >&2
  exit 2
fi
py=${PYTHON:-python3}
torch_info=$($py -c 'import torch, os; print(torch.__version__, torch.version.cuda, torch.utils.cmake_prefix_path, os.path.dirname(torch.__file__) + "/lib")') || {
  echo "gpu_check.sh: $py cannot import torch" >&2
  exit 2
}
read -r torch_version cuda_version torch_prefix torch_lib <<<"$torch_info"
step "PyTorch $torch_version (CUDA $cuda_version) at $torch_prefix"
if ((!dry)); then nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true; fi
if [[ ! -d "$torch_prefix/Torch" ]]; then
  # Debian's python3-torch keeps its CMake files with libtorch-dev.
  [[ -d /usr/share/cmake/Torch || -d /usr/lib/x86_64-linux-gnu/cmake/Torch ]] && torch_prefix=/usr
fi

arch=x86_64-linux-gnu
export PKG_CONFIG_PATH=$deps/usr/lib/$arch/pkgconfig:$deps/usr/share/pkgconfig
export PKG_CONFIG_SYSROOT_DIR=$deps
export LD_LIBRARY_PATH=$deps/usr/lib/$arch:$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
build=build-gpu
((dry)) && build=build-gpu-dry
step "configure $build"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$deps/usr;$torch_prefix" \
  -DCMAKE_CXX_FLAGS="-isystem $deps/usr/include" >/dev/null
step "build"
ninja -C "$build" -j "${JOBS:-$(nproc)}" infalign-train infalign-eval infalign_gpu_tests \
  bench_generate bench_ppo hf_parity
step "CTest label gpu"
ctest --test-dir "$build" -L gpu --output-on-failure
step "Hugging Face parity: infalign's exports loaded by transformers, outputs compared"
parity=$(mktemp -d)
"$build/tests/hf_parity" "$parity"
$py tests/gpu/hf_parity.py "$parity" || { rc=$?; ((rc == 3)) || exit $rc; }
if ((dry)); then
  step "dry run done: the build and the gpu label work here; the benchmarks need a GPU"
  exit 0
fi
step "bench_generate on CUDA"
"$build/tests/bench/bench_generate" --device cuda --batches 1,64,256 --repeats 5
step "bench_ppo on CUDA"
"$build/tests/bench/bench_ppo" --device cuda --batches 64,256 --repeats 5
step "done"
