//! The cluster profile: one YAML document that describes a cluster end to
//! end (provider, nodes, address plan, BGP, LB-IPAM, DNS, Gateway, Cilium
//! features, pinned versions, failover and perf budgets).
//!
//! - [`model`]: the typed profile the stack renderer and suites read;
//! - [`load`]: strict, located decoding (`load_file`, `load_str`);
//! - [`rules`]: semantic checks (`validate`) and the `PROF-NNN` catalog.
//!
//! Decoding problems (bad YAML, unknown keys, wrong types, inline secrets)
//! are a [`LoadError`] — exit 2 — while semantic problems are findings that
//! [`validate`] collects all at once, each at the `file:line:col` of the
//! offending field.

pub mod load;
pub mod model;
pub mod rules;

pub use load::{DEFAULT_FILE, DEFAULT_YAML, LoadError, Loaded, load_default, load_file, load_str};
pub use model::*;
pub use rules::{RuleInfo, rules, validate};

use crate::diag::Finding;

/// Loads and validates in one go: decode errors or semantic findings,
/// sorted. Empty means the profile is clean.
pub fn check_str(file: &str, text: &str) -> Vec<Finding> {
    let mut findings = match load_str(file, text) {
        Ok(loaded) => validate(&loaded),
        Err(e) => e.findings(),
    };
    crate::diag::sort(&mut findings);
    findings
}

/// [`check_str`] on a file.
pub fn check_file(path: &std::path::Path) -> Vec<Finding> {
    let mut findings = match load_file(path) {
        Ok(loaded) => validate(&loaded),
        Err(e) => e.findings(),
    };
    crate::diag::sort(&mut findings);
    findings
}
