//! Finds and deletes every object carrying a label selector, across every
//! kind the cluster serves: the safety net behind per-case cleanup.

use std::time::Duration;

use kube::api::{Api, DeleteParams, DynamicObject, ListParams};
use kube::discovery::{Discovery, Scope, verbs};
use tokio::time::Instant;

use super::{Cluster, Error, ObjectKey, ResolvedKind, Result};

/// Poll interval while waiting for deletions to finish.
const POLL: Duration = Duration::from_millis(250);

impl Cluster {
    /// Every object matching `selector`, of every listable kind.
    pub async fn find_labelled(&self, selector: &str) -> Result<Vec<ObjectKey>> {
        let discovery = self.discover_all().await?;
        self.find_labelled_in(&discovery, selector).await
    }

    async fn discover_all(&self) -> Result<Discovery> {
        Discovery::new(self.client.clone())
            .run()
            .await
            .map_err(|e| Error::from_kube("discover API resources", e))
    }

    async fn find_labelled_in(&self, discovery: &Discovery, selector: &str) -> Result<Vec<ObjectKey>> {
        let mut found = Vec::new();
        for group in discovery.groups() {
            for (ar, caps) in group.recommended_resources() {
                if !caps.supports_operation(verbs::LIST) || !caps.supports_operation(verbs::DELETE) {
                    continue;
                }
                let api: Api<DynamicObject> = Api::all_with(self.client.clone(), &ar);
                let list = match api.list_metadata(&ListParams::default().labels(selector)).await {
                    Ok(l) => l,
                    // Aggregated APIs can be briefly unavailable; a kind we
                    // cannot list holds nothing we could delete anyway.
                    Err(kube::Error::Api(s)) if s.code == 404 || s.code == 405 || s.code == 503 => continue,
                    Err(e) => return Err(Error::from_kube(format!("list {} by label", ar.plural), e)),
                };
                let kind = ResolvedKind {
                    resource: ar.clone(),
                    namespaced: caps.scope == Scope::Namespaced,
                };
                for item in list.items {
                    let Some(name) = item.metadata.name else { continue };
                    found.push(ObjectKey {
                        kind: kind.clone(),
                        namespace: item.metadata.namespace,
                        name,
                    });
                }
            }
        }
        Ok(found)
    }

    /// Deletes everything matching `selector` (namespaced objects first,
    /// then cluster-scoped ones such as namespaces) and waits until none is
    /// left or `timeout` passes. Returns how many objects were deleted.
    pub async fn delete_labelled(&self, selector: &str, timeout: Duration) -> Result<usize> {
        let deadline = Instant::now() + timeout;
        // One discovery per sweep: kinds do not come and go while we delete.
        let discovery = self.discover_all().await?;
        let mut found = self.find_labelled_in(&discovery, selector).await?;
        found.sort_by_key(|k| k.namespace.is_none());
        let mut deleted = 0;
        for key in &found {
            let api = match &key.namespace {
                Some(ns) => Api::<DynamicObject>::namespaced_with(self.client.clone(), ns, &key.kind.resource),
                None => Api::<DynamicObject>::all_with(self.client.clone(), &key.kind.resource),
            };
            match api.delete(&key.name, &DeleteParams::background()).await {
                Ok(_) => deleted += 1,
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(e) => return Err(Error::from_kube(format!("delete {key}"), e)),
            }
        }
        loop {
            let left = self.find_labelled_in(&discovery, selector).await?;
            if left.is_empty() {
                return Ok(deleted);
            }
            if Instant::now() >= deadline {
                let names: Vec<String> = left.iter().take(5).map(|k| k.to_string()).collect();
                return Err(crate::wait::timed_out(
                    format!("objects labelled `{selector}` to be deleted"),
                    timeout,
                    format!("{} still present: {}", left.len(), names.join(", ")),
                ));
            }
            tokio::time::sleep(POLL).await;
        }
    }
}
