//! `run --prove`: every case that runs on the target is run against the
//! cluster broken the way the case claims to detect (its `break` recipe),
//! must fail for its stated reason, and must pass again once the break is
//! undone. Cases sharing a recipe are proven together, so each break is
//! applied and restored once.
//!
//! Requirements are judged on the healthy cluster, once, before any break:
//! a case whose feature a break turns off must still run and fail on its
//! own steps, not be skipped by its gate.

mod breaker;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

pub use breaker::{BreakError, Bounds};

use crate::results::{CaseResult, Outcome, ProveReport, ProveRow, ProveVerdict, PROVE_SCHEMA};
use crate::suite::{LoadedBreak, LoadedCase};
use crate::{Disposition, EngineError, EventSink, RunOptions, Session, execute_inner, kube_backend, load, rfc3339_now};

/// How long a rollout of Cilium (or a deletion, a re-creation) may take
/// while a break is applied or undone.
pub const BREAK_ROLLOUT: Duration = Duration::from_secs(300);

/// A recipe and the cases that share it.
struct Group {
    name: String,
    recipe: crate::suite::model::BreakRecipe,
    cases: Vec<(Arc<LoadedCase>, String)>,
}

/// Proves every selected case that runs on the target. Writes nothing; the
/// report crate renders the [`ProveReport`].
pub async fn prove(opts: RunOptions) -> Result<ProveReport, EngineError> {
    if opts.test_threads == Some(0) {
        return Err(EngineError::Options("test_threads must be at least 1".into()));
    }
    let suites = load(&opts)?;
    opts.trial_args()?;
    let run_id = opts.run_id.clone().unwrap_or_else(crate::new_run_id);
    let started_at = rfc3339_now();
    let started = Instant::now();
    let session = Session::open(&opts, &run_id).await?;
    let detected = session.detected.clone();
    let sel = opts.selection();

    let mut rows: Vec<ProveRow> = Vec::new();
    // Keyed by the recipe as written, so the same recipe in two suites is
    // one break.
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    for c in suites.iter().flat_map(|s| s.cases.iter()) {
        if sel.decide(c, Some(&detected), opts.expectations.as_ref()) != Disposition::Run {
            continue;
        }
        match &c.break_ {
            None => rows.push(row(c, None, "-", ProveVerdict::Undeclared, Some("the case declares no `break`".into()), None)),
            Some(LoadedBreak::None { reason }) => rows.push(row(c, None, reason, ProveVerdict::NoBreak, None, None)),
            Some(LoadedBreak::Recipe { name, recipe, fails_with }) => {
                let key = serde_json::to_string(recipe).unwrap_or_else(|_| name.clone());
                groups
                    .entry(key)
                    .or_insert_with(|| Group { name: name.clone(), recipe: recipe.clone(), cases: Vec::new() })
                    .cases
                    .push((Arc::new(c.clone()), fails_with.clone()));
            }
        }
    }

    let backend = session.backend(&opts);
    let bounds = Bounds { rollout: BREAK_ROLLOUT };
    let mut phase_ids: Vec<String> = Vec::new();
    let mut stop: Option<String> = None;
    for (n, g) in groups.values().enumerate() {
        let group_started = Instant::now();
        if let Some(why) = &stop {
            rows.extend(g.cases.iter().map(|(c, _)| row(c, Some(&g.name), &g.recipe.description, ProveVerdict::NotRun, Some(why.clone()), None)));
            continue;
        }
        eprintln!("prove: break `{}` ({}) for {} case(s)", g.name, g.recipe.description, g.cases.len());
        let applied = match breaker::apply(&session.cluster, &opts.cilium_namespace, &run_id, &g.recipe, bounds).await {
            Ok(a) => a,
            Err(e) => {
                let msg = format!("the break could not be applied (undone): {e}");
                rows.extend(g.cases.iter().map(|(c, _)| row(c, Some(&g.name), &g.recipe.description, ProveVerdict::BreakFailed, Some(msg.clone()), None)));
                continue;
            }
        };
        let ids: Vec<String> = g.cases.iter().map(|(c, _)| c.id.clone()).collect();
        let broken_id = format!("{run_id}-b{n}");
        let under = phase(&opts, backend.clone(), &suites, &detected, &broken_id, &ids).await;
        phase_ids.push(broken_id);
        let restored = applied.restore(&session.cluster, &opts.cilium_namespace, bounds).await;
        let after = match &restored {
            Ok(()) if !opts.cancel.is_cancelled() => {
                let id = format!("{run_id}-r{n}");
                let r = phase(&opts, backend.clone(), &suites, &detected, &id, &ids).await;
                phase_ids.push(id);
                r
            }
            _ => BTreeMap::new(),
        };
        if let Err(e) = &restored {
            // The cluster may still be broken: proving more on it would
            // prove nothing.
            let why = format!("the restore of `{}` failed, the cluster may still be broken: {e}", g.name);
            eprintln!("prove: error: {why}");
            stop = Some(why);
        } else if opts.cancel.is_cancelled() {
            stop = Some("interrupted".into());
        }
        let took = group_started.elapsed().as_millis() as u64 / g.cases.len().max(1) as u64;
        for (c, fails_with) in &g.cases {
            let mut r = judge(c, &g.name, &g.recipe.description, fails_with, under.get(&c.id), after.get(&c.id), &restored);
            r.duration_ms = took;
            rows.push(r);
        }
    }
    let ids: Vec<&str> = std::iter::once(run_id.as_str()).chain(phase_ids.iter().map(String::as_str)).collect();
    let t = session.target(&opts);
    session.close(&opts, &ids).await;
    let order: BTreeMap<&str, usize> =
        suites.iter().flat_map(|s| s.cases.iter()).enumerate().map(|(i, c)| (c.id.as_str(), i)).collect();
    rows.sort_by_key(|r| order.get(r.id.as_str()).copied().unwrap_or(usize::MAX));
    Ok(ProveReport {
        schema: PROVE_SCHEMA.into(),
        run_id,
        started_at,
        duration_ms: started.elapsed().as_millis() as u64,
        target: t,
        rows,
    })
}

/// Runs exactly `ids`, judged against the healthy cluster's `detected`.
async fn phase(
    opts: &RunOptions,
    backend: Arc<kube_backend::KubeBackend>,
    suites: &[crate::suite::LoadedSuite],
    detected: &crate::capabilities::Detected,
    run_id: &str,
    ids: &[String],
) -> BTreeMap<String, CaseResult> {
    let phase_opts = RunOptions {
        filters: ids.to_vec(),
        skip: Vec::new(),
        exact: true,
        // A recipe may name an ignored case on purpose (it was selected).
        include_ignored: true,
        ignored: false,
        events: EventSink::default(),
        promises: Vec::new(),
        ..opts.clone()
    };
    match execute_inner(&phase_opts, backend, suites, Some(detected), run_id, Some(&opts.lock_namespace)).await {
        Ok(r) => r.cases.into_iter().map(|c| (c.id.clone(), c)).collect(),
        Err(e) => {
            tracing::error!(error = %e, "a prove phase did not run");
            BTreeMap::new()
        }
    }
}

fn row(c: &LoadedCase, recipe: Option<&str>, what: &str, verdict: ProveVerdict, under: Option<String>, after: Option<String>) -> ProveRow {
    ProveRow {
        id: c.id.clone(),
        suite: c.suite.clone(),
        case: c.name.clone(),
        recipe: recipe.map(str::to_owned),
        break_description: what.to_owned(),
        verdict,
        under_break: under,
        after_restore: after,
        duration_ms: 0,
    }
}

fn outcome_text(r: Option<&CaseResult>) -> String {
    match r.map(|r| &r.outcome) {
        None => "not run".into(),
        Some(Outcome::Passed) => "passed".into(),
        Some(Outcome::Skipped { reason }) => format!("skipped: {reason}"),
        Some(_) => r.and_then(CaseResult::failure_text).unwrap_or_default(),
    }
}

/// The verdict of one case from its two phases.
fn judge(
    c: &LoadedCase,
    recipe: &str,
    what: &str,
    fails_with: &str,
    under: Option<&CaseResult>,
    after: Option<&CaseResult>,
    restored: &Result<(), BreakError>,
) -> ProveRow {
    let under_text = outcome_text(under);
    let after_text = after.map(|a| outcome_text(Some(a)));
    let failed_as_stated = under.and_then(CaseResult::failure_text).is_some_and(|f| {
        // Validated by the loader; a bad regex here would be a loader bug.
        regex::Regex::new(fails_with).is_ok_and(|re| re.is_match(&f))
    });
    let verdict = match (under.map(|u| &u.outcome), restored) {
        (None | Some(Outcome::Skipped { .. }), _) => ProveVerdict::NotRun,
        (Some(Outcome::Passed), _) => ProveVerdict::CannotFail,
        (Some(_), _) if !failed_as_stated => ProveVerdict::WrongReason,
        (Some(_), Err(_)) => ProveVerdict::BreakFailed,
        (Some(_), Ok(())) => match after.map(|a| &a.outcome) {
            Some(Outcome::Passed) => ProveVerdict::Proven,
            _ => ProveVerdict::NotRestored,
        },
    };
    let mut r = row(c, Some(recipe), what, verdict, Some(under_text), after_text);
    if verdict == ProveVerdict::WrongReason {
        r.under_break = r.under_break.map(|u| format!("{u} (expected to match `{fails_with}`)"));
    }
    if let (ProveVerdict::BreakFailed, Err(e)) = (verdict, restored) {
        r.after_restore = Some(format!("restore failed: {e}"));
    }
    r
}
