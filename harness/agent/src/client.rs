//! `client`: one measurement against an agent server, reported as one
//! `ClientReport`. Every network wait is bounded by --timeout-ms, every loop by
//! --count or --duration-s.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs, UdpSocket};
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};

use crate::report::ClientReport;
use crate::stats::Latency;
use crate::{dns, downtime, http_client, rr};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    Http,
    Tcp,
    Udp,
    Stream,
    Rr,
    Crr,
    Dns,
    Downtime,
}

#[derive(Debug, Args)]
pub struct ClientArgs {
    #[arg(value_enum)]
    pub mode: Mode,
    /// http: the URL (http:// or https://).
    #[arg(long)]
    pub url: Option<String>,
    /// tcp/udp/stream/rr/crr: HOST:PORT of the server; dns: the DNS server (port 53 if omitted).
    #[arg(long)]
    pub target: Option<String>,
    /// dns: the name to resolve.
    #[arg(long)]
    pub name: Option<String>,
    /// dns: record type.
    #[arg(long, value_enum, default_value = "a")]
    pub qtype: dns::QType,
    /// http: request method.
    #[arg(long, default_value = "GET")]
    pub method: String,
    /// http: extra request header "Name: value" (repeatable).
    #[arg(long = "header")]
    pub headers: Vec<String>,
    /// https: accept the server's certificate without verification (it is
    /// still reported). Wins over --ca-file.
    #[arg(long)]
    pub insecure: bool,
    /// https: verify the server's chain and name against the CA
    /// certificates in this PEM file.
    #[arg(long, value_name = "PEM")]
    pub ca_file: Option<std::path::PathBuf>,
    /// http: connect to ADDR when the URL's authority is HOST:PORT; the Host
    /// header and TLS SNI stay the URL's host (repeatable).
    #[arg(long, value_name = "HOST:PORT:ADDR")]
    pub resolve: Vec<String>,
    /// downtime: what one attempt does.
    #[arg(long, value_enum, default_value = "tcp")]
    pub probe: downtime::ProbeKind,
    /// downtime --probe http: request path.
    #[arg(long, default_value = "/")]
    pub path: String,
    /// downtime --probe http: Host header (default: the host of --target).
    #[arg(long)]
    pub host: Option<String>,
    /// downtime: attempts per second.
    #[arg(long, default_value_t = 200.0)]
    pub rate: f64,
    /// Attempts for http/tcp/udp/dns (all must succeed for ok=true).
    #[arg(long, default_value_t = 1)]
    pub count: u32,
    /// Samples for stream/rr/crr, each lasting --duration-s.
    #[arg(long, default_value_t = 1)]
    pub samples: u32,
    /// stream: parallel connections per sample (like `iperf3 -P`); a
    /// sample is their summed goodput.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=128))]
    pub parallel: u32,
    /// Length of one stream/rr/crr sample in seconds; downtime: length of the run.
    #[arg(long, default_value_t = 10.0)]
    pub duration_s: f64,
    /// stream: send exactly this many bytes per sample instead of running
    /// for --duration-s (like `iperf3 -n`).
    #[arg(long)]
    pub bytes: Option<u64>,
    /// Payload bytes: tcp/udp message, stream write buffer, rr/crr request.
    #[arg(long)]
    pub size: Option<u32>,
    /// rr/crr response bytes (default: same as --size).
    #[arg(long)]
    pub resp_size: Option<u32>,
    /// Timeout for each connect, read and write.
    #[arg(long, default_value_t = 2000)]
    pub timeout_ms: u64,
}

const DEFAULT_STREAM_WRITE: u32 = 256 * 1024;

pub fn run(args: &ClientArgs) -> ClientReport {
    let timeout = Duration::from_millis(args.timeout_ms.max(1));
    match args.mode {
        Mode::Http => http_client::run(args, timeout),
        Mode::Tcp => with_target(args, "tcp", |r, addr| run_tcp(args, r, addr, timeout)),
        Mode::Udp => with_target(args, "udp", |r, addr| run_udp(args, r, addr, timeout)),
        Mode::Stream => with_target(args, "stream", |r, addr| run_stream(args, r, addr, timeout)),
        Mode::Rr => with_target(args, "rr", |r, addr| run_rr(args, r, addr, timeout, false)),
        Mode::Crr => with_target(args, "crr", |r, addr| run_rr(args, r, addr, timeout, true)),
        Mode::Dns => run_dns(args, timeout),
        Mode::Downtime => downtime::run(args, timeout),
    }
}

pub(crate) fn resolve(target: &str) -> Result<SocketAddr, String> {
    target
        .to_socket_addrs()
        .map_err(|e| format!("failed to resolve {target:?}: {e}"))?
        .next()
        .ok_or_else(|| format!("failed to resolve {target:?}: no address"))
}

fn with_target(
    args: &ClientArgs,
    mode: &'static str,
    f: impl FnOnce(ClientReport, SocketAddr) -> ClientReport,
) -> ClientReport {
    let Some(target) = &args.target else {
        return ClientReport::new(mode, "").fail(format!("{mode} needs --target HOST:PORT"));
    };
    let report = ClientReport::new(mode, target);
    match resolve(target) {
        Ok(addr) => f(report, addr),
        Err(e) => report.fail(e),
    }
}

pub(crate) fn connect(addr: SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
    let s = TcpStream::connect_timeout(&addr, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    Ok(s)
}

pub(crate) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

pub(crate) fn finish_latencies(
    mut report: ClientReport,
    lat: Vec<f64>,
    started: Instant,
) -> ClientReport {
    report.duration_s = started.elapsed().as_secs_f64();
    report.latency_ms = Latency::from_ms(&lat);
    report.samples = lat;
    report
}

fn payload(size: usize) -> Vec<u8> {
    (0..size).map(|i| (i % 251) as u8).collect()
}

fn run_tcp(
    args: &ClientArgs,
    mut report: ClientReport,
    addr: SocketAddr,
    timeout: Duration,
) -> ClientReport {
    let msg = payload(args.size.unwrap_or(64).max(1) as usize);
    let mut back = vec![0u8; msg.len()];
    let started = Instant::now();
    let mut lat = Vec::new();
    for _ in 0..args.count.max(1) {
        let t0 = Instant::now();
        let result = connect(addr, timeout).and_then(|mut s| {
            s.set_nodelay(true)?;
            s.write_all(&msg)?;
            s.read_exact(&mut back)?;
            Ok(())
        });
        if let Err(e) = result {
            return finish_latencies(report, lat, started)
                .fail(format!("failed tcp echo with {addr}: {e}"));
        }
        if back != msg {
            return finish_latencies(report, lat, started)
                .fail("tcp echo returned different bytes");
        }
        lat.push(ms(t0.elapsed()));
        report.bytes += msg.len() as u64;
    }
    report.ok = true;
    finish_latencies(report, lat, started)
}

fn run_udp(
    args: &ClientArgs,
    mut report: ClientReport,
    addr: SocketAddr,
    timeout: Duration,
) -> ClientReport {
    let bind: SocketAddr = if addr.is_ipv4() {
        SocketAddr::from(([0, 0, 0, 0], 0))
    } else {
        SocketAddr::from(([0u16; 8], 0))
    };
    let sock = match UdpSocket::bind(bind)
        .and_then(|s| s.connect(addr).map(|()| s))
        .and_then(|s| s.set_read_timeout(Some(timeout)).map(|()| s))
    {
        Ok(s) => s,
        Err(e) => return report.fail(format!("failed to open udp socket to {addr}: {e}")),
    };
    let msg = payload(args.size.unwrap_or(64).clamp(1, 65507) as usize);
    let mut back = vec![0u8; 65536];
    let started = Instant::now();
    let mut lat = Vec::new();
    for _ in 0..args.count.max(1) {
        let t0 = Instant::now();
        let result = sock.send(&msg).and_then(|_| sock.recv(&mut back));
        match result {
            Ok(n) if back[..n] == msg[..] => {
                lat.push(ms(t0.elapsed()));
                report.bytes += n as u64;
            }
            Ok(_) => {
                return finish_latencies(report, lat, started)
                    .fail("udp echo returned different bytes");
            }
            Err(e) => {
                return finish_latencies(report, lat, started)
                    .fail(format!("failed udp echo with {addr}: {e}"));
            }
        }
    }
    report.ok = true;
    finish_latencies(report, lat, started)
}

/// Bulk transfer for --duration-s (or exactly --bytes), then half-close and wait for the sink's
/// byte count: goodput is what the server received over the time until its
/// acknowledgement arrived, so buffered-but-undelivered bytes do not count.
fn stream_sample(
    addr: SocketAddr,
    buf: &[u8],
    secs: f64,
    bytes: Option<u64>,
    timeout: Duration,
) -> io::Result<(u64, f64)> {
    let mut s = connect(addr, timeout)?;
    let span = Duration::from_secs_f64(secs.max(0.001));
    let t0 = Instant::now();
    match bytes {
        Some(total) => {
            let mut left = total;
            while left > 0 {
                let n = left.min(buf.len() as u64) as usize;
                s.write_all(&buf[..n])?;
                left -= n as u64;
            }
        }
        None => {
            while t0.elapsed() < span {
                s.write_all(buf)?;
            }
        }
    }
    s.shutdown(std::net::Shutdown::Write)?;
    let mut ack = [0u8; 8];
    s.read_exact(&mut ack)?;
    let elapsed = t0.elapsed().as_secs_f64();
    Ok((u64::from_be_bytes(ack), elapsed))
}

/// One sample over `--parallel` connections started together. The bytes
/// are summed and divided by the slowest connection's time, so a stream
/// that finishes early cannot inflate the aggregate.
fn parallel_sample(addr: SocketAddr, buf: &[u8], args: &ClientArgs, timeout: Duration) -> io::Result<(u64, f64)> {
    if args.parallel <= 1 {
        return stream_sample(addr, buf, args.duration_s, args.bytes, timeout);
    }
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..args.parallel)
            .map(|_| scope.spawn(|| stream_sample(addr, buf, args.duration_s, args.bytes, timeout)))
            .collect();
        let mut total = 0u64;
        let mut slowest = 0.0f64;
        let mut first_err = None;
        for w in workers {
            match w.join() {
                Ok(Ok((bytes, secs))) => {
                    total += bytes;
                    slowest = slowest.max(secs);
                }
                Ok(Err(e)) => first_err = first_err.or(Some(e)),
                Err(_) => first_err = first_err.or_else(|| Some(io::Error::other("a stream worker panicked"))),
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok((total, slowest.max(f64::MIN_POSITIVE))),
        }
    })
}

fn run_stream(
    args: &ClientArgs,
    mut report: ClientReport,
    addr: SocketAddr,
    timeout: Duration,
) -> ClientReport {
    let buf = payload(args.size.unwrap_or(DEFAULT_STREAM_WRITE).max(1) as usize);
    let started = Instant::now();
    for _ in 0..args.samples.max(1) {
        match parallel_sample(addr, &buf, args, timeout) {
            Ok((bytes, secs)) => {
                report.bytes += bytes;
                report.samples.push(bytes as f64 * 8.0 / secs / 1e9);
            }
            Err(e) => {
                report.duration_s = started.elapsed().as_secs_f64();
                return report.fail(format!("failed stream to {addr}: {e}"));
            }
        }
    }
    report.duration_s = started.elapsed().as_secs_f64();
    report.throughput_gbps = Some(mean(&report.samples));
    report.ok = true;
    report
}

fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        0.0
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

fn open_rr(addr: SocketAddr, timeout: Duration, req: u32, resp: u32) -> io::Result<TcpStream> {
    let mut s = connect(addr, timeout)?;
    s.set_nodelay(true)?;
    s.write_all(&rr::header(req, resp))?;
    Ok(s)
}

fn run_rr(
    args: &ClientArgs,
    mut report: ClientReport,
    addr: SocketAddr,
    timeout: Duration,
    per_connection: bool,
) -> ClientReport {
    let req = args.size.unwrap_or(1).clamp(1, rr::MAX_MSG);
    let resp = args.resp_size.unwrap_or(req).min(rr::MAX_MSG);
    let out = payload(req as usize);
    let mut inbuf = vec![0u8; resp as usize];
    let span = Duration::from_secs_f64(args.duration_s.max(0.001));
    let started = Instant::now();
    let mut lat = Vec::new();
    let mut rates = Vec::new();
    for _ in 0..args.samples.max(1) {
        let t0 = Instant::now();
        let mut n: u64 = 0;
        let result: io::Result<()> = (|| {
            let mut conn = if per_connection {
                None
            } else {
                Some(open_rr(addr, timeout, req, resp)?)
            };
            while t0.elapsed() < span {
                let t = Instant::now();
                let mut fresh;
                let s = match conn.as_mut() {
                    Some(s) => s,
                    None => {
                        fresh = open_rr(addr, timeout, req, resp)?;
                        &mut fresh
                    }
                };
                s.write_all(&out)?;
                s.read_exact(&mut inbuf)?;
                lat.push(ms(t.elapsed()));
                n += 1;
            }
            Ok(())
        })();
        let elapsed = t0.elapsed().as_secs_f64();
        report.bytes += n * u64::from(req + resp);
        if let Err(e) = result {
            return finish_latencies(report, lat, started)
                .fail(format!("failed rr with {addr}: {e}"));
        }
        rates.push(n as f64 / elapsed);
    }
    let rate = mean(&rates);
    if per_connection {
        report.connections_per_s = Some(rate);
    } else {
        report.transactions_per_s = Some(rate);
    }
    report.ok = true;
    report.duration_s = started.elapsed().as_secs_f64();
    report.latency_ms = Latency::from_ms(&lat);
    report.samples = rates;
    report
}

fn run_dns(args: &ClientArgs, timeout: Duration) -> ClientReport {
    let Some(server) = &args.target else {
        return ClientReport::new("dns", "").fail("dns needs --target SERVER[:PORT]");
    };
    let report = ClientReport::new("dns", server);
    let Some(name) = &args.name else {
        return report.fail("dns needs --name");
    };
    let with_port = if server.parse::<std::net::IpAddr>().is_ok() {
        format!("{server}:53")
    } else {
        server.clone()
    };
    let addr = match resolve(&with_port) {
        Ok(a) => a,
        Err(e) => return report.fail(e),
    };
    let mut report = report;
    let started = Instant::now();
    let mut lat = Vec::new();
    for attempt in 0..args.count.max(1) {
        let t0 = Instant::now();
        match dns::query(addr, name, args.qtype, timeout, attempt as u16) {
            Ok(answer) => {
                lat.push(ms(t0.elapsed()));
                report.status = Some(answer.rcode);
                report.answers = answer.addresses;
                report.bytes += answer.bytes as u64;
            }
            Err(e) => {
                return finish_latencies(report, lat, started)
                    .fail(format!("failed dns query to {addr}: {e}"));
            }
        }
    }
    report.ok = true;
    finish_latencies(report, lat, started)
}
