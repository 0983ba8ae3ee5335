//! Lab tier: the harness's BGP speaker against real BGP implementations
//! (FRR, BIRD 2, gobgpd) running in network namespaces on this machine.
//! Needs root (namespaces, port 179) and `.ci/install-lab-bgpdns`.
//! Without root these tests fail unless `INFRAFLUX_LAB=skip` is set.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test-crate helpers: a failed setup step is the test failure"
)]

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use infraflux_engine::bgp::{self, Session, SessionState, Speaker};
use infraflux_testkit::lab::{self, poll};
use infraflux_testkit::lab::peers::{self, BgpPeer, PeerLab, PeerSpec, nets};
use ipnet::Ipv4Net;

const HOLD_SECS: u16 = 9;

fn spec(peer_passive: bool) -> PeerSpec {
    PeerSpec {
        peer_asn: 65000,
        // A 4-octet ASN on our side exercises AS_TRANS and the capability.
        harness_asn: 4_200_000_001,
        peer_ip: Ipv4Addr::new(10, 198, 0, 2),
        harness_ip: Ipv4Addr::new(10, 198, 0, 1),
        hold_secs: HOLD_SECS,
        peer_passive,
    }
}

fn speaker(s: &PeerSpec) -> Speaker {
    // We propose 30 s; the peer's 9 s must win the negotiation.
    let cfg = bgp::Config::new(s.harness_asn, s.harness_ip, s.harness_ip)
        .with_peer_asn(s.peer_asn)
        .with_hold_time(Duration::from_secs(30));
    Speaker::new(cfg).unwrap()
}

/// Our speaker connects from the harness namespace to the peer (retrying
/// while the daemon starts listening).
async fn connect(lab: &PeerLab, s: &PeerSpec) -> Session {
    let addr = SocketAddr::from((s.peer_ip, 179));
    let ns = lab.harness();
    let stream = poll("peer to accept on port 179", Duration::from_secs(20), Duration::from_millis(200), || {
        ns.tcp_connect(addr, Duration::from_secs(1)).ok()
    })
    .unwrap();
    let stream = tokio::net::TcpStream::from_std(stream).unwrap();
    speaker(s).establish(stream).await.unwrap()
}

/// Binds port 179 in the harness namespace, before the peer starts dialing.
fn listen(lab: &PeerLab, s: &PeerSpec) -> tokio::net::TcpListener {
    let l = lab.harness().tcp_listen(SocketAddr::from((s.harness_ip, 179))).unwrap();
    tokio::net::TcpListener::from_std(l).unwrap()
}

fn received_exactly(peer: &dyn BgpPeer, want: &[Ipv4Net], timeout: Duration) -> Duration {
    let want: BTreeSet<Ipv4Net> = want.iter().copied().collect();
    let t0 = Instant::now();
    let mut last = None;
    let r = poll(
        &format!("{} to hold exactly {want:?} from the harness", peer.name()),
        timeout,
        Duration::from_millis(100),
        || {
            let got = peer.received_from_harness().ok()?;
            let ok = got == want;
            last = Some(got);
            ok.then_some(())
        },
    );
    if let Err(e) = r {
        panic!("{e}; last seen: {last:?}");
    }
    t0.elapsed()
}

/// Originate, withdraw and re-advertise on the peer; advertise and withdraw
/// from the harness. Returns (peer withdrawal seen by us, our withdrawal seen by peer).
async fn exchange(peer: &mut dyn BgpPeer, session: &Session, s: &PeerSpec, initial: &[Ipv4Net]) -> (Duration, Duration) {
    let name = peer.name();
    let bound = Duration::from_secs(15);
    let snap = session.wait_for_prefixes(initial, Duration::from_secs(30)).await.unwrap();
    for (p, r) in snap.table.iter() {
        assert_eq!(r.next_hop, std::net::IpAddr::V4(s.peer_ip), "{name}: next hop of {p}");
        assert_eq!(r.as_path, vec![s.peer_asn], "{name}: as path of {p}");
    }
    assert_eq!(session.peer().hold_time, Duration::from_secs(u64::from(HOLD_SECS)));
    assert!(session.peer().four_octet_as, "{name} did not announce 4-octet AS support");

    let (gone, kept) = initial.split_at(2);
    let t0 = Instant::now();
    peer.withdraw(gone).unwrap();
    session.wait_for_prefixes(kept, bound).await.unwrap();
    let withdraw_seen = t0.elapsed();

    let extra = nets(&["10.210.77.0/24"]);
    peer.advertise(&extra).unwrap();
    let mut now: Vec<Ipv4Net> = kept.to_vec();
    now.extend(&extra);
    session.wait_for_prefixes(&now, bound).await.unwrap();

    let ours = nets(&["10.220.1.0/24", "10.220.2.0/24", "10.220.3.7/32"]);
    session.advertise(&ours).await.unwrap_or_else(|e| panic!("{name}: {e}"));
    received_exactly(peer, &ours, bound);
    session.withdraw(&ours[..1]).await.unwrap();
    let our_withdraw_seen = received_exactly(peer, &ours[1..], bound);
    // Peers that reflect our routes back (FRR does) must not pollute the
    // table: loop detection drops paths holding our AS.
    assert_eq!(session.routes().prefixes(), {
        let mut v = now.clone();
        v.sort();
        v
    });
    (withdraw_seen, our_withdraw_seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frr_peer_active_routes_match_and_link_loss_expires_hold_timer() {
    if !lab::enabled() {
        return;
    }
    let s = spec(false);
    let lab = PeerLab::new(&s).unwrap();
    let initial = nets(&["10.201.1.0/24", "10.201.2.0/24", "10.201.3.0/24", "10.201.4.128/25", "10.201.9.9/32"]);
    // The peer connects to our listener (how Cilium reaches a router).
    let listener = listen(&lab, &s);
    let mut frr = peers::Frr::start(&lab, &s, &initial).unwrap();
    let session = speaker(&s).accept(&listener).await.unwrap();
    let (wd, our_wd) = exchange(&mut frr, &session, &s, &initial).await;
    eprintln!("lab_bgp frr: peer withdrawal visible after {wd:?}; our withdrawal visible at peer after {our_wd:?}");

    // Link loss: no FIN, no NOTIFICATION; only the hold timer can notice.
    let t0 = Instant::now();
    lab.pair.set_b_down().unwrap();
    let down = session
        .wait_down(Duration::from_secs(u64::from(HOLD_SECS) + 3))
        .await
        .unwrap_or_else(|e| panic!("{e}\nbgpd log:\n{}", frr.log_tail()));
    let took = t0.elapsed();
    assert!(down.table.is_empty());
    assert!(
        matches!(&down.state, SessionState::Down(r) if r.contains("hold timer expired")),
        "{:?}",
        down.state
    );
    assert!(took >= Duration::from_secs(u64::from(HOLD_SECS) - 4), "dropped too early: {took:?}");
    eprintln!("lab_bgp frr: routes dropped {took:?} after link loss (hold time {HOLD_SECS}s)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bird_peer_routes_match_and_admin_disable_drops_routes() {
    if !lab::enabled() {
        return;
    }
    let s = spec(true);
    let lab = PeerLab::new(&s).unwrap();
    let initial = nets(&["10.202.1.0/24", "10.202.2.0/24", "10.202.3.0/24", "10.202.4.0/22"]);
    let mut bird = peers::Bird::start(&lab, &s, &initial).unwrap();
    let session = connect(&lab, &s).await;
    let (wd, our_wd) = exchange(&mut bird, &session, &s, &initial).await;
    eprintln!("lab_bgp bird: peer withdrawal visible after {wd:?}; our withdrawal visible at peer after {our_wd:?}");

    let t0 = Instant::now();
    bird.disable_session().unwrap();
    let down = session.wait_down(Duration::from_secs(u64::from(HOLD_SECS))).await.unwrap();
    assert!(down.table.is_empty());
    assert!(matches!(&down.state, SessionState::Down(r) if r.contains("Cease")), "{:?}", down.state);
    eprintln!("lab_bgp bird: routes dropped {:?} after birdc disable ({:?})", t0.elapsed(), down.state);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gobgpd_peer_routes_match_and_kill_drops_routes() {
    if !lab::enabled() {
        return;
    }
    let bin = peers::gobgp_bin_dir();
    assert!(
        bin.join("gobgpd").exists(),
        "gobgpd not found in {}; run .ci/install-lab-bgpdns",
        bin.display()
    );
    let s = spec(true);
    let lab = PeerLab::new(&s).unwrap();
    let initial = nets(&["10.203.1.0/24", "10.203.2.0/24", "10.203.3.0/24", "10.203.4.4/32"]);
    let mut gobgp = peers::GoBgp::start(&lab, &s, &initial, &bin).unwrap();
    let session = connect(&lab, &s).await;
    let (wd, our_wd) = exchange(&mut gobgp, &session, &s, &initial).await;
    eprintln!("lab_bgp gobgpd: peer withdrawal visible after {wd:?}; our withdrawal visible at peer after {our_wd:?}");

    // Past one and a half hold times the session must still be up on both
    // sides: our keepalives satisfy gobgpd's hold timer and its ours.
    let before = session.snapshot();
    tokio::time::sleep(Duration::from_millis(u64::from(HOLD_SECS) * 1500)).await;
    let after = session.snapshot();
    assert_eq!(after.state, SessionState::Established);
    assert_eq!(after.since, before.since, "session flapped");
    assert_eq!(after.table, before.table);
    assert_eq!(gobgp.received_from_harness().unwrap().len(), 2, "gobgpd lost our routes");

    let t0 = Instant::now();
    gobgp.kill();
    let down = session
        .wait_down(Duration::from_secs(u64::from(HOLD_SECS)))
        .await
        .unwrap_or_else(|e| panic!("{e}\ngobgpd log:\n{}", gobgp.log_tail()));
    assert!(down.table.is_empty());
    eprintln!("lab_bgp gobgpd: routes dropped {:?} after SIGKILL ({:?})", t0.elapsed(), down.state);
}
