//! What the repository's `.ci` scripts build and where they put it: the
//! pinned versions in `.ci/versions.env` (embedded, so code and scripts can
//! never disagree) and the cache directory the scripts fill. One place for
//! every crate that looks for a built binary, a chart or a module.

use std::path::PathBuf;

const VERSIONS_ENV: &str = include_str!("../../../.ci/versions.env");

/// The value of `key` in `.ci/versions.env` (quotes stripped), or "".
pub fn pinned(key: &str) -> String {
    VERSIONS_ENV
        .lines()
        .filter_map(|l| l.split_once('='))
        .find(|(k, _)| k.trim() == key)
        .map(|(_, v)| v.trim().trim_matches('"').to_owned())
        .unwrap_or_default()
}

/// The Flux controllers `.ci/build-flux` builds and `up --gitops` runs,
/// with the `versions.env` keys of their versions. The image automation
/// controllers and source-watcher are left out: the rendered tree uses
/// none of their kinds.
pub const FLUX_COMPONENTS: [(&str, &str); 4] = [
    ("source-controller", "FLUX_SOURCE_CONTROLLER"),
    ("kustomize-controller", "FLUX_KUSTOMIZE_CONTROLLER"),
    ("helm-controller", "FLUX_HELM_CONTROLLER"),
    ("notification-controller", "FLUX_NOTIFICATION_CONTROLLER"),
];

/// The scripts' cache (`.ci/cache.sh`): `$INFRAFLUX_CACHE`, else
/// `$XDG_CACHE_HOME/infraflux`, else `$HOME/.cache/infraflux`; `None` when
/// none of them is set.
pub fn cache_dir() -> Option<PathBuf> {
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    env("INFRAFLUX_CACHE")
        .or_else(|| env("XDG_CACHE_HOME").map(|c| c.join("infraflux")))
        .or_else(|| env("HOME").map(|h| h.join(".cache").join("infraflux")))
}

#[cfg(test)]
mod tests {
    #[test]
    fn pinned_reads_versions_env_and_strips_quotes() {
        assert!(super::pinned("K8S_VERSION").starts_with("v1."));
        assert!(super::pinned("CILIUM_GO_REPLACES").contains("gobgp"), "quoted value");
        assert_eq!(super::pinned("NO_SUCH_KEY"), "");
    }
}
