//! `summary.md`: what a reviewer reads first (also fit for a CI job summary).

use std::fmt::Write as _;

use super::num;
use super::view::RunView;

/// Table-cell safe: no pipes, no line breaks.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace(['\r', '\n'], " ")
}

pub(super) fn render(v: &RunView<'_>) -> String {
    let (run, metrics, ratios) = (v.run, &v.metrics, &v.ratios);
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
    let c = v.counts;
    let _ = writeln!(
        md,
        "**{} cases: {} passed, {} failed, {} timed out, {} skipped.**\n",
        c.total, c.passed, c.failed, c.timed_out, c.skipped
    );

    for suite in &v.suites {
        let sc = suite.counts;
        let _ = writeln!(
            md,
            "## Suite {} ({}/{} passed)\n",
            cell(suite.name),
            sc.passed,
            sc.total
        );
        let _ = writeln!(
            md,
            "| Case | Outcome | Duration | Attempts | Detail |\n|---|---|---:|---:|---|"
        );
        for cv in &suite.cases {
            let case = cv.case;
            let _ = writeln!(
                md,
                "| {} | {} | {:.1} s | {} | {} |",
                cell(&case.case),
                cv.word,
                case.duration_ms as f64 / 1000.0,
                case.attempts,
                cell(&cv.detail)
            );
        }
        md.push('\n');
    }

    if !v.failures.is_empty() {
        let _ = writeln!(md, "## Failures\n");
        for cv in &v.failures {
            let case = cv.case;
            let _ = writeln!(md, "- **{}**: {}", cell(&case.id), cell(&cv.detail));
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

    if !v.skipped.is_empty() {
        let _ = writeln!(md, "## Skipped\n");
        for cv in &v.skipped {
            let _ = writeln!(md, "- **{}**: {}", cell(&cv.case.id), cell(&cv.detail));
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
        for m in metrics.iter() {
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
