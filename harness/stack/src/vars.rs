//! The template context, derived from the profile. Everything a template
//! needs beyond the profile's own fields (derived URLs, per-node flags,
//! layout choices) is computed here so templates stay declarative.

use serde_json::{Value, json};

use crate::profile::{DnsTarget, IpamMode, ListenerProtocol, NodeRole, Profile, Provider, Rke2Cni};

pub(crate) struct Vars {
    pub ctx: Value,
    pub gitops: bool,
    /// `None` when RKE2 is not the provider.
    pub rke2_cni: Option<Rke2Cni>,
    pub node_names: Vec<(String, bool)>,
    pub cluster: String,
    pub sources: crate::GitopsSources,
}

/// Cilium minor from a version like `1.18.6` / `v1.18.6`.
fn minor(v: &str) -> String {
    let v = v.trim_start_matches('v');
    let mut it = v.split('.');
    format!("{}.{}", it.next().unwrap_or("1"), it.next().unwrap_or("0"))
}

/// The Gateway API repository a GitOps tree fetches its CRDs from.
pub(crate) const GATEWAY_API_GIT: &str = "https://github.com/kubernetes-sigs/gateway-api";

impl Vars {
    pub fn new(p: &Profile, gitops: bool) -> Vars {
        let mut base = serde_json::to_value(p).unwrap_or(Value::Null);
        let channel = match p.versions.gateway_api_channel {
            crate::profile::GatewayApiChannel::Standard => "standard",
            crate::profile::GatewayApiChannel::Experimental => "experimental",
        };
        let crd_path = if channel == "standard" { "config/crd" } else { "config/crd/experimental" };
        let gateway_api = json!({
            "version": p.versions.gateway_api,
            "channel": channel,
            "path": crd_path,
            "remote": format!("https://github.com/kubernetes-sigs/gateway-api/{crd_path}?ref={}", p.versions.gateway_api),
            "git": GATEWAY_API_GIT,
        });
        let (rke2, rke2_cni, nodes) = match &p.provider {
            Provider::ProxmoxRke2(x) => {
                let vip = p.network.api_server.vip.clone();
                let mut nodes = Vec::new();
                let mut first = true;
                for n in &p.nodes {
                    let is_first = n.role == NodeRole::Server && first;
                    if n.role == NodeRole::Server {
                        first = false;
                    }
                    nodes.push((n.name.clone(), is_first, n.ip.clone(), n.role == NodeRole::Server));
                }
                let cni = match x.rke2.cni {
                    Rke2Cni::Cilium => "cilium",
                    Rke2Cni::None => "none",
                };
                (
                    json!({
                        "cni": cni,
                        "vip": vip,
                        "server_url": format!("https://{vip}:{}", x.rke2.supervisor_port),
                    }),
                    Some(x.rke2.cni),
                    nodes,
                )
            }
            _ => (Value::Null, None, Vec::new()),
        };
        let mut node_modules = vec!["wireguard", "xt_socket", "xt_TPROXY"];
        if p.features.bandwidth_manager {
            node_modules.push("sch_fq");
        }
        let ipam = match p.network.ipam {
            IpamMode::Kubernetes => "kubernetes",
            IpamMode::ClusterPool => "cluster-pool",
        };
        if let Some(net) = base.get_mut("network").and_then(Value::as_object_mut) {
            net.insert("ipam".into(), json!(ipam));
        }
        let https = p.gateway.listeners.iter().find(|l| l.protocol == ListenerProtocol::Https).map(|l| l.name.clone());
        let http = p.gateway.listeners.iter().find(|l| l.protocol == ListenerProtocol::Http).map(|l| l.name.clone());
        let default_proxied = p.dns.cloudflare.proxied_default;
        let tunnel = p.dns.cloudflare.tunnel.as_ref().map(|t| format!("{}.cfargotunnel.com", t.id));
        let routes: Vec<Value> = p
            .dns
            .records
            .iter()
            .filter(|r| !matches!(r.target, DnsTarget::Address(_)))
            .map(|r| {
                let target = match &r.target {
                    DnsTarget::Tunnel => tunnel.clone(),
                    _ => None,
                };
                json!({
                    "name": r.name,
                    "namespace": r.backend.namespace,
                    "hostname": r.hostname,
                    "service": r.backend.service,
                    "port": r.backend.port,
                    "proxied": if r.proxied_or(default_proxied) { "true" } else { "false" },
                    "target": target,
                })
            })
            .collect();
        let mut policy_namespaces: Vec<String> = p
            .dns
            .records
            .iter()
            .map(|r| r.backend.namespace.clone())
            // Cilium's own namespace is never put under a blanket default deny.
            .filter(|ns| ns != "kube-system")
            .collect();
        policy_namespaces.sort();
        policy_namespaces.dedup();
        let native_cidr = p.network.native_routing_cidr.clone().unwrap_or_else(|| p.network.pod_cidr.clone());
        let k8s = json!({
            "host": p.network.k8s_service_host.clone().unwrap_or_else(|| p.network.api_server.vip.clone()),
            "port": p.network.k8s_service_port.unwrap_or(p.network.api_server.port),
        });
        if let Some(obj) = base.as_object_mut() {
            obj.insert("gateway_api".into(), gateway_api);
            obj.insert("rke2".into(), rke2);
            obj.insert("kpr".into(), json!(p.features.kube_proxy_replacement));
            obj.insert("node_modules".into(), json!(node_modules));
            obj.insert("routes".into(), json!(routes));
            obj.insert("policy_namespaces".into(), json!(policy_namespaces));
            obj.insert("https_listener".into(), json!(https.unwrap_or_else(|| "https".into())));
            obj.insert("http_listener".into(), json!(http));
            obj.insert("native_cidr".into(), json!(native_cidr));
            obj.insert("k8s".into(), k8s);
            obj.insert(
                "cilium".into(),
                json!({"version": p.versions.cilium, "minor": minor(&p.versions.cilium)}),
            );
            obj.insert("gitops".into(), json!(gitops));
        }
        Vars {
            ctx: base,
            gitops,
            rke2_cni,
            node_names: nodes.iter().map(|(n, _, _, s)| (n.clone(), *s)).collect(),
            cluster: p.name.clone(),
            sources: crate::GitopsSources::default(),
        }
        .with_nodes(nodes)
    }

    fn with_nodes(mut self, nodes: Vec<(String, bool, String, bool)>) -> Vars {
        let list: Vec<Value> = nodes
            .into_iter()
            .map(|(name, first, ip, server)| {
                json!({"name": name, "first": first, "ip": ip, "role": if server { "server" } else { "agent" }})
            })
            .collect();
        if let Some(obj) = self.ctx.as_object_mut() {
            obj.insert("nodes_rendered".into(), json!(list));
        }
        self
    }

    /// The context with extra keys (per-file values such as `node`, `chart`).
    pub fn with(&self, extra: &[(&str, Value)]) -> Value {
        let mut v = self.ctx.clone();
        if let Some(obj) = v.as_object_mut() {
            for (k, x) in extra {
                obj.insert((*k).to_owned(), x.clone());
            }
        }
        v
    }

    pub fn node(&self, name: &str) -> Value {
        self.ctx
            .get("nodes_rendered")
            .and_then(Value::as_array)
            .and_then(|a| a.iter().find(|n| n.get("name").and_then(Value::as_str) == Some(name)))
            .cloned()
            .unwrap_or(Value::Null)
    }
}
