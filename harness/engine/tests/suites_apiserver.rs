//! The shipped `bgp` and `gateway` suites' kube-facing cases against a real
//! kube-apiserver with the upstream Cilium and Gateway API CRDs.
//!
//! No Cilium runs here, so a small task in this test stands in for the two
//! controllers whose *status writes* the cases read:
//!
//! - LB-IPAM: for each harness-labelled LoadBalancer Service without an
//!   address it picks the matching CiliumLoadBalancerIPPool with the most
//!   specific `serviceSelector` (most matchLabels), takes the first free
//!   address of its first block, and writes `status.loadBalancer.ingress`
//!   plus the `cilium.io/IPAMRequestSatisfied` condition, the way
//!   Cilium's operator reports an allocation. In `WrongPool` mode it
//!   deliberately allocates from the least specific pool, which the suite
//!   must catch.
//! - The Gateway controller: Accepted/Programmed with an address on
//!   Gateways of class `cilium`, Accepted/ResolvedRefs on their HTTPRoutes.
//!
//! Every status is written with kube-rs status patches, exactly the API
//! calls the real controllers make; the cases themselves are the shipped
//! YAML, run through `engine::run`, and cleanup must leave no labelled
//! object behind.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test-crate helpers: a failed setup step is the test failure"
)]

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use infraflux_testkit::controlplane::{self, TestEnv, crds, run_id};
use infraflux_testkit::paths;
use infraflux_engine::{self as engine, RunOptions, TimeoutDefaults};
use infraflux_model::results::{Outcome, RunResults};
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

fn ar(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
}

fn pools_ar() -> ApiResource {
    ar("cilium.io", "v2", "CiliumLoadBalancerIPPool", "ciliumloadbalancerippools")
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Correct,
    WrongPool,
}

fn condition(type_: &str, reason: &str) -> Value {
    json!({
        "type": type_, "status": "True", "reason": reason, "message": "written by the test's stand-in controller",
        "lastTransitionTime": "2026-01-01T00:00:00Z", "observedGeneration": 1,
    })
}

/// Whether a pool's `serviceSelector` (matchLabels and matchExpressions)
/// selects a Service with `labels`.
fn selects(pool: &DynamicObject, labels: &BTreeMap<String, String>) -> bool {
    let Some(sel) = pool.data.pointer("/spec/serviceSelector") else { return false };
    let by_label = sel
        .get("matchLabels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .all(|(k, v)| labels.get(k).map(String::as_str) == v.as_str());
    let by_expr = sel.get("matchExpressions").and_then(Value::as_array).into_iter().flatten().all(|e| {
        let key = e["key"].as_str().unwrap_or_default();
        let values: Vec<&str> = e["values"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        let have = labels.get(key).map(String::as_str);
        match e["operator"].as_str() {
            Some("In") => have.is_some_and(|h| values.contains(&h)),
            Some("NotIn") => !have.is_some_and(|h| values.contains(&h)),
            Some("Exists") => have.is_some(),
            Some("DoesNotExist") => have.is_none(),
            _ => false,
        }
    });
    by_label && by_expr
}

/// Picks an address for `svc`: from the pool that selects it, or in
/// `WrongPool` mode from one of this run's pools that does not.
fn allocate(svc: &Service, pools: &[DynamicObject], used: &[Ipv4Addr], mode: Mode) -> Option<Ipv4Addr> {
    let labels = svc.metadata.labels.clone().unwrap_or_default();
    let pool = match mode {
        Mode::Correct => pools.iter().find(|p| selects(p, &labels))?,
        Mode::WrongPool => pools.iter().find(|p| !selects(p, &labels)).or_else(|| pools.first())?,
    };
    let cidr: ipnet::Ipv4Net = pool.data.pointer("/spec/blocks/0/cidr")?.as_str()?.parse().ok()?;
    cidr.hosts().find(|ip| !used.contains(ip))
}

/// One pass of the stand-in controllers over objects labelled `run_id`.
async fn reconcile(client: &kube::Client, run_id: &str, mode: Mode) -> Result<(), kube::Error> {
    let sel = ListParams::default().labels(&format!("infraflux.io/run-id={run_id}"));
    let pools: Api<DynamicObject> = Api::all_with(client.clone(), &pools_ar());
    let pools = pools.list(&sel).await?.items;
    let services: Api<Service> = Api::all(client.clone());
    let svcs = services.list(&sel).await?.items;
    let mut used: Vec<Ipv4Addr> = svcs
        .iter()
        .flat_map(|s| s.status.iter().flat_map(|st| st.load_balancer.iter()).flat_map(|lb| lb.ingress.iter().flatten()))
        .filter_map(|i| i.ip.as_deref()?.parse().ok())
        .collect();
    for svc in &svcs {
        let is_lb = svc.spec.as_ref().and_then(|s| s.type_.as_deref()) == Some("LoadBalancer");
        let has_ip = svc
            .status
            .as_ref()
            .and_then(|s| s.load_balancer.as_ref())
            .and_then(|l| l.ingress.as_ref())
            .is_some_and(|i| !i.is_empty());
        if !is_lb || has_ip || svc.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let Some(ip) = allocate(svc, &pools, &used, mode) else { continue };
        used.push(ip);
        let ns = svc.metadata.namespace.clone().unwrap_or_default();
        let name = svc.metadata.name.clone().unwrap_or_default();
        let status = json!({"status": {
            "loadBalancer": {"ingress": [{"ip": ip.to_string()}]},
            "conditions": [condition("cilium.io/IPAMRequestSatisfied", "satisfied")],
        }});
        Api::<Service>::namespaced(client.clone(), &ns)
            .patch_status(&name, &PatchParams::default(), &Patch::Merge(&status))
            .await?;
    }

    let gws: Api<DynamicObject> = Api::all_with(client.clone(), &ar("gateway.networking.k8s.io", "v1", "Gateway", "gateways"));
    for gw in gws.list(&sel).await?.items {
        let ns = gw.metadata.namespace.clone().unwrap_or_default();
        let name = gw.metadata.name.clone().unwrap_or_default();
        if gw.data.pointer("/spec/gatewayClassName").and_then(Value::as_str) != Some("cilium")
            || gw.data.pointer("/status/addresses/0").is_some()
        {
            continue;
        }
        let listeners: Vec<Value> = gw
            .data
            .pointer("/spec/listeners")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|l| {
                json!({
                    "name": l["name"], "attachedRoutes": 1,
                    "supportedKinds": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute"}],
                    "conditions": [condition("Accepted", "Accepted"), condition("Programmed", "Programmed"), condition("ResolvedRefs", "ResolvedRefs")],
                })
            })
            .collect();
        let status = json!({"status": {
            "addresses": [{"type": "IPAddress", "value": "198.51.100.200"}],
            "conditions": [condition("Accepted", "Accepted"), condition("Programmed", "Programmed")],
            "listeners": listeners,
        }});
        Api::<DynamicObject>::namespaced_with(client.clone(), &ns, &ar("gateway.networking.k8s.io", "v1", "Gateway", "gateways"))
            .patch_status(&name, &PatchParams::default(), &Patch::Merge(&status))
            .await?;
    }
    let routes_ar = ar("gateway.networking.k8s.io", "v1", "HTTPRoute", "httproutes");
    let routes: Api<DynamicObject> = Api::all_with(client.clone(), &routes_ar);
    for r in routes.list(&sel).await?.items {
        if r.data.pointer("/status/parents/0").is_some() {
            continue;
        }
        let ns = r.metadata.namespace.clone().unwrap_or_default();
        let name = r.metadata.name.clone().unwrap_or_default();
        let parents: Vec<Value> = r
            .data
            .pointer("/spec/parentRefs")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|p| {
                json!({
                    "parentRef": p, "controllerName": "io.cilium/gateway-controller",
                    "conditions": [condition("Accepted", "Accepted"), condition("ResolvedRefs", "ResolvedRefs")],
                })
            })
            .collect();
        Api::<DynamicObject>::namespaced_with(client.clone(), &ns, &routes_ar)
            .patch_status(&name, &PatchParams::default(), &Patch::Merge(&json!({"status": {"parents": parents}})))
            .await?;
    }
    Ok(())
}

/// Runs the stand-in controllers until `stop` is set.
fn spawn_controllers(client: kube::Client, run_id: String, mode: Mode, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while !stop.load(Ordering::Relaxed) {
            // Conflicts with the harness's own writes are normal; the next pass retries.
            let _ = reconcile(&client, &run_id, mode).await;
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    })
}

async fn env(prefix: &str) -> Option<TestEnv> {
    let env = TestEnv::new(prefix).await?;
    crds::install_upstream(&env.client, Duration::from_secs(120)).await.expect("upstream CRDs");
    // cilium-config as the feature detection reads it: Cilium with the
    // Gateway API controller on.
    env.cilium_config(&[("enable-gateway-api", "true"), ("kube-proxy-replacement", "true")]).await;
    Some(env)
}

fn opts(env: &TestEnv, run_id: &str, cases: &[&str]) -> RunOptions {
    RunOptions {
        suites_dir: paths::suites_dir(),
        fixtures_dir: paths::fixtures_dir(),
        filters: cases.iter().map(|c| c.to_string()).collect(),
        exact: true,
        kubeconfig: Some(env.cp.kubeconfig_path().to_path_buf()),
        test_threads: Some(2),
        run_id: Some(run_id.to_owned()),
        cilium_namespace: env.ns.clone(),
        lock_namespace: env.ns.clone(),
        timeouts: TimeoutDefaults { cleanup: Duration::from_secs(90), ..TimeoutDefaults::default() },
        deadline: Some(Duration::from_secs(240)),
        console_log: Some(env.dir.path().join(format!("console-{run_id}.log"))),
        ..RunOptions::default()
    }
}

async fn run(env: &TestEnv, run_id: &str, cases: &[&str], mode: Mode) -> RunResults {
    let stop = Arc::new(AtomicBool::new(false));
    let ctl = spawn_controllers(env.client.clone(), run_id.to_owned(), mode, stop.clone());
    let r = engine::run(opts(env, run_id, cases)).await.expect("run");
    stop.store(true, Ordering::Relaxed);
    let _ = ctl.await;
    r
}

fn outcome<'a>(r: &'a RunResults, id: &str) -> &'a Outcome {
    &r.cases.iter().find(|c| c.id == id).unwrap_or_else(|| panic!("no {id} in {:#?}", r.cases)).outcome
}

const LBIPAM_CASES: [&str; 3] = [
    "bgp::service-ip-from-pool",
    "bgp::critical-service-from-critical-pool",
    "bgp::wrong-pool-not-used",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lbipam_cases_pass_when_addresses_come_from_the_right_pool() {
    let Some(env) = env("suite-lb-ok").await else { return };
    let id = run_id("b");
    let mut cases = LBIPAM_CASES.to_vec();
    cases.push("bgp::lb-pools-not-conflicting");
    let r = run(&env, &id, &cases, Mode::Correct).await;
    for c in cases {
        assert_eq!(outcome(&r, c), &Outcome::Passed, "{c}: {:#?}", r.cases);
    }
    assert_eq!(env.leftovers(&id).await, Vec::<String>::new());
    controlplane::delete_namespace(&env.client, &env.ns).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lbipam_cases_fail_when_an_address_comes_from_the_wrong_pool() {
    let Some(env) = env("suite-lb-bad").await else { return };
    let id = run_id("w");
    // The critical case has a general pool that excludes it; an operator
    // that ignored selectors would hand out a general address.
    let cases = ["bgp::critical-service-from-critical-pool"];
    let r = run(&env, &id, &cases, Mode::WrongPool).await;
    match outcome(&r, cases[0]) {
        Outcome::Failed { message, .. } => assert!(message.contains("not in 198.51.100.224/28"), "{message}"),
        o => panic!("expected a failure naming the general block it must stay out of, got {o:?}"),
    }
    assert_eq!(env.leftovers(&id).await, Vec::<String>::new());
    controlplane::delete_namespace(&env.client, &env.ns).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gateway_status_cases_pass_and_clean_up() {
    let Some(env) = env("suite-gw").await else { return };
    // The platform's GatewayClass, as Cilium's Helm chart creates it and its
    // controller accepts it. Cluster-scoped and unlabelled: this test owns it.
    let classes: Api<DynamicObject> =
        Api::all_with(env.client.clone(), &ar("gateway.networking.k8s.io", "v1", "GatewayClass", "gatewayclasses"));
    let mut gc: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass",
        "metadata": {"name": "cilium"},
        "spec": {"controllerName": "io.cilium/gateway-controller"},
    }))
    .expect("gc");
    gc.metadata.name = Some("cilium".into());
    let _ = classes.create(&PostParams::default(), &gc).await;
    classes
        .patch_status(
            "cilium",
            &PatchParams::default(),
            &Patch::Merge(&json!({"status": {"conditions": [condition("Accepted", "Accepted")]}})),
        )
        .await
        .expect("accept class");

    let id = run_id("g");
    let cases = [
        "gateway::crd-bundle-version",
        "gateway::gatewayclass-accepted",
        "gateway::gateway-programmed-route-attached",
    ];
    let r = run(&env, &id, &cases, Mode::Correct).await;
    for c in cases {
        assert_eq!(outcome(&r, c), &Outcome::Passed, "{c}: {:#?}", r.cases);
    }
    // Each result carries what its case proves, as suites/gateway.yaml says.
    for c in &r.cases {
        let g = c.gateway_conformance.as_ref().unwrap_or_else(|| panic!("{} carries no conformance", c.id));
        assert_eq!(g.support, infraflux_model::results::ConformanceSupport::Core, "{}", c.id);
    }
    // The report writer turns these into a ConformanceReport.
    let out = env.dir.path().join("report");
    let w = infraflux_report::write_all(&out, &r).expect("report");
    let text = std::fs::read_to_string(w.conformance_yaml.expect("conformance report")).expect("read");
    let report = infraflux_report::conformance::parse("conformance-report.yaml", &text).expect("parse");
    assert_eq!(report.profiles[0].core.statistics.passed, 3);
    assert_eq!(report.profiles[0].core.result, "success");

    assert_eq!(env.leftovers(&id).await, Vec::<String>::new());
    let _ = classes.delete("cilium", &Default::default()).await;
    controlplane::delete_namespace(&env.client, &env.ns).await;
}
