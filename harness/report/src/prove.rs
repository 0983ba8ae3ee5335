//! The reports of `run --prove`: `prove.json`, a `junit.xml` whose
//! testsuite `prove` has one testcase per case (proven passes, no break is
//! skipped with its reason, everything else fails), and the table printed
//! on the console.

use std::path::{Path, PathBuf};

use junit_report::{Duration, Report, TestCaseBuilder, TestSuite};

use super::ReportError;
use super::junit::{annotate, cdata_text, properties, xml_text, Totals};
use crate::results::{ProveReport, ProveVerdict};

/// The JUnit testsuite of a prove run.
pub const PROVE_SUITE: &str = "prove";
pub const PROVE_JSON: &str = "prove.json";
/// `type` of a failed proof.
pub const TYPE_PROVE: &str = "prove";

/// Writes `prove.json` and `junit.xml` into `dir` (created).
pub fn write_prove(dir: &Path, report: &ProveReport) -> Result<PathBuf, ReportError> {
    std::fs::create_dir_all(dir).map_err(|source| ReportError::Write { path: dir.display().to_string(), source })?;
    let json = serde_json::to_string_pretty(report).map_err(|source| ReportError::Serialize { what: "prove.json", source })?;
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|source| ReportError::Write { path: path.display().to_string(), source })
    };
    write(PROVE_JSON, &infraflux_model::secret::redact(&json))?;
    write("junit.xml", &infraflux_model::secret::redact(&prove_junit(report)?))?;
    Ok(dir.to_path_buf())
}

fn prove_junit(r: &ProveReport) -> Result<String, ReportError> {
    let mut ts = TestSuite::new(PROVE_SUITE);
    for row in &r.rows {
        let name = xml_text(&row.id);
        let time = Duration::milliseconds(i64::try_from(row.duration_ms).unwrap_or(i64::MAX));
        let detail = format!(
            "break: {}\nunder the break: {}\nafter restore: {}",
            row.recipe.as_deref().map_or(row.break_description.clone(), |n| format!("{n} ({})", row.break_description)),
            row.under_break.as_deref().unwrap_or("-"),
            row.after_restore.as_deref().unwrap_or("-"),
        );
        let mut b = match row.verdict {
            ProveVerdict::Proven => TestCaseBuilder::success(&name, time),
            ProveVerdict::NoBreak => {
                TestCaseBuilder::skipped_with_cause(&name, "no break", &xml_text(&format!("no break: {}", row.break_description)))
            }
            v => {
                let mut b = TestCaseBuilder::failure(&name, time, TYPE_PROVE, &xml_text(v.as_str()));
                b.set_trace(&cdata_text(&detail));
                b
            }
        };
        b.set_classname(&xml_text(&row.suite));
        if row.verdict == ProveVerdict::Proven {
            b.set_system_out(&xml_text(&detail));
        }
        ts.add_testcase(b.build());
    }
    let totals = Totals::of(&ts);
    let mut report = Report::new();
    report.add_testsuite(ts);
    let mut out = Vec::new();
    report
        .write_xml(&mut out)
        .map_err(|e| ReportError::Render { what: "junit.xml".into(), message: e.to_string() })?;
    let raw = String::from_utf8(out).map_err(|e| ReportError::Render { what: "junit.xml".into(), message: e.to_string() })?;
    annotate(&raw, &properties(&r.run_id, &r.started_at, &r.target), r.duration_ms, totals, &[totals.skipped])
}

/// The console table: one line per case, the verdict first, then the
/// counts.
pub fn render_prove_table(r: &ProveReport) -> String {
    let mut s = String::new();
    let width = r.rows.iter().map(|x| x.id.len()).max().unwrap_or(0);
    for row in &r.rows {
        s.push_str(&format!(
            "{:<26} {:<width$}  {}\n",
            row.verdict.as_str(),
            row.id,
            row.recipe.as_deref().map_or(row.break_description.clone(), |n| format!("{n}: {}", row.break_description)),
        ));
        if row.verdict != ProveVerdict::NoBreak {
            if let Some(u) = &row.under_break {
                s.push_str(&format!("{:<26} {:<width$}    under the break: {}\n", "", "", one_line(u)));
            }
            if let Some(a) = &row.after_restore {
                s.push_str(&format!("{:<26} {:<width$}    after restore: {}\n", "", "", one_line(a)));
            }
        }
    }
    let count = |v: ProveVerdict| r.rows.iter().filter(|x| x.verdict == v).count();
    let findings = r.rows.iter().filter(|x| x.verdict.is_finding()).count();
    s.push_str(&format!(
        "\nprove: {} proven, {} without a break (reason given), {} finding(s) ({} cannot fail); {}\n",
        count(ProveVerdict::Proven),
        count(ProveVerdict::NoBreak),
        findings,
        count(ProveVerdict::CannotFail),
        if r.holds() { "every case can fail" } else { "NOT PROVEN" }
    ));
    infraflux_model::secret::redact(&s)
}

fn one_line(s: &str) -> String {
    let flat: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > 240 { format!("{}…", flat.chars().take(240).collect::<String>()) } else { flat }
}
