//! `disrupt` steps: the failure injected and what it targets.

use super::*;

impl Validator<'_> {
    pub(super) fn disrupt(&mut self, path: &str, d: &crate::suite::model::Disrupt, known: &BTreeSet<String>) {
        use crate::suite::model::DisruptAction as A;
        let mut names = Vec::new();
        match &d.action {
            A::DeletePod(p) => {
                for s in [Some(&p.namespace), Some(&p.label_selector), p.same_node_as.as_ref()].into_iter().flatten() {
                    names.extend(referenced(s));
                }
                if p.label_selector.trim().is_empty() {
                    self.error(
                        &SUITE_009,
                        &format!("{path}.action.deletePod.labelSelector"),
                        "deletePod needs a non-empty labelSelector".into(),
                        "select the pods to pick from, e.g. `k8s-app=cilium`",
                    );
                }
            }
            A::DrainNode(n) => names.extend(referenced(&n.same_node_as)),
            A::Scale(s) => {
                self.refs(&format!("{path}.action.scale"), &s.target, known);
                if s.target.name.is_none() {
                    self.error(
                        &SUITE_009,
                        &format!("{path}.action.scale.ref"),
                        "scale needs `ref.name`".into(),
                        "name the Deployment or StatefulSet to scale",
                    );
                }
            }
            // Nothing to check: the run's router resets every session it has.
            A::BgpSessionReset(_) => {}
        }
        self.vars(&format!("{path}.action"), names, known);
    }
}
