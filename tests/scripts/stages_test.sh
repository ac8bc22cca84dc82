#!/usr/bin/env bash
# Tests scripts/lib/stages.sh (the quickstart's and reproduce.sh's stage runner) with a fake tool:
# skip when unchanged, rerun from scratch when the config or an input changed, resume an
# interrupted run with the same fingerprint, start over an interrupted run whose config changed.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/infalign-stages.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
mkdir -p build
# The fake tool: --dump-config prints the "config" (the file's content) and its run_dir; a run
# appends "run" to run_dir/calls, and writes run_dir/out unless FAIL is set.
cat >build/infalign-fake <<'TOOL'
#!/usr/bin/env bash
config=$2
if [[ "${*: -1}" == "--dump-config" ]]; then cat "$config"; echo "  run_dir: runs/x"; exit 0; fi
mkdir -p runs/x
echo run >>runs/x/calls
if [[ -n "${FAIL:-}" ]]; then exit 1; fi
echo done >runs/x/out
TOOL
chmod +x build/infalign-fake
echo "a: 1" >cfg.yaml
echo "data" >input.txt
# Each run in its own shell with `set -e`, as the scripts run it (a failing tool ends the script).
run_stage() {
  bash -euo pipefail -c "stamps='$work/stamps'; source '$root/scripts/lib/stages.sh'
    stage fake fake cfg.yaml runs/x/out input.txt fake"
}
fail() { echo "FAIL: $*" >&2; exit 1; }
calls() { wc -l <runs/x/calls; }

run_stage >/dev/null
[[ $(calls) == 1 ]] || fail "first run should run once"
out=$(run_stage)
grep -q "up to date, skipping" <<<"$out" || fail "unchanged stage not skipped: $out"
[[ $(calls) == 1 ]] || fail "skipped stage ran"

echo "more data" >input.txt
out=$(run_stage)
grep -q "changed since" <<<"$out" || fail "changed input not detected: $out"
[[ -f runs/x.previous/out && $(calls) == 1 ]] || fail "changed stage did not start over"

# Interrupted, rerun with the same fingerprint: resumes in place (the run dir is kept).
rm -rf runs stamps/* && mkdir -p stamps
FAIL=1 run_stage >/dev/null 2>&1 && fail "the failing tool did not fail the stage"
[[ -f stamps/fake.started && ! -f stamps/fake.sha256 ]] || fail "interrupted stage not marked started"
run_stage >/dev/null
[[ $(calls) == 2 && ! -e runs/x.previous ]] || fail "interrupted stage did not resume in place"
[[ ! -f stamps/fake.started ]] || fail "finished stage still marked started"

# Interrupted, then the config changed: starts over.
rm -rf runs stamps/* && mkdir -p stamps
FAIL=1 run_stage >/dev/null 2>&1 && fail "the failing tool did not fail the stage"
echo "a: 2" >cfg.yaml
out=$(run_stage)
grep -q "interrupted while running with another config" <<<"$out" ||
  fail "stale interrupted run not detected: $out"
[[ -f runs/x.previous/calls && $(calls) == 1 ]] || fail "stale interrupted run not moved aside"
echo "stages_test: ok"
