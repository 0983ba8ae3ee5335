//! `wait` steps: what is waited for and that it can ever be true.

use super::*;

impl Validator<'_> {
    pub(super) fn wait(&mut self, path: &str, w: &Wait, known: &BTreeSet<String>) {
        self.refs(path, &w.target, known);
        let n = [w.condition.is_some(), w.field.is_some(), w.deleted == Some(true)]
            .iter()
            .filter(|b| **b)
            .count();
        if n != 1 {
            self.error(
                &SUITE_009,
                path,
                "wait needs exactly one of `condition`, `field` or `deleted: true`".into(),
                "e.g. `condition: {type: Ready, status: \"True\"}`",
            );
        }
        if w.target.name.is_none() && (w.condition.is_some() || w.deleted == Some(true)) {
            self.error(
                &SUITE_009,
                &format!("{path}.ref"),
                "waiting for a condition or deletion needs `ref.name`".into(),
                "name the object, or use `field` with a `count` check on a list",
            );
        }
        if let Some(f) = &w.field {
            self.predicate(&format!("{path}.field"), f, known);
            if f.same_as.is_some() {
                self.error(
                    &SUITE_009,
                    &format!("{path}.field.sameAs"),
                    "`sameAs` compares two reports; a wait reads an object".into(),
                    "use `sameAs` in `assert: {probe: <name>}`",
                );
            }
        }
    }
}
