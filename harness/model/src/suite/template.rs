//! `{{var}}` substitution in manifest strings.
//!
//! Substitution works on parsed values (string leaves), not on raw text, so
//! a variable can never inject YAML structure.

use std::collections::BTreeMap;

/// Variables every case gets without declaring them.
pub const BUILTIN_VARS: [&str; 7] =
    ["namespace", "runId", "suite", "case", "agentImage", NODE_COUNT_VAR, NODE_PEERS_VAR];

/// Built-in: the number of Nodes, read once per case attempt.
pub const NODE_COUNT_VAR: &str = "nodeCount";
/// Built-in: `nodeCount - 1`, the peers each node has in a full mesh
/// (WireGuard, BGP).
pub const NODE_PEERS_VAR: &str = "nodePeers";

/// Built-in variable holding the run's probe agent image; a case that uses
/// it (to start its own agent-based servers) needs the `probeAgent` feature.
pub const AGENT_IMAGE_VAR: &str = "agentImage";

/// Names referenced as `{{ name }}` in `text`, in order.
pub fn referenced(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        match after.find("}}") {
            Some(end) => {
                out.push(after[..end].trim().to_owned());
                rest = &after[end + 2..];
            }
            None => break,
        }
    }
    out
}

/// Replaces every `{{ name }}`; an unknown name is an error naming it.
pub fn render(text: &str, vars: &BTreeMap<String, String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            return Err(format!("unterminated `{{{{` in `{text}`"));
        };
        let name = after[..end].trim();
        match vars.get(name) {
            Some(v) => out.push_str(v),
            None => return Err(format!("unknown template variable `{name}`")),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Renders every string (keys included) in a JSON tree.
pub fn render_json(
    value: &serde_json::Value,
    vars: &BTreeMap<String, String>,
) -> Result<serde_json::Value, String> {
    use serde_json::Value as J;
    Ok(match value {
        J::String(s) => J::String(render(s, vars)?),
        J::Array(items) => J::Array(
            items
                .iter()
                .map(|v| render_json(v, vars))
                .collect::<Result<_, _>>()?,
        ),
        J::Object(map) => {
            let mut out = serde_json::Map::new();
            for (k, v) in map {
                out.insert(render(k, vars)?, render_json(v, vars)?);
            }
            J::Object(out)
        }
        other => other.clone(),
    })
}

/// Renders a predicate value (`equals`, `contains`). A string that is
/// exactly one `{{var}}` whose value is a JSON number becomes that number,
/// so `equals: "{{nodeCount}}"` compares with a count in a report; any
/// other string is rendered as text.
pub fn render_predicate_value(
    value: &serde_json::Value,
    vars: &BTreeMap<String, String>,
) -> Result<serde_json::Value, String> {
    if let serde_json::Value::String(s) = value
        && let Some(name) = whole_reference(s)
    {
        let text = vars.get(name).ok_or_else(|| format!("unknown template variable `{name}`"))?;
        return Ok(match text.trim().parse::<serde_json::Number>() {
            Ok(n) => serde_json::Value::Number(n),
            Err(_) => serde_json::Value::String(text.clone()),
        });
    }
    render_json(value, vars)
}

/// `Some(name)` when `text` is exactly `{{ name }}` (surrounding blanks allowed).
fn whole_reference(text: &str) -> Option<&str> {
    let inner = text.trim().strip_prefix("{{")?.strip_suffix("}}")?;
    (!inner.contains("{{") && !inner.contains("}}")).then(|| inner.trim())
}

/// Every variable name referenced anywhere in a JSON tree.
pub fn referenced_json(value: &serde_json::Value, out: &mut Vec<String>) {
    use serde_json::Value as J;
    match value {
        J::String(s) => out.extend(referenced(s)),
        J::Array(items) => items.iter().for_each(|v| referenced_json(v, out)),
        J::Object(map) => {
            for (k, v) in map {
                out.extend(referenced(k));
                referenced_json(v, out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> BTreeMap<String, String> {
        [("namespace", "if-abc"), ("pool", "main")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    #[test]
    fn renders_known_and_rejects_unknown() {
        assert_eq!(render("ns={{ namespace }}/{{pool}}", &vars()).unwrap(), "ns=if-abc/main");
        assert_eq!(render("plain", &vars()).unwrap(), "plain");
        assert!(render("{{nope}}", &vars()).unwrap_err().contains("`nope`"));
        assert!(render("{{namespace", &vars()).unwrap_err().contains("unterminated"));
    }

    #[test]
    fn a_whole_numeric_reference_becomes_a_number() {
        let mut v = vars();
        v.insert("nodeCount".into(), "3".into());
        let r = |j: serde_json::Value| render_predicate_value(&j, &v).unwrap();
        assert_eq!(r(serde_json::json!("{{nodeCount}}")), serde_json::json!(3));
        assert_eq!(r(serde_json::json!(" {{ nodeCount }} ")), serde_json::json!(3));
        assert_eq!(r(serde_json::json!("n={{nodeCount}}")), serde_json::json!("n=3"));
        assert_eq!(r(serde_json::json!("{{pool}}")), serde_json::json!("main"));
        assert_eq!(r(serde_json::json!({"ns": "{{namespace}}"})), serde_json::json!({"ns": "if-abc"}));
        assert_eq!(r(serde_json::json!(7)), serde_json::json!(7));
        assert!(render_predicate_value(&serde_json::json!("{{nope}}"), &v).is_err());
    }

    #[test]
    fn finds_references_in_json() {
        let v = serde_json::json!({"metadata": {"namespace": "{{namespace}}", "{{k}}": ["{{ a }}x"]}});
        let mut got = Vec::new();
        referenced_json(&v, &mut got);
        got.sort();
        assert_eq!(got, vec!["a", "k", "namespace"]);
    }
}
