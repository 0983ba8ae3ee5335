//! TLS for the HTTPS echo server and the `client http` mode over https.
//! The server uses a self-signed certificate made at start unless it is
//! given one (`--tls-cert/--tls-key`, so a test can bring its own CA). The
//! client either verifies against `--ca-file` roots or skips verification
//! (`--insecure`); in both cases it records the server's leaf certificate so
//! the report can say what was presented, also when verification failed.

use std::path::Path;
use std::sync::{Arc, Mutex};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms, ring};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("failed to generate a self-signed certificate: {0}")]
    Cert(#[from] rcgen::Error),
    #[error("failed to build the TLS configuration: {0}")]
    Config(#[from] rustls::Error),
    #[error("failed to read {what} from {path}: {message}")]
    Pem {
        what: &'static str,
        path: String,
        message: String,
    },
    #[error("failed to use the roots in {path}: {message}")]
    Roots { path: String, message: String },
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(ring::default_provider())
}

pub fn server_config(extra_sans: &[String]) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let mut sans = vec!["localhost".to_string()];
    if let Ok(host) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
        let host = host.trim();
        if !host.is_empty() {
            sans.push(host.to_string());
        }
    }
    sans.extend(extra_sans.iter().filter(|s| !s.is_empty()).cloned());
    sans.sort();
    sans.dedup();
    let certified = rcgen::generate_simple_self_signed(sans)?;
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        certified.signing_key.serialize_der(),
    ));
    build_server_config(vec![certified.cert.der().clone()], key)
}

/// A server configuration from PEM files: the chain (leaf first) and its key.
pub fn server_config_from_files(
    cert: &Path,
    key: &Path,
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let chain = read_certs(cert, "the certificate chain")?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::Pem {
        what: "the private key",
        path: key.display().to_string(),
        message: e.to_string(),
    })?;
    build_server_config(chain, key)
}

fn build_server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    Ok(Arc::new(config))
}

fn read_certs(path: &Path, what: &'static str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem_error = |message: String| TlsError::Pem {
        what,
        path: path.display().to_string(),
        message,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| pem_error(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(e.to_string()))?;
    if certs.is_empty() {
        return Err(pem_error("no CERTIFICATE block".to_string()));
    }
    Ok(certs)
}

/// A client configuration plus the recorder that sees each server
/// certificate. `ca_file: None` accepts any certificate (handshake
/// signatures are still checked, so the TLS session itself is genuine).
pub fn client_config(
    ca_file: Option<&Path>,
) -> Result<(Arc<rustls::ClientConfig>, Arc<PeerRecorder>), TlsError> {
    let provider = provider();
    let webpki = match ca_file {
        None => None,
        Some(path) => {
            let mut roots = RootCertStore::empty();
            for cert in read_certs(path, "CA certificates")? {
                roots.add(cert).map_err(|e| TlsError::Roots {
                    path: path.display().to_string(),
                    message: e.to_string(),
                })?;
            }
            let verifier =
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider))
                    .build()
                    .map_err(|e| TlsError::Roots {
                        path: path.display().to_string(),
                        message: e.to_string(),
                    })?;
            Some(verifier)
        }
    };
    let recorder = Arc::new(PeerRecorder {
        webpki,
        algorithms: provider.signature_verification_algorithms,
        leaf: Mutex::new(None),
    });
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::clone(&recorder) as Arc<dyn ServerCertVerifier>)
        .with_no_client_auth();
    Ok((Arc::new(config), recorder))
}

/// Remembers the last leaf certificate a server presented, then verifies
/// it against the roots (or not at all without roots).
#[derive(Debug)]
pub struct PeerRecorder {
    webpki: Option<Arc<WebPkiServerVerifier>>,
    algorithms: WebPkiSupportedAlgorithms,
    leaf: Mutex<Option<CertificateDer<'static>>>,
}

impl PeerRecorder {
    /// Whether certificates are verified (false with `--insecure`).
    pub fn verifies(&self) -> bool {
        self.webpki.is_some()
    }

    /// Takes the leaf seen since the last call, so a failed attempt never
    /// reports an earlier attempt's certificate.
    pub fn take_leaf(&self) -> Option<CertificateDer<'static>> {
        self.leaf.lock().ok().and_then(|mut l| l.take())
    }
}

impl ServerCertVerifier for PeerRecorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Ok(mut leaf) = self.leaf.lock() {
            *leaf = Some(end_entity.clone().into_owned());
        }
        match &self.webpki {
            Some(v) => {
                v.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            }
            None => Ok(ServerCertVerified::assertion()),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
