//! Running one case: attempts, try/catch/finally, deadlines, panics,
//! interruption, and cleanup on a fresh deadline.
//!
//! Order inside an attempt (chainsaw semantics): the namespace is created
//! and cleanup is owed from then on; `steps` run in order and stop at the
//! first failure, bounded by the case timeout; `catch` runs only after a
//! failure; `finally` always runs (unless the run was interrupted or a step
//! panicked); cleanup then removes every object of the attempt, last created
//! first, on its own deadline that no cancellation can cut short.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::backend::{Backend, CaseCtx, CurrentStep, StepError, StepPhase, StepRef, TimeoutDefaults};
use crate::results::{CaseResult, Outcome, StepResult};
use crate::suite::{LoadedCase, Step};

/// Run-wide settings every case shares.
pub(crate) struct RunCtx<B> {
    pub backend: Arc<B>,
    pub run_id: String,
    pub run_deadline: Option<Instant>,
    pub cancel: CancellationToken,
    pub timeouts: TimeoutDefaults,
    /// The run's probe agent image, exposed to suites as `{{agentImage}}`.
    pub agent_image: Option<String>,
    /// Profile-derived values for declared case vars.
    pub var_overrides: BTreeMap<String, String>,
    /// Performance series of every case's final attempt.
    pub perf: Mutex<Vec<crate::results::PerfSeries>>,
    /// Namespace of the run lock this run holds, labelled on everything it
    /// creates so the next holder of that lock can sweep what a killed run
    /// left; `None` when the caller holds no lock (`execute` alone).
    pub lock_namespace: Option<String>,
}

/// Extra time the outer guard allows beyond the case timeout so that catch
/// and finally can run after the try phase hit its deadline.
const FINALLY_GRACE: Duration = Duration::from_secs(60);

/// Namespace for one attempt: readable prefix, unique hash suffix, at most
/// 63 characters.
pub fn namespace_for(run_id: &str, case_id: &str, attempt: u32) -> String {
    let mut h = Sha256::new();
    h.update(run_id.as_bytes());
    h.update(b"\0");
    h.update(case_id.as_bytes());
    h.update(attempt.to_le_bytes());
    let hash = hex::encode(&h.finalize()[..4]);
    let case = case_id.rsplit("::").next().unwrap_or(case_id);
    let prefix: String = case.chars().take(40).collect();
    format!("ifx-{}-{hash}", prefix.trim_end_matches('-'))
}

fn case_label(case: &LoadedCase) -> String {
    format!("{}.{}", case.suite, case.name)
}

fn ms(d: Duration) -> u64 {
    d.as_millis().min(u128::from(u64::MAX)) as u64
}

/// Built-in bound on a `disrupt` step (a drain waits for its evictions).
pub(crate) const DISRUPT_TIMEOUT: Duration = Duration::from_secs(120);
/// Built-in bound on a `dnsRecord` step.
pub(crate) const DNS_RECORD_TIMEOUT: Duration = Duration::from_secs(180);

pub(crate) fn step_timeout(case: &LoadedCase, step: &Step, defaults: &TimeoutDefaults) -> Duration {
    if let Some(t) = step.timeout() {
        return t;
    }
    let (written, default) = match step {
        Step::Apply(_) => (case.timeouts.apply, defaults.apply),
        Step::Delete(_) => (case.timeouts.delete, defaults.delete),
        Step::Wait(_) => (case.timeouts.wait, defaults.wait),
        Step::Assert(_) => (case.timeouts.assert, defaults.assert),
        Step::Probe(_) => (case.timeouts.probe, defaults.probe),
        // A disruption is a short API call plus, for a drain, evictions.
        Step::Disrupt(_) => (None, DISRUPT_TIMEOUT),
        // external-dns syncs on an interval (1m by default) plus propagation.
        Step::DnsRecord(_) => (None, DNS_RECORD_TIMEOUT),
        // Sessions retry connecting every few seconds; updates follow.
        Step::BgpPeer(_) => (case.timeouts.wait, defaults.wait),
        // A command in pods is a probe of the platform: same budget.
        Step::Exec(_) => (case.timeouts.probe, defaults.probe),
    };
    written.map_or(default, |d| d.0)
}

/// Runs every attempt of `case` and returns its result.
/// The outcome message of a case the run was interrupted before.
pub(crate) const NOT_RUN_INTERRUPTED: &str = "not run: the run was interrupted before this case started";

#[tracing::instrument(skip_all, fields(case = %case.id))]
pub(crate) async fn run_case<B: Backend>(
    run: &RunCtx<B>,
    case: Arc<LoadedCase>,
    fixtures: Arc<BTreeMap<String, Vec<serde_json::Value>>>,
) -> CaseResult {
    let started = Instant::now();
    let result = |outcome, attempts, steps| CaseResult {
        id: case.id.clone(),
        suite: case.suite.clone(),
        case: case.name.clone(),
        outcome,
        duration_ms: ms(started.elapsed()),
        attempts,
        steps,
        gateway_conformance: case.gateway_conformance.clone(),
    };
    // libtest prints a trial that returns Ok as `ok` and counts it passed;
    // a case that never ran is neither. Failing it (message `not run: …`)
    // keeps the console, results.json and JUnit in agreement, and an
    // interrupted run is no pass.
    if run.cancel.is_cancelled() {
        return result(
            Outcome::Failed { step: None, message: NOT_RUN_INTERRUPTED.into() },
            0,
            Vec::new(),
        );
    }
    if run.run_deadline.is_some_and(|d| Instant::now() >= d) {
        return result(Outcome::TimedOut { step: None, after_ms: 0 }, 0, Vec::new());
    }
    let max_attempts = 1 + case.retries;
    let mut last = (Outcome::Passed, Vec::new(), Vec::new());
    let mut attempts = 0;
    for attempt in 1..=max_attempts {
        attempts = attempt;
        last = run_attempt(run, &case, &fixtures, attempt).await;
        let interrupted = run.cancel.is_cancelled();
        let out_of_time = run.run_deadline.is_some_and(|d| Instant::now() >= d);
        if !last.0.is_failure() || interrupted || out_of_time {
            break;
        }
        tracing::info!(case = %case.id, attempt, "attempt failed; retrying");
    }
    // Only the final attempt's measurements count: a retried attempt's
    // samples would mix a broken run into the series.
    if let Ok(mut p) = run.perf.lock() {
        p.extend(last.2);
    }
    result(last.0, attempts, last.1)
}

async fn run_attempt<B: Backend>(
    run: &RunCtx<B>,
    case: &Arc<LoadedCase>,
    fixtures: &Arc<BTreeMap<String, Vec<serde_json::Value>>>,
    attempt: u32,
) -> (Outcome, Vec<StepResult>, Vec<crate::results::PerfSeries>) {
    let namespace = namespace_for(&run.run_id, &case.id, attempt);
    let mut vars = case.vars.clone();
    for (k, v) in vars.iter_mut() {
        if let Some(o) = run.var_overrides.get(k) {
            v.clone_from(o);
        }
    }
    vars.insert("namespace".into(), namespace.clone());
    vars.insert("runId".into(), run.run_id.clone());
    vars.insert("suite".into(), case.suite.clone());
    vars.insert("case".into(), case.name.clone());
    if let Some(img) = &run.agent_image {
        vars.insert(crate::suite::template::AGENT_IMAGE_VAR.into(), img.clone());
    }
    // Read before anything is created, so a failure here owes no cleanup.
    let nodes_started = Instant::now();
    match tokio::time::timeout(run.timeouts.setup + Duration::from_secs(1), run.backend.node_count(run.timeouts.setup)).await {
        Ok(Ok(Some(n))) => {
            vars.insert(crate::suite::template::NODE_COUNT_VAR.into(), n.to_string());
            vars.insert(crate::suite::template::NODE_PEERS_VAR.into(), n.saturating_sub(1).to_string());
        }
        Ok(Ok(None)) => {}
        failure => {
            let e = match failure {
                Ok(Err(e)) => e,
                _ => StepError::DidNotFinish { what: "listing nodes".into(), within: run.timeouts.setup },
            };
            let step = "read node count";
            let steps = vec![StepResult {
                name: step.into(),
                kind: "setup".into(),
                status: "failed".into(),
                duration_ms: ms(nodes_started.elapsed()),
                message: Some(crate::secret::redact(&e.to_string())),
            }];
            return (Outcome::Failed { step: Some(step.into()), message: e.to_string() }, steps, Vec::new());
        }
    }
    let ctx = Arc::new(CaseCtx {
        id: case.id.clone(),
        run_id: run.run_id.clone(),
        namespace,
        attempt,
        vars,
        labels: {
            let mut l = crate::cluster::harness_labels(&run.run_id, Some(&case_label(case)));
            if let Some(ns) = &run.lock_namespace {
                l.insert(crate::cluster::LOCK.to_owned(), ns.clone());
            }
            l
        },
        fixtures: fixtures.clone(),
        ..CaseCtx::default()
    });

    let mut case_timeout = case.timeout.unwrap_or(run.timeouts.case);
    if let Some(d) = run.run_deadline {
        case_timeout = case_timeout.min(d.saturating_duration_since(Instant::now()));
    }
    let started = Instant::now();
    let mut body = tokio::spawn(attempt_body(
        run.backend.clone(),
        ctx.clone(),
        case.clone(),
        run.timeouts,
        case_timeout,
    ));
    let guard = case_timeout + FINALLY_GRACE;
    let outcome = tokio::select! {
        joined = tokio::time::timeout(guard, &mut body) => match joined {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(e)) if e.is_panic() => Outcome::Failed {
                step: ctx.current_step(),
                message: format!("step panicked: {}", panic_text(e.into_panic())),
            },
            Ok(Err(e)) => Outcome::Failed { step: ctx.current_step(), message: format!("case task ended: {e}") },
            Err(_) => {
                body.abort();
                let _ = (&mut body).await;
                Outcome::TimedOut { step: ctx.current_step(), after_ms: ms(started.elapsed()) }
            }
        },
        _ = run.cancel.cancelled() => {
            body.abort();
            let _ = (&mut body).await;
            Outcome::Failed {
                step: ctx.current_step(),
                message: "interrupted: the run was cancelled (Ctrl-C); finally skipped, cleanup ran".into(),
            }
        }
    };

    // Cleanup is bounded by its own timeout and deliberately ignores the
    // cancel token: an interrupted run must still leave nothing behind.
    let cleanup_started = Instant::now();
    let cleanup = tokio::time::timeout(
        run.timeouts.cleanup + Duration::from_secs(5),
        run.backend.cleanup(&ctx, run.timeouts.cleanup),
    )
    .await
    .unwrap_or_else(|_| Err(format!("cleanup did not finish within {:?}", run.timeouts.cleanup)));
    let mut steps = ctx.steps.lock().map(|s| s.clone()).unwrap_or_default();
    let cleanup_ms = ms(cleanup_started.elapsed());
    let outcome = match cleanup {
        Ok(()) => {
            steps.push(StepResult {
                name: "cleanup".into(),
                kind: "cleanup".into(),
                status: "passed".into(),
                duration_ms: cleanup_ms,
                message: None,
            });
            outcome
        }
        Err(e) => {
            steps.push(StepResult {
                name: "cleanup".into(),
                kind: "cleanup".into(),
                status: "failed".into(),
                duration_ms: cleanup_ms,
                message: Some(e.clone()),
            });
            match outcome {
                Outcome::Passed => Outcome::Failed {
                    step: Some("cleanup".into()),
                    message: e,
                },
                other => other,
            }
        }
    };
    let perf = ctx.perf.lock().map(|p| p.clone()).unwrap_or_default();
    (outcome, steps, perf)
}

fn panic_text(p: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-text panic payload".into()
    }
}

/// Outcome of a list of steps.
enum Phase {
    Passed,
    /// The first failure, as [`StepError::InStep`].
    Failed(StepError),
}

impl Phase {
    /// The failed step's name and the outcome message.
    fn failure(e: &StepError) -> (String, String) {
        let step = e.step().map(|s| s.name.clone()).unwrap_or_default();
        (step, crate::secret::redact(&e.cause().to_string()))
    }
}

async fn attempt_body<B: Backend>(
    backend: Arc<B>,
    ctx: Arc<CaseCtx>,
    case: Arc<LoadedCase>,
    timeouts: TimeoutDefaults,
    case_timeout: Duration,
) -> Outcome {
    let started = Instant::now();
    let setup_started = Instant::now();
    set_current(&ctx, Some(("setup namespace".into(), "setup")));
    if let Err(e) = backend.setup(&ctx, timeouts.setup).await {
        record(&ctx, "setup namespace", "setup", Err(&e), setup_started);
        return Outcome::Failed {
            step: Some("setup namespace".into()),
            message: e.to_string(),
        };
    }
    let try_phase =
        tokio::time::timeout(case_timeout, run_steps(&*backend, &ctx, &case, StepPhase::Steps, &case.steps, &timeouts))
            .await;
    let mut outcome = match try_phase {
        Ok(Phase::Passed) => Outcome::Passed,
        Ok(Phase::Failed(e)) => {
            let (step, message) = Phase::failure(&e);
            Outcome::Failed { step: Some(step), message }
        }
        Err(_) => {
            let current = ctx.current.lock().ok().and_then(|c| c.clone());
            let step = current.as_ref().map(|c| c.name.clone());
            if let Some(c) = &current {
                record(
                    &ctx,
                    &c.name,
                    c.kind,
                    Err(&StepError::CaseTimeout { after: case_timeout }),
                    Instant::from_std(c.started),
                );
            }
            Outcome::TimedOut {
                step,
                after_ms: ms(started.elapsed()),
            }
        }
    };
    if outcome.is_failure() && !case.catch.is_empty() {
        // Catch gathers diagnostics; its own failures do not change the verdict.
        let _ = run_steps(&*backend, &ctx, &case, StepPhase::Catch, &case.catch, &timeouts).await;
    }
    if !case.finally.is_empty()
        && let Phase::Failed(e) = run_steps(&*backend, &ctx, &case, StepPhase::Finally, &case.finally, &timeouts).await
        && outcome == Outcome::Passed
    {
        let (step, message) = Phase::failure(&e);
        outcome = Outcome::Failed {
            step: Some(step),
            message: format!("finally: {message}"),
        };
    }
    set_current(&ctx, None);
    outcome
}

fn set_current(ctx: &CaseCtx, current: Option<(String, &'static str)>) {
    if let Ok(mut c) = ctx.current.lock() {
        *c = current.map(|(name, kind)| CurrentStep {
            name,
            kind,
            started: std::time::Instant::now(),
        });
    }
}

fn record(ctx: &CaseCtx, name: &str, kind: &str, r: Result<&Option<String>, &StepError>, started: Instant) {
    let (status, message) = match r {
        Ok(note) => ("passed", note.clone()),
        Err(e) if e.is_timeout() => ("timedOut", Some(e.detail())),
        Err(e) => ("failed", Some(e.detail())),
    };
    if let Ok(mut steps) = ctx.steps.lock() {
        steps.push(StepResult {
            name: name.to_owned(),
            kind: kind.to_owned(),
            status: status.to_owned(),
            duration_ms: ms(started.elapsed()),
            message: message.map(|m| crate::secret::redact(&m)),
        });
    }
}

async fn run_steps<B: Backend>(
    backend: &B,
    ctx: &CaseCtx,
    case: &LoadedCase,
    phase: StepPhase,
    steps: &[Step],
    timeouts: &TimeoutDefaults,
) -> Phase {
    for (index, step) in steps.iter().enumerate() {
        let name = step.display_name();
        set_current(ctx, Some((name.clone(), step.kind())));
        let t = step_timeout(case, step, timeouts);
        let started = Instant::now();
        // The backend bounds its own waits by `t`; this outer bound catches
        // a backend that does not.
        let r = match tokio::time::timeout(t + Duration::from_secs(3), backend.run_step(ctx, step, t)).await {
            Ok(r) => r,
            Err(_) => Err(StepError::DidNotFinish { what: "step".into(), within: t }),
        };
        record(ctx, &name, step.kind(), r.as_ref(), started);
        if let Err(e) = r {
            let e = e.in_step(StepRef { phase, index, kind: step.kind(), name });
            tracing::debug!(
                step = %e.step().map(ToString::to_string).unwrap_or_default(),
                object = %e.object().map(ToString::to_string).unwrap_or_default(),
                timed_out = e.is_timeout(),
                error = %crate::secret::redact(&e.cause().to_string()),
                "step did not pass"
            );
            return Phase::Failed(e);
        }
    }
    Phase::Passed
}
