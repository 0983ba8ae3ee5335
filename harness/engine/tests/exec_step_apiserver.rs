//! The `exec` step and the node-count variables against a real
//! kube-apiserver with kwok nodes: pods are selected by label and by the
//! node of a case pod, too few pods fail with their names, an exec the
//! cluster cannot serve (kwok nodes have no kubelet) fails naming the pod,
//! the selected platform pods are never labelled or deleted, and
//! `nodeCount`/`nodePeers` come from the real Node list. The command itself
//! cannot run on kwok pods; the lab tests cover the agent side.
#![allow(clippy::expect_used, reason = "test helpers fail the test loudly")]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use infraflux_kube::Cluster;
use infraflux_testkit::controlplane::{self, ControlPlane};
use infraflux_testkit::paths::fixtures_dir as fixtures;
use infraflux_engine::{self as engine, RunOptions, TimeoutDefaults};
use infraflux_model::results::{Outcome, RunResults};
use k8s_openapi::api::core::v1::{ConfigMap, Node, Pod};
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::json;

async fn wait_for<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    while !check().await {
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}


async fn platform_pod(pods: &Api<Pod>, name: &str, node: &str, labels: BTreeMap<&str, &str>) {
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": name, "labels": labels},
        "spec": {"nodeName": node, "terminationGracePeriodSeconds": 0,
                 "containers": [{"name": "cilium-agent", "image": "localhost/none:1"}],
                 "tolerations": [{"operator": "Exists"}]}
    }))
    .expect("pod");
    pods.create(&PostParams::default(), &pod).await.expect("create pod");
}

fn case<'a>(r: &'a RunResults, id: &str) -> &'a Outcome {
    &r.cases.iter().find(|c| c.id == id).unwrap_or_else(|| panic!("no {id} in {:#?}", r.cases)).outcome
}

fn failure(r: &RunResults, id: &str) -> String {
    match case(r, id) {
        Outcome::Failed { message, .. } => message.clone(),
        o => panic!("{id}: expected a failure, got {o:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn exec_selects_by_label_and_node_refuses_clearly_and_node_vars_are_real() {
    let Some(cp) = ControlPlane::for_tests() else { return };
    let client = cp.client().await.expect("client");
    let tag = format!("{:04x}", rand::random::<u16>());
    let (node_a, node_b) = (format!("ifx-exec-a-{tag}"), format!("ifx-exec-b-{tag}"));
    let nodes: Api<Node> = Api::all(client.clone());
    controlplane::kwok_node(&client, &node_a, Duration::from_secs(90)).await;
    controlplane::kwok_node(&client, &node_b, Duration::from_secs(90)).await;

    // A stand-in for kube-system: agents on both nodes plus an unrelated pod.
    let platform = controlplane::test_namespace(&client, "exec-plat").await.expect("namespace");
    let lock_ns = controlplane::test_namespace(&client, "exec-lock").await.expect("namespace");
    let pods: Api<Pod> = Api::namespaced(client.clone(), &platform);
    let app = format!("fake-agent-{tag}");
    platform_pod(&pods, "agent-a", &node_a, [("k8s-app", app.as_str())].into()).await;
    platform_pod(&pods, "agent-b", &node_b, [("k8s-app", app.as_str())].into()).await;
    platform_pod(&pods, "bystander", &node_a, [("k8s-app", "other")].into()).await;
    for name in ["agent-a", "agent-b", "bystander"] {
        wait_for("platform pod Running", || async {
            pods.get(name).await.ok().and_then(|p| p.status).and_then(|s| s.phase).as_deref() == Some("Running")
        })
        .await;
    }

    // The selection itself, as the step makes it.
    let cluster = Arc::new(Cluster::from_client(client.clone(), None));
    let sel = format!("k8s-app={app}");
    let all = cluster.select_pods(&platform, &sel, None).await.expect("select");
    assert_eq!(all.iter().map(|p| (p.name.as_str(), p.node.as_str())).collect::<Vec<_>>(), [
        ("agent-a", node_a.as_str()),
        ("agent-b", node_b.as_str())
    ]);
    let on_b = cluster.select_pods(&platform, &sel, Some(&node_b)).await.expect("select");
    assert_eq!(on_b.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["agent-b"]);

    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("suite.yaml"),
        format!(
            r#"apiVersion: infraflux.io/v1alpha1
kind: Suite
metadata:
  name: ex
cases:
  - name: same-node
    vars: {{nodeB: {node_b}}}
    steps:
      - apply:
          manifest:
            apiVersion: v1
            kind: Pod
            metadata: {{name: client, namespace: "{{{{namespace}}}}"}}
            spec:
              nodeName: "{{{{nodeB}}}}"
              terminationGracePeriodSeconds: 0
              tolerations: [{{operator: Exists}}]
              containers: [{{name: c, image: localhost/none:1}}]
      - exec:
          name: status
          pods: {{namespace: {platform}, labelSelector: "k8s-app={app}", sameNodeAs: client}}
          container: cilium-agent
          command: [cilium-dbg, status, -o, json]
          timeout: 20s
  - name: too-few
    steps:
      - exec:
          name: status
          pods: {{namespace: {platform}, labelSelector: "k8s-app={app}"}}
          command: [cilium-dbg, status]
          minPods: 3
  - name: between-ghost
    vars: {{nodeB: {node_b}}}
    steps:
      - apply:
          manifest:
            apiVersion: v1
            kind: Pod
            metadata: {{name: client, namespace: "{{{{namespace}}}}"}}
            spec:
              nodeName: "{{{{nodeB}}}}"
              terminationGracePeriodSeconds: 0
              tolerations: [{{operator: Exists}}]
              containers: [{{name: agent, image: localhost/none:1}}]
      - probe:
          pod: client
          action: {{capture: {{interface: eth0, betweenPods: [client, ghost], duration: 1s}}}}
          timeout: 20s
  - name: route-to-ghost-node
    steps:
      - apply:
          manifest:
            apiVersion: v1
            kind: Pod
            metadata: {{name: client, namespace: "{{{{namespace}}}}"}}
            spec:
              terminationGracePeriodSeconds: 0
              tolerations: [{{operator: Exists}}]
              containers: [{{name: agent, image: localhost/none:1}}]
      - probe:
          pod: client
          action: {{capture: {{interface: auto, routeToNodeOf: ghost, filterIps: [10.0.0.1, 10.0.0.2], duration: 1s}}}}
          timeout: 20s
  - name: only-without-wireguard
    requires: ["!wireguard"]
    steps:
      - assert: {{ref: {{apiVersion: v1, kind: Node}}, that: [{{path: $.items, count: {{min: 1}}}}]}}
  - name: only-without-bgp
    requires: ["!bgpControlPlane"]
    steps:
      - assert: {{ref: {{apiVersion: v1, kind: Node}}, that: [{{path: $.items, count: {{min: 1}}}}]}}
  - name: node-vars
    steps:
      - wait:
          ref: {{apiVersion: v1, kind: Node}}
          field: {{path: "$.items[1:]", count: {{equals: "{{{{nodePeers}}}}"}}}}
          timeout: 10s
      - assert:
          ref: {{apiVersion: v1, kind: Node}}
          that:
            - {{path: $.items, count: {{equals: "{{{{nodeCount}}}}", min: 2}}}}
            - {{path: "$.items[1:]", count: {{equals: "{{{{nodePeers}}}}"}}}}
"#
        ),
    )
    .expect("write suite");
    let cm: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "cilium-config"},
        "data": {"enable-wireguard": "true", "enable-bgp-control-plane": "false"},
    }))
    .expect("cm");
    Api::<ConfigMap>::namespaced(client.clone(), &lock_ns)
        .create(&PostParams::default(), &cm)
        .await
        .expect("create cilium-config");
    let run_id = format!("20260101T000000Z-x{tag}");
    let opts = RunOptions {
        suites_dir: dir.path().to_path_buf(),
        fixtures_dir: fixtures(),
        kubeconfig: Some(cp.kubeconfig_path().to_path_buf()),
        test_threads: Some(1),
        run_id: Some(run_id.clone()),
        cilium_namespace: lock_ns.clone(),
        lock_namespace: lock_ns.clone(),
        timeouts: TimeoutDefaults { cleanup: Duration::from_secs(90), ..TimeoutDefaults::default() },
        console_log: Some(dir.path().join("console.log")),
        // Any image: kwok runs nothing, but the probe path needs one set.
        agent_image: Some("localhost/none:1".into()),
        ..RunOptions::default()
    };
    let r = engine::run(opts).await.expect("run");

    let msg = failure(&r, "ex::same-node");
    eprintln!("same-node exec on a kwok pod: {msg}");
    assert!(!msg.contains(&format!("{platform}/agent-a")), "picked the pod on the other node: {msg}");
    assert!(
        msg.contains("exec refused in 1 of 1 pod(s): agent-b:") && msg.contains(&format!("{platform}/agent-b")),
        "{msg}"
    );
    let msg = failure(&r, "ex::too-few");
    assert!(
        msg.contains(&format!("2 running pod(s) match k8s-app={app} in {platform} (agent-a, agent-b), want at least 3")),
        "{msg}"
    );
    assert_eq!(case(&r, "ex::node-vars"), &Outcome::Passed);
    let msg = failure(&r, "ex::between-ghost");
    assert!(msg.contains("/ghost to have an IPv4 pod IP; last seen: pod does not exist"), "{msg}");
    assert_eq!(
        case(&r, "ex::only-without-wireguard"),
        &Outcome::Skipped { reason: "requires no wireguard: cilium-config has enable-wireguard=\"true\"".into() }
    );
    assert_eq!(case(&r, "ex::only-without-bgp"), &Outcome::Passed);
    // betweenPods resolves a pod to the IPv4 addresses in its status.
    let want = pods.get("agent-a").await.expect("pod").status.and_then(|s| s.pod_ip).expect("kwok gave agent-a an IP");
    assert_eq!(cluster.pod_ipv4s(&platform, "agent-a").await.expect("pod ips"), [want]);
    // routeToNodeOf resolves a pod to its node's address.
    let host = pods.get("agent-a").await.expect("pod").status.and_then(|s| s.host_ip).expect("kwok gave agent-a a hostIP");
    assert_eq!(cluster.pod_host_ip(&platform, "agent-a").await.expect("host ip"), Some(host));
    let msg = failure(&r, "ex::route-to-ghost-node");
    assert!(msg.contains("/ghost to have a status.hostIP; last seen: pod does not exist"), "{msg}");

    // The platform pods are untouched: still there, never labelled.
    for name in ["agent-a", "agent-b", "bystander"] {
        let p = pods.get(name).await.expect("platform pod still exists");
        let labels = p.metadata.labels.unwrap_or_default();
        assert!(!labels.keys().any(|k| k.starts_with("infraflux.io/") || k == "app.kubernetes.io/managed-by"), "{name}: {labels:?}");
        assert!(p.metadata.deletion_timestamp.is_none(), "{name} is being deleted");
    }
    let left = cluster.find_labelled(&format!("infraflux.io/run-id={run_id}")).await.expect("sweep list");
    assert!(left.is_empty(), "{:?}", left.iter().map(|k| k.to_string()).collect::<Vec<_>>());

    controlplane::delete_namespace(&client, &platform).await;
    controlplane::delete_namespace(&client, &lock_ns).await;
    for n in [&node_a, &node_b] {
        let _ = nodes.delete(n, &DeleteParams::default()).await;
    }
}
