//! Executor of the `bgpPeer` step: the harness's own BGP speaker
//! ([`crate::bgp`]) acts as the external router for the whole run. Cilium's
//! BGP control plane peers with it (every node connects to the address the
//! platform's CiliumBGPPeerConfig names), and the step asserts on what the
//! router really received, not on what Cilium says it advertised.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ipnet::Ipv4Net;
use tokio::time::Instant;

use crate::backend::StepError;
use crate::bgp::{self, Session, SessionState, Speaker};

/// Where and as whom the harness listens.
#[derive(Debug, Clone)]
pub struct BgpSettings {
    /// e.g. `0.0.0.0:179`.
    pub listen: SocketAddr,
    pub config: bgp::Config,
}

/// Accepts sessions for the run and keeps them.
#[derive(Debug)]
pub struct BgpCollector {
    sessions: Arc<Mutex<Vec<Session>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl Drop for BgpCollector {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// What the step requires of the received routes (already templated).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Expect {
    pub min_sessions: u32,
    pub received: Vec<Ipv4Net>,
    pub not_received: Vec<Ipv4Net>,
}

/// The union of every established session's table: prefix → next hops.
pub type Received = BTreeMap<Ipv4Net, BTreeSet<IpAddr>>;

impl BgpCollector {
    /// Binds `settings.listen` and starts accepting.
    pub async fn bind(settings: &BgpSettings) -> Result<BgpCollector, bgp::Error> {
        let l = tokio::net::TcpListener::bind(settings.listen).await.map_err(bgp::Error::Accept)?;
        BgpCollector::start(l, settings.config.clone())
    }

    /// Accepts sessions on an already bound listener (any network
    /// namespace) until dropped.
    pub fn start(listener: tokio::net::TcpListener, config: bgp::Config) -> Result<BgpCollector, bgp::Error> {
        let speaker = Speaker::new(config)?;
        let sessions: Arc<Mutex<Vec<Session>>> = Arc::new(Mutex::new(Vec::new()));
        let kept = sessions.clone();
        let accept = tokio::spawn(async move {
            loop {
                match speaker.accept(&listener).await {
                    Ok(s) => {
                        tracing::info!(peer = %s.peer().remote_addr, asn = s.peer().asn, "bgp session established");
                        if let Ok(mut v) = kept.lock() {
                            v.push(s);
                        }
                    }
                    // Nobody connected within the open timeout: keep listening.
                    Err(bgp::Error::AcceptTimeout(_)) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "bgp peer failed to open a session");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
            }
        });
        Ok(BgpCollector { sessions, accept })
    }

    /// Established sessions and the union of their received routes.
    pub fn view(&self) -> (usize, Received) {
        let Ok(v) = self.sessions.lock() else {
            return (0, Received::new());
        };
        let up: Vec<&Session> = v.iter().filter(|s| s.state() == SessionState::Established).collect();
        let tables: Vec<_> = up.iter().map(|s| s.routes()).collect();
        (up.len(), bgp::next_hops(tables.iter()))
    }

    /// Sends Cease / Administrative Reset on every session and closes it
    /// (a "cut" peer); the nodes reconnect on their own and are accepted as
    /// new sessions. Sessions already down are dropped too. Returns how
    /// many established sessions were reset.
    pub async fn reset(&self) -> usize {
        let taken: Vec<Session> = match self.sessions.lock() {
            Ok(mut v) => std::mem::take(&mut *v),
            Err(_) => return 0,
        };
        let mut reset = 0;
        for s in taken {
            if s.state() == SessionState::Established {
                tracing::info!(peer = %s.peer().remote_addr, "resetting bgp session");
                reset += 1;
            }
            s.reset().await;
        }
        reset
    }

    /// Waits until `want` holds; the error says what was last received.
    pub async fn expect(&self, want: &Expect, timeout: Duration) -> Result<String, StepError> {
        let t0 = Instant::now();
        loop {
            let (up, received) = self.view();
            let missing: Vec<String> = want
                .received
                .iter()
                .filter(|p| !received.contains_key(p))
                .map(ToString::to_string)
                .collect();
            let unwanted: Vec<String> = want
                .not_received
                .iter()
                .filter(|p| received.contains_key(p))
                .map(ToString::to_string)
                .collect();
            let enough = up as u64 >= u64::from(want.min_sessions);
            if enough && missing.is_empty() && unwanted.is_empty() {
                return Ok(format!(
                    "{up} session(s) established; {} prefix(es) received, all {} expected present",
                    received.len(),
                    want.received.len()
                ));
            }
            if t0.elapsed() >= timeout {
                let mut unmet = Vec::new();
                if !enough {
                    unmet.push(format!("{up} session(s) established, want at least {}", want.min_sessions));
                }
                if !missing.is_empty() {
                    unmet.push(format!("not received: {}", missing.join(", ")));
                }
                if !unwanted.is_empty() {
                    unmet.push(format!("still received: {}", unwanted.join(", ")));
                }
                let received = received
                    .iter()
                    .map(|(p, hops)| {
                        format!("{p} via {}", hops.iter().map(ToString::to_string).collect::<Vec<_>>().join("/"))
                    })
                    .collect();
                return Err(StepError::BgpPeer { after: timeout, unmet, received });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Runs a `bgpPeer` step against the run's router: renders its prefixes,
/// adds `pod_cidrs` (the nodes' CIDRs when `podCidrsFromNodes` is set),
/// waits up to `timeout` and records the step (see [`record`]).
pub async fn peer_step(
    ctx: &crate::CaseCtx,
    b: &crate::suite::model::BgpPeer,
    collector: &BgpCollector,
    pod_cidrs: Vec<Ipv4Net>,
    timeout: Duration,
) -> Result<Option<String>, StepError> {
    let nets = |list: &[String]| -> Result<Vec<Ipv4Net>, StepError> {
        list.iter()
            .map(|s| {
                let t = crate::suite::template::render(s, &ctx.vars).map_err(StepError::invalid)?;
                t.parse().map_err(|_| StepError::invalid(format!("`{t}` is not an IPv4 prefix")))
            })
            .collect()
    };
    let mut want = Expect {
        min_sessions: b.min_sessions.unwrap_or(1),
        received: nets(&b.received)?,
        not_received: nets(&b.not_received)?,
    };
    want.received.extend(pod_cidrs);
    let started = Instant::now();
    let note = collector.expect(&want, timeout).await?;
    record(ctx, b, collector, started.elapsed().as_secs_f64() * 1000.0);
    Ok(Some(note))
}

/// Runs a `bgpSessionReset` disruption; the note says how many sessions
/// were reset.
pub async fn reset_step(collector: &BgpCollector) -> String {
    let n = collector.reset().await;
    format!("reset {n} established bgp session(s) with Cease/Administrative Reset")
}

/// Makes a passed `bgpPeer` step observable: with `name`, its report
/// (`elapsed_ms`, `sessions`, `received` prefixes) is kept for
/// `assert: {probe: <name>}`; with `metric`, `elapsed_ms` becomes a
/// performance series (ms, lower is better).
pub fn record(ctx: &crate::CaseCtx, b: &crate::suite::model::BgpPeer, collector: &BgpCollector, elapsed_ms: f64) {
    let (sessions, received) = collector.view();
    let report = serde_json::json!({
        "ok": true,
        "elapsed_ms": elapsed_ms,
        "sessions": sessions,
        "received": received.keys().map(ToString::to_string).collect::<Vec<_>>(),
        "samples": [elapsed_ms],
    });
    if let Some(metric) = &b.metric {
        ctx.record_perf(metric, None, "ms", false, &report);
    }
    if let Some(name) = &b.name {
        ctx.record_probe(name, report);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    // Our own speaker plays the node over loopback: the collector must
    // notify it with a Cease, forget its routes, and accept it again.
    #[tokio::test]
    async fn reset_sends_cease_drops_routes_and_accepts_the_reconnect() {
        let l = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let addr = l.local_addr().unwrap();
        let collector =
            BgpCollector::start(l, bgp::Config::new(65000, Ipv4Addr::new(1, 1, 1, 1), Ipv4Addr::LOCALHOST)).unwrap();
        let node = Speaker::new(bgp::Config::new(65010, Ipv4Addr::new(2, 2, 2, 2), Ipv4Addr::LOCALHOST)).unwrap();
        let vip = net("198.51.100.34/32");
        let want = Expect { min_sessions: 1, received: vec![vip], not_received: vec![] };
        let t = Duration::from_secs(5);

        let first = node.connect(addr).await.unwrap();
        first.advertise(&[vip]).await.unwrap();
        collector.expect(&want, t).await.unwrap();

        assert_eq!(collector.reset().await, 1);
        let down = first.wait_down(t).await.unwrap();
        assert!(
            matches!(down.state, SessionState::Down(ref r) if r.contains("AdministrativeReset")),
            "{:?}",
            down.state
        );
        assert_eq!(collector.view(), (0, Received::new()));
        let gone = Expect { min_sessions: 0, received: vec![], not_received: vec![vip] };
        collector.expect(&gone, t).await.unwrap();

        // The node comes back and re-announces: the same step passes again.
        let second = node.connect(addr).await.unwrap();
        second.advertise(&[vip]).await.unwrap();
        collector.expect(&want, t).await.unwrap();
        assert_eq!(collector.view().0, 1);
        // Nothing to reset twice: only the live session counts.
        assert_eq!(collector.reset().await, 1);
        assert_eq!(collector.reset().await, 0);
    }
}
