//! The kube layer's bounded waits against a real kube-apiserver,
//! controller-manager, scheduler and kwok: a CRD becomes Established, a
//! Deployment rolls out onto a kwok node, and waits that cannot succeed end
//! in a timeout that says what was last seen.
#![allow(clippy::expect_used, clippy::unwrap_used, reason = "test")]

use std::collections::BTreeMap;
use std::time::Duration;

use infraflux_kube::{Cluster, Error};
use infraflux_testkit::controlplane::{self, TestEnv};
use serde_json::json;

fn labels() -> BTreeMap<String, String> {
    BTreeMap::from([("infraflux.io/test".to_owned(), "true".to_owned())])
}

fn deployment(name: &str, node_selector: serde_json::Value) -> serde_json::Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"nodeSelector": node_selector,
                         "tolerations": [{"operator": "Exists"}],
                         "containers": [{"name": "c", "image": "localhost/none:1"}]},
            },
        },
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crd_established_and_missing_objects_time_out_with_what_was_seen() {
    let Some(env) = TestEnv::new("kube-crd").await else { return };
    let cluster = Cluster::from_client(env.client.clone(), None);
    let suffix = format!("{:04x}", rand::random::<u16>());
    let plural = format!("widgets{suffix}");
    let name = format!("{plural}.test.infraflux.io");
    let crd = json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": name},
        "spec": {"group": "test.infraflux.io", "scope": "Namespaced",
                 "names": {"plural": plural, "singular": format!("widget{suffix}"), "kind": format!("Widget{suffix}")},
                 "versions": [{"name": "v1", "served": true, "storage": true,
                               "schema": {"openAPIV3Schema": {"type": "object"}}}]},
    });
    cluster.apply(&crd, "", &labels()).await.expect("apply crd");
    cluster.wait_crds_established(std::slice::from_ref(&name), Duration::from_secs(30)).await.expect("established");

    let missing = format!("nothing{suffix}.test.infraflux.io");
    let err = cluster.wait_crds_established(&[missing], Duration::from_secs(2)).await.expect_err("never exists");
    match err {
        Error::Timeout { what, last_seen, after_ms } => {
            assert!(what.contains("Established=True"), "{what}");
            assert_eq!(last_seen, "does not exist");
            // One deadline shared by every named CRD: a hair under the whole budget.
            assert!((1900..=2000).contains(&after_ms), "{after_ms}");
        }
        other => panic!("want a timeout, got {other:?}"),
    }
    let crds = cluster.resolve("apiextensions.k8s.io/v1", "CustomResourceDefinition").await.expect("kind");
    let _ = cluster
        .delete(&infraflux_kube::ObjectKey { kind: crds, namespace: None, name })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployments_roll_out_onto_kwok_and_an_unschedulable_one_says_why_not() {
    let Some(env) = TestEnv::new("kube-rollout").await else { return };
    let cluster = Cluster::from_client(env.client.clone(), None);
    let node = format!("kwok-rollout-{:04x}", rand::random::<u16>());
    controlplane::kwok_node(&env.client, &node, Duration::from_secs(60)).await;
    let deployments = cluster.resolve("apps/v1", "Deployment").await.expect("kind");

    let ok = deployment("echo", json!({"kubernetes.io/hostname": node}));
    cluster.apply(&ok, &env.ns, &labels()).await.expect("apply");
    cluster
        .wait_rollout(&deployments, &env.ns, "echo", Duration::from_secs(90))
        .await
        .expect("rolled out on the kwok node");

    let stuck = deployment("stuck", json!({"kubernetes.io/hostname": "no-such-node"}));
    cluster.apply(&stuck, &env.ns, &labels()).await.expect("apply");
    let err = cluster
        .wait_rollout(&deployments, &env.ns, "stuck", Duration::from_secs(5))
        .await
        .expect_err("no node matches");
    match err {
        Error::Timeout { what, last_seen, .. } => {
            assert!(what.contains(&format!("Deployment {}/stuck", env.ns)), "{what}");
            // The controller created the pods (all updated) but none can run.
            assert!(last_seen.contains("available") || last_seen.contains("updated"), "{last_seen}");
        }
        other => panic!("want a timeout, got {other:?}"),
    }
    controlplane::delete_namespace(&env.client, &env.ns).await;
    let nodes: kube::Api<k8s_openapi::api::core::v1::Node> = kube::Api::all(env.client.clone());
    let _ = nodes.delete(&node, &Default::default()).await;
}
