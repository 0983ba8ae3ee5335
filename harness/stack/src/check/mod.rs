//! `infraflux check`: static preflight of a stack before anything touches a
//! cluster.
//!
//! Inputs are files or directories (searched recursively): Kubernetes
//! manifests, Flux objects, Helm values files, RKE2 `config.yaml` files and
//! their Jinja templates, Ansible node-preparation tasks, shell scripts and
//! Terraform files. Everything is read through [`crate::yaml`] so each
//! finding points at `file:line:col`.
//!
//! The pipeline is: [`input`] finds and parses files, [`model`] sorts the
//! documents into typed views (objects, Helm values with the release they
//! belong to, RKE2 configs, tasks, shell commands), [`schema`] validates
//! object shapes strictly, and [`rules`] applies the catalog. Every rule has
//! a stable id, a severity and a fix; `rules()` is the catalog that
//! `infraflux check --rules` prints and `docs/check-rules.md` is generated
//! from.

mod embed;
mod generators;
mod input;
mod model;
mod namespaces;
mod output;
pub mod rules;
mod schema;
mod selector;
mod versions;

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::diag::{self, Finding};
use crate::exit::Status;

pub use output::{render_human, render_json};
pub use rules::{Rule, catalog, rules};

/// What `check` found.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    /// Sorted by file, line, column, rule.
    pub findings: Vec<Finding>,
    /// Kubernetes objects, Helm values documents, RKE2 configs and task
    /// files that were checked.
    pub objects_checked: usize,
    /// Every file that was read, in the order it was read.
    pub files: Vec<String>,
}

impl CheckReport {
    pub fn has_errors(&self) -> bool {
        diag::has_errors(&self.findings)
    }

    /// `BadInput` when a file could not be read or parsed (the other files
    /// were still checked), else `Failed` when any finding is an error, else
    /// `Pass`.
    pub fn status(&self) -> Status {
        if self.findings.iter().any(|f| is_bad_input(&f.rule)) {
            Status::BadInput
        } else if self.has_errors() {
            Status::Failed
        } else {
            Status::Pass
        }
    }

    pub fn count(&self, severity: diag::Severity) -> usize {
        self.findings.iter().filter(|f| f.severity == severity).count()
    }
}

fn is_bad_input(rule: &str) -> bool {
    [crate::yaml::YAML_000.id, crate::yaml::YAML_001.id, crate::yaml::YAML_003.id].contains(&rule)
}

/// How `check` reads its inputs beyond the paths themselves.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The repository the paths belong to. Every manifest under it is read
    /// to resolve references (dependsOn, sourceRef, parentRefs, issuerRef)
    /// and namespaces (kustomizations, Flux Kustomizations); findings are
    /// reported only for the paths.
    pub repo: Option<PathBuf>,
    /// The Cilium version the rules judge against when the inputs do not
    /// pin one (`--cilium-version`, or the cluster profile's).
    pub cilium_version: Option<String>,
    /// The Gateway API CRD bundle to judge against when the inputs name
    /// none (`--gateway-api-version`, e.g. v1.4.1).
    pub gateway_api_version: Option<String>,
    /// Its channel, `standard` or `experimental` (`--gateway-api-channel`).
    pub gateway_api_channel: Option<String>,
    /// The Flux distribution to judge against when the inputs name none
    /// (`--flux-version`, e.g. v2.9.5).
    pub flux_version: Option<String>,
    /// Versions of the cluster profile given next to the manifests; they
    /// come after the inputs and the flags, before the default profile.
    pub profile: Option<crate::profile::Versions>,
}

/// Inputs that could not be checked at all (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("failed to read {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("no checkable files found in {0}")]
    NoInputs(String),
    /// A cluster profile that does not parse (manifests that do not parse
    /// are findings in the report instead).
    #[error("{} input file(s) are not valid YAML", .findings.len())]
    Malformed { findings: Vec<Finding> },
}

impl CheckError {
    pub fn status(&self) -> Status {
        Status::BadInput
    }

    /// The error as findings (for the renderers).
    pub fn findings(&self) -> Vec<Finding> {
        match self {
            CheckError::Malformed { findings } => findings.clone(),
            CheckError::Read { path, source } => vec![
                crate::yaml::YAML_000
                    .finding(format!("failed to read {path}: {source}"))
                    .at(diag::Location { file: path.clone(), line: 0, col: 0 }),
            ],
            CheckError::NoInputs(what) => vec![crate::yaml::YAML_000.finding_hint(
                format!("no checkable files found in {what}"),
                "pass manifest files or directories containing .yaml/.yml/.j2/.sh/.tf files",
            )],
        }
    }
}

/// Checks `paths` (files or directories).
pub fn check(paths: &[PathBuf]) -> Result<CheckReport, CheckError> {
    check_with(paths, &Options::default())
}

/// Checks `paths` with options. `Err` only when a path does not exist or
/// holds nothing checkable; a broken file is a finding and the rest is
/// still checked.
pub fn check_with(paths: &[PathBuf], opts: &Options) -> Result<CheckReport, CheckError> {
    let files = input::discover(paths)?;
    let mut layout = input::Layout::default();
    let mut sources = Vec::with_capacity(files.len());
    let mut notes = Vec::new();
    for file in &files {
        match input::load(file, &mut layout) {
            input::Loaded::Ok(src) => sources.push(src),
            input::Loaded::Malformed(f) | input::Loaded::Skipped(f) => notes.push(*f),
        }
    }
    if let Some(repo) = &opts.repo {
        let inputs: std::collections::HashSet<&PathBuf> = files.iter().collect();
        let mut more = Vec::new();
        // An unreadable repository only loses context, never the check.
        let _ = input::walk(repo, &mut more);
        for file in more.iter().filter(|f| !inputs.contains(f)) {
            if let input::Loaded::Ok(mut src) = input::load(file, &mut layout) {
                src.context = true;
                sources.push(src);
            }
        }
    }
    Ok(check_sources(&sources, notes, opts))
}

/// Checks in-memory inputs, `(file name, text)`. Used by tests and by the
/// stack renderer to check its own output before writing it.
pub fn check_texts(texts: &[(String, String)]) -> Result<CheckReport, CheckError> {
    let mut sources = Vec::new();
    let mut notes = Vec::new();
    for (name, text) in texts {
        match input::load_text(name, text.clone()) {
            input::Loaded::Ok(src) => sources.push(src),
            input::Loaded::Malformed(f) | input::Loaded::Skipped(f) => notes.push(*f),
        }
    }
    Ok(check_sources(&sources, notes, &Options::default()))
}

fn check_sources(sources: &[input::Source], notes: Vec<Finding>, opts: &Options) -> CheckReport {
    let mut findings = notes;
    let ctx = model::Ctx::build(sources, opts, &mut findings);
    let mut specific = Vec::new();
    rules::run_all(&ctx, &mut specific);
    let mut schema_findings = Vec::new();
    for obj in &ctx.objects {
        schema::check_object(obj, &mut schema_findings);
    }
    // A removed field (LB pool `cidrs`) is also an unknown field to the
    // schema; the specific rule explains it better, so it wins.
    schema_findings.retain(|s| {
        !specific.iter().any(|f: &Finding| f.location.is_some() && f.location == s.location)
    });
    findings.extend(specific);
    findings.extend(schema_findings);
    let context: std::collections::HashSet<&str> =
        sources.iter().filter(|s| s.context).map(|s| s.path.as_str()).collect();
    if !context.is_empty() {
        findings.retain(|f| f.location.as_ref().is_none_or(|l| !context.contains(l.file.as_str())));
    }
    diag::sort(&mut findings);
    findings.dedup();
    CheckReport {
        findings,
        objects_checked: ctx.checked_count(),
        files: sources.iter().filter(|s| !s.context).map(|s| s.path.clone()).collect(),
    }
}

/// The lead's entry point: checks `paths`, and the cluster profile when one
/// is given. `Err` means exit 2; `Ok` with error findings means exit 1.
pub fn run(paths: &[PathBuf], profile: Option<&Path>) -> Result<CheckReport, CheckError> {
    run_with(paths, profile, &Options::default())
}

/// [`run`] with options (`--repo`, `--cilium-version`).
pub fn run_with(paths: &[PathBuf], profile: Option<&Path>, opts: &Options) -> Result<CheckReport, CheckError> {
    let mut opts = opts.clone();
    if let Some(p) = profile
        && let Ok(loaded) = crate::profile::load_file(p)
    {
        opts.profile = Some(loaded.profile.versions);
    }
    let mut report = check_with(paths, &opts)?;
    if let Some(profile) = profile {
        report.findings.extend(profile_findings(profile)?);
        diag::sort(&mut report.findings);
        report.files.push(profile.display().to_string());
    }
    Ok(report)
}

/// Validates the cluster profile with `profile::check_file` (PROF rules).
/// A profile that does not decode is bad input (exit 2), like broken YAML.
fn profile_findings(profile: &Path) -> Result<Vec<Finding>, CheckError> {
    let checked = crate::profile::check_file(profile);
    if checked.loaded.is_none() {
        return Err(CheckError::Malformed { findings: checked.findings });
    }
    Ok(checked.findings)
}

#[cfg(test)]
mod tests;
