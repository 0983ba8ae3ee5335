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

/// A Kubernetes object a step worked on: kind, and namespace and name
/// where there are (a list reference has no name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectId {
    pub kind: String,
    pub namespace: Option<String>,
    pub name: Option<String>,
}

impl ObjectId {
    pub fn new(kind: impl Into<String>, namespace: Option<&str>, name: Option<&str>) -> ObjectId {
        ObjectId {
            kind: kind.into(),
            namespace: namespace.map(str::to_owned),
            name: name.map(str::to_owned),
        }
    }

    pub fn pod(namespace: &str, name: &str) -> ObjectId {
        ObjectId::new("Pod", Some(namespace), Some(name))
    }

    pub fn node(name: &str) -> ObjectId {
        ObjectId::new("Node", None, Some(name))
    }
}

impl std::fmt::Display for ObjectId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.kind.to_lowercase())?;
        for part in [&self.namespace, &self.name].into_iter().flatten() {
            write!(f, "/{part}")?;
        }
        Ok(())
    }
}

/// The phase of a case a step belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepPhase {
    /// `steps`: the try phase.
    Steps,
    Catch,
    Finally,
}

impl std::fmt::Display for StepPhase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StepPhase::Steps => "steps",
            StepPhase::Catch => "catch",
            StepPhase::Finally => "finally",
        })
    }
}

/// A step as the case runner knows it: its phase, its place in that
/// phase, its kind and display name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepRef {
    pub phase: StepPhase,
    /// 0-based position in the phase.
    pub index: usize,
    pub kind: &'static str,
    pub name: String,
}

impl std::fmt::Display for StepRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} step {} ({} `{}`)", self.phase, self.index + 1, self.kind, self.name)
    }
}

/// Why a step did not pass.
///
/// The `Display` text is what results and reports show (the case's
/// outcome message); for [`StepError::Kube`] and [`StepError::Dns`] it
/// already includes the text of the cause chain, so walk `source()` for
/// the typed cause rather than to print it again. [`StepError::is_timeout`]
/// tells a step that ran out of time from one that failed;
/// [`StepError::detail`] is the step's own message in the results.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    /// `source` failed in `step`; added by the case runner, which alone
    /// knows the step's place in the case.
    #[error("failed to run {step}")]
    InStep {
        step: StepRef,
        #[source]
        source: Box<StepError>,
    },
    /// The step's input is unusable: a template did not render, a field
    /// is missing, a value does not parse.
    #[error("{message}")]
    Invalid { message: String },
    /// The run was not given something the step needs.
    #[error("no {what} for the run")]
    Unavailable { what: &'static str },
    /// A cluster call, or a bounded wait on the cluster, failed.
    #[error("{}", kube_text(source))]
    Kube {
        /// Boxed, like [`StepError::Predicate`]'s, to keep the error small.
        object: Option<Box<ObjectId>>,
        #[source]
        source: crate::cluster::Error,
    },
    /// The DNS provider's API or the authoritative server failed or did
    /// not show the record in time.
    #[error("{}", dns_text(source))]
    Dns {
        record: String,
        #[source]
        source: crate::dns::Error,
    },
    /// Predicates did not hold on an object or on a recorded report.
    #[error("{}", failures.join("; "))]
    Predicate {
        object: Option<Box<ObjectId>>,
        /// Name of the probe or exec report checked.
        report: Option<String>,
        failures: Vec<String>,
    },
    /// A probe expected to succeed failed.
    #[error("probe {kind} failed: {error}")]
    ProbeFailed { kind: &'static str, error: String },
    /// A probe expected to fail succeeded.
    #[error("probe {kind} succeeded but was expected to fail (policy not enforced?)")]
    ProbeSucceeded { kind: &'static str },
    /// A background probe's task ended without a report.
    #[error("background probe `{name}` ended: {source}")]
    BackgroundProbe {
        name: String,
        #[source]
        source: tokio::task::JoinError,
    },
    /// Fewer pods than required matched an exec step's selector.
    #[error(
        "{} running pod(s) match {selector} in {namespace}{} ({}), want at least {min}",
        found.len(),
        node.as_ref().map(|n| format!(" on node {n}")).unwrap_or_default(),
        found.join(", ")
    )]
    ExecPods {
        namespace: String,
        selector: String,
        node: Option<String>,
        found: Vec<String>,
        min: usize,
    },
    /// The command of an exec step could not run in some pods: pod and why.
    #[error(
        "exec refused in {} of {pods} pod(s): {}",
        refused.len(),
        refused.iter().map(|(p, why)| format!("{p}: {why}")).collect::<Vec<_>>().join("; ")
    )]
    ExecRefused { pods: usize, refused: Vec<(String, String)> },
    /// The command of an exec step exited other than expected.
    #[error("`{command}` should {want} in every pod: {}", wrong.join("; "))]
    ExecExit {
        command: String,
        want: &'static str,
        wrong: Vec<String>,
    },
    /// A wait of the engine's own expired.
    #[error("timed out: waited {after:?} for {what}{}", last_seen.as_ref().map(|l| format!("; last seen: {l}")).unwrap_or_default())]
    TimedOut {
        what: String,
        after: std::time::Duration,
        last_seen: Option<String>,
    },
    /// The run's BGP router did not see what a `bgpPeer` step expects.
    #[error("timed out: waited {after:?} for the bgp peer: {}; last received: [{}]", unmet.join("; "), received.join(", "))]
    BgpPeer {
        after: std::time::Duration,
        unmet: Vec<String>,
        /// `prefix via next-hop/…` of every route last received.
        received: Vec<String>,
    },
    /// A guard around `what` fired (a step without an inner deadline).
    #[error("timed out: {what} did not finish within {within:?}")]
    DidNotFinish { what: String, within: std::time::Duration },
    /// The case's own timeout expired while this step ran.
    #[error("timed out: case timeout of {after:?} expired during this step")]
    CaseTimeout { after: std::time::Duration },
}

/// What a report shows for a cluster error: a timeout with what it
/// waited for and saw last; anything else with its whole chain ("failed
/// to apply x: ApiError: … (422)").
fn kube_text(e: &crate::cluster::Error) -> String {
    match e {
        crate::cluster::Error::Timeout { what, after_ms, last_seen } => format!(
            "timed out: waited {:?} for {what}; last seen: {last_seen}",
            std::time::Duration::from_millis(*after_ms)
        ),
        other => chain(other),
    }
}

fn dns_text(e: &crate::dns::Error) -> String {
    match e {
        crate::dns::Error::Timeout { what, timeout, last } => {
            format!("timed out: waited {timeout:?} for {what}; last seen: {last}")
        }
        other => chain(other),
    }
}

/// The error with its sources: "failed to exec into ns/p: ApiError: …".
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    msg
}

impl From<crate::cluster::Error> for StepError {
    fn from(source: crate::cluster::Error) -> StepError {
        StepError::Kube { object: None, source }
    }
}

impl StepError {
    /// Unusable step input.
    pub fn invalid(message: impl std::fmt::Display) -> StepError {
        StepError::Invalid { message: message.to_string() }
    }

    /// A cluster error about `object`.
    pub fn kube(object: Option<ObjectId>, source: crate::cluster::Error) -> StepError {
        StepError::Kube { object: object.map(Box::new), source }
    }

    /// Names the object involved, where the error has room for one and
    /// does not name one yet (before [`StepError::in_step`] wraps it).
    #[must_use]
    pub fn with_object(mut self, o: ObjectId) -> StepError {
        match &mut self {
            StepError::Kube { object, .. } | StepError::Predicate { object, .. } if object.is_none() => {
                *object = Some(Box::new(o));
            }
            _ => {}
        }
        self
    }

    /// Marks the error as that of `step`.
    #[must_use]
    pub fn in_step(self, step: StepRef) -> StepError {
        StepError::InStep { step, source: Box::new(self) }
    }

    /// The step ran out of time (its own wait, a guard, the case
    /// timeout), as opposed to failing.
    pub fn is_timeout(&self) -> bool {
        match self {
            StepError::InStep { source, .. } => source.is_timeout(),
            StepError::Kube { source, .. } => matches!(source, crate::cluster::Error::Timeout { .. }),
            StepError::Dns { source, .. } => matches!(source, crate::dns::Error::Timeout { .. }),
            StepError::TimedOut { .. }
            | StepError::BgpPeer { .. }
            | StepError::DidNotFinish { .. }
            | StepError::CaseTimeout { .. } => true,
            _ => false,
        }
    }

    /// The error without the runner's [`StepError::InStep`] wrapping.
    pub fn cause(&self) -> &StepError {
        match self {
            StepError::InStep { source, .. } => source.cause(),
            other => other,
        }
    }

    /// The step that failed, once the runner has said so.
    pub fn step(&self) -> Option<&StepRef> {
        match self {
            StepError::InStep { step, .. } => Some(step),
            _ => None,
        }
    }

    /// The object involved, where there is one.
    pub fn object(&self) -> Option<&ObjectId> {
        match self.cause() {
            StepError::Kube { object, .. } | StepError::Predicate { object, .. } => object.as_deref(),
            _ => None,
        }
    }

    /// The step's message in the results: the report text, without the
    /// "timed out: " that the step's `timedOut` status already says.
    pub fn detail(&self) -> String {
        let text = self.cause().to_string();
        match text.strip_prefix("timed out: ") {
            Some(rest) if self.is_timeout() => rest.to_owned(),
            _ => text,
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
    pub handle: tokio::task::JoinHandle<Result<Value, crate::cluster::Error>>,
    /// The pod the probe runs in.
    pub pod: ObjectId,
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

    /// Keeps the numeric `samples` of a probe report as the series `metric`,
    /// measured against the metric `baseline` when the suite declares one.
    /// A report without samples records nothing: no invented numbers.
    pub fn record_perf(&self, metric: &str, baseline: Option<&str>, unit: &str, higher_is_better: bool, report: &Value) {
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
                baseline: baseline.map(str::to_owned),
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
