//! One view of a run, built once per write, that `summary.md`,
//! `report.html` and `junit.xml` all render: the suite grouping in
//! first-appearance order, the counts, the one-line wording of every
//! outcome, and the perf metrics with their pod/host ratios. Writers only
//! lay it out, so the three files cannot disagree about a run.

use infraflux_model::contract::{self, PromiseResult, RunVerdict, Verdict};

use crate::perf::{self, Metric, Ratio};
use crate::results::{CaseResult, Outcome, RunResults};

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

/// Outcome word and one-line detail.
pub(crate) fn outcome_text(o: &Outcome) -> (&'static str, String) {
    let word = match o {
        Outcome::Passed => "passed",
        Outcome::Failed { .. } => "failed",
        Outcome::TimedOut { .. } => "timed out",
        Outcome::Skipped { reason } => return ("skipped", reason.clone()),
    };
    (word, o.failure_headline().unwrap_or_default())
}

/// A case with its outcome in words.
pub(crate) struct CaseView<'a> {
    pub case: &'a CaseResult,
    pub word: &'static str,
    pub detail: String,
}

impl<'a> CaseView<'a> {
    fn of(case: &'a CaseResult) -> Self {
        let (word, detail) = outcome_text(&case.outcome);
        CaseView { case, word, detail }
    }
}

/// One suite's cases, in run order, with their counts.
pub(crate) struct SuiteView<'a> {
    pub name: &'a str,
    pub counts: Counts,
    pub cases: Vec<CaseView<'a>>,
}

pub(crate) struct RunView<'a> {
    pub run: &'a RunResults,
    /// What the run comes to (the exit status's reasons), shown first.
    pub verdict: RunVerdict,
    /// The profile's promises, failed first, then not verified, uncovered
    /// and verified; empty without a profile.
    pub coverage: Vec<&'a PromiseResult>,
    pub counts: Counts,
    pub suites: Vec<SuiteView<'a>>,
    /// Failed and timed-out cases, in run order.
    pub failures: Vec<CaseView<'a>>,
    pub skipped: Vec<CaseView<'a>>,
    pub metrics: Vec<Metric<'a>>,
    /// Computed once: each ratio runs a bootstrap, and three files show them.
    pub ratios: Vec<Ratio>,
}

impl<'a> RunView<'a> {
    pub(crate) fn new(run: &'a RunResults) -> Self {
        let mut suites: Vec<SuiteView<'a>> = Vec::new();
        for case in &run.cases {
            let view = CaseView::of(case);
            match suites.iter_mut().find(|s| s.name == case.suite) {
                Some(s) => s.cases.push(view),
                None => suites.push(SuiteView { name: &case.suite, counts: Counts::default(), cases: vec![view] }),
            }
        }
        for s in &mut suites {
            s.counts = Counts::of(s.cases.iter().map(|c| &c.case.outcome));
        }
        let metrics = perf::metrics(run);
        let ratios = perf::ratios(&metrics);
        let mut coverage: Vec<&PromiseResult> = run.coverage.iter().collect();
        coverage.sort_by_key(|p| p.verdict);
        RunView {
            run,
            verdict: contract::verdict(run),
            coverage,
            counts: Counts::of(run.cases.iter().map(|c| &c.outcome)),
            suites,
            failures: run.cases.iter().filter(|c| c.outcome.is_failure()).map(CaseView::of).collect(),
            skipped: run
                .cases
                .iter()
                .filter(|c| matches!(c.outcome, Outcome::Skipped { .. }))
                .map(CaseView::of)
                .collect(),
            metrics,
            ratios,
        }
    }
}

/// CSS class and symbol of a promise verdict.
pub(crate) fn verdict_class(v: Verdict) -> &'static str {
    match v {
        Verdict::Verified => "verified",
        Verdict::Failed => "failed",
        Verdict::NotVerified => "not-verified",
        Verdict::Uncovered => "uncovered",
    }
}

impl RunView<'_> {
    /// The install's diagnostics bundle (relative to the run directory):
    /// the run's, else the first failed phase's.
    pub(crate) fn diagnostics(&self) -> Option<&str> {
        self.run.diagnostics.as_deref().or_else(|| self.run.install.iter().find_map(|p| p.diagnostics.as_deref()))
    }

    /// Promise counts by verdict: verified, failed, not verified, uncovered.
    pub(crate) fn coverage_counts(&self) -> [usize; 4] {
        let n = |v| self.coverage.iter().filter(|p| p.verdict == v).count();
        [n(Verdict::Verified), n(Verdict::Failed), n(Verdict::NotVerified), n(Verdict::Uncovered)]
    }

    /// The run's mode in words.
    pub(crate) fn mode_text(&self) -> &'static str {
        match self.run.policy.mode {
            contract::Mode::Gating => "gating (promises not verified are listed, not fatal)",
            contract::Mode::Acceptance => "acceptance (--require-all: every promise must be verified)",
        }
    }
}
