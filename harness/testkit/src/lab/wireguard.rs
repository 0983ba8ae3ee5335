//! A userspace WireGuard tunnel between the two ends of a [`LinkedPair`].
//! The CI kernel has no WireGuard module, so the device is boringtun (a TUN
//! device plus a UAPI socket under /var/run/wireguard) configured with the
//! ordinary `wg` tool. Keys are generated per tunnel and passed over stdin,
//! never written to disk.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use super::netns::run_command;
use super::{
    COMMAND_TIMEOUT, LabError, LabProcess, LinkedPair, Netns, find_program, wait_for_path,
};

/// The port Cilium uses for WireGuard.
pub const WG_PORT: u16 = 51871;
const UAPI_DIR: &str = "/var/run/wireguard";
const START_TIMEOUT: Duration = Duration::from_secs(10);

struct Keys {
    private: String,
    public: String,
}

fn keys(wg: &PathBuf) -> Result<Keys, LabError> {
    let private = run_command(Command::new(wg).arg("genkey"), None, COMMAND_TIMEOUT)?
        .trim()
        .to_string();
    let public = run_command(
        Command::new(wg).arg("pubkey"),
        Some(format!("{private}\n").as_bytes()),
        COMMAND_TIMEOUT,
    )?
    .trim()
    .to_string();
    Ok(Keys { private, public })
}

/// One boringtun device; the process is killed and its UAPI socket removed
/// on drop (the TUN interface disappears with the process).
pub struct WgDevice {
    pub ifname: String,
    sock: PathBuf,
    process: LabProcess,
}

impl WgDevice {
    fn start(ns: &Netns, ifname: &str) -> Result<WgDevice, LabError> {
        let boringtun = find_program("boringtun-cli")?;
        let sock = PathBuf::from(format!("{UAPI_DIR}/{ifname}.sock"));
        let mut cmd = ns.command(&boringtun);
        cmd.args([
            ifname,
            "--foreground",
            "--disable-drop-privileges",
            "--threads",
            "2",
        ]);
        let mut process = LabProcess::spawn(&format!("boringtun {ifname}"), &mut cmd)?;
        wait_for_path(&sock, START_TIMEOUT).map_err(|_| LabError::Timeout {
            what: format!(
                "UAPI socket {} ({})",
                sock.display(),
                process.output_so_far()
            ),
            timeout: START_TIMEOUT,
        })?;
        Ok(WgDevice {
            ifname: ifname.to_string(),
            sock,
            process,
        })
    }
}

impl Drop for WgDevice {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = std::fs::remove_file(&self.sock);
    }
}

/// Tunnel addresses: `a` is 10.200.0.1, `b` is 10.200.0.2 (a /24 on the
/// WireGuard devices, inside the namespaces only).
pub struct WgTunnel {
    pub a_inner: Ipv4Addr,
    pub b_inner: Ipv4Addr,
    pub a_dev: WgDevice,
    pub b_dev: WgDevice,
}

pub const INNER_PREFIX_LEN: u8 = 24;

impl WgTunnel {
    pub fn create(pair: &LinkedPair) -> Result<WgTunnel, LabError> {
        let wg = find_program("wg")?;
        let a_inner = Ipv4Addr::new(10, 200, 0, 1);
        let b_inner = Ipv4Addr::new(10, 200, 0, 2);
        let a_dev = WgDevice::start(&pair.a, &format!("ifw{}a", pair.tag))?;
        let b_dev = WgDevice::start(&pair.b, &format!("ifw{}b", pair.tag))?;
        let ka = keys(&wg)?;
        let kb = keys(&wg)?;
        let configure = |ns: &Netns,
                         dev: &WgDevice,
                         own: &Keys,
                         peer: &Keys,
                         peer_ip: Ipv4Addr,
                         peer_inner: Ipv4Addr,
                         inner: Ipv4Addr| {
            let mut cmd = ns.command(&wg);
            cmd.args([
                "set",
                &dev.ifname,
                "listen-port",
                &WG_PORT.to_string(),
                "private-key",
                "/dev/stdin",
            ])
            .args([
                "peer",
                &peer.public,
                "allowed-ips",
                &format!("{peer_inner}/32"),
            ])
            .args(["endpoint", &format!("{peer_ip}:{WG_PORT}")]);
            run_command(
                &mut cmd,
                Some(format!("{}\n", own.private).as_bytes()),
                COMMAND_TIMEOUT,
            )?;
            ns.ip(&[
                "addr",
                "add",
                &format!("{inner}/{INNER_PREFIX_LEN}"),
                "dev",
                &dev.ifname,
            ])?;
            ns.ip(&["link", "set", &dev.ifname, "up"])?;
            Ok::<(), LabError>(())
        };
        configure(&pair.a, &a_dev, &ka, &kb, pair.b_ip, b_inner, a_inner)?;
        configure(&pair.b, &b_dev, &kb, &ka, pair.a_ip, a_inner, b_inner)?;
        Ok(WgTunnel {
            a_inner,
            b_inner,
            a_dev,
            b_dev,
        })
    }
}

/// The unencrypted twin of [`WgTunnel`] for the sanity mode of the leak
/// check: the same inner addresses, but configured directly on the veths,
/// so identical traffic crosses the wire in plaintext.
pub fn plain_inner_addresses(pair: &LinkedPair) -> Result<(Ipv4Addr, Ipv4Addr), LabError> {
    let a_inner = Ipv4Addr::new(10, 200, 0, 1);
    let b_inner = Ipv4Addr::new(10, 200, 0, 2);
    pair.a.ip(&[
        "addr",
        "add",
        &format!("{a_inner}/{INNER_PREFIX_LEN}"),
        "dev",
        &pair.a_if,
    ])?;
    pair.b.ip(&[
        "addr",
        "add",
        &format!("{b_inner}/{INNER_PREFIX_LEN}"),
        "dev",
        &pair.b_if,
    ])?;
    Ok((a_inner, b_inner))
}
