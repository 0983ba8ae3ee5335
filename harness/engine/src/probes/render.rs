//! A probe action with the case's variables filled in, checked for what
//! only the rendered values can show (an IP where an IP belongs).

use std::collections::BTreeMap;

use crate::backend::StepError;
use crate::suite::template::render;

fn invalid(e: impl std::fmt::Display) -> StepError {
    StepError::invalid(e)
}

/// Renders the templated strings of a probe action.
pub(crate) fn render_action(
    a: &crate::suite::model::ProbeAction,
    vars: &BTreeMap<String, String>,
) -> Result<crate::suite::model::ProbeAction, StepError> {
    use crate::suite::model::ProbeAction as A;
    let r = |s: &str| render(s, vars).map_err(invalid);
    let mut a = a.clone();
    match &mut a {
        A::Http(h) => {
            h.url = r(&h.url)?;
            for hd in &mut h.headers {
                *hd = r(hd)?;
            }
            if let Some(addr) = &mut h.resolve {
                *addr = r(addr)?;
                if addr.parse::<std::net::IpAddr>().is_err() {
                    return Err(invalid(format!("http resolve `{addr}` is not an IP address")));
                }
                if crate::suite::url::url_host_port(&h.url).is_none() {
                    return Err(invalid(format!("http resolve needs a URL with a host, got `{}`", h.url)));
                }
            }
        }
        A::Downtime(d) => {
            d.host = r(&d.host)?;
            for s in [&mut d.path, &mut d.host_header].into_iter().flatten() {
                *s = r(s)?;
            }
        }
        A::Dns(d) => {
            d.name = r(&d.name)?;
            if let Some(s) = &mut d.server {
                *s = r(s)?;
            }
        }
        A::Tcp(e) => e.host = r(&e.host)?,
        A::Udp(u) => u.host = r(&u.host)?,
        A::Stream(l) | A::RequestResponse(l) | A::ConnectRate(l) => l.host = r(&l.host)?,
        A::Capture(c) => {
            for ip in &mut c.filter_ips {
                *ip = r(ip)?;
            }
            for pod in &mut c.between_pods {
                *pod = r(pod)?;
            }
            c.interface = r(&c.interface)?;
            for f in [&mut c.route_to, &mut c.route_to_node_of].into_iter().flatten() {
                *f = r(f)?;
            }
        }
    }
    Ok(a)
}
