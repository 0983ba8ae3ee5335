//! Secret references (PROF-030) and literal secrets (PROF-015).

use super::Cx;
use super::catalog::hint_of;
use crate::diag::Finding;
use crate::profile::model::{Profile, Provider};
use crate::secret::SecretRef;
use crate::yaml::{Node, Value};

pub(super) fn secret_refs(cx: &mut Cx, p: &Profile) {
    let mut refs: Vec<(&str, &SecretRef)> =
        vec![("dns.cloudflare.apiToken", &p.dns.cloudflare.api_token)];
    if let Some(t) = &p.dns.cloudflare.tunnel {
        refs.push(("dns.cloudflare.tunnel.credentials", &t.credentials));
    }
    if let Provider::ProxmoxRke2(px) = &p.provider {
        refs.push(("provider.proxmoxRke2.proxmox.token", &px.proxmox.token));
        refs.push(("provider.proxmoxRke2.rke2.token", &px.rke2.token));
    }
    for (path, r) in refs {
        let bad = match (&r.env, &r.file) {
            (Some(e), None) => e.trim().is_empty().then_some("`env` is empty"),
            (None, Some(f)) => f.as_os_str().is_empty().then_some("`file` is empty"),
            (Some(_), Some(_)) => Some("sets both `env` and `file`"),
            (None, None) => Some("sets neither `env` nor `file`"),
        };
        if let Some(why) = bad {
            cx.push("PROF-030", path, format!("secret reference {why}"));
        }
    }
}

/// Keys whose last word names a secret: `apiToken`, `password`,
/// `credentials`. `tokenId` or `secretName` name one, and are fine.
pub(super) fn is_secret_key(key: &str) -> bool {
    let mut words: Vec<String> = Vec::new();
    let mut cur = String::new();
    for c in key.chars() {
        if c == '_' || c == '-' || c == '.' {
            words.push(std::mem::take(&mut cur));
        } else if c.is_ascii_uppercase()
            && !cur.is_empty()
            && !cur.chars().last().is_some_and(|l| l.is_ascii_uppercase())
        {
            words.push(std::mem::take(&mut cur));
            cur.push(c.to_ascii_lowercase());
        } else {
            cur.push(c.to_ascii_lowercase());
        }
    }
    words.push(cur);
    let last = words
        .iter()
        .rev()
        .find(|w| !w.is_empty())
        .map_or("", String::as_str);
    matches!(
        last,
        "token" | "password" | "passwd" | "secret" | "credentials" | "credential" | "apikey"
    ) || key.eq_ignore_ascii_case("apikey")
}

/// Literal values under secret-looking keys, found on the raw tree (before
/// decoding, where a literal is only a type error). Each value is
/// registered with the redactor so it cannot reach any output.
pub(crate) fn inline_secrets(file: &str, root: &Node) -> Vec<Finding> {
    let mut out = Vec::new();
    walk_secrets(file, root, "", &mut out);
    out
}

fn walk_secrets(file: &str, node: &Node, path: &str, out: &mut Vec<Finding>) {
    match &node.value {
        Value::Map(entries) => {
            for (k, v) in entries {
                let key = k.scalar_text().unwrap_or_default();
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                let literal = match &v.value {
                    Value::Str(s) => Some(s.clone()),
                    Value::Int(_) | Value::Float(_) => v.scalar_text(),
                    _ => None,
                };
                match literal {
                    Some(value) if is_secret_key(&key) && !value.is_empty() => {
                        crate::secret::register(&value);
                        out.push(
                            Finding::error(
                                "PROF-015",
                                format!("`{key}` holds a literal secret; the value is not shown"),
                                hint_of("PROF-015"),
                            )
                            .at_pos(file, v.pos)
                            .with_path(child),
                        );
                    }
                    _ => walk_secrets(file, v, &child, out),
                }
            }
        }
        Value::Seq(items) => {
            for (i, item) in items.iter().enumerate() {
                walk_secrets(file, item, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}
