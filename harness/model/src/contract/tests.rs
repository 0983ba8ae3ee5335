use super::*;
use crate::results::{CaseResult, SCHEMA, Target};

fn profile() -> Profile {
    crate::profile::load_default().unwrap_or_else(|e| panic!("{e}")).profile
}

#[test]
fn the_default_profile_enables_what_it_promises_and_names_the_field() {
    let mut p = profile();
    p.features.wireguard = false;
    let e = Expectations::from_profile(&p);
    assert_eq!(
        e.stance(Feature::Wireguard),
        Some(&Stance::Disabled { field: "features.wireguard".into() })
    );
    assert_eq!(
        e.stance(Feature::KubeProxyReplacement),
        Some(&Stance::Enabled { field: "features.kubeProxyReplacement".into() })
    );
    assert!(matches!(e.stance(Feature::Cilium), Some(Stance::Enabled { .. })));
    // Flux and the run's own capabilities are not the profile's to promise.
    for f in [Feature::Flux, Feature::ProbeAgent, Feature::DnsApi, Feature::BgpPeer] {
        assert_eq!(e.stance(f), None, "{f}");
        assert_eq!(run_capability(f).is_some(), f != Feature::Flux, "{f}");
    }
    assert_eq!(disabled_reason("features.wireguard"), "profile: features.wireguard is false");
}

#[test]
fn every_kind_of_promise_is_listed_once_with_its_field() {
    let p = profile();
    let ps = promises(&p);
    let ids: Vec<&str> = ps.iter().map(|p| p.id.as_str()).collect();
    for want in [
        "feature:wireguard",
        "feature:kubeProxyReplacement",
        "lbPool:main",
        "lbPool:critical",
        "bgpPeer:gw1",
        "dnsRecord:auth",
        "gatewayListener:https",
        "failover:agentRestart",
        "failover:nodeDrain",
        "perf:regressionThreshold",
    ] {
        assert_eq!(ids.iter().filter(|i| **i == want).count(), 1, "{want} in {ids:?}");
    }
    let pool = ps.iter().find(|p| p.id == "lbPool:critical").unwrap();
    assert_eq!(pool.field, "loadBalancer.pools[critical]");
    assert_eq!(pool.statement, "pool critical serves 192.168.30.200-192.168.30.250");
    assert_eq!(pool.evidence, Evidence::Cases(vec!["profile::lb-pool-critical".into()]));
    // A disabled feature is no promise.
    let mut off = profile();
    off.features.wireguard = false;
    off.features.bgp = false;
    let ids: Vec<String> = promises(&off).into_iter().map(|p| p.id).collect();
    assert!(!ids.iter().any(|i| i == "feature:wireguard" || i.starts_with("bgpPeer:")), "{ids:?}");
}

fn facts<'a>(
    id: &'a str,
    requires: &'a [Feature],
    vars: &'a BTreeMap<String, String>,
    outcome: Option<&'a Outcome>,
) -> CaseFacts<'a> {
    CaseFacts { id, requires, vars, outcome }
}

#[test]
fn verdicts_follow_the_linked_cases() {
    let none = BTreeMap::new();
    let budget = BTreeMap::from([("maxDowntimeAgentRestartMs".to_owned(), "1000".to_owned())]);
    let passed = Outcome::Passed;
    let failed = Outcome::Failed { step: None, message: "x".into() };
    let skipped = Outcome::Skipped { reason: "no probe agent image: give --agent-image".into() };
    let wg = [Feature::Cilium, Feature::Wireguard];
    let kpr = [Feature::Cilium, Feature::KubeProxyReplacement];
    let hub = [Feature::Hubble];
    let cases = [
        facts("wireguard::a", &wg, &none, Some(&passed)),
        facts("wireguard::b", &wg, &none, Some(&skipped)),
        facts("kube-proxy::a", &kpr, &none, Some(&failed)),
        facts("kube-proxy::b", &kpr, &none, Some(&passed)),
        facts("hubble::a", &hub, &none, Some(&skipped)),
        facts("hubble::b", &hub, &none, None),
        facts("failover::agent", &kpr, &budget, Some(&skipped)),
    ];
    let promise = |id: &str, evidence: Evidence| Promise {
        id: id.into(),
        field: "f".into(),
        statement: "s".into(),
        evidence,
    };
    let ps = [
        promise("wg", Evidence::Feature(Feature::Wireguard)),
        promise("kpr", Evidence::Feature(Feature::KubeProxyReplacement)),
        promise("hubble", Evidence::Feature(Feature::Hubble)),
        promise("lrp", Evidence::Feature(Feature::LocalRedirectPolicy)),
        promise("budget", Evidence::Var("maxDowntimeAgentRestartMs".into())),
        promise("pool", Evidence::Cases(vec!["profile::lb-pool-main".into()])),
        promise("perf", Evidence::Baseline),
    ];
    let r = evaluate(&ps, &cases, &None);
    let v: Vec<(Verdict, &[String])> = r.iter().map(|r| (r.verdict, r.cases.as_slice())).collect();
    assert_eq!(v[0], (Verdict::Verified, &["wireguard::a".to_owned()][..]));
    assert_eq!(v[1], (Verdict::Failed, &["kube-proxy::a".to_owned()][..]), "one failure outweighs passes");
    assert_eq!(v[2].0, Verdict::NotVerified);
    assert_eq!(
        r[2].detail,
        "no probe agent image: give --agent-image; not selected by the run's filters"
    );
    assert_eq!(v[3].0, Verdict::Uncovered);
    assert!(r[3].detail.contains("requires: [localRedirectPolicy]"), "{}", r[3].detail);
    assert_eq!(v[4], (Verdict::NotVerified, &["failover::agent".to_owned()][..]));
    assert_eq!(v[5].0, Verdict::Uncovered);
    assert_eq!(v[6].0, Verdict::NotVerified);
    assert!(r[6].detail.contains("--baseline"), "{}", r[6].detail);
    let compared = evaluate(&ps[6..], &cases, &Some(vec![]));
    assert_eq!(compared[0].verdict, Verdict::Verified);
    let regressed = evaluate(&ps[6..], &cases, &Some(vec!["throughput.x".into()]));
    assert_eq!((regressed[0].verdict, regressed[0].cases.clone()), (Verdict::Failed, vec!["throughput.x".into()]));
}

fn results(cases: Vec<Outcome>, policy: Policy, coverage: Vec<Verdict>) -> RunResults {
    RunResults {
        schema: SCHEMA.into(),
        run_id: "r".into(),
        started_at: "t".into(),
        duration_ms: 0,
        target: Target::default(),
        cases: cases
            .into_iter()
            .enumerate()
            .map(|(i, outcome)| CaseResult {
                id: format!("s::c{i}"),
                suite: "s".into(),
                case: format!("c{i}"),
                outcome,
                duration_ms: 0,
                attempts: 1,
                steps: vec![],
                gateway_conformance: None,
            })
            .collect(),
        perf: vec![],
        setup_error: None,
        install: Vec::new(),
        diagnostics: None,
        drift: None,
        policy,
        coverage: coverage
            .into_iter()
            .map(|verdict| PromiseResult {
                promise: Promise {
                    id: "p".into(),
                    field: "f".into(),
                    statement: "s".into(),
                    evidence: Evidence::Baseline,
                },
                verdict,
                cases: vec![],
                detail: String::new(),
            })
            .collect(),
    }
}

#[test]
fn a_run_that_verified_nothing_is_not_a_pass() {
    let skip = || Outcome::Skipped { reason: "r".into() };
    let gating = Policy::default();
    let v = verdict(&results(vec![], gating, vec![]));
    assert_eq!(v.status, Status::Failed);
    assert!(v.headline.contains("nothing was verified: no case was selected"), "{}", v.headline);
    let v = verdict(&results(vec![skip(), skip()], gating, vec![]));
    assert!(v.headline.contains("all 2 selected case(s) were skipped"), "{}", v.headline);
    let allow = Policy { allow_empty: true, ..gating };
    assert_eq!(verdict(&results(vec![skip()], allow, vec![])).status, Status::Pass);
}

#[test]
fn acceptance_fails_on_open_promises_and_gating_lists_them() {
    let pass = || Outcome::Passed;
    let open = vec![Verdict::Verified, Verdict::NotVerified, Verdict::Uncovered];
    let v = verdict(&results(vec![pass()], Policy::default(), open.clone()));
    assert_eq!(v.status, Status::Pass);
    assert_eq!(v.headline, "PASS: 1 case(s) ran, none failed; 2 promise(s) not verified (gating mode)");
    let acceptance = Policy { mode: Mode::Acceptance, allow_empty: false };
    let v = verdict(&results(vec![pass()], acceptance, open));
    assert_eq!(v.status, Status::Failed);
    assert_eq!(v.headline, "FAIL: acceptance (--require-all): 2 promise(s) not verified or uncovered");
    let v = verdict(&results(vec![pass()], acceptance, vec![Verdict::Verified]));
    assert_eq!(v.status, Status::Pass);
    let failed = Outcome::Failed { step: None, message: "m".into() };
    let v = verdict(&results(vec![pass(), failed], Policy::default(), vec![]));
    assert_eq!((v.status, v.headline.as_str()), (Status::Failed, "FAIL: 1 case(s) failed"));
}
