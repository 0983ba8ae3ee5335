//! Commands on the nodes through the OpenSSH client. Host keys are checked
//! strictly against a known_hosts file the provider writes from pinned or
//! guest-agent-reported keys; there is no trust on first use. Scripts and
//! file contents travel on stdin, so secrets never appear in an argument
//! list (visible in `ps`) or in an error message.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::process::Command;

/// How long one connection attempt may take.
const CONNECT_TIMEOUT_SECS: u32 = 5;

#[derive(Debug, thiserror::Error)]
pub enum SshError {
    #[error("failed to start ssh: {0}")]
    Spawn(String),
    #[error("{user}@{host}: `{what}` failed (exit {code}): {stderr}")]
    Failed { user: String, host: String, what: String, code: i32, stderr: String },
    #[error("{user}@{host}: `{what}` did not finish within {secs}s")]
    Timeout { user: String, host: String, what: String, secs: u64 },
    #[error("{host}: no SSH login within {secs}s; last error: {last}")]
    NeverUp { host: String, secs: u64, last: String },
}

/// One login identity for every node.
#[derive(Debug, Clone)]
pub struct Ssh {
    pub user: String,
    pub private_key: PathBuf,
    pub known_hosts: PathBuf,
}

impl Ssh {
    fn command(&self, host: &str, remote: &str) -> Command {
        let mut c = Command::new("ssh");
        c.arg("-F").arg("none").arg("-i").arg(&self.private_key);
        for o in [
            "IdentitiesOnly=yes".to_owned(),
            "BatchMode=yes".to_owned(),
            "StrictHostKeyChecking=yes".to_owned(),
            format!("UserKnownHostsFile={}", self.known_hosts.display()),
            "GlobalKnownHostsFile=/dev/null".to_owned(),
            format!("ConnectTimeout={CONNECT_TIMEOUT_SECS}"),
            "LogLevel=ERROR".to_owned(),
        ] {
            c.arg("-o").arg(o);
        }
        c.arg(format!("{}@{host}", self.user)).arg("--").arg(remote);
        c.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
        c
    }

    /// Runs `remote` on `host` with `input` on its stdin; stdout on success.
    pub async fn run(&self, host: &str, what: &str, remote: &str, input: &[u8], timeout: Duration) -> Result<String, SshError> {
        let mut child = self.command(host, remote).spawn().map_err(|e| SshError::Spawn(e.to_string()))?;
        let mut stdin = child.stdin.take();
        let io = async {
            if let Some(s) = stdin.as_mut() {
                // A remote side that exits early closes the pipe; its exit
                // status says why.
                let _ = s.write_all(input).await;
            }
            drop(stdin);
            child.wait_with_output().await
        };
        let out = tokio::time::timeout(timeout, io)
            .await
            .map_err(|_| SshError::Timeout { user: self.user.clone(), host: host.into(), what: what.into(), secs: timeout.as_secs() })?
            .map_err(|e| SshError::Spawn(e.to_string()))?;
        if out.status.success() {
            return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(20).collect();
        Err(SshError::Failed {
            user: self.user.clone(),
            host: host.into(),
            what: what.into(),
            code: out.status.code().unwrap_or(-1),
            stderr: tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
        })
    }

    /// `sh -s` as root (through `sudo -n` for another user).
    pub fn shell(&self) -> &'static str {
        if self.user == "root" { "sh -s" } else { "sudo -n sh -s" }
    }

    /// Retries a trivial login until it works or `timeout` passes.
    pub async fn wait_up(&self, host: &str, timeout: Duration) -> Result<(), SshError> {
        let deadline = Instant::now() + timeout;
        loop {
            let err = match self.run(host, "login", "true", b"", Duration::from_secs(u64::from(CONNECT_TIMEOUT_SECS) * 2)).await {
                Ok(_) => return Ok(()),
                Err(e) => e.to_string(),
            };
            if Instant::now() >= deadline {
                return Err(SshError::NeverUp { host: host.into(), secs: timeout.as_secs(), last: err });
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

/// The remote command that writes stdin to `path` atomically with `mode`.
pub fn write_file_script(path: &str, mode: &str) -> String {
    let dir = path.rsplit_once('/').map_or("/", |(d, _)| if d.is_empty() { "/" } else { d });
    format!("umask 077 && mkdir -p '{dir}' && cat > '{path}.infraflux-tmp' && chmod {mode} '{path}.infraflux-tmp' && mv '{path}.infraflux-tmp' '{path}'")
}
