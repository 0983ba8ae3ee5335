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
pub use rules::{RULES, provisioning, rules, validate};

use crate::diag::{self, Finding};
use crate::exit::Status;

/// Outcome of checking one profile (what `infraflux check` reports).
#[derive(Debug, Clone)]
pub struct Checked {
    /// Decode errors, or every semantic finding; sorted by position.
    pub findings: Vec<Finding>,
    /// The profile, when it decoded.
    pub loaded: Option<Loaded>,
}

impl Checked {
    /// `BadInput` (2) when the profile did not decode, `Failed` (1) when a
    /// rule reported an error, `Pass` (0) otherwise. Commands that consume
    /// a profile (rather than check it) should refuse any error finding as
    /// bad input.
    pub fn status(&self) -> Status {
        match (&self.loaded, diag::has_errors(&self.findings)) {
            (None, _) => Status::BadInput,
            (Some(_), true) => Status::Failed,
            (Some(_), false) => Status::Pass,
        }
    }
}

fn checked(result: Result<Loaded, LoadError>) -> Checked {
    let (mut findings, loaded) = match result {
        Ok(loaded) => (validate(&loaded), Some(loaded)),
        Err(e) => (e.findings(), None),
    };
    diag::sort(&mut findings);
    Checked { findings, loaded }
}

/// Loads and validates in one go.
pub fn check_str(file: &str, text: &str) -> Checked {
    checked(load_str(file, text))
}

/// [`check_str`] on a file.
pub fn check_file(path: &std::path::Path) -> Checked {
    checked(load_file(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_classes() {
        assert_eq!(check_str("d.yaml", DEFAULT_YAML).status(), Status::Pass);
        assert_eq!(check_str("b.yaml", "a: [").status(), Status::BadInput);
        let bad = DEFAULT_YAML.replace("wireguard: true", "wireguard: false");
        let c = check_str("w.yaml", &bad);
        assert_eq!(c.status(), Status::Failed);
        assert_eq!(c.findings.len(), 1);
        let warn = DEFAULT_YAML.replace("peerASN: 65000", "peerASN: 65001");
        assert_eq!(check_str("i.yaml", &warn).status(), Status::Pass);
    }
}
