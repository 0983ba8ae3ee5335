//! One run per cluster: a coordination.k8s.io Lease held by the run id,
//! renewed in the background and considered stale after its TTL, so a
//! crashed run never blocks the next one for longer than that.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, PostParams};
use tokio_util::sync::CancellationToken;

use super::{Cluster, Error, Result, harness_labels};

/// Name of the lock Lease.
pub const LOCK_NAME: &str = "infraflux-run-lock";

/// A held lock. Call [`RunLock::release`]; dropping it only stops renewal
/// (the Lease then goes stale after its TTL).
pub struct RunLock {
    api: Api<Lease>,
    holder: String,
    namespace: String,
    stop: CancellationToken,
    renewer: Option<tokio::task::JoinHandle<()>>,
}

fn now() -> MicroTime {
    MicroTime(Timestamp::now())
}

fn lease_for(holder: &str, ttl: Duration, resource_version: Option<String>) -> Lease {
    Lease {
        metadata: ObjectMeta {
            name: Some(LOCK_NAME.to_owned()),
            labels: Some(harness_labels(holder, None)),
            resource_version,
            ..Default::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(holder.to_owned()),
            lease_duration_seconds: Some(ttl.as_secs().max(1) as i32),
            acquire_time: Some(now()),
            renew_time: Some(now()),
            ..Default::default()
        }),
    }
}

impl Cluster {
    /// Takes the run lock in `namespace` for `holder` (the run id). Fails
    /// with [`Error::Locked`] while another holder's Lease is fresh.
    pub async fn acquire_lock(self: &Arc<Self>, namespace: &str, holder: &str, ttl: Duration) -> Result<RunLock> {
        let api: Api<Lease> = Api::namespaced(self.client.clone(), namespace);
        let existing = api
            .get_opt(LOCK_NAME)
            .await
            .map_err(|e| Error::from_kube("read the run lock", e))?;
        let conflict = |holder_now: String, age: i64, ttl_s: i64| Error::Locked {
            namespace: namespace.to_owned(),
            name: LOCK_NAME.to_owned(),
            holder: holder_now,
            renewed_ago_s: age,
            ttl_s,
        };
        match existing {
            None => {
                api.create(&PostParams::default(), &lease_for(holder, ttl, None))
                    .await
                    .map_err(|e| match e {
                        // Someone created it between our read and write.
                        kube::Error::Api(s) if s.code == 409 => conflict("unknown (lost the create race)".into(), 0, ttl.as_secs() as i64),
                        e => Error::from_kube("create the run lock", e),
                    })?;
            }
            Some(lease) => {
                let spec = lease.spec.clone().unwrap_or_default();
                let other = spec.holder_identity.clone().unwrap_or_default();
                let ttl_s = i64::from(spec.lease_duration_seconds.unwrap_or(0));
                let renewed = spec.renew_time.or(spec.acquire_time).map(|t| t.0);
                let age = renewed.map_or(i64::MAX, |t| Timestamp::now().as_second() - t.as_second());
                if other != holder && age < ttl_s {
                    return Err(conflict(other, age, ttl_s));
                }
                // Stale or ours: take it over. The resourceVersion makes the
                // replace fail if another run took it over first.
                api.replace(
                    LOCK_NAME,
                    &PostParams::default(),
                    &lease_for(holder, ttl, lease.metadata.resource_version.clone()),
                )
                .await
                .map_err(|e| match e {
                    kube::Error::Api(s) if s.code == 409 => conflict(other.clone(), age, ttl_s),
                    e => Error::from_kube("take over the stale run lock", e),
                })?;
            }
        }
        let stop = CancellationToken::new();
        let renewer = tokio::spawn(renew(api.clone(), holder.to_owned(), ttl, stop.clone()));
        Ok(RunLock {
            api,
            holder: holder.to_owned(),
            namespace: namespace.to_owned(),
            stop,
            renewer: Some(renewer),
        })
    }
}

async fn renew(api: Api<Lease>, holder: String, ttl: Duration, stop: CancellationToken) {
    let every = (ttl / 3).max(Duration::from_millis(200));
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        let Ok(Some(mut lease)) = api.get_opt(LOCK_NAME).await else {
            tracing::warn!("failed to read the run lock for renewal");
            continue;
        };
        let spec = lease.spec.get_or_insert_with(Default::default);
        if spec.holder_identity.as_deref() != Some(holder.as_str()) {
            tracing::error!(holder = ?spec.holder_identity, "run lock was taken over by another run");
            return;
        }
        spec.renew_time = Some(now());
        if let Err(e) = api.replace(LOCK_NAME, &PostParams::default(), &lease).await {
            tracing::warn!(error = %e, "failed to renew the run lock");
        }
    }
}

impl RunLock {
    pub fn holder(&self) -> &str {
        &self.holder
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// Stops renewal and deletes the Lease if this run still holds it.
    pub async fn release(mut self) -> Result<()> {
        self.stop.cancel();
        if let Some(h) = self.renewer.take() {
            let _ = h.await;
        }
        let lease = self
            .api
            .get_opt(LOCK_NAME)
            .await
            .map_err(|e| Error::from_kube("read the run lock", e))?;
        if let Some(l) = lease
            && l.spec.and_then(|s| s.holder_identity).as_deref() == Some(self.holder.as_str())
        {
            match self.api.delete(LOCK_NAME, &DeleteParams::default()).await {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(e) => return Err(Error::from_kube("delete the run lock", e)),
            }
        }
        Ok(())
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}
