//! A real authoritative server for the lab: Knot DNS (`knotd`), changed
//! only through `knotc` zone transactions so every write is atomic and
//! served immediately, the way a provider's edge would serve it.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use infraflux_engine::dns::{Error, Result};

/// One record as written to the zone (owner is a name inside the zone, FQDN with trailing dot).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneRecord {
    pub owner: String,
    pub ttl: u32,
    pub rtype: String,
    /// Presentation-format RDATA (TXT already quoted).
    pub rdata: String,
}

/// A running knotd serving one zone on 127.0.0.1 (UDP and TCP).
#[derive(Debug)]
pub struct Knot {
    dir: PathBuf,
    conf: PathBuf,
    zone: String,
    addr: SocketAddr,
    child: Option<Child>,
}

fn io_err(what: &str, path: &Path, source: std::io::Error) -> Error {
    Error::Server(format!("failed to {what} {}: {source}", path.display()))
}

/// A port free for both UDP and TCP on loopback right now.
fn free_port() -> Result<u16> {
    for _ in 0..20 {
        let tcp = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .map_err(|e| Error::Server(format!("failed to find a free port: {e}")))?;
        let port = tcp.local_addr().map_err(|e| Error::Server(e.to_string()))?.port();
        if std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return Ok(port);
        }
    }
    Err(Error::Server("failed to find a port free for udp and tcp".into()))
}

impl Knot {
    /// Starts knotd in `dir` serving `zone` (no trailing dot needed) seeded
    /// with `seed` (zone-file lines after the SOA and NS, e.g. foreign records).
    pub fn start(dir: &Path, zone: &str, seed: &[ZoneRecord]) -> Result<Knot> {
        let zone = zone.trim_end_matches('.').to_string();
        std::fs::create_dir_all(dir).map_err(|e| io_err("create", dir, e))?;
        let port = free_port()?;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let mut zf = format!(
            "$ORIGIN {zone}.\n$TTL 300\n@ 300 IN SOA ns1.{zone}. hostmaster.{zone}. 1 3600 600 86400 60\n@ 300 IN NS ns1.{zone}.\nns1 300 IN A 127.0.0.1\n"
        );
        for r in seed {
            zf.push_str(&format!("{} {} IN {} {}\n", r.owner, r.ttl, r.rtype, r.rdata));
        }
        let zpath = dir.join(format!("{zone}.zone"));
        std::fs::write(&zpath, zf).map_err(|e| io_err("write", &zpath, e))?;
        let d = dir.display();
        let conf_text = format!(
            "server:\n    rundir: \"{d}\"\n    listen: 127.0.0.1@{port}\n\
             database:\n    storage: \"{d}\"\n\
             log:\n  - target: stderr\n    any: info\n\
             template:\n  - id: default\n    storage: \"{d}\"\n    file: \"%s.zone\"\n    zonefile-sync: -1\n    journal-content: changes\n\
             zone:\n  - domain: {zone}.\n"
        );
        let conf = dir.join("knot.conf");
        std::fs::write(&conf, conf_text).map_err(|e| io_err("write", &conf, e))?;
        let log = dir.join("knotd.log");
        let out = std::fs::File::create(&log).map_err(|e| io_err("create", &log, e))?;
        let err = out.try_clone().map_err(|e| io_err("open", &log, e))?;
        let child = Command::new("knotd")
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| Error::Server(format!("failed to start knotd (is knot installed?): {e}")))?;
        let knot = Knot {
            dir: dir.to_path_buf(),
            conf,
            zone,
            addr,
            child: Some(child),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if knot.knotc(&["zone-status", &format!("{}.", knot.zone)]).is_ok() {
                break;
            }
            if Instant::now() > deadline {
                return Err(Error::Server(format!(
                    "knotd did not come up within 10s; log:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(knot)
    }

    /// Where the zone is served (UDP and TCP).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn zone(&self) -> &str {
        &self.zone
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn knotc(&self, args: &[&str]) -> Result<String> {
        // coreutils timeout: a wedged control socket must not hang the caller.
        let out = Command::new("timeout")
            .args(["--kill-after=5", "30", "knotc", "-c"])
            .arg(&self.conf)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| Error::Server(format!("failed to run knotc: {e}")))?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if !out.status.success() || stdout.contains("error:") {
            return Err(Error::Server(format!(
                "knotc {} failed: {}{}",
                args.join(" "),
                stdout.trim(),
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(stdout)
    }

    /// Applies removals then additions in one transaction; on any failure
    /// the transaction is aborted, so the served zone never shows half a change.
    pub fn apply(&self, remove: &[ZoneRecord], add: &[ZoneRecord]) -> Result<()> {
        let z = format!("{}.", self.zone);
        self.knotc(&["zone-begin", &z])?;
        let r = (|| {
            for r in remove {
                self.knotc(&["zone-unset", &z, &r.owner, &r.rtype, &r.rdata])?;
            }
            for r in add {
                let ttl = r.ttl.to_string();
                self.knotc(&["zone-set", &z, &r.owner, &ttl, &r.rtype, &r.rdata])?;
            }
            self.knotc(&["zone-commit", &z]).map(|_| ())
        })();
        if r.is_err() {
            let _ = self.knotc(&["zone-abort", &z]);
        }
        r
    }

    /// The zone's current contents as knotc reads them (`zone-read`).
    pub fn read(&self) -> Result<String> {
        self.knotc(&["zone-read", &format!("{}.", self.zone)])
    }
}

impl Drop for Knot {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
