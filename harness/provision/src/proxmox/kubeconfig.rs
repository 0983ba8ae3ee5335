//! The first server's `rke2.yaml`, made usable from outside the node.
//!
//! RKE2 writes an admin kubeconfig whose server is the node's own
//! `https://127.0.0.1:6443`. The harness (and anyone it hands the file to)
//! reaches the API through the VIP instead; the certificate covers it
//! because the VIP is in every server's `tls-san`. Only the `server:` value
//! of each cluster changes: the credentials and CA data are kept byte for
//! byte, so nothing is re-serialised and nothing can be lost.

use infraflux_model::yaml::{self, Value};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KubeconfigError {
    #[error("the fetched rke2.yaml is not YAML: {0}")]
    Yaml(String),
    #[error("the fetched rke2.yaml is not a kubeconfig: {0}")]
    Shape(String),
}

/// `https://<vip>:<port>` (an IPv6 VIP in brackets).
pub fn api_url(vip: &str, port: u16) -> String {
    if vip.contains(':') { format!("https://[{vip}]:{port}") } else { format!("https://{vip}:{port}") }
}

/// `text` with every `clusters[].cluster.server` set to `server`.
/// Refuses (rather than guesses) when the file is not a kubeconfig with at
/// least one cluster whose server is an `https://` URL.
pub fn rewrite_server(text: &str, server: &str) -> Result<String, KubeconfigError> {
    let docs = yaml::parse_str("rke2.yaml", text).map_err(|e| KubeconfigError::Yaml(e.to_string()))?;
    let [doc] = docs.as_slice() else {
        return Err(KubeconfigError::Shape(format!("{} YAML documents, expected one", docs.len())));
    };
    let root = &doc.root;
    if !root.get("kind").is_some_and(|k| k.scalar_is("Config")) {
        return Err(KubeconfigError::Shape("no `kind: Config`".into()));
    }
    let clusters = root.get("clusters").and_then(|c| c.as_seq()).filter(|c| !c.is_empty()).ok_or_else(|| KubeconfigError::Shape("no `clusters` entry".into()))?;
    let mut lines: Vec<String> = text.split_inclusive('\n').map(str::to_owned).collect();
    for (i, c) in clusters.iter().enumerate() {
        let node = c.get("cluster").and_then(|c| c.get("server")).ok_or_else(|| KubeconfigError::Shape(format!("clusters[{i}] has no cluster.server")))?;
        let Value::Str(old) = &node.value else {
            return Err(KubeconfigError::Shape(format!("clusters[{i}].cluster.server is not a string")));
        };
        if !old.starts_with("https://") {
            return Err(KubeconfigError::Shape(format!("clusters[{i}].cluster.server `{old}` is not an https:// URL")));
        }
        // The value starts at its node's column, on its node's line; a
        // quoted value starts with the quote.
        let line = lines.get_mut(node.pos.line as usize - 1).ok_or_else(|| KubeconfigError::Shape(format!("clusters[{i}].cluster.server is out of the text")))?;
        let start = line.char_indices().nth(node.pos.col as usize - 1).map_or(line.len(), |(b, _)| b);
        let rest = &line[start..];
        let Some(at) = rest.find(old.as_str()).filter(|at| *at <= 1) else {
            return Err(KubeconfigError::Shape(format!("clusters[{i}].cluster.server spans lines or is escaped")));
        };
        line.replace_range(start + at..start + at + old.len(), server);
    }
    Ok(lines.concat())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape RKE2 writes (certificate data shortened, but real base64).
    const RKE2_YAML: &str = "apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJlRENDQVIyZ0F3SUJBZ0lCQURBS0JnZ3Foa2pPUFFRREFqQWpNU0V3SHdZRFZRUUREQmh5YTJVeUxYTmwKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo=
    server: https://127.0.0.1:6443
  name: default
contexts:
- context:
    cluster: default
    user: default
  name: default
current-context: default
kind: Config
preferences: {}
users:
- name: default
  user:
    client-certificate-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJrVENDQVRlZ0F3SUJBZ0lJYlFyOUFCQ0QKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo=
    client-key-data: LS0tLS1CRUdJTiBFQyBQUklWQVRFIEtFWS0tLS0tCk1IY0NBUUVFSUFCQ0RFRgotLS0tLUVORCBFQyBQUklWQVRFIEtFWS0tLS0tCg==
";

    #[test]
    fn only_the_server_changes() {
        let out = rewrite_server(RKE2_YAML, &api_url("192.168.3.10", 6443)).unwrap();
        assert_eq!(out, RKE2_YAML.replace("https://127.0.0.1:6443", "https://192.168.3.10:6443"));
        let docs = yaml::parse_str("out", &out).unwrap();
        let root = &docs[0].root;
        assert_eq!(root.lookup("clusters[0].cluster.server").and_then(|n| n.as_str()), Some("https://192.168.3.10:6443"));
        for key in ["clusters[0].cluster.certificate-authority-data", "users[0].user.client-certificate-data", "users[0].user.client-key-data"] {
            let before = yaml::parse_str("in", RKE2_YAML).unwrap();
            assert_eq!(root.lookup(key), before[0].root.lookup(key), "{key} kept");
        }
    }

    #[test]
    fn quoted_servers_several_clusters_and_ipv6() {
        let text = "kind: Config\nclusters:\n- name: a\n  cluster:\n    server: \"https://127.0.0.1:6443\"\n- name: b\n  cluster: {server: 'https://localhost:6443'}\n";
        let out = rewrite_server(text, &api_url("fd00::10", 6443)).unwrap();
        assert!(out.contains("server: \"https://[fd00::10]:6443\""), "{out}");
        assert!(out.contains("{server: 'https://[fd00::10]:6443'}"), "{out}");
    }

    #[test]
    fn what_is_not_a_kubeconfig_is_refused_with_the_reason() {
        let e = |t: &str| rewrite_server(t, "https://10.0.0.1:6443").unwrap_err().to_string();
        assert!(e("kind: Config\nclusters: [").contains("not YAML"));
        assert!(e("").contains("0 YAML documents"));
        assert!(e("apiVersion: v1\nclusters: []\n").contains("no `kind: Config`"));
        assert!(e("kind: Config\nclusters: []\n").contains("no `clusters` entry"));
        assert!(e("kind: Config\nclusters:\n- name: x\n  cluster: {}\n").contains("clusters[0] has no cluster.server"));
        assert!(e("kind: Config\nclusters:\n- cluster: {server: http://127.0.0.1:8080}\n").contains("not an https:// URL"));
        // What a shell error would leave instead of the file.
        assert!(e("cat: /etc/rancher/rke2/rke2.yaml: No such file or directory\n").starts_with("the fetched rke2.yaml is not"));
        assert!(e("sudo: a password is required\n").contains("not a kubeconfig"));
    }
}
