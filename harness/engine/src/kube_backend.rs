//! The real step executor: kube-rs against the target cluster.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use super::backend::{Backend, CaseCtx, ObjectId, StepError};
use super::probes::{self, predicate};
use crate::cluster::wait::{self, Check};
use crate::cluster::{self, Cluster, ObjectKey, ResolvedKind, exec};
use crate::suite::model::{Apply, Assert, Delete, Disrupt, DisruptAction, ObjectRef, Probe, ProbeAction, Wait};
use crate::suite::template::{render, render_json};
use crate::suite::Step;

/// Executes steps with kube-rs; remembers what each attempt created so
/// cleanup can delete it last-created-first.
pub struct KubeBackend {
    cluster: Arc<Cluster>,
    agent_image: Option<String>,
    /// Case namespace → objects created in that attempt, in creation order.
    created: Mutex<BTreeMap<String, Vec<ObjectKey>>>,
    /// Case namespace → nodes a `drainNode` cordoned, uncordoned at cleanup.
    cordoned: Mutex<BTreeMap<String, Vec<String>>>,
    dns: Option<crate::steps::dns::DnsSettings>,
    bgp: Option<Arc<crate::steps::bgp::BgpCollector>>,
}

impl KubeBackend {
    pub fn new(cluster: Arc<Cluster>, agent_image: Option<String>) -> KubeBackend {
        KubeBackend {
            cluster,
            agent_image,
            created: Mutex::new(BTreeMap::new()),
            cordoned: Mutex::new(BTreeMap::new()),
            dns: None,
            bgp: None,
        }
    }
    /// Gives `bgpPeer` steps the run's BGP router.
    pub fn with_bgp(mut self, bgp: Option<Arc<crate::steps::bgp::BgpCollector>>) -> KubeBackend {
        self.bgp = bgp;
        self
    }

    /// Gives `dnsRecord` steps the run's DNS provider settings.
    pub fn with_dns(mut self, dns: Option<crate::steps::dns::DnsSettings>) -> KubeBackend {
        self.dns = dns;
        self
    }


    fn remember(&self, ns: &str, key: ObjectKey) {
        if let Ok(mut m) = self.created.lock() {
            m.entry(ns.to_owned()).or_default().push(key);
        }
    }

    fn take_created(&self, ns: &str) -> Vec<ObjectKey> {
        self.created
            .lock()
            .ok()
            .and_then(|mut m| m.remove(ns))
            .unwrap_or_default()
    }
}

/// Share of a probe step's time that waiting for its target may take; the
/// rest is left for the probe and its `eventually` repeats.
const TARGET_WAIT_SHARE: f32 = 0.5;

fn invalid(e: impl std::fmt::Display) -> StepError {
    StepError::invalid(e)
}

/// The object a manifest describes, as far as it says.
fn manifest_object(obj: &Value, default_namespace: &str) -> ObjectId {
    let s = |p: &str| obj.pointer(p).and_then(Value::as_str);
    ObjectId::new(
        s("/kind").unwrap_or("object"),
        Some(s("/metadata/namespace").unwrap_or(default_namespace)),
        s("/metadata/name"),
    )
}

impl From<&ObjectKey> for ObjectId {
    fn from(k: &ObjectKey) -> ObjectId {
        ObjectId::new(k.kind.resource.kind.clone(), k.namespace.as_deref(), Some(&k.name))
    }
}

/// A reference with templates rendered and its kind resolved.
/// `ref.namespace` value that lists a namespaced kind across all namespaces.
const ALL_NAMESPACES: &str = "*";

struct Target {
    kind: ResolvedKind,
    namespace: Option<String>,
    name: Option<String>,
    selector: Option<String>,
    display: String,
}

impl Target {
    fn object(&self) -> ObjectId {
        ObjectId::new(self.kind.resource.kind.clone(), self.namespace.as_deref(), self.name.as_deref())
    }
}

impl KubeBackend {
    async fn target(&self, ctx: &CaseCtx, r: &ObjectRef) -> Result<Target, StepError> {
        let v = &ctx.vars;
        let r = ObjectRef {
            api_version: r.api_version.clone(),
            kind: r.kind.clone(),
            name: r.name.as_deref().map(|s| render(s, v)).transpose().map_err(invalid)?,
            namespace: r.namespace.as_deref().map(|s| render(s, v)).transpose().map_err(invalid)?,
            label_selector: r.label_selector.as_deref().map(|s| render(s, v)).transpose().map_err(invalid)?,
        };
        let kind = self.cluster.resolve(&r.api_version, &r.kind).await.map_err(|e| {
            StepError::kube(Some(ObjectId::new(r.kind.clone(), r.namespace.as_deref(), r.name.as_deref())), e)
        })?;
        let namespace = match (kind.namespaced, r.namespace.as_deref()) {
            (false, _) => None,
            // `*` lists across every namespace (cluster-wide leftovers such
            // as pending ACME challenges); a named object needs one namespace.
            (true, Some(ALL_NAMESPACES)) if r.name.is_none() => None,
            (true, Some(ALL_NAMESPACES)) => {
                return Err(invalid(format!("namespace `{ALL_NAMESPACES}` needs a list reference (no `name`)")));
            }
            (true, ns) => Some(ns.map(str::to_owned).unwrap_or_else(|| ctx.namespace.clone())),
        };
        let display = ObjectRef {
            namespace: namespace.clone(),
            ..r.clone()
        }
        .to_string();
        Ok(Target {
            kind,
            namespace,
            name: r.name,
            selector: r.label_selector,
            display,
        })
    }

    /// The object (or `{"items": [...]}` for a list reference); `None` when
    /// a named object does not exist.
    async fn read(&self, t: &Target) -> Result<Option<Value>, StepError> {
        match &t.name {
            Some(n) => self.cluster.get(&t.kind, t.namespace.as_deref(), n).await,
            None => self
                .cluster
                .list(&t.kind, t.namespace.as_deref(), t.selector.as_deref())
                .await
                .map(Some),
        }
        .map_err(|e| StepError::kube(Some(t.object()), e))
    }

    /// Re-reads `t` every [`wait::POLL`] until `check` passes on what it
    /// finds (`None`: the object does not exist) or `timeout` expires; the
    /// timeout names `what` and the last observation.
    async fn poll(
        &self,
        t: &Target,
        timeout: Duration,
        what: &str,
        check: impl Fn(Option<Value>) -> Result<(), String>,
    ) -> Result<(), StepError> {
        wait::until(what, timeout, || async {
            Ok(match check(self.read(t).await?) {
                Ok(()) => Check::Done(()),
                Err(seen) => Check::Pending(seen),
            })
        })
        .await
        .map_err(|e: StepError| e.with_object(t.object()))
    }

    async fn apply(&self, ctx: &CaseCtx, a: &Apply) -> Result<Option<String>, StepError> {
        let docs: Vec<Value> = match (&a.manifest, &a.file) {
            (Some(Value::Array(items)), _) => items.clone(),
            (Some(one), _) => vec![one.clone()],
            (None, Some(f)) => ctx
                .fixtures
                .get(f)
                .cloned()
                .ok_or_else(|| invalid(format!("fixture `{f}` was not loaded")))?,
            (None, None) => return Err(invalid("apply has neither manifest nor file")),
        };
        let mut applied = Vec::new();
        for d in docs {
            let obj = render_json(&d, &ctx.vars).map_err(invalid)?;
            let key = self
                .cluster
                .apply(&obj, &ctx.namespace, &ctx.labels)
                .await
                .map_err(|e| StepError::kube(Some(manifest_object(&obj, &ctx.namespace)), e))?;
            applied.push(key.to_string());
            self.remember(&ctx.namespace, key);
        }
        Ok(Some(format!("applied {}", applied.join(", "))))
    }

    async fn delete(&self, ctx: &CaseCtx, d: &Delete, timeout: Duration) -> Result<Option<String>, StepError> {
        let t = self.target(ctx, &d.target).await?;
        let Some(name) = t.name.clone() else {
            return Err(invalid("delete needs ref.name"));
        };
        let key = ObjectKey {
            kind: t.kind.clone(),
            namespace: t.namespace.clone(),
            name,
        };
        let existed = self
            .cluster
            .delete(&key)
            .await
            .map_err(|e| StepError::kube(Some((&key).into()), e))?;
        if d.wait {
            self.poll(&t, timeout, &format!("{} to be deleted", t.display), |o| match o {
                None => Ok(()),
                Some(_) => Err("still present".to_owned()),
            })
            .await?;
        }
        Ok(Some(if existed { format!("deleted {}", t.display) } else { format!("{} was already gone", t.display) }))
    }

    async fn wait(&self, ctx: &CaseCtx, w: &Wait, timeout: Duration) -> Result<Option<String>, StepError> {
        let t = self.target(ctx, &w.target).await?;
        let field = match &w.field {
            Some(f) => predicate::render_predicates(std::slice::from_ref(f), &ctx.vars).map_err(invalid)?.pop(),
            None => None,
        };
        let w = &Wait { field, ..w.clone() };
        let what = if let Some(c) = &w.condition {
            format!("{} condition {}={}", t.display, c.type_, c.status)
        } else if w.deleted == Some(true) {
            format!("{} to be deleted", t.display)
        } else if let Some(f) = &w.field {
            format!("{} field {}", t.display, f.path)
        } else {
            return Err(invalid("wait has no condition, field or deleted"));
        };
        self.poll(&t, timeout, &what, |obj| match (obj, &w.condition, &w.field) {
            (None, _, _) if w.deleted == Some(true) => Ok(()),
            (Some(_), _, _) if w.deleted == Some(true) => Err("still present".into()),
            (None, _, _) => Err("object does not exist".into()),
            (Some(o), Some(c), _) => predicate::condition(c, &o),
            (Some(o), None, Some(f)) => predicate::check(f, &o),
            (Some(_), None, None) => Err("nothing to wait for".into()),
        })
        .await?;
        Ok(None)
    }

    async fn assert(&self, ctx: &CaseCtx, a: &Assert, timeout: Duration) -> Result<Option<String>, StepError> {
        if let Some(name) = &a.probe {
            self.collect_background(ctx, name, timeout).await?;
            // A probe or exec report is final: no point polling it.
            return crate::steps::exec::check_report(ctx, a);
        }
        let that = predicate::render_predicates(&a.that, &ctx.vars).map_err(invalid)?;
        let a = &Assert { that, ..a.clone() };
        let Some(r) = &a.target else {
            return Err(invalid("assert has neither ref nor probe"));
        };
        let t = self.target(ctx, r).await?;
        let what = format!("{} to satisfy {} predicate(s)", t.display, a.that.len());
        self.poll(&t, timeout, &what, |obj| {
            let Some(obj) = obj else {
                return Err("object does not exist".into());
            };
            let errs: Vec<String> = a.that.iter().filter_map(|p| predicate::check(p, &obj).err()).collect();
            if errs.is_empty() { Ok(()) } else { Err(errs.join("; ")) }
        })
        .await?;
        Ok(None)
    }

    async fn probe(&self, ctx: &CaseCtx, p: &Probe, timeout: Duration) -> Result<Option<String>, StepError> {
        let Some(image) = &self.agent_image else {
            return Err(StepError::Unavailable { what: "probe agent image" });
        };
        let started = Instant::now();
        let own_pod = match &p.pod {
            Some(name) => Some(render(name, &ctx.vars).map_err(invalid)?),
            None => None,
        };
        let pod = ObjectId::pod(&ctx.namespace, own_pod.as_deref().unwrap_or(exec::AGENT_POD));
        match &own_pod {
            // The case started that pod itself; wait until it can be exec'd.
            Some(name) => self.cluster.wait_pod_ready(&ctx.namespace, name, timeout).await,
            // The agent pod is created on first use and shared by the case's probes.
            None => self.cluster.ensure_agent(&ctx.namespace, image, &ctx.labels, timeout).await,
        }
        .map_err(|e| StepError::kube(Some(pod.clone()), e))?;
        let mut action = probes::render::render_action(&p.action, &ctx.vars)?;
        if let crate::suite::model::ProbeAction::Capture(c) = &mut action {
            let left = timeout.saturating_sub(started.elapsed());
            let ips = self.between_pods_ips(ctx, &c.between_pods, left).await?;
            c.filter_ips.extend(ips);
            if let Some(pod) = c.route_to_node_of.clone() {
                let left = timeout.saturating_sub(started.elapsed());
                c.route_to = Some(self.node_ip_of(ctx, &pod, left).await?);
            }
        }
        if p.wait_for_target {
            let left = timeout.saturating_sub(started.elapsed());
            self.wait_for_target(ctx, &action, left.mul_f32(TARGET_WAIT_SHARE)).await?;
        }
        let remaining = timeout.saturating_sub(started.elapsed()).max(Duration::from_secs(1));
        let argv = crate::probes::argv::agent_argv(&action, remaining.min(Duration::from_secs(10)));
        // One way to run the agent command, for the first attempt (which may
        // go to the background) and every repeat.
        let exec = |argv| {
            let (cluster, namespace, own_pod) = (self.cluster.clone(), ctx.namespace.clone(), own_pod.clone());
            async move {
                match own_pod {
                    Some(name) => cluster.exec_agent_in(&namespace, &name, argv).await,
                    None => cluster.exec_agent(&namespace, argv).await,
                }
            }
        };
        let run = exec(argv);
        if p.background {
            let name = p.name.clone().ok_or_else(|| invalid("a background probe needs a name"))?;
            let handle = tokio::spawn(run);
            if let Ok(mut b) = ctx.background.lock() {
                b.insert(name, super::backend::BackgroundProbe { handle, probe: p.clone(), pod });
            }
            return Ok(Some("started in the background".into()));
        }
        let mut report = run.await.map_err(|e| StepError::kube(Some(pod.clone()), e))?;
        // Converging, not racing: repeat until the verdict holds or the
        // probe's `eventually` (within the step timeout) runs out.
        let until = started + p.eventually().min(timeout.saturating_sub(started.elapsed()));
        let mut attempts = 1u32;
        while !probes::outcome::verdict_holds(p, &report) && Instant::now() + Duration::from_secs(1) < until {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let argv = crate::probes::argv::agent_argv(&action, until.saturating_duration_since(Instant::now()).clamp(Duration::from_secs(1), Duration::from_secs(10)));
            report = exec(argv).await.map_err(|e| StepError::kube(Some(pod.clone()), e))?;
            attempts += 1;
        }
        if attempts > 1 && let Some(o) = report.as_object_mut() {
            o.insert("probeAttempts".into(), serde_json::json!(attempts));
        }
        probes::outcome::finish_probe(ctx, p, report)
    }

    /// Waits until the probe's target can answer (a Service with a ready
    /// endpoint, a Ready pod), for every probe rather than case by case.
    /// Hosts the cluster does not know (nodes, lab hosts, Gateway names)
    /// are not waited for.
    async fn wait_for_target(&self, ctx: &CaseCtx, action: &ProbeAction, timeout: Duration) -> Result<(), StepError> {
        let Some((host, _)) = action.target() else { return Ok(()) };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let target = match host.parse::<std::net::IpAddr>() {
            Ok(ip) => self.cluster.target_by_ip(&ctx.namespace, ip).await?,
            Err(_) => crate::cluster::targets::service_name(host, &ctx.namespace)
                .map(|(namespace, name)| crate::cluster::targets::ProbeTarget::Service { namespace, name }),
        };
        let Some(target) = target else { return Ok(()) };
        // The timeout names the target and what was last seen.
        self.cluster.wait_target_ready(&target, timeout).await.map_err(|e| StepError::kube(None, e))
    }

    /// The IPv4 pod IPs of the named case pods, waiting (up to `timeout`)
    /// for each to be assigned one.
    async fn between_pods_ips(&self, ctx: &CaseCtx, names: &[String], timeout: Duration) -> Result<Vec<String>, StepError> {
        let mut out = Vec::new();
        for name in names {
            let ips = self
                .wait_pod_status(ctx, name, timeout, "an IPv4 pod IP", "no IPv4 in status.podIPs yet", |s| {
                    Some(exec::pod_ipv4s(s)).filter(|ips| !ips.is_empty())
                })
                .await?;
            out.extend(ips);
        }
        Ok(out)
    }

    /// The node address of a case pod, waiting (up to `timeout`) for it to
    /// be scheduled.
    async fn node_ip_of(&self, ctx: &CaseCtx, name: &str, timeout: Duration) -> Result<String, StepError> {
        self.wait_pod_status(ctx, name, timeout, "a status.hostIP", "not scheduled yet", exec::host_ip).await
    }

    /// Polls the status of case pod `name` until `read` finds a value.
    async fn wait_pod_status<T>(
        &self,
        ctx: &CaseCtx,
        name: &str,
        timeout: Duration,
        wanted: &str,
        pending: &str,
        read: impl Fn(&k8s_openapi::api::core::v1::PodStatus) -> Option<T>,
    ) -> Result<T, StepError> {
        self.cluster
            .wait_pod_status(&ctx.namespace, name, timeout, wanted, pending, read)
            .await
            .map_err(|e| StepError::kube(Some(ObjectId::pod(&ctx.namespace, name)), e))
    }

    /// Waits (up to `timeout`) for the background probe `name` and records
    /// its report like a foreground probe's.
    async fn collect_background(&self, ctx: &CaseCtx, name: &str, timeout: Duration) -> Result<(), StepError> {
        let Some(bg) = ctx.take_background(name) else {
            return Ok(());
        };
        let mut handle = bg.handle;
        let joined = match tokio::time::timeout(timeout, &mut handle).await {
            Ok(j) => j,
            Err(_) => {
                handle.abort();
                return Err(StepError::TimedOut {
                    what: format!("background probe `{name}` to report"),
                    after: timeout,
                    last_seen: None,
                });
            }
        };
        let report = joined
            .map_err(|source| StepError::BackgroundProbe { name: name.to_owned(), source })?
            .map_err(|e| StepError::kube(Some(bg.pod.clone()), e))?;
        probes::outcome::finish_probe(ctx, &bg.probe, report).map(|_| ())
    }

    async fn bgp_peer(
        &self,
        ctx: &CaseCtx,
        b: &crate::suite::model::BgpPeer,
        timeout: Duration,
    ) -> Result<Option<String>, StepError> {
        let Some(collector) = &self.bgp else {
            return Err(StepError::Unavailable { what: "BGP router" });
        };
        let started = Instant::now();
        let pod_cidrs = if b.pod_cidrs_from_nodes { self.node_pod_cidrs().await? } else { Vec::new() };
        crate::steps::bgp::peer_step(ctx, b, collector, pod_cidrs, timeout.saturating_sub(started.elapsed())).await
    }

    /// Every node's IPv4 pod CIDRs (what each node must advertise).
    async fn node_pod_cidrs(&self) -> Result<Vec<ipnet::Ipv4Net>, StepError> {
        let nodes: kube::Api<k8s_openapi::api::core::v1::Node> = kube::Api::all(self.cluster.client().clone());
        let list = nodes
            .list(&Default::default())
            .await
            .map_err(|e| StepError::kube(None, cluster::Error::from_kube("list nodes", e)))?;
        Ok(list
            .items
            .iter()
            .flat_map(|n| n.spec.iter().flat_map(|s| s.pod_cidrs.iter().flatten()))
            .filter_map(|c| c.parse().ok())
            .collect())
    }

    async fn dns_record(
        &self,
        ctx: &CaseCtx,
        d: &crate::suite::model::DnsRecord,
        timeout: Duration,
    ) -> Result<Option<String>, StepError> {
        let Some(settings) = &self.dns else {
            return Err(StepError::Unavailable { what: "DNS provider settings" });
        };
        let r = |s: &str| render(s, &ctx.vars).map_err(invalid);
        let mut d = d.clone();
        d.record = r(&d.record)?;
        if let Some(c) = &d.content {
            d.content = Some(r(c)?);
        }
        let out = crate::steps::dns::execute(settings, &d, timeout).await?;
        if let Some(metric) = &d.metric {
            let ms = out.elapsed.as_secs_f64() * 1000.0;
            ctx.record_perf(metric, None, "ms", false, &serde_json::json!({ "samples": [ms] }));
        }
        Ok(Some(out.note))
    }

    async fn disrupt(&self, ctx: &CaseCtx, d: &Disrupt, timeout: Duration) -> Result<Option<String>, StepError> {
        let r = |s: &str| render(s, &ctx.vars).map_err(invalid);
        match &d.action {
            DisruptAction::DeletePod(dp) => {
                let node = match &dp.same_node_as {
                    Some(pod) => Some(self.node_of(ctx, &r(pod)?).await?),
                    None => None,
                };
                let ns = r(&dp.namespace)?;
                let deleted = self
                    .cluster
                    .delete_one_pod(&ns, &r(&dp.label_selector)?, node.as_deref())
                    .await
                    .map_err(|e| StepError::kube(Some(ObjectId::new("Pod", Some(&ns), None)), e))?;
                Ok(Some(format!("deleted pod {ns}/{deleted}")))
            }
            DisruptAction::DrainNode(dn) => {
                let node = self.node_of(ctx, &r(&dn.same_node_as)?).await?;
                // Remember before cordoning: cleanup must undo even a half-done drain.
                if let Ok(mut c) = self.cordoned.lock() {
                    c.entry(ctx.namespace.clone()).or_default().push(node.clone());
                }
                let on_node = |e| StepError::kube(Some(ObjectId::node(&node)), e);
                self.cluster.cordon(&node).await.map_err(on_node)?;
                let n = self.cluster.evict_node(&node, timeout).await.map_err(on_node)?;
                Ok(Some(format!("cordoned node {node}, evicted {n} pod(s)")))
            }
            DisruptAction::Scale(sc) => {
                let t = self.target(ctx, &sc.target).await?;
                let name = t.name.as_deref().ok_or_else(|| invalid("scale needs ref.name"))?;
                self.cluster
                    .scale(&t.kind, t.namespace.as_deref(), name, sc.replicas)
                    .await
                    .map_err(|e| StepError::kube(Some(t.object()), e))?;
                Ok(Some(format!("scaled {} to {}", t.display, sc.replicas)))
            }
            DisruptAction::BgpSessionReset(_) => match &self.bgp {
                Some(collector) => Ok(Some(crate::steps::bgp::reset_step(collector).await)),
                None => Err(StepError::Unavailable { what: "BGP router" }),
            },
        }
    }

    /// The node case pod `pod` runs on.
    async fn node_of(&self, ctx: &CaseCtx, pod: &str) -> Result<String, StepError> {
        self.cluster
            .node_of(&ctx.namespace, pod)
            .await
            .map_err(|e| StepError::kube(Some(ObjectId::pod(&ctx.namespace, pod)), e))
    }
}


impl Backend for KubeBackend {
    async fn node_count(&self, timeout: Duration) -> Result<Option<u32>, StepError> {
        let nodes: kube::Api<k8s_openapi::api::core::v1::Node> = kube::Api::all(self.cluster.client().clone());
        let list = async {
            nodes
                .list_metadata(&Default::default())
                .await
                .map_err(|e| cluster::Error::from_kube("list nodes", e))
        };
        let listed = wait::within("the list of nodes", timeout, list).await?;
        Ok(Some(listed.items.len() as u32))
    }

    async fn setup(&self, ctx: &CaseCtx, timeout: Duration) -> Result<(), StepError> {
        let what = format!("namespace {} to be created", ctx.namespace);
        let created = wait::within(&what, timeout, self.cluster.ensure_namespace(&ctx.namespace, &ctx.labels))
            .await
            .map_err(|e| StepError::kube(Some(ObjectId::new("Namespace", None, Some(&ctx.namespace))), e))?;
        self.remember(&ctx.namespace, created);
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(case = %ctx.id, step = %step.display_name()))]
    async fn run_step(&self, ctx: &CaseCtx, step: &Step, timeout: Duration) -> Result<Option<String>, StepError> {
        let work = async {
            match step {
                Step::Apply(a) => self.apply(ctx, a).await,
                Step::Delete(d) => self.delete(ctx, d, timeout).await,
                Step::Wait(w) => self.wait(ctx, w, timeout).await,
                Step::Assert(a) => self.assert(ctx, a, timeout).await,
                Step::Probe(p) => self.probe(ctx, p, timeout).await,
                Step::Disrupt(d) => self.disrupt(ctx, d, timeout).await,
                Step::DnsRecord(d) => self.dns_record(ctx, d, timeout).await,
                Step::BgpPeer(b) => self.bgp_peer(ctx, b, timeout).await,
                Step::Exec(e) => crate::steps::exec::run(&*self.cluster, ctx, e, timeout).await,
            }
        };
        // Waits and asserts stop at `timeout` themselves with a message that
        // says what they last saw; this guard (a little later, so it never
        // pre-empts them) bounds the steps that have no inner deadline.
        match tokio::time::timeout(timeout + Duration::from_millis(500), work).await {
            Ok(r) => r,
            Err(_) => Err(StepError::DidNotFinish {
                what: step.display_name(),
                within: timeout,
            }),
        }
    }

    #[tracing::instrument(skip_all, fields(case = %ctx.id, namespace = %ctx.namespace))]
    async fn cleanup(&self, ctx: &CaseCtx, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        let mut errors = Vec::new();
        ctx.abort_background();
        // Give drained nodes back first: the cluster matters more than our objects.
        let nodes = self.cordoned.lock().ok().and_then(|mut c| c.remove(&ctx.namespace)).unwrap_or_default();
        for node in nodes {
            if let Err(e) = self.cluster.uncordon(&node).await {
                errors.push(format!("uncordon node {node}: {e}"));
            }
        }
        // Last created first: dependents go before what they depend on, and
        // the namespace (created first) goes last.
        for key in self.take_created(&ctx.namespace).into_iter().rev() {
            if let Err(e) = self.cluster.delete(&key).await {
                errors.push(format!("{key}: {e}"));
            }
        }
        // Then anything else labelled with this case that a step created
        // indirectly or that was applied before a panic was recorded.
        let selector = format!(
            "{}={},{}={}",
            cluster::RUN_ID,
            ctx.run_id,
            cluster::CASE,
            ctx.labels.get(cluster::CASE).map(String::as_str).unwrap_or_default()
        );
        let remaining = deadline.saturating_duration_since(Instant::now()).max(Duration::from_secs(1));
        if let Err(e) = self.cluster.delete_labelled(&selector, remaining).await {
            errors.push(e.to_string());
        }
        if errors.is_empty() { Ok(()) } else { Err(errors.join("; ")) }
    }
}
