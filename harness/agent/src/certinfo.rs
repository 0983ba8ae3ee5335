//! What the `tls` field of a client report says about a server: protocol
//! version, the SNI sent, and the leaf certificate's names, decoded with
//! x509-parser.

use std::net::{Ipv4Addr, Ipv6Addr};

use serde::Serialize;
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TlsInfo {
    /// rustls' name for the negotiated version, e.g. `TLSv1_3`.
    pub version: Option<String>,
    /// The server name sent in the ClientHello (none for IP-address URLs).
    pub sni: Option<String>,
    /// DNS names and IP addresses from the leaf's subjectAltName.
    pub peer_sans: Vec<String>,
    pub peer_subject: String,
    pub peer_issuer: String,
    /// The chain and name were checked against --ca-file roots and passed.
    pub verified: bool,
}

/// Names in a DER certificate.
#[derive(Debug, Clone, PartialEq)]
pub struct CertNames {
    pub sans: Vec<String>,
    pub subject: String,
    pub issuer: String,
}

pub fn names(der: &[u8]) -> Result<CertNames, String> {
    let (_, cert) = X509Certificate::from_der(der)
        .map_err(|e| format!("failed to parse the server certificate: {e}"))?;
    let mut sans = Vec::new();
    let san = cert
        .subject_alternative_name()
        .map_err(|e| format!("failed to parse the server certificate's subjectAltName: {e}"))?;
    if let Some(ext) = san {
        for name in &ext.value.general_names {
            match name {
                GeneralName::DNSName(d) => sans.push((*d).to_string()),
                GeneralName::IPAddress(raw) => {
                    if let Some(ip) = ip_text(raw) {
                        sans.push(ip);
                    }
                }
                _ => {}
            }
        }
    }
    Ok(CertNames {
        sans,
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
    })
}

fn ip_text(raw: &[u8]) -> Option<String> {
    if let Ok(v4) = <[u8; 4]>::try_from(raw) {
        return Some(Ipv4Addr::from(v4).to_string());
    }
    <[u8; 16]>::try_from(raw)
        .ok()
        .map(|v6| Ipv6Addr::from(v6).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_dns_and_ip_sans_subject_and_issuer() {
        let mut params = rcgen::CertificateParams::new(vec![
            "a.example.test".to_string(),
            "*.b.test".to_string(),
            "10.1.2.3".to_string(),
            "fd00::1".to_string(),
        ])
        .unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "a.example.test");
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let n = names(cert.der()).unwrap();
        assert_eq!(
            n.sans,
            ["a.example.test", "*.b.test", "10.1.2.3", "fd00::1"]
        );
        assert_eq!(n.subject, "CN=a.example.test");
        assert_eq!(n.issuer, "CN=a.example.test");
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(names(b"not a certificate").is_err());
    }
}
