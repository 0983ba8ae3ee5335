//! `exec` steps: a command in selected pods, and how its output is read.

use super::*;

impl Validator<'_> {
    pub(super) fn exec(&mut self, path: &str, e: &crate::suite::model::Exec, known: &BTreeSet<String>, probes: &mut BTreeSet<String>) {
        match &e.name {
            None => self.error(
                &SUITE_009,
                path,
                "an exec step needs a `name`".into(),
                "name it so a later `assert: {probe: <name>}` can read its report",
            ),
            Some(n) => {
                if !probes.insert(n.clone()) {
                    self.error(
                        &SUITE_013,
                        &format!("{path}.name"),
                        format!("report name `{n}` is used twice in this case"),
                        "give each probe and exec step a unique name",
                    );
                }
            }
        }
        if e.command.is_empty() {
            self.error(
                &SUITE_009,
                &format!("{path}.command"),
                "exec needs a non-empty `command`".into(),
                "write the argv, e.g. `[cilium-dbg, status, -o, json]`",
            );
        }
        if e.pods.label_selector.trim().is_empty() {
            self.error(
                &SUITE_009,
                &format!("{path}.pods.labelSelector"),
                "exec needs a non-empty `pods.labelSelector`".into(),
                "select the pods to run in, e.g. `k8s-app=cilium`",
            );
        }
        let p = &e.pods;
        for (key, text) in [
            ("pods.namespace", p.namespace.as_ref()),
            ("pods.labelSelector", Some(&p.label_selector)),
            ("pods.sameNodeAs", p.same_node_as.as_ref()),
            ("container", e.container.as_ref()),
        ] {
            if let Some(t) = text {
                self.vars(&format!("{path}.{key}"), referenced(t), known);
            }
        }
        for (i, arg) in e.command.iter().enumerate() {
            self.vars(&format!("{path}.command[{i}]"), referenced(arg), known);
        }
    }
}
