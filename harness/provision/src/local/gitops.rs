//! `up --gitops` on the local node: the Flux controllers' images, built
//! from the pinned versions by `.ci/build-flux` and imported like the
//! node's other images, and the source server (`infraflux serve-source`)
//! started as one of the node's recorded host processes on the node
//! address, where pods reach it as they would reach a site's Git host.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use super::node::say;
use super::oci::{ImageSpec, Layer};
use super::procs;
use super::{IMAGE_REPO, Local, LocalError, net};

pub use crate::source_server::{PORT as SOURCE_PORT, PROC as SOURCE_PROC};

/// Flux's images run as this user (`runAsNonRoot` in their Deployments),
/// as the published ones do.
const FLUX_USER: &str = "65534:65534";

/// The host's CA bundle, so a controller can verify a TLS source (a Helm
/// repository over HTTPS) as the published Alpine-based images can.
const CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

impl Local {
    /// Where the served repositories live.
    pub fn gitops_root(&self) -> PathBuf {
        self.state.join("gitops")
    }

    pub fn gitops_listen(&self) -> SocketAddr {
        SocketAddr::from((net::NODE_IP.parse::<std::net::Ipv4Addr>().unwrap_or(std::net::Ipv4Addr::LOCALHOST), SOURCE_PORT))
    }

    /// The image prefix of the Flux controllers imported here.
    pub fn flux_image_prefix() -> String {
        format!("{IMAGE_REPO}/fluxcd")
    }

    fn flux_binaries(&self) -> Vec<(&'static str, String, PathBuf)> {
        infraflux_model::pins::FLUX_COMPONENTS
            .iter()
            .map(|(c, key)| {
                let v = super::pinned(key);
                let bin = self.cache.join("bin").join(format!("flux-{c}-{v}")).join(c);
                (*c, v, bin)
            })
            .collect()
    }

    fn ensure_flux(&self) -> Result<(), LocalError> {
        let missing: Vec<String> = self.flux_binaries().into_iter().filter(|(_, _, b)| !b.is_file()).map(|(_, _, b)| b.display().to_string()).collect();
        if missing.is_empty() {
            return Ok(());
        }
        let Some(dir) = super::scripts_dir().filter(|_| self.build) else {
            return Err(LocalError::Artifacts(format!("{}; build them with .ci/build-flux", missing.join(", "))));
        };
        say("building the Flux controllers with .ci/build-flux (about 11 minutes cold on 2 cores)");
        let t = std::time::Instant::now();
        self.run_script(&dir, "build-flux")?;
        say(&format!("Flux controllers built in {:.0?}", t.elapsed()));
        Ok(())
    }

    fn import_flux_images(&self) -> Result<(), LocalError> {
        let prefix = Local::flux_image_prefix();
        let specs = self
            .flux_binaries()
            .into_iter()
            .map(|(c, v, bin)| {
                let dst = format!("/usr/local/bin/{c}");
                let mut files = vec![(bin, dst.clone())];
                if Path::new(CA_BUNDLE).is_file() {
                    files.push((PathBuf::from(CA_BUNDLE), CA_BUNDLE.to_owned()));
                }
                ImageSpec {
                    reference: format!("{prefix}/{c}:{v}"),
                    layers: vec![Layer::Files(files)],
                    entrypoint: vec![dst],
                    env: vec!["PATH=/usr/local/bin".to_owned()],
                    workdir: None,
                    user: Some(FLUX_USER.to_owned()),
                }
            })
            .collect();
        let dir = self.cache.join("images");
        std::fs::create_dir_all(&dir).map_err(|e| procs::io(&dir, e))?;
        self.import_specs(&dir, specs)
    }

    /// Builds and imports the Flux images, then (re)starts the source
    /// server on [`Local::gitops_listen`] serving [`Local::gitops_root`]
    /// with `program` (the infraflux binary).
    pub fn start_gitops_blocking(&self, program: &Path) -> Result<(), LocalError> {
        self.ensure_flux()?;
        self.import_flux_images()?;
        let listen = self.gitops_listen();
        crate::source_server::start(&self.state, program, &self.gitops_root(), listen)
            .map_err(|message| LocalError::Step { step: "start the GitOps source server".into(), message })?;
        say(&format!("GitOps source served at http://{listen} from {}", self.gitops_root().display()));
        Ok(())
    }
}
