#!/usr/bin/env bash
# The main job on the embedded default experiment (configs/default/ctrl_bon4.yaml).
#
# What exists today: set-up (packages, OpenBLAS), the build, and infalign-train's start-up on the
# default experiment: config loading and validation, run directory, logging, runtime and BLAS
# report, matmul throughput, and which inputs of the pipeline are still missing. The pipeline
# stages (data, tokenizer, base policy, reward model, calibration, PPO, evaluation) are added to
# this script as they land; nothing here fakes their output.
#   scripts/quickstart.sh [--fresh]      --fresh: remove runs/default first
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ "${1:-}" == "--fresh" ]]; then rm -rf runs/default; fi

scripts/install_deps.sh
scripts/build.sh

config=configs/default/ctrl_bon4.yaml
echo "[quickstart] infalign-train --config $config --check"
build/infalign-train --config "$config" --check
echo "[quickstart] resolved config: runs/default/ctrl_bon4/config.resolved.yaml; log: runs/default/ctrl_bon4/train.log"
