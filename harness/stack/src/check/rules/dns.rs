//! external-dns with Cloudflare: annotations, chart choice and values.

use std::net::IpAddr;

use crate::diag::Finding;
use crate::diag::Severity::{Error, Warning};
use crate::yaml::Node;

use super::Impact::{Breaks, Deprecated, Silent};
use super::{Rule, rule};
use crate::check::model::{Chart, Ctx, Obj};

pub(crate) const DNS_001: Rule = rule(
    "DNS-001", "dns", Error, Breaks,
    "Cloudflare-proxied record for a private (RFC 1918) target: Cloudflare rejects it (error 9003) and cannot reach the origin",
    "publish DNS-only records (proxied=false) for LAN targets, or use a Cloudflare Tunnel target for public exposure", &[42],
);
pub(crate) const DNS_002: Rule = rule(
    "DNS-002", "dns", Warning, Silent,
    "external-dns Cloudflare annotation that does not exist; it is ignored",
    "supported: cloudflare-proxied, cloudflare-custom-hostname, cloudflare-region-key, cloudflare-record-comment, cloudflare-tags", &[43],
);
pub(crate) const DNS_003: Rule = rule(
    "DNS-003", "dns", Warning, Deprecated,
    "`external-dns.alpha.kubernetes.io/` prefix: ignored by external-dns >= 0.22 unless --annotation-prefix or --enable-legacy-annotation-prefix is set (judged against the external-dns release in the inputs; 0.23 when there is none)",
    "use `external-dns.kubernetes.io/`", &[44, 63],
);
pub(crate) const DNS_004: Rule = rule(
    "DNS-004", "dns", Warning, Silent,
    "TTL set on a proxied record; proxied records always use automatic TTL",
    "drop the ttl annotation (or set it to 1) on proxied records", &[43],
);
pub(crate) const DNS_005: Rule = rule(
    "DNS-005", "dns", Error, Breaks,
    "external-dns from the Bitnami chart (frozen bitnamilegacy images, different version numbering and values)",
    "use the kubernetes-sigs external-dns chart (1.21.x)", &[45],
);
pub(crate) const DNS_006: Rule = rule(
    "DNS-006", "dns", Error, Breaks,
    "external-dns values mix the Bitnami and kubernetes-sigs charts; the other chart's keys are silently ignored",
    "sigs chart: provider.name, env (CF_API_TOKEN from a secretKeyRef), extraArgs [--cloudflare-proxied] only for public targets", &[45],
);
pub(crate) const DNS_007: Rule = rule(
    "DNS-007", "dns", Warning, Silent,
    "external-dns reads only the `target` annotation from a Gateway; other annotations belong on the routes",
    "move hostname/proxied annotations to the HTTPRoutes (hostnames come from spec.hostnames)", &[44],
);
pub(crate) const DNS_008: Rule = rule(
    "DNS-008", "dns", Error, Breaks,
    "the API-token Secret is not in the namespace that reads it (CreateContainerConfigError / issuer not ready)",
    "seal the Secret for each namespace that reads it (external-dns release namespace, cert-manager namespace)", &[47],
);

pub(crate) const DNS_009: Rule = rule(
    "DNS-009", "dns", Warning, Silent,
    "hostname annotation on a ClusterIP Service: the `service` source ignores it without --publish-internal-services",
    "publish through an HTTPRoute (hostnames come from spec.hostnames) or a LoadBalancer Service", &[63],
);

pub(crate) const RULES: &[Rule] = &[DNS_001, DNS_002, DNS_003, DNS_004, DNS_005, DNS_006, DNS_007, DNS_008, DNS_009];

const KNOWN: &[&str] = &[
    "hostname", "internal-hostname", "target", "ttl", "controller", "access", "endpoints-type",
    "ingress-hostname-source", "alias", "set-identifier", "gateway-hostname-source", "exclude",
    "cloudflare-proxied", "cloudflare-custom-hostname", "cloudflare-region-key",
    "cloudflare-record-comment", "cloudflare-tags",
];

fn is_private(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => a.is_private() || a.is_loopback() || a.is_link_local() || a.octets()[0] == 100 && (a.octets()[1] & 0xc0) == 64,
        IpAddr::V6(a) => (a.segments()[0] & 0xfe00) == 0xfc00 || a.is_loopback(),
    }
}

/// external-dns annotation name without its prefix, and whether it is alpha.
fn ed_annotation(key: &str) -> Option<(&str, bool)> {
    if let Some(rest) = key.strip_prefix("external-dns.alpha.kubernetes.io/") {
        Some((rest, true))
    } else {
        key.strip_prefix("external-dns.kubernetes.io/").map(|r| (r, false))
    }
}

fn ann<'a>(o: &Obj<'a>, name: &str) -> Option<&'a Node> {
    o.annotations()
        .into_iter()
        .find(|(k, _)| k.as_str().and_then(ed_annotation).is_some_and(|(n, _)| n == name))
        .map(|(_, v)| v)
}

/// Addresses a record for `o` would point at, when knowable; `None` for a
/// hostname target (tunnel) or when nothing in the inputs tells.
fn target_ips(ctx: &Ctx<'_>, o: &Obj<'_>) -> Option<Vec<IpAddr>> {
    let parse_list = |s: &str| -> Vec<IpAddr> { s.split(',').filter_map(|p| p.trim().parse().ok()).collect() };
    if o.kind == "DNSEndpoint" {
        // The record targets are written out; a hostname (a tunnel CNAME)
        // is never a private address.
        let mut ips = Vec::new();
        for e in o.get("spec.endpoints").and_then(Node::as_seq).unwrap_or_default() {
            for t in e.get("targets").and_then(Node::as_seq).unwrap_or_default() {
                match t.scalar_text().and_then(|s| s.parse::<IpAddr>().ok()) {
                    Some(ip) => ips.push(ip),
                    None => return None,
                }
            }
        }
        return if ips.is_empty() { None } else { Some(ips) };
    }
    if let Some(t) = ann(o, "target").and_then(Node::scalar_text) {
        let ips = parse_list(&t);
        return if ips.is_empty() { None } else { Some(ips) };
    }
    let mut ips = Vec::new();
    let gateways: Vec<&Obj<'_>> = if o.kind == "Gateway" {
        vec![o]
    } else {
        o.get("spec.parentRefs")
            .and_then(Node::as_seq)
            .unwrap_or_default()
            .iter()
            .filter_map(|pr| {
                let name = pr.get("name").and_then(Node::scalar_text)?;
                let ns = pr.get("namespace").and_then(Node::scalar_text).or_else(|| o.namespace.clone());
                ctx.objects.iter().find(|g| g.kind == "Gateway" && g.name == name && ctx.ns_match(ns.as_deref(), g.ns()))
            })
            .collect()
    };
    for g in &gateways {
        if let Some(t) = ann(g, "target").and_then(Node::scalar_text) {
            let p = parse_list(&t);
            if p.is_empty() {
                return None;
            }
            ips.extend(p);
            continue;
        }
        if let Some(a) = g.get("spec.infrastructure.annotations").and_then(|a| a.get("lbipam.cilium.io/ips")) {
            ips.extend(parse_list(&a.scalar_text().unwrap_or_default()));
        }
        for a in g.get("spec.addresses").and_then(Node::as_seq).unwrap_or_default() {
            if let Some(ip) = a.get("value").and_then(Node::scalar_text).and_then(|s| s.parse().ok()) {
                ips.push(ip);
            }
        }
    }
    if let Some(s) = o.get("metadata.annotations").and_then(|a| a.get("lbipam.cilium.io/ips")) {
        ips.extend(parse_list(&s.scalar_text().unwrap_or_default()));
    }
    if ips.is_empty() {
        // Fall back to the LB pools: every VIP comes from one of them.
        for p in ctx.objects.iter().filter(|p| p.kind == "CiliumLoadBalancerIPPool") {
            for list in ["spec.blocks", "spec.cidrs"] {
                for b in p.get(list).and_then(Node::as_seq).unwrap_or_default() {
                    let first = b
                        .get("cidr")
                        .and_then(Node::scalar_text)
                        .map(|c| c.split('/').next().unwrap_or("").to_owned())
                        .or_else(|| b.get("start").and_then(Node::scalar_text));
                    if let Some(ip) = first.and_then(|s| s.parse().ok()) {
                        ips.push(ip);
                    }
                }
            }
        }
    }
    if ips.is_empty() { None } else { Some(ips) }
}

pub(crate) fn check(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let alpha_read = alpha_prefix_read(ctx);
    for o in &ctx.objects {
        let mut proxied = false;
        let mut ttl_pos = None;
        for (k, v) in o.annotations() {
            let Some(key) = k.as_str() else { continue };
            let Some((name, alpha)) = ed_annotation(key) else { continue };
            if alpha && !alpha_read {
                out.push(DNS_003.at(o.file, k.pos, format!("`{key}` uses the alpha prefix")));
            }
            if name.starts_with("cloudflare-") && !KNOWN.contains(&name) {
                out.push(DNS_002.at(o.file, k.pos, format!("`{name}` is not an external-dns annotation")));
            }
            if name == "cloudflare-proxied" && v.scalar_text().as_deref() == Some("true") {
                proxied = true;
            }
            if name == "ttl" {
                ttl_pos = Some(k.pos);
            }
            if o.kind == "Gateway" && name != "target" {
                out.push(DNS_007.at(o.file, k.pos, format!("`{name}` on a Gateway is ignored")));
            }
        }
        if proxied {
            if let Some(p) = ttl_pos {
                out.push(DNS_004.at(o.file, p, "ttl has no effect on a proxied record"));
            }
            if let Some(ips) = target_ips(ctx, o)
                && ips.iter().all(is_private)
            {
                let pos = o
                    .annotations()
                    .into_iter()
                    .find(|(k, _)| k.as_str().is_some_and(|k| k.ends_with("/cloudflare-proxied")))
                    .map_or(o.node.pos, |(k, _)| k.pos);
                out.push(DNS_001.at(o.file, pos, format!("{} would be proxied to private address {}", o.describe(), ips[0])));
            }
        }
    }
    let publishes_internal = ctx.values.iter().filter(|v| v.chart == Chart::ExternalDns).any(|v| {
        v.get("extraArgs")
            .and_then(Node::as_seq)
            .unwrap_or_default()
            .iter()
            .any(|a| a.as_str().is_some_and(|s| s.starts_with("--publish-internal-services")))
    });
    for svc in ctx.objects.iter().filter(|o| o.group.is_empty() && o.kind == "Service") {
        let kind = svc.str("spec.type").unwrap_or_else(|| "ClusterIP".into());
        if kind != "ClusterIP" || publishes_internal {
            continue;
        }
        if let Some((k, _)) = svc
            .annotations()
            .into_iter()
            .find(|(k, _)| k.as_str().and_then(ed_annotation).is_some_and(|(n, _)| n == "hostname"))
        {
            out.push(DNS_009.at(svc.file, k.pos, format!("{} is ClusterIP; no record will be published", svc.describe())));
        }
    }
    for c in &ctx.commands {
        if c.text.contains("external-dns.alpha.kubernetes.io/") && !alpha_read {
            out.push(DNS_003.at(&c.file, c.pos, "command uses the alpha annotation prefix"));
        }
    }
    check_chart(ctx, out);
}

fn check_chart(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    for r in ctx.releases.iter().filter(|r| r.chart == Chart::ExternalDns) {
        let o = ctx.release_obj(r);
        let src_name = o.str("spec.chart.spec.sourceRef.name").unwrap_or_default();
        let repo = ctx
            .objects
            .iter()
            .find(|h| h.kind == "HelmRepository" && h.name == src_name)
            .and_then(|h| h.str("spec.url"))
            .unwrap_or_default();
        if src_name.contains("bitnami") || repo.contains("bitnami") {
            out.push(DNS_005.at(o.file, o.pos("spec.chart.spec.sourceRef.name"), format!("external-dns comes from `{src_name}`")));
        }
    }
    for v in ctx.values.iter().filter(|v| v.chart == Chart::ExternalDns) {
        let bitnami_keys = ["cloudflare", "extraEnvVars", "txtOwnerID"];
        let sigs_keys = ["env", "extraArgs", "txtOwnerId"];
        let has = |k: &str| v.get(k).is_some();
        let b: Vec<&str> = bitnami_keys.iter().copied().filter(|k| has(k)).collect();
        let s: Vec<&str> = sigs_keys.iter().copied().filter(|k| has(k)).collect();
        if !b.is_empty() && !s.is_empty() {
            out.push(DNS_006.at(&v.file, v.key_pos(b[0]), format!("Bitnami keys ({}) next to sigs keys ({})", b.join(", "), s.join(", "))));
        }
        let proxied_all = v.truthy("cloudflare.proxied")
            || v.get("extraArgs")
                .and_then(Node::as_seq)
                .unwrap_or_default()
                .iter()
                .any(|a| a.as_str().is_some_and(|s| s.starts_with("--cloudflare-proxied")));
        if proxied_all && publishes_private(ctx, v) {
            let at = if v.get("cloudflare.proxied").is_some() { v.pos("cloudflare.proxied") } else { v.pos("extraArgs") };
            out.push(DNS_001.at(&v.file, at, "every record is proxied but the LB pools hand out private addresses"));
        }
        check_secret_ns(ctx, v, out);
    }
}

/// `env[].valueFrom.secretKeyRef.name` must exist in the release namespace.
fn check_secret_ns(ctx: &Ctx<'_>, v: &crate::check::model::Values, out: &mut Vec<Finding>) {
    let Some(rel) = ctx.release_of(v) else { return };
    let Some(target_ns) = rel.target_ns.as_deref() else { return };
    for e in v.get("env").and_then(Node::as_seq).unwrap_or_default() {
        let Some(n) = e.lookup("valueFrom.secretKeyRef.name") else { continue };
        let name = n.scalar_text().unwrap_or_default();
        let places = secret_namespaces(ctx, &name);
        if !places.is_empty() && !places.iter().any(|p| p == target_ns) {
            out.push(DNS_008.at(
                &v.file,
                n.pos,
                format!("Secret `{name}` is in {} but external-dns runs in `{target_ns}`", places.join(", ")),
            ));
        }
    }
}

/// Namespaces where a Secret named `name` exists or is produced (by a
/// SealedSecret or an ExternalSecret). Empty when any producer's namespace
/// is unknown: then nothing can be said.
pub(crate) fn secret_namespaces(ctx: &Ctx<'_>, name: &str) -> Vec<String> {
    let mut out = Vec::new();
    for o in &ctx.objects {
        let produced = match o.kind.as_str() {
            "Secret" if o.group.is_empty() => Some((o.name.clone(), o.namespace.clone())),
            "SealedSecret" => Some((
                o.str("spec.template.metadata.name").unwrap_or_else(|| o.name.clone()),
                o.str("spec.template.metadata.namespace").or_else(|| o.namespace.clone()),
            )),
            "ExternalSecret" => Some((o.str("spec.target.name").unwrap_or_else(|| o.name.clone()), o.namespace.clone())),
            _ => None,
        };
        let Some((n, ns)) = produced else { continue };
        if n != name {
            continue;
        }
        let Some(ns) = ns else { return Vec::new() };
        if !out.contains(&ns) {
            out.push(ns);
        }
    }
    out
}

/// The external-dns minor a release runs: the chart's minor is the app's
/// (chart 1.21.x ships external-dns 0.21.x), unless `image.tag` pins one.
fn external_dns_minor(ctx: &Ctx<'_>, r: &crate::check::model::Release) -> Option<u64> {
    let tag = ctx
        .values
        .iter()
        .filter(|v| v.chart == Chart::ExternalDns && v.release.is_some_and(|i| std::ptr::eq(&ctx.releases[i], r)))
        .find_map(|v| v.str("image.tag"));
    if let Some(t) = tag {
        let mut it = t.trim_start_matches('v').split('.');
        if let (Some("0"), Some(m)) = (it.next(), it.next()) {
            return m.parse().ok();
        }
    }
    r.version.as_deref().and_then(crate::check::model::minor_of)
}

/// Whether every external-dns in the inputs still reads the
/// `external-dns.alpha.kubernetes.io/` prefix: releases before 0.22 do by
/// default; later ones with `--annotation-prefix` set to it or
/// `--enable-legacy-annotation-prefix`. With no external-dns release in the
/// inputs the current release (0.23) is assumed.
fn alpha_prefix_read(ctx: &Ctx<'_>) -> bool {
    let releases: Vec<&crate::check::model::Release> = ctx.releases.iter().filter(|r| r.chart == Chart::ExternalDns).collect();
    if releases.is_empty() {
        return false;
    }
    releases.iter().all(|r| {
        let old = external_dns_minor(ctx, r).is_some_and(|m| m < 22);
        let flagged = ctx
            .values
            .iter()
            .filter(|v| v.chart == Chart::ExternalDns && v.release.is_some_and(|i| std::ptr::eq(&ctx.releases[i], *r)))
            .flat_map(|v| v.get("extraArgs").and_then(Node::as_seq).unwrap_or_default().iter())
            .filter_map(Node::as_str)
            .any(|a| a.starts_with("--enable-legacy-annotation-prefix") || a.starts_with("--annotation-prefix=external-dns.alpha"));
        old || flagged
    })
}

/// Whether an external-dns instance with these values publishes a record
/// for a private address: its sources (`sources`, default service and
/// ingress), narrowed by `--gateway-name`, and each object's targets.
fn publishes_private(ctx: &Ctx<'_>, v: &crate::check::model::Values) -> bool {
    let sources: Vec<String> = v
        .get("sources")
        .and_then(Node::as_seq)
        .map(|s| s.iter().filter_map(Node::scalar_text).collect())
        .unwrap_or_else(|| vec!["service".into(), "ingress".into()]);
    let args: Vec<String> =
        v.get("extraArgs").and_then(Node::as_seq).unwrap_or_default().iter().filter_map(Node::scalar_text).collect();
    let gateway_name = args.iter().find_map(|a| a.strip_prefix("--gateway-name=").map(str::to_owned));
    // `--annotation-filter=key in (v)` / `key=v`: only annotated objects.
    let filter_key = args.iter().find_map(|a| {
        let f = a.strip_prefix("--annotation-filter=")?;
        Some(f.split([' ', '=', '!']).next()?.trim().to_owned())
    });
    let kinds: Vec<&str> = sources
        .iter()
        .filter_map(|s| match s.as_str() {
            "service" => Some("Service"),
            "ingress" => Some("Ingress"),
            "crd" => Some("DNSEndpoint"),
            "gateway-httproute" => Some("HTTPRoute"),
            "gateway-grpcroute" => Some("GRPCRoute"),
            "gateway-tlsroute" => Some("TLSRoute"),
            _ => None,
        })
        .collect();
    ctx.objects.iter().filter(|o| kinds.contains(&o.kind.as_str())).any(|o| {
        // The service source publishes annotated LoadBalancer Services only;
        // ingresses depend on --ingress-class and are not judged.
        if o.kind == "Service" && (o.str("spec.type").as_deref() != Some("LoadBalancer") || ann(o, "hostname").is_none()) {
            return false;
        }
        if o.kind == "Ingress" {
            return false;
        }
        if let Some(k) = &filter_key
            && o.get("metadata.annotations").and_then(|a| a.get(k)).is_none()
        {
            return false;
        }
        if o.kind.ends_with("Route")
            && let Some(gw) = &gateway_name
            && !o.get("spec.parentRefs").and_then(Node::as_seq).unwrap_or_default().iter().any(|p| p.get("name").and_then(Node::scalar_text).as_deref() == Some(gw.as_str()))
        {
            return false;
        }
        target_ips(ctx, o).is_some_and(|ips| ips.iter().all(is_private))
    })
}
