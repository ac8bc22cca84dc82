# Stage runner shared by scripts/quickstart.sh and scripts/reproduce.sh (source it).
#
# A stage is skipped when its output exists and its fingerprint is unchanged: the resolved config
# (--dump-config) and the sha256 of every input file, recorded in $stamps/<slug>.sha256 when the
# stage finishes. When they changed, the stage's run directory is moved to <run_dir>.previous and
# the stage runs again from scratch. A stage that was interrupted resumes from its checkpoints
# when rerun with the same fingerprint (recorded in $stamps/<slug>.started when it starts), and
# starts over (the same move) when the fingerprint changed meanwhile.
stamps=${stamps:-runs/default/.quickstart}
mkdir -p "$stamps"

# The fingerprint of a stage: its resolved config and the content of its inputs.
fingerprint() {  # TOOL CONFIG "INPUTS" [ARGS...]
  local tool=$1 config=$2 inputs=$3 path dump
  shift 3
  dump=$("build/infalign-$tool" --config "$config" "$@" --dump-config) || {
    echo "stages.sh: infalign-$tool --config $config $* --dump-config failed" >&2
    return 1
  }
  {
    echo "$dump"
    for path in $inputs; do
      if [[ -d "$path" ]]; then
        find "$path" -type f | LC_ALL=C sort | xargs -r sha256sum
      elif [[ -e "$path" ]]; then
        sha256sum "$path"
      else
        echo "missing $path"
      fi
    done
  } | sha256sum | cut -d' ' -f1
}

stage() {  # NAME SLUG CONFIG OUTPUT "INPUTS" TOOL [ARGS...]
  local name=$1 slug=$2 config=$3 output=$4 inputs=$5 tool=$6 key start stale=""
  shift 6
  key=$(fingerprint "$tool" "$config" "$inputs" "$@") || exit 1
  if [[ -e "$output" ]]; then
    if [[ ! -e "$stamps/$slug.sha256" ]]; then
      echo "$key" >"$stamps/$slug.sha256"
      echo "[${stage_tag:-quickstart}] $name: $output exists, skipping (its inputs are recorded from now on)"
      return
    elif [[ "$(cat "$stamps/$slug.sha256")" == "$key" ]]; then
      echo "[${stage_tag:-quickstart}] $name: $output is up to date, skipping (--fresh redoes it)"
      return
    fi
    stale="its config or inputs changed since $output was made"
  elif [[ -e "$stamps/$slug.started" && "$(cat "$stamps/$slug.started")" != "$key" ]]; then
    # An interrupted run of another config or other inputs: its checkpoints must not be resumed.
    stale="it was interrupted while running with another config or other inputs"
  fi
  if [[ -n "$stale" ]]; then
    local run_dir
    run_dir=$("build/infalign-$tool" --config "$config" "$@" --dump-config |
      awk '$1 == "run_dir:" {gsub(/"/, "", $2); print $2; exit}')
    if [[ -z "$run_dir" ]]; then
      echo "stages.sh: no run.run_dir in the resolved config of $config" >&2
      exit 1
    fi
    echo "[${stage_tag:-quickstart}] $name: $stale; moving $run_dir to $run_dir.previous and" \
      "running it again"
    rm -rf "$run_dir.previous"
    if [[ -e "$run_dir" ]]; then mv "$run_dir" "$run_dir.previous"; fi
  fi
  echo "[${stage_tag:-quickstart}] $name: infalign-$tool --config $config $*"
  echo "$key" >"$stamps/$slug.started"
  start=$(date +%s)
  "build/infalign-$tool" --config "$config" "$@"
  echo "$key" >"$stamps/$slug.sha256"
  rm -f "$stamps/$slug.started"
  echo "[${stage_tag:-quickstart}] $name took $(($(date +%s) - start)) s"
}
