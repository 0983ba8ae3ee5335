//! Executes a [`Plan`] (`up`) and removes what it created (`down`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use base64::Engine as _;
use infraflux_kube::{Cluster, MANAGED_BY, MANAGER, ResolvedKind};
use infraflux_model::results::{Outcome as CaseOutcome, PhaseResult, StepResult};
use infraflux_model::secret;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::helm::Helm;
use crate::plan::{Apply, Plan, Release, SecretStep, Step, Wait, WaitFor};
use crate::progress::PhaseProgress;
use crate::record::{self, Record};
use crate::{Error, INSTALL_LABEL, Options, PHASE_LABEL, Result, diagnostics};

/// Phase names in install order, for `down` (which needs no plan).
/// `flux` and `gitops` come last: `down` removes the GitOps handover before
/// anything it reconciled.
pub const PHASES: [&str; 8] = ["gateway-api-crds", "cilium", "cert-manager", "sealed-secrets", "external-dns", "custom-resources", "flux", "gitops"];

/// Selects every object any install phase created (and nothing the suites'
/// runs create: those carry no phase label).
pub fn installed_selector() -> String {
    format!("{MANAGED_BY}={MANAGER},{PHASE_LABEL}")
}

/// How `up` went.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub phases: Vec<PhaseResult>,
    /// Objects and releases created or changed; 0 on a repeated `up`.
    pub changed: usize,
    /// The diagnostics bundle, when one was written.
    pub diagnostics: Option<PathBuf>,
    /// `up` was interrupted; what it created so far is recorded for `down`.
    pub cancelled: bool,
}

impl Outcome {
    pub fn failed(&self) -> bool {
        self.cancelled || self.phases.iter().any(|p| p.outcome.is_failure())
    }
}

/// What happened to one step.
enum Done {
    /// Created or changed something (the message says what).
    Changed(String),
    Unchanged(String),
    Skipped(String),
}

struct StepError {
    message: String,
    timed_out: bool,
}

impl From<Error> for StepError {
    fn from(e: Error) -> Self {
        let timed_out = matches!(&e, Error::Cluster(infraflux_kube::Error::Timeout { .. }));
        StepError { message: secret::redact(&chain(&e)), timed_out }
    }
}

impl From<infraflux_kube::Error> for StepError {
    fn from(e: infraflux_kube::Error) -> Self {
        Error::Cluster(e).into()
    }
}

impl From<crate::helm::HelmError> for StepError {
    fn from(e: crate::helm::HelmError) -> Self {
        Error::Helm(e).into()
    }
}

/// The error and its sources, `: `-joined.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

struct Ctx<'a> {
    cluster: &'a Cluster,
    helm: &'a Helm,
    opts: &'a Options,
    labels: BTreeMap<String, String>,
    record: Record,
    staging: tempfile::TempDir,
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Installs the plan. Phases run in order and stop at the first failure
/// (later phases are reported as skipped); cancellation stops between and
/// inside steps (a running helm is killed) and leaves the install record
/// for `down`. Only an unusable cluster is an `Err`.
pub async fn up(cluster: &Cluster, helm: &Helm, plan: &Plan, opts: &Options, cancel: &CancellationToken) -> Result<Outcome> {
    let mut base = BTreeMap::new();
    base.insert(MANAGED_BY.to_owned(), MANAGER.to_owned());
    base.insert(INSTALL_LABEL.to_owned(), plan.profile.clone());
    let staging = tempfile::Builder::new()
        .prefix("infraflux-charts-")
        .tempdir()
        .map_err(|source| Error::Read { path: std::env::temp_dir(), source })?;
    let mut ctx = Ctx {
        cluster,
        helm,
        opts,
        labels: base,
        record: record::read(cluster).await?.unwrap_or_default(),
        staging,
    };
    let mut out = Outcome { phases: Vec::new(), changed: 0, diagnostics: None, cancelled: false };
    let mut stop: Option<String> = None;
    for phase in &plan.phases {
        let id = format!("install::{}", phase.name);
        if let Some(why) = &stop {
            out.phases.push(PhaseResult {
                id,
                phase: phase.name.clone(),
                outcome: CaseOutcome::Skipped { reason: why.clone() },
                duration_ms: 0,
                steps: Vec::new(),
                diagnostics: None,
            });
            continue;
        }
        let started = Instant::now();
        let mut progress = PhaseProgress::start(&phase.name, opts.progress);
        ctx.labels.insert(PHASE_LABEL.to_owned(), phase.name.clone());
        let mut steps = Vec::new();
        let mut outcome = CaseOutcome::Passed;
        for step in &phase.steps {
            let (kind, name) = describe(step);
            progress.doing(&format!("{kind} {name}"));
            let t0 = Instant::now();
            let result = tokio::select! {
                r = run_step(&mut ctx, step) => r,
                () = cancel.cancelled() => Err(StepError { message: "interrupted; run `infraflux down` to remove what was created".into(), timed_out: false }),
            };
            let (status, message) = match &result {
                Ok(Done::Changed(m)) => {
                    out.changed += 1;
                    if kind == "apply" || kind == "namespace" || kind == "secret" {
                        progress.applied(&name);
                    }
                    ("passed", m.clone())
                }
                Ok(Done::Unchanged(m)) => ("passed", m.clone()),
                Ok(Done::Skipped(m)) => ("skipped", m.clone()),
                Err(e) if e.timed_out => ("timedOut", e.message.clone()),
                Err(e) => ("failed", e.message.clone()),
            };
            tracing::info!(phase = %phase.name, "{kind} {name}: {status}: {message}");
            steps.push(StepResult {
                name: format!("{kind} {name}"),
                kind: kind.to_owned(),
                status: status.to_owned(),
                duration_ms: ms(t0.elapsed()),
                message: Some(message.clone()),
            });
            if let Err(e) = result {
                outcome = CaseOutcome::Failed { step: Some(format!("{kind} {name}")), message: e.message.clone() };
                if cancel.is_cancelled() {
                    out.cancelled = true;
                    stop = Some("`up` was interrupted".into());
                } else {
                    stop = Some(format!("phase `{}` failed", phase.name));
                }
                break;
            }
        }
        progress.finish(match &outcome {
            CaseOutcome::Passed => "done",
            _ => "FAILED",
        });
        out.phases.push(PhaseResult {
            id,
            phase: phase.name.clone(),
            outcome,
            duration_ms: ms(started.elapsed()),
            steps,
            diagnostics: None,
        });
    }
    if let Some(dir) = &opts.diagnostics_dir
        && (out.failed() || opts.always_collect)
    {
        // Collected on a fresh deadline: an interrupted `up` still explains itself.
        let written = diagnostics::collect(cluster, helm, plan, &out.phases, dir).await?;
        let rel = written.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        for p in out.phases.iter_mut().filter(|p| p.outcome.is_failure()) {
            p.diagnostics = Some(rel.clone());
        }
        out.diagnostics = Some(written);
    }
    Ok(out)
}

fn describe(step: &Step) -> (&'static str, String) {
    match step {
        Step::Namespace(n) => ("namespace", n.clone()),
        Step::Apply(a) => ("apply", a.describe()),
        Step::Secret(s) => ("secret", format!("{}/{}", s.namespace, s.name)),
        Step::Helm(r) => ("helm", format!("{} {}", r.release, r.version)),
        Step::Wait(w) => ("wait", w.name.clone()),
        Step::Skip { what, .. } => ("skip", what.clone()),
    }
}

async fn run_step(ctx: &mut Ctx<'_>, step: &Step) -> std::result::Result<Done, StepError> {
    match step {
        Step::Namespace(name) => {
            let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
            apply_owned(ctx, &ns).await
        }
        Step::Apply(a) => apply_step(ctx, a).await,
        Step::Secret(s) => secret_step(ctx, s).await,
        Step::Helm(r) => helm_step(ctx, r).await,
        Step::Wait(w) => wait_step(ctx, w).await,
        Step::Skip { why, .. } => Ok(Done::Skipped(why.clone())),
    }
}

fn is_ours(obj: &Value) -> bool {
    obj.pointer(&format!("/metadata/labels/{}", MANAGED_BY.replace('/', "~1"))).and_then(Value::as_str) == Some(MANAGER)
}

fn resource_version(obj: &Value) -> Option<String> {
    obj.pointer("/metadata/resourceVersion").and_then(Value::as_str).map(str::to_owned)
}

/// Applies `obj` unless an object of that name exists that InfraFlux did
/// not create; says whether anything changed (resourceVersion moved).
async fn apply_owned(ctx: &Ctx<'_>, obj: &Value) -> std::result::Result<Done, StepError> {
    let s = |p: &str| obj.pointer(p).and_then(Value::as_str).unwrap_or("").to_owned();
    let kind = ctx.cluster.resolve(&s("/apiVersion"), &s("/kind")).await?;
    let ns = if kind.namespaced { obj.pointer("/metadata/namespace").and_then(Value::as_str) } else { None };
    let name = s("/metadata/name");
    let before = ctx.cluster.get(&kind, ns, &name).await?;
    if let Some(b) = &before
        && !is_ours(b)
    {
        return Ok(Done::Skipped("present, not created by infraflux: left as is".into()));
    }
    if let Some(b) = &before
        && is_subset(&with_labels(obj, &ctx.labels), b)
    {
        // Already as desired: no request at all, so nothing moves. (A
        // no-op server-side apply is not always one: some kinds get their
        // managedFields or resourceVersion bumped anyway.)
        return Ok(Done::Unchanged("unchanged".into()));
    }
    let key = ctx.cluster.apply(obj, ns.unwrap_or("default"), &ctx.labels).await?;
    let after = ctx.cluster.get(&key.kind, key.namespace.as_deref(), &key.name).await?;
    Ok(match (before.as_ref().and_then(resource_version), after.as_ref().and_then(resource_version)) {
        (None, _) => Done::Changed("created".into()),
        (Some(a), Some(b)) if a == b => Done::Unchanged("unchanged".into()),
        _ => {
            let mut paths = Vec::new();
            if let (Some(b), Some(a)) = (&before, &after) {
                diff_paths("", b, a, &mut paths);
            }
            Done::Changed(format!("updated ({})", paths.join(", ")))
        }
    })
}

fn with_labels(obj: &Value, labels: &BTreeMap<String, String>) -> Value {
    let mut o = obj.clone();
    if let Some(meta) = o.pointer_mut("/metadata").and_then(Value::as_object_mut) {
        let entry = meta.entry("labels").or_insert_with(|| Value::Object(Default::default()));
        if let Some(m) = entry.as_object_mut() {
            for (k, v) in labels {
                m.insert(k.clone(), Value::String(v.clone()));
            }
        }
    }
    o
}

/// True when every field `want` sets has that value in `have` (which may
/// carry more: defaults, status, other managers' fields).
fn is_subset(want: &Value, have: &Value) -> bool {
    match (want, have) {
        (Value::Object(w), Value::Object(h)) => w.iter().all(|(k, v)| h.get(k).is_some_and(|hv| is_subset(v, hv))),
        (Value::Array(w), Value::Array(h)) => w.len() == h.len() && w.iter().zip(h).all(|(a, b)| is_subset(a, b)),
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        _ => want == have,
    }
}

/// Paths whose values differ (bookkeeping fields aside), at most eight.
fn diff_paths(at: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
    if out.len() >= 8 || a == b || matches!(at, "/metadata/resourceVersion" | "/metadata/generation") {
        return;
    }
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for k in x.keys().chain(y.keys().filter(|k| !x.contains_key(*k))) {
                let null = Value::Null;
                diff_paths(&format!("{at}/{k}"), x.get(k).unwrap_or(&null), y.get(k).unwrap_or(&null), out);
            }
        }
        _ => out.push(at.to_owned()),
    }
}

async fn apply_step(ctx: &Ctx<'_>, a: &Apply) -> std::result::Result<Done, StepError> {
    if let (true, Some(why)) = (ctx.opts.control_plane_only, a.needs_datapath) {
        return Ok(Done::Skipped(format!("control-plane-only cluster: {why}")));
    }
    apply_owned(ctx, &a.object).await
}

async fn secret_step(ctx: &Ctx<'_>, s: &SecretStep) -> std::result::Result<Done, StepError> {
    let value = s.from.resolve().map_err(|source| Error::Token { secret: format!("{}/{}", s.namespace, s.name), source })?;
    let data = base64::engine::general_purpose::STANDARD.encode(value.expose());
    let obj = json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": s.name, "namespace": s.namespace},
        "type": "Opaque",
        "data": {s.key.clone(): data},
    });
    apply_owned(ctx, &obj).await
}

async fn helm_step(ctx: &mut Ctx<'_>, r: &Release) -> std::result::Result<Done, StepError> {
    let deployed = ctx.helm.deployed(&r.release, &r.namespace).await?;
    let recorded = ctx.record.contains(&r.release, &r.namespace);
    if deployed.is_some() && !recorded {
        return Ok(Done::Skipped(format!(
            "release {}/{} present, not installed by infraflux: left as is",
            r.namespace, r.release
        )));
    }
    let chart = format!("{}-{}", r.chart.chart.name(), r.version);
    if let Some(d) = &deployed
        && d.status == "deployed"
        && d.chart == chart
        && ctx.helm.values(&r.release, &r.namespace).await? == r.values
    {
        return Ok(Done::Unchanged(format!("{chart} deployed with values {}", r.values_digest)));
    }
    if !recorded {
        // Recorded first: an interrupted install must still be found by `down`.
        ctx.record.releases.push(record::Entry { release: r.release.clone(), namespace: r.namespace.clone() });
        let mut labels = ctx.labels.clone();
        labels.remove(PHASE_LABEL);
        record::write(ctx.cluster, &ctx.record, &labels).await?;
    }
    let dir = crate::helm::prepare_chart(&r.chart, ctx.staging.path())?;
    let values = ctx.staging.path().join(format!("{}-values.yaml", r.release));
    std::fs::write(&values, &r.values_yaml).map_err(|source| Error::Read { path: values.clone(), source })?;
    ctx.helm.upgrade_install(&r.release, &r.namespace, &dir, &values).await?;
    Ok(Done::Changed(match deployed {
        None => format!("installed {chart}, values {}", r.values_digest),
        Some(d) => format!("upgraded {} ({}) to {chart}, values {}", d.chart, d.status, r.values_digest),
    }))
}

async fn wait_step(ctx: &Ctx<'_>, w: &Wait) -> std::result::Result<Done, StepError> {
    if let (true, Some(why)) = (ctx.opts.control_plane_only, w.needs_datapath) {
        return Ok(Done::Skipped(format!("control-plane-only cluster: {why}")));
    }
    let c = ctx.cluster;
    match &w.what {
        WaitFor::CrdsEstablished(names) => {
            c.wait_crds_established(names, w.timeout).await?;
            Ok(Done::Unchanged(format!("{} CRD(s) Established", names.len())))
        }
        WaitFor::Rollouts { release, namespace } => {
            let manifest = ctx.helm.manifest(release, namespace).await?;
            let docs = infraflux_model::yaml::parse_str(&format!("release {release}"), &manifest)
                .map_err(|e| Error::Parse { what: format!("the manifest of release {release}"), message: e.to_string() })?;
            let deadline = Instant::now() + w.timeout;
            let mut n = 0;
            for d in docs {
                let o = d.root.to_json();
                let kind = o.get("kind").and_then(Value::as_str).unwrap_or("");
                if !matches!(kind, "Deployment" | "DaemonSet" | "StatefulSet") {
                    continue;
                }
                let name = o.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
                let ns = o.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or(namespace);
                let k: ResolvedKind = c.resolve("apps/v1", kind).await?;
                c.wait_rollout(&k, ns, name, deadline.saturating_duration_since(Instant::now())).await?;
                n += 1;
            }
            Ok(Done::Unchanged(format!("{n} workload(s) rolled out")))
        }
        WaitFor::Rollout { kind, namespace, name } => {
            let k: ResolvedKind = c.resolve("apps/v1", kind).await?;
            c.wait_rollout(&k, namespace, name, w.timeout).await?;
            Ok(Done::Unchanged("rolled out".into()))
        }
        WaitFor::Condition { api_version, kind, namespace, name, type_, status } => {
            let k = c.resolve(api_version, kind).await?;
            c.wait_condition(&k, namespace.as_deref(), name, type_, status, w.timeout).await?;
            Ok(Done::Unchanged(format!("{type_}={status}")))
        }
    }
}

/// What `down` removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Removed {
    pub releases: Vec<String>,
    pub objects: usize,
}

/// Removes what `up` created, in reverse phase order: per phase the Helm
/// releases the install record lists, then the objects labelled with that
/// phase; the record last. Bounded by `timeout` per phase; safe to run
/// twice (a second run finds nothing).
pub async fn down(cluster: &Cluster, helm: &Helm, timeout: Duration) -> Result<Removed> {
    let record = record::read(cluster).await?.unwrap_or_default();
    let mut removed = Removed::default();
    for phase in PHASES.iter().rev() {
        for e in record.releases.iter().rev().filter(|e| e.release == *phase) {
            if helm.uninstall(&e.release, &e.namespace).await? {
                removed.releases.push(format!("{}/{}", e.namespace, e.release));
            }
        }
        let selector = format!("{MANAGED_BY}={MANAGER},{PHASE_LABEL}={phase}");
        removed.objects += cluster.delete_labelled(&selector, timeout).await?;
    }
    // Releases recorded under a phase this version does not know.
    for e in record.releases.iter().rev().filter(|e| !PHASES.contains(&e.release.as_str())) {
        if helm.uninstall(&e.release, &e.namespace).await? {
            removed.releases.push(format!("{}/{}", e.namespace, e.release));
        }
    }
    removed.objects += cluster.delete_labelled(&installed_selector(), timeout).await?;
    record::delete(cluster).await?;
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_object_with_defaults_and_status_satisfies_what_was_applied() {
        let want = json!({"kind": "X", "metadata": {"name": "a"}, "spec": {"ports": [{"port": 80}], "mode": "Yes"}});
        let have = json!({"kind": "X", "metadata": {"name": "a", "uid": "u"}, "spec": {"ports": [{"port": 80, "protocol": "TCP"}], "mode": "Yes", "extra": 1}, "status": {}});
        assert!(is_subset(&want, &have));
        let changed = json!({"kind": "X", "metadata": {"name": "a"}, "spec": {"ports": [{"port": 81}], "mode": "Yes"}});
        assert!(!is_subset(&changed, &have));
        let more = json!({"kind": "X", "metadata": {"name": "a"}, "spec": {"ports": [{"port": 80}, {"port": 443}]}});
        assert!(!is_subset(&more, &have), "a list of a different length is a change");
        let mut labels = BTreeMap::new();
        labels.insert(MANAGED_BY.to_owned(), MANAGER.to_owned());
        assert!(!is_subset(&with_labels(&want, &labels), &have), "missing labels are a change");
    }
}
