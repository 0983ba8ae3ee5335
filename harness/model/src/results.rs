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
    /// The install phases `conform` (or `up`) ran before the cases, in
    /// order; empty for a plain `run` (and in runs written before the field
    /// existed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub install: Vec<PhaseResult>,
    /// The install's diagnostics bundle, relative to the run directory,
    /// when one was written (a failed phase, `--collect-diagnostics`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diagnostics: Option<String>,
    /// How the cluster differs from what the profile renders, checked
    /// before the suites ran; absent when no check was made. Boxed: the
    /// results travel inside `RunEvent::Finished`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift: Option<Box<DriftReport>>,
    /// How the run is judged beyond its cases (`--require-all`,
    /// `--allow-empty`).
    #[serde(default)]
    pub policy: crate::contract::Policy,
    /// The profile's promises and their verdicts; empty without a profile.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub coverage: Vec<crate::contract::PromiseResult>,
}

/// One install phase (`install::cilium`, `install::gateway-api-crds`, …):
/// its steps (applies, Helm releases, waits) and how it ended. A failed
/// phase is a failed testcase in JUnit, not a stack trace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PhaseResult {
    /// `install::<phase>`.
    pub id: String,
    /// The phase name, e.g. `cilium`.
    pub phase: String,
    pub outcome: Outcome,
    pub duration_ms: u64,
    #[serde(default)]
    pub steps: Vec<StepResult>,
    /// The diagnostics bundle written because this phase failed, relative
    /// to the run directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diagnostics: Option<String>,
}

/// The stack on the cluster compared with the profile: chart versions and
/// values of every release, and the fields the profile sets on every custom
/// resource. Values that look secret are never carried.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DriftReport {
    /// Releases compared.
    pub releases: usize,
    /// Custom resources compared.
    pub objects: usize,
    /// Every difference, releases first, in plan order.
    #[serde(default)]
    pub items: Vec<DriftItem>,
    /// Why the comparison could not be made (or was cut short), if so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One difference between the cluster and the profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DriftItem {
    /// `release kube-system/cilium`, `CiliumLoadBalancerIPPool main`.
    pub object: String,
    pub kind: DriftKind,
    /// The values key (`hubble.relay.enabled`) or object field
    /// (`spec.blocks`); empty for a version or an absent object.
    #[serde(default)]
    pub path: String,
    /// What the profile renders (`(unset)` when it sets nothing there).
    pub profile: String,
    /// What the cluster has (`(unset)`, `(absent)`).
    pub cluster: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum DriftKind {
    /// The release is deployed from another chart version.
    ChartVersion,
    /// A chart value or an object field differs.
    Value,
    /// The release or object is not on the cluster.
    Absent,
}

impl DriftKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DriftKind::ChartVersion => "chart version",
            DriftKind::Value => "value",
            DriftKind::Absent => "absent",
        }
    }
}

/// Suite name of the install phases in JUnit and the reports.
pub const INSTALL_SUITE: &str = "install";

/// What the run was pointed at; every field is what the harness *read*.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Target {
    pub profile: Option<String>,
    /// sha256 of the profile file's bytes, hex.
    pub profile_hash: Option<String>,
    /// The provider the run used (`existing` for a kubeconfig), not the
    /// profile's `provider:` field.
    pub provider: Option<String>,
    pub context: Option<String>,
    /// The API server URL the run talked to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_server: Option<String>,
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
    /// The Gateway API conformance the case proves, copied from its
    /// suite's `gatewayConformance`; absent for other cases (and in runs
    /// written before the field existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway_conformance: Option<GatewayConformance>,
}

/// What a case proves about Gateway API conformance: the upstream features
/// (`pkg/features` names) it exercises and whether it counts towards core
/// or extended support. Written in a suite as `gatewayConformance:` and
/// carried into the case's result unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GatewayConformance {
    pub support: ConformanceSupport,
    /// Upstream feature names, e.g. `Gateway`, `HTTPRoute`,
    /// `HTTPRouteSchemeRedirect`; empty for a case that checks platform
    /// wiring beyond the API.
    #[serde(default)]
    pub features: Vec<String>,
}

/// Gateway API support level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ConformanceSupport {
    Core,
    Extended,
}

impl ConformanceSupport {
    pub fn as_str(self) -> &'static str {
        match self {
            ConformanceSupport::Core => "core",
            ConformanceSupport::Extended => "extended",
        }
    }
}

/// Gateway API features of the `GATEWAY-HTTP` profile by their upstream
/// names (`sigs.k8s.io/gateway-api/pkg/features`, Gateway, HTTPRoute and
/// ReferenceGrant), with the support level upstream gives each. The suite
/// loader accepts only these names; the conformance report lists the
/// extended ones as supported or unsupported.
pub const GATEWAY_API_FEATURES: [(&str, ConformanceSupport); 36] = {
    use ConformanceSupport::{Core as C, Extended as E};
    [
        ("Gateway", C),
        ("HTTPRoute", C),
        ("ReferenceGrant", C),
        ("GatewayPort8080", E),
        ("GatewayStaticAddresses", E),
        ("GatewayHTTPListenerIsolation", E),
        ("GatewayHTTPSListenerDetectMisdirectedRequests", E),
        ("GatewayInfrastructurePropagation", E),
        ("GatewayAddressEmpty", E),
        ("GatewayListenerSet", E),
        ("GatewayBackendClientCertificate", E),
        ("GatewayFrontendClientCertificateValidation", E),
        ("GatewayFrontendClientCertificateValidationInsecureFallback", E),
        ("HTTPRouteDestinationPortMatching", E),
        ("HTTPRouteBackendRequestHeaderModification", E),
        ("HTTPRouteQueryParamMatching", E),
        ("HTTPRouteMethodMatching", E),
        ("HTTPRouteResponseHeaderModification", E),
        ("HTTPRoutePortRedirect", E),
        ("HTTPRouteSchemeRedirect", E),
        ("HTTPRoutePathRedirect", E),
        ("HTTPRouteHostRewrite", E),
        ("HTTPRoutePathRewrite", E),
        ("HTTPRouteRequestMirror", E),
        ("HTTPRouteRequestMultipleMirrors", E),
        ("HTTPRouteRequestPercentageMirror", E),
        ("HTTPRouteRequestTimeout", E),
        ("HTTPRouteBackendTimeout", E),
        ("HTTPRouteParentRefPort", E),
        ("HTTPRouteBackendProtocolH2C", E),
        ("HTTPRouteBackendProtocolWebSocket", E),
        ("HTTPRouteNamedRouteRule", E),
        ("HTTPRouteCORS", E),
        ("HTTPRoute303RedirectStatusCode", E),
        ("HTTPRoute307RedirectStatusCode", E),
        ("HTTPRoute308RedirectStatusCode", E),
    ]
};

/// Upstream support level of a Gateway API feature; `None` for a name
/// [`GATEWAY_API_FEATURES`] does not list.
pub fn gateway_feature_support(name: &str) -> Option<ConformanceSupport> {
    GATEWAY_API_FEATURES.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
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

    /// The failure in one line, as every report shows it (`step `<name>`:
    /// <message>`, `timed out after N ms in step `<name>``); `None` when the
    /// case did not fail.
    pub fn failure_headline(&self) -> Option<String> {
        let in_step = |step: &Option<String>| step.as_ref().map(|s| format!(" in step `{s}`")).unwrap_or_default();
        match self {
            Outcome::Failed { step: Some(s), message } => Some(format!("step `{s}`: {message}")),
            Outcome::Failed { step: None, message } => Some(message.clone()),
            Outcome::TimedOut { step, after_ms } => Some(format!("timed out after {after_ms} ms{}", in_step(step))),
            Outcome::Passed | Outcome::Skipped { .. } => None,
        }
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
    /// Id of the metric this one is measured against (the suite's
    /// `baseline:`, e.g. the host-network twin of a pod metric); the
    /// reports show the ratio of their means. Absent when none is declared
    /// (and in runs written before the field existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<String>,
}

/// What a run tells its reporters as it goes. Every report is built from
/// this stream (see `infraflux_report::Recorder`), so a run that stops
/// before its cases still leaves one: `Started` then `SetupFailed`.
#[derive(Debug, Clone, PartialEq)]
pub enum RunEvent {
    /// The suites loaded and the run has an id; `target` is what is known
    /// before the cluster answers (profile, provider, context).
    Started {
        run_id: String,
        started_at: String,
        target: Target,
    },
    /// A case that ran ended, whatever its outcome, in completion order
    /// (skipped cases arrive with `Finished`).
    CaseFinished(CaseResult),
    /// The cluster could not be used (unreachable, credentials refused, run
    /// lock held); no case runs after this.
    SetupFailed { message: String },
    /// The run ended: every selected case in selection order, the perf
    /// series and the target as read from the cluster.
    Finished(RunResults),
}


/// Schema tag of `prove.json`.
pub const PROVE_SCHEMA: &str = "infraflux.io/prove/v1alpha1";

/// What `infraflux run --prove` found: every case that runs on the target,
/// proven against a cluster broken the way it claims to detect.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProveReport {
    pub schema: String,
    pub run_id: String,
    pub started_at: String,
    pub duration_ms: u64,
    pub target: Target,
    pub rows: Vec<ProveRow>,
}

impl ProveReport {
    /// Whether the proof holds: no row with a verdict that is a finding.
    pub fn holds(&self) -> bool {
        self.rows.iter().all(|r| !r.verdict.is_finding())
    }
}

/// One case's proof.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProveRow {
    /// `<suite>::<case>`.
    pub id: String,
    pub suite: String,
    pub case: String,
    /// The recipe's name and what it does (`none`: the reason there is none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipe: Option<String>,
    pub break_description: String,
    pub verdict: ProveVerdict,
    /// The case's failure under the break (or why it did not fail).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub under_break: Option<String>,
    /// The case's outcome after the restore.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_restore: Option<String>,
    pub duration_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ProveVerdict {
    /// Failed under its break for the stated reason, passed after restore.
    Proven,
    /// Passed under its break: the case cannot detect what it claims.
    CannotFail,
    /// Failed under its break, but not with the stated reason.
    WrongReason,
    /// Failed under its break for the stated reason, then did not pass
    /// after restore (the restore, or the case, is broken).
    NotRestored,
    /// The break could not be applied (or undone): nothing is known.
    BreakFailed,
    /// The case says it cannot be broken here, with a reason.
    NoBreak,
    /// The case declares no `break` at all.
    Undeclared,
    /// Not run: interrupted, or an earlier restore failed.
    NotRun,
}

impl ProveVerdict {
    pub fn as_str(self) -> &'static str {
        match self {
            ProveVerdict::Proven => "proven",
            ProveVerdict::CannotFail => "cannot fail",
            ProveVerdict::WrongReason => "failed for another reason",
            ProveVerdict::NotRestored => "did not pass after restore",
            ProveVerdict::BreakFailed => "break failed",
            ProveVerdict::NoBreak => "no break",
            ProveVerdict::Undeclared => "no break declared",
            ProveVerdict::NotRun => "not run",
        }
    }

    /// Verdicts that make the prove run fail (exit 1).
    pub fn is_finding(self) -> bool {
        !matches!(self, ProveVerdict::Proven | ProveVerdict::NoBreak)
    }
}

impl CaseResult {
    /// The failure as one line for matching (`step `<name>`: <message>`),
    /// with the failing step's own message for timeouts; `None` when the
    /// case did not fail.
    pub fn failure_text(&self) -> Option<String> {
        let headline = self.outcome.failure_headline()?;
        if !matches!(self.outcome, Outcome::TimedOut { .. }) {
            return Some(headline);
        }
        let detail = self
            .steps
            .iter()
            .rev()
            .find(|s| s.status != "passed" && s.status != "skipped")
            .and_then(|s| s.message.clone())
            .unwrap_or_default();
        Some(format!("{headline}: {detail}"))
    }
}
