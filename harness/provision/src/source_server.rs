//! The GitOps source server (`infraflux serve-source`) as a provider runs
//! it for `up --gitops`: a detached host process recorded under the
//! provider's state directory (so it outlives `up` and `down` stops it),
//! run from a copy of the binary (a rebuild of the original cannot orphan
//! it), listening where the cluster's nodes reach this host.

use std::io::{Read as _, Write as _};
use std::net::{IpAddr, SocketAddr, TcpStream, UdpSocket};
use std::path::Path;
use std::time::Duration;

use crate::local::procs::{Procs, wait_for};

/// The recorded process name.
pub const PROC: &str = "gitops-source";
/// The port it listens on.
pub const PORT: u16 = 8480;

/// Starts (or restarts) the server for `root` on `listen`; returns once it
/// answers `/healthz`.
pub fn start(state: &Path, program: &Path, root: &Path, listen: SocketAddr) -> Result<(), String> {
    let procs = Procs::new(state);
    stop(state);
    let bin_dir = state.join("bin");
    std::fs::create_dir_all(&bin_dir).map_err(|e| format!("{}: {e}", bin_dir.display()))?;
    let bin = bin_dir.join("infraflux-serve-source");
    let tmp = bin.with_extension("tmp");
    std::fs::copy(program, &tmp).map_err(|e| format!("copy {} to {}: {e}", program.display(), tmp.display()))?;
    std::fs::rename(&tmp, &bin).map_err(|e| format!("{}: {e}", bin.display()))?;
    let args = vec!["serve-source".to_owned(), "--root".to_owned(), root.display().to_string(), "--listen".to_owned(), listen.to_string()];
    let rec = procs.start(PROC, &bin, &args, None).map_err(|e| e.to_string())?;
    wait_for("the GitOps source server", Duration::from_secs(15), || {
        if !procs.alive(&rec) {
            return Err(format!("exited: {}", procs.log_tail(PROC, 10)));
        }
        healthz(listen).map_err(|e| e.to_string())
    })
    .map_err(|e| e.to_string())?;
    Ok(())
}

/// Stops the recorded server, if one runs.
pub fn stop(state: &Path) {
    let procs = Procs::new(state);
    if let Some(old) = procs.recorded().into_iter().find(|r| r.name == PROC) {
        procs.stop(&old, Duration::from_secs(5));
        let _ = std::fs::remove_file(procs.run_dir.join(format!("{PROC}.pid")));
    }
}

/// This host's address on the route to `to`: where a node at `to` reaches
/// the server. A routing-table lookup only (a UDP `connect` sends nothing).
pub fn route_source(to: IpAddr) -> Option<IpAddr> {
    let bind: SocketAddr = if to.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { ([0u16; 8], 0).into() };
    let s = UdpSocket::bind(bind).ok()?;
    s.connect(SocketAddr::new(to, 9)).ok()?;
    s.local_addr().ok().map(|a| a.ip()).filter(|ip| !ip.is_unspecified())
}

/// `GET /healthz` answers 200.
fn healthz(addr: SocketAddr) -> std::io::Result<()> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    s.write_all(b"GET /healthz HTTP/1.0\r\nHost: source\r\n\r\n")?;
    let mut buf = [0u8; 16];
    let n = s.read(&mut buf)?;
    if buf[..n].starts_with(b"HTTP/1.0 200") || buf[..n].starts_with(b"HTTP/1.1 200") {
        Ok(())
    } else {
        Err(std::io::Error::other(String::from_utf8_lossy(&buf[..n]).into_owned()))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_route_to_loopback_comes_from_loopback() {
        let lo = std::net::IpAddr::from([127, 0, 0, 1]);
        assert_eq!(super::route_source(lo), Some(lo));
    }
}
