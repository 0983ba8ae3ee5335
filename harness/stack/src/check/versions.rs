//! Which Gateway API bundle and which Flux release the version-aware rules
//! judge against, and where that came from (the messages say it).
//!
//! Order, most authoritative first: what the inputs install (the CRD
//! bundle's own `bundle-version` annotation, a bundle URL or Git tag; a
//! FluxInstance or the flux-instance chart's values, a `# Flux Version:`
//! header, Flux's version labels), then
//! the flags (`--gateway-api-version`, `--flux-version`), then the cluster
//! profile given next to the manifests, then a fallback: for Gateway API
//! the bundle the judged Cilium line requires (it cannot run without it),
//! for Flux the default profile's release.

use std::sync::OnceLock;

use crate::yaml::{Node, Pos};

use super::model::{Ctx, Obj};

/// A release and the reason it was chosen, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Judged {
    /// As written where it came from (`v1.6.3`, `2.x`).
    pub version: String,
    /// `(major, minor, patch)`; a wildcard part is the newest known.
    pub parts: (u64, u64, u64),
    /// "from fluxinstance.yaml:7", "from --flux-version", …
    pub from: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Channel {
    Standard,
    Experimental,
}

impl Channel {
    fn parse(s: &str) -> Option<Channel> {
        match s.trim().to_ascii_lowercase().as_str() {
            "standard" => Some(Channel::Standard),
            "experimental" => Some(Channel::Experimental),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Channel::Standard => "standard",
            Channel::Experimental => "experimental",
        }
    }
}

/// The newest Flux minor the rules know (Flux 2.9). `2.x` means this one.
pub(crate) const NEWEST_FLUX_MINOR: u64 = 9;

/// `v1.6.3`, `1.6`, `2.x`, `~2.7.0`, `>=2.8.0` → parts; a wildcard or
/// missing minor is `newest_minor`, a missing patch 0.
pub(crate) fn parts(v: &str, newest_minor: u64) -> Option<(u64, u64, u64)> {
    let t = v.trim().trim_start_matches(|c: char| !c.is_ascii_digit());
    let mut it = t.split(['.', ' ', ',', '-', '+']);
    let major = it.next()?.parse().ok()?;
    let minor = match it.next() {
        None | Some("x" | "X" | "*" | "") => newest_minor,
        Some(m) => m.parse().ok()?,
    };
    let patch = it.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    Some((major, minor, patch))
}

fn at(obj: &Obj<'_>, path: &str) -> String {
    format!("from {}:{}", obj.file, obj.pos(path).line)
}

// ------------------------------------------------------------ Gateway API

/// A bundle the inputs install: version and, when they say, channel.
struct Installed {
    version: String,
    parts: (u64, u64, u64),
    channel: Option<Channel>,
    from: String,
}

/// `…/releases/download/vX.Y.Z/<channel>-install.yaml` and
/// `…/config/crd[/<channel>]?ref=vX.Y.Z` (kustomize remote bases).
pub(crate) fn bundle_url() -> Option<&'static regex::Regex> {
    static RE: OnceLock<Option<regex::Regex>> = OnceLock::new();
    super::rules::regex(
        &RE,
        r"gateway-api/(?:releases/download/v(\d+)\.(\d+)\.(\d+)(?:/(standard|experimental))?|config/crd(?:/(standard|experimental))?[^\s]*\?ref=v(\d+)\.(\d+)\.(\d+))",
    )
}

/// A Gateway API bundle URL found in a file.
pub(crate) struct BundleUrl {
    pub pos: Pos,
    pub parts: (u64, u64, u64),
    pub channel: Option<Channel>,
}

/// Every bundle URL in `text` (comment lines skipped).
pub(crate) fn bundle_urls(text: &str) -> Vec<BundleUrl> {
    let mut out = Vec::new();
    let Some(re) = bundle_url() else { return out };
    for (i, line) in text.lines().enumerate() {
        if line.trim_start().starts_with('#') {
            continue;
        }
        for c in re.captures_iter(line) {
            let num = |k: usize| c.get(k).and_then(|m| m.as_str().parse::<u64>().ok());
            let have = match (num(1), num(2), num(3)) {
                (Some(a), Some(b), Some(p)) => (a, b, p),
                _ => (num(6).unwrap_or(0), num(7).unwrap_or(0), num(8).unwrap_or(0)),
            };
            // `config/crd?ref=` without a channel directory is the
            // repository's own kustomization, which builds the standard one.
            let channel = c.get(4).or(c.get(5)).and_then(|m| Channel::parse(m.as_str())).or_else(|| {
                c.get(0).is_some_and(|m| m.as_str().contains("config/crd?ref=")).then_some(Channel::Standard)
            });
            let col = c.get(0).map_or(0, |m| line[..m.start()].chars().count()) as u32 + 1;
            out.push(BundleUrl { pos: Pos { line: i as u32 + 1, col }, parts: have, channel });
        }
    }
    out
}

fn installed_bundles(ctx: &Ctx<'_>) -> Vec<Installed> {
    let mut out = Vec::new();
    for o in ctx.objects.iter().filter(|o| o.kind == "CustomResourceDefinition") {
        if !o.name.ends_with(".gateway.networking.k8s.io") {
            continue;
        }
        let ann = |k: &str| o.get("metadata.annotations").and_then(|a| a.get(k)).and_then(Node::scalar_text);
        let Some(v) = ann("gateway.networking.k8s.io/bundle-version") else { continue };
        let Some(p) = parts(&v, 0) else { continue };
        let channel = ann("gateway.networking.k8s.io/channel").and_then(|c| Channel::parse(&c));
        out.push(Installed { version: v, parts: p, channel, from: at(o, "metadata.annotations") });
    }
    for src in ctx.sources {
        for u in bundle_urls(&src.text) {
            let p = u.parts;
            out.push(Installed {
                version: format!("v{}.{}.{}", p.0, p.1, p.2),
                parts: p,
                channel: u.channel,
                from: format!("from {}:{}", src.path, u.pos.line),
            });
        }
    }
    for g in ctx.objects.iter().filter(|o| o.kind == "GitRepository" || o.kind == "OCIRepository") {
        if !g.str("spec.url").is_some_and(|u| u.contains("gateway-api")) {
            continue;
        }
        let Some(tag) = g.str("spec.ref.tag") else { continue };
        let Some(p) = parts(&tag, 0) else { continue };
        // The channel is the directory the Flux Kustomization builds.
        let channel = ctx
            .objects
            .iter()
            .filter(|k| k.kind == "Kustomization" && k.str("spec.sourceRef.name").as_deref() == Some(g.name.as_str()))
            .filter_map(|k| k.str("spec.path"))
            .find_map(|path| {
                if path.contains("experimental") {
                    Some(Channel::Experimental)
                } else if path.contains("config/crd") {
                    Some(Channel::Standard)
                } else {
                    None
                }
            });
        out.push(Installed { version: tag, parts: p, channel, from: at(g, "spec.ref.tag") });
    }
    out
}

/// The Gateway API bundle judged, and its channel (`None`: nothing says,
/// so rules that depend on the channel stay silent).
pub(crate) fn gateway_api(ctx: &Ctx<'_>) -> (Judged, Option<Channel>) {
    let installed = installed_bundles(ctx);
    // The newest bundle the inputs install: objects written for it are
    // judged against what it serves. Any experimental install makes the
    // experimental fields available.
    let channel_in_inputs = if installed.iter().any(|i| i.channel == Some(Channel::Experimental)) {
        Some(Channel::Experimental)
    } else {
        installed.iter().find_map(|i| i.channel)
    };
    let channel = channel_in_inputs
        .or_else(|| ctx.opts.gateway_api_channel.as_deref().and_then(Channel::parse))
        .or_else(|| {
            ctx.opts.profile.as_ref().map(|p| match p.gateway_api_channel {
                crate::profile::GatewayApiChannel::Standard => Channel::Standard,
                crate::profile::GatewayApiChannel::Experimental => Channel::Experimental,
            })
        });
    if let Some(i) = installed.into_iter().max_by_key(|i| i.parts) {
        return (Judged { version: i.version, parts: i.parts, from: i.from }, channel);
    }
    let stated = [
        (ctx.opts.gateway_api_version.clone(), "from --gateway-api-version"),
        (ctx.opts.profile.as_ref().map(|p| p.gateway_api.clone()), "from the cluster profile"),
    ];
    for (v, from) in stated {
        if let Some(v) = v
            && let Some(p) = parts(&v, 0)
        {
            return (Judged { version: v, parts: p, from: from.to_owned() }, channel);
        }
    }
    let minor = ctx.cilium_minor();
    let need = super::rules::gateway::required_bundle(minor);
    let version = format!("v{}.{}.{}", need.0, need.1, need.2);
    (Judged { version, parts: need, from: format!("the bundle Cilium 1.{minor} requires") }, channel)
}

// ------------------------------------------------------------------ Flux

fn flux_header() -> Option<&'static regex::Regex> {
    static RE: OnceLock<Option<regex::Regex>> = OnceLock::new();
    super::rules::regex(&RE, r"^#\s*Flux Version:\s*(v?\d+\.\d+\.\d+)")
}

/// The checked paths first, then the rest of `--repo`: a repository may
/// hold other clusters (a dev environment) next to the one checked.
fn flux_in_inputs(ctx: &Ctx<'_>) -> Option<Judged> {
    flux_stated(ctx, false).or_else(|| flux_stated(ctx, true))
}

fn flux_stated(ctx: &Ctx<'_>, context: bool) -> Option<Judged> {
    for o in ctx.objects.iter().filter(|o| o.kind == "FluxInstance" && o.src.context == context) {
        if let Some(v) = o.str("spec.distribution.version")
            && let Some(p) = parts(&v, NEWEST_FLUX_MINOR)
        {
            return Some(Judged { version: v, parts: p, from: at(o, "spec.distribution.version") });
        }
    }
    // The flux-operator's `flux-instance` chart renders the FluxInstance
    // from its values.
    for r in ctx.releases.iter().filter(|r| r.chart_name == "flux-instance") {
        let o = ctx.release_obj(r);
        if o.src.context != context {
            continue;
        }
        let path = "spec.values.instance.distribution.version";
        if let Some(v) = o.str(path)
            && let Some(p) = parts(&v, NEWEST_FLUX_MINOR)
        {
            return Some(Judged { version: v, parts: p, from: at(o, path) });
        }
    }
    for src in ctx.sources.iter().filter(|s| s.context == context) {
        for (i, line) in src.text.lines().enumerate().take(5) {
            if let Some(c) = flux_header().and_then(|re| re.captures(line))
                && let Some(v) = c.get(1).map(|m| m.as_str().to_owned())
                && let Some(p) = parts(&v, NEWEST_FLUX_MINOR)
            {
                return Some(Judged { version: v, parts: p, from: format!("from {}:{}", src.path, i + 1) });
            }
        }
    }
    for o in ctx.objects.iter().filter(|o| o.src.context == context) {
        let labels = o.get("metadata.labels");
        let label = |k: &str| labels.and_then(|l| l.get(k)).and_then(Node::scalar_text);
        if label("app.kubernetes.io/part-of").as_deref() == Some("flux")
            && let Some(v) = label("app.kubernetes.io/version")
            && let Some(p) = parts(&v, NEWEST_FLUX_MINOR)
            && p.0 == 2
        {
            return Some(Judged { version: v, parts: p, from: at(o, "metadata.labels") });
        }
    }
    None
}

/// The Flux release judged.
pub(crate) fn flux(ctx: &Ctx<'_>) -> Judged {
    if let Some(j) = flux_in_inputs(ctx) {
        return j;
    }
    let stated = [
        (ctx.opts.flux_version.clone(), "from --flux-version"),
        (ctx.opts.profile.as_ref().map(|p| p.flux.clone()), "from the cluster profile"),
        (default_profile_flux(), "from the default profile"),
    ];
    for (v, from) in stated {
        if let Some(v) = v
            && let Some(p) = parts(&v, NEWEST_FLUX_MINOR)
        {
            return Judged { version: v, parts: p, from: from.to_owned() };
        }
    }
    Judged { version: format!("2.{NEWEST_FLUX_MINOR}"), parts: (2, NEWEST_FLUX_MINOR, 0), from: "the newest known".into() }
}

fn default_profile_flux() -> Option<String> {
    static V: OnceLock<Option<String>> = OnceLock::new();
    V.get_or_init(|| crate::profile::load_default().ok().map(|l| l.profile.versions.flux)).clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_parts() {
        assert_eq!(parts("v1.6.3", 0), Some((1, 6, 3)));
        assert_eq!(parts("2.x", 9), Some((2, 9, 0)));
        assert_eq!(parts("~2.7.0", 9), Some((2, 7, 0)));
        assert_eq!(parts(">=2.8.0", 9), Some((2, 8, 0)));
        assert_eq!(parts("2", 9), Some((2, 9, 0)));
        assert_eq!(parts("latest", 9), None);
    }

    #[test]
    fn bundle_urls_carry_version_and_channel() {
        let text = "resources:\n  - https://github.com/kubernetes-sigs/gateway-api/releases/download/v1.4.1/experimental-install.yaml\n  - https://github.com/kubernetes-sigs/gateway-api/config/crd?ref=v1.3.0\n# - https://github.com/kubernetes-sigs/gateway-api/releases/download/v1.0.0/standard-install.yaml\n";
        let got = bundle_urls(text);
        assert_eq!(got.len(), 2);
        assert_eq!((got[0].pos.line, got[0].parts, got[0].channel), (2, (1, 4, 1), Some(Channel::Experimental)));
        assert_eq!((got[1].parts, got[1].channel), ((1, 3, 0), Some(Channel::Standard)));
    }
}
