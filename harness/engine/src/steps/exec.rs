//! The `exec` step: run one command in every pod a selector picks (all
//! Cilium agents, or the one on a case pod's node) and keep a report that
//! a later `assert: {probe: <name>}` reads.
//!
//! The cluster side sits behind [`Pods`] so selection, report building and
//! the verdict are the same code against kube-rs and against the runner
//! tests' scripted pods.

use std::future::Future;
use std::time::Duration;

use serde_json::{Value, json};

use crate::backend::{CaseCtx, ObjectId, StepError, chain};
use crate::cluster::Error as ClusterError;
use crate::probes::predicate;
use crate::cluster::exec::{ExecOutput, PodOnNode};
use crate::suite::model::{Assert, Exec, ProbeExpect};
use crate::suite::template::render;

/// The pod operations the step needs. None of them writes to a pod.
pub trait Pods: Send + Sync {
    /// Node the pod `namespace/name` is scheduled on.
    fn node_of(&self, namespace: &str, pod: &str) -> impl Future<Output = Result<String, ClusterError>> + Send;
    /// Running, not terminating pods matching `selector`, on `node` when
    /// given, sorted by name.
    fn select(
        &self,
        namespace: &str,
        selector: &str,
        node: Option<&str>,
    ) -> impl Future<Output = Result<Vec<PodOnNode>, ClusterError>> + Send;
    /// Runs `argv` in the pod; `Err` when the exec itself was refused.
    fn exec(
        &self,
        namespace: &str,
        pod: &str,
        container: Option<&str>,
        argv: Vec<String>,
    ) -> impl Future<Output = Result<ExecOutput, ClusterError>> + Send;
}

impl Pods for crate::cluster::Cluster {
    async fn node_of(&self, namespace: &str, pod: &str) -> Result<String, ClusterError> {
        crate::cluster::Cluster::node_of(self, namespace, pod).await
    }

    async fn select(&self, namespace: &str, selector: &str, node: Option<&str>) -> Result<Vec<PodOnNode>, ClusterError> {
        self.select_pods(namespace, selector, node).await
    }

    async fn exec(
        &self,
        namespace: &str,
        pod: &str,
        container: Option<&str>,
        argv: Vec<String>,
    ) -> Result<ExecOutput, ClusterError> {
        self.exec_in(namespace, pod, container, argv).await
    }
}

fn invalid(e: impl std::fmt::Display) -> StepError {
    StepError::invalid(e)
}

/// Parses what a command printed: one JSON value; else JSON lines (an
/// array) when every non-empty line is JSON; else the text itself.
pub fn parse_stdout(stdout: &str) -> Value {
    if let Ok(v) = serde_json::from_str::<Value>(stdout) {
        return v;
    }
    let lines: Vec<&str> = stdout.lines().filter(|l| !l.trim().is_empty()).collect();
    if !lines.is_empty() {
        let parsed: Result<Vec<Value>, _> = lines.iter().map(|l| serde_json::from_str::<Value>(l)).collect();
        if let Ok(values) = parsed {
            return Value::Array(values);
        }
    }
    Value::String(stdout.to_owned())
}

/// Runs the step: select, exec in every pod at once, record the report
/// under the step's name, then judge every pod's exit code against
/// `expect`.
pub async fn run<P: Pods>(pods: &P, ctx: &CaseCtx, e: &Exec, timeout: Duration) -> Result<Option<String>, StepError> {
    let started = tokio::time::Instant::now();
    let r = |s: &str| render(s, &ctx.vars).map_err(invalid);
    let name = e.name.clone().ok_or_else(|| invalid("an exec step needs a name"))?;
    let namespace = match &e.pods.namespace {
        Some(ns) => r(ns)?,
        None => ctx.namespace.clone(),
    };
    let selector = r(&e.pods.label_selector)?;
    let container = e.container.as_deref().map(r).transpose()?;
    let argv: Vec<String> = e.command.iter().map(|a| r(a)).collect::<Result<_, _>>()?;
    let node = match &e.pods.same_node_as {
        Some(p) => {
            let p = r(p)?;
            let node = pods.node_of(&ctx.namespace, &p).await;
            Some(node.map_err(|e| StepError::kube(Some(ObjectId::pod(&ctx.namespace, &p)), e))?)
        }
        None => None,
    };
    let on_node = node.as_ref().map(|n| format!(" on node {n}")).unwrap_or_default();
    let selected = pods
        .select(&namespace, &selector, node.as_deref())
        .await
        .map_err(|e| StepError::kube(Some(ObjectId::new("Pod", Some(&namespace), None)), e))?;
    let min = e.min_pods.unwrap_or(1) as usize;
    if selected.len() < min {
        return Err(StepError::ExecPods {
            namespace,
            selector,
            node,
            found: selected.iter().map(|p| p.name.clone()).collect(),
            min,
        });
    }
    // What selection left of the step's budget, so a hanging exec is
    // reported per pod before the runner's outer guard fires.
    let left = timeout.saturating_sub(started.elapsed());
    let runs = selected.iter().map(|p| {
        let argv = argv.clone();
        let (namespace, container) = (&namespace, container.as_deref());
        async move {
            match tokio::time::timeout(left, pods.exec(namespace, &p.name, container, argv)).await {
                Ok(r) => r.map_err(|e| chain(&e)),
                Err(_) => Err(format!("exec in {namespace}/{} did not finish within {left:?}", p.name)),
            }
        }
    });
    let outputs = futures::future::join_all(runs).await;
    let mut refused = Vec::new();
    let mut entries = Vec::new();
    let mut wrong = Vec::new();
    for (p, out) in selected.iter().zip(outputs) {
        let out = match out {
            Ok(ExecOutput { not_run: Some(why), stderr, .. }) => {
                let stderr = short(&stderr).map(|s| format!(" (stderr: {s})")).unwrap_or_default();
                refused.push((p.name.clone(), format!("the command did not run in {namespace}/{}: {why}{stderr}", p.name)));
                continue;
            }
            Ok(o) => o,
            Err(err) => {
                refused.push((p.name.clone(), err));
                continue;
            }
        };
        let good = match e.expect {
            ProbeExpect::Ok => out.exit_code == Some(0),
            ProbeExpect::Fail => out.exit_code.is_some_and(|c| c != 0),
        };
        if !good {
            wrong.push(format!(
                "{} exited {}{}",
                p.name,
                out.exit_code.map_or("without a status".to_owned(), |c| c.to_string()),
                short(&out.stderr).map(|s| format!(" (stderr: {s})")).unwrap_or_default()
            ));
        }
        entries.push(json!({
            "pod": p.name,
            "node": p.node,
            "exitCode": out.exit_code,
            "stdout": parse_stdout(&out.stdout),
            "stderr": out.stderr,
        }));
    }
    if !refused.is_empty() {
        return Err(StepError::ExecRefused { pods: selected.len(), refused });
    }
    let count = entries.len();
    ctx.record_probe(&name, json!({ "pods": entries, "count": count }));
    if !wrong.is_empty() {
        let want = match e.expect {
            ProbeExpect::Ok => "exit 0",
            ProbeExpect::Fail => "exit non-zero",
        };
        return Err(StepError::ExecExit { command: argv.join(" "), want, wrong });
    }
    Ok(Some(format!("ran in {count} pod(s) of {namespace} [{selector}]{on_node}")))
}

fn short(s: &str) -> Option<String> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    Some(if s.chars().count() > 200 { format!("{}…", s.chars().take(200).collect::<String>()) } else { s.to_owned() })
}

/// Checks `a.that` once on the recorded report `a.probe` (a probe's or an
/// exec's), with templated values rendered first.
pub fn check_report(ctx: &CaseCtx, a: &Assert) -> Result<Option<String>, StepError> {
    let name = a.probe.as_deref().ok_or_else(|| invalid("assert names no report"))?;
    let report = ctx
        .probe_report(name)
        .ok_or_else(|| invalid(format!("`{name}` has no report (did its probe or exec step run?)")))?;
    let that = predicate::render_predicates(&a.that, &ctx.vars).map_err(invalid)?;
    let failures: Vec<String> = that
        .iter()
        .filter_map(|p| match &p.same_as {
            None => predicate::check(p, &report).err(),
            Some(other) => match ctx.probe_report(other) {
                Some(o) => predicate::same_as(p, &report, &o).err(),
                None => Some(format!("`{other}` has no report (did its probe run?)")),
            },
        })
        .collect();
    if failures.is_empty() {
        Ok(None)
    } else {
        Err(StepError::Predicate { object: None, report: Some(name.to_owned()), failures })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stdout_is_json_or_json_lines_or_text() {
        assert_eq!(parse_stdout("{\"a\": 1}\n"), json!({"a": 1}));
        assert_eq!(parse_stdout("{\"a\":1}\n\n{\"a\":2}\n"), json!([{"a": 1}, {"a": 2}]));
        assert_eq!(parse_stdout("{\"a\":1}\nnot json\n"), json!("{\"a\":1}\nnot json\n"));
        assert_eq!(parse_stdout("3"), json!(3));
        assert_eq!(parse_stdout(""), json!(""));
        assert_eq!(parse_stdout("OK\n"), json!("OK\n"));
    }
}
