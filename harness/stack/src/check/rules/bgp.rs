//! Cilium BGP control plane objects.

use std::net::IpAddr;

use crate::diag::Finding;
use crate::diag::Severity::{Error, Warning};
use crate::yaml::Node;

use super::Impact::{Breaks, Deprecated, Silent};
use super::{Rule, rule};
use crate::check::model::Ctx;
use crate::check::selector::Selector;

pub(crate) const BGP_001: Rule = rule(
    "BGP-001", "bgp", Error, Breaks,
    "CiliumBGPPeeringPolicy (BGPv1) on Cilium 1.19 or later, where BGPv1 is removed (`no matches for kind`)",
    "use cilium.io/v2 CiliumBGPClusterConfig + CiliumBGPPeerConfig + CiliumBGPAdvertisement", &[24],
);
pub(crate) const BGP_002: Rule = rule(
    "BGP-002", "bgp", Warning, Deprecated,
    "BGPv2 object at cilium.io/v2alpha1; v2 is stable since 1.18 and the v2alpha1 copies are deprecated",
    "apiVersion: cilium.io/v2", &[24],
);
pub(crate) const BGP_003: Rule = rule(
    "BGP-003", "bgp", Error, Breaks,
    "peerAddress in the wrong notation for its API (v1 neighbors need CIDR `a.b.c.d/32`, v2 peers a plain IP)",
    "v2: `peerAddress: 192.168.3.1`", &[24, 25],
);
pub(crate) const BGP_004: Rule = rule(
    "BGP-004", "bgp", Warning, Silent,
    "service advertisement without a `selector` (or, in BGPv2, without `service.addresses`) announces no services; in BGPv2 an empty selector `{}` selects every Service",
    "BGPv2: `selector: {}` for every Service (or matchLabels for some) and `service: {addresses: [LoadBalancerIP]}`", &[24, 25],
);
pub(crate) const BGP_005: Rule = rule(
    "BGP-005", "bgp", Error, Breaks,
    "peerConfigRef names a CiliumBGPPeerConfig that is not in the inputs (MissingPeerConfigs)",
    "create the CiliumBGPPeerConfig or fix the name", &[24],
);
pub(crate) const BGP_006: Rule = rule(
    "BGP-006", "bgp", Warning, Silent,
    "advertisement selection is broken: a peer config family selects no CiliumBGPAdvertisement, or an advertisement is selected by no family",
    "label the CiliumBGPAdvertisement to match `families[].advertisements` of the peer config", &[24],
);

pub(crate) const BGP_007: Rule = rule(
    "BGP-007", "bgp", Warning, Deprecated,
    "CiliumBGPPeeringPolicy (BGPv1) on Cilium 1.18: deprecated, and removed in 1.19; the upgrade will not apply it",
    "move to cilium.io/v2 CiliumBGPClusterConfig + CiliumBGPPeerConfig + CiliumBGPAdvertisement before 1.19", &[24],
);

pub(crate) const RULES: &[Rule] = &[BGP_001, BGP_002, BGP_003, BGP_004, BGP_005, BGP_006, BGP_007];

const V2_KINDS: &[&str] = &[
    "CiliumBGPClusterConfig", "CiliumBGPPeerConfig", "CiliumBGPAdvertisement", "CiliumBGPNodeConfigOverride",
];

pub(crate) fn check(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    for o in ctx.objects.iter().filter(|o| o.group == "cilium.io") {
        if o.kind == "CiliumBGPPeeringPolicy" {
            let minor = ctx.cilium_minor();
            if minor >= 19 {
                out.push(BGP_001.at(o.file, o.pos("kind"), format!("{} uses BGPv1, removed in Cilium 1.{minor}", o.describe())));
            } else {
                out.push(BGP_007.at(o.file, o.pos("kind"), format!("{} uses BGPv1, deprecated in Cilium 1.{minor}", o.describe())));
            }
            for vr in o.get("spec.virtualRouters").and_then(Node::as_seq).unwrap_or_default() {
                for n in vr.get("neighbors").and_then(Node::as_seq).unwrap_or_default() {
                    if let Some(a) = n.get("peerAddress") {
                        let text = a.scalar_text().unwrap_or_default();
                        if !text.contains('/') {
                            out.push(BGP_003.at(o.file, a.pos, format!("v1 peerAddress `{text}` must be CIDR (e.g. {text}/32)")));
                        }
                    }
                }
                let sel = vr.get("serviceSelector");
                if sel.is_none() || Selector::parse(sel).matches_all() {
                    let at = sel.map_or(vr.pos, |s| s.pos);
                    out.push(BGP_004.at(o.file, at, "v1 serviceSelector is empty: no services are announced"));
                }
            }
        } else if V2_KINDS.contains(&o.kind.as_str()) && o.version == "v2alpha1" {
            out.push(BGP_002.at(o.file, o.pos("apiVersion"), format!("{} uses cilium.io/v2alpha1", o.kind)));
        }
    }
    let peer_configs: Vec<_> = ctx.kinds("cilium.io", "CiliumBGPPeerConfig").collect();
    let adverts: Vec<_> = ctx.kinds("cilium.io", "CiliumBGPAdvertisement").collect();
    for cc in ctx.kinds("cilium.io", "CiliumBGPClusterConfig") {
        for inst in cc.get("spec.bgpInstances").and_then(Node::as_seq).unwrap_or_default() {
            for peer in inst.get("peers").and_then(Node::as_seq).unwrap_or_default() {
                if let Some(a) = peer.get("peerAddress") {
                    let text = a.scalar_text().unwrap_or_default();
                    if text.parse::<IpAddr>().is_err() {
                        out.push(BGP_003.at(cc.file, a.pos, format!("v2 peerAddress `{text}` must be a plain IP address")));
                    }
                }
                if let Some(r) = peer.lookup("peerConfigRef.name") {
                    let name = r.scalar_text().unwrap_or_default();
                    if !peer_configs.iter().any(|p| p.name == name) {
                        out.push(BGP_005.at(cc.file, r.pos, format!("no CiliumBGPPeerConfig named `{name}`")));
                    }
                }
            }
        }
    }
    for ad in &adverts {
        for a in ad.get("spec.advertisements").and_then(Node::as_seq).unwrap_or_default() {
            if a.get("advertisementType").and_then(Node::as_str) != Some("Service") {
                continue;
            }
            // Cilium's BGPv2 service reconciler matches nothing when the
            // selector or the service options are nil; an empty selector
            // converts to "everything" (pkg/bgp/manager/reconciler/service.go).
            if a.get("selector").is_none() {
                out.push(BGP_004.at(ad.file, a.pos, "Service advertisement without a selector selects no services"));
            } else if a.get("service").is_none() {
                out.push(BGP_004.at(ad.file, a.pos, "Service advertisement without `service.addresses` announces nothing"));
            }
        }
    }
    let labels_of = |o: &crate::check::model::Obj<'_>| -> Vec<(String, String)> {
        o.get("metadata.labels")
            .and_then(Node::as_map)
            .map(|m| m.iter().filter_map(|(k, v)| Some((k.scalar_text()?, v.scalar_text()?))).collect())
            .unwrap_or_default()
    };
    // Once per advertisement, not once per (family, advertisement) pair.
    let advert_labels: Vec<Vec<(String, String)>> = adverts.iter().map(|ad| labels_of(ad)).collect();
    let mut selected = vec![false; adverts.len()];
    for pc in &peer_configs {
        for fam in pc.get("spec.families").and_then(Node::as_seq).unwrap_or_default() {
            let Some(sel_node) = fam.get("advertisements") else { continue };
            let sel = Selector::parse(Some(sel_node));
            let mut any = false;
            for (i, labels) in advert_labels.iter().enumerate() {
                if sel.matches(labels) {
                    selected[i] = true;
                    any = true;
                }
            }
            if !any && !adverts.is_empty() {
                out.push(BGP_006.at(pc.file, sel_node.pos, "this family selects no CiliumBGPAdvertisement"));
            }
        }
    }
    if !peer_configs.is_empty() {
        for (i, ad) in adverts.iter().enumerate() {
            if !selected[i] {
                out.push(BGP_006.at(ad.file, ad.pos("metadata"), format!("{} is selected by no peer config family", ad.describe())));
            }
        }
    }
}
