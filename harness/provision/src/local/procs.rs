//! The node's host processes (containerd, etcd, the control plane, the
//! kubelet, the router's FRR): started detached so they outlive `up`, each
//! with a log and a pid file under the state directory, and stopped by
//! `down` from those pid files. A pid is only signalled when its
//! `/proc/<pid>/exe` is still the binary we started, so a recycled pid is
//! never killed.

use std::fs::{self, File};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::LocalError;

/// A started process as recorded on disk: `run/<name>.pid` holds
/// `<pid> <exe>`.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub name: String,
    pub pid: i32,
    pub exe: PathBuf,
}

pub struct Procs {
    pub run_dir: PathBuf,
    pub log_dir: PathBuf,
}

impl Procs {
    pub fn new(state: &Path) -> Procs {
        Procs { run_dir: state.join("run"), log_dir: state.join("logs") }
    }

    /// Starts `bin args…` (optionally inside a network namespace) in a new
    /// process group, output to `logs/<name>.log`.
    pub fn start(&self, name: &str, bin: &Path, args: &[String], netns: Option<&str>) -> Result<Recorded, LocalError> {
        fs::create_dir_all(&self.run_dir).map_err(|e| io(&self.run_dir, e))?;
        fs::create_dir_all(&self.log_dir).map_err(|e| io(&self.log_dir, e))?;
        let log_path = self.log_dir.join(format!("{name}.log"));
        let log = File::create(&log_path).map_err(|e| io(&log_path, e))?;
        let err = log.try_clone().map_err(|e| io(&log_path, e))?;
        let mut cmd = match netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).arg(bin);
                c
            }
            None => Command::new(bin),
        };
        cmd.args(args).stdin(Stdio::null()).stdout(log).stderr(err).process_group(0);
        let child = cmd.spawn().map_err(|e| LocalError::Step { step: format!("start {name} ({})", bin.display()), message: e.to_string() })?;
        let rec = Recorded { name: name.to_owned(), pid: child.id() as i32, exe: bin.to_path_buf() };
        // `ip netns exec` execs the binary in place: same pid.
        fs::write(self.run_dir.join(format!("{name}.pid")), format!("{} {}\n", rec.pid, bin.display())).map_err(|e| io(&self.run_dir, e))?;
        // The child is reaped by whoever outlives us; we never wait on it.
        std::mem::forget(child);
        Ok(rec)
    }

    /// Every recorded process, in start order (pid files sorted by mtime).
    pub fn recorded(&self) -> Vec<Recorded> {
        let Ok(rd) = fs::read_dir(&self.run_dir) else { return Vec::new() };
        let mut v: Vec<(std::time::SystemTime, Recorded)> = rd
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().strip_suffix(".pid")?.to_owned();
                let text = fs::read_to_string(e.path()).ok()?;
                let (pid, exe) = text.trim().split_once(' ')?;
                let mtime = e.metadata().and_then(|m| m.modified()).ok()?;
                Some((mtime, Recorded { name, pid: pid.parse().ok()?, exe: PathBuf::from(exe) }))
            })
            .collect();
        v.sort_by_key(|(t, _)| *t);
        v.into_iter().map(|(_, r)| r).collect()
    }

    /// Whether `name` runs (its recorded pid is alive and still our binary).
    pub fn alive(&self, rec: &Recorded) -> bool {
        is_ours(rec)
    }

    /// Stops `rec`: SIGTERM, then SIGKILL after `grace`. Removes its pid file.
    pub fn stop(&self, rec: &Recorded, grace: Duration) {
        if is_ours(rec) {
            let _ = kill(Pid::from_raw(rec.pid), Signal::SIGTERM);
            let deadline = Instant::now() + grace;
            while is_ours(rec) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
            }
            if is_ours(rec) {
                let _ = kill(Pid::from_raw(rec.pid), Signal::SIGKILL);
                let deadline = Instant::now() + Duration::from_secs(5);
                while is_ours(rec) && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        }
        let _ = fs::remove_file(self.run_dir.join(format!("{}.pid", rec.name)));
    }

    pub fn log_tail(&self, name: &str, n: usize) -> String {
        let text = fs::read_to_string(self.log_dir.join(format!("{name}.log"))).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

fn is_ours(rec: &Recorded) -> bool {
    let status = fs::read_to_string(format!("/proc/{}/stat", rec.pid)).unwrap_or_default();
    // A zombie has exited; it only waits for a parent that will never reap it.
    if status.rsplit(") ").next().is_some_and(|s| s.starts_with('Z')) {
        return false;
    }
    fs::read_link(format!("/proc/{}/exe", rec.pid)).is_ok_and(|exe| exe == rec.exe)
}

/// Every process whose executable is `exe` (containerd's shims, which are
/// not ours to record one by one).
pub fn pids_of(exe: &Path) -> Vec<i32> {
    let Ok(rd) = fs::read_dir("/proc") else { return Vec::new() };
    rd.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|p| p == exe))
        .collect()
}

/// Pids whose command line contains `needle`.
pub fn pids_with_arg(needle: &str) -> Vec<i32> {
    let Ok(rd) = fs::read_dir("/proc") else { return Vec::new() };
    rd.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| String::from_utf8_lossy(&c).contains(needle)))
        .collect()
}

pub fn io(path: &Path, e: std::io::Error) -> LocalError {
    LocalError::Step { step: format!("write {}", path.display()), message: e.to_string() }
}

/// Polls `f` until it returns `Some` or `timeout` passes; the error names
/// what was awaited and the last reason it was not ready.
pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Result<T, String>) -> Result<T, LocalError> {
    let deadline = Instant::now() + timeout;
    loop {
        match f() {
            Ok(v) => return Ok(v),
            Err(why) if Instant::now() >= deadline => {
                return Err(LocalError::Timeout { what: what.to_owned(), after: timeout, last: why });
            }
            Err(_) => std::thread::sleep(Duration::from_millis(250)),
        }
    }
}
