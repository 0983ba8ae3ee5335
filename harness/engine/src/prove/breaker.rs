//! Applies a break recipe to a good cluster and puts everything back.
//!
//! Every change is recorded before it is made and undone in reverse order:
//! cilium-config keys get their old values (or go away again), removed
//! objects are created again from their recorded form, patched objects get
//! their recorded spec, labels and annotations back. A cilium-config change
//! only takes effect when the agents and the operator restart, so both are
//! restarted through a pod-template annotation that the restore removes
//! again: the templates end exactly as they were.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};

use crate::cluster::{Cluster, ResolvedKind};
use crate::suite::model::{BreakRecipe, ObjectRef};

/// Pod-template annotation that restarts Cilium for a break (and, removed,
/// again for the restore).
const RESTART_ANNOTATION: &str = "infraflux.io/prove-restart";

/// Why a break could not be applied or undone.
#[derive(Debug, thiserror::Error)]
pub enum BreakError {
    #[error("{what}: {source}")]
    Kube {
        what: String,
        #[source]
        source: crate::cluster::Error,
    },
    #[error("{0}")]
    Missing(String),
}

fn kube(what: impl Into<String>) -> impl FnOnce(crate::cluster::Error) -> BreakError {
    let what = what.into();
    move |source| BreakError::Kube { what, source }
}

/// One object as it was before the break.
struct Recorded {
    kind: ResolvedKind,
    namespace: Option<String>,
    name: String,
    object: Value,
}

/// What a break changed, for [`Applied::restore`].
pub struct Applied {
    /// cilium-config keys with their values before the break (`None`: absent).
    config: BTreeMap<String, Option<String>>,
    removed: Vec<Recorded>,
    patched: Vec<Recorded>,
    created: Vec<crate::cluster::ObjectKey>,
}

/// Bounds on the waits of a break.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// A rollout of the agents or the operator, a deletion, a re-creation.
    pub rollout: Duration,
}

/// The workloads that read cilium-config at start.
const CILIUM_WORKLOADS: [(&str, &str, &str); 2] = [("apps/v1", "DaemonSet", "cilium"), ("apps/v1", "Deployment", "cilium-operator")];

/// Applies `recipe`. On an error, whatever was already changed is undone
/// before the error returns.
pub async fn apply(cluster: &Cluster, cilium_ns: &str, run_id: &str, recipe: &BreakRecipe, b: Bounds) -> Result<Applied, BreakError> {
    let mut applied = Applied { config: BTreeMap::new(), removed: Vec::new(), patched: Vec::new(), created: Vec::new() };
    match apply_into(cluster, cilium_ns, run_id, recipe, b, &mut applied).await {
        Ok(()) => {
            if let Some(d) = &recipe.settle {
                tokio::time::sleep(d.0).await;
            }
            Ok(applied)
        }
        Err(e) => {
            if let Err(undo) = applied.restore(cluster, cilium_ns, b).await {
                tracing::error!(error = %undo, "failed to undo a partly applied break");
            }
            Err(e)
        }
    }
}

async fn apply_into(
    cluster: &Cluster,
    cilium_ns: &str,
    run_id: &str,
    recipe: &BreakRecipe,
    b: Bounds,
    applied: &mut Applied,
) -> Result<(), BreakError> {
    if !recipe.cilium_config.is_empty() {
        let cm = cluster.resolve("v1", "ConfigMap").await.map_err(kube("resolve ConfigMap"))?;
        let current = cluster
            .get(&cm, Some(cilium_ns), "cilium-config")
            .await
            .map_err(kube("read cilium-config"))?
            .ok_or_else(|| BreakError::Missing(format!("ConfigMap {cilium_ns}/cilium-config not found")))?;
        for key in recipe.cilium_config.keys() {
            let old = current.pointer(&format!("/data/{}", key.replace('~', "~0").replace('/', "~1")));
            applied.config.insert(key.clone(), old.and_then(Value::as_str).map(str::to_owned));
        }
        let data: serde_json::Map<String, Value> = recipe
            .cilium_config
            .iter()
            .map(|(k, v)| (k.clone(), v.clone().map_or(Value::Null, Value::String)))
            .collect();
        cluster
            .merge_patch(&cm, Some(cilium_ns), "cilium-config", &json!({"data": data}))
            .await
            .map_err(kube("patch cilium-config"))?;
        restart_cilium(cluster, cilium_ns, Some(&crate::rfc3339_now()), b).await?;
    }
    for obj in &recipe.create {
        let labels = crate::cluster::harness_labels(run_id, None);
        let key = cluster.apply(obj, "default", &labels).await.map_err(kube("create a break object"))?;
        applied.created.push(key);
    }
    for r in &recipe.remove {
        let kind = resolve(cluster, r).await?;
        for obj in select(cluster, &kind, r).await? {
            let name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_owned();
            let namespace = obj.pointer("/metadata/namespace").and_then(Value::as_str).map(str::to_owned);
            let key = crate::cluster::ObjectKey { kind: kind.clone(), namespace: namespace.clone(), name: name.clone() };
            cluster.delete(&key).await.map_err(kube(format!("delete {key}")))?;
            applied.removed.push(Recorded { kind: kind.clone(), namespace, name, object: obj });
            wait_gone(cluster, &key, b.rollout).await?;
        }
    }
    for p in &recipe.patch {
        let kind = resolve(cluster, &p.target).await?;
        let name = p.target.name.clone().unwrap_or_default();
        let ns = p.target.namespace.clone();
        let before = cluster
            .get(&kind, ns.as_deref(), &name)
            .await
            .map_err(kube(format!("read {} {name}", kind.resource.kind)))?
            .ok_or_else(|| BreakError::Missing(format!("{} {name} not found", kind.resource.kind)))?;
        cluster
            .merge_patch(&kind, ns.as_deref(), &name, &p.merge)
            .await
            .map_err(kube(format!("patch {} {name}", kind.resource.kind)))?;
        applied.patched.push(Recorded { kind: kind.clone(), namespace: ns.clone(), name: name.clone(), object: before });
        if p.rollout {
            wait_workload(cluster, &kind, ns.as_deref(), &name, b.rollout).await?;
        }
    }
    Ok(())
}

impl Applied {
    /// Undoes everything, in reverse order; keeps going after an error so
    /// as much as possible is back, and returns the first error.
    pub async fn restore(&self, cluster: &Cluster, cilium_ns: &str, b: Bounds) -> Result<(), BreakError> {
        let mut first: Option<BreakError> = None;
        let mut keep = |r: Result<(), BreakError>| {
            if let Err(e) = r {
                tracing::error!(error = %e, "restore step failed");
                first.get_or_insert(e);
            }
        };
        for p in self.patched.iter().rev() {
            keep(put_back(cluster, p, b).await);
        }
        for r in self.removed.iter().rev() {
            keep(recreate(cluster, r, b).await);
        }
        for key in self.created.iter().rev() {
            let r = match cluster.delete(key).await {
                Ok(_) => wait_gone(cluster, key, b.rollout).await,
                Err(e) => Err(BreakError::Kube { what: format!("delete {key}"), source: e }),
            };
            keep(r);
        }
        if !self.config.is_empty() {
            keep(restore_config(cluster, cilium_ns, &self.config, b).await);
        }
        first.map_or(Ok(()), Err)
    }
}

async fn restore_config(
    cluster: &Cluster,
    cilium_ns: &str,
    config: &BTreeMap<String, Option<String>>,
    b: Bounds,
) -> Result<(), BreakError> {
    let cm = cluster.resolve("v1", "ConfigMap").await.map_err(kube("resolve ConfigMap"))?;
    let data: serde_json::Map<String, Value> =
        config.iter().map(|(k, v)| (k.clone(), v.clone().map_or(Value::Null, Value::String))).collect();
    cluster
        .merge_patch(&cm, Some(cilium_ns), "cilium-config", &json!({"data": data}))
        .await
        .map_err(kube("restore cilium-config"))?;
    restart_cilium(cluster, cilium_ns, None, b).await
}

/// Sets (`Some`) or removes (`None`) the restart annotation on the agent
/// DaemonSet's and the operator Deployment's pod templates, then waits for
/// both to roll out.
async fn restart_cilium(cluster: &Cluster, ns: &str, stamp: Option<&str>, b: Bounds) -> Result<(), BreakError> {
    let patch = json!({"spec": {"template": {"metadata": {"annotations": {RESTART_ANNOTATION: stamp}}}}});
    for (api_version, kind, name) in CILIUM_WORKLOADS {
        let k = cluster.resolve(api_version, kind).await.map_err(kube(format!("resolve {kind}")))?;
        match cluster.merge_patch(&k, Some(ns), name, &patch).await {
            Ok(_) => {}
            // A cluster without a separate operator Deployment name still
            // restarts its agents.
            Err(e) if e.api_code() == Some(404) && kind == "Deployment" => continue,
            Err(e) => return Err(BreakError::Kube { what: format!("restart {kind} {ns}/{name}"), source: e }),
        }
        cluster
            .wait_rollout(&k, ns, name, b.rollout)
            .await
            .map_err(kube(format!("{kind} {ns}/{name} rollout")))?;
    }
    Ok(())
}

async fn resolve(cluster: &Cluster, r: &ObjectRef) -> Result<ResolvedKind, BreakError> {
    cluster
        .resolve(&r.api_version, &r.kind)
        .await
        .map_err(kube(format!("resolve {} {}", r.api_version, r.kind)))
}

/// The objects `r` names: one by name, or every one its namespace and
/// label selector select.
async fn select(cluster: &Cluster, kind: &ResolvedKind, r: &ObjectRef) -> Result<Vec<Value>, BreakError> {
    let ns = r.namespace.as_deref();
    match &r.name {
        Some(name) => Ok(cluster
            .get(kind, ns, name)
            .await
            .map_err(kube(format!("read {} {name}", r.kind)))?
            .into_iter()
            .collect()),
        None => {
            let list = cluster
                .list(kind, ns, r.label_selector.as_deref())
                .await
                .map_err(kube(format!("list {}", r.kind)))?;
            Ok(list.get("items").and_then(Value::as_array).cloned().unwrap_or_default())
        }
    }
}

async fn wait_gone(cluster: &Cluster, key: &crate::cluster::ObjectKey, timeout: Duration) -> Result<(), BreakError> {
    let what = format!("{key} to be deleted");
    crate::cluster::wait::until(&what, timeout, || async {
        Ok::<_, crate::cluster::Error>(match cluster.get(&key.kind, key.namespace.as_deref(), &key.name).await? {
            None => crate::cluster::wait::Check::Done(()),
            Some(_) => crate::cluster::wait::Check::Pending("still there".into()),
        })
    })
    .await
    .map_err(kube(format!("delete {key}")))
}

/// Waits for a rollout when the object is a workload; other kinds take
/// effect when the API server has them.
async fn wait_workload(cluster: &Cluster, kind: &ResolvedKind, ns: Option<&str>, name: &str, t: Duration) -> Result<(), BreakError> {
    if !matches!(kind.resource.kind.as_str(), "Deployment" | "DaemonSet" | "StatefulSet") {
        return Ok(());
    }
    let ns = ns.unwrap_or("default");
    cluster
        .wait_rollout(kind, ns, name, t)
        .await
        .map_err(kube(format!("{} {ns}/{name} rollout", kind.resource.kind)))
}

/// The recorded object without what the API server owns, ready to be created again.
fn creatable(mut obj: Value) -> Value {
    if let Some(m) = obj.pointer_mut("/metadata").and_then(Value::as_object_mut) {
        for k in ["uid", "resourceVersion", "creationTimestamp", "managedFields", "generation", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"] {
            m.remove(k);
        }
    }
    if let Some(o) = obj.as_object_mut() {
        o.remove("status");
    }
    obj
}

async fn recreate(cluster: &Cluster, r: &Recorded, b: Bounds) -> Result<(), BreakError> {
    let what = format!("{} {}", r.kind.resource.kind, r.name);
    // A controller (the installer's owner, Flux) may have put it back already.
    if cluster.get(&r.kind, r.namespace.as_deref(), &r.name).await.map_err(kube(format!("read {what}")))?.is_some() {
        return Ok(());
    }
    cluster
        .create(&r.kind, r.namespace.as_deref(), &creatable(r.object.clone()))
        .await
        .map_err(kube(format!("re-create {what}")))?;
    wait_workload(cluster, &r.kind, r.namespace.as_deref(), &r.name, b.rollout).await
}

async fn put_back(cluster: &Cluster, r: &Recorded, b: Bounds) -> Result<(), BreakError> {
    let what = format!("{} {}", r.kind.resource.kind, r.name);
    let mut current = cluster
        .get(&r.kind, r.namespace.as_deref(), &r.name)
        .await
        .map_err(kube(format!("read {what}")))?
        .ok_or_else(|| BreakError::Missing(format!("{what} disappeared during the break")))?;
    // The recorded spec and metadata, on the current resourceVersion.
    for ptr in ["spec", "data"] {
        if let Some(v) = r.object.get(ptr) {
            current[ptr] = v.clone();
        }
    }
    for key in ["labels", "annotations"] {
        match r.object.pointer(&format!("/metadata/{key}")) {
            Some(v) => current["metadata"][key] = v.clone(),
            None => {
                if let Some(m) = current.pointer_mut("/metadata").and_then(Value::as_object_mut) {
                    m.remove(key);
                }
            }
        }
    }
    cluster
        .replace(&r.kind, r.namespace.as_deref(), &r.name, &current)
        .await
        .map_err(kube(format!("restore {what}")))?;
    wait_workload(cluster, &r.kind, r.namespace.as_deref(), &r.name, b.rollout).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recorded_object_is_created_without_what_the_server_owns() {
        let obj = json!({
            "apiVersion": "cilium.io/v2", "kind": "CiliumLoadBalancerIPPool",
            "metadata": {"name": "p", "uid": "u", "resourceVersion": "7", "labels": {"a": "b"}, "managedFields": []},
            "spec": {"blocks": [{"cidr": "10.0.0.0/24"}]},
            "status": {"conditions": []},
        });
        let c = creatable(obj);
        assert_eq!(c["metadata"], json!({"name": "p", "labels": {"a": "b"}}));
        assert!(c.get("status").is_none());
        assert_eq!(c["spec"]["blocks"][0]["cidr"], "10.0.0.0/24");
    }
}
