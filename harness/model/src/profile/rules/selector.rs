//! Label-selector semantics, decided without enumerating labels: a
//! selector constrains each key independently, so two selectors can match
//! one object exactly when, key by key, their constraints intersect.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::profile::model::{LabelSelector, SelectorOp};

/// Allowed values of one label key under a conjunction of requirements.
#[derive(Debug, Clone, PartialEq)]
struct KeySpace {
    /// The key may be absent.
    absent: bool,
    values: Values,
}

#[derive(Debug, Clone, PartialEq)]
enum Values {
    Only(BTreeSet<String>),
    /// Every value except these. Label values are unbounded, so this set
    /// of allowed values is never empty.
    AllExcept(BTreeSet<String>),
}

impl KeySpace {
    fn intersect(&self, other: &KeySpace) -> KeySpace {
        use Values::*;
        let values = match (&self.values, &other.values) {
            (Only(a), Only(b)) => Only(a.intersection(b).cloned().collect()),
            (Only(a), AllExcept(x)) | (AllExcept(x), Only(a)) => {
                Only(a.difference(x).cloned().collect())
            }
            (AllExcept(x), AllExcept(y)) => AllExcept(x.union(y).cloned().collect()),
        };
        KeySpace {
            absent: self.absent && other.absent,
            values,
        }
    }

    fn satisfiable(&self) -> bool {
        self.absent
            || match &self.values {
                Values::Only(s) => !s.is_empty(),
                Values::AllExcept(_) => true,
            }
    }
}

/// Constraints a selector puts on each key it mentions.
fn key_spaces(sel: &LabelSelector) -> Vec<(String, KeySpace)> {
    let mut out: Vec<(String, KeySpace)> = Vec::new();
    for (k, v) in &sel.match_labels {
        out.push((
            k.clone(),
            KeySpace {
                absent: false,
                values: Values::Only([v.clone()].into()),
            },
        ));
    }
    for r in &sel.match_expressions {
        let set: BTreeSet<String> = r.values.iter().cloned().collect();
        let space = match r.operator {
            SelectorOp::In => KeySpace {
                absent: false,
                values: Values::Only(set),
            },
            // NotIn also matches objects without the key (Kubernetes semantics).
            SelectorOp::NotIn => KeySpace {
                absent: true,
                values: Values::AllExcept(set),
            },
            SelectorOp::Exists => KeySpace {
                absent: false,
                values: Values::AllExcept(BTreeSet::new()),
            },
            SelectorOp::DoesNotExist => KeySpace {
                absent: true,
                values: Values::Only(BTreeSet::new()),
            },
        };
        out.push((r.key.clone(), space));
    }
    out
}

/// True when some label set matches both selectors (`None` matches all).
/// Keys are independent, so the conjunction is satisfiable iff it is
/// satisfiable key by key.
pub(super) fn selectors_overlap(a: Option<&LabelSelector>, b: Option<&LabelSelector>) -> bool {
    let mut per_key: HashMap<String, KeySpace> = HashMap::new();
    for sel in [a, b].into_iter().flatten() {
        for (k, space) in key_spaces(sel) {
            let merged = match per_key.get(&k) {
                Some(prev) => prev.intersect(&space),
                None => space,
            };
            per_key.insert(k, merged);
        }
    }
    per_key.values().all(KeySpace::satisfiable)
}

/// True for a selector that puts no constraint on labels.
pub(super) fn matches_all(sel: Option<&LabelSelector>) -> bool {
    sel.is_none_or(|s| s.match_labels.is_empty() && s.match_expressions.is_empty())
}

/// True when `labels` satisfies `sel` (`None` matches all).
pub(super) fn selector_matches(
    sel: Option<&LabelSelector>,
    labels: &BTreeMap<String, String>,
) -> bool {
    let Some(sel) = sel else { return true };
    key_spaces(sel)
        .iter()
        .all(|(k, space)| match labels.get(k) {
            None => space.absent,
            Some(v) => match &space.values {
                Values::Only(s) => s.contains(v),
                Values::AllExcept(x) => !x.contains(v),
            },
        })
}
