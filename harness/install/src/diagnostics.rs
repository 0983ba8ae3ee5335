//! The diagnostics bundle written into the run directory when a phase fails
//! (or on request): per Cilium agent `cilium-dbg status --verbose` and
//! `cilium-dbg bpf lb list` through the exec path, agent and operator logs
//! (bounded tail), events of the touched namespaces, node conditions, the
//! Helm status of each release and the status of every custom resource the
//! plan applies. Secrets are never read; every text goes through the
//! redactor. What cannot be collected (no kubelet to exec into, a missing
//! object) is written down as such: the bundle explains itself.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use infraflux_kube::Cluster;
use infraflux_model::results::PhaseResult;
use infraflux_model::secret::redact;
use serde_json::Value;

use crate::helm::Helm;
use crate::plan::{Apply, Plan, Step, Wait, WaitFor};
use crate::{Error, Result};

/// Bound on each collection call: diagnostics must not hang a failed run.
const CALL: Duration = Duration::from_secs(20);
/// Log lines kept per container.
const TAIL_LINES: i64 = 200;

/// Directory name of the bundle inside the run directory.
pub const BUNDLE: &str = "diagnostics";

struct Bundle {
    dir: PathBuf,
}

impl Bundle {
    fn write(&self, name: &str, text: &str) -> Result<()> {
        let path = self.dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|source| Error::Diagnostics { path: parent.to_owned(), source })?;
        }
        std::fs::write(&path, redact(text)).map_err(|source| Error::Diagnostics { path, source })
    }
}

async fn bounded<T>(f: impl Future<Output = T>) -> Option<T> {
    tokio::time::timeout(CALL, f).await.ok()
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

/// Writes the bundle under `run_dir/diagnostics/` and returns its path.
pub async fn collect(cluster: &Cluster, helm: &Helm, plan: &Plan, phases: &[PhaseResult], run_dir: &Path) -> Result<PathBuf> {
    let b = Bundle { dir: run_dir.join(BUNDLE) };
    std::fs::create_dir_all(&b.dir).map_err(|source| Error::Diagnostics { path: b.dir.clone(), source })?;

    let mut index = String::from("# InfraFlux diagnostics\n\nPhases:\n");
    for p in phases {
        let _ = writeln!(index, "- {}: {:?}", p.id, p.outcome);
    }
    index.push_str(
        "\nFiles: phases.json (every step), nodes.json (conditions), events/<ns>.txt, pods/<ns>.txt,\n\
         logs/<pod>.log (Cilium agents and operator, Flux's controllers, last 200 lines), cilium-dbg/<pod>.txt,\n\
         helm/<release>.txt, resources.json (status of the custom resources).\n",
    );
    b.write("README.md", &index)?;
    b.write("phases.json", &serde_json::to_string_pretty(phases).unwrap_or_default())?;

    // Nodes and their conditions.
    let nodes = match cluster.resolve("v1", "Node").await {
        Ok(k) => bounded(cluster.list(&k, None, None)).await,
        Err(e) => Some(Err(e)),
    };
    let nodes_text = match nodes {
        Some(Ok(list)) => {
            let slim: Vec<Value> = list["items"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|n| serde_json::json!({"name": n.pointer("/metadata/name"), "conditions": n.pointer("/status/conditions")}))
                .collect();
            pretty(&Value::Array(slim))
        }
        Some(Err(e)) => format!("failed to list nodes: {}", crate::run::chain(&e)),
        None => "listing nodes gave no answer".into(),
    };
    b.write("nodes.json", &nodes_text)?;

    // Namespaces the plan touches.
    let mut namespaces: BTreeSet<String> = BTreeSet::from(["kube-system".to_owned()]);
    for s in plan.phases.iter().flat_map(|p| &p.steps) {
        match s {
            Step::Namespace(n) => {
                namespaces.insert(n.clone());
            }
            Step::Helm(r) => {
                namespaces.insert(r.namespace.clone());
            }
            Step::Apply(a) => {
                if let Some(n) = a.object.pointer("/metadata/namespace").and_then(Value::as_str) {
                    namespaces.insert(n.to_owned());
                }
            }
            _ => {}
        }
    }
    let events = cluster.resolve("v1", "Event").await;
    let pods = cluster.resolve("v1", "Pod").await;
    for ns in &namespaces {
        if let Ok(k) = &events {
            let text = match bounded(cluster.list(k, Some(ns), None)).await {
                Some(Ok(list)) => list["items"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|e| {
                        let s = |p: &str| e.pointer(p).map(|v| v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string())).unwrap_or_default();
                        format!(
                            "{} {} {}/{}: {} {}\n",
                            s("/lastTimestamp"),
                            s("/type"),
                            s("/involvedObject/kind"),
                            s("/involvedObject/name"),
                            s("/reason"),
                            s("/message")
                        )
                    })
                    .collect(),
                Some(Err(e)) => format!("failed to list events: {}\n", crate::run::chain(&e)),
                None => "listing events gave no answer\n".into(),
            };
            b.write(&format!("events/{ns}.txt"), &text)?;
        }
        if let Ok(k) = &pods {
            let text = match bounded(cluster.list(k, Some(ns), None)).await {
                Some(Ok(list)) => list["items"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|p| {
                        let s = |q: &str| p.pointer(q).and_then(Value::as_str).unwrap_or("").to_owned();
                        format!("{} node={} phase={}\n", s("/metadata/name"), s("/spec/nodeName"), s("/status/phase"))
                    })
                    .collect(),
                Some(Err(e)) => format!("failed to list pods: {}\n", crate::run::chain(&e)),
                None => "listing pods gave no answer\n".into(),
            };
            b.write(&format!("pods/{ns}.txt"), &text)?;
        }
    }

    // Cilium agents and operator: logs, and cilium-dbg through exec.
    // Flux's controllers too when the plan hands over to Flux.
    let flux = plan.phases.iter().any(|p| p.name == "flux");
    let sources: Vec<(&str, &str, bool)> = [("kube-system", "k8s-app=cilium", true), ("kube-system", "io.cilium/app=operator", false)]
        .into_iter()
        .chain(flux.then_some((infraflux_gitops::flux::NAMESPACE, "app.kubernetes.io/part-of=flux", false)))
        .collect();
    for (pod_ns, selector, dbg) in sources {
        let found = bounded(cluster.select_pods(pod_ns, selector, None)).await;
        let list = match found {
            Some(Ok(l)) => l,
            Some(Err(e)) => {
                b.write(&format!("logs/{}.txt", selector.replace(['=', '/'], "_")), &format!("failed to list pods: {}", crate::run::chain(&e)))?;
                continue;
            }
            None => continue,
        };
        for pod in list {
            let log = bounded(pod_log(cluster, pod_ns, &pod.name)).await;
            let text = match log {
                Some(Ok(t)) => t,
                Some(Err(e)) => format!("no log: {e}"),
                None => "no log within the bound".into(),
            };
            b.write(&format!("logs/{}.log", pod.name), &text)?;
            if dbg {
                let mut out = String::new();
                for argv in [vec!["cilium-dbg", "status", "--verbose"], vec!["cilium-dbg", "bpf", "lb", "list"]] {
                    let _ = writeln!(out, "$ {}", argv.join(" "));
                    let argv: Vec<String> = argv.into_iter().map(str::to_owned).collect();
                    match bounded(cluster.exec_in("kube-system", &pod.name, Some("cilium-agent"), argv)).await {
                        Some(Ok(o)) => {
                            let _ = writeln!(out, "{}{}", o.stdout, o.stderr);
                        }
                        Some(Err(e)) => {
                            let _ = writeln!(out, "exec failed: {}", crate::run::chain(&e));
                        }
                        None => out.push_str("exec gave no answer within the bound\n"),
                    }
                }
                b.write(&format!("cilium-dbg/{}.txt", pod.name), &out)?;
            }
        }
    }

    // Helm releases.
    for r in plan.releases() {
        let text = match bounded(helm.status_text(&r.release, &r.namespace)).await {
            Some(Ok(t)) => t,
            Some(Err(e)) => crate::run::chain(&e).to_string(),
            None => "helm status gave no answer within the bound".into(),
        };
        b.write(&format!("helm/{}.txt", r.release), &text)?;
    }

    // Custom resources the plan applies (never Secrets), and the Flux
    // objects a GitOps install waits on (what Flux made of the tree).
    let mut resources = Vec::new();
    let waited: Vec<Apply> = plan
        .phases
        .iter()
        .filter(|p| p.name == "gitops")
        .flat_map(|p| &p.steps)
        .filter_map(|s| match s {
            Step::Wait(Wait { what: WaitFor::Condition { api_version, kind, namespace, name, .. }, .. }) => Some(Apply {
                source: "the served tree".into(),
                object: serde_json::json!({"apiVersion": api_version, "kind": kind, "metadata": {"name": name, "namespace": namespace}}),
                needs_datapath: None,
            }),
            _ => None,
        })
        .collect();
    let applied = plan.phases.iter().filter(|p| p.name == "custom-resources").flat_map(|p| &p.steps).filter_map(|s| match s {
        Step::Apply(a) => Some(a),
        _ => None,
    });
    for a in applied.chain(waited.iter()) {
        let g = |p: &str| a.object.pointer(p).and_then(Value::as_str).unwrap_or("").to_owned();
        if g("/kind") == "Secret" {
            continue;
        }
        let state = match cluster.resolve(&g("/apiVersion"), &g("/kind")).await {
            Ok(k) => {
                let ns = a.object.pointer("/metadata/namespace").and_then(Value::as_str).filter(|_| k.namespaced);
                match bounded(cluster.get(&k, ns, &g("/metadata/name"))).await {
                    Some(Ok(Some(o))) => o.get("status").cloned().unwrap_or(Value::String("no status".into())),
                    Some(Ok(None)) => Value::String("absent".into()),
                    Some(Err(e)) => Value::String(crate::run::chain(&e)),
                    None => Value::String("no answer within the bound".into()),
                }
            }
            Err(e) => Value::String(crate::run::chain(&e)),
        };
        resources.push(serde_json::json!({"object": a.describe(), "status": state}));
    }
    b.write("resources.json", &pretty(&Value::Array(resources)))?;
    Ok(b.dir)
}

async fn pod_log(cluster: &Cluster, ns: &str, pod: &str) -> std::result::Result<String, String> {
    use k8s_openapi::api::core::v1::Pod;
    let api: kube::Api<Pod> = kube::Api::namespaced(cluster.client().clone(), ns);
    let lp = kube::api::LogParams { tail_lines: Some(TAIL_LINES), ..Default::default() };
    api.logs(pod, &lp).await.map_err(|e| e.to_string())
}
