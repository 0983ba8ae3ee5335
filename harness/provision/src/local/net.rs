//! The node's network: a veth whose host end carries the node address and
//! whose peer sits in a "router" namespace, and an "external client"
//! namespace behind the router. Nothing here touches the host's uplink: the
//! only host-side change is the `ifx0` link and its /24, and Cilium is told
//! to use that link alone.
//!
//! ```text
//!  host netns (the node)          ifx-router                 ifx-client
//!  ifx0 10.89.0.2/24  <-veth->  eth0 10.89.0.1/24
//!       10.89.0.10/32 (API server)
//!                               eth1 10.89.1.1/24 <-veth->  eth0 10.89.1.2/24
//!                               FRR bgpd AS<peer>           default via 10.89.1.1
//! ```

use std::process::Command;

use super::LocalError;

pub const NODE_LINK: &str = "ifx0";
pub const ROUTER_NS: &str = "ifx-router";
pub const CLIENT_NS: &str = "ifx-client";
pub const NODE_IP: &str = "10.89.0.2";
pub const ROUTER_IP: &str = "10.89.0.1";
/// The API server's address: a second address on the node link, as a VIP
/// would be on a real site (kube-vip, keepalived).
pub const API_IP: &str = "10.89.0.10";
pub const ROUTER_CLIENT_IP: &str = "10.89.1.1";
pub const CLIENT_IP: &str = "10.89.1.2";
pub const NODE_CIDR: &str = "10.89.0.0/24";
/// Every lab address (node link, client link, VIPs).
pub const LAB_CIDR: &str = "10.89.0.0/16";
pub const POD_CIDR: &str = "10.244.0.0/16";
pub const SERVICE_CIDR: &str = "10.96.0.0/16";
pub const KUBERNETES_SERVICE_IP: &str = "10.96.0.1";
pub const DNS_SERVICE_IP: &str = "10.96.0.10";
/// LoadBalancer VIPs: a routed prefix of the lab, advertised by Cilium's BGP
/// to the router and reachable from the client through the node.
pub const VIP_CIDR: &str = "10.89.100.0/24";

pub fn ip(args: &[&str]) -> Result<String, LocalError> {
    run("ip", args)
}

/// `ip -n <ns> args…`.
fn ip_in(ns: &str, args: &[&str]) -> Result<String, LocalError> {
    let v: Vec<&str> = ["-n", ns].into_iter().chain(args.iter().copied()).collect();
    ip(&v)
}

pub fn run(program: &str, args: &[&str]) -> Result<String, LocalError> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| LocalError::Step { step: format!("{program} {}", args.join(" ")), message: e.to_string() })?;
    if !out.status.success() {
        return Err(LocalError::Step {
            step: format!("{program} {}", args.join(" ")),
            message: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn netns_exists(name: &str) -> bool {
    std::path::Path::new("/run/netns").join(name).exists()
}

/// Refuses when a namespace or the node link from an earlier node is
/// still there; checked before `up` changes anything.
pub fn ensure_absent() -> Result<(), LocalError> {
    for ns in [ROUTER_NS, CLIENT_NS] {
        if netns_exists(ns) {
            return Err(LocalError::Leftover(format!("network namespace {ns}")));
        }
    }
    if ip(&["link", "show", NODE_LINK]).is_ok() {
        return Err(LocalError::Leftover(format!("link {NODE_LINK}")));
    }
    Ok(())
}

/// Creates the namespaces and links. Refuses to run over leftovers: a
/// previous node must be taken down first (`infraflux down --provider local`).
pub fn create() -> Result<(), LocalError> {
    ensure_absent()?;
    ip(&["netns", "add", ROUTER_NS])?;
    ip(&["netns", "add", CLIENT_NS])?;
    // The router end is created inside its namespace; only ifx0 is the host's.
    ip(&["link", "add", NODE_LINK, "type", "veth", "peer", "name", "eth0", "netns", ROUTER_NS])?;
    ip(&["addr", "add", &format!("{NODE_IP}/24"), "dev", NODE_LINK])?;
    ip(&["addr", "add", &format!("{API_IP}/32"), "dev", NODE_LINK])?;
    ip(&["link", "set", NODE_LINK, "up"])?;
    // The whole lab prefix goes to the router: a reply to the external
    // client (10.89.1.2) must never follow the host's default route to its
    // uplink. Found on the real datapath: without it, the client's request
    // to a VIP reached the pod and the reply left by the uplink.
    ip(&["route", "add", LAB_CIDR, "via", ROUTER_IP, "dev", NODE_LINK])?;
    let r = |args: &[&str]| ip_in(ROUTER_NS, args);
    r(&["link", "set", "lo", "up"])?;
    r(&["addr", "add", &format!("{ROUTER_IP}/24"), "dev", "eth0"])?;
    r(&["link", "set", "eth0", "up"])?;
    r(&["link", "add", "eth1", "type", "veth", "peer", "name", "eth0", "netns", CLIENT_NS])?;
    r(&["addr", "add", &format!("{ROUTER_CLIENT_IP}/24"), "dev", "eth1"])?;
    r(&["link", "set", "eth1", "up"])?;
    // Pods are reached through the node until BGP says otherwise.
    r(&["route", "add", POD_CIDR, "via", NODE_IP])?;
    run("ip", &["netns", "exec", ROUTER_NS, "sysctl", "-qw", "net.ipv4.ip_forward=1"])?;
    let c = |args: &[&str]| ip_in(CLIENT_NS, args);
    c(&["link", "set", "lo", "up"])?;
    c(&["addr", "add", &format!("{CLIENT_IP}/24"), "dev", "eth0"])?;
    c(&["link", "set", "eth0", "up"])?;
    c(&["route", "add", "default", "via", ROUTER_CLIENT_IP])?;
    Ok(())
}

/// Deletes what [`create`] made; whatever is already gone is fine.
pub fn delete() -> Vec<String> {
    let mut errors = Vec::new();
    // Gone already is fine: the veth pair also dies with its peer's
    // namespace, and the kernel may be removing it as we look.
    if ip(&["link", "show", NODE_LINK]).is_ok()
        && let Err(e) = ip(&["link", "del", NODE_LINK])
        && ip(&["link", "show", NODE_LINK]).is_ok()
    {
        errors.push(e.to_string());
    }
    for ns in [CLIENT_NS, ROUTER_NS] {
        if netns_exists(ns)
            && let Err(e) = ip(&["netns", "del", ns])
        {
            errors.push(e.to_string());
        }
    }
    errors
}

/// Runs `program` inside namespace `ns`.
pub fn in_ns(ns: &str, program: &str, args: &[&str]) -> Result<String, LocalError> {
    let mut v = vec!["netns", "exec", ns, program];
    v.extend_from_slice(args);
    run("ip", &v)
}
