//! Runner logic without a cluster: a scripted backend whose behaviour is
//! chosen by step name, recording every call so ordering (catch only after
//! failure, finally always, cleanup after timeouts/panics/interrupts) can be
//! asserted.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::*;
use super::capabilities::Detected;
use crate::suite::{Feature, Step};

#[derive(Default)]
struct Scripted {
    events: Mutex<Vec<String>>,
}

impl Scripted {
    fn log(&self, e: String) {
        self.events.lock().unwrap().push(e);
    }
    fn events(&self) -> Vec<String> {
        self.events.lock().unwrap().clone()
    }
}

/// Scripted pods: three Cilium agents in kube-system on n1..n3, the case
/// pod `client` on n2, a `lonely` case pod on a node without agents. The
/// command decides the outcome: `status` prints a Cilium-like status with
/// peers = 2, `exit-1-on-b` exits 1 in cilium-b, `refuse` is refused.
impl steps::exec::Pods for Scripted {
    async fn node_of(&self, _namespace: &str, pod: &str) -> Result<String, crate::cluster::Error> {
        match pod {
            "client" => Ok("n2".into()),
            "lonely" => Ok("n9".into()),
            other => Err(crate::cluster::Error::InvalidObject(format!("pod {other} not found"))),
        }
    }

    async fn select(
        &self,
        namespace: &str,
        selector: &str,
        node: Option<&str>,
    ) -> Result<Vec<crate::cluster::exec::PodOnNode>, crate::cluster::Error> {
        self.log(format!("select {namespace} {selector} {}", node.unwrap_or("*")));
        if namespace != "kube-system" || selector != "k8s-app=cilium" {
            return Ok(Vec::new());
        }
        Ok([("cilium-a", "n1"), ("cilium-b", "n2"), ("cilium-c", "n3")]
            .into_iter()
            .filter(|(_, n)| node.is_none_or(|want| want == *n))
            .map(|(name, node)| crate::cluster::exec::PodOnNode { name: name.into(), node: node.into() })
            .collect())
    }

    async fn exec(
        &self,
        namespace: &str,
        pod: &str,
        container: Option<&str>,
        argv: Vec<String>,
    ) -> Result<crate::cluster::exec::ExecOutput, crate::cluster::Error> {
        self.log(format!("exec {namespace}/{pod} {} {}", container.unwrap_or("-"), argv.join(" ")));
        let out = |code, stdout: &str, stderr: &str| crate::cluster::exec::ExecOutput {
            exit_code: Some(code),
            stdout: stdout.into(),
            stderr: stderr.into(),
            not_run: None,
        };
        match argv.first().map(String::as_str) {
            Some("status") => Ok(out(
                0,
                r#"{"encryption":{"mode":"Wireguard","wireguard":{"interfaces":[{"name":"cilium_wg0","peer-count":2}]}}}"#,
                "",
            )),
            Some("lines") => Ok(out(0, "{\"flow\":1}\n{\"flow\":2}\n", "")),
            Some("exit-1-on-b") if pod == "cilium-b" => Ok(out(1, "", "no such thing")),
            Some("exit-1-on-b") => Ok(out(0, "fine", "")),
            Some("refuse") => Err(crate::cluster::Error::Exec {
                pod: format!("{namespace}/{pod}"),
                message: "node has no kubelet".into(),
            }),
            Some("hang") => std::future::pending().await,
            Some("missing") => Ok(crate::cluster::exec::ExecOutput {
                exit_code: None,
                stdout: String::new(),
                stderr: String::new(),
                not_run: Some("executable file not found in $PATH".into()),
            }),
            other => Err(crate::cluster::Error::Exec {
                pod: format!("{namespace}/{pod}"),
                message: format!("unscripted command {other:?}"),
            }),
        }
    }
}

impl Backend for Scripted {
    async fn node_count(&self, _t: Duration) -> Result<Option<u32>, StepError> {
        Ok(Some(3))
    }

    async fn setup(&self, ctx: &CaseCtx, _t: Duration) -> Result<(), StepError> {
        self.log(format!("setup {} a{}", ctx.id, ctx.attempt));
        Ok(())
    }

    async fn run_step(&self, ctx: &CaseCtx, step: &Step, timeout: Duration) -> Result<Option<String>, StepError> {
        // The real exec step and report asserts, over scripted pods.
        match step {
            Step::Exec(e) => return steps::exec::run(self, ctx, e, timeout).await,
            Step::Assert(a) if a.probe.is_some() => return steps::exec::check_report(ctx, a),
            _ => {}
        }
        let name = step.display_name();
        self.log(format!("step {} {name}", ctx.id));
        if name.starts_with("pass") {
            Ok(None)
        } else if name.starts_with("fail") {
            Err(StepError::invalid(format!("{name} failed")))
        } else if name.starts_with("hang") {
            tokio::time::sleep(timeout).await;
            Err(StepError::TimedOut {
                what: "the hanging thing".into(),
                after: timeout,
                last_seen: Some("nothing".into()),
            })
        } else if name.starts_with("forever") {
            std::future::pending::<()>().await;
            Ok(None)
        } else if name.starts_with("panic") {
            panic!("boom in {name}");
        } else if let Some(n) = name.strip_prefix("flaky-") {
            let fails: u32 = n.parse().unwrap();
            if ctx.attempt <= fails { Err(StepError::invalid("flaked")) } else { Ok(None) }
        } else {
            Err(StepError::invalid(format!("unscripted step {name}")))
        }
    }

    async fn cleanup(&self, ctx: &CaseCtx, _t: Duration) -> Result<(), String> {
        self.log(format!("cleanup {} a{} {}", ctx.id, ctx.attempt, ctx.namespace));
        Ok(())
    }
}

fn step(name: &str) -> String {
    format!("      - assert: {{name: {name}, ref: {{apiVersion: v1, kind: Node}}, that: [{{path: $.items, exists: true}}]}}\n")
}

/// A case: name, extra YAML lines (indented 4), steps, catch, finally.
struct C<'a> {
    name: &'a str,
    extra: &'a str,
    steps: &'a [&'a str],
    catch: &'a [&'a str],
    finally: &'a [&'a str],
}

fn c<'a>(name: &'a str, steps: &'a [&'a str]) -> C<'a> {
    C { name, extra: "", steps, catch: &[], finally: &[] }
}

fn suite_yaml(name: &str, cases: &[C]) -> String {
    let mut y = format!("apiVersion: infraflux.io/v1alpha1\nkind: Suite\nmetadata:\n  name: {name}\ncases:\n");
    for k in cases {
        y.push_str(&format!("  - name: {}\n", k.name));
        for l in k.extra.lines() {
            y.push_str(&format!("    {l}\n"));
        }
        for (key, list) in [("steps", k.steps), ("catch", k.catch), ("finally", k.finally)] {
            if !list.is_empty() {
                y.push_str(&format!("    {key}:\n"));
                for s in list {
                    y.push_str(&step(s));
                }
            }
        }
    }
    y
}

fn load(yaml: &str) -> Vec<LoadedSuite> {
    vec![suite::load_str("t.yaml", yaml, std::path::Path::new("/nonexistent")).unwrap_or_else(|e| panic!("{:?}", e.0))]
}

fn opts() -> RunOptions {
    // Keep libtest-mimic's own report (with its deliberate failures) out of
    // this test binary's stdout.
    let log = std::env::temp_dir().join(format!("infraflux-engine-test-{:08x}.log", rand::random::<u32>()));
    RunOptions { test_threads: Some(1), console_log: Some(log), ..RunOptions::default() }
}

async fn exec(o: &RunOptions, suites: &[LoadedSuite], detected: Option<&Detected>) -> (RunResults, Arc<Scripted>) {
    let b = Arc::new(Scripted::default());
    let r = execute(o, b.clone(), suites, detected, "20260101T000000Z-abcdef").await.unwrap();
    if let Some(log) = &o.console_log {
        let _ = std::fs::remove_file(log);
    }
    (r, b)
}

fn outcome<'a>(r: &'a RunResults, id: &str) -> &'a CaseResult {
    r.cases.iter().find(|c| c.id == id).unwrap_or_else(|| panic!("no result for {id}: {r:#?}"))
}

fn ids(r: &RunResults) -> Vec<&str> {
    r.cases.iter().map(|c| c.id.as_str()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_skip_and_exact_select_cases() {
    let s = load(&suite_yaml("net", &[c("alpha", &["pass"]), c("alphabet", &["pass"]), c("beta", &["pass"])]));
    let (r, _) = exec(&RunOptions { filters: vec!["alpha".into()], ..opts() }, &s, None).await;
    assert_eq!(ids(&r), ["net::alpha", "net::alphabet"]);

    let (r, _) = exec(&RunOptions { filters: vec!["net::alpha".into()], exact: true, ..opts() }, &s, None).await;
    assert_eq!(ids(&r), ["net::alpha"]);

    let (r, _) = exec(&RunOptions { skip: vec!["alpha".into()], ..opts() }, &s, None).await;
    assert_eq!(ids(&r), ["net::beta"]);

    let (r, _) = exec(&RunOptions { skip: vec!["net::alpha".into()], exact: true, ..opts() }, &s, None).await;
    assert_eq!(ids(&r), ["net::alphabet", "net::beta"]);
    assert!(r.cases.iter().all(|c| c.outcome == Outcome::Passed));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ignored_cases_skip_with_reason_unless_requested() {
    let s = load(&suite_yaml(
        "bgp",
        &[C { extra: "ignore: disruptive, blocks TCP/179", ..c("failover", &["pass"]) }, c("peers", &["pass"])],
    ));
    let (r, b) = exec(&opts(), &s, None).await;
    assert_eq!(
        outcome(&r, "bgp::failover").outcome,
        Outcome::Skipped { reason: "ignored: disruptive, blocks TCP/179".into() }
    );
    assert_eq!(outcome(&r, "bgp::peers").outcome, Outcome::Passed);
    assert!(!b.events().iter().any(|e| e.contains("failover")), "{:?}", b.events());

    let (r, _) = exec(&RunOptions { ignored: true, ..opts() }, &s, None).await;
    assert_eq!(ids(&r), ["bgp::failover"]);
    assert_eq!(r.cases[0].outcome, Outcome::Passed);

    let (r, _) = exec(&RunOptions { include_ignored: true, ..opts() }, &s, None).await;
    assert!(r.cases.iter().all(|c| c.outcome == Outcome::Passed) && r.cases.len() == 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_requirement_skips_with_detected_reason() {
    let s = load(&suite_yaml("wg", &[C { extra: "requires: [wireguard]", ..c("encrypted", &["pass"]) }, c("plain", &["pass"])]));
    let mut d = Detected::default();
    d.features.insert(Feature::Wireguard, Err("cilium-config has enable-wireguard=\"false\"".into()));
    let o = opts();
    let b = Arc::new(Scripted::default());
    let r = execute(&o, b.clone(), &s, Some(&d), "20260101T000000Z-abcdef").await.unwrap();
    let console = std::fs::read_to_string(o.console_log.as_ref().unwrap()).unwrap();
    let _ = std::fs::remove_file(o.console_log.as_ref().unwrap());
    assert!(console.contains("[requires wireguard] wg::encrypted ... ignored"), "{console}");
    assert_eq!(
        outcome(&r, "wg::encrypted").outcome,
        Outcome::Skipped { reason: "requires wireguard: cilium-config has enable-wireguard=\"false\"".into() }
    );
    assert_eq!(outcome(&r, "wg::encrypted").attempts, 0);
    assert_eq!(outcome(&r, "wg::plain").outcome, Outcome::Passed);
    assert!(!b.events().iter().any(|e| e.contains("encrypted")));
    assert_eq!(exit_status(&r), Status::Pass);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn step_timeout_fails_the_case_and_says_what_it_waited_for() {
    let s = load(&suite_yaml("t", &[C { extra: "timeouts: {assert: 200ms}", ..c("slow", &["pass", "hang", "pass-never"]) }]));
    let (r, b) = exec(&opts(), &s, None).await;
    let res = outcome(&r, "t::slow");
    match &res.outcome {
        Outcome::Failed { step, message } => {
            assert_eq!(step.as_deref(), Some("hang"));
            assert_eq!(message, "timed out: waited 200ms for the hanging thing; last seen: nothing");
        }
        o => panic!("unexpected {o:?}"),
    }
    let hang = res.steps.iter().find(|s| s.name == "hang").unwrap();
    assert_eq!(hang.status, "timedOut");
    // The status says "timed out"; the step's message does not repeat it.
    assert_eq!(hang.message.as_deref(), Some("waited 200ms for the hanging thing; last seen: nothing"));
    assert!(!b.events().iter().any(|e| e.contains("pass-never")));
    assert!(b.events().last().unwrap().starts_with("cleanup t::slow"));
    assert_eq!(exit_status(&r), Status::Failed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn case_timeout_cuts_a_stuck_step_then_finally_and_cleanup_run() {
    let s = load(&suite_yaml(
        "t",
        &[C { extra: "timeout: 300ms", finally: &["pass-finally"], ..c("stuck", &["pass", "forever"]) }],
    ));
    let (r, b) = exec(&opts(), &s, None).await;
    let res = outcome(&r, "t::stuck");
    match &res.outcome {
        Outcome::TimedOut { step, after_ms } => {
            assert_eq!(step.as_deref(), Some("forever"));
            assert!(*after_ms >= 300, "{after_ms}");
        }
        o => panic!("unexpected {o:?}"),
    }
    let ev = b.events();
    let fin = ev.iter().position(|e| e.ends_with("pass-finally")).expect("finally ran");
    let clean = ev.iter().position(|e| e.starts_with("cleanup")).expect("cleanup ran");
    assert!(fin < clean, "{ev:?}");
    assert_eq!(res.steps.iter().find(|s| s.name == "forever").unwrap().status, "timedOut");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_are_bounded_recorded_and_each_attempt_is_cleaned() {
    let s = load(&suite_yaml(
        "r",
        &[
            C { extra: "retries: 2", ..c("recovers", &["flaky-2"]) },
            C { extra: "retries: 1", ..c("gives-up", &["flaky-5"]) },
        ],
    ));
    let (r, b) = exec(&opts(), &s, None).await;
    assert_eq!(outcome(&r, "r::recovers").outcome, Outcome::Passed);
    assert_eq!(outcome(&r, "r::recovers").attempts, 3);
    assert!(outcome(&r, "r::gives-up").outcome.is_failure());
    assert_eq!(outcome(&r, "r::gives-up").attempts, 2);
    let cleanups: Vec<String> = b.events().into_iter().filter(|e| e.starts_with("cleanup r::recovers")).collect();
    assert_eq!(cleanups.len(), 3);
    // Every attempt gets its own namespace.
    let nss: std::collections::BTreeSet<&str> = cleanups.iter().map(|e| e.rsplit(' ').next().unwrap()).collect();
    assert_eq!(nss.len(), 3, "{cleanups:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panicking_step_fails_the_case_and_cleanup_still_runs() {
    let s = load(&suite_yaml("p", &[c("boom", &["pass", "panic-here"]), c("after", &["pass"])]));
    let (r, b) = exec(&opts(), &s, None).await;
    match &outcome(&r, "p::boom").outcome {
        Outcome::Failed { step, message } => {
            assert_eq!(step.as_deref(), Some("panic-here"));
            assert!(message.contains("step panicked: boom in panic-here"), "{message}");
        }
        o => panic!("unexpected {o:?}"),
    }
    assert!(b.events().iter().any(|e| e.starts_with("cleanup p::boom")));
    assert_eq!(outcome(&r, "p::after").outcome, Outcome::Passed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catch_runs_only_after_failure_and_finally_always() {
    let s = load(&suite_yaml(
        "f",
        &[
            C { catch: &["pass-catch-ok"], finally: &["pass-finally-ok"], ..c("ok", &["pass"]) },
            C { catch: &["pass-catch-bad"], finally: &["pass-finally-bad"], ..c("bad", &["fail-1", "pass-skipped"]) },
            C { finally: &["fail-in-finally"], ..c("finally-fails", &["pass"]) },
        ],
    ));
    let (r, b) = exec(&opts(), &s, None).await;
    let ev = b.events();
    assert!(!ev.iter().any(|e| e.ends_with("pass-catch-ok")), "{ev:?}");
    assert!(ev.iter().any(|e| e.ends_with("pass-finally-ok")));
    let idx = |s: &str| ev.iter().position(|e| e.ends_with(s)).unwrap_or_else(|| panic!("{s} missing: {ev:?}"));
    assert!(idx("fail-1") < idx("pass-catch-bad") && idx("pass-catch-bad") < idx("pass-finally-bad"));
    assert!(!ev.iter().any(|e| e.ends_with("pass-skipped")));
    match &outcome(&r, "f::bad").outcome {
        Outcome::Failed { step, .. } => assert_eq!(step.as_deref(), Some("fail-1")),
        o => panic!("{o:?}"),
    }
    match &outcome(&r, "f::finally-fails").outcome {
        Outcome::Failed { message, .. } => assert!(message.starts_with("finally: "), "{message}"),
        o => panic!("{o:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_interrupts_the_running_case_cleans_up_and_fails_the_rest_as_not_run() {
    let s = load(&suite_yaml("i", &[c("a-running", &["pass", "forever"]), c("b-later", &["pass"])]));
    let o = opts();
    let token = o.cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        token.cancel();
    });
    let b = Arc::new(Scripted::default());
    let r = execute(&o, b.clone(), &s, None, "20260101T000000Z-abcdef").await.unwrap();
    let log = o.console_log.clone().unwrap();
    let console = std::fs::read_to_string(&log).unwrap();
    let _ = std::fs::remove_file(&log);
    match &outcome(&r, "i::a-running").outcome {
        Outcome::Failed { message, step } => {
            assert!(message.contains("interrupted"), "{message}");
            assert_eq!(step.as_deref(), Some("forever"));
        }
        o => panic!("{o:?}"),
    }
    assert!(b.events().iter().any(|e| e.starts_with("cleanup i::a-running")));
    assert_eq!(
        outcome(&r, "i::b-later").outcome,
        Outcome::Failed { step: None, message: "not run: the run was interrupted before this case started".into() }
    );
    assert_eq!(exit_status(&r), Status::Failed);
    // The console agrees: nothing that never ran reads `ok`.
    assert!(console.lines().any(|l| l.starts_with("test i::b-later") && l.ends_with("FAILED")), "{console}");
    assert!(console.contains("0 passed; 2 failed"), "{console}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn global_deadline_bounds_the_run() {
    let s = load(&suite_yaml("d", &[C { extra: "timeout: 1m", ..c("long", &["forever"]) }, c("next", &["pass"])]));
    let o = RunOptions { deadline: Some(Duration::from_millis(300)), ..opts() };
    let started = std::time::Instant::now();
    let (r, b) = exec(&o, &s, None).await;
    assert!(started.elapsed() < Duration::from_secs(20), "{:?}", started.elapsed());
    assert!(matches!(outcome(&r, "d::long").outcome, Outcome::TimedOut { .. }));
    assert_eq!(outcome(&r, "d::next").outcome, Outcome::TimedOut { step: None, after_ms: 0 });
    assert!(b.events().iter().any(|e| e.starts_with("cleanup d::long")));
}

#[test]
fn namespaces_are_valid_unique_and_bounded() {
    let a = namespace_for("20260101T000000Z-abcdef", "gateway::gateway-programmed-route-attached-with-a-very-long-name", 1);
    let b = namespace_for("20260101T000000Z-abcdef", "gateway::gateway-programmed-route-attached-with-a-very-long-name", 2);
    assert_ne!(a, b);
    assert!(a.len() <= 63, "{a}");
    assert!(a.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'), "{a}");
    assert!(a.starts_with("ifx-gateway-programmed"));
}

#[test]
fn error_classes_map_to_exit_codes() {
    let input = EngineError::Input(suite::LoadError(vec![]));
    assert_eq!(input.exit_status().code(), 2);
    assert_eq!(EngineError::Options("x".into()).exit_status().code(), 2);
    let cl = EngineError::Cluster(crate::cluster::Error::Auth { code: 401, message: "Unauthorized".into() });
    assert_eq!(cl.exit_status().code(), 3);
}

#[test]
fn list_needs_no_cluster_and_applies_filters() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("s.yaml"), suite_yaml("l", &[c("one", &["pass"]), c("two", &["pass"])])).unwrap();
    let o = RunOptions { suites_dir: dir.path().into(), filters: vec!["two".into()], ..RunOptions::default() };
    let listed = list(&o).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, "l::two");
    let bad = RunOptions { suites_dir: dir.path().join("missing"), ..RunOptions::default() };
    assert_eq!(list(&bad).unwrap_err().exit_status(), Status::BadInput);
}

#[test]
fn timeouts_inherit_profile_suite_case_step() {
    let y = "apiVersion: infraflux.io/v1alpha1\nkind: Suite\nmetadata:\n  name: t\ndefaults:\n  timeout: 4m\n  timeouts: {wait: 40s, assert: 41s}\ncases:\n  - name: a\n    timeouts: {wait: 20s}\n    steps:\n      - wait: {ref: {apiVersion: v1, kind: Pod, name: p}, deleted: true}\n      - wait: {ref: {apiVersion: v1, kind: Pod, name: p}, deleted: true, timeout: 5s}\n      - assert: {ref: {apiVersion: v1, kind: Node}, that: [{path: $.items, exists: true}]}\n      - apply: {manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: x}}}\n  - name: b\n    timeout: 10s\n    steps:\n      - wait: {ref: {apiVersion: v1, kind: Pod, name: p}, deleted: true}\n";
    let s = load(y);
    let profile = TimeoutDefaults { apply: Duration::from_secs(7), ..TimeoutDefaults::default() };
    let a = &s[0].cases[0];
    let t = |i: usize| case::step_timeout(a, &a.steps[i], &profile);
    assert_eq!(t(0), Duration::from_secs(20), "case overrides suite");
    assert_eq!(t(1), Duration::from_secs(5), "step overrides case");
    assert_eq!(t(2), Duration::from_secs(41), "suite overrides profile");
    assert_eq!(t(3), Duration::from_secs(7), "profile overrides built-in");
    assert_eq!(a.timeout, Some(Duration::from_secs(240)));
    let b = &s[0].cases[1];
    assert_eq!(case::step_timeout(b, &b.steps[0], &profile), Duration::from_secs(40));
    assert_eq!(b.timeout, Some(Duration::from_secs(10)));
}

fn exec_suite(cases: &str) -> Vec<LoadedSuite> {
    load(&format!("apiVersion: infraflux.io/v1alpha1\nkind: Suite\nmetadata:\n  name: x\nrequires: [cilium]\ncases:\n{cases}"))
}

fn failure(r: &RunResults, id: &str) -> (Option<String>, String) {
    match &outcome(r, id).outcome {
        Outcome::Failed { step, message } => (step.clone(), message.clone()),
        o => panic!("{id}: expected a failure, got {o:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_reports_every_pod_and_asserts_read_it_with_node_vars() {
    let s = exec_suite(
        r#"  - name: peers
    steps:
      - exec:
          name: wg
          pods: {namespace: kube-system, labelSelector: k8s-app=cilium}
          container: cilium-agent
          command: [status, -o, json]
      - assert:
          probe: wg
          that:
            - {path: $.count, equals: "{{nodeCount}}"}
            - {path: $.pods, count: {equals: "{{nodeCount}}"}}
            - {path: "$.pods[*].stdout.encryption.wireguard.interfaces[*]['peer-count']", range: {min: "{{nodePeers}}", max: "{{nodePeers}}"}}
            - {path: "$.pods[*].exitCode", range: {max: 0}}
            - {path: "$.pods[?@.pod == 'cilium-c'].node", equals: n3}
      - assert:
          report: wg
          that: [{path: "$.pods[*].stdout.encryption.mode", equals: Wireguard}]
  - name: peers-wrong
    steps:
      - exec:
          name: wg
          pods: {namespace: kube-system, labelSelector: k8s-app=cilium}
          command: [status]
      - assert:
          probe: wg
          that: [{path: "$.pods[*].stdout.encryption.wireguard.interfaces[*]['peer-count']", equals: "{{nodeCount}}"}]
"#,
    );
    let (r, b) = exec(&opts(), &s, None).await;
    assert_eq!(outcome(&r, "x::peers").outcome, Outcome::Passed, "{:#?}", outcome(&r, "x::peers"));
    let ev = b.events();
    for pod in ["cilium-a", "cilium-b", "cilium-c"] {
        assert!(ev.iter().any(|e| e == &format!("exec kube-system/{pod} cilium-agent status -o json")), "{ev:?}");
    }
    let (step, msg) = failure(&r, "x::peers-wrong");
    assert_eq!(step.as_deref(), Some("assert probe wg"));
    assert!(msg.contains("equals 3: found 2, 2, 2") || msg.contains("equals 3"), "{msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_same_node_as_picks_the_pod_on_that_node_and_namespace_defaults_to_the_case() {
    let s = exec_suite(
        r#"  - name: local
    steps:
      - exec:
          name: here
          pods: {namespace: kube-system, labelSelector: k8s-app=cilium, sameNodeAs: client}
          command: [lines]
      - assert:
          probe: here
          that:
            - {path: "$.pods[*].pod", equals: cilium-b}
            - {path: $.count, equals: 1}
            - {path: "$.pods[0].stdout[*].flow", count: {equals: 2}}
  - name: nobody-on-that-node
    steps:
      - exec:
          name: none
          pods: {namespace: kube-system, labelSelector: k8s-app=cilium, sameNodeAs: lonely}
          command: [lines]
  - name: case-namespace
    steps:
      - exec:
          name: mine
          pods: {labelSelector: k8s-app=cilium}
          command: [lines]
          minPods: 0
      - assert: {probe: mine, that: [{path: $.count, equals: 0}]}
"#,
    );
    let (r, b) = exec(&opts(), &s, None).await;
    assert_eq!(outcome(&r, "x::local").outcome, Outcome::Passed, "{:#?}", outcome(&r, "x::local"));
    assert!(b.events().contains(&"select kube-system k8s-app=cilium n2".to_owned()), "{:?}", b.events());
    let (_, msg) = failure(&r, "x::nobody-on-that-node");
    assert!(msg.contains("0 running pod(s) match k8s-app=cilium in kube-system on node n9") && msg.contains("at least 1"), "{msg}");
    assert_eq!(outcome(&r, "x::case-namespace").outcome, Outcome::Passed);
    let ns = namespace_for("20260101T000000Z-abcdef", "x::case-namespace", 1);
    assert!(b.events().contains(&format!("select {ns} k8s-app=cilium *")), "{:?}", b.events());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_verdicts_min_pods_and_refusals_fail_with_the_pod_named() {
    let s = exec_suite(
        r#"  - name: one-pod-fails
    steps:
      - exec:
          name: e
          pods: {namespace: kube-system, labelSelector: k8s-app=cilium}
          command: [exit-1-on-b]
    catch:
      - assert: {probe: e, that: [{path: "$.pods[?@.exitCode == 1].pod", equals: cilium-b}]}
  - name: expect-fail-but-some-succeed
    steps:
      - exec:
          name: e
          pods: {namespace: kube-system, labelSelector: k8s-app=cilium}
          command: [exit-1-on-b]
          expect: fail
  - name: too-few
    steps:
      - exec:
          name: e
          pods: {namespace: kube-system, labelSelector: k8s-app=cilium}
          command: [status]
          minPods: 4
  - name: refused
    steps:
      - exec:
          name: e
          pods: {namespace: kube-system, labelSelector: k8s-app=cilium}
          command: [refuse]
  - name: hangs
    steps:
      - exec:
          name: e
          pods: {namespace: kube-system, labelSelector: k8s-app=cilium, sameNodeAs: client}
          command: [hang]
          timeout: 300ms
  - name: not-run
    steps:
      - exec:
          name: e
          pods: {namespace: kube-system, labelSelector: k8s-app=cilium}
          command: [missing]
"#,
    );
    let (r, _) = exec(&opts(), &s, None).await;
    let (step, msg) = failure(&r, "x::one-pod-fails");
    assert_eq!(step.as_deref(), Some("e"));
    assert!(msg.contains("should exit 0 in every pod: cilium-b exited 1 (stderr: no such thing)"), "{msg}");
    // The report was recorded before the verdict: catch could read it.
    let catch = outcome(&r, "x::one-pod-fails").steps.iter().find(|s| s.kind == "assert").cloned().unwrap();
    assert_eq!(catch.status, "passed", "{catch:?}");
    let (_, msg) = failure(&r, "x::expect-fail-but-some-succeed");
    assert!(msg.contains("should exit non-zero in every pod: cilium-a exited 0; cilium-c exited 0"), "{msg}");
    let (_, msg) = failure(&r, "x::too-few");
    assert!(msg.contains("3 running pod(s) match") && msg.contains("cilium-a, cilium-b, cilium-c") && msg.contains("at least 4"), "{msg}");
    let (_, msg) = failure(&r, "x::hangs");
    assert!(msg.contains("exec refused in 1 of 1 pod(s): cilium-b: exec in kube-system/cilium-b did not finish within"), "{msg}");
    let (_, msg) = failure(&r, "x::not-run");
    assert!(msg.contains("exec refused in 3 of 3 pod(s)") && msg.contains("cilium-b: the command did not run in kube-system/cilium-b: executable file not found"), "{msg}");
    let (_, msg) = failure(&r, "x::refused");
    assert!(msg.contains("exec refused in 3 of 3 pod(s)") && msg.contains("cilium-a: exec in kube-system/cilium-a failed: node has no kubelet"), "{msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn negated_requirement_skips_when_the_feature_is_detected() {
    let s = load(&suite_yaml(
        "wg",
        &[C { extra: "requires: [multiNode, \"!wireguard\"]", ..c("plaintext-visible", &["pass"]) }],
    ));
    let mut d = Detected::default();
    d.features.insert(Feature::MultiNode, Ok(()));
    d.features.insert(Feature::Wireguard, Ok(()));
    assert_eq!(s[0].cases[0].requires, vec![Feature::MultiNode]);
    assert_eq!(s[0].cases[0].excludes, vec![Feature::Wireguard]);
    let (r, b) = exec(&opts(), &s, Some(&d)).await;
    assert_eq!(
        outcome(&r, "wg::plaintext-visible").outcome,
        Outcome::Skipped { reason: "requires no wireguard: cilium-config has enable-wireguard=\"true\"".into() }
    );
    assert!(b.events().is_empty());
    d.features.insert(Feature::Wireguard, Err("cilium-config has enable-wireguard=\"false\"".into()));
    let (r, _) = exec(&opts(), &s, Some(&d)).await;
    assert_eq!(outcome(&r, "wg::plaintext-visible").outcome, Outcome::Passed);
    // Missing and excluded-but-present reasons are both given.
    d.features.insert(Feature::Wireguard, Ok(()));
    d.features.insert(Feature::MultiNode, Err("the cluster has 1 node(s), needs at least 2".into()));
    let (r, _) = exec(&opts(), &s, Some(&d)).await;
    match &outcome(&r, "wg::plaintext-visible").outcome {
        Outcome::Skipped { reason } => {
            assert!(reason.starts_with("requires multiNode: the cluster has 1 node(s)") && reason.contains("; requires no wireguard"), "{reason}")
        }
        o => panic!("{o:?}"),
    }
}

#[test]
fn list_shows_negated_requirements() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("s.yaml"),
        suite_yaml("l", &[C { extra: "requires: [multiNode, \"!wireguard\"]", ..c("one", &["pass"]) }]),
    )
    .unwrap();
    let listed = list(&RunOptions { suites_dir: dir.path().into(), ..RunOptions::default() }).unwrap();
    assert_eq!(listed[0].requires, ["multiNode", "!wireguard"]);
}

fn ctx_with(vars: &[(&str, &str)]) -> CaseCtx {
    CaseCtx {
        id: "failover::x".into(),
        run_id: "20260101T000000Z-abcdef".into(),
        namespace: "ifx-x-1234".into(),
        attempt: 1,
        vars: vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        ..CaseCtx::default()
    }
}

fn probe_step(yaml: &str) -> crate::suite::model::Probe {
    let docs = infraflux_model::yaml::parse_str("p.yaml", yaml).unwrap();
    infraflux_model::yaml::from_node(&docs[0].root).unwrap()
}

/// A probe's declared `baseline` travels with its series into the results.
#[test]
fn probe_series_carries_its_declared_baseline() {
    use super::probes::outcome::finish_probe;
    let ctx = ctx_with(&[]);
    let p = probe_step(
        "metric: throughput.s.pod_to_pod.cross_node\nbaseline: throughput.s.host_to_host.cross_node\naction:\n  stream: {host: echo, port: 5201, duration: 1s}\n",
    );
    finish_probe(&ctx, &p, serde_json::json!({"ok": true, "samples": [9.0, 9.5]})).unwrap();
    let q = probe_step("metric: throughput.s.host_to_host.cross_node\naction:\n  stream: {host: host-b, port: 5201, duration: 1s}\n");
    finish_probe(&ctx, &q, serde_json::json!({"ok": true, "samples": [10.0]})).unwrap();
    let perf = ctx.perf.lock().unwrap().clone();
    assert_eq!(perf[0].baseline.as_deref(), Some("throughput.s.host_to_host.cross_node"));
    assert_eq!((perf[0].unit.as_str(), perf[0].higher_is_better), ("Gbit/s", true));
    assert_eq!(perf[1].baseline, None);
}

/// A downtime probe's report, as the agent's `client downtime` prints it,
/// becomes an ms series (lower is better) and is held to a templated budget.
#[test]
fn downtime_report_is_an_ms_metric_checked_against_the_budget() {
    use super::probes::{outcome::finish_probe, render::render_action};
    let ctx = ctx_with(&[("namespace", "ifx-x-1234"), ("budget", "1000")]);
    let p = probe_step(
        "name: during\nmetric: failover.x.downtime\naction:\n  downtime: {host: \"echo.{{namespace}}.svc\", port: 80, probe: http, duration: 20s}\n",
    );
    let rendered = render_action(&p.action, &ctx.vars).unwrap();
    let crate::suite::model::ProbeAction::Downtime(d) = &rendered else { panic!("{rendered:?}") };
    assert_eq!(d.host, "echo.ifx-x-1234.svc");
    let report = serde_json::json!({
        "mode": "downtime", "ok": true, "error": null, "downtime_ms": 420.0, "total_downtime_ms": 600.0,
        "windows": 2, "attempts": 3990, "failures": 120, "rate_achieved": 199.5, "samples": [420.0],
    });
    finish_probe(&ctx, &p, report).unwrap();
    let perf = ctx.perf.lock().unwrap().clone();
    assert_eq!(perf.len(), 1);
    assert_eq!((perf[0].unit.as_str(), perf[0].higher_is_better, perf[0].samples.clone()), ("ms", false, vec![420.0]));

    let report = ctx.probe_report("during").unwrap();
    let check = |max: &str| {
        let that: Vec<crate::suite::model::Predicate> = vec![
            serde_json::from_value(serde_json::json!({"path": "$.downtime_ms", "range": {"max": max}})).unwrap(),
            serde_json::from_value(serde_json::json!({"path": "$.rate_achieved", "range": {"min": 100}})).unwrap(),
        ];
        crate::probes::predicate::render_predicates(&that, &ctx.vars)
            .unwrap()
            .iter()
            .map(|p| crate::probes::predicate::check(p, &report))
            .collect::<Result<Vec<()>, String>>()
    };
    check("{{budget}}").unwrap();
    assert!(check("300").unwrap_err().contains("downtime_ms"));

    // The service never came back: the last attempt failed, so the probe fails.
    let down = serde_json::json!({"mode": "downtime", "ok": false, "error": "last attempt failed: connection refused", "downtime_ms": 20000.0, "samples": [20000.0]});
    let e = finish_probe(&ctx, &p, down).unwrap_err();
    assert!(e.to_string().contains("probe downtime failed: last attempt failed"), "{e}");
}

#[test]
fn http_resolve_is_templated_and_must_render_to_an_address() {
    use super::probes::render::render_action;
    let p = probe_step("action: {http: {url: \"https://a.infraflux.test/\", resolve: \"{{gwIp}}\", insecure: true}}\n");
    let ok = render_action(&p.action, &ctx_with(&[("gwIp", "203.0.113.50")]).vars).unwrap();
    let argv = super::probes::argv::agent_argv(&ok, Duration::from_secs(2));
    assert!(argv.windows(2).any(|w| w == ["--resolve", "a.infraflux.test:443:203.0.113.50"]), "{argv:?}");
    let bad = render_action(&p.action, &ctx_with(&[("gwIp", "gw.example")]).vars).unwrap_err();
    assert!(bad.to_string().contains("`gw.example` is not an IP address"), "{bad}");
}

/// Runs the real `bgpPeer` and `bgpSessionReset` executors against the
/// run's router, with a loopback "node" that re-announces after every
/// reset, plus assert-on-report; everything else fails.
struct BgpBackend {
    collector: Arc<steps::bgp::BgpCollector>,
}

impl Backend for BgpBackend {
    async fn setup(&self, _ctx: &CaseCtx, _t: Duration) -> Result<(), StepError> {
        Ok(())
    }

    async fn run_step(&self, ctx: &CaseCtx, step: &Step, timeout: Duration) -> Result<Option<String>, StepError> {
        use crate::suite::model::DisruptAction;
        match step {
            Step::BgpPeer(b) => steps::bgp::peer_step(ctx, b, &self.collector, vec![], timeout).await,
            Step::Disrupt(d) if matches!(d.action, DisruptAction::BgpSessionReset(_)) => {
                Ok(Some(steps::bgp::reset_step(&self.collector).await))
            }
            Step::Assert(a) => {
                let name = a.probe.as_deref().ok_or_else(|| StepError::invalid("not a probe assert"))?;
                let report = ctx.probe_report(name).ok_or_else(|| StepError::invalid(format!("no report {name}")))?;
                let that = crate::probes::predicate::render_predicates(&a.that, &ctx.vars).map_err(StepError::invalid)?;
                let failures: Vec<String> =
                    that.iter().filter_map(|p| crate::probes::predicate::check(p, &report).err()).collect();
                if failures.is_empty() {
                    Ok(None)
                } else {
                    Err(StepError::Predicate { object: None, report: Some(name.to_owned()), failures })
                }
            }
            other => Err(StepError::invalid(format!("unscripted step {}", other.display_name()))),
        }
    }

    async fn cleanup(&self, _ctx: &CaseCtx, _t: Duration) -> Result<(), String> {
        Ok(())
    }
}

const BGP_RESET_SUITE: &str = "apiVersion: infraflux.io/v1alpha1
kind: Suite
metadata: {name: failover}
cases:
  - name: bgp-peer-reset
    vars: {lbIp: 198.51.100.34, maxDowntimeBgpPeerLossMs: \"100000\"}
    steps:
      - bgpPeer: {minSessions: 1, received: [\"{{lbIp}}/32\"], timeout: 10s}
      - disrupt: {action: {bgpSessionReset: {}}}
      - bgpPeer: {name: back, minSessions: 1, received: [\"{{lbIp}}/32\"], metric: failover.bgp_peer_reset.routes_back, timeout: 10s}
      - assert: {probe: back, that: [{path: $.elapsed_ms, range: {max: \"{{maxDowntimeBgpPeerLossMs}}\"}}]}
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bgp_peer_reset_case_measures_the_way_back_and_holds_it_to_the_budget() {
    use std::net::Ipv4Addr;
    let s = load(BGP_RESET_SUITE);
    assert!(s[0].cases[0].requires.contains(&Feature::BgpPeer), "a reset needs the run's router");

    let l = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let addr = l.local_addr().unwrap();
    let cfg = crate::bgp::Config::new(65000, Ipv4Addr::new(1, 1, 1, 1), Ipv4Addr::LOCALHOST);
    let collector = Arc::new(steps::bgp::BgpCollector::start(l, cfg).unwrap());
    // The "node": announces the VIP, and reconnects whenever it is cut.
    let node = tokio::spawn(async move {
        let speaker =
            crate::bgp::Speaker::new(crate::bgp::Config::new(65010, Ipv4Addr::new(2, 2, 2, 2), Ipv4Addr::LOCALHOST))
                .unwrap();
        loop {
            let Ok(s) = speaker.connect(addr).await else {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            let _ = s.advertise(&["198.51.100.34/32".parse().unwrap()]).await;
            let _ = s.wait_down(Duration::from_secs(3600)).await;
        }
    });
    let b = Arc::new(BgpBackend { collector: collector.clone() });

    let r = execute(&opts(), b.clone(), &s, None, "20260101T000000Z-abcdef").await.unwrap();
    let res = outcome(&r, "failover::bgp-peer-reset");
    assert_eq!(res.outcome, Outcome::Passed, "{res:#?}");
    let reset = res.steps.iter().find(|s| s.kind == "disrupt").unwrap();
    assert_eq!(reset.message.as_deref(), Some("reset 1 established bgp session(s) with Cease/Administrative Reset"));
    assert_eq!(r.perf.len(), 1);
    assert_eq!((r.perf[0].metric.as_str(), r.perf[0].unit.as_str()), ("failover.bgp_peer_reset.routes_back", "ms"));
    assert!(r.perf[0].samples[0] > 0.0, "{:?}", r.perf[0]);

    // A profile budget of 0 ms cannot be met: the same case now fails on the assert.
    let strict = RunOptions {
        var_overrides: [("maxDowntimeBgpPeerLossMs".to_owned(), "0".to_owned())].into(),
        ..opts()
    };
    let r = execute(&strict, b, &s, None, "20260101T000000Z-abcdef").await.unwrap();
    match &outcome(&r, "failover::bgp-peer-reset").outcome {
        Outcome::Failed { step, message } => {
            assert_eq!(step.as_deref(), Some("assert probe back"));
            assert!(message.contains("elapsed_ms"), "{message}");
        }
        o => panic!("expected the budget to fail the case, got {o:?}"),
    }
    node.abort();
}

#[test]
fn step_errors_keep_their_cause_object_step_and_report_text() {
    use crate::backend::{ObjectId, StepPhase, StepRef};
    let cm = ObjectId::new("ConfigMap", Some("ns"), Some("cfg"));
    assert_eq!(cm.to_string(), "configmap/ns/cfg");

    // A kube-layer timeout: typed cause, report text as the engine's waits always said it.
    let waited = StepError::from(crate::cluster::wait::timed_out(
        "configmap/ns/cfg field $.data.ready",
        Duration::from_millis(1500),
        "$.data.ready equals \"yes\": found nothing",
    ))
    .with_object(cm.clone());
    assert!(waited.is_timeout());
    assert_eq!(waited.object(), Some(&cm));
    assert_eq!(
        waited.to_string(),
        "timed out: waited 1.5s for configmap/ns/cfg field $.data.ready; last seen: $.data.ready equals \"yes\": found nothing"
    );
    assert!(waited.detail().starts_with("waited 1.5s for configmap/ns/cfg"), "{}", waited.detail());
    let cause = std::error::Error::source(&waited).and_then(|s| s.downcast_ref::<crate::cluster::Error>());
    assert!(matches!(cause, Some(crate::cluster::Error::Timeout { after_ms: 1500, .. })), "{cause:?}");

    // Any other cluster error: failed, with the whole chain.
    let refused = StepError::kube(Some(cm.clone()), crate::cluster::Error::InvalidObject("object lacks `kind`".into()));
    assert!(!refused.is_timeout());
    assert_eq!(refused.to_string(), "invalid object: object lacks `kind`");
    assert_eq!(refused.detail(), refused.to_string());

    // The runner names the step; the report text stays the cause's.
    let step = StepRef { phase: StepPhase::Finally, index: 1, kind: "wait", name: "wait configmap/ns/cfg".into() };
    let wrapped = waited.in_step(step.clone());
    assert_eq!(wrapped.step(), Some(&step));
    assert!(wrapped.is_timeout());
    assert_eq!(wrapped.object(), Some(&cm));
    assert_eq!(wrapped.to_string(), "failed to run finally step 2 (wait `wait configmap/ns/cfg`)");
    assert!(wrapped.detail().starts_with("waited 1.5s for configmap/ns/cfg"));

    for (e, timeout) in [
        (StepError::CaseTimeout { after: Duration::from_secs(2) }, true),
        (StepError::DidNotFinish { what: "step".into(), within: Duration::from_secs(3) }, true),
        (StepError::BgpPeer { after: Duration::from_secs(1), unmet: vec!["not received: 10.0.0.0/24".into()], received: vec![] }, true),
        (StepError::Unavailable { what: "BGP router" }, false),
        (StepError::ProbeSucceeded { kind: "http" }, false),
    ] {
        assert_eq!(e.is_timeout(), timeout, "{e}");
        assert_eq!(e.to_string().starts_with("timed out: "), timeout, "{e}");
    }
    assert_eq!(StepError::Unavailable { what: "BGP router" }.to_string(), "no BGP router for the run");
}
