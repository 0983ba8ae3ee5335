//! `local`: a real single-node Kubernetes on this Linux host, with no Docker
//! and no registry. etcd, the control plane, containerd and the kubelet run
//! as host processes under a state directory; the node's address lives on a
//! veth whose peer is a "router" network namespace running FRR (the BGP
//! peer), with an "external client" namespace behind it ([`net`]). Images
//! are assembled from locally built binaries and a Debian rootfs
//! ([`oci`]) and imported into containerd. Cilium itself is installed by the
//! installer, with the values [`Local::chart_values`] adds.
//!
//! `up` records the host's state first ([`host`]); `down` stops everything,
//! unmounts, detaches, deletes links and namespaces, restores iptables and
//! sysctls, and then compares the host with the record: any difference is
//! an error that lists it.

pub mod gitops;
pub mod host;
pub mod net;
pub mod node;
pub mod oci;
pub mod pki;
pub mod procs;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use infraflux_model::suite::Feature;
use infraflux_model::profile::Profile;

use self::net::*;
use self::pki::NODE_NAME;


const CHARTS_GO_MOD: &str = include_str!("../../../tools/charts/go.mod");

/// Where the provider's own image references point; `pullPolicy: Never`
/// keeps the kubelet from ever asking a registry for them.
pub const IMAGE_REPO: &str = "infraflux.local";
/// The probe agent's image on the local node.
pub const AGENT_IMAGE: &str = "infraflux.local/infraflux-agent:dev";
pub const DEFAULT_STATE_DIR: &str = "/var/lib/infraflux/local";

#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error("the local provider needs root (it runs a kubelet and creates links); run it with sudo")]
    NotRoot,
    #[error("{step}: {message}")]
    Step { step: String, message: String },
    #[error("a previous local node is still here ({0}); remove it with `infraflux down --provider local`")]
    Leftover(String),
    #[error("timed out after {}s waiting for {what}: {last}", after.as_secs())]
    Timeout { what: String, after: Duration, last: String },
    #[error("node artifacts missing and could not be built: {0}")]
    Artifacts(String),
    #[error("`down` left the host different from before `up`:\n  {}", .0.join("\n  "))]
    HostChanged(Vec<String>),
}

/// The versions this host's node runs, pinned in `.ci/versions.env`.
#[derive(Debug, Clone)]
pub struct NodeVersions {
    pub kubernetes: String,
    pub etcd: String,
    pub cilium: String,
    pub coredns: String,
    pub rootfs_suite: String,
}

impl NodeVersions {
    pub fn pinned() -> NodeVersions {
        let get = pinned;
        NodeVersions {
            kubernetes: get("K8S_VERSION"),
            etcd: get("ETCD_VERSION"),
            cilium: get("CILIUM_VERSION"),
            coredns: get("COREDNS_VERSION"),
            rootfs_suite: get("NODE_ROOTFS_SUITE"),
        }
    }
}

pub use infraflux_model::pins::pinned;

/// A feature the profile may enable that this host cannot give, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limit {
    pub feature: Feature,
    pub reason: String,
}

/// The directory the `.ci` build scripts fill ([`infraflux_model::pins::cache_dir`];
/// root's when no variable names one).
pub fn cache_dir() -> PathBuf {
    infraflux_model::pins::cache_dir().unwrap_or_else(|| PathBuf::from("/root/.cache/infraflux"))
}

/// The repository's `.ci` directory, whose scripts build the artifacts.
fn scripts_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("INFRAFLUX_REPO") {
        return Some(PathBuf::from(d).join(".ci"));
    }
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.ci");
    d.join("build-node").is_file().then_some(d)
}

/// Paths of every artifact the node runs.
#[derive(Debug, Clone)]
pub struct Artifacts {
    pub etcd: PathBuf,
    pub kube_apiserver: PathBuf,
    pub kube_controller_manager: PathBuf,
    pub kube_scheduler: PathBuf,
    pub kubelet: PathBuf,
    pub kubectl: PathBuf,
    pub cilium_dir: PathBuf,
    pub operator: PathBuf,
    pub coredns: PathBuf,
    pub pause: PathBuf,
    pub rootfs: PathBuf,
}

impl Artifacts {
    pub fn locate(cache: &Path, v: &NodeVersions) -> Artifacts {
        let bin = cache.join("bin");
        let k = &v.kubernetes;
        Artifacts {
            etcd: bin.join(format!("etcd-{}/etcd", v.etcd)),
            kube_apiserver: bin.join(format!("k8s-{k}/kube-apiserver")),
            kube_controller_manager: bin.join(format!("k8s-{k}/kube-controller-manager")),
            kube_scheduler: bin.join(format!("k8s-{k}/kube-scheduler")),
            kubelet: bin.join(format!("k8s-node-{k}/kubelet")),
            kubectl: bin.join(format!("k8s-node-{k}/kubectl")),
            cilium_dir: bin.join(format!("cilium-{}", v.cilium)),
            operator: bin.join(format!("cilium-operator-{}/cilium-operator-generic", v.cilium)),
            coredns: bin.join(format!("coredns-{}/coredns", v.coredns)),
            pause: bin.join(format!("pause-{k}/pause")),
            rootfs: cache.join(format!("rootfs/cilium-runtime-{}.tar", v.rootfs_suite)),
        }
    }

    pub fn missing(&self) -> Vec<PathBuf> {
        [
            &self.etcd,
            &self.kube_apiserver,
            &self.kube_controller_manager,
            &self.kube_scheduler,
            &self.kubelet,
            &self.kubectl,
            &self.cilium_dir.join("cilium-agent"),
            &self.cilium_dir.join("hubble"),
            &self.cilium_dir.join("hubble-relay"),
            &self.operator,
            &self.coredns,
            &self.pause,
            &self.rootfs,
        ]
        .into_iter()
        .filter(|p| !p.is_file())
        .cloned()
        .collect()
    }
}

/// Host programs the node needs from the distribution.
const HOST_PROGRAMS: &[&str] = &["containerd", "containerd-shim-runc-v2", "runc", "ctr", "ip", "iptables"];

/// The local provider.
#[derive(Debug, Clone)]
pub struct Local {
    pub state: PathBuf,
    pub cache: PathBuf,
    pub versions: NodeVersions,
    /// Build missing artifacts with the repository's scripts (progress on
    /// stderr); when false a missing artifact is an error naming the script.
    pub build: bool,
}

impl Local {
    pub fn new(state: Option<PathBuf>) -> Local {
        Local {
            state: state.unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_DIR)),
            cache: cache_dir(),
            versions: NodeVersions::pinned(),
            build: true,
        }
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.state.join("admin.kubeconfig")
    }

    pub fn artifacts(&self) -> Artifacts {
        Artifacts::locate(&self.cache, &self.versions)
    }

    fn containerd_sock(&self) -> PathBuf {
        self.state.join("containerd/containerd.sock")
    }

    pub fn cni_bin(&self) -> PathBuf {
        self.state.join("cni/bin")
    }

    pub fn cni_conf(&self) -> PathBuf {
        self.state.join("cni/net.d")
    }

    pub fn image(&self, name: &str) -> String {
        match name {
            "cilium" | "cilium-operator-generic" | "hubble-relay" => format!("{IMAGE_REPO}/{name}:{}", self.versions.cilium),
            "coredns" => format!("{IMAGE_REPO}/coredns:{}", self.versions.coredns),
            "pause" => format!("{IMAGE_REPO}/pause:3.10"),
            other => format!("{IMAGE_REPO}/{other}:latest"),
        }
    }

    /// What this host cannot give, read from the kernel.
    pub fn limits() -> Vec<Limit> {
        let mut v = Vec::new();
        let no_envoy = "no cilium-envoy exists for this host: it is built with Bazel from GitHub sources and no registry is reachable, so the chart runs with l7Proxy=false and envoy.enabled=false";
        v.push(Limit { feature: Feature::L7Proxy, reason: no_envoy.into() });
        v.push(Limit { feature: Feature::GatewayApi, reason: format!("Gateway API's data path is Envoy: {no_envoy}") });
        if !kernel_has("wireguard") {
            let why = "the kernel has no WireGuard (CONFIG_WIREGUARD unset, no modules) and Cilium >= 1.17 has no userspace fallback";
            v.push(Limit { feature: Feature::Wireguard, reason: why.into() });
            v.push(Limit { feature: Feature::NodeEncryption, reason: why.into() });
        }
        if !kernel_has("fq") {
            v.push(Limit {
                feature: Feature::BandwidthManager,
                reason: "the kernel has no fq qdisc (CONFIG_NET_SCH_FQ), which the bandwidth manager needs".into(),
            });
        }
        v.push(Limit { feature: Feature::MultiNode, reason: "the local provider runs one node".into() });
        for feature in [Feature::CertManager, Feature::ExternalDns] {
            v.push(Limit {
                feature,
                reason: "cert-manager, external-dns and sealed-secrets images are not built by the local provider (no registry)".into(),
            });
        }
        v
    }

    /// Charts that cannot run here.
    pub fn unavailable_charts() -> BTreeMap<String, String> {
        let why = "no image for it on this host: the local provider builds Cilium, CoreDNS and pause only, and no registry is reachable";
        ["cert-manager", "external-dns", "sealed-secrets"].into_iter().map(|c| (c.to_owned(), why.to_owned())).collect()
    }

    /// Values on top of the profile's for the Cilium chart: the images built
    /// here, the provider's link, its state paths, and what the host lacks
    /// switched off.
    pub fn chart_values(&self, limits: &[Limit]) -> BTreeMap<String, serde_json::Value> {
        let off = |f: Feature| limits.iter().any(|l| l.feature == f);
        let image = |name: &str| {
            let r = self.image(name);
            serde_json::json!({"override": r, "pullPolicy": "Never", "useDigest": false})
        };
        let mut v = serde_json::json!({
            "image": image("cilium"),
            "operator": {"image": image("cilium-operator-generic"), "replicas": 1},
            "k8sServiceHost": API_IP,
            "k8sServicePort": 6443,
            "devices": [NODE_LINK],
            "ipv4NativeRoutingCIDR": POD_CIDR,
            "cni": {"binPath": self.cni_bin().display().to_string(), "confPath": self.cni_conf().display().to_string()},
            // cgroup v1 hybrid host: the v2 hierarchy is mounted already;
            // the provider binds it, shared, where Cilium looks by default.
            "cgroup": {"autoMount": {"enabled": false}, "hostRoot": "/run/cilium/cgroupv2"},
            "bpf": {"autoMount": {"enabled": false}},
            // sysctlfix writes into the host's /etc/sysctl.d; the provider
            // restores sysctls itself.
            "sysctlfix": {"enabled": false},
            "l7Proxy": false,
            "envoy": {"enabled": false},
            "gatewayAPI": {"enabled": false},
            "ingressController": {"enabled": false},
            // hubble-ui is a JavaScript app behind nginx: no image for it here.
            "hubble": {"relay": {"image": image("hubble-relay")}, "ui": {"enabled": false}, "tls": {"auto": {"method": "helm"}}},
            "certgen": {"image": image("cilium")},
        });
        // Root here lacks some capabilities in its bounding set
        // (CAP_SYS_RESOURCE on these machines): runc refuses a container
        // that asks for one ("unable to apply caps"), so the chart's lists
        // keep only what this host can grant. The agent needs
        // SYS_RESOURCE only for the memlock rlimit, which kernels >= 5.11
        // no longer charge BPF maps to.
        let have = bounding_caps();
        let keep = |caps: &[&str]| -> Vec<String> {
            caps.iter().filter(|c| have.as_ref().is_none_or(|h| h.contains(**c))).map(|c| (*c).to_owned()).collect()
        };
        v["securityContext"] = serde_json::json!({"capabilities": {
            "ciliumAgent": keep(&["CHOWN", "KILL", "NET_ADMIN", "NET_RAW", "IPC_LOCK", "SYS_MODULE", "SYS_ADMIN", "SYS_RESOURCE", "DAC_OVERRIDE", "FOWNER", "SETGID", "SETUID", "SYSLOG"]),
            "mountCgroup": keep(&["SYS_ADMIN", "SYS_CHROOT", "SYS_PTRACE"]),
            "applySysctlOverwrites": keep(&["SYS_ADMIN", "SYS_CHROOT", "SYS_PTRACE"]),
            "cleanCiliumState": keep(&["NET_ADMIN", "SYS_MODULE", "SYS_ADMIN", "SYS_RESOURCE"]),
        }});
        if off(Feature::Wireguard) {
            v["encryption"] = serde_json::json!({"enabled": false, "nodeEncryption": false});
        }
        if off(Feature::BandwidthManager) {
            v["bandwidthManager"] = serde_json::json!({"enabled": false});
        }
        BTreeMap::from([("cilium".to_owned(), v)])
    }

    /// The profile as this host runs it: the node, addresses, peers and
    /// pools moved into the provider's lab network (never the profile's
    /// own addresses, which belong to a real site), versions pinned to what
    /// was built, and what the host lacks switched off.
    pub fn adapt(&self, p: &Profile, limits: &[Limit]) -> Profile {
        let mut p = p.clone();
        let off = |f: Feature| limits.iter().any(|l| l.feature == f);
        p.provider = infraflux_model::profile::Provider::Local(infraflux_model::profile::LocalProvider {
            work_dir: self.state.display().to_string(),
        });
        p.versions.kubernetes = self.versions.kubernetes.clone();
        p.versions.cilium = self.versions.cilium.trim_start_matches('v').to_owned();
        // The CRD bundle the charts module pins next to this Cilium.
        if let Some(v) = CHARTS_GO_MOD.lines().find_map(|l| l.trim().strip_prefix("sigs.k8s.io/gateway-api ")) {
            p.versions.gateway_api = v.trim().to_owned();
        }
        if let Some(mut n) = p.nodes.first().cloned() {
            n.name = NODE_NAME.into();
            n.ip = NODE_IP.into();
            p.nodes = vec![n];
        }
        let net = &mut p.network;
        net.node_cidr = NODE_CIDR.into();
        net.node_gateway = ROUTER_IP.into();
        net.pod_cidr = POD_CIDR.into();
        net.service_cidr = SERVICE_CIDR.into();
        net.native_routing_cidr = Some(POD_CIDR.into());
        net.api_server.vip = API_IP.into();
        net.api_server.port = 6443;
        net.k8s_service_host = Some(API_IP.into());
        net.k8s_service_port = Some(6443);
        if let Some(mut peer) = p.bgp.peers.first().cloned() {
            peer.address = ROUTER_IP.into();
            p.bgp.peers = vec![peer];
        }
        // Pool i gets 10.89.100.<32 i>/27: same names and selectors, lab
        // addresses. The Gateway keeps its place in whichever pool held it.
        let vip: ipnet::Ipv4Net = VIP_CIDR.parse().unwrap_or_default();
        let base = u32::from(vip.network());
        let old_gateway = p.gateway.address.as_deref().and_then(|a| a.parse::<std::net::Ipv4Addr>().ok());
        let mut gateway = None;
        p.load_balancer.vip_cidr = VIP_CIDR.into();
        p.load_balancer.pools.truncate(8);
        for (i, pool) in p.load_balancer.pools.iter_mut().enumerate() {
            let start = base + 32 * i as u32;
            if old_gateway.is_some_and(|g| pool.blocks.iter().any(|b| block_contains(b, g))) {
                gateway = Some(std::net::Ipv4Addr::from(start + 8));
            }
            pool.blocks = vec![infraflux_model::profile::IpBlock {
                cidr: Some(format!("{}/27", std::net::Ipv4Addr::from(start))),
                start: None,
                stop: None,
            }];
        }
        let gateway = gateway.unwrap_or(std::net::Ipv4Addr::from(base + 8)).to_string();
        if p.gateway.address.is_some() {
            p.gateway.address = Some(gateway.clone());
        }
        if off(Feature::GatewayApi) {
            // No Gateway will exist: records that named it point at the
            // address it would have had.
            for r in &mut p.dns.records {
                if r.target == infraflux_model::profile::DnsTarget::Gateway {
                    r.target = infraflux_model::profile::DnsTarget::Address(gateway.clone());
                }
            }
        }
        let f = &mut p.features;
        if off(Feature::Wireguard) {
            f.wireguard = false;
            f.node_encryption = false;
        }
        if off(Feature::L7Proxy) {
            f.l7_proxy = false;
        }
        if off(Feature::GatewayApi) {
            f.gateway_api = false;
        }
        if off(Feature::BandwidthManager) {
            f.bandwidth_manager = false;
        }
        f.node_local_dns = false;
        f.hubble.ui = false;
        p
    }
}

/// The capability names (without `CAP_`) in this process's bounding set;
/// `None` when it cannot be read.
pub fn bounding_caps() -> Option<std::collections::BTreeSet<&'static str>> {
    const NAMES: [&str; 41] = [
        "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID", "SETPCAP",
        "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER",
        "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
        "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP",
        "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF",
        "CHECKPOINT_RESTORE",
    ];
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let hex = status.lines().find_map(|l| l.strip_prefix("CapBnd:"))?.trim();
    let bits = u64::from_str_radix(hex, 16).ok()?;
    Some(NAMES.iter().enumerate().filter(|(i, _)| bits & (1 << i) != 0).map(|(_, n)| *n).collect())
}

fn block_contains(b: &infraflux_model::profile::IpBlock, ip: std::net::Ipv4Addr) -> bool {
    if let Some(net) = b.cidr.as_deref().and_then(|c| c.parse::<ipnet::Ipv4Net>().ok()) {
        return net.contains(&ip);
    }
    let parse = |s: &Option<String>| s.as_deref().and_then(|a| a.parse::<std::net::Ipv4Addr>().ok());
    match (parse(&b.start), parse(&b.stop)) {
        (Some(a), Some(z)) => a <= ip && ip <= z,
        (Some(a), None) => a == ip,
        _ => false,
    }
}

fn kernel_has(what: &str) -> bool {
    // Tried in a throwaway namespace: the host's links are never touched.
    let ns = format!("ifx-probe-{}", std::process::id());
    if net::ip(&["netns", "add", &ns]).is_err() {
        return false;
    }
    let ok = match what {
        "wireguard" => net::ip(&["-n", &ns, "link", "add", "wg0", "type", "wireguard"]).is_ok(),
        "fq" => {
            net::ip(&["-n", &ns, "link", "set", "lo", "up"]).is_ok()
                && net::in_ns(&ns, "tc", &["qdisc", "add", "dev", "lo", "root", "fq"]).is_ok()
        }
        _ => false,
    };
    let _ = net::ip(&["netns", "del", &ns]);
    ok
}

impl Local {
    /// Runs one of the blocking lifecycle steps (commands, polls, file I/O)
    /// off the async runtime.
    async fn blocking(&self, step: &'static str, f: fn(&Local) -> Result<(), LocalError>) -> Result<(), crate::ProvisionError> {
        let me = self.clone();
        tokio::task::spawn_blocking(move || f(&me))
            .await
            .map_err(|e| LocalError::Step { step: step.into(), message: e.to_string() })??;
        Ok(())
    }
}

impl crate::Provider for Local {
    fn kind(&self) -> infraflux_model::profile::ProviderKind {
        infraflux_model::profile::ProviderKind::Local
    }

    fn plan(&self) -> Vec<String> {
        let a = self.artifacts();
        let mut v = vec![
            format!("record the host's state, then run a single-node Kubernetes {} under {}", self.versions.kubernetes, self.state.display()),
            format!("node link {NODE_LINK} {NODE_IP}/24, router namespace {ROUTER_NS} ({ROUTER_IP}, FRR), client namespace {CLIENT_NS} ({CLIENT_IP})"),
            format!("images assembled here and imported into containerd: {}, {}, {}, {}", self.image("cilium"), self.image("cilium-operator-generic"), self.image("coredns"), self.image("pause")),
        ];
        let missing = a.missing();
        if !missing.is_empty() {
            v.push(format!("build {} missing artifact(s) first with .ci/build-control-plane and .ci/build-node", missing.len()));
        }
        v
    }

    fn up(&self) -> futures::future::BoxFuture<'_, Result<crate::Access, crate::ProvisionError>> {
        Box::pin(async move {
            self.blocking("up", Local::up_blocking).await?;
            Ok(self.access())
        })
    }

    fn down(&self) -> futures::future::BoxFuture<'_, Result<(), crate::ProvisionError>> {
        Box::pin(self.blocking("down", Local::down_blocking))
    }

    fn access(&self) -> crate::Access {
        crate::Access { kubeconfig: Some(self.kubeconfig()), context: Some("infraflux-local".into()) }
    }

    fn owns_cluster(&self) -> bool {
        true
    }

    fn load_images<'a>(&'a self, archives: &'a [PathBuf]) -> futures::future::BoxFuture<'a, Result<(), crate::ProvisionError>> {
        Box::pin(async move {
            for a in archives {
                let out = Command::new("ctr")
                    .arg("--address")
                    .arg(self.state.join("containerd/containerd.sock"))
                    .args(["--namespace", "k8s.io", "images", "import"])
                    .arg(a)
                    .output()
                    .map_err(|e| LocalError::Step { step: format!("import {}", a.display()), message: e.to_string() })?;
                if !out.status.success() {
                    return Err(LocalError::Step {
                        step: format!("import {}", a.display()),
                        message: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
                    }
                    .into());
                }
            }
            Ok(())
        })
    }

    fn adapt(&self, profile: &Profile) -> crate::Adaptation {
        let limits = Local::limits();
        let adapted = self.adapt(profile, &limits);
        crate::Adaptation {
            chart_values: self.chart_values(&limits),
            unavailable: Local::unavailable_charts(),
            profile: adapted,
            limits,
            agent_image: scripts_dir().map(|_| AGENT_IMAGE.to_owned()),
        }
    }

    fn prerequisites(&self) -> futures::future::BoxFuture<'_, Result<(), crate::ProvisionError>> {
        Box::pin(async move {
            if !nix::unistd::Uid::effective().is_root() {
                return Err(LocalError::NotRoot.into());
            }
            self.blocking("build", |l| l.ensure_artifacts().map(|_| ())).await
        })
    }

    fn after_install(&self) -> futures::future::BoxFuture<'_, Result<(), crate::ProvisionError>> {
        Box::pin(self.blocking("after install", Local::after_install_blocking))
    }

    fn gitops_host(&self) -> Option<crate::GitopsHost> {
        Some(crate::GitopsHost {
            root: self.gitops_root(),
            listen: self.gitops_listen(),
            flux_images: Some(Local::flux_image_prefix()),
        })
    }

    fn start_gitops<'a>(&'a self, program: &'a Path) -> futures::future::BoxFuture<'a, Result<(), crate::ProvisionError>> {
        let me = self.clone();
        let program = program.to_path_buf();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || me.start_gitops_blocking(&program))
                .await
                .map_err(|e| LocalError::Step { step: "gitops".into(), message: e.to_string() })??;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Vec<Limit> {
        vec![
            Limit { feature: Feature::Wireguard, reason: "no wg".into() },
            Limit { feature: Feature::L7Proxy, reason: "no envoy".into() },
            Limit { feature: Feature::GatewayApi, reason: "no envoy".into() },
            Limit { feature: Feature::BandwidthManager, reason: "no fq".into() },
        ]
    }

    #[test]
    fn the_adapted_default_profile_is_valid_and_renders_a_stack_that_passes_its_own_check() {
        let loaded = infraflux_model::profile::load_default().unwrap_or_else(|e| panic!("{e}"));
        let local = Local::new(Some("/var/lib/infraflux/test".into()));
        let adapted = local.adapt(&loaded.profile, &limits());
        let text = serde_json::to_string_pretty(&adapted).unwrap_or_else(|e| panic!("{e}"));
        let reloaded = infraflux_model::profile::load_str("adapted.json", &text).unwrap_or_else(|e| panic!("{e}"));
        let errors: Vec<String> = infraflux_model::profile::validate(&reloaded)
            .into_iter()
            .filter(|f| f.severity == infraflux_model::diag::Severity::Error)
            .map(|f| f.to_string())
            .collect();
        assert!(errors.is_empty(), "{errors:#?}");
        let files = infraflux_stack::render_files(&adapted, false).unwrap_or_else(|e| panic!("{e}"));
        if let Err(infraflux_stack::StackError::SelfCheck { findings }) = infraflux_stack::self_check(&files) {
            panic!("{:#?}", findings.iter().map(|f| f.to_string()).collect::<Vec<_>>());
        }
        assert!(files.contains_key("02-cilium/values.yaml"), "Cilium is installed by the installer, not RKE2");
        assert!(!files.contains_key("04-configs/gateway.yaml"), "no Gateway without Gateway API support");
    }

    #[test]
    fn every_address_moves_into_the_lab_network() {
        let loaded = infraflux_model::profile::load_default().unwrap_or_else(|e| panic!("{e}"));
        let local = Local::new(None);
        let p = local.adapt(&loaded.profile, &limits());
        let text = serde_json::to_string(&p).unwrap_or_default();
        // The example site's addresses must not survive anywhere: traffic
        // only ever goes to hosts the provider made.
        for site in ["192.168.3.", "192.168.30."] {
            assert!(!text.contains(site), "{site} left in the adapted profile: {text}");
        }
        assert_eq!(p.nodes.len(), 1);
        assert_eq!(p.bgp.peers[0].address, ROUTER_IP);
        let names: Vec<&str> = p.load_balancer.pools.iter().map(|x| x.name.as_str()).collect();
        assert_eq!(names, ["main", "critical"], "pools keep their names and selectors");
        assert!(!p.features.wireguard && !p.features.l7_proxy && !p.features.gateway_api);
    }

    #[test]
    fn chart_values_pin_the_local_images_and_the_provider_link() {
        let local = Local::new(Some("/var/lib/infraflux/x".into()));
        let v = &local.chart_values(&limits())["cilium"];
        assert_eq!(v["image"]["pullPolicy"], "Never");
        assert_eq!(v["devices"][0], NODE_LINK);
        assert_eq!(v["cni"]["binPath"], "/var/lib/infraflux/x/cni/bin");
        assert_eq!(v["encryption"]["enabled"], false);
        assert_eq!(v["l7Proxy"], false);
    }
}
