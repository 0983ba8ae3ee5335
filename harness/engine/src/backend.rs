//! What the case runner needs from the world: set up a case namespace, run
//! one step, clean up. The real implementation talks to Kubernetes
//! ([`super::kube_backend::KubeBackend`]); keeping it behind a trait lets
//! the runner's own logic (selection, retries, deadlines, panics,
//! interruption) be tested without a cluster.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use crate::results::StepResult;
use crate::suite::Step;

/// Why a step did not pass.
#[derive(Debug, Clone, PartialEq)]
pub enum StepError {
    /// The step ran and its check failed, or the cluster refused an action.
    Failed(String),
    /// The step's own timeout expired; the text says what it waited for
    /// and what it last saw.
    TimedOut(String),
}

impl std::fmt::Display for StepError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StepError::Failed(m) => f.write_str(m),
            StepError::TimedOut(m) => write!(f, "timed out: {m}"),
        }
    }
}

/// The step in progress.
#[derive(Debug, Clone)]
pub struct CurrentStep {
    pub name: String,
    pub kind: &'static str,
    pub started: std::time::Instant,
}

/// One attempt of one case. `Default` is an attempt with nothing recorded
/// yet, so a context needs only the fields that identify it.
#[derive(Debug, Default)]
pub struct CaseCtx {
    /// `<suite>::<case>`.
    pub id: String,
    pub run_id: String,
    /// Fresh namespace of this attempt.
    pub namespace: String,
    pub attempt: u32,
    /// Template variables: built-ins plus the case's `vars`.
    pub vars: BTreeMap<String, String>,
    /// Labels every object of this case carries.
    pub labels: BTreeMap<String, String>,
    /// Parsed fixture files of the suite.
    pub fixtures: Arc<BTreeMap<String, Vec<Value>>>,
    /// JSON reports of named probe and exec steps, for `assert: {probe: …}`.
    pub probes: Mutex<BTreeMap<String, Value>>,
    /// Performance series recorded by probes with a `metric`.
    pub perf: Mutex<Vec<crate::results::PerfSeries>>,
    /// Probes started with `background: true`, by name, until an assert
    /// collects them.
    pub background: Mutex<BTreeMap<String, BackgroundProbe>>,
    /// The step running now (for timeout and panic messages).
    pub current: Mutex<Option<CurrentStep>>,
    /// Steps run so far; kept outside the step future so they survive an
    /// abort or a panic.
    pub steps: Mutex<Vec<StepResult>>,
}

/// A probe running while later steps go on.
pub struct BackgroundProbe {
    pub handle: tokio::task::JoinHandle<Result<Value, String>>,
    pub probe: crate::suite::model::Probe,
}

impl std::fmt::Debug for BackgroundProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackgroundProbe").field("probe", &self.probe.name).finish_non_exhaustive()
    }
}

impl CaseCtx {
    /// Takes the running background probe `name`, if there is one.
    pub fn take_background(&self, name: &str) -> Option<BackgroundProbe> {
        self.background.lock().ok().and_then(|mut b| b.remove(name))
    }

    /// Stops every background probe still running (at cleanup).
    pub fn abort_background(&self) {
        if let Ok(mut b) = self.background.lock() {
            for (_, p) in std::mem::take(&mut *b) {
                p.handle.abort();
            }
        }
    }

    pub fn current_step(&self) -> Option<String> {
        self.current.lock().ok().and_then(|c| c.as_ref().map(|c| c.name.clone()))
    }

    pub fn probe_report(&self, name: &str) -> Option<Value> {
        self.probes.lock().ok().and_then(|p| p.get(name).cloned())
    }

    pub fn record_probe(&self, name: &str, report: Value) {
        if let Ok(mut p) = self.probes.lock() {
            p.insert(name.to_owned(), report);
        }
    }

    /// Keeps the numeric `samples` of a probe report as the series `metric`.
    /// A report without samples records nothing: no invented numbers.
    pub fn record_perf(&self, metric: &str, unit: &str, higher_is_better: bool, report: &Value) {
        let samples: Vec<f64> = report
            .get("samples")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_f64).collect())
            .unwrap_or_default();
        if samples.is_empty() {
            return;
        }
        if let Ok(mut p) = self.perf.lock() {
            p.push(crate::results::PerfSeries {
                metric: metric.to_owned(),
                case: self.id.clone(),
                unit: unit.to_owned(),
                higher_is_better,
                samples,
            });
        }
    }
}

/// The executor of steps. Implementations must bound every wait by the
/// `timeout` they are given.
pub trait Backend: Send + Sync + 'static {
    /// The number of Nodes, read once per attempt for the built-in
    /// `nodeCount`/`nodePeers` variables; `None` leaves them unset (a
    /// backend without a cluster).
    fn node_count(&self, timeout: Duration) -> impl Future<Output = Result<Option<u32>, StepError>> + Send {
        let _ = timeout;
        async { Ok(None) }
    }

    /// Creates the case namespace (labelled) before the first step.
    fn setup(&self, ctx: &CaseCtx, timeout: Duration) -> impl Future<Output = Result<(), StepError>> + Send;

    /// Runs one step; `Ok` carries an optional note for the report.
    fn run_step(
        &self,
        ctx: &CaseCtx,
        step: &Step,
        timeout: Duration,
    ) -> impl Future<Output = Result<Option<String>, StepError>> + Send;

    /// Removes everything this attempt created (LIFO) and its namespace.
    /// Runs on a fresh deadline even after a timeout, panic or Ctrl-C.
    fn cleanup(&self, ctx: &CaseCtx, timeout: Duration) -> impl Future<Output = Result<(), String>> + Send;
}

/// Built-in timeouts, overridable by the profile (via [`super::RunOptions`]),
/// then the suite, the case and the step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeoutDefaults {
    /// Whole case (try steps) per attempt.
    pub case: Duration,
    pub apply: Duration,
    pub delete: Duration,
    pub wait: Duration,
    pub assert: Duration,
    pub probe: Duration,
    /// Per-case cleanup and the final sweep.
    pub cleanup: Duration,
    /// Namespace creation before the first step.
    pub setup: Duration,
}

impl Default for TimeoutDefaults {
    fn default() -> Self {
        TimeoutDefaults {
            case: Duration::from_secs(300),
            apply: Duration::from_secs(30),
            delete: Duration::from_secs(60),
            wait: Duration::from_secs(120),
            assert: Duration::from_secs(30),
            probe: Duration::from_secs(60),
            cleanup: Duration::from_secs(120),
            setup: Duration::from_secs(30),
        }
    }
}
