//! Gateway coverage of published hostnames: a record that points at the
//! Gateway needs Gateway API on (PROF-036), an https listener that accepts
//! the hostname and a certificate that names it (PROF-033).

use super::Cx;
use super::dns::under_domain;
use crate::profile::model::{DnsTarget, ListenerProtocol, Profile};

fn norm(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// Gateway API listener matching: no hostname accepts everything, and a
/// leading `*.` is a suffix match (`*.example.com` accepts
/// `a.example.com` and `a.b.example.com`, not `example.com`).
pub(super) fn listener_accepts(listener: Option<&str>, host: &str) -> bool {
    let host = norm(host);
    match listener.map(norm) {
        None => true,
        Some(l) => match l.strip_prefix("*.") {
            Some(suffix) => host.ends_with(&format!(".{suffix}")),
            None => l == host,
        },
    }
}

/// X.509 name matching: a wildcard covers exactly one leftmost label
/// (`*.example.com` covers `a.example.com`, not `a.b.example.com`).
pub(super) fn certificate_covers(name: &str, host: &str) -> bool {
    let (name, host) = (norm(name), norm(host));
    match name.strip_prefix("*.") {
        Some(suffix) => host
            .strip_suffix(&format!(".{suffix}"))
            .is_some_and(|label| !label.is_empty() && !label.contains('.')),
        None => name == host,
    }
}

pub(super) fn coverage(cx: &mut Cx, p: &Profile) {
    let g = &p.gateway;
    if !p.features.gateway_api {
        let n = p
            .dns
            .records
            .iter()
            .filter(|r| r.target == DnsTarget::Gateway)
            .count();
        if n > 0 {
            cx.push(
                "PROF-036",
                "features.gatewayAPI",
                format!("{n} DNS record(s) target the Gateway, but features.gatewayAPI is off, so no Gateway exists"),
            );
        }
        // Listener coverage is moot without a Gateway.
        return;
    }
    let https: Vec<Option<&str>> = g
        .listeners
        .iter()
        .filter(|l| l.protocol == ListenerProtocol::Https)
        .map(|l| l.hostname.as_deref())
        .collect();
    let mut reported_no_https = false;
    for (i, r) in p.dns.records.iter().enumerate() {
        // Hostnames outside the domain are already PROF-014.
        if r.target != DnsTarget::Gateway || !under_domain(&r.hostname, &p.dns.domain) {
            continue;
        }
        let path = format!("dns.records[{i}].hostname");
        if https.is_empty() {
            if !reported_no_https {
                cx.push(
                    "PROF-033",
                    "gateway.listeners",
                    format!(
                        "records point at the Gateway, but `{}` has no HTTPS listener",
                        g.name
                    ),
                );
                reported_no_https = true;
            }
        } else if !https.iter().any(|l| listener_accepts(*l, &r.hostname)) {
            cx.push(
                "PROF-033",
                &path,
                format!("no HTTPS listener of `{}` accepts `{}`", g.name, r.hostname),
            );
        } else if !g
            .tls
            .dns_names
            .iter()
            .any(|n| certificate_covers(n, &r.hostname))
        {
            cx.push(
                "PROF-033",
                &path,
                format!(
                    "certificate `{}` does not cover `{}` (a wildcard covers one label)",
                    g.tls.certificate_name, r.hostname
                ),
            );
        }
    }
}
