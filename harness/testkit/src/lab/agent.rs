//! The root gate and the probe agent in the lab: what every lab test
//! binary needs first.
#![allow(clippy::expect_used, reason = "test helpers fail the test loudly")]

use std::path::PathBuf;
use std::process::Command;

use crate::lab::{self, Gate};

/// `true` when the lab may run. Not root without `INFRAFLUX_LAB=skip`
/// fails the test: a lab check that silently did nothing is worse than a
/// red build.
pub fn lab_enabled() -> bool {
    match lab::gate() {
        Ok(Gate::Run) => {
            // Leftovers of an earlier killed run would not collide (names are
            // unique) but would pile up; remove them.
            if let Err(e) = lab::cleanup_stale() {
                eprintln!("warning: failed to clean up stale lab namespaces: {e}");
            }
            true
        }
        Ok(Gate::Skip(reason)) => {
            eprintln!("skipped: {reason}");
            false
        }
        Err(e) => panic!("{e}"),
    }
}

/// The agent binary, rebuilt once per test process (see
/// [`lab::build_agent_binary`]).
pub fn agent_bin() -> PathBuf {
    static BIN: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BIN.get_or_init(|| lab::build_agent_binary().unwrap_or_else(|e| panic!("{e}")))
        .clone()
}

pub fn json(line: &str) -> serde_json::Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("bad JSON from agent ({e}): {line}"))
}

use std::path::Path;
use std::time::Duration;

use crate::lab::{LabProcess, Netns, process::Stream};

/// Runs `infraflux-agent --netns <ns> <args>` to completion and returns its
/// JSON report (whatever the exit code: failures are reports too).
pub fn agent_run(agent: &Path, ns: &Netns, args: &[&str], timeout: Duration) -> serde_json::Value {
    let mut cmd = Command::new(agent);
    cmd.args(["--netns", ns.name()]).args(args);
    let mut p = LabProcess::spawn("agent client", &mut cmd).expect("spawn agent");
    let (_status, out) = p.wait_output(timeout).expect("agent finished in time");
    let line = out.lines().last().unwrap_or_default().to_string();
    json(&line)
}

/// Starts `infraflux-agent --netns <ns> serve <args>` and waits for its
/// ready line.
pub fn agent_serve(agent: &Path, ns: &Netns, args: &[&str]) -> LabProcess {
    let mut cmd = Command::new(agent);
    cmd.args(["--netns", ns.name(), "serve"]).args(args);
    let mut p = LabProcess::spawn("agent serve", &mut cmd).expect("spawn agent serve");
    let line = p
        .wait_line(Stream::Stdout, Duration::from_secs(10), |l| {
            l.contains("\"ready\":true")
        })
        .expect("agent serve ready");
    assert_eq!(json(&line)["ready"], true);
    p
}
