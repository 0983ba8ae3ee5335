//! Which cases run, which are skipped (and why), which are filtered out.
//! libtest semantics: a case is selected when its id contains any filter
//! (or equals one with `exact`) and contains no skip pattern; `ignored` runs
//! only cases marked `ignore:`, `include_ignored` runs both.

use super::capabilities::Detected;
use crate::suite::LoadedCase;

/// Selection flags, as in `cargo test`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    pub filters: Vec<String>,
    pub skip: Vec<String>,
    pub exact: bool,
    pub ignored: bool,
    pub include_ignored: bool,
}

/// What happens to one case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    Run,
    /// Shown as ignored and reported as `Skipped { reason }`.
    Skip(String),
    /// Not selected by the filters; absent from the results.
    FilteredOut,
}

fn hit(id: &str, pattern: &str, exact: bool) -> bool {
    if exact { id == pattern } else { id.contains(pattern) }
}

impl Selection {
    /// Decides for one case. `detected` is `None` when the cluster was not
    /// read (listing), in which case requirements are not evaluated.
    pub fn decide(&self, case: &LoadedCase, detected: Option<&Detected>) -> Disposition {
        if !self.filters.is_empty() && !self.filters.iter().any(|f| hit(&case.id, f, self.exact)) {
            return Disposition::FilteredOut;
        }
        if self.skip.iter().any(|s| hit(&case.id, s, self.exact)) {
            return Disposition::FilteredOut;
        }
        match (&case.ignore, self.ignored, self.include_ignored) {
            (None, true, false) => return Disposition::FilteredOut,
            (Some(reason), false, false) => return Disposition::Skip(format!("ignored: {reason}")),
            _ => {}
        }
        if let Some(d) = detected {
            let reasons: Vec<String> = d.unmet(&case.requires).into_iter().chain(d.present(&case.excludes)).collect();
            if !reasons.is_empty() {
                return Disposition::Skip(reasons.join("; "));
            }
        }
        Disposition::Run
    }
}
