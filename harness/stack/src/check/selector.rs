//! Kubernetes label selectors as constraints, to decide whether two
//! selectors can ever match the same object (LB pool overlap) and whether a
//! selector matches everything.

use crate::yaml::Node;

#[derive(Debug, Clone, PartialEq)]
enum Req {
    In(Vec<String>),
    NotIn(Vec<String>),
    Exists,
    DoesNotExist,
}

impl Req {
    fn allows(&self, v: Option<&str>) -> bool {
        match (self, v) {
            (Req::In(set), Some(v)) => set.iter().any(|s| s == v),
            (Req::In(_), None) => false,
            (Req::NotIn(set), Some(v)) => !set.iter().any(|s| s == v),
            (Req::NotIn(_), None) => true,
            (Req::Exists, v) => v.is_some(),
            (Req::DoesNotExist, v) => v.is_none(),
        }
    }

    fn values(&self) -> &[String] {
        match self {
            Req::In(v) | Req::NotIn(v) => v,
            _ => &[],
        }
    }
}

/// A parsed selector: `(key, requirement)` pairs, all of which must hold.
#[derive(Debug, Clone, Default)]
pub(crate) struct Selector {
    reqs: Vec<(String, Req)>,
}

impl Selector {
    /// Parses a `{matchLabels, matchExpressions}` node; absent means empty.
    pub fn parse(node: Option<&Node>) -> Selector {
        let mut reqs = Vec::new();
        let Some(node) = node else { return Selector { reqs } };
        if let Some(m) = node.get("matchLabels").and_then(Node::as_map) {
            for (k, v) in m {
                if let (Some(k), Some(v)) = (k.scalar_text(), v.scalar_text()) {
                    reqs.push((k, Req::In(vec![v])));
                }
            }
        }
        if let Some(exprs) = node.get("matchExpressions").and_then(Node::as_seq) {
            for e in exprs {
                let Some(key) = e.get("key").and_then(Node::scalar_text) else { continue };
                let values: Vec<String> = e
                    .get("values")
                    .and_then(Node::as_seq)
                    .map(|s| s.iter().filter_map(Node::scalar_text).collect())
                    .unwrap_or_default();
                let req = match e.get("operator").and_then(Node::as_str) {
                    Some("In") => Req::In(values),
                    Some("NotIn") => Req::NotIn(values),
                    Some("Exists") => Req::Exists,
                    Some("DoesNotExist") => Req::DoesNotExist,
                    _ => continue,
                };
                reqs.push((key, req));
            }
        }
        Selector { reqs }
    }

    /// An empty selector matches every object.
    pub fn matches_all(&self) -> bool {
        self.reqs.is_empty()
    }

    /// True when the selector matches nothing at all (e.g. `In: []`).
    #[cfg(test)]
    pub fn matches_nothing(&self) -> bool {
        !self.satisfiable_with(&Selector::default())
    }

    /// True when no label set satisfies both selectors.
    pub fn disjoint(&self, other: &Selector) -> bool {
        !self.satisfiable_with(other)
    }

    /// Whether a concrete label set matches.
    pub fn matches(&self, labels: &[(String, String)]) -> bool {
        self.reqs.iter().all(|(k, r)| {
            r.allows(labels.iter().find(|(lk, _)| lk == k).map(|(_, v)| v.as_str()))
        })
    }

    fn satisfiable_with(&self, other: &Selector) -> bool {
        let all: Vec<&(String, Req)> = self.reqs.iter().chain(other.reqs.iter()).collect();
        let mut keys: Vec<&str> = all.iter().map(|(k, _)| k.as_str()).collect();
        keys.sort_unstable();
        keys.dedup();
        keys.iter().all(|key| {
            let on_key: Vec<&Req> = all.iter().filter(|(k, _)| k == key).map(|(_, r)| r).collect();
            // Candidates: absent, each mentioned value, and one unmentioned value.
            let mut candidates: Vec<Option<String>> = vec![None, Some("\u{0}unmentioned".into())];
            for r in &on_key {
                candidates.extend(r.values().iter().cloned().map(Some));
            }
            candidates.iter().any(|c| on_key.iter().all(|r| r.allows(c.as_deref())))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::parse_str;

    fn sel(text: &str) -> Selector {
        let docs = parse_str("s.yaml", text).expect("parses");
        Selector::parse(Some(&docs[0].root))
    }

    #[test]
    fn disjointness() {
        let critical = sel("matchLabels: {priority: critical}");
        let all = sel("matchLabels: {}");
        let not_critical = sel("matchExpressions: [{key: priority, operator: NotIn, values: [critical]}]");
        let other = sel("matchLabels: {priority: low}");
        assert!(all.matches_all());
        assert!(!all.disjoint(&critical));
        assert!(not_critical.disjoint(&critical));
        assert!(other.disjoint(&critical));
        assert!(!other.disjoint(&not_critical));
        let never = sel("matchExpressions: [{key: a, operator: In, values: []}]");
        assert!(never.matches_nothing());
    }
}
