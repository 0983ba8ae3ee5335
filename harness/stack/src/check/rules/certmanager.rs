//! cert-manager values and issuers, and the sealed-secrets controller.

use crate::diag::Finding;
use crate::diag::Severity::{Error, Warning};

use super::Impact::{Breaks, Deprecated};
use super::{Rule, rule};
use crate::check::model::{Chart, Ctx};
use crate::check::rules::dns::secret_namespaces;

pub(crate) const CM_001: Rule = rule(
    "CM-001", "certmanager", Warning, Deprecated,
    "`installCRDs` is deprecated",
    "crds: {enabled: true, keep: true}", &[48],
);
pub(crate) const CM_002: Rule = rule(
    "CM-002", "certmanager", Error, Breaks,
    "ClusterIssuer reads its Cloudflare token from cert-manager's namespace, but the Secret is only elsewhere",
    "seal the token a second time for the cert-manager namespace", &[47],
);
pub(crate) const CM_003: Rule = rule(
    "CM-003", "certmanager", Error, Breaks,
    "Certificate references an issuer that is not in the inputs",
    "fix issuerRef (name and kind) or add the issuer", &[47],
);
pub(crate) const SS_001: Rule = rule(
    "SS-001", "certmanager", Error, Breaks,
    "SealedSecrets are used but no sealed-secrets controller is deployed; they never unseal",
    "add a HelmRelease for the sealed-secrets chart (and order SealedSecrets after it)", &[47],
);

pub(crate) const RULES: &[Rule] = &[CM_001, CM_002, CM_003, SS_001];

pub(crate) fn check(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    for v in ctx.values.iter().filter(|v| v.chart == Chart::CertManager) {
        if v.get("installCRDs").is_some() {
            out.push(CM_001.at(&v.file, v.key_pos("installCRDs"), "`installCRDs` is deprecated"));
        }
    }
    let cm_ns = ctx
        .releases
        .iter()
        .find(|r| r.chart == Chart::CertManager)
        .map_or(Some("cert-manager".to_owned()), |r| r.target_ns.clone());
    for ci in ctx.kinds("cert-manager.io", "ClusterIssuer") {
        let Some(solvers) = ci.get("spec.acme.solvers").and_then(|s| s.as_seq()) else { continue };
        for s in solvers {
            let Some(n) = s.lookup("dns01.cloudflare.apiTokenSecretRef.name") else { continue };
            let name = n.scalar_text().unwrap_or_default();
            let places = secret_namespaces(ctx, &name);
            if let Some(cm_ns) = &cm_ns
                && !places.is_empty()
                && !places.contains(cm_ns)
            {
                out.push(CM_002.at(ci.file, n.pos, format!("Secret `{name}` exists only in {}, not in `{cm_ns}`", places.join(", "))));
            }
        }
    }
    let issuers: Vec<(String, String, Option<&str>)> = ctx
        .objects
        .iter()
        .filter(|o| o.group == "cert-manager.io" && (o.kind == "ClusterIssuer" || o.kind == "Issuer"))
        .map(|o| (o.kind.clone(), o.name.clone(), o.ns()))
        .collect();
    if !issuers.is_empty() {
        for c in ctx.kinds("cert-manager.io", "Certificate") {
            let name = c.str("spec.issuerRef.name").unwrap_or_default();
            let kind = c.str("spec.issuerRef.kind").unwrap_or_else(|| "Issuer".into());
            let found = issuers
                .iter()
                .any(|(k, n, ns)| *k == kind && *n == name && (kind == "ClusterIssuer" || ctx.ns_match(c.ns(), *ns)));
            // An issuer a chart renders (cert-manager webhook charts, issuer
            // charts) is named in that release's values.
            if !found && !name.contains("${") && !ctx.values.iter().any(|v| mentions(&v.root, &name)) {
                out.push(CM_003.at(c.file, c.pos("spec.issuerRef"), format!("no {kind} `{name}` in the inputs")));
            }
        }
    }
    let controller = ctx.releases.iter().any(|r| r.chart == Chart::SealedSecrets)
        || ctx.objects.iter().any(|o| o.kind == "Deployment" && o.name.contains("sealed-secrets"));
    if !controller && let Some(first) = ctx.objects.iter().find(|o| o.kind == "SealedSecret") {
        out.push(SS_001.at(first.file, first.pos("kind"), "no sealed-secrets controller in the inputs"));
    }
}

fn mentions(node: &crate::yaml::Node, text: &str) -> bool {
    use crate::yaml::Value;
    match &node.value {
        Value::Str(s) => s == text,
        Value::Seq(items) => items.iter().any(|n| mentions(n, text)),
        Value::Map(entries) => entries.iter().any(|(_, v)| mentions(v, text)),
        _ => false,
    }
}
