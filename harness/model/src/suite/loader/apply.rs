//! `apply` steps: manifests inline or from fixtures, each object complete.

use super::*;

impl Validator<'_> {
    pub(super) fn apply(&mut self, path: &str, a: &Apply, known: &BTreeSet<String>) {
        let docs: Vec<serde_json::Value> = match (&a.manifest, &a.file) {
            (Some(m), None) => match m {
                serde_json::Value::Array(items) => items.clone(),
                other => vec![other.clone()],
            },
            (None, Some(f)) => match self.fixture(&format!("{path}.file"), f) {
                Some(d) => d,
                None => return,
            },
            _ => {
                self.error(
                    &SUITE_009,
                    path,
                    "apply needs exactly one of `manifest` or `file`".into(),
                    "inline the object under `manifest:` or name a file under fixtures/ with `file:`",
                );
                return;
            }
        };
        let where_ = match &a.file {
            Some(_) => format!("{path}.file"),
            None => format!("{path}.manifest"),
        };
        for (i, d) in docs.iter().enumerate() {
            let ok = d.get("apiVersion").and_then(|v| v.as_str()).is_some()
                && d.get("kind").and_then(|v| v.as_str()).is_some()
                && d.pointer("/metadata/name").and_then(|v| v.as_str()).is_some();
            if !ok {
                self.error(
                    &SUITE_016,
                    &where_,
                    format!("object {i} lacks apiVersion, kind or metadata.name"),
                    "every applied object needs apiVersion, kind and metadata.name",
                );
            }
            let mut names = Vec::new();
            referenced_json(d, &mut names);
            self.vars(&where_, names, known);
        }
    }

    pub(super) fn fixture(&mut self, path: &str, rel: &str) -> Option<Vec<serde_json::Value>> {
        if let Some(d) = self.fixtures.get(rel) {
            return Some(d.clone());
        }
        let p = Path::new(rel);
        if p.is_absolute() || p.components().any(|c| matches!(c, Component::ParentDir)) {
            self.error(
                &SUITE_008,
                path,
                format!("fixture path `{rel}` leaves the fixtures directory"),
                "write the path relative to fixtures/, without `..`",
            );
            return None;
        }
        let full = self.fixtures_dir.join(p);
        if !full.is_file() {
            self.error(
                &SUITE_008,
                path,
                format!("fixture file `{}` does not exist", full.display()),
                "create the file under fixtures/ or fix the path",
            );
            return None;
        }
        match yaml::parse_file(&full) {
            Ok(docs) => {
                let values: Vec<serde_json::Value> = docs
                    .iter()
                    .filter(|d| !d.root.is_null())
                    .map(|d| d.root.to_json())
                    .collect();
                self.fixtures.insert(rel.to_owned(), values.clone());
                Some(values)
            }
            Err(e) => {
                let inner = Finding::from_yaml_error(&e);
                self.error(
                    &SUITE_008,
                    path,
                    format!("fixture `{rel}` is not valid YAML: {inner}"),
                    "fix the fixture file",
                );
                None
            }
        }
    }
}
