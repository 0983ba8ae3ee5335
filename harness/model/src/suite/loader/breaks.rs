//! `breaks` (the suite's recipes) and each case's `break`: the negative
//! controls `infraflux prove` runs.

use super::*;
use crate::suite::model::{BreakRecipe, CaseBreak};

impl Validator<'_> {
    pub(super) fn recipes(&mut self, breaks: &BTreeMap<String, BreakRecipe>) {
        for (name, r) in breaks {
            let path = format!("breaks.{name}");
            if !valid_name(name) {
                self.error(
                    &SUITE_025,
                    &path,
                    format!("break recipe name `{name}` is not a lowercase DNS label"),
                    "use 1-63 characters from a-z, 0-9 and `-`",
                );
            }
            if r.description.trim().is_empty() {
                self.error(
                    &SUITE_025,
                    &format!("{path}.description"),
                    format!("break recipe `{name}` has an empty description"),
                    "say what the break does, e.g. `kube-proxy replacement off`",
                );
            }
            for (i, obj) in r.create.iter().enumerate() {
                let has = |ptr: &str| obj.pointer(ptr).and_then(serde_json::Value::as_str).is_some_and(|s| !s.is_empty());
                if !(has("/apiVersion") && has("/kind") && has("/metadata/name")) {
                    self.error(
                        &SUITE_025,
                        &format!("{path}.create[{i}]"),
                        "an object to create needs apiVersion, kind and metadata.name".into(),
                        "write a whole manifest, e.g. a DaemonSet with its namespace",
                    );
                }
            }
            if r.cilium_config.is_empty() && r.remove.is_empty() && r.patch.is_empty() && r.create.is_empty() {
                self.error(
                    &SUITE_025,
                    &path,
                    format!("break recipe `{name}` changes nothing"),
                    "give at least one of `ciliumConfig`, `create`, `remove` or `patch`",
                );
            }
            // Recipes act on the cluster, outside any case: no case
            // namespace or variables to fill in.
            let templated = r.remove.iter().chain(r.patch.iter().map(|p| &p.target)).any(|o| {
                [Some(&o.api_version), Some(&o.kind), o.name.as_ref(), o.namespace.as_ref(), o.label_selector.as_ref()]
                    .into_iter()
                    .flatten()
                    .any(|s| !referenced(s).is_empty())
            });
            if templated {
                self.error(
                    &SUITE_025,
                    &path,
                    format!("break recipe `{name}` uses `{{{{variables}}}}`"),
                    "name cluster objects literally: a break runs before any case exists",
                );
            }
            for (i, p) in r.patch.iter().enumerate() {
                if p.target.name.is_none() || !p.merge.is_object() {
                    self.error(
                        &SUITE_025,
                        &format!("{path}.patch[{i}]"),
                        "a break patch needs `ref.name` and a mapping under `merge`".into(),
                        "patch one named object, e.g. `ref: {apiVersion: apps/v1, kind: DaemonSet, namespace: kube-system, name: cilium}`",
                    );
                }
            }
            if let Some(d) = &r.settle
                && d.0 > Duration::from_secs(600)
            {
                self.error(
                    &SUITE_025,
                    &format!("{path}.settle"),
                    "settle is longer than 10 minutes".into(),
                    "a break that needs longer than that cannot be proven in a bounded run",
                );
            }
        }
    }

    pub(super) fn case_break(
        &mut self,
        base: &str,
        b: Option<&CaseBreak>,
        breaks: &BTreeMap<String, BreakRecipe>,
    ) -> Option<LoadedBreak> {
        let b = b?;
        let path = format!("{base}.break");
        match (&b.recipe, &b.none) {
            (Some(name), None) => {
                let Some(recipe) = breaks.get(name) else {
                    let known: Vec<&str> = breaks.keys().map(String::as_str).collect();
                    self.error(
                        &SUITE_025,
                        &format!("{path}.recipe"),
                        format!("no break recipe `{name}` in this suite's `breaks` (it has: {})", known.join(", ")),
                        "define the recipe under the suite's `breaks:` or name one that exists",
                    );
                    return None;
                };
                let Some(fails_with) = b.fails_with.clone().filter(|f| !f.trim().is_empty()) else {
                    self.error(
                        &SUITE_025,
                        &path,
                        "a break recipe needs `failsWith`: the failure it must cause".into(),
                        "write a regex of the expected failure, e.g. ``failsWith: \"step `get`\"``",
                    );
                    return None;
                };
                if let Err(e) = regex::Regex::new(&fails_with) {
                    self.error(&SUITE_025, &format!("{path}.failsWith"), format!("invalid regex: {e}"), "fix the regex");
                    return None;
                }
                Some(LoadedBreak::Recipe { name: name.clone(), recipe: recipe.clone(), fails_with })
            }
            (None, Some(reason)) if !reason.trim().is_empty() && b.fails_with.is_none() => {
                Some(LoadedBreak::None { reason: reason.clone() })
            }
            (None, Some(_)) => {
                self.error(
                    &SUITE_025,
                    &path,
                    "`break: {none: ...}` needs a reason and no `failsWith`".into(),
                    "say why the case cannot be broken here",
                );
                None
            }
            _ => {
                self.error(
                    &SUITE_025,
                    &path,
                    "`break` needs exactly one of `recipe` or `none`".into(),
                    "write `{recipe: <name>, failsWith: <regex>}` or `{none: <reason>}`",
                );
                None
            }
        }
    }

    pub(super) fn unused_recipes(&mut self, breaks: &BTreeMap<String, BreakRecipe>, used: &BTreeSet<String>) {
        for name in breaks.keys().filter(|n| !used.contains(*n)) {
            self.error(
                &SUITE_025,
                &format!("breaks.{name}"),
                format!("break recipe `{name}` is used by no case"),
                "reference it from a case's `break: {recipe: ...}` or remove it",
            );
        }
    }
}
