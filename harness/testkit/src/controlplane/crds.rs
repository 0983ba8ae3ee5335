//! Upstream CRDs at their pinned versions, straight from the Go module cache.
//!
//! `harness/tools/crds/go.mod` pins the upstream modules (Cilium, Gateway API,
//! cert-manager, Flux, sealed-secrets). At test time each is downloaded with
//! `go mod download` into `$INFRAFLUX_CACHE/go/mod` and the CRD files are read
//! from the module tree, so no upstream CRD text lives in this repository.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams};

use super::{Error, cache_dir};

const TOOLS_GO_MOD: &str = include_str!("../../../tools/crds/go.mod");

/// Where in each pinned module its CRDs live (directory, file-name filter).
/// Gateway API: the standard channel plus TLSRoute from experimental, which
/// Cilium 1.18's operator requires at v1alpha2 (seed-audit #31).
const LAYOUT: &[(&str, &str, &str)] = &[
    ("github.com/cilium/cilium", "pkg/k8s/apis/cilium.io/client/crds/v2", ""),
    ("github.com/cilium/cilium", "pkg/k8s/apis/cilium.io/client/crds/v2alpha1", ""),
    ("sigs.k8s.io/gateway-api", "config/crd/standard", "gateway.networking.k8s.io_"),
    ("sigs.k8s.io/gateway-api", "config/crd/experimental", "gateway.networking.k8s.io_tlsroutes"),
    ("github.com/cert-manager/cert-manager", "deploy/crds", ""),
    ("github.com/fluxcd/source-controller", "config/crd/bases", ""),
    ("github.com/fluxcd/helm-controller", "config/crd/bases", ""),
    ("github.com/fluxcd/kustomize-controller", "config/crd/bases", ""),
    ("github.com/bitnami-labs/sealed-secrets", "helm/sealed-secrets/crds", ""),
];

/// `(module, version)` pairs pinned in the tools module.
pub fn pinned_modules() -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut in_require = false;
    for line in TOOLS_GO_MOD.lines() {
        let line = line.trim();
        if line.starts_with("require (") {
            in_require = true;
            continue;
        }
        if in_require && line == ")" {
            in_require = false;
            continue;
        }
        if in_require {
            let mut parts = line.split_whitespace();
            if let (Some(m), Some(v)) = (parts.next(), parts.next()) {
                out.push((m.to_owned(), v.to_owned()));
            }
        }
    }
    out
}

/// Downloads `module@version` into the cache and returns its directory.
fn module_dir(module: &str, version: &str) -> Result<PathBuf, Error> {
    let cache = cache_dir();
    let gomodcache = cache.join("go").join("mod");
    std::fs::create_dir_all(&gomodcache)
        .map_err(|e| Error::Crds(format!("create {}: {e}", gomodcache.display())))?;
    let out = Command::new("go")
        .args(["mod", "download", "-json", &format!("{module}@{version}")])
        .current_dir(&cache)
        .env("GOMODCACHE", &gomodcache)
        .env("GOFLAGS", "-mod=mod")
        .output()
        .map_err(|e| Error::Crds(format!("run `go mod download` (is Go installed?): {e}")))?;
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| {
        Error::Crds(format!(
            "`go mod download {module}@{version}` gave no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        ))
    })?;
    if let Some(err) = json.get("Error").and_then(|e| e.as_str()) {
        return Err(Error::Crds(format!("{module}@{version}: {err}")));
    }
    json.get("Dir")
        .and_then(|d| d.as_str())
        .map(PathBuf::from)
        .ok_or_else(|| Error::Crds(format!("{module}@{version}: no Dir in go output")))
}

/// Every upstream CRD file, in a stable order, downloading modules as needed.
pub fn upstream_crd_files() -> Result<Vec<PathBuf>, Error> {
    let pins = pinned_modules();
    let mut files = Vec::new();
    for (module, sub, prefix) in LAYOUT {
        let version = pins
            .iter()
            .find(|(m, _)| m == module)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| Error::Crds(format!("{module} is not pinned in tools/crds/go.mod")))?;
        let dir = module_dir(module, &version)?.join(sub);
        let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map_err(|e| Error::Crds(format!("read {}: {e}", dir.display())))?
            .flatten()
            .map(|e| e.path())
            .filter(|p| is_crd_file(p, prefix))
            .collect();
        found.sort();
        if found.is_empty() {
            return Err(Error::Crds(format!("no CRDs under {}", dir.display())));
        }
        files.extend(found);
    }
    Ok(files)
}

fn is_crd_file(p: &Path, prefix: &str) -> bool {
    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    name.ends_with(".yaml") && name.starts_with(prefix) && name != "kustomization.yaml"
}

/// Parses CRD documents from the given files (skipping empty documents).
pub fn load_crds(files: &[PathBuf]) -> Result<Vec<serde_json::Value>, Error> {
    let mut out = Vec::new();
    for f in files {
        let docs = infraflux_model::yaml::parse_file(f).map_err(|e| Error::Crds(e.to_string()))?;
        for d in docs {
            let json = d.root.to_json();
            if json.get("kind").and_then(|k| k.as_str()) == Some("CustomResourceDefinition") {
                out.push(json);
            }
        }
    }
    Ok(out)
}

/// Server-side applies every upstream CRD and waits until all are Established.
/// Returns the CRD names.
pub async fn install_upstream(client: &kube::Client, timeout: Duration) -> Result<Vec<String>, Error> {
    let files = tokio::task::spawn_blocking(upstream_crd_files)
        .await
        .map_err(|e| Error::Crds(e.to_string()))??;
    let crds = load_crds(&files)?;
    apply_crds(client, &crds, timeout).await
}

/// Applies CRD objects (server-side, field manager `infraflux`) and waits
/// until each reports `Established=True`.
pub async fn apply_crds(
    client: &kube::Client,
    crds: &[serde_json::Value],
    timeout: Duration,
) -> Result<Vec<String>, Error> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let pp = PatchParams::apply("infraflux").force();
    let mut names = Vec::new();
    for crd in crds {
        let name = crd
            .pointer("/metadata/name")
            .and_then(|n| n.as_str())
            .ok_or_else(|| Error::Crds("CRD without metadata.name".into()))?
            .to_owned();
        api.patch(&name, &pp, &Patch::Apply(crd)).await.map_err(Error::Api)?;
        names.push(name);
    }
    infraflux_kube::Cluster::from_client(client.clone(), None)
        .wait_crds_established(&names, timeout)
        .await
        .map_err(|e| Error::Crds(infraflux_engine::error_chain(&e)))?;
    Ok(names)
}
