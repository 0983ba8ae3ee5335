//! The profile suite: one case per promise that names a concrete object
//! (an LB pool, a BGP peer, a gateway listener, a DNS record), generated
//! from the profile at run time and run like any other suite. Its case ids
//! are [`super::profile_case`]'s, which the promises point at.
//!
//! Generated as JSON (a YAML subset) so no value needs quoting rules, and
//! loaded through the ordinary suite loader, so it meets the same rules.

use serde_json::{Value, json};

use super::profile_case;
use crate::profile::{DnsTarget, Profile};

/// The suite's name and file label.
pub const SUITE: &str = "profile";

/// `(file label, suite text)` for `p`. `profile_file` names the profile in
/// the label, so a loader finding points at where the values came from.
pub fn profile_suite(p: &Profile, profile_file: &str) -> (String, String) {
    let mut cases = Vec::new();
    // Negative controls for `run --prove`: each case names the break that
    // must make it fail (only recipes some case uses are written).
    let mut breaks = serde_json::Map::new();
    for pool in &p.load_balancer.pools {
        // Listed and filtered by name, so a disabled pool can be counted.
        let this = format!("$.items[?@.metadata.name=='{}']", pool.name);
        let mut that = vec![json!({"path": this, "count": {"equals": 1}})];
        for b in &pool.blocks {
            match (&b.cidr, &b.start, &b.stop) {
                (Some(cidr), _, _) => that.push(json!({"path": format!("{this}.spec.blocks[*].cidr"), "equals": cidr})),
                (None, Some(start), Some(stop)) => {
                    that.push(json!({"path": format!("{this}.spec.blocks[*].start"), "equals": start}));
                    that.push(json!({"path": format!("{this}.spec.blocks[*].stop"), "equals": stop}));
                }
                _ => {}
            }
        }
        that.push(json!({
            "path": format!("$.items[?@.metadata.name=='{}' && @.spec.disabled == true]", pool.name),
            "count": {"equals": 0}
        }));
        that.push(json!({
            "path": format!("{this}.status.conditions[?@.type=='cilium.io/PoolConflict' && @.status=='True']"),
            "count": {"equals": 0}
        }));
        let recipe = format!("pool-{}-gone", pool.name);
        breaks.insert(
            recipe.clone(),
            json!({
                "description": format!("LB-IPAM pool {} removed", pool.name),
                "remove": [{"apiVersion": "cilium.io/v2", "kind": "CiliumLoadBalancerIPPool", "name": pool.name}],
            }),
        );
        let mut c = case(
            &profile_case("lb-pool", &pool.name),
            &format!("LB-IPAM pool {} exists, enabled, with the profile's blocks and no conflict.", pool.name),
            &["lbIpam"],
            vec![json!({"assert": {
                "ref": {"apiVersion": "cilium.io/v2", "kind": "CiliumLoadBalancerIPPool"},
                "that": that,
            }})],
        );
        c["break"] = json!({"recipe": recipe, "failsWith": format!("name=='{}'", pool.name)});
        cases.push(c);
    }
    if p.features.bgp {
        // Every node when the selector selects every Linux node; otherwise
        // the profile does not say how many nodes peer.
        if !p.bgp.peers.is_empty() {
            breaks.insert(
                "bgp-cluster-config-gone".into(),
                json!({
                    "description": "every CiliumBGPClusterConfig removed",
                    "remove": [{"apiVersion": "cilium.io/v2", "kind": "CiliumBGPClusterConfig"}],
                    "settle": "10s",
                }),
            );
        }
        let all_nodes = p.bgp.node_selector.is_empty()
            || p.bgp.node_selector.iter().all(|(k, v)| k == "kubernetes.io/os" && v == "linux");
        for peer in &p.bgp.peers {
            let sessions = format!("$.items[*].status.bgpInstances[*].peers[?@.peerAddress=='{}']", peer.address);
            let min: Value = if all_nodes { json!("{{nodeCount}}") } else { json!(1) };
            let mut c = case(
                &profile_case("bgp-peer", &peer.name),
                &format!(
                    "The cluster config peers with {} (AS{}) from AS{} and every selected node's session is established.",
                    peer.address, peer.asn, p.bgp.local_asn
                ),
                &["bgpControlPlane"],
                vec![
                    json!({"assert": {
                        "ref": {"apiVersion": "cilium.io/v2", "kind": "CiliumBGPClusterConfig"},
                        "that": [
                            {"path": "$.items[*].spec.bgpInstances[*].peers[*].peerAddress", "equals": peer.address},
                            {"path": "$.items[*].spec.bgpInstances[*].localASN", "equals": p.bgp.local_asn},
                        ],
                    }}),
                    json!({"assert": {
                        "ref": {"apiVersion": "cilium.io/v2", "kind": "CiliumBGPNodeConfig"},
                        "that": [
                            {"path": sessions, "count": {"min": min}},
                            {"path": format!("{sessions}.peerASN"), "equals": peer.asn},
                            {
                                "path": format!(
                                    "$.items[*].status.bgpInstances[*].peers[?@.peerAddress=='{}' && @.peeringState != 'established']",
                                    peer.address
                                ),
                                "count": {"equals": 0}
                            },
                        ],
                    }}),
                ],
            );
            c["break"] = json!({"recipe": "bgp-cluster-config-gone", "failsWith": "peerAddress"});
            cases.push(c);
        }
    }
    if p.features.gateway_api {
        let gw = &p.gateway;
        for l in &gw.listeners {
            let listener = |field: &str| format!("$.{field}.listeners[?@.name=='{}']", l.name);
            let mut c = case(
                &profile_case("gateway-listener", &l.name),
                &format!("Gateway {}/{} has listener {} on port {} and it is Programmed.", gw.namespace, gw.name, l.name, l.port),
                &["gatewayApi"],
                vec![json!({"assert": {
                    "ref": {
                        "apiVersion": "gateway.networking.k8s.io/v1",
                        "kind": "Gateway",
                        "namespace": gw.namespace,
                        "name": gw.name,
                    },
                    "that": [
                        {"path": format!("{}.port", listener("spec")), "equals": l.port},
                        {
                            "path": format!("{}.conditions[?@.type=='Programmed'].status", listener("status")),
                            "equals": "True"
                        },
                    ],
                }})],
            );
            c["break"] = json!({"none": "the Gateway serves the site's traffic; its listeners are proven by the gateway suite's own Gateway"});
            cases.push(c);
        }
    }
    for r in &p.dns.records {
        // The record's content must be known to be checked; a tunnel target
        // or a gateway without a fixed address leaves the promise uncovered.
        let content = match &r.target {
            DnsTarget::Gateway => p.gateway.address.clone(),
            DnsTarget::Address(a) => Some(a.clone()),
            DnsTarget::Tunnel => None,
        };
        let Some(content) = content else { continue };
        let proxied = r.proxied.unwrap_or(p.dns.cloudflare.proxied_default);
        let mut c = case(
            &profile_case("dns-record", &r.name),
            &format!("{} is published by external-dns and points at {content}.", r.hostname),
            &[],
            vec![json!({"dnsRecord": {
                "record": r.hostname,
                "content": content,
                "proxied": proxied,
                "state": "present",
                "timeout": "1m",
            }})],
        );
        c["break"] = json!({"none": "the record lives in the site's DNS zone, which a break must not change"});
        cases.push(c);
    }
    let suite = json!({
        "apiVersion": "infraflux.io/v1alpha1",
        "kind": "Suite",
        "metadata": {"name": SUITE},
        "description": format!("The profile's concrete promises, generated from {profile_file}."),
        "requires": ["cilium"],
        "defaults": {"timeout": "2m", "timeouts": {"assert": "60s"}},
        "breaks": breaks,
        "cases": cases,
    });
    let text = serde_json::to_string_pretty(&suite).unwrap_or_default();
    (format!("{SUITE} suite (generated from {profile_file})"), text)
}

fn case(id: &str, description: &str, requires: &[&str], steps: Vec<Value>) -> Value {
    let name = id.strip_prefix(&format!("{SUITE}::")).unwrap_or(id);
    let mut c = json!({"name": name, "description": description, "steps": steps});
    if !requires.is_empty() {
        c["requires"] = json!(requires);
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::{Evidence, promises};

    #[test]
    fn the_profile_suite_loads_and_has_a_case_for_each_concrete_promise() {
        let p = crate::profile::load_default().unwrap_or_else(|e| panic!("{e}")).profile;
        let (file, text) = profile_suite(&p, "default.yaml");
        let loaded = crate::suite::load_str(&file, &text, std::path::Path::new("fixtures"))
            .unwrap_or_else(|e| panic!("{:#?}\n{text}", e.0));
        let ids: Vec<&str> = loaded.cases.iter().map(|c| c.id.as_str()).collect();
        for promise in promises(&p) {
            if let Evidence::Cases(want) = &promise.evidence {
                for id in want {
                    assert!(ids.contains(&id.as_str()), "{} has no case {id} in {ids:?}", promise.id);
                }
            }
        }
        let pool = loaded.cases.iter().find(|c| c.id == "profile::lb-pool-main").unwrap();
        assert!(pool.requires.contains(&crate::suite::Feature::LbIpam));
        let dns = loaded.cases.iter().find(|c| c.id == "profile::dns-record-auth").unwrap();
        assert!(dns.requires.contains(&crate::suite::Feature::DnsApi), "{:?}", dns.requires);
    }

    #[test]
    fn a_record_whose_content_is_unknown_gets_no_case() {
        let mut p = crate::profile::load_default().unwrap_or_else(|e| panic!("{e}")).profile;
        p.gateway.address = None;
        let (_, text) = profile_suite(&p, "p.yaml");
        assert!(!text.contains("dns-record-auth"), "{text}");
        assert!(text.contains("gateway-listener-https"));
    }
}
