#!/usr/bin/env bash
# Runs every command of README.md as written, in order, on the tiny profile, in a scratch copy of
# the repository, and fails when one of them fails.
#
# Commands are the lines of ```bash blocks (continuation lines joined; comments are left to bash)
# and the `$ `-prefixed lines of other blocks. Every command runs in the scratch copy with
# INFALIGN_CONFIG_OVERLAY=configs/profiles/tiny.yaml (every infalign-train / infalign-eval run,
# including those the scripts start, shrinks to seconds) and INFALIGN_DATA_MAX_RECORDS=300 (a
# small corpus), so the whole README runs in a few minutes and the real runs/ and data/ stay
# untouched; commands naming configs/examples/byo/ (small by design) run without the profile. The scratch copy shares the build directory (`build` is a link to it) and the npm
# archive cache. Not run, with the reason printed: the test suite itself and the CUDA build.
#   scripts/check_readme.sh [--keep]      (--keep leaves the scratch copy for inspection)
# Environment: BUILD_DIR (default build). CTest runs it as the test `readme_commands`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${BUILD_DIR:-build}
[[ "$build_dir" == /* ]] || build_dir="$root/$build_dir"
build_dir=$(cd "$build_dir" && pwd)
keep=0
[[ "${1:-}" == "--keep" ]] && keep=1

scratch=$(mktemp -d "${TMPDIR:-/tmp}/infalign-readme.XXXXXX")
cleanup() { if ((keep)); then echo "[readme] scratch copy kept: $scratch"; else rm -rf "$scratch"; fi; }
trap cleanup EXIT

# The working tree as it is (tracked and untracked files, not the ignored ones).
if git -C "$root" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  (cd "$root" && git ls-files -co --exclude-standard -z | while IFS= read -r -d '' f; do
    [[ -e "$f" ]] && printf '%s\0' "$f"
  done | xargs -0 cp --parents -t "$scratch")
else
  tar -C "$root" --exclude=./build --exclude=./runs --exclude=./data --exclude=./.cache -cf - . |
    tar -C "$scratch" -xf -
fi
rm -rf "$scratch/build"
ln -s "$build_dir" "$scratch/build"
if [[ -d "$root/.cache" ]]; then ln -s "$root/.cache" "$scratch/.cache"; fi

# The commands, one per line (continuations joined).
mapfile -t commands < <(awk '
  /^```/ {
    if (in_block) { in_block = 0; next }
    in_block = 1; lang = substr($0, 4); pending = ""; next
  }
  !in_block { next }
  lang == "bash" {
    line = $0
    if (pending != "") { line = pending " " line; pending = "" }
    if (line ~ /\\$/) { sub(/[ \t]*\\$/, "", line); pending = line; next }
    if (line ~ /^[ \t]*(#|$)/) next
    print line; next
  }
  /^\$ / { print substr($0, 3) }
' "$root/README.md")

skip_reason() {
  case "$1" in
    scripts/test.sh*) echo "the test suite itself (this check runs inside it)" ;;
    cmake*CMAKE_PREFIX_PATH*torch*) echo "needs a PyTorch install (the CUDA build; scripts/gpu_check.sh)" ;;
    *) echo "" ;;
  esac
}

export INFALIGN_CONFIG_OVERLAY=configs/profiles/tiny.yaml
export INFALIGN_DATA_MAX_RECORDS=300
failed=0
ran=0
skipped=0
for i in "${!commands[@]}"; do
  cmd=${commands[$i]}
  reason=$(skip_reason "$cmd")
  if [[ -n "$reason" ]]; then
    echo "[readme] skip  $cmd  ($reason)"
    skipped=$((skipped + 1))
    continue
  fi
  log="$scratch/command_$i.log"
  start=$(date +%s%N)
  # The bring-your-own configs are small already and set vocabulary sizes the profile would
  # shrink below their tokenizers': they run as written.
  overlay=$INFALIGN_CONFIG_OVERLAY
  [[ "$cmd" == *configs/examples/byo/* ]] && overlay=""
  if (cd "$scratch" && INFALIGN_CONFIG_OVERLAY=$overlay bash -euo pipefail -c "$cmd") >"$log" 2>&1; then
    ms=$((($(date +%s%N) - start) / 1000000))
    printf '[readme] ok    %s  (%d.%d s)\n' "$cmd" $((ms / 1000)) $((ms % 1000 / 100))
    ran=$((ran + 1))
  else
    rc=$?
    echo "[readme] FAIL  $cmd  (exit $rc); the end of its output:"
    tail -n 25 "$log" | sed 's/^/    /'
    failed=$((failed + 1))
  fi
done
echo "[readme] ${#commands[@]} commands: $ran ran, $skipped skipped, $failed failed"
if ((${#commands[@]} < 10)); then
  echo "[readme] expected more commands: did the README's code blocks change format?" >&2
  exit 1
fi
((failed == 0))
