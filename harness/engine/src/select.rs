//! Which cases run, which are skipped (and why), which are filtered out.
//! libtest semantics: a case is selected when its id contains any filter
//! (or equals one with `exact`) and contains no skip pattern; `ignored` runs
//! only cases marked `ignore:`, `include_ignored` runs both.
//!
//! Requirements: without a profile a missing feature skips the case. With
//! one, the profile decides (see `infraflux_model::contract`): a feature it
//! disables skips the case naming the field, a feature it enables that the
//! cluster lacks makes the case fail with the evidence, and what the run
//! itself lacks (probe agent, DNS API, BGP router) skips naming the flag.

use infraflux_model::contract::{Expectations, Stance, disabled_reason, run_capability};

use super::capabilities::{Detected, presence_reason};
use crate::suite::{Feature, LoadedCase};

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
    /// The profile promises a feature the cluster lacks (or excludes one it
    /// has): the case fails without running, with this evidence.
    Unmet(String),
    /// Not selected by the filters; absent from the results.
    FilteredOut,
}

fn hit(id: &str, pattern: &str, exact: bool) -> bool {
    if exact { id == pattern } else { id.contains(pattern) }
}

impl Selection {
    /// Decides for one case. `detected` is `None` when the cluster was not
    /// read (listing), in which case requirements are not evaluated;
    /// `expect` is the profile's stance, `None` without a profile.
    pub fn decide(&self, case: &LoadedCase, detected: Option<&Detected>, expect: Option<&Expectations>) -> Disposition {
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
        let Some(d) = detected else { return Disposition::Run };
        requirements(case, d, expect.unwrap_or(&Expectations::default()))
    }
}

/// What a case's `requires` make of it. The order of precedence: the
/// profile switching a feature off makes the case moot (skip); a broken
/// promise is a failure even when the run could not probe; otherwise what
/// the cluster and the run lack skip it, every reason given.
fn requirements(case: &LoadedCase, d: &Detected, expect: &Expectations) -> Disposition {
    let status = |f: Feature| d.features.get(&f).cloned().unwrap_or_else(|| Err("not detected".into()));
    let (mut moot, mut broken, mut lacking, mut missing) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for &f in &case.requires {
        match (expect.stance(f), status(f)) {
            (Some(Stance::Disabled { field }), _) => moot.push(disabled_reason(field)),
            (Some(Stance::Unavailable { field, reason }), _) => {
                moot.push(format!("not verifiable here: {reason} (the profile enables it: {field})"))
            }
            (_, Ok(())) => {}
            (Some(Stance::Enabled { .. }), Err(why)) => broken.push(if f == Feature::Cilium {
                format!("profile expects Cilium; cluster: {why}")
            } else {
                format!("profile enables {f}; cluster: {why}")
            }),
            (None, Err(why)) => match run_capability(f) {
                Some(flag) => lacking.push(format!("needs {f}: {why}; give {flag}")),
                None => missing.push(format!("requires {f}: {why}")),
            },
        }
    }
    for &f in &case.excludes {
        let present = matches!(status(f), Ok(()));
        match expect.stance(f) {
            Some(Stance::Enabled { field }) => moot.push(format!(
                "profile: {field} is on; this case is for clusters without {f}"
            )),
            Some(Stance::Disabled { .. } | Stance::Unavailable { .. }) if present => {
                broken.push(format!("profile disables {f}; cluster: {}", presence_reason(f)))
            }
            None if present => missing.push(format!("requires no {f}: {}", presence_reason(f))),
            _ => {}
        }
    }
    if !moot.is_empty() {
        return Disposition::Skip(moot.join("; "));
    }
    if !broken.is_empty() {
        return Disposition::Unmet(broken.join("; "));
    }
    // Both are skips: say everything that is missing, the cluster's first.
    missing.extend(lacking);
    if !missing.is_empty() {
        return Disposition::Skip(missing.join("; "));
    }
    Disposition::Run
}
