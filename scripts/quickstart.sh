#!/usr/bin/env bash
# The main job on the embedded default experiment.
#
# Set-up (packages, OpenBLAS), the build, the data (scripts/prepare_data.sh), the tokenizer, the
# base policy (stage lm), the reward model (stage reward), the calibration cache (stage
# calibrate), then the main job: InfAlign-CTRL for best-of-4 (stage ppo,
# configs/default/ctrl_bon4.yaml), and its evaluation against the base (infalign-eval: win rates
# under the reward model and the gold judge, KL, plot).
# A stage whose output exists is skipped; --fresh redoes everything.
#   scripts/quickstart.sh [--fresh]
set -euo pipefail
cd "$(dirname "$0")/.."

fresh=0
[[ "${1:-}" == "--fresh" ]] && fresh=1
if ((fresh)); then rm -rf runs/default data/default; fi

scripts/install_deps.sh
scripts/build.sh
scripts/prepare_data.sh

stage() {  # stage NAME CONFIG OUTPUT [TOOL [ARGS...]]
  local name=$1 config=$2 output=$3 tool=${4:-train} start
  shift 4 2>/dev/null || shift 3
  if [[ -e "$output" ]]; then
    echo "[quickstart] $name: $output exists, skipping (--fresh redoes it)"
    return
  fi
  echo "[quickstart] $name: infalign-$tool --config $config $*"
  start=$(date +%s)
  "build/infalign-$tool" --config "$config" "$@"
  echo "[quickstart] $name took $(($(date +%s) - start)) s"
}
stage tokenizer configs/default/tokenizer.yaml data/default/tokenizer.model
stage "base policy" configs/default/base_lm.yaml runs/default/base_model/model.safetensors
stage "reward model" configs/default/reward_model.yaml runs/default/reward_model/model.safetensors
stage calibration configs/default/calibration.yaml runs/default/calibration/calibration.cache

# The main job: InfAlign-CTRL for best-of-4 (PPO on the calibrated, transformed reward).
stage "CTRL best-of-4 (PPO)" configs/default/ctrl_bon4.yaml runs/default/ctrl_bon4/final/model.safetensors
stage "evaluation of CTRL best-of-4" configs/default/eval_runs.yaml \
  runs/default/ctrl_bon4/eval/results.json eval \
  --set "eval.policies=[runs/default/ctrl_bon4]" --set eval.output_dir=runs/default/ctrl_bon4/eval
echo "[quickstart] reports: runs/default/base_lm/lm_report.json, runs/default/reward_lm/reward_report.json," \
  "runs/default/calibration/calibration_report.json, runs/default/ctrl_bon4/metrics.jsonl;" \
  "policy: runs/default/ctrl_bon4/final; win rates: runs/default/ctrl_bon4/eval/{results.json,win_rates.png}"
