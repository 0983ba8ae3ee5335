//! The helm CLI driver: find the binary, prepare a chart directory, and
//! install, inspect and uninstall releases. Every call is bounded and the
//! child is killed when the caller gives up (cancellation drops the future).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use infraflux_stack::charts::ChartDir;
use serde_json::Value;

/// Env var naming the helm binary.
pub const HELM_ENV: &str = "INFRAFLUX_HELM";
/// The helm version `.ci/build-helm` builds (kept in step with `.ci/versions.env`).
pub const HELM_VERSION: &str = "v4.3.2";

#[derive(Debug, thiserror::Error)]
pub enum HelmError {
    #[error(
        "helm not found ({searched}); build it with `.ci/build-helm` (helm {HELM_VERSION} from the Go module proxy into ~/.cache/infraflux/bin/helm-{HELM_VERSION}/), or install helm and pass --helm PATH or set {HELM_ENV}"
    )]
    NotFound { searched: String },
    #[error("failed to run {helm}")]
    Spawn {
        helm: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`helm {args}` failed ({status}): {stderr}")]
    Failed { args: String, status: String, stderr: String },
    #[error("`helm {args}` gave no answer within {after_s}s")]
    Timeout { args: String, after_s: u64 },
    #[error("failed to prepare chart {chart} in {path}")]
    Prepare {
        chart: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`helm {args}` printed unparsable JSON: {message}")]
    Json { args: String, message: String },
}

/// Finds helm: an explicit path (`--helm`), then `$INFRAFLUX_HELM`, then the
/// repo's build cache (`$INFRAFLUX_CACHE/bin/helm-<ver>/helm`), then `PATH`.
pub fn locate(explicit: Option<&Path>) -> Result<PathBuf, HelmError> {
    if let Some(p) = explicit {
        // Named on purpose: falling back to another helm would surprise.
        return if p.is_file() {
            Ok(p.to_path_buf())
        } else {
            Err(HelmError::NotFound { searched: format!("--helm: {}", p.display()) })
        };
    }
    let mut searched = Vec::new();
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    let cache = infraflux_model::pins::cache_dir().map(|c| c.join("bin").join(format!("helm-{HELM_VERSION}")).join("helm"));
    for (what, cand) in [(HELM_ENV, env(HELM_ENV)), ("the build cache", cache)] {
        if let Some(p) = cand {
            if p.is_file() {
                return Ok(p);
            }
            searched.push(format!("{what}: {}", p.display()));
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let p = dir.join("helm");
            if p.is_file() {
                return Ok(p);
            }
        }
    }
    searched.push("PATH".into());
    Err(HelmError::NotFound { searched: searched.join(", ") })
}

/// A release as `helm list` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployed {
    pub status: String,
    /// `<name>-<version>`, e.g. `cilium-1.20.2`.
    pub chart: String,
}

/// The helm binary plus the cluster it talks to.
#[derive(Debug, Clone)]
pub struct Helm {
    pub bin: PathBuf,
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
    pub timeout: Duration,
}

impl Helm {
    async fn call(&self, args: &[String]) -> Result<String, HelmError> {
        let mut cmd = tokio::process::Command::new(&self.bin);
        cmd.args(args);
        if let Some(k) = &self.kubeconfig {
            cmd.arg("--kubeconfig").arg(k);
        }
        if let Some(c) = &self.context {
            cmd.arg("--kube-context").arg(c);
        }
        // Helm caches repositories under $HOME; nothing here uses them.
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
        let shown = args.join(" ");
        let child = cmd.spawn().map_err(|source| HelmError::Spawn { helm: self.bin.clone(), source })?;
        // The helm call's own --timeout is the first bound; this one catches
        // a helm that hangs before it gets there.
        let bound = self.timeout + Duration::from_secs(30);
        let out = tokio::time::timeout(bound, child.wait_with_output())
            .await
            .map_err(|_| HelmError::Timeout { args: shown.clone(), after_s: bound.as_secs() })?
            .map_err(|source| HelmError::Spawn { helm: self.bin.clone(), source })?;
        if !out.status.success() {
            return Err(HelmError::Failed {
                args: shown,
                status: out.status.to_string(),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn json(args: &[String], text: &str) -> Result<Value, HelmError> {
        serde_json::from_str(text).map_err(|e| HelmError::Json { args: args.join(" "), message: e.to_string() })
    }

    /// The release's status and chart, `None` when there is no such release.
    pub async fn deployed(&self, release: &str, namespace: &str) -> Result<Option<Deployed>, HelmError> {
        let args = strings(&["list", "-n", namespace, "--deployed", "--failed", "--pending", "-o", "json", "--filter", &format!("^{release}$")]);
        let list = Self::json(&args, &self.call(&args).await?)?;
        Ok(list.as_array().and_then(|a| a.first()).map(|r| Deployed {
            status: r.get("status").and_then(Value::as_str).unwrap_or("").to_owned(),
            chart: r.get("chart").and_then(Value::as_str).unwrap_or("").to_owned(),
        }))
    }

    /// The user-supplied values of the deployed release.
    pub async fn values(&self, release: &str, namespace: &str) -> Result<Value, HelmError> {
        let args = strings(&["get", "values", release, "-n", namespace, "-o", "json"]);
        let v = Self::json(&args, &self.call(&args).await?)?;
        Ok(if v.is_null() { Value::Object(Default::default()) } else { v })
    }

    /// The rendered manifest of the deployed release.
    pub async fn manifest(&self, release: &str, namespace: &str) -> Result<String, HelmError> {
        self.call(&strings(&["get", "manifest", release, "-n", namespace])).await
    }

    /// `helm upgrade --install` without helm's own readiness wait: the
    /// pipeline's named waits follow.
    pub async fn upgrade_install(&self, release: &str, namespace: &str, chart: &Path, values: &Path) -> Result<(), HelmError> {
        let args = vec![
            "upgrade".into(),
            "--install".into(),
            release.into(),
            chart.display().to_string(),
            "-n".into(),
            namespace.into(),
            "--values".into(),
            values.display().to_string(),
            "--timeout".into(),
            format!("{}s", self.timeout.as_secs()),
        ];
        self.call(&args).await.map(|_| ())
    }

    /// Uninstalls and waits for the release's objects to be gone; a missing
    /// release is not an error.
    pub async fn uninstall(&self, release: &str, namespace: &str) -> Result<bool, HelmError> {
        if self.deployed(release, namespace).await?.is_none() {
            return Ok(false);
        }
        let args = strings(&["uninstall", release, "-n", namespace, "--wait", "--timeout", &format!("{}s", self.timeout.as_secs())]);
        self.call(&args).await.map(|_| true)
    }

    /// `helm status` as text, for the diagnostics bundle.
    pub async fn status_text(&self, release: &str, namespace: &str) -> Result<String, HelmError> {
        self.call(&strings(&["status", release, "-n", namespace, "--show-resources"])).await
    }
}

fn strings(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| (*s).to_owned()).collect()
}

/// Copies a chart directory into `into/<chart name>` with its `version:`
/// (and a placeholder `appVersion:`) stamped to the version being
/// installed, as the upstream release tooling does (cert-manager's
/// in-module Chart.yaml says `v0.0.0`). The module cache is read-only and
/// shared, so the chart is never edited in place.
pub fn prepare_chart(dir: &ChartDir, into: &Path) -> Result<PathBuf, HelmError> {
    let dest = into.join(dir.chart.name());
    let perr = |path: &Path| {
        let chart = dir.chart.name().to_owned();
        let path = path.to_path_buf();
        move |source| HelmError::Prepare { chart, path, source }
    };
    copy_tree(&dir.path, &dest).map_err(perr(&dest))?;
    let chart_yaml = dest.join("Chart.yaml");
    let text = std::fs::read_to_string(&chart_yaml).map_err(perr(&chart_yaml))?;
    let version = dir.effective_version();
    let stamped: Vec<String> = text
        .lines()
        .map(|l| {
            if let Some(v) = l.strip_prefix("version:") {
                if v.trim().trim_matches('"') != version {
                    return format!("version: {version}");
                }
            } else if let Some(v) = l.strip_prefix("appVersion:")
                && v.trim().trim_matches('"') == "v0.0.0"
            {
                return format!("appVersion: {version}");
            }
            l.to_owned()
        })
        .collect();
    std::fs::write(&chart_yaml, stamped.join("\n") + "\n").map_err(perr(&chart_yaml))?;
    Ok(dest)
}

fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        let ty = entry.file_type()?;
        if ty.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else if ty.is_file() {
            // Contents only: the module cache's read-only mode must not follow.
            std::fs::write(&target, std::fs::read(entry.path())?)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use infraflux_stack::charts::Chart;

    #[test]
    fn a_placeholder_chart_is_stamped_in_a_copy() {
        let src = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        std::fs::create_dir_all(src.path().join("templates")).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(src.path().join("Chart.yaml"), "apiVersion: v2\nname: cert-manager\nversion: v0.0.0\nappVersion: v0.0.0\n")
            .unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(src.path().join("templates/a.yaml"), "kind: X\n").unwrap_or_else(|e| panic!("{e}"));
        let dir = ChartDir {
            chart: Chart::CertManager,
            path: src.path().to_path_buf(),
            module_version: Some("v1.21.2".into()),
            chart_version: "v0.0.0".into(),
            app_version: Some("v0.0.0".into()),
        };
        let out = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let prepared = prepare_chart(&dir, out.path()).unwrap_or_else(|e| panic!("{e}"));
        let text = std::fs::read_to_string(prepared.join("Chart.yaml")).unwrap_or_else(|e| panic!("{e}"));
        assert!(text.contains("version: v1.21.2\n") && text.contains("appVersion: v1.21.2\n"), "{text}");
        assert!(prepared.join("templates/a.yaml").is_file());
        let original = std::fs::read_to_string(src.path().join("Chart.yaml")).unwrap_or_else(|e| panic!("{e}"));
        assert!(original.contains("version: v0.0.0"), "the source is never edited");
    }

    #[test]
    fn a_missing_helm_says_how_to_get_one() {
        let e = locate(Some(Path::new("/nonexistent/helm"))).err().unwrap_or_else(|| panic!("an explicit bad path is refused"));
        let text = e.to_string();
        assert!(text.contains(".ci/build-helm") && text.contains("/nonexistent/helm"), "{text}");
    }
}
