//! Lab: failover downtime. A backend agent in one namespace, the downtime
//! prober (1 ms spacing, bounded) in the other; the backend is killed, kept
//! down for a known injected outage, and restarted. The measured outage
//! window must match the real one within 10 ms. Root only.
#![allow(clippy::expect_used, reason = "test helpers fail the test loudly")]

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use infraflux::lab::LinkedPair;
use infraflux::probe::downtime::{self, DowntimeConfig, HttpProbe, Probe, TcpEchoProbe};

const TOLERANCE_MS: f64 = 10.0;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn run_failover(
    serve_args: &[&str],
    make_probe: impl FnOnce(SocketAddr) -> Box<dyn Probe + Send> + Send,
    port: u16,
    injected: Duration,
) {
    let agent = common::agent_bin();
    let pair = LinkedPair::create().expect("create lab pair");
    let mut backend = common::agent_serve(&agent, &pair.b, serve_args);
    let addr = SocketAddr::new(pair.b_ip.into(), port);
    let cfg = DowntimeConfig {
        interval: Duration::from_millis(1),
        attempt_timeout: Duration::from_millis(100),
        max_attempts: 20_000,
        max_duration: Duration::from_secs(10),
    };
    let stop = AtomicBool::new(false);

    let (report, kill_at, restart_at, ready_at) = thread::scope(|s| {
        let prober = s.spawn(|| {
            pair.a.run_in(|| {
                let mut probe = make_probe(addr);
                downtime::measure(probe.as_mut(), &cfg, &stop)
            })
        });
        thread::sleep(Duration::from_millis(400));
        let kill_at = Instant::now();
        backend.kill().expect("kill backend");
        let wake = kill_at + injected;
        thread::sleep(wake.saturating_duration_since(Instant::now()));
        let restart_at = Instant::now();
        let restarted = common::agent_serve(&agent, &pair.b, serve_args);
        let ready_at = Instant::now();
        thread::sleep(Duration::from_millis(400));
        stop.store(true, Ordering::Relaxed);
        let report = prober
            .join()
            .expect("prober thread")
            .expect("prober in namespace");
        drop(restarted);
        (report, kill_at, restart_at, ready_at)
    });

    let actual = ms(ready_at - kill_at);
    let restart_latency = ms(ready_at - restart_at);
    eprintln!(
        "failover: injected {:.1} ms, actual {actual:.1} ms (restart took {restart_latency:.1} ms), measured {:.1} ms, rate {:.0}/s, attempts {}, windows {:?}",
        ms(injected),
        report.total_downtime_ms(),
        report.rate_per_s,
        report.attempts,
        report.windows
    );
    assert!(
        report.rate_per_s >= 100.0,
        "probe rate too low: {}",
        report.rate_per_s
    );
    assert_eq!(
        report.windows.len(),
        1,
        "expected exactly one outage: {:?}",
        report.windows
    );
    let window = &report.windows[0];
    let measured = window
        .duration_ms()
        .expect("service came back before the run ended");
    assert!(
        (measured - actual).abs() <= TOLERANCE_MS,
        "measured {measured:.1} ms vs actual {actual:.1} ms"
    );
    // The window must sit where the outage was, not just have its length.
    let start_err = window.start_ms - ms(kill_at - report.started);
    let end_err = window.end_ms.unwrap_or(f64::MAX) - ms(ready_at - report.started);
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
}

#[test]
fn tcp_backend_downtime_matches_injected_outage() {
    if !common::lab_enabled() {
        return;
    }
    run_failover(
        &["--tcp-echo", "7000"],
        |addr| Box::new(TcpEchoProbe { addr }),
        7000,
        Duration::from_millis(300),
    );
}

#[test]
fn http_backend_downtime_matches_injected_outage() {
    if !common::lab_enabled() {
        return;
    }
    run_failover(
        &["--http", "8080"],
        |addr| {
            Box::new(HttpProbe {
                addr,
                host: "backend".to_string(),
                path: "/".to_string(),
            })
        },
        8080,
        Duration::from_millis(150),
    );
}
