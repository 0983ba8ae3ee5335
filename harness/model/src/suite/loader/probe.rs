//! `probe` steps: every probe action kind and the metric ids its samples are recorded under.

use super::*;

impl Validator<'_> {
    /// Checks of the probe actions whose fields have constraints serde
    /// cannot express (http `resolve`, `downtime`).
    pub(super) fn probe_action(&mut self, path: &str, a: &crate::suite::model::ProbeAction, known: &BTreeSet<String>) {
        use crate::suite::model::{DowntimeKind, ProbeAction as A};
        match a {
            A::Http(h) => {
                let Some(addr) = &h.resolve else { return };
                let vars = referenced(addr);
                if vars.is_empty() {
                    if addr.parse::<std::net::IpAddr>().is_err() {
                        self.error(
                            &SUITE_011,
                            &format!("{path}.http.resolve"),
                            format!("`{addr}` is not an IP address"),
                            "give the address to connect to, e.g. `\"{{gwIp}}\"` or `198.51.100.114`",
                        );
                    }
                } else {
                    self.vars(&format!("{path}.http.resolve"), vars, known);
                }
                // The host and port come from the URL; without one there is
                // nothing to pin. Templated hosts are checked after rendering.
                if referenced(&h.url).is_empty() && crate::suite::url::url_host_port(&h.url).is_none() {
                    self.error(
                        &SUITE_009,
                        &format!("{path}.http.url"),
                        format!("`resolve` needs an http:// or https:// URL with a host, got `{}`", h.url),
                        "write the URL with the name the request is for, e.g. `https://a.infraflux.test/`",
                    );
                }
            }
            A::Downtime(d) => {
                let mut names = referenced(&d.host);
                for s in [&d.path, &d.host_header].into_iter().flatten() {
                    names.extend(referenced(s));
                }
                self.vars(&format!("{path}.downtime"), names, known);
                if d.rate == Some(0) {
                    self.error(
                        &SUITE_009,
                        &format!("{path}.downtime.rate"),
                        "downtime rate must be at least 1 attempt per second".into(),
                        "leave it out for the default of 200/s, or give a positive rate",
                    );
                }
                if d.duration.0.is_zero() {
                    self.error(
                        &SUITE_004,
                        &format!("{path}.downtime.duration"),
                        "downtime duration is zero".into(),
                        "measure across the whole disruption, e.g. `duration: 30s`",
                    );
                }
                if d.probe == DowntimeKind::Tcp && (d.path.is_some() || d.host_header.is_some()) {
                    self.error(
                        &SUITE_009,
                        &format!("{path}.downtime"),
                        "`path` and `hostHeader` only apply to `probe: http`".into(),
                        "set `probe: http`, or drop `path`/`hostHeader`",
                    );
                }
            }
            A::RequestResponse(l) | A::ConnectRate(l) if l.streams.is_some() => self.error(
                &SUITE_009,
                &format!("{path}.{}.streams", a.kind()),
                format!("`streams` (parallel connections) only applies to `stream`, not `{}`", a.kind()),
                "use `samples` for the number of measurements",
            ),
            A::Stream(l) | A::RequestResponse(l) | A::ConnectRate(l)
                if l.samples == Some(0) || l.streams == Some(0) || l.streams.is_some_and(|n| n > 128) =>
            {
                self.error(
                    &SUITE_009,
                    &format!("{path}.{}", a.kind()),
                    "`samples` must be at least 1 and `streams` between 1 and 128".into(),
                    "leave them out for one sample over one connection",
                );
            }
            _ => {}
        }
    }

    pub(super) fn metric_id(&mut self, path: &str, m: &str, example: &str) {
        if !m.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-')) {
            self.error(
                &SUITE_018,
                path,
                format!("metric id `{m}` has characters outside [a-z0-9._-]"),
                &format!("use a dotted lowercase id such as `{example}`"),
            );
        }
    }
}
