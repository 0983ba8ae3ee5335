//! The gateway suite's verdicts as a Gateway API `ConformanceReport`.
//!
//! Same shape as the reports implementations submit to the Gateway API
//! project (`apiVersion gateway.networking.k8s.io/v1`, `kind
//! ConformanceReport`, one entry per conformance profile with core and
//! extended statistics), so tooling that reads those reports reads ours.
//! The implementation described is the one under test, Cilium; the version
//! is the one the run detected.
//!
//! What counts: a case whose result carries `gatewayConformance` (copied
//! from its suite, see `suites/gateway.yaml`) is one test of the profile,
//! core or extended as it says; the report holds no list of cases of its
//! own. The extended status lists as `supportedFeatures` the extended
//! features (upstream support level, [`GATEWAY_API_FEATURES`]) some
//! non-skipped case exercised, and as `unsupportedFeatures` those whose
//! cases were all skipped (not attempted), as upstream reports do. Runs
//! written before results carried the field have no conformance report.
//!
//! [`GATEWAY_API_FEATURES`]: crate::results::GATEWAY_API_FEATURES

use serde::{Deserialize, Serialize};

use crate::results::{ConformanceSupport, Outcome, RunResults, gateway_feature_support};

/// File name inside a run directory.
pub const CONFORMANCE_YAML: &str = "conformance-report.yaml";
/// Gateway API profile the cases' metadata describes.
pub const PROFILE: &str = "GATEWAY-HTTP";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConformanceReport {
    pub api_version: String,
    pub kind: String,
    pub implementation: Implementation,
    /// RFC 3339, the run's start.
    pub date: String,
    #[serde(rename = "gatewayAPIVersion")]
    pub gateway_api_version: String,
    #[serde(rename = "gatewayAPIChannel")]
    pub gateway_api_channel: String,
    pub mode: String,
    pub profiles: Vec<ProfileReport>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Implementation {
    pub organization: String,
    pub project: String,
    pub url: String,
    pub version: String,
    pub contact: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProfileReport {
    pub name: String,
    pub summary: String,
    pub core: Status,
    pub extended: Status,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Status {
    /// `success`, `partial` (nothing failed, something skipped) or `failure`.
    pub result: String,
    pub statistics: Statistics,
    pub failed_tests: Vec<String>,
    pub skipped_tests: Vec<String>,
    /// Extended only: features some non-skipped case exercised.
    #[serde(default)]
    pub supported_features: Vec<String>,
    /// Extended only: features every exercising case of was skipped.
    #[serde(default)]
    pub unsupported_features: Vec<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Statistics {
    #[serde(rename = "Passed")]
    pub passed: u32,
    #[serde(rename = "Failed")]
    pub failed: u32,
    #[serde(rename = "Skipped")]
    pub skipped: u32,
}

/// What the run cannot tell on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    /// Bundle version of the installed Gateway API CRDs, e.g. `v1.3.0`.
    pub gateway_api_version: Option<String>,
    /// `standard` or `experimental`.
    pub gateway_api_channel: String,
}

impl Default for Meta {
    fn default() -> Self {
        Meta {
            gateway_api_version: None,
            gateway_api_channel: "standard".into(),
        }
    }
}

/// The report for `results`, or `None` when no case result carries
/// Gateway API conformance metadata.
pub fn build(results: &RunResults, meta: &Meta) -> Option<ConformanceReport> {
    let cases: Vec<_> =
        results.cases.iter().filter_map(|c| c.gateway_conformance.as_ref().map(|g| (c, g))).collect();
    if cases.is_empty() {
        return None;
    }
    let mut core = Tally::default();
    let mut extended = Tally::default();
    let mut attempted = std::collections::BTreeSet::new();
    let mut seen = std::collections::BTreeSet::new();
    for (c, g) in cases {
        let tally = match g.support {
            ConformanceSupport::Core => &mut core,
            ConformanceSupport::Extended => &mut extended,
        };
        let skipped = matches!(c.outcome, Outcome::Skipped { .. });
        match &c.outcome {
            Outcome::Passed => tally.stats.passed += 1,
            Outcome::Failed { .. } | Outcome::TimedOut { .. } => {
                tally.stats.failed += 1;
                tally.failed.push(c.case.clone());
            }
            Outcome::Skipped { .. } => {
                tally.stats.skipped += 1;
                tally.skipped.push(c.case.clone());
            }
        }
        for f in g.features.iter().filter(|f| gateway_feature_support(f) == Some(ConformanceSupport::Extended)) {
            seen.insert(f.as_str());
            if !skipped {
                attempted.insert(f.as_str());
            }
        }
    }
    let core = core.status();
    let mut extended = extended.status();
    extended.supported_features = attempted.iter().map(|f| f.to_string()).collect();
    extended.unsupported_features = seen.difference(&attempted).map(|f| f.to_string()).collect();
    let summary = format!(
        "Core tests {} ({} passed, {} failed, {} skipped); extended tests {} ({} passed, {} failed, {} skipped)",
        core.result,
        core.statistics.passed,
        core.statistics.failed,
        core.statistics.skipped,
        extended.result,
        extended.statistics.passed,
        extended.statistics.failed,
        extended.statistics.skipped,
    );
    Some(ConformanceReport {
        api_version: "gateway.networking.k8s.io/v1".into(),
        kind: "ConformanceReport".into(),
        implementation: Implementation {
            organization: "cilium".into(),
            project: "cilium".into(),
            url: "https://github.com/cilium/cilium".into(),
            version: results.target.cilium_version.clone().unwrap_or_else(|| "unknown".into()),
            contact: Vec::new(),
        },
        date: results.started_at.clone(),
        gateway_api_version: meta.gateway_api_version.clone().unwrap_or_else(|| "unknown".into()),
        gateway_api_channel: meta.gateway_api_channel.clone(),
        mode: "default".into(),
        profiles: vec![ProfileReport {
            name: PROFILE.into(),
            summary,
            core,
            extended,
        }],
    })
}

#[derive(Default)]
struct Tally {
    stats: Statistics,
    failed: Vec<String>,
    skipped: Vec<String>,
}

impl Tally {
    fn status(self) -> Status {
        let result = if self.stats.failed > 0 {
            "failure"
        } else if self.stats.skipped > 0 {
            "partial"
        } else {
            "success"
        };
        Status {
            result: result.into(),
            statistics: self.stats,
            failed_tests: self.failed,
            skipped_tests: self.skipped,
            supported_features: Vec::new(),
            unsupported_features: Vec::new(),
        }
    }
}

/// YAML text of `report`. Every string is written double-quoted with JSON
/// escaping, which is valid YAML, so no value can change the structure.
pub fn render(report: &ConformanceReport) -> String {
    let q = |s: &str| serde_json::Value::String(s.to_owned()).to_string();
    let list = |out: &mut String, indent: &str, key: &str, items: &[String]| {
        if items.is_empty() {
            out.push_str(&format!("{indent}{key}: []\n"));
        } else {
            out.push_str(&format!("{indent}{key}:\n"));
            for i in items {
                out.push_str(&format!("{indent}- {}\n", q(i)));
            }
        }
    };
    let mut o = String::new();
    o.push_str(&format!("apiVersion: {}\n", q(&report.api_version)));
    o.push_str(&format!("kind: {}\n", q(&report.kind)));
    let im = &report.implementation;
    o.push_str("implementation:\n");
    o.push_str(&format!("  organization: {}\n", q(&im.organization)));
    o.push_str(&format!("  project: {}\n", q(&im.project)));
    o.push_str(&format!("  url: {}\n", q(&im.url)));
    o.push_str(&format!("  version: {}\n", q(&im.version)));
    list(&mut o, "  ", "contact", &im.contact);
    o.push_str(&format!("date: {}\n", q(&report.date)));
    o.push_str(&format!("gatewayAPIVersion: {}\n", q(&report.gateway_api_version)));
    o.push_str(&format!("gatewayAPIChannel: {}\n", q(&report.gateway_api_channel)));
    o.push_str(&format!("mode: {}\n", q(&report.mode)));
    o.push_str("profiles:\n");
    for p in &report.profiles {
        o.push_str(&format!("- name: {}\n", q(&p.name)));
        o.push_str(&format!("  summary: {}\n", q(&p.summary)));
        for (key, s) in [("core", &p.core), ("extended", &p.extended)] {
            o.push_str(&format!("  {key}:\n"));
            o.push_str(&format!("    result: {}\n", q(&s.result)));
            o.push_str("    statistics:\n");
            o.push_str(&format!("      Passed: {}\n", s.statistics.passed));
            o.push_str(&format!("      Failed: {}\n", s.statistics.failed));
            o.push_str(&format!("      Skipped: {}\n", s.statistics.skipped));
            list(&mut o, "    ", "failedTests", &s.failed_tests);
            list(&mut o, "    ", "skippedTests", &s.skipped_tests);
            if key == "extended" {
                list(&mut o, "    ", "supportedFeatures", &s.supported_features);
                list(&mut o, "    ", "unsupportedFeatures", &s.unsupported_features);
            }
        }
    }
    o
}

/// Parses a report written by [`render`] (or by hand) strictly.
pub fn parse(file: &str, text: &str) -> Result<ConformanceReport, String> {
    let docs = crate::yaml::parse_str(file, text).map_err(|e| e.to_string())?;
    let [doc] = docs.as_slice() else {
        return Err(format!("{file}: expected one YAML document, found {}", docs.len()));
    };
    crate::yaml::from_node(&doc.root).map_err(|e| format!("{file}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::{CaseResult, GatewayConformance, SCHEMA, Target};

    const STATIC: [&str; 2] = ["GatewayStaticAddresses", "GatewayInfrastructurePropagation"];

    /// A gateway case result carrying `support` and `features`.
    fn case(name: &str, support: ConformanceSupport, features: &[&str], outcome: Outcome) -> CaseResult {
        CaseResult {
            id: format!("gateway::{name}"),
            suite: "gateway".into(),
            case: name.into(),
            outcome,
            duration_ms: 1,
            attempts: 1,
            steps: Vec::new(),
            gateway_conformance: Some(GatewayConformance {
                support,
                features: features.iter().map(|f| f.to_string()).collect(),
            }),
        }
    }

    fn core(name: &str, outcome: Outcome) -> CaseResult {
        case(name, ConformanceSupport::Core, &["Gateway"], outcome)
    }

    fn extended(name: &str, extra: &[&str], outcome: Outcome) -> CaseResult {
        let features: Vec<&str> = ["Gateway", "HTTPRoute"].iter().chain(extra).chain(&STATIC).copied().collect();
        case(name, ConformanceSupport::Extended, &features, outcome)
    }

    fn run(cases: Vec<CaseResult>) -> RunResults {
        RunResults {
            schema: SCHEMA.into(),
            run_id: "20260102T000000Z-abcdef".into(),
            started_at: "2026-01-02T00:00:00Z".into(),
            duration_ms: 5,
            target: Target {
                cilium_version: Some("v1.18.6".into()),
                ..Target::default()
            },
            cases,
            perf: Vec::new(),
            setup_error: None,
            install: Vec::new(),
            diagnostics: None,
            drift: None,
            policy: Default::default(),
            coverage: Vec::new(),
        }
    }

    #[test]
    fn round_trips_through_yaml_with_core_and_extended_counts() {
        let results = run(vec![
            core("gatewayclass-accepted", Outcome::Passed),
            extended("host-routing-via-gateway", &[], Outcome::Failed { step: None, message: "404".into() }),
            case("crd-bundle-version", ConformanceSupport::Core, &[], Outcome::Skipped { reason: "requires gatewayApi".into() }),
            extended("http-redirects-to-https", &["HTTPRouteSchemeRedirect"], Outcome::Passed),
            case("cluster-issuers-ready", ConformanceSupport::Extended, &[], Outcome::TimedOut { step: None, after_ms: 9 }),
            extended("https-sni-routes-to-backend", &[], Outcome::Skipped { reason: "requires certManager".into() }),
            CaseResult { suite: "bgp".into(), gateway_conformance: None, ..core("not-gateway", Outcome::Passed) },
        ]);
        let meta = Meta { gateway_api_version: Some("v1.3.0".into()), ..Meta::default() };
        let report = build(&results, &meta).unwrap();
        let text = render(&report);
        let back = parse("conformance-report.yaml", &text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(back, report);
        assert_eq!(back.api_version, "gateway.networking.k8s.io/v1");
        assert_eq!(back.kind, "ConformanceReport");
        assert_eq!(back.implementation.version, "v1.18.6");
        assert_eq!(back.gateway_api_version, "v1.3.0");
        let p = &back.profiles[0];
        assert_eq!(p.name, "GATEWAY-HTTP");
        assert_eq!(p.core.statistics, Statistics { passed: 1, failed: 0, skipped: 1 });
        assert_eq!(p.core.result, "partial");
        assert_eq!(p.core.skipped_tests, vec!["crd-bundle-version"]);
        assert_eq!(p.extended.statistics, Statistics { passed: 1, failed: 2, skipped: 1 });
        assert_eq!(p.extended.failed_tests, vec!["host-routing-via-gateway", "cluster-issuers-ready"]);
        assert_eq!(p.extended.skipped_tests, vec!["https-sni-routes-to-backend"]);
        // Attempted (even when failing) means supported, as upstream reports
        // it; core features (`Gateway`, `HTTPRoute`) are not listed.
        assert_eq!(
            p.extended.supported_features,
            vec!["GatewayInfrastructurePropagation", "GatewayStaticAddresses", "HTTPRouteSchemeRedirect"]
        );
        assert!(p.core.supported_features.is_empty() && p.extended.unsupported_features.is_empty());
        assert!(text.contains("    supportedFeatures:\n    - \"GatewayInfrastructurePropagation\"\n"), "{text}");
        // The upstream key spelling, not serde's camelCase.
        assert!(text.contains("gatewayAPIVersion: \"v1.3.0\"") && text.contains("      Passed: 1"), "{text}");
    }

    #[test]
    fn results_map_to_success_partial_failure() {
        let ok = build(&run(vec![core("a", Outcome::Passed)]), &Meta::default()).unwrap();
        assert_eq!(ok.profiles[0].core.result, "success");
        let partial = build(
            &run(vec![core("a", Outcome::Passed), core("b", Outcome::Skipped { reason: "x".into() })]),
            &Meta::default(),
        )
        .unwrap();
        assert_eq!(partial.profiles[0].core.result, "partial");
        assert_eq!(partial.gateway_api_version, "unknown");
    }

    /// Only what a result carries counts: neither the suite name nor the
    /// case name makes a case part of the report.
    #[test]
    fn cases_without_conformance_metadata_make_no_report() {
        let bare = |suite: &str| CaseResult { suite: suite.into(), gateway_conformance: None, ..core("gatewayclass-accepted", Outcome::Passed) };
        assert_eq!(build(&run(vec![bare("bgp")]), &Meta::default()), None);
        // A results.json written before the field existed: no report.
        assert_eq!(build(&run(vec![bare("gateway")]), &Meta::default()), None);
        // The metadata decides, wherever the case lives.
        let r = build(&run(vec![bare("gateway"), CaseResult { suite: "edge".into(), ..core("x", Outcome::Passed) }]), &Meta::default()).unwrap();
        assert_eq!(r.profiles[0].core.statistics, Statistics { passed: 1, failed: 0, skipped: 0 });
    }

    #[test]
    fn hostile_strings_cannot_change_the_structure() {
        let mut r = build(&run(vec![core("a", Outcome::Passed)]), &Meta::default()).unwrap();
        r.implementation.version = "v1\nkind: Evil\n# \"quoted\": {x}".into();
        let back = parse("r.yaml", &render(&r)).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn parse_rejects_unknown_fields() {
        let r = build(&run(vec![core("a", Outcome::Passed)]), &Meta::default()).unwrap();
        let text = render(&r).replace("mode: \"default\"\n", "mode: \"default\"\nbogus: 1\n");
        assert!(parse("r.yaml", &text).unwrap_err().contains("bogus"));
    }

    #[test]
    fn features_whose_cases_all_skipped_are_unsupported() {
        let r = build(
            &run(vec![
                core("gatewayclass-accepted", Outcome::Passed),
                extended("http-redirects-to-https", &["HTTPRouteSchemeRedirect"], Outcome::Skipped { reason: "requires certManager".into() }),
            ]),
            &Meta::default(),
        )
        .unwrap();
        let e = &r.profiles[0].extended;
        assert!(e.supported_features.is_empty(), "{e:?}");
        assert_eq!(
            e.unsupported_features,
            vec!["GatewayInfrastructurePropagation", "GatewayStaticAddresses", "HTTPRouteSchemeRedirect"]
        );
        assert_eq!(parse("r.yaml", &render(&r)).unwrap(), r);
    }

    /// The shipped gateway suite, loaded and "run" (every case passing, its
    /// metadata copied as the engine does), gives the report the suite's
    /// comments promise: 3 core and 8 extended tests, and the three
    /// extended features the fixtures exercise.
    #[test]
    fn shipped_gateway_suite_metadata_makes_the_report() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let suites = crate::suite::load_dir(&root.join("suites"), &root.join("fixtures")).unwrap();
        let cases: Vec<CaseResult> = suites
            .iter()
            .flat_map(|s| &s.cases)
            .map(|c| CaseResult {
                id: c.id.clone(),
                suite: c.suite.clone(),
                case: c.name.clone(),
                outcome: Outcome::Passed,
                duration_ms: 1,
                attempts: 1,
                steps: Vec::new(),
                gateway_conformance: c.gateway_conformance.clone(),
            })
            .collect();
        let r = build(&run(cases), &Meta::default()).unwrap();
        let p = &r.profiles[0];
        assert_eq!(p.core.statistics, Statistics { passed: 3, failed: 0, skipped: 0 });
        assert_eq!(p.extended.statistics, Statistics { passed: 8, failed: 0, skipped: 0 });
        assert_eq!(
            p.extended.supported_features,
            vec!["GatewayInfrastructurePropagation", "GatewayStaticAddresses", "HTTPRouteSchemeRedirect"]
        );
        assert!(p.extended.unsupported_features.is_empty());
    }
}
