//! `report.html` as a browser sees it: headless Chromium loads the file and
//! dumps the DOM it built, and the test asserts on that DOM (verdict first,
//! the suites x outcome matrix, the coverage rows), so markup a browser
//! would repair or drop cannot pass. Chromium comes from the Debian
//! package (`.ci/install-lab-packages`).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test")]

use std::process::Command;

use infraflux_model::contract::{Evidence, Mode, Policy, Promise, PromiseResult, Verdict};
use infraflux_model::results::{CaseResult, Outcome, PerfSeries, RunResults, SCHEMA, Target};
use scraper::{Html, Selector};

fn case(suite: &str, name: &str, outcome: Outcome) -> CaseResult {
    CaseResult {
        id: format!("{suite}::{name}"),
        suite: suite.into(),
        case: name.into(),
        outcome,
        duration_ms: 1200,
        attempts: 1,
        steps: vec![],
        gateway_conformance: None,
    }
}

fn promise(id: &str, field: &str, verdict: Verdict, detail: &str) -> PromiseResult {
    PromiseResult {
        promise: Promise {
            id: id.into(),
            field: field.into(),
            statement: format!("{id} holds <for real>"),
            evidence: Evidence::Baseline,
        },
        verdict,
        cases: vec!["kube-proxy::nodeport-from-node".into()],
        detail: detail.into(),
    }
}

fn run() -> RunResults {
    RunResults {
        schema: SCHEMA.into(),
        run_id: "20261206T120000Z-abcdef".into(),
        started_at: "2026-12-06T12:00:00Z".into(),
        duration_ms: 61_000,
        target: Target {
            profile: Some("lab.yaml".into()),
            profile_hash: Some("0".repeat(64)),
            provider: Some("existing".into()),
            context: Some("lab-admin".into()),
            kubernetes_version: Some("v1.36.3".into()),
            cilium_version: Some("v1.20.2".into()),
            node_count: Some(1),
            api_server: Some("https://127.0.0.1:6443/".into()),
        },
        cases: vec![
            case("kube-proxy", "nodeport-from-node", Outcome::Passed),
            case(
                "kube-proxy",
                "clusterip-cross-node",
                Outcome::Failed {
                    step: None,
                    message: "profile enables multiNode; cluster: the cluster has 1 node(s), needs at least 2".into(),
                },
            ),
            case(
                "wireguard",
                "encryption-enabled",
                Outcome::Skipped { reason: "profile: features.wireguard is false".into() },
            ),
        ],
        perf: vec![PerfSeries {
            metric: "throughput.tcp_stream_1.pod_to_pod.same_node".into(),
            case: "throughput::pod-to-pod".into(),
            unit: "Gbit/s".into(),
            higher_is_better: true,
            samples: vec![9.1, 9.4, 8.8, 9.0, 9.3],
            baseline: None,
        }],
        setup_error: None,
        install: Vec::new(),
        diagnostics: None,
        drift: None,
        policy: Policy { mode: Mode::Acceptance, allow_empty: false },
        coverage: vec![
            promise("feature:kubeProxyReplacement", "features.kubeProxyReplacement", Verdict::Verified, "1 case(s) passed"),
            promise("feature:multiNode", "nodes", Verdict::Failed, "1 case(s) failed"),
            promise(
                "lbPool:main",
                "loadBalancer.pools[main]",
                Verdict::NotVerified,
                "needs probeAgent: the run has no probe agent image; give --agent-image",
            ),
            promise("failover:envoyRestart", "failover.maxDowntimeMs.envoyRestart", Verdict::Uncovered, "no case uses it"),
        ],
    }
}

fn dump_dom(path: &std::path::Path) -> String {
    let out = Command::new("chromium")
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--dump-dom"])
        .arg(format!("file://{}", path.display()))
        .output()
        .unwrap_or_else(|e| panic!("run chromium (install it with .ci/install-lab-packages): {e}"));
    assert!(out.status.success(), "chromium: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf8 DOM")
}

fn texts(doc: &Html, css: &str) -> Vec<String> {
    let sel = Selector::parse(css).expect("selector");
    doc.select(&sel).map(|e| e.text().collect::<String>().trim().to_owned()).collect()
}

#[test]
fn the_browser_dom_opens_with_the_verdict_matrix_and_coverage() {
    let dir = tempfile::tempdir().unwrap();
    let written = infraflux_report::write_all(dir.path(), &run()).unwrap();
    let dom = Html::parse_document(&dump_dom(&written.report_html));

    // Verdict first, in words, with every reason.
    let headline = texts(&dom, "body > section#verdict .headline");
    assert_eq!(headline, vec!["FAIL: 1 case(s) failed".to_owned()]);
    let reasons = texts(&dom, "#verdict ul.reasons li");
    assert!(reasons.iter().any(|r| r.starts_with("acceptance (--require-all): 2 promise(s)")), "{reasons:?}");
    let first = Selector::parse("body > *:not(h1)").unwrap();
    assert_eq!(dom.select(&first).next().and_then(|e| e.value().id()), Some("verdict"));

    // The target as read: provider used, context, API server, versions.
    let target = texts(&dom, "table#target td").join(" | ");
    for want in ["existing", "lab-admin", "https://127.0.0.1:6443/", "v1.36.3", "v1.20.2"] {
        assert!(target.contains(want), "{want} in {target}");
    }

    // Suites x outcomes: one row per suite, counts in their columns.
    let rows = texts(&dom, "table#matrix tr[data-suite]");
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(texts(&dom, "table#matrix tr[data-suite='kube-proxy'] td.failed"), vec!["1"]);
    assert_eq!(texts(&dom, "table#matrix tr[data-suite='wireguard'] td.skipped"), vec!["1"]);

    // Coverage: failed first, each verdict in its own class, text escaped.
    let promises: Vec<String> = {
        let sel = Selector::parse("table#coverage tr[data-promise]").unwrap();
        dom.select(&sel).map(|e| e.value().attr("data-promise").unwrap_or_default().to_owned()).collect()
    };
    assert_eq!(
        promises,
        ["feature:multiNode", "lbPool:main", "failover:envoyRestart", "feature:kubeProxyReplacement"]
    );
    assert_eq!(texts(&dom, "table#coverage td.not-verified"), vec!["not verified"]);
    assert!(
        texts(&dom, "table#coverage tr[data-promise='lbPool:main'] td")
            .iter()
            .any(|t| t.contains("give --agent-image"))
    );
    assert!(texts(&dom, "table#coverage td").iter().any(|t| t == "lbPool:main holds <for real>"));

    // The perf chart is inline SVG; nothing is fetched from anywhere.
    assert!(dom.select(&Selector::parse("figure svg").unwrap()).count() >= 1);
    let external = Selector::parse("script, link, img, iframe, [src]").unwrap();
    assert_eq!(dom.select(&external).count(), 0, "no external assets or scripts");
}
