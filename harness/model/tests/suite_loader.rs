//! Data-driven loader tests over `fixtures/suites/{valid,invalid}`, plus a
//! no-panic property test of the suite parser.
//!
//! Each invalid file starts with `# expect: RULE LINE:COL message-fragment`;
//! the loader must report exactly that rule at exactly that place.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test-crate helpers: a failed setup step is the test failure"
)]

use std::path::{Path, PathBuf};

use infraflux_model::suite::{self, Feature};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn fixtures() -> PathBuf {
    root().join("fixtures")
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    v.sort();
    v
}

#[test]
fn valid_fixtures_load() {
    let files = yaml_files(&fixtures().join("suites/valid"));
    assert!(files.len() >= 2);
    let suites = suite::load_files(&files, &fixtures()).unwrap_or_else(|e| {
        panic!("{}", e.0.iter().map(|f| f.to_string()).collect::<Vec<_>>().join("\n"))
    });
    let full = suites.iter().find(|s| s.name == "full").unwrap();
    let case = &full.cases[0];
    assert_eq!(case.id, "full::everything");
    // suite requires + case requires + implied by the probe step
    assert_eq!(case.requires, vec![Feature::Cilium, Feature::LbIpam, Feature::ProbeAgent]);
    assert_eq!(case.retries, 2);
    assert_eq!(case.timeout, Some(std::time::Duration::from_secs(90)));
    assert_eq!(case.timeouts.wait.map(|d| d.0), Some(std::time::Duration::from_secs(45)));
    assert_eq!(case.steps.len(), 7);
    assert_eq!(case.catch.len(), 1);
    assert_eq!(case.finally.len(), 1);
    let fx = &full.fixtures["manifests/echo-configmap.yaml"];
    assert_eq!(fx[0]["kind"], "ConfigMap");

    let tools = suites.iter().find(|s| s.name == "failover-tools").unwrap();
    let [downtime, reset] = tools.cases.as_slice() else { panic!("{:?}", tools.cases) };
    assert_eq!(downtime.requires, vec![Feature::ProbeAgent]);
    let suite::Step::Probe(p) = &downtime.steps[0] else { panic!("{:?}", downtime.steps[0]) };
    let suite::model::ProbeAction::Downtime(d) = &p.action else { panic!("{:?}", p.action) };
    assert_eq!((d.probe, d.rate, d.duration.0), (suite::model::DowntimeKind::Http, Some(250), std::time::Duration::from_secs(30)));
    assert_eq!(p.action.sample_unit(), Some(("ms", false)));
    // A reset needs the run's BGP router even without a bgpPeer step.
    assert_eq!(reset.requires, vec![Feature::BgpPeer]);
    let suite::Step::BgpPeer(b) = &reset.steps[2] else { panic!("{:?}", reset.steps[2]) };
    assert_eq!(b.metric.as_deref(), Some("failover.example.routes_back"));
}

#[test]
fn bgp_session_reset_alone_requires_the_bgp_peer() {
    let text = "apiVersion: infraflux.io/v1alpha1\nkind: Suite\nmetadata:\n  name: x\ncases:\n  - name: a\n    steps:\n      - disrupt: {action: {bgpSessionReset: {}}}\n";
    let s = suite::load_str("s.yaml", text, &fixtures()).unwrap_or_else(|e| panic!("{:?}", e.0));
    assert_eq!(s.cases[0].requires, vec![Feature::BgpPeer]);
}

#[test]
fn bgp_peer_and_probe_names_share_one_namespace() {
    let text = "apiVersion: infraflux.io/v1alpha1\nkind: Suite\nmetadata:\n  name: x\ncases:\n  - name: a\n    steps:\n      - probe: {name: n, action: {dns: {name: a}}}\n      - bgpPeer: {name: n, minSessions: 1}\n";
    let err = suite::load_str("s.yaml", text, &fixtures()).unwrap_err();
    assert_eq!(err.0[0].rule, "SUITE-013");
    assert_eq!(err.0[0].location.as_ref().map(|l| l.line), Some(9));
}

#[test]
fn exec_fixture_loads_with_negations_reports_and_between_pods() {
    let files = vec![fixtures().join("suites/valid/exec.yaml")];
    let suites = suite::load_files(&files, &fixtures()).unwrap_or_else(|e| {
        panic!("{}", e.0.iter().map(|f| f.to_string()).collect::<Vec<_>>().join("\n"))
    });
    let case = &suites[0].cases[0];
    assert_eq!(case.requires, vec![Feature::Cilium, Feature::MultiNode, Feature::ProbeAgent]);
    assert_eq!(case.excludes, vec![Feature::Wireguard]);
    let suite::Step::Exec(e) = &case.steps[1] else { panic!("{:?}", case.steps[1]) };
    assert_eq!(e.name.as_deref(), Some("status"));
    assert_eq!(e.pods.same_node_as.as_deref(), Some("client"));
    assert_eq!(e.container.as_deref(), Some("cilium-agent"));
    assert_eq!(e.min_pods, Some(1));
    let suite::Step::Assert(a) = &case.steps[2] else { panic!() };
    assert_eq!(a.probe.as_deref(), Some("status"), "`report:` is the same field as `probe:`");
    let suite::Step::Probe(p) = &case.steps[3] else { panic!() };
    let suite::model::ProbeAction::Capture(c) = &p.action else { panic!() };
    assert_eq!(c.between_pods, ["client", "{{peer}}"]);
}

/// The eight suites the product is judged by.
const PRODUCT_SUITES: [&str; 8] =
    ["kube-proxy", "bgp", "gateway", "dns", "wireguard", "policy", "failover", "throughput"];

#[test]
fn shipped_suites_load() {
    let suites = suite::load_dir(&root().join("suites"), &fixtures()).unwrap_or_else(|e| {
        panic!("{}", e.0.iter().map(|f| f.to_string()).collect::<Vec<_>>().join("\n"))
    });
    let names: Vec<&str> = suites.iter().map(|s| s.name.as_str()).collect();
    for want in PRODUCT_SUITES {
        assert!(names.contains(&want), "missing suite {want}: {names:?}");
    }
    for s in &suites {
        for c in &s.cases {
            assert!(!c.requires.is_empty(), "{} declares no requirement", c.id);
        }
    }
}

#[test]
fn invalid_fixtures_fail_with_expected_rule_and_location() {
    let files = yaml_files(&fixtures().join("suites/invalid"));
    assert!(files.len() >= 15);
    let mut failures = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let header = text.lines().next().unwrap();
        let spec = header.strip_prefix("# expect: ").unwrap_or_else(|| panic!("{} lacks header", path.display()));
        let mut parts = spec.splitn(3, ' ');
        let (rule, loc, fragment) = (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap());
        let (line, col) = loc.split_once(':').unwrap();
        let (line, col): (u32, u32) = (line.parse().unwrap(), col.parse().unwrap());
        let file = path.display().to_string();
        match suite::load_str(&file, &text, &fixtures()) {
            Ok(_) => failures.push(format!("{file}: loaded, expected {rule}")),
            Err(e) => {
                let hit = e.0.iter().any(|f| {
                    f.rule == rule
                        && f.location.as_ref().is_some_and(|l| l.line == line && l.col == col && l.file == file)
                        && f.message.contains(fragment)
                        && !f.hint.is_empty()
                });
                if !hit {
                    failures.push(format!(
                        "{file}: want {rule} at {line}:{col} containing {fragment:?}, got:\n{}",
                        e.0.iter().map(|f| f.to_string()).collect::<Vec<_>>().join("\n")
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn unknown_step_kind_lists_valid_kinds() {
    let text = std::fs::read_to_string(fixtures().join("suites/invalid/unknown-step.yaml")).unwrap();
    let err = suite::load_str("s.yaml", &text, &fixtures()).unwrap_err();
    let msg = err.0[0].to_string();
    for kind in ["apply", "delete", "wait", "probe", "assert"] {
        assert!(msg.contains(&format!("`{kind}`")), "{msg}");
    }
}

#[test]
fn all_errors_are_collected_not_just_the_first() {
    let text = "apiVersion: infraflux.io/v1alpha1\nkind: Suite\nmetadata:\n  name: x\ncases:\n  - name: a\n    requires: [nope]\n    retries: 7\n    steps: []\n";
    let err = suite::load_str("s.yaml", text, &fixtures()).unwrap_err();
    let rules: Vec<&str> = err.0.iter().map(|f| f.rule.as_str()).collect();
    assert_eq!(rules, vec!["SUITE-003", "SUITE-005", "SUITE-007"]);
}

#[test]
fn duplicate_suite_names_across_files() {
    let dir = tempfile::tempdir().unwrap();
    let body = std::fs::read_to_string(fixtures().join("suites/valid/minimal.yaml")).unwrap();
    let a = dir.path().join("a.yaml");
    let b = dir.path().join("b.yaml");
    std::fs::write(&a, &body).unwrap();
    std::fs::write(&b, &body).unwrap();
    let err = suite::load_dir(dir.path(), &fixtures()).unwrap_err();
    assert_eq!(err.0.len(), 1);
    assert_eq!(err.0[0].rule, "SUITE-014");
}

mod prop {
    use super::*;
    use proptest::prelude::*;

    const SEED: &str = include_str!("../../../fixtures/suites/valid/full.yaml");

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

        #[test]
        fn parser_never_panics_on_arbitrary_text(text in "\\PC{0,400}") {
            let _ = suite::load_str("p.yaml", &text, Path::new("/nonexistent"));
        }

        #[test]
        fn parser_never_panics_on_mutated_suites(cut in 0usize..SEED.len(), junk in "[ -~\n]{0,12}") {
            let mut text = SEED.to_owned();
            let at = (0..=cut).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
            text.insert_str(at, &junk);
            let _ = suite::load_str("p.yaml", &text, &fixtures());
        }
    }
}

/// The worked example in suites/README.md must load as written.
#[test]
fn readme_example_loads() {
    let readme = std::fs::read_to_string(root().join("suites/README.md")).unwrap();
    let start = readme.find("```yaml\n").unwrap() + "```yaml\n".len();
    let end = start + readme[start..].find("```").unwrap();
    let s = suite::load_str("README.md", &readme[start..end], &fixtures()).unwrap_or_else(|e| {
        panic!("{}", e.0.iter().map(|f| f.to_string()).collect::<Vec<_>>().join("\n"))
    });
    assert_eq!(s.cases[0].id, "example::lb-from-pool");
    assert_eq!(s.cases[0].requires, vec![Feature::Cilium, Feature::LbIpam]);
    assert!(s.fixtures.contains_key("manifests/lb-service.yaml"));
}

/// Cases that start their own agent servers from `{{agentImage}}` need the
/// probe agent, so a run without an image skips them instead of failing.
#[test]
fn agent_image_cases_require_the_probe_agent() {
    let suites = suite::load_dir(&root().join("suites"), &fixtures()).unwrap_or_else(|e| {
        panic!("{}", e.0.iter().map(|f| f.to_string()).collect::<Vec<_>>().join("\n"))
    });
    let mut checked = 0;
    for s in &suites {
        for c in &s.cases {
            let applies_agent_fixture = c.steps.iter().any(|st| match st {
                suite::Step::Apply(a) => a.file.as_ref().is_some_and(|f| {
                    s.fixtures[f].iter().any(|d| d.to_string().contains("{{agentImage}}"))
                }),
                _ => false,
            });
            if applies_agent_fixture {
                checked += 1;
                assert!(c.requires.contains(&Feature::ProbeAgent), "{} starts agent pods but does not require probeAgent", c.id);
            }
        }
    }
    assert!(checked >= 20, "only {checked} cases start agent pods");
}

/// Issue #5's failover contract, held for every shipped failover case:
/// measured at ≥ 100 attempts/s across the disruption (a background
/// downtime probe started before the disrupt step) and held to a budget
/// the profile can replace (a `maxDowntime…` variable).
#[test]
fn failover_cases_measure_downtime_against_a_profile_budget() {
    use infraflux_model::suite::model::{Bound, DisruptAction, ProbeAction};
    let suites = suite::load_dir(&root().join("suites"), &fixtures()).unwrap_or_else(|e| panic!("{:?}", e.0));
    let failover = suites.iter().find(|s| s.name == "failover").unwrap();
    let budget = |b: &Option<Bound>| b.as_ref().is_some_and(|b| b.0.starts_with("{{maxDowntime") && b.0.ends_with("Ms}}"));
    for c in &failover.cases {
        let disrupt = c.steps.iter().position(|s| matches!(s, suite::Step::Disrupt(_))).unwrap_or_else(|| panic!("{} disrupts nothing", c.id));
        let asserts_budget = |probe: &str, path: &str| {
            c.steps[disrupt..].iter().any(|s| match s {
                suite::Step::Assert(a) if a.probe.as_deref() == Some(probe) => {
                    a.that.iter().any(|p| p.path == path && p.range.as_ref().is_some_and(|r| budget(&r.max)))
                }
                _ => false,
            })
        };
        if let suite::Step::Disrupt(d) = &c.steps[disrupt]
            && matches!(d.action, DisruptAction::BgpSessionReset(_))
        {
            assert!(asserts_budget("back", "$.elapsed_ms"), "{}: the way back is not held to a budget", c.id);
            continue;
        }
        let probe = c.steps[..disrupt]
            .iter()
            .find_map(|s| match s {
                suite::Step::Probe(p) if p.background && matches!(p.action, ProbeAction::Downtime(_)) => Some(p),
                _ => None,
            })
            .unwrap_or_else(|| panic!("{}: no background downtime probe before the disruption", c.id));
        let ProbeAction::Downtime(d) = &probe.action else { unreachable!() };
        assert!(d.rate.unwrap_or(suite::model::DEFAULT_DOWNTIME_RATE) >= 100, "{}", c.id);
        assert!(probe.metric.as_deref().is_some_and(|m| m.ends_with(".downtime")), "{}: {:?}", c.id, probe.metric);
        let name = probe.name.as_deref().unwrap();
        assert!(asserts_budget(name, "$.downtime_ms"), "{}: downtime_ms is not held to a maxDowntime… budget", c.id);
        let rate_checked = c.steps[disrupt..].iter().any(|s| match s {
            suite::Step::Assert(a) if a.probe.as_deref() == Some(name) => a.that.iter().any(|p| {
                p.path == "$.rate_achieved"
                    && p.range.as_ref().and_then(|r| r.min.as_ref()).and_then(|b| b.value().ok()).is_some_and(|v| v >= 100.0)
            }),
            _ => false,
        });
        assert!(rate_checked, "{}: rate_achieved is not held to at least 100/s", c.id);
    }
}

#[test]
fn conformance_and_baseline_fixture_loads_with_its_metadata() {
    use infraflux_model::results::{ConformanceSupport, GatewayConformance};
    let files = vec![fixtures().join("suites/valid/conformance-and-baselines.yaml")];
    let suites = suite::load_files(&files, &fixtures()).unwrap_or_else(|e| panic!("{:?}", e.0));
    let cases = &suites[0].cases;
    assert_eq!(
        cases[1].gateway_conformance,
        Some(GatewayConformance {
            support: ConformanceSupport::Extended,
            features: vec!["Gateway".into(), "HTTPRoute".into(), "HTTPRouteSchemeRedirect".into()],
        })
    );
    assert_eq!(cases[2].gateway_conformance.as_ref().map(|g| g.features.len()), Some(0));
    assert_eq!(cases[3].gateway_conformance, None);
    let suite::Step::Probe(p) = &cases[3].steps[0] else { panic!("{:?}", cases[3].steps[0]) };
    assert_eq!(p.baseline.as_deref(), Some("throughput.tcp_stream_1.host_to_host.cross_node"));
}

#[test]
fn conformance_metadata_rejects_repeats_and_self_baselines() {
    let head = "apiVersion: infraflux.io/v1alpha1\nkind: Suite\nmetadata:\n  name: x\nrequires: [gatewayApi]\ncases:\n  - name: a\n";
    let text = format!("{head}    gatewayConformance: {{support: core, features: [Gateway, Gateway]}}\n    steps:\n      - probe: {{metric: m.a, baseline: m.a, action: {{dns: {{name: a}}}}}}\n");
    let err = suite::load_str("s.yaml", &text, &fixtures()).unwrap_err();
    let got: Vec<(&str, &str)> = err.0.iter().map(|f| (f.rule.as_str(), f.message.as_str())).collect();
    assert!(got.contains(&("SUITE-020", "feature `Gateway` is listed twice")), "{got:?}");
    assert!(got.contains(&("SUITE-021", "metric `m.a` names itself as its baseline")), "{got:?}");
}

/// Every shipped gateway case says what it proves, and a case counts as
/// extended exactly when it exercises an extended feature or is a
/// cert-manager case (platform wiring beyond the API).
#[test]
fn shipped_gateway_cases_declare_their_conformance() {
    use infraflux_model::results::{ConformanceSupport, gateway_feature_support};
    let suites = suite::load_dir(&root().join("suites"), &fixtures()).unwrap_or_else(|e| panic!("{:?}", e.0));
    let gw = suites.iter().find(|s| s.name == "gateway").unwrap();
    for c in &gw.cases {
        let g = c.gateway_conformance.as_ref().unwrap_or_else(|| panic!("{} declares no gatewayConformance", c.id));
        let extended_feature =
            g.features.iter().any(|f| gateway_feature_support(f) == Some(ConformanceSupport::Extended));
        let cert_manager = c.requires.contains(&Feature::CertManager);
        assert_eq!(g.support == ConformanceSupport::Extended, extended_feature || cert_manager, "{} is classified wrongly", c.id);
    }
    let declared = |s: &suite::LoadedSuite| s.cases.iter().any(|c| c.gateway_conformance.is_some());
    let elsewhere: Vec<&str> = suites.iter().filter(|s| s.name != "gateway" && declared(s)).map(|s| s.name.as_str()).collect();
    assert!(elsewhere.is_empty(), "conformance metadata outside the gateway suite: {elsewhere:?}");
}

/// Every pod_to_pod metric of the throughput suite that has a host_to_host
/// twin declares it as its baseline, so the reports keep every pod/host ratio.
#[test]
fn throughput_pod_metrics_declare_their_host_baseline() {
    let suites = suite::load_dir(&root().join("suites"), &fixtures()).unwrap_or_else(|e| panic!("{:?}", e.0));
    let tp = suites.iter().find(|s| s.name == "throughput").unwrap();
    let probes: Vec<&suite::model::Probe> = tp
        .cases
        .iter()
        .flat_map(|c| &c.steps)
        .filter_map(|s| match s {
            suite::Step::Probe(p) if p.metric.is_some() => Some(p),
            _ => None,
        })
        .collect();
    let metrics: Vec<&str> = probes.iter().filter_map(|p| p.metric.as_deref()).collect();
    let mut pairs = 0;
    for p in &probes {
        let m = p.metric.as_deref().unwrap();
        let twin = m.replace(".pod_to_pod.", ".host_to_host.");
        if twin != m && metrics.contains(&twin.as_str()) {
            assert_eq!(p.baseline.as_deref(), Some(twin.as_str()), "{m}");
            pairs += 1;
        }
    }
    assert_eq!(pairs, 4);
}
