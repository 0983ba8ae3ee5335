//! What happens on each node, in order, as data: the files written and the
//! scripts run. The dry-run plan prints these and the bootstrap executes
//! the same lists, so the plan cannot drift from what is done.
//!
//! Two phases per node: [`prepare_steps`] (sysctls, swap, kernel check,
//! RKE2 config and token, the kube-vip static pod on servers, air-gapped
//! artifacts) runs on every node before [`install_steps`] runs on any, so
//! a node that cannot be prepared stops `up` before a cluster exists, and
//! every node's files are in place when the first server starts.
//!
//! The RKE2 config follows `infraflux check`'s RKE2 rules: the CNI is
//! chosen with `cni:` and kube-proxy removed with `disable-kube-proxy`;
//! `disable: [rke2-canal, rke2-kube-proxy]` would be RKE2-002/RKE2-004
//! findings (neither removes anything on current RKE2).

use infraflux_model::profile::{ApiVip, KUBE_VIP_IMAGE, Node, NodeRole, Profile, ProxmoxRke2Provider, Rke2Cni};
use infraflux_model::secret::SecretRef;

/// Where RKE2 reads its config and join token.
pub const CONFIG_PATH: &str = "/etc/rancher/rke2/config.yaml";
pub const TOKEN_PATH: &str = "/etc/rancher/rke2/token";
pub const SYSCTL_PATH: &str = "/etc/sysctl.d/90-infraflux-cilium.conf";
/// Where the air-gapped artifacts are copied on the node.
pub const ARTIFACTS_DIR: &str = "/var/lib/rancher/infraflux-artifacts";
/// The kubeconfig RKE2 writes on a server (admin, `https://127.0.0.1:6443`).
pub const KUBECONFIG_PATH: &str = "/etc/rancher/rke2/rke2.yaml";
/// Static pods the RKE2 kubelet runs; kube-vip goes here on servers.
pub const KUBE_VIP_PATH: &str = "/var/lib/rancher/rke2/agent/pod-manifests/kube-vip.yaml";

/// The files an air-gapped install needs (RKE2's documented tarball method;
/// `cni: none` needs only the core images).
pub const ARTIFACTS: &[&str] = &["install.sh", "rke2.linux-amd64.tar.gz", "rke2-images-core.linux-amd64.tar.zst", "sha256sum-amd64.txt"];

/// Checks an air-gapped artifacts directory before anything is created:
/// every file is there and the tarballs match `sha256sum-amd64.txt` (the
/// release's own checksums; the install script checks them again on the
/// node, after the VMs exist).
pub fn verify_artifacts(dir: &std::path::Path) -> Result<(), String> {
    use sha2::Digest as _;
    for a in ARTIFACTS {
        if !dir.join(a).is_file() {
            return Err(format!("rke2.artifactsDir {} has no {a} (needs {})", dir.display(), ARTIFACTS.join(", ")));
        }
    }
    let sums = std::fs::read_to_string(dir.join("sha256sum-amd64.txt")).map_err(|e| format!("failed to read {}/sha256sum-amd64.txt: {e}", dir.display()))?;
    for a in ARTIFACTS.iter().filter(|a| a.contains(".tar.")) {
        let want = sums
            .lines()
            .find_map(|l| l.split_once(char::is_whitespace).filter(|(_, f)| f.trim().trim_start_matches('*') == *a).map(|(h, _)| h.to_ascii_lowercase()))
            .ok_or_else(|| format!("{}/sha256sum-amd64.txt lists no {a}", dir.display()))?;
        let mut f = std::fs::File::open(dir.join(a)).map_err(|e| format!("failed to read {}/{a}: {e}", dir.display()))?;
        let mut h = sha2::Sha256::new();
        std::io::copy(&mut f, &mut h).map_err(|e| format!("failed to read {}/{a}: {e}", dir.display()))?;
        let got = hex::encode(h.finalize());
        if got != want {
            return Err(format!("{}/{a} has SHA-256 {got}, sha256sum-amd64.txt says {want}", dir.display()));
        }
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    Text(String),
    /// Resolved only when written; the plan shows where it comes from.
    Secret(SecretRef),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Write { path: String, mode: &'static str, content: Content },
    /// A local file copied verbatim (air-gapped artifacts).
    Upload { local: String, remote: String },
    /// A script run with `sh -s` as root; `what` names it in errors.
    Run { what: &'static str, script: String },
}

fn q(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The first server: the first `server` node in the profile.
pub fn first_server(profile: &Profile) -> Option<&Node> {
    profile.nodes.iter().find(|n| n.role == NodeRole::Server)
}

/// `/etc/rancher/rke2/config.yaml` for `node`.
pub fn rke2_config(profile: &Profile, px: &ProxmoxRke2Provider, node: &Node) -> String {
    let first = first_server(profile).is_some_and(|f| f.name == node.name);
    let vip = &profile.network.api_server.vip;
    let mut s = format!("# RKE2 {} config for {}, written by infraflux (proxmox-rke2).\n", role(node), node.name);
    s += &format!("node-name: {}\nnode-ip: {}\ntoken-file: {TOKEN_PATH}\nwrite-kubeconfig-mode: \"0600\"\n", q(&node.name), q(&node.ip));
    if !first {
        s += &format!("server: {}\n", q(&format!("https://{vip}:{}", px.rke2.supervisor_port)));
    }
    if !node.labels.is_empty() {
        s += "node-label:\n";
        for (k, v) in &node.labels {
            s += &format!("  - {}\n", q(&format!("{k}={v}")));
        }
    }
    if node.role == NodeRole::Server {
        let cni = match px.rke2.cni {
            Rke2Cni::Cilium => "cilium",
            Rke2Cni::None => "none",
        };
        s += &format!("cni: {cni}\n");
        if profile.features.kube_proxy_replacement {
            s += "disable-kube-proxy: true\n";
        }
        s += &format!("ingress-controller: none\ntls-san:\n  - {}\n", q(vip));
        s += &format!("cluster-cidr: {}\nservice-cidr: {}\n", q(&profile.network.pod_cidr), q(&profile.network.service_cidr));
    }
    s
}

fn role(node: &Node) -> &'static str {
    match node.role {
        NodeRole::Server => "server",
        NodeRole::Agent => "agent",
    }
}

/// Forwarding for pod traffic; `rp_filter` off because Cilium's datapath
/// returns traffic on other interfaces than it came in. Network sysctls
/// only: they are per network namespace.
const SYSCTLS: &str = "net.ipv4.ip_forward = 1\nnet.ipv4.conf.all.rp_filter = 0\nnet.ipv4.conf.default.rp_filter = 0\n";

/// Kernel options from Cilium's system requirements. Those the datapath
/// cannot start without fail the node; the rest (hash sockets for some
/// encryption, schedstats for a metric) are reported, because a kernel that
/// runs Cilium here (the local provider's) lacks them. An unreadable kernel
/// config is reported, not guessed.
const KERNEL_CHECK: &str = r#"set -u
ver=$(uname -r); major=${ver%%.*}; rest=${ver#*.}; minor=${rest%%.*}
if [ "$major" -lt 5 ] || { [ "$major" -eq 5 ] && [ "$minor" -lt 10 ]; }; then
  echo "kernel $ver is older than 5.10, the oldest Cilium supports" >&2; exit 1
fi
cfg=""
if [ -r /proc/config.gz ]; then cfg=$(zcat /proc/config.gz)
elif [ -r "/boot/config-$ver" ]; then cfg=$(cat "/boot/config-$ver"); fi
if [ -z "$cfg" ]; then echo "kernel $ver: config not readable; Cilium's kernel options not checked"; exit 0; fi
has() { printf '%s\n' "$cfg" | grep -Eq "^$1=(y|m)"; }
missing=""
for o in CONFIG_BPF CONFIG_BPF_SYSCALL CONFIG_NET_CLS_BPF CONFIG_BPF_JIT CONFIG_NET_CLS_ACT CONFIG_NET_SCH_INGRESS CONFIG_CGROUPS CONFIG_CGROUP_BPF CONFIG_PERF_EVENTS; do
  has "$o" || missing="$missing $o"
done
if [ -n "$missing" ]; then echo "kernel $ver lacks what Cilium's datapath needs:$missing" >&2; exit 1; fi
optional=""
for o in CONFIG_CRYPTO_SHA1 CONFIG_CRYPTO_USER_API_HASH CONFIG_SCHEDSTATS; do has "$o" || optional="$optional $o"; done
echo "kernel $ver: Cilium's datapath options present${optional:+; not set (features that use them are unavailable):$optional}""#;

/// The kube-vip image for `px`'s pin, its registry host replaced by the
/// profile's `install.imageRegistry` (the repository path kept, as for
/// every chart image).
pub fn kube_vip_image(profile: &Profile, kv: &infraflux_model::profile::KubeVip) -> String {
    let (version, digest) = kv.pin();
    let repo = match &profile.install.image_registry {
        Some(mirror) => format!("{}/{}", mirror.trim_end_matches('/'), KUBE_VIP_IMAGE.split_once('/').map_or(KUBE_VIP_IMAGE, |(_, path)| path)),
        None => KUBE_VIP_IMAGE.to_owned(),
    };
    format!("{repo}:{version}@{digest}")
}

/// The kube-vip static pod for every server, when the profile has
/// kube-vip hold the API VIP: ARP on the servers' interface, leader
/// election on a Lease in kube-system (only the leader answers ARP for the
/// VIP), control plane only (Cilium's LB-IPAM serves Services). A static
/// pod has no service account: kube-vip talks to the local API server with
/// the admin kubeconfig RKE2 writes on every server, mounted read-only;
/// until that file exists the kubelet retries the pod (`type: File`), so
/// the first server's API comes up on its own address and the VIP follows.
pub fn kube_vip_manifest(profile: &Profile, px: &ProxmoxRke2Provider) -> Option<String> {
    let ApiVip::KubeVip(kv) = &px.rke2.api_vip else { return None };
    let api = &profile.network.api_server;
    let env = [
        ("address", api.vip.clone()),
        ("port", api.port.to_string()),
        ("vip_interface", kv.interface.clone()),
        ("vip_subnet", if api.vip.contains(':') { "128".into() } else { "32".into() }),
        ("vip_arp", "true".into()),
        ("cp_enable", "true".into()),
        ("cp_namespace", "kube-system".into()),
        ("svc_enable", "false".into()),
        ("vip_leaderelection", "true".into()),
        ("vip_leasename", "plndr-cp-lock".into()),
        ("vip_leaseduration", "5".into()),
        ("vip_renewdeadline", "3".into()),
        ("vip_retryperiod", "1".into()),
        ("k8s_config_file", KUBECONFIG_PATH.into()),
    ];
    let mut s = format!("# kube-vip for the API VIP of {}, written by infraflux (proxmox-rke2).\n", profile.name);
    s += "apiVersion: v1\nkind: Pod\nmetadata:\n  name: kube-vip\n  namespace: kube-system\n";
    s += "  labels:\n    app.kubernetes.io/name: kube-vip\n    app.kubernetes.io/managed-by: infraflux\n";
    s += "spec:\n  hostNetwork: true\n  priorityClassName: system-node-critical\n  containers:\n    - name: kube-vip\n";
    s += &format!("      image: {}\n      imagePullPolicy: IfNotPresent\n      args:\n        - manager\n      env:\n", q(&kube_vip_image(profile, kv)));
    s += "        - name: vip_nodename\n          valueFrom:\n            fieldRef:\n              fieldPath: spec.nodeName\n";
    for (k, v) in env {
        s += &format!("        - name: {k}\n          value: {}\n", q(&v));
    }
    s += "      securityContext:\n        capabilities:\n          add:\n            - NET_ADMIN\n            - NET_RAW\n";
    s += &format!("      volumeMounts:\n        - name: kubeconfig\n          mountPath: {KUBECONFIG_PATH}\n          readOnly: true\n");
    s += &format!("  volumes:\n    - name: kubeconfig\n      hostPath:\n        path: {KUBECONFIG_PATH}\n        type: File\n");
    Some(s)
}

/// Everything done on `node` before RKE2 is installed on any node: the
/// node is prepared and every file RKE2 reads at its first start is in
/// place (and, air-gapped, the artifacts are copied).
pub fn prepare_steps(profile: &Profile, px: &ProxmoxRke2Provider, node: &Node) -> Vec<Step> {
    let mut steps = vec![
        Step::Write { path: SYSCTL_PATH.into(), mode: "0644", content: Content::Text(SYSCTLS.into()) },
        Step::Run {
            what: "prepare the node (sysctls, swap off)",
            script: format!("set -e\nsysctl -q -p {SYSCTL_PATH}\nswapoff -a\nsed -i -E '/^[^#].*[[:space:]]swap[[:space:]]/ s/^/#/' /etc/fstab\n"),
        },
        Step::Run { what: "check the kernel for Cilium", script: KERNEL_CHECK.into() },
        Step::Write { path: CONFIG_PATH.into(), mode: "0600", content: Content::Text(rke2_config(profile, px, node)) },
        Step::Write { path: TOKEN_PATH.into(), mode: "0600", content: Content::Secret(px.rke2.token.clone()) },
    ];
    if node.role == NodeRole::Server
        && let Some(m) = kube_vip_manifest(profile, px)
    {
        steps.push(Step::Write { path: KUBE_VIP_PATH.into(), mode: "0600", content: Content::Text(m) });
    }
    if let Some(dir) = &px.rke2.artifacts_dir {
        for a in ARTIFACTS {
            steps.push(Step::Upload { local: format!("{}/{a}", dir.trim_end_matches('/')), remote: format!("{ARTIFACTS_DIR}/{a}") });
        }
    }
    steps
}

/// RKE2 installed and started on `node` (after every node was prepared).
pub fn install_steps(px: &ProxmoxRke2Provider, node: &Node) -> Vec<Step> {
    let kind = role(node);
    let version = &px.rke2.version;
    let mut steps = vec![match &px.rke2.artifacts_dir {
        Some(_) => Step::Run {
            what: "install RKE2 (air-gapped)",
            script: format!("INSTALL_RKE2_ARTIFACT_PATH={ARTIFACTS_DIR} INSTALL_RKE2_TYPE={kind} sh {ARTIFACTS_DIR}/install.sh\n"),
        },
        None => Step::Run {
            what: "install RKE2 (online)",
            script: format!("set -e\nmkdir -p /var/lib/rancher\ncurl -sSfL --max-time 120 https://get.rke2.io -o /var/lib/rancher/rke2-install.sh\nINSTALL_RKE2_VERSION={version} INSTALL_RKE2_TYPE={kind} sh /var/lib/rancher/rke2-install.sh\n"),
        },
    }];
    steps.push(Step::Run { what: "start RKE2", script: format!("systemctl enable --now rke2-{kind}.service\n") });
    steps
}

/// Shown in the plan: text indented under its line, secrets by reference.
pub fn describe(step: &Step) -> Vec<String> {
    match step {
        Step::Write { path, mode, content: Content::Text(t) } => {
            let mut v = vec![format!("write {path} (mode {mode}):")];
            v.extend(t.lines().map(|l| format!("    | {l}")));
            v
        }
        Step::Write { path, mode, content: Content::Secret(r) } => {
            vec![format!("write {path} (mode {mode}): <secret from {}>", r.describe())]
        }
        Step::Upload { local, remote } => vec![format!("copy {local} to {remote}")],
        Step::Run { what, script } => {
            let mut v = vec![format!("run: {what}:")];
            v.extend(script.lines().map(|l| format!("    $ {l}")));
            v
        }
    }
}
