//! The compiled-in templates and the layout that places their output.

use std::collections::BTreeMap;

use minijinja::{Environment, UndefinedBehavior, value::Serde};
use serde_json::{Value, json};

use super::StackError;
use super::vars::Vars;
use crate::profile::Rke2Cni;

macro_rules! templates {
    ($($name:literal),* $(,)?) => {
        /// Template names (files under `harness/stack/assets/templates/`).
        pub const TEMPLATE_NAMES: &[&str] = &[$($name),*];
        const SOURCES: &[(&str, &str)] = &[$(($name, include_str!(concat!("../assets/templates/", $name)))),*];
    };
}

templates!(
    "bgp.yaml.j2",
    "cert-manager-values.yaml.j2",
    "cilium-values.yaml.j2",
    "crds-apply.sh.j2",
    "external-dns-values.yaml.j2",
    "flux-cluster.yaml.j2",
    "flux-release.yaml.j2",
    "gateway-api-crds.yaml.j2",
    "gateway.yaml.j2",
    "helm-install.sh.j2",
    "issuer.yaml.j2",
    "lb-pools.yaml.j2",
    "node-prep.yaml.j2",
    "policies.yaml.j2",
    "rke2-cilium-config.yaml.j2",
    "rke2-config.yaml.j2",
    "routes.yaml.j2",
    "sealed-secrets-values.yaml.j2",
);

/// A YAML-safe rendering of any value: JSON is valid YAML flow syntax.
fn q(v: minijinja::Value) -> Result<String, minijinja::Error> {
    serde_json::to_string(&v).map_err(|e| minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, e.to_string()))
}

fn env() -> Result<Environment<'static>, StackError> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    let syntax = minijinja::syntax::SyntaxConfig::builder()
        .trim_blocks(true)
        .lstrip_blocks(true)
        .keep_trailing_newline(true)
        .build()
        .map_err(|e| StackError::Template { template: "<syntax>".into(), message: e.to_string() })?;
    env.set_syntax(syntax);
    env.add_filter("q", q);
    for (name, src) in SOURCES {
        env.add_template(name, src)
            .map_err(|e| StackError::Template { template: (*name).into(), message: format!("{e:#}") })?;
    }
    Ok(env)
}

struct Out<'e> {
    env: Environment<'e>,
    files: BTreeMap<String, String>,
}

impl Out<'_> {
    fn render(&self, template: &str, ctx: &Value) -> Result<String, StackError> {
        let t = self
            .env
            .get_template(template)
            .map_err(|e| StackError::Template { template: template.into(), message: format!("{e:#}") })?;
        t.render(minijinja::Value::from(Serde(ctx)))
            .map_err(|e| StackError::Template { template: template.into(), message: format!("{e:#}") })
    }

    fn put(&mut self, path: String, template: &str, ctx: &Value) -> Result<(), StackError> {
        let text = self.render(template, ctx)?;
        self.files.insert(path, text);
        Ok(())
    }
}

struct Chart {
    release: &'static str,
    name: &'static str,
    repo: &'static str,
    version: String,
    namespace: &'static str,
    values_template: &'static str,
}

fn charts(v: &Vars) -> (Chart, Vec<Chart>) {
    let ver = |k: &str| v.ctx.get("versions").and_then(|x| x.get(k)).and_then(Value::as_str).unwrap_or("").to_owned();
    let cilium = Chart {
        release: "cilium",
        name: "cilium",
        repo: "https://helm.cilium.io/",
        version: ver("cilium"),
        namespace: "kube-system",
        values_template: "cilium-values.yaml.j2",
    };
    let controllers = vec![
        Chart {
            release: "cert-manager",
            name: "cert-manager",
            repo: "https://charts.jetstack.io",
            version: ver("certManager"),
            namespace: "cert-manager",
            values_template: "cert-manager-values.yaml.j2",
        },
        Chart {
            release: "external-dns",
            name: "external-dns",
            repo: "https://kubernetes-sigs.github.io/external-dns/",
            version: ver("externalDNS"),
            namespace: "external-dns",
            values_template: "external-dns-values.yaml.j2",
        },
        Chart {
            release: "sealed-secrets",
            name: "sealed-secrets",
            repo: "https://bitnami-labs.github.io/sealed-secrets",
            version: ver("sealedSecrets"),
            namespace: "kube-system",
            values_template: "sealed-secrets-values.yaml.j2",
        },
    ];
    (cilium, controllers)
}

fn chart_ctx(v: &Vars, c: &Chart, values: &str, bootstrap: bool) -> Value {
    let values = v.sources.values.get(c.release).map_or(values, String::as_str);
    let repo = v.sources.chart_repos.get(c.release).map_or(c.repo, String::as_str);
    v.with(&[(
        "chart",
        json!({
            "release": c.release,
            "name": c.name,
            "repo": repo,
            "version": c.version,
            "namespace": c.namespace,
            "values": values.trim_end(),
            "bootstrap": bootstrap,
        }),
    )])
}

/// A kustomization with nothing in it, for a tree directory whose every
/// file was left out.
const EMPTY_KUSTOMIZATION: &str = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: []\n";

pub(crate) fn render_all(v: &Vars) -> Result<BTreeMap<String, String>, StackError> {
    let mut out = Out { env: env()?, files: BTreeMap::new() };
    let base = v.ctx.clone();
    let (cilium, controllers) = charts(v);
    let cilium_values = out.render(cilium.values_template, &base)?;
    let with_values = v.with(&[("cilium", json!({
        "version": base.pointer("/cilium/version").cloned().unwrap_or(Value::Null),
        "minor": base.pointer("/cilium/minor").cloned().unwrap_or(Value::Null),
        "values": cilium_values.trim_end(),
    }))]);
    let (boot, crds, nodes) = if v.gitops { ("00-bootstrap/", "00-bootstrap/crds/", "00-bootstrap/") } else { ("", "00-crds/", "01-nodes/") };
    let _ = boot;
    // Gateway API CRDs first: Cilium's operator looks for them once at start.
    out.put(format!("{crds}kustomization.yaml"), "gateway-api-crds.yaml.j2", &base)?;
    out.put(format!("{crds}apply.sh"), "crds-apply.sh.j2", &base)?;
    let rke2_cilium = v.rke2_cni == Some(Rke2Cni::Cilium);
    if v.rke2_cni.is_some() {
        out.put(format!("{nodes}node-prep.yaml"), "node-prep.yaml.j2", &base)?;
        for (name, _) in &v.node_names {
            let ctx = v.with(&[("node", v.node(name))]);
            out.put(format!("{nodes}rke2/{name}.yaml"), "rke2-config.yaml.j2", &ctx)?;
        }
        if rke2_cilium {
            out.put(format!("{nodes}rke2/manifests/rke2-cilium-config.yaml"), "rke2-cilium-config.yaml.j2", &with_values)?;
        }
    }
    let cilium_dir = if v.gitops { "00-bootstrap/cilium/" } else { "02-cilium/" };
    if !rke2_cilium {
        out.files.insert(format!("{cilium_dir}values.yaml"), cilium_values.clone());
        out.put(format!("{cilium_dir}install.sh"), "helm-install.sh.j2", &chart_ctx(v, &cilium, &cilium_values, true))?;
    }
    let (ctrl, cfg, apps) = if v.gitops {
        ("infrastructure/controllers/", "infrastructure/configs/", "apps/")
    } else {
        ("03-controllers/", "04-configs/", "05-apps/")
    };
    let omitted = |c: &Chart| v.gitops && v.sources.omit.contains(c.release);
    if v.gitops && controllers.iter().all(&omitted) {
        // Flux fails a Kustomization whose path is missing, and Git keeps
        // no empty directory.
        out.files.insert(format!("{ctrl}kustomization.yaml"), EMPTY_KUSTOMIZATION.into());
    }
    for c in controllers.iter().filter(|c| !omitted(c)) {
        let values = out.render(c.values_template, &base)?;
        if v.gitops {
            out.put(format!("{ctrl}{}.yaml", c.release), "flux-release.yaml.j2", &chart_ctx(v, c, &values, false))?;
        } else {
            out.files.insert(format!("{ctrl}{}/values.yaml", c.release), values.clone());
            out.put(format!("{ctrl}{}/install.sh", c.release), "helm-install.sh.j2", &chart_ctx(v, c, &values, false))?;
        }
    }
    if v.gitops {
        if rke2_cilium {
            out.put("infrastructure/cilium/rke2-cilium-config.yaml".into(), "rke2-cilium-config.yaml.j2", &with_values)?;
        } else {
            out.put("infrastructure/cilium/cilium.yaml".into(), "flux-release.yaml.j2", &chart_ctx(v, &cilium, &cilium_values, false))?;
        }
        let k = |name: &str, path: &str, depends: Option<&str>, source: &str, prune: bool| {
            json!({"name": name, "path": path, "depends": depends, "source": source, "prune": prune})
        };
        let crd_path = format!("./{}", base.pointer("/gateway_api/path").and_then(Value::as_str).unwrap_or("config/crd"));
        let ks = json!([
            // CRDs are never pruned: deleting them would delete every Gateway and route.
            k("gateway-api-crds", &crd_path, None, "gateway-api", false),
            k("cilium", "./infrastructure/cilium", Some("gateway-api-crds"), "flux-system", true),
            k("controllers", "./infrastructure/controllers", Some("cilium"), "flux-system", true),
            k("configs", "./infrastructure/configs", Some("controllers"), "flux-system", true),
            k("apps", "./apps", Some("configs"), "flux-system", true),
        ]);
        out.put(format!("clusters/{}/flux.yaml", v.cluster), "flux-cluster.yaml.j2", &v.with(&[("kustomizations", ks)]))?;
    }
    if base.pointer("/features/bgp").and_then(Value::as_bool).unwrap_or(false) {
        out.put(format!("{cfg}bgp.yaml"), "bgp.yaml.j2", &base)?;
    }
    out.put(format!("{cfg}lb-pools.yaml"), "lb-pools.yaml.j2", &base)?;
    // A Gateway and its routes need Cilium's Gateway API support: with it
    // off they would never be Programmed, only wait.
    let gateway_api = base.pointer("/features/gatewayAPI").and_then(Value::as_bool).unwrap_or(true);
    if gateway_api {
        out.put(format!("{cfg}gateway.yaml"), "gateway.yaml.j2", &base)?;
    }
    if !(v.gitops && v.sources.omit.contains("cert-manager")) {
        out.put(format!("{cfg}issuer.yaml"), "issuer.yaml.j2", &base)?;
    }
    if gateway_api {
        out.put(format!("{apps}routes.yaml"), "routes.yaml.j2", &base)?;
    }
    out.put(format!("{apps}policies.yaml"), "policies.yaml.j2", &base)?;
    if v.gitops {
        let chart_namespaces: Vec<&str> = std::iter::once(&cilium).chain(&controllers).map(|c| c.namespace).collect();
        let needed = namespaces_used(&out.files, &[cfg, apps], &chart_namespaces);
        if !needed.is_empty() {
            // Flux applies what the tree holds and nothing else: the
            // namespaces the configs and apps live in are part of the tree
            // (the direct install creates them as a step).
            let docs: Vec<String> = needed
                .iter()
                .map(|n| format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {}\n", serde_json::to_string(n).unwrap_or_default()))
                .collect();
            out.files.insert(format!("{cfg}namespaces.yaml"), docs.join("---\n"));
        }
    }
    Ok(out.files)
}

/// Namespaces of the objects in files under `dirs`, except the system ones
/// and those the charts' releases create.
fn namespaces_used(files: &BTreeMap<String, String>, dirs: &[&str], chart_namespaces: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (path, text) in files.iter().filter(|(p, _)| dirs.iter().any(|d| p.starts_with(d))) {
        let Ok(docs) = crate::yaml::parse_str(path, text) else { continue };
        for d in docs {
            let o = d.root.to_json();
            if let Some(ns) = o.pointer("/metadata/namespace").and_then(Value::as_str)
                && !matches!(ns, "kube-system" | "kube-public" | "kube-node-lease" | "default" | "flux-system")
                && !chart_namespaces.contains(&ns)
                && !out.iter().any(|n| n == ns)
            {
                out.push(ns.to_owned());
            }
        }
    }
    out.sort();
    out
}
