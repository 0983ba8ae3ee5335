//! Real BGP implementations as lab peers, each driven through its own CLI:
//! FRR (bgpd + vtysh), BIRD 2 (bird + birdc) and gobgpd (gobgp CLI). The
//! harness's BGP speaker is only as good as its interoperability, and these
//! are the routers it meets: Cilium embeds GoBGP, and FRR and BIRD are what
//! the upstream router usually runs.
//!
//! Each peer runs in its own namespace with private config, control socket
//! and state, originates a set of static prefixes, and reports which
//! prefixes it learned from the harness. Needs `.ci/install-lab-bgpdns`.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::Ipv4Net;

use super::{LabError, LabProcess, LinkedPair, Netns, Result, poll, wait_for_path};

/// Longest any one peer CLI call (vtysh, birdc, gobgp) may take: they talk
/// to a daemon that may be busy converging.
pub const CLI_TIMEOUT: Duration = Duration::from_secs(30);

/// Parses prefixes written out in a test; a typo there is the test's bug.
pub fn nets(list: &[&str]) -> Vec<Ipv4Net> {
    list.iter()
        .map(|s| s.parse().unwrap_or_else(|e| panic!("bad prefix {s}: {e}")))
        .collect()
}

/// Addressing and AS numbers shared by every peer lab.
#[derive(Debug, Clone)]
pub struct PeerSpec {
    pub peer_asn: u32,
    pub harness_asn: u32,
    pub peer_ip: Ipv4Addr,
    pub harness_ip: Ipv4Addr,
    pub hold_secs: u16,
    /// The peer waits for the harness to connect (true) or connects itself.
    pub peer_passive: bool,
}

/// A real BGP daemon the harness peers with.
pub trait BgpPeer {
    fn name(&self) -> &'static str;
    /// Starts originating `prefixes` (in addition to those already originated).
    fn advertise(&mut self, prefixes: &[Ipv4Net]) -> Result<()>;
    /// Stops originating `prefixes`.
    fn withdraw(&mut self, prefixes: &[Ipv4Net]) -> Result<()>;
    /// Prefixes the peer holds in its table as learned from the harness.
    fn received_from_harness(&self) -> Result<BTreeSet<Ipv4Net>>;
    /// Kills the daemon outright (SIGKILL).
    fn kill(&mut self);
}

/// Two namespaces joined by a veth, `a` for the harness (our speaker) and
/// `b` for the peer, each end a /30 from the [`PeerSpec`].
#[derive(Debug)]
pub struct PeerLab {
    pub dir: LabDir,
    pub pair: LinkedPair,
}

impl PeerLab {
    pub fn new(spec: &PeerSpec) -> Result<PeerLab> {
        let pair = LinkedPair::with_addresses(spec.harness_ip, spec.peer_ip, 30)?;
        let dir = LabDir::new(pair.b.name())?;
        Ok(PeerLab { dir, pair })
    }

    /// The namespace our speaker connects or listens in.
    pub fn harness(&self) -> &Netns {
        &self.pair.a
    }

    /// The namespace the peer daemon runs in.
    pub fn peer(&self) -> &Netns {
        &self.pair.b
    }

    fn run(&self, program: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> Result<String> {
        self.peer().run(program, args, CLI_TIMEOUT)
    }
}

/// A private directory for a lab's configs, sockets and logs; removed on drop.
#[derive(Debug)]
pub struct LabDir {
    pub path: PathBuf,
}

impl LabDir {
    pub fn new(tag: &str) -> Result<LabDir> {
        let path = std::env::temp_dir().join(tag);
        std::fs::create_dir_all(&path).map_err(|source| LabError::File {
            path: path.display().to_string(),
            source,
        })?;
        Ok(LabDir { path })
    }

    pub fn write(&self, name: &str, text: &str) -> Result<PathBuf> {
        let p = self.path.join(name);
        std::fs::write(&p, text).map_err(|source| LabError::File {
            path: p.display().to_string(),
            source,
        })?;
        Ok(p)
    }

    /// The last lines of a log in this directory, for failure messages.
    pub fn tail(&self, name: &str, lines: usize) -> String {
        let text = std::fs::read_to_string(self.path.join(name)).unwrap_or_default();
        let v: Vec<&str> = text.lines().collect();
        v[v.len().saturating_sub(lines)..].join("\n")
    }
}

impl Drop for LabDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

fn parse_err(cmd: &str, message: impl Into<String>) -> LabError {
    LabError::Decode {
        what: cmd.to_string(),
        message: message.into(),
    }
}

// ---------------------------------------------------------------- FRR

/// FRR's bgpd without zebra; vtysh talks to it over a private vty socket.
pub struct Frr<'a> {
    lab: &'a PeerLab,
    spec: PeerSpec,
    daemon: LabProcess,
}

impl<'a> Frr<'a> {
    pub fn start(lab: &'a PeerLab, spec: &PeerSpec, prefixes: &[Ipv4Net]) -> Result<Frr<'a>> {
        let mut conf = format!(
            "frr defaults traditional\nhostname ifx-peer\nlog stdout\n!\nrouter bgp {asn}\n bgp router-id {id}\n \
             no bgp ebgp-requires-policy\n no bgp network import-check\n \
             neighbor {h} remote-as {hasn}\n neighbor {h} timers {ka} {hold}\n neighbor {h} timers connect 1\n",
            asn = spec.peer_asn,
            id = spec.peer_ip,
            h = spec.harness_ip,
            hasn = spec.harness_asn,
            ka = (spec.hold_secs / 3).max(1),
            hold = spec.hold_secs,
        );
        if spec.peer_passive {
            conf.push_str(&format!(" neighbor {} passive\n", spec.harness_ip));
        }
        conf.push_str(" address-family ipv4 unicast\n");
        for p in prefixes {
            conf.push_str(&format!("  network {p}\n"));
        }
        conf.push_str(" exit-address-family\n!\n");
        let d = &lab.dir.path;
        let cfg = lab.dir.write("bgpd.conf", &conf)?;
        let cfg_s = cfg.display().to_string();
        let pid = d.join("bgpd.pid").display().to_string();
        let vty = d.display().to_string();
        let listen = spec.peer_ip.to_string();
        // -Z: no zebra (nothing to install in a kernel FIB); -S: stay root so
        // the private state dir needs no frr ownership; -P 0: no TCP vty.
        let daemon = lab.peer().spawn_logged(
            "/usr/lib/frr/bgpd",
            &["-f", &cfg_s, "-i", &pid, "--vty_socket", &vty, "-Z", "-S", "-l", &listen, "-P", "0"],
            &d.join("bgpd.log"),
        )?;
        wait_for_path(&d.join("bgpd.vty"), Duration::from_secs(10))?;
        Ok(Frr { lab, spec: spec.clone(), daemon })
    }

    fn vtysh(&self, cmds: &[String]) -> Result<String> {
        let vty = self.lab.dir.path.display().to_string();
        let mut args: Vec<&str> = vec!["--vty_socket", &vty];
        for c in cmds {
            args.push("-c");
            args.push(c);
        }
        self.lab.run("vtysh", &args)
    }

    fn set_networks(&mut self, prefixes: &[Ipv4Net], add: bool) -> Result<()> {
        let mut cmds = vec![
            "configure terminal".to_string(),
            format!("router bgp {}", self.spec.peer_asn),
            "address-family ipv4 unicast".to_string(),
        ];
        for p in prefixes {
            cmds.push(format!("{}network {p}", if add { "" } else { "no " }));
        }
        self.vtysh(&cmds).map(|_| ())
    }

    pub fn log_tail(&self) -> String {
        self.lab.dir.tail("bgpd.log", 30)
    }

    /// `show bgp neighbors <harness> json`: FRR's own view of the session
    /// with the harness (state, last reset reason, last notification).
    pub fn neighbor_json(&self) -> Result<serde_json::Value> {
        let cmd = format!("show bgp neighbors {} json", self.spec.harness_ip);
        let out = self.vtysh(std::slice::from_ref(&cmd))?;
        serde_json::from_str(&out).map_err(|e| parse_err(&cmd, e.to_string()))
    }
}

impl BgpPeer for Frr<'_> {
    fn name(&self) -> &'static str {
        "frr"
    }

    fn advertise(&mut self, prefixes: &[Ipv4Net]) -> Result<()> {
        self.set_networks(prefixes, true)
    }

    fn withdraw(&mut self, prefixes: &[Ipv4Net]) -> Result<()> {
        self.set_networks(prefixes, false)
    }

    fn received_from_harness(&self) -> Result<BTreeSet<Ipv4Net>> {
        let cmd = "show bgp ipv4 unicast json";
        let out = self.vtysh(&[cmd.to_string()])?;
        let v: serde_json::Value = serde_json::from_str(&out).map_err(|e| parse_err(cmd, e.to_string()))?;
        let mut got = BTreeSet::new();
        let Some(routes) = v.get("routes").and_then(|r| r.as_object()) else {
            return Ok(got);
        };
        let harness = self.spec.harness_ip.to_string();
        for (prefix, paths) in routes {
            let from_harness = paths.as_array().is_some_and(|ps| {
                ps.iter().any(|p| p.get("peerId").and_then(|x| x.as_str()) == Some(harness.as_str()))
            });
            if from_harness {
                got.insert(prefix.parse().map_err(|_| parse_err(cmd, format!("bad prefix {prefix}")))?);
            }
        }
        Ok(got)
    }

    fn kill(&mut self) {
        let _ = self.daemon.kill();
    }
}

// ---------------------------------------------------------------- BIRD

/// BIRD 2 with a static protocol for the originated prefixes; changes are
/// a config rewrite plus `birdc configure`, the way operators drive it.
pub struct Bird<'a> {
    lab: &'a PeerLab,
    spec: PeerSpec,
    originated: BTreeSet<Ipv4Net>,
    daemon: LabProcess,
}

impl<'a> Bird<'a> {
    pub fn start(lab: &'a PeerLab, spec: &PeerSpec, prefixes: &[Ipv4Net]) -> Result<Bird<'a>> {
        let originated: BTreeSet<Ipv4Net> = prefixes.iter().copied().collect();
        let cfg = write_bird_config(lab, spec, &originated)?;
        let d = &lab.dir.path;
        let ctl = d.join("bird.ctl");
        let daemon = lab.peer().spawn_logged(
            "bird",
            &[
                "-f",
                "-c",
                &cfg.display().to_string(),
                "-s",
                &ctl.display().to_string(),
                "-P",
                &d.join("bird.pid").display().to_string(),
            ],
            &d.join("bird.log"),
        )?;
        wait_for_path(&ctl, Duration::from_secs(10))?;
        Ok(Bird { lab, spec: spec.clone(), originated, daemon })
    }

    fn birdc(&self, args: &[&str]) -> Result<String> {
        let ctl = self.lab.dir.path.join("bird.ctl").display().to_string();
        let mut a = vec!["-s", ctl.as_str()];
        a.extend_from_slice(args);
        self.lab.run("birdc", &a)
    }

    fn reconfigure(&self) -> Result<()> {
        write_bird_config(self.lab, &self.spec, &self.originated)?;
        let out = self.birdc(&["configure"])?;
        if out.contains("Reconfigured") || out.contains("Reconfiguration in progress") {
            Ok(())
        } else {
            Err(parse_err("birdc configure", out.trim().to_string()))
        }
    }

    /// Administratively disables the session (`birdc disable`): BIRD sends
    /// a Cease NOTIFICATION and stops.
    pub fn disable_session(&self) -> Result<()> {
        self.birdc(&["disable", "harness"]).map(|_| ())
    }

    pub fn log_tail(&self) -> String {
        self.lab.dir.tail("bird.log", 30)
    }
}

impl BgpPeer for Bird<'_> {
    fn name(&self) -> &'static str {
        "bird"
    }

    fn advertise(&mut self, prefixes: &[Ipv4Net]) -> Result<()> {
        self.originated.extend(prefixes.iter().copied());
        self.reconfigure()
    }

    fn withdraw(&mut self, prefixes: &[Ipv4Net]) -> Result<()> {
        for p in prefixes {
            self.originated.remove(p);
        }
        self.reconfigure()
    }

    fn received_from_harness(&self) -> Result<BTreeSet<Ipv4Net>> {
        let out = self.birdc(&["show", "route", "protocol", "harness"])?;
        Ok(parse_bird_routes(&out))
    }

    fn kill(&mut self) {
        let _ = self.daemon.kill();
    }
}

fn write_bird_config(lab: &PeerLab, s: &PeerSpec, originated: &BTreeSet<Ipv4Net>) -> Result<PathBuf> {
    let mut statics = String::new();
    for p in originated {
        statics.push_str(&format!("  route {p} blackhole;\n"));
    }
    let conf = format!(
        "router id {id};\nprotocol device {{}}\nprotocol static originated {{\n  ipv4;\n{statics}}}\n\
         protocol bgp harness {{\n  local {id} as {asn};\n  neighbor {h} as {hasn};\n  {passive}\n  \
         hold time {hold};\n  connect retry time 1;\n  ipv4 {{ import all; export where source = RTS_STATIC; }};\n}}\n",
        id = s.peer_ip,
        asn = s.peer_asn,
        h = s.harness_ip,
        hasn = s.harness_asn,
        passive = if s.peer_passive { "passive on;" } else { "" },
        hold = s.hold_secs,
    );
    lab.dir.write("bird.conf", &conf)
}

/// Prefixes from `birdc show route` text: each route starts a line with its
/// network; continuation lines (alternative paths, attributes) are indented.
pub fn parse_bird_routes(out: &str) -> BTreeSet<Ipv4Net> {
    out.lines()
        .filter(|l| !l.starts_with(char::is_whitespace))
        .filter_map(|l| l.split_whitespace().next())
        .filter_map(|t| t.parse::<Ipv4Net>().ok())
        .collect()
}

// ---------------------------------------------------------------- gobgpd

/// gobgpd (the BGP library Cilium embeds, as a daemon) driven over its
/// gRPC API with the gobgp CLI, on the namespace's own loopback.
pub struct GoBgp<'a> {
    lab: &'a PeerLab,
    spec: PeerSpec,
    bin: PathBuf,
    daemon: LabProcess,
}

const GOBGP_API: &str = "127.0.0.1";
const GOBGP_PORT: &str = "50051";

impl<'a> GoBgp<'a> {
    pub fn start(lab: &'a PeerLab, spec: &PeerSpec, prefixes: &[Ipv4Net], bin: &Path) -> Result<GoBgp<'a>> {
        let s = spec;
        let conf = format!(
            "[global.config]\n  as = {asn}\n  router-id = \"{id}\"\n  port = 179\n  local-address-list = [\"{id}\"]\n\
             [[neighbors]]\n  [neighbors.config]\n    neighbor-address = \"{h}\"\n    peer-as = {hasn}\n\
               [neighbors.timers.config]\n    hold-time = {hold}\n    keepalive-interval = {ka}\n    connect-retry = 1\n\
               [neighbors.transport.config]\n    passive-mode = {passive}\n\
               [[neighbors.afi-safis]]\n    [neighbors.afi-safis.config]\n      afi-safi-name = \"ipv4-unicast\"\n",
            asn = s.peer_asn,
            id = s.peer_ip,
            h = s.harness_ip,
            hasn = s.harness_asn,
            hold = s.hold_secs,
            ka = (s.hold_secs / 3).max(1),
            passive = s.peer_passive,
        );
        let cfg = lab.dir.write("gobgpd.toml", &conf)?;
        let gobgpd = bin.join("gobgpd");
        let api = format!("{GOBGP_API}:{GOBGP_PORT}");
        let daemon = lab.peer().spawn_logged(
            gobgpd,
            &["-f", &cfg.display().to_string(), "-t", "toml", "--api-hosts", &api, "--pprof-disable", "-p"],
            &lab.dir.path.join("gobgpd.log"),
        )?;
        let mut g = GoBgp { lab, spec: spec.clone(), bin: bin.to_path_buf(), daemon };
        // The API answers once the daemon has loaded its config.
        poll("gobgpd api", Duration::from_secs(15), Duration::from_millis(100), || {
            g.cli(&["global"]).ok()
        })?;
        if !prefixes.is_empty() {
            g.advertise(prefixes)?;
        }
        Ok(g)
    }

    fn cli(&self, args: &[&str]) -> Result<String> {
        let mut a = vec!["-u", GOBGP_API, "-p", GOBGP_PORT];
        a.extend_from_slice(args);
        self.lab.run(self.bin.join("gobgp"), &a)
    }

    pub fn log_tail(&self) -> String {
        self.lab.dir.tail("gobgpd.log", 30)
    }
}

impl BgpPeer for GoBgp<'_> {
    fn name(&self) -> &'static str {
        "gobgpd"
    }

    fn advertise(&mut self, prefixes: &[Ipv4Net]) -> Result<()> {
        for p in prefixes {
            self.cli(&["global", "rib", "add", "-a", "ipv4", &p.to_string()])?;
        }
        Ok(())
    }

    fn withdraw(&mut self, prefixes: &[Ipv4Net]) -> Result<()> {
        for p in prefixes {
            self.cli(&["global", "rib", "del", "-a", "ipv4", &p.to_string()])?;
        }
        Ok(())
    }

    fn received_from_harness(&self) -> Result<BTreeSet<Ipv4Net>> {
        let h = self.spec.harness_ip.to_string();
        let cmd = format!("gobgp neighbor {h} adj-in -a ipv4 -j");
        let out = self.cli(&["neighbor", &h, "adj-in", "-a", "ipv4", "-j"])?;
        let trimmed = out.trim();
        if trimmed.is_empty() || trimmed == "null" {
            return Ok(BTreeSet::new());
        }
        let v: serde_json::Value = serde_json::from_str(trimmed).map_err(|e| parse_err(&cmd, e.to_string()))?;
        let obj = v.as_object().ok_or_else(|| parse_err(&cmd, "expected a json object"))?;
        obj.keys()
            .map(|k| k.parse().map_err(|_| parse_err(&cmd, format!("bad prefix {k}"))))
            .collect()
    }

    fn kill(&mut self) {
        let _ = self.daemon.kill();
    }
}

/// Where `.ci/install-lab-bgpdns` put gobgpd and gobgp: `$INFRAFLUX_GOBGP_DIR`,
/// else `$INFRAFLUX_CACHE/bin/gobgp-<GOBGP_VERSION>` (cache default as in `.ci/cache.sh`).
pub fn gobgp_bin_dir() -> PathBuf {
    if let Ok(d) = std::env::var("INFRAFLUX_GOBGP_DIR") {
        return PathBuf::from(d);
    }
    let version = infraflux_model::pins::pinned("GOBGP_VERSION");
    let cache = infraflux_provision::local::cache_dir();
    cache.join("bin").join(format!("gobgp-{version}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bird_route_listing_yields_only_networks() {
        let out = "BIRD 2.0.12 ready.\nTable master4:\n10.9.1.0/24          unicast [harness 04:13:00.000] * (100) [AS65001i]\n\
                   \tvia 10.198.0.1 on ifb1\n10.9.2.0/24          unicast [harness 04:13:00.000] * (100) [AS65001i]\n\tvia 10.198.0.1 on ifb1\n";
        let got: Vec<String> = parse_bird_routes(out).iter().map(|p| p.to_string()).collect();
        assert_eq!(got, vec!["10.9.1.0/24", "10.9.2.0/24"]);
    }
}
