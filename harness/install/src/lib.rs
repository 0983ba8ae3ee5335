//! The install pipeline: the stack a profile renders
//! ([`infraflux_stack::render_files`]) installed on a cluster in dependency
//! order, and removed again.
//!
//! Phases, in order ([`plan::build`]):
//! 1. `gateway-api-crds`: the Gateway API CRDs of the profile's bundle
//!    (before Cilium: its operator looks for them once, at start);
//! 2. `cilium`: the Cilium chart, its workloads rolled out, Cilium's CRDs
//!    Established (the operator registers them);
//! 3. `cert-manager`, `sealed-secrets`, `external-dns`: the controllers'
//!    charts and rollouts;
//! 4. `custom-resources`: LB pools, BGP configs, the Gateway and routes,
//!    issuers and certificates, network policies, then waits on their
//!    conditions (pool usable, Gateway Programmed, Certificate Ready…).
//!
//! Objects are server-side applied with field manager `infraflux` and
//! labelled [`infraflux_kube::MANAGED_BY`]` = infraflux` plus
//! [`PHASE_LABEL`]; Helm releases are listed in an install record (a
//! labelled ConfigMap, written before each release is installed). `down`
//! ([`run::down`]) uses exactly those two to remove what `up` created, in
//! reverse order; an object or release that existed before and was not
//! created by InfraFlux is reported as present and never touched.
//!
//! Every wait is bounded and named in its timeout error. Waits that need a
//! working datapath (controllers that actually run: Cilium's operator and
//! Envoy, cert-manager and its webhook) are marked as such; with
//! [`Options::control_plane_only`] (a cluster of kwok nodes) they are
//! reported as skipped with that reason instead of timing out.

pub mod diagnostics;
pub mod drift;
pub mod gitops;
pub mod helm;
pub mod plan;
pub mod progress;
pub mod record;
pub mod run;

use std::path::PathBuf;
use std::time::Duration;

use infraflux_model::exit::Status;

pub use plan::{Phase, Plan, Step};
pub use run::{Outcome as InstallOutcome, down, up};

/// `infraflux.io/phase` = the install phase that created the object.
pub const PHASE_LABEL: &str = "infraflux.io/phase";
/// `infraflux.io/install` = the profile name the object was installed for.
pub const INSTALL_LABEL: &str = "infraflux.io/install";

/// How `up` runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// Directory with local chart directories named after the chart
    /// (`cilium/`, `cert-manager/`, …) and `gateway-api/` (CRD files), for
    /// air-gapped sites and tests; charts not found there come from the Go
    /// module cache.
    pub charts_dir: Option<PathBuf>,
    /// The profile's local chart directories (`install.charts`), by chart
    /// name (`gateway-api` for the CRD files), resolved against the profile
    /// file; `charts_dir` takes precedence for the charts it holds.
    pub chart_dirs: std::collections::BTreeMap<String, PathBuf>,
    /// The profile's registry mirror (`install.imageRegistry`): every
    /// chart's image keys point at it ([`infraflux_stack::images`]).
    pub image_registry: Option<String>,
    /// The helm binary.
    pub helm: PathBuf,
    /// Bound on every wait (CRDs, rollouts, conditions) and every helm call.
    pub wait_timeout: Duration,
    /// The cluster has no datapath (kwok nodes): waits and objects that
    /// need running controllers are skipped, with that reason, instead of
    /// timing out.
    pub control_plane_only: bool,
    /// Where a failed phase writes its diagnostics bundle.
    pub diagnostics_dir: Option<PathBuf>,
    /// Write the diagnostics bundle even when every phase passed.
    pub always_collect: bool,
    /// Show progress bars (a TTY and not `--quiet`).
    pub progress: bool,
    /// Values a provider sets on top of the profile's, per chart name
    /// (`cilium`): image overrides for images it built, the devices it owns,
    /// host paths under its state directory. Merged key by key.
    pub chart_values: std::collections::BTreeMap<String, serde_json::Value>,
    /// Charts the provider cannot run, per chart name, with the reason (no
    /// image for it can exist on this host). Their phase is reported as
    /// skipped with that reason, and so are the custom resources of their
    /// API groups.
    pub unavailable: std::collections::BTreeMap<String, String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            charts_dir: None,
            chart_dirs: Default::default(),
            image_registry: None,
            helm: PathBuf::from("helm"),
            wait_timeout: Duration::from_secs(600),
            control_plane_only: false,
            diagnostics_dir: None,
            always_collect: false,
            progress: false,
            chart_values: Default::default(),
            unavailable: Default::default(),
        }
    }
}

/// Why the pipeline could not be planned or run at all (a failed phase is
/// not an error: it is a failed [`infraflux_model::results::PhaseResult`]).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("failed to render the stack")]
    Render(#[source] infraflux_stack::StackError),
    #[error("failed to locate a chart")]
    Chart(#[source] infraflux_stack::charts::ChartError),
    #[error(
        "Gateway API {version} CRDs not found ({searched}); fetch them with `.ci/fetch-charts` (pins in harness/tools/charts/go.mod) or `go mod download sigs.k8s.io/gateway-api@{version}`, or put the CRD files in <charts-dir>/gateway-api/"
    )]
    GatewayApiNotFetched { version: String, searched: String },
    #[error("failed to read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to parse {what}: {message}")]
    Parse { what: String, message: String },
    #[error(transparent)]
    Helm(#[from] helm::HelmError),
    #[error("the profile's Cloudflare token, needed for the `{secret}` Secret")]
    Token {
        secret: String,
        #[source]
        source: infraflux_model::secret::Error,
    },
    #[error(transparent)]
    Cluster(#[from] infraflux_kube::Error),
    #[error("failed to write the diagnostics bundle at {path}")]
    Diagnostics {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// Exit status: a profile or chart directory that cannot be used is bad
    /// input (2); a missing download, a missing helm or the cluster is
    /// environment trouble (3).
    pub fn status(&self) -> Status {
        use infraflux_stack::charts::ChartError;
        match self {
            Error::Render(e) => e.status(),
            Error::Chart(ChartError::NotFetched { .. }) => Status::Cluster,
            Error::Chart(_) | Error::Parse { .. } | Error::Token { .. } => Status::BadInput,
            _ => Status::Cluster,
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Formats a duration for plans and messages: `90s`, `10m`, `1m30s`.
pub fn human(d: Duration) -> String {
    let s = d.as_secs();
    match (s / 60, s % 60) {
        (0, s) => format!("{s}s"),
        (m, 0) => format!("{m}m"),
        (m, s) => format!("{m}m{s}s"),
    }
}
