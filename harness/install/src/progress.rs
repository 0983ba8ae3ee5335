//! Progress per phase (indicatif): the phase, objects applied, what is being
//! waited on, elapsed time. Hidden under `--quiet` and when stderr is not a
//! terminal (CI logs get the one-line phase summaries instead).

use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// One phase's progress line.
pub struct PhaseProgress {
    bar: ProgressBar,
    phase: String,
    applied: usize,
}

impl PhaseProgress {
    pub fn start(phase: &str, visible: bool) -> PhaseProgress {
        let bar = if visible {
            let b = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template("{spinner} [{elapsed}] {prefix}: {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner());
            b.set_style(style);
            b.enable_steady_tick(Duration::from_millis(200));
            b
        } else {
            ProgressBar::hidden()
        };
        bar.set_prefix(phase.to_owned());
        PhaseProgress { bar, phase: phase.to_owned(), applied: 0 }
    }

    pub fn applied(&mut self, what: &str) {
        self.applied += 1;
        self.bar.set_message(format!("{} object(s) applied; last {what}", self.applied));
    }

    pub fn doing(&self, what: &str) {
        self.bar.set_message(format!("{} object(s) applied; {what}", self.applied));
    }

    /// Ends the line with the phase's outcome.
    pub fn finish(self, outcome: &str) {
        self.bar.finish_and_clear();
        if !self.bar.is_hidden() {
            eprintln!("{}: {outcome} ({} object(s) applied)", self.phase, self.applied);
        }
    }
}
