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

use super::{Cluster, Error, Result};

/// Name of the agent pod in each case namespace.
pub const AGENT_POD: &str = "infraflux-agent";
/// Container name inside it.
pub const AGENT_CONTAINER: &str = "agent";
/// Port of the agent's HTTP echo server (a ready-made probe target).
pub const AGENT_HTTP_PORT: u16 = 8080;

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
        self.wait_pod_ready(namespace, AGENT_POD, timeout).await
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
}
