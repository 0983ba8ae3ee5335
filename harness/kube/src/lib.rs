//! The kube-rs layer: connecting, server-side apply of arbitrary kinds,
//! reads, deletes, bounded waits ([`wait`]), the label sweep, the run lock,
//! disruptions (cordon, evict, delete a pod, scale) and exec into pods and
//! the probe agent's pod. It knows Kubernetes objects only: what a suite asks for is
//! translated into these calls by the engine.
//!
//! Every object the harness creates carries [`MANAGED_BY`], [`RUN_ID`] and
//! (for case objects) [`CASE`] labels; that is what cleanup and the
//! `--cleanup-only` style sweep key on.

pub mod disrupt;
pub mod exec;
pub mod lock;
pub mod objects;
pub mod sweep;
pub mod targets;
pub mod wait;

use std::collections::BTreeMap;
use std::path::Path;

pub use objects::{ObjectKey, ResolvedKind};

/// `app.kubernetes.io/managed-by` = [`MANAGER`].
pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
/// Field manager for server-side apply and the managed-by label value.
pub const MANAGER: &str = "infraflux";
/// `infraflux.io/run-id` = the run id.
pub const RUN_ID: &str = "infraflux.io/run-id";
/// `infraflux.io/case` = `<suite>.<case>`.
pub const CASE: &str = "infraflux.io/case";
/// `infraflux.io/lock` = the namespace of the run lock the creating run
/// held: whoever holds that lock next may sweep the object.
pub const LOCK: &str = "infraflux.io/lock";

/// The labels every harness object carries.
pub fn harness_labels(run_id: &str, case: Option<&str>) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    m.insert(MANAGED_BY.to_owned(), MANAGER.to_owned());
    m.insert(RUN_ID.to_owned(), run_id.to_owned());
    if let Some(c) = case {
        m.insert(CASE.to_owned(), c.to_owned());
    }
    m
}

/// Checks that `path` is a kubeconfig before anything connects: a regular
/// file of sane size that parses as one. Returns why not, in words for a
/// flag error (a missing or garbage kubeconfig is bad input, not a cluster
/// that cannot be reached).
pub fn check_kubeconfig(path: &std::path::Path) -> std::result::Result<(), String> {
    const MAX: u64 = 16 << 20;
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if !meta.is_file() {
        return Err(format!("{} is not a regular file", path.display()));
    }
    if meta.len() > MAX {
        return Err(format!("{} is {} bytes; a kubeconfig is far smaller", path.display(), meta.len()));
    }
    kube::config::Kubeconfig::read_from(path)
        .map(|_| ())
        .map_err(|e| format!("{} is not a kubeconfig: {e}", path.display()))
}

/// Errors talking to the cluster. All of them map to exit code 3.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("failed to load kubeconfig")]
    Config(#[source] kube::config::KubeconfigError),
    #[error("failed to build a client from the kubeconfig")]
    Client(#[source] kube::Error),
    #[error("failed to reach the API server{}", .server.as_deref().map(|s| format!(" at {s}")).unwrap_or_default())]
    Unreachable {
        /// The URL tried, when the caller knows it (connect does).
        server: Option<String>,
        #[source]
        source: kube::Error,
    },
    #[error("the API server rejected the credentials (HTTP {code}): {message}")]
    Auth { code: u16, message: String },
    #[error("failed to {what}")]
    Api {
        what: String,
        #[source]
        source: kube::Error,
    },
    #[error("the cluster does not serve {kind} in {api_version}")]
    UnknownKind { api_version: String, kind: String },
    #[error("invalid object: {0}")]
    InvalidObject(String),
    #[error("another run holds the lock {namespace}/{name}: holder `{holder}`, renewed {renewed_ago_s}s ago (stale after {ttl_s}s)")]
    Locked {
        namespace: String,
        name: String,
        holder: String,
        renewed_ago_s: i64,
        ttl_s: i64,
    },
    /// A bounded wait (see [`wait`]) gave up: what it waited for, for how
    /// long, and the state it saw last.
    #[error("timed out after {after_ms}ms waiting for {what}; last seen: {last_seen}")]
    Timeout { what: String, after_ms: u64, last_seen: String },
    #[error("exec in {pod} failed: {message}")]
    Exec { pod: String, message: String },
}

/// `Result` with this module's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Classifies a kube error raised while doing `what`: transport and
    /// credential failures become their own variants so the CLI can tell
    /// "cluster broken" from "request refused".
    pub fn from_kube(what: impl Into<String>, e: kube::Error) -> Error {
        match &e {
            kube::Error::Api(s) if s.code == 401 || (s.code == 403 && what_is_discovery(&s.message)) => {
                Error::Auth {
                    code: s.code,
                    message: s.message.clone(),
                }
            }
            kube::Error::HyperError(_) | kube::Error::Service(_) => Error::Unreachable { server: None, source: e },
            kube::Error::Auth(_) => Error::Auth {
                code: 401,
                message: e.to_string(),
            },
            _ => Error::Api {
                what: what.into(),
                source: e,
            },
        }
    }

    /// HTTP status of an API refusal, if this is one.
    pub fn api_code(&self) -> Option<u16> {
        match self {
            Error::Api {
                source: kube::Error::Api(s),
                ..
            } => Some(s.code),
            Error::Auth { code, .. } => Some(*code),
            _ => None,
        }
    }
}

// A 403 on an ordinary request is an RBAC refusal of that request, not bad
// credentials; only anonymous-user refusals mean the credentials are wrong.
fn what_is_discovery(message: &str) -> bool {
    message.contains("system:anonymous")
}

/// A connected client plus a cache of resolved kinds.
pub struct Cluster {
    client: kube::Client,
    context: Option<String>,
    server: Option<String>,
    kinds: tokio::sync::Mutex<BTreeMap<(String, String), ResolvedKind>>,
}

impl Cluster {
    /// Connects with an explicit kubeconfig file and/or context, or the
    /// usual inference (KUBECONFIG, ~/.kube/config, in-cluster).
    pub async fn connect(kubeconfig: Option<&Path>, context: Option<&str>) -> Result<Cluster> {
        let options = kube::config::KubeConfigOptions {
            context: context.map(str::to_owned),
            ..Default::default()
        };
        // The context actually used, for reports: the flag, else the
        // kubeconfig's current-context (absent in-cluster).
        let mut used_context = context.map(str::to_owned);
        let config = match kubeconfig {
            Some(path) => {
                let kc = kube::config::Kubeconfig::read_from(path).map_err(Error::Config)?;
                used_context = used_context.or_else(|| kc.current_context.clone());
                kube::Config::from_custom_kubeconfig(kc, &options)
                    .await
                    .map_err(Error::Config)?
            }
            None if context.is_some() => kube::Config::from_kubeconfig(&options)
                .await
                .map_err(Error::Config)?,
            None => kube::Config::infer().await.map_err(|e| {
                Error::Client(kube::Error::InferConfig(e))
            })?,
        };
        if used_context.is_none() && kubeconfig.is_none() {
            used_context = kube::config::Kubeconfig::read().ok().and_then(|kc| kc.current_context);
        }
        let server = config.cluster_url.to_string();
        let client = kube::Client::try_from(config).map_err(Error::Client)?;
        let mut cluster = Cluster::from_client(client, used_context);
        cluster.server = Some(server.clone());
        // Fail fast and classified: an unreachable server or bad credentials
        // must not look like failing cases; say which server, since the
        // kubeconfig may not be the one the user had in mind.
        cluster
            .client
            .apiserver_version()
            .await
            .map_err(|e| match Error::from_kube("read the API server version", e) {
                Error::Unreachable { source, .. } => Error::Unreachable { server: Some(server), source },
                other => other,
            })?;
        Ok(cluster)
    }

    pub fn from_client(client: kube::Client, context: Option<String>) -> Cluster {
        Cluster {
            client,
            context,
            server: None,
            kinds: tokio::sync::Mutex::new(BTreeMap::new()),
        }
    }

    /// The API server URL, when the cluster was connected from a kubeconfig.
    pub fn server(&self) -> Option<&str> {
        self.server.as_deref()
    }

    pub fn client(&self) -> &kube::Client {
        &self.client
    }

    pub fn context(&self) -> Option<&str> {
        self.context.as_deref()
    }
}
