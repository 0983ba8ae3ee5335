//! The one JSON object every `client` run prints. Every field is always
//! present (null when it does not apply) so consumers can decode strictly.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::certinfo::TlsInfo;
use crate::downtime::OutageWindow;
use crate::stats::Latency;

#[derive(Debug, Clone, Serialize)]
pub struct ClientReport {
    /// http (also for https:// URLs) | tcp | udp | stream | rr | crr | dns | downtime
    pub mode: &'static str,
    pub ok: bool,
    pub error: Option<String>,
    pub target: String,
    /// HTTP status code, or the DNS RCODE for `dns`.
    pub status: Option<u16>,
    pub latency_ms: Option<Latency>,
    /// Payload bytes moved (stream: bytes the server acknowledged).
    pub bytes: u64,
    pub duration_s: f64,
    pub throughput_gbps: Option<f64>,
    pub transactions_per_s: Option<f64>,
    pub connections_per_s: Option<f64>,
    /// One value per sample: Gbit/s (stream), transactions/s (rr),
    /// connections/s (crr), the longest outage in ms (downtime, one value),
    /// or per-attempt latency in ms (other modes).
    pub samples: Vec<f64>,
    /// Response body (http/https, first 64 KiB, lossy UTF-8).
    pub body: Option<String>,
    /// DNS answers (A/AAAA addresses as text).
    pub answers: Vec<String>,
    /// https: the negotiated session and the server's leaf certificate.
    pub tls: Option<TlsInfo>,
    /// http: response headers of the last attempt (lowercased names,
    /// repeated headers joined with ", ").
    pub headers: Option<BTreeMap<String, String>>,
    /// downtime: longest outage window (0.0 when none).
    pub downtime_ms: Option<f64>,
    /// downtime: sum of all outage windows.
    pub total_downtime_ms: Option<f64>,
    /// downtime: every outage window, in ms since the run started.
    pub windows: Option<Vec<OutageWindow>>,
    pub attempts: Option<u64>,
    pub failures: Option<u64>,
    /// downtime: attempts per second actually made.
    pub rate_achieved: Option<f64>,
    /// downtime: wall-clock start of the run (ms since the Unix epoch), so
    /// windows can be placed against events outside the agent.
    pub started_unix_ms: Option<f64>,
}

impl ClientReport {
    pub fn new(mode: &'static str, target: &str) -> ClientReport {
        ClientReport {
            mode,
            ok: false,
            error: None,
            target: target.to_string(),
            status: None,
            latency_ms: None,
            bytes: 0,
            duration_s: 0.0,
            throughput_gbps: None,
            transactions_per_s: None,
            connections_per_s: None,
            samples: Vec::new(),
            body: None,
            answers: Vec::new(),
            tls: None,
            headers: None,
            downtime_ms: None,
            total_downtime_ms: None,
            windows: None,
            attempts: None,
            failures: None,
            rate_achieved: None,
            started_unix_ms: None,
        }
    }

    pub fn fail(mut self, error: impl std::fmt::Display) -> ClientReport {
        self.ok = false;
        self.error = Some(error.to_string());
        self
    }
}
