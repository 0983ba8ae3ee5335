//! What a probe's JSON report means for its step: the report is recorded
//! under the probe's name, its samples become a perf series, and `expect`
//! judges it.

use serde_json::Value;

use crate::backend::{CaseCtx, StepError};
use crate::suite::model::{Probe, ProbeExpect};

/// Records a probe report (name, metric) and judges it against `expect`.
/// Whether `report` is what the probe expects (success, or a failure for
/// `expect: fail`).
pub(crate) fn verdict_holds(p: &Probe, report: &Value) -> bool {
    let ok = report.get("ok").and_then(Value::as_bool).unwrap_or(false);
    ok == (p.expect == ProbeExpect::Ok)
}

pub(crate) fn finish_probe(ctx: &CaseCtx, p: &Probe, mut report: Value) -> Result<Option<String>, StepError> {
    // An echo server answers with JSON (hostname, client_ip…): parsed once
    // here so predicates can address its fields (`$.bodyJson.hostname`).
    let parsed = report.get("body").and_then(Value::as_str).and_then(|b| serde_json::from_str::<Value>(b).ok());
    if let (Some(j), Some(o)) = (parsed, report.as_object_mut()) {
        o.insert("bodyJson".into(), j);
    }
    if let Some(name) = &p.name {
        ctx.record_probe(name, report.clone());
    }
    if let (Some(metric), Some((unit, higher))) = (&p.metric, p.action.sample_unit()) {
        ctx.record_perf(metric, p.baseline.as_deref(), unit, higher, &report);
    }
    let ok = report.get("ok").and_then(Value::as_bool).unwrap_or(false);
    let error = report.get("error").and_then(Value::as_str).unwrap_or("");
    match (p.expect, ok) {
        (ProbeExpect::Ok, true) => Ok(None),
        (ProbeExpect::Fail, false) => Ok(Some(format!("failed as expected: {error}"))),
        (ProbeExpect::Ok, false) => Err(StepError::ProbeFailed {
            kind: p.action.kind(),
            error: error.to_owned(),
        }),
        (ProbeExpect::Fail, true) => Err(StepError::ProbeSucceeded { kind: p.action.kind() }),
    }
}
