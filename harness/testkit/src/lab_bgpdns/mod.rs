//! Lab plumbing for the BGP and DNS lab tests: network namespaces joined by
//! a veth pair, daemons started inside them, and the real peers (FRR, BIRD,
//! gobgpd) driven through their own CLIs.
//!
//! Everything lives in namespaces this process creates: addresses are only
//! assigned inside them (10.198.0.0/16), no namespace is linked to the host
//! uplink, and each [`Netns`] / [`Daemon`] is removed or killed on drop,
//! which also runs when a test panics. Namespaces left behind by a process
//! that was killed outright are swept by the next lab run ([`sweep_stale`]).
//!
//! A generic namespace module is being written separately; this one stays
//! self-contained so the two can be unified later.

pub mod netns;
pub mod peers;

pub use netns::{Daemon, Netns, VethPair, sweep_stale};

use std::time::Duration;

/// Errors of the lab plumbing.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("failed to run {cmd}")]
    Spawn {
        cmd: String,
        #[source]
        source: std::io::Error,
    },
    #[error("command {cmd} failed ({status}): {stderr}")]
    Command {
        cmd: String,
        status: String,
        stderr: String,
    },
    #[error("failed to enter network namespace {ns}")]
    Setns {
        ns: String,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to use a socket in network namespace {ns}")]
    Socket {
        ns: String,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to write lab file {path}")]
    File {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("timed out after {timeout:?} waiting for {what}")]
    Timeout { what: String, timeout: Duration },
    #[error("failed to parse output of {cmd}: {message}")]
    Parse { cmd: String, message: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Whether a root-only lab test may run here.
///
/// Returns `Ok(true)` as root. When not root it returns `Ok(false)` (after
/// printing why) only if `INFRAFLUX_LAB=skip` is set, and an error
/// otherwise, so a CI job that lost its privileges fails loudly instead of
/// passing without testing anything.
pub fn root_or_skip(test: &str) -> std::result::Result<bool, String> {
    if rustix::process::geteuid().is_root() {
        return Ok(true);
    }
    if std::env::var("INFRAFLUX_LAB").as_deref() == Ok("skip") {
        eprintln!("{test}: skipped: needs root for network namespaces and INFRAFLUX_LAB=skip is set");
        return Ok(false);
    }
    Err(format!(
        "{test} needs root (network namespaces, port 179); run as root or set INFRAFLUX_LAB=skip to skip it"
    ))
}

/// Polls `f` until it returns `Some`, every `every`, for at most `timeout`.
pub fn poll<T>(
    what: &str,
    timeout: Duration,
    every: Duration,
    mut f: impl FnMut() -> Option<T>,
) -> Result<T> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Ok(v);
        }
        if std::time::Instant::now() >= deadline {
            return Err(Error::Timeout {
                what: what.to_string(),
                timeout,
            });
        }
        std::thread::sleep(every);
    }
}
