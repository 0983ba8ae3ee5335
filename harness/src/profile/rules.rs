//! Semantic profile rules (`PROF-NNN`).
//!
//! [`validate`] runs every rule and returns all findings at once, each at
//! the position of the field that has to change. The catalog ([`rules`]) is
//! the single list of rule ids, titles and hints that `check --rules` and
//! docs/profile.md show; every id used here is in it (a unit test checks).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

use ipnet::IpNet;

use super::load::Loaded;
use super::model::{DnsTarget, IpBlock, LabelSelector, Profile, Provider, RoutingMode, SelectorOp};
use crate::diag::{Finding, Severity};
use crate::secret::SecretRef;
use crate::yaml::{Node, Pos, Value};

/// One entry of the rule catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleInfo {
    pub id: &'static str,
    pub title: &'static str,
    pub hint: &'static str,
}

const CATALOG: &[RuleInfo] = &[
    RuleInfo {
        id: "PROF-000",
        title: "profile does not decode (unknown key, wrong type, missing key, extra document)",
        hint: "fix the field as the message says; docs/profile.md lists every key and its type",
    },
    RuleInfo {
        id: "PROF-001",
        title: "malformed IP address or CIDR",
        hint: "write an address like 192.168.3.11 or a CIDR like 10.244.0.0/16 with no host bits set",
    },
    RuleInfo {
        id: "PROF-002",
        title: "cluster CIDRs overlap (pod, service, native-routing, node LAN, VIP prefix)",
        hint: "give pods, services, the node LAN and the VIP prefix disjoint ranges; only nativeRoutingCIDR may contain podCIDR",
    },
    RuleInfo {
        id: "PROF-003",
        title: "LB pool block collides with a node, the gateway, the API VIP, a cluster CIDR or another block",
        hint: "move the block to free addresses of loadBalancer.vipCIDR, away from every other block",
    },
    RuleInfo {
        id: "PROF-004",
        title: "LB pool block has start after stop",
        hint: "swap start and stop, or use a cidr block",
    },
    RuleInfo {
        id: "PROF-005",
        title: "LB pool block is not {cidr} or {start[, stop]}, or a pool has no blocks",
        hint: "write each block as `{cidr: 192.168.30.0/25}` or `{start: 192.168.30.200, stop: 192.168.30.250}`",
    },
    RuleInfo {
        id: "PROF-006",
        title: "two LB pools can select the same Service",
        hint: "make the selectors disjoint, e.g. main: `priority NotIn [critical]`, critical: `matchLabels {priority: critical}`",
    },
    RuleInfo {
        id: "PROF-007",
        title: "invalid or reserved BGP ASN",
        hint: "use a private ASN (64512-65534 or 4200000000-4294967294) or one assigned to you; 0, 23456, 65535, documentation and reserved ASNs are not valid",
    },
    RuleInfo {
        id: "PROF-008",
        title: "local ASN equals peer ASN (iBGP) although the design is eBGP to the router",
        hint: "give the cluster its own ASN (e.g. 65001 vs router 65000); iBGP needs the router to act as route reflector for node routes to propagate",
    },
    RuleInfo {
        id: "PROF-009",
        title: "BGP peer is not on the node LAN",
        hint: "peer with a router address inside network.nodeCIDR; Cilium dials peers directly from each node (no multihop)",
    },
    RuleInfo {
        id: "PROF-010",
        title: "native routing without a nativeRoutingCIDR that contains podCIDR",
        hint: "set network.nativeRoutingCIDR to the pod CIDR (10.244.0.0/16); Cilium refuses to start otherwise",
    },
    RuleInfo {
        id: "PROF-011",
        title: "kube-proxy replacement without k8sServiceHost/k8sServicePort",
        hint: "set network.k8sServiceHost: localhost and k8sServicePort: 6443 (RKE2's per-node API proxy)",
    },
    RuleInfo {
        id: "PROF-012",
        title: "Gateway API bundle does not match the Cilium minor",
        hint: "use the bundle Cilium was built against: 1.17 -> v1.2.1, 1.18 -> v1.3.0, 1.19 -> v1.4.x, 1.20 -> v1.6.1",
    },
    RuleInfo {
        id: "PROF-013",
        title: "Cloudflare-proxied record points at a private address without a tunnel",
        hint: "set `proxied: false` (LAN-only record) or publish through a Cloudflare Tunnel (`target: tunnel`); Cloudflare rejects proxied private targets (error 9003)",
    },
    RuleInfo {
        id: "PROF-014",
        title: "hostname outside dns.domain, or zone that does not contain the domain",
        hint: "use hostnames under dns.domain and a Cloudflare zone equal to or a parent of it",
    },
    RuleInfo {
        id: "PROF-015",
        title: "secret written inline",
        hint: "reference it instead: `{env: CF_API_TOKEN}` or `{file: /run/secrets/cf-token}`; never commit secret values",
    },
    RuleInfo {
        id: "PROF-016",
        title: "node encryption without WireGuard",
        hint: "set features.wireguard: true, or turn features.nodeEncryption off",
    },
    RuleInfo {
        id: "PROF-017",
        title: "node, gateway or API VIP address outside the node LAN",
        hint: "use an address inside network.nodeCIDR, or fix nodeCIDR",
    },
    RuleInfo {
        id: "PROF-018",
        title: "duplicate name or address",
        hint: "give every node, pool, peer, record and listener a unique name, and every node a unique IP distinct from the gateway and API VIP",
    },
    RuleInfo {
        id: "PROF-019",
        title: "inconsistent BGP timers",
        hint: "use keepalive < hold time (keepalive = hold/3 is usual), hold time 0 or >= 3 s, connect retry > 0",
    },
    RuleInfo {
        id: "PROF-020",
        title: "version not pinned to an exact release, or RKE2 and Kubernetes minors differ",
        hint: "pin exact versions (1.18.6, v1.3.0); ranges let Flux jump minors, which upstream does not test",
    },
    RuleInfo {
        id: "PROF-021",
        title: "Gateway API without kube-proxy replacement or the L7 proxy",
        hint: "enable features.kubeProxyReplacement and features.l7Proxy, or turn features.gatewayAPI off",
    },
    RuleInfo {
        id: "PROF-022",
        title: "Hubble UI, relay or metrics without their prerequisites",
        hint: "the UI needs the relay, and relay, UI and metrics need hubble.enabled",
    },
    RuleInfo {
        id: "PROF-023",
        title: "LB pool block outside loadBalancer.vipCIDR",
        hint: "keep every pool inside the routed VIP prefix (e.g. 192.168.30.0/24)",
    },
    RuleInfo {
        id: "PROF-024",
        title: "invalid label selector requirement",
        hint: "In/NotIn need at least one value; Exists/DoesNotExist take no values; keys must not be empty",
    },
    RuleInfo {
        id: "PROF-025",
        title: "record targets the tunnel but no Cloudflare Tunnel is configured",
        hint: "add dns.cloudflare.tunnel {id, credentials}, or target the gateway",
    },
    RuleInfo {
        id: "PROF-026",
        title: "no server node, or an even number of servers",
        hint: "run 1, 3 or 5 servers; etcd with an even member count tolerates no more failures than one fewer",
    },
    RuleInfo {
        id: "PROF-027",
        title: "gateway address is not in a pool that selects the Gateway",
        hint: "pick gateway.address from a block of the pool whose serviceSelector matches gateway.infrastructureLabels",
    },
    RuleInfo {
        id: "PROF-028",
        title: "perf settings out of range",
        hint: "use samples >= 1, durationSeconds >= 1 and 0 < regressionThresholdPercent <= 100",
    },
    RuleInfo {
        id: "PROF-029",
        title: "failover budget is zero or below what BGP can detect",
        hint: "budgets must be > 0 ms, and bgpPeerLoss at least the BGP hold time",
    },
    RuleInfo {
        id: "PROF-030",
        title: "secret reference sets both or neither of env and file",
        hint: "set exactly one: `{env: NAME}` or `{file: /path}`",
    },
    RuleInfo {
        id: "PROF-031",
        title: "BGP enabled without peers",
        hint: "add at least one bgp.peers entry, or turn features.bgp off",
    },
    RuleInfo {
        id: "PROF-032",
        title: "LoadBalancer VIPs are not announced (no BGP LB advertisement, no L2 announcements)",
        hint: "enable features.bgp with bgp.advertise.loadBalancerIPs, or features.l2Announcements with VIPs on the node LAN",
    },
];

/// The rule catalog, in id order.
pub fn rules() -> &'static [RuleInfo] {
    CATALOG
}

fn hint_of(id: &str) -> &'static str {
    CATALOG.iter().find(|r| r.id == id).map_or("", |r| r.hint)
}

/// Runs every rule; returns all findings, sorted by position.
pub fn validate(loaded: &Loaded) -> Vec<Finding> {
    let mut cx = Cx {
        file: &loaded.file,
        root: &loaded.root,
        out: Vec::new(),
    };
    let p = &loaded.profile;
    let nets = addresses(&mut cx, p);
    overlaps(&mut cx, p, &nets);
    pools(&mut cx, p, &nets);
    bgp(&mut cx, p, &nets);
    routing(&mut cx, p, &nets);
    features(&mut cx, p);
    versions(&mut cx, p);
    dns(&mut cx, p, &nets);
    duplicates(&mut cx, p);
    secret_refs(&mut cx, p);
    control_plane(&mut cx, p);
    budgets(&mut cx, p);
    let mut out = cx.out;
    crate::diag::sort(&mut out);
    out
}

struct Cx<'a> {
    file: &'a str,
    root: &'a Node,
    out: Vec<Finding>,
}

impl Cx<'_> {
    /// Position of `path`, or of its nearest existing ancestor (an absent
    /// optional field is reported at its parent).
    fn pos(&self, path: &str) -> Pos {
        let mut p = path;
        loop {
            if let Some(n) = self.root.lookup(p) {
                return n.pos;
            }
            match p.rfind(['.', '[']) {
                Some(i) => p = &p[..i],
                None => return self.root.pos,
            }
        }
    }

    fn push(&mut self, rule: &str, path: &str, message: impl Into<String>) {
        self.push_sev(rule, Severity::Error, path, message);
    }

    fn push_sev(&mut self, rule: &str, sev: Severity, path: &str, message: impl Into<String>) {
        let pos = self.pos(path);
        let f = Finding::new(rule, sev, message, hint_of(rule))
            .at_pos(self.file, pos)
            .with_path(path);
        self.out.push(f);
    }
}

// ------------------------------------------------------------ addresses

/// Parsed network-level values; `None` where malformed (already reported).
struct Nets {
    node: Option<IpNet>,
    gateway: Option<IpAddr>,
    pod: Option<IpNet>,
    service: Option<IpNet>,
    native: Option<IpNet>,
    vip_net: Option<IpNet>,
    api_vip: Option<IpAddr>,
    /// `(pool index, block index, start, stop)` of well-formed blocks.
    blocks: Vec<(usize, usize, IpAddr, IpAddr)>,
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

fn addresses(cx: &mut Cx, p: &Profile) -> Nets {
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

fn ranges_overlap(a: (IpAddr, IpAddr), b: (IpAddr, IpAddr)) -> bool {
    a.0.is_ipv4() == b.0.is_ipv4() && a.0 <= b.1 && b.0 <= a.1
}

fn in_range(ip: IpAddr, r: (IpAddr, IpAddr)) -> bool {
    ip.is_ipv4() == r.0.is_ipv4() && r.0 <= ip && ip <= r.1
}

fn net_range(n: &IpNet) -> (IpAddr, IpAddr) {
    (n.network(), n.broadcast())
}

// ------------------------------------------------------------ PROF-002

fn overlaps(cx: &mut Cx, p: &Profile, nets: &Nets) {
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

// ------------------------------------------------------------ pools

fn pools(cx: &mut Cx, p: &Profile, nets: &Nets) {
    let lb = &p.load_balancer;
    let mut fixed: Vec<(String, IpAddr)> = Vec::new();
    for n in &p.nodes {
        if let Some(ip) = n.ip_addr() {
            fixed.push((format!("node `{}`", n.name), ip));
        }
    }
    if let Some(g) = nets.gateway {
        fixed.push(("the node gateway".into(), g));
    }
    if let Some(v) = nets.api_vip {
        fixed.push(("the API VIP".into(), v));
    }
    let cluster: [(&str, Option<IpNet>); 3] = [
        ("podCIDR", nets.pod),
        ("serviceCIDR", nets.service),
        ("nodeCIDR", nets.node),
    ];
    for (k, &(pi, bi, s, e)) in nets.blocks.iter().enumerate() {
        let path = format!("loadBalancer.pools[{pi}].blocks[{bi}]");
        let pool = &lb.pools[pi].name;
        if let Some(vip) = nets.vip_net
            && !(vip.contains(&s) && vip.contains(&e))
        {
            cx.push(
                "PROF-023",
                &path,
                format!("block {s}-{e} of pool `{pool}` is outside vipCIDR {vip}"),
            );
        }
        for (what, ip) in &fixed {
            if in_range(*ip, (s, e)) {
                cx.push(
                    "PROF-003",
                    &path,
                    format!("block {s}-{e} of pool `{pool}` contains {what} ({ip})"),
                );
            }
        }
        for (name, net) in &cluster {
            // L2-announced VIPs live on the node LAN by design; the node
            // addresses themselves are still checked above.
            if *name == "nodeCIDR" && p.features.l2_announcements {
                continue;
            }
            if let Some(net) = net
                && ranges_overlap((s, e), net_range(net))
            {
                cx.push(
                    "PROF-003",
                    &path,
                    format!("block {s}-{e} of pool `{pool}` overlaps {name} {net}"),
                );
            }
        }
        for &(pj, bj, s2, e2) in nets.blocks.iter().take(k) {
            if ranges_overlap((s, e), (s2, e2)) {
                cx.push(
                    "PROF-003",
                    &path,
                    format!("block {s}-{e} of pool `{pool}` overlaps block {bj} of pool `{}` ({s2}-{e2})", lb.pools[pj].name),
                );
            }
        }
    }
    // Selector validity, then pairwise overlap.
    let mut valid = vec![true; lb.pools.len()];
    for (pi, pool) in lb.pools.iter().enumerate() {
        if let Some(sel) = &pool.service_selector {
            let base = format!("loadBalancer.pools[{pi}].serviceSelector");
            valid[pi] = check_selector(cx, &base, sel);
        }
    }
    for (j, b) in lb.pools.iter().enumerate() {
        for (i, a) in lb.pools.iter().enumerate().take(j) {
            if !(valid[i] && valid[j]) {
                continue;
            }
            if selectors_overlap(a.service_selector.as_ref(), b.service_selector.as_ref()) {
                // Point at the catch-all selector when there is one: that is
                // the one to narrow.
                let k = if matches_all(a.service_selector.as_ref())
                    && !matches_all(b.service_selector.as_ref())
                {
                    i
                } else {
                    j
                };
                let path = if lb.pools[k].service_selector.is_some() {
                    format!("loadBalancer.pools[{k}].serviceSelector")
                } else {
                    format!("loadBalancer.pools[{k}].name")
                };
                let why = if matches_all(lb.pools[k].service_selector.as_ref()) {
                    " (an absent or empty serviceSelector serves every Service)"
                } else {
                    ""
                };
                cx.push(
                    "PROF-006",
                    &path,
                    format!(
                        "pools `{}` and `{}` can both select the same Service{why}",
                        a.name, b.name
                    ),
                );
            }
        }
    }
    gateway_address(cx, p, nets);
}

fn check_selector(cx: &mut Cx, base: &str, sel: &LabelSelector) -> bool {
    let mut ok = true;
    for (k, _) in sel.match_labels.iter() {
        if k.is_empty() {
            cx.push(
                "PROF-024",
                &format!("{base}.matchLabels"),
                "label key must not be empty",
            );
            ok = false;
        }
    }
    for (i, r) in sel.match_expressions.iter().enumerate() {
        let path = format!("{base}.matchExpressions[{i}]");
        if r.key.is_empty() {
            cx.push(
                "PROF-024",
                &format!("{path}.key"),
                "label key must not be empty",
            );
            ok = false;
        }
        match r.operator {
            SelectorOp::In | SelectorOp::NotIn if r.values.is_empty() => {
                cx.push(
                    "PROF-024",
                    &format!("{path}.operator"),
                    format!("operator {:?} needs at least one value", r.operator),
                );
                ok = false;
            }
            SelectorOp::Exists | SelectorOp::DoesNotExist if !r.values.is_empty() => {
                cx.push(
                    "PROF-024",
                    &format!("{path}.values"),
                    format!("operator {:?} takes no values", r.operator),
                );
                ok = false;
            }
            _ => {}
        }
    }
    ok
}

/// Allowed values of one label key under a conjunction of requirements.
#[derive(Debug, Clone, PartialEq)]
struct KeySpace {
    /// The key may be absent.
    absent: bool,
    values: Values,
}

#[derive(Debug, Clone, PartialEq)]
enum Values {
    Only(BTreeSet<String>),
    /// Every value except these. Label values are unbounded, so this set
    /// of allowed values is never empty.
    AllExcept(BTreeSet<String>),
}

impl KeySpace {
    fn intersect(&self, other: &KeySpace) -> KeySpace {
        use Values::*;
        let values = match (&self.values, &other.values) {
            (Only(a), Only(b)) => Only(a.intersection(b).cloned().collect()),
            (Only(a), AllExcept(x)) | (AllExcept(x), Only(a)) => {
                Only(a.difference(x).cloned().collect())
            }
            (AllExcept(x), AllExcept(y)) => AllExcept(x.union(y).cloned().collect()),
        };
        KeySpace {
            absent: self.absent && other.absent,
            values,
        }
    }

    fn satisfiable(&self) -> bool {
        self.absent
            || match &self.values {
                Values::Only(s) => !s.is_empty(),
                Values::AllExcept(_) => true,
            }
    }
}

/// Constraints a selector puts on each key it mentions.
fn key_spaces(sel: &LabelSelector) -> Vec<(String, KeySpace)> {
    let mut out: Vec<(String, KeySpace)> = Vec::new();
    for (k, v) in &sel.match_labels {
        out.push((
            k.clone(),
            KeySpace {
                absent: false,
                values: Values::Only([v.clone()].into()),
            },
        ));
    }
    for r in &sel.match_expressions {
        let set: BTreeSet<String> = r.values.iter().cloned().collect();
        let space = match r.operator {
            SelectorOp::In => KeySpace {
                absent: false,
                values: Values::Only(set),
            },
            // NotIn also matches objects without the key (Kubernetes semantics).
            SelectorOp::NotIn => KeySpace {
                absent: true,
                values: Values::AllExcept(set),
            },
            SelectorOp::Exists => KeySpace {
                absent: false,
                values: Values::AllExcept(BTreeSet::new()),
            },
            SelectorOp::DoesNotExist => KeySpace {
                absent: true,
                values: Values::Only(BTreeSet::new()),
            },
        };
        out.push((r.key.clone(), space));
    }
    out
}

/// True when some label set matches both selectors (`None` matches all).
/// Keys are independent, so the conjunction is satisfiable iff it is
/// satisfiable key by key.
pub(crate) fn selectors_overlap(a: Option<&LabelSelector>, b: Option<&LabelSelector>) -> bool {
    let mut per_key: HashMap<String, KeySpace> = HashMap::new();
    for sel in [a, b].into_iter().flatten() {
        for (k, space) in key_spaces(sel) {
            let merged = match per_key.get(&k) {
                Some(prev) => prev.intersect(&space),
                None => space,
            };
            per_key.insert(k, merged);
        }
    }
    per_key.values().all(KeySpace::satisfiable)
}

/// True for a selector that puts no constraint on labels.
fn matches_all(sel: Option<&LabelSelector>) -> bool {
    sel.is_none_or(|s| s.match_labels.is_empty() && s.match_expressions.is_empty())
}

/// True when `labels` satisfies `sel` (`None` matches all).
pub(crate) fn selector_matches(
    sel: Option<&LabelSelector>,
    labels: &BTreeMap<String, String>,
) -> bool {
    let Some(sel) = sel else { return true };
    key_spaces(sel)
        .iter()
        .all(|(k, space)| match labels.get(k) {
            None => space.absent,
            Some(v) => match &space.values {
                Values::Only(s) => s.contains(v),
                Values::AllExcept(x) => !x.contains(v),
            },
        })
}

fn gateway_address(cx: &mut Cx, p: &Profile, nets: &Nets) {
    let Some(addr) = p
        .gateway
        .address
        .as_deref()
        .and_then(|a| a.parse::<IpAddr>().ok())
    else {
        return;
    };
    let owners: Vec<usize> = nets
        .blocks
        .iter()
        .filter(|(_, _, s, e)| in_range(addr, (*s, *e)))
        .map(|(pi, ..)| *pi)
        .collect();
    let labels = &p.gateway.infrastructure_labels;
    match owners.first() {
        None => cx.push(
            "PROF-027",
            "gateway.address",
            format!("gateway address {addr} is in no LB pool block"),
        ),
        Some(&pi) => {
            let pool = &p.load_balancer.pools[pi];
            if !selector_matches(pool.service_selector.as_ref(), labels) {
                cx.push(
                    "PROF-027",
                    "gateway.address",
                    format!("gateway address {addr} is in pool `{}`, whose serviceSelector does not match gateway.infrastructureLabels", pool.name),
                );
            }
        }
    }
}

// ------------------------------------------------------------ BGP

/// Why an ASN is unusable, if it is.
pub(crate) fn asn_problem(asn: u64) -> Option<&'static str> {
    match asn {
        0 => Some("ASN 0 is reserved (RFC 7607)"),
        23456 => Some("ASN 23456 is AS_TRANS (RFC 6793), not a real AS"),
        64496..=64511 | 65536..=65551 => Some("documentation ASN (RFC 5398)"),
        65535 | 4_294_967_295 => Some("reserved ASN (RFC 7300)"),
        65552..=131_071 => Some("IANA-reserved ASN"),
        a if a > 4_294_967_295 => Some("ASN exceeds the 32-bit maximum 4294967295"),
        _ => None,
    }
}

fn bgp(cx: &mut Cx, p: &Profile, nets: &Nets) {
    let b = &p.bgp;
    if let Some(why) = asn_problem(b.local_asn) {
        cx.push(
            "PROF-007",
            "bgp.localASN",
            format!("local ASN {}: {why}", b.local_asn),
        );
    }
    for (i, peer) in b.peers.iter().enumerate() {
        if let Some(why) = asn_problem(peer.asn) {
            cx.push(
                "PROF-007",
                &format!("bgp.peers[{i}].peerASN"),
                format!("peer `{}` ASN {}: {why}", peer.name, peer.asn),
            );
        } else if peer.asn == b.local_asn {
            cx.push_sev(
                "PROF-008",
                Severity::Warning,
                &format!("bgp.peers[{i}].peerASN"),
                format!("peer `{}` has the cluster's own ASN {}: iBGP sessions, so the router will not pass node routes between nodes unless it reflects them", peer.name, peer.asn),
            );
        }
        if let (Some(lan), Ok(ip)) = (nets.node, peer.address.parse::<IpAddr>())
            && !lan.contains(&ip)
        {
            cx.push(
                "PROF-009",
                &format!("bgp.peers[{i}].address"),
                format!(
                    "peer `{}` address {ip} is outside the node LAN {lan}",
                    peer.name
                ),
            );
        }
    }
    let t = &b.timers;
    if t.hold_time_seconds != 0 && t.hold_time_seconds < 3 {
        cx.push(
            "PROF-019",
            "bgp.timers.holdTimeSeconds",
            format!(
                "hold time {}s: must be 0 or at least 3s (RFC 4271)",
                t.hold_time_seconds
            ),
        );
    }
    if t.hold_time_seconds != 0 && t.keep_alive_time_seconds >= t.hold_time_seconds {
        cx.push(
            "PROF-019",
            "bgp.timers.keepAliveTimeSeconds",
            format!("keepalive {}s is not below the hold time {}s; sessions would expire between keepalives", t.keep_alive_time_seconds, t.hold_time_seconds),
        );
    }
    if t.connect_retry_time_seconds == 0 {
        cx.push(
            "PROF-019",
            "bgp.timers.connectRetryTimeSeconds",
            "connect retry time must be > 0",
        );
    }
    if p.features.bgp && b.peers.is_empty() {
        cx.push(
            "PROF-031",
            "bgp.peers",
            "features.bgp is on but bgp.peers is empty; nothing would be advertised",
        );
    }
    let bgp_lb = p.features.bgp && b.advertise.load_balancer_ips;
    // L2 announcements answer ARP only for VIPs on the node segment.
    let l2_lb = p.features.l2_announcements
        && match (nets.node, nets.vip_net) {
            (Some(lan), Some(vip)) => lan.contains(&vip),
            _ => true,
        };
    if !bgp_lb && !l2_lb && !p.load_balancer.pools.is_empty() {
        let path = if p.features.bgp {
            "bgp.advertise.loadBalancerIPs"
        } else {
            "features.bgp"
        };
        cx.push(
            "PROF-032",
            path,
            "LB pools hand out VIPs, but neither BGP nor L2 announcements make them reachable",
        );
    }
}

// ------------------------------------------------------------ routing

fn routing(cx: &mut Cx, p: &Profile, nets: &Nets) {
    let n = &p.network;
    if n.routing_mode == RoutingMode::Native {
        match (&n.native_routing_cidr, nets.native, nets.pod) {
            (None, ..) => cx.push(
                "PROF-010",
                "network.routingMode",
                "routingMode native needs network.nativeRoutingCIDR (with BPF masquerading Cilium refuses to start without it)",
            ),
            (Some(_), Some(native), Some(pod)) if !native.contains(&pod) => cx.push(
                "PROF-010",
                "network.nativeRoutingCIDR",
                format!("nativeRoutingCIDR {native} does not contain podCIDR {pod}; pod traffic would be masqueraded"),
            ),
            _ => {}
        }
    }
    if let Some(lan) = nets.node {
        for (i, node) in p.nodes.iter().enumerate() {
            if let Some(ip) = node.ip_addr()
                && !lan.contains(&ip)
            {
                cx.push(
                    "PROF-017",
                    &format!("nodes[{i}].ip"),
                    format!(
                        "node `{}` address {ip} is outside the node LAN {lan}",
                        node.name
                    ),
                );
            }
        }
        if let Some(g) = nets.gateway
            && !lan.contains(&g)
        {
            cx.push(
                "PROF-017",
                "network.nodeGateway",
                format!("gateway {g} is outside the node LAN {lan}"),
            );
        }
        if let Some(v) = nets.api_vip
            && !lan.contains(&v)
        {
            cx.push(
                "PROF-017",
                "network.apiServer.vip",
                format!("API VIP {v} is outside the node LAN {lan}"),
            );
        }
    }
}

// ------------------------------------------------------------ features

fn features(cx: &mut Cx, p: &Profile) {
    let f = &p.features;
    let n = &p.network;
    if f.kube_proxy_replacement {
        let mut missing = Vec::new();
        if n.k8s_service_host
            .as_deref()
            .is_none_or(|h| h.trim().is_empty())
        {
            missing.push("k8sServiceHost");
        }
        if n.k8s_service_port.is_none_or(|port| port == 0) {
            missing.push("k8sServicePort");
        }
        if !missing.is_empty() {
            cx.push(
                "PROF-011",
                "features.kubeProxyReplacement",
                format!("kube-proxy replacement without network.{}: the agent cannot reach the API server before it programs Services", missing.join(" and network.")),
            );
        }
    }
    if f.node_encryption && !f.wireguard {
        cx.push("PROF-016", "features.nodeEncryption", "nodeEncryption is WireGuard's node-to-node mode; it does nothing without features.wireguard");
    }
    if f.gateway_api && !(f.kube_proxy_replacement && f.l7_proxy) {
        let what = match (f.kube_proxy_replacement, f.l7_proxy) {
            (false, false) => "kube-proxy replacement and the L7 proxy",
            (false, true) => "kube-proxy replacement",
            _ => "the L7 proxy (Envoy)",
        };
        cx.push(
            "PROF-021",
            "features.gatewayAPI",
            format!("Cilium's Gateway API controller needs {what}"),
        );
    }
    let h = &f.hubble;
    if h.ui && !h.relay {
        cx.push(
            "PROF-022",
            "features.hubble.ui",
            "Hubble UI reads flows through Hubble Relay; enable features.hubble.relay",
        );
    }
    if !h.enabled {
        if h.relay {
            cx.push(
                "PROF-022",
                "features.hubble.relay",
                "Hubble Relay needs features.hubble.enabled",
            );
        }
        if !h.metrics.enabled.is_empty() {
            cx.push(
                "PROF-022",
                "features.hubble.metrics.enabled",
                "Hubble metrics need features.hubble.enabled",
            );
        }
    }
}

// ------------------------------------------------------------ versions

/// `(major, minor, patch)` of an exact version; `v` prefix and
/// `-pre`/`+build` suffixes allowed.
pub(crate) fn exact_version(text: &str) -> Option<(u64, u64, u64)> {
    let t = text.strip_prefix('v').unwrap_or(text);
    let core = t.split(['-', '+']).next().unwrap_or("");
    let mut parts = core.split('.');
    let mut num = || -> Option<u64> {
        let s = parts.next()?;
        if s.is_empty() || !s.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    let v = (num()?, num()?, num()?);
    if parts.next().is_some() {
        return None;
    }
    Some(v)
}

/// Gateway API bundle per Cilium minor: `(major, minor, Some(patch))` for an
/// exact bundle, `None` patch where any patch of that minor is supported.
pub(crate) fn gateway_bundle_for(cilium_minor: u64) -> Option<(u64, u64, Option<u64>)> {
    match cilium_minor {
        17 => Some((1, 2, Some(1))),
        18 => Some((1, 3, Some(0))),
        19 => Some((1, 4, None)),
        20 => Some((1, 6, Some(1))),
        _ => None,
    }
}

fn versions(cx: &mut Cx, p: &Profile) {
    let v = &p.versions;
    let fields: [(&str, &str); 7] = [
        ("versions.kubernetes", &v.kubernetes),
        ("versions.cilium", &v.cilium),
        ("versions.gatewayAPI", &v.gateway_api),
        ("versions.certManager", &v.cert_manager),
        ("versions.externalDNS", &v.external_dns),
        ("versions.sealedSecrets", &v.sealed_secrets),
        ("versions.flux", &v.flux),
    ];
    let mut parsed: HashMap<&str, (u64, u64, u64)> = HashMap::new();
    for (path, text) in fields {
        match exact_version(text) {
            Some(ver) => {
                parsed.insert(path, ver);
            }
            None => cx.push(
                "PROF-020",
                path,
                format!("`{text}` is not an exact version (MAJOR.MINOR.PATCH)"),
            ),
        }
    }
    if let Provider::ProxmoxRke2(px) = &p.provider {
        let path = "provider.proxmoxRke2.rke2.version";
        match (
            exact_version(&px.rke2.version),
            parsed.get("versions.kubernetes"),
        ) {
            (None, _) => cx.push(
                "PROF-020",
                path,
                format!(
                    "`{}` is not an exact RKE2 release (e.g. v1.33.5+rke2r1)",
                    px.rke2.version
                ),
            ),
            (Some(r), Some(k)) if (r.0, r.1) != (k.0, k.1) => cx.push(
                "PROF-020",
                path,
                format!(
                    "RKE2 {} ships Kubernetes {}.{}, but versions.kubernetes is {}",
                    px.rke2.version, r.0, r.1, v.kubernetes
                ),
            ),
            _ => {}
        }
    }
    if let (Some(c), Some(g)) = (
        parsed.get("versions.cilium"),
        parsed.get("versions.gatewayAPI"),
    ) {
        match gateway_bundle_for(c.1) {
            None if c.0 == 1 => cx.push(
                "PROF-012",
                "versions.cilium",
                format!(
                    "no known Gateway API bundle for Cilium {}.{}; supported minors are 1.17-1.20",
                    c.0, c.1
                ),
            ),
            None => cx.push(
                "PROF-012",
                "versions.cilium",
                format!("Cilium {}.{}.{} is not a known release line", c.0, c.1, c.2),
            ),
            Some((maj, min, patch)) => {
                let ok = c.0 == 1 && g.0 == maj && g.1 == min && patch.is_none_or(|pp| g.2 == pp);
                if !ok {
                    let want = match patch {
                        Some(pp) => format!("v{maj}.{min}.{pp}"),
                        None => format!("v{maj}.{min}.x"),
                    };
                    cx.push(
                        "PROF-012",
                        "versions.gatewayAPI",
                        format!(
                            "Cilium {} needs Gateway API {want}, profile pins {}",
                            v.cilium, v.gateway_api
                        ),
                    );
                }
            }
        }
    }
}

// ------------------------------------------------------------ DNS

/// RFC 1918, CGNAT, loopback, link-local, unique-local and unspecified
/// addresses: ones Cloudflare's edge cannot reach or proxy.
pub(crate) fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
        }
    }
}

fn under_domain(host: &str, domain: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    let host = host.strip_prefix("*.").map_or(host.as_str(), |h| h);
    !domain.is_empty() && (host == domain || host.ends_with(&format!(".{domain}")))
}

fn dns(cx: &mut Cx, p: &Profile, nets: &Nets) {
    let d = &p.dns;
    if !under_domain(&d.domain, &d.cloudflare.zone) {
        cx.push(
            "PROF-014",
            "dns.cloudflare.zone",
            format!(
                "Cloudflare zone `{}` does not contain dns.domain `{}`",
                d.cloudflare.zone, d.domain
            ),
        );
    }
    let gateway_ip: Option<IpAddr> = p.gateway.address.as_deref().and_then(|a| a.parse().ok());
    for (i, r) in d.records.iter().enumerate() {
        if !under_domain(&r.hostname, &d.domain) || r.hostname.starts_with("*.") {
            cx.push(
                "PROF-014",
                &format!("dns.records[{i}].hostname"),
                format!("`{}` is not a hostname under {}", r.hostname, d.domain),
            );
        }
        let proxied = r.proxied_or(d.cloudflare.proxied_default);
        let private_target = match &r.target {
            DnsTarget::Tunnel => {
                if d.cloudflare.tunnel.is_none() {
                    cx.push(
                        "PROF-025",
                        &format!("dns.records[{i}].target"),
                        format!(
                            "record `{}` targets the tunnel, but dns.cloudflare.tunnel is not set",
                            r.name
                        ),
                    );
                }
                None
            }
            DnsTarget::Address(a) => a
                .parse::<IpAddr>()
                .ok()
                .filter(|ip| is_private(*ip))
                .map(|ip| ip.to_string()),
            // Without a static address the Gateway draws from the VIP prefix.
            DnsTarget::Gateway => match (gateway_ip, nets.vip_net) {
                (Some(ip), _) => is_private(ip).then(|| format!("the gateway address {ip}")),
                (None, Some(net)) => {
                    is_private(net.network()).then(|| format!("a gateway address in {net}"))
                }
                (None, None) => None,
            },
        };
        if let (true, Some(what)) = (proxied, private_target) {
            let path = if r.proxied.is_some() {
                format!("dns.records[{i}].proxied")
            } else {
                "dns.cloudflare.proxiedDefault".to_owned()
            };
            cx.push(
                "PROF-013",
                &path,
                format!(
                    "record `{}` is proxied but points at {what}, a private address",
                    r.hostname
                ),
            );
        }
    }
    for (i, l) in p.gateway.listeners.iter().enumerate() {
        if let Some(h) = &l.hostname
            && !under_domain(h, &d.domain)
        {
            cx.push(
                "PROF-014",
                &format!("gateway.listeners[{i}].hostname"),
                format!("listener hostname `{h}` is not under {}", d.domain),
            );
        }
    }
    for (i, n) in p.gateway.tls.dns_names.iter().enumerate() {
        if !under_domain(n, &d.domain) {
            cx.push(
                "PROF-014",
                &format!("gateway.tls.dnsNames[{i}]"),
                format!("certificate name `{n}` is not under {}", d.domain),
            );
        }
    }
}

// ------------------------------------------------------------ duplicates

fn dup_check<'a>(cx: &mut Cx, what: &str, items: impl Iterator<Item = (String, &'a str)>) {
    let mut seen: HashMap<&'a str, String> = HashMap::new();
    for (path, key) in items {
        match seen.get(key) {
            Some(first) => {
                let msg = format!("duplicate {what} `{key}` (first at {first})");
                cx.push("PROF-018", &path, msg);
            }
            None => {
                seen.insert(key, path);
            }
        }
    }
}

fn duplicates(cx: &mut Cx, p: &Profile) {
    dup_check(
        cx,
        "node name",
        p.nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (format!("nodes[{i}].name"), n.name.as_str())),
    );
    // Node IPs share a namespace with the gateway and the API VIP.
    let mut ips: Vec<(String, &str)> = vec![
        (
            "network.nodeGateway".into(),
            p.network.node_gateway.as_str(),
        ),
        (
            "network.apiServer.vip".into(),
            p.network.api_server.vip.as_str(),
        ),
    ];
    ips.extend(
        p.nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (format!("nodes[{i}].ip"), n.ip.as_str())),
    );
    dup_check(cx, "address", ips.into_iter());
    dup_check(
        cx,
        "pool name",
        p.load_balancer
            .pools
            .iter()
            .enumerate()
            .map(|(i, x)| (format!("loadBalancer.pools[{i}].name"), x.name.as_str())),
    );
    dup_check(
        cx,
        "peer name",
        p.bgp
            .peers
            .iter()
            .enumerate()
            .map(|(i, x)| (format!("bgp.peers[{i}].name"), x.name.as_str())),
    );
    dup_check(
        cx,
        "peer address",
        p.bgp
            .peers
            .iter()
            .enumerate()
            .map(|(i, x)| (format!("bgp.peers[{i}].address"), x.address.as_str())),
    );
    dup_check(
        cx,
        "record name",
        p.dns
            .records
            .iter()
            .enumerate()
            .map(|(i, x)| (format!("dns.records[{i}].name"), x.name.as_str())),
    );
    dup_check(
        cx,
        "hostname",
        p.dns
            .records
            .iter()
            .enumerate()
            .map(|(i, x)| (format!("dns.records[{i}].hostname"), x.hostname.as_str())),
    );
    dup_check(
        cx,
        "listener name",
        p.gateway
            .listeners
            .iter()
            .enumerate()
            .map(|(i, x)| (format!("gateway.listeners[{i}].name"), x.name.as_str())),
    );
}

// ------------------------------------------------------------ secrets

fn secret_refs(cx: &mut Cx, p: &Profile) {
    let mut refs: Vec<(&str, &SecretRef)> =
        vec![("dns.cloudflare.apiToken", &p.dns.cloudflare.api_token)];
    if let Some(t) = &p.dns.cloudflare.tunnel {
        refs.push(("dns.cloudflare.tunnel.credentials", &t.credentials));
    }
    if let Provider::ProxmoxRke2(px) = &p.provider {
        refs.push(("provider.proxmoxRke2.proxmox.token", &px.proxmox.token));
        refs.push(("provider.proxmoxRke2.rke2.token", &px.rke2.token));
    }
    for (path, r) in refs {
        let bad = match (&r.env, &r.file) {
            (Some(e), None) => e.trim().is_empty().then_some("`env` is empty"),
            (None, Some(f)) => f.as_os_str().is_empty().then_some("`file` is empty"),
            (Some(_), Some(_)) => Some("sets both `env` and `file`"),
            (None, None) => Some("sets neither `env` nor `file`"),
        };
        if let Some(why) = bad {
            cx.push("PROF-030", path, format!("secret reference {why}"));
        }
    }
}

/// Keys whose last word names a secret: `apiToken`, `password`,
/// `credentials`. `tokenId` or `secretName` name one, and are fine.
fn is_secret_key(key: &str) -> bool {
    let mut words: Vec<String> = Vec::new();
    let mut cur = String::new();
    for c in key.chars() {
        if c == '_' || c == '-' || c == '.' {
            words.push(std::mem::take(&mut cur));
        } else if c.is_ascii_uppercase()
            && !cur.is_empty()
            && !cur.chars().last().is_some_and(|l| l.is_ascii_uppercase())
        {
            words.push(std::mem::take(&mut cur));
            cur.push(c.to_ascii_lowercase());
        } else {
            cur.push(c.to_ascii_lowercase());
        }
    }
    words.push(cur);
    let last = words
        .iter()
        .rev()
        .find(|w| !w.is_empty())
        .map_or("", String::as_str);
    matches!(
        last,
        "token" | "password" | "passwd" | "secret" | "credentials" | "credential" | "apikey"
    ) || key.eq_ignore_ascii_case("apikey")
}

/// Literal values under secret-looking keys, found on the raw tree (before
/// decoding, where a literal is only a type error). Each value is
/// registered with the redactor so it cannot reach any output.
pub(crate) fn inline_secrets(file: &str, root: &Node) -> Vec<Finding> {
    let mut out = Vec::new();
    walk_secrets(file, root, "", &mut out);
    out
}

fn walk_secrets(file: &str, node: &Node, path: &str, out: &mut Vec<Finding>) {
    match &node.value {
        Value::Map(entries) => {
            for (k, v) in entries {
                let key = k.scalar_text().unwrap_or_default();
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                let literal = match &v.value {
                    Value::Str(s) => Some(s.clone()),
                    Value::Int(_) | Value::Float(_) => v.scalar_text(),
                    _ => None,
                };
                match literal {
                    Some(value) if is_secret_key(&key) && !value.is_empty() => {
                        crate::secret::register(&value);
                        out.push(
                            Finding::error(
                                "PROF-015",
                                format!("`{key}` holds a literal secret; the value is not shown"),
                                hint_of("PROF-015"),
                            )
                            .at_pos(file, v.pos)
                            .with_path(child),
                        );
                    }
                    _ => walk_secrets(file, v, &child, out),
                }
            }
        }
        Value::Seq(items) => {
            for (i, item) in items.iter().enumerate() {
                walk_secrets(file, item, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

// ------------------------------------------------------------ nodes, budgets

fn control_plane(cx: &mut Cx, p: &Profile) {
    let servers = p.servers().count();
    if servers == 0 {
        cx.push(
            "PROF-026",
            "nodes",
            "no node has role `server`; the cluster has no control plane",
        );
    } else if servers.is_multiple_of(2) {
        let path = p
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.role == super::model::NodeRole::Server)
            .last()
            .map_or("nodes".to_owned(), |(i, _)| format!("nodes[{i}].role"));
        cx.push_sev(
            "PROF-026",
            Severity::Warning,
            &path,
            format!(
                "{servers} servers: etcd tolerates as many failures as with {}",
                servers - 1
            ),
        );
    }
}

fn budgets(cx: &mut Cx, p: &Profile) {
    let perf = &p.perf;
    if perf.samples == 0 {
        cx.push("PROF-028", "perf.samples", "samples must be at least 1");
    }
    if perf.duration_seconds == 0 {
        cx.push(
            "PROF-028",
            "perf.durationSeconds",
            "durationSeconds must be at least 1",
        );
    }
    let t = perf.regression_threshold_percent;
    if !(t.is_finite() && t > 0.0 && t <= 100.0) {
        cx.push(
            "PROF-028",
            "perf.regressionThresholdPercent",
            format!("regression threshold {t}% is outside (0, 100]"),
        );
    }
    let b = &p.failover.max_downtime_ms;
    let all: [(&str, u64); 5] = [
        ("agentRestart", b.agent_restart),
        ("operatorRestart", b.operator_restart),
        ("envoyRestart", b.envoy_restart),
        ("bgpPeerLoss", b.bgp_peer_loss),
        ("nodeDrain", b.node_drain),
    ];
    for (key, ms) in all {
        if ms == 0 {
            cx.push(
                "PROF-029",
                &format!("failover.maxDowntimeMs.{key}"),
                format!("budget {key} is 0 ms; no real failover is instantaneous"),
            );
        }
    }
    let hold_ms = u64::from(p.bgp.timers.hold_time_seconds) * 1000;
    if p.features.bgp && b.bgp_peer_loss != 0 && b.bgp_peer_loss < hold_ms {
        cx.push(
            "PROF-029",
            "failover.maxDowntimeMs.bgpPeerLoss",
            format!("bgpPeerLoss budget {} ms is below the BGP hold time ({hold_ms} ms) that detection waits for", b.bgp_peer_loss),
        );
    }
}

#[cfg(test)]
mod tests;
