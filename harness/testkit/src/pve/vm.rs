//! What a "started VM" is for the Proxmox-API test server: a network
//! namespace holding the address cloud-init's `ipconfig0` asked for and a
//! real OpenSSH server that accepts the `sshkeys` it was given.
//!
//! ```text
//!  host netns                 ifxpve-<tag>-hub               ifxpve-<tag>-<vmid>
//!  ifxpve<tag> 10.91.N.1/24 <-veth-> up0 ─ br0 ─ v<vmid> <-veth-> eth0 10.91.N.x/24
//!                                                                  sshd (real)
//! ```
//!
//! The only host-side change is the `ifxpve<tag>` link with its /24 (the
//! SSH client runs on the host); it is created from inside the hub
//! namespace and dies with it. No default route leads anywhere: a VM's
//! gateway is whatever the profile says, and nothing in the lab answers
//! for it, so nothing a node does can reach the host's uplink.
//!
//! The node's files must not land on the host: sshd runs in its own mount
//! namespace with overlays on `/etc`, `/var/lib` and `/usr/local` whose
//! upper layers are the VM's "disk" (a directory the test reads back), a
//! private `/run`, and `swapoff` replaced by `true` (swap is host-wide).

use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::lab::netns::{run_command, run_ip};
use crate::lab::{COMMAND_TIMEOUT, LabError};

/// Every namespace and link this module creates starts with this.
pub const PREFIX: &str = "ifxpve";
/// The lab's addresses: one /24 per running test server.
pub const LAB_NET: &str = "10.91.0.0/16";

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn base36(mut n: u64) -> String {
    let digits = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(digits[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

fn pid_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Removes `ifxpve-<pid>…` namespaces whose process is gone (a test killed
/// by a signal runs no destructors); their host links die with them.
pub fn cleanup_stale() {
    let Ok(list) = run_ip(&["netns", "list"]) else { return };
    for name in list.lines().filter_map(|l| l.split_whitespace().next()) {
        let Some(rest) = name.strip_prefix(&format!("{PREFIX}-")) else { continue };
        let Some(pid) = rest.split('_').next().and_then(|p| u32::from_str_radix(p, 36).ok()) else { continue };
        if !pid_alive(pid) {
            crate::lab::netns::kill_pids_in(name);
            let _ = run_ip(&["netns", "del", name]);
        }
    }
}

/// The hub: a bridge in its own namespace, linked to the host.
#[derive(Debug)]
pub struct Lab {
    tag: String,
    hub: String,
    /// 10.91.N.0/24's N.
    octet: u8,
}

impl Lab {
    /// Needs root. Picks a /24 of [`LAB_NET`] no host interface uses.
    pub fn create() -> Result<Lab, LabError> {
        if !nix::unistd::Uid::effective().is_root() {
            return Err(LabError::NotRoot);
        }
        cleanup_stale();
        let tag = format!("{}_{}", base36(u64::from(std::process::id())), base36(u64::from(COUNTER.fetch_add(1, Ordering::Relaxed))));
        let used = run_ip(&["-4", "addr", "show"])?;
        let start = (std::process::id() % 200) as u8;
        let octet = (0..250u16)
            .map(|i| ((u16::from(start) + i) % 250 + 1) as u8)
            .find(|n| !used.contains(&format!("10.91.{n}.")))
            .ok_or_else(|| LabError::Command { command: "pick a lab subnet".into(), status: "none free".into(), stderr: String::new() })?;
        let hub = format!("{PREFIX}-{tag}-hub");
        run_ip(&["netns", "add", &hub])?;
        let lab = Lab { tag, hub, octet };
        let h = |args: &[&str]| {
            let mut v = vec!["-n", lab.hub.as_str()];
            v.extend_from_slice(args);
            run_ip(&v)
        };
        h(&["link", "set", "lo", "up"])?;
        h(&["link", "add", "br0", "type", "bridge"])?;
        h(&["link", "set", "br0", "up"])?;
        let me = std::process::id().to_string();
        h(&["link", "add", "up0", "type", "veth", "peer", "name", &lab.host_link(), "netns", &me])?;
        h(&["link", "set", "up0", "master", "br0", "up"])?;
        run_ip(&["addr", "add", &format!("{}/24", lab.host_ip()), "dev", &lab.host_link()])?;
        run_ip(&["link", "set", &lab.host_link(), "up"])?;
        Ok(lab)
    }

    fn host_link(&self) -> String {
        format!("{PREFIX}{}", self.tag)
    }

    /// The host's address in the lab (where the SSH client comes from).
    pub fn host_ip(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, 91, self.octet, 1)
    }

    /// `n` in the lab's /24.
    pub fn ip(&self, n: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, 91, self.octet, n)
    }

    pub fn cidr(&self) -> String {
        format!("10.91.{}.0/24", self.octet)
    }

    /// Boots "VM" `vmid`: namespace, address, sshd with `authorized_keys`
    /// for root and a fresh host key, files under `disk`.
    pub fn start_vm(&self, vmid: u32, ip: Ipv4Addr, prefix: u8, authorized_keys: &str, nameserver: Option<&str>, disk: &Path) -> Result<LabVm, LabError> {
        let ns = format!("{PREFIX}-{}-{vmid}", self.tag);
        run_ip(&["netns", "add", &ns])?;
        let mut vm = LabVm { ns: ns.clone(), sshd: None, host_key_pub: String::new(), disk: disk.to_path_buf(), ip };
        let peer = format!("v{vmid}");
        run_ip(&["-n", &self.hub, "link", "add", &peer, "type", "veth", "peer", "name", "eth0", "netns", &ns])?;
        run_ip(&["-n", &self.hub, "link", "set", &peer, "master", "br0", "up"])?;
        run_ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        run_ip(&["-n", &ns, "addr", "add", &format!("{ip}/{prefix}"), "dev", "eth0"])?;
        run_ip(&["-n", &ns, "link", "set", "eth0", "up"])?;
        let io = |e: std::io::Error| LabError::Spawn { command: format!("prepare {}", disk.display()), source: e };
        for d in ["etc", "etc.work", "varlib", "varlib.work", "usrlocal", "usrlocal.work", "ssh"] {
            std::fs::create_dir_all(disk.join(d)).map_err(io)?;
        }
        // cloud-init's `nameserver`; none given: a resolver nobody runs.
        std::fs::write(disk.join("etc/resolv.conf"), format!("nameserver {}\n", nameserver.unwrap_or("127.0.0.1"))).map_err(io)?;
        let key = disk.join("ssh/host_ed25519");
        run_command(Command::new("ssh-keygen").args(["-q", "-t", "ed25519", "-N", "", "-C", &format!("vm{vmid}"), "-f"]).arg(&key), None, COMMAND_TIMEOUT)?;
        vm.host_key_pub = std::fs::read_to_string(disk.join("ssh/host_ed25519.pub")).map_err(io)?;
        std::fs::write(disk.join("ssh/authorized_keys"), authorized_keys).map_err(io)?;
        let d = disk.display();
        std::fs::write(
            disk.join("ssh/sshd_config"),
            format!(
                "ListenAddress {ip}\nPort 22\nHostKey {d}/ssh/host_ed25519\nAuthorizedKeysFile {d}/ssh/authorized_keys\nPidFile none\nUsePAM no\nStrictModes no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\nAllowUsers root\n"
            ),
        )
        .map_err(io)?;
        let overlay = |low: &str, up: &str| format!("mount -t overlay overlay -o lowerdir={low},upperdir={d}/{up},workdir={d}/{up}.work {low}\n");
        let script = format!(
            "set -e\n{}{}{}mount -t tmpfs tmpfs /run\nmkdir -p /run/sshd\nmount --bind /bin/true \"$(command -v swapoff)\"\nexec /usr/sbin/sshd -D -e -f {d}/ssh/sshd_config\n",
            overlay("/etc", "etc"),
            overlay("/var/lib", "varlib"),
            overlay("/usr/local", "usrlocal"),
        );
        let log = std::fs::File::create(disk.join("sshd.log")).map_err(io)?;
        let log2 = log.try_clone().map_err(io)?;
        let child = Command::new("ip")
            .args(["netns", "exec", &ns, "unshare", "--mount", "--propagation", "private", "sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .map_err(|source| LabError::Spawn { command: format!("sshd in {ns}"), source })?;
        vm.sshd = Some(child);
        Ok(vm)
    }

    /// Is sshd of `vm` accepting connections (what the guest agent's
    /// answering stands for)?
    pub fn listening(vm: &LabVm) -> bool {
        TcpStream::connect_timeout(&SocketAddr::from((vm.ip, 22)), Duration::from_millis(200)).is_ok()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // The hub's veth peer (the host link) goes with the namespace.
        crate::lab::netns::kill_pids_in(&self.hub);
        let _ = run_ip(&["netns", "del", &self.hub]);
        let _ = run_ip(&["link", "del", &self.host_link()]);
    }
}

/// One running "VM"; stopped (sshd killed, namespace deleted) on drop.
#[derive(Debug)]
pub struct LabVm {
    ns: String,
    sshd: Option<Child>,
    pub host_key_pub: String,
    pub disk: PathBuf,
    pub ip: Ipv4Addr,
}

impl LabVm {
    /// The VM's network namespace, to run a client "on the node".
    pub fn netns(&self) -> &str {
        &self.ns
    }

    /// Waits until sshd accepts connections.
    pub fn wait_listening(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if Lab::listening(self) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

impl Drop for LabVm {
    fn drop(&mut self) {
        if let Some(mut c) = self.sshd.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        crate::lab::netns::kill_pids_in(&self.ns);
        let _ = run_ip(&["netns", "del", &self.ns]);
    }
}
