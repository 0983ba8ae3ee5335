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
use super::rules::{SCHEMA_001, SCHEMA_002};

fn de_finding(obj: &Obj<'_>, e: &DeError) -> Finding {
    let rule = if e.message.starts_with("unknown field") { SCHEMA_001 } else { SCHEMA_002 };
    let f = rule.at(obj.file, e.pos.unwrap_or(obj.node.pos), format!("{}: {}", obj.describe(), e.message));
    if e.path.is_empty() { f } else { f.with_path(e.path.clone()) }
}

fn crd<T: DeserializeOwned>(obj: &Obj<'_>, out: &mut Vec<Finding>) {
    if let Err(e) = from_node::<T>(obj.node) {
        out.push(de_finding(obj, &e));
    }
}

fn core<T: DeserializeOwned + Serialize>(obj: &Obj<'_>, out: &mut Vec<Finding>) {
    match from_node::<T>(obj.node) {
        Err(e) => out.push(de_finding(obj, &e)),
        Ok(typed) => {
            if let Ok(back) = serde_json::to_value(&typed) {
                compare(obj, obj.node, &back, String::new(), out);
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
