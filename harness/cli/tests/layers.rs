//! The workspace's layering, read from `cargo metadata` and `cargo tree`:
//! dependencies point down only (model ← kube ← engine ← cli; stack and
//! report beside them), nothing shipped depends on the dev-only testkit, and
//! the shipped `infraflux` binary carries no test server.
//!
//! A forbidden edge is named with the path that reaches it, so the fix is
//! obvious from the failure.
#![allow(clippy::expect_used, clippy::unwrap_used, reason = "test")]

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::process::Command;

use infraflux_testkit::paths::repo_root;
use serde_json::Value;


fn cargo(args: &[&str]) -> String {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(&cargo)
        .current_dir(repo_root())
        .args(args)
        .args(["--offline", "--locked"])
        .output()
        .expect("run cargo");
    assert!(out.status.success(), "cargo {args:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8")
}

/// Package name → names of its dependencies of the given kinds (`null` is
/// cargo's name for normal), from the resolved graph.
struct Graph {
    edges: BTreeMap<String, BTreeSet<String>>,
    workspace: BTreeSet<String>,
}

impl Graph {
    fn load(kinds: &[Option<&str>]) -> Graph {
        // Filtered to the host platform: the graph the CI machine builds, and
        // no download of Windows-only crates under --offline.
        let host = format!("{}-unknown-linux-gnu", std::env::consts::ARCH);
        let meta: Value = serde_json::from_str(&cargo(&["metadata", "--format-version", "1", "--filter-platform", &host]))
            .expect("metadata json");
        let names: BTreeMap<&str, &str> = meta["packages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p["id"].as_str().unwrap(), p["name"].as_str().unwrap()))
            .collect();
        let workspace = meta["workspace_members"].as_array().unwrap().iter().map(|id| names[id.as_str().unwrap()].to_owned()).collect();
        let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for node in meta["resolve"]["nodes"].as_array().unwrap() {
            let from = names[node["id"].as_str().unwrap()].to_owned();
            let set = edges.entry(from).or_default();
            for dep in node["deps"].as_array().unwrap() {
                let wanted = dep["dep_kinds"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|k| kinds.contains(&k["kind"].as_str()));
                if wanted {
                    set.insert(names[dep["pkg"].as_str().unwrap()].to_owned());
                }
            }
        }
        Graph { edges, workspace }
    }

    /// The path from `from` to `to` over the graph's edges, if any.
    fn path(&self, from: &str, to: &str) -> Option<Vec<String>> {
        let mut prev: BTreeMap<&str, &str> = BTreeMap::new();
        let mut queue = VecDeque::from([from]);
        let mut seen = BTreeSet::from([from]);
        while let Some(n) = queue.pop_front() {
            if n == to {
                let mut path = vec![to.to_owned()];
                let mut cur = to;
                while let Some(p) = prev.get(cur) {
                    path.push((*p).to_owned());
                    cur = p;
                }
                path.reverse();
                return Some(path);
            }
            for d in self.edges.get(n).into_iter().flatten() {
                if seen.insert(d.as_str()) {
                    prev.insert(d.as_str(), n);
                    queue.push_back(d.as_str());
                }
            }
        }
        None
    }
}

/// (from, to, why): `to` must not be reachable from `from` over normal and
/// build dependencies.
const FORBIDDEN: &[(&str, &str, &str)] = &[
    ("infraflux-model", "tokio", "the model is pure: parsing and validation never need a runtime"),
    ("infraflux-model", "kube", "the model is pure: no cluster client"),
    ("infraflux-model", "hyper", "the model is pure: no HTTP"),
    ("infraflux-model", "infraflux-kube", "dependencies point down"),
    ("infraflux-kube", "infraflux-model", "the kube layer knows Kubernetes, not suites"),
    ("infraflux-kube", "infraflux-engine", "dependencies point down"),
    ("infraflux-stack", "infraflux-engine", "rendering and checking need no runner"),
    ("infraflux-stack", "kube", "render and check are offline"),
    ("infraflux-engine", "infraflux-provision", "the runner does not provision"),
    ("infraflux-engine", "infraflux-install", "the runner does not install"),
    ("infraflux-engine", "infraflux-report", "the runner emits results; the report crate writes them"),
    ("infraflux-install", "infraflux-engine", "installing does not run suites"),
    ("infraflux-install", "infraflux-report", "installing writes no reports; the CLI does"),
    ("infraflux-install", "infraflux-provision", "the installer takes any cluster it is handed"),
    ("infraflux-provision", "infraflux-install", "providers hand over a cluster; they install nothing"),
    ("infraflux-provision", "infraflux-stack", "providers do not render the stack"),
    ("infraflux-provision", "infraflux-engine", "providers do not run suites"),
    ("infraflux-gitops", "kube", "the GitOps sources know Git and Flux, not clusters: the installer applies them"),
    ("infraflux-gitops", "infraflux-install", "dependencies point down"),
    ("infraflux-report", "infraflux-install", "reports are rebuilt from results.json alone"),
    ("infraflux-report", "infraflux-provision", "reports are rebuilt from results.json alone"),
    ("infraflux-report", "infraflux-kube", "reports are rebuilt from results.json alone"),
    ("infraflux-report", "infraflux-engine", "reports are rebuilt from results.json alone"),
    ("infraflux-report", "kube", "reports are rebuilt from results.json alone"),
];

#[test]
fn dependencies_point_down_only() {
    let g = Graph::load(&[None, Some("build")]);
    let mut bad = Vec::new();
    for (from, to, why) in FORBIDDEN {
        if let Some(path) = g.path(from, to) {
            bad.push(format!("{from} -> {to} ({why}): {}", path.join(" -> ")));
        }
    }
    for member in &g.workspace {
        if member == "infraflux-testkit" {
            continue;
        }
        if let Some(path) = g.path(member, "infraflux-testkit") {
            bad.push(format!("{member} ships but reaches the dev-only testkit: {}", path.join(" -> ")));
        }
    }
    assert!(bad.is_empty(), "forbidden dependency edges:\n{}", bad.join("\n"));
}

/// The rule above is only as good as its graph: a known-good edge must be
/// found, and a planted one through dev-dependencies must be seen when dev
/// edges are included (so an empty graph cannot pass).
#[test]
fn the_graph_sees_real_edges() {
    let normal = Graph::load(&[None, Some("build")]);
    assert!(normal.path("infraflux", "infraflux-model").is_some());
    assert!(normal.path("infraflux-engine", "kube").is_some());
    // The allowed edges of the install layer, explicitly: install on model,
    // kube and stack; provision on model and kube; the CLI on both.
    for (from, to) in [
        ("infraflux-install", "infraflux-model"),
        ("infraflux-install", "infraflux-kube"),
        ("infraflux-install", "infraflux-stack"),
        ("infraflux-provision", "infraflux-model"),
        ("infraflux-provision", "infraflux-kube"),
        ("infraflux", "infraflux-install"),
        ("infraflux", "infraflux-provision"),
    ] {
        assert!(normal.edges.get(from).is_some_and(|d| d.contains(to)), "{from} -> {to} is an allowed direct edge and should be present");
    }
    assert!(normal.workspace.contains("infraflux-testkit"));
    let with_dev = Graph::load(&[None, Some("build"), Some("dev")]);
    assert!(
        with_dev.path("infraflux-engine", "infraflux-testkit").is_some(),
        "the engine's tests use the testkit; the dev graph must show it"
    );
}

/// What the shipped binary links: `cargo tree -e normal` of `infraflux`
/// has no testkit (and with it no Knot or Cloudflare test server), and
/// hyper's server only for the GitOps source server (`serve-source`, in
/// `infraflux-gitops`), which is a product feature, not a test double.
#[test]
fn the_binary_carries_no_test_server() {
    let tree = cargo(&["tree", "-p", "infraflux", "-e", "normal", "--prefix", "none", "-f", "{p} [{f}]"]);
    assert!(tree.lines().count() > 50, "suspiciously small tree:\n{tree}");
    for line in tree.lines() {
        assert!(!line.starts_with("infraflux-testkit "), "the binary links the testkit: {line}");
    }
    assert!(tree.lines().any(|l| l.starts_with("hyper ")), "kube's client uses hyper; the tree should show it");
    // Who turns hyper's server on: depth-1 lines under `hyper feature "server"`.
    let inverted = cargo(&["tree", "-p", "infraflux", "-e", "normal,features", "-i", "hyper", "--prefix", "depth"]);
    let mut enablers = Vec::new();
    let mut under = false;
    for line in inverted.lines() {
        if let Some(rest) = line.strip_prefix('1') {
            under = rest.starts_with("hyper feature \"server\"");
        } else if under && let Some(rest) = line.strip_prefix('2') {
            enablers.push(rest.split_whitespace().next().unwrap_or("").to_owned());
        }
    }
    enablers.sort();
    enablers.dedup();
    assert_eq!(enablers, ["infraflux-gitops"], "who enables hyper's server:\n{inverted}");
}
