//! `client http`: one or more GETs (or --method) against an http:// or
//! https:// URL. `--resolve HOST:PORT:ADDR` pins where a URL's authority
//! connects without touching the Host header or SNI (like curl), so a
//! gateway can be tested by name before DNS points at it. Redirects are
//! reported, never followed.

use std::collections::BTreeMap;
use std::io::{self, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::certinfo::{self, TlsInfo};
use crate::client::{ClientArgs, connect, finish_latencies, ms, resolve};
use crate::http;
use crate::report::ClientReport;
use crate::tls::{self, PeerRecorder};

/// Bodies are reported up to this size.
const SHOWN_BODY: usize = 64 * 1024;

/// One `--resolve` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolveOverride {
    pub host: String,
    pub port: u16,
    pub addr: IpAddr,
}

/// Parses `HOST:PORT:ADDR`; HOST and ADDR may be bracketed IPv6.
pub fn parse_resolve(s: &str) -> Result<ResolveOverride, String> {
    let bad = |why: &str| format!("bad --resolve {s:?}: {why} (expected HOST:PORT:ADDR)");
    let (host, rest) = match s.strip_prefix('[') {
        Some(r) => {
            let (h, after) = r.split_once(']').ok_or_else(|| bad("unclosed '['"))?;
            (h, after.strip_prefix(':').ok_or_else(|| bad("no port"))?)
        }
        None => s.split_once(':').ok_or_else(|| bad("no port"))?,
    };
    let (port, addr) = rest.split_once(':').ok_or_else(|| bad("no address"))?;
    if host.is_empty() {
        return Err(bad("empty host"));
    }
    let port = port.parse::<u16>().map_err(|_| bad("bad port"))?;
    let addr = addr
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
        .map_err(|_| bad("address is not an IP address"))?;
    Ok(ResolveOverride {
        host: host.to_string(),
        port,
        addr,
    })
}

/// The response of one exchange.
struct Response {
    status: u16,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

struct Tls {
    config: Arc<rustls::ClientConfig>,
    recorder: Arc<PeerRecorder>,
    name: rustls::pki_types::ServerName<'static>,
}

pub fn run(args: &ClientArgs, timeout: Duration) -> ClientReport {
    let Some(url) = &args.url else {
        return ClientReport::new("http", "").fail("http needs --url");
    };
    let mut report = ClientReport::new("http", url);
    let parsed = match http::parse_url(url) {
        Ok(u) => u,
        Err(e) => return report.fail(e),
    };
    let overrides = match args
        .resolve
        .iter()
        .map(|r| parse_resolve(r))
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(o) => o,
        Err(e) => return report.fail(e),
    };
    let tls = if parsed.tls {
        if !args.insecure && args.ca_file.is_none() {
            return report.fail(
                "https needs --ca-file PEM (verify) or --insecure: the agent carries no trust store",
            );
        }
        // --insecure wins over --ca-file: it is the explicit "do not verify".
        let ca = if args.insecure {
            None
        } else {
            args.ca_file.as_deref()
        };
        let (config, recorder) = match tls::client_config(ca) {
            Ok(c) => c,
            Err(e) => return report.fail(e),
        };
        let name = match rustls::pki_types::ServerName::try_from(parsed.host.clone()) {
            Ok(n) => n,
            Err(e) => return report.fail(format!("bad tls server name {:?}: {e}", parsed.host)),
        };
        Some(Tls {
            config,
            recorder,
            name,
        })
    } else {
        None
    };
    let pinned = overrides
        .iter()
        .find(|o| o.port == parsed.port && o.host.eq_ignore_ascii_case(&parsed.host));
    let addr = match pinned {
        Some(o) => SocketAddr::new(o.addr, o.port),
        None => match resolve(&format!("{}:{}", parsed.host, parsed.port)) {
            Ok(a) => a,
            Err(e) => return report.fail(e),
        },
    };
    let request = match build_request(args, &parsed) {
        Ok(r) => r,
        Err(e) => return report.fail(e),
    };

    let started = Instant::now();
    let mut lat = Vec::new();
    for _ in 0..args.count.max(1) {
        // tls and headers describe the last attempt only, even when it failed.
        report.tls = None;
        report.headers = None;
        let t0 = Instant::now();
        let result = connect(addr, timeout).and_then(|s| match &tls {
            Some(t) => {
                let conn = rustls::ClientConnection::new(Arc::clone(&t.config), t.name.clone())
                    .map_err(io::Error::other)?;
                let mut stream = rustls::StreamOwned::new(conn, s);
                let result = exchange(&mut stream, request.as_bytes());
                report.tls = tls_info(t, &stream.conn);
                result
            }
            None => exchange(s, request.as_bytes()),
        });
        match result {
            Ok(resp) => {
                lat.push(ms(t0.elapsed()));
                report.status = Some(resp.status);
                report.headers = Some(resp.headers);
                report.bytes += resp.body.len() as u64;
                let shown = &resp.body[..resp.body.len().min(SHOWN_BODY)];
                report.body = Some(String::from_utf8_lossy(shown).into_owned());
            }
            Err(e) => {
                return finish_latencies(report, lat, started)
                    .fail(format!("failed http exchange with {url} ({addr}): {e}"));
            }
        }
    }
    report.ok = true;
    finish_latencies(report, lat, started)
}

fn build_request(args: &ClientArgs, url: &http::Url) -> Result<String, String> {
    let has_host = args.headers.iter().any(|h| {
        h.split_once(':')
            .is_some_and(|(k, _)| k.trim().eq_ignore_ascii_case("host"))
    });
    let mut request = format!("{} {} HTTP/1.1\r\n", args.method, url.path);
    // A --header "Host: …" replaces the URL's host (virtual-host tests).
    if !has_host {
        request.push_str(&format!("Host: {}\r\n", url.host));
    }
    request.push_str("User-Agent: infraflux-agent\r\nConnection: close\r\n");
    for h in &args.headers {
        if !h.contains(':') {
            return Err(format!("bad --header {h:?}: expected \"Name: value\""));
        }
        request.push_str(h);
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    Ok(request)
}

/// The `tls` field for one attempt: present once the server showed a
/// certificate, also when verifying it failed (then `verified: false`).
fn tls_info(t: &Tls, conn: &rustls::ClientConnection) -> Option<TlsInfo> {
    let leaf = t.recorder.take_leaf()?;
    let sni = match &t.name {
        rustls::pki_types::ServerName::DnsName(d) => Some(d.as_ref().to_string()),
        _ => None,
    };
    let names = certinfo::names(leaf.as_ref()).unwrap_or_else(|e| certinfo::CertNames {
        sans: Vec::new(),
        subject: e.clone(),
        issuer: e,
    });
    Some(TlsInfo {
        version: conn.protocol_version().map(|v| format!("{v:?}")),
        sni,
        peer_sans: names.sans,
        peer_subject: names.subject,
        peer_issuer: names.issuer,
        // A finished handshake means the verifier accepted the chain.
        verified: t.recorder.verifies() && !conn.is_handshaking(),
    })
}

fn exchange<S: Read + Write>(mut s: S, request: &[u8]) -> io::Result<Response> {
    s.write_all(request)?;
    s.flush()?;
    let mut r = BufReader::new(s);
    let head = http::read_head(&mut r)?
        .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "no response"))?;
    let status = head
        .start
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse::<u16>().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "bad status line"))?;
    let mut body = Vec::new();
    match head.content_length()? {
        Some(n) => {
            (&mut r).take(n).read_to_end(&mut body)?;
            if (body.len() as u64) < n {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "short body"));
            }
        }
        None => match r.read_to_end(&mut body) {
            Ok(_) => {}
            // A TLS peer that closes without close_notify still sent a full
            // body when it framed it by connection close.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {}
            Err(e) => return Err(e),
        },
    }
    Ok(Response {
        status,
        headers: http::header_map(&head.headers),
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_resolve_entries() {
        assert_eq!(
            parse_resolve("app.test:443:10.0.0.2").unwrap(),
            ResolveOverride {
                host: "app.test".into(),
                port: 443,
                addr: "10.0.0.2".parse().unwrap()
            }
        );
        let v6 = parse_resolve("[fd00::1]:8443:[fd00::2]").unwrap();
        assert_eq!(v6.host, "fd00::1");
        assert_eq!(v6.addr, "fd00::2".parse::<IpAddr>().unwrap());
        assert_eq!(
            parse_resolve("a:1:fd00::3").unwrap().addr,
            "fd00::3".parse::<IpAddr>().unwrap()
        );
        for bad in [
            "a",
            "a:443",
            "a:x:1.2.3.4",
            ":443:1.2.3.4",
            "a:443:host.name",
        ] {
            assert!(parse_resolve(bad).is_err(), "{bad}");
        }
    }
}
