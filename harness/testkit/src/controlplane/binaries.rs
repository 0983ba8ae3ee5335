//! Where the version-pinned control-plane binaries live.
//!
//! `.ci/build-control-plane` builds them into
//! `$INFRAFLUX_CACHE/bin/<component>-<version>/`; the versions come from
//! `.ci/versions.env`, embedded here so the two can never disagree.

use std::path::{Path, PathBuf};

use super::Error;

/// Pinned versions of the control-plane components.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versions {
    pub kubernetes: String,
    pub etcd: String,
    pub kwok: String,
}

impl Versions {
    pub fn pinned() -> Versions {
        use infraflux_model::pins::pinned;
        Versions { kubernetes: pinned("K8S_VERSION"), etcd: pinned("ETCD_VERSION"), kwok: pinned("KWOK_VERSION") }
    }
}

/// Resolved binary paths.
#[derive(Debug, Clone)]
pub struct Binaries {
    pub versions: Versions,
    pub etcd: PathBuf,
    pub kube_apiserver: PathBuf,
    pub kube_controller_manager: PathBuf,
    pub kube_scheduler: PathBuf,
    pub kwok: PathBuf,
}

/// The scripts' cache directory (the same one the local provider uses).
pub fn cache_dir() -> PathBuf {
    infraflux_provision::local::cache_dir()
}

impl Binaries {
    /// Finds every binary or says which are missing and how to build them.
    pub fn locate() -> Result<Binaries, Error> {
        Self::locate_in(&cache_dir().join("bin"))
    }

    pub fn locate_in(bin: &Path) -> Result<Binaries, Error> {
        let v = Versions::pinned();
        let k8s = bin.join(format!("k8s-{}", v.kubernetes));
        let b = Binaries {
            etcd: bin.join(format!("etcd-{}", v.etcd)).join("etcd"),
            kube_apiserver: k8s.join("kube-apiserver"),
            kube_controller_manager: k8s.join("kube-controller-manager"),
            kube_scheduler: k8s.join("kube-scheduler"),
            kwok: bin.join(format!("kwok-{}", v.kwok)).join("kwok"),
            versions: v,
        };
        let missing: Vec<String> = [
            &b.etcd,
            &b.kube_apiserver,
            &b.kube_controller_manager,
            &b.kube_scheduler,
            &b.kwok,
        ]
        .iter()
        .filter(|p| !p.is_file())
        .map(|p| p.display().to_string())
        .collect();
        if missing.is_empty() {
            Ok(b)
        } else {
            Err(Error::MissingBinaries(missing))
        }
    }
}
