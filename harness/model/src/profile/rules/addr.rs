//! Address parsing (PROF-001), block shapes (PROF-004, PROF-005) and
//! overlaps between the cluster-wide CIDRs (PROF-002).

use std::net::IpAddr;

use ipnet::IpNet;

use super::Cx;
use crate::profile::model::{DnsTarget, IpBlock, Profile};

/// Parsed network-level values; `None` where malformed (already reported).
pub(super) struct Nets {
    pub(super) node: Option<IpNet>,
    pub(super) gateway: Option<IpAddr>,
    pub(super) pod: Option<IpNet>,
    pub(super) service: Option<IpNet>,
    pub(super) native: Option<IpNet>,
    pub(super) vip_net: Option<IpNet>,
    pub(super) api_vip: Option<IpAddr>,
    /// `(pool index, block index, start, stop)` of well-formed blocks.
    pub(super) blocks: Vec<(usize, usize, IpAddr, IpAddr)>,
}

fn parse_cidr(cx: &mut Cx, path: &str, text: &str) -> Option<IpNet> {
    match text.parse::<IpNet>() {
        Ok(net) if net.trunc() == net => Some(net),
        Ok(net) => {
            cx.push(
                "PROF-001",
                path,
                format!("`{text}` has host bits set; the network is {}", net.trunc()),
            );
            None
        }
        Err(_) => {
            let why = if text.parse::<IpAddr>().is_ok() {
                " (a CIDR needs a /prefix)"
            } else {
                ""
            };
            cx.push(
                "PROF-001",
                path,
                format!("`{text}` is not a valid CIDR{why}"),
            );
            None
        }
    }
}

fn parse_ip(cx: &mut Cx, path: &str, text: &str) -> Option<IpAddr> {
    match text.parse::<IpAddr>() {
        Ok(ip) => Some(ip),
        Err(_) => {
            let why = if text.parse::<IpNet>().is_ok() {
                " (write a plain address, not a CIDR)"
            } else {
                ""
            };
            cx.push(
                "PROF-001",
                path,
                format!("`{text}` is not a valid IP address{why}"),
            );
            None
        }
    }
}

pub(super) fn addresses(cx: &mut Cx, p: &Profile) -> Nets {
    let n = &p.network;
    let node = parse_cidr(cx, "network.nodeCIDR", &n.node_cidr);
    let gateway = parse_ip(cx, "network.nodeGateway", &n.node_gateway);
    let pod = parse_cidr(cx, "network.podCIDR", &n.pod_cidr);
    let service = parse_cidr(cx, "network.serviceCIDR", &n.service_cidr);
    let native = n
        .native_routing_cidr
        .as_deref()
        .and_then(|t| parse_cidr(cx, "network.nativeRoutingCIDR", t));
    let api_vip = parse_ip(cx, "network.apiServer.vip", &n.api_server.vip);
    let vip_net = parse_cidr(cx, "loadBalancer.vipCIDR", &p.load_balancer.vip_cidr);
    for (i, node) in p.nodes.iter().enumerate() {
        parse_ip(cx, &format!("nodes[{i}].ip"), &node.ip);
    }
    for (i, peer) in p.bgp.peers.iter().enumerate() {
        parse_ip(cx, &format!("bgp.peers[{i}].address"), &peer.address);
    }
    if let Some(a) = &p.gateway.address {
        parse_ip(cx, "gateway.address", a);
    }
    for (i, r) in p.dns.records.iter().enumerate() {
        if let DnsTarget::Address(a) = &r.target {
            parse_ip(cx, &format!("dns.records[{i}].target.address"), a);
        }
    }
    let mut blocks = Vec::new();
    for (pi, pool) in p.load_balancer.pools.iter().enumerate() {
        if pool.blocks.is_empty() {
            cx.push(
                "PROF-005",
                &format!("loadBalancer.pools[{pi}].blocks"),
                format!("pool `{}` has no blocks", pool.name),
            );
        }
        for (bi, b) in pool.blocks.iter().enumerate() {
            let base = format!("loadBalancer.pools[{pi}].blocks[{bi}]");
            if let Some(r) = block_range(cx, &base, b) {
                blocks.push((pi, bi, r.0, r.1));
            }
        }
    }
    Nets {
        node,
        gateway,
        pod,
        service,
        native,
        vip_net,
        api_vip,
        blocks,
    }
}

fn block_range(cx: &mut Cx, base: &str, b: &IpBlock) -> Option<(IpAddr, IpAddr)> {
    match (&b.cidr, &b.start, &b.stop) {
        (Some(c), None, None) => {
            let net = parse_cidr(cx, &format!("{base}.cidr"), c)?;
            Some((net.network(), net.broadcast()))
        }
        (None, Some(s), stop) => {
            let start = parse_ip(cx, &format!("{base}.start"), s);
            let stop_ip = match stop {
                Some(t) => parse_ip(cx, &format!("{base}.stop"), t),
                None => start,
            };
            let (start, stop_ip) = (start?, stop_ip?);
            if start.is_ipv4() != stop_ip.is_ipv4() {
                cx.push(
                    "PROF-004",
                    &format!("{base}.stop"),
                    format!("block mixes address families ({start} .. {stop_ip})"),
                );
                return None;
            }
            if start > stop_ip {
                cx.push(
                    "PROF-004",
                    &format!("{base}.stop"),
                    format!("block start {start} is after stop {stop_ip}"),
                );
                return None;
            }
            Some((start, stop_ip))
        }
        (Some(_), _, _) => {
            cx.push(
                "PROF-005",
                base,
                "block sets both `cidr` and `start`/`stop`; use one form",
            );
            None
        }
        (None, None, Some(_)) => {
            cx.push("PROF-005", base, "block sets `stop` without `start`");
            None
        }
        (None, None, None) => {
            cx.push("PROF-005", base, "block is empty; set `cidr` or `start`");
            None
        }
    }
}

fn nets_overlap(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

pub(super) fn ranges_overlap(a: (IpAddr, IpAddr), b: (IpAddr, IpAddr)) -> bool {
    a.0.is_ipv4() == b.0.is_ipv4() && a.0 <= b.1 && b.0 <= a.1
}

pub(super) fn in_range(ip: IpAddr, r: (IpAddr, IpAddr)) -> bool {
    ip.is_ipv4() == r.0.is_ipv4() && r.0 <= ip && ip <= r.1
}

pub(super) fn net_range(n: &IpNet) -> (IpAddr, IpAddr) {
    (n.network(), n.broadcast())
}

// ------------------------------------------------------------ PROF-002

pub(super) fn overlaps(cx: &mut Cx, p: &Profile, nets: &Nets) {
    let named: [(&str, &str, Option<IpNet>); 5] = [
        ("podCIDR", "network.podCIDR", nets.pod),
        ("serviceCIDR", "network.serviceCIDR", nets.service),
        ("nodeCIDR", "network.nodeCIDR", nets.node),
        ("vipCIDR", "loadBalancer.vipCIDR", nets.vip_net),
        (
            "nativeRoutingCIDR",
            "network.nativeRoutingCIDR",
            nets.native,
        ),
    ];
    for (i, (an, _, a)) in named.iter().enumerate() {
        for (bn, bpath, b) in named.iter().skip(i + 1) {
            let (Some(a), Some(b)) = (a, b) else { continue };
            // The native-routing CIDR is meant to contain the pod CIDR.
            if *an == "podCIDR" && *bn == "nativeRoutingCIDR" {
                continue;
            }
            // With L2 announcements the VIPs must be on the node LAN, so
            // only the pool rules (PROF-003) keep them off node addresses.
            if *an == "nodeCIDR" && *bn == "vipCIDR" && p.features.l2_announcements {
                continue;
            }
            if nets_overlap(a, b) {
                cx.push("PROF-002", bpath, format!("{bn} {b} overlaps {an} {a}"));
            }
        }
    }
}
