//! Folds a run's events into the results its reports are written from.
//! The CLI feeds a [`Recorder`] from the engine's event sink before the
//! cluster is touched, so whatever point the run reaches there is something
//! to write: the finished run, or the started one with why setup failed.

use std::time::Instant;

use crate::results::{CaseResult, RunEvent, RunResults, SCHEMA, Target};

#[derive(Debug, Default)]
pub struct Recorder {
    started: Option<Started>,
    cases: Vec<CaseResult>,
    setup_error: Option<String>,
    setup_ms: u64,
    finished: Option<RunResults>,
}

#[derive(Debug)]
struct Started {
    run_id: String,
    started_at: String,
    target: Target,
    at: Instant,
}

impl Recorder {
    pub fn handle(&mut self, event: RunEvent) {
        match event {
            RunEvent::Started { run_id, started_at, target } => {
                self.started = Some(Started { run_id, started_at, target, at: Instant::now() });
            }
            RunEvent::CaseFinished(c) => self.cases.push(c),
            RunEvent::SetupFailed { message } => {
                self.setup_ms = self.started.as_ref().map(|s| s.at.elapsed().as_millis() as u64).unwrap_or(0);
                self.setup_error = Some(message);
            }
            RunEvent::Finished(results) => self.finished = Some(results),
        }
    }

    /// The run as far as its events went; `None` when it never started
    /// (bad input is refused before anything is written).
    pub fn results(&self) -> Option<RunResults> {
        if let Some(done) = &self.finished {
            return Some(done.clone());
        }
        let s = self.started.as_ref()?;
        Some(RunResults {
            schema: SCHEMA.into(),
            run_id: s.run_id.clone(),
            started_at: s.started_at.clone(),
            duration_ms: if self.setup_error.is_some() { self.setup_ms } else { s.at.elapsed().as_millis() as u64 },
            target: s.target.clone(),
            cases: self.cases.clone(),
            perf: Vec::new(),
            setup_error: self.setup_error.clone(),
            install: Vec::new(),
            diagnostics: None,
            drift: None,
            policy: Default::default(),
            coverage: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::Outcome;

    fn case(id: &str) -> CaseResult {
        CaseResult {
            id: id.into(),
            suite: "s".into(),
            case: id.into(),
            outcome: Outcome::Passed,
            duration_ms: 1,
            attempts: 1,
            steps: vec![],
            gateway_conformance: None,
        }
    }

    fn started() -> RunEvent {
        RunEvent::Started {
            run_id: "20260101T000000Z-abcdef".into(),
            started_at: "2026-01-01T00:00:00Z".into(),
            target: Target { context: Some("lab".into()), ..Target::default() },
        }
    }

    #[test]
    fn nothing_started_means_nothing_to_write() {
        let mut r = Recorder::default();
        assert_eq!(r.results(), None);
        r.handle(RunEvent::SetupFailed { message: "x".into() });
        assert_eq!(r.results(), None, "a setup failure needs a started run to report");
    }

    #[test]
    fn a_setup_failure_keeps_the_target_and_the_reason() {
        let mut r = Recorder::default();
        r.handle(started());
        r.handle(RunEvent::SetupFailed { message: "cluster unusable\n  caused by: refused".into() });
        let got = r.results().expect("results");
        assert_eq!(got.target.context.as_deref(), Some("lab"));
        assert!(got.cases.is_empty());
        assert_eq!(got.setup_error.as_deref(), Some("cluster unusable\n  caused by: refused"));
    }

    #[test]
    fn finished_replaces_what_was_collected_and_an_interrupted_run_keeps_its_cases() {
        let mut r = Recorder::default();
        r.handle(started());
        r.handle(RunEvent::CaseFinished(case("s::b")));
        assert_eq!(r.results().expect("partial").cases.len(), 1);
        let mut done = r.results().expect("partial");
        done.cases = vec![case("s::a"), case("s::b")];
        r.handle(RunEvent::Finished(done.clone()));
        assert_eq!(r.results(), Some(done));
    }
}
