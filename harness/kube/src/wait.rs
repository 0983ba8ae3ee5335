//! Bounded waits. Every wait takes a timeout and ends either with what it
//! waited for or with [`Error::Timeout`] naming what it waited for, after
//! how long, and the state it saw last. What to wait for is the caller's:
//! these loops know pods and polling, not suites.

use std::future::Future;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Pod, PodStatus};
use kube::api::Api;
use tokio::time::Instant;

use super::{Cluster, Error, Result};

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

impl Cluster {
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
}
