//! Lab: the command lines the engine builds for suite probe actions
//! (`cluster::exec::agent_argv`) run by the real agent across a veth, so
//! the suite fields and the agent's CLI cannot drift apart: an https
//! request pinned to an address by `resolve` (SNI, served SANs), a
//! redirect, and the `downtime` probe over http and tcp, healthy and
//! against a dead port. The gateway cases' own predicates, read from
//! `suites/gateway.yaml`, are checked on the real reports.
//! Root only (see common::lab_enabled).
#![allow(clippy::expect_used, reason = "test helpers fail the test loudly")]

use infraflux_testkit::lab::{self, agent as common};

use std::path::Path;
use std::time::Duration;

use infraflux_engine::probes::argv::agent_argv;
use infraflux_testkit::lab::Netns;
use infraflux_testkit::paths;
use infraflux_model::suite::model::{DowntimeKind, DowntimeProbe, HttpProbe, HumanDuration, ProbeAction};

fn run(agent: &Path, ns: &Netns, action: &ProbeAction) -> serde_json::Value {
    let argv = agent_argv(action, Duration::from_secs(2));
    assert_eq!(argv[0], "infraflux-agent");
    let args: Vec<&str> = argv[1..].iter().map(String::as_str).collect();
    common::agent_run(agent, ns, &args, Duration::from_secs(30))
}

fn https(url: &str, addr: &str) -> ProbeAction {
    ProbeAction::Http(HttpProbe {
        url: url.into(),
        method: None,
        headers: vec![],
        insecure: true,
        resolve: Some(addr.into()),
    })
}

fn downtime(host: &str, port: u16, probe: DowntimeKind, secs: u64) -> ProbeAction {
    ProbeAction::Downtime(DowntimeProbe {
        host: host.into(),
        port,
        probe,
        path: None,
        host_header: None,
        rate: None,
        duration: HumanDuration(Duration::from_secs(secs)),
    })
}

#[test]
fn suite_probe_actions_run_as_the_agent_expects() {
    if !lab::enabled() {
        return;
    }
    let common::Served { agent, pair, server: _server } = common::served_pair(
        &["--http", "8080", "--https", "8443", "--tls-san", "a.infraflux.test,b.infraflux.test,*.infraflux.test", "--tcp-echo", "7000"],
    );
    let b = pair.b_ip.to_string();

    // resolve: the name is only in the URL; the address comes from the step.
    let r = run(&agent, &pair.a, &https("https://a.infraflux.test:8443/", &b));
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["status"], 200, "{r}");
    assert_eq!(r["tls"]["sni"], "a.infraflux.test", "{r}");
    let sans: Vec<&str> = r["tls"]["peer_sans"].as_array().expect("peer_sans").iter().filter_map(|v| v.as_str()).collect();
    assert!(sans.contains(&"a.infraflux.test") && sans.contains(&"b.infraflux.test"), "{r}");
    // ...and what served-certificate-covers-hostnames asserts holds on it.
    for p in shipped_predicates("gateway::served-certificate-covers-hostnames", "served", 4) {
        infraflux_engine::probes::predicate::check(&p, &r).unwrap_or_else(|e| panic!("{e}: {r}"));
    }
    let echo = common::json(r["body"].as_str().expect("body"));
    assert_eq!(echo["headers"]["host"], "a.infraflux.test", "{echo}");
    assert_eq!(echo["tls"], true);

    // The shipped http-redirects-to-https predicates hold on what the
    // agent reports for a redirect (the agent's server answers /status/301
    // with an https Location, as the Gateway's redirect filter does).
    let plain = ProbeAction::Http(HttpProbe {
        url: "http://a.infraflux.test:8080/status/301".into(),
        method: None,
        headers: vec![],
        insecure: false,
        resolve: Some(b.clone()),
    });
    let r = run(&agent, &pair.a, &plain);
    for p in shipped_predicates("gateway::http-redirects-to-https", "redirect", 2) {
        infraflux_engine::probes::predicate::check(&p, &r).unwrap_or_else(|e| panic!("{e}: {r}"));
    }

    // downtime over http and over tcp (an echo server): no outage at 200/s.
    for (action, what) in [
        (downtime(&b, 8080, DowntimeKind::Http, 2), "http"),
        (downtime(&b, 7000, DowntimeKind::Tcp, 2), "tcp"),
    ] {
        let r = run(&agent, &pair.a, &action);
        assert_eq!(r["ok"], true, "{what}: {r}");
        assert_eq!(r["downtime_ms"], 0.0, "{what}: {r}");
        assert_eq!(r["samples"], serde_json::json!([0.0]), "{what}: {r}");
        let rate = r["rate_achieved"].as_f64().expect("rate_achieved");
        assert!(rate >= 100.0, "{what}: {rate}/s is below what the failover suite asserts: {r}");
    }

    // Nothing listens on 9: the whole run is one outage and the last
    // attempt failed, so the probe fails and says how long.
    let r = run(&agent, &pair.a, &downtime(&b, 9, DowntimeKind::Tcp, 1));
    assert_eq!(r["ok"], false, "{r}");
    let down = r["downtime_ms"].as_f64().expect("downtime_ms");
    assert!(down >= 800.0, "{down} ms for a 1 s outage: {r}");
}

/// The predicates a shipped case asserts on its probe `probe` (`n` of them).
fn shipped_predicates(case_id: &str, probe: &str, n: usize) -> Vec<infraflux_model::suite::model::Predicate> {
    let suites = infraflux_model::suite::load_dir(&paths::suites_dir(), &paths::fixtures_dir()).expect("suites load");
    let case = suites.iter().flat_map(|s| &s.cases).find(|c| c.id == case_id).expect("shipped case");
    let that: Vec<_> = case
        .steps
        .iter()
        .filter_map(|s| match s {
            infraflux_model::suite::Step::Assert(a) if a.probe.as_deref() == Some(probe) => Some(a.that.clone()),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(that.len(), n, "{case_id}: {that:?}");
    that
}
