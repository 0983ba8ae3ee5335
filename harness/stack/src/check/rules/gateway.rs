//! Gateway API objects and the CRD bundle they need.

use crate::diag::Finding;
use crate::diag::Severity::{Error, Warning};
use crate::yaml::Node;

use super::Impact::{Breaks, Deprecated, Silent};
use super::{Rule, rule};
use crate::check::input::Format;
use crate::check::model::{Ctx, Obj};

pub(crate) const GW_001: Rule = rule(
    "GW-001", "gateway", Error, Breaks,
    "Gateway API CRD bundle is older than the one the Cilium release needs; the operator never starts the Gateway controller",
    "install the matching standard bundle (1.17: v1.2.1, 1.18: v1.3.0, 1.19: v1.4.x, 1.20: v1.6.1) before Cilium", &[31, 46],
);
pub(crate) const GW_002: Rule = rule(
    "GW-002", "gateway", Warning, Breaks,
    "Gateway API CRDs applied imperatively (outside GitOps ordering, or without --server-side)",
    "manage the CRDs in Git (Kustomization with wait: true, everything else dependsOn it); apply with --server-side", &[32],
);
pub(crate) const GW_003: Rule = rule(
    "GW-003", "gateway", Warning, Deprecated,
    "Gateway API object at a pre-GA version; Cilium and external-dns consume v1",
    "apiVersion: gateway.networking.k8s.io/v1", &[33],
);
pub(crate) const GW_004: Rule = rule(
    "GW-004", "gateway", Error, Breaks,
    "hand-written GatewayClass for Cilium while the chart also renders it (gatewayAPI.gatewayClass.create: auto)",
    "delete the manifest, or set gatewayAPI.gatewayClass.create: \"false\"", &[34],
);
pub(crate) const GW_005: Rule = rule(
    "GW-005", "gateway", Error, Breaks,
    "object lives in a namespace nothing creates",
    "add the Namespace manifest (or a HelmRelease with install.createNamespace for it)", &[35, 47],
);
pub(crate) const GW_006: Rule = rule(
    "GW-006", "gateway", Warning, Silent,
    "Cilium Gateway with a LoadBalancer Service has no stable address (no spec.addresses, no lbipam.cilium.io/ips infrastructure annotation)",
    "set spec.infrastructure.annotations[\"lbipam.cilium.io/ips\"] or spec.addresses", &[35],
);
pub(crate) const GW_007: Rule = rule(
    "GW-007", "gateway", Error, Silent,
    "HTTPRoute attaches without `sectionName` to a Gateway whose plain-HTTP listener admits it (allowedRoutes): the app is also served in clear text",
    "parentRefs: [{name: …, namespace: …, sectionName: https}]", &[36],
);
pub(crate) const GW_008: Rule = rule(
    "GW-008", "gateway", Warning, Silent,
    "Gateway has HTTP and HTTPS listeners but no HTTPRoute redirects HTTP to HTTPS",
    "add an HTTPRoute on sectionName http with a RequestRedirect filter (scheme: https, statusCode: 301)", &[36],
);
pub(crate) const GW_009: Rule = rule(
    "GW-009", "gateway", Error, Breaks,
    "backend port speaks TLS but no BackendTLSPolicy covers it: Envoy sends plain HTTP and gets 400/502",
    "route to the backend's plain-HTTP port, or add a BackendTLSPolicy (Cilium >= 1.20)", &[37],
);
pub(crate) const GW_010: Rule = rule(
    "GW-010", "gateway", Warning, Deprecated,
    "Kubernetes Dashboard is archived and its Helm repository is gone",
    "use Headlamp", &[37],
);
pub(crate) const GW_011: Rule = rule(
    "GW-011", "gateway", Warning, Silent,
    "an unauthenticated UI (Hubble UI, Longhorn, Dashboard) is published through a Cilium Gateway (which has no authentication filter of its own)",
    "put it behind forward-auth/oauth2-proxy, or keep its DNS LAN-only", &[41],
);
pub(crate) const GW_012: Rule = rule(
    "GW-012", "gateway", Error, Breaks,
    "parentRef names a Gateway that is not in the inputs",
    "fix the parentRef name/namespace", &[36],
);

pub(crate) const RULES: &[Rule] = &[
    GW_001, GW_002, GW_003, GW_004, GW_005, GW_006, GW_007, GW_008, GW_009, GW_010, GW_011, GW_012,
];

const GROUP: &str = "gateway.networking.k8s.io";
const GA_KINDS: &[&str] = &["GatewayClass", "Gateway", "HTTPRoute", "GRPCRoute"];
const TLS_PORTS: &[i64] = &[443, 8443, 9443];
const UI_BACKENDS: &[&str] = &["hubble-ui", "longhorn-frontend"];

/// The Gateway API bundle each Cilium minor requires.
pub(crate) fn required_bundle(cilium_minor: u64) -> (u64, u64, u64) {
    match cilium_minor {
        0..=17 => (1, 2, 1),
        18 => (1, 3, 0),
        19 => (1, 4, 0),
        _ => (1, 6, 1),
    }
}

pub(crate) fn check(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let minor = ctx.cilium_minor();
    let need = required_bundle(minor);
    for src in ctx.sources {
        for u in crate::check::versions::bundle_urls(&src.text) {
            let have = u.parts;
            if have < need {
                out.push(GW_001.at(
                    &src.path,
                    u.pos,
                    format!(
                        "bundle v{}.{}.{} is older than v{}.{}.{} required by Cilium 1.{minor}",
                        have.0, have.1, have.2, need.0, need.1, need.2
                    ),
                ));
            }
        }
    }
    for g in ctx.objects.iter().filter(|o| o.kind == "GitRepository") {
        if !g.str("spec.url").is_some_and(|u| u.contains("kubernetes-sigs/gateway-api")) {
            continue;
        }
        let Some(tag) = g.str("spec.ref.tag") else { continue };
        let mut it = tag.trim_start_matches('v').split('.').map(|x| x.parse::<u64>().unwrap_or(0));
        let have = (it.next().unwrap_or(0), it.next().unwrap_or(0), it.next().unwrap_or(0));
        if have < need {
            out.push(GW_001.at(
                g.file,
                g.pos("spec.ref.tag"),
                format!("bundle {tag} is older than v{}.{}.{} required by Cilium 1.{minor}", need.0, need.1, need.2),
            ));
        }
    }
    for c in &ctx.commands {
        if c.text.contains("kubectl") && c.text.contains(" apply") && c.text.contains("gateway-api") {
            let why = if c.text.contains("--server-side") {
                "CRDs applied by hand have no ordering against the objects that use them"
            } else {
                "CRDs applied by hand and without --server-side"
            };
            out.push(GW_002.at(&c.file, c.pos, why));
        }
    }
    let gateways: Vec<&Obj<'_>> = ctx.kinds(GROUP, "Gateway").collect();
    for o in ctx.objects.iter().filter(|o| o.group == GROUP) {
        if GA_KINDS.contains(&o.kind.as_str()) && o.version != "v1" {
            out.push(GW_003.at(o.file, o.pos("apiVersion"), format!("{} uses {}", o.kind, o.api_version)));
        }
    }
    let chart_renders_class = ctx.cilium_values().any(|v| {
        v.truthy("gatewayAPI.enabled") && v.str("gatewayAPI.gatewayClass.create").as_deref() != Some("false")
    });
    for gc in ctx.kinds(GROUP, "GatewayClass") {
        if chart_renders_class && gc.str("spec.controllerName").as_deref() == Some("io.cilium/gateway-controller") {
            out.push(GW_004.at(gc.file, gc.pos("metadata.name"), format!("GatewayClass `{}` is also rendered by the Cilium chart", gc.name)));
        }
    }
    check_namespaces(ctx, out);
    let routes: Vec<&Obj<'_>> = ctx.kinds(GROUP, "HTTPRoute").collect();
    for gw in &gateways {
        let ann = gw.get("spec.infrastructure.annotations");
        let fixed = gw.get("spec.addresses").is_some()
            || ann.and_then(|a| a.get("lbipam.cilium.io/ips")).is_some()
            || ann.and_then(|a| a.get("io.cilium/lb-ipam-ips")).is_some();
        if !fixed && class_of(ctx, gw) == Class::Cilium && cilium_service_type(ctx, gw) == "LoadBalancer" {
            out.push(GW_006.at(gw.file, gw.pos("spec"), format!("{} gets whatever IP the pool hands out", gw.describe())));
        }
        if listener(gw, "HTTP").is_some() && listener(gw, "HTTPS").is_some() {
            let redirected = routes.iter().any(|r| attaches(ctx, r, gw) && redirects_to_https(r));
            if !redirected {
                out.push(GW_008.at(gw.file, listener(gw, "HTTP").map_or(gw.node.pos, |l| l.pos), "no HTTP→HTTPS redirect route"));
            }
        }
    }
    let tls_policies: Vec<&Obj<'_>> = ctx.objects.iter().filter(|o| o.kind == "BackendTLSPolicy").collect();
    for r in &routes {
        for pr in r.get("spec.parentRefs").and_then(Node::as_seq).unwrap_or_default() {
            let kind = pr.get("kind").and_then(Node::scalar_text).unwrap_or_else(|| "Gateway".into());
            if kind != "Gateway" {
                continue;
            }
            let name = pr.get("name").and_then(Node::scalar_text).unwrap_or_default();
            let ns = pr.get("namespace").and_then(Node::scalar_text).or_else(|| r.namespace.clone());
            let gw = gateways.iter().find(|g| g.name == name && ctx.ns_match(ns.as_deref(), g.ns()));
            let ns_text = ns.as_deref().unwrap_or("<namespace unknown>");
            if let Some(g) = gw {
                out.extend(ctx.name_only(r.file, pr.pos, &format!("parentRef `{name}`"), ns.as_deref(), g.ns()));
            }
            match gw {
                None if !gateways.is_empty() && !name.contains("${") => {
                    out.push(GW_012.at(r.file, pr.pos, format!("no Gateway {ns_text}/{name} in the inputs")));
                }
                Some(gw)
                    if pr.get("sectionName").is_none()
                        && listener(gw, "HTTPS").is_some()
                        && listener(gw, "HTTP").is_some_and(|l| admits(l, gw, r))
                        && !redirects_to_https(r) =>
                {
                    out.push(GW_007.at(r.file, pr.pos, format!("{} attaches to every listener of {ns_text}/{name}, including plain HTTP", r.describe())));
                }
                Some(_) => {}
                None => {}
            }
        }
        for rule_node in r.get("spec.rules").and_then(Node::as_seq).unwrap_or_default() {
            for b in rule_node.get("backendRefs").and_then(Node::as_seq).unwrap_or_default() {
                let name = b.get("name").and_then(Node::scalar_text).unwrap_or_default();
                let port = b.get("port").and_then(Node::as_i64);
                if let Some(p) = port.filter(|p| TLS_PORTS.contains(p)) {
                    let covered = tls_policies.iter().any(|t| {
                        t.ns() == r.ns()
                            && t.get("spec.targetRefs")
                                .and_then(Node::as_seq)
                                .unwrap_or_default()
                                .iter()
                                .any(|tr| tr.get("name").and_then(Node::scalar_text).as_deref() == Some(name.as_str()))
                    });
                    if !covered {
                        out.push(GW_009.at(r.file, b.pos, format!("backend `{name}:{p}` is a TLS port")));
                    }
                }
                if name.starts_with("kubernetes-dashboard") {
                    out.push(GW_010.at(r.file, b.pos, "routes to Kubernetes Dashboard"));
                }
                if (name.starts_with("kubernetes-dashboard") || UI_BACKENDS.contains(&name.as_str()))
                    && route_gateways(ctx, r, &gateways).iter().any(|g| class_of(ctx, g) == Class::Cilium)
                {
                    out.push(GW_011.at(r.file, b.pos, format!("`{name}` has no authentication of its own")));
                }
            }
        }
    }
    for rel in &ctx.releases {
        if rel.chart_name == "kubernetes-dashboard" {
            let o = ctx.release_obj(rel);
            out.push(GW_010.at(o.file, o.pos("spec.chart.spec.chart"), "installs Kubernetes Dashboard"));
        }
    }
}

fn listener<'a>(gw: &Obj<'a>, protocol: &str) -> Option<&'a Node> {
    gw.get("spec.listeners")
        .and_then(Node::as_seq)?
        .iter()
        .find(|l| l.get("protocol").and_then(Node::as_str) == Some(protocol))
}

fn attaches(ctx: &Ctx<'_>, route: &Obj<'_>, gw: &Obj<'_>) -> bool {
    route.get("spec.parentRefs").and_then(Node::as_seq).unwrap_or_default().iter().any(|pr| {
        let ns = pr.get("namespace").and_then(Node::scalar_text).or_else(|| route.namespace.clone());
        pr.get("name").and_then(Node::scalar_text).as_deref() == Some(gw.name.as_str())
            && ctx.ns_match(ns.as_deref(), gw.ns())
    })
}

/// The Gateways in the inputs a route names.
pub(crate) fn route_gateways<'c, 'a>(ctx: &Ctx<'_>, route: &Obj<'_>, gateways: &[&'c Obj<'a>]) -> Vec<&'c Obj<'a>> {
    gateways.iter().filter(|g| attaches(ctx, route, g)).copied().collect()
}

/// Whether a listener's `allowedRoutes` certainly lets `route` attach. The
/// default is routes from the Gateway's own namespace; a label selector
/// over namespaces, or a namespace the inputs do not tell, is not certain.
fn admits(listener: &Node, gw: &Obj<'_>, route: &Obj<'_>) -> bool {
    if let Some(kinds) = listener.lookup("allowedRoutes.kinds").and_then(Node::as_seq)
        && !kinds.iter().any(|k| k.get("kind").and_then(Node::as_str) == Some(route.kind.as_str()))
    {
        return false;
    }
    match listener.lookup("allowedRoutes.namespaces.from").and_then(Node::as_str).unwrap_or("Same") {
        "All" => true,
        "Selector" => false,
        _ => route.ns().is_some() && route.ns() == gw.ns(),
    }
}

/// Whether Cilium's Gateway controller serves `gw`.
pub(crate) fn is_cilium(ctx: &Ctx<'_>, gw: &Obj<'_>) -> bool {
    class_of(ctx, gw) == Class::Cilium
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Cilium,
    Other,
    Unknown,
}

const CILIUM_CONTROLLER: &str = "io.cilium/gateway-controller";

/// Which controller serves a Gateway: the GatewayClass in the inputs, else
/// the class the Cilium chart renders (`gatewayAPI.gatewayClass`, named
/// `cilium`) when Gateway API is enabled in Cilium values.
fn class_of(ctx: &Ctx<'_>, gw: &Obj<'_>) -> Class {
    let name = gw.str("spec.gatewayClassName").unwrap_or_default();
    if let Some(gc) = ctx.kinds(GROUP, "GatewayClass").find(|c| c.name == name) {
        return if gc.str("spec.controllerName").as_deref() == Some(CILIUM_CONTROLLER) { Class::Cilium } else { Class::Other };
    }
    let chart_class = ctx.cilium_values().any(|v| v.truthy("gatewayAPI.enabled") && v.str("gatewayAPI.gatewayClass.create").as_deref() != Some("false"));
    if name == "cilium" && (chart_class || ctx.cilium_values().next().is_none()) { Class::Cilium } else { Class::Unknown }
}

/// The type of Service Cilium creates for a Gateway: the
/// CiliumGatewayClassConfig the class points at, else LoadBalancer (none
/// with `gatewayAPI.hostNetwork.enabled`).
fn cilium_service_type(ctx: &Ctx<'_>, gw: &Obj<'_>) -> String {
    if ctx.cilium_values().any(|v| v.truthy("gatewayAPI.hostNetwork.enabled")) {
        return "None".into();
    }
    let name = gw.str("spec.gatewayClassName").unwrap_or_default();
    let config = ctx
        .kinds(GROUP, "GatewayClass")
        .find(|c| c.name == name)
        .and_then(|c| c.str("spec.parametersRef.name"))
        .or_else(|| gw.str("spec.infrastructure.parametersRef.name"));
    config
        .and_then(|n| ctx.objects.iter().find(|o| o.kind == "CiliumGatewayClassConfig" && o.name == n))
        .and_then(|c| c.str("spec.service.type"))
        .unwrap_or_else(|| "LoadBalancer".into())
}

fn redirects_to_https(route: &Obj<'_>) -> bool {
    route.get("spec.rules").and_then(Node::as_seq).unwrap_or_default().iter().any(|r| {
        r.get("filters").and_then(Node::as_seq).unwrap_or_default().iter().any(|f| {
            f.lookup("requestRedirect.scheme").and_then(Node::as_str) == Some("https")
        })
    })
}

const SYSTEM_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public", "kube-node-lease"];
const NEEDS_NAMESPACE: &[&str] = &["Gateway", "Certificate", "SealedSecret", "HTTPRoute", "HelmRelease", "ConfigMap"];

fn check_namespaces(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    // Only meaningful when the inputs manage namespaces at all.
    let declared: Vec<&str> = ctx
        .objects
        .iter()
        .filter(|o| o.group.is_empty() && o.kind == "Namespace")
        .map(|o| o.name.as_str())
        .collect();
    let created_by_release: Vec<String> = ctx
        .releases
        .iter()
        .filter(|r| ctx.release_obj(r).str("spec.install.createNamespace").as_deref() == Some("true"))
        .filter_map(|r| r.target_ns.clone())
        .collect();
    let flux_present = !ctx.releases.is_empty() || ctx.objects.iter().any(|o| o.group.ends_with("toolkit.fluxcd.io"));
    let mut reported: Vec<String> = Vec::new();
    for o in &ctx.objects {
        let Some(ns) = o.namespace.as_deref() else { continue };
        if o.src.context {
            continue;
        }
        if !NEEDS_NAMESPACE.contains(&o.kind.as_str()) || SYSTEM_NAMESPACES.contains(&ns) {
            continue;
        }
        if ns == "flux-system" && flux_present {
            continue;
        }
        // App namespaces for routes are created by the app's own chart;
        // only flag them when that app's release is in the inputs either.
        if o.kind == "HTTPRoute" || o.kind == "ConfigMap" || o.kind == "HelmRelease" {
            continue;
        }
        if declared.contains(&ns) || ctx.component_namespaces.iter().any(|c| c == ns) || created_by_release.iter().any(|c| c == ns) || reported.iter().any(|r| r == ns) {
            continue;
        }
        if o.src.format == Format::Template {
            continue;
        }
        reported.push(ns.to_owned());
        out.push(GW_005.at(o.file, o.pos("metadata.namespace"), format!("namespace `{ns}` of {} is never created", o.describe())));
    }
}
