//! Where objects land, as the tools that apply the files decide it.
//!
//! kustomize: a `kustomization.yaml` (or `kind: Component`) with
//! `namespace:` sets the namespace of every namespaced object it pulls in
//! through `resources:` and `components:`, nested kustomizations included;
//! the outermost one that sets it wins, because kustomize runs the outer
//! namespace transformer last. Flux: a Kustomization's `targetNamespace`
//! overrides everything built from its `path` (the kustomization there, or
//! every manifest under the path when there is none).
//!
//! A namespace that is a Flux post-build variable (`${NS}`) is unknown.
//! Callers then match references by name and never assume `default`.

use std::collections::{HashMap, HashSet};
use std::path::{Component, Path, PathBuf};

use crate::yaml::Node;

use super::input::Source;

/// What the build tools do to the namespace of a file's objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Override {
    /// Nothing sets it: the object's own `metadata.namespace` counts.
    Keep,
    Set(String),
    /// Set, but to a value only known at apply time (`${VAR}`).
    Unknown,
}

impl Override {
    fn of(text: Option<String>) -> Override {
        match text {
            None => Override::Keep,
            Some(t) if t.contains("${") || t.is_empty() => Override::Unknown,
            Some(t) => Override::Set(t),
        }
    }
}

/// Per-file overrides (keyed by the source path as given).
#[derive(Default)]
pub(crate) struct Namespaces {
    by_file: HashMap<String, Override>,
    /// Every namespace a file is built into, when a shared component is
    /// pulled in by several kustomizations (its Namespace object becomes one
    /// Namespace per including namespace).
    all_by_file: HashMap<String, Vec<String>>,
}

impl Namespaces {
    pub fn of(&self, file: &str) -> &Override {
        self.by_file.get(file).unwrap_or(&Override::Keep)
    }

    pub fn all_of(&self, file: &str) -> &[String] {
        self.all_by_file.get(file).map(Vec::as_slice).unwrap_or_default()
    }
}

/// Lexical normalisation (`a/./b/../c` → `a/c`); kustomize paths are
/// relative and never need the file system to resolve.
pub(crate) fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

struct Kust {
    ns: Override,
    /// Normalised targets of `resources:` and `components:`.
    entries: Vec<PathBuf>,
}

fn is_kustomize(root: &Node) -> bool {
    let api = root.get("apiVersion").and_then(Node::scalar_text).unwrap_or_default();
    let kind = root.get("kind").and_then(Node::scalar_text).unwrap_or_default();
    (api.starts_with("kustomize.config.k8s.io") && (kind == "Kustomization" || kind == "Component"))
        || (api.is_empty() && kind.is_empty() && (root.get("resources").is_some() || root.get("namespace").is_some()))
}

fn is_kustomization_file(path: &Path) -> bool {
    matches!(
        path.file_name().and_then(|n| n.to_str()),
        Some("kustomization.yaml" | "kustomization.yml" | "Kustomization")
    )
}

pub(crate) fn resolve(sources: &[Source]) -> Namespaces {
    let files: HashMap<PathBuf, &str> =
        sources.iter().map(|s| (normalize(Path::new(&s.path)), s.path.as_str())).collect();
    let mut kusts: HashMap<PathBuf, Kust> = HashMap::new();
    let mut flux: Vec<(PathBuf, Override)> = Vec::new();
    for src in sources {
        let path = normalize(Path::new(&src.path));
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        for doc in &src.docs {
            let root = &doc.root;
            if is_kustomization_file(&path) && is_kustomize(root) {
                let mut entries = Vec::new();
                for key in ["resources", "components", "bases"] {
                    for e in root.get(key).and_then(Node::as_seq).unwrap_or_default() {
                        let Some(t) = e.scalar_text() else { continue };
                        if t.contains("://") || t.starts_with("github.com/") {
                            continue;
                        }
                        entries.push(normalize(&dir.join(t)));
                    }
                }
                let ns = Override::of(root.get("namespace").and_then(Node::scalar_text));
                kusts.insert(dir.clone(), Kust { ns, entries });
            } else if root.get("apiVersion").and_then(Node::scalar_text).is_some_and(|a| a.starts_with("kustomize.toolkit.fluxcd.io/"))
                && root.get("kind").and_then(Node::as_str) == Some("Kustomization")
            {
                let target = root.lookup("spec.targetNamespace").and_then(Node::scalar_text);
                let Some(p) = root.lookup("spec.path").and_then(Node::scalar_text) else { continue };
                if target.is_none() {
                    continue;
                }
                let p = normalize(Path::new(p.trim_start_matches('/')));
                if p.as_os_str().is_empty() || p.to_string_lossy().contains("${") {
                    continue;
                }
                flux.push((p, Override::of(target)));
            }
        }
    }
    // Parents of each kustomization directory and each file.
    let mut parents: HashMap<&Path, Vec<&Path>> = HashMap::new();
    for (dir, k) in &kusts {
        for e in &k.entries {
            if let Some((key, _)) = kusts.get_key_value(e) {
                parents.entry(key.as_path()).or_default().push(dir.as_path());
            } else if let Some((key, _)) = files.get_key_value(e) {
                parents.entry(key.as_path()).or_default().push(dir.as_path());
            }
        }
    }
    let mut memo: HashMap<&Path, Override> = HashMap::new();
    let mut by_file: HashMap<String, Override> = HashMap::new();
    let mut all_by_file: HashMap<String, Vec<String>> = HashMap::new();
    for (path, name) in &files {
        let mut seen = HashSet::new();
        let o = outer(path.as_path(), &parents, &kusts, &mut memo, &mut seen);
        if o != Override::Keep {
            by_file.insert((*name).to_owned(), o);
        }
        let mut seen = HashSet::new();
        let all = every_outer(path.as_path(), &parents, &kusts, &mut seen);
        if all.len() > 1 {
            all_by_file.insert((*name).to_owned(), all);
        }
    }
    // Flux targetNamespace wins over kustomize.
    if !flux.is_empty() {
        let mut dirs: HashSet<&Path> = HashSet::new();
        for p in files.keys() {
            let mut d = p.parent();
            while let Some(x) = d {
                if !dirs.insert(x) {
                    break;
                }
                d = x.parent();
            }
        }
        for (p, target) in &flux {
            for d in dirs.iter().filter(|d| d.ends_with(p)) {
                let reached: Vec<&Path> = if kusts.contains_key(*d) {
                    below(d, &kusts, &files)
                } else {
                    files.keys().filter(|f| f.starts_with(d)).map(PathBuf::as_path).collect()
                };
                for f in reached {
                    if let Some(name) = files.get(f) {
                        by_file.insert((*name).to_owned(), target.clone());
                    }
                }
            }
        }
    }
    Namespaces { by_file, all_by_file }
}

/// The namespace the outermost kustomization above `node` sets.
fn outer<'a>(
    node: &'a Path,
    parents: &HashMap<&'a Path, Vec<&'a Path>>,
    kusts: &HashMap<PathBuf, Kust>,
    memo: &mut HashMap<&'a Path, Override>,
    seen: &mut HashSet<&'a Path>,
) -> Override {
    if let Some(o) = memo.get(node) {
        return o.clone();
    }
    if !seen.insert(node) {
        return Override::Keep;
    }
    let mut result = Override::Keep;
    for p in parents.get(node).map(Vec::as_slice).unwrap_or_default() {
        let above = outer(p, parents, kusts, memo, seen);
        let here = if above != Override::Keep { above } else { kusts.get(*p).map_or(Override::Keep, |k| k.ns.clone()) };
        if here != Override::Keep {
            result = here;
            break;
        }
    }
    memo.insert(node, result.clone());
    result
}

/// Every namespace the kustomizations above `node` put it into, over all
/// include chains (a shared component is built once per includer).
fn every_outer<'a>(
    node: &'a Path,
    parents: &HashMap<&'a Path, Vec<&'a Path>>,
    kusts: &HashMap<PathBuf, Kust>,
    seen: &mut HashSet<&'a Path>,
) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    if !seen.insert(node) {
        return out;
    }
    for p in parents.get(node).map(Vec::as_slice).unwrap_or_default() {
        let above = every_outer(p, parents, kusts, seen);
        let here = if above.is_empty() {
            match kusts.get(*p).map(|k| &k.ns) {
                Some(Override::Set(ns)) => vec![ns.clone()],
                _ => Vec::new(),
            }
        } else {
            above
        };
        for ns in here {
            if !out.contains(&ns) {
                out.push(ns);
            }
        }
    }
    out
}

/// Every input file a kustomization directory builds from.
fn below<'a>(dir: &'a Path, kusts: &'a HashMap<PathBuf, Kust>, files: &'a HashMap<PathBuf, &str>) -> Vec<&'a Path> {
    let mut out = Vec::new();
    let mut stack = vec![dir];
    let mut seen: HashSet<&Path> = HashSet::new();
    while let Some(d) = stack.pop() {
        if !seen.insert(d) {
            continue;
        }
        let Some((key, k)) = kusts.get_key_value(d) else { continue };
        if let Some((f, _)) = files.get_key_value(&key.join("kustomization.yaml")) {
            out.push(f.as_path());
        }
        for e in &k.entries {
            if let Some((kd, _)) = kusts.get_key_value(e) {
                stack.push(kd.as_path());
            } else if let Some((f, _)) = files.get_key_value(e) {
                out.push(f.as_path());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_is_lexical() {
        assert_eq!(normalize(Path::new("a/./b/../c")), PathBuf::from("a/c"));
        assert_eq!(normalize(Path::new("./apps/x/")), PathBuf::from("apps/x"));
        assert_eq!(normalize(Path::new("../x")), PathBuf::from("../x"));
    }
}
