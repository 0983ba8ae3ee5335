use std::collections::BTreeMap;
use std::path::Path;

use quick_xml::Reader;
use quick_xml::events::Event;

use super::*;
use crate::results::{CaseResult, Outcome, PerfSeries, RunResults, SCHEMA, StepResult, Target};
use crate::stats::SplitMix64;

fn step(name: &str, kind: &str, status: &str, message: Option<&str>) -> StepResult {
    StepResult {
        name: name.into(),
        kind: kind.into(),
        status: status.into(),
        duration_ms: 120,
        message: message.map(str::to_owned),
    }
}

fn case(suite: &str, name: &str, outcome: Outcome, steps: Vec<StepResult>) -> CaseResult {
    CaseResult {
        id: format!("{suite}::{name}"),
        suite: suite.into(),
        case: name.into(),
        outcome,
        duration_ms: 1500,
        attempts: 1,
        steps,
        // What suites/gateway.yaml declares for its cases, as the engine copies it.
        gateway_conformance: (suite == "gateway").then(|| crate::results::GatewayConformance {
            support: crate::results::ConformanceSupport::Core,
            features: vec!["Gateway".into(), "HTTPRoute".into()],
        }),
    }
}

fn series(metric: &str, unit: &str, higher_is_better: bool, samples: Vec<f64>) -> PerfSeries {
    PerfSeries {
        metric: metric.into(),
        case: "perf::netperf".into(),
        unit: unit.into(),
        higher_is_better,
        samples,
        baseline: None,
    }
}

/// `series` measured against the metric `baseline`, as a suite declares it.
fn measured_against(baseline: &str, s: PerfSeries) -> PerfSeries {
    PerfSeries { baseline: Some(baseline.into()), ..s }
}

/// Normal noise from a fixed seed (Box-Muller over SplitMix64).
fn normal(n: usize, mean: f64, sd: f64, seed: u64) -> Vec<f64> {
    let mut r = SplitMix64::new(seed);
    let mut u = || ((r.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
    (0..n)
        .map(|_| {
            let (a, b) = (u(), u());
            mean + sd * (-2.0 * a.ln()).sqrt() * (2.0 * std::f64::consts::PI * b).cos()
        })
        .collect()
}

fn run(run_id: &str, started_at: &str, perf: Vec<PerfSeries>) -> RunResults {
    RunResults {
        schema: SCHEMA.into(),
        run_id: run_id.into(),
        started_at: started_at.into(),
        duration_ms: 93_000,
        target: Target {
            profile: Some("lab".into()),
            profile_hash: Some("ab12cd34".into()),
            provider: Some("kind".into()),
            context: Some("kind-lab".into()),
            kubernetes_version: Some("v1.33.4".into()),
            cilium_version: Some("1.18.2".into()),
            node_count: Some(3),
            api_server: None,
        },
        cases: vec![
            case(
                "kpr",
                "nodeport",
                Outcome::Passed,
                vec![step("curl nodeport", "probe", "passed", None)],
            ),
            case(
                "kpr",
                "service-affinity",
                Outcome::Failed {
                    step: Some("curl echo".into()),
                    message: "expected 200, got 503".into(),
                },
                vec![
                    step("apply echo", "apply", "passed", None),
                    step(
                        "curl echo",
                        "probe",
                        "failed",
                        Some("expected 200, got 503"),
                    ),
                ],
            ),
            case(
                "kpr",
                "hostport",
                Outcome::TimedOut {
                    step: Some("wait echo Ready".into()),
                    after_ms: 30_000,
                },
                vec![step(
                    "wait echo Ready",
                    "wait",
                    "timedOut",
                    Some("deadline 30s"),
                )],
            ),
            case(
                "gateway",
                "https-listener",
                Outcome::Skipped {
                    reason: "feature gatewayAPI is disabled".into(),
                },
                vec![],
            ),
            case("gateway", "http-route", Outcome::Passed, vec![]),
        ],
        perf,
        setup_error: None,
        install: Vec::new(),
        diagnostics: None,
        drift: None,
        policy: Default::default(),
        coverage: Vec::new(),
    }
}

fn sample_run() -> RunResults {
    run(
        "20260101T000000Z-abcdef",
        "2026-01-01T00:00:00Z",
        vec![
            series(
                "throughput.tcp_stream.pod_to_pod.cross_node",
                "Gbit/s",
                true,
                normal(10, 9.5, 0.2, 1),
            ),
            series(
                "latency.tcp_rr.p50.pod_to_pod.cross_node",
                "ms",
                false,
                normal(10, 0.08, 0.004, 2),
            ),
        ],
    )
}

#[derive(Debug, Default)]
struct JUnit {
    root: BTreeMap<String, String>,
    suites: Vec<BTreeMap<String, String>>,
    properties: Vec<BTreeMap<String, String>>,
    /// (name, classname, result element, type, message, text)
    cases: Vec<(String, String, String, String, String, String)>,
}

fn attrs(e: &quick_xml::events::BytesStart<'_>) -> BTreeMap<String, String> {
    e.attributes()
        .map(|a| {
            let a = a.expect("attribute");
            (
                String::from_utf8(a.key.as_ref().to_vec()).expect("utf8"),
                a.unescape_value().expect("unescape").into_owned(),
            )
        })
        .collect()
}

fn parse_junit(xml: &str) -> JUnit {
    let mut r = Reader::from_str(xml);
    let mut j = JUnit::default();
    loop {
        let ev = r.read_event().expect("well-formed junit");
        let (e, empty) = match &ev {
            Event::Eof => break,
            Event::Start(e) => (e.clone(), false),
            Event::Empty(e) => (e.clone(), true),
            Event::CData(t) => {
                if let Some(c) = j.cases.last_mut() {
                    c.5 = String::from_utf8(t.to_vec()).expect("utf8");
                }
                continue;
            }
            _ => continue,
        };
        let _ = empty;
        let a = attrs(&e);
        match e.name().as_ref() {
            b"testsuites" => j.root = a,
            b"testsuite" => {
                j.suites.push(a);
                j.properties.push(BTreeMap::new());
            }
            b"property" => {
                let last = j.properties.last_mut().expect("property inside a suite");
                last.insert(a["name"].clone(), a["value"].clone());
            }
            b"testcase" => j.cases.push((
                a["name"].clone(),
                a.get("classname").cloned().unwrap_or_default(),
                "passed".into(),
                String::new(),
                String::new(),
                String::new(),
            )),
            kind @ (b"failure" | b"skipped" | b"error") => {
                let c = j.cases.last_mut().expect("result inside a testcase");
                c.2 = String::from_utf8(kind.to_vec()).expect("utf8");
                c.3 = a.get("type").cloned().unwrap_or_default();
                c.4 = a.get("message").cloned().unwrap_or_default();
            }
            _ => {}
        }
    }
    j
}

#[test]
fn junit_has_counts_skip_reasons_failure_steps_and_properties() {
    let dir = tempfile::tempdir().expect("tmp");
    let w = write_all(dir.path(), &sample_run()).expect("written");
    let j = parse_junit(&std::fs::read_to_string(&w.junit_xml).expect("read"));

    assert_eq!(j.root["tests"], "5");
    assert_eq!(j.root["failures"], "2");
    assert_eq!(j.root["skipped"], "1");
    assert_eq!(j.suites.len(), 2);
    assert_eq!(
        (j.suites[0]["name"].as_str(), j.suites[0]["tests"].as_str()),
        ("kpr", "3")
    );
    assert_eq!(
        (
            j.suites[0]["failures"].as_str(),
            j.suites[0]["skipped"].as_str()
        ),
        ("2", "0")
    );
    assert_eq!(
        (j.suites[1]["name"].as_str(), j.suites[1]["tests"].as_str()),
        ("gateway", "2")
    );
    assert_eq!(
        (
            j.suites[1]["failures"].as_str(),
            j.suites[1]["skipped"].as_str()
        ),
        ("0", "1")
    );
    assert_eq!(j.suites[0]["timestamp"], "2026-01-01T00:00:00Z");

    let names: Vec<&str> = j.cases.iter().map(|c| c.0.as_str()).collect();
    assert_eq!(
        names,
        [
            "kpr::nodeport",
            "kpr::service-affinity",
            "kpr::hostport",
            "gateway::https-listener",
            "gateway::http-route"
        ]
    );
    let failed = &j.cases[1];
    assert_eq!(
        (failed.1.as_str(), failed.2.as_str(), failed.3.as_str()),
        ("kpr", "failure", "failed")
    );
    assert_eq!(failed.4, "step `curl echo`: expected 200, got 503");
    assert!(
        failed
            .5
            .contains("[failed] probe curl echo (120 ms): expected 200, got 503"),
        "{}",
        failed.5
    );
    let timed_out = &j.cases[2];
    assert_eq!(
        (timed_out.2.as_str(), timed_out.3.as_str()),
        ("failure", "timeout")
    );
    assert_eq!(
        timed_out.4,
        "timed out after 30000 ms in step `wait echo Ready`"
    );
    let skipped = &j.cases[3];
    assert_eq!(
        (skipped.2.as_str(), skipped.4.as_str()),
        ("skipped", "feature gatewayAPI is disabled")
    );
    assert_eq!(j.cases[4].2, "passed");

    for p in &j.properties {
        assert_eq!(p["infraflux.runId"], "20260101T000000Z-abcdef");
        assert_eq!(p["infraflux.profileHash"], "ab12cd34");
        assert_eq!(p["infraflux.kubernetesVersion"], "v1.33.4");
        assert_eq!(p["infraflux.ciliumVersion"], "1.18.2");
        assert_eq!(p["infraflux.provider"], "kind");
    }
}

#[test]
fn junit_survives_control_characters_and_cdata_terminators() {
    let mut r = sample_run();
    r.cases[1].outcome = Outcome::Failed {
        step: None,
        message: "\u{1b}[31mred\u{1b}[0m <&>\"".into(),
    };
    r.cases[1].steps[1].message = Some("ends ]]> here".into());
    let dir = tempfile::tempdir().expect("tmp");
    let w = write_all(dir.path(), &r).expect("written");
    let j = parse_junit(&std::fs::read_to_string(&w.junit_xml).expect("read"));
    assert_eq!(j.cases[1].4, "\u{FFFD}[31mred\u{FFFD}[0m <&>\"");
    assert!(j.cases[1].5.contains("ends ]] > here"));
}

#[test]
fn results_json_round_trips_and_rerender_is_identical() {
    let dir = tempfile::tempdir().expect("tmp");
    let r = sample_run();
    let w = write_all(dir.path(), &r).expect("written");
    // Six files plus the conformance report (the sample has gateway cases).
    assert_eq!(w.files().len(), 7);
    let back = load_results(&dir.path().join(RESULTS_JSON)).expect("loads");
    assert_eq!(back, r);

    let before: Vec<String> = w
        .files()
        .iter()
        .map(|p| std::fs::read_to_string(p).expect("read"))
        .collect();
    for f in [JUNIT_XML, SUMMARY_MD, REPORT_HTML, PERF_JSON, PERFDASH_JSON] {
        std::fs::remove_file(dir.path().join(f)).expect("rm");
    }
    let again = rerender(dir.path()).expect("rerendered");
    assert_eq!(again.results_json, None);
    let after: Vec<String> = w
        .files()
        .iter()
        .map(|p| std::fs::read_to_string(p).expect("read"))
        .collect();
    assert_eq!(before, after);
}

#[test]
fn registered_secret_never_reaches_any_file() {
    let plain = "cf-api-token-7d1f0a9c55e2";
    let tricky = "px&<tok\"en>-91ab"; // would be escaped in XML/HTML/JSON
    crate::secret::register(plain);
    crate::secret::register(tricky);
    let mut r = sample_run();
    r.target.context = Some(format!("ctx-{plain}"));
    r.cases[1].outcome = Outcome::Failed {
        step: Some(format!("curl -H 'Authorization: Bearer {plain}'")),
        message: format!("401 for token {tricky}"),
    };
    r.cases[1].steps[1].message = Some(format!("echo {plain} {tricky}"));
    r.cases[3].outcome = Outcome::Skipped {
        reason: format!("token {tricky} lacks Zone:Edit"),
    };
    r.perf[0].unit = format!("Gbit/s {plain}");

    let dir = tempfile::tempdir().expect("tmp");
    let w = write_all(dir.path(), &r).expect("written");
    let forms = [
        plain.to_owned(),
        tricky.to_owned(),
        tricky
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;"),
        tricky.replace('"', "\\\""),
        "tok\"en".into(),
        "tok&quot;en".into(),
    ];
    for p in w.files() {
        let text = std::fs::read_to_string(p).expect("read");
        for f in &forms {
            assert!(!text.contains(f.as_str()), "{} leaks {f}", p.display());
        }
        // The conformance report carries case names and versions only, none
        // of the fields the secret was planted in.
        if w.conformance_yaml.as_deref() == Some(p) {
            continue;
        }
        assert!(
            text.contains(crate::secret::REDACTED) || text.contains("&lt;redacted&gt;"),
            "{}",
            p.display()
        );
    }
}

#[test]
fn html_is_self_contained_with_a_chart_per_metric() {
    let dir = tempfile::tempdir().expect("tmp");
    let r = sample_run();
    let w = write_all(dir.path(), &r).expect("written");
    let html = std::fs::read_to_string(&w.report_html).expect("read");
    assert!(html.starts_with("<!DOCTYPE html>") && html.trim_end().ends_with("</html>"));
    assert_eq!(
        html.matches("<svg").count(),
        r.perf.len(),
        "one chart per metric"
    );
    assert_eq!(html.matches("<svg").count(), html.matches("</svg>").count());
    for bad in ["http://", "https://", "<script", "<link", "src=", "@import"] {
        assert!(!html.contains(bad), "html contains {bad}");
    }
    assert!(html.contains("feature gatewayAPI is disabled"));
    assert!(html.contains("step `curl echo`: expected 200, got 503"));

    // With history, each metric also gets a trend chart.
    let old = run(
        "20251201T000000Z-000001",
        "2025-12-01T00:00:00Z",
        vec![series(
            "throughput.tcp_stream.pod_to_pod.cross_node",
            "Gbit/s",
            true,
            normal(10, 9.4, 0.2, 9),
        )],
    );
    let dir2 = tempfile::tempdir().expect("tmp");
    let w = write_all_with_history(dir2.path(), &r, &[old]).expect("written");
    let html = std::fs::read_to_string(&w.report_html).expect("read");
    assert_eq!(html.matches("<svg").count(), r.perf.len() + 1);
    assert!(html.contains("history: mean and 95% CI per run"));
    assert!(!html.contains("http://"));
}

#[test]
fn summary_and_html_list_install_phases_the_bundle_and_the_drift() {
    use crate::results::{DriftItem, DriftKind, DriftReport, PhaseResult};
    let dir = tempfile::tempdir().expect("tmp");
    let mut r = sample_run();
    let phase = |name: &str, outcome: Outcome, ms: u64| PhaseResult {
        id: format!("install::{name}"),
        phase: name.into(),
        outcome,
        duration_ms: ms,
        steps: Vec::new(),
        diagnostics: None,
    };
    r.install = vec![
        phase("gateway-api-crds", Outcome::Passed, 1_200),
        phase("cilium", Outcome::Failed { step: Some("helm cilium 1.20.2".into()), message: "chart is broken".into() }, 3_400),
        phase("custom-resources", Outcome::Skipped { reason: "phase `cilium` failed".into() }, 0),
    ];
    r.diagnostics = Some("diagnostics".into());
    r.drift = Some(Box::new(DriftReport {
        releases: 4,
        objects: 9,
        items: vec![DriftItem {
            object: "release kube-system/cilium".into(),
            kind: DriftKind::Value,
            path: "hubble.relay.enabled".into(),
            profile: "true".into(),
            cluster: "false".into(),
        }],
        error: None,
    }));
    let w = write_all(dir.path(), &r).expect("written");
    let md = std::fs::read_to_string(&w.summary_md).expect("read");
    for want in [
        "## Install",
        "| gateway-api-crds | passed | 1.2 s |  |",
        "| cilium | failed | 3.4 s | step `helm cilium 1.20.2`: chart is broken |",
        "| custom-resources | skipped | 0.0 s | phase `cilium` failed |",
        "Diagnostics bundle: [diagnostics](diagnostics/README.md)",
        "## Drift from the profile",
        "1 difference(s); 4 release(s) and 9 custom resource(s) compared.",
        "| release kube-system/cilium | value | hubble.relay.enabled | true | false |",
    ] {
        assert!(md.contains(want), "`{want}` missing:\n{md}");
    }
    let html = std::fs::read_to_string(&w.report_html).expect("read");
    assert!(html.contains("<tr data-phase=\"cilium\"><td>cilium</td><td class=\"failed\">failed</td><td class=\"n\">3.4 s</td>"), "{html}");
    assert!(html.contains("<a href=\"diagnostics/README.md\">diagnostics</a>"), "{html}");
    assert!(html.contains("<table id=\"drift\">") && html.contains("<code>hubble.relay.enabled</code>"), "{html}");

    // No drift is said as such; no install, no section.
    r.drift = Some(Box::new(DriftReport { releases: 4, objects: 9, ..DriftReport::default() }));
    let w = write_all(dir.path(), &r).expect("written");
    let md = std::fs::read_to_string(&w.summary_md).expect("read");
    assert!(md.contains("No drift: 4 release(s) and 9 custom resource(s) match the profile."), "{md}");
    let other = tempfile::tempdir().expect("tmp");
    let plain = write_all(other.path(), &sample_run()).expect("written");
    let md = std::fs::read_to_string(&plain.summary_md).expect("read");
    assert!(!md.contains("## Install") && !md.contains("## Drift"), "{md}");
}

#[test]
fn summary_and_perf_files_carry_the_numbers() {
    let dir = tempfile::tempdir().expect("tmp");
    let r = sample_run();
    let w = write_all(dir.path(), &r).expect("written");
    let md = std::fs::read_to_string(&w.summary_md).expect("read");
    assert!(
        md.contains("5 cases: 2 passed, 1 failed, 1 timed out, 1 skipped.") && md.contains("## Verdict: FAIL: 2 case(s) failed"),
        "{md}"
    );
    assert!(md.contains("## Suite kpr (1/3 passed)"));
    assert!(md.contains("- **kpr::service-affinity**: step `curl echo`: expected 200, got 503"));
    assert!(md.contains("- **gateway::https-listener**: feature gatewayAPI is disabled"));
    assert!(md.contains("| throughput.tcp_stream.pod_to_pod.cross_node | Gbit/s | higher | 10 |"));

    let perf: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&w.perf_json).expect("read")).expect("json");
    assert_eq!(perf["schema"], perf::PERF_SCHEMA);
    let m = &perf["metrics"][0];
    let s = crate::stats::summarize(&r.perf[0].samples, 0.95).expect("stats");
    assert_eq!(m["n"], 10);
    assert_eq!(m["samples"].as_array().map(Vec::len), Some(10));
    assert_eq!(m["mean"].as_f64(), Some(s.mean));
    assert_eq!(m["p90"].as_f64(), Some(s.p90));
    assert_eq!(m["ci95"]["low"].as_f64(), Some(s.ci_low));
    assert_eq!(m["higherIsBetter"], true);
    assert_eq!(perf["metrics"][1]["unit"], "ms");

    let pd: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&w.perfdash_json).expect("read"))
            .expect("json");
    assert_eq!(pd["version"], "v1");
    let item = &pd["dataItems"][1];
    assert_eq!(item["unit"], "ms");
    assert_eq!(
        item["labels"]["Metric"],
        "latency.tcp_rr.p50.pod_to_pod.cross_node"
    );
    assert!(item["data"]["Perc50"].is_f64() && item["data"]["Perc99"].is_f64());
}

#[test]
fn bad_results_are_rejected_with_rule_and_place_and_nothing_is_written() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = dir.path().join("out");
    let mut r = sample_run();
    r.perf[1].samples[3] = f64::NAN;
    let e = write_all(&out, &r).expect_err("nan");
    let f = e.finding().expect("finding");
    assert_eq!(
        (f.rule.as_str(), f.path.as_deref()),
        ("REPORT-004", Some("perf[1].samples[3]"))
    );
    assert!(!out.exists(), "no partial output");

    let mut r = sample_run();
    r.perf.push(r.perf[0].clone());
    assert_eq!(
        write_all(&out, &r)
            .expect_err("dup")
            .finding()
            .map(|f| f.rule.clone())
            .as_deref(),
        Some("REPORT-005")
    );

    let p = dir.path().join(RESULTS_JSON);
    std::fs::write(
        &p,
        "{\"schema\": \"infraflux.io/results/v1\",\n \"runId\": 3}",
    )
    .expect("write");
    let e = load_results(&p).expect_err("type error");
    let f = e.finding().expect("finding");
    assert_eq!(f.rule, "REPORT-001");
    assert_eq!(f.location.as_ref().map(|l| l.line), Some(2));
    assert!(e.to_string().contains("hint:"), "{e}");

    std::fs::write(&p, "{\"schema\": \"infraflux.io/results/v9\"}").expect("write");
    assert_eq!(
        load_results(&p)
            .expect_err("schema")
            .finding()
            .map(|f| f.rule.clone())
            .as_deref(),
        Some("REPORT-002")
    );

    let mut r = sample_run();
    r.started_at = "yesterday".into();
    std::fs::write(&p, serde_json::to_string(&r).expect("json")).expect("write");
    assert_eq!(
        load_results(&p)
            .expect_err("time")
            .finding()
            .map(|f| f.rule.clone())
            .as_deref(),
        Some("REPORT-003")
    );

    let e = rerender(&dir.path().join("missing")).expect_err("missing");
    assert_eq!(e.finding().map(|f| f.rule.as_str()), Some("REPORT-010"));
}

const TPUT: &str = "throughput.tcp_stream.pod_to_pod.cross_node";
const LAT: &str = "latency.tcp_rr.p50.pod_to_pod.cross_node";

fn perf_run(id: &str, at: &str, tput_mean: f64, lat_mean: f64, seed: u64) -> RunResults {
    run(
        id,
        at,
        vec![
            series(
                TPUT,
                "Gbit/s",
                true,
                normal(20, tput_mean, tput_mean * 0.03, seed),
            ),
            series(
                LAT,
                "ms",
                false,
                normal(20, lat_mean, lat_mean * 0.03, seed + 1000),
            ),
        ],
    )
}

fn save(root: &Path, r: &RunResults) -> std::path::PathBuf {
    let d = root.join(&r.run_id);
    write_all(&d, r).expect("written");
    d
}

#[test]
fn twenty_percent_throughput_drop_regresses_and_a_rerun_does_not() {
    let tmp = tempfile::tempdir().expect("tmp");
    let base = save(
        tmp.path(),
        &perf_run(
            "20260101T000000Z-000001",
            "2026-01-01T00:00:00Z",
            10.0,
            0.08,
            1,
        ),
    );

    let dropped = save(
        tmp.path(),
        &perf_run(
            "20260102T000000Z-000002",
            "2026-01-02T00:00:00Z",
            8.0,
            0.08,
            2,
        ),
    );
    let c = compare(&dropped, &base).expect("compared");
    assert!(c.has_regressions());
    let reg = c.regressions();
    assert_eq!(reg.len(), 1, "{}", c.render_text());
    assert_eq!(
        (reg[0].metric.as_str(), reg[0].unit.as_str()),
        (TPUT, "Gbit/s")
    );
    let ch = reg[0].change.expect("change");
    assert!((ch.relative_pct + 20.0).abs() < 2.5, "{ch:?}");
    assert!(
        ch.ci_low_pct <= ch.relative_pct
            && ch.relative_pct <= ch.ci_high_pct
            && ch.ci_high_pct < -5.0
    );
    assert_eq!(
        c.unchanged()
            .iter()
            .map(|m| m.metric.as_str())
            .collect::<Vec<_>>(),
        [LAT]
    );
    let text = c.render_text();
    assert!(
        text.contains("REGRESSED") && text.contains(TPUT) && text.contains("Gbit/s"),
        "{text}"
    );
    let written = c.write_to(&dropped).expect("written");
    assert_eq!(std::fs::read_to_string(&written[1]).expect("read"), text);
    let json: serde_json::Value =
        serde_json::from_str(&c.render_json().expect("json")).expect("parse");
    assert_eq!(json["metrics"][0]["verdict"], "regressed");
    assert_eq!(json["schema"], "infraflux.io/comparison/v1");

    // Same distribution, different noise: nothing flagged either way.
    let rerun = save(
        tmp.path(),
        &perf_run(
            "20260103T000000Z-000003",
            "2026-01-03T00:00:00Z",
            10.0,
            0.08,
            3,
        ),
    );
    let c = compare(&rerun, &base).expect("compared");
    assert!(!c.has_regressions(), "{}", c.render_text());
    assert_eq!(c.unchanged().len(), 2, "{}", c.render_text());
    // Deterministic: same inputs, same numbers.
    assert_eq!(c, compare(&rerun, &base).expect("compared"));
}

#[test]
fn latency_direction_is_respected() {
    let tmp = tempfile::tempdir().expect("tmp");
    let base = save(
        tmp.path(),
        &perf_run(
            "20260101T000000Z-000001",
            "2026-01-01T00:00:00Z",
            10.0,
            0.08,
            1,
        ),
    );
    let slower = save(
        tmp.path(),
        &perf_run(
            "20260102T000000Z-000002",
            "2026-01-02T00:00:00Z",
            10.0,
            0.10,
            2,
        ),
    );
    let c = compare(&slower, &base).expect("compared");
    let reg = c.regressions();
    assert_eq!(
        reg.iter().map(|m| m.metric.as_str()).collect::<Vec<_>>(),
        [LAT],
        "{}",
        c.render_text()
    );
    assert!((reg[0].change.expect("change").relative_pct - 25.0).abs() < 3.0);

    let faster = save(
        tmp.path(),
        &perf_run(
            "20260103T000000Z-000003",
            "2026-01-03T00:00:00Z",
            12.0,
            0.06,
            3,
        ),
    );
    let c = compare(&faster, &base).expect("compared");
    assert!(!c.has_regressions(), "{}", c.render_text());
    assert_eq!(c.improvements().len(), 2, "{}", c.render_text());
}

#[test]
fn history_baseline_pools_newest_runs_excludes_self_and_flags_disappeared() {
    let tmp = tempfile::tempdir().expect("tmp");
    let hist = tmp.path().join("runs");
    // An old slow run that must fall outside the newest-N window.
    save(
        &hist,
        &perf_run(
            "20250101T000000Z-000000",
            "2025-01-01T00:00:00Z",
            5.0,
            0.08,
            10,
        ),
    );
    for (i, day) in ["02", "03", "04"].iter().enumerate() {
        save(
            &hist,
            &perf_run(
                &format!("202601{day}T000000Z-00000{i}"),
                &format!("2026-01-{day}T00:00:00Z"),
                10.0,
                0.08,
                20 + i as u64,
            ),
        );
    }
    std::fs::create_dir_all(hist.join("interrupted")).expect("dir without results");

    let mut current = perf_run(
        "20260105T000000Z-000009",
        "2026-01-05T00:00:00Z",
        10.0,
        0.08,
        99,
    );
    current.perf.retain(|p| p.metric == TPUT);
    let dir = save(&hist, &current);
    let opts = CompareOptions {
        history_runs: 3,
        ..Default::default()
    };
    let c = compare_with(&dir, &hist, &opts).expect("compared");
    assert_eq!(c.baseline_kind, BaselineKind::History);
    assert_eq!(
        c.baseline_runs,
        [
            "20260102T000000Z-000000",
            "20260103T000000Z-000001",
            "20260104T000000Z-000002"
        ]
    );
    let tput = c.metrics.iter().find(|m| m.metric == TPUT).expect("tput");
    assert_eq!(
        tput.baseline.map(|b| b.n),
        Some(60),
        "pooled samples of three runs"
    );
    assert_eq!(tput.verdict, Verdict::Unchanged, "{}", c.render_text());
    let gone = c.disappeared();
    assert_eq!(
        gone.iter().map(|m| m.metric.as_str()).collect::<Vec<_>>(),
        [LAT]
    );
    assert!(
        c.has_regressions(),
        "a disappeared metric fails the comparison"
    );

    // With the whole window, the slow 2025 run is pooled in and the mean shifts.
    let wide = compare_with(
        &dir,
        &hist,
        &CompareOptions {
            history_runs: 10,
            ..Default::default()
        },
    )
    .expect("compared");
    assert_eq!(wide.baseline_runs.len(), 4);

    let e = compare(&dir, &tmp.path().join("nowhere")).expect_err("no baseline");
    assert_eq!(e.finding().map(|f| f.rule.as_str()), Some("REPORT-011"));
}

#[test]
fn unit_change_is_incomparable_and_new_metrics_are_not_failures() {
    let tmp = tempfile::tempdir().expect("tmp");
    let base = save(
        tmp.path(),
        &perf_run(
            "20260101T000000Z-000001",
            "2026-01-01T00:00:00Z",
            10.0,
            0.08,
            1,
        ),
    );
    let mut r = perf_run(
        "20260102T000000Z-000002",
        "2026-01-02T00:00:00Z",
        10.0,
        0.08,
        2,
    );
    r.perf[1].unit = "us".into();
    r.perf.push(series(
        "throughput.udp_stream",
        "Gbit/s",
        true,
        normal(5, 3.0, 0.1, 4),
    ));
    let dir = save(tmp.path(), &r);
    let c = compare(&dir, &base).expect("compared");
    assert_eq!(
        c.incomparable()
            .iter()
            .map(|m| m.metric.as_str())
            .collect::<Vec<_>>(),
        [LAT]
    );
    assert_eq!(c.new_metrics().len(), 1);
    assert!(c.has_regressions());
}

#[test]
fn degenerate_inputs_still_render() {
    // No cases, no perf: an empty but valid report.
    let mut empty = sample_run();
    empty.cases.clear();
    empty.perf.clear();
    let dir = tempfile::tempdir().expect("tmp");
    let w = write_all(dir.path(), &empty).expect("written");
    let j = parse_junit(&std::fs::read_to_string(&w.junit_xml).expect("read"));
    // Nothing ran, so nothing was verified: the verdict is a red testcase,
    // or CI would show an empty run as green.
    assert_eq!((j.root["tests"].as_str(), j.root["failures"].as_str(), j.suites.len()), ("1", "1", 1));
    assert!(
        std::fs::read_to_string(&w.summary_md)
            .expect("read")
            .contains("0 cases: 0 passed")
    );

    // One sample, constant samples, no samples.
    let mut r = sample_run();
    r.perf = vec![
        series("single", "Gbit/s", true, vec![5.0]),
        series("constant", "ms", false, vec![3.0, 3.0, 3.0]),
        series("zero", "ms", false, vec![0.0, 0.0]),
        series("empty", "ms", false, vec![]),
    ];
    let w = write_all(dir.path(), &r).expect("written");
    let html = std::fs::read_to_string(&w.report_html).expect("read");
    assert_eq!(html.matches("<svg").count(), 3);
    assert!(html.contains("no samples"));
    let perf: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&w.perf_json).expect("read")).expect("json");
    assert_eq!(perf["metrics"][0]["ci95"]["low"], 5.0);
    assert_eq!(perf["metrics"][1]["stddev"], 0.0);
    assert!(perf["metrics"][3]["mean"].is_null());
    let pd: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&w.perfdash_json).expect("read"))
            .expect("json");
    assert_eq!(pd["dataItems"].as_array().map(Vec::len), Some(3));
}

#[test]
fn verdicts_hold_across_noise_seeds() {
    let opts = CompareOptions::default();
    for seed in 0..20u64 {
        let base = Baseline {
            kind: BaselineKind::Run,
            path: "base".into(),
            runs: vec![perf_run(
                "20260101T000000Z-000001",
                "2026-01-01T00:00:00Z",
                10.0,
                0.08,
                100 + seed,
            )],
        };
        let same = perf_run(
            "20260102T000000Z-000002",
            "2026-01-02T00:00:00Z",
            10.0,
            0.08,
            200 + seed,
        );
        let c = compare_results(&same, &base, &opts).expect("compared");
        assert_eq!(c.unchanged().len(), 2, "seed {seed}: {}", c.render_text());

        let worse = perf_run(
            "20260102T000000Z-000002",
            "2026-01-02T00:00:00Z",
            8.0,
            0.10,
            300 + seed,
        );
        let c = compare_results(&worse, &base, &opts).expect("compared");
        assert_eq!(c.regressions().len(), 2, "seed {seed}: {}", c.render_text());
        for m in c.regressions() {
            let pct = m.change.expect("change").relative_pct;
            let want = if m.higher_is_better { -20.0 } else { 25.0 };
            assert!((pct - want).abs() < 4.0, "seed {seed}: {} {pct}", m.metric);
        }
    }
}

#[test]
fn gateway_cases_produce_a_conformance_report_that_parses_back() {
    let dir = tempfile::tempdir().expect("tmp");
    let run = sample_run();
    let w = write_all(dir.path(), &run).expect("written");
    let path = w.conformance_yaml.clone().expect("gateway cases present");
    assert!(w.files().contains(&path.as_path()));
    let text = std::fs::read_to_string(&path).expect("read");
    let report = super::conformance::parse("conformance-report.yaml", &text).expect("parses");
    let gw: Vec<_> = run.cases.iter().filter(|c| c.suite == "gateway").collect();
    let s = report.profiles[0].core.statistics;
    let e = report.profiles[0].extended.statistics;
    assert_eq!((s.passed + s.failed + s.skipped + e.passed + e.failed + e.skipped) as usize, gw.len());
    assert_eq!(report.date, run.started_at);

    let mut no_gw = sample_run();
    no_gw.cases.retain(|c| c.suite != "gateway");
    let dir2 = tempfile::tempdir().expect("tmp");
    let w2 = write_all(dir2.path(), &no_gw).expect("written");
    assert_eq!(w2.conformance_yaml, None);
    assert!(!dir2.path().join(super::conformance::CONFORMANCE_YAML).exists());
}

#[test]
fn pod_metrics_get_a_ratio_against_their_host_baseline() {
    let pod = normal(12, 9.0, 0.3, 7);
    let host = normal(12, 10.0, 0.3, 8);
    let r = run(
        "ratio",
        "2026-01-01T00:00:00Z",
        vec![
            measured_against(
                "throughput.tcp_stream_1.host_to_host.cross_node",
                series("throughput.tcp_stream_1.pod_to_pod.cross_node", "Gbit/s", true, pod.clone()),
            ),
            series("throughput.tcp_stream_1.host_to_host.cross_node", "Gbit/s", true, host.clone()),
            // No baseline declared: no ratio.
            series("throughput.tcp_stream_1.pod_to_pod.same_node", "Gbit/s", true, vec![9.5, 9.6]),
            // A baseline missing from the run: no ratio.
            measured_against(
                "throughput.tcp_stream_4.host_to_host.cross_node",
                series("throughput.tcp_stream_4.pod_to_pod.cross_node", "Gbit/s", true, vec![30.0, 31.0]),
            ),
            // A baseline in another unit is not comparable.
            measured_against(
                "latency.tcp_rr.host_to_host.cross_node",
                series("latency.tcp_rr.pod_to_pod.cross_node", "trans/s", true, vec![100.0, 110.0]),
            ),
            series("latency.tcp_rr.host_to_host.cross_node", "ms", false, vec![1.0, 1.1]),
        ],
    );
    let metrics = perf::metrics(&r);
    let pairs = perf::ratios(&metrics);
    assert_eq!(pairs.len(), 1, "{pairs:?}");
    let p = &pairs[0];
    assert_eq!(p.id, "throughput.tcp_stream_1.pod_vs_host.cross_node");
    assert_eq!(p.denominator, "throughput.tcp_stream_1.host_to_host.cross_node");
    let expected = crate::stats::mean(&pod).unwrap() / crate::stats::mean(&host).unwrap();
    assert!((p.ratio - expected).abs() < 1e-12);
    let ci = p.ci95.unwrap();
    assert!(ci.low < p.ratio && p.ratio < ci.high, "{ci:?}");
    assert!(ci.high < 1.0, "a 10% gap with small noise is resolved: {ci:?}");

    let dir = tempfile::tempdir().unwrap();
    write_all(dir.path(), &r).unwrap();
    let perf: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.path().join("perf.json")).unwrap()).unwrap();
    assert_eq!(perf["ratios"][0]["id"], "throughput.tcp_stream_1.pod_vs_host.cross_node");
    assert_eq!(perf["ratios"].as_array().map(Vec::len), Some(1));
    let md = std::fs::read_to_string(dir.path().join("summary.md")).unwrap();
    assert!(md.contains("| throughput.tcp_stream_1.pod_vs_host.cross_node |"), "{md}");
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert!(html.contains("Pod path against the host baseline"));
}

/// Only declared pairs get a ratio: a pod_to_pod metric and its
/// host_to_host twin in the same run are not paired by their names alone.
#[test]
fn ratios_follow_declarations_not_metric_names() {
    let r = run(
        "ratio-undeclared",
        "2026-01-01T00:00:00Z",
        vec![
            series("throughput.tcp_stream_1.pod_to_pod.cross_node", "Gbit/s", true, vec![9.0, 9.2]),
            series("throughput.tcp_stream_1.host_to_host.cross_node", "Gbit/s", true, vec![10.0, 10.2]),
            measured_against("rate.tcp_crr.baseline_run", series("rate.tcp_crr.tuned", "conn/s", true, vec![900.0, 950.0])),
            series("rate.tcp_crr.baseline_run", "conn/s", true, vec![1000.0, 1000.0]),
        ],
    );
    let metrics = perf::metrics(&r);
    let pairs = perf::ratios(&metrics);
    assert_eq!(pairs.len(), 1, "{pairs:?}");
    assert_eq!((pairs[0].numerator.as_str(), pairs[0].denominator.as_str()), ("rate.tcp_crr.tuned", "rate.tcp_crr.baseline_run"));
    assert_eq!(pairs[0].id, "rate.tcp_crr.tuned_vs_baseline_run");
    assert!((pairs[0].ratio - 0.925).abs() < 1e-12);
}

#[test]
fn ratio_ids_name_the_differing_segment() {
    assert_eq!(
        perf::ratio_id("latency.tcp_rr.pod_to_pod.cross_node", "latency.tcp_rr.host_to_host.cross_node"),
        "latency.tcp_rr.pod_vs_host.cross_node"
    );
    assert_eq!(perf::ratio_id("a.pod_to_service", "a.pod_to_pod"), "a.pod_to_service_vs_pod");
    assert_eq!(perf::ratio_id("a.b.c", "x.y"), "a.b.c.vs_baseline");
    assert_eq!(perf::ratio_id("a.b.c", "a.x.y"), "a.b.c.vs_baseline");
}

/// A results.json written before cases carried conformance metadata and
/// series their baseline still reads; it just yields no conformance report
/// and no ratios.
#[test]
fn results_without_the_new_fields_still_read() {
    let dir = tempfile::tempdir().unwrap();
    let text = r#"{"schema":"infraflux.io/results/v1","runId":"20260101T000000Z-abcdef","startedAt":"2026-01-01T00:00:00Z","durationMs":1,
        "target":{"profile":null,"profileHash":null,"provider":null,"context":null,"kubernetesVersion":null,"ciliumVersion":null,"nodeCount":null},
        "cases":[{"id":"gateway::gatewayclass-accepted","suite":"gateway","case":"gatewayclass-accepted","outcome":{"status":"passed"},"durationMs":1,"attempts":1}],
        "perf":[{"metric":"m.pod_to_pod","case":"t::c","unit":"Gbit/s","higherIsBetter":true,"samples":[1.0]},
                {"metric":"m.host_to_host","case":"t::c","unit":"Gbit/s","higherIsBetter":true,"samples":[1.0]}]}"#;
    let r: RunResults = serde_json::from_str(text).unwrap();
    assert_eq!(r.cases[0].gateway_conformance, None);
    assert_eq!(r.perf[0].baseline, None);
    let w = write_all(dir.path(), &r).unwrap();
    assert_eq!(w.conformance_yaml, None);
    assert!(perf::ratios(&perf::metrics(&r)).is_empty());
    // Written again, the absent fields stay absent.
    let json = std::fs::read_to_string(dir.path().join("results.json")).unwrap();
    assert!(!json.contains("gatewayConformance") && !json.contains("baseline"), "{json}");
}

fn prove_row(case: &str, verdict: crate::results::ProveVerdict, under: Option<&str>) -> crate::results::ProveRow {
    crate::results::ProveRow {
        id: format!("kpr::{case}"),
        suite: "kpr".into(),
        case: case.into(),
        recipe: (verdict != crate::results::ProveVerdict::NoBreak).then(|| "kpr-off".into()),
        break_description: "kube-proxy replacement off".into(),
        verdict,
        under_break: under.map(str::to_owned),
        after_restore: under.map(|_| "passed".into()),
        duration_ms: 2500,
    }
}

#[test]
fn prove_junit_counts_skips_and_carries_properties_and_the_table_counts_findings() {
    use crate::results::{PROVE_SCHEMA, ProveReport, ProveVerdict};
    let canary = "prove-canary-0c1f9e3a";
    crate::secret::register(canary);
    let report = ProveReport {
        schema: PROVE_SCHEMA.into(),
        run_id: "20261207-0400-prove".into(),
        started_at: "2026-12-07T04:00:00Z".into(),
        duration_ms: 61_000,
        target: sample_run().target,
        rows: vec![
            prove_row("nodeport", ProveVerdict::Proven, Some("step `curl`: connection refused")),
            prove_row("lb", ProveVerdict::CannotFail, Some(&format!("passed with token {canary}"))),
            prove_row("etp-local", ProveVerdict::NoBreak, None),
        ],
    };
    let dir = tempfile::tempdir().expect("tmp");
    write_prove(dir.path(), &report).expect("written");
    let xml = std::fs::read_to_string(dir.path().join("junit.xml")).expect("junit");
    assert!(!xml.contains(canary), "{xml}");
    let j = parse_junit(&xml);
    for counts in [&j.root, &j.suites[0]] {
        assert_eq!(counts["tests"], "3", "{xml}");
        assert_eq!(counts["failures"], "1", "{xml}");
        assert_eq!(counts["skipped"], "1", "{xml}");
    }
    assert_eq!(j.suites[0]["name"], PROVE_SUITE);
    assert_eq!(j.properties[0]["infraflux.runId"], "20261207-0400-prove");
    assert_eq!(j.properties[0]["infraflux.ciliumVersion"], "1.18.2");
    let kinds: Vec<&str> = j.cases.iter().map(|c| c.2.as_str()).collect();
    assert_eq!(kinds, ["passed", "failure", "skipped"]);
    assert_eq!(j.cases[1].4, "cannot fail");

    let table = render_prove_table(&report);
    assert!(!table.contains(canary), "{table}");
    assert!(table.contains("1 proven, 1 without a break (reason given), 1 finding(s) (1 cannot fail); NOT PROVEN"), "{table}");
    let json: ProveReport =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join(PROVE_JSON)).expect("json")).expect("parses");
    assert_eq!(json.rows.len(), 3);
    assert!(!json.holds());
}
