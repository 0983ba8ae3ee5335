//! Routing (PROF-010), node-LAN membership (PROF-017), Cilium feature
//! prerequisites (PROF-011, PROF-016, PROF-021, PROF-022) and control-plane
//! size (PROF-026).

use super::Cx;
use super::addr::Nets;
use crate::diag::Severity;
use crate::profile::model::{LbAcceleration, LbMode, NodeRole, Profile, RoutingMode};

pub(super) fn routing(cx: &mut Cx, p: &Profile, nets: &Nets) {
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

pub(super) fn features(cx: &mut Cx, p: &Profile) {
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
    let dsr = f.load_balancer_mode != LbMode::Snat;
    let xdp = f.load_balancer_acceleration != LbAcceleration::Disabled;
    if (dsr || xdp) && !f.kube_proxy_replacement {
        let path = if dsr {
            "features.loadBalancerMode"
        } else {
            "features.loadBalancerAcceleration"
        };
        cx.push("PROF-034", path, "DSR and XDP acceleration are part of kube-proxy replacement; enable features.kubeProxyReplacement");
    } else if (dsr || xdp) && f.node_encryption {
        // Cilium logs this itself: redirected N/S traffic skips WireGuard.
        let (path, what) = if dsr {
            ("features.loadBalancerMode", "DSR")
        } else {
            ("features.loadBalancerAcceleration", "XDP acceleration")
        };
        cx.push(
            "PROF-034",
            path,
            format!("with {what}, north/south traffic forwarded between nodes is not encrypted, although nodeEncryption is on"),
        );
    }
    if f.node_local_dns && !f.local_redirect_policy {
        cx.push("PROF-035", "features.nodeLocalDNS", "NodeLocal DNS steers pods to the node cache with a Cilium local redirect policy; enable features.localRedirectPolicy");
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

pub(super) fn control_plane(cx: &mut Cx, p: &Profile) {
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
            .rfind(|(_, n)| n.role == NodeRole::Server)
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
