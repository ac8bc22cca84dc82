#!/usr/bin/env bash
# Builds data/default/ for the embedded default experiment from Debian and npm packages:
#   Debian fortunes + fortunes-min (the corpus), npm vader-sentiment (the gold judge's lexicon),
#   npm cuss (profanity filter), npm sentiment (3,000 UCI human-labelled sentences, an external
#   check of the reward model). Archives are pinned by version and sha256 and cached in .cache/.
# Idempotent: when data/default/manifest.json exists and its inputs are unchanged it only prints
# what is there. Options: --out DIR (default data/default), --max-records N (tiny runs; default
# $INFALIGN_DATA_MAX_RECORDS, else all), --force.
set -euo pipefail
cd "$(dirname "$0")/.."

out=data/default
max_records=${INFALIGN_DATA_MAX_RECORDS:-0}
force=0
while (($#)); do
  case "$1" in
    --out) out=$2; shift 2 ;;
    --max-records) max_records=$2; shift 2 ;;
    --force) force=1; shift ;;
    *) echo "prepare_data.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

scripts/install_deps.sh --data
# INFALIGN_NO_BUILD=1: build/infalign-data is already built (scripts/quickstart.sh builds the rest
# meanwhile, and two ninja runs must not share a build directory).
if [[ -z "${INFALIGN_NO_BUILD:-}" ]]; then
  BUILD_TARGETS=infalign-data scripts/build.sh >/dev/null
elif [[ ! -x build/infalign-data ]]; then
  echo "prepare_data.sh: INFALIGN_NO_BUILD is set but build/infalign-data is not built" >&2
  exit 2
fi

cache=.cache/npm
mkdir -p "$cache"
# name version sha256 of the `npm pack` archive
packs=(
  "vader-sentiment 1.1.3 de3c50aee6ffe2bc7929f50a69b0a3905d7b63f6fb103c2397517aff799851d2"
  "cuss 2.2.0 66b19c6086d3fb3eac3769daf97dd695290ecc24b0fddbc30688418c629b776f"
  "sentiment 5.0.2 89302eb03d2005d03b214fe65814bb48adb7d3c42c8ca80bdee6a3ecb7e4480f"
)
source scripts/lib/npm_pack.sh
for entry in "${packs[@]}"; do
  read -r name version sha <<<"$entry"
  npm_pack "$name" "$version" "$sha" "$cache"
done

# cuss: `word: sureness,` entries of an ES module; keep sureness >= 1 as a plain word list.
sed -nE "s/^  '?([^':]+)'?: ([12]),?$/\1/p" "$cache/cuss/package/index.js" >"$cache/profanity.txt"
if [[ $(wc -l <"$cache/profanity.txt") -lt 1000 ]]; then
  echo "prepare_data.sh: could not read the cuss word list from $cache/cuss/package/index.js" >&2
  exit 3
fi

fortunes=/usr/share/games/fortunes
fixtures="$cache/sentiment/package/test/fixtures"
inputs_hash=$( (ls -l "$fortunes"; sha256sum "$cache"/*.tgz; echo "$max_records"; sha256sum build/infalign-data) | sha256sum | cut -d' ' -f1)
if [[ $force -eq 0 && -f "$out/manifest.json" && -f "$out/.inputs" && "$(cat "$out/.inputs")" == "$inputs_hash" ]]; then
  echo "[data] $out is up to date:"
  wc -l "$out"/*.txt "$out"/uci_sentences.tsv
  exit 0
fi
build/infalign-data prepare --fortunes "$fortunes" --out "$out" \
  --profanity "$cache/profanity.txt" --lexicon "$cache/vader-sentiment/package/vader_lexicon.txt" \
  --uci "$fixtures/amazon.json" "$fixtures/imdb.json" "$fixtures/yelp.json" \
  --max-records "$max_records"
echo "$inputs_hash" >"$out/.inputs"
