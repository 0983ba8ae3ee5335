//! `up`, `down` and `up --dry-run` end to end: the real binary, the real
//! helm (built by `.ci/build-helm`), the real charts (from the Go module
//! cache, `.ci/fetch-charts`) and the test tier's real API server with kwok
//! nodes. This test binary starts its own control plane, so the cluster-wide
//! CRDs and releases it installs meet no other test.
//!
//! What kwok can and cannot show: kwok marks the charts' pods Running and
//! Ready, so every rollout wait and every CRD Established wait is reached
//! for real. Nothing in a pod runs, though, so:
//! - Cilium's operator never registers Cilium's CRDs. The test registers
//!   them itself from the pinned Cilium module (the files the operator
//!   embeds) before `up`, as the operator would on start; `up`'s own wait
//!   for them Established is then answered by the API server.
//! - Waits on conditions controllers write (Gateway Programmed, pool
//!   usable, Issuer/Certificate Ready) and applies that need cert-manager's
//!   admission webhook to answer need a real datapath. `up` runs with
//!   `--control-plane-only`, which reports them as skipped with that reason;
//!   the test checks they are skipped and never writes a condition itself.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test")]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use infraflux_testkit::controlplane::{ControlPlane, crds, kwok_node};
use infraflux_testkit::paths::repo_root;
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, Patch, PatchParams};

const PROFILE: &str = "fixtures/install/profile.yaml";

fn bin() -> Command {
    let mut c = common::bin();
    c.env("CF_API_TOKEN", "test-token-not-a-real-one-0123456789");
    c
}

fn run(args: &[&str]) -> (i32, String, String) {
    common::outcome(bin().args(args))
}

#[test]
fn dry_run_prints_the_whole_ordered_plan_without_a_cluster() {
    let (code, out, err) = run(&["up", "--provider", "existing", "--dry-run", "--profile", PROFILE, "--kubeconfig", "/nonexistent"]);
    assert_eq!(code, 0, "{err}");
    let pos = |needle: &str| out.find(needle).unwrap_or_else(|| panic!("`{needle}` missing:\n{out}"));
    let order = [
        "phase 1: gateway-api-crds",
        "apply CustomResourceDefinition gateways.gateway.networking.k8s.io",
        "phase 2: cilium",
        "helm release cilium in kube-system: chart cilium 1.20.2, values sha256:",
        "phase 3: cert-manager",
        "helm release cert-manager in cert-manager: chart cert-manager v1.21.2",
        "phase 4: sealed-secrets",
        "phase 5: external-dns",
        "phase 6: custom-resources",
        "apply CiliumLoadBalancerIPPool main",
        "wait Gateway cilium-gateway/main-gateway Programmed=True (timeout 10m)",
    ];
    for w in order.windows(2) {
        assert!(pos(w[0]) < pos(w[1]), "`{}` must come before `{}`:\n{out}", w[0], w[1]);
    }
    // Custom resources last: no phase after them.
    assert!(!out[pos("phase 6: custom-resources")..].contains("helm release"), "{out}");
    assert!(out.contains("[needs a real datapath]"), "waits say what they need: {out}");
    assert!(!out.contains("test-token"), "the token is never resolved or shown in a plan");
}

/// The install fixture profile with an `install:` section, written next to
/// `dir` (relative chart paths start there).
fn profile_with_install(dir: &Path, install: &str) -> String {
    let text = std::fs::read_to_string(repo_root().join(PROFILE)).expect("profile");
    let path = dir.join("profile.yaml");
    std::fs::write(&path, format!("{text}\ninstall:\n{install}")).expect("write profile");
    path.to_str().expect("utf8").to_owned()
}

#[test]
fn dry_run_shows_the_profile_chart_directory_and_the_image_mirror() {
    let tmp = tempfile::tempdir().expect("tmp");
    let plain = run(&["up", "--provider", "existing", "--dry-run", "--profile", PROFILE, "--kubeconfig", "/nonexistent"]).1;
    // A local copy of the pinned Cilium chart, named by a relative path.
    let module = infraflux_stack::charts::locate(infraflux_stack::charts::Chart::Cilium, "1.20.2", None).expect("cilium module: run .ci/fetch-charts");
    let local = tmp.path().join("charts/cilium");
    copy_dir(&module.path, &local);
    let profile = profile_with_install(tmp.path(), "  charts:\n    cilium: charts/cilium\n  imageRegistry: mirror.lab.internal:5000/cache\n");
    let (code, out, err) = run(&["up", "--provider", "existing", "--dry-run", "--profile", &profile, "--kubeconfig", "/nonexistent"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("images from registry mirror mirror.lab.internal:5000/cache"), "{out}");
    let cilium = |text: &str| text.lines().find(|l| l.contains("helm release cilium ")).unwrap_or_else(|| panic!("{text}")).to_owned();
    assert!(cilium(&out).contains(&format!("chart from profile install.charts.cilium: {})", local.display())), "the local directory is the chart source: {out}");
    let digest = |line: String| line.split("values ").nth(1).and_then(|r| r.split_whitespace().next()).map(str::to_owned).expect("digest");
    assert_ne!(digest(cilium(&out)), digest(cilium(&plain)), "the mirror changes Cilium's values");
    for image in [
        "image image.repository: quay.io/cilium/cilium -> mirror.lab.internal:5000/cache/cilium/cilium",
        "image operator.image.repository: quay.io/cilium/operator -> mirror.lab.internal:5000/cache/cilium/operator",
        "image imageRegistry: quay.io -> mirror.lab.internal:5000/cache",
        "image image.repository: registry.k8s.io/external-dns/external-dns -> mirror.lab.internal:5000/cache/external-dns/external-dns",
        "image image.registry: docker.io/bitnami/sealed-secrets-controller -> mirror.lab.internal:5000/cache/bitnami/sealed-secrets-controller",
    ] {
        assert!(out.contains(image), "`{image}` missing:\n{out}");
    }
    assert!(plain.contains("chart from Go module cache"), "{plain}");

    // Both fields are checked before anything runs: rule, file:line, hint.
    let bad = tempfile::tempdir().expect("tmp");
    let profile = profile_with_install(bad.path(), "  charts:\n    certManager: .\n  imageRegistry: https://mirror.lab.internal\n");
    let (code, _, err) = run(&["up", "--provider", "existing", "--dry-run", "--profile", &profile, "--kubeconfig", "/nonexistent"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("PROF-037") && err.contains("has no Chart.yaml") && err.contains("helm pull"), "{err}");
    assert!(err.contains("PROF-038") && err.contains("URL scheme"), "{err}");
    let lines = std::fs::read_to_string(&profile).expect("profile").lines().count();
    assert!(err.contains(&format!("profile.yaml:{}:", lines - 1)) && err.contains(&format!("profile.yaml:{lines}:")), "findings name file:line: {err}");
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read").flatten() {
        let target = to.join(e.file_name());
        if e.file_type().expect("type").is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::write(&target, std::fs::read(e.path()).expect("read")).expect("write");
        }
    }
}

fn kc(cp: &ControlPlane) -> String {
    cp.kubeconfig_path().to_str().expect("utf8").to_owned()
}

fn helm_bin() -> PathBuf {
    infraflux::install::helm::locate(None).expect("helm: build it with .ci/build-helm")
}

/// Helm releases in every namespace: name -> revision.
fn releases(cp: &ControlPlane) -> BTreeMap<String, String> {
    let out = Command::new(helm_bin())
        .args(["list", "-A", "--deployed", "--failed", "--pending", "-o", "json", "--kubeconfig", &kc(cp)])
        .output()
        .expect("helm list");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    v.as_array()
        .into_iter()
        .flatten()
        .map(|r| (format!("{}/{}", r["namespace"].as_str().unwrap_or(""), r["name"].as_str().unwrap_or("")), r["revision"].to_string()))
        .collect()
}

/// Every object an install phase created: key -> resourceVersion.
async fn installed(client: &kube::Client) -> BTreeMap<String, String> {
    let cluster = infraflux::cluster::Cluster::from_client(client.clone(), None);
    let keys = cluster.find_labelled(&infraflux::install::run::installed_selector()).await.expect("sweep list");
    let mut out = BTreeMap::new();
    for k in keys {
        let obj = cluster.get(&k.kind, k.namespace.as_deref(), &k.name).await.expect("get");
        let rv = obj.and_then(|o| o.pointer("/metadata/resourceVersion").and_then(|v| v.as_str()).map(str::to_owned)).unwrap_or_default();
        out.insert(k.to_string(), rv);
    }
    out
}

fn run_dir(out: &Path) -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(out).expect("out").flatten().map(|e| e.path()).collect();
    dirs.sort();
    dirs.pop().expect("a run dir")
}

async fn prepare_cluster(cp: &ControlPlane, client: &kube::Client) {
    let nodes: Api<Node> = Api::all(client.clone());
    // Two nodes: the operator's two replicas spread by hostname. A kubelet
    // would label its node with its OS (the charts select on it), and the
    // node lifecycle controller (not run by the test tier) would lift the
    // not-ready taint the API server puts on a new node once it is Ready.
    for name in ["install-kwok-1", "install-kwok-2"] {
        kwok_node(client, name, Duration::from_secs(60)).await;
        let patch = serde_json::json!({
            "metadata": {"labels": {"kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"}},
            "spec": {"taints": null},
        });
        nodes.patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await.expect("label node");
    }
    // Cilium's operator would register these at start (see the module doc).
    let dir = infraflux_stack::charts::locate(infraflux_stack::charts::Chart::Cilium, "1.20.2", None)
        .expect("cilium module: run .ci/fetch-charts")
        .path;
    let module = dir.ancestors().nth(3).expect("module root").to_path_buf();
    let mut files = Vec::new();
    for sub in ["v2", "v2alpha1"] {
        let d = module.join("pkg/k8s/apis/cilium.io/client/crds").join(sub);
        files.extend(std::fs::read_dir(&d).expect("cilium crds").flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "yaml")));
    }
    files.sort();
    let docs = crds::load_crds(&files).expect("parse cilium crds");
    crds::apply_crds(client, &docs, Duration::from_secs(60)).await.expect("register cilium crds");
    let _ = cp;
}

/// A chart directory named `cilium` at the profile's version whose template
/// fails to render.
fn broken_charts(dir: &Path) -> PathBuf {
    let charts = dir.join("charts");
    let c = charts.join("cilium");
    std::fs::create_dir_all(c.join("templates")).expect("mkdir");
    std::fs::write(c.join("Chart.yaml"), "apiVersion: v2\nname: cilium\nversion: 1.20.2\n").expect("chart");
    std::fs::write(c.join("values.yaml"), "{}\n").expect("values");
    std::fs::write(c.join("templates/broken.yaml"), "{{ fail \"this chart is broken on purpose\" }}\n").expect("template");
    charts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_installs_in_order_a_second_up_changes_nothing_and_down_leaves_nothing() {
    let Some(cp) = ControlPlane::for_tests() else { return };
    let client = cp.client().await.expect("client");
    prepare_cluster(cp, &client).await;
    let tmp = tempfile::tempdir().expect("tmp");
    let out = tmp.path().join("runs");
    let out_s = out.to_str().expect("utf8").to_owned();
    let kc = kc(cp);
    let up_args = ["up", "--provider", "existing", "--profile", PROFILE, "--kubeconfig", &kc, "--control-plane-only", "--wait-timeout", "3m", "--out", &out_s];

    // Interrupted mid-way: what was created so far is recorded, and `down` cleans it.
    let mut child = bin().args(up_args).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::piped()).spawn().expect("spawn up");
    let cluster = infraflux::cluster::Cluster::from_client(client.clone(), None);
    let cm = cluster.resolve("v1", "ConfigMap").await.expect("kind");
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let rec = cluster.get(&cm, Some("kube-system"), "infraflux-install").await.expect("get record");
        if rec.is_some() {
            break;
        }
        assert!(Instant::now() < deadline, "up never recorded a release");
        if child.try_wait().expect("wait").is_some() {
            let out = child.wait_with_output().expect("output");
            panic!("up ended before it could be interrupted:\n{}", String::from_utf8_lossy(&out.stderr));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let status = Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("kill");
    assert!(status.success());
    let interrupted = tokio::task::spawn_blocking(move || child.wait_with_output()).await.expect("join").expect("wait");
    let err = String::from_utf8_lossy(&interrupted.stderr);
    assert_eq!(interrupted.status.code(), Some(3), "{err}");
    assert!(!installed(&client).await.is_empty(), "the interrupted up had created objects");
    let (code, _, err) = run(&["down", "--provider", "existing", "--profile", PROFILE, "--kubeconfig", &kc]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(installed(&client).await, BTreeMap::new(), "down after an interrupted up leaves nothing");
    assert_eq!(releases(cp), BTreeMap::new(), "no helm release left");

    // A full install.
    let (code, _, err) = run(&up_args);
    assert_eq!(code, 0, "{err}");
    let junit = std::fs::read_to_string(run_dir(&out).join("junit.xml")).expect("junit");
    for phase in ["gateway-api-crds", "cilium", "cert-manager", "sealed-secrets", "external-dns", "custom-resources"] {
        assert!(junit.contains(&format!("name=\"install::{phase}\"")), "{phase}: {junit}");
    }
    assert!(junit.contains(r#"name="install" package="testsuite/install""#) && !junit.contains("<failure"), "{junit}");
    let results: infraflux::results::RunResults =
        serde_json::from_str(&std::fs::read_to_string(run_dir(&out).join("results.json")).expect("results")).expect("json");
    let steps: Vec<&infraflux::results::StepResult> = results.install.iter().flat_map(|p| &p.steps).collect();
    let find = |name: &str| steps.iter().find(|s| s.name.contains(name)).unwrap_or_else(|| panic!("no step {name}: {steps:?}"));
    // Reached on kwok:
    for reached in ["wait 10 Gateway API CRDs Established", "wait cilium workloads rolled out", "Cilium CRDs Established", "wait cert-manager workloads rolled out", "wait external-dns workloads rolled out", "apply CiliumLoadBalancerIPPool main"] {
        assert_eq!(find(reached).status, "passed", "{reached}: {:?}", find(reached));
    }
    assert!(find("wait cilium workloads rolled out").message.as_deref().is_some_and(|m| !m.starts_with("0 ")), "cilium has workloads to roll out");
    // Not reachable without a datapath: skipped, with the reason.
    for skipped in ["wait Gateway cilium-gateway/main-gateway Programmed=True", "wait Certificate cilium-gateway/wildcard-tls Ready=True", "apply ClusterIssuer letsencrypt-cloudflare"] {
        let s = find(skipped);
        assert_eq!(s.status, "skipped", "{skipped}");
        assert!(s.message.as_deref().is_some_and(|m| m.contains("real datapath")), "{s:?}");
    }
    assert!(!std::fs::read_to_string(run_dir(&out).join("results.json")).expect("r").contains("test-token"), "the token never reaches a report");
    let objects = installed(&client).await;
    let rels = releases(cp);
    assert_eq!(rels.len(), 4, "{rels:?}");
    assert!(objects.keys().any(|k| k.starts_with("customresourcedefinition/gateways.gateway")), "{objects:?}");

    // A second up changes nothing.
    let (code, _, err) = run(&up_args);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("nothing changed"), "{err}");
    assert_eq!(installed(&client).await, objects, "no resourceVersion moved");
    assert_eq!(releases(cp), rels, "no helm revision moved");

    // Acceptance of the cluster as found: unchanged, it matches the
    // profile; after a release value and a pool field are changed behind
    // the installer's back, the drift report names exactly those two.
    let suites = tmp.path().join("suites");
    std::fs::create_dir_all(&suites).expect("suites dir");
    std::fs::copy(repo_root().join("fixtures/suites/valid/minimal.yaml"), suites.join("minimal.yaml")).expect("suite");
    let suites_s = suites.to_str().expect("utf8").to_owned();
    let accept = |name: &str| {
        let dir = tmp.path().join(name);
        let (code, _, err) = run(&[
            "conform", "--skip-install", "--provider", "existing", "--profile", PROFILE, "--kubeconfig", &kc, "--control-plane-only",
            "--suites", &suites_s, "--out", dir.to_str().expect("utf8"), "--deadline", "30s",
        ]);
        assert!(code == 0 || code == 1, "{code}: {err}");
        let run = run_dir(&dir);
        let results: infraflux::results::RunResults = serde_json::from_str(&std::fs::read_to_string(run.join("results.json")).expect("results")).expect("json");
        let summary = std::fs::read_to_string(run.join("summary.md")).expect("summary");
        (results.drift.expect("a drift report"), summary, err)
    };
    let (drift, summary, err) = accept("accept-unchanged");
    assert_eq!(drift.error, None, "{err}");
    assert_eq!(drift.items, Vec::new(), "an unchanged cluster has no drift: {err}");
    assert_eq!(drift.releases, 4);
    assert!(drift.objects > 5, "{drift:?}");
    assert!(err.contains("drift: none") && summary.contains("No drift: 4 release(s)"), "{err}\n{summary}");

    let cilium_chart = infraflux_stack::charts::locate(infraflux_stack::charts::Chart::Cilium, "1.20.2", None).expect("cilium module").path;
    let out_helm = Command::new(helm_bin())
        .args(["upgrade", "cilium", cilium_chart.to_str().expect("utf8"), "-n", "kube-system", "--reuse-values", "--set", "bandwidthManager.enabled=false", "--kubeconfig", &kc])
        .output()
        .expect("helm upgrade");
    assert!(out_helm.status.success(), "{}", String::from_utf8_lossy(&out_helm.stderr));
    let pools: Api<kube::api::DynamicObject> = Api::all_with(
        client.clone(),
        &kube::api::ApiResource::from_gvk_with_plural(&kube::api::GroupVersionKind::gvk("cilium.io", "v2", "CiliumLoadBalancerIPPool"), "ciliumloadbalancerippools"),
    );
    pools
        .patch("main", &PatchParams::default(), &Patch::Merge(&serde_json::json!({"spec": {"allowFirstLastIPs": "No"}})))
        .await
        .expect("patch pool");
    let (drift, summary, err) = accept("accept-drifted");
    let found: Vec<(String, String, String, String)> = drift.items.iter().map(|i| (i.object.clone(), i.path.clone(), i.profile.clone(), i.cluster.clone())).collect();
    assert_eq!(
        found,
        [
            ("release kube-system/cilium".to_owned(), "bandwidthManager.enabled".to_owned(), "true".to_owned(), "false".to_owned()),
            ("CiliumLoadBalancerIPPool main".to_owned(), "spec.allowFirstLastIPs".to_owned(), "Yes".to_owned(), "No".to_owned()),
        ],
        "{err}"
    );
    assert!(drift.items.iter().all(|i| i.kind == infraflux::results::DriftKind::Value));
    assert!(err.contains("release kube-system/cilium: value bandwidthManager.enabled: profile true, cluster false"), "shown before the suites: {err}");
    assert!(summary.contains("| CiliumLoadBalancerIPPool main | value | spec.allowFirstLastIPs | Yes | No |"), "{summary}");
    // `up` puts both back (the release and the pool are its own).
    let (code, _, err) = run(&up_args);
    assert_eq!(code, 0, "{err}");
    let (drift, _, err) = accept("accept-restored");
    assert_eq!(drift.items, Vec::new(), "{err}");

    // down leaves nothing; a second down is a no-op.
    for _ in 0..2 {
        let (code, _, err) = run(&["down", "--provider", "existing", "--profile", PROFILE, "--kubeconfig", &kc]);
        assert_eq!(code, 0, "{err}");
        assert_eq!(installed(&client).await, BTreeMap::new());
        assert_eq!(releases(cp), BTreeMap::new());
    }

    // conform: install, the suites (one case: the nodes exist), reports
    // with the install phases, then down of what this run installed; the
    // run's verdict is the exit code.
    let conform_out = tmp.path().join("conform");
    let (code, _, err) = run(&[
        "conform", "--provider", "existing", "--profile", PROFILE, "--kubeconfig", &kc, "--control-plane-only",
        "--wait-timeout", "3m", "--suites", suites.to_str().expect("utf8"),
        "--out", conform_out.to_str().expect("utf8"), "--deadline", "30s",
    ]);
    // The case passes; the profile's promises stay open (no suite covers
    // them), so the verdict is the run's gating one (0 or 1), never an
    // install or cluster failure.
    assert!(code == 0 || code == 1, "{code}: {err}");
    let results: infraflux::results::RunResults =
        serde_json::from_str(&std::fs::read_to_string(run_dir(&conform_out).join("results.json")).expect("results")).expect("json");
    assert_eq!(results.install.len(), 6, "{:?}", results.install);
    let drift = results.drift.as_ref().expect("conform compares the installed stack with the profile");
    assert!(drift.items.is_empty() && drift.error.is_none(), "a fresh install has no drift: {drift:?}");
    let summary = std::fs::read_to_string(run_dir(&conform_out).join("summary.md")).expect("summary");
    assert!(summary.contains("## Install") && summary.contains("| cilium | passed |"), "the summary lists the install phases: {summary}");
    assert!(results.cases.iter().any(|c| c.id == "minimal::nodes-exist" && c.outcome == infraflux::results::Outcome::Passed), "{:?}", results.cases);
    assert!(std::fs::read_to_string(run_dir(&conform_out).join("junit.xml")).expect("junit").contains(r#"name="install::cilium""#));
    assert_eq!(installed(&client).await, BTreeMap::new(), "conform removed what it installed");
    assert_eq!(releases(cp), BTreeMap::new());

    // A chart that fails to render: a red install::cilium and a diagnostics bundle.
    let charts = broken_charts(tmp.path());
    let charts_s = charts.to_str().expect("utf8").to_owned();
    let mut broken = up_args.to_vec();
    broken.extend(["--charts", &charts_s]);
    let (code, _, err) = run(&broken);
    assert_eq!(code, 3, "{err}");
    let dir = run_dir(&out);
    let junit = std::fs::read_to_string(dir.join("junit.xml")).expect("junit");
    assert!(junit.contains(r#"name="install::cilium""#) && junit.contains("<failure"), "{junit}");
    assert!(junit.contains("broken on purpose"), "the helm error is in JUnit: {junit}");
    assert!(junit.contains(r#"name="install::custom-resources""#) && junit.contains("phase `cilium` failed"), "later phases are skipped: {junit}");
    for f in ["README.md", "phases.json", "nodes.json", "events/kube-system.txt", "helm/cilium.txt", "resources.json"] {
        assert!(dir.join("diagnostics").join(f).is_file(), "diagnostics/{f} missing");
    }
    let summary = std::fs::read_to_string(dir.join("summary.md")).expect("summary");
    assert!(summary.contains("| cilium | failed |") && summary.contains("Diagnostics bundle: [diagnostics](diagnostics/README.md)"), "{summary}");
    assert!(std::fs::read_to_string(dir.join("report.html")).expect("html").contains(r#"<a href="diagnostics/README.md">"#));
    let (code, _, err) = run(&["down", "--provider", "existing", "--profile", PROFILE, "--kubeconfig", &kc]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(installed(&client).await, BTreeMap::new());
    assert_eq!(releases(cp), BTreeMap::new());
}

#[test]
fn a_gitops_dry_run_stops_the_direct_install_after_cilium_and_hands_the_tree_to_flux() {
    let (code, out, err) = run(&["up", "--provider", "local", "--gitops", "--dry-run"]);
    assert_eq!(code, 0, "{err}");
    let pos = |needle: &str| out.find(needle).unwrap_or_else(|| panic!("`{needle}` missing:\n{out}"));
    let order = [
        "phase 1: gateway-api-crds",
        "phase 2: cilium",
        "phase 3: flux",
        "apply CustomResourceDefinition kustomizations.kustomize.toolkit.fluxcd.io",
        "apply Deployment flux-system/source-controller",
        "wait Deployment flux-system/helm-controller rolled out",
        "phase 4: gitops",
        "apply GitRepository flux-system/flux-system (from the tree served at http://10.89.0.2:8480/git/",
        "wait Kustomization flux-system/gateway-api-crds Ready=True",
        "wait Kustomization flux-system/cilium Ready=True",
        "wait Kustomization flux-system/configs Ready=True",
        "wait Kustomization flux-system/apps Ready=True",
        "wait HelmRelease flux-system/cilium Ready=True",
    ];
    for w in order.windows(2) {
        assert!(pos(w[0]) < pos(w[1]), "`{}` must come before `{}`", w[0], w[1]);
    }
    assert!(!out.contains("custom-resources"), "Flux applies the custom resources:\n{out}");
    assert!(!out.contains("phase 5"), "{out}");
}

#[test]
fn gitops_needs_a_provider_that_can_serve_the_tree() {
    let (code, out, err) = run(&["up", "--provider", "existing", "--gitops", "--dry-run", "--profile", PROFILE, "--kubeconfig", "/nonexistent"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("error[FLAG-010]") && err.contains("cannot serve a GitOps tree"), "{err}");
    assert!(err.starts_with("<command line>:1:"), "located at the flag: {err}");
    assert!(out.is_empty(), "nothing planned: {out}");
}

#[test]
fn gitops_with_skip_install_is_refused_before_anything_runs() {
    let (code, out, err) = run(&["conform", "--skip-install", "--gitops", "--profile", PROFILE, "--kubeconfig", "/nonexistent"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("error[FLAG-010]"), "{err}");
}
