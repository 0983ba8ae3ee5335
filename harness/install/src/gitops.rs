//! `up --gitops`: the install stops after the bootstrap (Gateway API CRDs
//! and Cilium: without a CNI no Flux pod starts), then installs Flux and
//! hands it the served tree, which reconciles everything else and adopts
//! the Cilium release:
//!
//! - `flux`: the namespace, Flux's install set (CRDs Established, each
//!   controller rolled out);
//! - `gitops`: the `flux-system` GitRepository and root Kustomization,
//!   then every Kustomization and HelmRelease of the tree Ready, in the
//!   tree's dependency order.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use crate::plan::{Apply, Phase, Plan, Step, Wait, WaitFor, condition};

/// The phases a GitOps install keeps from the direct plan.
pub const BOOTSTRAP: [&str; 2] = ["gateway-api-crds", "cilium"];

const NEEDS_FLUX: &str = "needs running Flux controllers (pods on a working datapath)";

/// What Flux is handed.
#[derive(Debug, Clone)]
pub struct Handover {
    /// `flux-<version>`, shown as the source of the install set's objects.
    pub flux_version: String,
    /// [`infraflux_gitops`]-loaded install set, in apply order.
    pub install_set: Vec<Value>,
    /// The GitRepository and root Kustomization.
    pub root: Vec<Value>,
    /// The served tree's files, whose Kustomizations and HelmReleases
    /// are waited on.
    pub tree: BTreeMap<String, String>,
    /// Where the tree is served from, shown in the plan.
    pub served_at: String,
}

/// Flux objects of the tree to wait on, in order: Kustomizations as their
/// `dependsOn` chain orders them (a file's order otherwise), then
/// HelmReleases.
pub fn readiness(tree: &BTreeMap<String, String>) -> Vec<Value> {
    let mut ks = Vec::new();
    let mut hrs = Vec::new();
    for (path, text) in tree {
        let Ok(docs) = infraflux_model::yaml::parse_str(path, text) else { continue };
        for d in docs {
            let o = d.root.to_json();
            match o.get("kind").and_then(Value::as_str) {
                Some("Kustomization") if o.get("apiVersion").and_then(Value::as_str).is_some_and(|a| a.starts_with("kustomize.toolkit.fluxcd.io/")) => ks.push(o),
                Some("HelmRelease") => hrs.push(o),
                _ => {}
            }
        }
    }
    // Dependencies first (a stable topological order; a cycle keeps file order).
    let name = |o: &Value| o.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("").to_owned();
    let deps = |o: &Value| -> Vec<String> {
        o.pointer("/spec/dependsOn").and_then(Value::as_array).into_iter().flatten().filter_map(|d| d.get("name").and_then(Value::as_str).map(str::to_owned)).collect()
    };
    let mut ordered: Vec<Value> = Vec::new();
    let mut left = ks;
    while !left.is_empty() {
        let done: Vec<String> = ordered.iter().map(name).collect();
        let ready = left.iter().position(|o| deps(o).iter().all(|d| done.contains(d) || !left.iter().any(|l| &name(l) == d)));
        let i = ready.unwrap_or(0);
        ordered.push(left.remove(i));
    }
    ordered.extend(hrs);
    ordered
}

/// Turns a direct plan into a GitOps one: the bootstrap phases, then
/// `flux` and `gitops`.
pub fn hand_over(plan: &mut Plan, h: &Handover, timeout: Duration) {
    // Secrets never go into the served tree: the controllers' token Secrets
    // (and their namespaces) are still made here, from the profile's
    // references, before Flux installs the charts that read them.
    let secrets: Vec<Step> = plan
        .phases
        .iter()
        .filter(|p| !BOOTSTRAP.contains(&p.name.as_str()) && p.name != "custom-resources")
        .flat_map(|p| &p.steps)
        .filter(|s| matches!(s, Step::Namespace(_) | Step::Secret(_)))
        .cloned()
        .collect();
    plan.phases.retain(|p| BOOTSTRAP.contains(&p.name.as_str()));
    let source = format!("Flux {} install set", h.flux_version);
    let mut steps = vec![Step::Namespace(infraflux_gitops::flux::NAMESPACE.to_owned())];
    steps.extend(secrets);
    let mut crds = Vec::new();
    let mut rollouts = Vec::new();
    for o in &h.install_set {
        let kind = o.get("kind").and_then(Value::as_str).unwrap_or("");
        let name = o.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("").to_owned();
        if kind == "CustomResourceDefinition" {
            crds.push(name.clone());
        }
        if kind == "Deployment" {
            rollouts.push(name.clone());
        }
        steps.push(Step::Apply(Apply { source: source.clone(), object: o.clone(), needs_datapath: None }));
    }
    steps.push(Step::Wait(Wait {
        name: format!("{} Flux CRD(s) Established", crds.len()),
        what: WaitFor::CrdsEstablished(crds),
        timeout: timeout.min(Duration::from_secs(120)),
        needs_datapath: None,
    }));
    for d in rollouts {
        steps.push(Step::Wait(Wait {
            name: format!("Deployment {}/{d} rolled out", infraflux_gitops::flux::NAMESPACE),
            what: WaitFor::Rollout { kind: "Deployment".into(), namespace: infraflux_gitops::flux::NAMESPACE.into(), name: d },
            timeout,
            needs_datapath: Some(NEEDS_FLUX),
        }));
    }
    plan.phases.push(Phase { name: "flux".into(), steps });

    let source = format!("the tree served at {}", &h.served_at);
    let mut steps: Vec<Step> = h.root.iter().map(|o| Step::Apply(Apply { source: source.clone(), object: o.clone(), needs_datapath: None })).collect();
    for o in h.root.iter().filter(|o| o.get("kind").and_then(Value::as_str) == Some("GitRepository")) {
        steps.push(Step::Wait(condition(o, "Ready", "True", timeout, NEEDS_FLUX)));
    }
    for o in h.root.iter().filter(|o| o.get("kind").and_then(Value::as_str) == Some("Kustomization")).chain(readiness(&h.tree).iter()) {
        steps.push(Step::Wait(condition(o, "Ready", "True", timeout, NEEDS_FLUX)));
    }
    plan.phases.push(Phase { name: "gitops".into(), steps });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::SecretStep;

    #[test]
    fn the_controllers_token_secrets_are_made_before_flux_and_never_served() {
        let secret = Step::Secret(SecretStep {
            namespace: "external-dns".into(),
            name: "cloudflare-api-token".into(),
            key: "api-token".into(),
            from: infraflux_model::secret::SecretRef { env: Some("CF_API_TOKEN".into()), file: None },
        });
        let phase = |name: &str, steps: Vec<Step>| Phase { name: name.into(), steps };
        let mut plan = Plan {
            profile: "p".into(),
            image_registry: None,
            phases: vec![
                phase("gateway-api-crds", vec![]),
                phase("cilium", vec![]),
                phase("external-dns", vec![Step::Namespace("external-dns".into()), secret, Step::Skip { what: "x".into(), why: "y".into() }]),
                phase("custom-resources", vec![Step::Namespace("authentik".into())]),
            ],
        };
        let h = Handover { flux_version: "v2.9.5".into(), install_set: vec![], root: vec![], tree: BTreeMap::new(), served_at: "u".into() };
        hand_over(&mut plan, &h, Duration::from_secs(60));
        let names: Vec<&str> = plan.phases.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["gateway-api-crds", "cilium", "flux", "gitops"]);
        let flux = &plan.phases[2].steps;
        assert!(matches!(&flux[1], Step::Namespace(n) if n == "external-dns"), "{flux:?}");
        assert!(matches!(&flux[2], Step::Secret(s) if s.name == "cloudflare-api-token"), "{flux:?}");
        assert!(!flux.iter().any(|s| matches!(s, Step::Namespace(n) if n == "authentik")), "the tree makes the apps' namespaces");
        assert!(!flux.iter().any(|s| matches!(s, Step::Skip { .. })));
    }

    #[test]
    fn kustomizations_are_waited_on_after_what_they_depend_on() {
        let mut tree = BTreeMap::new();
        tree.insert(
            "clusters/x/flux.yaml".to_owned(),
            "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {name: apps, namespace: flux-system}\nspec: {dependsOn: [{name: configs}]}\n---\n\
             apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {name: configs, namespace: flux-system}\nspec: {dependsOn: [{name: cilium}]}\n---\n\
             apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {name: cilium, namespace: flux-system}\nspec: {}\n"
                .to_owned(),
        );
        tree.insert(
            "infrastructure/cilium/cilium.yaml".to_owned(),
            "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata: {name: cilium, namespace: flux-system}\n---\n\
             apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: []\n"
                .to_owned(),
        );
        let names: Vec<String> = readiness(&tree).iter().map(|o| format!("{}/{}", o["kind"].as_str().unwrap_or(""), o["metadata"]["name"].as_str().unwrap_or(""))).collect();
        assert_eq!(names, ["Kustomization/cilium", "Kustomization/configs", "Kustomization/apps", "HelmRelease/cilium"], "a kustomize.config.k8s.io Kustomization is not Flux's");
    }
}
