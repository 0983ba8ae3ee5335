//! A single DNS question over UDP, enough to check that cluster DNS answers
//! (and, under FQDN policy, whether it is allowed to).

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::ValueEnum;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum QType {
    A,
    Aaaa,
}

impl QType {
    fn code(self) -> u16 {
        match self {
            QType::A => 1,
            QType::Aaaa => 28,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    #[error("invalid name {0:?}")]
    BadName(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("malformed response: {0}")]
    Malformed(&'static str),
}

pub struct Answer {
    pub rcode: u16,
    pub addresses: Vec<String>,
    pub bytes: usize,
}

pub fn encode_query(id: u16, name: &str, qtype: QType) -> Result<Vec<u8>, DnsError> {
    let mut q = Vec::with_capacity(32 + name.len());
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    let trimmed = name.trim_end_matches('.');
    if trimmed.is_empty() || trimmed.len() > 253 {
        return Err(DnsError::BadName(name.to_string()));
    }
    for label in trimmed.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(DnsError::BadName(name.to_string()));
        }
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&qtype.code().to_be_bytes());
    q.extend_from_slice(&1u16.to_be_bytes());
    Ok(q)
}

fn skip_name(msg: &[u8], mut i: usize) -> Result<usize, DnsError> {
    loop {
        let len = *msg.get(i).ok_or(DnsError::Malformed("truncated name"))?;
        match len {
            0 => return Ok(i + 1),
            l if l & 0xC0 == 0xC0 => return Ok(i + 2),
            l => i += 1 + l as usize,
        }
    }
}

fn u16_at(msg: &[u8], i: usize) -> Result<u16, DnsError> {
    match msg.get(i..i + 2) {
        Some(b) => Ok(u16::from_be_bytes([b[0], b[1]])),
        None => Err(DnsError::Malformed("truncated record")),
    }
}

pub fn decode_response(id: u16, msg: &[u8]) -> Result<Answer, DnsError> {
    if msg.len() < 12 {
        return Err(DnsError::Malformed("short header"));
    }
    if u16_at(msg, 0)? != id {
        return Err(DnsError::Malformed("id mismatch"));
    }
    let flags = u16_at(msg, 2)?;
    if flags & 0x8000 == 0 {
        return Err(DnsError::Malformed("not a response"));
    }
    let qd = u16_at(msg, 4)?;
    let an = u16_at(msg, 6)?;
    let mut i = 12;
    for _ in 0..qd {
        i = skip_name(msg, i)? + 4;
    }
    let mut addresses = Vec::new();
    for _ in 0..an {
        i = skip_name(msg, i)?;
        let rtype = u16_at(msg, i)?;
        let rdlen = u16_at(msg, i + 8)? as usize;
        let data = msg
            .get(i + 10..i + 10 + rdlen)
            .ok_or(DnsError::Malformed("truncated rdata"))?;
        match (rtype, rdlen) {
            (1, 4) => addresses.push(Ipv4Addr::new(data[0], data[1], data[2], data[3]).to_string()),
            (28, 16) => {
                let mut b = [0u8; 16];
                b.copy_from_slice(data);
                addresses.push(Ipv6Addr::from(b).to_string());
            }
            _ => {}
        }
        i += 10 + rdlen;
    }
    Ok(Answer {
        rcode: flags & 0x000F,
        addresses,
        bytes: msg.len(),
    })
}

pub fn query(
    server: SocketAddr,
    name: &str,
    qtype: QType,
    timeout: Duration,
    seq: u16,
) -> Result<Answer, DnsError> {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let id = (nanos as u16) ^ (std::process::id() as u16) ^ seq.wrapping_mul(7919);
    let q = encode_query(id, name, qtype)?;
    let bind: SocketAddr = if server.is_ipv4() {
        SocketAddr::from(([0, 0, 0, 0], 0))
    } else {
        SocketAddr::from(([0u16; 8], 0))
    };
    let sock = UdpSocket::bind(bind)?;
    sock.connect(server)?;
    sock.set_read_timeout(Some(timeout))?;
    sock.send(&q)?;
    let mut buf = [0u8; 4096];
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let n = sock.recv(&mut buf)?;
        // Stray datagrams with another id are skipped, not fatal.
        match decode_response(id, &buf[..n]) {
            Err(DnsError::Malformed("id mismatch")) if std::time::Instant::now() < deadline => {
                continue;
            }
            other => return other,
        }
    }
}

/// Parses a `--dns-record name=ipv4` flag.
pub fn parse_record(s: &str) -> Result<(String, Ipv4Addr), String> {
    let (name, ip) = s
        .split_once('=')
        .ok_or_else(|| format!("bad dns record {s:?}: expected name=ipv4"))?;
    let ip = ip
        .parse::<Ipv4Addr>()
        .map_err(|_| format!("bad dns record {s:?}: {ip:?} is not an IPv4 address"))?;
    Ok((normalize(name), ip))
}

fn normalize(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// Answers one query from a fixed table: A records for known names,
/// NOERROR with no answer for other types of a known name, NXDOMAIN for
/// unknown names, FORMERR for anything that is not one plain question.
/// `None` when the datagram is not even a DNS header (dropped).
pub fn answer_query(query: &[u8], records: &BTreeMap<String, Ipv4Addr>) -> Option<Vec<u8>> {
    if query.len() < 12 || query[2] & 0x80 != 0 {
        return None;
    }
    let mut resp = Vec::with_capacity(query.len() + 16);
    resp.extend_from_slice(&query[..2]);
    let rd = query[2] & 0x01;
    let opcode = query[2] & 0x78;
    let formerr = |mut r: Vec<u8>| {
        r.extend_from_slice(&[0x80 | opcode | rd, 0x01, 0, 0, 0, 0, 0, 0, 0, 0]);
        r
    };
    if opcode != 0 || u16::from_be_bytes([query[4], query[5]]) != 1 {
        return Some(formerr(resp));
    }
    let mut labels = Vec::new();
    let mut i = 12;
    loop {
        let Some(&len) = query.get(i) else {
            return Some(formerr(resp));
        };
        if len == 0 {
            i += 1;
            break;
        }
        if len & 0xC0 != 0 {
            return Some(formerr(resp));
        }
        let Some(label) = query.get(i + 1..i + 1 + len as usize) else {
            return Some(formerr(resp));
        };
        labels.push(String::from_utf8_lossy(label).to_ascii_lowercase());
        i += 1 + len as usize;
    }
    let Some(tail) = query.get(i..i + 4) else {
        return Some(formerr(resp));
    };
    let qtype = u16::from_be_bytes([tail[0], tail[1]]);
    let question = &query[12..i + 4];
    let name = labels.join(".");
    let (rcode, answer) = match records.get(&name) {
        None => (3u8, None),
        Some(ip) if qtype == 1 => (0, Some(*ip)),
        Some(_) => (0, None),
    };
    resp.extend_from_slice(&[
        0x84 | opcode | rd,
        rcode,
        0,
        1,
        0,
        u8::from(answer.is_some()),
        0,
        0,
        0,
        0,
    ]);
    resp.extend_from_slice(question);
    if let Some(ip) = answer {
        resp.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4]);
        resp.extend_from_slice(&ip.octets());
    }
    Some(resp)
}

/// UDP DNS server over a fixed record table (a stand-in for an upstream
/// resolver in an air-gapped lab).
pub fn serve(sock: &UdpSocket, records: &BTreeMap<String, Ipv4Addr>) {
    let mut buf = [0u8; 1500];
    loop {
        if let Ok((n, peer)) = sock.recv_from(&mut buf)
            && let Some(resp) = answer_query(&buf[..n], records)
        {
            let _ = sock.send_to(&resp, peer);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_compressed_answer() {
        let q = encode_query(0x1234, "echo.test.", QType::A).unwrap();
        let mut r = q.clone();
        r[2] = 0x81;
        r[3] = 0x80;
        r[7] = 1; // ancount
        r.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4, 10, 199, 0, 2]);
        let a = decode_response(0x1234, &r).unwrap();
        assert_eq!(a.rcode, 0);
        assert_eq!(a.addresses, vec!["10.199.0.2".to_string()]);
        assert!(decode_response(0x9999, &r).is_err());
    }

    #[test]
    fn server_answers_known_names_and_nxdomain() {
        let records: BTreeMap<String, Ipv4Addr> = [parse_record("Echo.Lab.=10.199.0.2").unwrap()]
            .into_iter()
            .collect();
        let q = encode_query(7, "echo.lab", QType::A).unwrap();
        let a = decode_response(7, &answer_query(&q, &records).unwrap()).unwrap();
        assert_eq!((a.rcode, a.addresses), (0, vec!["10.199.0.2".to_string()]));
        let q = encode_query(8, "echo.lab", QType::Aaaa).unwrap();
        let a = decode_response(8, &answer_query(&q, &records).unwrap()).unwrap();
        assert_eq!((a.rcode, a.addresses.len()), (0, 0));
        let q = encode_query(9, "other.lab", QType::A).unwrap();
        assert_eq!(
            decode_response(9, &answer_query(&q, &records).unwrap())
                .unwrap()
                .rcode,
            3
        );
        assert!(answer_query(&[0u8; 5], &records).is_none());
        assert!(parse_record("x=notanip").is_err());
        assert!(parse_record("noequals").is_err());
    }

    #[test]
    fn rejects_bad_names() {
        assert!(encode_query(1, "a..b", QType::A).is_err());
        assert!(encode_query(1, "", QType::A).is_err());
    }
}
