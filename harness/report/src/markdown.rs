//! `summary.md`: what a reviewer reads first (also fit for a CI job summary).

use std::fmt::Write as _;

use super::num;
use super::view::{RunView, outcome_text};

/// At most five case ids, then how many more.
pub(crate) fn case_list(ids: &[String]) -> String {
    let mut out: Vec<&str> = ids.iter().take(5).map(String::as_str).collect();
    let more = ids.len().saturating_sub(5);
    let more_text = format!("… and {more} more");
    if more > 0 {
        out.push(&more_text);
    }
    out.join(", ")
}

/// Table-cell safe: no pipes, no line breaks.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace(['\r', '\n'], " ")
}

/// The install phases as they ran, and the diagnostics bundle's link.
fn install_section(md: &mut String, v: &RunView<'_>) {
    let run = v.run;
    if run.install.is_empty() && v.diagnostics().is_none() {
        return;
    }
    let _ = writeln!(md, "## Install\n");
    if !run.install.is_empty() {
        let _ = writeln!(md, "| Phase | Outcome | Duration | Detail |\n|---|---|---:|---|");
        for p in &run.install {
            let (word, detail) = outcome_text(&p.outcome);
            let _ = writeln!(md, "| {} | {word} | {:.1} s | {} |", cell(&p.phase), p.duration_ms as f64 / 1000.0, cell(&detail));
        }
        md.push('\n');
    }
    if let Some(d) = v.diagnostics() {
        let _ = writeln!(md, "Diagnostics bundle: [{}]({}/README.md)\n", cell(d), d);
    }
}

/// The cluster compared with the profile before the suites ran.
fn drift_section(md: &mut String, v: &RunView<'_>) {
    let Some(d) = &v.run.drift else { return };
    let _ = writeln!(md, "## Drift from the profile\n");
    if d.items.is_empty() {
        let _ = writeln!(md, "No drift: {} release(s) and {} custom resource(s) match the profile.\n", d.releases, d.objects);
    } else {
        let _ = writeln!(
            md,
            "{} difference(s); {} release(s) and {} custom resource(s) compared.\n\n| Object | Difference | Key | Profile | Cluster |\n|---|---|---|---|---|",
            d.items.len(),
            d.releases,
            d.objects
        );
        for i in &d.items {
            let _ = writeln!(md, "| {} | {} | {} | {} | {} |", cell(&i.object), i.kind.as_str(), cell(&i.path), cell(&i.profile), cell(&i.cluster));
        }
        md.push('\n');
    }
    if let Some(e) = &d.error {
        let _ = writeln!(md, "**The comparison is incomplete:** {}\n", cell(e));
    }
}

pub(super) fn render(v: &RunView<'_>) -> String {
    let (run, metrics, ratios) = (v.run, &v.metrics, &v.ratios);
    let mut md = String::new();
    let t = &run.target;
    let _ = writeln!(md, "# InfraFlux run {}\n", cell(&run.run_id));
    let _ = writeln!(md, "## Verdict: {}\n", cell(&v.verdict.headline));
    for r in v.verdict.reasons.iter().skip(1) {
        let _ = writeln!(md, "- {}", cell(r));
    }
    if v.verdict.reasons.len() > 1 {
        md.push('\n');
    }
    let c = v.counts;
    let _ = writeln!(
        md,
        "{} cases: {} passed, {} failed, {} timed out, {} skipped. Started {}, took {:.1} s.\n",
        c.total,
        c.passed,
        c.failed,
        c.timed_out,
        c.skipped,
        run.started_at,
        run.duration_ms as f64 / 1000.0
    );
    if let Some(e) = &run.setup_error {
        let _ = writeln!(md, "**Setup failed; no case ran:** {}\n", cell(e));
    }
    let field = |v: &Option<String>| v.as_deref().map(cell).unwrap_or_else(|| "unknown".into());
    let _ = writeln!(md, "| Target (as read from the cluster) | |\n|---|---|");
    let _ = writeln!(md, "| Provider used | {} |", field(&t.provider));
    let _ = writeln!(md, "| Kubeconfig context | {} |", field(&t.context));
    let _ = writeln!(md, "| API server | {} |", field(&t.api_server));
    let _ = writeln!(md, "| Kubernetes | {} |", field(&t.kubernetes_version));
    let _ = writeln!(md, "| Cilium | {} |", field(&t.cilium_version));
    let nodes = t.node_count.map(|n| n.to_string()).unwrap_or_else(|| "unknown".into());
    let _ = writeln!(md, "| Nodes | {nodes} |");
    let _ = writeln!(md, "| Profile | {} |", field(&t.profile));
    let _ = writeln!(md, "| Profile sha256 | {} |\n", field(&t.profile_hash));

    install_section(&mut md, v);
    drift_section(&mut md, v);

    if !v.suites.is_empty() {
        let _ = writeln!(md, "## Suites\n\n| Suite | Passed | Failed | Timed out | Skipped | Total |\n|---|---:|---:|---:|---:|---:|");
        for s in &v.suites {
            let sc = s.counts;
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} |",
                cell(s.name),
                sc.passed,
                sc.failed,
                sc.timed_out,
                sc.skipped,
                sc.total
            );
        }
        md.push('\n');
    }

    if !v.coverage.is_empty() {
        let [ok, failed, open, uncovered] = v.coverage_counts();
        let _ = writeln!(
            md,
            "## Coverage of the profile\n\nMode: {}. {} promise(s): {ok} verified, {failed} failed, {open} not verified, {uncovered} uncovered.\n",
            v.mode_text(),
            v.coverage.len()
        );
        let _ = writeln!(md, "| Promise | Profile field | Verdict | Cases | Why |\n|---|---|---|---|---|");
        for p in &v.coverage {
            let _ = writeln!(
                md,
                "| {} | `{}` | {} | {} | {} |",
                cell(&p.promise.statement),
                cell(&p.promise.field),
                p.verdict.as_str(),
                cell(&case_list(&p.cases)),
                cell(&p.detail)
            );
        }
        md.push('\n');
    }

    if !v.suites.is_empty() {
        let _ = writeln!(md, "## Cases\n");
    }
    for suite in &v.suites {
        let sc = suite.counts;
        let _ = writeln!(
            md,
            "### Suite {} ({}/{} passed)\n",
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
