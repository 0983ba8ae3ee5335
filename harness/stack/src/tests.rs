use std::collections::BTreeMap;

use super::*;
use crate::profile::{self, KindProvider, Provider, Rke2Cni};
use crate::yaml;

fn default_profile() -> Profile {
    profile::load_default().expect("default profile loads").profile
}

fn with_cni_none() -> Profile {
    let mut p = default_profile();
    if let Provider::ProxmoxRke2(x) = &mut p.provider {
        x.rke2.cni = Rke2Cni::None;
    }
    p
}

fn with_kind() -> Profile {
    let mut p = default_profile();
    p.provider = Provider::Kind(KindProvider { node_image: "kindest/node:v1.33.1".into(), config: None });
    p
}

fn must_pass(p: &Profile, gitops: bool) -> BTreeMap<String, String> {
    let files = render_files(p, gitops).expect("renders");
    if let Err(StackError::SelfCheck { findings }) = self_check(&files) {
        panic!("gitops={gitops}:\n{}", findings.iter().map(|f| f.to_string()).collect::<Vec<_>>().join("\n"));
    }
    files
}

#[test]
fn every_variant_renders_and_passes_check() {
    for p in [default_profile(), with_cni_none(), with_kind()] {
        for gitops in [false, true] {
            let files = must_pass(&p, gitops);
            let report = self_check(&files).expect("checked");
            assert!(report.objects_checked > 10, "{}", report.objects_checked);
        }
    }
}

#[test]
fn rendering_is_byte_identical() {
    for gitops in [false, true] {
        let a = render_files(&with_cni_none(), gitops).expect("renders");
        let b = render_files(&with_cni_none(), gitops).expect("renders");
        assert_eq!(a, b);
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let one = dir.path().join("one");
    let two = dir.path().join("two");
    let r1 = render(&default_profile(), &one, true).expect("writes");
    let r2 = render(&default_profile(), &two, true).expect("writes");
    assert_eq!(r1.files, r2.files);
    for f in &r1.files {
        let a = std::fs::read(one.join(f)).expect("read");
        let b = std::fs::read(two.join(f)).expect("read");
        assert_eq!(a, b, "{f}");
    }
}

#[test]
fn install_order_is_numbered() {
    let files = must_pass(&with_cni_none(), false);
    let dirs: Vec<&str> = files.keys().filter_map(|k| k.split('/').next()).collect();
    let mut sorted = dirs.clone();
    sorted.sort_unstable();
    assert_eq!(dirs, sorted);
    for want in ["00-crds/kustomization.yaml", "01-nodes/node-prep.yaml", "02-cilium/install.sh", "02-cilium/values.yaml",
        "03-controllers/cert-manager/values.yaml", "04-configs/gateway.yaml", "05-apps/routes.yaml"] {
        assert!(files.contains_key(want), "missing {want}");
    }
    // The first server never carries `server:`; joining ones do.
    assert!(!files["01-nodes/rke2/k8s-server-1.yaml"].contains("\nserver:"));
    assert!(files["01-nodes/rke2/k8s-server-2.yaml"].contains("\nserver:"));
    // Secrets are never rendered, only referenced.
    for text in files.values() {
        assert!(!text.contains("CF_API_TOKEN=") && !text.contains("PROXMOX_TOKEN"));
    }
}

#[test]
fn gitops_tree_uses_current_apis_and_a_dependency_chain() {
    let files = must_pass(&with_cni_none(), true);
    let mut kustomizations: Vec<(String, Option<String>, bool)> = Vec::new();
    for (name, text) in &files {
        if !(name.ends_with(".yaml")) {
            continue;
        }
        for doc in yaml::parse_str(name, text).expect("rendered YAML parses") {
            let Some(api) = doc.root.get("apiVersion").and_then(|n| n.as_str()) else { continue };
            if api.contains("toolkit.fluxcd.io") {
                assert!(
                    matches!(api, "helm.toolkit.fluxcd.io/v2" | "source.toolkit.fluxcd.io/v1" | "kustomize.toolkit.fluxcd.io/v1"),
                    "{name}: {api}"
                );
            }
            if doc.root.get("kind").and_then(|n| n.as_str()) == Some("Kustomization") && api.contains("toolkit") {
                let k = doc.root.lookup("metadata.name").and_then(|n| n.scalar_text()).unwrap_or_default();
                let dep = doc.root.lookup("spec.dependsOn[0].name").and_then(|n| n.scalar_text());
                let wait = doc.root.lookup("spec.wait").and_then(|n| n.as_bool()) == Some(true);
                kustomizations.push((k, dep, wait));
            }
            if doc.root.get("kind").and_then(|n| n.as_str()) == Some("HelmRelease") {
                assert!(doc.root.lookup("spec.targetNamespace").is_some(), "{name}");
                assert!(doc.root.lookup("spec.storageNamespace").is_some(), "{name}");
            }
        }
    }
    let order: Vec<&str> = ["gateway-api-crds", "cilium", "controllers", "configs", "apps"].to_vec();
    for (i, name) in order.iter().enumerate() {
        let (_, dep, wait) = kustomizations.iter().find(|(k, _, _)| k == name).expect("kustomization present");
        assert!(*wait, "{name} must wait");
        let want = if i == 0 { None } else { Some(order[i - 1].to_owned()) };
        assert_eq!(dep, &want, "{name}");
    }
    // Cilium is installed before Flux (bootstrap) and adopted by the same release name.
    assert!(files["00-bootstrap/cilium/install.sh"].contains("helm upgrade --install cilium"));
    assert!(files["infrastructure/cilium/cilium.yaml"].contains("releaseName: \"cilium\""));
}

#[test]
fn kind_provider_renders_no_node_files() {
    let files = must_pass(&with_kind(), false);
    assert!(!files.keys().any(|k| k.starts_with("01-nodes")));
    assert!(files.contains_key("02-cilium/install.sh"));
}

#[test]
fn a_profile_that_renders_a_broken_stack_is_refused_before_writing() {
    let mut p = default_profile();
    // Proxy a record whose target is the Gateway's private VIP: Cloudflare rejects it.
    p.dns.records[0].proxied = Some(true);
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    match render(&p, &out, false) {
        Err(StackError::SelfCheck { findings }) => assert!(findings.iter().any(|f| f.rule == "DNS-001"), "{findings:?}"),
        other => panic!("expected a self-check failure, got {other:?}"),
    }
    assert!(!out.exists(), "nothing may be written");
}

#[test]
fn refuses_a_non_empty_output_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("keep.txt"), "x").expect("write");
    let err = render(&default_profile(), dir.path(), false).unwrap_err();
    assert!(matches!(err, StackError::OutDirNotEmpty(_)));
    assert_eq!(std::fs::read_dir(dir.path()).expect("read").count(), 1);
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    let r = render(&default_profile(), &empty, false).expect("an empty directory is fine");
    assert!(r.files.iter().all(|f| empty.join(f).is_file()));
}

#[test]
fn written_tree_passes_check_from_disk() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (gitops, name) in [(false, "ordered"), (true, "gitops")] {
        let out = dir.path().join(name);
        render(&with_cni_none(), &out, gitops).expect("writes");
        let report = crate::check::check(&[out]).expect("readable");
        assert!(!report.has_errors(), "{}", crate::check::render_human(&report));
        assert_eq!(report.files.len(), render_files(&with_cni_none(), gitops).expect("renders").len());
    }
}

#[test]
fn default_stack_warnings_are_the_expected_ones() {
    // The default profile publishes Hubble UI and Longhorn (no auth of their
    // own: GW-011) and scrapes nothing (HUB-004). Anything else is a regression.
    for gitops in [false, true] {
        let files = must_pass(&default_profile(), gitops);
        let report = self_check(&files).expect("checked");
        let mut rules: Vec<&str> = report
            .findings
            .iter()
            .filter(|f| f.severity != crate::diag::Severity::Info)
            .map(|f| f.rule.as_str())
            .collect();
        rules.sort_unstable();
        rules.dedup();
        assert_eq!(rules, vec!["GW-011", "HUB-004"], "{}", crate::check::render_human(&report));
    }
}

#[test]
fn a_served_tree_points_at_its_sources_and_leaves_out_what_cannot_run() {
    let p = with_kind();
    let mut sources = GitopsSources::default();
    sources.chart_repos.insert("cilium".into(), "http://10.89.0.2:8480/charts".into());
    sources.values.insert("cilium".into(), "image:\n  repository: infraflux.local/cilium\n".into());
    sources.gateway_api_repo = Some("http://10.89.0.2:8480/git/gateway-api.git".into());
    for c in ["cert-manager", "external-dns", "sealed-secrets"] {
        sources.omit.insert(c.into());
    }
    let files = render_gitops_files(&p, &sources).expect("renders");
    if let Err(StackError::SelfCheck { findings }) = self_check(&files) {
        panic!("{}", findings.iter().map(|f| f.to_string()).collect::<Vec<_>>().join("\n"));
    }
    let cilium = &files["infrastructure/cilium/cilium.yaml"];
    assert!(cilium.contains("url: \"http://10.89.0.2:8480/charts\""), "{cilium}");
    assert!(cilium.contains("repository: infraflux.local/cilium"), "the installer's values, not the profile's: {cilium}");
    let cluster = files.iter().find(|(k, _)| k.starts_with("clusters/")).map(|(_, v)| v).expect("cluster file");
    assert!(cluster.contains("url: \"http://10.89.0.2:8480/git/gateway-api.git\""), "{cluster}");
    assert!(!files.keys().any(|k| k.contains("cert-manager") || k.contains("external-dns") || k.contains("sealed-secrets")));
    assert!(!files.contains_key("infrastructure/configs/issuer.yaml"), "no issuer without cert-manager");
    assert!(
        files["infrastructure/controllers/kustomization.yaml"].contains("resources: []"),
        "an emptied directory still exists for its Kustomization"
    );
    // Nothing overridden, nothing left out: the tree `render --gitops` writes.
    assert_eq!(render_gitops_files(&p, &GitopsSources::default()).expect("renders"), render_files(&p, true).expect("renders"));
}
