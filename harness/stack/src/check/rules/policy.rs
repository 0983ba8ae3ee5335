//! CiliumNetworkPolicy / CiliumClusterwideNetworkPolicy semantics.

use crate::diag::Finding;
use crate::diag::Severity::{Error, Warning};
use crate::yaml::Node;

use super::Impact::{Breaks, Silent};
use super::{Rule, rule};
use crate::check::model::{Ctx, Obj};

pub(crate) const CNP_001: Rule = rule(
    "CNP-001", "policy", Error, Breaks,
    "policy rule has none of ingress/ingressDeny/egress/egressDeny: a no-op before 1.17, rejected since (whatever its name says)",
    "spec: {endpointSelector: {}, ingress: [{}], egress: [{}]} plus an explicit DNS allow", &[52],
);
pub(crate) const CNP_002: Rule = rule(
    "CNP-002", "policy", Error, Silent,
    "L7 HTTP `path`/`host` is a regular expression matched against the whole value, and this one is a glob (`/*` means \"zero or more slashes\") or invalid",
    "write a regex: `/api/v1/.*`, `/api/v1/users/[^/]+`", &[53],
);
pub(crate) const CNP_003: Rule = rule(
    "CNP-003", "policy", Warning, Silent,
    "`headers` requires the header with exactly that value (`application/json; charset=utf-8` is denied)",
    "drop the header rule or use headerMatches deliberately", &[54],
);
pub(crate) const CNP_004: Rule = rule(
    "CNP-004", "policy", Error, Breaks,
    "`toFQDNs` without a DNS-proxy rule in the same policy: names never resolve through the proxy, connections drop",
    "add an egress rule to kube-dns on port 53 with `rules: {dns: [{matchPattern: \"*\"}]}`", &[55],
);
pub(crate) const CNP_005: Rule = rule(
    "CNP-005", "policy", Error, Breaks,
    "`fromEndpoints` selects a cilium-gateway/envoy identity; Gateway traffic reaches backends from the reserved `ingress` identity",
    "use `fromEntities: [ingress]`", &[56],
);
pub(crate) const CNP_006: Rule = rule(
    "CNP-006", "policy", Error, Breaks,
    "L7 `http` rules on a TLS port without TLS termination: encrypted traffic cannot be parsed, everything is denied",
    "apply L7 rules to the plain-HTTP port, or configure terminatingTLS/originatingTLS", &[56],
);
pub(crate) const CNP_007: Rule = rule(
    "CNP-007", "policy", Warning, Breaks,
    "egress section (default-deny egress) with no DNS allowance for the selected pods in any policy of the namespace",
    "allow UDP/TCP 53 to kube-dns (k8s:k8s-app: kube-dns in kube-system)", &[55, 57],
);
pub(crate) const CNP_008: Rule = rule(
    "CNP-008", "policy", Warning, Silent,
    "ingress default-deny in a namespace with Gateway backends, but no policy there admits the `ingress` entity",
    "add `fromEntities: [ingress]` for the routed backends", &[57, 58],
);

pub(crate) const RULES: &[Rule] = &[CNP_001, CNP_002, CNP_003, CNP_004, CNP_005, CNP_006, CNP_007, CNP_008];

const SECTIONS: &[&str] = &["ingress", "ingressDeny", "egress", "egressDeny"];
const TLS_PORTS: &[&str] = &["443", "8443", "9443"];

fn is_policy(o: &Obj<'_>) -> bool {
    o.group == "cilium.io" && (o.kind == "CiliumNetworkPolicy" || o.kind == "CiliumClusterwideNetworkPolicy")
}

/// Every rule body of a policy (`spec` and each of `specs`).
fn specs<'a>(o: &Obj<'a>) -> Vec<&'a Node> {
    let mut v: Vec<&Node> = o.get("spec").into_iter().collect();
    v.extend(o.get("specs").and_then(Node::as_seq).unwrap_or_default());
    v
}

fn seq<'a>(n: &'a Node, key: &str) -> &'a [Node] {
    n.get(key).and_then(Node::as_seq).unwrap_or_default()
}

fn glob_like(p: &str) -> bool {
    p.starts_with('*') || p.contains("/*") || p.contains("**") || regex::Regex::new(&format!("^(?:{p})$")).is_err()
}

fn allows_dns(rule_node: &Node) -> bool {
    let ports = seq(rule_node, "toPorts");
    if ports.iter().any(|tp| seq(tp, "ports").iter().any(|p| p.get("port").and_then(Node::scalar_text).as_deref() == Some("53"))) {
        return true;
    }
    if !ports.is_empty() {
        return false;
    }
    let entities: Vec<String> = seq(rule_node, "toEntities").iter().filter_map(Node::scalar_text).collect();
    if entities.iter().any(|e| e == "all" || e == "cluster") {
        return true;
    }
    seq(rule_node, "toEndpoints").iter().any(|ep| {
        let t = ep.to_json().to_string();
        t.contains("kube-dns") || t.contains("\"k8s:io.kubernetes.pod.namespace\":\"kube-system\"")
    })
}

pub(crate) fn check(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let policies: Vec<&Obj<'_>> = ctx.objects.iter().filter(|o| is_policy(o)).collect();
    for p in &policies {
        for spec in specs(p) {
            check_spec(ctx, &policies, p, spec, out);
        }
    }
    // CNP-008: namespaces with routed backends and ingress default-deny.
    let routed_ns: Vec<String> = ctx
        .objects
        .iter()
        .filter(|o| o.kind == "HTTPRoute" || o.kind == "GRPCRoute")
        .flat_map(|r| {
            r.get("spec.rules")
                .and_then(Node::as_seq)
                .unwrap_or_default()
                .iter()
                .flat_map(|ru| seq(ru, "backendRefs").iter())
                .map(|b| b.get("namespace").and_then(Node::scalar_text).unwrap_or_else(|| r.ns().to_owned()))
                .collect::<Vec<_>>()
        })
        .collect();
    for p in policies.iter().filter(|p| p.kind == "CiliumNetworkPolicy") {
        if !routed_ns.iter().any(|n| n == p.ns()) {
            continue;
        }
        let Some(spec) = p.get("spec") else { continue };
        if spec.get("ingress").is_none() {
            continue;
        }
        let admits_ingress = policies.iter().filter(|q| q.ns() == p.ns()).any(|q| {
            specs(q).iter().any(|s| {
                seq(s, "ingress").iter().any(|r| {
                    seq(r, "fromEntities")
                        .iter()
                        .filter_map(Node::scalar_text)
                        .any(|e| ["ingress", "world", "all"].contains(&e.as_str()))
                })
            })
        });
        if !admits_ingress {
            out.push(CNP_008.at(p.file, p.key_pos("spec.ingress"), format!("{} blocks Gateway traffic to routed backends", p.describe())));
        }
    }
}

fn check_spec(ctx: &Ctx<'_>, policies: &[&Obj<'_>], p: &Obj<'_>, spec: &Node, out: &mut Vec<Finding>) {
    let _ = ctx;
    if !SECTIONS.iter().any(|s| spec.get(s).is_some()) {
        out.push(CNP_001.at(p.file, spec.pos, format!("{} has no ingress or egress section: it enforces nothing", p.describe())));
    }
    for section in SECTIONS {
        for r in seq(spec, section) {
            for ep in seq(r, "fromEndpoints") {
                if let Some(labels) = ep.get("matchLabels").and_then(Node::as_map) {
                    for (k, v) in labels {
                        let key = k.scalar_text().unwrap_or_default();
                        let val = v.scalar_text().unwrap_or_default();
                        let sa = key.ends_with("io.cilium.k8s.policy.serviceaccount") && val.starts_with("cilium-");
                        let envoy = (key.ends_with("k8s-app") || key.ends_with("app.kubernetes.io/name")) && val == "cilium-envoy";
                        if sa || envoy {
                            out.push(CNP_005.at(p.file, k.pos, format!("`{key}: {val}` is never the source of Gateway traffic")));
                        }
                    }
                }
            }
            for tp in seq(r, "toPorts") {
                let tls_port = seq(tp, "ports")
                    .iter()
                    .filter_map(|pt| pt.get("port").and_then(Node::scalar_text))
                    .find(|pt| TLS_PORTS.contains(&pt.as_str()));
                let http = tp.lookup("rules.http").and_then(Node::as_seq).unwrap_or_default();
                let terminates = tp.get("terminatingTLS").is_some() || tp.get("originatingTLS").is_some();
                if let (Some(port), false, false) = (tls_port, http.is_empty(), terminates) {
                    out.push(CNP_006.at(p.file, tp.pos, format!("HTTP rules on TLS port {port}")));
                }
                for h in http {
                    for field in ["path", "host"] {
                        if let Some(n) = h.get(field) {
                            let text = n.scalar_text().unwrap_or_default();
                            if glob_like(&text) {
                                out.push(CNP_002.at(p.file, n.pos, format!("`{field}: {text}` is read as a regex, not a glob")));
                            }
                        }
                    }
                    if let Some(hs) = h.get("headers").and_then(Node::as_seq) {
                        for hn in hs {
                            out.push(CNP_003.at(p.file, hn.pos, format!("header rule `{}` is an exact match", hn.scalar_text().unwrap_or_default())));
                        }
                    }
                }
            }
        }
    }
    let egress = seq(spec, "egress");
    let has_dns_proxy = egress.iter().any(|r| seq(r, "toPorts").iter().any(|tp| tp.lookup("rules.dns").is_some()));
    for r in egress {
        if let Some(f) = r.get("toFQDNs")
            && !has_dns_proxy
        {
            out.push(CNP_004.at(p.file, f.pos, format!("{} uses toFQDNs without a DNS rule", p.describe())));
        }
    }
    if spec.get("egress").is_some() && !egress.iter().any(allows_dns) {
        let sel = spec.get("endpointSelector").map(Node::to_json);
        let elsewhere = policies.iter().filter(|q| q.ns() == p.ns() || q.kind == "CiliumClusterwideNetworkPolicy").any(|q| {
            specs(q).iter().any(|s| {
                let qsel = s.get("endpointSelector").map(Node::to_json);
                let covers = qsel == sel
                    || qsel.as_ref().is_some_and(|j| j.as_object().is_some_and(|m| m.is_empty() || m.values().all(|v| v.as_object().is_some_and(|o| o.is_empty()))));
                covers && seq(s, "egress").iter().any(allows_dns)
            })
        });
        let fqdn_reported = egress.iter().any(|r| r.get("toFQDNs").is_some()) && !has_dns_proxy;
        if !elsewhere && !fqdn_reported {
            out.push(CNP_007.at(p.file, spec.get_entry("egress").map_or(spec.pos, |(k, _)| k.pos), format!("{} cuts DNS for its pods", p.describe())));
        }
    }
}
