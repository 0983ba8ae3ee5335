//! kustomize `configMapGenerator` entries: which file becomes which key of
//! which ConfigMap, so a HelmRelease's `valuesFrom` can be tied to the
//! values file it really reads.
//!
//! The generated ConfigMap is named after the generator plus a content hash
//! unless `options.disableNameSuffixHash` is set; kustomize rewrites the
//! references it knows, Flux's `valuesFrom` is not one of them in every
//! setup, so a reference is matched on the generator's name either way.

use std::path::{Path, PathBuf};

use crate::yaml::Node;

use super::input::Source;
use super::namespaces::normalize;

/// One `files:` entry of a generator.
pub(crate) struct Generated {
    /// The generator's `name` (the ConfigMap name without the hash suffix).
    pub name: String,
    /// The data key: `key=path` gives it, else the file's base name.
    pub key: String,
    /// The values file, as the source path was given (for positions).
    pub file: String,
    /// The directory of the kustomization.yaml (to prefer the nearest).
    pub dir: PathBuf,
}

fn is_kustomization_file(path: &Path) -> bool {
    matches!(
        path.file_name().and_then(|n| n.to_str()),
        Some("kustomization.yaml" | "kustomization.yml" | "Kustomization")
    )
}

/// Every generator file entry whose file is among `sources`.
pub(crate) fn collect(sources: &[Source]) -> Vec<Generated> {
    let mut out = Vec::new();
    let known: std::collections::HashMap<PathBuf, &str> =
        sources.iter().map(|s| (normalize(Path::new(&s.path)), s.path.as_str())).collect();
    for src in sources {
        let path = normalize(Path::new(&src.path));
        if !is_kustomization_file(&path) {
            continue;
        }
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        for doc in &src.docs {
            for g in doc.root.get("configMapGenerator").and_then(Node::as_seq).unwrap_or_default() {
                let Some(name) = g.get("name").and_then(Node::scalar_text) else { continue };
                for f in g.get("files").and_then(Node::as_seq).unwrap_or_default() {
                    let Some(entry) = f.scalar_text() else { continue };
                    let (key, rel) = match entry.split_once('=') {
                        Some((k, p)) => (k.trim().to_owned(), p.trim().to_owned()),
                        None => {
                            let base = entry.rsplit('/').next().unwrap_or(&entry).to_owned();
                            (base, entry.clone())
                        }
                    };
                    let Some(file) = known.get(&normalize(&dir.join(&rel))) else { continue };
                    out.push(Generated { name: name.clone(), key, file: (*file).to_owned(), dir: dir.clone() });
                }
            }
        }
    }
    out
}

/// The generator entry a `valuesFrom` reference (`name`, `key`) from the
/// object in `from_file` means: same name and key, nearest directory.
pub(crate) fn find<'g>(all: &'g [Generated], name: &str, key: &str, from_file: &str) -> Option<&'g Generated> {
    let from = normalize(Path::new(from_file));
    let shared = |g: &Generated| from.components().zip(g.dir.components()).take_while(|(a, b)| a == b).count();
    all.iter().filter(|g| g.name == name && g.key == key).max_by_key(|g| shared(g))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generator_files_are_keyed_and_the_nearest_wins() {
        let src = |path: &str, text: &str| super::super::input::load_text(path, text.to_owned());
        let mut sources = Vec::new();
        for (p, t) in [
            ("a/app/kustomization.yaml", "configMapGenerator:\n  - name: cilium-values\n    files:\n      - values.yaml=./helm-values.yaml\n"),
            ("a/app/helm-values.yaml", "kubeProxyReplacement: true\n"),
            ("b/app/kustomization.yaml", "configMapGenerator:\n  - name: cilium-values\n    files: [values.yaml]\n"),
            ("b/app/values.yaml", "kubeProxyReplacement: true\n"),
        ] {
            if let super::super::input::Loaded::Ok(s) = src(p, t) {
                sources.push(s);
            }
        }
        let all = collect(&sources);
        assert_eq!(all.len(), 2);
        let g = find(&all, "cilium-values", "values.yaml", "a/app/helmrelease.yaml").expect("found");
        assert_eq!(g.file, "a/app/helm-values.yaml");
        let g = find(&all, "cilium-values", "values.yaml", "b/app/helmrelease.yaml").expect("found");
        assert_eq!(g.file, "b/app/values.yaml");
        assert!(find(&all, "cilium-values", "other.yaml", "b/app/helmrelease.yaml").is_none());
    }
}
