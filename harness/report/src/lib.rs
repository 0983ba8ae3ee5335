//! Reports of a run, and perf regression comparison against a baseline.
//!
//! [`write_all`] turns a [`RunResults`] into a directory
//! (`reports/runs/<run-id>/`):
//!
//! | file | what |
//! |---|---|
//! | `results.json` | the run itself, schema [`crate::results::SCHEMA`]; the source every other file can be rebuilt from ([`rerender`]) |
//! | `junit.xml` | one `<testsuite>` per suite, one `<testcase>` per case named `<suite>::<case>`, run metadata as `<properties>` |
//! | `summary.md` | counts, a table per suite, failures, skips, perf table |
//! | `report.html` | the same plus an SVG chart per perf metric; self-contained |
//! | `perf.json` | every perf metric: samples and statistics (schema [`perf::PERF_SCHEMA`]) |
//! | `perfdash.json` | the perf metrics as perfdash `dataItems` |
//! | `conformance-report.yaml` | only when some case result carries `gatewayConformance` (the `gateway` suite's cases): a Gateway API `ConformanceReport` ([`conformance`]) |
//! | `comparison.json`, `comparison.txt` | only after [`Comparison::write_to`]: the regression verdicts |
//!
//! All text passes through [`crate::secret::redact`]: the results are
//! redacted field by field before anything is rendered, and every rendered
//! file is redacted once more before it is written.
//!
//! # Regression rule
//!
//! [`compare`] matches perf metrics by id between a run and a baseline. For
//! each metric it computes the relative change of the mean,
//! `mean(run) / mean(baseline) - 1`, with a 95% percentile-bootstrap
//! confidence interval (2,000 resamples, seeded from the metric name, so the
//! verdict is reproducible; see [`crate::stats`]). With threshold `τ`
//! (default 5%), and "worse" meaning lower for `higherIsBetter` metrics and
//! higher otherwise:
//!
//! - **regressed**: the whole CI lies on the worse side beyond `τ`
//!   (throughput: `ci_high < -τ`; latency: `ci_low > τ`). A noisy change
//!   whose CI reaches back inside `±τ` is *not* a regression.
//! - **improved**: the mirror image, the whole CI beyond `τ` on the better side.
//! - **unchanged**: anything else.
//! - **disappeared**: in the baseline but missing (or without samples) in the run.
//! - **incomparable**: unit or direction changed, or the baseline mean is not
//!   positive, so no relative change exists.
//! - **new**: only in the run (or without baseline samples); reported, never a failure.
//!
//! [`Comparison::has_regressions`] is true for any regressed, disappeared or
//! incomparable metric; `infraflux report --baseline` then exits 1.
//!
//! A baseline is either one run directory (it has `results.json`) or a
//! history directory of run directories. From a history the newest
//! [`CompareOptions::history_runs`] runs (by `startedAt`, then run id; the
//! run under test is excluded) are used and their samples **pooled** per
//! metric. Pooling keeps run-to-run spread in the baseline distribution
//! while giving the bootstrap more samples than any single run has.
//!
//! ```no_run
//! use std::path::Path;
//! use infraflux_report as report;
//!
//! let run = Path::new("reports/runs/20260102T000000Z-4d5e6f");
//! // A history baseline: the run itself is excluded from it.
//! let cmp = report::compare(run, Path::new("reports/runs"))?;
//! print!("{}", cmp.render_text());
//! cmp.write_to(run)?;
//! if cmp.has_regressions() {
//!     std::process::exit(1);
//! }
//! # Ok::<(), report::ReportError>(())
//! ```

mod baseline;
mod charts;
mod compare;
pub mod conformance;
mod html;
mod input;
mod junit;
mod markdown;
mod prove;
pub mod perf;
mod recorder;
mod view;
pub mod rules;
pub mod stats;

use infraflux_model::{diag, exit, results, secret, yaml};
#[cfg(test)]
use infraflux_model::suite;

use std::path::{Path, PathBuf};

use crate::diag::Finding;
use crate::exit::Status;
use crate::results::RunResults;

pub use baseline::{Baseline, BaselineKind, load_baseline, load_history};
pub use compare::{
    Change, CompareOptions, Comparison, MetricComparison, SideStats, Verdict, compare,
    compare_results, compare_with,
};
pub use input::{load_results, validate};
pub use prove::{PROVE_JSON, PROVE_SUITE, render_prove_table, write_prove};
pub use recorder::Recorder;
pub use rules::RULES;

/// File names inside a run directory.
pub const RESULTS_JSON: &str = "results.json";
pub const JUNIT_XML: &str = "junit.xml";
pub const SUMMARY_MD: &str = "summary.md";
pub const REPORT_HTML: &str = "report.html";
pub const PERF_JSON: &str = "perf.json";
pub const PERFDASH_JSON: &str = "perfdash.json";
pub const COMPARISON_JSON: &str = "comparison.json";
pub const COMPARISON_TXT: &str = "comparison.txt";

/// Confidence level of every interval in the reports.
pub const LEVEL: f64 = 0.95;

/// Why a report could not be written or a comparison made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// Malformed or inconsistent input (`REPORT-NNN` rule, place, hint).
    #[error("{0}")]
    Invalid(Box<Finding>),
    #[error("failed to read {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to write {path}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to serialize {what}")]
    Serialize {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("failed to render {what}: {message}")]
    Render { what: String, message: String },
}

impl ReportError {
    /// The finding behind an input error, for callers that collect findings.
    pub fn finding(&self) -> Option<&Finding> {
        match self {
            ReportError::Invalid(f) => Some(f),
            _ => None,
        }
    }

    /// Exit status for the CLI: bad input or unreadable paths are usage
    /// errors (2); failing to write or render is also 2 because no verdict
    /// could be produced.
    pub fn exit_status(&self) -> Status {
        Status::BadInput
    }
}

/// A number with four significant digits, for tables and charts.
pub(crate) fn num(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 || !a.is_finite() {
        return format!("{v}");
    }
    let decimals = (3 - a.log10().floor() as i32).clamp(0, 9) as usize;
    format!("{v:.decimals$}")
}

pub(crate) fn invalid(finding: Finding) -> ReportError {
    ReportError::Invalid(Box::new(finding))
}

/// Paths of the files [`write_all`] produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub dir: PathBuf,
    pub results_json: Option<PathBuf>,
    pub junit_xml: PathBuf,
    pub summary_md: PathBuf,
    pub report_html: PathBuf,
    pub perf_json: PathBuf,
    pub perfdash_json: PathBuf,
    /// Written only when the run has cases of the `gateway` suite.
    pub conformance_yaml: Option<PathBuf>,
}

impl Written {
    /// Every written file, in a stable order.
    pub fn files(&self) -> Vec<&Path> {
        let mut v: Vec<&Path> = Vec::new();
        if let Some(p) = &self.results_json {
            v.push(p);
        }
        v.extend([
            self.junit_xml.as_path(),
            self.summary_md.as_path(),
            self.report_html.as_path(),
            self.perf_json.as_path(),
            self.perfdash_json.as_path(),
        ]);
        if let Some(p) = &self.conformance_yaml {
            v.push(p);
        }
        v
    }
}

/// Writes every report file for `results` into `dir` (created if missing).
///
/// Everything is rendered in memory first, so invalid results leave the
/// directory untouched; each file is then replaced atomically (temp + rename).
pub fn write_all(dir: &Path, results: &RunResults) -> Result<Written, ReportError> {
    write_all_with_history(dir, results, &[])
}

/// Like [`write_all`], adding a trend chart per perf metric over `history`
/// (older runs, any order; e.g. from [`load_history`]).
pub fn write_all_with_history(
    dir: &Path,
    results: &RunResults,
    history: &[RunResults],
) -> Result<Written, ReportError> {
    write(dir, results, history, true)
}

/// Rebuilds junit/summary/html/perf/perfdash from `<results_dir>/results.json`,
/// leaving `results.json` itself untouched.
pub fn rerender(results_dir: &Path) -> Result<Written, ReportError> {
    rerender_with_history(results_dir, &[])
}

/// [`rerender`] with trend charts over `history` (e.g. the runs of the
/// baseline a comparison used: [`Baseline::runs`]).
pub fn rerender_with_history(
    results_dir: &Path,
    history: &[RunResults],
) -> Result<Written, ReportError> {
    let results = load_results(&results_dir.join(RESULTS_JSON))?;
    write(results_dir, &results, history, false)
}

/// Records a baseline comparison in the run's coverage (the profile's perf
/// threshold promise: verified when no metric failed it) and rewrites the
/// run's files, `results.json` included, so every report shows the verdict.
pub fn record_comparison(results_dir: &Path, cmp: &Comparison) -> Result<Written, ReportError> {
    use infraflux_model::contract::{self, Evidence};
    let mut results = load_results(&results_dir.join(RESULTS_JSON))?;
    let failing = Some(cmp.failing_metrics());
    for p in results.coverage.iter_mut().filter(|p| p.promise.evidence == Evidence::Baseline) {
        if let Some(judged) = contract::evaluate(std::slice::from_ref(&p.promise), &[], &failing).pop() {
            *p = judged;
        }
    }
    write(results_dir, &results, &[], true)
}

fn write(
    dir: &Path,
    results: &RunResults,
    history: &[RunResults],
    with_results_json: bool,
) -> Result<Written, ReportError> {
    validate(results, "<run results>")?;
    let run = input::redacted(results);
    let history: Vec<RunResults> = history.iter().map(input::redacted).collect();
    let view = view::RunView::new(&run);

    let mut files: Vec<(&'static str, String)> = Vec::new();
    if with_results_json {
        let json = serde_json::to_string_pretty(&run).map_err(|source| ReportError::Serialize {
            what: "results.json",
            source,
        })?;
        files.push((RESULTS_JSON, json + "\n"));
    }
    files.push((JUNIT_XML, junit::render(&view)?));
    files.push((SUMMARY_MD, markdown::render(&view)));
    files.push((REPORT_HTML, html::render(&view, &history)?));
    files.push((PERF_JSON, perf::render_perf_json(&run, &view.metrics, &view.ratios)?));
    files.push((PERFDASH_JSON, perf::render_perfdash_json(&run, &view.metrics)?));
    let conformance = conformance::build(&run, &conformance::Meta::default());
    if let Some(report) = &conformance {
        files.push((conformance::CONFORMANCE_YAML, conformance::render(report)));
    }

    std::fs::create_dir_all(dir).map_err(|source| ReportError::Write {
        path: dir.display().to_string(),
        source,
    })?;
    for (name, text) in &files {
        write_atomic(&dir.join(name), &crate::secret::redact(text))?;
    }
    Ok(Written {
        dir: dir.to_path_buf(),
        results_json: with_results_json.then(|| dir.join(RESULTS_JSON)),
        junit_xml: dir.join(JUNIT_XML),
        summary_md: dir.join(SUMMARY_MD),
        report_html: dir.join(REPORT_HTML),
        perf_json: dir.join(PERF_JSON),
        perfdash_json: dir.join(PERFDASH_JSON),
        conformance_yaml: conformance.is_some().then(|| dir.join(conformance::CONFORMANCE_YAML)),
    })
}

/// Writes via a sibling temp file and rename, so a reader (or a crash)
/// never sees half a report.
pub(crate) fn write_atomic(path: &Path, text: &str) -> Result<(), ReportError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    let err = |source| ReportError::Write {
        path: path.display().to_string(),
        source,
    };
    std::fs::write(&tmp, text).map_err(err)?;
    std::fs::rename(&tmp, path).map_err(|source| {
        let _ = std::fs::remove_file(&tmp);
        ReportError::Write {
            path: path.display().to_string(),
            source,
        }
    })
}

#[cfg(test)]
mod tests;
