//! `report.html`: one self-contained file (inline CSS and SVG, no scripts,
//! no external assets) so it can be attached to a CI run or mailed.

use std::fmt::Write as _;

use super::perf::{Metric, Ratio};
use super::markdown::case_list;
use super::view::{RunView, outcome_text, verdict_class};
use super::{LEVEL, ReportError, charts, num};
use crate::results::{Outcome, RunResults};
use crate::stats;

const CSS: &str = "
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2rem auto;max-width:72rem;color:#222;padding:0 1rem}
h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5rem 0;width:100%}
th,td{border:1px solid #ddd;padding:.3rem .5rem;text-align:left;vertical-align:top;font-size:.9rem}
th{background:#f4f4f4}td.n{text-align:right;font-variant-numeric:tabular-nums}
.passed,.verified{color:#1a7f37}.failed,.timed-out{color:#cf222e;font-weight:600}.skipped,.not-verified{color:#9a6700}.uncovered{color:#6e7781}
.verdict{border-left:.4rem solid;padding:.2rem 1rem}.verdict.pass{border-color:#1a7f37}.verdict.fail{border-color:#cf222e}.headline{font-size:1.2rem;font-weight:600}
.counts span{margin-right:1rem}pre{background:#f6f8fa;padding:.5rem;overflow-x:auto;font-size:.8rem}
figure{margin:1rem 0}figcaption{font-weight:600;margin-bottom:.3rem}svg{max-width:100%;height:auto}
";

/// Minimal escaping for text and attribute values.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn class(o: &Outcome) -> &'static str {
    match o {
        Outcome::Passed => "passed",
        Outcome::Failed { .. } => "failed",
        Outcome::TimedOut { .. } => "timed-out",
        Outcome::Skipped { .. } => "skipped",
    }
}

/// The install phases as they ran, and a link to the diagnostics bundle.
fn install_section(h: &mut String, v: &RunView<'_>) {
    let run = v.run;
    if run.install.is_empty() && v.diagnostics().is_none() {
        return;
    }
    h.push_str("<h2>Install</h2>\n");
    if !run.install.is_empty() {
        h.push_str("<table id=\"install\"><tr><th>Phase</th><th>Outcome</th><th>Duration</th><th>Detail</th></tr>\n");
        for p in &run.install {
            let (word, detail) = outcome_text(&p.outcome);
            let _ = writeln!(
                h,
                "<tr data-phase=\"{}\"><td>{}</td><td class=\"{}\">{word}</td><td class=\"n\">{:.1} s</td><td>{}</td></tr>",
                esc(&p.phase),
                esc(&p.phase),
                class(&p.outcome),
                p.duration_ms as f64 / 1000.0,
                esc(&detail)
            );
        }
        h.push_str("</table>\n");
    }
    if let Some(d) = v.diagnostics() {
        let _ = writeln!(h, "<p id=\"diagnostics\">Diagnostics bundle: <a href=\"{}/README.md\">{}</a></p>", esc(d), esc(d));
    }
}

/// The cluster compared with the profile before the suites ran.
fn drift_section(h: &mut String, v: &RunView<'_>) {
    let Some(d) = &v.run.drift else { return };
    h.push_str("<h2>Drift from the profile</h2>\n");
    if d.items.is_empty() {
        let _ = writeln!(h, "<p id=\"drift\">No drift: {} release(s) and {} custom resource(s) match the profile.</p>", d.releases, d.objects);
    } else {
        let _ = writeln!(
            h,
            "<p>{} difference(s); {} release(s) and {} custom resource(s) compared.</p>\n<table id=\"drift\"><tr><th>Object</th><th>Difference</th><th>Key</th><th>Profile</th><th>Cluster</th></tr>",
            d.items.len(),
            d.releases,
            d.objects
        );
        for i in &d.items {
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
                esc(&i.object),
                i.kind.as_str(),
                esc(&i.path),
                esc(&i.profile),
                esc(&i.cluster)
            );
        }
        h.push_str("</table>\n");
    }
    if let Some(e) = &d.error {
        let _ = writeln!(h, "<p class=\"failed\">The comparison is incomplete: {}</p>", esc(e));
    }
}

pub(super) fn render(v: &RunView<'_>, history: &[RunResults]) -> Result<String, ReportError> {
    let (run, metrics, ratios) = (v.run, &v.metrics, &v.ratios);
    let mut h = String::new();
    let title = format!("InfraFlux run {}", esc(&run.run_id));
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title><style>{CSS}</style></head><body>\n<h1>{title}</h1>\n"
    );
    let pass = v.verdict.status == crate::exit::Status::Pass;
    let _ = write!(
        h,
        "<section id=\"verdict\" class=\"verdict {}\"><h2>Verdict</h2><p class=\"headline\">{}</p>",
        if pass { "pass" } else { "fail" },
        esc(&v.verdict.headline)
    );
    if v.verdict.reasons.len() > 1 {
        h.push_str("<ul class=\"reasons\">");
        for r in &v.verdict.reasons {
            let _ = write!(h, "<li>{}</li>", esc(r));
        }
        h.push_str("</ul>");
    }
    let c = v.counts;
    let _ = writeln!(
        h,
        "<p class=\"counts\"><span>{} cases</span><span class=\"passed\">{} passed</span>\
         <span class=\"failed\">{} failed</span><span class=\"timed-out\">{} timed out</span>\
         <span class=\"skipped\">{} skipped</span></p></section>",
        c.total, c.passed, c.failed, c.timed_out, c.skipped
    );
    if let Some(e) = &run.setup_error {
        let _ = writeln!(h, "<p class=\"setup-error\"><strong>Setup failed; no case ran:</strong> {}</p>", esc(e));
    }
    let t = &run.target;
    let field = |v: &Option<String>| esc(v.as_deref().unwrap_or("unknown"));
    let _ = writeln!(
        h,
        "<table id=\"target\"><tr><th>Provider used</th><td>{}</td><th>Kubeconfig context</th><td>{}</td></tr>\
         <tr><th>API server</th><td>{}</td><th>Nodes</th><td>{}</td></tr>\
         <tr><th>Kubernetes</th><td>{}</td><th>Cilium</th><td>{}</td></tr>\
         <tr><th>Profile</th><td>{}</td><th>Profile sha256</th><td>{}</td></tr>\
         <tr><th>Started</th><td>{}</td><th>Duration</th><td>{:.1} s</td></tr></table>",
        field(&t.provider),
        field(&t.context),
        field(&t.api_server),
        t.node_count.map(|n| n.to_string()).unwrap_or_else(|| "unknown".into()),
        field(&t.kubernetes_version),
        field(&t.cilium_version),
        field(&t.profile),
        field(&t.profile_hash),
        esc(&run.started_at),
        run.duration_ms as f64 / 1000.0,
    );
    install_section(&mut h, v);
    drift_section(&mut h, v);
    if !v.suites.is_empty() {
        h.push_str(
            "<h2>Suites</h2>\n<table id=\"matrix\"><tr><th>Suite</th><th>Passed</th><th>Failed</th><th>Timed out</th><th>Skipped</th><th>Total</th></tr>\n",
        );
        for s in &v.suites {
            let sc = s.counts;
            let _ = writeln!(
                h,
                "<tr data-suite=\"{}\"><td>{}</td><td class=\"n passed\">{}</td><td class=\"n failed\">{}</td><td class=\"n timed-out\">{}</td><td class=\"n skipped\">{}</td><td class=\"n\">{}</td></tr>",
                esc(s.name),
                esc(s.name),
                sc.passed,
                sc.failed,
                sc.timed_out,
                sc.skipped,
                sc.total
            );
        }
        h.push_str("</table>\n");
    }
    if !v.coverage.is_empty() {
        let [ok, failed, open, uncovered] = v.coverage_counts();
        let _ = write!(
            h,
            "<h2>Coverage of the profile</h2>\n<p>Mode: {}. {} promise(s): {ok} verified, {failed} failed, {open} not verified, {uncovered} uncovered.</p>\n\
             <table id=\"coverage\"><tr><th>Promise</th><th>Profile field</th><th>Verdict</th><th>Cases</th><th>Why</th></tr>\n",
            esc(v.mode_text()),
            v.coverage.len()
        );
        for p in &v.coverage {
            let _ = writeln!(
                h,
                "<tr data-promise=\"{}\"><td>{}</td><td><code>{}</code></td><td class=\"{}\">{}</td><td>{}</td><td>{}</td></tr>",
                esc(&p.promise.id),
                esc(&p.promise.statement),
                esc(&p.promise.field),
                verdict_class(p.verdict),
                p.verdict.as_str(),
                esc(&case_list(&p.cases)),
                esc(&p.detail)
            );
        }
        h.push_str("</table>\n");
    }
    if !v.suites.is_empty() {
        h.push_str("<h2>Cases</h2>\n");
    }
    for suite in &v.suites {
        let sc = suite.counts;
        let _ = write!(
            h,
            "<h3>Suite {} ({}/{} passed)</h3>\n<table><tr><th>Case</th><th>Outcome</th><th>Duration</th><th>Attempts</th><th>Detail</th></tr>\n",
            esc(suite.name),
            sc.passed,
            sc.total
        );
        for cv in &suite.cases {
            let case = cv.case;
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td class=\"{}\">{}</td><td class=\"n\">{:.1} s</td><td class=\"n\">{}</td><td>{}</td></tr>",
                esc(&case.case),
                class(&case.outcome),
                cv.word,
                case.duration_ms as f64 / 1000.0,
                case.attempts,
                esc(&cv.detail)
            );
        }
        h.push_str("</table>\n");
    }

    if !v.failures.is_empty() {
        h.push_str("<h2>Failures</h2>\n");
        for cv in &v.failures {
            let case = cv.case;
            let _ = write!(
                h,
                "<h3>{}</h3><p class=\"failed\">{}</p>",
                esc(&case.id),
                esc(&cv.detail)
            );
            if !case.steps.is_empty() {
                h.push_str("<pre>");
                for st in &case.steps {
                    let _ = write!(
                        h,
                        "[{}] {} {} ({} ms)",
                        esc(&st.status),
                        esc(&st.kind),
                        esc(&st.name),
                        st.duration_ms
                    );
                    if let Some(m) = &st.message {
                        let _ = write!(h, ": {}", esc(m));
                    }
                    h.push('\n');
                }
                h.push_str("</pre>\n");
            }
        }
    }

    if !v.skipped.is_empty() {
        h.push_str("<h2>Skipped</h2>\n<table><tr><th>Case</th><th>Reason</th></tr>\n");
        for cv in &v.skipped {
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td>{}</td></tr>",
                esc(&cv.case.id),
                esc(&cv.detail)
            );
        }
        h.push_str("</table>\n");
    }

    if !metrics.is_empty() {
        perf_section(&mut h, run, metrics, ratios, history)?;
    }
    h.push_str("</body></html>\n");
    Ok(h)
}

fn perf_section(
    h: &mut String,
    run: &RunResults,
    metrics: &[Metric<'_>],
    ratios: &[Ratio],
    history: &[RunResults],
) -> Result<(), ReportError> {
    h.push_str(
        "<h2>Performance</h2>\n<table><tr><th>Metric</th><th>Unit</th><th>Better</th><th>n</th><th>Mean</th>\
         <th>95% CI of mean</th><th>p50</th><th>p90</th><th>p99</th><th>Min</th><th>Max</th></tr>\n",
    );
    for m in metrics {
        let better = if m.series.higher_is_better {
            "higher"
        } else {
            "lower"
        };
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{better}</td>",
            esc(&m.series.metric),
            esc(&m.series.unit)
        );
        match m.summary {
            Some(s) => {
                let _ = writeln!(
                    h,
                    "<td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{} – {}</td><td class=\"n\">{}</td>\
                     <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
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
            None => h.push_str("<td class=\"n\">0</td><td colspan=\"7\">no samples</td></tr>\n"),
        }
    }
    h.push_str("</table>\n<p>Percentiles: linear interpolation between closest ranks (type 7). CI: Student t.</p>\n");
    if !ratios.is_empty() {
        h.push_str("<h3>Pod path against the host baseline</h3>\n<table><tr><th>Pod / host</th><th>Ratio</th><th>95% CI</th><th>Pod metric</th><th>Host baseline</th></tr>\n");
        for r in ratios {
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td><td>{}</td></tr>",
                esc(&r.id),
                num(r.ratio),
                r.ci_text(),
                esc(&r.numerator),
                esc(&r.denominator)
            );
        }
        h.push_str("</table>\n<p>Ratio of means; CI: percentile bootstrap, 2,000 resamples.</p>\n");
    }

    let mut past: Vec<&RunResults> = history.iter().filter(|r| r.run_id != run.run_id).collect();
    past.sort_by(|a, b| (&a.started_at, &a.run_id).cmp(&(&b.started_at, &b.run_id)));
    for m in metrics {
        let Some(s) = m.summary else { continue };
        let _ = write!(
            h,
            "<figure><figcaption>{} ({})</figcaption>",
            esc(&m.series.metric),
            esc(&m.series.unit)
        );
        h.push_str(&charts::metric_chart(
            &m.series.metric,
            &m.series.unit,
            &m.series.samples,
            &s,
        )?);
        let mut points: Vec<(String, stats::Summary)> = past
            .iter()
            .filter_map(|r| {
                let p = r
                    .perf
                    .iter()
                    .find(|p| p.metric == m.series.metric && p.unit == m.series.unit)?;
                Some((r.run_id.clone(), stats::summarize(&p.samples, LEVEL)?))
            })
            .collect();
        if !points.is_empty() {
            points.push((run.run_id.clone(), s));
            h.push_str(&charts::trend_chart(
                &m.series.metric,
                &m.series.unit,
                &points,
            )?);
        }
        h.push_str("</figure>\n");
    }
    Ok(())
}
