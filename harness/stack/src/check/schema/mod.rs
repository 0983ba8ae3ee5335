//! Strict shape validation of objects.
//!
//! Core kinds decode into k8s-openapi types. Those types skip unknown
//! fields, so the object is re-serialized from the typed value and every
//! key present in the input but absent from the round trip is an unknown
//! field (null values are ignored: they mean "unset"). The stack's CRDs use
//! this crate's own models with `deny_unknown_fields`, so removed fields
//! (LB pool `cidrs`, BGPv1 fields on v2 kinds) are reported where written.
//! Wrong types are caught by `yaml::from_node`, which is as strict as the
//! API server about `"53"` versus `53`.

mod cilium;
mod other;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::diag::Finding;
use crate::yaml::{DeError, Node, Value, from_node};

use super::model::Obj;
use super::rules::{INPUT_003, SCHEMA_001, SCHEMA_002};

fn de_finding(obj: &Obj<'_>, e: &DeError) -> Finding {
    let rule = if e.message.starts_with("unknown field") { SCHEMA_001 } else { SCHEMA_002 };
    let f = rule.at(obj.file, e.pos.unwrap_or(obj.node.pos), format!("{}: {}", obj.describe(), e.message));
    if e.path.is_empty() { f } else { f.with_path(e.path.clone()) }
}

/// A whole scalar that Flux post-build substitution replaces
/// (`${PORT}`, `${PORT:=8080}`, `${PORT:-8080}`), with its default.
fn substitution(node: &Node) -> Option<Option<&str>> {
    let t = node.as_str()?.strip_prefix("${")?.strip_suffix('}')?;
    let (name, default) = match t.find([':', '=', '-']) {
        Some(i) => {
            let rest = &t[i..];
            let d = rest.strip_prefix(":=").or_else(|| rest.strip_prefix(":-")).or_else(|| rest.strip_prefix('='))
                .or_else(|| rest.strip_prefix('-'))?;
            (&t[..i], Some(d))
        }
        None => (t, None),
    };
    (!name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')).then_some(default)
}

fn node_at(node: &mut Node, pos: crate::yaml::Pos) -> Option<&mut Node> {
    if node.pos == pos && !matches!(node.value, Value::Map(_) | Value::Seq(_)) {
        return Some(node);
    }
    match &mut node.value {
        Value::Seq(items) => items.iter_mut().find_map(|n| node_at(n, pos)),
        Value::Map(entries) => entries.iter_mut().find_map(|(_, v)| node_at(v, pos)),
        _ => None,
    }
}

/// Decodes `obj`, letting `${VAR}` stand for a value of whatever type the
/// field needs, as Flux substitutes before the API server sees it. A
/// substitution the decoder rejects is replaced by its default, else by a
/// number or a boolean, and decoding is retried.
fn decode<T: DeserializeOwned>(obj: &Obj<'_>) -> Result<(T, Option<Node>), DeError> {
    let first = match from_node::<T>(obj.node) {
        Ok(t) => return Ok((t, None)),
        Err(e) => e,
    };
    let mut patched = obj.node.clone();
    let mut err = first;
    // Bounded: each round fixes one substitution.
    for _ in 0..64 {
        let Some(pos) = err.pos else { return Err(err) };
        let Some(target) = node_at(&mut patched, pos) else { return Err(err) };
        let Some(default) = substitution(target) else { return Err(err) };
        let at_pos = err.clone();
        let mut candidates = Vec::new();
        if let Some(d) = default
            && let Some(doc) = crate::yaml::parse_str("", d).ok().and_then(|d| d.into_iter().next())
        {
            candidates.push(doc.root.value);
        }
        candidates.extend([Value::Int(0), Value::Bool(false), Value::Str("x".into())]);
        let mut moved_on = false;
        for c in candidates {
            if let Some(t) = node_at(&mut patched, pos) {
                t.value = c;
            }
            match from_node::<T>(&patched) {
                Ok(t) => return Ok((t, Some(patched))),
                Err(e) if e.pos == Some(pos) => err = e,
                Err(e) => {
                    err = e;
                    moved_on = true;
                    break;
                }
            }
        }
        if !moved_on {
            return Err(at_pos);
        }
    }
    Err(err)
}

fn crd<T: DeserializeOwned>(obj: &Obj<'_>, out: &mut Vec<Finding>) {
    if let Err(e) = decode::<T>(obj) {
        out.push(de_finding(obj, &e));
    }
}

fn core<T: DeserializeOwned + Serialize>(obj: &Obj<'_>, out: &mut Vec<Finding>) {
    match decode::<T>(obj) {
        Err(e) => out.push(de_finding(obj, &e)),
        Ok((typed, patched)) => {
            if let Ok(back) = serde_json::to_value(&typed) {
                compare(obj, patched.as_ref().unwrap_or(obj.node), &back, String::new(), out);
            }
        }
    }
}

fn compare(obj: &Obj<'_>, node: &Node, back: &serde_json::Value, path: String, out: &mut Vec<Finding>) {
    match (&node.value, back) {
        (Value::Map(entries), serde_json::Value::Object(m)) => {
            for (k, v) in entries {
                if v.is_null() {
                    continue;
                }
                let key = k.scalar_text().unwrap_or_default();
                let p = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
                match m.get(&key) {
                    Some(b) => compare(obj, v, b, p, out),
                    None => out.push(
                        SCHEMA_001
                            .at(obj.file, k.pos, format!("{}: unknown field `{key}`", obj.describe()))
                            .with_path(p),
                    ),
                }
            }
        }
        (Value::Seq(items), serde_json::Value::Array(arr)) => {
            for (i, (n, b)) in items.iter().zip(arr).enumerate() {
                compare(obj, n, b, format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

pub(crate) fn check_object(obj: &Obj<'_>, out: &mut Vec<Finding>) {
    if obj.sops {
        out.push(INPUT_003.at(obj.file, obj.key_pos("sops"), format!("{} is SOPS-encrypted; schema not checked", obj.describe())));
        return;
    }
    use k8s_openapi::api::{apps::v1 as apps, core::v1 as corev1, networking::v1 as net, rbac::v1 as rbac};
    match (obj.group.as_str(), obj.version.as_str(), obj.kind.as_str()) {
        ("", "v1", "Namespace") => core::<corev1::Namespace>(obj, out),
        ("", "v1", "ConfigMap") => core::<corev1::ConfigMap>(obj, out),
        ("", "v1", "Secret") => core::<corev1::Secret>(obj, out),
        ("", "v1", "Service") => core::<corev1::Service>(obj, out),
        ("", "v1", "ServiceAccount") => core::<corev1::ServiceAccount>(obj, out),
        ("", "v1", "Pod") => core::<corev1::Pod>(obj, out),
        ("apps", "v1", "Deployment") => core::<apps::Deployment>(obj, out),
        ("apps", "v1", "DaemonSet") => core::<apps::DaemonSet>(obj, out),
        ("apps", "v1", "StatefulSet") => core::<apps::StatefulSet>(obj, out),
        ("networking.k8s.io", "v1", "NetworkPolicy") => core::<net::NetworkPolicy>(obj, out),
        ("networking.k8s.io", "v1", "Ingress") => core::<net::Ingress>(obj, out),
        ("rbac.authorization.k8s.io", "v1", "Role") => core::<rbac::Role>(obj, out),
        ("rbac.authorization.k8s.io", "v1", "RoleBinding") => core::<rbac::RoleBinding>(obj, out),
        ("rbac.authorization.k8s.io", "v1", "ClusterRole") => core::<rbac::ClusterRole>(obj, out),
        ("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding") => core::<rbac::ClusterRoleBinding>(obj, out),
        ("cilium.io", "v2" | "v2alpha1", "CiliumLoadBalancerIPPool") => crd::<cilium::LbPool>(obj, out),
        ("cilium.io", "v2" | "v2alpha1", "CiliumBGPClusterConfig") => crd::<cilium::BgpClusterConfig>(obj, out),
        ("cilium.io", "v2" | "v2alpha1", "CiliumBGPPeerConfig") => crd::<cilium::BgpPeerConfig>(obj, out),
        ("cilium.io", "v2" | "v2alpha1", "CiliumBGPAdvertisement") => crd::<cilium::BgpAdvertisement>(obj, out),
        ("cilium.io", "v2", "CiliumNetworkPolicy" | "CiliumClusterwideNetworkPolicy") => crd::<cilium::Cnp>(obj, out),
        ("gateway.networking.k8s.io", _, "GatewayClass") => crd::<other::GatewayClass>(obj, out),
        ("gateway.networking.k8s.io", _, "Gateway") => crd::<other::Gateway>(obj, out),
        ("gateway.networking.k8s.io", _, "HTTPRoute") => crd::<other::HttpRoute>(obj, out),
        ("cert-manager.io", "v1", "Certificate") => crd::<other::Certificate>(obj, out),
        ("cert-manager.io", "v1", "ClusterIssuer" | "Issuer") => crd::<other::Issuer>(obj, out),
        ("helm.toolkit.fluxcd.io", _, "HelmRelease") => crd::<other::HelmRelease>(obj, out),
        ("source.toolkit.fluxcd.io", _, "HelmRepository") => crd::<other::HelmRepository>(obj, out),
        ("kustomize.toolkit.fluxcd.io", _, "Kustomization") => crd::<other::Kustomization>(obj, out),
        ("bitnami.com", "v1alpha1", "SealedSecret") => crd::<other::SealedSecret>(obj, out),
        _ => {}
    }
}

/// Shared strict pieces.
pub(crate) mod common {
    use std::collections::BTreeMap;

    use serde::Deserialize;
    use serde::de::IgnoredAny;

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    #[allow(dead_code)]
    pub struct Meta {
        pub name: Option<String>,
        pub generate_name: Option<String>,
        pub namespace: Option<String>,
        pub labels: Option<BTreeMap<String, String>>,
        pub annotations: Option<BTreeMap<String, String>>,
        pub finalizers: Option<Vec<String>>,
        pub owner_references: Option<IgnoredAny>,
        pub uid: Option<String>,
        pub resource_version: Option<String>,
        pub generation: Option<i64>,
        pub creation_timestamp: Option<IgnoredAny>,
        pub deletion_timestamp: Option<IgnoredAny>,
        pub deletion_grace_period_seconds: Option<i64>,
        pub managed_fields: Option<IgnoredAny>,
        pub self_link: Option<String>,
    }

    /// An object with a typed spec.
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    #[allow(dead_code)]
    pub struct Object<S> {
        pub api_version: String,
        pub kind: String,
        pub metadata: Meta,
        pub spec: S,
        pub status: Option<IgnoredAny>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    #[allow(dead_code)]
    pub struct Selector {
        pub match_labels: Option<BTreeMap<String, String>>,
        pub match_expressions: Option<Vec<Requirement>>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    #[allow(dead_code)]
    pub struct Requirement {
        pub key: String,
        pub operator: String,
        pub values: Option<Vec<String>>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    #[allow(dead_code)]
    pub struct NameRef {
        pub name: String,
        pub namespace: Option<String>,
        pub kind: Option<String>,
        pub api_version: Option<String>,
    }
}
