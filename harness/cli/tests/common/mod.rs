//! The binary under test, as every CLI test file starts it: from the
//! repository root, with no kubeconfig or agent image leaking in from the
//! caller's environment.
// Each test file uses a subset.
#![allow(dead_code)]

pub mod local;

use std::process::{Command, Output};

use infraflux_testkit::paths::repo_root;

pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_infraflux"));
    c.current_dir(repo_root()).env_remove("KUBECONFIG").env_remove("INFRAFLUX_AGENT_IMAGE");
    c
}

/// Exit code, stdout and stderr of `cmd`.
pub fn outcome(cmd: &mut Command) -> (i32, String, String) {
    let out: Output = cmd.output().expect("spawn infraflux");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub fn run(args: &[&str]) -> (i32, String, String) {
    outcome(bin().args(args))
}
