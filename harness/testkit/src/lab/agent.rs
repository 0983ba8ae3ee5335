//! The probe agent in the lab: every agent lab test starts it the same way
//! and reads the same one-line JSON report, so the ways to run it live here
//! once.
#![allow(clippy::expect_used, reason = "test helpers fail the test loudly")]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::lab::{self, LabProcess, LinkedPair, Netns, process::Stream};

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

/// Waits for `p` to exit and parses the last line it printed, the agent's
/// report (whatever the exit code: failures are reports too).
pub fn report(p: &mut LabProcess, timeout: Duration) -> serde_json::Value {
    let (_status, out) = p.wait_output(timeout).expect("agent finished in time");
    json(out.lines().last().unwrap_or_default())
}

/// Runs `infraflux-agent --netns <ns> <args>` to completion and returns its
/// JSON report (whatever the exit code: failures are reports too).
pub fn agent_run(agent: &Path, ns: &Netns, args: &[&str], timeout: Duration) -> serde_json::Value {
    let mut cmd = Command::new(agent);
    cmd.args(["--netns", ns.name()]).args(args);
    let mut p = LabProcess::spawn("agent client", &mut cmd).expect("spawn agent");
    report(&mut p, timeout)
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

/// Where most agent lab tests start: a fresh [`LinkedPair`] with the agent
/// serving in `b`. Fields drop in order, so the server is killed before its
/// namespace goes.
pub struct Served {
    pub agent: PathBuf,
    pub server: LabProcess,
    pub pair: LinkedPair,
}

/// A new pair with `infraflux-agent serve <serve_args>` ready in `pair.b`.
pub fn served_pair(serve_args: &[&str]) -> Served {
    let agent = agent_bin();
    let pair = LinkedPair::create().expect("create lab pair");
    let server = agent_serve(&agent, &pair.b, serve_args);
    Served {
        agent,
        server,
        pair,
    }
}
