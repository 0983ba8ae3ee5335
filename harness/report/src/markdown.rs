//! `summary.md`: what a reviewer reads first (also fit for a CI job summary).

use std::fmt::Write as _;

use super::num;
use super::perf::{Metric, Ratio};
use crate::results::{Outcome, RunResults};

/// Counts of a set of cases by outcome.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Counts {
    pub total: usize,
    pub passed: usize,
    pub failed: usize,
    pub timed_out: usize,
    pub skipped: usize,
}

impl Counts {
    pub(crate) fn of<'a>(outcomes: impl IntoIterator<Item = &'a Outcome>) -> Self {
        let mut c = Counts::default();
        for o in outcomes {
            c.total += 1;
            match o {
                Outcome::Passed => c.passed += 1,
                Outcome::Failed { .. } => c.failed += 1,
                Outcome::TimedOut { .. } => c.timed_out += 1,
                Outcome::Skipped { .. } => c.skipped += 1,
            }
        }
        c
    }
}

/// Outcome word and one-line detail, shared with the HTML report.
pub(crate) fn outcome_text(o: &Outcome) -> (&'static str, String) {
    match o {
        Outcome::Passed => ("passed", String::new()),
        Outcome::Failed {
            step: Some(s),
            message,
        } => ("failed", format!("step `{s}`: {message}")),
        Outcome::Failed {
            step: None,
            message,
        } => ("failed", message.clone()),
        Outcome::TimedOut {
            step: Some(s),
            after_ms,
        } => (
            "timed out",
            format!("timed out after {after_ms} ms in step `{s}`"),
        ),
        Outcome::TimedOut {
            step: None,
            after_ms,
        } => ("timed out", format!("timed out after {after_ms} ms")),
        Outcome::Skipped { reason } => ("skipped", reason.clone()),
    }
}

/// Table-cell safe: no pipes, no line breaks.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace(['\r', '\n'], " ")
}

pub(super) fn render(run: &RunResults, metrics: &[Metric<'_>], ratios: &[Ratio]) -> String {
    let mut md = String::new();
    let t = &run.target;
    let _ = writeln!(md, "# InfraFlux run {}\n", cell(&run.run_id));
    let _ = writeln!(
        md,
        "Started {}, took {:.1} s.\n",
        run.started_at,
        run.duration_ms as f64 / 1000.0
    );
    let field = |v: &Option<String>| v.as_deref().map(cell).unwrap_or_else(|| "unknown".into());
    let _ = writeln!(md, "| Target | |\n|---|---|");
    let _ = writeln!(md, "| Profile | {} |", field(&t.profile));
    let _ = writeln!(md, "| Profile sha256 | {} |", field(&t.profile_hash));
    let _ = writeln!(md, "| Provider | {} |", field(&t.provider));
    let _ = writeln!(md, "| Kubernetes | {} |", field(&t.kubernetes_version));
    let _ = writeln!(md, "| Cilium | {} |", field(&t.cilium_version));
    let nodes = t
        .node_count
        .map(|n| n.to_string())
        .unwrap_or_else(|| "unknown".into());
    let _ = writeln!(md, "| Nodes | {nodes} |\n");

    if let Some(e) = &run.setup_error {
        let _ = writeln!(md, "**Setup failed; no case ran:** {}\n", cell(e));
    }
    let c = Counts::of(run.cases.iter().map(|c| &c.outcome));
    let _ = writeln!(
        md,
        "**{} cases: {} passed, {} failed, {} timed out, {} skipped.**\n",
        c.total, c.passed, c.failed, c.timed_out, c.skipped
    );

    let mut suites: Vec<&str> = Vec::new();
    for case in &run.cases {
        if !suites.contains(&case.suite.as_str()) {
            suites.push(&case.suite);
        }
    }
    for suite in suites {
        let cases: Vec<_> = run.cases.iter().filter(|c| c.suite == suite).collect();
        let sc = Counts::of(cases.iter().map(|c| &c.outcome));
        let _ = writeln!(
            md,
            "## Suite {} ({}/{} passed)\n",
            cell(suite),
            sc.passed,
            sc.total
        );
        let _ = writeln!(
            md,
            "| Case | Outcome | Duration | Attempts | Detail |\n|---|---|---:|---:|---|"
        );
        for case in cases {
            let (word, detail) = outcome_text(&case.outcome);
            let _ = writeln!(
                md,
                "| {} | {} | {:.1} s | {} | {} |",
                cell(&case.case),
                word,
                case.duration_ms as f64 / 1000.0,
                case.attempts,
                cell(&detail)
            );
        }
        md.push('\n');
    }

    let failures: Vec<_> = run
        .cases
        .iter()
        .filter(|c| c.outcome.is_failure())
        .collect();
    if !failures.is_empty() {
        let _ = writeln!(md, "## Failures\n");
        for case in failures {
            let (_, detail) = outcome_text(&case.outcome);
            let _ = writeln!(md, "- **{}**: {}", cell(&case.id), cell(&detail));
            let bad = case
                .steps
                .iter()
                .find(|s| s.status != "passed" && s.status != "skipped");
            if let Some((step, m)) = bad.and_then(|s| s.message.as_ref().map(|m| (s, m))) {
                let _ = writeln!(
                    md,
                    "  - {} `{}`: {}",
                    cell(&step.kind),
                    cell(&step.name),
                    cell(m)
                );
            }
        }
        md.push('\n');
    }

    let skipped: Vec<_> = run
        .cases
        .iter()
        .filter(|c| matches!(c.outcome, Outcome::Skipped { .. }))
        .collect();
    if !skipped.is_empty() {
        let _ = writeln!(md, "## Skipped\n");
        for case in skipped {
            let (_, reason) = outcome_text(&case.outcome);
            let _ = writeln!(md, "- **{}**: {}", cell(&case.id), cell(&reason));
        }
        md.push('\n');
    }

    if !metrics.is_empty() {
        let _ = writeln!(md, "## Performance\n");
        if !ratios.is_empty() {
            let _ = writeln!(md, "\n| Pod / host | Ratio | 95% CI | Pod metric | Host baseline |\n|---|---:|---|---|---|");
            for r in ratios {
                let _ = writeln!(md, "| {} | {} | {} | {} | {} |", cell(&r.id), num(r.ratio), r.ci_text(), cell(&r.numerator), cell(&r.denominator));
            }
        }
        let _ = writeln!(
            md,
            "| Metric | Unit | Better | n | Mean | 95% CI of mean | p50 | p90 | p99 | Min | Max |\n\
             |---|---|---|---:|---:|---|---:|---:|---:|---:|---:|"
        );
        for m in metrics {
            let better = if m.series.higher_is_better {
                "higher"
            } else {
                "lower"
            };
            match m.summary {
                Some(s) => {
                    let _ = writeln!(
                        md,
                        "| {} | {} | {better} | {} | {} | {} – {} | {} | {} | {} | {} | {} |",
                        cell(&m.series.metric),
                        cell(&m.series.unit),
                        s.n,
                        num(s.mean),
                        num(s.ci_low),
                        num(s.ci_high),
                        num(s.p50),
                        num(s.p90),
                        num(s.p99),
                        num(s.min),
                        num(s.max)
                    );
                }
                None => {
                    let _ = writeln!(
                        md,
                        "| {} | {} | {better} | 0 | – | – | – | – | – | – | – |",
                        cell(&m.series.metric),
                        cell(&m.series.unit)
                    );
                }
            }
        }
        let _ = writeln!(
            md,
            "\nPercentiles: linear interpolation between closest ranks (type 7). CI: Student t."
        );
    }
    md
}
