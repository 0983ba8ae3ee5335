//! Long-running lab processes (agents, boringtun, iperf3, the BGP peers'
//! daemons), killed and reaped on drop so a failing test leaves nothing
//! running. Output is either collected line by line, for processes whose
//! readiness or report is a line they print, or written to a log file, for
//! daemons that print more than anyone waits on and whose log is read only
//! when a test fails.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use super::LabError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

pub struct LabProcess {
    name: String,
    child: Option<Child>,
    lines: Receiver<(Stream, String)>,
    /// Lines already taken off the channel, kept for error messages and
    /// for `wait_output`.
    seen: Vec<(Stream, String)>,
}

fn pump<R: Read + Send + 'static>(r: R, stream: Stream, tx: mpsc::Sender<(Stream, String)>) {
    thread::spawn(move || {
        for line in BufReader::new(r).lines() {
            let Ok(line) = line else { break };
            if tx.send((stream, line)).is_err() {
                break;
            }
        }
    });
}

impl LabProcess {
    pub fn spawn(name: &str, cmd: &mut Command) -> Result<LabProcess, LabError> {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| LabError::Spawn {
                command: name.to_string(),
                source,
            })?;
        let (tx, rx) = mpsc::channel();
        if let Some(out) = child.stdout.take() {
            pump(out, Stream::Stdout, tx.clone());
        }
        if let Some(err) = child.stderr.take() {
            pump(err, Stream::Stderr, tx);
        }
        Ok(LabProcess {
            name: name.to_string(),
            child: Some(child),
            lines: rx,
            seen: Vec::new(),
        })
    }

    /// Starts `cmd` with stdout and stderr appended to `log`. Nothing is
    /// collected: [`LabProcess::wait_line`] reports the process as exited.
    pub fn spawn_logged(name: &str, cmd: &mut Command, log: &Path) -> Result<LabProcess, LabError> {
        let file_err = |source| LabError::File {
            path: log.display().to_string(),
            source,
        };
        let out = File::create(log).map_err(file_err)?;
        let err = out.try_clone().map_err(file_err)?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|source| LabError::Spawn {
                command: name.to_string(),
                source,
            })?;
        let (_, rx) = mpsc::channel();
        Ok(LabProcess {
            name: name.to_string(),
            child: Some(child),
            lines: rx,
            seen: Vec::new(),
        })
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    fn transcript(&self) -> String {
        self.seen
            .iter()
            .map(|(_, l)| l.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Waits for a line on `stream` that satisfies `pred`; returns it.
    pub fn wait_line(
        &mut self,
        stream: Stream,
        timeout: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> Result<String, LabError> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok((s, line)) => {
                    self.seen.push((s, line.clone()));
                    if s == stream && pred(&line) {
                        return Ok(line);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    return Err(LabError::Timeout {
                        what: format!("ready line from {}", self.name),
                        timeout,
                    });
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(LabError::Exited {
                        name: self.name.clone(),
                        detail: self.transcript(),
                    });
                }
            }
        }
    }

    /// Waits for the process to exit by itself; returns its status and
    /// its whole stdout.
    pub fn wait_output(&mut self, timeout: Duration) -> Result<(ExitStatus, String), LabError> {
        let deadline = Instant::now() + timeout;
        let Some(child) = self.child.as_mut() else {
            return Err(LabError::Exited {
                name: self.name.clone(),
                detail: "already reaped".to_string(),
            });
        };
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(5)),
                Ok(None) => {
                    return Err(LabError::Timeout {
                        what: format!("exit of {}", self.name),
                        timeout,
                    });
                }
                Err(source) => {
                    return Err(LabError::Spawn {
                        command: self.name.clone(),
                        source,
                    });
                }
            }
        };
        self.child = None;
        // The pipes close at exit; collect what is left.
        let drain_deadline = Instant::now() + Duration::from_secs(2);
        loop {
            let left = drain_deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(item) => self.seen.push(item),
                Err(_) => break,
            }
        }
        let stdout = self
            .seen
            .iter()
            .filter(|(s, _)| *s == Stream::Stdout)
            .map(|(_, l)| l.as_str())
            .collect::<Vec<_>>()
            .join("\n");
        Ok((status, stdout))
    }

    /// SIGKILL and reap. Returns the instant the process was reaped, by
    /// which time the kernel has closed all of its sockets.
    pub fn kill(&mut self) -> Result<Instant, LabError> {
        if let Some(mut child) = self.child.take() {
            child.kill().map_err(|source| LabError::Spawn {
                command: format!("kill {}", self.name),
                source,
            })?;
            child.wait().map_err(|source| LabError::Spawn {
                command: format!("wait {}", self.name),
                source,
            })?;
        }
        Ok(Instant::now())
    }

    /// Everything the process printed so far (for failure messages).
    pub fn output_so_far(&mut self) -> String {
        while let Ok(item) = self.lines.try_recv() {
            self.seen.push(item);
        }
        self.transcript()
    }
}

impl Drop for LabProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
