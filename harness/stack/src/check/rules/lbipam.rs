//! Cilium LB-IPAM pools.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use crate::diag::Finding;
use crate::diag::Severity::{Error, Warning};
use crate::yaml::{Node, Pos};

use super::Impact::{Breaks, Deprecated, Silent};
use super::{Rule, rule};
use crate::check::model::{Ctx, Obj};
use crate::check::selector::Selector;

pub(crate) const LB_001: Rule = rule(
    "LB-001", "lbipam", Error, Breaks,
    "CiliumLoadBalancerIPPool `spec.cidrs` was removed in 1.16: rejected, or pruned to a pool without addresses",
    "spec.blocks: [{cidr: …}] or [{start: …, stop: …}]", &[27],
);
pub(crate) const LB_002: Rule = rule(
    "LB-002", "lbipam", Warning, Deprecated,
    "CiliumLoadBalancerIPPool at cilium.io/v2alpha1: deprecated since 1.18 (still served, marked deprecated, through 1.20)",
    "apiVersion: cilium.io/v2", &[27],
);
pub(crate) const LB_003: Rule = rule(
    "LB-003", "lbipam", Warning, Silent,
    "two pools can select the same Service (an empty selector selects all); which pool it draws from is not deterministic",
    "make selectors disjoint, e.g. main pool `matchExpressions: [{key: priority, operator: NotIn, values: [critical]}]`", &[28],
);
pub(crate) const LB_004: Rule = rule(
    "LB-004", "lbipam", Error, Breaks,
    "address blocks of two pools overlap; Cilium marks the pools conflicting",
    "give each pool its own range", &[28],
);
pub(crate) const LB_005: Rule = rule(
    "LB-005", "lbipam", Warning, Silent,
    "VIPs sit in the on-link /24 of a BGP peer without L2 announcements: LAN hosts ARP for them and get no answer",
    "use a dedicated routed VIP prefix, or enable l2announcements with a CiliumL2AnnouncementPolicy", &[29, 30],
);
pub(crate) const LB_006: Rule = rule(
    "LB-006", "lbipam", Error, Breaks,
    "pool has no address blocks",
    "add spec.blocks", &[27],
);

pub(crate) const RULES: &[Rule] = &[LB_001, LB_002, LB_003, LB_004, LB_005, LB_006];

fn blocks(o: &Obj<'_>) -> Vec<Block> {
    let mut out = Vec::new();
    for b in o.get("spec.blocks").and_then(Node::as_seq).unwrap_or_default() {
        if let Some(net) = b.get("cidr").and_then(Node::scalar_text).and_then(|s| s.parse::<Ipv4Net>().ok()) {
            out.push((u32::from(net.network()), u32::from(net.broadcast()), b.pos));
        } else if let (Some(a), Some(z)) = (
            b.get("start").and_then(Node::scalar_text).and_then(|s| s.parse::<Ipv4Addr>().ok()),
            b.get("stop").and_then(Node::scalar_text).and_then(|s| s.parse::<Ipv4Addr>().ok()),
        ) {
            out.push((u32::from(a), u32::from(z), b.pos));
        }
    }
    out
}

/// An address range of a pool (first, last, where it is written).
type Block = (u32, u32, Pos);

pub(crate) fn check(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    // Pools read only as repository context may belong to another cluster
    // of the same repository; only the checked ones are compared.
    let pools: Vec<&Obj<'_>> = ctx.kinds("cilium.io", "CiliumLoadBalancerIPPool").filter(|p| !p.src.context).collect();
    for p in &pools {
        if p.version == "v2alpha1" {
            out.push(LB_002.at(p.file, p.pos("apiVersion"), format!("{} uses cilium.io/v2alpha1", p.describe())));
        }
        if p.get("spec.cidrs").is_some() {
            out.push(LB_001.at(p.file, p.key_pos("spec.cidrs"), "`spec.cidrs` is not a field any more"));
        } else if p.get("spec.blocks").and_then(Node::as_seq).is_none_or(|b| b.is_empty()) {
            out.push(LB_006.at(p.file, p.pos("spec"), format!("{} has no blocks", p.describe())));
        }
    }
    // Parsed once per pool: the pair loop below is quadratic in pools, and
    // re-reading each pool's selector and blocks per pair dominated `check`
    // on trees with a thousand pools.
    let parsed: Vec<(Selector, Vec<Block>)> =
        pools.iter().map(|p| (Selector::parse(p.get("spec.serviceSelector")), blocks(p))).collect();
    for (i, (a, (sa, blocks_a))) in pools.iter().zip(&parsed).enumerate() {
        for (b, (sb, blocks_b)) in pools.iter().zip(&parsed).skip(i + 1) {
            if !sa.disjoint(sb) {
                let (wide, other) = if sa.matches_all() { (a, b) } else { (b, a) };
                out.push(LB_003.at(
                    wide.file,
                    wide.pos("spec.serviceSelector"),
                    format!("pools `{}` and `{}` can both select the same Service", wide.name, other.name),
                ));
            }
            for &(a0, a1, pos) in blocks_a {
                for &(b0, b1, _) in blocks_b {
                    if a0 <= b1 && b0 <= a1 {
                        out.push(LB_004.at(a.file, pos, format!("block overlaps a block of pool `{}`", b.name)));
                    }
                }
            }
        }
    }
    let l2 = ctx.cilium_values().any(|v| v.truthy("l2announcements.enabled"))
        || ctx.objects.iter().any(|o| o.kind == "CiliumL2AnnouncementPolicy");
    if l2 {
        return;
    }
    let peers: Vec<Ipv4Addr> = ctx
        .objects
        .iter()
        .filter(|o| o.group == "cilium.io" && o.kind.starts_with("CiliumBGP"))
        .flat_map(|o| peer_addresses(o.node))
        .collect();
    for (p, (_, blocks_p)) in pools.iter().zip(&parsed) {
        for &(a0, _, pos) in blocks_p {
            if let Some(peer) = peers.iter().find(|peer| u32::from(**peer) >> 8 == a0 >> 8) {
                out.push(LB_005.at(p.file, pos, format!("VIPs share the /24 of BGP peer {peer}")));
                break;
            }
        }
    }
}

fn peer_addresses(n: &Node) -> Vec<Ipv4Addr> {
    let mut out = Vec::new();
    if let Some(map) = n.as_map() {
        for (k, v) in map {
            if k.as_str() == Some("peerAddress") {
                if let Some(t) = v.scalar_text() {
                    let ip = t.split('/').next().unwrap_or("");
                    if let Ok(a) = ip.parse() {
                        out.push(a);
                    }
                }
            } else {
                out.extend(peer_addresses(v));
            }
        }
    } else if let Some(seq) = n.as_seq() {
        for i in seq {
            out.extend(peer_addresses(i));
        }
    }
    out
}
