//! Reading, checking and redacting run results before anything is rendered.

use std::collections::HashSet;
use std::path::Path;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{ReportError, invalid};
use crate::rules;
use crate::diag::{Finding, Location};
use crate::results::{CaseResult, DriftItem, DriftReport, GatewayConformance, Outcome, PerfSeries, PhaseResult, RunResults, SCHEMA, StepResult, Target};
use infraflux_model::contract::{Promise, PromiseResult};
use crate::secret::redact;

/// Reads and validates a `results.json`.
///
/// Rules: `REPORT-001` not JSON or not the results model (with line:col),
/// `REPORT-002` unknown schema id, plus everything [`validate`] checks.
pub fn load_results(path: &Path) -> Result<RunResults, ReportError> {
    let file = path.display().to_string();
    let text =
        std::fs::read_to_string(path).map_err(|source| {
            match source.kind() {
        std::io::ErrorKind::NotFound => invalid(
            rules::REPORT_010.finding_hint(
                format!("no results file at {file}"),
                "point at a run directory written by `infraflux run` (it contains results.json)",
            )
            .at(Location { file: file.clone(), line: 0, col: 0 }),
        ),
        _ => ReportError::Read { path: file.clone(), source },
    }
        })?;
    // The schema id is checked before the typed decode so a future schema
    // version gets "unsupported schema" rather than a confusing field error.
    if let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(&text) {
        match map.get("schema").and_then(|v| v.as_str()) {
            Some(s) if s == SCHEMA => {}
            other => {
                return Err(invalid(
                    rules::REPORT_002.finding_hint(
                        format!(
                            "unsupported results schema `{}` (this build reads `{SCHEMA}`)",
                            other.unwrap_or("<missing>")
                        ),
                        "re-render the run with the infraflux version that wrote it, or re-run",
                    )
                    .at(Location {
                        file,
                        line: 1,
                        col: 1,
                    })
                    .with_path("schema"),
                ));
            }
        }
    }
    let results: RunResults =
        serde_json::from_str(&text).map_err(|e| {
            invalid(
            rules::REPORT_001.finding_hint(
                format!("invalid results.json: {e}"),
                "the file must be a results.json written by `infraflux run`; restore it or re-run",
            )
            .at(Location { file: file.clone(), line: e.line() as u32, col: e.column() as u32 }),
        )
        })?;
    validate(&results, &file)?;
    Ok(results)
}

/// Checks what the type system cannot: `REPORT-002` schema id, `REPORT-003`
/// `startedAt` not RFC 3339, `REPORT-004` non-finite perf sample,
/// `REPORT-005` duplicate metric id, `REPORT-006` duplicate case id.
pub fn validate(results: &RunResults, file: &str) -> Result<(), ReportError> {
    let at = |f: Finding| {
        invalid(f.at(Location {
            file: file.to_owned(),
            line: 0,
            col: 0,
        }))
    };
    if results.schema != SCHEMA {
        return Err(at(rules::REPORT_002.finding_hint(
            format!(
                "unsupported results schema `{}` (this build reads `{SCHEMA}`)",
                results.schema
            ),
            "set `schema` to the id from infraflux::results::SCHEMA",
        )
        .with_path("schema")));
    }
    if started_at(results).is_none() {
        return Err(at(rules::REPORT_003.finding_hint(
            format!(
                "`startedAt` is not an RFC 3339 timestamp: `{}`",
                results.started_at
            ),
            "use UTC RFC 3339, e.g. 2026-01-02T03:04:05Z",
        )
        .with_path("startedAt")));
    }
    let mut cases = HashSet::new();
    for (i, c) in results.cases.iter().enumerate() {
        if !cases.insert(c.id.as_str()) {
            return Err(at(rules::REPORT_006.finding_hint(
                format!("case `{}` appears more than once", c.id),
                "a case is reported once; retries are counted in `attempts`",
            )
            .with_path(format!("cases[{i}].id"))));
        }
    }
    let mut metrics = HashSet::new();
    for (i, p) in results.perf.iter().enumerate() {
        if !metrics.insert(p.metric.as_str()) {
            return Err(at(rules::REPORT_005.finding_hint(
                format!("perf metric `{}` appears more than once", p.metric),
                "give each perf series a unique metric id, or merge the samples into one series",
            )
            .with_path(format!("perf[{i}].metric"))));
        }
        if let Some(j) = p.samples.iter().position(|v| !v.is_finite()) {
            return Err(at(rules::REPORT_004.finding_hint(
                format!("perf metric `{}` has a non-finite sample", p.metric),
                "drop samples the benchmark could not measure instead of recording NaN or infinity",
            )
            .with_path(format!("perf[{i}].samples[{j}]"))));
        }
    }
    Ok(())
}

/// `startedAt` as a timestamp, if valid.
pub(crate) fn started_at(results: &RunResults) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(&results.started_at, &Rfc3339).ok()
}

/// A copy with every free-text field passed through [`redact`]. Done on the
/// model rather than only on rendered output because escaping (XML `&amp;`,
/// JSON `\"`) would otherwise hide a secret from a text search.
pub(crate) fn redacted(r: &RunResults) -> RunResults {
    let opt = |o: &Option<String>| o.as_deref().map(redact);
    RunResults {
        schema: r.schema.clone(),
        run_id: redact(&r.run_id),
        started_at: redact(&r.started_at),
        duration_ms: r.duration_ms,
        target: Target {
            profile: opt(&r.target.profile),
            profile_hash: opt(&r.target.profile_hash),
            provider: opt(&r.target.provider),
            context: opt(&r.target.context),
            kubernetes_version: opt(&r.target.kubernetes_version),
            cilium_version: opt(&r.target.cilium_version),
            node_count: r.target.node_count,
            api_server: opt(&r.target.api_server),
        },
        cases: r
            .cases
            .iter()
            .map(|c| CaseResult {
                id: redact(&c.id),
                suite: redact(&c.suite),
                case: redact(&c.case),
                outcome: redacted_outcome(&c.outcome),
                duration_ms: c.duration_ms,
                attempts: c.attempts,
                steps: redacted_steps(&c.steps),
                gateway_conformance: c.gateway_conformance.as_ref().map(|g| GatewayConformance {
                    support: g.support,
                    features: g.features.iter().map(|f| redact(f)).collect(),
                }),
            })
            .collect(),
        perf: r
            .perf
            .iter()
            .map(|p| PerfSeries {
                metric: redact(&p.metric),
                case: redact(&p.case),
                unit: redact(&p.unit),
                higher_is_better: p.higher_is_better,
                samples: p.samples.clone(),
                baseline: opt(&p.baseline),
            })
            .collect(),
        setup_error: opt(&r.setup_error),
        install: r.install.iter().map(redacted_phase).collect(),
        diagnostics: r.diagnostics.as_deref().map(redact),
        drift: r.drift.as_deref().map(|d| Box::new(redacted_drift(d))),
        policy: r.policy,
        coverage: r
            .coverage
            .iter()
            .map(|p| PromiseResult {
                promise: Promise {
                    id: redact(&p.promise.id),
                    field: redact(&p.promise.field),
                    statement: redact(&p.promise.statement),
                    evidence: p.promise.evidence.clone(),
                },
                verdict: p.verdict,
                cases: p.cases.iter().map(|c| redact(c)).collect(),
                detail: redact(&p.detail),
            })
            .collect(),
    }
}

fn redacted_drift(d: &DriftReport) -> DriftReport {
    DriftReport {
        releases: d.releases,
        objects: d.objects,
        items: d
            .items
            .iter()
            .map(|i| DriftItem {
                object: redact(&i.object),
                kind: i.kind,
                path: redact(&i.path),
                profile: redact(&i.profile),
                cluster: redact(&i.cluster),
            })
            .collect(),
        error: d.error.as_deref().map(redact),
    }
}

fn redacted_phase(p: &PhaseResult) -> PhaseResult {
    let opt = |o: &Option<String>| o.as_deref().map(redact);
    PhaseResult {
        id: redact(&p.id),
        phase: redact(&p.phase),
        outcome: redacted_outcome(&p.outcome),
        duration_ms: p.duration_ms,
        steps: redacted_steps(&p.steps),
        diagnostics: opt(&p.diagnostics),
    }
}

fn redacted_outcome(o: &Outcome) -> Outcome {
    let opt = |o: &Option<String>| o.as_deref().map(redact);
    match o {
        Outcome::Passed => Outcome::Passed,
        Outcome::Failed { step, message } => Outcome::Failed { step: opt(step), message: redact(message) },
        Outcome::Skipped { reason } => Outcome::Skipped { reason: redact(reason) },
        Outcome::TimedOut { step, after_ms } => Outcome::TimedOut { step: opt(step), after_ms: *after_ms },
    }
}

fn redacted_steps(steps: &[StepResult]) -> Vec<StepResult> {
    steps
        .iter()
        .map(|s| StepResult {
            name: redact(&s.name),
            kind: redact(&s.kind),
            status: redact(&s.status),
            duration_ms: s.duration_ms,
            message: s.message.as_deref().map(redact),
        })
        .collect()
}
