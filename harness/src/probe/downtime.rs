//! Downtime measurement: probe a service at a fixed spacing and report the
//! windows in which it failed. A window runs from the start of the first
//! failed attempt to the start of the first successful one after it, so with
//! 1 ms spacing and fast failures (a refused connection is answered at once)
//! the measured downtime is within about one spacing of the real outage.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use serde::Serialize;

/// One availability check.
pub trait Probe {
    /// `Ok` when the service answered correctly within `timeout`.
    fn attempt(&mut self, timeout: Duration) -> Result<(), String>;
}

/// New TCP connection, one byte to an echo server, the same byte back.
pub struct TcpEchoProbe {
    pub addr: SocketAddr,
}

impl Probe for TcpEchoProbe {
    fn attempt(&mut self, timeout: Duration) -> Result<(), String> {
        let run = || -> io::Result<()> {
            let mut s = TcpStream::connect_timeout(&self.addr, timeout)?;
            s.set_nodelay(true)?;
            s.set_read_timeout(Some(timeout))?;
            s.set_write_timeout(Some(timeout))?;
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

/// New TCP connection, `GET <path>`; success is a 2xx status.
pub struct HttpProbe {
    pub addr: SocketAddr,
    pub host: String,
    pub path: String,
}

impl Probe for HttpProbe {
    fn attempt(&mut self, timeout: Duration) -> Result<(), String> {
        let run = || -> io::Result<u16> {
            let mut s = TcpStream::connect_timeout(&self.addr, timeout)?;
            s.set_nodelay(true)?;
            s.set_read_timeout(Some(timeout))?;
            s.set_write_timeout(Some(timeout))?;
            write!(
                s,
                "GET {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
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

#[derive(Debug, Clone)]
pub struct DowntimeConfig {
    /// Spacing between attempt starts (1 ms gives ±1 ms resolution).
    pub interval: Duration,
    /// Bound on one attempt.
    pub attempt_timeout: Duration,
    /// Hard bounds on the run; whichever is hit first ends it.
    pub max_attempts: u64,
    pub max_duration: Duration,
}

impl Default for DowntimeConfig {
    fn default() -> DowntimeConfig {
        DowntimeConfig {
            interval: Duration::from_millis(1),
            attempt_timeout: Duration::from_millis(100),
            max_attempts: 60_000,
            max_duration: Duration::from_secs(60),
        }
    }
}

/// A failed stretch, in milliseconds since the run started.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct OutageWindow {
    pub start_ms: f64,
    /// `None` when the service was still down when the run ended.
    pub end_ms: Option<f64>,
    pub failed_attempts: u64,
    pub first_error: String,
}

impl OutageWindow {
    pub fn duration_ms(&self) -> Option<f64> {
        self.end_ms.map(|e| e - self.start_ms)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct DowntimeReport {
    /// When the run started; window offsets are relative to it.
    #[serde(skip)]
    pub started: Instant,
    pub attempts: u64,
    pub successes: u64,
    pub failures: u64,
    pub run_ms: f64,
    /// Achieved attempt rate (attempts per second).
    pub rate_per_s: f64,
    pub windows: Vec<OutageWindow>,
}

impl DowntimeReport {
    /// Sum of closed windows; an open window counts up to the end of the run.
    pub fn total_downtime_ms(&self) -> f64 {
        self.windows
            .iter()
            .map(|w| w.end_ms.unwrap_or(self.run_ms) - w.start_ms)
            .sum()
    }

    pub fn longest_ms(&self) -> f64 {
        self.windows
            .iter()
            .map(|w| w.end_ms.unwrap_or(self.run_ms) - w.start_ms)
            .fold(0.0, f64::max)
    }
}

/// Folds attempt results into windows. Kept separate from the timing loop
/// so the window logic is tested without a network.
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
                    failed_attempts: 1,
                    first_error: e.clone(),
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

/// Probes until `stop` is set or a bound in `cfg` is reached. Attempts keep
/// a fixed schedule; when one overruns its slot the missed slots are skipped
/// rather than bunched up.
pub fn measure(probe: &mut dyn Probe, cfg: &DowntimeConfig, stop: &AtomicBool) -> DowntimeReport {
    let started = Instant::now();
    let interval = cfg.interval.max(Duration::from_micros(100));
    let mut tracker = WindowTracker::default();
    let (mut attempts, mut successes) = (0u64, 0u64);
    let mut next = started;
    while attempts < cfg.max_attempts
        && started.elapsed() < cfg.max_duration
        && !stop.load(Ordering::Relaxed)
    {
        let now = Instant::now();
        if now < next {
            thread::sleep(next - now);
        }
        let at = Instant::now();
        let result = probe.attempt(cfg.attempt_timeout);
        attempts += 1;
        if result.is_ok() {
            successes += 1;
        }
        tracker.record((at - started).as_secs_f64() * 1e3, &result);
        next += interval;
        let after = Instant::now();
        if next < after {
            let behind = (after - next).as_nanos() / interval.as_nanos().max(1);
            next += interval * (behind as u32 + 1);
        }
    }
    let run_ms = started.elapsed().as_secs_f64() * 1e3;
    DowntimeReport {
        started,
        attempts,
        successes,
        failures: attempts - successes,
        run_ms,
        rate_per_s: if run_ms > 0.0 {
            attempts as f64 / (run_ms / 1e3)
        } else {
            0.0
        },
        windows: tracker.finish(),
    }
}

/// A `stop` flag shared between the prober and whoever ends the run.
pub fn stop_flag() -> Arc<AtomicBool> {
    Arc::new(AtomicBool::new(false))
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
        assert_eq!(w[0].duration_ms(), Some(2.0));
        assert_eq!(w[1].end_ms, None);
    }

    /// A scripted probe: fails for attempts in [from, to).
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

    #[test]
    fn measure_respects_attempt_bound_and_counts() {
        let mut p = Scripted {
            n: 0,
            from: 10,
            to: 20,
        };
        let cfg = DowntimeConfig {
            interval: Duration::from_micros(100),
            attempt_timeout: Duration::from_millis(1),
            max_attempts: 50,
            max_duration: Duration::from_secs(10),
        };
        let r = measure(&mut p, &cfg, &AtomicBool::new(false));
        assert_eq!(r.attempts, 50);
        assert_eq!(r.failures, 10);
        assert_eq!(r.windows.len(), 1);
        assert_eq!(r.windows[0].failed_attempts, 10);
        assert!(r.windows[0].end_ms.is_some());
    }

    #[test]
    fn measure_stops_on_flag() {
        let mut p = Scripted {
            n: 0,
            from: 0,
            to: 0,
        };
        let r = measure(&mut p, &DowntimeConfig::default(), &AtomicBool::new(true));
        assert_eq!(r.attempts, 0);
        assert!(r.windows.is_empty());
    }
}
