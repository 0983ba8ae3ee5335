//! A single DNS question over UDP, enough to check that cluster DNS answers
//! (and, under FQDN policy, whether it is allowed to).

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
    fn rejects_bad_names() {
        assert!(encode_query(1, "a..b", QType::A).is_err());
        assert!(encode_query(1, "", QType::A).is_err());
    }
}
