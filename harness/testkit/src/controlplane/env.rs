//! One test's share of the shared control plane, and the kwok nodes tests
//! schedule onto. Test binaries used to each carry a copy of this setup.
#![allow(clippy::expect_used, reason = "test setup fails the test loudly")]

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Node};
use kube::api::{Api, PostParams};

use super::{ControlPlane, test_namespace};

/// A client of the shared control plane, a namespace of this test's own
/// (its run lock Lease and cilium-config live there, so tests sharing the
/// control plane never contend) and a scratch directory.
pub struct TestEnv {
    pub cp: &'static ControlPlane,
    pub client: kube::Client,
    pub ns: String,
    pub dir: tempfile::TempDir,
}

impl TestEnv {
    /// `None` when the control-plane tier is skipped
    /// (`INFRAFLUX_CLUSTER_TESTS=skip`); a control plane that should run
    /// but cannot fails the test.
    pub async fn new(prefix: &str) -> Option<TestEnv> {
        let cp = ControlPlane::for_tests()?;
        let client = cp.client().await.expect("client");
        let ns = test_namespace(&client, prefix).await.expect("namespace");
        Some(TestEnv { cp, client, ns, dir: tempfile::tempdir().expect("tempdir") })
    }

    /// Every object of any kind still carrying the run's label: what a run
    /// left behind.
    pub async fn leftovers(&self, run_id: &str) -> Vec<String> {
        infraflux_kube::Cluster::from_client(self.client.clone(), None)
            .find_labelled(&format!("infraflux.io/run-id={run_id}"))
            .await
            .expect("sweep list")
            .iter()
            .map(|k| k.to_string())
            .collect()
    }

    /// Creates `cilium-config` in the test's namespace with `data`, as the
    /// engine's feature detection reads it.
    pub async fn cilium_config(&self, data: &[(&str, &str)]) {
        let data: BTreeMap<String, String> = data.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        let cm: ConfigMap = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "cilium-config"},
            "data": data,
        }))
        .expect("cm");
        Api::<ConfigMap>::namespaced(self.client.clone(), &self.ns)
            .create(&PostParams::default(), &cm)
            .await
            .expect("create cilium-config");
    }
}

/// A run id in the engine's format, unique per call: `tag` names the test.
pub fn run_id(tag: &str) -> String {
    format!("20260101T000000Z-{tag}{:04x}", rand::random::<u16>())
}

/// Creates a kwok-managed node `name` (labelled `type=kwok`,
/// `infraflux.io/test=true` and, as a kubelet would, `kubernetes.io/hostname`) and waits up to `timeout` for kwok to report
/// it Ready.
pub async fn kwok_node(client: &kube::Client, name: &str, timeout: Duration) {
    let nodes: Api<Node> = Api::all(client.clone());
    let node: Node = serde_json::from_value(serde_json::json!({
        "metadata": {"name": name, "annotations": {"kwok.x-k8s.io/node": "fake"},
                     "labels": {"type": "kwok", "infraflux.io/test": "true", "kubernetes.io/hostname": name}},
    }))
    .expect("node");
    nodes.create(&PostParams::default(), &node).await.expect("create node");
    let cluster = infraflux_kube::Cluster::from_client(client.clone(), None);
    let node_kind = cluster.resolve("v1", "Node").await.expect("Node kind");
    cluster
        .wait_condition(&node_kind, None, name, "Ready", "True", timeout)
        .await
        .unwrap_or_else(|e| panic!("kwok node {name}: {}", infraflux_engine::error_chain(&e)));
}
