//! The rendered default stack, both layouts, is accepted by a real
//! kube-apiserver with the upstream CRDs installed: server-side apply in
//! dry-run with strict field validation, so CRD schemas (including CEL rules)
//! and unknown fields are enforced by the API server itself.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test-crate helpers: a failed setup step is the test failure"
)]

use std::collections::BTreeMap;
use std::time::Duration;

use infraflux_testkit::controlplane::{ControlPlane, crds};
use infraflux_model::{profile, yaml};
use infraflux_stack as stack;
use kube::api::{Api, DynamicObject, Patch, PatchParams, ValidationDirective};
use kube::discovery::{Discovery, Scope};
use serde_json::Value;

/// API groups that no server here can know: RKE2's bundled helm-controller
/// (HelmChartConfig) and kustomize's client-side file format.
const NOT_SERVER_OBJECTS: &[&str] = &["helm.cattle.io/", "kustomize.config.k8s.io/"];

fn objects(files: &BTreeMap<String, String>) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for (name, text) in files {
        if !(name.ends_with(".yaml") || name.ends_with(".yml")) {
            continue;
        }
        let docs = yaml::parse_str(name, text).expect("rendered YAML parses");
        for d in docs {
            let v = d.root.to_json();
            let api = v.get("apiVersion").and_then(Value::as_str);
            let kind = v.get("kind").and_then(Value::as_str);
            if let (Some(api), Some(_)) = (api, kind)
                && v.pointer("/metadata/name").is_some()
                    && !NOT_SERVER_OBJECTS.iter().any(|p| api.starts_with(p))
                {
                    out.push((name.clone(), v));
                }
        }
    }
    out
}

async fn dry_run_all(client: &kube::Client, files: &BTreeMap<String, String>) -> usize {
    let discovery = Discovery::new(client.clone()).run().await.expect("discovery");
    let objs = objects(files);
    assert!(objs.len() > 15, "suspiciously few objects rendered: {}", objs.len());
    let mut pp = PatchParams::apply("infraflux-test").dry_run();
    pp.field_validation = Some(ValidationDirective::Strict);
    // Namespaces first and for real: a dry-run object cannot live in a
    // namespace that does not exist.
    let mut namespaces: Vec<String> = objs
        .iter()
        .filter_map(|(_, v)| v.pointer("/metadata/namespace").and_then(Value::as_str))
        .map(str::to_owned)
        .collect();
    namespaces.sort();
    namespaces.dedup();
    let ns_api: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    for ns in &namespaces {
        let body = serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
        ns_api
            .patch(ns, &PatchParams::apply("infraflux-test"), &Patch::Apply(&body))
            .await
            .expect("namespace");
    }
    let mut failures = Vec::new();
    for (file, obj) in &objs {
        let api_version = obj["apiVersion"].as_str().unwrap_or_default();
        let kind = obj["kind"].as_str().unwrap_or_default();
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let gvk = kube::api::GroupVersionKind::gvk(group, version, kind);
        let Some((ar, caps)) = discovery.resolve_gvk(&gvk) else {
            failures.push(format!("{file}: {api_version} {kind} is not served (missing CRD?)"));
            continue;
        };
        let name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default();
        let api: Api<DynamicObject> = match caps.scope {
            Scope::Cluster => Api::all_with(client.clone(), &ar),
            Scope::Namespaced => {
                let ns = obj.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("default");
                Api::namespaced_with(client.clone(), ns, &ar)
            }
        };
        if let Err(e) = api.patch(name, &pp, &Patch::Apply(obj)).await {
            failures.push(format!("{file}: {kind}/{name}: {e}"));
        }
    }
    assert!(failures.is_empty(), "rejected by the API server:\n{}", failures.join("\n"));
    objs.len()
}

#[tokio::test]
async fn rendered_default_stack_passes_server_side_dry_run() {
    let Some(cp) = ControlPlane::for_tests() else { return };
    let client = cp.client().await.expect("client");
    crds::install_upstream(&client, Duration::from_secs(120)).await.expect("upstream CRDs");
    let loaded = profile::load_default().expect("default profile");
    let plain = stack::render_files(&loaded.profile, false).expect("render");
    let n = dry_run_all(&client, &plain).await;
    let gitops = stack::render_files(&loaded.profile, true).expect("render gitops");
    let m = dry_run_all(&client, &gitops).await;
    eprintln!("dry-run accepted {n} install-ordered and {m} GitOps objects");
}
