//! Baselines: one earlier run, or the newest runs of a history directory.
//!
//! Layout (see `reports/README.md`): a run directory contains
//! `results.json`; a history directory contains run directories (e.g.
//! `reports/runs/` itself, or a curated `reports/baselines/<name>/`).
//! Subdirectories without `results.json` (an interrupted run) are ignored;
//! a `results.json` that does not load is an error, so a corrupt baseline is
//! never silently skipped.

use std::path::{Path, PathBuf};

use super::{RESULTS_JSON, ReportError, invalid, load_results};
use crate::rules;
use crate::diag::Location;
use crate::results::RunResults;

/// Whether the baseline was a single run or a history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum BaselineKind {
    Run,
    History,
}

/// Loaded baseline runs, oldest first.
#[derive(Debug, Clone)]
pub struct Baseline {
    pub kind: BaselineKind,
    pub path: PathBuf,
    pub runs: Vec<RunResults>,
}

/// Pooled samples of one metric across the baseline runs.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Pooled {
    pub unit: String,
    pub higher_is_better: bool,
    pub samples: Vec<f64>,
}

impl Baseline {
    /// Run ids, oldest first.
    pub fn run_ids(&self) -> Vec<&str> {
        self.runs.iter().map(|r| r.run_id.as_str()).collect()
    }

    /// Metric ids in first-seen order, newest run first (so a metric's unit
    /// and direction are taken from the newest run that has it).
    pub(crate) fn metric_ids(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for r in self.runs.iter().rev() {
            for p in &r.perf {
                if !out.contains(&p.metric.as_str()) {
                    out.push(&p.metric);
                }
            }
        }
        out
    }

    /// The metric's samples from every baseline run whose series has the
    /// same unit and direction as the newest one.
    pub(crate) fn pooled(&self, metric: &str) -> Option<Pooled> {
        let mut pooled: Option<Pooled> = None;
        for r in self.runs.iter().rev() {
            let Some(p) = r.perf.iter().find(|p| p.metric == metric) else {
                continue;
            };
            match &mut pooled {
                None => {
                    pooled = Some(Pooled {
                        unit: p.unit.clone(),
                        higher_is_better: p.higher_is_better,
                        samples: p.samples.clone(),
                    })
                }
                Some(acc) if acc.unit == p.unit && acc.higher_is_better == p.higher_is_better => {
                    acc.samples.extend_from_slice(&p.samples);
                }
                Some(_) => {}
            }
        }
        pooled
    }
}

fn not_found(path: &Path, what: &str) -> ReportError {
    invalid(
        rules::REPORT_011.finding_hint(
            format!("no baseline runs at {}: {what}", path.display()),
            "pass a run directory (containing results.json) or a directory of run directories",
        )
        .at(Location {
            file: path.display().to_string(),
            line: 0,
            col: 0,
        }),
    )
}

/// Loads `path` as a single run (it has `results.json`) or as a history, in
/// which case the newest `newest` runs are kept, skipping `exclude_run_id`
/// (the run being compared, when the history is `reports/runs/` itself).
pub fn load_baseline(
    path: &Path,
    newest: usize,
    exclude_run_id: Option<&str>,
) -> Result<Baseline, ReportError> {
    if path.join(RESULTS_JSON).is_file() {
        let run = load_results(&path.join(RESULTS_JSON))?;
        return Ok(Baseline {
            kind: BaselineKind::Run,
            path: path.to_path_buf(),
            runs: vec![run],
        });
    }
    if !path.is_dir() {
        return Err(not_found(path, "not a directory"));
    }
    let mut runs = load_history(path, usize::MAX)?;
    runs.retain(|r| Some(r.run_id.as_str()) != exclude_run_id);
    let keep = newest.max(1);
    if runs.len() > keep {
        runs.drain(..runs.len() - keep);
    }
    if runs.is_empty() {
        return Err(not_found(
            path,
            "no subdirectory holds a results.json from another run",
        ));
    }
    Ok(Baseline {
        kind: BaselineKind::History,
        path: path.to_path_buf(),
        runs,
    })
}

/// Every run under `dir` (one level deep), oldest first by `startedAt`
/// then run id, truncated to the newest `newest`.
pub fn load_history(dir: &Path, newest: usize) -> Result<Vec<RunResults>, ReportError> {
    let entries = std::fs::read_dir(dir).map_err(|source| ReportError::Read {
        path: dir.display().to_string(),
        source,
    })?;
    let mut runs = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| ReportError::Read {
            path: dir.display().to_string(),
            source,
        })?;
        let file = entry.path().join(RESULTS_JSON);
        if file.is_file() {
            runs.push(load_results(&file)?);
        }
    }
    runs.sort_by(|a, b| {
        let ka = (super::input::started_at(a), &a.run_id);
        let kb = (super::input::started_at(b), &b.run_id);
        ka.cmp(&kb)
    });
    if runs.len() > newest {
        runs.drain(..runs.len() - newest);
    }
    Ok(runs)
}
