//! `client downtime`: probe a service at a fixed rate and report the
//! windows in which it failed. A window runs from the start of the first
//! failed attempt to the start of the next successful one, so with fast
//! failures (a refused connection is answered at once) the measured outage
//! is within one probe spacing of the real one. The same code runs in
//! cluster pods and in the lab's failover test.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::ValueEnum;
use serde::Serialize;

use crate::client::{ClientArgs, connect, ms, resolve};
use crate::report::ClientReport;
use crate::stats::Latency;

/// Probe spacing below this is not honoured (one attempt is a connect).
const MAX_RATE_HZ: f64 = 10_000.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProbeKind {
    /// New connection, one byte to a `--tcp-echo` server and back.
    Tcp,
    /// New connection, `GET --path`; success is a 2xx status.
    Http,
}

/// One availability check.
pub trait Probe {
    /// `Ok` when the service answered correctly within `timeout`.
    fn attempt(&mut self, timeout: Duration) -> Result<(), String>;
}

pub struct TcpEchoProbe {
    pub addr: SocketAddr,
}

impl Probe for TcpEchoProbe {
    fn attempt(&mut self, timeout: Duration) -> Result<(), String> {
        let run = || -> io::Result<()> {
            let mut s = connect(self.addr, timeout)?;
            s.set_nodelay(true)?;
            s.write_all(b"p")?;
            let mut b = [0u8; 1];
            s.read_exact(&mut b)?;
            if &b != b"p" {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "echo mismatch"));
            }
            Ok(())
        };
        run().map_err(|e| e.to_string())
    }
}

pub struct HttpProbe {
    pub addr: SocketAddr,
    pub host: String,
    pub path: String,
}

impl Probe for HttpProbe {
    fn attempt(&mut self, timeout: Duration) -> Result<(), String> {
        let run = || -> io::Result<u16> {
            let mut s = connect(self.addr, timeout)?;
            s.set_nodelay(true)?;
            write!(
                s,
                "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: infraflux-agent\r\nConnection: close\r\n\r\n",
                self.path, self.host
            )?;
            let mut line = String::new();
            BufReader::new(s).read_line(&mut line)?;
            line.split_whitespace()
                .nth(1)
                .and_then(|c| c.parse().ok())
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "bad status line"))
        };
        match run() {
            Ok(code) if (200..300).contains(&code) => Ok(()),
            Ok(code) => Err(format!("status {code}")),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// A failed stretch, in milliseconds since the run started.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct OutageWindow {
    pub start_ms: f64,
    /// `None` when the service was still down when the run ended.
    pub end_ms: Option<f64>,
    /// The first attempt's error in this window.
    pub error: String,
    pub failed_attempts: u64,
}

/// Folds attempt results into windows; separate from the timing loop so
/// the window logic is tested without a network.
#[derive(Debug, Default)]
pub struct WindowTracker {
    windows: Vec<OutageWindow>,
    open: Option<OutageWindow>,
}

impl WindowTracker {
    pub fn record(&mut self, at_ms: f64, result: &Result<(), String>) {
        match (result, self.open.as_mut()) {
            (Ok(()), Some(_)) => {
                if let Some(mut w) = self.open.take() {
                    w.end_ms = Some(at_ms);
                    self.windows.push(w);
                }
            }
            (Ok(()), None) => {}
            (Err(_), Some(w)) => w.failed_attempts += 1,
            (Err(e), None) => {
                self.open = Some(OutageWindow {
                    start_ms: at_ms,
                    end_ms: None,
                    error: e.clone(),
                    failed_attempts: 1,
                });
            }
        }
    }

    pub fn finish(mut self) -> Vec<OutageWindow> {
        if let Some(w) = self.open.take() {
            self.windows.push(w);
        }
        self.windows
    }
}

/// What one run measured.
#[derive(Debug, Clone)]
pub struct Measurement {
    pub attempts: u64,
    pub failures: u64,
    pub run_ms: f64,
    pub windows: Vec<OutageWindow>,
    /// Durations of the successful attempts.
    pub latencies_ms: Vec<f64>,
    pub last_ok: bool,
}

impl Measurement {
    /// An open window counts up to the end of the run.
    fn lengths(&self) -> impl Iterator<Item = f64> + '_ {
        self.windows
            .iter()
            .map(|w| w.end_ms.unwrap_or(self.run_ms) - w.start_ms)
    }

    pub fn longest_ms(&self) -> f64 {
        self.lengths().fold(0.0, f64::max)
    }

    pub fn total_ms(&self) -> f64 {
        // Not `sum()`: an empty f64 sum is -0.0, which prints as "-0.0".
        self.lengths().fold(0.0, |a, b| a + b)
    }

    pub fn rate(&self) -> f64 {
        if self.run_ms > 0.0 {
            self.attempts as f64 / (self.run_ms / 1e3)
        } else {
            0.0
        }
    }
}

/// Probes every `interval` for `span`. Attempts keep a fixed schedule; when
/// one overruns its slot the missed slots are skipped, not bunched up.
pub fn measure(
    probe: &mut dyn Probe,
    interval: Duration,
    span: Duration,
    timeout: Duration,
) -> Measurement {
    let started = Instant::now();
    let mut tracker = WindowTracker::default();
    let (mut attempts, mut failures) = (0u64, 0u64);
    let mut latencies_ms = Vec::new();
    let mut last_ok = false;
    let mut next = started;
    while started.elapsed() < span {
        let now = Instant::now();
        if now < next {
            thread::sleep(next - now);
        }
        let at = Instant::now();
        let result = probe.attempt(timeout);
        attempts += 1;
        last_ok = result.is_ok();
        if last_ok {
            latencies_ms.push(ms(at.elapsed()));
        } else {
            failures += 1;
        }
        tracker.record(ms(at - started), &result);
        next += interval;
        let after = Instant::now();
        if next < after {
            let behind = (after - next).as_nanos() / interval.as_nanos().max(1);
            next += interval * u32::try_from(behind + 1).unwrap_or(u32::MAX);
        }
    }
    Measurement {
        attempts,
        failures,
        run_ms: ms(started.elapsed()),
        windows: tracker.finish(),
        latencies_ms,
        last_ok,
    }
}

pub fn run(args: &ClientArgs, timeout: Duration) -> ClientReport {
    let Some(target) = &args.target else {
        return ClientReport::new("downtime", "").fail("downtime needs --target HOST:PORT");
    };
    let report = ClientReport::new("downtime", target);
    if !(args.rate > 0.0 && args.rate <= MAX_RATE_HZ) {
        return report.fail(format!(
            "bad --rate {}: expected more than 0 and at most {MAX_RATE_HZ} per second",
            args.rate
        ));
    }
    if !(args.duration_s > 0.0 && args.duration_s.is_finite()) {
        return report.fail(format!(
            "bad --duration-s {}: expected a positive number of seconds",
            args.duration_s
        ));
    }
    // Resolved once: a name lookup per attempt would measure DNS, not the
    // service, and an unresolvable target should fail before any probing.
    let addr = match resolve(target) {
        Ok(a) => a,
        Err(e) => return report.fail(e),
    };
    let mut probe: Box<dyn Probe> = match args.probe {
        ProbeKind::Tcp => Box::new(TcpEchoProbe { addr }),
        ProbeKind::Http => Box::new(HttpProbe {
            addr,
            host: args.host.clone().unwrap_or_else(|| host_part(target)),
            path: args.path.clone(),
        }),
    };
    let started_unix_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1e3)
        .unwrap_or(0.0);
    let m = measure(
        probe.as_mut(),
        Duration::from_secs_f64(1.0 / args.rate),
        Duration::from_secs_f64(args.duration_s),
        timeout,
    );
    into_report(report, &m, started_unix_ms)
}

fn into_report(mut report: ClientReport, m: &Measurement, started_unix_ms: f64) -> ClientReport {
    let longest = m.longest_ms();
    report.duration_s = m.run_ms / 1e3;
    report.latency_ms = Latency::from_ms(&m.latencies_ms);
    report.samples = vec![longest];
    report.downtime_ms = Some(longest);
    report.total_downtime_ms = Some(m.total_ms());
    report.windows = Some(m.windows.clone());
    report.attempts = Some(m.attempts);
    report.failures = Some(m.failures);
    report.rate_achieved = Some(m.rate());
    report.started_unix_ms = Some(started_unix_ms);
    if m.attempts == 0 {
        return report.fail("no probe attempt ran");
    }
    if !m.last_ok {
        let cause = m
            .windows
            .last()
            .map(|w| w.error.clone())
            .unwrap_or_default();
        return report.fail(format!(
            "service still down at the end of the run (since {:.1} ms): {cause}",
            m.windows.last().map(|w| w.start_ms).unwrap_or(0.0)
        ));
    }
    report.ok = true;
    report
}

/// The host of HOST:PORT (brackets kept for IPv6) for the Host header.
fn host_part(target: &str) -> String {
    match target.rsplit_once(':') {
        Some((h, p)) if p.parse::<u16>().is_ok() => h.to_string(),
        _ => target.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err() -> Result<(), String> {
        Err("refused".to_string())
    }

    #[test]
    fn windows_from_first_failure_to_first_success() {
        let mut t = WindowTracker::default();
        t.record(0.0, &Ok(()));
        t.record(1.0, &err());
        t.record(2.0, &err());
        t.record(3.0, &Ok(()));
        t.record(4.0, &err());
        let w = t.finish();
        assert_eq!(w.len(), 2);
        assert_eq!(w[0].start_ms, 1.0);
        assert_eq!(w[0].end_ms, Some(3.0));
        assert_eq!(w[0].failed_attempts, 2);
        assert_eq!(w[0].error, "refused");
        assert_eq!(w[1].end_ms, None);
    }

    /// Fails for attempts in [from, to).
    struct Scripted {
        n: u64,
        from: u64,
        to: u64,
    }

    impl Probe for Scripted {
        fn attempt(&mut self, _t: Duration) -> Result<(), String> {
            self.n += 1;
            if (self.from..self.to).contains(&(self.n - 1)) {
                Err("down".into())
            } else {
                Ok(())
            }
        }
    }

    fn scripted_report(from: u64, to: u64) -> ClientReport {
        let mut p = Scripted { n: 0, from, to };
        let m = measure(
            &mut p,
            Duration::from_millis(1),
            Duration::from_millis(300),
            Duration::from_millis(1),
        );
        into_report(ClientReport::new("downtime", "x:1"), &m, 0.0)
    }

    #[test]
    fn recovered_outage_is_ok_with_one_closed_window() {
        let r = scripted_report(10, 20);
        assert!(r.ok, "{:?}", r.error);
        let w = r.windows.as_ref().unwrap();
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].failed_attempts, 10);
        let len = w[0].end_ms.unwrap() - w[0].start_ms;
        assert_eq!(r.downtime_ms, Some(len));
        assert_eq!(r.samples, vec![len]);
        // Ten slots of at least 1 ms each (a busy machine only stretches them).
        assert!(len >= 9.0, "{len}");
        assert_eq!(r.failures, Some(10));
    }

    #[test]
    fn still_down_at_the_end_is_not_ok() {
        let r = scripted_report(5, u64::MAX);
        assert!(!r.ok);
        assert!(r.error.as_deref().unwrap_or("").contains("still down"));
        assert_eq!(r.windows.as_ref().unwrap()[0].end_ms, None);
        assert!(r.downtime_ms.unwrap() > 0.0);
    }

    #[test]
    fn no_outage_reports_zero() {
        let r = scripted_report(0, 0);
        assert!(r.ok);
        assert_eq!(r.downtime_ms, Some(0.0));
        assert_eq!(
            r.total_downtime_ms.map(f64::to_bits),
            Some(0.0f64.to_bits())
        );
        assert!(r.windows.as_ref().unwrap().is_empty());
        assert_eq!(r.attempts, Some(r.latency_ms.as_ref().unwrap().count));
        assert!(r.rate_achieved.unwrap() > 0.0);
    }

    #[test]
    fn host_part_strips_the_port() {
        assert_eq!(host_part("10.0.0.1:80"), "10.0.0.1");
        assert_eq!(host_part("[fd00::1]:80"), "[fd00::1]");
        assert_eq!(host_part("svc.ns"), "svc.ns");
    }
}
