//! Helm values keys checked against the chart they are for.
//!
//! The chart comes from the Go module cache ([`crate::charts`], offline):
//! the exact version the release pins, else the newest cached release of
//! the same minor line (keys do not change within a line; the message names
//! the version used). A key is known when the chart's `values.yaml` has it
//! or a template reads it (`.Values.a.b`); below a key whose default is an
//! empty map or null (`podAnnotations: {}`, `nodeSelector:`) anything goes,
//! and lists are not looked into.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use crate::charts::{self, Chart as ChartId};
use crate::diag::Finding;
use crate::diag::Severity::Warning;
use crate::yaml::{Node, Pos, Value};

use super::Impact::Silent;
use super::{INPUT_004, Rule, rule};
use crate::check::model::{Chart, Ctx, Values};

pub(crate) const CHART_001: Rule = rule(
    "CHART-001", "chart", Warning, Silent,
    "values key that the chart (at the pinned version) neither defines nor reads: Helm ignores it silently",
    "use the chart's key (the message names the nearest one); see the chart's values.yaml", &[19],
);

pub(crate) const RULES: &[Rule] = &[CHART_001];

/// The key tree a chart knows.
#[derive(Default)]
struct Known {
    children: BTreeMap<String, Known>,
    /// Any key below is accepted (free-form map default, or a template
    /// reads the key as a whole).
    open: bool,
}

impl Known {
    fn insert_path(&mut self, path: &[&str]) {
        let mut at = self;
        for p in path {
            at = at.children.entry((*p).to_owned()).or_default();
        }
        // A template reading `.Values.a.b` may pass the whole map on
        // (toYaml), so what is under it is not judged.
        if at.children.is_empty() {
            at.open = true;
        }
    }

    fn from_values(node: &Node) -> Known {
        let mut k = Known::default();
        match &node.value {
            Value::Map(entries) if !entries.is_empty() => {
                for (key, v) in entries {
                    if let Some(name) = key.scalar_text() {
                        k.children.insert(name, Known::from_values(v));
                    }
                }
            }
            Value::Map(_) | Value::Null => k.open = true,
            _ => {}
        }
        k
    }
}

struct Loaded {
    version: String,
    known: Known,
}

fn chart_id(c: Chart) -> Option<ChartId> {
    match c {
        Chart::Cilium => Some(ChartId::Cilium),
        Chart::CertManager => Some(ChartId::CertManager),
        Chart::ExternalDns => Some(ChartId::ExternalDns),
        Chart::SealedSecrets => Some(ChartId::SealedSecrets),
        Chart::Other => None,
    }
}

/// An exact `x.y.z` (optionally `v`-prefixed), not a range.
fn exact(v: &str) -> Option<&str> {
    let t = v.trim().trim_start_matches('v');
    let ok = t.split('.').count() == 3 && t.split('.').all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
    ok.then_some(t)
}

/// `(major, minor)` of a version or range (`1.19.x`, `~1.19.0`, `>=1.19.0 <1.20.0`).
fn line(v: &str) -> Option<(u64, u64)> {
    let t = v.trim_start_matches(|c: char| !c.is_ascii_digit());
    let mut it = t.split(['.', ' ', ',']);
    let major = it.next()?.parse().ok()?;
    let minor = it.next()?.trim_end_matches(|c: char| !c.is_ascii_digit()).parse().ok()?;
    Some((major, minor))
}

/// Cached module versions of a chart, newest last.
fn cached_versions(chart: ChartId) -> Vec<String> {
    let escaped = charts::escape_module_path(chart.go_module());
    let Some((parent, base)) = escaped.rsplit_once('/') else { return Vec::new() };
    let prefix = format!("{base}@");
    let mut out: Vec<String> = charts::module_caches()
        .iter()
        .flat_map(|c| std::fs::read_dir(c.join(parent)).into_iter().flatten().flatten())
        .filter_map(|e| e.file_name().into_string().ok()?.strip_prefix(&prefix).map(str::to_owned))
        .collect();
    out.sort_by_key(|v| v.trim_start_matches('v').split('.').map(|p| p.parse::<u64>().unwrap_or(0)).collect::<Vec<_>>());
    out.dedup();
    out
}

/// The chart directory for a pinned version: exact, else the newest cached
/// release of the same line (matched on the module version, which is the
/// chart version for Cilium and cert-manager and the app version otherwise).
fn find(chart: ChartId, pinned: &str) -> Option<charts::ChartDir> {
    if let Some(v) = exact(pinned)
        && let Ok(d) = charts::locate(chart, v, None)
    {
        return Some(d);
    }
    let want = line(pinned)?;
    // external-dns charts 1.N ship external-dns 0.N; sealed-secrets charts
    // 2.x are matched by Chart.yaml only.
    let want_module = match chart {
        ChartId::ExternalDns => (0, want.1),
        _ => want,
    };
    cached_versions(chart)
        .into_iter()
        .rev()
        .filter(|v| line(v) == Some(want_module))
        .find_map(|v| charts::locate(chart, &v, None).ok())
}

fn template_refs(dir: &Path, known: &mut Known) {
    static RE: OnceLock<Option<regex::Regex>> = OnceLock::new();
    static VAR: OnceLock<Option<regex::Regex>> = OnceLock::new();
    let Some(re) = super::regex(&RE, r"\.Values((?:\.[A-Za-z0-9_]+)+)") else { return };
    // `{{ $socketLB := .Values.socketLB }}` … `$socketLB.hostNamespaceOnly`
    let Some(var) = super::regex(&VAR, r"\$([A-Za-z0-9_]+)\s*:?=\s*\(?\s*(?:[a-z]+\s+)?\.Values((?:\.[A-Za-z0-9_]+)+)") else { return };
    let mut stack: Vec<PathBuf> = vec![dir.join("templates")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(text) = std::fs::read_to_string(&p) {
                for c in re.captures_iter(&text) {
                    let path: Vec<&str> = c.get(1).map_or("", |m| m.as_str()).split('.').filter(|s| !s.is_empty()).collect();
                    known.insert_path(&path);
                }
                for c in var.captures_iter(&text) {
                    let (Some(name), Some(base)) = (c.get(1), c.get(2)) else { continue };
                    let Ok(uses) = regex::Regex::new(&format!(r"\${}((?:\.[A-Za-z0-9_]+)+)", regex::escape(name.as_str()))) else {
                        continue;
                    };
                    for u in uses.captures_iter(&text) {
                        let full = format!("{}{}", base.as_str(), u.get(1).map_or("", |m| m.as_str()));
                        let path: Vec<&str> = full.split('.').filter(|s| !s.is_empty()).collect();
                        known.insert_path(&path);
                    }
                }
            }
        }
    }
}

fn load(chart: ChartId, pinned: &str) -> Option<Loaded> {
    let dir = find(chart, pinned)?;
    let docs = crate::yaml::parse_file(&dir.values_yaml()).ok()?;
    let mut known = docs.first().map_or_else(Known::default, |d| Known::from_values(&d.root));
    known.open = false;
    template_refs(&dir.path, &mut known);
    Some(Loaded { version: dir.module_version.clone().unwrap_or_else(|| dir.effective_version()), known })
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

fn nearest<'k>(key: &str, siblings: impl Iterator<Item = &'k String>) -> Option<&'k String> {
    let lower = key.to_ascii_lowercase();
    let mut best: Option<(usize, &String)> = None;
    for s in siblings {
        let d = if s.to_ascii_lowercase() == lower { 0 } else { levenshtein(&lower, &s.to_ascii_lowercase()) };
        if best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, s));
        }
    }
    best.filter(|(d, s)| *d <= 2.max(s.len() / 4)).map(|(_, s)| s)
}

fn walk(v: &Values, node: &Node, known: &Known, path: &str, chart: &str, version: &str, out: &mut Vec<Finding>) {
    if known.open {
        return;
    }
    let Some(entries) = node.as_map() else { return };
    for (k, val) in entries {
        let Some(key) = k.scalar_text() else { continue };
        let full = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
        match known.children.get(&key) {
            Some(child) => walk(v, val, child, &full, chart, version, out),
            None => {
                let hint = match nearest(&key, known.children.keys()) {
                    Some(n) => {
                        let p = if path.is_empty() { n.clone() } else { format!("{path}.{n}") };
                        format!("; did you mean `{p}`?")
                    }
                    None => String::new(),
                };
                out.push(
                    CHART_001
                        .at(&v.file, k.pos, format!("`{full}` is not a key of {chart} {version}{hint}"))
                        .with_path(full),
                );
            }
        }
    }
}

/// Charts read once per process: a chart's key tree does not change while
/// `check` runs, and reading Cilium's takes longer than checking a repo.
fn loaded(chart: ChartId, pinned: &str) -> Option<Arc<Loaded>> {
    type Cache = Mutex<HashMap<(ChartId, String), Option<Arc<Loaded>>>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let cache = CACHE.get_or_init(Cache::default);
    let key = (chart, pinned.to_owned());
    if let Some(hit) = cache.lock().ok().and_then(|c| c.get(&key).cloned()) {
        return hit;
    }
    let value = load(chart, pinned).map(Arc::new);
    if let Ok(mut c) = cache.lock() {
        c.insert(key, value.clone());
    }
    value
}

pub(crate) fn check(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let mut cache: HashMap<(ChartId, String), Option<Arc<Loaded>>> = HashMap::new();
    let mut noted: Vec<(ChartId, String)> = Vec::new();
    for v in ctx.values.iter().chain(&ctx.target_paths) {
        let Some(chart) = chart_id(v.chart) else { continue };
        if ctx.sources.iter().any(|s| s.context && s.path == v.file) {
            continue;
        }
        let release = ctx.release_of(v);
        let pinned = release
            .and_then(|r| r.version.clone())
            .or_else(|| (v.chart == Chart::Cilium).then(|| ctx.cilium_version()).flatten());
        let Some(pinned) = pinned else { continue };
        if pinned.contains("${") {
            continue;
        }
        let entry = cache.entry((chart, pinned.clone())).or_insert_with(|| loaded(chart, &pinned));
        match entry {
            Some(l) => walk(v, &v.root, &l.known, "", chart.name(), &l.version, out),
            None => {
                if !noted.contains(&(chart, pinned.clone())) {
                    noted.push((chart, pinned.clone()));
                    out.push(INPUT_004.at(
                        &v.file,
                        if v.root.pos == (Pos { line: 0, col: 0 }) { Pos { line: 1, col: 1 } } else { v.root.pos },
                        format!("{} chart {pinned} (or another release of its line) is not in the Go module cache; keys not checked", chart.name()),
                    ));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_and_lines() {
        assert_eq!(exact("v1.20.2"), Some("1.20.2"));
        assert_eq!(exact("1.20.x"), None);
        assert_eq!(line("~1.19.0"), Some((1, 19)));
        assert_eq!(line(">=1.18.0 <1.19.0"), Some((1, 18)));
        assert_eq!(nearest("automount", ["autoMount".to_owned(), "hostRoot".to_owned()].iter()).map(String::as_str), Some("autoMount"));
        assert_eq!(nearest("mtu", ["MTU".to_owned()].iter()).map(String::as_str), Some("MTU"));
        assert_eq!(nearest("enableDNSCompression", ["MTU".to_owned()].iter()), None);
    }
}
