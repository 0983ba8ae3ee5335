//! Minimal HTTP/1.1: the echo server (reflects the request as JSON) and the
//! request/response parsing the `client http|https` mode needs. Only what a
//! probe needs: Content-Length bodies, keep-alive, no chunked requests.

use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;

use serde::Serialize;

/// Caps on what a peer may make us buffer.
const MAX_HEAD: usize = 64 * 1024;
const MAX_BODY: u64 = 16 << 20;

/// What the echo server answers; field names are part of the agent's contract.
#[derive(Debug, Serialize)]
pub struct Echo {
    pub method: String,
    pub path: String,
    pub version: String,
    /// Lowercased header names; repeated headers joined with ", ".
    pub headers: BTreeMap<String, String>,
    pub client_ip: String,
    pub client_port: u16,
    pub server_ip: String,
    pub server_port: u16,
    pub tls: bool,
    pub hostname: String,
    pub body_bytes: u64,
}

pub struct Head {
    pub start: String,
    pub headers: Vec<(String, String)>,
}

impl Head {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn content_length(&self) -> io::Result<Option<u64>> {
        match self.header("content-length") {
            None => Ok(None),
            Some(v) => v
                .trim()
                .parse::<u64>()
                .map(Some)
                .map_err(|_| invalid("bad content-length")),
        }
    }
}

fn invalid(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_string())
}

/// Reads a start line plus headers. `Ok(None)` is a clean EOF before any byte.
pub fn read_head<R: BufRead>(r: &mut R) -> io::Result<Option<Head>> {
    let mut total = 0usize;
    let mut line = Vec::new();
    let mut start = None;
    let mut headers = Vec::new();
    loop {
        line.clear();
        let n = r
            .take((MAX_HEAD - total + 1) as u64)
            .read_until(b'\n', &mut line)?;
        if n == 0 {
            return if start.is_none() && total == 0 {
                Ok(None)
            } else {
                Err(invalid("connection closed inside the header"))
            };
        }
        total += n;
        if total > MAX_HEAD {
            return Err(invalid("header too large"));
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\r', '\n']);
        if start.is_none() {
            start = Some(text.to_string());
            continue;
        }
        if text.is_empty() {
            break;
        }
        let (k, v) = text
            .split_once(':')
            .ok_or_else(|| invalid("malformed header line"))?;
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    Ok(Some(Head {
        start: start.unwrap_or_default(),
        headers,
    }))
}

/// Lowercased names; repeated headers joined with ", " (one JSON object).
pub fn header_map(headers: &[(String, String)]) -> BTreeMap<String, String> {
    let mut map: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in headers {
        map.entry(k.to_ascii_lowercase())
            .and_modify(|e| {
                e.push_str(", ");
                e.push_str(v);
            })
            .or_insert_with(|| v.clone());
    }
    map
}

pub fn reason(code: u16) -> &'static str {
    match code {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

pub struct Peer {
    pub client: SocketAddr,
    pub server: SocketAddr,
    pub tls: bool,
}

pub fn serve_plain(stream: TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let peer = Peer {
        client: stream.peer_addr()?,
        server: stream.local_addr()?,
        tls: false,
    };
    handle(stream, &peer)
}

pub fn serve_tls(stream: TcpStream, config: Arc<rustls::ServerConfig>) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let peer = Peer {
        client: stream.peer_addr()?,
        server: stream.local_addr()?,
        tls: true,
    };
    let conn = rustls::ServerConnection::new(config).map_err(io::Error::other)?;
    let mut tls = rustls::StreamOwned::new(conn, stream);
    let result = handle(&mut tls, &peer);
    // A close_notify lets clients that read to EOF tell a clean end from a cut.
    tls.conn.send_close_notify();
    let _ = tls.flush();
    result
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default()
}

fn handle<S: Read + Write>(stream: S, peer: &Peer) -> io::Result<()> {
    let mut reader = BufReader::new(stream);
    let host = hostname();
    loop {
        let Some(head) = read_head(&mut reader)? else {
            return Ok(());
        };
        let mut parts = head.start.split_whitespace();
        let (Some(method), Some(path), Some(version)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid("malformed request line"));
        };
        let body_len = head.content_length()?.unwrap_or(0);
        if body_len > MAX_BODY {
            return Err(invalid("request body too large"));
        }
        io::copy(&mut (&mut reader).take(body_len), &mut io::sink())?;

        let headers = header_map(&head.headers);
        let close = match headers.get("connection") {
            Some(c) => c.eq_ignore_ascii_case("close"),
            None => version == "HTTP/1.0",
        };
        // `/status/NNN` lets L7 tests ask for a specific code.
        let code = path
            .strip_prefix("/status/")
            .and_then(|c| c.split(['?', '/']).next())
            .and_then(|c| c.parse::<u16>().ok())
            .filter(|c| (200..=599).contains(c))
            .unwrap_or(200);
        let echo = Echo {
            method: method.to_string(),
            path: path.to_string(),
            version: version.to_string(),
            headers,
            client_ip: peer.client.ip().to_string(),
            client_port: peer.client.port(),
            server_ip: peer.server.ip().to_string(),
            server_port: peer.server.port(),
            tls: peer.tls,
            hostname: host.clone(),
            body_bytes: body_len,
        };
        // A redirect points at the same host and path over https (what an
        // HTTP-to-HTTPS redirect looks like), so clients can check it.
        let location = if (300..400).contains(&code) {
            match echo.headers.get("host") {
                Some(h) => format!("Location: https://{h}{path}\r\n"),
                None => "Location: /\r\n".to_string(),
            }
        } else {
            String::new()
        };
        let body = serde_json::to_vec(&echo).map_err(io::Error::other)?;
        let mut out = Vec::with_capacity(body.len() + 160);
        write!(
            out,
            "HTTP/1.1 {code} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{location}Connection: {}\r\n\r\n",
            reason(code),
            body.len(),
            if close { "close" } else { "keep-alive" }
        )?;
        out.extend_from_slice(&body);
        let w = reader.get_mut();
        w.write_all(&out)?;
        w.flush()?;
        if close {
            return Ok(());
        }
    }
}

/// A parsed `http://` or `https://` URL; hosts are kept as text so names
/// resolve through the system resolver (cluster DNS in a pod).
#[derive(Debug, PartialEq)]
pub struct Url {
    pub tls: bool,
    pub host: String,
    pub port: u16,
    pub path: String,
}

pub fn parse_url(url: &str) -> Result<Url, String> {
    let (tls, rest) = if let Some(r) = url.strip_prefix("http://") {
        (false, r)
    } else if let Some(r) = url.strip_prefix("https://") {
        (true, r)
    } else {
        return Err(format!(
            "unsupported url {url:?}: expected http:// or https://"
        ));
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let default_port = if tls { 443 } else { 80 };
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or_else(|| format!("bad IPv6 host in {url:?}"))?;
        match after.strip_prefix(':') {
            Some(p) => (h, p.parse().map_err(|_| format!("bad port in {url:?}"))?),
            None => (h, default_port),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, p.parse().map_err(|_| format!("bad port in {url:?}"))?),
            None => (authority, default_port),
        }
    };
    if host.is_empty() {
        return Err(format!("missing host in {url:?}"));
    }
    Ok(Url {
        tls,
        host: host.to_string(),
        port,
        path: path.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        assert_eq!(
            parse_url("http://10.0.0.1:8080/a?b=c").unwrap(),
            Url {
                tls: false,
                host: "10.0.0.1".into(),
                port: 8080,
                path: "/a?b=c".into()
            }
        );
        assert_eq!(parse_url("https://echo").unwrap().port, 443);
        assert_eq!(parse_url("http://[::1]:81/").unwrap().host, "::1");
        assert!(parse_url("ftp://x").is_err());
        assert!(parse_url("http://:80/").is_err());
    }

    #[test]
    fn reads_head_and_rejects_garbage() {
        let mut r = io::Cursor::new(b"GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n\r\n".to_vec());
        let h = read_head(&mut r).unwrap().unwrap();
        assert_eq!(h.start, "GET / HTTP/1.1");
        assert_eq!(h.header("x-a"), Some("1"));
        let mut bad = io::Cursor::new(b"GET / HTTP/1.1\r\nnocolon\r\n\r\n".to_vec());
        assert!(read_head(&mut bad).is_err());
        let mut empty = io::Cursor::new(Vec::new());
        assert!(read_head(&mut empty).unwrap().is_none());
    }
}
