//! The process exit-code contract, shared by every subcommand so CI can tell
//! a broken config from a broken environment.

/// Exit status of `infraflux`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Everything passed.
    Pass = 0,
    /// Cases failed, `check` found error findings, or a perf regression.
    Failed = 1,
    /// Malformed input or usage: profile, suite YAML, manifest, flag.
    BadInput = 2,
    /// The cluster or the provisioning step is broken.
    Cluster = 3,
}

impl Status {
    pub fn code(self) -> i32 {
        self as i32
    }
}
