//! `serve`: binds every requested listener first (so a bad port fails fast
//! with a clear error), prints one `ready` JSON line, then serves each
//! connection on its own thread.

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use clap::Args;
use serde::Serialize;

use crate::{dns, http, rr, tls};

/// Bulk buffers are allocated once per connection; 1 MiB keeps the number of
/// syscalls per gigabyte low on the stream path.
pub const STREAM_BUF: usize = 1 << 20;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to bind every listener to.
    #[arg(long, default_value = "0.0.0.0")]
    pub bind: IpAddr,
    /// HTTP echo server port (reflects method, path, headers, peer as JSON).
    #[arg(long)]
    pub http: Option<u16>,
    /// HTTPS echo server port (self-signed certificate made at start, or --tls-cert).
    #[arg(long)]
    pub https: Option<u16>,
    /// Extra DNS names for the self-signed certificate (localhost is always in).
    #[arg(long = "tls-san", value_delimiter = ',')]
    pub tls_san: Vec<String>,
    /// PEM certificate chain (leaf first) for --https instead of the
    /// self-signed one; needs --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<std::path::PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) for --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<std::path::PathBuf>,
    /// TCP echo port (used by `client tcp` and `client downtime --probe tcp`).
    #[arg(long)]
    pub tcp_echo: Option<u16>,
    /// TCP sink port: counts bytes until EOF, then answers the count (used by `client stream`).
    #[arg(long)]
    pub tcp_sink: Option<u16>,
    /// UDP echo port (used by `client udp`).
    #[arg(long)]
    pub udp_echo: Option<u16>,
    /// UDP sink port: discards datagrams.
    #[arg(long)]
    pub udp_sink: Option<u16>,
    /// Request/response port (used by `client rr` and `client crr`).
    #[arg(long)]
    pub rr: Option<u16>,
    /// UDP DNS server port answering from --dns-record entries (NXDOMAIN otherwise).
    #[arg(long)]
    pub dns: Option<u16>,
    /// A record for --dns: NAME=IPV4 (repeatable or comma-separated).
    #[arg(long = "dns-record", value_delimiter = ',')]
    pub dns_records: Vec<String>,
    /// Exit after this many seconds (default: run until killed).
    #[arg(long)]
    pub duration_s: Option<f64>,
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(
        "no listener requested (give at least one of --http, --https, --tcp-echo, --tcp-sink, --udp-echo, --udp-sink, --rr, --dns)"
    )]
    NothingToServe,
    #[error("failed to bind {kind} listener on {addr}: {source}")]
    Bind {
        kind: &'static str,
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error("{0}")]
    DnsRecord(String),
    #[error("failed to write the ready line: {0}")]
    Ready(#[source] io::Error),
}

#[derive(Serialize)]
struct Ready<'a> {
    ready: bool,
    pid: u32,
    listeners: Vec<ListenerInfo<'a>>,
}

#[derive(Serialize)]
struct ListenerInfo<'a> {
    kind: &'a str,
    addr: String,
}

enum Listener {
    Tcp(&'static str, TcpListener),
    Udp(&'static str, UdpSocket),
}

pub fn run(args: &ServeArgs) -> Result<(), ServeError> {
    let mut listeners = Vec::new();
    let tcp = |kind: &'static str, port: u16| {
        let addr = SocketAddr::new(args.bind, port);
        TcpListener::bind(addr)
            .map(|l| Listener::Tcp(kind, l))
            .map_err(|source| ServeError::Bind { kind, addr, source })
    };
    let udp = |kind: &'static str, port: u16| {
        let addr = SocketAddr::new(args.bind, port);
        UdpSocket::bind(addr)
            .map(|s| Listener::Udp(kind, s))
            .map_err(|source| ServeError::Bind { kind, addr, source })
    };
    if let Some(p) = args.http {
        listeners.push(tcp("http", p)?);
    }
    if let Some(p) = args.https {
        listeners.push(tcp("https", p)?);
    }
    if let Some(p) = args.tcp_echo {
        listeners.push(tcp("tcp-echo", p)?);
    }
    if let Some(p) = args.tcp_sink {
        listeners.push(tcp("tcp-sink", p)?);
    }
    if let Some(p) = args.rr {
        listeners.push(tcp("rr", p)?);
    }
    if let Some(p) = args.udp_echo {
        listeners.push(udp("udp-echo", p)?);
    }
    if let Some(p) = args.udp_sink {
        listeners.push(udp("udp-sink", p)?);
    }
    if let Some(p) = args.dns {
        listeners.push(udp("dns", p)?);
    }
    let records: std::collections::BTreeMap<String, std::net::Ipv4Addr> = args
        .dns_records
        .iter()
        .map(|r| dns::parse_record(r))
        .collect::<Result<_, _>>()
        .map_err(ServeError::DnsRecord)?;
    let records = Arc::new(records);
    if listeners.is_empty() {
        return Err(ServeError::NothingToServe);
    }
    let tls_config = match (args.https, &args.tls_cert, &args.tls_key) {
        (None, _, _) => None,
        (Some(_), Some(cert), Some(key)) => Some(tls::server_config_from_files(cert, key)?),
        (Some(_), _, _) => Some(tls::server_config(&args.tls_san)?),
    };

    let ready = Ready {
        ready: true,
        pid: std::process::id(),
        listeners: listeners
            .iter()
            .map(|l| match l {
                Listener::Tcp(kind, l) => ListenerInfo {
                    kind,
                    addr: l.local_addr().map(|a| a.to_string()).unwrap_or_default(),
                },
                Listener::Udp(kind, s) => ListenerInfo {
                    kind,
                    addr: s.local_addr().map(|a| a.to_string()).unwrap_or_default(),
                },
            })
            .collect(),
    };
    let line = serde_json::to_string(&ready).map_err(|e| ServeError::Ready(e.into()))?;
    let mut out = io::stdout().lock();
    writeln!(out, "{line}")
        .and_then(|()| out.flush())
        .map_err(ServeError::Ready)?;
    drop(out);

    for listener in listeners {
        let tls_config = tls_config.clone();
        let records = Arc::clone(&records);
        thread::spawn(move || match listener {
            Listener::Tcp(kind, l) => accept_loop(kind, l, tls_config),
            Listener::Udp("udp-echo", s) => udp_echo(&s),
            Listener::Udp("dns", s) => dns::serve(&s, &records),
            Listener::Udp(_, s) => udp_sink(&s),
        });
    }
    match args.duration_s {
        Some(secs) => thread::sleep(Duration::from_secs_f64(secs.max(0.0))),
        None => loop {
            thread::park();
        },
    }
    Ok(())
}

fn accept_loop(kind: &'static str, listener: TcpListener, tls: Option<Arc<rustls::ServerConfig>>) {
    for conn in listener.incoming() {
        let Ok(stream) = conn else { continue };
        let tls = tls.clone();
        thread::spawn(move || {
            // Per-connection errors (peer resets, killed clients) are the
            // normal end of a connection for a probe server; nothing to report.
            let _ = match kind {
                "http" => http::serve_plain(stream),
                "https" => match tls {
                    Some(cfg) => http::serve_tls(stream, cfg),
                    None => Ok(()),
                },
                "tcp-echo" => tcp_echo(stream),
                "tcp-sink" => tcp_sink(stream),
                _ => rr::serve(stream),
            };
        });
    }
}

fn tcp_echo(mut stream: TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        stream.write_all(&buf[..n])?;
    }
}

/// Counts bytes until the client half-closes, then answers the total as a
/// big-endian u64 so the client can compute goodput from what arrived.
fn tcp_sink(mut stream: TcpStream) -> io::Result<()> {
    let mut buf = vec![0u8; STREAM_BUF];
    let mut total: u64 = 0;
    loop {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        total += n as u64;
    }
    stream.write_all(&total.to_be_bytes())?;
    stream.flush()
}

fn udp_echo(sock: &UdpSocket) {
    let mut buf = vec![0u8; 65536];
    loop {
        if let Ok((n, peer)) = sock.recv_from(&mut buf) {
            let _ = sock.send_to(&buf[..n], peer);
        }
    }
}

fn udp_sink(sock: &UdpSocket) {
    let mut buf = vec![0u8; 65536];
    loop {
        let _ = sock.recv_from(&mut buf);
    }
}
