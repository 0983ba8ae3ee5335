//! Strict models of the Cilium CRDs the stack uses (cilium.io/v2).
#![allow(dead_code)]

use serde::Deserialize;
use serde::de::IgnoredAny;

use super::common::{NameRef, Object, Selector};

pub(crate) type LbPool = Object<LbPoolSpec>;
pub(crate) type BgpClusterConfig = Object<BgpClusterSpec>;
pub(crate) type BgpPeerConfig = Object<BgpPeerSpec>;
pub(crate) type BgpAdvertisement = Object<BgpAdvertSpec>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct LbPoolSpec {
    blocks: Option<Vec<LbBlock>>,
    service_selector: Option<Selector>,
    #[serde(rename = "allowFirstLastIPs")]
    allow_first_last_ips: Option<String>,
    disabled: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct LbBlock {
    cidr: Option<String>,
    start: Option<String>,
    stop: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct BgpClusterSpec {
    node_selector: Option<Selector>,
    bgp_instances: Vec<BgpInstance>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct BgpInstance {
    name: String,
    #[serde(rename = "localASN")]
    local_asn: Option<i64>,
    local_port: Option<i64>,
    #[serde(rename = "routerID")]
    router_id: Option<String>,
    peers: Option<Vec<BgpPeer>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct BgpPeer {
    name: String,
    peer_address: Option<String>,
    #[serde(rename = "peerASN")]
    peer_asn: Option<i64>,
    auto_discovery: Option<IgnoredAny>,
    peer_config_ref: Option<NameRef>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct BgpPeerSpec {
    transport: Option<IgnoredAny>,
    timers: Option<BgpTimers>,
    auth_secret_ref: Option<String>,
    graceful_restart: Option<IgnoredAny>,
    ebgp_multihop: Option<i64>,
    families: Option<Vec<BgpFamily>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct BgpTimers {
    connect_retry_time_seconds: Option<i64>,
    hold_time_seconds: Option<i64>,
    keep_alive_time_seconds: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct BgpFamily {
    afi: String,
    safi: String,
    advertisements: Option<Selector>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct BgpAdvertSpec {
    advertisements: Vec<BgpAdvert>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct BgpAdvert {
    advertisement_type: String,
    service: Option<BgpAdvertService>,
    selector: Option<Selector>,
    attributes: Option<IgnoredAny>,
    interface: Option<IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct BgpAdvertService {
    addresses: Option<Vec<String>>,
    #[serde(rename = "aggregationLengthIPv4")]
    aggregation_length_ipv4: Option<i64>,
    #[serde(rename = "aggregationLengthIPv6")]
    aggregation_length_ipv6: Option<i64>,
}

/// A CiliumNetworkPolicy / CiliumClusterwideNetworkPolicy (spec or specs).
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct Cnp {
    api_version: String,
    kind: String,
    metadata: super::common::Meta,
    spec: Option<CnpRule>,
    specs: Option<Vec<CnpRule>>,
    status: Option<IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CnpRule {
    endpoint_selector: Option<Selector>,
    node_selector: Option<Selector>,
    ingress: Option<Vec<Ingress>>,
    ingress_deny: Option<Vec<Ingress>>,
    egress: Option<Vec<Egress>>,
    egress_deny: Option<Vec<Egress>>,
    labels: Option<IgnoredAny>,
    description: Option<String>,
    enable_default_deny: Option<DefaultDeny>,
    log: Option<IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct DefaultDeny {
    ingress: Option<bool>,
    egress: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Ingress {
    from_endpoints: Option<Vec<Selector>>,
    from_requires: Option<Vec<Selector>>,
    #[serde(rename = "fromCIDR")]
    from_cidr: Option<Vec<String>>,
    #[serde(rename = "fromCIDRSet")]
    from_cidr_set: Option<IgnoredAny>,
    from_entities: Option<Vec<String>>,
    from_groups: Option<IgnoredAny>,
    from_nodes: Option<Vec<Selector>>,
    to_ports: Option<Vec<PortRule>>,
    icmps: Option<IgnoredAny>,
    authentication: Option<IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Egress {
    to_endpoints: Option<Vec<Selector>>,
    to_requires: Option<Vec<Selector>>,
    #[serde(rename = "toCIDR")]
    to_cidr: Option<Vec<String>>,
    #[serde(rename = "toCIDRSet")]
    to_cidr_set: Option<IgnoredAny>,
    to_entities: Option<Vec<String>>,
    to_services: Option<IgnoredAny>,
    #[serde(rename = "toFQDNs")]
    to_fqdns: Option<Vec<Fqdn>>,
    to_groups: Option<IgnoredAny>,
    to_nodes: Option<Vec<Selector>>,
    to_ports: Option<Vec<PortRule>>,
    icmps: Option<IgnoredAny>,
    authentication: Option<IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PortRule {
    ports: Option<Vec<PortProtocol>>,
    rules: Option<L7Rules>,
    #[serde(rename = "terminatingTLS")]
    terminating_tls: Option<IgnoredAny>,
    #[serde(rename = "originatingTLS")]
    originating_tls: Option<IgnoredAny>,
    server_names: Option<Vec<String>>,
    listener: Option<IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PortProtocol {
    port: Option<String>,
    end_port: Option<i64>,
    protocol: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct L7Rules {
    http: Option<Vec<HttpRule>>,
    kafka: Option<IgnoredAny>,
    dns: Option<Vec<Fqdn>>,
    l7proto: Option<String>,
    l7: Option<IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct HttpRule {
    method: Option<String>,
    path: Option<String>,
    host: Option<String>,
    headers: Option<Vec<String>>,
    header_matches: Option<IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Fqdn {
    match_name: Option<String>,
    match_pattern: Option<String>,
}
