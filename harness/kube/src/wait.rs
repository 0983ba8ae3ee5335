//! Bounded waits. Every wait takes a timeout and ends either with what it
//! waited for or with [`Error::Timeout`] naming what it waited for, after
//! how long, and the state it saw last. What to wait for is the caller's:
//! these loops know Kubernetes objects and polling, not suites: pods,
//! status conditions (a CRD's Established), workload rollouts.

use std::future::Future;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Pod, PodStatus};
use kube::api::Api;
use tokio::time::Instant;

use super::{Cluster, Error, ResolvedKind, Result};

/// How often waits re-read the cluster.
pub const POLL: Duration = Duration::from_millis(500);

/// One observation made while waiting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check<T> {
    /// The wait is over, with what it found.
    Done(T),
    /// Not yet; what was seen instead (kept for the timeout error).
    Pending(String),
}

fn ms(d: Duration) -> u64 {
    d.as_millis().min(u128::from(u64::MAX)) as u64
}

/// The error of a wait for `what` that gave up after `after`.
pub fn timed_out(what: impl Into<String>, after: Duration, last_seen: impl Into<String>) -> Error {
    Error::Timeout {
        what: what.into(),
        after_ms: ms(after),
        last_seen: last_seen.into(),
    }
}

/// Re-evaluates `check` every [`POLL`] until it is [`Check::Done`] or
/// `timeout` expires; then the error is [`Error::Timeout`] with the last
/// [`Check::Pending`] state. An error from `check` ends the wait at once.
pub async fn until<T, E, F, Fut>(what: &str, timeout: Duration, mut check: F) -> std::result::Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = std::result::Result<Check<T>, E>>,
    E: From<Error>,
{
    let deadline = Instant::now() + timeout;
    loop {
        let seen = match check().await? {
            Check::Done(v) => return Ok(v),
            Check::Pending(seen) => seen,
        };
        let now = Instant::now();
        if now >= deadline {
            return Err(timed_out(what, timeout, seen).into());
        }
        tokio::time::sleep(POLL.min(deadline - now)).await;
    }
}

/// Bounds one call by `timeout`: a call still running then is abandoned
/// and reported as a timeout waiting for `what`.
pub async fn within<T>(what: &str, timeout: Duration, call: impl Future<Output = Result<T>>) -> Result<T> {
    tokio::time::timeout(timeout, call)
        .await
        .unwrap_or_else(|_| Err(timed_out(what, timeout, "no answer")))
}

/// What the pod's Ready condition says now, for a last-seen state.
fn readiness(status: &PodStatus) -> std::result::Result<(), String> {
    let phase = status.phase.as_deref().unwrap_or("unknown");
    let ready = status.conditions.iter().flatten().find(|c| c.type_ == "Ready");
    match ready {
        Some(c) if c.status == "True" => Ok(()),
        Some(c) => Err(format!(
            "phase {phase}, Ready={} (reason {:?}: {:?})",
            c.status,
            c.reason.as_deref().unwrap_or(""),
            c.message.as_deref().unwrap_or("")
        )),
        None => Err(format!("phase {phase}, no Ready condition yet")),
    }
}

/// `Ok(())` when the object's `status.conditions` has `type_` with
/// `status` (and `reason`, when given); else what that condition says now,
/// for a last-seen state. The engine's `condition` predicate checks the
/// same way.
pub fn condition_state(obj: &serde_json::Value, type_: &str, status: &str, reason: Option<&str>) -> std::result::Result<(), String> {
    let s = |c: &serde_json::Value, k: &str| c.get(k).and_then(serde_json::Value::as_str).unwrap_or("").to_owned();
    let found = obj
        .pointer("/status/conditions")
        .and_then(serde_json::Value::as_array)
        .and_then(|cs| cs.iter().find(|c| c.get("type").and_then(serde_json::Value::as_str) == Some(type_)));
    let Some(found) = found else {
        return Err(format!("no {type_} condition yet"));
    };
    let (now, why) = (s(found, "status"), s(found, "reason"));
    if now == status && reason.is_none_or(|r| r == why) {
        return Ok(());
    }
    Err(format!("{type_}={now} (reason {why:?}: {:?})", s(found, "message")))
}

/// Whether a workload's rollout is complete, the way `kubectl rollout
/// status` decides it; `Err` says what is still missing. Deployments,
/// DaemonSets and StatefulSets; any other kind is an error.
pub fn rollout_state(kind: &str, obj: &serde_json::Value) -> std::result::Result<(), String> {
    let n = |p: &str| obj.pointer(p).and_then(serde_json::Value::as_i64);
    let generation = n("/metadata/generation").unwrap_or(0);
    let observed = n("/status/observedGeneration").unwrap_or(0);
    if observed < generation {
        return Err(format!("controller has not seen generation {generation} yet (observed {observed})"));
    }
    match kind {
        "Deployment" => {
            if condition_state(obj, "Progressing", "False", Some("ProgressDeadlineExceeded")).is_ok() {
                return Err("progress deadline exceeded".into());
            }
            let want = n("/spec/replicas").unwrap_or(1);
            let (updated, total, available) = (
                n("/status/updatedReplicas").unwrap_or(0),
                n("/status/replicas").unwrap_or(0),
                n("/status/availableReplicas").unwrap_or(0),
            );
            if updated < want {
                Err(format!("{updated} of {want} replicas updated"))
            } else if total > updated {
                Err(format!("{} old replicas pending termination", total - updated))
            } else if available < updated {
                Err(format!("{available} of {updated} updated replicas available"))
            } else {
                Ok(())
            }
        }
        "DaemonSet" => {
            let want = n("/status/desiredNumberScheduled").unwrap_or(0);
            let updated = n("/status/updatedNumberScheduled").unwrap_or(0);
            let available = n("/status/numberAvailable").unwrap_or(0);
            if updated < want {
                Err(format!("{updated} of {want} pods updated"))
            } else if available < want {
                Err(format!("{available} of {want} updated pods available"))
            } else {
                Ok(())
            }
        }
        "StatefulSet" => {
            let want = n("/spec/replicas").unwrap_or(1);
            let ready = n("/status/readyReplicas").unwrap_or(0);
            let updated = n("/status/updatedReplicas").unwrap_or(0);
            let s = |p: &str| obj.pointer(p).and_then(serde_json::Value::as_str).unwrap_or("");
            if ready < want {
                Err(format!("{ready} of {want} pods ready"))
            } else if s("/spec/updateStrategy/type") != "OnDelete"
                && (updated < want || s("/status/currentRevision") != s("/status/updateRevision"))
            {
                Err(format!("{updated} of {want} pods at the update revision"))
            } else {
                Ok(())
            }
        }
        other => Err(format!("{other} has no rollout to wait for")),
    }
}

impl Cluster {
    /// Waits until the object reports condition `type_` with `status`
    /// (e.g. `Established`/`True` on a CRD, `Ready`/`True` on a
    /// Certificate); an object that does not exist yet is waited for.
    pub async fn wait_condition(
        &self,
        kind: &ResolvedKind,
        namespace: Option<&str>,
        name: &str,
        type_: &str,
        status: &str,
        timeout: Duration,
    ) -> Result<()> {
        let what = format!("{} {name} to be {type_}={status}", kind.resource.kind);
        until(&what, timeout, || async {
            Ok(match self.get(kind, namespace, name).await? {
                None => Check::Pending("does not exist".into()),
                Some(obj) => match condition_state(&obj, type_, status, None) {
                    Ok(()) => Check::Done(()),
                    Err(seen) => Check::Pending(seen),
                },
            })
        })
        .await
    }

    /// Waits until every named CRD is Established, sharing one deadline.
    pub async fn wait_crds_established(&self, names: &[String], timeout: Duration) -> Result<()> {
        let crd = self.resolve("apiextensions.k8s.io/v1", "CustomResourceDefinition").await?;
        let deadline = Instant::now() + timeout;
        for name in names {
            let left = deadline.saturating_duration_since(Instant::now());
            self.wait_condition(&crd, None, name, "Established", "True", left).await?;
        }
        Ok(())
    }

    /// Waits until a Deployment, DaemonSet or StatefulSet has rolled out
    /// ([`rollout_state`]); the timeout error says what was still missing.
    pub async fn wait_rollout(&self, kind: &ResolvedKind, namespace: &str, name: &str, timeout: Duration) -> Result<()> {
        let k = kind.resource.kind.clone();
        let what = format!("{k} {namespace}/{name} to roll out");
        until(&what, timeout, || async {
            Ok(match self.get(kind, Some(namespace), name).await? {
                None => Check::Pending("does not exist".into()),
                Some(obj) => match rollout_state(&k, &obj) {
                    Ok(()) => Check::Done(()),
                    Err(seen) => Check::Pending(seen),
                },
            })
        })
        .await
    }

    /// Waits (up to `timeout`) until pod `namespace/name` reports
    /// `Ready=True`; a pod that does not exist yet is waited for.
    pub async fn wait_pod_ready(&self, namespace: &str, name: &str, timeout: Duration) -> Result<()> {
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        let what = format!("pod {namespace}/{name} to be Ready");
        until(&what, timeout, || async {
            let pod = pods
                .get_opt(name)
                .await
                .map_err(|e| Error::from_kube(format!("read pod {namespace}/{name}"), e))?;
            Ok(match pod {
                None => Check::Pending("pod does not exist".into()),
                Some(p) => match readiness(&p.status.unwrap_or_default()) {
                    Ok(()) => Check::Done(()),
                    Err(seen) => Check::Pending(seen),
                },
            })
        })
        .await
    }

    /// Polls the status of pod `namespace/name` until `read` finds a value
    /// (described as `wanted`; `pending` is the last-seen state until
    /// then). A pod that does not exist yet is waited for like a pending
    /// one.
    pub async fn wait_pod_status<T>(
        &self,
        namespace: &str,
        name: &str,
        timeout: Duration,
        wanted: &str,
        pending: &str,
        read: impl Fn(&PodStatus) -> Option<T>,
    ) -> Result<T> {
        let what = format!("pod {namespace}/{name} to have {wanted}");
        until(&what, timeout, || async {
            match self.pod_status(namespace, name).await {
                Ok(status) => Ok(read(&status).map_or_else(|| Check::Pending(pending.to_owned()), Check::Done)),
                Err(e) if e.api_code() == Some(404) => Ok(Check::Pending("pod does not exist".to_owned())),
                Err(e) => Err(e),
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn until_returns_the_value_or_times_out_with_the_last_state() {
        let mut n = 0;
        let v: Result<u32> = until("three reads", Duration::from_secs(5), || {
            n += 1;
            let n = n;
            async move { Ok(if n == 3 { Check::Done(n) } else { Check::Pending(format!("read {n}")) }) }
        })
        .await;
        assert_eq!(v.unwrap(), 3);

        let mut n = 0;
        let e = until::<(), Error, _, _>("never", Duration::from_millis(700), || {
            n += 1;
            let n = n;
            async move { Ok(Check::Pending(format!("read {n}"))) }
        })
        .await
        .unwrap_err();
        match &e {
            Error::Timeout { what, after_ms, last_seen } => {
                assert_eq!((what.as_str(), *after_ms), ("never", 700));
                // Read at once, after one poll, and (at least) at the deadline.
                assert!(n >= 3 && *last_seen == format!("read {n}"), "{n} {last_seen}");
            }
            other => panic!("{other:?}"),
        }
        assert!(e.to_string().starts_with("timed out after 700ms waiting for never; last seen: read "), "{e}");
    }

    #[tokio::test]
    async fn until_stops_at_the_first_error() {
        let e = until::<(), Error, _, _>("x", Duration::from_secs(5), || async {
            Err(Error::InvalidObject("broken".into()))
        })
        .await
        .unwrap_err();
        assert!(matches!(e, Error::InvalidObject(_)), "{e:?}");
    }

    #[tokio::test]
    async fn within_bounds_a_call() {
        let e = within("a slow call", Duration::from_millis(50), std::future::pending::<Result<()>>())
            .await
            .unwrap_err();
        assert_eq!(e.to_string(), "timed out after 50ms waiting for a slow call; last seen: no answer");
        assert_eq!(within("fast", Duration::from_secs(1), async { Ok(7) }).await.unwrap(), 7);
    }

    #[test]
    fn readiness_names_phase_and_condition() {
        use k8s_openapi::api::core::v1::PodCondition;
        let mut s = PodStatus { phase: Some("Pending".into()), ..Default::default() };
        assert_eq!(readiness(&s).unwrap_err(), "phase Pending, no Ready condition yet");
        s.conditions = Some(vec![PodCondition {
            type_: "Ready".into(),
            status: "False".into(),
            reason: Some("ContainersNotReady".into()),
            ..Default::default()
        }]);
        assert_eq!(readiness(&s).unwrap_err(), "phase Pending, Ready=False (reason \"ContainersNotReady\": \"\")");
        s.conditions.as_mut().unwrap()[0].status = "True".into();
        assert!(readiness(&s).is_ok());
    }

    #[test]
    fn rollout_state_reads_deployments_like_kubectl() {
        let d = |generation: i64, observed: i64, replicas: i64, updated: i64, total: i64, available: i64| {
            serde_json::json!({
                "metadata": {"generation": generation},
                "spec": {"replicas": replicas},
                "status": {"observedGeneration": observed, "updatedReplicas": updated,
                           "replicas": total, "availableReplicas": available},
            })
        };
        assert_eq!(rollout_state("Deployment", &d(2, 2, 3, 3, 3, 3)), Ok(()));
        assert!(rollout_state("Deployment", &d(3, 2, 3, 3, 3, 3)).unwrap_err().contains("generation 3"));
        assert_eq!(rollout_state("Deployment", &d(1, 1, 3, 2, 3, 2)), Err("2 of 3 replicas updated".into()));
        assert_eq!(rollout_state("Deployment", &d(1, 1, 3, 3, 4, 3)), Err("1 old replicas pending termination".into()));
        assert_eq!(rollout_state("Deployment", &d(1, 1, 3, 3, 3, 1)), Err("1 of 3 updated replicas available".into()));
        let mut stuck = d(1, 1, 1, 0, 1, 0);
        stuck["status"]["conditions"] = serde_json::json!([{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]);
        assert_eq!(rollout_state("Deployment", &stuck), Err("progress deadline exceeded".into()));
    }

    #[test]
    fn rollout_state_reads_daemonsets_and_statefulsets() {
        let ds = serde_json::json!({"status": {"desiredNumberScheduled": 3, "updatedNumberScheduled": 3, "numberAvailable": 2}});
        assert_eq!(rollout_state("DaemonSet", &ds), Err("2 of 3 updated pods available".into()));
        let sts = |current: &str| {
            serde_json::json!({
                "spec": {"replicas": 2, "updateStrategy": {"type": "RollingUpdate"}},
                "status": {"readyReplicas": 2, "updatedReplicas": 2, "currentRevision": current, "updateRevision": "r2"},
            })
        };
        assert_eq!(rollout_state("StatefulSet", &sts("r2")), Ok(()));
        assert!(rollout_state("StatefulSet", &sts("r1")).is_err());
        assert!(rollout_state("ConfigMap", &serde_json::json!({})).unwrap_err().contains("no rollout"));
    }
}
