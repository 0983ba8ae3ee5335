//! Perf regression comparison of a run against a baseline (rule: module
//! docs of [`crate::report`] and `reports/README.md`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::baseline::{Baseline, BaselineKind, load_baseline};
use super::{
    COMPARISON_JSON, COMPARISON_TXT, RESULTS_JSON, ReportError, invalid, load_results, num,
    validate, write_atomic,
};
use crate::rules;
use crate::results::RunResults;
use crate::stats::{self, SplitMix64};

/// Schema id of the JSON rendering.
pub const COMPARISON_SCHEMA: &str = "infraflux.io/comparison/v1";

/// Knobs of the regression rule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CompareOptions {
    /// Relative change (0.05 = 5%) the whole CI must exceed to count.
    pub threshold: f64,
    /// Confidence level of the bootstrap interval.
    pub level: f64,
    /// Bootstrap resamples per metric.
    pub resamples: usize,
    /// Runs taken from a history baseline (newest first).
    pub history_runs: usize,
}

impl Default for CompareOptions {
    fn default() -> Self {
        CompareOptions {
            threshold: 0.05,
            level: 0.95,
            resamples: 2000,
            history_runs: 5,
        }
    }
}

impl CompareOptions {
    /// `REPORT-020` for options that make the rule meaningless.
    pub fn validate(&self) -> Result<(), ReportError> {
        let bad = |what: String, hint: &str| Err(invalid(rules::REPORT_020.finding_hint(what, hint)));
        if !self.threshold.is_finite() || self.threshold < 0.0 {
            return bad(
                format!(
                    "regression threshold must be a non-negative fraction, got {}",
                    self.threshold
                ),
                "use e.g. 0.05 for 5%",
            );
        }
        if !(self.level > 0.0 && self.level < 1.0) {
            return bad(
                format!(
                    "confidence level must be between 0 and 1, got {}",
                    self.level
                ),
                "use 0.95",
            );
        }
        if self.resamples == 0 || self.history_runs == 0 {
            return bad(
                "resamples and history runs must be at least 1".into(),
                "use the defaults (2000 and 5)",
            );
        }
        Ok(())
    }
}

/// What happened to one metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Verdict {
    /// The whole CI shows the metric worse by more than the threshold.
    Regressed,
    /// The whole CI shows it better by more than the threshold.
    Improved,
    Unchanged,
    /// In the baseline, but absent or sample-less in the run.
    Disappeared,
    /// Unit or direction changed, or no relative change exists.
    Incomparable,
    /// Only in the run, or the baseline has no samples of it.
    New,
}

impl Verdict {
    fn word(self) -> &'static str {
        match self {
            Verdict::Regressed => "REGRESSED",
            Verdict::Improved => "improved",
            Verdict::Unchanged => "unchanged",
            Verdict::Disappeared => "DISAPPEARED",
            Verdict::Incomparable => "INCOMPARABLE",
            Verdict::New => "new",
        }
    }
}

/// Relative change of the mean, run vs baseline, in percent (negative = lower).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    pub relative_pct: f64,
    pub ci_low_pct: f64,
    pub ci_high_pct: f64,
    pub level: f64,
}

/// Sample count and mean of one side.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SideStats {
    pub n: usize,
    pub mean: f64,
}

/// The verdict for one metric.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricComparison {
    pub metric: String,
    pub unit: String,
    pub higher_is_better: bool,
    pub verdict: Verdict,
    pub change: Option<Change>,
    pub run: Option<SideStats>,
    pub baseline: Option<SideStats>,
    pub note: Option<String>,
}

/// Every metric's verdict for a run against a baseline.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Comparison {
    pub schema: &'static str,
    pub run_id: String,
    pub baseline_kind: BaselineKind,
    pub baseline_path: String,
    /// Baseline run ids, oldest first.
    pub baseline_runs: Vec<String>,
    pub threshold_pct: f64,
    pub level: f64,
    pub resamples: usize,
    pub metrics: Vec<MetricComparison>,
}

impl Comparison {
    fn with(&self, v: Verdict) -> Vec<&MetricComparison> {
        self.metrics.iter().filter(|m| m.verdict == v).collect()
    }
    pub fn regressions(&self) -> Vec<&MetricComparison> {
        self.with(Verdict::Regressed)
    }
    pub fn improvements(&self) -> Vec<&MetricComparison> {
        self.with(Verdict::Improved)
    }
    pub fn unchanged(&self) -> Vec<&MetricComparison> {
        self.with(Verdict::Unchanged)
    }
    pub fn disappeared(&self) -> Vec<&MetricComparison> {
        self.with(Verdict::Disappeared)
    }
    pub fn incomparable(&self) -> Vec<&MetricComparison> {
        self.with(Verdict::Incomparable)
    }
    pub fn new_metrics(&self) -> Vec<&MetricComparison> {
        self.with(Verdict::New)
    }

    /// True when any metric regressed, disappeared or became incomparable:
    /// in each case the run does not show that performance held.
    pub fn has_regressions(&self) -> bool {
        !self.failing_metrics().is_empty()
    }

    /// Metrics that regressed, disappeared or became incomparable, as
    /// `metric (verdict)`.
    pub fn failing_metrics(&self) -> Vec<String> {
        self.metrics
            .iter()
            .filter(|m| matches!(m.verdict, Verdict::Regressed | Verdict::Disappeared | Verdict::Incomparable))
            .map(|m| format!("{} ({})", m.metric, m.verdict.word().to_lowercase()))
            .collect()
    }

    /// Human rendering, one line per metric, failures first.
    pub fn render_text(&self) -> String {
        let mut s = String::new();
        let kind = match self.baseline_kind {
            BaselineKind::Run => "run",
            BaselineKind::History => "history",
        };
        let _ = writeln!(
            s,
            "perf comparison: run {} vs {kind} baseline {} ({} run(s): {})",
            self.run_id,
            self.baseline_path,
            self.baseline_runs.len(),
            self.baseline_runs.join(", ")
        );
        let _ = writeln!(
            s,
            "rule: regressed when the whole {:.0}% bootstrap CI of the relative change is worse by more than {:.1}%",
            self.level * 100.0,
            self.threshold_pct
        );
        for v in [
            Verdict::Regressed,
            Verdict::Disappeared,
            Verdict::Incomparable,
            Verdict::Improved,
            Verdict::Unchanged,
            Verdict::New,
        ] {
            for m in self.with(v) {
                let _ = write!(s, "{:<12} {}", v.word(), m.metric);
                if let Some(c) = m.change {
                    let _ = write!(
                        s,
                        "  {:+.1}% [{:+.1}%, {:+.1}%]",
                        c.relative_pct, c.ci_low_pct, c.ci_high_pct
                    );
                }
                match (m.baseline, m.run) {
                    (Some(b), Some(r)) => {
                        let _ = write!(s, "  {} -> {} {}", num(b.mean), num(r.mean), m.unit);
                    }
                    (Some(b), None) => {
                        let _ = write!(s, "  baseline {} {}", num(b.mean), m.unit);
                    }
                    (None, Some(r)) => {
                        let _ = write!(s, "  {} {}", num(r.mean), m.unit);
                    }
                    (None, None) => {}
                }
                let dir = if m.higher_is_better {
                    "higher is better"
                } else {
                    "lower is better"
                };
                let _ = write!(s, " ({dir})");
                if let Some(n) = &m.note {
                    let _ = write!(s, "; {n}");
                }
                s.push('\n');
            }
        }
        let _ = writeln!(
            s,
            "summary: {} regressed, {} disappeared, {} incomparable, {} improved, {} unchanged, {} new",
            self.regressions().len(),
            self.disappeared().len(),
            self.incomparable().len(),
            self.improvements().len(),
            self.unchanged().len(),
            self.new_metrics().len()
        );
        crate::secret::redact(&s)
    }

    /// Writes `comparison.json` and `comparison.txt` into `dir` (normally
    /// the run directory, next to the reports it qualifies).
    pub fn write_to(&self, dir: &Path) -> Result<Vec<PathBuf>, ReportError> {
        let json = self.render_json()?;
        let text = self.render_text();
        let files = [
            (dir.join(COMPARISON_JSON), json),
            (dir.join(COMPARISON_TXT), text),
        ];
        for (path, body) in &files {
            write_atomic(path, body)?;
        }
        Ok(files.into_iter().map(|(p, _)| p).collect())
    }

    /// Pretty JSON (schema [`COMPARISON_SCHEMA`]).
    pub fn render_json(&self) -> Result<String, ReportError> {
        serde_json::to_string_pretty(self)
            .map(|s| crate::secret::redact(&s) + "\n")
            .map_err(|source| ReportError::Serialize {
                what: "comparison",
                source,
            })
    }
}

/// [`compare_with`] using [`CompareOptions::default`].
pub fn compare(results_dir: &Path, baseline: &Path) -> Result<Comparison, ReportError> {
    compare_with(results_dir, baseline, &CompareOptions::default())
}

/// Loads `<results_dir>/results.json` and the baseline (a run dir or a
/// history dir) and compares their perf metrics.
pub fn compare_with(
    results_dir: &Path,
    baseline: &Path,
    opts: &CompareOptions,
) -> Result<Comparison, ReportError> {
    opts.validate()?;
    let run = load_results(&results_dir.join(RESULTS_JSON))?;
    let base = load_baseline(baseline, opts.history_runs, Some(&run.run_id))?;
    compare_results(&run, &base, opts)
}

/// The pure comparison, for callers that already hold the results.
pub fn compare_results(
    run: &RunResults,
    base: &Baseline,
    opts: &CompareOptions,
) -> Result<Comparison, ReportError> {
    opts.validate()?;
    validate(run, "<run results>")?;
    for r in &base.runs {
        validate(r, &base.path.display().to_string())?;
    }
    let mut metrics = Vec::new();
    for series in &run.perf {
        let run_side = stats::mean(&series.samples).map(|mean| SideStats {
            n: series.samples.len(),
            mean,
        });
        let mut mc = MetricComparison {
            metric: series.metric.clone(),
            unit: series.unit.clone(),
            higher_is_better: series.higher_is_better,
            verdict: Verdict::New,
            change: None,
            run: run_side,
            baseline: None,
            note: None,
        };
        let Some(pooled) = base.pooled(&series.metric) else {
            metrics.push(mc);
            continue;
        };
        mc.baseline = stats::mean(&pooled.samples).map(|mean| SideStats {
            n: pooled.samples.len(),
            mean,
        });
        if pooled.unit != series.unit || pooled.higher_is_better != series.higher_is_better {
            mc.verdict = Verdict::Incomparable;
            mc.note = Some(format!(
                "baseline is {} ({}), run is {} ({})",
                pooled.unit,
                direction(pooled.higher_is_better),
                series.unit,
                direction(series.higher_is_better)
            ));
        } else if pooled.samples.is_empty() {
            mc.note = Some("baseline has no samples".into());
        } else if series.samples.is_empty() {
            mc.verdict = Verdict::Disappeared;
            mc.note = Some("no samples in this run".into());
        } else {
            let mut rng = SplitMix64::from_name(&series.metric);
            match stats::bootstrap_relative_change(
                &series.samples,
                &pooled.samples,
                opts.level,
                opts.resamples,
                &mut rng,
            ) {
                None => {
                    mc.verdict = Verdict::Incomparable;
                    mc.note = Some("baseline mean is not positive; no relative change".into());
                }
                Some(rc) => {
                    mc.verdict = verdict(rc.low, rc.high, series.higher_is_better, opts.threshold);
                    mc.change = Some(Change {
                        relative_pct: rc.estimate * 100.0,
                        ci_low_pct: rc.low * 100.0,
                        ci_high_pct: rc.high * 100.0,
                        level: rc.level,
                    });
                    if series.samples.len() < 2 || pooled.samples.len() < 2 {
                        mc.note =
                            Some("a single sample on one side: the CI ignores its noise".into());
                    }
                }
            }
        }
        metrics.push(mc);
    }
    for id in base.metric_ids() {
        if run.perf.iter().any(|p| p.metric == id) {
            continue;
        }
        let Some(pooled) = base.pooled(id) else {
            continue;
        };
        metrics.push(MetricComparison {
            metric: id.to_owned(),
            unit: pooled.unit.clone(),
            higher_is_better: pooled.higher_is_better,
            verdict: Verdict::Disappeared,
            change: None,
            run: None,
            baseline: stats::mean(&pooled.samples).map(|mean| SideStats {
                n: pooled.samples.len(),
                mean,
            }),
            note: Some("metric missing from this run".into()),
        });
    }
    Ok(Comparison {
        schema: COMPARISON_SCHEMA,
        run_id: run.run_id.clone(),
        baseline_kind: base.kind,
        baseline_path: base.path.display().to_string(),
        baseline_runs: base.run_ids().into_iter().map(str::to_owned).collect(),
        threshold_pct: opts.threshold * 100.0,
        level: opts.level,
        resamples: opts.resamples,
        metrics,
    })
}

fn direction(higher_is_better: bool) -> &'static str {
    if higher_is_better {
        "higher is better"
    } else {
        "lower is better"
    }
}

/// The rule itself: `low..high` is the CI of `run / base - 1`.
fn verdict(low: f64, high: f64, higher_is_better: bool, threshold: f64) -> Verdict {
    // Express the CI as "how much worse" so one comparison serves both directions.
    let (worse_low, worse_high) = if higher_is_better {
        (-high, -low)
    } else {
        (low, high)
    };
    if worse_low > threshold {
        Verdict::Regressed
    } else if worse_high < -threshold {
        Verdict::Improved
    } else {
        Verdict::Unchanged
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_needs_the_whole_interval_beyond_the_threshold() {
        // Throughput: -20% with CI [-22, -18] regresses; CI reaching -4% does not.
        assert_eq!(verdict(-0.22, -0.18, true, 0.05), Verdict::Regressed);
        assert_eq!(verdict(-0.22, -0.04, true, 0.05), Verdict::Unchanged);
        assert_eq!(verdict(0.10, 0.30, true, 0.05), Verdict::Improved);
        // Latency: up is worse.
        assert_eq!(verdict(0.10, 0.30, false, 0.05), Verdict::Regressed);
        assert_eq!(verdict(-0.22, -0.18, false, 0.05), Verdict::Improved);
        assert_eq!(verdict(-0.03, 0.03, false, 0.05), Verdict::Unchanged);
        // Exactly at the threshold is not "beyond" it.
        assert_eq!(verdict(-0.30, -0.05, true, 0.05), Verdict::Unchanged);
    }

    #[test]
    fn bad_options_are_rejected() {
        for o in [
            CompareOptions {
                threshold: -0.1,
                ..Default::default()
            },
            CompareOptions {
                threshold: f64::NAN,
                ..Default::default()
            },
            CompareOptions {
                level: 1.0,
                ..Default::default()
            },
            CompareOptions {
                resamples: 0,
                ..Default::default()
            },
        ] {
            let e = o.validate().expect_err("invalid");
            assert_eq!(e.finding().map(|f| f.rule.as_str()), Some("REPORT-020"));
        }
        assert!(CompareOptions::default().validate().is_ok());
    }
}
