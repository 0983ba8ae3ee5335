//! The local provider's node as the root tiers drive it: the binary's
//! combined output, kubectl against the node, bounded polls, and a `down`
//! when a failed assertion unwinds past a running node.

use std::process::Command;
use std::time::{Duration, Instant};

use infraflux_provision::local::Local;
use infraflux_provision::local::host::HostState;

/// Exit code and stdout+stderr of the binary.
pub fn infraflux(args: &[&str]) -> (i32, String) {
    let (code, out, err) = super::run(args);
    (code, format!("{out}{err}"))
}

/// Success and stdout+stderr of a host program.
pub fn sh(program: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(program).args(args).output().unwrap_or_else(|e| panic!("{program}: {e}"));
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

pub struct Node {
    pub local: Local,
    /// Cleared once the test runs `down` itself.
    pub up: bool,
}

impl Node {
    pub fn kubectl(&self, args: &[&str]) -> (bool, String) {
        let kubeconfig = self.local.kubeconfig();
        let mut full = vec!["--kubeconfig", kubeconfig.to_str().unwrap_or_default()];
        full.extend_from_slice(args);
        sh(self.local.artifacts().kubectl.to_str().unwrap_or("kubectl"), &full)
    }

    pub fn poll(&self, what: &str, timeout: Duration, mut f: impl FnMut() -> Result<String, String>) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            match f() {
                Ok(v) => return v,
                Err(e) if Instant::now() > deadline => panic!("timed out after {timeout:?} waiting for {what}: {e}"),
                Err(_) => std::thread::sleep(Duration::from_secs(1)),
            }
        }
    }
}

impl Node {
    /// `infraflux down` by the test itself; the host must then match
    /// `before` (read by the test, not by `down`'s own comparison) and the
    /// state directory be gone.
    pub fn down_and_compare(&mut self, before: &HostState) {
        self.up = false;
        let (code, log) = infraflux(&["down"]);
        assert_eq!(code, 0, "down:\n{log}");
        let diff = before.diff(&HostState::capture());
        assert!(diff.is_empty(), "the host differs after down:\n{}", diff.join("\n"));
        assert!(!std::path::Path::new(infraflux_provision::local::DEFAULT_STATE_DIR).exists(), "state directory left behind");
    }
}

impl Drop for Node {
    // A failed assertion must not leave a node on the machine.
    fn drop(&mut self) {
        if self.up {
            let (code, out) = infraflux(&["down"]);
            eprintln!("down after a failure: exit {code}\n{out}");
        }
    }
}
