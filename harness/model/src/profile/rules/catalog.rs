//! The `PROF-NNN` catalog: ids, titles and fix hints. `check --rules`
//! and docs/profile.md show exactly this list (a test keeps them equal).

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
        title: "version not pinned to an exact release, or the RKE2 or kind Kubernetes minor differs from versions.kubernetes",
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
    RuleInfo {
        id: "PROF-033",
        title: "published hostname not served by an HTTPS listener or not covered by the Gateway certificate",
        hint: "add an HTTPS listener whose hostname accepts the record and a certificate dnsName that covers it; `*.example.com` covers one label only",
    },
    RuleInfo {
        id: "PROF-034",
        title: "DSR or XDP load balancing together with node encryption, or without kube-proxy replacement",
        hint: "keep loadBalancerMode: snat and loadBalancerAcceleration: disabled when nodeEncryption must cover north/south traffic; DSR and XDP need kubeProxyReplacement",
    },
    RuleInfo {
        id: "PROF-035",
        title: "NodeLocal DNS without local redirect policies",
        hint: "enable features.localRedirectPolicy (rke2-coredns uses a Cilium LRP to steer DNS to the node-local cache), or turn nodeLocalDNS off",
    },
    RuleInfo {
        id: "PROF-036",
        title: "DNS records target the Gateway but Gateway API is off",
        hint: "enable features.gatewayAPI, or point the records at a tunnel or a fixed address",
    },
];

/// The rule catalog, in id order.
pub fn rules() -> &'static [RuleInfo] {
    CATALOG
}

pub(super) fn hint_of(id: &str) -> &'static str {
    CATALOG.iter().find(|r| r.id == id).map_or("", |r| r.hint)
}
