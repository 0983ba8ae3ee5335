//! Lab: failover downtime. A backend agent in one namespace, the agent's
//! `client downtime` prober (1000 attempts/s) in the other; the backend is
//! killed, kept down for a known injected outage, and restarted. The
//! measured outage window must match the real one within 10 ms, in length
//! and in position. Root only.
#![allow(clippy::expect_used, reason = "test helpers fail the test loudly")]

use infraflux_testkit::lab::{self, agent as common};

use std::process::Command;
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use infraflux_testkit::lab::{LabProcess, LinkedPair};

const TOLERANCE_MS: f64 = 10.0;

fn unix_ms(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs_f64()
        * 1e3
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Starts `client downtime` in `pair.a` against `target` with `probe_args`.
fn start_prober(pair: &LinkedPair, target: &str, probe_args: &[&str], secs: f64) -> LabProcess {
    let agent = common::agent_bin();
    let secs = secs.to_string();
    let mut cmd = Command::new(&agent);
    cmd.args([
        "--netns",
        pair.a.name(),
        "client",
        "downtime",
        "--target",
        target,
    ])
    .args(probe_args)
    .args([
        "--rate",
        "1000",
        "--timeout-ms",
        "100",
        "--duration-s",
        &secs,
    ]);
    LabProcess::spawn("agent downtime", &mut cmd).expect("spawn prober")
}

fn run_failover(serve_args: &[&str], probe_args: &[&str], port: u16, injected: Duration) {
    let common::Served { agent, pair, server: mut backend } = common::served_pair(serve_args);
    let target = format!("{}:{port}", pair.b_ip);
    let mut prober = start_prober(&pair, &target, probe_args, 2.0);

    thread::sleep(Duration::from_millis(400));
    let kill_at = SystemTime::now();
    backend.kill().expect("kill backend");
    let wake = kill_at + injected;
    thread::sleep(
        wake.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    );
    let restart_at = SystemTime::now();
    let _restarted = common::agent_serve(&agent, &pair.b, serve_args);
    let ready_at = SystemTime::now();
    let report = common::report(&mut prober, Duration::from_secs(10));

    let actual = ms(ready_at.duration_since(kill_at).expect("ready after kill"));
    let restart_latency = ms(ready_at
        .duration_since(restart_at)
        .expect("ready after restart"));
    eprintln!(
        "failover: injected {:.1} ms, actual {actual:.1} ms (restart took {restart_latency:.1} ms), report {report}",
        ms(injected)
    );
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["mode"], "downtime");
    let rate = report["rate_achieved"].as_f64().expect("rate_achieved");
    assert!(rate >= 100.0, "probe rate too low: {rate}");
    let windows = report["windows"].as_array().expect("windows");
    assert_eq!(windows.len(), 1, "expected exactly one outage: {report}");
    let w = &windows[0];
    let (start, end) = (
        w["start_ms"].as_f64().expect("start_ms"),
        w["end_ms"]
            .as_f64()
            .expect("service came back before the run ended"),
    );
    let measured = end - start;
    assert_eq!(report["downtime_ms"].as_f64(), Some(measured));
    assert_eq!(report["total_downtime_ms"].as_f64(), Some(measured));
    assert_eq!(report["samples"], serde_json::json!([measured]));
    assert!(
        (measured - actual).abs() <= TOLERANCE_MS,
        "measured {measured:.1} ms vs actual {actual:.1} ms"
    );
    // The window must sit where the outage was, not just have its length:
    // the agent's wall-clock start places it against the test's events.
    let started = report["started_unix_ms"].as_f64().expect("started_unix_ms");
    let start_err = started + start - unix_ms(kill_at);
    let end_err = started + end - unix_ms(ready_at);
    assert!(
        start_err.abs() <= TOLERANCE_MS && end_err.abs() <= TOLERANCE_MS,
        "window offset by {start_err:.1}/{end_err:.1} ms"
    );
    // And the prober must not invent downtime while the backend is up.
    assert!(actual >= ms(injected));
    assert!(
        (measured - ms(injected)).abs() <= TOLERANCE_MS + restart_latency,
        "measured {measured:.1} ms vs injected {:.1} ms",
        ms(injected)
    );
    let attempts = report["attempts"].as_u64().expect("attempts");
    let failures = report["failures"].as_u64().expect("failures");
    assert_eq!(w["failed_attempts"].as_u64(), Some(failures));
    assert!(failures > 0 && failures < attempts, "{report}");
}

#[test]
fn tcp_backend_downtime_matches_injected_outage() {
    if !lab::enabled() {
        return;
    }
    run_failover(
        &["--tcp-echo", "7000"],
        &["--probe", "tcp"],
        7000,
        Duration::from_millis(300),
    );
}

#[test]
fn http_backend_downtime_matches_injected_outage() {
    if !lab::enabled() {
        return;
    }
    run_failover(
        &["--http", "8080"],
        &["--probe", "http", "--path", "/healthz", "--host", "backend"],
        8080,
        Duration::from_millis(150),
    );
}

#[test]
fn downtime_reports_a_service_still_down_and_bad_targets() {
    if !lab::enabled() {
        return;
    }
    let pair = LinkedPair::create().expect("create lab pair");
    // The http probe needs a 2xx: a backend answering 503 is down.
    let _backend = common::agent_serve(
        &common::agent_bin(),
        &pair.b,
        &["--http", "8080", "--dns", "53"],
    );
    let target = format!("{}:8080", pair.b_ip);
    let mut p = start_prober(
        &pair,
        &target,
        &["--probe", "http", "--path", "/status/503"],
        0.3,
    );
    let down = common::report(&mut p, Duration::from_secs(10));
    assert_eq!(down["ok"], false, "{down}");
    let err = down["error"].as_str().unwrap_or("");
    assert!(err.contains("still down") && err.contains("503"), "{down}");
    let w = &down["windows"][0];
    assert!(w["end_ms"].is_null(), "{down}");
    assert_eq!(w["error"], "status 503");
    assert_eq!(down["failures"], down["attempts"]);
    assert!(
        down["downtime_ms"].as_f64().unwrap_or(0.0) >= 250.0,
        "{down}"
    );

    // Nothing listens on 7999: refused from the first attempt on.
    let mut p = start_prober(&pair, &format!("{}:7999", pair.b_ip), &[], 0.2);
    let refused = common::report(&mut p, Duration::from_secs(10));
    assert_eq!(refused["ok"], false, "{refused}");
    assert!(
        refused["windows"][0]["error"]
            .as_str()
            .unwrap_or("")
            .contains("refused"),
        "{refused}"
    );

    // An unresolvable name fails before probing. The namespace's resolver
    // is the lab DNS server (NXDOMAIN for every name), so no query leaves
    // the lab.
    pair.a
        .set_resolv_conf(&format!(
            "nameserver {}\noptions timeout:1 attempts:1\n",
            pair.b_ip
        ))
        .expect("resolv.conf");
    let mut cmd = pair.a.command(common::agent_bin());
    cmd.args([
        "client",
        "downtime",
        "--target",
        "no-such-host.lab:80",
        "--duration-s",
        "5",
    ]);
    let mut p = LabProcess::spawn("agent downtime by name", &mut cmd).expect("spawn prober");
    let unresolved = common::report(&mut p, Duration::from_secs(10));
    assert_eq!(unresolved["ok"], false, "{unresolved}");
    assert!(
        unresolved["error"]
            .as_str()
            .unwrap_or("")
            .contains("failed to resolve"),
        "{unresolved}"
    );
    assert!(unresolved["attempts"].is_null(), "{unresolved}");
    assert!(unresolved["duration_s"].as_f64().unwrap_or(1.0) < 1.0);
}
