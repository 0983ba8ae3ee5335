//! `up --gitops` and `serve-source`. The install stops after the bootstrap
//! (Gateway API CRDs, Cilium); the rendered tree is committed into a Git
//! repository on the provider's host, next to the Gateway API repository
//! and a chart repository for the releases the tree names, all served by
//! `serve-source`; then Flux is installed and handed the tree
//! ([`infraflux_install::gitops`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use infraflux_gitops::{flux, serve, source};
use infraflux_install::gitops::{Handover, hand_over};
use infraflux_model::exit::Status;
use infraflux_provision::{GitopsHost, ProvisionError};

use crate::cli::{ServeSourceArgs, flag_finding, flag_rules};
use crate::install_cmd::Prepared;

/// What `up --gitops` builds on the provider's host once the cluster is up.
#[derive(Debug, Clone)]
pub struct GitopsPrep {
    pub host: GitopsHost,
    pub cluster: String,
    pub tree: BTreeMap<String, String>,
    /// The Gateway API module directory and the tag it is served at.
    pub gateway_api: (PathBuf, String),
    pub charts: Vec<source::ChartSource>,
}

impl GitopsPrep {
    pub fn tree_url(&self) -> String {
        format!("{}/git/{}.git", self.host.base_url(), self.cluster)
    }

    /// Writes the served root; returns the tree's commit.
    pub fn build(&self, helm: &Path) -> Result<String, infraflux_gitops::Error> {
        let root = &self.host.root;
        let files = self.tree.iter().map(|(k, v)| (k.clone(), v.clone().into_bytes())).collect();
        let sha = source::git_repo(&root.join("git").join(format!("{}.git", self.cluster)), &files, None, "InfraFlux: the rendered GitOps tree")?;
        let (module, tag) = &self.gateway_api;
        let crds = source::files_under(module, "config/crd")?;
        source::git_repo(&root.join("git/gateway-api.git"), &crds, Some(tag), &format!("Gateway API {tag} CRDs"))?;
        source::chart_repo(&root.join("charts"), helm, &self.charts, &format!("{}/charts", self.host.base_url()))?;
        Ok(sha)
    }
}

fn fail(status: Status, e: &dyn std::error::Error) -> Status {
    eprintln!("error: {}", infraflux_model::secret::redact(&infraflux_install::run::chain(e)));
    status
}

/// The module directory of Gateway API `version` in the Go module caches.
fn gateway_api_module(version: &str) -> Result<PathBuf, infraflux_gitops::Error> {
    let rel = PathBuf::from(format!("sigs.k8s.io/gateway-api@{version}/config/crd"));
    infraflux_stack::charts::in_module_caches(&rel)
        // The module root: the served repository keeps the paths under it.
        .map(|crd| crd.ancestors().nth(2).map_or_else(|| crd.clone(), Path::to_path_buf))
        .map_err(|searched| infraflux_gitops::Error::NotFetched { what: format!("sigs.k8s.io/gateway-api@{version}"), searched })
}

/// Turns `p` into a GitOps install: checks the provider can serve the
/// tree, renders it with the installer's sources and values, loads Flux's
/// install set and rewrites the plan. Touches no cluster and writes nothing.
pub fn prepare(argv: &[String], p: &mut Prepared) -> Result<(), Status> {
    let Some(host) = p.provider.gitops_host() else {
        let e = ProvisionError::NoGitopsHost(p.provider.kind());
        let f = flag_finding(argv, flag_rules::GITOPS, "--gitops", format!("{e}; nothing was done"), flag_rules::FLAG_010.hint);
        eprintln!("{}", infraflux_model::secret::redact(&f.to_string()));
        return Err(Status::BadInput);
    };
    let profile = &p.adaptation.profile;
    let mut sources = infraflux_stack::GitopsSources {
        gateway_api_repo: Some(format!("{}/git/gateway-api.git", host.base_url())),
        omit: p.opts.unavailable.keys().cloned().collect(),
        ..Default::default()
    };
    let mut charts = Vec::new();
    for r in p.plan.releases() {
        sources.chart_repos.insert(r.release.clone(), format!("{}/charts", host.base_url()));
        sources.values.insert(r.release.clone(), r.values_yaml.clone());
        charts.push(source::ChartSource { dir: r.chart.path.clone(), version: r.version.clone() });
    }
    let tree = infraflux_stack::render_gitops_files(profile, &sources).map_err(|e| fail(e.status(), &e))?;
    infraflux_stack::self_check(&tree).map_err(|e| fail(e.status(), &e))?;
    let pins = flux::Pins::from_versions_env();
    let images = match &host.flux_images {
        Some(prefix) => flux::Images::Local { prefix: prefix.clone() },
        None => flux::Images::Upstream,
    };
    let install_set = flux::data_dir(&pins.operator_data)
        .and_then(|d| flux::install_set(&d, &pins, &images))
        .map_err(|e| fail(Status::Cluster, &e))?;
    let gateway_api = gateway_api_module(&profile.versions.gateway_api).map_err(|e| fail(Status::Cluster, &e))?;
    let prep = GitopsPrep {
        host,
        cluster: profile.name.clone(),
        tree,
        gateway_api: (gateway_api, profile.versions.gateway_api.clone()),
        charts,
    };
    let handover = Handover {
        flux_version: pins.flux.clone(),
        install_set,
        root: flux::root_objects(&prep.tree_url(), source::BRANCH, &prep.cluster),
        tree: prep.tree.clone(),
        served_at: prep.tree_url(),
    };
    hand_over(&mut p.plan, &handover, p.opts.wait_timeout);
    p.gitops = Some(prep);
    Ok(())
}

/// `infraflux serve-source`: serves until SIGINT or SIGTERM.
pub async fn serve_source(args: &ServeSourceArgs) -> Status {
    if !args.root.join("git").is_dir() {
        eprintln!("error: {} holds no git/ directory (built by `up --gitops`)", args.root.display());
        return Status::BadInput;
    }
    let listener = match tokio::net::TcpListener::bind(args.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: failed to listen on {}: {e}", args.listen);
            return Status::Cluster;
        }
    };
    eprintln!("serving {} at http://{}", args.root.display(), args.listen);
    match serve::serve(listener, args.root.clone(), crate::install_cmd::interrupted()).await {
        Ok(()) => Status::Pass,
        Err(e) => fail(Status::Cluster, &e),
    }
}
