//! Evaluating `that:` predicates and `condition:` matches on JSON.
//!
//! Pure functions: the same code checks live objects and probe reports, and
//! is unit-tested without a cluster. A failure message always says what was
//! observed, so a red case explains itself.

use std::net::IpAddr;

use jsonpath_rust::JsonPath;
use serde_json::Value;

use crate::suite::model::{ConditionMatch, Predicate};

/// `sameAs`: what `p.path` selects in `doc` is exactly what it selects in
/// `other` (the named earlier report), and not nothing.
pub fn same_as(p: &Predicate, doc: &Value, other: &Value) -> Result<(), String> {
    let pick = |d: &Value| -> Result<Vec<Value>, String> {
        let sel: Vec<&Value> = d.query(&p.path).map_err(|e| format!("invalid JSONPath `{}`: {e}", p.path))?;
        Ok(sel.into_iter().filter(|v| !v.is_null()).cloned().collect())
    };
    let (here, there) = (pick(doc)?, pick(other)?);
    let name = p.same_as.as_deref().unwrap_or("?");
    if here.is_empty() || there.is_empty() {
        return Err(format!("{} same as in `{name}`: nothing selected (here {}, there {})", p.path, describe(&here.iter().collect::<Vec<_>>()), describe(&there.iter().collect::<Vec<_>>())));
    }
    if here == there {
        Ok(())
    } else {
        Err(format!(
            "{} same as in `{name}`: found {}, `{name}` had {}",
            p.path,
            describe(&here.iter().collect::<Vec<_>>()),
            describe(&there.iter().collect::<Vec<_>>())
        ))
    }
}

/// `Ok(())` when `p` holds on `doc`, else what was seen.
pub fn check(p: &Predicate, doc: &Value) -> Result<(), String> {
    if p.same_as.is_some() {
        return Err(format!("{}: `sameAs` compares two reports and applies to `assert: {{probe: ...}}` only", p.path));
    }
    let selected: Vec<&Value> = doc
        .query(&p.path)
        .map_err(|e| format!("invalid JSONPath `{}`: {e}", p.path))?;
    // The API omits empty fields and sometimes writes null; both mean "not set".
    let present: Vec<&Value> = selected.iter().copied().filter(|v| !v.is_null()).collect();
    let seen = || describe(&present);
    if let Some(want) = &p.equals {
        return if present.contains(&want) {
            Ok(())
        } else {
            Err(format!("{} equals {}: found {}", p.path, compact(want), seen()))
        };
    }
    if let Some(want) = &p.contains {
        let hit = present.iter().any(|v| match (v, want) {
            (Value::String(s), Value::String(w)) => s.contains(w.as_str()),
            (Value::Array(items), w) => items.contains(w),
            _ => false,
        });
        return if hit {
            Ok(())
        } else {
            Err(format!("{} contains {}: found {}", p.path, compact(want), seen()))
        };
    }
    if let Some(re) = &p.matches {
        let re = regex::Regex::new(re).map_err(|e| format!("invalid regex: {e}"))?;
        return if present.iter().any(|v| v.as_str().is_some_and(|s| re.is_match(s))) {
            Ok(())
        } else {
            Err(format!("{} matches /{re}/: found {}", p.path, seen()))
        };
    }
    if p.exists == Some(true) {
        return if present.is_empty() {
            Err(format!("{} exists: nothing there", p.path))
        } else {
            Ok(())
        };
    }
    if p.absent == Some(true) {
        return if present.is_empty() {
            Ok(())
        } else {
            Err(format!("{} absent: found {}", p.path, seen()))
        };
    }
    if let Some(cidr) = &p.in_cidr {
        return cidr_check(&p.path, cidr, true, &present);
    }
    if let Some(cidr) = &p.not_in_cidr {
        return cidr_check(&p.path, cidr, false, &present);
    }
    if let Some(c) = &p.count {
        // A single selected array counts its items (`$.items`); otherwise
        // the selected nodes are counted (`$.items[*]`, filters).
        let n = match present.as_slice() {
            [Value::Array(items)] => items.len() as u64,
            _ => present.len() as u64,
        };
        let bound = |b: &Option<crate::suite::model::Bound>| b.as_ref().map(|b| b.count()).transpose();
        let (equals, min, max) = (bound(&c.equals)?, bound(&c.min)?, bound(&c.max)?);
        let ok = equals.is_none_or(|e| n == e) && min.is_none_or(|m| n >= m) && max.is_none_or(|m| n <= m);
        return if ok {
            Ok(())
        } else {
            let mut want = Vec::new();
            if let Some(e) = equals {
                want.push(format!("= {e}"));
            }
            if let Some(m) = min {
                want.push(format!(">= {m}"));
            }
            if let Some(m) = max {
                want.push(format!("<= {m}"));
            }
            Err(format!("{} count {}: counted {n}", p.path, want.join(" and ")))
        };
    }
    if let Some(r) = &p.range {
        let min = r.min.as_ref().map(|b| b.value()).transpose()?;
        let max = r.max.as_ref().map(|b| b.value()).transpose()?;
        if present.is_empty() {
            return Err(format!("{} in range: no number there", p.path));
        }
        let outside: Vec<String> = present
            .iter()
            .filter(|v| {
                !v.as_f64()
                    .is_some_and(|x| min.is_none_or(|m| x >= m) && max.is_none_or(|m| x <= m))
            })
            .map(|v| compact(v))
            .collect();
        let bounds = format!(
            "[{}, {}]",
            min.map_or("-inf".to_owned(), |m| m.to_string()),
            max.map_or("inf".to_owned(), |m| m.to_string())
        );
        return if outside.is_empty() {
            Ok(())
        } else {
            Err(format!("{} in {bounds}: outside or not a number: {}", p.path, outside.join(", ")))
        };
    }
    Err("predicate has no comparison".into())
}

/// Renders the templated parts of predicates: `range` and `count` bounds
/// (profile budgets, `{{nodeCount}}`) and `equals`/`contains` values (see
/// [`crate::suite::template::render_predicate_value`]).
pub fn render_predicates(
    that: &[Predicate],
    vars: &std::collections::BTreeMap<String, String>,
) -> Result<Vec<Predicate>, String> {
    use crate::suite::model::Bound;
    use crate::suite::template::{render, render_predicate_value};
    let bound = |b: &mut Option<Bound>| -> Result<(), String> {
        if let Some(x) = b {
            *x = Bound(render(&x.0, vars)?);
        }
        Ok(())
    };
    that.iter()
        .map(|p| {
            let mut p = p.clone();
            if let Some(r) = &mut p.range {
                bound(&mut r.min)?;
                bound(&mut r.max)?;
            }
            if let Some(c) = &mut p.count {
                bound(&mut c.equals)?;
                bound(&mut c.min)?;
                bound(&mut c.max)?;
            }
            for v in [&mut p.equals, &mut p.contains].into_iter().flatten() {
                *v = render_predicate_value(v, vars)?;
            }
            Ok(p)
        })
        .collect()
}

/// `Ok(())` when `obj.status.conditions` has the wanted entry, else what
/// the condition looks like now (the kube layer's waits read it the same way).
pub fn condition(c: &ConditionMatch, obj: &Value) -> Result<(), String> {
    infraflux_kube::wait::condition_state(obj, &c.type_, &c.status, c.reason.as_deref())
}

/// `inCidr` (`inside`) and `notInCidr`: something is selected, and every
/// selected value is an IP on the wanted side of `cidr`.
fn cidr_check(path: &str, cidr: &str, inside: bool, present: &[&Value]) -> Result<(), String> {
    let net: ipnet::IpNet = cidr.parse().map_err(|_| format!("`{cidr}` is not a CIDR"))?;
    let what = if inside { "in" } else { "not in" };
    if present.is_empty() {
        return Err(format!("{path} {what} {cidr}: no address there"));
    }
    let wrong: Vec<String> = present
        .iter()
        .filter(|v| v.as_str().and_then(|s| s.parse::<IpAddr>().ok()).is_none_or(|ip| net.contains(&ip) != inside))
        .map(|v| compact(v))
        .collect();
    if wrong.is_empty() {
        return Ok(());
    }
    let side = if inside { "outside" } else { "inside" };
    Err(format!("{path} {what} {cidr}: {side} or not an IP: {}", wrong.join(", ")))
}

fn compact(v: &Value) -> String {
    let s = v.to_string();
    if s.len() <= 120 {
        return s;
    }
    let mut end = 120;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

fn describe(vals: &[&Value]) -> String {
    match vals {
        [] => "nothing".into(),
        [one] => compact(one),
        many => format!(
            "[{}{}]",
            many.iter().take(5).map(|v| compact(v)).collect::<Vec<_>>().join(", "),
            if many.len() > 5 { ", …" } else { "" }
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::suite::model::CountCheck;
    use serde_json::json;

    pub(super) fn p(path: &str) -> Predicate {
        Predicate {
            path: path.into(),
            equals: None,
            contains: None,
            matches: None,
            exists: None,
            absent: None,
            in_cidr: None,
            not_in_cidr: None,
            count: None,
            range: None,
            same_as: None,
        }
    }

    /// The wireguard suite's "IPsec not also on" check: absent or "false"
    /// passes, "true" fails.
    #[test]
    fn absolute_query_inside_a_filter() {
        let mut q = p("$.data[?@ == $.data['enable-ipsec'] && @ == 'true']");
        q.count = Some(crate::suite::model::CountCheck { equals: Some(0u64.into()), min: None, max: None });
        let on = json!({"data": {"enable-wireguard": "true", "enable-ipsec": "true"}});
        let off = json!({"data": {"enable-wireguard": "true", "enable-ipsec": "false"}});
        let unset = json!({"data": {"enable-wireguard": "true"}});
        assert!(check(&q, &on).is_err());
        assert!(check(&q, &off).is_ok());
        assert!(check(&q, &unset).is_ok());
    }

    #[test]
    fn range_bounds_every_selected_number() {
        let doc = json!({"samples": [9.1, 9.4, 8.7], "plaintext_packets": 0, "name": "x"});
        let mut q = p("$.samples[*]");
        q.range = Some(crate::suite::model::RangeCheck { min: Some(8.0.into()), max: None });
        assert!(check(&q, &doc).is_ok());
        q.range = Some(crate::suite::model::RangeCheck { min: Some(9.0.into()), max: None });
        let e = check(&q, &doc).unwrap_err();
        assert!(e.contains("8.7") && !e.contains("9.4"), "{e}");
        let mut z = p("$.plaintext_packets");
        z.range = Some(crate::suite::model::RangeCheck { min: None, max: Some(0.0.into()) });
        assert!(check(&z, &doc).is_ok());
        // A string is never in range, and nothing selected is a failure.
        let mut s = p("$.name");
        s.range = Some(crate::suite::model::RangeCheck { min: None, max: None });
        assert!(check(&s, &doc).is_err());
        let mut m = p("$.missing");
        m.range = Some(crate::suite::model::RangeCheck { min: Some(0.0.into()), max: None });
        assert!(check(&m, &doc).unwrap_err().contains("no number"));
    }

    fn svc() -> Value {
        json!({
            "metadata": {"name": "lb", "labels": {"priority": "critical"}},
            "data": {"kube-proxy-replacement": "true"},
            "status": {
                "loadBalancer": {"ingress": [{"ip": "10.0.10.5"}, {"ip": "10.0.10.6"}]},
                "conditions": [{"type": "Ready", "status": "False", "reason": "Pending", "message": "waiting"}]
            },
            "items": [{"n": 1}, {"n": 2}, {"n": 3}]
        })
    }

    #[test]
    fn equals_contains_matches() {
        let d = svc();
        assert!(check(&Predicate { equals: Some(json!("true")), ..p("$.data['kube-proxy-replacement']") }, &d).is_ok());
        let e = check(&Predicate { equals: Some(json!("false")), ..p("$.data['kube-proxy-replacement']") }, &d).unwrap_err();
        assert!(e.contains("found \"true\""), "{e}");
        assert!(check(&Predicate { contains: Some(json!("crit")), ..p("$.metadata.labels.priority") }, &d).is_ok());
        assert!(check(&Predicate { contains: Some(json!({"n": 2})), ..p("$.items") }, &d).is_ok());
        assert!(check(&Predicate { matches: Some("^l".into()), ..p("$.metadata.name") }, &d).is_ok());
        assert!(check(&Predicate { matches: Some("^x".into()), ..p("$.metadata.name") }, &d).is_err());
    }

    #[test]
    fn exists_absent_treat_null_as_missing() {
        let d = json!({"a": null, "b": 1});
        assert!(check(&Predicate { exists: Some(true), ..p("$.a") }, &d).is_err());
        assert!(check(&Predicate { absent: Some(true), ..p("$.a") }, &d).is_ok());
        assert!(check(&Predicate { exists: Some(true), ..p("$.b") }, &d).is_ok());
        assert!(check(&Predicate { absent: Some(true), ..p("$.b") }, &d).unwrap_err().contains("found 1"));
    }

    #[test]
    fn not_in_cidr_needs_an_address_and_none_inside() {
        let d = json!({"status": {"loadBalancer": {"ingress": [{"ip": "10.89.100.3"}]}}});
        let p0 = |c: &str| Predicate { not_in_cidr: Some(c.into()), ..p("$.status.loadBalancer.ingress[*].ip") };
        assert!(check(&p0("198.51.100.0/28"), &d).is_ok());
        let e = check(&p0("10.89.100.0/24"), &d).unwrap_err();
        assert!(e.contains("inside"), "{e}");
        let none = json!({"status": {}});
        assert!(check(&p0("10.0.0.0/8"), &none).unwrap_err().contains("no address"));
    }

    #[test]
    fn in_cidr_needs_every_address_inside() {
        let d = svc();
        assert!(check(&Predicate { in_cidr: Some("10.0.10.0/24".into()), ..p("$.status.loadBalancer.ingress[*].ip") }, &d).is_ok());
        let e = check(&Predicate { in_cidr: Some("10.0.10.4/31".into()), ..p("$.status.loadBalancer.ingress[*].ip") }, &d).unwrap_err();
        assert!(e.contains("10.0.10.6"), "{e}");
        assert!(check(&Predicate { in_cidr: Some("10.0.0.0/8".into()), ..p("$.status.nothing") }, &d).is_err());
    }

    /// The Hubble cross-check path finds a flow whether `hubble observe -o
    /// jsonpb` printed many lines (an array) or exactly one (an object).
    #[test]
    fn hubble_flow_filter_matches_json_lines_and_a_single_response() {
        let flow = |src: &str, dst: &str| {
            serde_json::json!({"flow": {"verdict": "DROPPED", "source": {"pod_name": src}, "destination": {"pod_name": dst}}})
        };
        let path = "$.pods[*].stdout..[?@.source.pod_name == 'client' && @.destination.pod_name == 'echo-same']";
        let want = |doc: &Value| check(&Predicate { count: Some(CountCheck { equals: None, min: Some(1u64.into()), max: None }), ..p(path) }, doc);
        let many = serde_json::json!({"pods": [{"stdout": [flow("x", "y"), flow("client", "echo-same")]}]});
        let one = serde_json::json!({"pods": [{"stdout": flow("client", "echo-same")}]});
        let other = serde_json::json!({"pods": [{"stdout": [flow("client", "echo-other")]}, {"stdout": ""}]});
        assert!(want(&many).is_ok(), "{:?}", want(&many));
        assert!(want(&one).is_ok(), "{:?}", want(&one));
        assert!(want(&other).unwrap_err().contains("counted 0"));
    }

    #[test]
    fn count_of_array_and_of_selection() {
        let d = svc();
        let b = |v: Option<u64>| v.map(crate::suite::model::Bound::from);
        let c = |e, min, max| Some(CountCheck { equals: b(e), min: b(min), max: b(max) });
        assert!(check(&Predicate { count: c(Some(3), None, None), ..p("$.items") }, &d).is_ok());
        assert!(check(&Predicate { count: c(None, Some(2), Some(2)), ..p("$.items[?@.n > 1]") }, &d).is_ok());
        assert!(check(&Predicate { count: c(Some(0), None, None), ..p("$.items[?@.n > 5]") }, &d).is_ok());
        let e = check(&Predicate { count: c(None, Some(4), None), ..p("$.items[*]") }, &d).unwrap_err();
        assert!(e.contains("counted 3"), "{e}");
        let bad = Some(CountCheck { equals: Some(crate::suite::model::Bound("{{nodeCount}}".into())), min: None, max: None });
        let e = check(&Predicate { count: bad, ..p("$.items") }, &d).unwrap_err();
        assert!(e.contains("not a non-negative whole number"), "{e}");
    }

    #[test]
    fn condition_reports_current_state() {
        let d = svc();
        let want = ConditionMatch { type_: "Ready".into(), status: "True".into(), reason: None };
        let e = condition(&want, &d).unwrap_err();
        assert!(e.contains("Ready=False") && e.contains("Pending") && e.contains("waiting"), "{e}");
        let want = ConditionMatch { type_: "Ready".into(), status: "False".into(), reason: Some("Pending".into()) };
        assert!(condition(&want, &d).is_ok());
        let want = ConditionMatch { type_: "Programmed".into(), status: "True".into(), reason: None };
        assert!(condition(&want, &d).unwrap_err().contains("no Programmed condition"));
    }
}

#[cfg(test)]
mod filter_tests {
    use super::*;
    use super::tests::p;
    use serde_json::json;

    /// Suites rely on RFC 9535 negated existence tests ("items without a
    /// True Ready condition"); pin that the JSONPath engine supports them.
    #[test]
    fn same_as_compares_what_one_path_selects_in_two_reports() {
        let first = json!({"bodyJson": {"hostname": "echo-a"}});
        let p = Predicate { same_as: Some("first".into()), ..p("$.bodyJson.hostname") };
        assert!(same_as(&p, &json!({"bodyJson": {"hostname": "echo-a"}}), &first).is_ok());
        let e = same_as(&p, &json!({"bodyJson": {"hostname": "echo-b"}}), &first).unwrap_err();
        assert!(e.contains("echo-b") && e.contains("echo-a"), "{e}");
        // Nothing on either side is not sameness.
        assert!(same_as(&p, &json!({}), &json!({})).is_err());
        // Outside a report comparison it is refused, never silently true.
        assert!(check(&p, &first).is_err());
    }

    #[test]
    fn negated_nested_filter_finds_items_lacking_a_true_condition() {
        let list = json!({"items": [
            {"metadata": {"name": "ok"}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}},
            {"metadata": {"name": "bad"}, "status": {"conditions": [{"type": "Ready", "status": "False"}]}},
            {"metadata": {"name": "new"}}
        ]});
        let p = Predicate {
            path: "$.items[?!@.status.conditions[?@.type=='Ready' && @.status=='True']].metadata.name".into(),
            equals: None,
            contains: None,
            matches: None,
            exists: None,
            absent: None,
            in_cidr: None,
            not_in_cidr: None,
            count: Some(crate::suite::model::CountCheck { equals: Some(0u64.into()), min: None, max: None }),
            ..p("")
        };
        let e = check(&p, &list).unwrap_err();
        assert!(e.contains("counted 2"), "{e}");
        assert!(check(&p, &json!({"items": [list["items"][0].clone()]})).is_ok());
    }
}
