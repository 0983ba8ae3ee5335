//! Cilium Helm values (values files, HelmRelease inline values and
//! `valuesFrom` ConfigMaps) and Hubble settings.

use ipnet::Ipv4Net;

use crate::diag::Finding;
use crate::diag::Severity::{Error, Warning};
use crate::yaml::Node;

use super::Impact::{Breaks, Deprecated, Silent};
use super::{Rule, rule};
use crate::check::model::{Chart, Ctx, Values};

pub(crate) const CIL_001: Rule = rule(
    "CIL-001", "cilium", Error, Breaks,
    "`kubeProxyReplacement` must be true or false since 1.15; `strict`/`partial`/`probe` stop the agent",
    "kubeProxyReplacement: true", &[14],
);
pub(crate) const CIL_002: Rule = rule(
    "CIL-002", "cilium", Error, Breaks,
    "kube-proxy replacement without `k8sServiceHost`: the agent cannot reach the API server before it programs services",
    "k8sServiceHost: localhost and k8sServicePort: 6443 on RKE2 (or the API VIP)", &[15],
);
pub(crate) const CIL_003: Rule = rule(
    "CIL-003", "cilium", Error, Breaks,
    "`tunnel` was removed in 1.15; the chart's validate template fails the render",
    "routingMode: native (or tunnel mode with `tunnelProtocol`)", &[16],
);
pub(crate) const CIL_004: Rule = rule(
    "CIL-004", "cilium", Error, Breaks,
    "native routing with masquerading but no `ipv4NativeRoutingCIDR`: the agent aborts",
    "ipv4NativeRoutingCIDR: <pod CIDR, e.g. 10.244.0.0/16>", &[17],
);
pub(crate) const CIL_005: Rule = rule(
    "CIL-005", "cilium", Warning, Silent,
    "IPAM ignores the node podCIDRs RKE2 allocates, or its pool overlaps the service CIDR",
    "ipam.mode: kubernetes (or clusterPoolIPv4PodCIDRList: [<cluster-cidr>])", &[18],
);
pub(crate) const CIL_006: Rule = rule(
    "CIL-006", "cilium", Error, Silent,
    "agent flag name used as a chart value; the chart does not read it, so the feature stays off",
    "use the chart key (bandwidthManager.enabled, localRedirectPolicies.enabled, …; socketLB comes with kubeProxyReplacement)", &[19],
);
pub(crate) const CIL_007: Rule = rule(
    "CIL-007", "cilium", Warning, Deprecated,
    "`localRedirectPolicy` is deprecated in 1.18",
    "localRedirectPolicies.enabled: true", &[19],
);
pub(crate) const CIL_008: Rule = rule(
    "CIL-008", "cilium", Warning, Silent,
    "WireGuard without `encryption.nodeEncryption`: node↔pod and node↔node traffic (incl. Gateway→backend) stays clear text",
    "encryption.nodeEncryption: true", &[20],
);
pub(crate) const CIL_009: Rule = rule(
    "CIL-009", "cilium", Warning, Silent,
    "XDP acceleration or DSR together with WireGuard: redirected north/south LB traffic is not encrypted",
    "choose: keep loadBalancer.acceleration disabled and mode snat, or accept clear-text N/S hops", &[21],
);
pub(crate) const CIL_010: Rule = rule(
    "CIL-010", "cilium", Error, Breaks,
    "Cilium release does not install into kube-system (the chart uses the release namespace)",
    "set `targetNamespace: kube-system` and `storageNamespace: kube-system` on the HelmRelease", &[23],
);
pub(crate) const CIL_011: Rule = rule(
    "CIL-011", "cilium", Error, Breaks,
    "Gateway API enabled without kube-proxy replacement or NodePort: the operator refuses to start the controller",
    "kubeProxyReplacement: true (or nodePort.enabled: true)", &[14],
);
pub(crate) const CIL_012: Rule = rule(
    "CIL-012", "cilium", Warning, Silent,
    "`ipv4NativeRoutingCIDR` does not cover the RKE2 `cluster-cidr`",
    "set ipv4NativeRoutingCIDR to the pod CIDR", &[17, 18],
);
pub(crate) const HUB_001: Rule = rule(
    "HUB-001", "hubble", Warning, Silent,
    "key is not a `hubble.relay` chart value and is ignored",
    "use hubble.relay.listenHost/listenPort and hubble.peerService.{targetPort,clusterDomain}", &[38],
);
pub(crate) const HUB_002: Rule = rule(
    "HUB-002", "hubble", Warning, Silent,
    "relay metrics port collides with an agent metrics port (9962 agent, 9963 operator, 9964 envoy, hubble.metrics.port)",
    "keep the relay default 9966", &[39],
);
pub(crate) const HUB_003: Rule = rule(
    "HUB-003", "hubble", Warning, Silent,
    "Hubble TLS uses `auto.method: helm` while Cilium is rendered without cluster access (`helm template`, kustomize `helmCharts`): the chart's `lookup` of the existing certificates finds nothing, so they are regenerated on every render (Flux and `helm upgrade` reuse them)",
    "hubble.tls.auto.method: cronJob (or certmanager)", &[40],
);
pub(crate) const HUB_004: Rule = rule(
    "HUB-004", "hubble", Warning, Silent,
    "Hubble metrics are enabled but nothing scrapes them (no ServiceMonitor)",
    "hubble.metrics.serviceMonitor.enabled: true (and prometheus.serviceMonitor for the agent)", &[40],
);

pub(crate) const RULES: &[Rule] = &[
    CIL_001, CIL_002, CIL_003, CIL_004, CIL_005, CIL_006, CIL_007, CIL_008, CIL_009, CIL_010,
    CIL_011, CIL_012, HUB_001, HUB_002, HUB_003, HUB_004,
];

/// Agent flag spellings (camelCase) that are not chart values, with the key to use.
const FLAG_NAMES: &[(&str, &str)] = &[
    ("enableBandwidthManager", "bandwidthManager.enabled"),
    ("enableLocalRedirectPolicy", "localRedirectPolicies.enabled"),
    ("enableSocketLB", "socketLB.enabled (automatic with kubeProxyReplacement: true)"),
    ("enableHubble", "hubble.enabled"),
    ("enableBGPControlPlane", "bgpControlPlane.enabled"),
    ("enableWireguard", "encryption.enabled + encryption.type: wireguard"),
    ("enableL7Proxy", "l7Proxy"),
    ("enableHostFirewall", "hostFirewall.enabled"),
    ("enableGatewayAPI", "gatewayAPI.enabled"),
    ("enableBPFMasquerade", "bpf.masquerade"),
    ("enableNodePort", "nodePort.enabled"),
    ("enableHostPort", "hostPort.enabled"),
    ("enableExternalIPs", "externalIPs.enabled"),
    ("enableEnvoyConfig", "envoyConfig.enabled"),
    ("enableL2Announcements", "l2announcements.enabled"),
    ("enableAutoDirectRouting", "autoDirectNodeRoutes"),
];

const RELAY_KEYS: &[&str] = &[
    "enabled", "rollOutPods", "image", "resources", "replicas", "affinity",
    "topologySpreadConstraints", "tolerations", "nodeSelector", "annotations", "podAnnotations",
    "podLabels", "podDisruptionBudget", "priorityClassName", "terminationGracePeriodSeconds",
    "updateStrategy", "extraVolumes", "extraVolumeMounts", "extraEnv", "podSecurityContext",
    "securityContext", "service", "listenHost", "listenPort", "tls", "dialTimeout", "retryTimeout",
    "sortBufferLenMax", "sortBufferDrainTimeout", "prometheus", "gops", "pprof", "logOptions",
    "labels", "automountServiceAccountToken",
];

pub(crate) fn check(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let cluster_cidrs: Vec<Ipv4Net> = ctx
        .rke2
        .iter()
        .flat_map(|c| c.items("cluster-cidr"))
        .filter_map(|(s, _)| s.parse().ok())
        .collect();
    let service_cidrs: Vec<Ipv4Net> = ctx
        .rke2
        .iter()
        .flat_map(|c| c.items("service-cidr"))
        .filter_map(|(s, _)| s.parse().ok())
        .collect();
    for v in ctx.cilium_values() {
        check_values(ctx, v, &cluster_cidrs, &service_cidrs, out);
    }
    for r in &ctx.releases {
        // An unknown namespace (nothing in the inputs sets it) is not
        // reported: the tool that applies the file decides it.
        if r.chart == Chart::Cilium
            && let Some(ns) = r.target_ns.as_deref().filter(|ns| *ns != "kube-system")
        {
            let obj = ctx.release_obj(r);
            let pos = obj.get("spec.targetNamespace").map_or(obj.node.pos, |n| n.pos);
            out.push(CIL_010.at(obj.file, pos, format!("Cilium would be installed into `{ns}`")));
        }
    }
}

fn check_values(
    ctx: &Ctx<'_>,
    v: &Values,
    cluster_cidrs: &[Ipv4Net],
    service_cidrs: &[Ipv4Net],
    out: &mut Vec<Finding>,
) {
    let file = v.file.as_str();
    let kpr = v.str("kubeProxyReplacement");
    if let Some(k) = &kpr
        && k != "true"
        && k != "false"
    {
        out.push(CIL_001.at(file, v.pos("kubeProxyReplacement"), format!("`kubeProxyReplacement: {k}` is invalid")));
    }
    let kpr_on = matches!(kpr.as_deref(), Some("true" | "strict"));
    if kpr_on && !ctx.release_sets(v, "k8sServiceHost") {
        out.push(CIL_002.at(file, v.key_pos("kubeProxyReplacement"), "`k8sServiceHost` is not set"));
    }
    if v.get("tunnel").is_some() {
        out.push(CIL_003.at(file, v.key_pos("tunnel"), "`tunnel` is no longer a chart value"));
    }
    let native = v.str("routingMode").as_deref() == Some("native")
        || v.str("tunnel").as_deref() == Some("disabled");
    let masq = v.str("enableIPv4Masquerade").as_deref() != Some("false");
    if native && masq && !ctx.release_sets(v, "ipv4NativeRoutingCIDR") {
        let at = if v.get("routingMode").is_some() { v.key_pos("routingMode") } else { v.key_pos("tunnel") };
        out.push(CIL_004.at(file, at, "native routing needs `ipv4NativeRoutingCIDR`"));
    }
    if let Some(cidr) = v.str("ipv4NativeRoutingCIDR").and_then(|s| s.parse::<Ipv4Net>().ok()) {
        for cc in cluster_cidrs {
            if !cidr.contains(cc) {
                out.push(CIL_012.at(
                    file,
                    v.pos("ipv4NativeRoutingCIDR"),
                    format!("{cidr} does not contain cluster-cidr {cc}"),
                ));
            }
        }
    }
    if !(v.get("ipam").is_none() && ctx.release_sets(v, "ipam")) {
        check_ipam(v, service_cidrs, out);
    }
    if let Some(map) = v.root.as_map() {
        for (k, _) in map {
            let key = k.scalar_text().unwrap_or_default();
            if let Some((_, use_key)) = FLAG_NAMES.iter().find(|(n, _)| *n == key) {
                out.push(CIL_006.at(file, k.pos, format!("`{key}` is an agent flag name; use `{use_key}`")));
            } else if key.contains('-') {
                out.push(CIL_006.at(file, k.pos, format!("`{key}` is an agent flag (kebab-case); chart values are camelCase")));
            } else if key == "localRedirectPolicy" {
                out.push(CIL_007.at(file, k.pos, "`localRedirectPolicy` is deprecated"));
            }
        }
    }
    let wg = v.truthy("encryption.enabled") && v.str("encryption.type").as_deref() == Some("wireguard");
    if wg && !v.truthy("encryption.nodeEncryption") {
        out.push(CIL_008.at(file, v.key_pos("encryption.type"), "only pod→pod traffic is encrypted"));
    }
    if wg {
        let xdp = v.str("loadBalancer.acceleration").is_some_and(|a| a != "disabled");
        let dsr = matches!(v.str("loadBalancer.mode").as_deref(), Some("dsr" | "hybrid"));
        if xdp || dsr {
            let at = if xdp { v.pos("loadBalancer.acceleration") } else { v.pos("loadBalancer.mode") };
            out.push(CIL_009.at(file, at, "N/S load-balanced traffic redirected between nodes bypasses WireGuard"));
        }
    }
    if v.truthy("gatewayAPI.enabled") && !kpr_on && !v.truthy("nodePort.enabled") {
        out.push(CIL_011.at(file, v.key_pos("gatewayAPI.enabled"), "Gateway API needs kubeProxyReplacement: true"));
    }
    check_hubble(ctx, v, out);
}

fn check_ipam(v: &Values, service_cidrs: &[Ipv4Net], out: &mut Vec<Finding>) {
    let mode = v.str("ipam.mode");
    if mode.as_deref() == Some("kubernetes") || mode.as_deref().is_some_and(|m| m != "cluster-pool") {
        return;
    }
    let list = v.get("ipam.operator.clusterPoolIPv4PodCIDRList");
    let at = v.get("ipam").map_or(v.root.pos, |n| n.pos);
    let Some(list) = list else {
        out.push(CIL_005.at(
            file_of(v),
            at,
            "ipam defaults to cluster-pool 10.0.0.0/8, which ignores node podCIDRs and contains the service CIDR",
        ));
        return;
    };
    let defaults = ["10.96.0.0/12".parse::<Ipv4Net>().ok()];
    let services: Vec<Ipv4Net> = if service_cidrs.is_empty() {
        defaults.into_iter().flatten().collect()
    } else {
        service_cidrs.to_vec()
    };
    for item in list.as_seq().unwrap_or_default() {
        let Some(pool) = item.scalar_text().and_then(|s| s.parse::<Ipv4Net>().ok()) else { continue };
        for svc in &services {
            if pool.contains(svc) || svc.contains(&pool) {
                out.push(CIL_005.at(file_of(v), item.pos, format!("pod pool {pool} overlaps the service CIDR {svc}")));
            }
        }
    }
}

fn file_of(v: &Values) -> &str {
    &v.file
}

fn check_hubble(ctx: &Ctx<'_>, v: &Values, out: &mut Vec<Finding>) {
    let file = v.file.as_str();
    if let Some(relay) = v.get("hubble.relay").and_then(Node::as_map) {
        for (k, _) in relay {
            let key = k.scalar_text().unwrap_or_default();
            if !RELAY_KEYS.contains(&key.as_str()) {
                out.push(HUB_001.at(file, k.pos, format!("`hubble.relay.{key}` is not a chart value")));
            }
        }
    }
    if let Some(port) = v.get("hubble.relay.prometheus.port").and_then(Node::scalar_text) {
        let metrics = v.str("hubble.metrics.port").unwrap_or_else(|| "9965".into());
        if ["9962", "9963", "9964", metrics.as_str()].contains(&port.as_str()) {
            out.push(HUB_002.at(file, v.pos("hubble.relay.prometheus.port"), format!("port {port} is already used by an agent-side metrics endpoint")));
        }
    }
    let hubble_on = v.str("hubble.enabled").as_deref() != Some("false");
    // The chart reuses existing certificates through `lookup`, which only
    // a renderer with cluster access (helm install/upgrade, Flux) can do.
    let offline = ctx.commands.iter().any(|c| c.text.contains("helm template") && c.text.contains("cilium"))
        || ctx.sources.iter().flat_map(|s| s.docs.iter()).any(|d| {
            d.root.get("helmCharts").and_then(Node::as_seq).unwrap_or_default().iter().any(|h| {
                h.get("name").and_then(Node::scalar_text).is_some_and(|n| n.contains("cilium"))
            })
        });
    let tls_on = v.str("hubble.tls.enabled").as_deref() != Some("false")
        && v.str("hubble.tls.auto.enabled").as_deref() != Some("false");
    let method = v.str("hubble.tls.auto.method").unwrap_or_else(|| "helm".into());
    if hubble_on && offline && tls_on && method == "helm" && v.get("hubble").is_some() {
        let at = v.get("hubble.tls.auto.method").map_or(v.key_pos("hubble"), |n| n.pos);
        out.push(HUB_003.at(file, at, "Hubble TLS certificates are generated by Helm on every upgrade"));
    }
    let metrics = v.get("hubble.metrics.enabled").and_then(Node::as_seq).is_some_and(|s| !s.is_empty());
    if hubble_on && metrics && !v.truthy("hubble.metrics.serviceMonitor.enabled") {
        out.push(HUB_004.at(file, v.key_pos("hubble.metrics.enabled"), "Hubble metrics have no ServiceMonitor"));
    }
}
