//! The run-results model: what the runner produces and every reporter reads.
//!
//! Serialized as `results.json` under a versioned schema id so that older
//! runs stay readable by `infraflux report --baseline`.

use serde::{Deserialize, Serialize};

/// Schema id written into every `results.json`.
pub const SCHEMA: &str = "infraflux.io/results/v1";

/// One harness run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RunResults {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// `YYYYMMDDTHHMMSSZ-<6 hex>`; also the directory name under `reports/runs/`.
    pub run_id: String,
    /// RFC 3339 UTC.
    pub started_at: String,
    pub duration_ms: u64,
    pub target: Target,
    pub cases: Vec<CaseResult>,
    #[serde(default)]
    pub perf: Vec<PerfSeries>,
    /// Why the run never reached its cases (cluster unreachable, credentials
    /// refused, run lock held); `cases` is then empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub setup_error: Option<String>,
}

/// What the run was pointed at; every field is what the harness *read*.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Target {
    pub profile: Option<String>,
    /// sha256 of the profile file's bytes, hex.
    pub profile_hash: Option<String>,
    pub provider: Option<String>,
    pub context: Option<String>,
    pub kubernetes_version: Option<String>,
    pub cilium_version: Option<String>,
    pub node_count: Option<u32>,
}

/// Result of one case (`<suite>::<case>`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CaseResult {
    /// `<suite>::<case>`.
    pub id: String,
    pub suite: String,
    pub case: String,
    pub outcome: Outcome,
    pub duration_ms: u64,
    /// 1 + retries used.
    pub attempts: u32,
    #[serde(default)]
    pub steps: Vec<StepResult>,
}

/// Final outcome of a case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "camelCase", deny_unknown_fields)]
pub enum Outcome {
    Passed,
    /// A step's assertion or action failed.
    Failed {
        step: Option<String>,
        message: String,
    },
    /// Not run: a requirement is missing on the target, or filtered/ignored.
    Skipped { reason: String },
    /// The case or run deadline expired.
    TimedOut {
        step: Option<String>,
        #[serde(rename = "afterMs")]
        after_ms: u64,
    },
}

impl Outcome {
    pub fn is_failure(&self) -> bool {
        matches!(self, Outcome::Failed { .. } | Outcome::TimedOut { .. })
    }
}

/// One executed step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StepResult {
    /// Step name (given or derived, e.g. `wait gateway/main-gateway Programmed`).
    pub name: String,
    /// Step kind (`apply`, `wait`, `probe`, `assert`, …).
    pub kind: String,
    /// `passed`, `failed`, `timedOut` or `skipped`.
    pub status: String,
    pub duration_ms: u64,
    pub message: Option<String>,
}

/// Raw samples of one performance metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PerfSeries {
    /// Stable metric id, e.g. `throughput.tcp_stream_1.pod_to_pod.cross_node`.
    pub metric: String,
    /// Case that produced it.
    pub case: String,
    /// `Gbit/s`, `req/s`, `conn/s`, `ms`, …
    pub unit: String,
    /// Direction of "better": throughput up, latency down.
    pub higher_is_better: bool,
    pub samples: Vec<f64>,
}
