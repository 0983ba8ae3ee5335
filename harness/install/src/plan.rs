//! The ordered install plan, built from the rendered stack without touching
//! a cluster: what `--dry-run` prints and what [`crate::run::up`] executes.

use std::path::PathBuf;
use std::time::Duration;

use infraflux_model::profile::{GatewayApiChannel, Profile};
use infraflux_model::secret::SecretRef;
use infraflux_stack::charts::{self, Chart, ChartDir};
use serde_json::Value;
use sha2::Digest as _;

use crate::{Error, Options, Result, human};

/// The plan: phases in install order.
#[derive(Debug, Clone)]
pub struct Plan {
    pub profile: String,
    /// The registry mirror every chart's images come from, if any.
    pub image_registry: Option<String>,
    pub phases: Vec<Phase>,
}

#[derive(Debug, Clone)]
pub struct Phase {
    /// `gateway-api-crds`, `cilium`, …; the JUnit testcase is `install::<name>`.
    pub name: String,
    pub steps: Vec<Step>,
}

/// One action of a phase.
#[derive(Debug, Clone)]
pub enum Step {
    /// Create the namespace (labelled) unless it exists; an existing one is
    /// used and never deleted by `down`.
    Namespace(String),
    /// Server-side apply one object.
    Apply(Apply),
    /// A Secret built from a profile secret reference at install time.
    Secret(SecretStep),
    /// `helm upgrade --install`, skipped when the deployed release already
    /// has this chart version and these values.
    Helm(Release),
    /// A bounded, named wait.
    Wait(Wait),
    /// Not done here, and why (a chart the provider cannot run).
    Skip { what: String, why: String },
}

#[derive(Debug, Clone)]
pub struct Apply {
    /// Where the object came from (a rendered file, a module's CRD file).
    pub source: String,
    pub object: Value,
    /// Set when applying needs a running controller (an admission webhook);
    /// skipped under `control_plane_only`.
    pub needs_datapath: Option<&'static str>,
}

impl Apply {
    pub fn describe(&self) -> String {
        let s = |p: &str| self.object.pointer(p).and_then(Value::as_str).unwrap_or("?").to_owned();
        match self.object.pointer("/metadata/namespace").and_then(Value::as_str) {
            Some(ns) => format!("{} {ns}/{}", s("/kind"), s("/metadata/name")),
            None => format!("{} {}", s("/kind"), s("/metadata/name")),
        }
    }
}

#[derive(Debug, Clone)]
pub struct SecretStep {
    pub namespace: String,
    pub name: String,
    pub key: String,
    pub from: SecretRef,
}

#[derive(Debug, Clone)]
pub struct Release {
    pub release: String,
    pub namespace: String,
    pub chart: ChartDir,
    /// The version installed (Chart.yaml's, or the module's for a placeholder).
    pub version: String,
    /// The rendered values file.
    pub values_yaml: String,
    /// The same values as JSON, compared with `helm get values`.
    pub values: Value,
    /// `sha256:<12 hex>` of `values_yaml`.
    pub values_digest: String,
    /// Where the chart directory came from: `--charts`, the profile's
    /// `install.charts.<key>` or the Go module cache.
    pub source: String,
    /// Image keys the registry mirror set (empty without a mirror).
    pub images: Vec<infraflux_stack::images::Override>,
}

#[derive(Debug, Clone)]
pub struct Wait {
    /// Named in progress output and in the timeout error.
    pub name: String,
    pub what: WaitFor,
    pub timeout: Duration,
    /// Why this wait needs a working datapath (running controllers), if it does.
    pub needs_datapath: Option<&'static str>,
}

#[derive(Debug, Clone)]
pub enum WaitFor {
    CrdsEstablished(Vec<String>),
    /// One workload (`apps/v1` kind) rolled out.
    Rollout { kind: String, namespace: String, name: String },
    /// Every Deployment, DaemonSet and StatefulSet of the release.
    Rollouts { release: String, namespace: String },
    Condition {
        api_version: String,
        kind: String,
        namespace: Option<String>,
        name: String,
        type_: String,
        status: String,
    },
}

/// Why waits on custom resource conditions need more than an API server.
const NEEDS_CILIUM: &str = "needs a running cilium-operator (LB-IPAM, Gateway API) and agents: a real datapath";
const NEEDS_CERT_MANAGER: &str = "needs a running cert-manager controller and an ACME server it can reach: a real datapath";
const NEEDS_WEBHOOK: &str = "cert-manager's admission webhook must answer the API server: a real datapath";

/// Install order of the controller charts after Cilium.
const CONTROLLERS: [Chart; 3] = [Chart::CertManager, Chart::SealedSecrets, Chart::ExternalDns];

fn namespace_of(chart: Chart) -> &'static str {
    match chart {
        Chart::Cilium | Chart::SealedSecrets => "kube-system",
        Chart::CertManager => "cert-manager",
        Chart::ExternalDns => "external-dns",
    }
}

fn version_of(p: &Profile, chart: Chart) -> &str {
    match chart {
        Chart::Cilium => &p.versions.cilium,
        Chart::CertManager => &p.versions.cert_manager,
        Chart::ExternalDns => &p.versions.external_dns,
        Chart::SealedSecrets => &p.versions.sealed_secrets,
    }
}

/// The profile key of a chart under `install.charts`.
fn profile_key(chart: Chart) -> &'static str {
    match chart {
        Chart::Cilium => "cilium",
        Chart::CertManager => "certManager",
        Chart::ExternalDns => "externalDNS",
        Chart::SealedSecrets => "sealedSecrets",
    }
}

/// Local directories to try for `name` (a chart, or `gateway-api`), in order.
fn local_dirs(opts: &Options, name: &str) -> Vec<PathBuf> {
    opts.charts_dir.iter().map(|d| d.join(name)).chain(opts.chart_dirs.get(name).cloned()).collect()
}

/// The chart's own `values.yaml`, where the mirror finds its image keys.
fn chart_defaults(dir: &ChartDir) -> Result<Value> {
    let path = dir.values_yaml();
    let text = std::fs::read_to_string(&path).map_err(|source| Error::Read { path: path.clone(), source })?;
    Ok(parse_docs(&path.display().to_string(), &text)?.into_iter().next().unwrap_or(Value::Object(Default::default())))
}

/// Deep merge: objects key by key, anything else replaced.
pub fn merge(base: &mut Value, extra: &Value) {
    match (base, extra) {
        (Value::Object(b), Value::Object(e)) => {
            for (k, v) in e {
                match b.get_mut(k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (b, e) => *b = e.clone(),
    }
}

fn parse_docs(source: &str, text: &str) -> Result<Vec<Value>> {
    let docs = infraflux_model::yaml::parse_str(source, text).map_err(|e| Error::Parse { what: source.to_owned(), message: e.to_string() })?;
    Ok(docs.into_iter().map(|d| d.root.to_json()).filter(|v| v.is_object()).collect())
}

fn digest(text: &str) -> String {
    let h = sha2::Sha256::digest(text.as_bytes());
    format!("sha256:{}", &hex::encode(h)[..12])
}

/// The Gateway API CRD files of `version`/`channel`: the first of `local`
/// (`<charts_dir>/gateway-api/`, the profile's `install.charts.gatewayAPI`)
/// that holds any, else `sigs.k8s.io/gateway-api@<version>/config/crd/<channel>`
/// in the Go module caches.
pub fn gateway_api_crd_files(version: &str, channel: GatewayApiChannel, local: &[PathBuf]) -> Result<(String, Vec<PathBuf>)> {
    let channel = match channel {
        GatewayApiChannel::Standard => "standard",
        GatewayApiChannel::Experimental => "experimental",
    };
    let mut candidates = local.to_vec();
    for cache in charts::module_caches() {
        candidates.push(cache.join("sigs.k8s.io").join(format!("gateway-api@{version}")).join("config/crd").join(channel));
    }
    for dir in &candidates {
        let Ok(entries) = std::fs::read_dir(dir) else { continue };
        let mut files: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                n.ends_with(".yaml") && n != "kustomization.yaml"
            })
            .collect();
        files.sort();
        if !files.is_empty() {
            return Ok((dir.display().to_string(), files));
        }
    }
    Err(Error::GatewayApiNotFetched {
        version: version.to_owned(),
        searched: candidates.iter().map(|c| c.display().to_string()).collect::<Vec<_>>().join(", "),
    })
}

/// The CRD name (`<plural>.<group>`) Cilium registers for a kind.
fn cilium_crd(kind: &str) -> String {
    let lower = kind.to_lowercase();
    let plural = match lower.strip_suffix('y') {
        Some(stem) => format!("{stem}ies"),
        None => format!("{lower}s"),
    };
    format!("{plural}.cilium.io")
}

pub(crate) fn condition(obj: &Value, type_: &str, status: &str, timeout: Duration, needs: &'static str) -> Wait {
    let s = |p: &str| obj.pointer(p).and_then(Value::as_str).unwrap_or("").to_owned();
    let ns = obj.pointer("/metadata/namespace").and_then(Value::as_str).map(str::to_owned);
    let shown = match &ns {
        Some(n) => format!("{}/{}", n, s("/metadata/name")),
        None => s("/metadata/name"),
    };
    Wait {
        name: format!("{} {shown} {type_}={status}", s("/kind")),
        what: WaitFor::Condition {
            api_version: s("/apiVersion"),
            kind: s("/kind"),
            namespace: ns,
            name: s("/metadata/name"),
            type_: type_.to_owned(),
            status: status.to_owned(),
        },
        timeout,
        needs_datapath: Some(needs),
    }
}

/// Builds the plan for `profile`. Reads chart directories and CRD files;
/// touches no cluster.
pub fn build(profile: &Profile, opts: &Options) -> Result<Plan> {
    let files = infraflux_stack::render_files(profile, false).map_err(Error::Render)?;
    infraflux_stack::self_check(&files).map_err(Error::Render)?;
    let t = opts.wait_timeout;
    let crd_timeout = t.min(Duration::from_secs(120));
    let mut phases = Vec::new();

    // 1. Gateway API CRDs.
    let (dir, crd_files) = gateway_api_crd_files(&profile.versions.gateway_api, profile.versions.gateway_api_channel, &local_dirs(opts, "gateway-api"))?;
    let mut steps = Vec::new();
    let mut crds = Vec::new();
    for f in &crd_files {
        let text = std::fs::read_to_string(f).map_err(|source| Error::Read { path: f.clone(), source })?;
        let source = format!("{dir}/{}", f.file_name().and_then(|n| n.to_str()).unwrap_or(""));
        for obj in parse_docs(&source, &text)? {
            if obj.get("kind").and_then(Value::as_str) == Some("CustomResourceDefinition")
                && let Some(n) = obj.pointer("/metadata/name").and_then(Value::as_str)
            {
                crds.push(n.to_owned());
            }
            steps.push(Step::Apply(Apply { source: source.clone(), object: obj, needs_datapath: None }));
        }
    }
    steps.push(Step::Wait(Wait {
        name: format!("{} Gateway API CRDs Established", crds.len()),
        what: WaitFor::CrdsEstablished(crds),
        timeout: crd_timeout,
        needs_datapath: None,
    }));
    phases.push(Phase { name: "gateway-api-crds".into(), steps });

    // The custom resources, read now so Cilium's phase knows which of its
    // CRDs they need.
    let mut custom = Vec::new();
    for (path, text) in &files {
        if path.starts_with("04-configs/") || path.starts_with("05-apps/") {
            custom.extend(parse_docs(path, text)?.into_iter().map(|o| (path.clone(), o)));
        }
    }
    let group = |o: &Value| o.get("apiVersion").and_then(Value::as_str).and_then(|a| a.split_once('/')).map(|(g, _)| g.to_owned());
    let mut cilium_crds: Vec<String> = ["CiliumNode", "CiliumEndpoint", "CiliumIdentity"].iter().map(|k| cilium_crd(k)).collect();
    for (_, o) in &custom {
        if group(o).as_deref() == Some("cilium.io")
            && let Some(k) = o.get("kind").and_then(Value::as_str)
        {
            let name = cilium_crd(k);
            if !cilium_crds.contains(&name) {
                cilium_crds.push(name);
            }
        }
    }

    // 2. Cilium, 3. the controllers.
    for chart in std::iter::once(Chart::Cilium).chain(CONTROLLERS) {
        let values_path = match chart {
            Chart::Cilium => "02-cilium/values.yaml".to_owned(),
            c => format!("03-controllers/{}/values.yaml", c.name()),
        };
        let mut steps = Vec::new();
        if let Some(why) = opts.unavailable.get(chart.name()) {
            steps.push(Step::Skip { what: format!("helm release {}", chart.name()), why: why.clone() });
        } else if let Some(values_yaml) = files.get(&values_path) {
            let ns = namespace_of(chart);
            if ns != "kube-system" {
                steps.push(Step::Namespace(ns.to_owned()));
            }
            if matches!(chart, Chart::CertManager | Chart::ExternalDns) {
                steps.push(Step::Secret(SecretStep {
                    namespace: ns.to_owned(),
                    name: "cloudflare-api-token".into(),
                    key: "api-token".into(),
                    from: profile.dns.cloudflare.api_token.clone(),
                }));
            }
            let (local, source) = match opts.charts_dir.as_ref().map(|d| d.join(chart.name())).filter(|d| d.is_dir()) {
                Some(d) => (Some(d), "--charts".to_owned()),
                None => match opts.chart_dirs.get(chart.name()) {
                    Some(d) => (Some(d.clone()), format!("profile install.charts.{}", profile_key(chart))),
                    None => (None, "Go module cache".to_owned()),
                },
            };
            let dir = charts::locate(chart, version_of(profile, chart), local.as_deref()).map_err(Error::Chart)?;
            let mut values = parse_docs(&values_path, values_yaml)?.into_iter().next().unwrap_or(Value::Object(Default::default()));
            // The profile's values, the mirror's image keys, then the
            // provider's (images it built itself win); re-rendered so the
            // file helm reads is exactly what is compared later.
            let mut images = Vec::new();
            if let Some(mirror) = &opts.image_registry {
                let mut effective = chart_defaults(&dir)?;
                merge(&mut effective, &values);
                let (overlay, found) = infraflux_stack::images::mirror_values(&effective, mirror);
                merge(&mut values, &overlay);
                images = found;
            }
            let extra = opts.chart_values.get(chart.name());
            if let Some(extra) = extra {
                merge(&mut values, extra);
            }
            let values_yaml = if extra.is_some() || !images.is_empty() {
                serde_json::to_string_pretty(&values).map_err(|e| Error::Parse { what: values_path.clone(), message: e.to_string() })?
            } else {
                values_yaml.clone()
            };
            steps.push(Step::Helm(Release {
                release: chart.name().to_owned(),
                namespace: ns.to_owned(),
                version: dir.effective_version(),
                chart: dir,
                values_digest: digest(&values_yaml),
                values_yaml,
                values,
                source,
                images,
            }));
            steps.push(Step::Wait(Wait {
                name: format!("{} workloads rolled out", chart.name()),
                what: WaitFor::Rollouts { release: chart.name().to_owned(), namespace: ns.to_owned() },
                timeout: t,
                needs_datapath: None,
            }));
        }
        if chart == Chart::Cilium {
            // Registered by the operator at start, not shipped in the chart.
            steps.push(Step::Wait(Wait {
                name: format!("{} Cilium CRDs Established", cilium_crds.len()),
                what: WaitFor::CrdsEstablished(cilium_crds.clone()),
                timeout: t,
                needs_datapath: None,
            }));
        }
        if !steps.is_empty() {
            phases.push(Phase { name: chart.name().to_owned(), steps });
        }
    }

    // 4. Custom resources: namespaces first, then objects in file order,
    // then the waits on what controllers make of them.
    let mut steps = Vec::new();
    let mut namespaces: Vec<String> = Vec::new();
    for (_, o) in &custom {
        let ns = if o.get("kind").and_then(Value::as_str) == Some("Namespace") {
            o.pointer("/metadata/name")
        } else {
            o.pointer("/metadata/namespace")
        };
        if let Some(ns) = ns.and_then(Value::as_str)
            && !namespaces.iter().any(|n| n == ns)
        {
            namespaces.push(ns.to_owned());
        }
    }
    steps.extend(namespaces.iter().cloned().map(Step::Namespace));
    let mut waits = Vec::new();
    for (path, o) in &custom {
        let kind = o.get("kind").and_then(Value::as_str).unwrap_or("");
        if kind == "Namespace" {
            continue;
        }
        let cert_manager = group(o).as_deref() == Some("cert-manager.io");
        if let Some(why) = cert_manager.then(|| opts.unavailable.get(Chart::CertManager.name())).flatten() {
            let a = Apply { source: path.clone(), object: o.clone(), needs_datapath: None };
            steps.push(Step::Skip { what: a.describe(), why: why.clone() });
            continue;
        }
        steps.push(Step::Apply(Apply {
            source: path.clone(),
            object: o.clone(),
            needs_datapath: cert_manager.then_some(NEEDS_WEBHOOK),
        }));
        match kind {
            "CiliumLoadBalancerIPPool" => waits.push(condition(o, "cilium.io/PoolConflict", "False", t, NEEDS_CILIUM)),
            "Gateway" => waits.push(condition(o, "Programmed", "True", t, NEEDS_CILIUM)),
            "ClusterIssuer" | "Issuer" | "Certificate" => waits.push(condition(o, "Ready", "True", t, NEEDS_CERT_MANAGER)),
            _ => {}
        }
    }
    steps.extend(waits.into_iter().map(Step::Wait));
    phases.push(Phase { name: "custom-resources".into(), steps });

    Ok(Plan { profile: profile.name.clone(), image_registry: opts.image_registry.clone(), phases })
}

impl Plan {
    /// The releases of the plan, in install order.
    pub fn releases(&self) -> Vec<&Release> {
        self.phases
            .iter()
            .flat_map(|p| &p.steps)
            .filter_map(|s| match s {
                Step::Helm(r) => Some(r),
                _ => None,
            })
            .collect()
    }

    /// The plan as text: every phase, chart (version, values digest, source),
    /// object and wait (with its bound), in order.
    pub fn render(&self, control_plane_only: bool) -> String {
        let mut out = format!("install plan for profile {} ({} phases)\n", self.profile, self.phases.len());
        if let Some(m) = &self.image_registry {
            out.push_str(&format!("images from registry mirror {m} (install.imageRegistry)\n"));
        }
        for (i, p) in self.phases.iter().enumerate() {
            out.push_str(&format!("\nphase {}: {}\n", i + 1, p.name));
            for s in &p.steps {
                let line = match s {
                    Step::Namespace(n) => format!("namespace {n} (created unless present)"),
                    Step::Apply(a) => {
                        let skip = match (control_plane_only, a.needs_datapath) {
                            (true, Some(why)) => format!(" [skipped: {why}]"),
                            _ => String::new(),
                        };
                        format!("apply {} (from {}){skip}", a.describe(), a.source)
                    }
                    Step::Secret(s) => format!("secret {}/{} key {} from {}", s.namespace, s.name, s.key, s.from.describe()),
                    Step::Helm(r) => {
                        let mut line = format!(
                            "helm release {} in {}: chart {} {}, values {} (chart from {}: {})",
                            r.release,
                            r.namespace,
                            r.chart.chart.name(),
                            r.version,
                            r.values_digest,
                            r.source,
                            r.chart.path.display()
                        );
                        for o in &r.images {
                            line.push_str(&format!("\n    image {}: {} -> {}", o.key, o.from, o.to));
                        }
                        line
                    }
                    Step::Wait(w) => {
                        let skip = match (control_plane_only, w.needs_datapath) {
                            (true, Some(why)) => format!(" [skipped: {why}]"),
                            (false, Some(_)) => " [needs a real datapath]".to_owned(),
                            _ => String::new(),
                        };
                        format!("wait {} (timeout {}){skip}", w.name, human(w.timeout))
                    }
                    Step::Skip { what, why } => format!("{what} [skipped: {why}]"),
                };
                out.push_str(&format!("  {line}\n"));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cilium_crd_names_follow_the_plural_rule() {
        assert_eq!(cilium_crd("CiliumNetworkPolicy"), "ciliumnetworkpolicies.cilium.io");
        assert_eq!(cilium_crd("CiliumLoadBalancerIPPool"), "ciliumloadbalancerippools.cilium.io");
        assert_eq!(cilium_crd("CiliumIdentity"), "ciliumidentities.cilium.io");
    }

    #[test]
    fn a_missing_gateway_api_bundle_names_the_fetch_command() {
        let e = gateway_api_crd_files("v0.0.1-nonexistent", GatewayApiChannel::Standard, &[]).err().unwrap_or_else(|| panic!("found"));
        let text = e.to_string();
        assert!(text.contains(".ci/fetch-charts") && text.contains("gateway-api@v0.0.1-nonexistent"), "{text}");
    }
}
