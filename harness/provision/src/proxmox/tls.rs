//! How the API certificate is trusted. Proxmox ships a self-signed CA, so
//! the profile names either that CA (`caFile`, with the usual hostname
//! check) or the certificate's SHA-256 fingerprint (pinned: exactly that
//! certificate, whatever name it carries). There is no third way: a
//! verification that is skipped cannot be told from one that passed.

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use sha2::{Digest, Sha256};

/// What the API certificate is checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// PEM file of the CA that signed it.
    CaFile(std::path::PathBuf),
    /// SHA-256 of the certificate (DER), 32 bytes.
    Fingerprint([u8; 32]),
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("failed to read the CA file {path}: {message}")]
    CaFile { path: String, message: String },
    #[error("the CA file {0} holds no certificate")]
    NoCa(String),
    #[error("`{0}` is not a SHA-256 fingerprint: expected 32 hex pairs, colons optional")]
    Fingerprint(String),
    #[error("failed to set up TLS: {0}")]
    Setup(String),
}

/// Parses `AB:CD:…` or `abcd…` (64 hex digits).
pub fn parse_fingerprint(text: &str) -> Result<[u8; 32], TlsError> {
    let hex: String = text.chars().filter(|c| *c != ':').collect();
    let bytes = hex::decode(&hex).map_err(|_| TlsError::Fingerprint(text.to_owned()))?;
    bytes.try_into().map_err(|_| TlsError::Fingerprint(text.to_owned()))
}

/// Colon-separated upper-case hex, as the Proxmox UI shows it.
pub fn format_fingerprint(fp: &[u8; 32]) -> String {
    fp.iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The rustls client configuration for `trust`.
pub fn client_config(trust: &Trust) -> Result<rustls::ClientConfig, TlsError> {
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Setup(e.to_string()))?;
    let config = match trust {
        Trust::CaFile(path) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in read_pem(path)? {
                roots.add(cert).map_err(|e| TlsError::CaFile { path: path.display().to_string(), message: e.to_string() })?;
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        Trust::Fingerprint(fp) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Pinned { fingerprint: *fp, provider: provider() }))
            .with_no_client_auth(),
    };
    Ok(config)
}

fn read_pem(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let err = |message: String| TlsError::CaFile { path: path.display().to_string(), message };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| err(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| err(e.to_string()))?;
    if certs.is_empty() {
        return Err(TlsError::NoCa(path.display().to_string()));
    }
    Ok(certs)
}

/// Accepts exactly the certificate with the pinned SHA-256, and still
/// checks the handshake signature with it (so the peer holds its key).
#[derive(Debug)]
struct Pinned {
    fingerprint: [u8; 32],
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let got: [u8; 32] = Sha256::digest(end_entity.as_ref()).into();
        if got == self.fingerprint {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(format!(
                "the API certificate's SHA-256 fingerprint is {}, not the pinned {}",
                format_fingerprint(&got),
                format_fingerprint(&self.fingerprint)
            )))
        }
    }

    fn verify_tls12_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_parse_with_or_without_colons() {
        let hex = "ab".repeat(32);
        let colons = vec!["AB"; 32].join(":");
        assert_eq!(parse_fingerprint(&hex).ok(), parse_fingerprint(&colons).ok());
        assert_eq!(format_fingerprint(&[0xab; 32]), colons);
        assert!(parse_fingerprint("ab:cd").is_err());
        assert!(parse_fingerprint(&"zz".repeat(32)).is_err());
    }
}
