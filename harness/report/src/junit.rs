//! `junit.xml`: one `<testsuite>` per suite, one `<testcase>` per case.
//!
//! The document is built with `junit-report`; two things it cannot express
//! are added by a streaming rewrite afterwards: the `skipped` counts on
//! `<testsuites>`/`<testsuite>` (CI viewers read them) and `<properties>`
//! carrying the run metadata.

use std::collections::BTreeMap;

use junit_report::{Duration, OffsetDateTime, Report, TestCaseBuilder, TestSuite};
use quick_xml::events::{BytesEnd, BytesStart, Event};
use quick_xml::{Reader, Writer};

use super::ReportError;
use super::input::started_at;
use super::view::RunView;
use crate::results::{CaseResult, INSTALL_SUITE, Outcome, PhaseResult, Target};
use infraflux_model::contract::{Mode, PromiseResult, Verdict};

/// Failure `type` of a failed case and of a timed-out case.
pub const TYPE_FAILED: &str = "failed";
pub const TYPE_TIMEOUT: &str = "timeout";
/// `type` of a skip.
pub const TYPE_SKIPPED: &str = "skipped";
/// `type` of the `<error>` a run that never reached its cases carries.
pub const TYPE_SETUP: &str = "setup";
/// Suite and testcase name of that error.
pub const SETUP_CASE: &str = "setup";
/// Suite of the profile's promises, one testcase each.
pub const COVERAGE_SUITE: &str = "coverage";
/// `type` of a promise's failure.
pub const TYPE_PROMISE: &str = "promise";
/// Suite and testcase of a failed verdict that no case shows.
pub const VERDICT_CASE: &str = "verdict";
pub const TYPE_VERDICT: &str = "verdict";

fn err(e: impl std::fmt::Display) -> ReportError {
    ReportError::Render {
        what: "junit.xml".into(),
        message: e.to_string(),
    }
}

pub(super) fn render(v: &RunView<'_>) -> Result<String, ReportError> {
    let run = v.run;
    let timestamp = started_at(run).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let mut report = Report::new();
    let mut totals = Totals::default();
    let mut skipped: Vec<usize> = Vec::new();
    let mut add = |report: &mut Report, ts: TestSuite| {
        let t = Totals::of(&ts);
        totals.tests += t.tests;
        totals.failures += t.failures;
        totals.errors += t.errors;
        totals.skipped += t.skipped;
        skipped.push(t.skipped);
        report.add_testsuite(ts);
    };
    if !run.install.is_empty() {
        // Install phases first, as they ran: a failed install is a red
        // testcase of its own, ahead of the cases it starved.
        let mut ts = TestSuite::new(INSTALL_SUITE);
        ts.set_timestamp(timestamp);
        for p in &run.install {
            ts.add_testcase(phase_testcase(p));
        }
        add(&mut report, ts);
    }
    for suite in &v.suites {
        let mut ts = TestSuite::new(&xml_text(suite.name));
        ts.set_timestamp(timestamp);
        for c in &suite.cases {
            ts.add_testcase(testcase(c.case));
        }
        add(&mut report, ts);
    }
    if let Some(message) = &run.setup_error {
        // CI viewers show a testcase; an empty file would read as "no tests".
        let mut ts = TestSuite::new(SETUP_CASE);
        ts.set_timestamp(timestamp);
        let time = Duration::milliseconds(i64::try_from(run.duration_ms).unwrap_or(i64::MAX));
        let mut b = TestCaseBuilder::error(SETUP_CASE, time, TYPE_SETUP, &xml_text(message));
        b.set_classname("infraflux");
        ts.add_testcase(b.build());
        add(&mut report, ts);
    }
    if !v.coverage.is_empty() {
        let mut ts = TestSuite::new(COVERAGE_SUITE);
        ts.set_timestamp(timestamp);
        for p in &v.coverage {
            ts.add_testcase(promise_case(p, run.policy.mode));
        }
        add(&mut report, ts);
    }
    // A verdict the cases do not show (nothing verified, open promises in
    // acceptance mode) is a red testcase too, or CI would show green.
    let case_failures = run.cases.iter().any(|c| c.outcome.is_failure()) || run.setup_error.is_some();
    if v.verdict.status != crate::exit::Status::Pass && !case_failures {
        let mut ts = TestSuite::new(VERDICT_CASE);
        ts.set_timestamp(timestamp);
        let mut b = TestCaseBuilder::failure(VERDICT_CASE, Duration::ZERO, TYPE_VERDICT, &xml_text(&v.verdict.headline));
        b.set_classname("infraflux");
        ts.add_testcase(b.build());
        add(&mut report, ts);
    }
    let mut raw = Vec::new();
    report.write_xml(&mut raw).map_err(err)?;
    let raw = String::from_utf8(raw).map_err(err)?;
    let props = properties(&run.run_id, &run.started_at, &run.target);
    annotate(&raw, &props, run.duration_ms, totals, &skipped)
}

/// Counts over every testsuite written, for the `<testsuites>` root.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Totals {
    pub(super) tests: usize,
    pub(super) failures: usize,
    pub(super) errors: usize,
    pub(super) skipped: usize,
}

impl Totals {
    pub(super) fn of(ts: &TestSuite) -> Self {
        Totals { tests: ts.tests(), failures: ts.failures(), errors: ts.errors(), skipped: ts.skipped() }
    }
}

/// A promise as a testcase: verified passes, failed fails; not verified
/// and uncovered are skipped in gating mode and fail in acceptance mode.
fn promise_case(p: &PromiseResult, mode: Mode) -> junit_report::TestCase {
    let name = xml_text(&format!("{COVERAGE_SUITE}::{}", p.promise.id));
    let why = xml_text(&format!("{} ({}): {}", p.promise.statement, p.promise.field, p.detail));
    let mut b = match (p.verdict, mode) {
        (Verdict::Verified, _) => TestCaseBuilder::success(&name, Duration::ZERO),
        (Verdict::Failed, _) | (_, Mode::Acceptance) => TestCaseBuilder::failure(&name, Duration::ZERO, TYPE_PROMISE, &why),
        _ => TestCaseBuilder::skipped_with_cause(&name, TYPE_SKIPPED, &why),
    };
    b.set_classname(COVERAGE_SUITE);
    b.build()
}

/// An install phase as a testcase of the `install` suite, its steps as the
/// trace of a failure.
fn phase_testcase(p: &PhaseResult) -> junit_report::TestCase {
    let as_case = CaseResult {
        id: p.id.clone(),
        suite: INSTALL_SUITE.to_owned(),
        case: p.phase.clone(),
        outcome: p.outcome.clone(),
        duration_ms: p.duration_ms,
        attempts: 1,
        steps: p.steps.clone(),
        gateway_conformance: None,
    };
    let mut tc = testcase(&as_case);
    if let (true, Some(d)) = (p.outcome.is_failure(), &p.diagnostics) {
        tc.set_system_out(&xml_text(&format!("diagnostics bundle: {d}")));
    }
    tc
}

fn testcase(c: &CaseResult) -> junit_report::TestCase {
    let name = xml_text(&c.id);
    let time = Duration::milliseconds(i64::try_from(c.duration_ms).unwrap_or(i64::MAX));
    let mut b = match &c.outcome {
        Outcome::Passed => TestCaseBuilder::success(&name, time),
        Outcome::Skipped { reason } => {
            TestCaseBuilder::skipped_with_cause(&name, TYPE_SKIPPED, &xml_text(reason))
        }
        Outcome::Failed { .. } | Outcome::TimedOut { .. } => {
            let kind = if matches!(c.outcome, Outcome::TimedOut { .. }) { TYPE_TIMEOUT } else { TYPE_FAILED };
            let msg = c.outcome.failure_headline().unwrap_or_default();
            TestCaseBuilder::failure(&name, time, kind, &xml_text(&msg))
        }
    };
    b.set_classname(&xml_text(&c.suite));
    if c.outcome.is_failure() {
        b.set_trace(&cdata_text(&step_trace(c)));
    }
    b.build()
}

/// The step log of a failed case, one line per step, shown by CI viewers.
fn step_trace(c: &CaseResult) -> String {
    let mut s = format!("case {} ({} attempt(s))\n", c.id, c.attempts);
    for st in &c.steps {
        s.push_str(&format!(
            "[{}] {} {} ({} ms)",
            st.status, st.kind, st.name, st.duration_ms
        ));
        if let Some(m) = &st.message {
            s.push_str(": ");
            s.push_str(m);
        }
        s.push('\n');
    }
    s
}

/// Run metadata as `<property>` pairs; absent values are left out.
pub(super) fn properties(run_id: &str, started_at: &str, t: &Target) -> BTreeMap<&'static str, String> {
    let mut p = BTreeMap::new();
    p.insert("infraflux.runId", run_id.to_string());
    p.insert("infraflux.startedAt", started_at.to_string());
    for (k, v) in [
        ("infraflux.profile", &t.profile),
        ("infraflux.profileHash", &t.profile_hash),
        ("infraflux.provider", &t.provider),
        ("infraflux.context", &t.context),
        ("infraflux.apiServer", &t.api_server),
        ("infraflux.kubernetesVersion", &t.kubernetes_version),
        ("infraflux.ciliumVersion", &t.cilium_version),
    ] {
        if let Some(v) = v {
            p.insert(k, v.clone());
        }
    }
    if let Some(n) = t.node_count {
        p.insert("infraflux.nodeCount", n.to_string());
    }
    p
}

/// Streams the junit-report output through, adding `skipped` counts and a
/// `<properties>` block as the first child of every `<testsuite>`.
pub(super) fn annotate(
    raw: &str,
    props: &BTreeMap<&'static str, String>,
    duration_ms: u64,
    totals: Totals,
    skipped: &[usize],
) -> Result<String, ReportError> {
    let props: Vec<(&str, String)> = props
        .iter()
        .map(|(k, v)| (*k, xml_text(v)))
        .collect();
    let mut reader = Reader::from_str(raw);
    // Indented so a human can read the file; CDATA content is kept verbatim.
    let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
    let mut suite_idx = 0usize;
    loop {
        let ev = reader.read_event().map_err(err)?;
        let was_empty = matches!(ev, Event::Empty(_));
        match ev {
            Event::Eof => break,
            Event::Start(e) | Event::Empty(e) if e.name().as_ref() == b"testsuites" => {
                let mut e = e.into_owned();
                e.push_attribute(("name", "infraflux"));
                e.push_attribute(("tests", totals.tests.to_string().as_str()));
                e.push_attribute(("failures", totals.failures.to_string().as_str()));
                e.push_attribute(("errors", totals.errors.to_string().as_str()));
                e.push_attribute(("skipped", totals.skipped.to_string().as_str()));
                e.push_attribute((
                    "time",
                    format!("{:.3}", duration_ms as f64 / 1000.0).as_str(),
                ));
                if was_empty {
                    w.write_event(Event::Empty(e)).map_err(err)?;
                } else {
                    w.write_event(Event::Start(e)).map_err(err)?;
                }
            }
            Event::Start(e) if e.name().as_ref() == b"testsuite" => {
                let mut e = e.into_owned();
                let n = skipped.get(suite_idx).copied().unwrap_or(0);
                suite_idx += 1;
                e.push_attribute(("skipped", n.to_string().as_str()));
                w.write_event(Event::Start(e)).map_err(err)?;
                write_properties(&mut w, &props)?;
            }
            Event::Empty(e) if e.name().as_ref() == b"testsuite" => {
                let mut e = e.into_owned();
                suite_idx += 1;
                e.push_attribute(("skipped", "0"));
                w.write_event(Event::Start(e)).map_err(err)?;
                write_properties(&mut w, &props)?;
                w.write_event(Event::End(BytesEnd::new("testsuite")))
                    .map_err(err)?;
            }
            other => w.write_event(other).map_err(err)?,
        }
    }
    let mut out = String::from_utf8(w.into_inner()).map_err(err)?;
    out.push('\n');
    Ok(out)
}

fn write_properties(w: &mut Writer<Vec<u8>>, props: &[(&str, String)]) -> Result<(), ReportError> {
    w.write_event(Event::Start(BytesStart::new("properties")))
        .map_err(err)?;
    for (k, v) in props {
        let mut p = BytesStart::new("property");
        p.push_attribute(("name", *k));
        p.push_attribute(("value", v.as_str()));
        w.write_event(Event::Empty(p)).map_err(err)?;
    }
    w.write_event(Event::End(BytesEnd::new("properties")))
        .map_err(err)?;
    Ok(())
}

/// XML 1.0 forbids most control characters even when escaped; command
/// output (ANSI colour codes) is full of them, so they become U+FFFD.
pub(super) fn xml_text(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\t' | '\n' | '\r' => c,
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => '\u{FFFD}',
            c => c,
        })
        .collect()
}

/// Text for a CDATA section, which cannot contain its own terminator.
pub(super) fn cdata_text(s: &str) -> String {
    xml_text(s).replace("]]>", "]] >")
}
