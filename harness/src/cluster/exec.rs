//! The probe agent: one pod per case namespace running
//! `infraflux-agent serve`, and exec into it (`infraflux-agent client …`,
//! `infraflux-agent capture …`) returning the agent's JSON report.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Pod, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Status;
use kube::api::{Api, AttachParams, ListParams};
use serde_json::Value;
use tokio::io::AsyncReadExt;
use tokio::time::Instant;

use super::{Cluster, Error, Result};
use crate::suite::model::{DEFAULT_DOWNTIME_RATE, ProbeAction};

/// Name of the agent pod in each case namespace.
pub const AGENT_POD: &str = "infraflux-agent";
/// Container name inside it.
pub const AGENT_CONTAINER: &str = "agent";
/// Port of the agent's HTTP echo server (a ready-made probe target).
pub const AGENT_HTTP_PORT: u16 = 8080;

const POLL: Duration = Duration::from_millis(500);

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

/// Host and port an `http://` or `https://` URL connects to (default ports
/// 80 and 443; an IPv6 literal keeps its brackets), or `None` when the URL
/// has another scheme or no host.
pub fn url_host_port(url: &str) -> Option<(String, u16)> {
    let (rest, default_port) = if let Some(r) = url.strip_prefix("https://") {
        (r, 443)
    } else if let Some(r) = url.strip_prefix("http://") {
        (r, 80)
    } else {
        return None;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    // userinfo is never used by the agent, but must not be taken for the host.
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    let (host, port) = if let Some(after) = authority.strip_prefix('[') {
        let end = after.find(']')?;
        let host = &authority[..end + 2];
        match &after[end + 1..] {
            "" => (host, None),
            p => (host, Some(p.strip_prefix(':')?)),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return None;
    }
    let port = match port {
        Some(p) => p.parse().ok()?,
        None => default_port,
    };
    Some((host.to_owned(), port))
}

impl Cluster {
    /// Creates the agent pod in `namespace` (if absent) and waits until it
    /// is Ready.
    pub async fn ensure_agent(
        &self,
        namespace: &str,
        image: &str,
        labels: &BTreeMap<String, String>,
        timeout: Duration,
    ) -> Result<()> {
        let pod = serde_json::json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": { "name": AGENT_POD, "namespace": namespace },
            "spec": {
                "terminationGracePeriodSeconds": 1,
                "containers": [{
                    "name": AGENT_CONTAINER,
                    "image": image,
                    "command": ["infraflux-agent", "serve", "--http", AGENT_HTTP_PORT.to_string()],
                    "ports": [{ "containerPort": AGENT_HTTP_PORT, "name": "http" }],
                    "readinessProbe": { "tcpSocket": { "port": AGENT_HTTP_PORT }, "periodSeconds": 1 },
                }],
            },
        });
        self.apply(&pod, namespace, labels).await?;
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        let deadline = Instant::now() + timeout;
        let mut last = "no status yet".to_owned();
        loop {
            if let Some(p) = pods
                .get_opt(AGENT_POD)
                .await
                .map_err(|e| Error::from_kube("read the agent pod", e))?
            {
                let status = p.status.unwrap_or_default();
                let ready = status
                    .conditions
                    .unwrap_or_default()
                    .iter()
                    .any(|c| c.type_ == "Ready" && c.status == "True");
                if ready {
                    return Ok(());
                }
                last = format!("phase {}", status.phase.unwrap_or_else(|| "unknown".into()));
            }
            if Instant::now() >= deadline {
                return Err(Error::Timeout {
                    what: format!("probe agent pod {namespace}/{AGENT_POD} to become Ready (last seen: {last})"),
                    after_ms: timeout.as_millis() as u64,
                });
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Runs `argv` in the agent container and parses its stdout as one JSON
    /// object.
    pub async fn exec_agent(&self, namespace: &str, argv: Vec<String>) -> Result<Value> {
        self.exec_agent_in(namespace, AGENT_POD, argv).await
    }

    /// Like [`Cluster::exec_agent`], in another pod of `namespace` whose
    /// container `agent` runs the agent image (a host-network or node-pinned
    /// agent a case started itself).
    pub async fn exec_agent_in(&self, namespace: &str, pod_name: &str, argv: Vec<String>) -> Result<Value> {
        let out = self.exec_in(namespace, pod_name, Some(AGENT_CONTAINER), argv).await?;
        let line = out.stdout.lines().rev().find(|l| l.trim_start().starts_with('{')).unwrap_or("");
        serde_json::from_str(line).map_err(|e| Error::Exec {
            pod: format!("{namespace}/{pod_name}"),
            message: format!(
                "agent printed no JSON report ({e}); stdout: {:?}; stderr: {:?}",
                truncate(&out.stdout),
                truncate(&out.stderr)
            ),
        })
    }

    /// Runs `argv` (no shell) in `container` of the pod (its only
    /// container when `None`) through the pods/exec subresource, and
    /// returns what it printed and its exit code. A refused exec (no
    /// kubelet behind the node, RBAC) is an error naming the pod.
    pub async fn exec_in(
        &self,
        namespace: &str,
        pod_name: &str,
        container: Option<&str>,
        argv: Vec<String>,
    ) -> Result<ExecOutput> {
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        let pod = format!("{namespace}/{pod_name}");
        let mut ap = AttachParams::default().stdin(false).stdout(true).stderr(true);
        if let Some(c) = container {
            ap = ap.container(c);
        }
        let mut proc = pods
            .exec(pod_name, argv, &ap)
            .await
            .map_err(|e| Error::from_kube(format!("exec into {pod}"), e))?;
        let status = proc.take_status();
        let (mut out, mut err) = (String::new(), String::new());
        let (stdout, stderr) = (proc.stdout(), proc.stderr());
        // Both streams at once: a command filling stderr must not stall
        // behind an unread stdout.
        let read_out = async {
            match stdout {
                Some(mut s) => s.read_to_string(&mut out).await.map(|_| ()),
                None => Ok(()),
            }
        };
        let read_err = async {
            if let Some(mut s) = stderr {
                let _ = s.read_to_string(&mut err).await;
            }
        };
        let (read, ()) = tokio::join!(read_out, read_err);
        read.map_err(|e| Error::Exec {
            pod: pod.clone(),
            message: format!("failed to read stdout: {e}"),
        })?;
        let status = match status {
            Some(s) => s.await,
            None => None,
        };
        let _ = proc.join().await;
        let exit = status.as_ref().and_then(exit_code);
        Ok(ExecOutput {
            exit_code: exit,
            stdout: out,
            stderr: err,
            // A failure without an exit code: the command never ran.
            not_run: match (&status, exit) {
                (Some(s), None) => Some(
                    s.message
                        .clone()
                        .or_else(|| s.reason.clone())
                        .unwrap_or_else(|| match &s.status {
                            // kube-rs reports an empty status when the stream
                            // closed before the runtime sent one.
                            None => "the exec stream closed without an exit status (nothing ran the command)".into(),
                            Some(st) => format!("exec status {st} without an exit code"),
                        }),
                ),
                (None, _) => Some("the API server sent no exit status".into()),
                (Some(_), Some(_)) => None,
            },
        })
    }

    /// Running, not terminating pods matching `selector` in `namespace`
    /// (on `node` when given), sorted by name. Read only.
    pub async fn select_pods(&self, namespace: &str, selector: &str, node: Option<&str>) -> Result<Vec<PodOnNode>> {
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        let mut lp = ListParams::default().labels(selector);
        if let Some(n) = node {
            lp = lp.fields(&format!("spec.nodeName={n}"));
        }
        let mut found: Vec<PodOnNode> = pods
            .list(&lp)
            .await
            .map_err(|e| Error::from_kube(format!("list pods {selector} in {namespace}"), e))?
            .items
            .into_iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
            .filter_map(|p| {
                Some(PodOnNode {
                    name: p.metadata.name?,
                    node: p.spec.and_then(|s| s.node_name).unwrap_or_default(),
                })
            })
            .collect();
        found.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(found)
    }

    /// The pod's `status` (empty when the API server has not written one).
    pub async fn pod_status(&self, namespace: &str, name: &str) -> Result<PodStatus> {
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        let pod = pods
            .get(name)
            .await
            .map_err(|e| Error::from_kube(format!("read pod {namespace}/{name}"), e))?;
        Ok(pod.status.unwrap_or_default())
    }

    /// The pod's node address (`status.hostIP`), once it is scheduled.
    pub async fn pod_host_ip(&self, namespace: &str, name: &str) -> Result<Option<String>> {
        Ok(host_ip(&self.pod_status(namespace, name).await?))
    }

    /// The IPv4 addresses in the pod's `status.podIPs` (or `podIP`).
    pub async fn pod_ipv4s(&self, namespace: &str, name: &str) -> Result<Vec<String>> {
        Ok(pod_ipv4s(&self.pod_status(namespace, name).await?))
    }
}

/// `status.hostIP`, when set.
pub fn host_ip(status: &PodStatus) -> Option<String> {
    status.host_ip.clone().filter(|ip| !ip.is_empty())
}

/// The IPv4 addresses in `status.podIPs` (or `podIP`).
pub fn pod_ipv4s(status: &PodStatus) -> Vec<String> {
    let mut ips: Vec<String> = status.pod_ips.iter().flatten().map(|p| p.ip.clone()).collect();
    if ips.is_empty() {
        ips.extend(status.pod_ip.clone());
    }
    ips.retain(|ip| ip.parse::<std::net::Ipv4Addr>().is_ok());
    ips
}

/// A selected pod and the node it runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodOnNode {
    pub name: String,
    pub node: String,
}

/// What a command run by [`Cluster::exec_in`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutput {
    /// `None` when the API server sent no status for the process.
    pub exit_code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// Why the command did not run (no such container or executable, the
    /// node could not start it), when the status says so.
    pub not_run: Option<String>,
}

/// Exit code from the exec status: `Success` is 0; a failure carries an
/// `ExitCode` cause whose message is the number.
fn exit_code(s: &Status) -> Option<i32> {
    if s.status.as_deref() == Some("Success") {
        return Some(0);
    }
    s.details
        .as_ref()
        .and_then(|d| d.causes.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.reason.as_deref() == Some("ExitCode")))
        .and_then(|c| c.message.as_deref())
        .and_then(|m| m.trim().parse().ok())
}

fn truncate(s: &str) -> String {
    let s = s.trim();
    if s.len() <= 300 {
        return s.to_owned();
    }
    let mut end = 300;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

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
    fn exit_codes_from_exec_status() {
        let ok: Status = serde_json::from_value(serde_json::json!({"status": "Success"})).unwrap();
        assert_eq!(exit_code(&ok), Some(0));
        let failed: Status = serde_json::from_value(serde_json::json!({
            "status": "Failure", "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": "2"}]}
        }))
        .unwrap();
        assert_eq!(exit_code(&failed), Some(2));
        let odd: Status = serde_json::from_value(serde_json::json!({"status": "Failure", "message": "boom"})).unwrap();
        assert_eq!(exit_code(&odd), None);
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
    fn url_host_port_handles_defaults_ports_and_ipv6() {
        assert_eq!(url_host_port("https://a.test"), Some(("a.test".into(), 443)));
        assert_eq!(url_host_port("http://a.test/p"), Some(("a.test".into(), 80)));
        assert_eq!(url_host_port("http://u@a.test:81/p"), Some(("a.test".into(), 81)));
        assert_eq!(url_host_port("https://[2001:db8::1]:8443/"), Some(("[2001:db8::1]".into(), 8443)));
        assert_eq!(url_host_port("https://[2001:db8::1]/"), Some(("[2001:db8::1]".into(), 443)));
        assert_eq!(url_host_port("ftp://a.test"), None);
        assert_eq!(url_host_port("http:///x"), None);
        assert_eq!(url_host_port("http://a.test:http/"), None);
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
