//! Where the cluster comes from. A [`Provider`] plans, brings up and tears
//! down a cluster and says how to reach it; the installer
//! (`infraflux-install`) then installs the stack on whatever it hands over.
//!
//! Built: [`Existing`] names a cluster somebody else runs (kubeconfig and
//! context from the flags, else from the profile's `provider.existing`),
//! checks that it answers, and never creates or deletes the cluster itself;
//! [`local::Local`] runs a real single-node cluster on this host;
//! [`proxmox::ProxmoxRke2`] clones VMs through the Proxmox VE API and
//! bootstraps RKE2 on them over SSH. kind plugs in here; until it exists
//! [`for_profile`] refuses it with [`ProvisionError::NotBuilt`].
//!
//! A provider may run the profile differently from what it says: addresses
//! moved into its own lab network, features its host cannot give switched
//! off. [`Provider::adapt`] says so, feature by feature and with the reason,
//! so the run reports those features as not verifiable here instead of
//! failing them.

pub mod local;
pub mod proxmox;
pub mod source_server;

use std::path::{Path, PathBuf};

use futures::future::BoxFuture;
use infraflux_kube::Cluster;
use infraflux_model::exit::Status;
use std::collections::BTreeMap;

use infraflux_model::profile::{Profile, Provider as ProfileProvider, ProviderKind};

pub use local::Limit;

/// How a provider runs the profile on its host.
#[derive(Debug, Clone)]
pub struct Adaptation {
    /// The profile the installer renders (the given one, or one moved into
    /// the provider's network with unavailable features off).
    pub profile: Profile,
    /// Features the profile may enable that this host cannot give.
    pub limits: Vec<Limit>,
    /// Chart values the provider sets on top of the profile's, per chart.
    pub chart_values: BTreeMap<String, serde_json::Value>,
    /// Charts that cannot run here, with the reason.
    pub unavailable: BTreeMap<String, String>,
    /// Run options the provider supplies (the probe agent image it built).
    pub agent_image: Option<String>,
}

/// How to reach a cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Access {
    /// `None`: `$KUBECONFIG`, then `~/.kube/config`.
    pub kubeconfig: Option<PathBuf>,
    /// `None`: the kubeconfig's current context.
    pub context: Option<String>,
}

impl Access {
    /// Connects (and checks the API server answers).
    pub async fn connect(&self) -> Result<Cluster, ProvisionError> {
        Cluster::connect(self.kubeconfig.as_deref(), self.context.as_deref())
            .await
            .map_err(ProvisionError::Cluster)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    #[error("provider `{0}` is not built yet; use `--provider existing` with --kubeconfig/--context for a cluster you run")]
    NotBuilt(ProviderKind),
    #[error("failed to reach the cluster")]
    Cluster(#[source] infraflux_kube::Error),
    #[error("provider `{provider}` cannot load images: {why}")]
    LoadImages { provider: ProviderKind, why: String },
    #[error("provider `{0}` cannot serve a GitOps tree to its cluster; `up --gitops` runs on the local and proxmox-rke2 providers (docs/install.md, \"GitOps\")")]
    NoGitopsHost(ProviderKind),
    #[error("local provider")]
    Local(#[from] local::LocalError),
    #[error("proxmox-rke2 provider")]
    Proxmox(#[from] proxmox::ProxmoxError),
}

impl ProvisionError {
    /// The provider refused before it changed anything (so nothing needs
    /// tearing down, and a node that was already there must be left alone).
    pub fn created_nothing(&self) -> bool {
        matches!(
            self,
            ProvisionError::NotBuilt(_)
                | ProvisionError::NoGitopsHost(_)
                | ProvisionError::Local(local::LocalError::Leftover(_) | local::LocalError::NotRoot | local::LocalError::Artifacts(_))
        ) || matches!(self, ProvisionError::Proxmox(e) if e.created_nothing())
    }

    /// Exit status: asking for a provider that does not exist is bad input;
    /// a cluster that does not answer is cluster trouble.
    pub fn status(&self) -> Status {
        match self {
            ProvisionError::NotBuilt(_)
            | ProvisionError::NoGitopsHost(_)
            | ProvisionError::Proxmox(proxmox::ProxmoxError::Config(_) | proxmox::ProxmoxError::Secret { .. }) => Status::BadInput,
            ProvisionError::Cluster(_) | ProvisionError::LoadImages { .. } | ProvisionError::Local(_) | ProvisionError::Proxmox(_) => Status::Cluster,
        }
    }
}

/// A source of clusters. Object-safe so the CLI can pick one at run time.
pub trait Provider: Send + Sync {
    fn kind(&self) -> ProviderKind;

    /// What [`Provider::up`] would do, one line per action, without doing it.
    fn plan(&self) -> Vec<String>;

    /// Brings the cluster up (or, for [`Existing`], checks it answers).
    fn up(&self) -> BoxFuture<'_, Result<Access, ProvisionError>>;

    /// Tears down what [`Provider::up`] created, and nothing else.
    fn down(&self) -> BoxFuture<'_, Result<(), ProvisionError>>;

    /// How to reach the cluster.
    fn access(&self) -> Access;

    /// True when `down` deletes the cluster itself (`conform --keep` keeps it).
    fn owns_cluster(&self) -> bool;

    /// Makes image archives (`docker save` tarballs) available to the nodes.
    fn load_images<'a>(&'a self, archives: &'a [PathBuf]) -> BoxFuture<'a, Result<(), ProvisionError>>;

    /// How this provider runs `profile` (default: as written).
    fn adapt(&self, profile: &Profile) -> Adaptation {
        Adaptation {
            profile: profile.clone(),
            limits: Vec::new(),
            chart_values: BTreeMap::new(),
            unavailable: BTreeMap::new(),
            agent_image: None,
        }
    }

    /// Gets what `up` and the installer need on this host (builds,
    /// downloads) before anything is planned; progress on stderr.
    fn prerequisites(&self) -> BoxFuture<'_, Result<(), ProvisionError>> {
        Box::pin(async { Ok(()) })
    }

    /// Called once the installer has put the stack on the cluster: waits
    /// for what only runs with a datapath (the node Ready, cluster DNS).
    fn after_install(&self) -> BoxFuture<'_, Result<(), ProvisionError>> {
        Box::pin(async { Ok(()) })
    }

    /// Where `up --gitops` serves the rendered tree from, when this
    /// provider can host it where its cluster's pods reach it.
    fn gitops_host(&self) -> Option<GitopsHost> {
        None
    }

    /// Makes Flux runnable on the cluster (images the provider builds) and
    /// starts serving [`GitopsHost::root`] with `program` (the infraflux
    /// binary's `serve-source`), until `down`.
    fn start_gitops<'a>(&'a self, _program: &'a Path) -> BoxFuture<'a, Result<(), ProvisionError>> {
        let kind = self.kind();
        Box::pin(async move { Err(ProvisionError::NoGitopsHost(kind)) })
    }
}

/// Where a provider serves `up --gitops`'s tree from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitopsHost {
    /// The directory served: `git/<name>.git`, `charts/`.
    pub root: PathBuf,
    /// Where the server listens: an address the cluster's pods reach.
    pub listen: std::net::SocketAddr,
    /// The image prefix of Flux controllers the provider built and
    /// imported; `None`: Flux's published images.
    pub flux_images: Option<String>,
}

impl GitopsHost {
    /// The server's base URL as the cluster's pods reach it.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.listen)
    }
}

/// A cluster that already runs: only used, never created or deleted.
#[derive(Debug, Clone)]
pub struct Existing {
    access: Access,
}

impl Existing {
    pub fn new(access: Access) -> Existing {
        Existing { access }
    }
}

impl Provider for Existing {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Existing
    }

    fn plan(&self) -> Vec<String> {
        vec![format!(
            "use the existing cluster at {} (context {}); it is neither created nor deleted",
            self.access.kubeconfig.as_deref().map(Path::display).map(|d| d.to_string()).unwrap_or_else(|| "$KUBECONFIG or ~/.kube/config".into()),
            self.access.context.as_deref().unwrap_or("<current>")
        )]
    }

    fn up(&self) -> BoxFuture<'_, Result<Access, ProvisionError>> {
        Box::pin(async move {
            self.access.connect().await?;
            Ok(self.access.clone())
        })
    }

    fn down(&self) -> BoxFuture<'_, Result<(), ProvisionError>> {
        // The cluster is not ours; what the installer put on it is removed
        // by the installer's own `down`.
        Box::pin(async { Ok(()) })
    }

    fn access(&self) -> Access {
        self.access.clone()
    }

    fn owns_cluster(&self) -> bool {
        false
    }

    fn load_images<'a>(&'a self, _archives: &'a [PathBuf]) -> BoxFuture<'a, Result<(), ProvisionError>> {
        Box::pin(async {
            Err(ProvisionError::LoadImages {
                provider: ProviderKind::Existing,
                why: "an existing cluster pulls from its registries; push the images to a registry its nodes reach".into(),
            })
        })
    }
}

/// The provider for `kind` (the `--provider` flag, else the profile's),
/// with the cluster named by `flags` first, then by the profile's
/// `provider.existing`.
pub fn for_profile(profile: &Profile, kind: Option<ProviderKind>, flags: &Access) -> Result<Box<dyn Provider>, ProvisionError> {
    let kind = kind.unwrap_or_else(|| profile.provider.kind());
    match kind {
        ProviderKind::Existing => {
            let from_profile = match &profile.provider {
                ProfileProvider::Existing(e) => Some(e),
                _ => None,
            };
            Ok(Box::new(Existing::new(Access {
                kubeconfig: flags
                    .kubeconfig
                    .clone()
                    .or_else(|| from_profile.and_then(|e| e.kubeconfig.as_ref().map(PathBuf::from))),
                context: flags.context.clone().or_else(|| from_profile.and_then(|e| e.context.clone())),
            })))
        }
        ProviderKind::Local => {
            let dir = match &profile.provider {
                ProfileProvider::Local(l) => Some(PathBuf::from(&l.work_dir)),
                _ => None,
            };
            Ok(Box::new(local::Local::new(dir)))
        }
        ProviderKind::ProxmoxRke2 => {
            // known_hosts and the kubeconfig live beside the scripts' cache,
            // one directory per cluster name.
            let state = infraflux_model::pins::cache_dir()
                .unwrap_or_else(|| PathBuf::from(".infraflux"))
                .join("proxmox-rke2")
                .join(&profile.name);
            Ok(Box::new(proxmox::ProxmoxRke2::new(profile, state)?))
        }
        other => Err(ProvisionError::NotBuilt(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(provider_yaml: &str) -> Profile {
        let text = infraflux_model::profile::DEFAULT_YAML;
        let start = text.find("\nprovider:").map(|i| i + 1).unwrap_or_default();
        let end = start + text[start..].find("\nversions:").unwrap_or_default() + 1;
        let replaced = format!("{}{}\n{}", &text[..start], provider_yaml, &text[end..]);
        infraflux_model::profile::load_str("p.yaml", &replaced).unwrap_or_else(|e| panic!("{e}")).profile
    }

    #[test]
    fn existing_takes_flags_over_the_profile() {
        let p = profile("provider:\n  existing:\n    kubeconfig: /etc/k/admin.conf\n    context: lab\n");
        let from_profile = for_profile(&p, None, &Access::default()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(from_profile.kind(), ProviderKind::Existing);
        assert_eq!(
            from_profile.access(),
            Access { kubeconfig: Some("/etc/k/admin.conf".into()), context: Some("lab".into()) }
        );
        assert!(!from_profile.owns_cluster(), "an existing cluster is never torn down");
        let flags = Access { kubeconfig: Some("/tmp/k".into()), context: None };
        let mixed = for_profile(&p, None, &flags).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(mixed.access(), Access { kubeconfig: Some("/tmp/k".into()), context: Some("lab".into()) });
        assert!(mixed.plan()[0].contains("/tmp/k"), "{:?}", mixed.plan());
    }

    #[test]
    fn a_provider_not_built_is_refused_as_bad_input() {
        let p = profile("provider:\n  existing: {}\n");
        let kind = ProviderKind::Kind;
        let e = for_profile(&p, Some(kind), &Access::default()).err().unwrap_or_else(|| panic!("{kind} is not built"));
        assert_eq!(e.status(), Status::BadInput);
        assert!(e.to_string().contains(kind.as_str()), "{e}");
    }

    #[test]
    fn proxmox_without_its_section_or_a_verified_certificate_is_bad_input() {
        let p = profile("provider:\n  existing: {}\n");
        let e = for_profile(&p, Some(ProviderKind::ProxmoxRke2), &Access::default()).err().unwrap_or_else(|| panic!("no proxmox section"));
        assert_eq!(e.status(), Status::BadInput);
        assert!(e.created_nothing());
        let text = infraflux_model::profile::DEFAULT_YAML.replace("      bridge: vmbr0\n", "      bridge: vmbr0\n      insecureSkipTlsVerify: true\n");
        let p = infraflux_model::profile::load_str("p.yaml", &text).unwrap_or_else(|e| panic!("{e}")).profile;
        let e = for_profile(&p, None, &Access::default()).err().unwrap_or_else(|| panic!("skip refused"));
        assert_eq!(e.status(), Status::BadInput);
        assert!(format!("{:?}", e).contains("insecureSkipTlsVerify"), "{e:?}");
    }

    #[tokio::test]
    async fn existing_cannot_load_images_and_down_touches_nothing() {
        let e = Existing::new(Access::default());
        let err = e.load_images(&[PathBuf::from("agent.tar")]).await.err().unwrap_or_else(|| panic!("refused"));
        assert_eq!(err.status(), Status::Cluster);
        assert!(e.down().await.is_ok());
    }
}
