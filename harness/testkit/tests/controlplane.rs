//! The real control plane: version stamping, namespaces that finalise, garbage
//! collection, kwok nodes and pods, and the upstream CRDs with their schemas.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test-crate helpers: a failed setup step is the test failure"
)]

use std::time::{Duration, Instant};

use infraflux_testkit::controlplane::{self, ControlPlane, crds};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Node, Pod};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;

async fn client() -> Option<kube::Client> {
    let cp = ControlPlane::for_tests()?;
    Some(cp.client().await.expect("client"))
}

#[tokio::test]
async fn server_reports_the_pinned_version_not_v0() {
    let Some(client) = client().await else { return };
    let info = client.apiserver_version().await.expect("version");
    let pinned = controlplane::Versions::pinned().kubernetes;
    assert_eq!(info.git_version, pinned, "{info:?}");
    let minor = pinned.split('.').nth(1).unwrap_or_default();
    assert_eq!((info.major.as_str(), info.minor.as_str()), ("1", minor));
}

#[tokio::test]
async fn namespaces_finalise_and_garbage_collection_runs() {
    let Some(client) = client().await else { return };
    let ns = controlplane::test_namespace(&client, "cp-gc").await.expect("ns");
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let owner = cms
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "owner"}, "data": {"a": "b"}}))
                .expect("cm"),
        )
        .await
        .expect("owner");
    let uid = owner.metadata.uid.clone().expect("uid");
    cms.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "dependent", "ownerReferences": [{
            "apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": uid
        }]}}))
        .expect("cm"),
    )
    .await
    .expect("dependent");
    cms.delete("owner", &DeleteParams::default()).await.expect("delete owner");
    wait(Duration::from_secs(60), "garbage collector deletes the dependent", || {
        let cms = cms.clone();
        async move { cms.get_opt("dependent").await.ok().flatten().is_none() }
    })
    .await;

    controlplane::delete_namespace(&client, &ns).await;
    let nss: Api<Namespace> = Api::all(client.clone());
    wait(Duration::from_secs(60), "namespace finalises", || {
        let nss = nss.clone();
        let ns = ns.clone();
        async move { nss.get_opt(&ns).await.ok().flatten().is_none() }
    })
    .await;
}

#[tokio::test]
async fn kwok_nodes_become_ready_and_pods_run() {
    let Some(client) = client().await else { return };
    let nodes: Api<Node> = Api::all(client.clone());
    let name = format!("kwok-node-{:04x}", rand::random::<u16>());
    controlplane::kwok_node(&client, &name, Duration::from_secs(60)).await;
    let ns = controlplane::test_namespace(&client, "cp-kwok").await.expect("ns");
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    pods.create(
        &PostParams::default(),
        &serde_json::from_value(json!({
            "metadata": {"name": "p"},
            "spec": {"nodeName": name, "containers": [{"name": "c", "image": "localhost/none:1"}],
                     "tolerations": [{"operator": "Exists"}]}
        }))
        .expect("pod"),
    )
    .await
    .expect("create pod");
    wait(Duration::from_secs(60), "kwok pod Running with an IP", || {
        let pods = pods.clone();
        async move {
            pods.get("p")
                .await
                .ok()
                .and_then(|p| p.status)
                .is_some_and(|s| s.phase.as_deref() == Some("Running") && s.pod_ip.is_some())
        }
    })
    .await;
    controlplane::delete_namespace(&client, &ns).await;
    let _ = nodes.delete(&name, &DeleteParams::default()).await;
}

#[tokio::test]
async fn upstream_crds_install_and_enforce_their_schemas() {
    let Some(client) = client().await else { return };
    let names = crds::install_upstream(&client, Duration::from_secs(120)).await.expect("crds");
    for want in [
        "ciliumbgpclusterconfigs.cilium.io",
        "ciliumloadbalancerippools.cilium.io",
        "ciliumnetworkpolicies.cilium.io",
        "gateways.gateway.networking.k8s.io",
        "httproutes.gateway.networking.k8s.io",
        "tlsroutes.gateway.networking.k8s.io",
        "certificates.cert-manager.io",
        "helmreleases.helm.toolkit.fluxcd.io",
        "kustomizations.kustomize.toolkit.fluxcd.io",
        "sealedsecrets.bitnami.com",
    ] {
        assert!(names.iter().any(|n| n == want), "{want} missing from {names:?}");
    }
    let ns = controlplane::test_namespace(&client, "cp-crd").await.expect("ns");
    let gvk = kube::api::GroupVersionKind::gvk("cilium.io", "v2", "CiliumNetworkPolicy");
    let ar = kube::api::ApiResource::from_gvk(&gvk);
    let cnps: Api<kube::api::DynamicObject> = Api::namespaced_with(client.clone(), &ns, &ar);
    let pp = PatchParams::apply("infraflux-test").dry_run();
    // seed-audit #52: a rule with neither ingress nor egress is rejected by the
    // CRD's anyOf; the corrected form with `ingress: [{}]` is accepted.
    let bad = json!({"apiVersion": "cilium.io/v2", "kind": "CiliumNetworkPolicy",
        "metadata": {"name": "default-deny-all"}, "spec": {"endpointSelector": {}}});
    let err = cnps.patch("default-deny-all", &pp, &Patch::Apply(&bad)).await;
    assert!(err.is_err(), "section-less CNP must be rejected by the CRD schema");
    let good = json!({"apiVersion": "cilium.io/v2", "kind": "CiliumNetworkPolicy",
        "metadata": {"name": "default-deny-all"},
        "spec": {"endpointSelector": {}, "ingress": [{}], "egress": [{}]}});
    cnps.patch("default-deny-all", &pp, &Patch::Apply(&good))
        .await
        .expect("corrected CNP accepted");
    // seed-audit #27: LB pools in cilium.io/v2 take `blocks`; strict field
    // validation rejects the removed `cidrs`.
    let gvk = kube::api::GroupVersionKind::gvk("cilium.io", "v2", "CiliumLoadBalancerIPPool");
    let pools: Api<kube::api::DynamicObject> =
        Api::all_with(client.clone(), &kube::api::ApiResource::from_gvk(&gvk));
    let mut strict = PatchParams::apply("infraflux-test").dry_run();
    strict.field_validation = Some(kube::api::ValidationDirective::Strict);
    let old = json!({"apiVersion": "cilium.io/v2", "kind": "CiliumLoadBalancerIPPool",
        "metadata": {"name": "main-pool"}, "spec": {"cidrs": [{"cidr": "192.168.30.0/25"}]}});
    assert!(pools.patch("main-pool", &strict, &Patch::Apply(&old)).await.is_err());
    let new = json!({"apiVersion": "cilium.io/v2", "kind": "CiliumLoadBalancerIPPool",
        "metadata": {"name": "main-pool"}, "spec": {"blocks": [{"cidr": "192.168.30.0/25"}]}});
    pools
        .patch("main-pool", &strict, &Patch::Apply(&new))
        .await
        .expect("blocks accepted");
    controlplane::delete_namespace(&client, &ns).await;
}

async fn wait<F, Fut>(timeout: Duration, what: &str, mut ok: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while !ok().await {
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
