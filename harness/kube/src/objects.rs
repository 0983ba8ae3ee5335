//! Arbitrary kinds through discovery: resolve, server-side apply, get, list,
//! delete.

use std::collections::BTreeMap;

use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use kube::discovery::{ApiResource, Scope};
use serde_json::Value;

use super::{Cluster, Error, MANAGER, Result};

/// A kind the cluster serves, with its scope.
#[derive(Debug, Clone)]
pub struct ResolvedKind {
    pub resource: ApiResource,
    pub namespaced: bool,
}

/// One object the harness created (for LIFO cleanup).
#[derive(Debug, Clone)]
pub struct ObjectKey {
    pub kind: ResolvedKind,
    pub namespace: Option<String>,
    pub name: String,
}

impl std::fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let k = self.kind.resource.kind.to_lowercase();
        match &self.namespace {
            Some(ns) => write!(f, "{k}/{ns}/{}", self.name),
            None => write!(f, "{k}/{}", self.name),
        }
    }
}

fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    }
}

impl Cluster {
    /// Resolves `apiVersion` + `kind` through discovery (cached).
    pub async fn resolve(&self, api_version: &str, kind: &str) -> Result<ResolvedKind> {
        let key = (api_version.to_owned(), kind.to_owned());
        if let Some(k) = self.kinds.lock().await.get(&key) {
            return Ok(k.clone());
        }
        let (group, version) = split_api_version(api_version);
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let (resource, caps) = kube::discovery::pinned_kind(&self.client, &gvk)
            .await
            .map_err(|e| match &e {
                kube::Error::Api(s) if s.code == 404 => Error::UnknownKind {
                    api_version: api_version.to_owned(),
                    kind: kind.to_owned(),
                },
                kube::Error::Discovery(_) => Error::UnknownKind {
                    api_version: api_version.to_owned(),
                    kind: kind.to_owned(),
                },
                _ => Error::from_kube(format!("discover {kind} in {api_version}"), e),
            })?;
        let resolved = ResolvedKind {
            resource,
            namespaced: caps.scope == Scope::Namespaced,
        };
        self.kinds.lock().await.insert(key, resolved.clone());
        Ok(resolved)
    }

    fn api(&self, kind: &ResolvedKind, namespace: Option<&str>) -> Api<DynamicObject> {
        match (kind.namespaced, namespace) {
            (true, Some(ns)) => Api::namespaced_with(self.client.clone(), ns, &kind.resource),
            _ => Api::all_with(self.client.clone(), &kind.resource),
        }
    }

    /// Server-side applies `obj` (field manager `infraflux`, forced), adding
    /// `labels` and defaulting the namespace of namespaced kinds.
    pub async fn apply(
        &self,
        obj: &Value,
        default_namespace: &str,
        labels: &BTreeMap<String, String>,
    ) -> Result<ObjectKey> {
        let mut obj = obj.clone();
        let api_version = str_at(&obj, "/apiVersion")?;
        let kind_name = str_at(&obj, "/kind")?;
        let name = str_at(&obj, "/metadata/name")?;
        let kind = self.resolve(&api_version, &kind_name).await?;
        let meta = obj
            .pointer_mut("/metadata")
            .and_then(Value::as_object_mut)
            .ok_or_else(|| Error::InvalidObject(format!("{kind_name}/{name}: metadata is not a mapping")))?;
        let namespace = if kind.namespaced {
            let ns = meta
                .get("namespace")
                .and_then(Value::as_str)
                .unwrap_or(default_namespace)
                .to_owned();
            meta.insert("namespace".into(), Value::String(ns.clone()));
            Some(ns)
        } else {
            meta.remove("namespace");
            None
        };
        let mut all = meta
            .get("labels")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        for (k, v) in labels {
            all.insert(k.clone(), Value::String(v.clone()));
        }
        meta.insert("labels".into(), Value::Object(all));
        let api = self.api(&kind, namespace.as_deref());
        let key = ObjectKey {
            kind,
            namespace,
            name: name.clone(),
        };
        api.patch(&name, &PatchParams::apply(MANAGER).force(), &Patch::Apply(&obj))
            .await
            .map_err(|e| Error::from_kube(format!("apply {key}"), e))?;
        Ok(key)
    }

    /// The object as JSON, `None` when it does not exist.
    pub async fn get(&self, kind: &ResolvedKind, namespace: Option<&str>, name: &str) -> Result<Option<Value>> {
        let api = self.api(kind, namespace);
        let obj = api
            .get_opt(name)
            .await
            .map_err(|e| Error::from_kube(format!("get {} {name}", kind.resource.kind), e))?;
        obj.map(|o| serde_json::to_value(o).map_err(|e| Error::InvalidObject(e.to_string())))
            .transpose()
    }

    /// `{"items": [...]}` of the kind, in `namespace` (or all), filtered by
    /// a label selector.
    pub async fn list(&self, kind: &ResolvedKind, namespace: Option<&str>, selector: Option<&str>) -> Result<Value> {
        let api = self.api(kind, namespace);
        let mut lp = ListParams::default();
        if let Some(s) = selector {
            lp = lp.labels(s);
        }
        let list = api
            .list(&lp)
            .await
            .map_err(|e| Error::from_kube(format!("list {}", kind.resource.plural), e))?;
        let items: Vec<Value> = list
            .items
            .into_iter()
            .map(|o| serde_json::to_value(o).map_err(|e| Error::InvalidObject(e.to_string())))
            .collect::<Result<_>>()?;
        Ok(serde_json::json!({ "items": items }))
    }

    /// Deletes (background propagation). `Ok(false)` when already gone.
    pub async fn delete(&self, key: &ObjectKey) -> Result<bool> {
        let api = self.api(&key.kind, key.namespace.as_deref());
        match api.delete(&key.name, &DeleteParams::background()).await {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(false),
            Err(e) => Err(Error::from_kube(format!("delete {key}"), e)),
        }
    }

    /// Applies a JSON merge patch (RFC 7386) and returns the object after it.
    pub async fn merge_patch(&self, kind: &ResolvedKind, namespace: Option<&str>, name: &str, patch: &Value) -> Result<Value> {
        let api = self.api(kind, namespace);
        let obj = api
            .patch(name, &PatchParams::default(), &Patch::Merge(patch))
            .await
            .map_err(|e| Error::from_kube(format!("patch {} {name}", kind.resource.kind), e))?;
        serde_json::to_value(obj).map_err(|e| Error::InvalidObject(e.to_string()))
    }

    /// Replaces the object with `obj` (PUT); `obj` must carry the current
    /// `metadata.resourceVersion`, so a concurrent change is refused (409),
    /// not overwritten.
    pub async fn replace(&self, kind: &ResolvedKind, namespace: Option<&str>, name: &str, obj: &Value) -> Result<()> {
        let api = self.api(kind, namespace);
        let dynamic: DynamicObject = serde_json::from_value(obj.clone()).map_err(|e| Error::InvalidObject(e.to_string()))?;
        api.replace(name, &PostParams::default(), &dynamic)
            .await
            .map_err(|e| Error::from_kube(format!("replace {} {name}", kind.resource.kind), e))?;
        Ok(())
    }

    /// Creates `obj` as written (POST): for putting back an object recorded
    /// before it was deleted.
    pub async fn create(&self, kind: &ResolvedKind, namespace: Option<&str>, obj: &Value) -> Result<()> {
        let api = self.api(kind, namespace);
        let dynamic: DynamicObject = serde_json::from_value(obj.clone()).map_err(|e| Error::InvalidObject(e.to_string()))?;
        let name = dynamic.metadata.name.clone().unwrap_or_default();
        api.create(&PostParams::default(), &dynamic)
            .await
            .map_err(|e| Error::from_kube(format!("create {} {name}", kind.resource.kind), e))?;
        Ok(())
    }

    /// Creates (or adopts) a namespace carrying `labels`.
    pub async fn ensure_namespace(&self, name: &str, labels: &BTreeMap<String, String>) -> Result<ObjectKey> {
        let ns = serde_json::json!({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": { "name": name },
        });
        self.apply(&ns, name, labels).await
    }
}

fn str_at(obj: &Value, ptr: &str) -> Result<String> {
    obj.pointer(ptr)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| Error::InvalidObject(format!("object lacks `{}`", ptr.trim_start_matches('/').replace('/', "."))))
}
