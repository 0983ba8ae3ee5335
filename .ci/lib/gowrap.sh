# Shared by the .ci build scripts: Go wrapper-module builds.
# Sourced after versions.env and cache.sh; expects a log() function.
#
# Modules with `replace` lines (k8s.io/kubernetes, etcd's server, cilium)
# refuse `go install pkg@ver`; we build through a generated wrapper module.
# Local-path replaces are pointed at published versions; replaces to other
# modules (cilium's controller-tools fork) are copied as upstream wrote them.

need_go() {
  command -v go >/dev/null 2>&1 && return 0
  log "go not found; installing golang-go from Debian (GOTOOLCHAIN=auto fetches the exact toolchain)"
  apt-get update -qq && apt-get install -y -qq golang-go >/dev/null
}

# Print the GoMod path of module@version, downloading it into GOMODCACHE.
mod_file() {
  (cd "$INFRAFLUX_CACHE" && go mod download -json "$1@$2") |
    sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p'
}

# Write replace directives for every local-path replace in upstream's go.mod,
# pointing at a published version: the required one, or (k8s staging, which
# requires v0.0.0) v0.<minor>.<patch> derived from the Kubernetes tag.
rewrite_replaces() {
  local gomod="$1" staging_ver="$2"
  awk -v sv="$staging_ver" '
    /^require[[:space:]]*\(/ {inreq=1; next}
    inreq && /^\)/ {inreq=0; next}
    inreq && NF>=2 {req[$1]=$2}
    /^require[[:space:]]+[^(]/ {req[$2]=$3}
    /^replace[[:space:]]*\(/ {inrep=1; next}
    inrep && /^\)/ {inrep=0; next}
    inrep && $2=="=>" && ($3 ~ /^\.\.?\//) {print "local", $1; next}
    inrep && $2=="=>" && NF>=4 {print "module", $1, $3 "@" $4; next}
    /^replace[[:space:]]+[^(]/ && $3=="=>" && ($4 ~ /^\.\.?\//) {print "local", $2; next}
    /^replace[[:space:]]+[^(]/ && $3=="=>" && NF>=5 {print "module", $2, $4 "@" $5; next}
  ' "$gomod" | while read -r kind m target; do
    if [[ "$kind" == module ]]; then
      printf '%s\n' "-replace=$m=$target"
      continue
    fi
    v="$(awk -v m="$m" '$1==m && $2 ~ /^v/ {print $2; exit}' "$gomod")"
    if [[ -z "$v" || "$v" == "v0.0.0" ]]; then v="$staging_ver"; fi
    case "$m" in
      */FORBIDDEN_DEPENDENCY|go.etcd.io/etcd|go.etcd.io/tests/v3) continue ;;
    esac
    printf '%s\n' "-replace=$m=$m@$v"
  done
}

build_wrapper() { # name module version staging_ver ldflags pkgs...
  local name="$1" module="$2" version="$3" staging="$4" ldflags="$5"; shift 5
  local out="$INFRAFLUX_CACHE/bin/$name-$version"
  if [[ -f "$out/.done" ]]; then log "$name $version: cached in $out"; return 0; fi
  local work="$INFRAFLUX_CACHE/wrappers/$name-$version"
  rm -rf "$work" && mkdir -p "$work" "$out"
  local gomod; gomod="$(mod_file "$module" "$version")"
  [[ -f "$gomod" ]] || { log "could not fetch go.mod of $module@$version"; exit 3; }
  (
    cd "$work"
    go mod init "infraflux.local/wrapper/$name" >/dev/null 2>&1
    local gover; gover="$(awk '$1=="go"{print $2; exit}' "$gomod")"
    go mod edit -go="$gover"
    # shellcheck disable=SC2046
    go mod edit -require="$module@$version" $(rewrite_replaces "$gomod" "$staging")
    # Pins upstream names that the module proxy does not serve, each with a
    # reason in versions.env.
    local r
    for r in ${EXTRA_REPLACES:-}; do go mod edit -replace="$r"; done
    if grep -q '^godebug' "$gomod"; then grep '^godebug' "$gomod" >>go.mod; fi
    local start=$SECONDS
    for pkg in "$@"; do
      log "building $pkg"
      CGO_ENABLED=0 go build -trimpath -tags "${GO_TAGS:-}" -ldflags "$ldflags" -o "$out/" "$pkg"
    done
    log "$name $version built in $((SECONDS - start))s"
  )
  touch "$out/.done"
}

