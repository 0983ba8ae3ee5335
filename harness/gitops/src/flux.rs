//! Flux's install set for the pinned version: the controllers' CRDs,
//! Deployments, Services and RBAC as Flux publishes them, read at run time
//! from the `controlplaneio-fluxcd/flux-operator` module in the Go module
//! cache (`.ci/build-flux` downloads it; nothing of it is copied into this
//! repository), placed in `flux-system` and pointed at the images the
//! target can run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use infraflux_model::pins;
use serde_json::{Value, json};

use crate::{Error, Result};

/// The namespace Flux runs in and every Flux object of the tree lives in.
pub const NAMESPACE: &str = "flux-system";

/// The controllers a rendered tree needs (Git and Helm sources,
/// Kustomizations, HelmReleases, events).
pub use infraflux_model::pins::FLUX_COMPONENTS as COMPONENTS;

/// Files of the install set besides the controllers' own.
const SHARED: [&str; 2] = ["rbac.yaml", "policies.yaml"];

/// Where the controllers' images come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Images {
    /// Flux's published images, by tag and the digest Flux's release lists.
    Upstream,
    /// Images the provider built from the pinned versions and imported into
    /// its node: `<prefix>/<component>:<versions.env tag>`.
    Local { prefix: String },
}

/// The pinned Flux release and its data module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pins {
    pub flux: String,
    pub operator_data: String,
    /// Component name → the tag `.ci/build-flux` builds.
    pub components: BTreeMap<String, String>,
}

impl Pins {
    pub fn from_versions_env() -> Pins {
        Pins {
            flux: pins::pinned("FLUX_VERSION"),
            operator_data: pins::pinned("FLUX_OPERATOR_DATA"),
            components: COMPONENTS.iter().map(|(c, k)| ((*c).to_owned(), pins::pinned(k))).collect(),
        }
    }
}

/// `config/data` of the flux-operator module at `version` in the first Go
/// module cache that holds it.
pub fn data_dir(version: &str) -> Result<PathBuf> {
    let rel = Path::new("github.com/controlplaneio-fluxcd").join(format!("flux-operator@{version}")).join("config/data");
    infraflux_stack::charts::in_module_caches(&rel)
        .map_err(|searched| Error::NotFetched { what: format!("flux-operator@{version} (Flux's install set)"), searched })
}

/// The install set, in apply order (CRDs first, then namespaced objects,
/// Deployments last), every namespaced object in [`NAMESPACE`] and every
/// controller on `images`. `data` is [`data_dir`]'s result.
pub fn install_set(data: &Path, pins: &Pins, images: &Images) -> Result<Vec<Value>> {
    let dir = data.join("flux").join(&pins.flux);
    if !dir.is_dir() {
        return Err(Error::NotFetched { what: format!("Flux {} in {}", pins.flux, data.display()), searched: dir.display().to_string() });
    }
    let digests = match images {
        Images::Upstream => upstream_digests(data, &pins.flux)?,
        Images::Local { .. } => BTreeMap::new(),
    };
    let mut objects = Vec::new();
    for file in COMPONENTS.iter().map(|(c, _)| format!("{c}.yaml")).chain(SHARED.iter().map(|s| (*s).to_owned())) {
        let path = dir.join(&file);
        let text = std::fs::read_to_string(&path).map_err(|source| Error::Io { path: path.clone(), source })?;
        let docs = infraflux_model::yaml::parse_str(&path.display().to_string(), &text)
            .map_err(|e| Error::Parse { what: path.display().to_string(), message: e.to_string() })?;
        for d in docs {
            let o = d.root.to_json();
            if o.is_object() {
                objects.push(o);
            }
        }
    }
    let mut out = Vec::with_capacity(objects.len());
    for mut o in objects {
        let kind = o.get("kind").and_then(Value::as_str).unwrap_or("").to_owned();
        if kind == "CustomResourceDefinition" {
            out.push(o);
            continue;
        }
        if namespaced(&kind) {
            o["metadata"]["namespace"] = json!(NAMESPACE);
        }
        if kind == "Deployment" {
            set_image(&mut o, pins, images, &digests)?;
        }
        out.push(o);
    }
    // A CRD before anything, a Deployment after its ServiceAccount and RBAC.
    out.sort_by_key(|o| match o.get("kind").and_then(Value::as_str) {
        Some("CustomResourceDefinition") => 0,
        Some("Deployment") => 2,
        _ => 1,
    });
    Ok(out)
}

/// The kinds of the install set that are cluster-scoped; everything else
/// goes into [`NAMESPACE`].
fn namespaced(kind: &str) -> bool {
    !matches!(kind, "ClusterRole" | "ClusterRoleBinding" | "CustomResourceDefinition" | "Namespace")
}

/// `ghcr.io/fluxcd/<component>` → `sha256:…` from the release's image list.
fn upstream_digests(data: &Path, flux: &str) -> Result<BTreeMap<String, (String, String)>> {
    let path = data.join("flux-images").join(flux).join("upstream-alpine.yaml");
    let text = std::fs::read_to_string(&path).map_err(|source| Error::Io { path: path.clone(), source })?;
    let docs = infraflux_model::yaml::parse_str(&path.display().to_string(), &text)
        .map_err(|e| Error::Parse { what: path.display().to_string(), message: e.to_string() })?;
    let mut out = BTreeMap::new();
    for d in docs {
        let v = d.root.to_json();
        for i in v.get("images").and_then(Value::as_array).into_iter().flatten() {
            let s = |k: &str| i.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
            out.insert(s("name"), (s("newTag"), s("digest")));
        }
    }
    Ok(out)
}

fn set_image(o: &mut Value, pins: &Pins, images: &Images, digests: &BTreeMap<String, (String, String)>) -> Result<()> {
    let name = o.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("").to_owned();
    let Some(containers) = o.pointer_mut("/spec/template/spec/containers").and_then(Value::as_array_mut) else {
        return Err(Error::Parse { what: format!("Deployment {name}"), message: "no containers".into() });
    };
    for c in containers {
        let image = match images {
            Images::Local { prefix } => {
                let tag = pins.components.get(&name).filter(|t| !t.is_empty()).ok_or_else(|| Error::Parse {
                    what: format!("Deployment {name}"),
                    message: "no pinned version for this controller in versions.env".into(),
                })?;
                format!("{prefix}/{name}:{tag}")
            }
            Images::Upstream => {
                let repo = format!("ghcr.io/fluxcd/{name}");
                let (tag, digest) = digests.get(&repo).ok_or_else(|| Error::Parse {
                    what: format!("Flux {} image list", pins.flux),
                    message: format!("no image {repo}"),
                })?;
                format!("{repo}:{tag}@{digest}")
            }
        };
        c["image"] = json!(image);
    }
    Ok(())
}

/// The GitRepository and root Kustomization that make Flux reconcile the
/// tree at `url` (branch `branch`), path `./clusters/<cluster>`: what
/// `flux bootstrap` would commit, applied directly because the tree is
/// served, not pushed.
pub fn root_objects(url: &str, branch: &str, cluster: &str) -> Vec<Value> {
    vec![
        json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "GitRepository",
            "metadata": {"name": "flux-system", "namespace": NAMESPACE},
            "spec": {"interval": "1m", "url": url, "ref": {"branch": branch}},
        }),
        json!({
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "kind": "Kustomization",
            "metadata": {"name": "flux-system", "namespace": NAMESPACE},
            "spec": {
                "interval": "10m",
                "path": format!("./clusters/{cluster}"),
                "prune": true,
                "sourceRef": {"kind": "GitRepository", "name": "flux-system"},
            },
        }),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> Option<PathBuf> {
        data_dir(&pins::pinned("FLUX_OPERATOR_DATA")).ok()
    }

    #[test]
    fn the_install_set_runs_in_flux_system_on_the_chosen_images() {
        let Some(d) = data() else {
            eprintln!("skipped: flux-operator module not downloaded (.ci/build-flux)");
            return;
        };
        let pins = Pins::from_versions_env();
        let set = install_set(&d, &pins, &Images::Local { prefix: "infraflux.local/fluxcd".into() }).expect("install set");
        let kind = |o: &Value| o["kind"].as_str().unwrap_or("").to_owned();
        let deployments: Vec<&Value> = set.iter().filter(|o| kind(o) == "Deployment").collect();
        assert_eq!(deployments.len(), 4, "one Deployment per controller");
        for d in &deployments {
            assert_eq!(d["metadata"]["namespace"], NAMESPACE);
            let name = d["metadata"]["name"].as_str().unwrap_or("");
            assert_eq!(
                d["spec"]["template"]["spec"]["containers"][0]["image"].as_str().unwrap_or(""),
                format!("infraflux.local/fluxcd/{name}:{}", pins.components[name])
            );
        }
        let first_non_crd = set.iter().position(|o| kind(o) != "CustomResourceDefinition").unwrap_or(0);
        assert!(set[first_non_crd..].iter().all(|o| kind(o) != "CustomResourceDefinition"), "CRDs first");
        assert!(set.iter().any(|o| o["metadata"]["name"] == "kustomizations.kustomize.toolkit.fluxcd.io"));
        assert!(set.iter().filter(|o| kind(o) == "ClusterRoleBinding").all(|o| o["metadata"].get("namespace").is_none()));

        let up = install_set(&d, &pins, &Images::Upstream).expect("upstream");
        for o in up.iter().filter(|o| kind(o) == "Deployment") {
            let image = o["spec"]["template"]["spec"]["containers"][0]["image"].as_str().unwrap_or("");
            assert!(image.starts_with("ghcr.io/fluxcd/") && image.contains("@sha256:"), "{image}");
        }
    }

    #[test]
    fn an_unknown_flux_version_names_what_is_missing() {
        let Some(d) = data() else { return };
        let pins = Pins { flux: "v0.0.0".into(), ..Pins::from_versions_env() };
        let e = install_set(&d, &pins, &Images::Upstream).expect_err("no such version");
        assert!(e.to_string().contains("v0.0.0"), "{e}");
    }
}
