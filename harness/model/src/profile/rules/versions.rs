//! Pinned versions (PROF-020) and the Cilium / Gateway API bundle pairing
//! (PROF-012).

use std::collections::HashMap;

use super::Cx;
use crate::profile::model::{Profile, Provider};

/// `(major, minor, patch)` of an exact version; `v` prefix and
/// `-pre`/`+build` suffixes allowed.
pub(super) fn exact_version(text: &str) -> Option<(u64, u64, u64)> {
    let t = text.strip_prefix('v').unwrap_or(text);
    let core = t.split(['-', '+']).next().unwrap_or("");
    let mut parts = core.split('.');
    let mut num = || -> Option<u64> {
        let s = parts.next()?;
        if s.is_empty() || !s.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    let v = (num()?, num()?, num()?);
    if parts.next().is_some() {
        return None;
    }
    Some(v)
}

/// Gateway API bundle per Cilium minor: `(major, minor, Some(patch))` for an
/// exact bundle, `None` patch where any patch of that minor is supported.
pub(super) fn gateway_bundle_for(cilium_minor: u64) -> Option<(u64, u64, Option<u64>)> {
    match cilium_minor {
        17 => Some((1, 2, Some(1))),
        18 => Some((1, 3, Some(0))),
        19 => Some((1, 4, None)),
        20 => Some((1, 6, Some(1))),
        _ => None,
    }
}

pub(super) fn versions(cx: &mut Cx, p: &Profile) {
    let v = &p.versions;
    let fields: [(&str, &str); 7] = [
        ("versions.kubernetes", &v.kubernetes),
        ("versions.cilium", &v.cilium),
        ("versions.gatewayAPI", &v.gateway_api),
        ("versions.certManager", &v.cert_manager),
        ("versions.externalDNS", &v.external_dns),
        ("versions.sealedSecrets", &v.sealed_secrets),
        ("versions.flux", &v.flux),
    ];
    let mut parsed: HashMap<&str, (u64, u64, u64)> = HashMap::new();
    for (path, text) in fields {
        match exact_version(text) {
            Some(ver) => {
                parsed.insert(path, ver);
            }
            None => cx.push(
                "PROF-020",
                path,
                format!("`{text}` is not an exact version (MAJOR.MINOR.PATCH)"),
            ),
        }
    }
    if let Provider::ProxmoxRke2(px) = &p.provider {
        let path = "provider.proxmoxRke2.rke2.version";
        match (
            exact_version(&px.rke2.version),
            parsed.get("versions.kubernetes"),
        ) {
            (None, _) => cx.push(
                "PROF-020",
                path,
                format!(
                    "`{}` is not an exact RKE2 release (e.g. v1.33.5+rke2r1)",
                    px.rke2.version
                ),
            ),
            (Some(r), Some(k)) if (r.0, r.1) != (k.0, k.1) => cx.push(
                "PROF-020",
                path,
                format!(
                    "RKE2 {} ships Kubernetes {}.{}, but versions.kubernetes is {}",
                    px.rke2.version, r.0, r.1, v.kubernetes
                ),
            ),
            _ => {}
        }
    }
    if let Provider::Kind(kind) = &p.provider {
        // The image tag is the Kubernetes version the kind node runs.
        let path = "provider.kind.nodeImage";
        let tag = kind.node_image.rsplit_once(':').map(|(_, t)| t);
        match (
            tag.and_then(exact_version),
            parsed.get("versions.kubernetes"),
        ) {
            (None, _) => cx.push(
                "PROF-020",
                path,
                format!(
                    "`{}` does not pin a Kubernetes release tag (e.g. kindest/node:v1.33.4)",
                    kind.node_image
                ),
            ),
            (Some(t), Some(k)) if (t.0, t.1) != (k.0, k.1) => cx.push(
                "PROF-020",
                path,
                format!(
                    "kind image {} runs Kubernetes {}.{}, but versions.kubernetes is {}",
                    kind.node_image, t.0, t.1, v.kubernetes
                ),
            ),
            _ => {}
        }
    }
    if let (Some(c), Some(g)) = (
        parsed.get("versions.cilium"),
        parsed.get("versions.gatewayAPI"),
    ) {
        match gateway_bundle_for(c.1) {
            None if c.0 == 1 => cx.push(
                "PROF-012",
                "versions.cilium",
                format!(
                    "no known Gateway API bundle for Cilium {}.{}; supported minors are 1.17-1.20",
                    c.0, c.1
                ),
            ),
            None => cx.push(
                "PROF-012",
                "versions.cilium",
                format!("Cilium {}.{}.{} is not a known release line", c.0, c.1, c.2),
            ),
            Some((maj, min, patch)) => {
                let ok = c.0 == 1 && g.0 == maj && g.1 == min && patch.is_none_or(|pp| g.2 == pp);
                if !ok {
                    let want = match patch {
                        Some(pp) => format!("v{maj}.{min}.{pp}"),
                        None => format!("v{maj}.{min}.x"),
                    };
                    cx.push(
                        "PROF-012",
                        "versions.gatewayAPI",
                        format!(
                            "Cilium {} needs Gateway API {want}, profile pins {}",
                            v.cilium, v.gateway_api
                        ),
                    );
                }
            }
        }
    }
}
