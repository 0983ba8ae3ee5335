//! LB-IPAM pools: block placement (PROF-003, PROF-023), selector
//! validity and overlap (PROF-024, PROF-006), and the Gateway's static
//! address (PROF-027).

use std::net::IpAddr;

use ipnet::IpNet;

use super::Cx;
use super::addr::{Nets, in_range, net_range, ranges_overlap};
use super::selector::{matches_all, selector_matches, selectors_overlap};
use crate::profile::model::{LabelSelector, Profile, SelectorOp};

pub(super) fn pools(cx: &mut Cx, p: &Profile, nets: &Nets) {
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
