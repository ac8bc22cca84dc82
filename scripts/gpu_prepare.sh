#!/usr/bin/env bash
# Run here (Debian 12 with its apt mirrors) before a GPU check: downloads the Debian packages of
# infalign's dependencies other than LibTorch and unpacks them into .gpu/deps (git-ignored),
# for scripts/gpu_check.sh on a GPU machine that has PyTorch (and so a CUDA LibTorch) but no
# network. With the device tool: carry [".gpu"] and run `bash scripts/gpu_check.sh`.
# Idempotent; prints the size. Needs apt-get (no root: `apt-get download` writes here).
set -euo pipefail
cd "$(dirname "$0")/.."
packages=(
  libsentencepiece-dev libsentencepiece0 libprotobuf32 libprotobuf-lite32
  libyaml-cpp-dev libyaml-cpp0.7 libspdlog-dev libspdlog1.10 libfmt-dev libfmt9
  nlohmann-json3-dev libcli11-dev libgtest-dev libgmock-dev googletest libgloo-dev
  libpcre2-dev libpcre2-8-0
)
out=.gpu/deps
debs=.gpu/debs
if [[ -f $out/.packages && "$(cat $out/.packages)" == "${packages[*]}" ]]; then
  echo "[gpu_prepare] $out is up to date ($(du -sh .gpu | cut -f1))"
  exit 0
fi
rm -rf "$out" "$debs"
mkdir -p "$out" "$debs"
(cd "$debs" && apt-get download "${packages[@]}" >/dev/null)
for deb in "$debs"/*.deb; do dpkg-deb -x "$deb" "$out"; done
# Drop what the build does not read (documentation, man pages).
rm -rf "$out/usr/share/doc" "$out/usr/share/man" "$debs"
echo "${packages[*]}" >"$out/.packages"
echo "[gpu_prepare] unpacked ${#packages[@]} packages into $out ($(du -sh .gpu | cut -f1))"
