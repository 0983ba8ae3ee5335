//! The probe agent's command line: one `infraflux-agent` invocation per
//! suite probe action. The agent's JSON contract is in harness/agent/README.md.

use std::time::Duration;

use crate::suite::model::{DEFAULT_DOWNTIME_RATE, ProbeAction};
pub use crate::suite::url::url_host_port;

/// Command line for one probe action (`timeout` bounds each network wait).
pub fn agent_argv(action: &ProbeAction, timeout: Duration) -> Vec<String> {
    let mut v: Vec<String> = vec!["infraflux-agent".into()];
    let timeout_ms = timeout.as_millis().clamp(1, 60_000).to_string();
    let push = |v: &mut Vec<String>, k: &str, val: String| {
        v.push(k.to_owned());
        v.push(val);
    };
    match action {
        ProbeAction::Capture(c) => {
            v.push("capture".into());
            push(&mut v, "--iface", c.interface.clone());
            if let Some(ip) = &c.route_to {
                push(&mut v, "--route-to", ip.clone());
            }
            push(&mut v, "--filter-ips", c.filter_ips.join(","));
            if let Some(p) = c.udp_port {
                push(&mut v, "--udp-port", p.to_string());
            }
            push(&mut v, "--duration-s", format!("{}", c.duration.0.as_secs_f64()));
            return v;
        }
        _ => v.push("client".into()),
    }
    match action {
        ProbeAction::Http(h) => {
            v.push("http".into());
            push(&mut v, "--url", h.url.clone());
            if let Some(m) = &h.method {
                push(&mut v, "--method", m.clone());
            }
            for hd in &h.headers {
                push(&mut v, "--header", hd.clone());
            }
            if h.insecure {
                v.push("--insecure".into());
            }
            // The engine rejects a resolve whose URL has no host before it
            // gets here (render_action), so a skip cannot hide a mistake.
            if let (Some(addr), Some((host, port))) = (&h.resolve, url_host_port(&h.url)) {
                push(&mut v, "--resolve", format!("{host}:{port}:{addr}"));
            }
        }
        ProbeAction::Dns(d) => {
            v.push("dns".into());
            push(&mut v, "--name", d.name.clone());
            push(
                &mut v,
                "--target",
                d.server.clone().unwrap_or_else(|| "kube-dns.kube-system.svc.cluster.local:53".into()),
            );
            if let Some(t) = &d.type_ {
                push(&mut v, "--qtype", t.to_lowercase());
            }
        }
        ProbeAction::Tcp(e) => {
            v.push("tcp".into());
            push(&mut v, "--target", format!("{}:{}", e.host, e.port));
        }
        ProbeAction::Udp(u) => {
            v.push("udp".into());
            push(&mut v, "--target", format!("{}:{}", u.host, u.port));
            if let Some(p) = &u.payload {
                push(&mut v, "--size", p.len().to_string());
            }
        }
        ProbeAction::Stream(l) | ProbeAction::RequestResponse(l) | ProbeAction::ConnectRate(l) => {
            v.push(
                match action {
                    ProbeAction::Stream(_) => "stream",
                    ProbeAction::RequestResponse(_) => "rr",
                    _ => "crr",
                }
                .into(),
            );
            push(&mut v, "--target", format!("{}:{}", l.host, l.port));
            push(&mut v, "--duration-s", format!("{}", l.duration.0.as_secs_f64()));
            if let Some(s) = l.samples {
                push(&mut v, "--samples", s.to_string());
            }
            if let Some(p) = l.streams {
                push(&mut v, "--parallel", p.to_string());
            }
        }
        ProbeAction::Downtime(d) => {
            v.push("downtime".into());
            push(&mut v, "--target", format!("{}:{}", d.host, d.port));
            push(&mut v, "--probe", d.probe.as_str().into());
            if let Some(p) = &d.path {
                push(&mut v, "--path", p.clone());
            }
            if let Some(h) = &d.host_header {
                push(&mut v, "--host", h.clone());
            }
            push(&mut v, "--rate", d.rate.unwrap_or(DEFAULT_DOWNTIME_RATE).to_string());
            push(&mut v, "--duration-s", format!("{}", d.duration.0.as_secs_f64()));
            // Each attempt is bounded much tighter than the step: a stalled
            // attempt must end as a failure so the outage window can close
            // on the next success.
            let attempt = timeout.min(DOWNTIME_ATTEMPT_TIMEOUT).as_millis().max(1);
            push(&mut v, "--timeout-ms", attempt.to_string());
            return v;
        }
        ProbeAction::Capture(_) => {}
    }
    push(&mut v, "--timeout-ms", timeout_ms);
    v
}

/// Upper bound on one attempt of a `downtime` probe.
pub const DOWNTIME_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(1);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::suite::model::{CaptureProbe, DowntimeKind, DowntimeProbe, HttpProbe, HumanDuration, LoadProbe};

    #[test]
    fn http_argv_matches_agent_cli() {
        let a = ProbeAction::Http(HttpProbe {
            url: "http://echo/".into(),
            method: Some("DELETE".into()),
            headers: vec!["X-A: 1".into()],
            insecure: false,
            resolve: None,
        });
        assert_eq!(
            agent_argv(&a, Duration::from_secs(2)),
            ["infraflux-agent", "client", "http", "--url", "http://echo/", "--method", "DELETE", "--header", "X-A: 1", "--timeout-ms", "2000"]
        );
    }

    #[test]
    fn https_resolve_takes_host_and_port_from_the_url() {
        let a = |url: &str| {
            ProbeAction::Http(HttpProbe {
                url: url.into(),
                method: None,
                headers: vec![],
                insecure: true,
                resolve: Some("198.51.100.114".into()),
            })
        };
        assert_eq!(
            agent_argv(&a("https://a.infraflux.test/x?y=1"), Duration::from_secs(3)),
            [
                "infraflux-agent", "client", "http", "--url", "https://a.infraflux.test/x?y=1", "--insecure",
                "--resolve", "a.infraflux.test:443:198.51.100.114", "--timeout-ms", "3000"
            ]
        );
        let plain = agent_argv(&a("http://b.infraflux.test:8080"), Duration::from_secs(3));
        let i = plain.iter().position(|s| s == "--resolve").unwrap();
        assert_eq!(plain[i + 1], "b.infraflux.test:8080:198.51.100.114");
    }


    #[test]
    fn downtime_argv_matches_the_agent_contract() {
        let d = DowntimeProbe {
            host: "echo.ns.svc".into(),
            port: 80,
            probe: DowntimeKind::Http,
            path: Some("/healthz".into()),
            host_header: Some("a.infraflux.test".into()),
            rate: None,
            duration: HumanDuration(Duration::from_millis(1500)),
        };
        assert_eq!(
            agent_argv(&ProbeAction::Downtime(d.clone()), Duration::from_secs(10)),
            [
                "infraflux-agent", "client", "downtime", "--target", "echo.ns.svc:80", "--probe", "http",
                "--path", "/healthz", "--host", "a.infraflux.test", "--rate", "200", "--duration-s", "1.5",
                "--timeout-ms", "1000"
            ]
        );
        let tcp = DowntimeProbe { probe: DowntimeKind::Tcp, path: None, host_header: None, rate: Some(500), ..d };
        let argv = agent_argv(&ProbeAction::Downtime(tcp), Duration::from_millis(300));
        assert_eq!(&argv[3..], ["--target", "echo.ns.svc:80", "--probe", "tcp", "--rate", "500", "--duration-s", "1.5", "--timeout-ms", "300"]);
    }

    #[test]
    fn load_argv_names_the_agent_mode() {
        let l = LoadProbe { host: "10.0.0.1".into(), port: 5201, duration: HumanDuration(Duration::from_secs(5)), samples: Some(3), streams: None };
        let argv = agent_argv(&ProbeAction::ConnectRate(l.clone()), Duration::from_secs(1));
        assert_eq!(&argv[1..5], ["client", "crr", "--target", "10.0.0.1:5201"]);
        assert_eq!(&argv[5..9], ["--duration-s", "5", "--samples", "3"]);
        let multi = LoadProbe { streams: Some(4), ..l };
        let argv = agent_argv(&ProbeAction::Stream(multi), Duration::from_secs(1));
        assert_eq!(&argv[2..11], ["stream", "--target", "10.0.0.1:5201", "--duration-s", "5", "--samples", "3", "--parallel", "4"]);
    }

    #[test]
    fn capture_argv_passes_the_route_for_auto() {
        let c = CaptureProbe {
            interface: "auto".into(),
            route_to: Some("192.0.2.12".into()),
            route_to_node_of: Some("echo-other".into()),
            filter_ips: vec!["10.0.1.5".into(), "10.0.2.7".into()],
            between_pods: vec![],
            udp_port: Some(51871),
            duration: HumanDuration(Duration::from_secs(5)),
        };
        assert_eq!(
            agent_argv(&ProbeAction::Capture(c), Duration::from_secs(1)),
            [
                "infraflux-agent", "capture", "--iface", "auto", "--route-to", "192.0.2.12", "--filter-ips",
                "10.0.1.5,10.0.2.7", "--udp-port", "51871", "--duration-s", "5"
            ]
        );
    }
}
