//! Where the Helm charts of the stack come from when no chart repository is
//! reachable: the upstream Go modules, which carry each chart's source
//! (`templates/`, `values.yaml`, `values.schema.json`) at the project's
//! release tag. `.ci/fetch-charts` downloads the versions pinned in
//! `harness/tools/charts/go.mod` into the Go module cache; air-gapped sites
//! name a local chart directory instead. The installer packages what this
//! finds; `check` reads its values to validate chart keys.
//!
//! A chart version is not always its module's version: Cilium's and
//! cert-manager's are (cert-manager's in-module `Chart.yaml` says `v0.0.0`,
//! its release tool stamps the tag), external-dns and sealed-secrets version
//! their charts separately. [`locate`] therefore accepts a match on either.

use std::path::{Path, PathBuf};

use infraflux_model::yaml;

/// A chart the stack installs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Chart {
    Cilium,
    CertManager,
    ExternalDns,
    SealedSecrets,
}

impl Chart {
    pub const ALL: [Chart; 4] = [Chart::Cilium, Chart::CertManager, Chart::ExternalDns, Chart::SealedSecrets];

    /// The chart's `name:` in Chart.yaml (and the usual release name).
    pub fn name(self) -> &'static str {
        match self {
            Chart::Cilium => "cilium",
            Chart::CertManager => "cert-manager",
            Chart::ExternalDns => "external-dns",
            Chart::SealedSecrets => "sealed-secrets",
        }
    }

    /// The Go module that carries the chart's source.
    pub fn go_module(self) -> &'static str {
        match self {
            Chart::Cilium => "github.com/cilium/cilium",
            Chart::CertManager => "github.com/cert-manager/cert-manager",
            Chart::ExternalDns => "sigs.k8s.io/external-dns",
            Chart::SealedSecrets => "github.com/bitnami-labs/sealed-secrets",
        }
    }

    /// The chart directory inside the module.
    pub fn subdir(self) -> &'static str {
        match self {
            Chart::Cilium => "install/kubernetes/cilium",
            Chart::CertManager => "deploy/charts/cert-manager",
            Chart::ExternalDns => "charts/external-dns",
            Chart::SealedSecrets => "helm/sealed-secrets",
        }
    }
}

impl std::fmt::Display for Chart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A chart's source directory and the versions it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartDir {
    pub chart: Chart,
    /// Holds Chart.yaml, values.yaml and templates/.
    pub path: PathBuf,
    /// The Go module version it came from (`None` for a local directory).
    pub module_version: Option<String>,
    /// `version:` of Chart.yaml as shipped (cert-manager's says `v0.0.0`).
    pub chart_version: String,
    /// `appVersion:` of Chart.yaml, when present.
    pub app_version: Option<String>,
}

impl ChartDir {
    /// The version to stamp when packaging: the shipped chart version,
    /// unless it is a placeholder, then the module's.
    pub fn effective_version(&self) -> String {
        if is_placeholder(&self.chart_version) {
            self.module_version.clone().unwrap_or_else(|| self.chart_version.clone())
        } else {
            self.chart_version.clone()
        }
    }

    pub fn values_yaml(&self) -> PathBuf {
        self.path.join("values.yaml")
    }

    /// `values.schema.json`, when the chart ships one.
    pub fn values_schema(&self) -> Option<PathBuf> {
        let p = self.path.join("values.schema.json");
        p.is_file().then_some(p)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    #[error(
        "{chart} chart {version} is not in the Go module cache ({caches}); fetch it with `.ci/fetch-charts` (pins in harness/tools/charts/go.mod) or `go mod download {module}@<version>`, or name a local chart directory"
    )]
    NotFetched {
        chart: Chart,
        version: String,
        module: &'static str,
        caches: String,
    },
    #[error("chart directory {path} has no readable Chart.yaml: {message}")]
    BadChartDir { path: PathBuf, message: String },
    #[error("chart directory {path} holds chart {found:?}, expected {chart}")]
    WrongChart { path: PathBuf, chart: Chart, found: String },
    #[error("chart directory {path} holds {chart} {found}, the profile asks for {version}")]
    VersionMismatch {
        path: PathBuf,
        chart: Chart,
        found: String,
        version: String,
    },
}

/// Go module caches to search, most specific first: `$GOMODCACHE`, the
/// project's cache (`$INFRAFLUX_CACHE/go/mod`, default
/// `~/.cache/infraflux/go/mod`, where the repo's scripts download), then Go's
/// default `~/go/pkg/mod`.
pub fn module_caches() -> Vec<PathBuf> {
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    let home = env("HOME");
    let project = infraflux_model::pins::cache_dir();
    let mut out: Vec<PathBuf> = [
        env("GOMODCACHE"),
        project.map(|p| p.join("go").join("mod")),
        env("GOPATH").map(|p| p.join("pkg").join("mod")),
        home.map(|h| h.join("go").join("pkg").join("mod")),
    ]
    .into_iter()
    .flatten()
    .collect();
    out.dedup();
    out
}

/// `rel` (`<module>@<version>/<subdir>`) in the first of [`module_caches`]
/// that holds it as a directory; otherwise the caches searched, `, `-joined.
pub fn in_module_caches(rel: &Path) -> Result<PathBuf, String> {
    let caches = module_caches();
    caches
        .iter()
        .map(|c| c.join(rel))
        .find(|d| d.is_dir())
        .ok_or_else(|| caches.iter().map(|c| c.display().to_string()).collect::<Vec<_>>().join(", "))
}

/// The first of [`module_caches`] (where `.ci/fetch-charts` writes).
pub fn module_cache() -> PathBuf {
    module_caches().into_iter().next().unwrap_or_else(|| PathBuf::from("go/pkg/mod"))
}

/// Finds `chart` at `version` (with or without a leading `v`): in
/// `local_dir` when given (it must hold that chart; a version mismatch is an
/// error unless the directory's Chart.yaml carries a placeholder), otherwise
/// in the Go module caches, matching the module version or Chart.yaml's.
pub fn locate(chart: Chart, version: &str, local_dir: Option<&Path>) -> Result<ChartDir, ChartError> {
    if let Some(dir) = local_dir {
        let found = read_chart_dir(chart, dir, None)?;
        if !is_placeholder(&found.chart_version) && norm(&found.chart_version) != norm(version) {
            return Err(ChartError::VersionMismatch {
                path: dir.to_owned(),
                chart,
                found: found.chart_version,
                version: version.to_owned(),
            });
        }
        return Ok(found);
    }
    locate_in(chart, version, &module_caches())
}

/// [`locate`] over explicit module caches.
pub fn locate_in(chart: Chart, version: &str, caches: &[PathBuf]) -> Result<ChartDir, ChartError> {
    let want = norm(version);
    let mut by_chart_version = None;
    for cache in caches {
        for (module_version, root) in module_versions(cache, chart.go_module()) {
            let dir = root.join(chart.subdir());
            let Ok(found) = read_chart_dir(chart, &dir, Some(module_version.clone())) else {
                continue;
            };
            if norm(&module_version) == want {
                return Ok(found);
            }
            if by_chart_version.is_none() && norm(&found.chart_version) == want {
                by_chart_version = Some(found);
            }
        }
    }
    by_chart_version.ok_or_else(|| ChartError::NotFetched {
        chart,
        version: version.to_owned(),
        module: chart.go_module(),
        caches: caches.iter().map(|c| c.display().to_string()).collect::<Vec<_>>().join(", "),
    })
}

/// Every downloaded version of `module` in one cache: `(version, dir)`,
/// newest name last (the order `read_dir` gives is not stable).
fn module_versions(cache: &Path, module: &str) -> Vec<(String, PathBuf)> {
    let escaped = escape_module_path(module);
    let (parent, base) = match escaped.rsplit_once('/') {
        Some((p, b)) => (cache.join(p), b.to_owned()),
        None => (cache.to_owned(), escaped.clone()),
    };
    let prefix = format!("{base}@");
    let mut out: Vec<(String, PathBuf)> = std::fs::read_dir(&parent)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let v = name.strip_prefix(&prefix)?.to_owned();
            e.path().is_dir().then_some((v, e.path()))
        })
        .collect();
    out.sort();
    out
}

fn read_chart_dir(chart: Chart, dir: &Path, module_version: Option<String>) -> Result<ChartDir, ChartError> {
    let file = dir.join("Chart.yaml");
    let bad = |message: String| ChartError::BadChartDir { path: dir.to_owned(), message };
    let docs = yaml::parse_file(&file).map_err(|e| bad(e.to_string()))?;
    let root = docs.first().map(|d| d.root.to_json()).ok_or_else(|| bad("empty Chart.yaml".into()))?;
    let field = |k: &str| root.get(k).and_then(value_text);
    let name = field("name").ok_or_else(|| bad("no name".into()))?;
    if name != chart.name() {
        return Err(ChartError::WrongChart { path: dir.to_owned(), chart, found: name });
    }
    Ok(ChartDir {
        chart,
        path: dir.to_owned(),
        module_version,
        chart_version: field("version").ok_or_else(|| bad("no version".into()))?,
        app_version: field("appVersion"),
    })
}

fn value_text(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn norm(v: &str) -> &str {
    v.trim().strip_prefix('v').unwrap_or(v.trim())
}

fn is_placeholder(v: &str) -> bool {
    norm(v) == "0.0.0"
}

/// The Go module cache's case encoding: each upper-case letter becomes `!`
/// followed by its lower-case form (golang.org/x/mod/module.EscapePath).
pub fn escape_module_path(module: &str) -> String {
    let mut out = String::with_capacity(module.len());
    for c in module.chars() {
        if c.is_ascii_uppercase() {
            out.push('!');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_module(cache: &Path, chart: Chart, module_version: &str, chart_yaml: &str) -> PathBuf {
        let dir = cache
            .join(format!("{}@{module_version}", escape_module_path(chart.go_module())))
            .join(chart.subdir());
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("Chart.yaml"), chart_yaml).unwrap();
        std::fs::write(dir.join("values.yaml"), "a: 1\n").unwrap();
        dir
    }

    #[test]
    fn escapes_upper_case_like_go() {
        assert_eq!(escape_module_path("github.com/BurntSushi/toml"), "github.com/!burnt!sushi/toml");
        assert_eq!(escape_module_path("sigs.k8s.io/external-dns"), "sigs.k8s.io/external-dns");
    }

    #[test]
    fn finds_a_chart_by_module_version_or_by_chart_version() {
        let t = tempfile::tempdir().unwrap();
        let caches = vec![t.path().to_owned()];
        fake_module(t.path(), Chart::CertManager, "v1.21.2", "name: cert-manager\nversion: v0.0.0\nappVersion: v0.0.0\n");
        fake_module(t.path(), Chart::SealedSecrets, "v0.40.0", "name: sealed-secrets\nversion: 2.19.3\nappVersion: 0.39.1\n");

        let cm = locate_in(Chart::CertManager, "1.21.2", &caches).unwrap();
        assert_eq!(cm.module_version.as_deref(), Some("v1.21.2"));
        assert_eq!(cm.effective_version(), "v1.21.2", "placeholder chart versions take the module's");

        let ss = locate_in(Chart::SealedSecrets, "2.19.3", &caches).unwrap();
        assert_eq!(ss.effective_version(), "2.19.3");
        assert_eq!(ss.app_version.as_deref(), Some("0.39.1"));
        assert!(ss.values_yaml().is_file());
        assert_eq!(ss.values_schema(), None);
    }

    #[test]
    fn a_missing_version_names_the_module_and_how_to_fetch_it() {
        let t = tempfile::tempdir().unwrap();
        fake_module(t.path(), Chart::Cilium, "v1.20.2", "name: cilium\nversion: 1.20.2\n");
        let e = locate_in(Chart::Cilium, "1.18.6", &[t.path().to_owned()]).unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, ChartError::NotFetched { .. }));
        assert!(msg.contains("cilium chart 1.18.6") && msg.contains("github.com/cilium/cilium") && msg.contains(".ci/fetch-charts"), "{msg}");
    }

    #[test]
    fn a_local_directory_must_hold_the_chart_and_version_asked_for() {
        let t = tempfile::tempdir().unwrap();
        let dir = fake_module(t.path(), Chart::Cilium, "v1.19.4", "name: cilium\nversion: 1.19.4\n");
        assert_eq!(locate(Chart::Cilium, "v1.19.4", Some(&dir)).unwrap().module_version, None);
        assert!(matches!(
            locate(Chart::Cilium, "1.20.2", Some(&dir)),
            Err(ChartError::VersionMismatch { .. })
        ));
        assert!(matches!(
            locate(Chart::ExternalDns, "1.19.4", Some(&dir)),
            Err(ChartError::WrongChart { .. })
        ));
        assert!(matches!(
            locate(Chart::Cilium, "1.19.4", Some(t.path())),
            Err(ChartError::BadChartDir { .. })
        ));
    }

    /// The pins `.ci/fetch-charts` downloads (the test command runs it
    /// first) resolve to real charts.
    #[test]
    fn every_pinned_chart_module_holds_its_chart() {
        let pins = include_str!("../../tools/charts/go.mod");
        for chart in Chart::ALL {
            let line = pins
                .lines()
                .map(str::trim)
                .find(|l| l.starts_with(&format!("{} ", chart.go_module())))
                .unwrap_or_else(|| panic!("{} is not pinned in harness/tools/charts/go.mod", chart.go_module()));
            let version = line.split_whitespace().nth(1).unwrap();
            let found = locate(chart, version, None).unwrap_or_else(|e| panic!("{e}"));
            assert!(found.values_yaml().is_file(), "{}", found.path.display());
            assert!(found.path.join("templates").is_dir(), "{}", found.path.display());
        }
    }
}
