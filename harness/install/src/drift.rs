//! Acceptance of a cluster that already runs the stack: each release and
//! each custom resource of the plan compared with what is on the cluster.
//!
//! - a release: its deployed chart version (`helm list`) and its
//!   user-supplied values (`helm get values`) against the plan's, key by
//!   key in both directions (a key only the cluster sets is drift too);
//! - a custom resource: present, and every field the profile sets outside
//!   `metadata` (`spec`, and `data` and the like) equal on the cluster.
//!   Fields the API server or a controller adds (defaults, `status`) are
//!   not drift.
//!
//! Objects `up` would not apply here (a chart the provider cannot run, an
//! apply that needs a datapath on a control-plane-only cluster) are not
//! compared. Values under secret-looking keys, and long opaque strings, are
//! shown as `<redacted>`: a drift report is printed and kept in reports.

use infraflux_kube::Cluster;
use infraflux_model::results::{DriftItem, DriftKind, DriftReport};
use infraflux_model::secret::{REDACTED, redact};
use serde_json::Value;

use crate::Options;
use crate::helm::Helm;
use crate::plan::{Plan, Release, Step};

/// Shown for a key or object one side does not have.
const UNSET: &str = "(unset)";
const ABSENT: &str = "(absent)";
/// Longest value shown; the rest is elided.
const SHOWN_CHARS: usize = 120;

/// Compares the cluster with the plan. Never fails: what could not be
/// compared is the report's `error`, with the differences found until then.
pub async fn check(cluster: &Cluster, helm: &Helm, plan: &Plan, opts: &Options) -> DriftReport {
    let mut report = DriftReport::default();
    let bound = opts.wait_timeout;
    let run = async {
        for r in plan.releases() {
            report.releases += 1;
            release(helm, r, &mut report.items).await?;
        }
        for p in plan.phases.iter().filter(|p| p.name == "custom-resources") {
            for s in &p.steps {
                let Step::Apply(a) = s else { continue };
                let kind = a.object.get("kind").and_then(Value::as_str).unwrap_or("");
                if matches!(kind, "Namespace" | "Secret") || (opts.control_plane_only && a.needs_datapath.is_some()) {
                    continue;
                }
                report.objects += 1;
                object(cluster, &a.describe(), &a.object, &mut report.items).await?;
            }
        }
        Ok::<(), String>(())
    };
    let outcome = tokio::time::timeout(bound, run).await;
    report.error = match outcome {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(redact(&e)),
        Err(_) => Some(format!("the comparison gave no answer within {}", crate::human(bound))),
    };
    report
}

async fn release(helm: &Helm, r: &Release, out: &mut Vec<DriftItem>) -> Result<(), String> {
    let object = format!("release {}/{}", r.namespace, r.release);
    let want_chart = format!("{}-{}", r.chart.chart.name(), r.version);
    let err = |e: crate::helm::HelmError| crate::run::chain(&e);
    let Some(d) = helm.deployed(&r.release, &r.namespace).await.map_err(err)? else {
        out.push(DriftItem { object, kind: DriftKind::Absent, path: String::new(), profile: want_chart, cluster: ABSENT.into() });
        return Ok(());
    };
    if d.chart != want_chart {
        out.push(DriftItem { object: object.clone(), kind: DriftKind::ChartVersion, path: String::new(), profile: want_chart, cluster: d.chart });
    }
    if d.status != "deployed" {
        out.push(DriftItem { object: object.clone(), kind: DriftKind::Value, path: "(release status)".into(), profile: "deployed".into(), cluster: d.status });
    }
    let have = helm.values(&r.release, &r.namespace).await.map_err(err)?;
    let mut diffs = Vec::new();
    values_diff("", &r.values, &have, &mut diffs);
    out.extend(diffs.into_iter().map(|(path, p, c)| DriftItem { object: object.clone(), kind: DriftKind::Value, path, profile: p, cluster: c }));
    Ok(())
}

async fn object(cluster: &Cluster, object: &str, want: &Value, out: &mut Vec<DriftItem>) -> Result<(), String> {
    let s = |p: &str| want.pointer(p).and_then(Value::as_str).unwrap_or("").to_owned();
    let absent = |cluster: &str| DriftItem { object: object.to_owned(), kind: DriftKind::Absent, path: String::new(), profile: "applied".into(), cluster: cluster.into() };
    let kind = match cluster.resolve(&s("/apiVersion"), &s("/kind")).await {
        Ok(k) => k,
        Err(infraflux_kube::Error::UnknownKind { .. }) => {
            out.push(absent("(kind not served: its CRD is not installed)"));
            return Ok(());
        }
        Err(e) => return Err(crate::run::chain(&e)),
    };
    let ns = if kind.namespaced { want.pointer("/metadata/namespace").and_then(Value::as_str) } else { None };
    let Some(live) = cluster.get(&kind, ns, &s("/metadata/name")).await.map_err(|e| crate::run::chain(&e))? else {
        out.push(absent(ABSENT));
        return Ok(());
    };
    let mut diffs = Vec::new();
    if let Some(fields) = want.as_object() {
        for (k, v) in fields.iter().filter(|(k, _)| !matches!(k.as_str(), "apiVersion" | "kind" | "metadata" | "status")) {
            fields_diff(k, v, live.get(k).unwrap_or(&Value::Null), &mut diffs);
        }
    }
    out.extend(diffs.into_iter().map(|(path, p, c)| DriftItem { object: object.to_owned(), kind: DriftKind::Value, path, profile: p, cluster: c }));
    Ok(())
}

fn join(at: &str, k: &str) -> String {
    if at.is_empty() { k.to_owned() } else { format!("{at}.{k}") }
}

fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b)),
        (Value::Object(x), Value::Object(y)) => x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w))),
        _ => a == b,
    }
}

/// Chart values: every key either side sets, leaves compared (lists whole).
fn values_diff(at: &str, want: &Value, have: &Value, out: &mut Vec<(String, String, String)>) {
    match (want, have) {
        (Value::Object(w), Value::Object(h)) => {
            for k in w.keys().chain(h.keys().filter(|k| !w.contains_key(*k))) {
                values_diff(&join(at, k), w.get(k).unwrap_or(&Value::Null), h.get(k).unwrap_or(&Value::Null), out);
            }
        }
        (Value::Object(w), Value::Null) => {
            for (k, v) in w {
                values_diff(&join(at, k), v, &Value::Null, out);
            }
        }
        (Value::Null, Value::Object(h)) => {
            for (k, v) in h {
                values_diff(&join(at, k), &Value::Null, v, out);
            }
        }
        (w, h) if !same(w, h) => out.push((at.to_owned(), shown(at, w), shown(at, h))),
        _ => {}
    }
}

/// True when every field `want` sets has that value in `have`.
fn holds(want: &Value, have: &Value) -> bool {
    match (want, have) {
        (Value::Object(w), Value::Object(h)) => w.iter().all(|(k, v)| h.get(k).is_some_and(|hv| holds(v, hv))),
        (Value::Array(w), Value::Array(h)) => w.len() == h.len() && w.iter().zip(h).all(|(a, b)| holds(a, b)),
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        _ => want == have,
    }
}

/// Object fields: only what the profile sets; a list is one field.
fn fields_diff(at: &str, want: &Value, have: &Value, out: &mut Vec<(String, String, String)>) {
    match (want, have) {
        (Value::Object(w), Value::Object(h)) => {
            for (k, v) in w {
                fields_diff(&join(at, k), v, h.get(k).unwrap_or(&Value::Null), out);
            }
        }
        (Value::Object(w), _) => {
            for (k, v) in w {
                fields_diff(&join(at, k), v, &Value::Null, out);
            }
        }
        (w, h) if !holds(w, h) => out.push((at.to_owned(), shown(at, w), shown(at, h))),
        _ => {}
    }
}

/// A key whose value is a credential by its name.
fn secret_key(path: &str) -> bool {
    let last = path.rsplit('.').next().unwrap_or(path).to_ascii_lowercase();
    ["password", "passwd", "token", "secret", "credential", "apikey", "api_key", "privatekey"].iter().any(|w| last.contains(w))
        || last.ends_with("key")
}

/// A long opaque string (a token, a key, a base64 blob): letters and digits
/// mixed, no spaces, dots or colons.
fn opaque(s: &str) -> bool {
    s.len() >= 32
        && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=' | '_' | '-'))
        && s.chars().any(|c| c.is_ascii_digit())
        && s.chars().any(|c| c.is_ascii_alphabetic())
}

fn shown(path: &str, v: &Value) -> String {
    let text = match v {
        Value::Null => return UNSET.into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let leaves_secret = |v: &Value| match v {
        Value::String(s) => opaque(s),
        Value::Array(a) => a.iter().any(|x| x.as_str().is_some_and(opaque)),
        _ => false,
    };
    if secret_key(path) || leaves_secret(v) {
        return REDACTED.into();
    }
    let text = redact(&text);
    match text.char_indices().nth(SHOWN_CHARS) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text,
    }
}

/// One line per difference, for the terminal and logs.
pub fn render(report: &DriftReport) -> String {
    let mut out = String::new();
    if report.items.is_empty() {
        out.push_str(&format!(
            "drift: none: {} release(s) and {} custom resource(s) match the profile\n",
            report.releases, report.objects
        ));
    } else {
        out.push_str(&format!(
            "drift: {} difference(s) from the profile ({} release(s), {} custom resource(s) compared):\n",
            report.items.len(),
            report.releases,
            report.objects
        ));
        for i in &report.items {
            let at = if i.path.is_empty() { String::new() } else { format!(" {}", i.path) };
            out.push_str(&format!("  {}: {}{at}: profile {}, cluster {}\n", i.object, i.kind.as_str(), i.profile, i.cluster));
        }
    }
    if let Some(e) = &report.error {
        out.push_str(&format!("drift: the comparison is incomplete: {e}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_differ_in_both_directions_and_lists_are_one_value() {
        let want = json!({"hubble": {"relay": {"enabled": true}}, "ipam": {"mode": "kubernetes"}, "n": 1, "l": [1, 2]});
        let have = json!({"hubble": {"relay": {"enabled": false}}, "ipam": {"mode": "kubernetes"}, "n": 1.0, "l": [1, 3], "extra": {"a": "b"}});
        let mut out = Vec::new();
        values_diff("", &want, &have, &mut out);
        assert_eq!(
            out,
            [
                ("hubble.relay.enabled".to_owned(), "true".to_owned(), "false".to_owned()),
                ("l".to_owned(), "[1,2]".to_owned(), "[1,3]".to_owned()),
                ("extra.a".to_owned(), UNSET.to_owned(), "b".to_owned()),
            ]
        );
    }

    #[test]
    fn object_fields_the_profile_does_not_set_are_not_drift() {
        let want = json!({"blocks": [{"cidr": "10.0.0.0/24"}], "disabled": false});
        let have = json!({"blocks": [{"cidr": "10.0.0.0/24", "extra": 1}], "disabled": false, "serviceSelector": {}});
        let mut out = Vec::new();
        fields_diff("spec", &want, &have, &mut out);
        assert!(out.is_empty(), "{out:?}");
        let changed = json!({"blocks": [{"cidr": "10.0.9.0/24"}], "disabled": true});
        fields_diff("spec", &want, &changed, &mut out);
        let paths: Vec<&str> = out.iter().map(|d| d.0.as_str()).collect();
        assert_eq!(paths, ["spec.blocks", "spec.disabled"]);
    }

    #[test]
    fn secret_looking_values_are_never_shown() {
        assert_eq!(shown("dns.cloudflare.apiToken", &json!("abc")), REDACTED);
        assert_eq!(shown("tls.key", &json!("x")), REDACTED);
        assert_eq!(shown("a.b", &json!("c2VjcmV0LXZhbHVlLXRoYXQtaXMtbG9uZzEyMzQ1Njc4")), REDACTED);
        assert_eq!(shown("image.repository", &json!("quay.io/cilium/cilium")), "quay.io/cilium/cilium");
        assert_eq!(shown("operator.replicas", &json!(2)), "2");
        assert_eq!(shown("x", &Value::Null), UNSET);
    }
}
