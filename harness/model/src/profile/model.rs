//! The cluster profile as typed data.
//!
//! One profile describes one cluster end to end: where it runs, its nodes,
//! its address plan, BGP, LB-IPAM pools, DNS publication, the shared Gateway,
//! the Cilium feature set and the pinned versions, plus the budgets the
//! failover and performance suites judge against. The stack renderer reads
//! these types directly, so every field is explicit; there are no "magic"
//! defaults hidden in templates.
//!
//! Addresses and CIDRs are kept as the strings the user wrote: decoding only
//! checks shape (types, known keys), and `rules` reports a malformed address
//! as a finding at its own position instead of aborting the whole load. Use
//! the `*_net()` / `*_ip()` helpers once a profile has validated cleanly.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::secret::SecretRef;

/// `apiVersion` of the profile format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ApiVersion {
    #[serde(rename = "infraflux.io/v1alpha1")]
    V1alpha1,
}

/// `kind` of a profile document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProfileKind {
    ClusterProfile,
}

/// A whole cluster profile (one YAML document).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Profile {
    pub api_version: ApiVersion,
    pub kind: ProfileKind,
    /// Cluster name; used for resource names and report titles.
    pub name: String,
    pub provider: Provider,
    pub versions: Versions,
    pub nodes: Vec<Node>,
    pub network: Network,
    pub bgp: Bgp,
    pub load_balancer: LoadBalancer,
    pub dns: Dns,
    pub cert_manager: CertManager,
    pub gateway: Gateway,
    pub features: Features,
    pub failover: Failover,
    pub perf: Perf,
    /// Where the installer takes charts and images from; optional (the Go
    /// module cache and the charts' own registries otherwise).
    #[serde(default, skip_serializing_if = "Install::is_empty")]
    pub install: Install,
}

// ---------------------------------------------------------------- install

/// Install sources for sites that cannot reach the public chart
/// repositories and registries.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Install {
    /// Local chart directories, per chart; a chart not named here comes
    /// from the Go module cache.
    #[serde(default)]
    pub charts: ChartDirs,
    /// A registry mirror, `host[:port][/path]`: every image of every chart
    /// is pulled from it (the image's registry host replaced, its
    /// repository path kept).
    #[serde(default)]
    pub image_registry: Option<String>,
}

impl Install {
    pub fn is_empty(&self) -> bool {
        self == &Install::default()
    }
}

/// A local directory per chart (holding `Chart.yaml`, `values.yaml`,
/// `templates/`), and one holding the Gateway API CRD files. Relative paths
/// are relative to the profile file's directory ([`ChartDirs::resolved`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChartDirs {
    #[serde(default)]
    pub cilium: Option<String>,
    #[serde(default)]
    pub cert_manager: Option<String>,
    #[serde(default, rename = "externalDNS")]
    pub external_dns: Option<String>,
    #[serde(default)]
    pub sealed_secrets: Option<String>,
    #[serde(default, rename = "gatewayAPI")]
    pub gateway_api: Option<String>,
}

impl ChartDirs {
    /// `(profile key, chart name, directory)` of every directory set; the
    /// chart name is the chart's `name:` (`gateway-api` for the CRDs).
    pub fn entries(&self) -> Vec<(&'static str, &'static str, &str)> {
        [
            ("cilium", "cilium", &self.cilium),
            ("certManager", "cert-manager", &self.cert_manager),
            ("externalDNS", "external-dns", &self.external_dns),
            ("sealedSecrets", "sealed-secrets", &self.sealed_secrets),
            ("gatewayAPI", "gateway-api", &self.gateway_api),
        ]
        .into_iter()
        .filter_map(|(k, n, v)| v.as_deref().map(|d| (k, n, d)))
        .collect()
    }

    /// The directory for a chart name, relative paths joined to
    /// `profile_file`'s directory.
    pub fn resolved(&self, chart: &str, profile_file: &str) -> Option<std::path::PathBuf> {
        let (_, _, dir) = self.entries().into_iter().find(|(_, n, _)| *n == chart)?;
        let p = std::path::Path::new(dir);
        Some(if p.is_absolute() {
            p.to_path_buf()
        } else {
            std::path::Path::new(profile_file).parent().unwrap_or(std::path::Path::new("")).join(p)
        })
    }
}

// ---------------------------------------------------------------- provider

/// Where the cluster comes from. Exactly one key.
// One profile is loaded per run; boxing the big variant would only make
// the renderer's pattern matches noisier.
#[expect(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub enum Provider {
    /// A kind cluster created by the harness (needs a Docker engine).
    Kind(KindProvider),
    /// Proxmox VMs running RKE2.
    ProxmoxRke2(ProxmoxRke2Provider),
    /// A cluster that already exists; the harness only installs and tests.
    Existing(ExistingProvider),
    /// A single-node cluster on this machine (built from release binaries).
    Local(LocalProvider),
}

/// The provider name as used on the command line (`proxmox-rke2`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProviderKind {
    Kind,
    ProxmoxRke2,
    Existing,
    Local,
}

impl ProviderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Kind => "kind",
            ProviderKind::ProxmoxRke2 => "proxmox-rke2",
            ProviderKind::Existing => "existing",
            ProviderKind::Local => "local",
        }
    }
}

impl std::fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Provider {
    pub fn kind(&self) -> ProviderKind {
        match self {
            Provider::Kind(_) => ProviderKind::Kind,
            Provider::ProxmoxRke2(_) => ProviderKind::ProxmoxRke2,
            Provider::Existing(_) => ProviderKind::Existing,
            Provider::Local(_) => ProviderKind::Local,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KindProvider {
    /// kind node image, e.g. `kindest/node:v1.33.4`.
    pub node_image: String,
    /// Path of a kind config written by the harness; `None` = generated.
    #[serde(default)]
    pub config: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProxmoxRke2Provider {
    pub proxmox: Proxmox,
    pub rke2: Rke2,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Proxmox {
    /// API endpoint, e.g. `https://pve.lab.internal:8006/api2/json`.
    pub endpoint: String,
    /// API token id, `user@realm!tokenname`.
    pub token_id: String,
    /// API token secret (env or file reference, never inline).
    pub token: SecretRef,
    /// Proxmox node that hosts the VMs.
    pub target_node: String,
    /// Template to clone the VMs from.
    pub template: String,
    /// Bridge the VMs' NIC attaches to.
    pub bridge: String,
    /// Accepted for old profiles only: the provider refuses `true`. The API
    /// certificate is checked against `caFile` or `fingerprint` instead.
    #[serde(default)]
    pub insecure_skip_tls_verify: bool,
    /// PEM file with the CA that signed the API certificate
    /// (`/etc/pve/pve-root-ca.pem` on a default install).
    #[serde(default)]
    pub ca_file: Option<String>,
    /// SHA-256 fingerprint of the API certificate (as the web UI shows it
    /// under Node → Certificates: hex pairs, colons optional).
    #[serde(default)]
    pub fingerprint: Option<String>,
    /// Storage the clones' disks go to.
    #[serde(default = "default_storage")]
    pub storage: String,
    /// Resource pool the VMs join (the token may be limited to it).
    #[serde(default)]
    pub pool: Option<String>,
    /// Full clone (independent disks); `false` makes linked clones, which
    /// need a template on storage that supports them.
    #[serde(default = "default_true")]
    pub full_clone: bool,
    /// CPU, memory and disk of every VM.
    #[serde(default)]
    pub vm: VmShape,
    /// DNS server cloud-init writes into the VMs (`nameserver`).
    #[serde(default)]
    pub nameserver: Option<String>,
    /// How the harness logs into the VMs; required to provision.
    #[serde(default)]
    pub ssh: Option<NodeSsh>,
}

fn default_storage() -> String {
    "local-lvm".into()
}

/// Hardware of every VM.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VmShape {
    pub cores: u32,
    #[serde(rename = "memoryMiB")]
    pub memory_mib: u32,
    /// The template's boot disk, grown to `diskGiB`.
    pub disk: String,
    #[serde(rename = "diskGiB")]
    pub disk_gib: u32,
}

impl Default for VmShape {
    fn default() -> Self {
        VmShape { cores: 4, memory_mib: 8192, disk: "scsi0".into(), disk_gib: 40 }
    }
}

/// SSH access to the VMs: cloud-init installs the public key for `user`;
/// host keys are pinned from `knownHostsFile`, else read through the QEMU
/// guest agent (never trusted on first use).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeSsh {
    /// cloud-init `ciuser`; commands run through `sudo -n` unless `root`.
    pub user: String,
    pub public_key_file: String,
    pub private_key_file: String,
    #[serde(default)]
    pub known_hosts_file: Option<String>,
}

/// RKE2 settings that are not derivable from the rest of the profile.
/// `cluster-cidr`, `service-cidr`, `tls-san` and `disable-kube-proxy` are
/// rendered from `network`, `network.apiServer` and `features`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Rke2 {
    /// RKE2 release, e.g. `v1.33.5+rke2r1`; its Kubernetes minor must match
    /// `versions.kubernetes`.
    pub version: String,
    /// Cluster join token.
    pub token: SecretRef,
    /// How Cilium gets onto the nodes before Flux can run.
    pub cni: Rke2Cni,
    /// Port joining servers/agents register on (RKE2 supervisor).
    #[serde(default = "default_supervisor_port")]
    pub supervisor_port: u16,
    /// Air-gapped install: a directory with the release's `install.sh`,
    /// `rke2.linux-amd64.tar.gz`, `rke2-images-core.linux-amd64.tar.zst`
    /// and `sha256sum-amd64.txt`. `None`: online install from get.rke2.io.
    #[serde(default)]
    pub artifacts_dir: Option<String>,
    /// Who holds `network.apiServer.vip`: the user (`provided`, the
    /// default) or a kube-vip static pod on every server.
    #[serde(default)]
    pub api_vip: ApiVip,
}

fn default_supervisor_port() -> u16 {
    9345
}

/// Who answers on `network.apiServer.vip` (the address joining nodes
/// register through and the kubeconfig points at).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ApiVip {
    /// Something the user runs (a keepalived pair, a load balancer) already
    /// answers on the VIP and forwards 6443 and the supervisor port to the
    /// servers.
    #[default]
    Provided,
    /// InfraFlux writes a kube-vip static pod (ARP mode, leader election)
    /// on every server before RKE2 starts.
    KubeVip(KubeVip),
}

/// The kube-vip static pod. The image is
/// `ghcr.io/kube-vip/kube-vip:<version>@<digest>` (its registry host
/// replaced by `install.imageRegistry` when set); without both,
/// [`KUBE_VIP_DEFAULT_VERSION`] and [`KUBE_VIP_DEFAULT_DIGEST`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KubeVip {
    /// The servers' interface on the node LAN (the VIP is added to it and
    /// announced by ARP), e.g. `eth0`, `ens18`.
    pub interface: String,
    /// kube-vip release, e.g. `v1.0.2`; set together with `digest`.
    #[serde(default)]
    pub version: Option<String>,
    /// The image's `sha256:` digest for that release.
    #[serde(default)]
    pub digest: Option<String>,
}

/// The kube-vip image repository (registry host first).
pub const KUBE_VIP_IMAGE: &str = "ghcr.io/kube-vip/kube-vip";
/// The release used when the profile pins none.
pub const KUBE_VIP_DEFAULT_VERSION: &str = "v1.0.2";
/// The multi-architecture index digest of [`KUBE_VIP_DEFAULT_VERSION`]
/// (`skopeo inspect docker://ghcr.io/kube-vip/kube-vip:v1.0.2` shows it).
pub const KUBE_VIP_DEFAULT_DIGEST: &str = "sha256:ee3702abc2daeb93399c22b14aa61aa233013f2a610e64ff3864033ebb3fedbc";

impl KubeVip {
    /// `(version, digest)` as pinned, or the defaults when neither is set.
    pub fn pin(&self) -> (&str, &str) {
        match (&self.version, &self.digest) {
            (Some(v), Some(d)) => (v, d),
            _ => (KUBE_VIP_DEFAULT_VERSION, KUBE_VIP_DEFAULT_DIGEST),
        }
    }
}

/// `cni:` in the RKE2 config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Rke2Cni {
    /// `cni: cilium` plus a `HelmChartConfig` for `rke2-cilium`.
    Cilium,
    /// `cni: none`; the harness installs the Cilium chart itself.
    None,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExistingProvider {
    /// kubeconfig path; `None` = `$KUBECONFIG` / `~/.kube/config`.
    #[serde(default)]
    pub kubeconfig: Option<String>,
    /// kubeconfig context; `None` = current context.
    #[serde(default)]
    pub context: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LocalProvider {
    /// Directory for binaries, data and kubeconfig of the local cluster.
    pub work_dir: String,
}

// ---------------------------------------------------------------- versions

/// Pinned versions. Exact versions only: an unbounded range lets Flux jump
/// minors, which upstream does not support (audit item 22).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Versions {
    /// Kubernetes, e.g. `v1.33.5`.
    pub kubernetes: String,
    /// Cilium chart and image version, e.g. `1.18.6`.
    pub cilium: String,
    /// Gateway API CRD bundle, e.g. `v1.3.0`; must match Cilium's minor.
    #[serde(rename = "gatewayAPI")]
    pub gateway_api: String,
    /// Gateway API release channel of the bundle.
    #[serde(default, rename = "gatewayAPIChannel")]
    pub gateway_api_channel: GatewayApiChannel,
    /// cert-manager chart (`jetstack/cert-manager`), e.g. `v1.20.0`.
    pub cert_manager: String,
    /// external-dns chart from kubernetes-sigs (not Bitnami), e.g. `1.21.1`.
    #[serde(rename = "externalDNS")]
    pub external_dns: String,
    /// sealed-secrets chart (bitnami-labs), e.g. `2.17.9`.
    pub sealed_secrets: String,
    /// Flux distribution, e.g. `v2.8.8`.
    pub flux: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum GatewayApiChannel {
    #[default]
    Standard,
    Experimental,
}

// ---------------------------------------------------------------- nodes

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Node {
    /// Node (and VM) name; RKE2 `node-name`.
    pub name: String,
    /// Address on the node LAN (`network.nodeCIDR`).
    pub ip: String,
    pub role: NodeRole,
    /// Extra Kubernetes labels for the node.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum NodeRole {
    /// Control plane + etcd (RKE2 server).
    Server,
    /// Worker (RKE2 agent).
    Agent,
}

impl Node {
    pub fn ip_addr(&self) -> Option<IpAddr> {
        self.ip.parse().ok()
    }
}

// ---------------------------------------------------------------- network

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Network {
    /// The node LAN, e.g. `192.168.3.0/24`.
    #[serde(rename = "nodeCIDR")]
    pub node_cidr: String,
    /// Default gateway of the node LAN (usually also the BGP router).
    pub node_gateway: String,
    /// Pod CIDR (RKE2 `cluster-cidr`), e.g. `10.244.0.0/16`.
    #[serde(rename = "podCIDR")]
    pub pod_cidr: String,
    /// Service CIDR (RKE2 `service-cidr`), e.g. `10.96.0.0/12`.
    #[serde(rename = "serviceCIDR")]
    pub service_cidr: String,
    /// Cilium `routingMode`.
    pub routing_mode: RoutingMode,
    /// Cilium `ipv4NativeRoutingCIDR`; required with native routing and
    /// must contain `podCIDR`.
    #[serde(default, rename = "nativeRoutingCIDR")]
    pub native_routing_cidr: Option<String>,
    /// Cilium `autoDirectNodeRoutes` (nodes share one L2 segment).
    #[serde(default)]
    pub auto_direct_node_routes: bool,
    /// Cilium `ipam.mode`.
    pub ipam: IpamMode,
    /// Cilium `bpf.masquerade`.
    #[serde(default)]
    pub bpf_masquerade: bool,
    /// The HA API endpoint (VIP) clients and joining nodes use.
    pub api_server: ApiServer,
    /// Cilium `k8sServiceHost`: how the agent reaches the API server without
    /// kube-proxy. On RKE2 every node runs a local proxy on `localhost`.
    #[serde(default)]
    pub k8s_service_host: Option<String>,
    /// Cilium `k8sServicePort`.
    #[serde(default)]
    pub k8s_service_port: Option<u16>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RoutingMode {
    Native,
    Tunnel,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum IpamMode {
    /// Use the node `podCIDR`s Kubernetes allocates from `podCIDR`.
    Kubernetes,
    /// Cilium operator allocates from `podCIDR` (`clusterPoolIPv4PodCIDRList`).
    ClusterPool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApiServer {
    /// Virtual IP on the node LAN; goes into RKE2 `tls-san`.
    pub vip: String,
    #[serde(default = "default_api_port")]
    pub port: u16,
}

fn default_api_port() -> u16 {
    6443
}

impl Network {
    pub fn node_net(&self) -> Option<IpNet> {
        self.node_cidr.parse().ok()
    }
    pub fn pod_net(&self) -> Option<IpNet> {
        self.pod_cidr.parse().ok()
    }
    pub fn service_net(&self) -> Option<IpNet> {
        self.service_cidr.parse().ok()
    }
    pub fn native_routing_net(&self) -> Option<IpNet> {
        self.native_routing_cidr.as_deref()?.parse().ok()
    }
}

// ---------------------------------------------------------------- bgp

/// BGP control plane v2 (`cilium.io/v2` CiliumBGPClusterConfig, PeerConfig,
/// Advertisement). Whether it is on is `features.bgp`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Bgp {
    /// ASN of every node's BGP instance.
    #[serde(rename = "localASN")]
    pub local_asn: u64,
    /// Routers to peer with. Cilium dials out to each from every selected
    /// node; the router must accept sessions from all node IPs.
    pub peers: Vec<BgpPeer>,
    /// Session timers shared by all peers (one CiliumBGPPeerConfig).
    pub timers: BgpTimers,
    pub graceful_restart: GracefulRestart,
    /// What to advertise.
    pub advertise: BgpAdvertise,
    /// Nodes that run a BGP instance; empty = all Linux nodes.
    #[serde(default)]
    pub node_selector: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BgpPeer {
    /// Peer name in the CiliumBGPClusterConfig.
    pub name: String,
    /// Plain IP (BGPv2 takes an address, not a CIDR).
    pub address: String,
    #[serde(rename = "peerASN")]
    pub asn: u64,
    /// TCP port on the router.
    #[serde(default = "default_bgp_port")]
    pub port: u16,
}

fn default_bgp_port() -> u16 {
    179
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BgpTimers {
    pub hold_time_seconds: u32,
    pub keep_alive_time_seconds: u32,
    pub connect_retry_time_seconds: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GracefulRestart {
    pub enabled: bool,
    #[serde(default = "default_restart_time")]
    pub restart_time_seconds: u32,
}

fn default_restart_time() -> u32 {
    120
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BgpAdvertise {
    /// Advertise each node's PodCIDR (`advertisementType: PodCIDR`).
    #[serde(rename = "podCIDR")]
    pub pod_cidr: bool,
    /// Advertise LoadBalancer IPs of all services (`Service` /
    /// `LoadBalancerIP` with a match-everything selector).
    #[serde(rename = "loadBalancerIPs")]
    pub load_balancer_ips: bool,
}

// ---------------------------------------------------------------- LB-IPAM

/// LB-IPAM (`cilium.io/v2` CiliumLoadBalancerIPPool).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LoadBalancer {
    /// Routed prefix for LoadBalancer VIPs, separate from the node LAN
    /// (on-link LAN hosts would ARP for VIPs nobody answers, audit item 30).
    #[serde(rename = "vipCIDR")]
    pub vip_cidr: String,
    pub pools: Vec<IpPool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IpPool {
    /// Pool name (`CiliumLoadBalancerIPPool` metadata.name).
    pub name: String,
    pub blocks: Vec<IpBlock>,
    /// Services this pool serves; `None` = every Service.
    #[serde(default)]
    pub service_selector: Option<LabelSelector>,
    /// Cilium `allowFirstLastIPs` (defaults to yes upstream since 1.16).
    #[serde(default = "default_true", rename = "allowFirstLastIPs")]
    pub allow_first_last_ips: bool,
}

/// One pool block: either `cidr`, or `start` (and optionally `stop`; a
/// lone `start` is a single address). Checked by rule PROF-005.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IpBlock {
    #[serde(default)]
    pub cidr: Option<String>,
    #[serde(default)]
    pub start: Option<String>,
    #[serde(default)]
    pub stop: Option<String>,
}

/// A Kubernetes label selector (`matchLabels` AND `matchExpressions`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LabelSelector {
    #[serde(default)]
    pub match_labels: BTreeMap<String, String>,
    #[serde(default)]
    pub match_expressions: Vec<LabelRequirement>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LabelRequirement {
    pub key: String,
    pub operator: SelectorOp,
    #[serde(default)]
    pub values: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SelectorOp {
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

fn default_true() -> bool {
    true
}

// ---------------------------------------------------------------- DNS

/// Public DNS via external-dns on Cloudflare.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Dns {
    /// Base domain all published hostnames live under.
    pub domain: String,
    pub cloudflare: Cloudflare,
    /// external-dns `txtOwnerId` (ownership TXT records).
    pub txt_owner_id: String,
    /// external-dns `policy`.
    #[serde(default)]
    pub policy: DnsPolicy,
    /// Hostnames to publish.
    pub records: Vec<DnsRecord>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Cloudflare {
    /// Zone name, e.g. `example.com` (equal to or a parent of `dns.domain`).
    pub zone: String,
    /// API token with Zone:DNS:Edit and Zone:Zone:Read.
    pub api_token: SecretRef,
    /// `proxied` for records that do not set it.
    #[serde(default)]
    pub proxied_default: bool,
    /// Cloudflare Tunnel for public exposure of private origins.
    #[serde(default)]
    pub tunnel: Option<CloudflareTunnel>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CloudflareTunnel {
    /// Tunnel UUID; records targeting the tunnel become
    /// CNAME `<id>.cfargotunnel.com`.
    pub id: String,
    /// Tunnel credentials (cloudflared token).
    pub credentials: SecretRef,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DnsPolicy {
    #[default]
    Sync,
    UpsertOnly,
    CreateOnly,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DnsRecord {
    /// Short name of the service (`auth`); names its HTTPRoute.
    pub name: String,
    /// Fully qualified hostname, under `dns.domain`.
    pub hostname: String,
    /// What the record points at.
    pub target: DnsTarget,
    /// Cloudflare proxy ("orange cloud"); `None` = `proxiedDefault`.
    #[serde(default)]
    pub proxied: Option<bool>,
    /// Backend Service the HTTPRoute forwards to.
    pub backend: Backend,
}

impl DnsRecord {
    pub fn proxied_or(&self, default: bool) -> bool {
        self.proxied.unwrap_or(default)
    }
}

/// Record target: `gateway` (the Gateway's LoadBalancer address), `tunnel`
/// (the Cloudflare Tunnel CNAME) or `{address: <ip>}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum DnsTarget {
    Gateway,
    Tunnel,
    Address(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Backend {
    pub namespace: String,
    pub service: String,
    pub port: u16,
}

// ---------------------------------------------------------------- cert-manager

/// ACME issuer for the Gateway's wildcard certificate (DNS-01 on Cloudflare,
/// using `dns.cloudflare.apiToken`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CertManager {
    /// ClusterIssuer name.
    pub issuer_name: String,
    /// ACME directory URL.
    pub acme_server: String,
    /// ACME account e-mail.
    pub email: String,
}

// ---------------------------------------------------------------- gateway

/// The shared Gateway (`gateway.networking.k8s.io/v1`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Gateway {
    pub name: String,
    pub namespace: String,
    /// GatewayClass; Cilium's chart creates `cilium`.
    #[serde(default = "default_gateway_class")]
    pub class_name: String,
    /// Static LB address (rendered as `lbipam.cilium.io/ips` on
    /// `spec.infrastructure.annotations`); must lie in a pool.
    #[serde(default)]
    pub address: Option<String>,
    /// `spec.infrastructure.labels`, propagated to the LB Service and used
    /// by pool selectors.
    #[serde(default)]
    pub infrastructure_labels: BTreeMap<String, String>,
    pub listeners: Vec<Listener>,
    pub tls: GatewayTls,
    /// Add an `http` route that redirects to https (301).
    #[serde(default = "default_true")]
    pub https_redirect: bool,
}

fn default_gateway_class() -> String {
    "cilium".into()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Listener {
    /// Listener name; HTTPRoutes attach by `sectionName`.
    pub name: String,
    pub protocol: ListenerProtocol,
    pub port: u16,
    /// Listener hostname, e.g. `*.example.com`.
    #[serde(default)]
    pub hostname: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ListenerProtocol {
    Http,
    Https,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GatewayTls {
    /// cert-manager Certificate name (in the Gateway namespace).
    pub certificate_name: String,
    /// Secret the certificate is stored in (referenced by https listeners).
    pub secret_name: String,
    /// DNS names of the certificate, e.g. `*.example.com`, `example.com`.
    pub dns_names: Vec<String>,
}

// ---------------------------------------------------------------- features

/// Cilium feature switches. Each maps to one chart value; the renderer
/// uses the corrected keys (audit items 14, 19, 20).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Features {
    /// `kubeProxyReplacement: true` + RKE2 `disable-kube-proxy: true`.
    pub kube_proxy_replacement: bool,
    /// `encryption.enabled` + `encryption.type: wireguard`.
    pub wireguard: bool,
    /// `encryption.nodeEncryption` (needs WireGuard).
    pub node_encryption: bool,
    /// `bgpControlPlane.enabled`; configuration in `bgp`.
    pub bgp: bool,
    /// `gatewayAPI.enabled`; configuration in `gateway`.
    #[serde(rename = "gatewayAPI")]
    pub gateway_api: bool,
    /// `l7Proxy` (Envoy for L7 policy and Gateway API).
    pub l7_proxy: bool,
    pub hubble: Hubble,
    /// `bandwidthManager.enabled`.
    pub bandwidth_manager: bool,
    /// `localRedirectPolicies.enabled`.
    pub local_redirect_policy: bool,
    /// `l2announcements.enabled` (only needed if LAN hosts must reach VIPs
    /// without the router).
    #[serde(default)]
    pub l2_announcements: bool,
    /// `loadBalancer.mode` for north/south Service traffic.
    #[serde(default)]
    pub load_balancer_mode: LbMode,
    /// `loadBalancer.acceleration` (XDP).
    #[serde(default)]
    pub load_balancer_acceleration: LbAcceleration,
    /// NodeLocal DNS cache in rke2-coredns (`nodelocal.enabled` with
    /// `use_cilium_lrp: true`); needs `localRedirectPolicy`. CoreDNS itself
    /// always stays: Cilium's DNS proxy is not a cluster DNS server.
    #[serde(default, rename = "nodeLocalDNS")]
    pub node_local_dns: bool,
}

/// Cilium `loadBalancer.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum LbMode {
    #[default]
    Snat,
    Dsr,
    Hybrid,
}

/// Cilium `loadBalancer.acceleration`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LbAcceleration {
    #[default]
    Disabled,
    Native,
    BestEffort,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Hubble {
    /// `hubble.enabled`.
    pub enabled: bool,
    /// `hubble.relay.enabled`.
    pub relay: bool,
    /// `hubble.ui.enabled` (needs relay).
    pub ui: bool,
    pub metrics: HubbleMetrics,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HubbleMetrics {
    /// `hubble.metrics.enabled` list, e.g. `dns`, `drop`, `tcp`, `flow`.
    /// Empty = metrics off.
    pub enabled: Vec<String>,
    /// `hubble.metrics.serviceMonitor.enabled`.
    #[serde(default)]
    pub service_monitor: bool,
}

// ---------------------------------------------------------------- budgets

/// Maximum tolerated disruption per failover event, in milliseconds. The
/// failover suite measures each event and fails the case above budget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Failover {
    pub max_downtime_ms: FailoverBudgets,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FailoverBudgets {
    /// A cilium-agent pod restart on the node serving a flow.
    pub agent_restart: u64,
    /// cilium-operator restart (LB-IPAM / BGP reconcile must not break flows).
    pub operator_restart: u64,
    /// The Envoy (cilium-envoy) pod serving the Gateway restarts.
    pub envoy_restart: u64,
    /// One BGP session drops; the router must withdraw that next-hop.
    /// Bounded below by the hold time.
    pub bgp_peer_loss: u64,
    /// A node is drained (`kubectl drain --delete-emptydir-data`).
    pub node_drain: u64,
}

/// Performance run settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Perf {
    /// Repetitions per measurement.
    pub samples: u32,
    /// Duration of one sample, seconds.
    pub duration_seconds: u32,
    /// A result this many percent worse than the baseline is a regression.
    pub regression_threshold_percent: f64,
}

// ---------------------------------------------------------------- helpers

impl IpBlock {
    /// Inclusive address range of the block, if it is well-formed.
    pub fn range(&self) -> Option<(IpAddr, IpAddr)> {
        match (&self.cidr, &self.start, &self.stop) {
            (Some(c), None, None) => {
                let net: IpNet = c.parse().ok()?;
                Some((net.network(), net.broadcast()))
            }
            (None, Some(s), stop) => {
                let start: IpAddr = s.parse().ok()?;
                let stop: IpAddr = match stop {
                    Some(t) => t.parse().ok()?,
                    None => start,
                };
                Some((start, stop))
            }
            _ => None,
        }
    }
}

impl Profile {
    pub fn servers(&self) -> impl Iterator<Item = &Node> {
        self.nodes.iter().filter(|n| n.role == NodeRole::Server)
    }
    pub fn agents(&self) -> impl Iterator<Item = &Node> {
        self.nodes.iter().filter(|n| n.role == NodeRole::Agent)
    }
    pub fn pool(&self, name: &str) -> Option<&IpPool> {
        self.load_balancer.pools.iter().find(|p| p.name == name)
    }
}
