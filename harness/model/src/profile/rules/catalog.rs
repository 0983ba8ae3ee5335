//! The `PROF-NNN` catalog: ids, titles and fix hints. `check --rules`
//! and docs/profile.md show exactly this list (a test keeps them equal).
//! Every rule is an error except PROF-008 (a warning); PROF-026 is a
//! warning for an even number of servers and an error without a server.

use crate::rules::Rule;

const AREA: &str = "profile";

/// The catalog, in id order.
pub const RULES: &[Rule] = &[
    Rule::error(
        "PROF-000",
        AREA,
        "profile does not decode (unknown key, wrong type, missing key, extra document)",
        "fix the field as the message says; docs/profile.md lists every key and its type",
    ),
    Rule::error(
        "PROF-001",
        AREA,
        "malformed IP address or CIDR",
        "write an address like 192.168.3.11 or a CIDR like 10.244.0.0/16 with no host bits set",
    ),
    Rule::error(
        "PROF-002",
        AREA,
        "cluster CIDRs overlap (pod, service, native-routing, node LAN, VIP prefix)",
        "give pods, services, the node LAN and the VIP prefix disjoint ranges; only nativeRoutingCIDR may contain podCIDR",
    ),
    Rule::error(
        "PROF-003",
        AREA,
        "LB pool block collides with a node, the gateway, the API VIP, a cluster CIDR or another block",
        "move the block to free addresses of loadBalancer.vipCIDR, away from every other block",
    ),
    Rule::error(
        "PROF-004",
        AREA,
        "LB pool block has start after stop",
        "swap start and stop, or use a cidr block",
    ),
    Rule::error(
        "PROF-005",
        AREA,
        "LB pool block is not {cidr} or {start[, stop]}, or a pool has no blocks",
        "write each block as `{cidr: 192.168.30.0/25}` or `{start: 192.168.30.200, stop: 192.168.30.250}`",
    ),
    Rule::error(
        "PROF-006",
        AREA,
        "two LB pools can select the same Service",
        "make the selectors disjoint, e.g. main: `priority NotIn [critical]`, critical: `matchLabels {priority: critical}`",
    ),
    Rule::error(
        "PROF-007",
        AREA,
        "invalid or reserved BGP ASN",
        "use a private ASN (64512-65534 or 4200000000-4294967294) or one assigned to you; 0, 23456, 65535, documentation and reserved ASNs are not valid",
    ),
    Rule::warning(
        "PROF-008",
        AREA,
        "local ASN equals peer ASN (iBGP) although the design is eBGP to the router",
        "give the cluster its own ASN (e.g. 65001 vs router 65000); iBGP needs the router to act as route reflector for node routes to propagate",
    ),
    Rule::error(
        "PROF-009",
        AREA,
        "BGP peer is not on the node LAN",
        "peer with a router address inside network.nodeCIDR; Cilium dials peers directly from each node (no multihop)",
    ),
    Rule::error(
        "PROF-010",
        AREA,
        "native routing without a nativeRoutingCIDR that contains podCIDR",
        "set network.nativeRoutingCIDR to the pod CIDR (10.244.0.0/16); Cilium refuses to start otherwise",
    ),
    Rule::error(
        "PROF-011",
        AREA,
        "kube-proxy replacement without k8sServiceHost/k8sServicePort",
        "set network.k8sServiceHost: localhost and k8sServicePort: 6443 (RKE2's per-node API proxy)",
    ),
    Rule::error(
        "PROF-012",
        AREA,
        "Gateway API bundle does not match the Cilium minor",
        "use the bundle Cilium was built against: 1.17 -> v1.2.1, 1.18 -> v1.3.0, 1.19 -> v1.4.x, 1.20 -> v1.6.1",
    ),
    Rule::error(
        "PROF-013",
        AREA,
        "Cloudflare-proxied record points at a private address without a tunnel",
        "set `proxied: false` (LAN-only record) or publish through a Cloudflare Tunnel (`target: tunnel`); Cloudflare rejects proxied private targets (error 9003)",
    ),
    Rule::error(
        "PROF-014",
        AREA,
        "hostname outside dns.domain, or zone that does not contain the domain",
        "use hostnames under dns.domain and a Cloudflare zone equal to or a parent of it",
    ),
    Rule::error(
        "PROF-015",
        AREA,
        "secret written inline",
        "reference it instead: `{env: CF_API_TOKEN}` or `{file: /run/secrets/cf-token}`; never commit secret values",
    ),
    Rule::error(
        "PROF-016",
        AREA,
        "node encryption without WireGuard",
        "set features.wireguard: true, or turn features.nodeEncryption off",
    ),
    Rule::error(
        "PROF-017",
        AREA,
        "node, gateway or API VIP address outside the node LAN",
        "use an address inside network.nodeCIDR, or fix nodeCIDR",
    ),
    Rule::error(
        "PROF-018",
        AREA,
        "duplicate name or address",
        "give every node, pool, peer, record and listener a unique name, and every node a unique IP distinct from the gateway and API VIP",
    ),
    Rule::error(
        "PROF-019",
        AREA,
        "inconsistent BGP timers",
        "use keepalive < hold time (keepalive = hold/3 is usual), hold time 0 or >= 3 s, connect retry > 0",
    ),
    Rule::error(
        "PROF-020",
        AREA,
        "version not pinned to an exact release, or the RKE2 or kind Kubernetes minor differs from versions.kubernetes",
        "pin exact versions (1.18.6, v1.3.0); ranges let Flux jump minors, which upstream does not test",
    ),
    Rule::error(
        "PROF-021",
        AREA,
        "Gateway API without kube-proxy replacement or the L7 proxy",
        "enable features.kubeProxyReplacement and features.l7Proxy, or turn features.gatewayAPI off",
    ),
    Rule::error(
        "PROF-022",
        AREA,
        "Hubble UI, relay or metrics without their prerequisites",
        "the UI needs the relay, and relay, UI and metrics need hubble.enabled",
    ),
    Rule::error(
        "PROF-023",
        AREA,
        "LB pool block outside loadBalancer.vipCIDR",
        "keep every pool inside the routed VIP prefix (e.g. 192.168.30.0/24)",
    ),
    Rule::error(
        "PROF-024",
        AREA,
        "invalid label selector requirement",
        "In/NotIn need at least one value; Exists/DoesNotExist take no values; keys must not be empty",
    ),
    Rule::error(
        "PROF-025",
        AREA,
        "record targets the tunnel but no Cloudflare Tunnel is configured",
        "add dns.cloudflare.tunnel {id, credentials}, or target the gateway",
    ),
    Rule::error(
        "PROF-026",
        AREA,
        "no server node, or an even number of servers",
        "run 1, 3 or 5 servers; etcd with an even member count tolerates no more failures than one fewer",
    ),
    Rule::error(
        "PROF-027",
        AREA,
        "gateway address is not in a pool that selects the Gateway",
        "pick gateway.address from a block of the pool whose serviceSelector matches gateway.infrastructureLabels",
    ),
    Rule::error(
        "PROF-028",
        AREA,
        "perf settings out of range",
        "use samples >= 1, durationSeconds >= 1 and 0 < regressionThresholdPercent <= 100",
    ),
    Rule::error(
        "PROF-029",
        AREA,
        "failover budget is zero or below what BGP can detect",
        "budgets must be > 0 ms, and bgpPeerLoss at least the BGP hold time",
    ),
    Rule::error(
        "PROF-030",
        AREA,
        "secret reference sets both or neither of env and file",
        "set exactly one: `{env: NAME}` or `{file: /path}`",
    ),
    Rule::error(
        "PROF-031",
        AREA,
        "BGP enabled without peers",
        "add at least one bgp.peers entry, or turn features.bgp off",
    ),
    Rule::error(
        "PROF-032",
        AREA,
        "LoadBalancer VIPs are not announced (no BGP LB advertisement, no L2 announcements)",
        "enable features.bgp with bgp.advertise.loadBalancerIPs, or features.l2Announcements with VIPs on the node LAN",
    ),
    Rule::error(
        "PROF-033",
        AREA,
        "published hostname not served by an HTTPS listener or not covered by the Gateway certificate",
        "add an HTTPS listener whose hostname accepts the record and a certificate dnsName that covers it; `*.example.com` covers one label only",
    ),
    Rule::error(
        "PROF-034",
        AREA,
        "DSR or XDP load balancing together with node encryption, or without kube-proxy replacement",
        "keep loadBalancerMode: snat and loadBalancerAcceleration: disabled when nodeEncryption must cover north/south traffic; DSR and XDP need kubeProxyReplacement",
    ),
    Rule::error(
        "PROF-035",
        AREA,
        "NodeLocal DNS without local redirect policies",
        "enable features.localRedirectPolicy (rke2-coredns uses a Cilium LRP to steer DNS to the node-local cache), or turn nodeLocalDNS off",
    ),
    Rule::error(
        "PROF-036",
        AREA,
        "DNS records target the Gateway but Gateway API is off",
        "enable features.gatewayAPI, or point the records at a tunnel or a fixed address",
    ),
    Rule::error(
        "PROF-037",
        AREA,
        "local chart directory is missing, lacks Chart.yaml or holds another chart",
        "point install.charts.<chart> at an unpacked chart (`helm pull <chart> --version <v> --untar`) whose Chart.yaml names that chart; relative paths start at the profile's directory; gatewayAPI names a directory of CRD .yaml files",
    ),
    Rule::error(
        "PROF-038",
        AREA,
        "image registry mirror is not a registry host[:port][/path]",
        "write the mirror as a registry host with an optional port and path, e.g. `mirror.lab.internal:5000/quay`: no scheme, no tag, a dot, port or `localhost` in the host",
    ),
    Rule::error(
        "PROF-039",
        AREA,
        "Proxmox API certificate would not be verified (insecureSkipTlsVerify: true, both caFile and fingerprint, or a malformed fingerprint)",
        "drop insecureSkipTlsVerify and set exactly one of caFile (the PVE root CA, /etc/pve/pve-root-ca.pem) or fingerprint (the API certificate's SHA-256, Node → System → Certificates)",
    ),
    Rule::error(
        "PROF-040",
        AREA,
        "kube-vip settings unusable (interface name, or an image pin without both version and sha256 digest)",
        "give apiVip.kubeVip the servers' interface on the node LAN (e.g. eth0, ens18) and either both version (v1.0.2) and digest (sha256:<64 hex>) or neither (the documented default pin)",
    ),
    Rule::error(
        "PROF-041",
        AREA,
        "proxmoxRke2 cannot provision: no caFile/fingerprint to verify the API, or no ssh section to log into the VMs (checked by up/conform, the API part by down; not by check)",
        "add caFile or fingerprint, and ssh: {user, publicKeyFile, privateKeyFile} to provider.proxmoxRke2.proxmox (README, section Proxmox)",
    ),
];

/// The rule catalog, in id order.
pub fn rules() -> &'static [Rule] {
    RULES
}

pub(super) fn hint_of(id: &str) -> &'static str {
    crate::rules::find(RULES, id).map_or("", |r| r.hint)
}
