//! `up --gitops` on `proxmox-rke2`: the tree is served from the harness
//! host on its address on the route to the nodes. Proved here with the
//! Proxmox-API test server's network lab (root; `INFRAFLUX_LAB=skip` opts
//! out): a "VM" (a namespace behind the lab's bridge, as the test server
//! starts them) clones the served tree through the address the provider
//! chose, a push from it is refused, and `down` stops the server.
//!
//! The rest of a GitOps install on Proxmox (Cilium, then Flux pulling its
//! published images) needs RKE2 running on the nodes, which this machine
//! cannot fetch: the install path is the one `local_gitops.rs` runs.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test")]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use infraflux_gitops::source;
use infraflux_provision::Provider as _;
use infraflux_provision::proxmox::ProxmoxRke2;
use infraflux_provision::proxmox::tls::format_fingerprint;
use infraflux_testkit::pve::vm::Lab;
use infraflux_testkit::pve::{Config, PveServer};

fn git_in(ns: &str, args: &[&str], dir: &Path) -> std::process::Output {
    Command::new("ip")
        .args(["netns", "exec", ns, "git"])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_nodes_fetch_the_served_tree_from_the_harness_host_and_down_stops_it() {
    if !infraflux_testkit::lab::enabled() {
        return;
    }
    let lab = Lab::create().unwrap();
    let net = lab.cidr().trim_end_matches("0/24").to_owned();
    let dir = tempfile::tempdir().unwrap();
    let vm = lab.start_vm(9101, lab.ip(11), 24, "", None, &dir.path().join("disk")).unwrap();
    let server = PveServer::start(
        Config {
            node: "pve1".into(),
            storage: "local-lvm".into(),
            token_id: "infraflux@pve!harness".into(),
            token: "pve-token-for-the-gitops-test".into(),
            seed: vec![(9000, "ubuntu-2404-cloudinit".into(), true, None)],
            storage_avail_gib: 100,
        },
        None,
    )
    .await
    .unwrap();
    std::fs::write(dir.path().join("pve-token"), "pve-token-for-the-gitops-test").unwrap();
    // The default profile with its node LAN moved into the lab: the first
    // server is `<lab>.11`, the VM above.
    let text = infraflux_model::profile::DEFAULT_YAML.replace("192.168.3.", &net);
    let start = text.find("\nprovider:").unwrap() + 1;
    let end = start + text[start..].find("\nversions:").unwrap() + 1;
    let provider = format!(
        "provider:\n  proxmoxRke2:\n    proxmox:\n      endpoint: {}\n      tokenId: \"infraflux@pve!harness\"\n      token: {{file: {d}/pve-token}}\n      targetNode: pve1\n      template: ubuntu-2404-cloudinit\n      bridge: vmbr0\n      fingerprint: \"{}\"\n      ssh: {{user: root, publicKeyFile: {d}/id.pub, privateKeyFile: {d}/id}}\n    rke2:\n      version: v1.35.4+rke2r1\n      token: {{file: {d}/pve-token}}\n      cni: none\n",
        server.endpoint(),
        format_fingerprint(&server.fingerprint()),
        d = dir.path().display(),
    );
    let text = format!("{}{provider}{}", &text[..start], &text[end..]);
    let profile = infraflux_model::profile::load_str("p.yaml", &text).unwrap_or_else(|e| panic!("{e}")).profile;
    let first = profile.nodes.iter().find(|n| n.role == infraflux_model::profile::NodeRole::Server).unwrap();
    assert_eq!(first.ip, lab.ip(11).to_string(), "the profile's first server is the lab VM");
    let state = dir.path().join("state");
    let px = ProxmoxRke2::new(&profile, state.clone()).unwrap().with_log(|_| {});

    let host = px.gitops_host().expect("a Proxmox provider serves the tree from this host");
    assert_eq!(host.base_url(), format!("http://{}:8480", lab.host_ip()), "the host's address on the nodes' network");
    assert_eq!(host.flux_images, None, "the VMs pull Flux's published images");
    let mut files = BTreeMap::new();
    files.insert("clusters/infraflux/flux.yaml".to_owned(), b"kind: Kustomization\n".to_vec());
    let sha = source::git_repo(&host.root.join("git/infraflux.git"), &files, None, "tree").unwrap();
    px.start_gitops(Path::new(env!("CARGO_BIN_EXE_infraflux"))).await.unwrap();

    let url = format!("{}/git/infraflux.git", host.base_url());
    let work = dir.path().to_path_buf();
    let ns = vm.netns().to_owned();
    let out = tokio::task::spawn_blocking(move || {
        let clone = git_in(&ns, &["clone", "-q", &url, "checkout"], &work);
        let co = work.join("checkout");
        let head = Command::new("git").args(["-C", co.to_str().unwrap(), "rev-parse", "HEAD"]).output().unwrap();
        let push = git_in(&ns, &["-C", co.to_str().unwrap(), "push", "-q", &url, "HEAD:refs/heads/evil"], &work);
        (clone, head, push)
    })
    .await
    .unwrap();
    assert!(out.0.status.success(), "the node could not clone the served tree: {}", String::from_utf8_lossy(&out.0.stderr));
    assert_eq!(String::from_utf8_lossy(&out.1.stdout).trim(), sha);
    assert!(!out.2.status.success(), "a push from a node was accepted");

    px.down().await.unwrap();
    assert!(!state.join("run/gitops-source.pid").exists(), "down forgot the server");
    let ps = Command::new("pgrep").args(["-f", &format!("serve-source --root {}", host.root.display())]).output().unwrap();
    let ps = String::from_utf8_lossy(&ps.stdout);
    assert!(ps.trim().is_empty(), "the source server outlived down: {ps}");
    drop(vm);
    drop(lab);
}
