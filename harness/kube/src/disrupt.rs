//! Deliberate disruptions for failover cases: delete one platform pod,
//! cordon and drain a node, scale a workload. None of them labels or
//! applies the objects it touches, so cleanup's label sweep can never
//! delete a platform object; the one lasting change (a cordon) is undone
//! by [`Cluster::uncordon`].

use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DeleteParams, EvictParams, ListParams, Patch, PatchParams};
use serde_json::json;
use tokio::time::Instant;

use super::{Cluster, Error, ResolvedKind, Result};

const POLL: Duration = Duration::from_millis(500);

impl Cluster {
    /// Node the pod `namespace/name` is scheduled on.
    pub async fn node_of(&self, namespace: &str, name: &str) -> Result<String> {
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        let pod = pods
            .get(name)
            .await
            .map_err(|e| Error::from_kube(format!("read pod {namespace}/{name}"), e))?;
        pod.spec
            .and_then(|s| s.node_name)
            .ok_or_else(|| Error::InvalidObject(format!("pod {namespace}/{name} is not scheduled on a node yet")))
    }

    /// Deletes one running pod matching `selector` in `namespace`, on
    /// `node` when given, and returns its name. The first match by name
    /// is taken so a rerun picks the same pod.
    pub async fn delete_one_pod(&self, namespace: &str, selector: &str, node: Option<&str>) -> Result<String> {
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        let mut lp = ListParams::default().labels(selector);
        if let Some(n) = node {
            lp = lp.fields(&format!("spec.nodeName={n}"));
        }
        let mut names: Vec<String> = pods
            .list_metadata(&lp)
            .await
            .map_err(|e| Error::from_kube(format!("list pods {selector} in {namespace}"), e))?
            .items
            .into_iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .filter_map(|p| p.metadata.name)
            .collect();
        names.sort();
        let Some(name) = names.into_iter().next() else {
            return Err(Error::InvalidObject(format!(
                "no pod matches {selector} in {namespace}{}",
                node.map(|n| format!(" on node {n}")).unwrap_or_default()
            )));
        };
        pods.delete(&name, &DeleteParams::default())
            .await
            .map_err(|e| Error::from_kube(format!("delete pod {namespace}/{name}"), e))?;
        Ok(name)
    }

    /// Marks `node` unschedulable (a merge patch, not an apply: the node
    /// must never carry harness labels).
    pub async fn cordon(&self, node: &str) -> Result<()> {
        self.set_unschedulable(node, true).await
    }

    /// Undoes [`Cluster::cordon`].
    pub async fn uncordon(&self, node: &str) -> Result<()> {
        self.set_unschedulable(node, false).await
    }

    async fn set_unschedulable(&self, node: &str, on: bool) -> Result<()> {
        let nodes: Api<Node> = Api::all(self.client.clone());
        nodes
            .patch(node, &PatchParams::default(), &Patch::Merge(json!({"spec": {"unschedulable": on}})))
            .await
            .map_err(|e| Error::from_kube(format!("set unschedulable={on} on node {node}"), e))?;
        Ok(())
    }

    /// Evicts every pod on `node` that a DaemonSet does not own (those
    /// would come straight back), honouring PodDisruptionBudgets, then waits
    /// until they are gone. Returns how many were evicted.
    pub async fn evict_node(&self, node: &str, timeout: Duration) -> Result<usize> {
        let all: Api<Pod> = Api::all(self.client.clone());
        let lp = ListParams::default().fields(&format!("spec.nodeName={node}"));
        let victims: Vec<(String, String)> = all
            .list_metadata(&lp)
            .await
            .map_err(|e| Error::from_kube(format!("list pods on node {node}"), e))?
            .items
            .into_iter()
            .filter(|p| {
                !p.metadata
                    .owner_references
                    .as_ref()
                    .is_some_and(|o| o.iter().any(|r| r.kind == "DaemonSet"))
            })
            // Static (mirror) pods cannot be evicted through the API.
            .filter(|p| {
                !p.metadata
                    .annotations
                    .as_ref()
                    .is_some_and(|a| a.contains_key("kubernetes.io/config.mirror"))
            })
            .filter_map(|p| Some((p.metadata.namespace?, p.metadata.name?)))
            .collect();
        let deadline = Instant::now() + timeout;
        for (ns, name) in &victims {
            let pods: Api<Pod> = Api::namespaced(self.client.clone(), ns);
            loop {
                match pods.evict(name, &EvictParams::default()).await {
                    Ok(_) => break,
                    Err(kube::Error::Api(s)) if s.code == 404 => break,
                    // 429: a PodDisruptionBudget says not yet; retry until the deadline.
                    Err(kube::Error::Api(s)) if s.code == 429 && Instant::now() < deadline => {
                        tokio::time::sleep(POLL).await;
                    }
                    Err(e) => return Err(Error::from_kube(format!("evict pod {ns}/{name}"), e)),
                }
            }
        }
        loop {
            let left = all
                .list_metadata(&lp)
                .await
                .map_err(|e| Error::from_kube(format!("list pods on node {node}"), e))?
                .items
                .into_iter()
                .filter_map(|p| Some((p.metadata.namespace?, p.metadata.name?)))
                .filter(|k| victims.contains(k))
                .count();
            if left == 0 {
                return Ok(victims.len());
            }
            if Instant::now() >= deadline {
                return Err(crate::wait::timed_out(
                    format!("{} evicted pod(s) to leave node {node}", victims.len()),
                    timeout,
                    format!("{left} still on the node"),
                ));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Sets `replicas` through the scale subresource of a workload kind.
    pub async fn scale(&self, kind: &ResolvedKind, namespace: Option<&str>, name: &str, replicas: u32) -> Result<()> {
        let api: Api<kube::api::DynamicObject> = match namespace {
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, &kind.resource),
            None => Api::all_with(self.client.clone(), &kind.resource),
        };
        api.patch_subresource(
            "scale",
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": replicas}})),
        )
        .await
        .map_err(|e| Error::from_kube(format!("scale {} {name} to {replicas}", kind.resource.kind), e))?;
        Ok(())
    }
}
