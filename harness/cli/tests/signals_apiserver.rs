//! Stopping a run from outside, through the binary against the test tier's
//! real API server: SIGTERM and SIGHUP clean up like Ctrl-C (no labelled
//! object left, the lock released, reports written with the interrupted
//! case failed), and `infraflux cleanup` removes what a killed run left.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test-crate helpers: a failed setup step is the test failure"
)]

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use infraflux::results::{Outcome, RunResults};
use infraflux_testkit::controlplane::TestEnv;
use common::bin;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams};

const SUITE: &str = "apiVersion: infraflux.io/v1alpha1
kind: Suite
metadata:
  name: sig
cases:
  - name: hangs
    steps:
      - apply:
          manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: marker}, data: {ready: \"no\"}}
      - wait:
          ref: {apiVersion: v1, kind: ConfigMap, name: marker}
          field: {path: $.data.ready, equals: \"yes\"}
          timeout: 120s
";

async fn labelled(client: &kube::Client, selector: &str) -> usize {
    Api::<ConfigMap>::all(client.clone())
        .list(&ListParams::default().labels(selector))
        .await
        .map(|l| l.items.len())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_and_sighup_clean_up_and_cleanup_removes_a_killed_runs_objects() {
    let Some(env) = TestEnv::new("signals").await else { return };
    let kc = env.cp.kubeconfig_path().to_str().expect("utf8").to_owned();
    let suites = env.dir.path().join("suites");
    std::fs::create_dir_all(&suites).unwrap();
    std::fs::write(suites.join("sig.yaml"), SUITE).unwrap();
    let case_objects = "app.kubernetes.io/managed-by=infraflux,infraflux.io/case=sig.hangs";

    for signal in ["TERM", "HUP", "KILL"] {
        let out = env.dir.path().join(format!("runs-{signal}"));
        let child = bin()
            .args(["run", "--kubeconfig", &kc, "--suites", suites.to_str().unwrap(), "--deadline", "5m"])
            .args(["--out", out.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        // Signal once the case is mid-wait: its marker exists.
        let started = Instant::now();
        while labelled(&env.client, case_objects).await == 0 {
            assert!(started.elapsed() < Duration::from_secs(60), "the case never started");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let status = Command::new("kill").args([&format!("-{signal}"), &child.id().to_string()]).status().expect("kill");
        assert!(status.success());
        let o = tokio::task::spawn_blocking(move || child.wait_with_output()).await.unwrap().expect("wait");
        let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
        if signal == "KILL" {
            // Nothing runs after SIGKILL: the marker stays until the next
            // holder of the lock or `cleanup` removes it.
            assert!(labelled(&env.client, case_objects).await > 0);
            break;
        }
        assert_eq!(o.status.code(), Some(1), "SIG{signal}: {stderr}");
        assert!(stderr.contains(&format!("interrupted by SIG{signal}")), "{stderr}");
        // stderr is a pipe here, as in CI logs: no colour codes.
        assert!(!stderr.contains('\u{1b}'), "ANSI codes in a non-terminal log: {stderr:?}");
        assert_eq!(labelled(&env.client, case_objects).await, 0, "SIG{signal} left objects: {stderr}");
        let dir = std::fs::read_dir(&out).unwrap().next().unwrap().unwrap().path();
        let r: RunResults = serde_json::from_str(&std::fs::read_to_string(dir.join("results.json")).unwrap()).unwrap();
        match &r.cases[0].outcome {
            Outcome::Failed { message, .. } => assert!(message.contains("interrupted"), "{message}"),
            o => panic!("{o:?}"),
        }
        assert!(std::fs::read_to_string(dir.join("junit.xml")).unwrap().contains("failures=\"1\""));
    }

    // After SIGKILL: `cleanup` takes the lock once the killed run's Lease
    // is stale, and removes every case object.
    let o = bin().args(["cleanup", "--kubeconfig", &kc]).output().expect("cleanup");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("removed"), "{stderr}");
    assert_eq!(labelled(&env.client, case_objects).await, 0);
}
