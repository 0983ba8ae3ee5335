# Sourced by the .ci scripts: where heavy build outputs live between runs.
# Outside the work tree so a fresh clone (CI) reuses what an earlier run built.
: "${INFRAFLUX_CACHE:=${XDG_CACHE_HOME:-$HOME/.cache}/infraflux}"
export INFRAFLUX_CACHE
export GOMODCACHE="${GOMODCACHE_OVERRIDE:-$INFRAFLUX_CACHE/go/mod}"
export GOCACHE="${GOCACHE_OVERRIDE:-$INFRAFLUX_CACHE/go/build}"
export GOFLAGS="-mod=mod"
export GOTOOLCHAIN="${GOTOOLCHAIN:-auto}"
mkdir -p "$INFRAFLUX_CACHE" "$GOMODCACHE" "$GOCACHE"
