//! The node's PKI: one CA; serving certs for the API server and the kubelet;
//! client certs for the admin, the controller manager, the scheduler, the
//! kubelet and the API server's kubelet client; the service-account key.
//! Keys are ECDSA P-256 (rcgen's default), which every component accepts.

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose};

use super::LocalError;
use super::net::{API_IP, KUBERNETES_SERVICE_IP, NODE_IP};

pub const NODE_NAME: &str = "infraflux-local";

fn err(what: &str, e: impl std::fmt::Display) -> LocalError {
    LocalError::Step { step: format!("PKI: {what}"), message: e.to_string() }
}

/// A client identity: cert and key paths.
#[derive(Debug, Clone)]
pub struct Identity {
    pub cert: PathBuf,
    pub key: PathBuf,
}

pub struct Pki {
    pub dir: PathBuf,
}

impl Pki {
    pub fn ca(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }
    pub fn id(&self, name: &str) -> Identity {
        Identity { cert: self.dir.join(format!("{name}.crt")), key: self.dir.join(format!("{name}.key")) }
    }
    pub fn sa_key(&self) -> PathBuf {
        self.dir.join("sa.key")
    }
    pub fn sa_pub(&self) -> PathBuf {
        self.dir.join("sa.pub")
    }
}

/// Generates everything under `dir` (created, mode 0700).
pub fn generate(dir: &Path) -> Result<Pki, LocalError> {
    std::fs::create_dir_all(dir).map_err(|e| err("mkdir", e))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(|e| err("chmod", e))?;
    let write = |name: &str, pem: String| std::fs::write(dir.join(name), pem).map_err(|e| err(name, e));

    let ca_key = KeyPair::generate().map_err(|e| err("ca key", e))?;
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(|e| err("ca", e))?;
    ca.distinguished_name.push(DnType::CommonName, "infraflux-local-ca");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    let ca_cert = ca.self_signed(&ca_key).map_err(|e| err("ca cert", e))?;
    write("ca.crt", ca_cert.pem())?;
    write("ca.key", ca_key.serialize_pem())?;
    let issuer = Issuer::new(ca, ca_key);

    let leaf = |name: &str, cn: &str, org: Option<&str>, sans: Vec<String>, usage: ExtendedKeyUsagePurpose| -> Result<(), LocalError> {
        let key = KeyPair::generate().map_err(|e| err(name, e))?;
        let mut p = CertificateParams::new(sans).map_err(|e| err(name, e))?;
        p.distinguished_name.push(DnType::CommonName, cn);
        if let Some(o) = org {
            p.distinguished_name.push(DnType::OrganizationName, o);
        }
        p.extended_key_usages = vec![usage];
        let cert = p.signed_by(&key, &issuer).map_err(|e| err(name, e))?;
        write(&format!("{name}.crt"), cert.pem())?;
        write(&format!("{name}.key"), key.serialize_pem())
    };
    let server = ExtendedKeyUsagePurpose::ServerAuth;
    let client = || ExtendedKeyUsagePurpose::ClientAuth;
    let api_sans = [
        API_IP,
        NODE_IP,
        KUBERNETES_SERVICE_IP,
        "127.0.0.1",
        "localhost",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
    ];
    leaf("apiserver", "kube-apiserver", None, api_sans.iter().map(|s| (*s).to_owned()).collect(), server.clone())?;
    leaf("kubelet-serving", &format!("system:node:{NODE_NAME}"), Some("system:nodes"), vec![NODE_IP.into(), NODE_NAME.into()], server)?;
    leaf("admin", "infraflux-admin", Some("system:masters"), Vec::new(), client())?;
    leaf("kubelet", &format!("system:node:{NODE_NAME}"), Some("system:nodes"), Vec::new(), client())?;
    leaf("controller-manager", "system:kube-controller-manager", None, Vec::new(), client())?;
    leaf("scheduler", "system:kube-scheduler", None, Vec::new(), client())?;
    leaf("apiserver-kubelet-client", "kube-apiserver-kubelet-client", Some("system:masters"), Vec::new(), client())?;
    let sa = KeyPair::generate().map_err(|e| err("service-account key", e))?;
    write("sa.key", sa.serialize_pem())?;
    write("sa.pub", sa.public_key_pem())?;
    Ok(Pki { dir: dir.to_path_buf() })
}

/// A kubeconfig for `id` against the node's API server, with the CA and
/// client identity referenced by path (the files stay under the state dir).
pub fn kubeconfig(pki: &Pki, id: &Identity, user: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: infraflux-local\n  cluster:\n    server: https://{API_IP}:6443\n    certificate-authority: {ca}\nusers:\n- name: {user}\n  user:\n    client-certificate: {cert}\n    client-key: {key}\ncontexts:\n- name: infraflux-local\n  context:\n    cluster: infraflux-local\n    user: {user}\ncurrent-context: infraflux-local\n",
        ca = pki.ca().display(),
        cert = id.cert.display(),
        key = id.key.display(),
    )
}
