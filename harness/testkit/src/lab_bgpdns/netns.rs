//! Network namespaces, veth pairs, daemons and sockets inside namespaces.

use std::fs::File;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use super::{Error, Result};

const PREFIX: &str = "ifxbd";
static COUNTER: AtomicU32 = AtomicU32::new(0);

fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// Longest any one lab command (ip, vtysh, birdc, gobgp) may take.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs a command to completion under coreutils `timeout` (so a hung CLI
/// cannot hang a test); non-zero exit is an error carrying stderr.
pub fn run(cmd: &mut Command) -> Result<String> {
    let desc = describe(cmd);
    let mut bounded = Command::new("timeout");
    bounded
        .args(["--kill-after=5", &COMMAND_TIMEOUT.as_secs().to_string()])
        .arg(cmd.get_program())
        .args(cmd.get_args());
    let out = bounded
        .stdin(Stdio::null())
        .output()
        .map_err(|source| Error::Spawn {
            cmd: desc.clone(),
            source,
        })?;
    if !out.status.success() {
        let status = match out.status.code() {
            Some(124) | Some(137) => format!("timed out after {COMMAND_TIMEOUT:?}"),
            _ => out.status.to_string(),
        };
        return Err(Error::Command {
            cmd: desc,
            status,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn ip(args: &[&str]) -> Result<String> {
    run(Command::new("ip").args(args))
}

/// A named network namespace, deleted (with its interfaces) on drop.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates `ifxbd-<pid>-<n>-<role>` with loopback up.
    pub fn new(role: &str) -> Result<Netns> {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let name = format!("{PREFIX}-{}-{n}-{role}", std::process::id());
        ip(&["netns", "add", &name])?;
        let ns = Netns { name };
        ip(&["-n", &ns.name, "link", "set", "lo", "up"])?;
        Ok(ns)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// A command that runs `program` inside this namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }

    /// Runs `program args` inside the namespace to completion.
    pub fn run(&self, program: &str, args: &[&str]) -> Result<String> {
        run(self.command(program).args(args))
    }

    /// Starts a long-running `program` inside the namespace; output goes to `log`.
    pub fn spawn(&self, program: &str, args: &[&str], log: &Path) -> Result<Daemon> {
        let mut cmd = self.command(program);
        cmd.args(args);
        let desc = describe(&cmd);
        let out = File::create(log).map_err(|source| Error::File {
            path: log.display().to_string(),
            source,
        })?;
        let err = out.try_clone().map_err(|source| Error::File {
            path: log.display().to_string(),
            source,
        })?;
        // `ip netns exec` execs the program, so the child pid is the daemon's.
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|source| Error::Spawn { cmd: desc.clone(), source })?;
        Ok(Daemon { desc, child: Some(child) })
    }

    fn enter<T>(&self, f: impl FnOnce() -> std::io::Result<T> + Send) -> Result<T>
    where
        T: Send,
    {
        let path = format!("/var/run/netns/{}", self.name);
        let ns = self.name.clone();
        // setns changes only the calling thread; a scoped helper thread keeps
        // the caller (and tokio's workers) in their own namespace. Sockets
        // keep the namespace they were created in.
        std::thread::scope(|s| {
            s.spawn(|| {
                let file = File::open(&path).map_err(|source| Error::Setns { ns: ns.clone(), source })?;
                rustix::thread::move_into_link_name_space(
                    file.as_fd(),
                    Some(rustix::thread::LinkNameSpaceType::Network),
                )
                .map_err(|e| Error::Setns {
                    ns: ns.clone(),
                    source: e.into(),
                })?;
                f().map_err(|source| Error::Socket { ns: ns.clone(), source })
            })
            .join()
            .unwrap_or_else(|_| {
                Err(Error::Socket {
                    ns: self.name.clone(),
                    source: std::io::Error::other("namespace helper thread panicked"),
                })
            })
        })
    }

    /// A TCP connection from inside this namespace.
    pub fn tcp_connect(&self, addr: SocketAddr, timeout: Duration) -> Result<TcpStream> {
        self.enter(|| {
            let s = TcpStream::connect_timeout(&addr, timeout)?;
            s.set_nonblocking(true)?;
            Ok(s)
        })
    }

    /// A TCP listener bound inside this namespace.
    pub fn tcp_listen(&self, addr: SocketAddr) -> Result<TcpListener> {
        self.enter(|| {
            let l = TcpListener::bind(addr)?;
            l.set_nonblocking(true)?;
            Ok(l)
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        kill_pids_in(&self.name);
        if let Err(e) = ip(&["netns", "del", &self.name]) {
            eprintln!("lab: failed to delete namespace {}: {e}", self.name);
        }
    }
}

fn kill_pids_in(ns: &str) {
    if let Ok(pids) = ip(&["netns", "pids", ns]) {
        for pid in pids.split_whitespace() {
            let _ = Command::new("kill").args(["-9", pid]).stderr(Stdio::null()).status();
        }
    }
}

/// Deletes namespaces (and kills their processes) left by lab processes
/// that no longer exist, e.g. a test binary killed by a timeout.
pub fn sweep_stale() {
    let Ok(list) = ip(&["netns", "list"]) else { return };
    for line in list.lines() {
        let Some(name) = line.split_whitespace().next() else { continue };
        let mut parts = name.split('-');
        if parts.next() != Some(PREFIX) {
            continue;
        }
        let Some(pid) = parts.next().and_then(|p| p.parse::<u32>().ok()) else { continue };
        if pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        kill_pids_in(name);
        let _ = ip(&["netns", "del", name]);
    }
}

/// A veth pair with one end in each namespace, addressed as a /30.
/// Removed with the namespaces; `set_down`/`set_up` simulate link loss.
#[derive(Debug)]
pub struct VethPair {
    pub a_if: String,
    pub b_if: String,
    a_ns: String,
    b_ns: String,
}

impl VethPair {
    pub fn new(a: &Netns, a_cidr: &str, b: &Netns, b_cidr: &str) -> Result<VethPair> {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        // Interface names are at most 15 bytes and briefly live in the root
        // namespace, so they carry the pid to stay unique across processes.
        let tag = format!("{}{n}", std::process::id() % 100_000);
        let (a_if, b_if) = (format!("ifa{tag}"), format!("ifb{tag}"));
        ip(&["link", "add", &a_if, "netns", a.name(), "type", "veth", "peer", "name", &b_if, "netns", b.name()])?;
        ip(&["-n", a.name(), "addr", "add", a_cidr, "dev", &a_if])?;
        ip(&["-n", b.name(), "addr", "add", b_cidr, "dev", &b_if])?;
        ip(&["-n", a.name(), "link", "set", &a_if, "up"])?;
        ip(&["-n", b.name(), "link", "set", &b_if, "up"])?;
        Ok(VethPair {
            a_if,
            b_if,
            a_ns: a.name().to_string(),
            b_ns: b.name().to_string(),
        })
    }

    /// Takes the `b` end down: packets stop without any FIN or RST.
    pub fn set_b_down(&self) -> Result<()> {
        ip(&["-n", &self.b_ns, "link", "set", &self.b_if, "down"]).map(|_| ())
    }

    pub fn a_ns(&self) -> &str {
        &self.a_ns
    }
}

/// A process started in a namespace; killed (SIGKILL) and reaped on drop.
#[derive(Debug)]
pub struct Daemon {
    desc: String,
    child: Option<Child>,
}

impl Daemon {
    /// A daemon that is not running yet (kill and drop are no-ops).
    pub fn placeholder() -> Daemon {
        Daemon { desc: String::new(), child: None }
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Kills the process with SIGKILL (no NOTIFICATION, the kernel closes its sockets).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn description(&self) -> &str {
        &self.desc
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Sleeps in small steps until `path` exists (a daemon's socket or pid file).
pub fn wait_for_path(path: &Path, timeout: Duration) -> Result<()> {
    super::poll(
        &format!("{} to appear", path.display()),
        timeout,
        Duration::from_millis(50),
        || path.exists().then_some(()),
    )
}
