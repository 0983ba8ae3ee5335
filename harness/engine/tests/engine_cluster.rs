//! The runner against a real kube-apiserver (+ controller-manager, so
//! namespaces really finalise): cleanup leaves nothing behind after passing,
//! failing, timed-out, panicking and interrupted cases; the Lease lock keeps
//! a second run out; waits time out with a clear message; missing features
//! skip with their reason; cluster trouble and bad input map to exit 3 / 2.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test-crate helpers: a failed setup step is the test failure"
)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use infraflux_kube::{Cluster, lock};
use infraflux_testkit::controlplane::{self, TestEnv, run_id};
use infraflux_testkit::paths::{self, fixtures_dir as fixtures};
use infraflux_engine::{self as engine, Backend, CaseCtx, EngineError, EventSink, RunOptions, StepError, TimeoutDefaults, kube_backend::KubeBackend};
use infraflux_model::results::{Outcome, RunEvent, RunResults};
use infraflux_model::suite::{self, Step};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::Api;

/// The shared setup plus what these tests add to it.
struct Env(TestEnv);

impl std::ops::Deref for Env {
    type Target = TestEnv;
    fn deref(&self) -> &TestEnv {
        &self.0
    }
}

async fn env(prefix: &str) -> Option<Env> {
    TestEnv::new(prefix).await.map(Env)
}

impl Env {
    fn suite(&self, yaml: &str) -> &Self {
        std::fs::write(self.dir.path().join("suite.yaml"), yaml).expect("write suite");
        self
    }

    fn opts(&self, run_id: &str) -> RunOptions {
        RunOptions {
            suites_dir: self.dir.path().to_path_buf(),
            fixtures_dir: fixtures(),
            kubeconfig: Some(self.cp.kubeconfig_path().to_path_buf()),
            test_threads: Some(1),
            run_id: Some(run_id.to_owned()),
            cilium_namespace: self.ns.clone(),
            lock_namespace: self.ns.clone(),
            timeouts: TimeoutDefaults { cleanup: Duration::from_secs(90), ..TimeoutDefaults::default() },
            // The runs' own libtest report (with deliberate failures) stays
            // out of this binary's output.
            console_log: Some(self.dir.path().join(format!("console-{run_id}.log"))),
            ..RunOptions::default()
        }
    }

    async fn cluster(&self) -> Arc<Cluster> {
        Arc::new(Cluster::from_client(self.client.clone(), None))
    }
}

/// An event sink that keeps every event, and the list it fills.
fn collect_events() -> (EventSink, Arc<Mutex<Vec<RunEvent>>>) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let into = events.clone();
    let sink = EventSink::new(move |e| into.lock().expect("events").push(e));
    (sink, events)
}


fn case<'a>(r: &'a RunResults, id: &str) -> &'a infraflux_model::results::CaseResult {
    r.cases.iter().find(|c| c.id == id).unwrap_or_else(|| panic!("no {id} in {:#?}", r.cases))
}

const HEAD: &str = "apiVersion: infraflux.io/v1alpha1\nkind: Suite\nmetadata:\n  name: it\ncases:\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn passing_run_labels_everything_and_leaves_nothing() {
    let Some(env) = env("eng-pass").await else { return };
    let id = run_id("a");
    env.suite(&format!(
        "{HEAD}  - name: applies-and-checks
    vars: {{greeting: hello}}
    steps:
      - apply: {{file: manifests/echo-configmap.yaml}}
      - apply:
          manifest:
            apiVersion: v1
            kind: Service
            metadata: {{name: echo, namespace: \"{{{{namespace}}}}\"}}
            spec: {{ports: [{{port: 80}}]}}
      - wait:
          ref: {{apiVersion: v1, kind: Service, name: echo}}
          field: {{path: $.spec.clusterIP, exists: true}}
          timeout: 20s
      - assert:
          ref: {{apiVersion: v1, kind: ConfigMap, name: echo}}
          that:
            - {{path: $.data.greeting, equals: hello}}
            - {{path: \"$.metadata.labels['infraflux.io/run-id']\", equals: \"{id}\"}}
            - {{path: \"$.metadata.labels['infraflux.io/case']\", equals: it.applies-and-checks}}
            - {{path: \"$.metadata.labels['app.kubernetes.io/managed-by']\", equals: infraflux}}
            - {{path: \"$.metadata.managedFields[?@.manager=='infraflux']\", count: {{equals: 1}}}}
      - assert:
          ref: {{apiVersion: v1, kind: Namespace, name: \"{{{{namespace}}}}\"}}
          that:
            - {{path: \"$.metadata.labels['infraflux.io/run-id']\", equals: \"{id}\"}}
      - delete:
          ref: {{apiVersion: v1, kind: Service, name: echo}}
          wait: true
"
    ));
    let out = env.dir.path().join("out");
    let (sink, events) = collect_events();
    let r = engine::run(RunOptions { events: sink, ..env.opts(&id) }).await.expect("run");
    // The run's events tell the same story as its return value: started,
    // the case that ran, finished with exactly the returned results.
    let events = events.lock().expect("events").clone();
    assert!(matches!(&events[0], RunEvent::Started { run_id, .. } if *run_id == id), "{events:?}");
    assert!(matches!(&events[1], RunEvent::CaseFinished(c) if c.id == "it::applies-and-checks"), "{events:?}");
    assert_eq!(events.last(), Some(&RunEvent::Finished(r.clone())));
    assert_eq!(events.len(), 3);
    // The engine returns the results; the report crate writes results.json,
    // once, next to every other report.
    infraflux_report::write_all(&out, &r).expect("reports");
    let written: RunResults =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).expect("results.json")).expect("parse");
    assert_eq!(written, r);
    assert_eq!(written.schema, infraflux_model::results::SCHEMA);
    let c = case(&r, "it::applies-and-checks");
    assert_eq!(c.outcome, Outcome::Passed, "{c:#?}");
    assert_eq!(c.attempts, 1);
    assert_eq!(engine::exit_status(&r).code(), 0);
    assert_eq!(r.target.kubernetes_version.as_deref(), Some(controlplane::Versions::pinned().kubernetes.as_str()));
    assert!(env.leftovers(&id).await.is_empty(), "{:?}", env.leftovers(&id).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failing_run_reports_what_it_saw_and_leaves_nothing() {
    let Some(env) = env("eng-fail").await else { return };
    let id = run_id("b");
    env.suite(&format!(
        "{HEAD}  - name: wrong-value
    retries: 1
    steps:
      - apply:
          manifest:
            apiVersion: v1
            kind: ConfigMap
            metadata: {{name: cfg}}
            data: {{mode: tunnel}}
      - assert:
          ref: {{apiVersion: v1, kind: ConfigMap, name: cfg}}
          that: [{{path: $.data.mode, equals: native}}]
          timeout: 2s
"
    ));
    let r = engine::run(env.opts(&id)).await.expect("run");
    let c = case(&r, "it::wrong-value");
    match &c.outcome {
        Outcome::Failed { message, .. } => {
            assert!(message.contains("$.data.mode equals \"native\": found \"tunnel\""), "{message}")
        }
        o => panic!("{o:?}"),
    }
    assert_eq!(c.attempts, 2);
    assert_eq!(engine::exit_status(&r).code(), 1);
    assert!(env.leftovers(&id).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn wait_timeout_names_what_it_waited_for_and_case_timeout_cleans_up() {
    let Some(env) = env("eng-wait").await else { return };
    let id = run_id("c");
    env.suite(&format!(
        "{HEAD}  - name: wait-expires
    steps:
      - apply:
          manifest: {{apiVersion: v1, kind: ConfigMap, metadata: {{name: cfg}}, data: {{a: b}}}}
      - wait:
          ref: {{apiVersion: v1, kind: ConfigMap, name: cfg}}
          field: {{path: $.data.ready, equals: \"yes\"}}
          timeout: 1500ms
  - name: case-deadline
    timeout: 2s
    steps:
      - apply:
          manifest: {{apiVersion: v1, kind: ConfigMap, metadata: {{name: cfg}}}}
      - wait:
          ref: {{apiVersion: v1, kind: Pod, name: never}}
          condition: {{type: Ready, status: \"True\"}}
          timeout: 1m
"
    ));
    let r = engine::run(env.opts(&id)).await.expect("run");
    match &case(&r, "it::wait-expires").outcome {
        Outcome::Failed { step, message } => {
            assert!(step.as_deref().unwrap_or("").starts_with("wait configmap/"), "{step:?}");
            assert!(message.contains("timed out: waited 1.5s for configmap/"), "{message}");
            assert!(message.contains("field $.data.ready; last seen: $.data.ready equals \"yes\": found nothing"), "{message}");
        }
        o => panic!("{o:?}"),
    }
    let c = case(&r, "it::case-deadline");
    match &c.outcome {
        Outcome::TimedOut { step, after_ms } => {
            assert!(step.as_deref().unwrap_or("").contains("Ready=True"), "{step:?}");
            assert!((2000..30_000).contains(after_ms), "{after_ms}");
        }
        o => panic!("{o:?}"),
    }
    assert!(env.leftovers(&id).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn missing_features_skip_with_reasons_read_from_the_cluster() {
    let Some(env) = env("eng-feat").await else { return };
    env.cilium_config(&[("kube-proxy-replacement", "true"), ("enable-wireguard", "false")]).await;
    let id = run_id("d");
    env.suite(&format!(
        "{HEAD}  - name: kpr
    requires: [kubeProxyReplacement]
    steps:
      - assert:
          ref: {{apiVersion: v1, kind: ConfigMap, namespace: {ns}, name: cilium-config}}
          that: [{{path: \"$.data['enable-wireguard']\", equals: \"false\"}}]
  - name: wg
    requires: [wireguard, multiNode]
    steps:
      - assert:
          ref: {{apiVersion: v1, kind: Node}}
          that: [{{path: $.items, count: {{min: 2}}}}]
  - name: probes
    steps:
      - probe:
          action: {{http: {{url: \"http://127.0.0.1:8080/\"}}}}
  - name: lb
    requires: [lbIpam]
    steps:
      - assert:
          ref: {{apiVersion: v1, kind: Node}}
          that: [{{path: $.items, count: {{min: 0}}}}]
",
        ns = env.ns
    ));
    let r = engine::run(env.opts(&id)).await.expect("run");
    assert_eq!(case(&r, "it::kpr").outcome, Outcome::Passed);
    let reason = |id: &str| match &case(&r, id).outcome {
        Outcome::Skipped { reason } => reason.clone(),
        o => panic!("{id}: {o:?}"),
    };
    let wg = reason("it::wg");
    assert!(wg.contains("requires wireguard: cilium-config has enable-wireguard=\"false\""), "{wg}");
    assert!(wg.contains("requires multiNode: the cluster has"), "{wg}");
    assert_eq!(reason("it::probes"), "needs probeAgent: the run has no probe agent image; give --agent-image (or INFRAFLUX_AGENT_IMAGE)");
    assert!(reason("it::lb").contains("requires lbIpam: CRD ciliumloadbalancerippools.cilium.io is not installed"));
    let console = std::fs::read_to_string(env.dir.path().join(format!("console-{id}.log"))).expect("console log");
    assert!(
        console.lines().any(|l| l.contains("[requires wireguard]") && l.contains("it::wg") && l.ends_with("ignored")),
        "{console}"
    );
    assert_eq!(engine::exit_status(&r).code(), 0);
}

/// The same cluster judged against a profile: a feature it enables and the
/// cluster lacks fails the case with the evidence; one it disables skips
/// the case naming the field; the probe agent is still the run's to give.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_profile_turns_missing_features_into_failures() {
    let Some(env) = env("eng-contract").await else { return };
    env.cilium_config(&[("kube-proxy-replacement", "true"), ("enable-wireguard", "false"), ("enable-hubble", "false")])
        .await;
    let id = run_id("c");
    env.suite(&format!(
        "{HEAD}  - name: wg
    requires: [wireguard]
    steps:
      - assert:
          ref: {{apiVersion: v1, kind: Namespace, name: default}}
          that: [{{path: $.metadata.name, equals: default}}]
  - name: hubble
    requires: [hubble]
    steps:
      - assert:
          ref: {{apiVersion: v1, kind: Namespace, name: default}}
          that: [{{path: $.metadata.name, equals: default}}]
  - name: kpr-probe
    requires: [kubeProxyReplacement]
    steps:
      - probe:
          action: {{http: {{url: \"http://127.0.0.1:8080/\"}}}}
"
    ));
    let mut profile = infraflux_model::profile::load_default().expect("default profile").profile;
    profile.features.wireguard = false;
    profile.features.node_encryption = false;
    let opts = RunOptions {
        expectations: Some(infraflux_model::contract::Expectations::from_profile(&profile)),
        ..env.opts(&id)
    };
    let r = engine::run(opts).await.expect("run");
    assert_eq!(case(&r, "it::wg").outcome, Outcome::Skipped { reason: "profile: features.wireguard is false".into() });
    assert_eq!(
        case(&r, "it::hubble").outcome,
        Outcome::Failed { step: None, message: "profile enables hubble; cluster: cilium-config has enable-hubble=\"false\"".into() }
    );
    match &case(&r, "it::kpr-probe").outcome {
        Outcome::Skipped { reason } => assert!(reason.contains("give --agent-image"), "{reason}"),
        o => panic!("{o:?}"),
    }
    let console = std::fs::read_to_string(env.dir.path().join(format!("console-{id}.log"))).expect("console log");
    assert!(console.lines().any(|l| l.contains("it::hubble") && l.ends_with("FAILED")), "{console}");
    assert_eq!(engine::exit_status(&r).code(), 1);
    assert!(env.leftovers(&id).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shipped_suites_skip_cleanly_on_a_cluster_without_cilium() {
    let Some(env) = env("eng-ship").await else { return };
    let id = run_id("e");
    let opts = RunOptions {
        suites_dir: paths::suites_dir(),
        ..env.opts(&id)
    };
    let r = engine::run(opts).await.expect("run");
    assert!(r.cases.len() >= 10, "{}", r.cases.len());
    for c in &r.cases {
        match &c.outcome {
            // Missing features, or `ignore:` (disruptive cases such as a node drain).
            Outcome::Skipped { reason } => {
                assert!(reason.contains("requires ") || reason.starts_with("ignored: "), "{}: {reason}", c.id);
                assert!(!reason.contains("RunOptions"), "reasons name flags, not internals: {reason}");
            }
            o => panic!("{}: {o:?}", c.id),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lease_lock_blocks_a_second_run_and_goes_stale() {
    let Some(env) = env("eng-lock").await else { return };
    env.suite(&format!(
        "{HEAD}  - name: trivial
    steps:
      - assert:
          ref: {{apiVersion: v1, kind: Namespace, name: default}}
          that: [{{path: $.metadata.name, equals: default}}]
"
    ));
    let cluster = env.cluster().await;
    let held = cluster.acquire_lock(&env.ns, "other-run", Duration::from_secs(2)).await.expect("first lock");
    let id = run_id("f");
    let err = engine::run(env.opts(&id)).await.expect_err("second run must be refused");
    assert_eq!(err.exit_status().code(), 3);
    let text = format!("{:?}", err);
    assert!(text.contains("Locked") && text.contains("other-run"), "{text}");

    // Stop renewing without releasing (a crashed run): the lease goes stale.
    drop(held);
    tokio::time::sleep(Duration::from_secs(4)).await;
    let r = engine::run(env.opts(&id)).await.expect("stale lock is taken over");
    assert_eq!(r.run_id, id);
    assert_eq!(case(&r, "it::trivial").outcome, Outcome::Passed);
    // Released at the end: the lease is gone.
    let leases: Api<k8s_openapi::api::coordination::v1::Lease> = Api::namespaced(env.client.clone(), &env.ns);
    assert!(leases.get_opt(lock::LOCK_NAME).await.expect("get").is_none());
}

/// Delegates to the real backend but panics in steps named `panic…`.
struct Panicky(KubeBackend);

impl Backend for Panicky {
    async fn setup(&self, ctx: &CaseCtx, t: Duration) -> Result<(), StepError> {
        self.0.setup(ctx, t).await
    }
    async fn run_step(&self, ctx: &CaseCtx, step: &Step, t: Duration) -> Result<Option<String>, StepError> {
        if step.display_name().starts_with("panic") {
            panic!("injected panic");
        }
        self.0.run_step(ctx, step, t).await
    }
    async fn cleanup(&self, ctx: &CaseCtx, t: Duration) -> Result<(), String> {
        self.0.cleanup(ctx, t).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn panicking_step_and_interrupted_run_still_clean_up() {
    let Some(env) = env("eng-panic").await else { return };
    env.suite(&format!(
        "{HEAD}  - name: panics
    steps:
      - apply:
          manifest: {{apiVersion: v1, kind: ConfigMap, metadata: {{name: before-panic}}}}
      - assert:
          name: panic-now
          ref: {{apiVersion: v1, kind: Node}}
          that: [{{path: $.items, exists: true}}]
  - name: interrupted
    steps:
      - apply:
          manifest: {{apiVersion: v1, kind: ConfigMap, metadata: {{name: before-cancel}}}}
      - wait:
          ref: {{apiVersion: v1, kind: ConfigMap, name: before-cancel}}
          field: {{path: $.data.never, exists: true}}
          timeout: 5m
  - name: not-started
    steps:
      - apply:
          manifest: {{apiVersion: v1, kind: ConfigMap, metadata: {{name: never}}}}
"
    ));
    let id = run_id("g");
    let opts = env.opts(&id);
    let suites = suite::load_dir(&opts.suites_dir, &opts.fixtures_dir).expect("load");
    let backend = Arc::new(Panicky(KubeBackend::new(env.cluster().await, None)));
    // Cancel once the interrupted case's ConfigMap exists (it is mid-wait then).
    let token = opts.cancel.clone();
    let watcher_client = env.client.clone();
    let run = id.clone();
    tokio::spawn(async move {
        let cms: Api<ConfigMap> = Api::all(watcher_client);
        let sel = format!("infraflux.io/run-id={run},infraflux.io/case=it.interrupted");
        for _ in 0..600 {
            let found = cms.list(&kube::api::ListParams::default().labels(&sel)).await.map(|l| l.items.len()).unwrap_or(0);
            if found > 0 {
                token.cancel();
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let r = engine::execute(&opts, backend, &suites, None, &id).await.expect("execute");
    match &case(&r, "it::panics").outcome {
        Outcome::Failed { step, message } => {
            assert_eq!(step.as_deref(), Some("panic-now"));
            assert!(message.contains("step panicked: injected panic"), "{message}");
        }
        o => panic!("{o:?}"),
    }
    match &case(&r, "it::interrupted").outcome {
        Outcome::Failed { message, .. } => assert!(message.contains("interrupted"), "{message}"),
        o => panic!("{o:?}"),
    }
    assert_eq!(
        case(&r, "it::not-started").outcome,
        Outcome::Failed { step: None, message: "not run: the run was interrupted before this case started".into() }
    );
    // Per-case cleanup alone (no final sweep here) removed everything.
    assert!(env.leftovers(&id).await.is_empty(), "{:?}", env.leftovers(&id).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_cluster_is_exit_3_and_bad_suite_is_exit_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let kc = dir.path().join("kubeconfig");
    // Port 1 on loopback: nothing listens, the connection is refused.
    std::fs::write(
        &kc,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: 'https://127.0.0.1:1', insecure-skip-tls-verify: true}\nusers:\n- name: u\n  user: {token: not-a-real-token}\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\ncurrent-context: x\n",
    )
    .expect("write kubeconfig");
    let suites = dir.path().join("suites");
    std::fs::create_dir(&suites).expect("mkdir");
    std::fs::write(suites.join("ok.yaml"), format!("{HEAD}  - name: a\n    steps:\n      - assert: {{ref: {{apiVersion: v1, kind: Node}}, that: [{{path: $.items, exists: true}}]}}\n")).expect("write");
    let opts = RunOptions {
        suites_dir: suites.clone(),
        fixtures_dir: fixtures(),
        kubeconfig: Some(kc),
        ..RunOptions::default()
    };
    let (sink, events) = collect_events();
    let err = engine::run(RunOptions { events: sink, ..opts.clone() }).await.expect_err("unreachable");
    assert!(matches!(err, EngineError::Cluster(infraflux_kube::Error::Unreachable { .. })), "{err:?}");
    assert_eq!(err.exit_status().code(), 3);
    // Reporters hear why: started, then the setup failure with the cause.
    let events = events.lock().expect("events").clone();
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(matches!(&events[0], RunEvent::Started { .. }));
    assert!(matches!(&events[1], RunEvent::SetupFailed { message } if message.contains("127.0.0.1:1")), "{events:?}");

    std::fs::write(suites.join("bad.yaml"), format!("{HEAD}  - name: a\n    steps:\n      - sleep: 5s\n")).expect("write");
    let (sink, events) = collect_events();
    let err = engine::run(RunOptions { events: sink, ..opts }).await.expect_err("bad input");
    assert_eq!(err.exit_status().code(), 2);
    assert!(events.lock().expect("events").is_empty(), "bad input starts no run");
    assert_eq!(err.findings()[0].rule, "SUITE-001");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_concurrent_runs_one_is_refused() {
    let Some(env) = env("eng-race").await else { return };
    env.suite(&format!(
        "{HEAD}  - name: holds-a-while
    steps:
      - apply:
          manifest: {{apiVersion: v1, kind: ConfigMap, metadata: {{name: cfg}}}}
      - wait:
          ref: {{apiVersion: v1, kind: ConfigMap, name: cfg}}
          field: {{path: $.data.x, exists: true}}
          timeout: 3s
"
    ));
    let (a, b) = (run_id("h"), run_id("i"));
    let (ra, rb) = tokio::join!(engine::run(env.opts(&a)), engine::run(env.opts(&b)));
    let refused: Vec<&EngineError> = [&ra, &rb].into_iter().filter_map(|r| r.as_ref().err()).collect();
    assert_eq!(refused.len(), 1, "exactly one run must be refused: {ra:?} / {rb:?}");
    assert!(
        matches!(refused[0], EngineError::Cluster(infraflux_kube::Error::Locked { .. })),
        "{:?}",
        refused[0]
    );
    assert_eq!(refused[0].exit_status().code(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_credentials_are_exit_3() {
    let Some(env) = env("eng-auth").await else { return };
    let kc = env.dir.path().join("bad-kubeconfig");
    std::fs::write(
        &kc,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {{server: '{}', insecure-skip-tls-verify: true}}\nusers:\n- name: u\n  user: {{token: not-a-real-token}}\ncontexts:\n- name: x\n  context: {{cluster: c, user: u}}\ncurrent-context: x\n",
            env.cp.server_url()
        ),
    )
    .expect("write kubeconfig");
    env.suite(&format!("{HEAD}  - name: a\n    steps:\n      - assert: {{ref: {{apiVersion: v1, kind: Node}}, that: [{{path: $.items, exists: true}}]}}\n"));
    let err = engine::run(RunOptions { kubeconfig: Some(kc), ..env.opts(&run_id("j")) }).await.expect_err("auth");
    assert!(matches!(err, EngineError::Cluster(infraflux_kube::Error::Auth { code: 401, .. })), "{err:?}");
    assert_eq!(err.exit_status().code(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleanup_only_removes_leftovers_of_a_crashed_run() {
    let Some(env) = env("eng-sweep").await else { return };
    let crashed = run_id("k");
    // What a killed run would leave: a labelled namespace with an object in it.
    let c = env.cluster().await;
    let labels = infraflux_kube::harness_labels(&crashed, Some("it.crashed"));
    let ns = engine::namespace_for(&crashed, "it::crashed", 1);
    c.ensure_namespace(&ns, &labels).await.expect("ns");
    c.apply(&serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "left"}}), &ns, &labels)
        .await
        .expect("cm");
    assert_eq!(env.leftovers(&crashed).await.len(), 2);
    let n = engine::cleanup_only(&env.opts(&run_id("l")), Some(&crashed)).await.expect("cleanup");
    assert_eq!(n, 2);
    assert!(env.leftovers(&crashed).await.is_empty());
}

/// What a killed holder of the same lock left is swept by the next run
/// once it holds the lock; objects of other locks (other live runs) stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_next_lock_holder_sweeps_what_a_killed_run_left() {
    let Some(env) = env("eng-stale").await else { return };
    let c = env.cluster().await;
    let killed = run_id("m");
    let mut labels = infraflux_kube::harness_labels(&killed, Some("it.killed"));
    labels.insert(infraflux_kube::LOCK.to_owned(), env.ns.clone());
    let left = c
        .apply(&serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "killed-left"}}), &env.ns, &labels)
        .await
        .expect("leftover");
    let mut other = infraflux_kube::harness_labels(&killed, Some("it.other"));
    other.insert(infraflux_kube::LOCK.to_owned(), "some-other-lock".into());
    let kept = c
        .apply(&serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "other-lock"}}), &env.ns, &other)
        .await
        .expect("other lock's object");
    env.suite(&format!("{HEAD}  - name: a\n    steps:\n      - assert: {{ref: {{apiVersion: v1, kind: Namespace, name: default}}, that: [{{path: $.metadata.name, equals: default}}]}}\n"));
    let r = engine::run(env.opts(&run_id("n"))).await.expect("run");
    assert_eq!(case(&r, "it::a").outcome, Outcome::Passed);
    let kind = c.resolve("v1", "ConfigMap").await.expect("kind");
    assert!(c.get(&kind, Some(&env.ns), &left.name).await.expect("get").is_none(), "the killed run's object is swept");
    assert!(c.get(&kind, Some(&env.ns), &kept.name).await.expect("get").is_some(), "another lock's object stays");
    c.delete(&kept).await.expect("delete");
}

/// The run's own BGP router through `engine::run`: bound before the cases
/// (so `bgpPeer` is detected), a loopback "node" that re-announces a VIP
/// after every reset, and a case that resets the sessions and measures the
/// way back with the kube backend's bgpPeer and disrupt executors.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bgp_session_reset_runs_through_the_kube_backend() {
    use std::net::Ipv4Addr;
    let Some(env) = env("eng-bgp").await else { return };
    // A fixed loopback port: the run binds it itself and the node must know it.
    let listen: std::net::SocketAddr = (Ipv4Addr::LOCALHOST, 17_917).into();
    let node = tokio::spawn(async move {
        let speaker = infraflux_engine::bgp::Speaker::new(infraflux_engine::bgp::Config::new(
            65010,
            Ipv4Addr::new(2, 2, 2, 2),
            Ipv4Addr::LOCALHOST,
        ))
        .expect("speaker");
        loop {
            let Ok(s) = speaker.connect(listen).await else {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            let _ = s.advertise(&["198.51.100.34/32".parse().expect("prefix")]).await;
            let _ = s.wait_down(Duration::from_secs(3600)).await;
        }
    });
    let id = run_id("r");
    env.suite(&format!(
        "{HEAD}  - name: reset
    vars: {{lbIp: 198.51.100.34, maxDowntimeBgpPeerLossMs: \"60000\"}}
    steps:
      - bgpPeer: {{received: [\"{{{{lbIp}}}}/32\"], timeout: 20s}}
      - disrupt: {{action: {{bgpSessionReset: {{}}}}}}
      - bgpPeer: {{name: back, received: [\"{{{{lbIp}}}}/32\"], metric: it.bgp.routes_back, timeout: 20s}}
      - assert: {{probe: back, that: [{{path: $.elapsed_ms, range: {{max: \"{{{{maxDowntimeBgpPeerLossMs}}}}\"}}}}]}}
"
    ));
    let opts = RunOptions {
        bgp: Some(engine::steps::bgp::BgpSettings {
            listen,
            config: infraflux_engine::bgp::Config::new(65000, Ipv4Addr::new(1, 1, 1, 1), Ipv4Addr::LOCALHOST),
        }),
        ..env.opts(&id)
    };
    let r = engine::run(opts).await.expect("run");
    node.abort();
    let res = case(&r, "it::reset");
    assert_eq!(res.outcome, Outcome::Passed, "{res:#?}");
    let reset = res.steps.iter().find(|s| s.kind == "disrupt").expect("disrupt step");
    assert_eq!(reset.message.as_deref(), Some("reset 1 established bgp session(s) with Cease/Administrative Reset"));
    assert_eq!(r.perf.len(), 1, "{:?}", r.perf);
    assert_eq!((r.perf[0].metric.as_str(), r.perf[0].unit.as_str()), ("it.bgp.routes_back", "ms"));
    assert_eq!(env.leftovers(&id).await, Vec::<String>::new());
}
