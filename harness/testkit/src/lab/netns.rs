//! Named network namespaces (`ip netns`), veth links between them, and
//! the bounded command runner everything in the lab goes through, so that a
//! hung tool fails its test instead of hanging it.

use std::ffi::OsStr;
use std::fs::File;
use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use nix::sched::{CloneFlags, setns};

use super::{COMMAND_TIMEOUT, LabError, LabProcess, NETNS_PREFIX, Result, unique_tag};

pub(crate) fn render(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// Runs a short command to completion within `timeout`, returning stdout.
/// `stdin` is written to the child's standard input when given (how keys
/// reach `wg` without touching the disk).
pub fn run_command(
    cmd: &mut Command,
    stdin: Option<&[u8]>,
    timeout: Duration,
) -> Result<String, LabError> {
    let command = render(cmd);
    let mut child = cmd
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| LabError::Spawn {
            command: command.clone(),
            source,
        })?;
    if let (Some(data), Some(mut pipe)) = (stdin, child.stdin.take()) {
        use std::io::Write;
        pipe.write_all(data).map_err(|source| LabError::Spawn {
            command: command.clone(),
            source,
        })?;
    }
    // Drain pipes on threads so a chatty child cannot block on a full pipe
    // while we poll for its exit.
    let mut out_pipe = child.stdout.take();
    let mut err_pipe = child.stderr.take();
    let out_t = thread::spawn(move || {
        let mut s = String::new();
        if let Some(p) = out_pipe.as_mut() {
            let _ = p.read_to_string(&mut s);
        }
        s
    });
    let err_t = thread::spawn(move || {
        let mut s = String::new();
        if let Some(p) = err_pipe.as_mut() {
            let _ = p.read_to_string(&mut s);
        }
        s
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(2)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(LabError::Timeout {
                    what: command,
                    timeout,
                });
            }
            Err(source) => return Err(LabError::Spawn { command, source }),
        }
    };
    let stdout = out_t.join().unwrap_or_default();
    let stderr = err_t.join().unwrap_or_default();
    if !status.success() {
        return Err(LabError::Command {
            command,
            status: status.to_string(),
            stderr: stderr.trim().to_string(),
        });
    }
    Ok(stdout)
}

/// `ip <args>` with the standard timeout.
pub fn run_ip(args: &[&str]) -> Result<String, LabError> {
    run_command(Command::new("ip").args(args), None, COMMAND_TIMEOUT)
}

/// SIGKILLs every process inside namespace `name`, so deleting it really
/// frees it (a namespace lives on while a process holds it).
pub(crate) fn kill_pids_in(name: &str) {
    if let Ok(pids) = run_ip(&["netns", "pids", name]) {
        for p in pids
            .split_whitespace()
            .filter_map(|p| p.parse::<i32>().ok())
        {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(p),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

/// A named network namespace, deleted on drop.
#[derive(Debug)]
pub struct Netns {
    name: String,
    live: bool,
}

impl Netns {
    /// Creates `iflab-<tag>-<role>` under a fresh [`unique_tag`].
    pub fn new(role: &str) -> Result<Netns, LabError> {
        Netns::create(&unique_tag(), role)
    }

    /// Creates `iflab-<tag>-<role>` with its loopback up.
    pub fn create(tag: &str, role: &str) -> Result<Netns, LabError> {
        let name = format!("{NETNS_PREFIX}{tag}-{role}");
        run_ip(&["netns", "add", &name])?;
        let ns = Netns { name, live: true };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `ip -n <ns> <args>`.
    pub fn ip(&self, args: &[&str]) -> Result<String, LabError> {
        let mut full = vec!["-n", self.name.as_str()];
        full.extend_from_slice(args);
        run_ip(&full)
    }

    /// A command that runs `program` inside the namespace via
    /// `ip netns exec` (for tools that cannot join a namespace themselves).
    /// `ip` execs the program, so the child's pid is the program's.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name]).arg(program);
        cmd
    }

    /// Runs `program args` inside the namespace to completion within
    /// `timeout`, returning stdout.
    pub fn run(
        &self,
        program: impl AsRef<OsStr>,
        args: &[&str],
        timeout: Duration,
    ) -> Result<String> {
        run_command(self.command(program).args(args), None, timeout)
    }

    /// Starts a long-running `program` inside the namespace with its output
    /// going to `log` (daemons that log more than anyone waits on).
    pub fn spawn_logged(
        &self,
        program: impl AsRef<OsStr>,
        args: &[&str],
        log: &Path,
    ) -> Result<LabProcess> {
        let mut cmd = self.command(program);
        cmd.args(args);
        LabProcess::spawn_logged(&render(&cmd), &mut cmd, log)
    }

    /// Runs `f` on a new thread that has joined this namespace. Network
    /// namespaces are per thread, so the caller's thread (and the rest of
    /// the test process) stays in the host namespace.
    pub fn run_in<F, T>(&self, f: F) -> Result<T, LabError>
    where
        F: FnOnce() -> T + Send,
        T: Send,
    {
        let path = format!("/run/netns/{}", self.name);
        // setns changes only the calling thread; a scoped helper thread keeps
        // the caller (and tokio's workers) in their own namespace. Sockets
        // keep the namespace they were created in.
        thread::scope(|s| {
            let handle = s.spawn(|| -> Result<T, LabError> {
                let file = File::open(&path).map_err(|e| LabError::Enter {
                    name: self.name.clone(),
                    message: e.to_string(),
                })?;
                setns(&file, CloneFlags::CLONE_NEWNET).map_err(|e| LabError::Enter {
                    name: self.name.clone(),
                    message: e.to_string(),
                })?;
                Ok(f())
            });
            handle.join().map_err(|_| LabError::Enter {
                name: self.name.clone(),
                message: "the thread running in the namespace panicked".to_string(),
            })?
        })
    }

    fn socket<T: Send>(&self, f: impl FnOnce() -> std::io::Result<T> + Send) -> Result<T> {
        self.run_in(f)?.map_err(|source| LabError::Socket {
            ns: self.name.clone(),
            source,
        })
    }

    /// A TCP connection from inside this namespace (non-blocking, for tokio).
    pub fn tcp_connect(&self, addr: SocketAddr, timeout: Duration) -> Result<TcpStream> {
        self.socket(|| {
            let s = TcpStream::connect_timeout(&addr, timeout)?;
            s.set_nonblocking(true)?;
            Ok(s)
        })
    }

    /// A TCP listener bound inside this namespace (non-blocking, for tokio).
    pub fn tcp_listen(&self, addr: SocketAddr) -> Result<TcpListener> {
        self.socket(|| {
            let l = TcpListener::bind(addr)?;
            l.set_nonblocking(true)?;
            Ok(l)
        })
    }

    /// Gives processes started with [`Netns::command`] their own
    /// /etc/resolv.conf (`ip netns exec` bind-mounts
    /// /etc/netns/<name>/resolv.conf over it). Removed with the namespace.
    pub fn set_resolv_conf(&self, content: &str) -> Result<(), LabError> {
        let dir = self.etc_dir();
        let write = || -> std::io::Result<()> {
            std::fs::create_dir_all(&dir)?;
            std::fs::write(dir.join("resolv.conf"), content)
        };
        write().map_err(|source| LabError::File {
            path: format!("{}/resolv.conf", dir.display()),
            source,
        })
    }

    fn etc_dir(&self) -> PathBuf {
        PathBuf::from(format!("/etc/netns/{}", self.name))
    }

    pub fn delete(mut self) -> Result<(), LabError> {
        self.live = false;
        kill_pids_in(&self.name);
        let _ = std::fs::remove_dir_all(self.etc_dir());
        run_ip(&["netns", "del", &self.name]).map(|_| ())
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if self.live {
            // Best effort: a failure here is picked up by cleanup_stale.
            kill_pids_in(&self.name);
            let _ = std::fs::remove_dir_all(self.etc_dir());
            let _ = run_ip(&["netns", "del", &self.name]);
        }
    }
}

/// Two namespaces `a` and `b` joined by one veth pair:
/// `a_if` (`a_ip`) <-> `b_if` (`b_ip`), by default 10.199.0.1/24 and
/// 10.199.0.2/24.
#[derive(Debug)]
pub struct LinkedPair {
    pub tag: String,
    pub a_if: String,
    pub b_if: String,
    pub a_ip: Ipv4Addr,
    pub b_ip: Ipv4Addr,
    // Declared last so the interfaces' owners are dropped after everything
    // that refers to them by name.
    pub a: Netns,
    pub b: Netns,
}

pub const PAIR_PREFIX_LEN: u8 = 24;

impl LinkedPair {
    pub fn create() -> Result<LinkedPair, LabError> {
        LinkedPair::with_addresses(
            Ipv4Addr::new(10, 199, 0, 1),
            Ipv4Addr::new(10, 199, 0, 2),
            PAIR_PREFIX_LEN,
        )
    }

    /// A pair whose ends carry `a_ip/prefix_len` and `b_ip/prefix_len`.
    pub fn with_addresses(
        a_ip: Ipv4Addr,
        b_ip: Ipv4Addr,
        prefix_len: u8,
    ) -> Result<LinkedPair, LabError> {
        let tag = unique_tag();
        let a = Netns::create(&tag, "a")?;
        let b = Netns::create(&tag, "b")?;
        let a_if = format!("ifv{tag}a");
        let b_if = format!("ifv{tag}b");
        // Both ends are born inside their namespaces: the host namespace
        // never holds a lab interface, not even for an instant.
        run_ip(&[
            "link", "add", &a_if, "netns", a.name(), "type", "veth", "peer", "name", &b_if,
            "netns", b.name(),
        ])?;
        a.ip(&["addr", "add", &format!("{a_ip}/{prefix_len}"), "dev", &a_if])?;
        b.ip(&["addr", "add", &format!("{b_ip}/{prefix_len}"), "dev", &b_if])?;
        a.ip(&["link", "set", &a_if, "up"])?;
        b.ip(&["link", "set", &b_if, "up"])?;
        Ok(LinkedPair {
            tag,
            a_if,
            b_if,
            a_ip,
            b_ip,
            a,
            b,
        })
    }

    /// Takes the `b` end down: packets stop without any FIN or RST, the way
    /// a lost link looks to both sides.
    pub fn set_b_down(&self) -> Result<()> {
        self.b.ip(&["link", "set", &self.b_if, "down"]).map(|_| ())
    }
}
