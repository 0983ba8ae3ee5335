//! The GitOps tier: `infraflux up --gitops` on the local provider installs
//! the bootstrap (Gateway API CRDs, Cilium), then Flux built from its
//! pinned sources, and hands Flux the rendered tree served from the node's
//! host. Flux must reconcile the whole tree and adopt the Cilium release
//! without rolling its agents; the tree served is the one applied; a
//! change made behind Flux's back is reverted; the `gitops` suite passes;
//! `down` leaves the host as it found it.
//!
//! Root only and slow (a node plus Flux: about eight minutes warm; the
//! Flux controllers' first build 11 minutes more on 2 cores), so it is
//! `#[ignore]`d; `.ci/test` runs it when `INFRAFLUX_LOCAL_GITOPS=1`.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test")]

mod common;

use std::time::{Duration, Instant};

use common::local::{Node, infraflux, sh};
use infraflux_provision::local::Local;
use infraflux_provision::local::host::HostState;
use infraflux_testkit::paths::repo_root;
use serde_json::Value;

fn json(node: &Node, args: &[&str]) -> Value {
    let mut a = args.to_vec();
    a.extend(["-o", "json"]);
    let (ok, out) = node.kubectl(&a);
    assert!(ok, "kubectl {args:?}: {out}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

fn ready(o: &Value) -> bool {
    o["status"]["conditions"].as_array().into_iter().flatten().any(|c| c["type"] == "Ready" && c["status"] == "True")
}

#[test]
#[ignore = "GitOps tier: root, minutes; .ci/test runs it when INFRAFLUX_LOCAL_GITOPS=1"]
fn flux_reconciles_the_served_tree_and_adopts_cilium_without_rolling_it() {
    assert!(nix::unistd::Uid::effective().is_root(), "the local provider needs root");
    let before = HostState::capture();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("reports");
    let mut node = Node { local: Local::new(None), up: true };

    let t = Instant::now();
    let (code, log) = infraflux(&["up", "--gitops", "--out", out.to_str().unwrap()]);
    assert_eq!(code, 0, "up --gitops failed:\n{log}");
    eprintln!("up --gitops took {:?}\n{log}", t.elapsed());
    for phase in ["install::gateway-api-crds: ok", "install::cilium: ok", "install::flux: ok", "install::gitops: ok"] {
        assert!(log.contains(phase), "{phase} missing:\n{log}");
    }
    assert!(!log.contains("install::custom-resources"), "a GitOps install leaves the custom resources to Flux:\n{log}");

    // The commit served is the commit Flux applied, everywhere in the tree.
    let url = "http://10.89.0.2:8480/git/infraflux.git";
    let (ok, remote) = sh("git", &["ls-remote", url, "main"]);
    assert!(ok, "{remote}");
    let sha = remote.split_whitespace().next().unwrap_or("").to_owned();
    assert_eq!(sha.len(), 40, "{remote}");
    let revision = format!("main@sha1:{sha}");
    let repo = json(&node, &["-n", "flux-system", "get", "gitrepository", "flux-system"]);
    assert_eq!(repo["status"]["artifact"]["revision"], revision.as_str(), "{repo}");
    let ks = json(&node, &["-n", "flux-system", "get", "kustomizations"]);
    let ks = ks["items"].as_array().unwrap();
    let names: Vec<&str> = ks.iter().filter_map(|k| k["metadata"]["name"].as_str()).collect();
    for want in ["flux-system", "gateway-api-crds", "cilium", "controllers", "configs", "apps"] {
        assert!(names.contains(&want), "Kustomization {want} missing: {names:?}");
    }
    for k in ks {
        assert!(ready(k), "not Ready: {}", k["status"]);
        if k["metadata"]["name"] != "gateway-api-crds" {
            assert_eq!(k["status"]["lastAppliedRevision"], revision.as_str(), "{}", k["metadata"]["name"]);
        }
    }
    // A push to the served repository is refused: the tree changes only
    // through the harness.
    let clone = tmp.path().join("clone");
    let (ok, msg) = sh("git", &["clone", "-q", url, clone.to_str().unwrap()]);
    assert!(ok, "{msg}");
    let (ok, _) = sh("git", &["-C", clone.to_str().unwrap(), "push", "-q", url, "HEAD:refs/heads/evil"]);
    assert!(!ok, "the source server accepted a push");

    // Cilium adopted: Flux upgraded the release the bootstrap installed
    // (revision 2) and labelled its objects, without changing the agents'
    // pod template, so the DaemonSet never rolled.
    let hr = json(&node, &["-n", "flux-system", "get", "helmrelease", "cilium"]);
    assert!(ready(&hr), "{}", hr["status"]);
    let (ok, msg) = node.kubectl(&["-n", "kube-system", "get", "secret", "sh.helm.release.v1.cilium.v2"]);
    assert!(ok, "Flux did not upgrade the bootstrap release: {msg}");
    let ds = json(&node, &["-n", "kube-system", "get", "daemonset", "cilium"]);
    assert_eq!(ds["metadata"]["labels"]["helm.toolkit.fluxcd.io/name"], "cilium", "{}", ds["metadata"]["labels"]);
    assert_eq!(ds["metadata"]["generation"], 1, "the agents' template changed under Flux");
    assert_eq!(ds["status"]["updatedNumberScheduled"], ds["status"]["desiredNumberScheduled"]);

    // Drift: a pool deleted behind Flux's back comes back on the next
    // reconcile of its Kustomization.
    let pools = json(&node, &["get", "ciliumloadbalancerippools"]);
    let pool = pools["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["metadata"]["labels"]["kustomize.toolkit.fluxcd.io/name"] == "configs")
        .unwrap_or_else(|| panic!("no pool applied by Flux: {pools}"))["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_owned();
    let (ok, msg) = node.kubectl(&["delete", "ciliumloadbalancerippool", &pool]);
    assert!(ok, "{msg}");
    let stamp = format!("reconcile.fluxcd.io/requestedAt=infraflux-{}", std::process::id());
    let (ok, msg) = node.kubectl(&["-n", "flux-system", "annotate", "--overwrite", "kustomization", "configs", &stamp]);
    assert!(ok, "{msg}");
    node.poll("Flux to restore the deleted pool", Duration::from_secs(120), || {
        let (ok, out) = node.kubectl(&["get", "ciliumloadbalancerippool", &pool]);
        if ok { Ok(out) } else { Err(out) }
    });

    // The gitops suite, as a user runs it against the cluster.
    let kubeconfig = node.local.kubeconfig();
    let suites = repo_root().join("suites");
    let run_out = tmp.path().join("run");
    let (code, log) = infraflux(&[
        "run",
        "--kubeconfig",
        kubeconfig.to_str().unwrap(),
        "--context",
        "infraflux-local",
        "--suites",
        suites.to_str().unwrap(),
        "--out",
        run_out.to_str().unwrap(),
        "gitops::",
    ]);
    assert_eq!(code, 0, "{log}");
    let run = std::fs::read_dir(&run_out).unwrap().flatten().map(|e| e.path()).find(|p| p.join("results.json").is_file()).expect("run dir");
    let results: Value = serde_json::from_str(&std::fs::read_to_string(run.join("results.json")).unwrap()).unwrap();
    let passed: Vec<&str> = results["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["outcome"]["status"] == "passed")
        .filter_map(|c| c["id"].as_str())
        .collect();
    assert!(passed.contains(&"gitops::kustomizations-ready") && passed.contains(&"gitops::helmreleases-ready"), "{log}");

    node.down_and_compare(&before);
    let (_, ps) = sh("pgrep", &["-f", "serve-source"]);
    assert!(ps.trim().is_empty(), "the source server outlived down: {ps}");
}
