//! `bgpPeer` steps: what the harness's router expects the nodes to advertise.

use super::*;

impl Validator<'_> {
    pub(super) fn bgp_peer(&mut self, path: &str, b: &crate::suite::model::BgpPeer, known: &BTreeSet<String>) {
        if let Some(m) = &b.metric {
            self.metric_id(&format!("{path}.metric"), m, "failover.bgp_peer_reset.routes_back");
        }
        for (key, list) in [("received", &b.received), ("notReceived", &b.not_received)] {
            for (i, p) in list.iter().enumerate() {
                let vars = referenced(p);
                if vars.is_empty() {
                    if p.parse::<ipnet::Ipv4Net>().is_err() {
                        self.error(
                            &SUITE_011,
                            &format!("{path}.{key}[{i}]"),
                            format!("`{p}` is not an IPv4 prefix"),
                            "write a prefix such as `198.51.100.34/32`",
                        );
                    }
                } else {
                    self.vars(&format!("{path}.{key}[{i}]"), vars, known);
                }
            }
        }
        if b.received.is_empty() && b.not_received.is_empty() && !b.pod_cidrs_from_nodes && b.min_sessions.is_none() {
            self.error(
                &SUITE_009,
                path,
                "bgpPeer checks nothing".into(),
                "give `minSessions`, `received`, `notReceived` or `podCidrsFromNodes: true`",
            );
        }
    }
}
