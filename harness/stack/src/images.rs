//! The image registry mirror (`install.imageRegistry`) as chart values.
//!
//! Which keys name an image differs per chart and per chart version, so
//! they are read from the chart's own `values.yaml` instead of listed here:
//! - a map with `registry` and `repository` (sealed-secrets): `registry`
//!   becomes the mirror;
//! - a map whose `repository` starts with a registry host (Cilium's agent,
//!   operator, Envoy, Hubble; external-dns): that host is replaced by the
//!   mirror, the repository path kept;
//! - a top-level `imageRegistry` (cert-manager builds every image from
//!   `imageRegistry/imageNamespace/name`): it becomes the mirror.
//!
//! Tags and digests are left alone: a mirror serves the same content.

use serde_json::{Map, Value};

/// An image key the mirror overrides: its values path and the reference
/// before and after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    /// Dotted values path, e.g. `operator.image.repository`.
    pub key: String,
    pub from: String,
    pub to: String,
}

/// True when the first segment of an image reference is a registry host
/// (the rule container runtimes apply: a dot, a port or `localhost`).
fn starts_with_host(reference: &str) -> Option<(&str, &str)> {
    let (first, rest) = reference.split_once('/')?;
    (first.contains('.') || first.contains(':') || first == "localhost").then_some((first, rest))
}

/// The values that pull every image of a chart from `mirror`, given the
/// chart's effective values (its `values.yaml` with the profile's on top),
/// and what each override changes. Keys that name no image (an empty
/// `repository`, a value left to the chart's templates) are not touched.
pub fn mirror_values(values: &Value, mirror: &str) -> (Value, Vec<Override>) {
    let mut found = Vec::new();
    let overlay = walk(values, mirror, "", true, &mut found).unwrap_or(Value::Object(Map::new()));
    (overlay, found)
}

fn walk(v: &Value, mirror: &str, at: &str, root: bool, found: &mut Vec<Override>) -> Option<Value> {
    let map = v.as_object()?;
    let mut out = Map::new();
    let path = |k: &str| if at.is_empty() { k.to_owned() } else { format!("{at}.{k}") };
    let text = |k: &str| map.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
    if root && let Some(reg) = text("imageRegistry") {
        found.push(Override { key: path("imageRegistry"), from: reg.to_owned(), to: mirror.to_owned() });
        out.insert("imageRegistry".into(), Value::String(mirror.to_owned()));
    }
    if let Some(repo) = text("repository") {
        if let Some(reg) = text("registry") {
            found.push(Override { key: path("registry"), from: format!("{reg}/{repo}"), to: format!("{mirror}/{repo}") });
            out.insert("registry".into(), Value::String(mirror.to_owned()));
        } else if let Some((_, rest)) = starts_with_host(repo) {
            let to = format!("{mirror}/{rest}");
            found.push(Override { key: path("repository"), from: repo.to_owned(), to: to.clone() });
            out.insert("repository".into(), Value::String(to));
        }
    }
    for (k, child) in map {
        if let Some(sub) = walk(child, mirror, &path(k), false, found) {
            out.insert(k.clone(), sub);
        }
    }
    (!out.is_empty()).then_some(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_convention_is_mirrored_and_nothing_else() {
        let values = json!({
            "imageRegistry": "quay.io",
            "image": {"registry": "docker.io", "repository": "bitnami/sealed-secrets-controller", "tag": "0.39.1"},
            "operator": {"image": {"repository": "quay.io/cilium/operator", "digest": "sha256:ab"}},
            "webhook": {"image": {"repository": ""}},
            "plain": {"image": {"repository": "busybox"}},
            "list": [{"repository": "quay.io/x/y"}],
        });
        let (overlay, found) = mirror_values(&values, "mirror.lab:5000/cache");
        assert_eq!(
            overlay,
            json!({
                "imageRegistry": "mirror.lab:5000/cache",
                "image": {"registry": "mirror.lab:5000/cache"},
                "operator": {"image": {"repository": "mirror.lab:5000/cache/cilium/operator"}},
            })
        );
        let keys: Vec<&str> = found.iter().map(|o| o.key.as_str()).collect();
        assert_eq!(keys, ["imageRegistry", "image.registry", "operator.image.repository"]);
        assert_eq!(found[1].to, "mirror.lab:5000/cache/bitnami/sealed-secrets-controller");
    }

    /// The pinned charts' own values name their images in one of the
    /// conventions above: the mirror reaches each chart's main image.
    #[test]
    fn every_pinned_chart_has_its_images_mirrored() {
        use crate::charts::{self, Chart};
        let pins = include_str!("../../tools/charts/go.mod");
        for (chart, key) in [
            (Chart::Cilium, "image.repository"),
            (Chart::Cilium, "operator.image.repository"),
            (Chart::Cilium, "hubble.relay.image.repository"),
            (Chart::Cilium, "envoy.image.repository"),
            (Chart::CertManager, "imageRegistry"),
            (Chart::ExternalDns, "image.repository"),
            (Chart::SealedSecrets, "image.registry"),
        ] {
            let version = pins
                .lines()
                .map(str::trim)
                .find_map(|l| l.strip_prefix(&format!("{} ", chart.go_module())))
                .unwrap_or_else(|| panic!("{chart} not pinned"));
            let dir = charts::locate(chart, version.trim(), None).unwrap_or_else(|e| panic!("{e}"));
            let docs = infraflux_model::yaml::parse_file(&dir.values_yaml()).unwrap_or_else(|e| panic!("{e}"));
            let values = docs.first().map(|d| d.root.to_json()).unwrap_or_default();
            let (_, found) = mirror_values(&values, "mirror.lab");
            let hit = found.iter().find(|o| o.key == key).unwrap_or_else(|| panic!("{chart}: {key} not mirrored; found {found:?}"));
            assert!(hit.to.starts_with("mirror.lab"), "{hit:?}");
        }
    }
}
