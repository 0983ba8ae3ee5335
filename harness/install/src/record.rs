//! The install record: a labelled ConfigMap listing the Helm releases
//! InfraFlux installed on this cluster. A release is added *before* helm is
//! called, so an interrupted `up` still leaves a record `down` can follow;
//! a release that is present but not recorded was installed by someone
//! else and is never upgraded or uninstalled.

use std::collections::BTreeMap;

use infraflux_kube::{Cluster, MANAGED_BY, MANAGER};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::{Error, PHASE_LABEL, Result};

/// Where the record lives.
pub const NAMESPACE: &str = "kube-system";
pub const NAME: &str = "infraflux-install";
/// Its phase label value; `down` deletes it last.
pub const PHASE: &str = "record";

/// One release InfraFlux installed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub release: String,
    pub namespace: String,
}

/// The releases, in install order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    pub releases: Vec<Entry>,
}

impl Record {
    pub fn contains(&self, release: &str, namespace: &str) -> bool {
        self.releases.iter().any(|e| e.release == release && e.namespace == namespace)
    }
}

async fn configmap_kind(cluster: &Cluster) -> Result<infraflux_kube::ResolvedKind> {
    Ok(cluster.resolve("v1", "ConfigMap").await?)
}

/// Reads the record; `None` when there is none (nothing installed).
pub async fn read(cluster: &Cluster) -> Result<Option<Record>> {
    let kind = configmap_kind(cluster).await?;
    let Some(cm) = cluster.get(&kind, Some(NAMESPACE), NAME).await? else { return Ok(None) };
    if cm.pointer(&format!("/metadata/labels/{}", MANAGED_BY.replace('/', "~1"))).and_then(Value::as_str) != Some(MANAGER) {
        // Same name, not ours: treat as absent rather than trusting it.
        return Ok(None);
    }
    let text = cm.pointer("/data/releases").and_then(Value::as_str).unwrap_or("[]");
    let releases = serde_json::from_str(text).map_err(|e| Error::Parse { what: format!("configmap {NAMESPACE}/{NAME}"), message: e.to_string() })?;
    Ok(Some(Record { releases }))
}

/// Writes the record (server-side apply; an unchanged record is a no-op).
pub async fn write(cluster: &Cluster, record: &Record, labels: &BTreeMap<String, String>) -> Result<()> {
    let releases = serde_json::to_string(&record.releases).map_err(|e| Error::Parse { what: "the install record".into(), message: e.to_string() })?;
    let cm = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": NAME, "namespace": NAMESPACE},
        "data": {"releases": releases},
    });
    let mut labels = labels.clone();
    labels.insert(PHASE_LABEL.to_owned(), PHASE.to_owned());
    cluster.apply(&cm, NAMESPACE, &labels).await?;
    Ok(())
}

/// Deletes the record.
pub async fn delete(cluster: &Cluster) -> Result<()> {
    let kind = configmap_kind(cluster).await?;
    cluster
        .delete(&infraflux_kube::ObjectKey { kind, namespace: Some(NAMESPACE.into()), name: NAME.into() })
        .await?;
    Ok(())
}
