//! Flux objects: API versions, chart pinning, namespaces and ordering.

use crate::diag::Finding;
use crate::diag::Severity::{Error, Warning};
use crate::yaml::Node;

use super::Impact::{Breaks, Deprecated, Silent};
use super::{Rule, rule};
use crate::check::model::{Chart, Ctx, Obj};
use crate::check::versions;

pub(crate) const FLUX_001: Rule = rule(
    "FLUX-001", "flux", Error, Breaks,
    "chart version is unbounded (or, for Cilium, spans more than one minor): Flux jumps to the newest release and skips minors",
    "pin one minor, e.g. `version: \"1.18.x\"`, and step one minor at a time", &[22, 45],
);
pub(crate) const FLUX_002: Rule = rule(
    "FLUX-002", "flux", Error, Breaks,
    "HelmRelease of a stack chart (Cilium, cert-manager, external-dns, sealed-secrets) in flux-system without `targetNamespace`: the chart installs into flux-system",
    "set spec.targetNamespace (and storageNamespace) to the component's namespace", &[23, 47],
);
pub(crate) const FLUX_003: Rule = rule(
    "FLUX-003", "flux", Error, Breaks,
    "values ConfigMap has the name of an object the chart renders in the same namespace; Helm refuses to adopt it",
    "rename the values ConfigMap (e.g. `cilium-values`)", &[23],
);
pub(crate) const FLUX_004: Rule = rule(
    "FLUX-004", "flux", Warning, Silent,
    "a system namespace (kube-system, default, …) is put under GitOps ownership without `kustomize.toolkit.fluxcd.io/prune: disabled`; pruning can delete it",
    "drop the Namespace manifest (system namespaces already exist), or annotate it `kustomize.toolkit.fluxcd.io/prune: disabled`", &[23],
);
pub(crate) const FLUX_005: Rule = rule(
    "FLUX-005", "flux", Error, Breaks,
    "HelmRelease API version the judged Flux release no longer serves (v2beta1 gone by 2.7, v2beta2 in 2.8)",
    "apiVersion: helm.toolkit.fluxcd.io/v2", &[49],
);
pub(crate) const FLUX_006: Rule = rule(
    "FLUX-006", "flux", Error, Breaks,
    "source/kustomize/notification/image toolkit API version the judged Flux release no longer serves (source and kustomize v1beta2 gone in 2.8; notification v1beta1/v1beta2 and image v1beta1/v1beta2 in 2.9)",
    "apiVersion: source.toolkit.fluxcd.io/v1, kustomize.toolkit.fluxcd.io/v1, image.toolkit.fluxcd.io/v1, notification.toolkit.fluxcd.io/v1 (Receiver) or v1beta3 (Alert, Provider)", &[50],
);
pub(crate) const FLUX_007: Rule = rule(
    "FLUX-007", "flux", Error, Breaks,
    "HelmRelease sourceRef names a source that is not in the inputs",
    "add the HelmRepository (source.toolkit.fluxcd.io/v1) or fix sourceRef", &[45],
);
pub(crate) const FLUX_008: Rule = rule(
    "FLUX-008", "flux", Error, Breaks,
    "objects of a CRD-backed kind are not ordered after the component that provides the CRDs (first reconcile races)",
    "split into Kustomizations chained with dependsOn and wait: true (CRDs → Cilium → controllers → configs → apps)", &[51],
);
pub(crate) const FLUX_009: Rule = rule(
    "FLUX-009", "flux", Error, Breaks,
    "dependsOn names an object that is not in the inputs; the reconcile waits forever",
    "fix the dependsOn name/namespace", &[51],
);

pub(crate) const FLUX_010: Rule = rule(
    "FLUX-010", "flux", Warning, Deprecated,
    "toolkit API version the judged Flux release still serves but deprecates; the next minor removes it (v1beta2/v2beta2 on Flux 2.7, notification and image betas on 2.7/2.8)",
    "move to the stable version the message names before upgrading Flux", &[49, 50],
);

pub(crate) const RULES: &[Rule] = &[
    FLUX_001, FLUX_002, FLUX_003, FLUX_004, FLUX_005, FLUX_006, FLUX_007, FLUX_008, FLUX_009, FLUX_010,
];

/// A toolkit API version and the Flux minors (2.N) that deprecate and stop
/// serving it. From the controllers' CRD bases in the Go module cache:
/// Flux 2.7 (helm-controller 1.4.3, source- and kustomize-controller 1.7.3)
/// serves helm v2 + v2beta2 and source/kustomize v1 + v1beta2, every beta
/// marked deprecated; source-controller 1.8.5 (Flux 2.8) and the 2.9
/// controllers (helm 1.6.4, source and kustomize 1.9.5) serve only the
/// stable versions. The notification and image betas are deprecated in
/// Flux 2.6's API modules and skipped from the CRDs in 2.9's
/// (notification-controller/api 1.9.4, image-*-controller/api 1.2.5); 2.7
/// and 2.8 are judged as still serving them, deprecated.
struct ApiVersion {
    group: &'static str,
    version: &'static str,
    deprecated_from: u64,
    removed_from: u64,
    instead: &'static str,
}

const TOOLKIT_APIS: &[ApiVersion] = &[
    ApiVersion { group: "helm.toolkit.fluxcd.io", version: "v2beta1", deprecated_from: 3, removed_from: 7, instead: "v2" },
    ApiVersion { group: "helm.toolkit.fluxcd.io", version: "v2beta2", deprecated_from: 3, removed_from: 8, instead: "v2" },
    ApiVersion { group: "source.toolkit.fluxcd.io", version: "v1beta1", deprecated_from: 0, removed_from: 7, instead: "v1" },
    ApiVersion { group: "source.toolkit.fluxcd.io", version: "v1beta2", deprecated_from: 7, removed_from: 8, instead: "v1" },
    ApiVersion { group: "kustomize.toolkit.fluxcd.io", version: "v1beta1", deprecated_from: 0, removed_from: 7, instead: "v1" },
    ApiVersion { group: "kustomize.toolkit.fluxcd.io", version: "v1beta2", deprecated_from: 7, removed_from: 8, instead: "v1" },
    ApiVersion { group: "notification.toolkit.fluxcd.io", version: "v1beta1", deprecated_from: 6, removed_from: 9, instead: "v1 (Receiver) / v1beta3 (Alert, Provider)" },
    ApiVersion { group: "notification.toolkit.fluxcd.io", version: "v1beta2", deprecated_from: 6, removed_from: 9, instead: "v1 (Receiver) / v1beta3 (Alert, Provider)" },
    ApiVersion { group: "image.toolkit.fluxcd.io", version: "v1beta1", deprecated_from: 6, removed_from: 9, instead: "v1" },
    ApiVersion { group: "image.toolkit.fluxcd.io", version: "v1beta2", deprecated_from: 7, removed_from: 9, instead: "v1" },
];

/// Objects each chart renders that a values ConfigMap must not shadow.
fn chart_configmaps(chart: Chart) -> &'static [&'static str] {
    match chart {
        Chart::Cilium => &["cilium-config", "cilium-envoy-config", "hubble-relay-config", "hubble-ui-nginx", "bgp-config"],
        Chart::CertManager => &["cert-manager-webhook"],
        _ => &[],
    }
}

/// `(bounded, within one minor)` for a Helm/semver constraint.
pub(crate) fn version_bounds(c: &str) -> (bool, bool) {
    let c = c.trim();
    if c.is_empty() || c == "*" || c == "x" || c == "latest" {
        return (false, false);
    }
    let mut bounded = true;
    let mut single = true;
    for alt in c.split("||") {
        let alt = alt.trim();
        let parts: Vec<&str> = alt.split([' ', ',']).filter(|p| !p.is_empty()).collect();
        let has_upper = parts.iter().any(|p| p.starts_with('<'));
        let has_lower_only = parts.iter().any(|p| p.starts_with('>')) && !has_upper;
        if has_lower_only {
            bounded = false;
            single = false;
            continue;
        }
        if parts.len() == 1 {
            let p = parts[0];
            if p.starts_with('^') {
                single = false;
                continue;
            }
            let body = p.trim_start_matches(['~', '=', 'v']);
            let segs: Vec<&str> = body.split('.').collect();
            let wild = |s: &str| s == "x" || s == "X" || s == "*";
            if segs.first().is_none_or(|s| wild(s)) {
                bounded = false;
                single = false;
            } else if (segs.len() < 2 || wild(segs[1])) && (!p.starts_with('~') || segs.len() < 2) {
                single = false;
            }
        } else if has_upper {
            let minor = |p: &str| -> Option<(u64, u64, u64)> {
                let b = p.trim_start_matches(['<', '>', '=', 'v', ' ']);
                let mut s = b.split('.').map(|x| x.parse::<u64>().unwrap_or(0));
                Some((s.next()?, s.next().unwrap_or(0), s.next().unwrap_or(0)))
            };
            let lo = parts.iter().find(|p| p.starts_with('>')).and_then(|p| minor(p));
            let hi = parts.iter().find(|p| p.starts_with('<')).and_then(|p| minor(p));
            match (lo, hi) {
                (Some(l), Some(h)) => {
                    let same = h.0 == l.0 && (h.1 == l.1 || (h.1 == l.1 + 1 && h.2 == 0 && !parts.iter().any(|p| p.starts_with("<="))));
                    single &= same;
                }
                _ => single = false,
            }
        }
    }
    (bounded, bounded && single)
}

const SYSTEM_NAMESPACES: &[&str] = &["kube-system", "default", "kube-public", "kube-node-lease"];

pub(crate) fn check(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    check_api_versions(ctx, out);
    for o in &ctx.objects {
        // Pruning disabled on the object answers the concern.
        let kept = o
            .get("metadata.annotations")
            .and_then(|a| a.get("kustomize.toolkit.fluxcd.io/prune"))
            .and_then(Node::scalar_text)
            .as_deref()
            == Some("disabled");
        if o.group.is_empty() && o.kind == "Namespace" && SYSTEM_NAMESPACES.contains(&o.name.as_str()) && !kept {
            out.push(FLUX_004.at(o.file, o.pos("metadata.name"), format!("Namespace `{}` is a system namespace", o.name)));
        }
    }
    let sources: Vec<&Obj<'_>> = ctx.objects.iter().filter(|o| o.group == "source.toolkit.fluxcd.io").collect();
    for r in &ctx.releases {
        let o = ctx.release_obj(r);
        if o.get("spec.chart").is_some() {
            let v = o.str("spec.chart.spec.version").unwrap_or_default();
            let (bounded, single) = version_bounds(&v);
            let at = o.get("spec.chart.spec.version").map_or_else(|| o.pos("spec.chart.spec"), |n| n.pos);
            if !bounded {
                out.push(FLUX_001.at(o.file, at, format!("chart `{}` version `{v}` has no upper bound", r.chart_name)));
            } else if r.chart == Chart::Cilium && !single {
                out.push(FLUX_001.at(o.file, at, format!("Cilium version `{v}` spans more than one minor")));
            }
        }
        // Only the stack's own charts: Flux's tooling (flux-operator,
        // flux-instance, webhook receivers) belongs in flux-system.
        if r.chart != Chart::Other && o.ns() == Some("flux-system") && o.get("spec.targetNamespace").is_none() {
            out.push(FLUX_002.at(o.file, o.pos("metadata.namespace"), format!("{} installs `{}` into flux-system", o.describe(), r.chart_name)));
        }
        for from in o.get("spec.valuesFrom").and_then(Node::as_seq).unwrap_or_default() {
            let name = from.get("name").and_then(Node::scalar_text).unwrap_or_default();
            if o.ns().is_some()
                && o.ns() == r.target_ns.as_deref()
                && chart_configmaps(r.chart).contains(&name.as_str())
            {
                out.push(FLUX_003.at(
                    o.file,
                    from.get("name").map_or(from.pos, |n| n.pos),
                    format!("the {} chart renders its own ConfigMap `{name}` in `{}`", r.chart_name, o.ns_text()),
                ));
            }
        }
        if let Some(sr) = o.get("spec.chart.spec.sourceRef") {
            let kind = sr.get("kind").and_then(Node::scalar_text).unwrap_or_default();
            let name = sr.get("name").and_then(Node::scalar_text).unwrap_or_default();
            let ns = sr.get("namespace").and_then(Node::scalar_text).or_else(|| o.namespace.clone());
            let hit = sources.iter().find(|s| s.kind == kind && s.name == name && ctx.ns_match(ns.as_deref(), s.ns()));
            if let Some(h) = hit {
                out.extend(ctx.name_only(o.file, sr.pos, &format!("sourceRef {kind} `{name}`"), ns.as_deref(), h.ns()));
            }
            if !name.contains("${") && hit.is_none() {
                let ns = ns.as_deref().unwrap_or("<namespace unknown>");
                out.push(FLUX_007.at(o.file, sr.pos, format!("no {kind} {ns}/{name} in the inputs")));
            }
        }
    }
    check_depends_on(ctx, out);
    check_ordering(ctx, out);
}

fn check_api_versions(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let mut toolkit = ctx.objects.iter().filter(|o| o.group.ends_with(".toolkit.fluxcd.io")).peekable();
    if toolkit.peek().is_none() {
        return;
    }
    let flux = versions::flux(ctx);
    let minor = if flux.parts.0 == 2 { flux.parts.1 } else { versions::NEWEST_FLUX_MINOR };
    let judged = format!("judged against Flux {} {}", flux.version, flux.from);
    for o in toolkit {
        let Some(api) = TOOLKIT_APIS.iter().find(|a| a.group == o.group && a.version == o.version) else { continue };
        let instead = format!("{}/{}", api.group, api.instead);
        if minor >= api.removed_from {
            let rule = if o.group.starts_with("helm.") { FLUX_005 } else { FLUX_006 };
            let msg = format!("{} uses {}, not served since Flux 2.{}; use {instead} ({judged})", o.kind, o.api_version, api.removed_from);
            out.push(rule.at(o.file, o.pos("apiVersion"), msg));
        } else if minor >= api.deprecated_from {
            let msg = format!(
                "{} uses {}, deprecated and removed in Flux 2.{}; use {instead} ({judged})",
                o.kind, o.api_version, api.removed_from
            );
            out.push(FLUX_010.at(o.file, o.pos("apiVersion"), msg));
        }
    }
}

fn check_depends_on(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    for o in ctx.objects.iter().filter(|o| o.kind == "HelmRelease" || o.kind == "Kustomization") {
        if !o.group.ends_with(".toolkit.fluxcd.io") {
            continue;
        }
        for d in o.get("spec.dependsOn").and_then(Node::as_seq).unwrap_or_default() {
            let name = d.get("name").and_then(Node::scalar_text).unwrap_or_default();
            let ns = d.get("namespace").and_then(Node::scalar_text).or_else(|| o.namespace.clone());
            let hit = ctx.objects.iter().find(|x| x.kind == o.kind && x.name == name && ctx.ns_match(ns.as_deref(), x.ns()));
            if let Some(h) = hit {
                out.extend(ctx.name_only(o.file, d.pos, &format!("dependsOn `{name}`"), ns.as_deref(), h.ns()));
            }
            let found = name.contains("${") || hit.is_some();
            if !found {
                let ns = ns.as_deref().unwrap_or("<namespace unknown>");
                out.push(FLUX_009.at(o.file, d.pos, format!("no {} {ns}/{name} in the inputs", o.kind)));
            }
        }
    }
}

/// The provider of a CRD group, as a predicate over objects.
/// A description of a CRD provider and the predicate that finds it.
type Provider = (&'static str, fn(&Obj<'_>) -> bool);

fn provider_of(group: &str) -> Option<Provider> {
    fn chart(o: &Obj<'_>, name: &str) -> bool {
        o.kind == "HelmRelease" && o.str("spec.chart.spec.chart").as_deref() == Some(name)
    }
    match group {
        "cilium.io" => Some(("the Cilium HelmRelease", |o| chart(o, "cilium"))),
        "cert-manager.io" | "acme.cert-manager.io" => Some(("the cert-manager HelmRelease", |o| chart(o, "cert-manager"))),
        "bitnami.com" => Some(("the sealed-secrets HelmRelease", |o| chart(o, "sealed-secrets"))),
        "gateway.networking.k8s.io" => Some(("the Gateway API CRDs", |o| {
            o.kind == "Kustomization"
                && (o.str("spec.path").is_some_and(|p| p.contains("gateway-api"))
                    || o.str("spec.sourceRef.name").is_some_and(|n| n.contains("gateway-api")))
        })),
        _ => None,
    }
}

fn normalize(p: &str) -> String {
    p.trim_start_matches("./").trim_matches('/').to_owned()
}

/// The Kustomization whose path contains `file` (longest path wins).
fn owner<'c, 'a>(kss: &'c [&'c Obj<'a>], file: &str) -> Option<&'c Obj<'a>> {
    kss.iter()
        .filter_map(|k| {
            let p = normalize(&k.str("spec.path")?);
            let hit = p.is_empty() || file.starts_with(&format!("{p}/")) || file.contains(&format!("/{p}/"));
            hit.then_some((p.len(), *k))
        })
        .max_by_key(|(l, _)| *l)
        .map(|(_, k)| k)
}

fn depends_transitively(kss: &[&Obj<'_>], from: &Obj<'_>, target: &str) -> bool {
    let mut stack = vec![from.name.clone()];
    let mut seen: Vec<String> = Vec::new();
    while let Some(n) = stack.pop() {
        if seen.contains(&n) {
            continue;
        }
        seen.push(n.clone());
        let Some(k) = kss.iter().find(|k| k.name == n) else { continue };
        for d in k.get("spec.dependsOn").and_then(Node::as_seq).unwrap_or_default() {
            if let Some(dn) = d.get("name").and_then(Node::scalar_text) {
                if dn == target {
                    return true;
                }
                stack.push(dn);
            }
        }
    }
    false
}

fn check_ordering(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let kss: Vec<&Obj<'_>> = ctx.kinds("kustomize.toolkit.fluxcd.io", "Kustomization").collect();
    let mut reported: Vec<String> = Vec::new();
    // The provider of each group, looked up once: searching all objects for
    // every object of the group is quadratic (seconds at 10,000 objects).
    let mut providers: Vec<(&str, Option<&Obj<'_>>)> = Vec::new();
    for c in &ctx.objects {
        let Some((what, is_provider)) = provider_of(&c.group) else { continue };
        if reported.contains(&c.group) {
            continue;
        }
        let p = match providers.iter().find(|(g, _)| *g == c.group) {
            Some((_, p)) => *p,
            None => {
                let p = ctx.objects.iter().find(|o| is_provider(o));
                providers.push((c.group.as_str(), p));
                p
            }
        };
        let Some(p) = p else { continue };
        if kss.is_empty() {
            // Only GitOps trees need ordering; a provider outside Flux
            // (bootstrap install) is ordered by the installer.
            if p.kind == "HelmRelease" {
                reported.push(c.group.clone());
                out.push(FLUX_008.at(c.file, c.pos("kind"), format!("{} is applied with nothing ordering it after {what}", c.describe())));
            }
            continue;
        }
        let kc = owner(&kss, c.file);
        let kp: Option<&Obj<'_>> = if p.kind == "Kustomization" { Some(p) } else { owner(&kss, p.file) };
        let (Some(kc), Some(kp)) = (kc, kp) else { continue };
        let problem = if kc.name == kp.name {
            Some(format!("{} is in the same Kustomization `{}` as {what}", c.describe(), kc.name))
        } else if !depends_transitively(&kss, kc, &kp.name) {
            Some(format!("Kustomization `{}` does not depend on `{}` ({what})", kc.name, kp.name))
        } else if kp.str("spec.wait").as_deref() != Some("true") && kp.get("spec.healthChecks").is_none() {
            Some(format!("Kustomization `{}` ({what}) has no `wait: true`, so dependsOn does not wait for readiness", kp.name))
        } else {
            None
        };
        if let Some(msg) = problem {
            reported.push(c.group.clone());
            out.push(FLUX_008.at(c.file, c.pos("kind"), msg));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::version_bounds;

    #[test]
    fn version_constraints() {
        assert_eq!(version_bounds(">=1.14.0"), (false, false));
        assert_eq!(version_bounds(""), (false, false));
        assert_eq!(version_bounds("1.18.x"), (true, true));
        assert_eq!(version_bounds("1.18.6"), (true, true));
        assert_eq!(version_bounds("~1.18.0"), (true, true));
        assert_eq!(version_bounds("^1.18.0"), (true, false));
        assert_eq!(version_bounds(">=1.18.0 <1.19.0"), (true, true));
        assert_eq!(version_bounds(">=1.18.0 <2.0.0"), (true, false));
        assert_eq!(version_bounds("1.x"), (true, false));
        assert_eq!(version_bounds("*"), (false, false));
    }
}
