#!/usr/bin/env bash
# Formats the C++ sources with clang-format (Debian's clang-format 14, .clang-format).
#   scripts/format.sh          rewrite files in place
#   scripts/format.sh --check  change nothing; list unformatted files and exit 1 if any
set -uo pipefail
cd "$(dirname "$0")/.."

clang_format=${CLANG_FORMAT:-$(command -v clang-format-14 || command -v clang-format || true)}
if [[ -z "$clang_format" ]]; then
  echo "format.sh: clang-format not found (apt-get install clang-format)" >&2
  exit 1
fi
mapfile -t files < <(git ls-files -co --exclude-standard -- include src tests bench | grep -E '\.(h|cpp)$')
if [[ "${1:-}" == "--check" ]]; then
  bad=0
  for f in "${files[@]}"; do
    if ! "$clang_format" --dry-run --Werror "$f" >/dev/null 2>&1; then
      echo "format: $f needs scripts/format.sh"
      bad=1
    fi
  done
  [[ $bad -eq 0 ]] && echo "format: ok (${#files[@]} files)"
  exit $bad
fi
"$clang_format" -i "${files[@]}"
