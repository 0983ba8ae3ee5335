//! BGP: ASNs (PROF-007, PROF-008), peer reachability (PROF-009), timers
//! (PROF-019), peers present (PROF-031) and VIP announcement (PROF-032).

use std::net::IpAddr;

use super::Cx;
use super::addr::Nets;
use crate::diag::Severity;
use crate::profile::model::Profile;

/// Why an ASN is unusable, if it is.
pub(super) fn asn_problem(asn: u64) -> Option<&'static str> {
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

pub(super) fn bgp(cx: &mut Cx, p: &Profile, nets: &Nets) {
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
