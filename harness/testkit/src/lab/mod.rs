//! Network lab: throw-away network namespaces joined by veth pairs, for
//! checks that need real packets but no cluster: the agent's probes across
//! a wire, WireGuard leak counting, failover downtime, throughput, and the
//! harness's BGP speaker against real peers ([`peers`]). Namespaces are
//! driven with the `ip` command rather than rtnetlink: the lab needs
//! namespaces, veths, addresses and routes only, `ip` does each in one line
//! with errors a person can read, and it avoids pulling a netlink stack into
//! the harness for test-only use.
//!
//! One module serves every lab test so that the safety rules below are
//! enforced in one place, and a stale namespace from any lab test is swept
//! by the next lab run of any other.
//!
//! Safety rules the code enforces: every namespace and interface name is
//! unique per process (`iflab-<tag>-…`), nothing is ever created in or moved
//! into the host namespace (veths are created directly inside their
//! namespaces), addresses live only inside the namespaces, no namespace is
//! linked to the host uplink, and everything is torn down by `Drop` (which
//! also runs during a panic). Leftovers from a killed run are removed by
//! [`cleanup_stale`], which [`enabled`] runs before each test.

pub mod agent;
pub mod netns;
pub mod peers;
pub mod process;
pub mod wireguard;

use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

pub use netns::{LinkedPair, Netns};
pub use process::LabProcess;

/// Every namespace this module creates starts with this prefix.
pub const NETNS_PREFIX: &str = "iflab-";

/// Bound on any single `ip`/`wg` invocation.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

pub type Result<T, E = LabError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error(
        "lab tests need root (CAP_NET_ADMIN); run as root or set INFRAFLUX_LAB=skip to skip them"
    )]
    NotRoot,
    #[error("failed to run {command}: {source}")]
    Spawn {
        command: String,
        #[source]
        source: io::Error,
    },
    #[error("{command} failed ({status}): {stderr}")]
    Command {
        command: String,
        status: String,
        stderr: String,
    },
    #[error("{what} did not happen within {timeout:?}")]
    Timeout { what: String, timeout: Duration },
    #[error("failed to enter network namespace {name}: {message}")]
    Enter { name: String, message: String },
    #[error("failed to use a socket in network namespace {ns}")]
    Socket {
        ns: String,
        #[source]
        source: io::Error,
    },
    #[error("failed to write lab file {path}")]
    File {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("{program} not found (looked in {looked}); install it with .ci/install-lab-packages")]
    Missing { program: String, looked: String },
    #[error("process {name} exited early: {detail}")]
    Exited { name: String, detail: String },
    #[error("failed to decode output of {what}: {message}")]
    Decode { what: String, message: String },
}

/// Whether lab tests run here.
#[derive(Debug, PartialEq, Eq)]
pub enum Gate {
    Run,
    Skip(String),
}

/// Root runs the lab; a non-root user must opt out explicitly with
/// `INFRAFLUX_LAB=skip`, so a CI that lost its privileges fails loudly
/// instead of passing on skipped checks.
pub fn gate() -> Result<Gate, LabError> {
    if nix::unistd::geteuid().is_root() {
        return Ok(Gate::Run);
    }
    if std::env::var("INFRAFLUX_LAB").as_deref() == Ok("skip") {
        return Ok(Gate::Skip(
            "not root and INFRAFLUX_LAB=skip: network lab checks skipped".to_string(),
        ));
    }
    Err(LabError::NotRoot)
}

/// `true` when a lab test may run: [`gate`] for a test body. Not root
/// without `INFRAFLUX_LAB=skip` panics, failing the test: a lab check that
/// silently did nothing is worse than a red build. When it runs, leftovers
/// of earlier killed runs are swept first.
pub fn enabled() -> bool {
    match gate() {
        Ok(Gate::Run) => {
            // Leftovers would not collide (names are unique) but would pile up.
            if let Err(e) = cleanup_stale() {
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

/// Calls `f` every `every` until it returns `Some`, for at most `timeout`:
/// daemons in the lab become ready at their own pace, and every wait must
/// still end.
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
            return Err(LabError::Timeout {
                what: what.to_string(),
                timeout,
            });
        }
        std::thread::sleep(every);
    }
}

/// Waits until `path` exists (a daemon's socket or pid file).
pub fn wait_for_path(path: &std::path::Path, timeout: Duration) -> Result<()> {
    poll(
        &format!("{} to appear", path.display()),
        timeout,
        Duration::from_millis(10),
        || path.exists().then_some(()),
    )
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn base36(mut n: u64) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// A short tag unique among live processes: pid plus a per-process counter,
/// both base36 so interface names stay under the kernel's 15 characters.
pub fn unique_tag() -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    // `_` separates: `x` (or any letter) is itself a base36 digit.
    format!(
        "{}_{}",
        base36(u64::from(std::process::id())),
        base36(u64::from(n))
    )
}

fn pid_of_tag(name: &str) -> Option<u32> {
    let tag = name.strip_prefix(NETNS_PREFIX)?;
    let pid = tag.split('_').next()?;
    u32::from_str_radix(pid, 36).ok()
}

/// Deletes lab namespaces whose creating process is gone (a test killed by
/// a signal cannot run its destructors). Processes still inside such a
/// namespace were started by that lab and are killed first. Returns how
/// many namespaces were removed.
pub fn cleanup_stale() -> Result<usize, LabError> {
    let out = netns::run_ip(&["netns", "list"])?;
    let mut removed = 0;
    for line in out.lines() {
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        let Some(pid) = pid_of_tag(name) else {
            continue;
        };
        if std::path::Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        netns::kill_pids_in(name);
        let _ = std::fs::remove_dir_all(format!("/etc/netns/{name}"));
        netns::run_ip(&["netns", "del", name])?;
        removed += 1;
    }
    Ok(removed)
}

/// Finds a program on PATH or in cargo's bin directory (where
/// `.ci/install-lab-packages` puts boringtun).
pub fn find_program(name: &str) -> Result<PathBuf, LabError> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    if let Some(home) = cargo_home {
        dirs.push(home.join("bin"));
    }
    for dir in &dirs {
        let candidate = dir.join(name);
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    Err(LabError::Missing {
        program: name.to_string(),
        looked: dirs
            .iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(":"),
    })
}

/// Locates the `infraflux-agent` binary: `INFRAFLUX_AGENT_BIN`, else next to
/// the running executable's profile directory (`target/<profile>/`), which
/// is where `cargo build -p infraflux-agent` puts it.
pub fn agent_binary() -> Result<PathBuf, LabError> {
    if let Some(p) = std::env::var_os("INFRAFLUX_AGENT_BIN") {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe().map_err(|source| LabError::Spawn {
        command: "current_exe".to_string(),
        source,
    })?;
    let mut looked = Vec::new();
    for dir in exe.ancestors().skip(1).take(3) {
        let candidate = dir.join("infraflux-agent");
        if candidate.is_file() {
            return Ok(candidate);
        }
        looked.push(dir.display().to_string());
    }
    Err(LabError::Missing {
        program: "infraflux-agent (build it with `cargo build -p infraflux-agent` or set INFRAFLUX_AGENT_BIN)".to_string(),
        looked: looked.join(":"),
    })
}

/// Rebuilds the agent with the caller's cargo profile (a no-op when it is up
/// to date) so a test or bench never runs a stale binary, then locates it
/// like [`agent_binary`]. `INFRAFLUX_AGENT_BIN` skips the build.
pub fn build_agent_binary() -> Result<PathBuf, LabError> {
    if std::env::var_os("INFRAFLUX_AGENT_BIN").is_none() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
        let release = std::env::current_exe()
            .map(|p| p.components().any(|c| c.as_os_str() == "release"))
            .unwrap_or(false);
        let mut args = vec!["build", "-q", "-p", "infraflux-agent", "--bin", "infraflux-agent"];
        if release {
            args.push("--release");
        }
        let command = format!("{cargo} {}", args.join(" "));
        let out = std::process::Command::new(&cargo)
            .args(&args)
            .output()
            .map_err(|source| LabError::Spawn { command: command.clone(), source })?;
        if !out.status.success() {
            return Err(LabError::Command {
                command,
                status: out.status.to_string(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            });
        }
    }
    agent_binary()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_unique_and_decode_to_our_pid() {
        let a = unique_tag();
        let b = unique_tag();
        assert_ne!(a, b);
        let name = format!("{NETNS_PREFIX}{a}-a");
        assert_eq!(pid_of_tag(&name), Some(std::process::id()));
        assert_eq!(pid_of_tag("other-ns"), None);
        // ifname budget: "ifv" + tag + role letter must fit in 15 bytes.
        assert!(3 + a.len() < 15, "tag {a} too long");
    }

    #[test]
    fn pids_whose_base36_has_letters_decode() {
        for pid in [33u32, 1221, 32767, 4_194_303] {
            let name = format!("{NETNS_PREFIX}{}_{}-a", base36(u64::from(pid)), base36(7));
            assert_eq!(pid_of_tag(&name), Some(pid), "{name}");
        }
    }

    #[test]
    fn base36_round_trips() {
        for n in [0u64, 35, 36, 4_194_304] {
            assert_eq!(u64::from_str_radix(&base36(n), 36).unwrap(), n);
        }
    }
}
