//! Literal secrets in files meant for Git. The value is never shown: a
//! finding names where it is and what kind of secret it looks like.

use crate::diag::Finding;
use crate::diag::Severity::Warning;
use crate::yaml::{Node, Value};

use super::Impact::Silent;
use super::{Rule, rule};
use crate::check::model::Ctx;

pub(crate) const SEC_001: Rule = rule(
    "SEC-001", "secrets", Warning, Silent,
    "secret in plain text in a file meant for Git: a Secret's data/stringData, a token, password or key in Helm values or an env entry, an RKE2 `token:`",
    "encrypt it (SOPS, SealedSecret) or reference it (existingSecret, valueFrom.secretKeyRef, an RKE2 token-file, Flux substitution from an encrypted Secret), then rotate the exposed value", &[],
);

pub(crate) const RULES: &[Rule] = &[SEC_001];

/// Key names that hold a credential (compared lower-case, without `-`/`_`).
const SECRET_SUFFIXES: &[&str] = &["token", "password", "passwd", "secret", "apikey", "secretkey", "privatekey", "clientsecret"];

/// Keys whose value names or points at a secret rather than holding one.
fn is_reference_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    k.starts_with("existing") || k.ends_with("ref") || k.ends_with("name") || k.ends_with("file") || k.ends_with("path")
}

fn names_a_secret(key: &str) -> bool {
    let k: String = key.chars().filter(|c| *c != '-' && *c != '_').collect::<String>().to_ascii_lowercase();
    !is_reference_key(key) && SECRET_SUFFIXES.iter().any(|s| k.ends_with(s))
}

/// A value that is a secret rather than a placeholder, a substitution
/// (`${VAR}`), SOPS ciphertext or a template expression.
fn is_literal_secret(v: &Node) -> bool {
    let Value::Str(s) = &v.value else { return false };
    let s = s.trim();
    s.len() >= 8
        && !s.contains("${")
        && !s.contains("{{")
        && !s.starts_with("ENC[")
        && !s.starts_with('<')
        && !s.chars().all(|c| c == '*' || c == 'x' || c == 'X')
}

/// A Secret entry that only says where something is on the pod's own
/// filesystem (`filesystem:///repository`, Kopia's and restic's repository
/// form): configuration kept next to the credentials, not one of them.
fn is_local_location(s: &str) -> bool {
    let s = s.trim();
    ["file:///", "filesystem:///"].iter().any(|p| s.starts_with(p)) && !s.contains(char::is_whitespace)
}

/// Walks Helm values: `key: literal` under a credential-like key, and
/// `{name: SOME_TOKEN, value: literal}` env entries.
fn walk(node: &Node, file: &str, path: &str, out: &mut Vec<Finding>) {
    match &node.value {
        Value::Map(entries) => {
            let env_name = node.get("name").and_then(Node::scalar_text);
            for (k, v) in entries {
                let Some(key) = k.scalar_text() else { continue };
                let here = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
                let env_secret = key == "value" && env_name.as_deref().is_some_and(names_a_secret);
                if (names_a_secret(&key) || env_secret) && is_literal_secret(v) {
                    let what = if env_secret {
                        format!("env entry `{}` has a literal value", env_name.clone().unwrap_or_default())
                    } else {
                        format!("`{here}` holds a literal credential")
                    };
                    out.push(SEC_001.at(file, v.pos, what).with_path(here.clone()));
                }
                walk(v, file, &here, out);
            }
        }
        Value::Seq(items) => {
            for (i, item) in items.iter().enumerate() {
                walk(item, file, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

pub(crate) fn check(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    for o in ctx.objects.iter().filter(|o| !o.sops) {
        if o.kind == "Secret" && o.group.is_empty() {
            for field in ["stringData", "data"] {
                let Some(entries) = o.get(field).and_then(Node::as_map) else { continue };
                for (k, v) in entries {
                    if matches!(&v.value, Value::Str(s) if !s.trim().is_empty() && !s.contains("${") && !is_local_location(s)) {
                        let key = k.scalar_text().unwrap_or_default();
                        out.push(
                            SEC_001
                                .at(o.file, v.pos, format!("Secret {} carries `{key}` in plain text ({field})", o.name))
                                .with_path(format!("{field}.{key}")),
                        );
                    }
                }
            }
        } else if o.kind != "Secret" && o.kind != "SealedSecret" {
            // Workloads: literal env values for credential-named variables.
            if let Some(spec) = o.get("spec") {
                walk_env_only(spec, o.file, out);
            }
        }
    }
    for v in &ctx.values {
        walk(&v.root, &v.file, "", out);
    }
    for r in &ctx.rke2 {
        for (k, v) in r.root.as_map().into_iter().flatten() {
            let key = k.scalar_text().unwrap_or_default();
            if (key == "token" || key == "agent-token") && is_literal_secret(v) {
                out.push(
                    SEC_001
                        .at(&r.src.path, v.pos, format!("RKE2 `{key}` is a literal; use `{key}-file`"))
                        .with_path(key),
                );
            }
        }
    }
}

/// Only `env: [{name, value}]` entries in object specs: other spec fields
/// named like credentials (e.g. `secretName`) reference, not hold.
fn walk_env_only(node: &Node, file: &str, out: &mut Vec<Finding>) {
    match &node.value {
        Value::Map(entries) => {
            for (k, v) in entries {
                if k.scalar_is("env")
                    && let Some(items) = v.as_seq()
                {
                    for item in items {
                        let name = item.get("name").and_then(Node::scalar_text).unwrap_or_default();
                        if let Some(value) = item.get("value")
                            && names_a_secret(&name)
                            && is_literal_secret(value)
                        {
                            out.push(SEC_001.at(file, value.pos, format!("env `{name}` has a literal value")));
                        }
                    }
                } else {
                    walk_env_only(v, file, out);
                }
            }
        }
        Value::Seq(items) => items.iter().for_each(|i| walk_env_only(i, file, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_keys_and_references() {
        for k in ["apiToken", "api_token", "password", "CF_API_TOKEN", "clientSecret", "privateKey"] {
            assert!(names_a_secret(k), "{k}");
        }
        for k in ["existingSecret", "secretName", "tokenSecretRef", "passwordFile", "tokenPath", "enabled"] {
            assert!(!names_a_secret(k), "{k}");
        }
    }
}
