//! The profile as a contract, end to end through the binary against the
//! test tier's real API server (no Cilium runs there; a cilium-config in the
//! test's own namespace stands in for an installed one, through
//! `--cilium-namespace`). One test, scenarios in sequence: every run takes
//! the run lock in `default`, so parallel runs would only queue.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test-crate helpers: a failed setup step is the test failure"
)]

mod common;

use std::path::{Path, PathBuf};

use infraflux::results::{Outcome, RunResults};
use infraflux_testkit::controlplane::TestEnv;

struct Run {
    code: i32,
    stderr: String,
    dir: Option<PathBuf>,
}

impl Run {
    fn results(&self) -> RunResults {
        let dir = self.dir.as_ref().unwrap_or_else(|| panic!("no run directory; stderr:\n{}", self.stderr));
        serde_json::from_str(&std::fs::read_to_string(dir.join("results.json")).expect("results.json")).expect("parses")
    }

    fn file(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.as_ref().expect("run dir").join(name)).expect(name)
    }

    fn case(&self, id: &str) -> Outcome {
        self.results()
            .cases
            .into_iter()
            .find(|c| c.id == id)
            .unwrap_or_else(|| panic!("no case {id}"))
            .outcome
    }
}

/// Runs the binary with `args` plus `--out <fresh dir>` and returns the
/// exit code and the single run directory it wrote (if any).
fn infraflux(out_root: &Path, tag: &str, args: &[&str]) -> Run {
    let out = out_root.join(tag);
    let o = common::bin()
        .args(args)
        .args(["--out", out.to_str().expect("utf8"), "--deadline", "5m"])
        .output()
        .expect("spawn infraflux");
    let dir = std::fs::read_dir(&out).ok().and_then(|mut d| d.next()).and_then(Result::ok).map(|e| e.path());
    Run {
        code: o.status.code().unwrap_or(-1),
        stderr: format!("{}\n{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)),
        dir,
    }
}

/// `junit.xml`'s counts agree with results.json and with its own suites.
fn junit_counts_match(run: &Run) {
    let junit = run.file("junit.xml");
    let r = run.results();
    let attr = |tag: &str, name: &str| -> Vec<usize> {
        junit
            .match_indices(&format!("<{tag} "))
            .map(|(i, _)| {
                let rest = &junit[i..];
                let end = rest.find('>').expect("tag end");
                let head = &rest[..end];
                let at = head.find(&format!(" {name}=\"")).unwrap_or_else(|| panic!("{name} on {tag}: {head}"));
                let v = &head[at + name.len() + 3..];
                v[..v.find('"').expect("quote")].parse().expect("count")
            })
            .collect()
    };
    for name in ["tests", "failures", "skipped", "errors"] {
        let root = attr("testsuites", name)[0];
        let sum: usize = attr("testsuite", name).iter().sum();
        assert_eq!(root, sum, "{name}: root vs suites\n{junit}");
    }
    let testcases = junit.matches("<testcase ").count();
    assert_eq!(attr("testsuites", "tests")[0], testcases, "{junit}");
    let case_failures = r.cases.iter().filter(|c| c.outcome.is_failure()).count();
    let case_skips = r.cases.iter().filter(|c| matches!(c.outcome, Outcome::Skipped { .. })).count();
    assert!(attr("testsuites", "failures")[0] >= case_failures, "{junit}");
    assert!(attr("testsuites", "skipped")[0] >= case_skips, "{junit}");
}

fn write_profile(dir: &Path, name: &str, edits: &[(&str, &str)]) -> String {
    let mut text = infraflux::profile::DEFAULT_YAML.to_owned();
    for (from, to) in edits {
        assert!(text.contains(from), "default profile has {from:?}");
        text = text.replacen(from, to, 1);
    }
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write profile");
    path.to_str().expect("utf8").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_profile_is_the_contract() {
    let Some(env) = TestEnv::new("contract").await else { return };
    let kc = env.cp.kubeconfig_path().to_str().expect("utf8").to_owned();
    let tmp = env.dir.path().to_owned();
    let ns = env.ns.clone();

    // 1. A bare cluster (no cilium-config where the run looks) and the
    // embedded default profile: a false pass before, now exit 1 and every
    // failure names the missing feature.
    let bare = infraflux(&tmp, "bare", &["conform", "--skip-install", "--kubeconfig", &kc, "--cilium-namespace", &ns]);
    assert_eq!(bare.code, 1, "{}", bare.stderr);
    let r = bare.results();
    let expected_cilium = format!("profile expects Cilium; cluster: ConfigMap {ns}/cilium-config not found");
    match bare.case("kube-proxy::cilium-config-kpr") {
        Outcome::Failed { message, .. } => assert!(message.contains(&expected_cilium), "{message}"),
        o => panic!("{o:?}"),
    }
    assert!(r.cases.iter().filter(|c| c.outcome.is_failure()).count() > 50, "most cases fail on a bare cluster");
    let wg = r.coverage.iter().find(|p| p.promise.id == "feature:wireguard").expect("wireguard promise");
    assert_eq!(wg.verdict, infraflux::contract::Verdict::Failed, "{wg:?}");
    let summary = bare.file("summary.md");
    assert!(summary.contains("## Verdict: FAIL:"), "{summary}");
    assert!(summary.find("## Verdict").unwrap() < summary.find("## Coverage of the profile").unwrap());
    assert!(summary.contains("| Provider used | existing |"), "{summary}");
    assert!(summary.contains("| API server | https://127.0.0.1"), "{summary}");
    junit_counts_match(&bare);

    // 2. Without a profile, detection still skips; a run that verified
    // nothing is not a pass unless --allow-empty says so.
    let empty = infraflux(&tmp, "empty", &["run", "--kubeconfig", &kc, "--cilium-namespace", &ns]);
    assert_eq!(empty.code, 1, "{}", empty.stderr);
    assert!(empty.results().cases.iter().all(|c| matches!(c.outcome, Outcome::Skipped { .. })));
    assert!(empty.file("summary.md").contains("nothing was verified"), "{}", empty.file("summary.md"));
    junit_counts_match(&empty);
    let allowed = infraflux(&tmp, "allowed", &["run", "--kubeconfig", &kc, "--cilium-namespace", &ns, "--allow-empty"]);
    assert_eq!(allowed.code, 0, "{}", allowed.stderr);
    let nomatch = infraflux(&tmp, "nomatch", &["run", "nomatch", "--kubeconfig", &kc, "--cilium-namespace", &ns]);
    assert_eq!(nomatch.code, 1, "{}", nomatch.stderr);
    assert!(nomatch.stderr.contains("nothing was verified: no case was selected") || nomatch.file("summary.md").contains("no case was selected"));

    // 3. A cluster that matches a profile with WireGuard off: the WireGuard
    // cases skip naming the profile field; the plaintext sanity case is no
    // longer excluded (it waits only for the probe agent flag).
    env.cilium_config(&[
        ("kube-proxy-replacement", "true"),
        ("enable-wireguard", "false"),
        ("routing-mode", "native"),
        ("enable-bgp-control-plane", "true"),
        ("enable-hubble", "true"),
    ])
    .await;
    let nowg = write_profile(&tmp, "no-wireguard.yaml", &[("  wireguard: true", "  wireguard: false"), ("  nodeEncryption: true", "  nodeEncryption: false")]);
    let wg = infraflux(&tmp, "nowg", &["run", "wireguard", "--profile", &nowg, "--kubeconfig", &kc, "--cilium-namespace", &ns]);
    for case in ["wireguard::encryption-enabled", "wireguard::every-node-has-a-key"] {
        assert_eq!(
            wg.case(case),
            Outcome::Skipped { reason: "profile: features.wireguard is false".into() },
            "{}",
            wg.stderr
        );
    }
    match wg.case("wireguard::capture-sees-plaintext-without-wireguard") {
        // Multi-node is a promise of this profile: on a cluster with fewer
        // nodes the case fails with that evidence; otherwise only the probe
        // agent is missing. Either way WireGuard no longer excludes it.
        Outcome::Skipped { reason } => {
            assert!(reason.starts_with("needs probeAgent") && reason.contains("--agent-image"), "{reason}")
        }
        Outcome::Failed { message, .. } => assert!(message.starts_with("profile enables multiNode; cluster:"), "{message}"),
        o => panic!("{o:?}"),
    }
    junit_counts_match(&wg);

    // 4. Gating vs acceptance. A pool the profile names exists, so its
    // profile case passes; a probe case skips for want of --agent-image.
    // Gating passes and lists the open promises; --require-all fails.
    infraflux_testkit::controlplane::crds::install_upstream(&env.client, std::time::Duration::from_secs(120))
        .await
        .expect("upstream CRDs");
    let pool = format!("p{}", &ns[ns.len() - 6..]);
    let pools = infraflux_kube::Cluster::from_client(env.client.clone(), None);
    let pool_obj = serde_json::json!({
        "apiVersion": "cilium.io/v2", "kind": "CiliumLoadBalancerIPPool",
        "metadata": {"name": pool, "labels": {"infraflux.io/test": "true"}},
        "spec": {"blocks": [{"cidr": "192.168.30.0/25"}]},
    });
    let pool_key = pools.apply(&pool_obj, &ns, &Default::default()).await.expect("create pool");
    let gating_profile = write_profile(
        &tmp,
        "gating.yaml",
        &[
            ("    - name: main\n", &format!("    - name: {pool}\n")),
        ],
    );
    let filters = [format!("profile::lb-pool-{pool}"), "kube-proxy::clusterip-from-pod".to_owned()];
    let mut args: Vec<&str> = vec!["run", "--exact", "--profile", &gating_profile, "--kubeconfig", &kc, "--cilium-namespace", &ns];
    args.extend(filters.iter().map(String::as_str));
    let gating = infraflux(&tmp, "gating", &args);
    assert_eq!(gating.code, 0, "{}", gating.stderr);
    assert_eq!(gating.case(&filters[0]), Outcome::Passed, "{}", gating.stderr);
    let summary = gating.file("summary.md");
    assert!(summary.contains("not verified (gating mode)"), "{summary}");
    args.push("--require-all");
    let acceptance = infraflux(&tmp, "acceptance", &args);
    assert_eq!(acceptance.code, 1, "{}", acceptance.stderr);
    let r = acceptance.results();
    let kpr = r.coverage.iter().find(|p| p.promise.id == "feature:kubeProxyReplacement").expect("kpr promise");
    assert_eq!(kpr.verdict, infraflux::contract::Verdict::NotVerified, "{kpr:?}");
    assert!(kpr.cases.contains(&filters[1]) && kpr.detail.contains("give --agent-image"), "{kpr:?}");
    let summary = acceptance.file("summary.md");
    assert!(summary.contains("## Verdict: FAIL: acceptance (--require-all)"), "{summary}");
    junit_counts_match(&acceptance);
    let junit = acceptance.file("junit.xml");
    assert!(junit.contains(r#"<testcase name="coverage::feature:kubeProxyReplacement""#), "{junit}");

    // --require-all means nothing without a profile: a flag error, exit 2.
    let bad = infraflux(&tmp, "bad", &["run", "--require-all", "--kubeconfig", &kc]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(bad.stderr.contains("FLAG-006"), "{}", bad.stderr);
    assert!(bad.dir.is_none());

    pools.delete(&pool_key).await.expect("delete pool");
}
