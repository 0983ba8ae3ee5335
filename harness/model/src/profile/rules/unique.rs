//! Names and addresses that must be unique (PROF-018).

use std::collections::HashMap;

use super::Cx;
use crate::profile::model::Profile;

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

pub(super) fn duplicates(cx: &mut Cx, p: &Profile) {
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
