#!/usr/bin/env bash
# The test command: installs what is missing, fetches the tokenizer.json test files, builds, and
# runs the whole CTest suite (labels unit, e2e, lint, and slow ones). .ci/run runs exactly this.
#   scripts/test.sh [ctest options...]     e.g. scripts/test.sh -L unit
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install_deps.sh
scripts/fetch_tokenizers.sh  # tokenizer.json files and the JavaScript reference of the parity test
scripts/build.sh
cd "${BUILD_DIR:-build}"
ctest --output-on-failure -j "$(nproc)" "$@"
