//! CiliumNetworkPolicy / CiliumClusterwideNetworkPolicy semantics.

use crate::diag::Finding;
use crate::diag::Severity::{Error, Warning};
use crate::yaml::Node;

use super::Impact::{Breaks, Silent};
use super::{Rule, rule};
use crate::check::model::{Ctx, Obj};
use crate::check::selector::Selector;

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

/// One rule body of a policy with what it selects.
struct Body<'o, 'a> {
    obj: &'o Obj<'a>,
    spec: &'a Node,
    selector: Selector,
    /// Kubernetes NetworkPolicy (`podSelector`, `egress[].ports`).
    k8s: bool,
}

fn bodies<'o, 'a>(ctx: &'o Ctx<'a>) -> Vec<Body<'o, 'a>> {
    let mut out = Vec::new();
    for o in &ctx.objects {
        if is_policy(o) {
            for spec in specs(o) {
                let sel = spec.get("endpointSelector").or_else(|| spec.get("nodeSelector"));
                out.push(Body { obj: o, spec, selector: Selector::parse(sel), k8s: false });
            }
        } else if o.group == "networking.k8s.io" && o.kind == "NetworkPolicy"
            && let Some(spec) = o.get("spec")
        {
            out.push(Body { obj: o, spec, selector: Selector::parse(spec.get("podSelector")), k8s: true });
        }
    }
    out
}

/// Whether `q` may select an endpoint that `p` selects: the same namespace
/// (or a clusterwide `q`) and selectors that are not provably disjoint.
/// Cilium merges every rule that selects an endpoint, so a DNS rule in any
/// such body counts for `p`.
fn may_share(ctx: &Ctx<'_>, q: &Body<'_, '_>, p: &Body<'_, '_>) -> bool {
    let clusterwide = q.obj.kind == "CiliumClusterwideNetworkPolicy";
    let same_ns = clusterwide || (p.obj.kind != "CiliumClusterwideNetworkPolicy" && ctx.ns_match(q.obj.ns(), p.obj.ns()));
    same_ns && !q.selector.disjoint(&p.selector)
}

pub(crate) fn check(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let all = bodies(ctx);
    for p in all.iter().filter(|b| !b.k8s) {
        check_spec(ctx, &all, p, out);
    }
    // CNP-008: namespaces whose backends a Cilium Gateway routes to, with
    // ingress default-deny. Other controllers reach backends from their
    // own proxy pods, not from the reserved `ingress` identity.
    let gateways: Vec<&Obj<'_>> = ctx.kinds("gateway.networking.k8s.io", "Gateway").collect();
    let routed_ns: Vec<Option<String>> = ctx
        .objects
        .iter()
        .filter(|o| o.kind == "HTTPRoute" || o.kind == "GRPCRoute")
        .filter(|r| {
            super::gateway::route_gateways(ctx, r, &gateways).iter().any(|g| super::gateway::is_cilium(ctx, g))
        })
        .flat_map(|r| {
            r.get("spec.rules")
                .and_then(Node::as_seq)
                .unwrap_or_default()
                .iter()
                .flat_map(|ru| seq(ru, "backendRefs").iter())
                .map(|b| b.get("namespace").and_then(Node::scalar_text).or_else(|| r.namespace.clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    let policies: Vec<&Obj<'_>> = ctx.objects.iter().filter(|o| is_policy(o)).collect();
    for p in policies.iter().filter(|p| p.kind == "CiliumNetworkPolicy") {
        if !routed_ns.iter().any(|n| n.is_some() && p.ns().is_some() && n.as_deref() == p.ns()) {
            continue;
        }
        let Some(spec) = p.get("spec") else { continue };
        if spec.get("ingress").is_none() {
            continue;
        }
        let admits_ingress = policies
            .iter()
            .filter(|q| q.kind == "CiliumClusterwideNetworkPolicy" || q.ns() == p.ns())
            .any(|q| {
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

/// A Kubernetes NetworkPolicy egress rule that allows port 53.
fn k8s_allows_dns(rule_node: &Node) -> bool {
    let ports = seq(rule_node, "ports");
    ports.is_empty() || ports.iter().any(|p| p.get("port").and_then(Node::scalar_text).as_deref() == Some("53"))
}

fn has_dns_proxy(spec: &Node) -> bool {
    seq(spec, "egress").iter().any(|r| seq(r, "toPorts").iter().any(|tp| tp.lookup("rules.dns").is_some()))
}

fn check_spec(ctx: &Ctx<'_>, all: &[Body<'_, '_>], body: &Body<'_, '_>, out: &mut Vec<Finding>) {
    let p = body.obj;
    let spec = body.spec;
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
    let sharing: Vec<&Body<'_, '_>> = all.iter().filter(|q| may_share(ctx, q, body)).collect();
    let dns_proxy = sharing.iter().any(|q| !q.k8s && has_dns_proxy(q.spec));
    for r in egress {
        if let Some(f) = r.get("toFQDNs")
            && !dns_proxy
        {
            out.push(CNP_004.at(p.file, f.pos, format!("{} uses toFQDNs and no policy selecting its pods has a DNS rule", p.describe())));
        }
    }
    if spec.get("egress").is_some() && !egress.iter().any(allows_dns) {
        let elsewhere = sharing.iter().any(|q| {
            if q.k8s { seq(q.spec, "egress").iter().any(k8s_allows_dns) } else { seq(q.spec, "egress").iter().any(allows_dns) }
        });
        let fqdn_reported = egress.iter().any(|r| r.get("toFQDNs").is_some()) && !dns_proxy;
        if !elsewhere && !fqdn_reported {
            out.push(CNP_007.at(p.file, spec.get_entry("egress").map_or(spec.pos, |(k, _)| k.pos), format!("{} cuts DNS for its pods", p.describe())));
        }
    }
}
