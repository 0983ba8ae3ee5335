//! Lab tier: the `bgpPeer` step's router (engine::steps::bgp) against FRR in
//! a network namespace pair on this machine. FRR plays a Cilium node: it
//! dials the harness's listener and announces a LoadBalancer /32 and a pod
//! CIDR. Needs root (namespaces, port 179) and `.ci/install-lab-bgpdns`;
//! without root it fails unless `INFRAFLUX_LAB=skip` is set.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test-crate helpers: a failed setup step is the test failure"
)]

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use infraflux_engine::bgp;
use infraflux_engine::StepError;
use infraflux_engine::steps::bgp::{BgpCollector, Expect};
use infraflux_testkit::lab::{self, peers::{self, BgpPeer, PeerLab, PeerSpec, nets}};
use ipnet::Ipv4Net;

const HOLD_SECS: u16 = 9;

/// FRR as a Cilium node with AS `peer_asn` that dials the harness (AS
/// 65000) on 10.198.`net`.0/30.
fn node_spec(peer_asn: u32, net: u8) -> PeerSpec {
    PeerSpec {
        peer_asn,
        harness_asn: 65000,
        peer_ip: Ipv4Addr::new(10, 198, net, 2),
        harness_ip: Ipv4Addr::new(10, 198, net, 1),
        hold_secs: HOLD_SECS,
        peer_passive: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bgp_peer_step_sees_vip_and_pod_cidr_and_their_withdrawal() {
    if !lab::enabled() {
        return;
    }
    let spec = node_spec(65010, 7);
    let lab = PeerLab::new(&spec).unwrap();
    let vip = nets(&["198.51.100.34/32"]);
    let pod_cidr = nets(&["10.244.1.0/24"]);
    let announced: Vec<Ipv4Net> = vip.iter().chain(&pod_cidr).copied().collect();

    // The run's router: listening in the harness namespace before the "node" dials.
    let l = lab.harness().tcp_listen(SocketAddr::from((spec.harness_ip, 179))).unwrap();
    let listener = tokio::net::TcpListener::from_std(l).unwrap();
    let cfg = bgp::Config::new(spec.harness_asn, spec.harness_ip, spec.harness_ip).with_peer_asn(spec.peer_asn);
    let collector = BgpCollector::start(listener, cfg).unwrap();
    let mut frr = peers::Frr::start(&lab, &spec, &announced).unwrap();

    // Nothing can satisfy a prefix nobody announces: the step fails and
    // says what it did receive.
    let bogus = Expect { min_sessions: 1, received: nets(&["198.51.100.99/32"]), not_received: vec![] };
    match collector.expect(&bogus, Duration::from_secs(20)).await {
        Err(e @ StepError::BgpPeer { .. }) => {
            assert!(e.is_timeout(), "{e}");
            let m = e.to_string();
            assert!(m.contains("not received: 198.51.100.99/32"), "{m}");
        }
        other => panic!("expected a timeout, got {other:?}\n{}", frr.log_tail()),
    }
    let all = Expect { min_sessions: 1, received: announced.clone(), not_received: vec![] };
    let note = collector
        .expect(&all, Duration::from_secs(30))
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", frr.log_tail()));
    assert!(note.contains("1 session(s) established"), "{note}");
    let (_, received) = collector.view();
    assert_eq!(received[&vip[0]].iter().next(), Some(&std::net::IpAddr::V4(spec.peer_ip)));

    // The node stops announcing the VIP (Service deleted): withdrawn.
    frr.withdraw(&vip).unwrap();
    let gone = Expect { min_sessions: 1, received: pod_cidr.clone(), not_received: vip.clone() };
    collector.expect(&gone, Duration::from_secs(15)).await.unwrap();

    // Peer loss without a goodbye: the hold timer must clear its routes.
    let t0 = Instant::now();
    lab.pair.set_b_down().unwrap();
    let lost = Expect { min_sessions: 0, received: vec![], not_received: pod_cidr.clone() };
    collector
        .expect(&lost, Duration::from_secs(u64::from(HOLD_SECS) + 5))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let took = t0.elapsed();
    assert!(took >= Duration::from_secs(u64::from(HOLD_SECS) - 4), "routes dropped before the hold time: {took:?}");
    assert_eq!(collector.view().0, 0);
}

/// The `bgpSessionReset` disrupt against FRR: the harness's router sends
/// Cease/Administrative Reset and closes the session; FRR (connect retry
/// 1 s) dials again and re-announces, and the `bgpPeer` step after the
/// reset measures how long the routes took to come back, recorded the way
/// the engine records a step's `metric`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_reset_is_noticed_and_routes_come_back_measured() {
    if !lab::enabled() {
        return;
    }
    let spec = node_spec(65011, 8);
    let lab = PeerLab::new(&spec).unwrap();
    let vip = nets(&["198.51.100.35/32"]);
    let l = lab.harness().tcp_listen(SocketAddr::from((spec.harness_ip, 179))).unwrap();
    let listener = tokio::net::TcpListener::from_std(l).unwrap();
    let cfg = bgp::Config::new(spec.harness_asn, spec.harness_ip, spec.harness_ip).with_peer_asn(spec.peer_asn);
    let collector = BgpCollector::start(listener, cfg).unwrap();
    let frr = peers::Frr::start(&lab, &spec, &vip).unwrap();

    let want = Expect { min_sessions: 1, received: vip.clone(), not_received: vec![] };
    collector
        .expect(&want, Duration::from_secs(30))
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", frr.log_tail()));

    assert_eq!(collector.reset().await, 1, "one established session to reset");
    // Routes go with the session at once, before FRR can come back.
    assert!(!collector.view().1.contains_key(&vip[0]));

    // The bgpPeer step that follows the reset in the failover suite, run by
    // the engine's own executor: it waits, measures and records.
    let ctx = infraflux_engine::CaseCtx {
        id: "failover::bgp-peer-reset".into(),
        run_id: "20260101T000000Z-abcdef".into(),
        namespace: "ifx-lab".into(),
        attempt: 1,
        vars: [("lbIp".to_owned(), "198.51.100.35".to_owned())].into(),
        ..Default::default()
    };
    let step = infraflux_model::suite::model::BgpPeer {
        name: Some("back".into()),
        min_sessions: Some(1),
        received: vec!["{{lbIp}}/32".into()],
        not_received: vec![],
        pod_cidrs_from_nodes: false,
        timeout: None,
        metric: Some("failover.bgp_peer_reset.routes_back".into()),
    };
    let t0 = Instant::now();
    infraflux_engine::steps::bgp::peer_step(&ctx, &step, &collector, vec![], Duration::from_secs(60))
        .await
        .unwrap_or_else(|e| panic!("routes did not come back: {e}\n{}", frr.log_tail()));
    let took = t0.elapsed();
    // FRR saw a Cease/Administrative Reset, not just a dropped socket.
    let neighbor = frr.neighbor_json().unwrap().to_string();
    assert!(neighbor.contains("Administrative Reset"), "FRR's neighbor state names no reset:\n{neighbor}");

    let perf = ctx.perf.lock().unwrap().clone();
    assert_eq!(perf.len(), 1);
    assert_eq!(
        (perf[0].metric.as_str(), perf[0].unit.as_str(), perf[0].higher_is_better),
        ("failover.bgp_peer_reset.routes_back", "ms", false)
    );
    let ms = perf[0].samples[0];
    assert!(ms > 0.0 && ms <= took.as_secs_f64() * 1000.0, "{ms} ms recorded, {took:?} measured outside");
    let report = ctx.probe_report("back").unwrap();
    assert_eq!(report["elapsed_ms"], serde_json::json!(ms));
    assert_eq!(report["sessions"], 1);
    assert_eq!(report["received"], serde_json::json!(["198.51.100.35/32"]));
    eprintln!("routes back {ms:.0} ms after the reset");
    assert!(took < Duration::from_secs(30), "{took:?}");
}
