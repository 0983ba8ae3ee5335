//! Install sources: local chart directories (PROF-037) and the image
//! registry mirror (PROF-038).

use std::path::Path;

use super::Cx;
use crate::profile::model::Profile;

pub(super) fn install(cx: &mut Cx, p: &Profile) {
    let charts = &p.install.charts;
    for (key, chart, _) in charts.entries() {
        let path = format!("install.charts.{key}");
        let Some(dir) = charts.resolved(chart, cx.file) else { continue };
        if let Some(problem) = chart_dir_problem(chart, &dir) {
            cx.push("PROF-037", &path, format!("{}: {problem}", dir.display()));
        }
    }
    if let Some(mirror) = &p.install.image_registry
        && let Some(problem) = registry_problem(mirror)
    {
        cx.push("PROF-038", "install.imageRegistry", format!("`{mirror}` {problem}"));
    }
}

/// Why `dir` cannot serve as the local copy of `chart`, if it cannot. The
/// Gateway API entry holds CRD files, not a chart.
fn chart_dir_problem(chart: &str, dir: &Path) -> Option<String> {
    if !dir.is_dir() {
        return Some("is not a directory".into());
    }
    if chart == "gateway-api" {
        let yaml = std::fs::read_dir(dir)
            .ok()?
            .flatten()
            .any(|e| e.file_name().to_str().is_some_and(|n| n.ends_with(".yaml") && n != "kustomization.yaml"));
        return (!yaml).then(|| "holds no CRD .yaml files".into());
    }
    let file = dir.join("Chart.yaml");
    let Ok(text) = std::fs::read_to_string(&file) else {
        return Some("has no Chart.yaml (not an unpacked chart)".into());
    };
    // `name:` at the top level; a full YAML parse is the installer's job.
    let name = text
        .lines()
        .find_map(|l| l.strip_prefix("name:"))
        .map(|n| n.trim().trim_matches(['"', '\'']).to_owned());
    match name {
        Some(n) if n == chart => None,
        Some(n) => Some(format!("Chart.yaml names chart `{n}`, not `{chart}`")),
        None => Some("Chart.yaml has no `name:`".into()),
    }
}

/// Why `text` is not a registry `host[:port][/path]`, if it is not. The
/// host must look like a registry (a dot, a port or `localhost`), as
/// container runtimes decide whether the first segment is a host.
pub fn registry_problem(text: &str) -> Option<String> {
    if text.contains("://") {
        return Some("has a URL scheme; write the registry as host[:port][/path]".into());
    }
    if text.contains('@') || text.is_empty() || text.ends_with('/') {
        return Some("is not host[:port][/path]".into());
    }
    let (host_port, path) = text.split_once('/').map_or((text, None), |(h, p)| (h, Some(p)));
    let (host, port) = match host_port.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (host_port, None),
    };
    let label_ok = |l: &str| {
        !l.is_empty() && !l.starts_with('-') && !l.ends_with('-') && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    if !host.split('.').all(label_ok) {
        return Some(format!("has `{host}` where a registry host name belongs"));
    }
    if let Some(p) = port
        && p.parse::<u16>().map_or(true, |n| n == 0)
    {
        return Some(format!("has port `{p}`, not a number in 1-65535"));
    }
    if !(host.contains('.') || port.is_some() || host == "localhost") {
        return Some(format!("`{host}` is not a registry host (no dot, port or localhost): it would be read as a Docker Hub namespace"));
    }
    if let Some(path) = path {
        let component_ok = |c: &str| {
            !c.is_empty()
                && c.chars().all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || matches!(ch, '.' | '_' | '-'))
                && c.starts_with(|ch: char| ch.is_ascii_alphanumeric())
        };
        if let Some(bad) = path.split('/').find(|c| !component_ok(c)) {
            return Some(format!("has path component `{bad}`; repository paths are lower-case letters, digits and . _ -, without a tag"));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::registry_problem;

    #[test]
    fn registry_hosts_with_optional_port_and_path() {
        for ok in ["mirror.example.internal", "localhost:5000", "10.0.0.5:5000/cache", "harbor.lab/proxy/quay", "reg.lab:443/a.b_c-d"] {
            assert_eq!(registry_problem(ok), None, "{ok}");
        }
        for bad in ["https://mirror.lab", "mirror", "mirror.lab/", "mirror.lab/Upper", "mirror.lab:0", "mirror.lab:x", "mirror.lab/cilium:v1", "-a.lab", "mirror.lab@sha256:00", ""] {
            assert!(registry_problem(bad).is_some(), "{bad}");
        }
    }
}
