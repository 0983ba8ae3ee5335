//! `proxmox-rke2`: VMs cloned from a cloud-init template through the
//! Proxmox VE API ([`api`]), then RKE2 on them over SSH ([`ssh`],
//! [`steps`]): every node prepared first, then RKE2 installed on the first
//! server, its kubeconfig fetched ([`kubeconfig`]), then the joining
//! servers and the agents.
//!
//! Ownership is a tag: every VM `up` creates carries `infraflux-<cluster>`
//! from its first configuration call on, and `down` stops and destroys
//! (disks purged) exactly the VMs with that tag, never a VM by name. A
//! second `up` reuses tagged VMs that already exist under the node's name,
//! so an interrupted `up` resumes; a failure while creating VMs destroys the
//! tagged VMs this run created, and a failure on a node (SSH) leaves them
//! for inspection until `down`.

pub mod api;
pub mod kubeconfig;
pub mod ssh;
pub mod steps;
pub mod tls;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use infraflux_model::profile::{Node, Profile, Provider as ProfileProvider, ProviderKind, ProxmoxRke2Provider};
use infraflux_model::secret::{self, Secret};

use self::api::{ApiError, Client, VmInfo, describe, encode_sshkeys};
use self::ssh::{Ssh, SshError, write_file_script};
use self::steps::{Content, Step};
use self::tls::Trust;
use crate::{Access, ProvisionError};

/// Where host keys are read through the guest agent.
pub const HOST_KEY_FILE: &str = "/etc/ssh/ssh_host_ed25519_key.pub";

#[derive(Debug, thiserror::Error)]
pub enum ProxmoxError {
    #[error("provider.proxmoxRke2: {0}")]
    Config(String),
    #[error("failed to read the {what} secret ({reference})")]
    Secret { what: &'static str, reference: String, #[source] source: secret::Error },
    #[error("quota check before the first clone: {0}")]
    Quota(String),
    #[error(transparent)]
    Api(Box<ApiError>),
    #[error("VM {vmid} ({name}) was cloned but could not be tagged, so `down` will not remove it; delete it in Proxmox")]
    Untagged { vmid: u32, name: String, #[source] source: Box<ApiError> },
    #[error("creating the VMs failed; the tagged VMs created by this run were destroyed{1}")]
    Reverted(#[source] Box<ProxmoxError>, String),
    #[error("node {node} failed; the VMs are kept for inspection (`infraflux down --provider proxmox-rke2` removes them)")]
    Node { node: String, #[source] source: Box<SshError> },
    #[error("node {node}: {message}")]
    NodeOther { node: String, message: String },
    #[error("{0}")]
    Io(String),
}

impl From<ApiError> for ProxmoxError {
    fn from(e: ApiError) -> Self {
        ProxmoxError::Api(Box::new(e))
    }
}

impl ProxmoxError {
    pub fn created_nothing(&self) -> bool {
        matches!(self, ProxmoxError::Config(_) | ProxmoxError::Secret { .. } | ProxmoxError::Quota(_) | ProxmoxError::Reverted(..))
    }
}

/// Waits, overridable by tests.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// One Proxmox task (clone of a big disk takes minutes).
    pub task: Duration,
    /// From start until the guest agent and SSH answer.
    pub boot: Duration,
    /// One script on a node (the RKE2 install downloads images).
    pub command: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts { task: Duration::from_secs(600), boot: Duration::from_secs(300), command: Duration::from_secs(900) }
    }
}

/// The provider for one profile.
pub struct ProxmoxRke2 {
    profile: Profile,
    px: ProxmoxRke2Provider,
    state: PathBuf,
    pub timeouts: Timeouts,
    /// Progress lines (API calls, node steps); stderr by default.
    log: Arc<dyn Fn(&str) + Send + Sync>,
}

/// `infraflux-<cluster>`: characters Proxmox tags allow, lower case.
pub fn run_tag(cluster: &str) -> String {
    let clean: String = cluster.to_ascii_lowercase().chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '-' }).collect();
    format!("infraflux-{clean}")
}

impl ProxmoxRke2 {
    /// Refuses a profile the provider cannot run safely (no way to verify
    /// the API certificate, no server).
    pub fn new(profile: &Profile, state: PathBuf) -> Result<ProxmoxRke2, ProxmoxError> {
        let ProfileProvider::ProxmoxRke2(px) = &profile.provider else {
            return Err(ProxmoxError::Config("the profile has no provider.proxmoxRke2 section".into()));
        };
        // `ssh` is checked by `up`: `down` only talks to the API, and must
        // work for a profile that has lost its SSH identity.
        trust(px)?;
        if steps::first_server(profile).is_none() {
            return Err(ProxmoxError::Config("no node has role `server`".into()));
        }
        Ok(ProxmoxRke2 {
            profile: profile.clone(),
            px: px.clone(),
            state,
            timeouts: Timeouts::default(),
            log: Arc::new(|l| eprintln!("{}", secret::redact(l))),
        })
    }

    pub fn with_log(mut self, f: impl Fn(&str) + Send + Sync + 'static) -> ProxmoxRke2 {
        self.log = Arc::new(f);
        self
    }

    pub fn tag(&self) -> String {
        run_tag(&self.profile.name)
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.state.join("kubeconfig")
    }

    fn known_hosts(&self) -> PathBuf {
        self.state.join("known_hosts")
    }

    fn client(&self) -> Result<Client, ProxmoxError> {
        let token = resolve("Proxmox API token", &self.px.proxmox.token)?;
        let log = self.log.clone();
        Ok(Client::new(&self.px.proxmox.endpoint, &self.px.proxmox.token_id, &token, &trust(&self.px)?, self.timeouts.task)?
            .on_call(move |c| log(&format!("proxmox: {c}"))))
    }

    fn ssh(&self) -> Result<Ssh, ProxmoxError> {
        let s = self.ssh_cfg()?;
        Ok(Ssh { user: s.user.clone(), private_key: PathBuf::from(&s.private_key_file), known_hosts: self.known_hosts() })
    }

    fn ssh_cfg(&self) -> Result<&infraflux_model::profile::NodeSsh, ProxmoxError> {
        self.px.proxmox.ssh.as_ref().ok_or_else(|| ProxmoxError::Config("`proxmox.ssh` is required".into()))
    }

    fn node_prefix(&self) -> u8 {
        self.profile.network.node_net().map_or(24, |n| n.prefix_len())
    }

    // ------------------------------------------------------------ params

    fn clone_params(&self, node: &Node, newid: &str) -> Vec<(&'static str, String)> {
        let p = &self.px.proxmox;
        let mut v = vec![("newid", newid.to_owned()), ("name", node.name.clone()), ("target", p.target_node.clone())];
        if p.full_clone {
            v.push(("full", "1".into()));
            v.push(("storage", p.storage.clone()));
        } else {
            v.push(("full", "0".into()));
        }
        if let Some(pool) = &p.pool {
            v.push(("pool", pool.clone()));
        }
        v
    }

    fn tag_params(&self) -> Vec<(&'static str, String)> {
        vec![("tags", self.tag())]
    }

    fn config_params(&self, node: &Node, sshkeys: &str) -> Vec<(&'static str, String)> {
        let p = &self.px.proxmox;
        let user = p.ssh.as_ref().map(|s| s.user.clone()).unwrap_or_default();
        let mut v = vec![
            ("ciuser", user),
            ("sshkeys", sshkeys.to_owned()),
            ("ipconfig0", format!("ip={}/{},gw={}", node.ip, self.node_prefix(), self.profile.network.node_gateway)),
            ("cores", p.vm.cores.to_string()),
            ("memory", p.vm.memory_mib.to_string()),
            ("agent", "1".into()),
            ("net0", format!("virtio,bridge={}", p.bridge)),
        ];
        if let Some(ns) = &p.nameserver {
            v.push(("nameserver", ns.clone()));
        }
        v
    }

    fn resize_params(&self) -> Vec<(&'static str, String)> {
        vec![("disk", self.px.proxmox.vm.disk.clone()), ("size", format!("{}G", self.px.proxmox.vm.disk_gib))]
    }

    fn public_key_param(&self) -> Result<String, ProxmoxError> {
        let path = &self.ssh_cfg()?.public_key_file;
        let text = std::fs::read_to_string(path).map_err(|e| ProxmoxError::Config(format!("failed to read ssh.publicKeyFile {path}: {e}")))?;
        Ok(encode_sshkeys(text.trim()))
    }

    // ------------------------------------------------------------ plan

    fn plan_lines(&self) -> Vec<String> {
        let p = &self.px.proxmox;
        let tag = self.tag();
        let get = reqwest::Method::GET;
        let post = reqwest::Method::POST;
        let mut out = vec![
            format!("API endpoint {} as {} (token from {}), certificate checked against {}", p.endpoint, p.token_id, p.token.describe(), match trust(&self.px) {
                Ok(Trust::CaFile(f)) => format!("CA file {}", f.display()),
                Ok(Trust::Fingerprint(fp)) => format!("pinned SHA-256 {}", tls::format_fingerprint(&fp)),
                Err(e) => format!("nothing: {e}"),
            }),
            format!("every VM is tagged `{tag}`; `down` destroys exactly the VMs with that tag"),
            format!("quota: {} (template `{}` on {} must exist and be a template; tagged VMs named like nodes are reused)", describe(&get, "/cluster/resources", &[("type", "vm".into())]), p.template, p.target_node),
        ];
        if p.full_clone {
            out.push(format!(
                "quota: {} (needs {} x {} GiB free)",
                describe(&get, &format!("/nodes/{}/storage/{}/status", p.target_node, p.storage), &[]),
                self.profile.nodes.len(),
                p.vm.disk_gib
            ));
        }
        let sshkeys = self.public_key_param().unwrap_or_else(|e| format!("<{e}>"));
        let node_ = &p.target_node;
        for n in &self.profile.nodes {
            let id = format!("<vmid:{}>", n.name);
            let follow = |c: String| format!("{c}  -> follow the task to stopped/OK ({})", describe(&get, &format!("/nodes/{node_}/tasks/<upid>/status"), &[]));
            out.push(format!("{}  -> {id}", describe(&get, "/cluster/nextid", &[])));
            out.push(follow(describe(&post, &format!("/nodes/{node_}/qemu/<vmid:{}>/clone", p.template), &self.clone_params(n, &id))));
            out.push(follow(describe(&post, &format!("/nodes/{node_}/qemu/{id}/config"), &self.tag_params())));
            out.push(follow(describe(&post, &format!("/nodes/{node_}/qemu/{id}/config"), &self.config_params(n, &sshkeys))));
            out.push(follow(describe(&reqwest::Method::PUT, &format!("/nodes/{node_}/qemu/{id}/resize"), &self.resize_params())));
            out.push(follow(describe(&post, &format!("/nodes/{node_}/qemu/{id}/status/start"), &[])));
        }
        let user = self.px.proxmox.ssh.as_ref().map_or("<ssh.user>", |s| s.user.as_str());
        let nodes = self.ordered_nodes();
        for n in &nodes {
            let id = format!("<vmid:{}>", n.name);
            let pin = match self.px.proxmox.ssh.as_ref().and_then(|s| s.known_hosts_file.as_ref()) {
                Some(f) => format!("host key pinned from {f}"),
                None => format!(
                    "wait for {} in {}; host key read via {}",
                    n.ip,
                    describe(&get, &format!("/nodes/{node_}/qemu/{id}/agent/network-get-interfaces"), &[]),
                    describe(&get, &format!("/nodes/{node_}/qemu/{id}/agent/file-read"), &[("file", HOST_KEY_FILE.into())])
                ),
            };
            out.push(format!("node {} ({user}@{}): {pin}; wait for SSH", n.name, n.ip));
            for s in steps::prepare_steps(&self.profile, &self.px, n) {
                for l in steps::describe(&s) {
                    out.push(format!("node {}: {l}", n.name));
                }
            }
        }
        for (i, n) in nodes.iter().enumerate() {
            if i > 0 {
                for l in steps::describe(&self.wait_registration()) {
                    out.push(format!("node {}: {l}", n.name));
                }
            }
            for s in steps::install_steps(&self.px, n) {
                for l in steps::describe(&s) {
                    out.push(format!("node {}: {l}", n.name));
                }
            }
            if i == 0 {
                out.push(format!(
                    "node {}: read {} and write it to {} with the server set to {}",
                    n.name,
                    steps::KUBECONFIG_PATH,
                    self.kubeconfig().display(),
                    kubeconfig::api_url(&self.profile.network.api_server.vip, self.profile.network.api_server.port)
                ));
            }
        }
        out
    }

    /// Before a joining node starts RKE2: the registration address answers
    /// (kube-vip on the first server, or the user's VIP). Bounded, and an
    /// error that names the VIP instead of an RKE2 unit that never starts.
    fn wait_registration(&self) -> Step {
        let url = kubeconfig::api_url(&self.profile.network.api_server.vip, self.px.rke2.supervisor_port);
        let tries = (self.timeouts.boot.as_secs() / 5).max(1);
        let holder = match &self.px.rke2.api_vip {
            infraflux_model::profile::ApiVip::KubeVip(_) => "kube-vip on the first server",
            infraflux_model::profile::ApiVip::Provided => "the VIP you provide (rke2.apiVip: provided)",
        };
        Step::Run {
            what: "wait for the registration address",
            script: format!(
                "i=0\nuntil curl -sk -o /dev/null --max-time 5 {url}/; do\n  i=$((i+1)); if [ $i -ge {tries} ]; then echo \"{url} does not answer: {holder} does not hold the VIP\" >&2; exit 1; fi\n  sleep 5\ndone\n"
            ),
        }
    }

    /// First server, then the other servers, then agents.
    fn ordered_nodes(&self) -> Vec<&Node> {
        let first = steps::first_server(&self.profile).map(|n| n.name.clone());
        let mut v: Vec<&Node> = self.profile.nodes.iter().collect();
        v.sort_by_key(|n| (Some(&n.name) != first.as_ref(), n.role != infraflux_model::profile::NodeRole::Server));
        v
    }

    // ------------------------------------------------------------ up

    async fn preflight(&self, c: &Client) -> Result<(u32, BTreeMap<String, VmInfo>), ProxmoxError> {
        let p = &self.px.proxmox;
        let vms = c.vms().await?;
        let template = vms
            .iter()
            .find(|v| v.name == p.template && v.node == p.target_node)
            .ok_or_else(|| ProxmoxError::Quota(format!("no VM named `{}` on node {}", p.template, p.target_node)))?;
        if !template.template {
            return Err(ProxmoxError::Quota(format!("`{}` (VM {}) is not a template; convert it (qm template {})", p.template, template.vmid, template.vmid)));
        }
        let tag = self.tag();
        let mut mine = BTreeMap::new();
        for v in vms.iter().filter(|v| v.tags.contains(&tag)) {
            mine.insert(v.name.clone(), v.clone());
        }
        let missing = self.profile.nodes.iter().filter(|n| !mine.contains_key(&n.name)).count() as u64;
        if p.full_clone && missing > 0 {
            let st = c.storage_status(&p.target_node, &p.storage).await?;
            let need = (missing * u64::from(p.vm.disk_gib)) << 30;
            if st.avail < need {
                return Err(ProxmoxError::Quota(format!("storage {} has {} GiB free, {missing} VM(s) need {} GiB", p.storage, st.avail >> 30, need >> 30)));
            }
        }
        if missing > 0 {
            // Fails (and says why) when the VMID range is exhausted.
            c.next_id().await?;
        }
        Ok((template.vmid, mine))
    }

    async fn create_vm(&self, c: &Client, template: u32, node: &Node, sshkeys: &str, created: &mut Vec<u32>) -> Result<u32, ProxmoxError> {
        let p = &self.px.proxmox;
        let tn = &p.target_node;
        let id = c.next_id().await?;
        c.clone_vm(tn, template, &self.clone_params(node, &id.to_string())).await?;
        // Tagged before anything else: from here on `down` owns it.
        c.configure(tn, id, &self.tag_params())
            .await
            .map_err(|source| ProxmoxError::Untagged { vmid: id, name: node.name.clone(), source: Box::new(source) })?;
        created.push(id);
        c.configure(tn, id, &self.config_params(node, sshkeys)).await?;
        c.resize(tn, id, &self.resize_params()).await?;
        c.start(tn, id).await?;
        Ok(id)
    }

    async fn create_all(&self, c: &Client) -> Result<BTreeMap<String, u32>, ProxmoxError> {
        let (template, existing) = self.preflight(c).await?;
        let sshkeys = self.public_key_param()?;
        let mut ids = BTreeMap::new();
        let mut created = Vec::new();
        for n in &self.profile.nodes {
            if let Some(v) = existing.get(&n.name) {
                (self.log)(&format!("proxmox: {} is VM {} (tagged {}), reused", n.name, v.vmid, self.tag()));
                if !v.running {
                    c.start(&v.node, v.vmid).await?;
                }
                ids.insert(n.name.clone(), v.vmid);
                continue;
            }
            match self.create_vm(c, template, n, &sshkeys, &mut created).await {
                Ok(id) => {
                    ids.insert(n.name.clone(), id);
                }
                Err(e @ ProxmoxError::Untagged { .. }) => return Err(e),
                Err(e) => {
                    let left = self.destroy_tagged(c, Some(&created)).await;
                    let note = if left.is_empty() { String::new() } else { format!(" except: {}", left.join("; ")) };
                    return Err(ProxmoxError::Reverted(Box::new(e), note));
                }
            }
        }
        Ok(ids)
    }

    /// Stops and destroys VMs carrying the run's tag (only those in `only`
    /// when given). Returns what could not be removed.
    async fn destroy_tagged(&self, c: &Client, only: Option<&[u32]>) -> Vec<String> {
        let tag = self.tag();
        let vms = match c.vms().await {
            Ok(v) => v,
            Err(e) => return vec![e.to_string()],
        };
        let mut left = Vec::new();
        for v in vms.iter().filter(|v| v.tags.contains(&tag) && only.is_none_or(|o| o.contains(&v.vmid))) {
            (self.log)(&format!("proxmox: destroying VM {} ({}, tagged {tag})", v.vmid, v.name));
            let r = async {
                if v.running {
                    c.stop(&v.node, v.vmid).await?;
                }
                c.destroy(&v.node, v.vmid).await
            }
            .await;
            if let Err(e) = r {
                left.push(format!("VM {} ({}): {e}", v.vmid, v.name));
            }
        }
        left
    }

    async fn pin_host_key(&self, c: &Client, node: &Node, vmid: u32) -> Result<(), ProxmoxError> {
        let ssh = self.ssh_cfg()?;
        let line = if let Some(file) = &ssh.known_hosts_file {
            let text = std::fs::read_to_string(file).map_err(|e| ProxmoxError::Config(format!("failed to read ssh.knownHostsFile {file}: {e}")))?;
            let found: Vec<&str> = text.lines().filter(|l| l.split_whitespace().next().is_some_and(|h| h.split(',').any(|h| h == node.ip || h == node.name))).collect();
            if found.is_empty() {
                return Err(ProxmoxError::Config(format!("ssh.knownHostsFile {file} has no key for {} ({})", node.name, node.ip)));
            }
            found.iter().map(|l| format!("{} {}", node.ip, l.split_once(' ').map_or("", |x| x.1))).collect::<Vec<_>>().join("\n")
        } else {
            let deadline = Instant::now() + self.timeouts.boot;
            self.wait_for_address(c, node, vmid, deadline).await?;
            let key = loop {
                match c.agent_file_read(&self.px.proxmox.target_node, vmid, HOST_KEY_FILE).await {
                    Ok(k) if k.trim().starts_with("ssh-") => break k,
                    Ok(k) => return Err(ProxmoxError::NodeOther { node: node.name.clone(), message: format!("{HOST_KEY_FILE} is not a public key: {}", k.trim()) }),
                    Err(e) if Instant::now() >= deadline => return Err(ProxmoxError::NodeOther { node: node.name.clone(), message: format!("guest agent never answered: {e}") }),
                    Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
                }
            };
            let mut parts = key.split_whitespace();
            format!("{} {} {}", node.ip, parts.next().unwrap_or(""), parts.next().unwrap_or(""))
        };
        let path = self.known_hosts();
        let mut text = std::fs::read_to_string(&path).unwrap_or_default();
        text = text.lines().filter(|l| l.split_whitespace().next() != Some(node.ip.as_str())).map(|l| format!("{l}\n")).collect();
        text.push_str(&line);
        text.push('\n');
        std::fs::write(&path, text).map_err(|e| ProxmoxError::Io(format!("failed to write {}: {e}", path.display())))
    }

    /// Waits until the guest agent reports the address `ipconfig0` asked
    /// for: the guest booted and cloud-init configured it. Another address
    /// (DHCP, a template with a static one) is an error, not a wait.
    async fn wait_for_address(&self, c: &Client, node: &Node, vmid: u32, deadline: Instant) -> Result<(), ProxmoxError> {
        let tn = &self.px.proxmox.target_node;
        loop {
            let last = match c.agent_addresses(tn, vmid).await {
                Ok(a) if a.contains(&node.ip) => return Ok(()),
                Ok(a) if a.iter().any(|x| !x.starts_with("127.")) => {
                    return Err(ProxmoxError::NodeOther {
                        node: node.name.clone(),
                        message: format!("the guest came up with {} instead of {} (is the template's cloud-init drive attached?)", a.join(", "), node.ip),
                    });
                }
                Ok(a) => format!("only {}", a.join(", ")),
                Err(e) => e.to_string(),
            };
            if Instant::now() >= deadline {
                return Err(ProxmoxError::NodeOther { node: node.name.clone(), message: format!("guest agent never answered with {}: {last}", node.ip) });
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Runs `steps` on `node` in order; the first failure stops them.
    async fn run_steps(&self, ssh: &Ssh, node: &Node, steps: &[Step]) -> Result<(), ProxmoxError> {
        let on = |source| ProxmoxError::Node { node: node.name.clone(), source: Box::new(source) };
        for step in steps {
            match step {
                Step::Write { path, mode, content } => {
                    (self.log)(&format!("node {}: write {path}", node.name));
                    let body: Vec<u8> = match content {
                        Content::Text(t) => t.clone().into_bytes(),
                        Content::Secret(r) => resolve("RKE2 join token", r)?.expose().as_bytes().to_vec(),
                    };
                    let remote = self.as_root(ssh, &write_file_script(path, mode));
                    ssh.run(&node.ip, &format!("write {path}"), &remote, &body, self.timeouts.command).await.map_err(on)?;
                }
                Step::Upload { local, remote } => {
                    (self.log)(&format!("node {}: copy {local}", node.name));
                    let body = std::fs::read(local).map_err(|e| ProxmoxError::Config(format!("failed to read the RKE2 artifact {local}: {e}")))?;
                    let cmd = self.as_root(ssh, &write_file_script(remote, "0644"));
                    ssh.run(&node.ip, &format!("copy {local}"), &cmd, &body, self.timeouts.command).await.map_err(on)?;
                }
                Step::Run { what, script } => {
                    (self.log)(&format!("node {}: {what}", node.name));
                    let out = ssh.run(&node.ip, what, ssh.shell(), script.as_bytes(), self.timeouts.command).await.map_err(on)?;
                    for l in out.lines() {
                        (self.log)(&format!("node {}:   {l}", node.name));
                    }
                }
            }
        }
        Ok(())
    }

    /// Waits for SSH (the host key is pinned by now) and prepares `node`.
    async fn prepare(&self, ssh: &Ssh, node: &Node) -> Result<(), ProxmoxError> {
        (self.log)(&format!("node {}: waiting for SSH on {}", node.name, node.ip));
        ssh.wait_up(&node.ip, self.timeouts.boot)
            .await
            .map_err(|source| ProxmoxError::Node { node: node.name.clone(), source: Box::new(source) })?;
        self.run_steps(ssh, node, &steps::prepare_steps(&self.profile, &self.px, node)).await
    }

    fn as_root(&self, ssh: &Ssh, script: &str) -> String {
        if ssh.user == "root" { script.to_owned() } else { format!("sudo -n sh -c \"{script}\"") }
    }

    async fn fetch_kubeconfig(&self, ssh: &Ssh, node: &Node) -> Result<(), ProxmoxError> {
        let wait = format!("i=0; while [ ! -s {p} ]; do i=$((i+1)); [ $i -gt {n} ] && exit 1; sleep 2; done; cat {p}", p = steps::KUBECONFIG_PATH, n = self.timeouts.boot.as_secs() / 2);
        let text = ssh
            .run(&node.ip, "read the kubeconfig", ssh.shell(), wait.as_bytes(), self.timeouts.boot + Duration::from_secs(10))
            .await
            .map_err(|source| ProxmoxError::Node { node: node.name.clone(), source: Box::new(source) })?;
        let api = &self.profile.network.api_server;
        let text = kubeconfig::rewrite_server(&text, &kubeconfig::api_url(&api.vip, api.port))
            .map_err(|e| ProxmoxError::NodeOther { node: node.name.clone(), message: format!("{}: {e}", steps::KUBECONFIG_PATH) })?;
        write_private(&self.kubeconfig(), &text)
    }

    async fn up_inner(&self) -> Result<Access, ProxmoxError> {
        if self.px.proxmox.ssh.is_none() {
            return Err(ProxmoxError::Config("`proxmox.ssh` (user, publicKeyFile, privateKeyFile) is required to provision".into()));
        }
        if let Some(dir) = &self.px.rke2.artifacts_dir {
            let dir = PathBuf::from(dir);
            tokio::task::spawn_blocking(move || steps::verify_artifacts(&dir))
                .await
                .map_err(|e| ProxmoxError::Io(e.to_string()))?
                .map_err(ProxmoxError::Config)?;
        }
        std::fs::create_dir_all(&self.state).map_err(|e| ProxmoxError::Io(format!("failed to create {}: {e}", self.state.display())))?;
        let c = self.client()?;
        let ids = self.create_all(&c).await?;
        let ssh = self.ssh()?;
        let nodes = self.ordered_nodes();
        // Every node prepared before RKE2 runs anywhere: a node that cannot
        // be (no SSH, an old kernel) stops `up` before a cluster exists.
        for n in &nodes {
            let vmid = ids.get(&n.name).copied().unwrap_or_default();
            self.pin_host_key(&c, n, vmid).await?;
            self.prepare(&ssh, n).await?;
        }
        for (i, n) in nodes.iter().enumerate() {
            let mut steps = if i == 0 { Vec::new() } else { vec![self.wait_registration()] };
            steps.extend(steps::install_steps(&self.px, n));
            self.run_steps(&ssh, n, &steps).await?;
            if i == 0 {
                self.fetch_kubeconfig(&ssh, n).await?;
            }
        }
        Ok(Access { kubeconfig: Some(self.kubeconfig()), context: None })
    }

    async fn down_inner(&self) -> Result<(), ProxmoxError> {
        crate::source_server::stop(&self.state);
        let c = self.client()?;
        let left = self.destroy_tagged(&c, None).await;
        for f in [self.kubeconfig(), self.known_hosts()] {
            let _ = std::fs::remove_file(f);
        }
        if left.is_empty() { Ok(()) } else { Err(ProxmoxError::NodeOther { node: "down".into(), message: format!("not removed: {}", left.join("; ")) }) }
    }
}

fn trust(px: &ProxmoxRke2Provider) -> Result<Trust, ProxmoxError> {
    let p = &px.proxmox;
    if p.insecure_skip_tls_verify {
        return Err(ProxmoxError::Config("`insecureSkipTlsVerify: true` is refused: set `caFile` (the PVE root CA) or `fingerprint` (the API certificate's SHA-256)".into()));
    }
    match (&p.ca_file, &p.fingerprint) {
        (Some(f), None) => Ok(Trust::CaFile(PathBuf::from(f))),
        (None, Some(fp)) => Ok(Trust::Fingerprint(tls::parse_fingerprint(fp).map_err(|e| ProxmoxError::Config(e.to_string()))?)),
        (Some(_), Some(_)) => Err(ProxmoxError::Config("set one of `caFile` and `fingerprint`, not both".into())),
        (None, None) => Err(ProxmoxError::Config("the API certificate must be verified: set `caFile` (/etc/pve/pve-root-ca.pem) or `fingerprint`".into())),
    }
}

fn resolve(what: &'static str, r: &secret::SecretRef) -> Result<Secret, ProxmoxError> {
    r.resolve().map_err(|source| ProxmoxError::Secret { what, reference: r.describe(), source })
}

fn write_private(path: &Path, text: &str) -> Result<(), ProxmoxError> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let err = |e: std::io::Error| ProxmoxError::Io(format!("failed to write {}: {e}", path.display()));
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path).map_err(err)?;
    f.write_all(text.as_bytes()).map_err(err)
}

impl crate::Provider for ProxmoxRke2 {
    fn kind(&self) -> ProviderKind {
        ProviderKind::ProxmoxRke2
    }

    fn plan(&self) -> Vec<String> {
        self.plan_lines()
    }

    fn up(&self) -> BoxFuture<'_, Result<Access, ProvisionError>> {
        Box::pin(async move { self.up_inner().await.map_err(ProvisionError::Proxmox) })
    }

    fn down(&self) -> BoxFuture<'_, Result<(), ProvisionError>> {
        Box::pin(async move { self.down_inner().await.map_err(ProvisionError::Proxmox) })
    }

    fn access(&self) -> Access {
        Access { kubeconfig: Some(self.kubeconfig()), context: None }
    }

    fn owns_cluster(&self) -> bool {
        true
    }

    /// The tree is served from this host, on its address on the route to
    /// the first server; the VMs pull Flux's published images.
    fn gitops_host(&self) -> Option<crate::GitopsHost> {
        let first = steps::first_server(&self.profile)?;
        let ip: std::net::IpAddr = first.ip.split('/').next()?.parse().ok()?;
        let here = crate::source_server::route_source(ip)?;
        Some(crate::GitopsHost {
            root: self.state.join("gitops"),
            listen: std::net::SocketAddr::new(here, crate::source_server::PORT),
            flux_images: None,
        })
    }

    fn start_gitops<'a>(&'a self, program: &'a Path) -> BoxFuture<'a, Result<(), ProvisionError>> {
        Box::pin(async move {
            let host = crate::Provider::gitops_host(self).ok_or(ProvisionError::NoGitopsHost(ProviderKind::ProxmoxRke2))?;
            let listen = host.listen;
            let (state, program) = (self.state.clone(), program.to_path_buf());
            tokio::task::spawn_blocking(move || crate::source_server::start(&state, &program, &host.root, listen))
                .await
                .map_err(|e| ProxmoxError::Io(e.to_string()))?
                .map_err(|m| ProxmoxError::Io(format!("the GitOps source server: {m}")))?;
            (self.log)(&format!("GitOps source served at http://{listen} from {}", self.state.join("gitops").display()));
            Ok(())
        })
    }

    fn load_images<'a>(&'a self, _archives: &'a [PathBuf]) -> BoxFuture<'a, Result<(), ProvisionError>> {
        Box::pin(async {
            Err(ProvisionError::LoadImages {
                provider: ProviderKind::ProxmoxRke2,
                why: "the VMs pull from registries; push the images to one they reach".into(),
            })
        })
    }
}
