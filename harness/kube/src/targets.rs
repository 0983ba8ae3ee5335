//! Probe targets: what a host in a probe names in the cluster, and the
//! wait until it can answer. A probe sent to a Service without ready
//! endpoints, or to a pod that is not Ready yet, measures the rollout, not
//! the datapath; a deny probe sent there passes whatever the policy does.

use std::net::IpAddr;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, ListParams};

use super::wait::{Check, until};
use super::{Cluster, Error, Result};

/// What a probe host is, as far as the cluster knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeTarget {
    /// A Service (by DNS name, cluster IP or load-balancer address).
    Service { namespace: String, name: String },
    /// A pod, by its address.
    Pod { namespace: String, name: String },
}

impl std::fmt::Display for ProbeTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProbeTarget::Service { namespace, name } => write!(f, "service {namespace}/{name}"),
            ProbeTarget::Pod { namespace, name } => write!(f, "pod {namespace}/{name}"),
        }
    }
}

/// The Service a DNS name designates: `svc`, `svc.ns.svc` and
/// `svc.ns.svc.cluster.local` (with or without the trailing dot); `None`
/// for other names (a Gateway hostname, an external name). `svc.ns` is
/// left out: it cannot be told from an external two-label name.
pub fn service_name(host: &str, default_namespace: &str) -> Option<(String, String)> {
    let h = host.trim_end_matches('.');
    if h.is_empty() || h.parse::<IpAddr>().is_ok() {
        return None;
    }
    let h = h.strip_suffix(".cluster.local").unwrap_or(h);
    let labels: Vec<&str> = h.split('.').collect();
    match labels.as_slice() {
        [svc] => Some((default_namespace.to_owned(), (*svc).to_owned())),
        [svc, ns, "svc"] => Some(((*ns).to_owned(), (*svc).to_owned())),
        _ => None,
    }
}

/// Whether an EndpointSlice lists an endpoint that is ready (an absent
/// `ready` means ready, per the API's documentation).
fn has_ready_endpoint(s: &EndpointSlice) -> bool {
    s.endpoints
        .iter()
        .any(|e| e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true))
}

impl Cluster {
    /// The Service or pod of `namespace` whose address is `ip` (a cluster
    /// IP, a load-balancer ingress IP, a pod IP), or `None`: then the
    /// address is a node, a lab host or something outside the cluster.
    pub async fn target_by_ip(&self, namespace: &str, ip: IpAddr) -> Result<Option<ProbeTarget>> {
        let ip = ip.to_string();
        let services: Api<Service> = Api::all(self.client.clone());
        let list = services
            .list(&ListParams::default())
            .await
            .map_err(|e| Error::from_kube("list services", e))?;
        // The case's own namespace first: two namespaces may reuse an LB IP
        // while one of them is being torn down.
        let mut found: Vec<(bool, ProbeTarget)> = list
            .items
            .into_iter()
            .filter(|s| {
                let spec = s.spec.clone().unwrap_or_default();
                let cluster = spec.cluster_ips.unwrap_or_default().contains(&ip) || spec.cluster_ip.as_deref() == Some(&ip);
                let lb = s
                    .status
                    .as_ref()
                    .and_then(|st| st.load_balancer.as_ref())
                    .and_then(|lb| lb.ingress.as_ref())
                    .is_some_and(|ing| ing.iter().any(|i| i.ip.as_deref() == Some(&ip)));
                cluster || lb
            })
            .filter_map(|s| {
                let ns = s.metadata.namespace?;
                let name = s.metadata.name?;
                Some((ns == namespace, ProbeTarget::Service { namespace: ns, name }))
            })
            .collect();
        found.sort_by_key(|(own, _)| !*own);
        if let Some((_, t)) = found.into_iter().next() {
            return Ok(Some(t));
        }
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        let list = pods
            .list(&ListParams::default())
            .await
            .map_err(|e| Error::from_kube(format!("list pods in {namespace}"), e))?;
        Ok(list.items.into_iter().find_map(|p| {
            let status = p.status.as_ref()?;
            // Host-network pods share the node's address: that is the node.
            if p.spec.as_ref().and_then(|s| s.host_network) == Some(true) {
                return None;
            }
            let ips = status.pod_ips.iter().flatten().map(|i| i.ip.as_str());
            ips.chain(status.pod_ip.as_deref())
                .any(|a| a == ip)
                .then(|| ProbeTarget::Pod { namespace: namespace.to_owned(), name: p.metadata.name.clone().unwrap_or_default() })
        }))
    }

    /// Waits until `target` can answer: a Service has a ready endpoint in
    /// its EndpointSlices, a pod is Ready.
    pub async fn wait_target_ready(&self, target: &ProbeTarget, timeout: Duration) -> Result<()> {
        match target {
            ProbeTarget::Pod { namespace, name } => self.wait_pod_ready(namespace, name, timeout).await,
            ProbeTarget::Service { namespace, name } => {
                let slices: Api<EndpointSlice> = Api::namespaced(self.client.clone(), namespace);
                let lp = ListParams::default().labels(&format!("kubernetes.io/service-name={name}"));
                let what = format!("service {namespace}/{name} to have a ready endpoint");
                until(&what, timeout, || async {
                    let list = slices
                        .list(&lp)
                        .await
                        .map_err(|e| Error::from_kube(format!("list endpointslices of {namespace}/{name}"), e))?;
                    Ok(if list.items.iter().any(has_ready_endpoint) {
                        Check::Done(())
                    } else if list.items.is_empty() {
                        Check::Pending("no EndpointSlice (does the Service exist and select pods?)".into())
                    } else {
                        Check::Pending("EndpointSlices list no ready endpoint".into())
                    })
                })
                .await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_names_in_every_form() {
        let s = |h| service_name(h, "case");
        let pair = |a: &str, b: &str| Some((a.to_owned(), b.to_owned()));
        assert_eq!(s("echo"), pair("case", "echo"));
        assert_eq!(s("example.com"), None);
        assert_eq!(s("echo.ns1.svc"), pair("ns1", "echo"));
        assert_eq!(s("echo.ns1.svc.cluster.local"), pair("ns1", "echo"));
        assert_eq!(s("echo.ns1.svc.cluster.local."), pair("ns1", "echo"));
        assert_eq!(s("a.infraflux.test"), None);
        assert_eq!(s("10.0.0.1"), None);
        assert_eq!(s(""), None);
    }
}
