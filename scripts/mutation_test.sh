#!/usr/bin/env bash
# Mutation testing of the core maths and parsers: each mutant in tests/mutation/mutants.txt
# replaces one exact piece of code by a plausible wrong one. For each, in a scratch copy of the
# working tree (build-mutation/src, built in build-mutation/build, clang++ and ccache when
# present): apply, rebuild the test binaries, run the CTest tests the mutant names, restore.
# A mutant is killed when one of its tests fails. Prints a line per mutant and the score; exits 0
# only when every mutant is killed or documented as equivalent (with the reason) in the catalogue.
# On demand, not in CI: the first run builds the scratch copy (about 10 minutes here), then each
# mutant costs a rebuild of one file plus its tests.
#   scripts/mutation_test.sh                 # every mutant
#   scripts/mutation_test.sh 'ppo\..*'       # the mutants whose id matches (regular expressions)
#   scripts/mutation_test.sh --list          # the catalogue
# Options: --dir DIR (scratch; default build-mutation, or $MUTATION_DIR), --jobs N, --timeout S
# (seconds per test). The log of builds and test runs is DIR/mutation.log.
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 scripts/lib/mutation_test.py "$@"
