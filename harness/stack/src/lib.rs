//! The stack: what a profile renders to, and the static gate over it.
//!
//! [`check`] is `infraflux check`'s stack rule catalog over manifests, Helm
//! values, Flux objects and RKE2 configs. The rest of this crate is
//! `infraflux render`: the corrected stack, rendered from a profile.
//! Templates live in `harness/stack/assets/templates/` (minijinja) and are
//! compiled into the binary. Rendering is pure ([`render_files`]: profile in, sorted
//! `path -> text` map out); [`render`] then checks the result with
//! [`crate::check`] (zero error findings required) and writes it to a fresh
//! directory in one rename, so a failure leaves nothing half-written.
//!
//! Two layouts:
//! - install-ordered (default): numbered directories applied in order,
//!   `00-crds` → `01-nodes` → `02-cilium` → `03-controllers` → `04-configs`
//!   → `05-apps`;
//! - `gitops`: a Flux tree (`clusters/<name>`, `infrastructure/{cilium,
//!   controllers,configs}`, `apps`) chained with `dependsOn` + `wait`, plus
//!   `00-bootstrap` with what must exist before Flux (node prep, RKE2
//!   configs and the Cilium install, since Flux cannot schedule without a CNI).

pub mod charts;
pub mod images;
pub mod check;
mod templates;
mod vars;

use infraflux_model::{diag, exit, profile, secret, yaml};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::check::CheckReport;
use crate::diag::Finding;
use crate::profile::Profile;

pub use templates::TEMPLATE_NAMES;

/// What was written.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub out_dir: PathBuf,
    /// Relative paths, sorted.
    pub files: Vec<String>,
    /// `check` over the rendered files (no errors, by construction).
    pub report: CheckReport,
}

#[derive(Debug, thiserror::Error)]
pub enum StackError {
    #[error("failed to render template {template}: {message}")]
    Template { template: String, message: String },
    #[error("rendered stack fails its own check ({} error finding(s))", .findings.len())]
    SelfCheck { findings: Vec<Finding> },
    #[error("output directory {0} exists and is not empty")]
    OutDirNotEmpty(PathBuf),
    #[error("failed to write {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl StackError {
    /// Exit status: a profile that renders into a broken stack is bad input.
    pub fn status(&self) -> crate::exit::Status {
        crate::exit::Status::BadInput
    }
}

/// Renders every file of the stack in memory, keyed by relative path.
pub fn render_files(profile: &Profile, gitops: bool) -> Result<BTreeMap<String, String>, StackError> {
    let ctx = vars::Vars::new(profile, gitops);
    templates::render_all(&ctx)
}

/// Where a GitOps tree's sources point when a provider serves them itself
/// (an offline node), and what the tree leaves out. The default is the
/// tree `render --gitops` writes: upstream chart repositories and the
/// profile's values.
#[derive(Debug, Clone, Default)]
pub struct GitopsSources {
    /// HelmRepository URL per release (`cilium`, `cert-manager`, …).
    pub chart_repos: BTreeMap<String, String>,
    /// The values file per release: what the installer installs (provider
    /// values and the registry mirror merged in), so Flux adopting a
    /// release changes nothing.
    pub values: BTreeMap<String, String>,
    /// The Git repository of the Gateway API CRDs.
    pub gateway_api_repo: Option<String>,
    /// Releases that cannot run on the target, left out with the custom
    /// resources that need them (cert-manager's issuer).
    pub omit: std::collections::BTreeSet<String>,
}

/// The GitOps tree with `sources` applied (see [`GitopsSources`]).
pub fn render_gitops_files(profile: &Profile, sources: &GitopsSources) -> Result<BTreeMap<String, String>, StackError> {
    let mut ctx = vars::Vars::new(profile, true);
    if let Some(url) = &sources.gateway_api_repo
        && let Some(g) = ctx.ctx.get_mut("gateway_api")
    {
        g["git"] = serde_json::json!(url);
    }
    ctx.sources = sources.clone();
    templates::render_all(&ctx)
}

/// Checks rendered files with `check` (file names are the relative paths).
pub fn self_check(files: &BTreeMap<String, String>) -> Result<CheckReport, StackError> {
    let texts: Vec<(String, String)> = files.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    let report = check::check_texts(&texts).map_err(|e| StackError::SelfCheck { findings: e.findings() })?;
    if report.has_errors() {
        let findings = report
            .findings
            .iter()
            .filter(|f| f.severity == crate::diag::Severity::Error)
            .cloned()
            .collect();
        return Err(StackError::SelfCheck { findings });
    }
    Ok(report)
}

/// Renders, self-checks and writes the stack into `out_dir` (which must be
/// absent or empty). Deterministic: the same profile gives byte-identical files.
pub fn render(profile: &Profile, out_dir: &Path, gitops: bool) -> Result<Rendered, StackError> {
    let files = render_files(profile, gitops)?;
    let report = self_check(&files)?;
    write_atomically(out_dir, &files)?;
    Ok(Rendered {
        out_dir: out_dir.to_path_buf(),
        files: files.keys().cloned().collect(),
        report,
    })
}

fn write_atomically(out_dir: &Path, files: &BTreeMap<String, String>) -> Result<(), StackError> {
    let werr = |path: &Path| {
        let path = path.to_path_buf();
        move |source| StackError::Write { path, source }
    };
    if out_dir.exists() {
        let mut entries = std::fs::read_dir(out_dir).map_err(werr(out_dir))?;
        if entries.next().is_some() {
            return Err(StackError::OutDirNotEmpty(out_dir.to_path_buf()));
        }
        std::fs::remove_dir(out_dir).map_err(werr(out_dir))?;
    }
    let parent = out_dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(werr(parent))?;
    let name = out_dir.file_name().and_then(|n| n.to_str()).unwrap_or("stack");
    let staging = parent.join(format!(".{name}.rendering-{}", std::process::id()));
    let result = (|| {
        for (rel, text) in files {
            let path = staging.join(rel);
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(werr(dir))?;
            }
            std::fs::write(&path, text).map_err(werr(&path))?;
            #[cfg(unix)]
            if rel.ends_with(".sh") {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).map_err(werr(&path))?;
            }
        }
        std::fs::rename(&staging, out_dir).map_err(werr(out_dir))
    })();
    if result.is_err() {
        // Best effort: the staging directory is ours and only holds partial output.
        let _ = std::fs::remove_dir_all(&staging);
    }
    result
}

#[cfg(test)]
mod tests;
