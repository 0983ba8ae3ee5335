//! The harness's own BGP-4 speaker and route collector.
//!
//! In the BGP suite the harness plays the external router that Cilium's BGP
//! control plane peers with, so it needs a speaker it fully controls: one
//! that records exactly which prefixes the peer announced (prefix, next hop,
//! AS path), can announce and withdraw prefixes itself, and notices a dead
//! peer through the hold timer. Message encoding and decoding use the
//! maintained `netgauze-bgp-pkt` codec; the session state machine (OPEN
//! exchange, KEEPALIVE, hold timer, NOTIFICATION) and the route table live
//! here.
//!
//! Scope: one IPv4 unicast session per [`Session`] (RFC 4271 with 4-octet
//! AS numbers, RFC 6793, and MP-BGP capability for IPv4 unicast, RFC 4760).
//! No ADD-PATH, no graceful restart, no route refresh, no IPv6 families:
//! a prefix maps to the single path the peer last announced for it.

mod message;
mod session;
mod table;

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

pub use session::{PeerInfo, Session, SessionState, Snapshot, Speaker};
pub use table::{Origin, Route, RouteTable, next_hops};

/// Settings of our side of a session.
#[derive(Debug, Clone)]
pub struct Config {
    /// Our AS number (4-octet capable; AS_TRANS goes in the 2-octet field).
    pub local_asn: u32,
    /// Our BGP identifier.
    pub router_id: Ipv4Addr,
    /// Hold time we propose; the session uses the smaller of both proposals.
    /// Zero disables keepalives and the hold timer (RFC 4271 4.2).
    pub hold_time: Duration,
    /// When set, an OPEN from any other AS is refused with "Bad Peer AS".
    pub peer_asn: Option<u32>,
    /// NEXT_HOP we put on prefixes we advertise.
    pub next_hop: Ipv4Addr,
    /// Limit for TCP connect/accept and for the OPEN exchange.
    pub open_timeout: Duration,
}

impl Config {
    /// A config with the usual lab timers: 9 s hold time (3 s keepalive), 30 s open timeout.
    pub fn new(local_asn: u32, router_id: Ipv4Addr, next_hop: Ipv4Addr) -> Self {
        Config {
            local_asn,
            router_id,
            hold_time: Duration::from_secs(9),
            peer_asn: None,
            next_hop,
            open_timeout: Duration::from_secs(30),
        }
    }

    /// Requires the peer to open with this AS number.
    pub fn with_peer_asn(mut self, asn: u32) -> Self {
        self.peer_asn = Some(asn);
        self
    }

    /// Proposes this hold time (0 or at least 3 s, whole seconds).
    pub fn with_hold_time(mut self, hold: Duration) -> Self {
        self.hold_time = hold;
        self
    }
}

/// Errors of the BGP speaker.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid bgp config: {0}")]
    Config(String),
    #[error("failed to connect to bgp peer {addr}")]
    Connect {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("timed out after {timeout:?} connecting to bgp peer {addr}")]
    ConnectTimeout { addr: SocketAddr, timeout: Duration },
    #[error("failed to accept a bgp connection")]
    Accept(#[source] std::io::Error),
    #[error("timed out after {0:?} waiting for a bgp peer to connect")]
    AcceptTimeout(Duration),
    #[error("failed to use the bgp connection")]
    Io(#[source] std::io::Error),
    #[error("failed to decode a message from the bgp peer: {0}")]
    Decode(String),
    #[error("failed to encode a bgp message: {0}")]
    Encode(String),
    #[error("failed to open the bgp session: {0}")]
    Open(String),
    #[error("timed out after {0:?} in the bgp open exchange")]
    OpenTimeout(Duration),
    #[error("bgp session is down: {0}")]
    SessionDown(String),
    #[error("timed out after {timeout:?} waiting for {what}; last state: {last}")]
    WaitTimeout {
        what: String,
        timeout: Duration,
        last: String,
    },
    #[error("prefix {0} is not a valid ipv4 unicast prefix")]
    InvalidPrefix(ipnet::Ipv4Net),
}

/// Result alias for this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;
