//! Session state machine: OPEN exchange, then a task that keeps the session
//! alive, applies UPDATEs to the route table and sends ours.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use ipnet::Ipv4Net;
use netgauze_bgp_pkt::BgpMessage;
use netgauze_bgp_pkt::capabilities::BgpCapability;
use netgauze_bgp_pkt::codec::BgpCodec;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio_util::codec::Framed;

use super::table::RouteTable;
use super::{Config, Error, Result, message};

type Conn = Framed<TcpStream, BgpCodec>;

/// Whether the session is up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionState {
    Established,
    /// Down for the given reason; the table is empty from then on (RFC 4271
    /// 9.1: routes from a peer go when its session goes).
    Down(String),
}

/// What the peer told us in its OPEN, and what was negotiated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerInfo {
    pub asn: u32,
    pub router_id: Ipv4Addr,
    /// Negotiated hold time (the smaller proposal).
    pub hold_time: Duration,
    pub four_octet_as: bool,
    pub local_addr: SocketAddr,
    pub remote_addr: SocketAddr,
}

/// A consistent view of the session at one moment.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub state: SessionState,
    pub table: RouteTable,
    /// UPDATE messages received so far.
    pub updates: u64,
    /// Announcements dropped because their AS_PATH held our own AS.
    pub looped: u64,
    /// When `state` last changed.
    pub since: Instant,
}

enum Command {
    Send {
        announce: Vec<Ipv4Net>,
        withdraw: Vec<Ipv4Net>,
        done: oneshot::Sender<Result<()>>,
    },
    Close {
        /// Administrative Reset instead of Shutdown: the peer should reconnect.
        reset: bool,
        done: oneshot::Sender<()>,
    },
}

/// Opens sessions with one [`Config`].
#[derive(Debug, Clone)]
pub struct Speaker {
    cfg: Config,
}

impl Speaker {
    pub fn new(cfg: Config) -> Result<Self> {
        let hold = cfg.hold_time.as_secs();
        if cfg.hold_time.subsec_nanos() != 0 || hold == 1 || hold == 2 || hold > u64::from(u16::MAX) {
            return Err(Error::Config(format!(
                "hold time {:?} must be 0 or 3..=65535 whole seconds",
                cfg.hold_time
            )));
        }
        if cfg.local_asn == 0 {
            return Err(Error::Config("local asn must not be 0".into()));
        }
        Ok(Speaker { cfg })
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Actively connects to `addr` and opens the session.
    pub async fn connect(&self, addr: SocketAddr) -> Result<Session> {
        let t = self.cfg.open_timeout;
        let stream = tokio::time::timeout(t, TcpStream::connect(addr))
            .await
            .map_err(|_| Error::ConnectTimeout { addr, timeout: t })?
            .map_err(|source| Error::Connect { addr, source })?;
        self.establish(stream).await
    }

    /// Binds `addr` (port 179 needs root or CAP_NET_BIND_SERVICE), accepts
    /// one peer and opens the session.
    pub async fn listen(&self, addr: SocketAddr) -> Result<Session> {
        let l = TcpListener::bind(addr).await.map_err(Error::Accept)?;
        self.accept(&l).await
    }

    /// Waits for one peer to connect to `listener` (the way Cilium reaches a
    /// router: it initiates, the router accepts) and opens the session.
    pub async fn accept(&self, listener: &TcpListener) -> Result<Session> {
        let t = self.cfg.open_timeout;
        let (stream, _) = tokio::time::timeout(t, listener.accept())
            .await
            .map_err(|_| Error::AcceptTimeout(t))?
            .map_err(Error::Accept)?;
        self.establish(stream).await
    }

    /// Runs the OPEN exchange on a connected stream (any namespace, any
    /// side) and starts the session task.
    pub async fn establish(&self, stream: TcpStream) -> Result<Session> {
        let local_addr = stream.local_addr().map_err(Error::Io)?;
        let remote_addr = stream.peer_addr().map_err(Error::Io)?;
        let _ = stream.set_nodelay(true);
        let mut conn = Framed::new(stream, BgpCodec::default());
        let t = self.cfg.open_timeout;
        let peer = tokio::time::timeout(t, open_exchange(&self.cfg, &mut conn, local_addr, remote_addr))
            .await
            .map_err(|_| Error::OpenTimeout(t))??;
        let (state_tx, state_rx) = watch::channel(Snapshot {
            state: SessionState::Established,
            table: RouteTable::new(),
            updates: 0,
            looped: 0,
            since: Instant::now(),
        });
        let (cmd_tx, cmd_rx) = mpsc::channel(16);
        let task = tokio::spawn(run(self.cfg.clone(), peer.clone(), conn, state_tx, cmd_rx));
        Ok(Session {
            peer,
            state: state_rx,
            cmd: cmd_tx,
            task,
        })
    }
}

/// Longest a single write may block (a peer that stopped reading fills the
/// socket buffer; the hold timer cannot fire while we wait on the write).
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

async fn send(conn: &mut Conn, msg: BgpMessage) -> Result<()> {
    match tokio::time::timeout(SEND_TIMEOUT, conn.send(msg)).await {
        Ok(r) => r.map_err(|e| Error::Encode(format!("{e:?}"))),
        Err(_) => Err(Error::Io(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("bgp write blocked for {SEND_TIMEOUT:?}"),
        ))),
    }
}

async fn recv(conn: &mut Conn) -> Result<Option<BgpMessage>> {
    match conn.next().await {
        None => Ok(None),
        Some(Ok((m, _))) => Ok(Some(m)),
        Some(Err(e)) => Err(Error::Decode(e.to_string())),
    }
}

async fn open_exchange(
    cfg: &Config,
    conn: &mut Conn,
    local_addr: SocketAddr,
    remote_addr: SocketAddr,
) -> Result<PeerInfo> {
    let our_hold = u16::try_from(cfg.hold_time.as_secs()).unwrap_or(u16::MAX);
    send(conn, message::open(cfg.local_asn, our_hold, cfg.router_id)).await?;
    let open = match recv(conn).await? {
        Some(BgpMessage::Open(o)) => o,
        Some(BgpMessage::Notification(n)) => {
            return Err(Error::Open(format!("peer refused our open: {n:?}")));
        }
        Some(other) => {
            let _ = send(conn, message::fsm_error()).await;
            return Err(Error::Open(format!("expected open, got {:?}", other.get_type())));
        }
        None => return Err(Error::Open("peer closed the connection before its open".into())),
    };
    let asn = open.my_asn4();
    if let Some(want) = cfg.peer_asn
        && want != asn
    {
        let _ = send(conn, message::bad_peer_as()).await;
        return Err(Error::Open(format!("peer has asn {asn}, expected {want}")));
    }
    let their_hold = open.hold_time();
    if their_hold == 1 || their_hold == 2 {
        let _ = send(conn, message::unacceptable_hold_time()).await;
        return Err(Error::Open(format!("peer proposed unacceptable hold time {their_hold}s")));
    }
    let four_octet_as = open
        .capabilities()
        .iter()
        .any(|c| matches!(c, BgpCapability::FourOctetAs(_)));
    send(conn, BgpMessage::KeepAlive).await?;
    match recv(conn).await? {
        Some(BgpMessage::KeepAlive) => {}
        Some(BgpMessage::Notification(n)) => {
            return Err(Error::Open(format!("peer refused the session: {n:?}")));
        }
        Some(other) => {
            let _ = send(conn, message::fsm_error()).await;
            return Err(Error::Open(format!(
                "expected keepalive in open-confirm, got {:?}",
                other.get_type()
            )));
        }
        None => return Err(Error::Open("peer closed the connection in open-confirm".into())),
    }
    Ok(PeerInfo {
        asn,
        router_id: open.bgp_id(),
        hold_time: Duration::from_secs(u64::from(our_hold.min(their_hold))),
        four_octet_as,
        local_addr,
        remote_addr,
    })
}

async fn run(
    cfg: Config,
    peer: PeerInfo,
    mut conn: Conn,
    state: watch::Sender<Snapshot>,
    mut cmds: mpsc::Receiver<Command>,
) {
    let hold = peer.hold_time;
    let timers = !hold.is_zero();
    // RFC 4271 10: keepalive at a third of the hold time.
    let mut keepalive = tokio::time::interval(if timers { hold / 3 } else { Duration::from_secs(3600) });
    keepalive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut hold_deadline = tokio::time::Instant::now() + hold;
    let ibgp = peer.asn == cfg.local_asn;
    let mut close_ack: Option<oneshot::Sender<()>> = None;
    let reason: String = loop {
        tokio::select! {
            msg = recv(&mut conn) => match msg {
                Ok(Some(BgpMessage::Update(u))) => {
                    hold_deadline = tokio::time::Instant::now() + hold;
                    state.send_modify(|s| { s.looped += s.table.apply_update_as(&u, Some(cfg.local_asn)) as u64; s.updates += 1; });
                }
                Ok(Some(BgpMessage::KeepAlive)) => hold_deadline = tokio::time::Instant::now() + hold,
                Ok(Some(BgpMessage::Notification(n))) => break format!("peer sent notification {n:?}"),
                Ok(Some(BgpMessage::RouteRefresh(_))) => hold_deadline = tokio::time::Instant::now() + hold,
                Ok(Some(BgpMessage::Open(_))) => {
                    let _ = send(&mut conn, message::fsm_error()).await;
                    break "peer sent a second open".into();
                }
                Ok(None) => break "peer closed the connection".into(),
                Err(e) => break e.to_string(),
            },
            _ = tokio::time::sleep_until(hold_deadline), if timers => {
                let _ = send(&mut conn, message::hold_timer_expired()).await;
                break format!("hold timer expired ({}s without a message)", hold.as_secs());
            }
            _ = keepalive.tick(), if timers => {
                if let Err(e) = send(&mut conn, BgpMessage::KeepAlive).await {
                    break format!("failed to send keepalive: {e}");
                }
            }
            cmd = cmds.recv() => match cmd {
                Some(Command::Send { announce, withdraw, done }) => {
                    let r = match message::update(&announce, &withdraw, cfg.local_asn, cfg.next_hop, peer.four_octet_as, ibgp) {
                        Ok(m) => send(&mut conn, m).await,
                        Err(e) => Err(e),
                    };
                    let failed = r.as_ref().err().map(|e| e.to_string());
                    let _ = done.send(r);
                    if let Some(e) = failed { break format!("failed to send update: {e}"); }
                }
                Some(Command::Close { reset, done }) => {
                    let note = if reset { message::cease_admin_reset() } else { message::cease_admin_shutdown() };
                    let _ = send(&mut conn, note).await;
                    close_ack = Some(done);
                    break if reset { "reset by the harness".into() } else { "closed by the harness".into() };
                }
                // Every Session handle is gone: nobody can observe us any more.
                None => {
                    let _ = send(&mut conn, message::cease_admin_shutdown()).await;
                    break "session handle dropped".into();
                }
            }
        }
    };
    tracing::debug!(peer = %peer.remote_addr, %reason, "bgp session down");
    state.send_modify(|s| {
        s.table.clear();
        s.state = SessionState::Down(reason);
        s.since = Instant::now();
    });
    if let Some(done) = close_ack {
        let _ = done.send(());
    }
}

/// An established session. Dropping it closes the session with a Cease.
#[derive(Debug)]
pub struct Session {
    peer: PeerInfo,
    state: watch::Receiver<Snapshot>,
    cmd: mpsc::Sender<Command>,
    task: JoinHandle<()>,
}

impl Session {
    pub fn peer(&self) -> &PeerInfo {
        &self.peer
    }

    pub fn snapshot(&self) -> Snapshot {
        self.state.borrow().clone()
    }

    /// The routes received so far (empty once the session is down).
    pub fn routes(&self) -> RouteTable {
        self.state.borrow().table.clone()
    }

    pub fn state(&self) -> SessionState {
        self.state.borrow().state.clone()
    }

    /// Waits until `pred` holds for the session's snapshot, or fails after
    /// `timeout` naming `what` and the last table seen.
    pub async fn wait_for<F>(&self, what: &str, timeout: Duration, mut pred: F) -> Result<Snapshot>
    where
        F: FnMut(&Snapshot) -> bool,
    {
        let mut rx = self.state.clone();
        let fut = async {
            loop {
                {
                    let s = rx.borrow_and_update();
                    if pred(&s) {
                        return Some(s.clone());
                    }
                }
                // The sender lives until the task ends; after that the last
                // value is final and waiting longer cannot change it.
                if rx.changed().await.is_err() {
                    let s = rx.borrow();
                    return if pred(&s) { Some(s.clone()) } else { None };
                }
            }
        };
        match tokio::time::timeout(timeout, fut).await {
            Ok(Some(s)) => Ok(s),
            Ok(None) | Err(_) => {
                let s = self.state.borrow();
                let last = match &s.state {
                    SessionState::Established => format!("established, routes: {}", s.table),
                    SessionState::Down(r) => format!("down ({r})"),
                };
                Err(Error::WaitTimeout {
                    what: what.to_string(),
                    timeout,
                    last,
                })
            }
        }
    }

    /// Waits until the received prefixes are exactly `want`.
    pub async fn wait_for_prefixes(&self, want: &[Ipv4Net], timeout: Duration) -> Result<Snapshot> {
        let mut want: Vec<Ipv4Net> = want.iter().map(|p| p.trunc()).collect();
        want.sort();
        want.dedup();
        let what = format!("exactly the prefixes {want:?}");
        self.wait_for(&what, timeout, |s| s.table.prefixes() == want).await
    }

    /// Waits until the session is down (peer loss, hold timer, notification).
    pub async fn wait_down(&self, timeout: Duration) -> Result<Snapshot> {
        self.wait_for("the session to go down", timeout, |s| {
            matches!(s.state, SessionState::Down(_))
        })
        .await
    }

    async fn command(&self, announce: &[Ipv4Net], withdraw: &[Ipv4Net]) -> Result<()> {
        let (done, rx) = oneshot::channel();
        let cmd = Command::Send {
            announce: announce.to_vec(),
            withdraw: withdraw.to_vec(),
            done,
        };
        if self.cmd.send(cmd).await.is_err() {
            return Err(self.down_error());
        }
        rx.await.map_err(|_| self.down_error())?
    }

    fn down_error(&self) -> Error {
        match &self.state.borrow().state {
            SessionState::Down(r) => Error::SessionDown(r.clone()),
            SessionState::Established => Error::SessionDown("session task ended".into()),
        }
    }

    /// Announces `prefixes` with our next hop and AS.
    pub async fn advertise(&self, prefixes: &[Ipv4Net]) -> Result<()> {
        self.command(prefixes, &[]).await
    }

    /// Withdraws `prefixes`.
    pub async fn withdraw(&self, prefixes: &[Ipv4Net]) -> Result<()> {
        self.command(&[], prefixes).await
    }

    /// Sends a Cease NOTIFICATION and waits (bounded) for the task to end.
    pub async fn close(self) {
        self.end(false).await;
    }

    /// Sends Cease / Administrative Reset and closes the connection, the
    /// way `clear bgp` does: the peer is expected to reconnect. Waits
    /// (bounded) for the task to end.
    pub async fn reset(self) {
        self.end(true).await;
    }

    async fn end(self, reset: bool) {
        let (done, rx) = oneshot::channel();
        if self.cmd.send(Command::Close { reset, done }).await.is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(5), rx).await;
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // A Close already ended the task; otherwise the closed channel makes
        // it send a Cease. Abort only as a backstop for a stuck write.
        let task = self.task.abort_handle();
        if tokio::runtime::Handle::try_current().is_ok() {
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(5)).await;
                task.abort();
            });
        } else {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bgp::Config;

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    // Two of our own speakers over loopback: exercises the OPEN exchange,
    // UPDATE both ways and Cease handling without any root privileges.
    #[tokio::test]
    async fn two_speakers_exchange_routes_and_see_close() {
        let lo = Ipv4Addr::LOCALHOST;
        let listener = TcpListener::bind((lo, 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let a = Speaker::new(Config::new(4_200_000_001, Ipv4Addr::new(1, 1, 1, 1), Ipv4Addr::new(10, 0, 0, 1)).with_peer_asn(65000)).unwrap();
        let b = Speaker::new(Config::new(65000, Ipv4Addr::new(2, 2, 2, 2), Ipv4Addr::new(10, 0, 0, 2)).with_hold_time(Duration::from_secs(30))).unwrap();
        let (sa, sb) = tokio::join!(a.accept(&listener), b.connect(addr));
        let (sa, sb) = (sa.unwrap(), sb.unwrap());
        assert_eq!(sa.peer().asn, 65000);
        assert_eq!(sb.peer().asn, 4_200_000_001);
        assert_eq!(sa.peer().hold_time, Duration::from_secs(9));
        assert!(sa.peer().four_octet_as);
        let t = Duration::from_secs(5);
        sb.advertise(&[net("10.5.0.0/24"), net("10.6.0.0/24")]).await.unwrap();
        let snap = sa.wait_for_prefixes(&[net("10.5.0.0/24"), net("10.6.0.0/24")], t).await.unwrap();
        assert_eq!(snap.table.get(&net("10.5.0.0/24")).unwrap().as_path, vec![65000]);
        sb.withdraw(&[net("10.5.0.0/24")]).await.unwrap();
        sa.wait_for_prefixes(&[net("10.6.0.0/24")], t).await.unwrap();
        sa.advertise(&[net("10.7.0.0/24")]).await.unwrap();
        let s = sb.wait_for_prefixes(&[net("10.7.0.0/24")], t).await.unwrap();
        assert_eq!(s.table.get(&net("10.7.0.0/24")).unwrap().as_path, vec![4_200_000_001]);
        sb.close().await;
        let down = sa.wait_down(t).await.unwrap();
        assert!(down.table.is_empty());
        assert!(matches!(down.state, SessionState::Down(ref r) if r.contains("Cease")), "{:?}", down.state);
        assert!(matches!(sa.advertise(&[net("10.8.0.0/24")]).await, Err(Error::SessionDown(_))));
    }

    #[tokio::test]
    async fn wrong_peer_asn_is_refused() {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let a = Speaker::new(Config::new(65001, Ipv4Addr::new(1, 1, 1, 1), Ipv4Addr::LOCALHOST).with_peer_asn(65000)).unwrap();
        let b = Speaker::new(Config::new(65002, Ipv4Addr::new(2, 2, 2, 2), Ipv4Addr::LOCALHOST)).unwrap();
        let (ra, rb) = tokio::join!(a.accept(&listener), b.connect(addr));
        assert!(matches!(ra, Err(Error::Open(ref m)) if m.contains("65002")), "{ra:?}");
        assert!(matches!(rb, Err(Error::Open(ref m)) if m.contains("BadPeerAs")), "{rb:?}");
    }

    #[test]
    fn invalid_hold_time_is_a_config_error() {
        let c = Config::new(65001, Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST).with_hold_time(Duration::from_secs(2));
        assert!(matches!(Speaker::new(c), Err(Error::Config(_))));
    }
}
