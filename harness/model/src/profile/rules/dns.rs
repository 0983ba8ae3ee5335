//! Published hostnames: domain membership (PROF-014), proxied private
//! targets (PROF-013) and tunnel targets (PROF-025).

use std::net::IpAddr;

use super::Cx;
use super::addr::Nets;
use crate::profile::model::{DnsTarget, Profile};

/// RFC 1918, CGNAT, loopback, link-local, unique-local and unspecified
/// addresses: ones Cloudflare's edge cannot reach or proxy.
pub(super) fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
        }
    }
}

pub(super) fn under_domain(host: &str, domain: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    let host = host.strip_prefix("*.").map_or(host.as_str(), |h| h);
    !domain.is_empty() && (host == domain || host.ends_with(&format!(".{domain}")))
}

pub(super) fn dns(cx: &mut Cx, p: &Profile, nets: &Nets) {
    let d = &p.dns;
    if !under_domain(&d.domain, &d.cloudflare.zone) {
        cx.push(
            "PROF-014",
            "dns.cloudflare.zone",
            format!(
                "Cloudflare zone `{}` does not contain dns.domain `{}`",
                d.cloudflare.zone, d.domain
            ),
        );
    }
    let gateway_ip: Option<IpAddr> = p.gateway.address.as_deref().and_then(|a| a.parse().ok());
    for (i, r) in d.records.iter().enumerate() {
        if !under_domain(&r.hostname, &d.domain) || r.hostname.starts_with("*.") {
            cx.push(
                "PROF-014",
                &format!("dns.records[{i}].hostname"),
                format!("`{}` is not a hostname under {}", r.hostname, d.domain),
            );
        }
        let proxied = r.proxied_or(d.cloudflare.proxied_default);
        let private_target = match &r.target {
            DnsTarget::Tunnel => {
                if d.cloudflare.tunnel.is_none() {
                    cx.push(
                        "PROF-025",
                        &format!("dns.records[{i}].target"),
                        format!(
                            "record `{}` targets the tunnel, but dns.cloudflare.tunnel is not set",
                            r.name
                        ),
                    );
                }
                None
            }
            DnsTarget::Address(a) => a
                .parse::<IpAddr>()
                .ok()
                .filter(|ip| is_private(*ip))
                .map(|ip| ip.to_string()),
            // Without a static address the Gateway draws from the VIP prefix.
            DnsTarget::Gateway => match (gateway_ip, nets.vip_net) {
                (Some(ip), _) => is_private(ip).then(|| format!("the gateway address {ip}")),
                (None, Some(net)) => {
                    is_private(net.network()).then(|| format!("a gateway address in {net}"))
                }
                (None, None) => None,
            },
        };
        if let (true, Some(what)) = (proxied, private_target) {
            let path = if r.proxied.is_some() {
                format!("dns.records[{i}].proxied")
            } else {
                "dns.cloudflare.proxiedDefault".to_owned()
            };
            cx.push(
                "PROF-013",
                &path,
                format!(
                    "record `{}` is proxied but points at {what}, a private address",
                    r.hostname
                ),
            );
        }
    }
    for (i, l) in p.gateway.listeners.iter().enumerate() {
        if let Some(h) = &l.hostname
            && !under_domain(h, &d.domain)
        {
            cx.push(
                "PROF-014",
                &format!("gateway.listeners[{i}].hostname"),
                format!("listener hostname `{h}` is not under {}", d.domain),
            );
        }
    }
    for (i, n) in p.gateway.tls.dns_names.iter().enumerate() {
        if !under_domain(n, &d.domain) {
            cx.push(
                "PROF-014",
                &format!("gateway.tls.dnsNames[{i}]"),
                format!("certificate name `{n}` is not under {}", d.domain),
            );
        }
    }
}
