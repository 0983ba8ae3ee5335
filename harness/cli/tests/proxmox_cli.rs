//! `up`/`down --provider proxmox-rke2` through the binary, against the
//! Proxmox-API test server: the dry-run plan, a failing `up` whose reports
//! (stdout, stderr, results.json, junit.xml) are searched for the canary
//! tokens, and a `down` that removes only the tagged VM. Needs no root: the
//! failure is a clone task ending in error, before any VM boots.
#![allow(clippy::expect_used, clippy::unwrap_used, reason = "test")]

mod common;

use std::path::Path;

use common::{bin, outcome};
use infraflux_testkit::pve::{Config, PveServer};

const PVE_CANARY: &str = "CANARY-cli-pve-3c9e1a7d5b";
const RKE2_CANARY: &str = "CANARY-cli-rke2-6f0b2d8e4a";

fn write_profile(dir: &Path, endpoint: &str, fingerprint: &str) -> std::path::PathBuf {
    std::fs::write(dir.join("id.pub"), "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKZgJ1bJ8n1h0o6Wq3uXk5Qq4v0mV9w8aQz3Qm5t2x7Y test@ci\n").unwrap();
    let text = infraflux_model_default().replace("192.168.3.", "10.91.254.");
    let start = text.find("\nprovider:").unwrap() + 1;
    let end = start + text[start..].find("\nversions:").unwrap() + 1;
    let provider = format!(
        "provider:\n  proxmoxRke2:\n    proxmox:\n      endpoint: {endpoint}\n      tokenId: \"infraflux@pve!harness\"\n      token: {{env: PROXMOX_TOKEN}}\n      targetNode: pve1\n      template: ubuntu-2404-cloudinit\n      bridge: vmbr0\n      fingerprint: \"{fingerprint}\"\n      ssh: {{user: root, publicKeyFile: {d}/id.pub, privateKeyFile: {d}/id}}\n    rke2:\n      version: v1.35.4+rke2r1\n      token: {{env: RKE2_TOKEN}}\n      cni: none\n      apiVip: {{kubeVip: {{interface: eth0}}}}\n",
        d = dir.display()
    );
    let path = dir.join("proxmox.yaml");
    std::fs::write(&path, format!("{}{provider}{}", &text[..start], &text[end..])).unwrap();
    path
}

fn infraflux_model_default() -> String {
    // The install tests' profile: its chart versions are the ones
    // `.ci/fetch-charts` puts in the module cache.
    std::fs::read_to_string(infraflux_testkit::paths::repo_root().join("fixtures/install/profile.yaml")).unwrap()
}

fn no_canary(what: &str, text: &str) {
    for c in [PVE_CANARY, RKE2_CANARY] {
        assert!(!text.contains(c), "{what} leaks a token:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_plan_a_failing_up_and_down_through_the_binary_never_show_the_tokens() {
    let server = PveServer::start(
        Config {
            node: "pve1".into(),
            storage: "local-lvm".into(),
            token_id: "infraflux@pve!harness".into(),
            token: PVE_CANARY.into(),
            // A VM an earlier `up` made, and someone else's VM with a
            // node's name.
            seed: vec![
                (9000, "ubuntu-2404-cloudinit".into(), true, None),
                (500, "k8s-server-1".into(), false, Some("infraflux-infraflux".into())),
                (501, "k8s-server-2".into(), false, None),
            ],
            storage_avail_gib: 1000,
        },
        None,
    )
    .await
    .unwrap();
    server.fail_clone_of("k8s-server-2");
    let dir = tempfile::tempdir().unwrap();
    let fp = infraflux_provision::proxmox::tls::format_fingerprint(&server.fingerprint());
    let profile = write_profile(dir.path(), &server.endpoint(), &fp);
    let p = profile.display().to_string();
    // The provider's state goes to a throw-away cache; the charts stay
    // where `.ci/fetch-charts` put them.
    let gomod = std::env::var_os("GOMODCACHE").map(std::path::PathBuf::from).or_else(|| infraflux_model::pins::cache_dir().map(|c| c.join("go/mod"))).unwrap();
    let envs = |c: &mut std::process::Command| {
        c.env("PROXMOX_TOKEN", PVE_CANARY)
            .env("RKE2_TOKEN", RKE2_CANARY)
            .env("CF_API_TOKEN", "cf-dummy-token")
            .env("GOMODCACHE", &gomod)
            .env("INFRAFLUX_CACHE", dir.path().join("cache"));
    };

    let mut c = bin();
    c.args(["up", "--provider", "proxmox-rke2", "--dry-run", "--profile", &p]);
    envs(&mut c);
    let (code, out, err) = outcome(&mut c);
    assert_eq!(code, 0, "{err}");
    no_canary("dry-run stdout", &out);
    no_canary("dry-run stderr", &err);
    assert!(out.contains("provider proxmox-rke2: GET /cluster/nextid"), "{out}");
    assert!(out.contains("provider proxmox-rke2: node k8s-server-1: write /etc/rancher/rke2/token (mode 0600): <secret from env:RKE2_TOKEN>"), "{out}");
    assert!(out.contains("provider proxmox-rke2: node k8s-server-2: write /var/lib/rancher/rke2/agent/pod-manifests/kube-vip.yaml (mode 0600):"), "{out}");
    assert!(out.contains("provider proxmox-rke2: node k8s-server-2: run: wait for the registration address:"), "{out}");
    assert!(server.seen().is_empty(), "a dry run calls nothing");

    let mut c = bin();
    let runs = dir.path().join("runs");
    c.args(["up", "--provider", "proxmox-rke2", "--profile", &p, "--helm", "/bin/true", "--out"]).arg(&runs);
    envs(&mut c);
    let (code, out, err) = tokio::task::spawn_blocking(move || outcome(&mut c)).await.unwrap();
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("clone failed") && err.contains("TASK ERROR"), "{err}");
    no_canary("up stdout", &out);
    no_canary("up stderr", &err);
    let run = std::fs::read_dir(&runs).unwrap().next().unwrap().unwrap().path();
    for f in ["junit.xml", "results.json"] {
        let text = std::fs::read_to_string(run.join(f)).unwrap();
        assert!(text.contains("clone failed"), "{f} carries the error:\n{text}");
        no_canary(f, &text);
    }
    assert!(server.seen().iter().all(|s| s.authorized), "the token reached the server");
    let ids = |s: &PveServer| s.vms().iter().map(|v| v.0).collect::<Vec<_>>();
    assert_eq!(ids(&server), [500, 501, 9000], "the tagged VM was reused (started), the failed clone left nothing");
    assert!(server.vms().iter().any(|v| v.0 == 500 && v.3), "reused and started");

    // `down` only talks to the API: a profile that has lost its SSH
    // identity still removes what `up` made.
    let no_ssh = dir.path().join("no-ssh.yaml");
    let text = std::fs::read_to_string(&p).unwrap();
    std::fs::write(&no_ssh, text.lines().filter(|l| !l.trim_start().starts_with("ssh:")).map(|l| format!("{l}\n")).collect::<String>()).unwrap();
    let mut c = bin();
    c.args(["down", "--provider", "proxmox-rke2", "--profile"]).arg(&no_ssh).args(["--helm", "/bin/true"]);
    envs(&mut c);
    let (code, out, err) = tokio::task::spawn_blocking(move || outcome(&mut c)).await.unwrap();
    assert_eq!(code, 0, "{err}");
    no_canary("down output", &format!("{out}{err}"));
    assert_eq!(ids(&server), [501, 9000], "down destroyed the tagged VM only; the untagged one with a node's name survives");

    // Suites against VMs `up` left running: after `down` there are none,
    // and conform says so instead of naming an unbuilt installer.
    let seen = server.seen().len();
    let mut c = bin();
    c.args(["conform", "--skip-install", "--provider", "proxmox-rke2", "--profile", &p, "--out"]).arg(&runs);
    envs(&mut c);
    let (code, out, err) = tokio::task::spawn_blocking(move || outcome(&mut c)).await.unwrap();
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("provider `proxmox-rke2` has no cluster up") && err.contains("run `infraflux up --provider proxmox-rke2` first"), "{err}");
    no_canary("conform --skip-install output", &format!("{out}{err}"));
    assert_eq!(server.seen().len(), seen, "nothing was called");
}

#[test]
fn a_profile_that_cannot_provision_is_refused_at_its_lines() {
    let dir = tempfile::tempdir().unwrap();
    let profile = write_profile(dir.path(), "https://127.0.0.1:1/api2/json", "AB:".repeat(32).trim_end_matches(':'));
    let text = std::fs::read_to_string(&profile).unwrap();
    // No SSH identity (PROF-041, only when provisioning) and TLS switched
    // off (PROF-039, always).
    let no_ssh: String = text.lines().filter(|l| !l.trim_start().starts_with("ssh:")).map(|l| format!("{l}\n")).collect();
    std::fs::write(&profile, &no_ssh).unwrap();
    let p = profile.display().to_string();
    let (code, _, err) = outcome(bin().args(["up", "--provider", "proxmox-rke2", "--dry-run", "--profile", &p]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains(&format!("{p}:")) && err.contains("error[PROF-041]: no `ssh` section"), "{err}");
    assert!(!err.contains("FLAG-004"), "{err}");
    let (code, _, _) = outcome(bin().args(["check", &p]));
    assert_eq!(code, 0, "check does not ask a profile how to reach VMs");

    std::fs::write(&profile, text.replace("      bridge: vmbr0\n", "      bridge: vmbr0\n      insecureSkipTlsVerify: true\n")).unwrap();
    let (code, out, err) = outcome(bin().args(["check", &p]));
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("error[PROF-039]") && out.contains("insecureSkipTlsVerify"), "{out}");
    let (code, _, err) = outcome(bin().args(["up", "--provider", "proxmox-rke2", "--dry-run", "--profile", &p]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("error[PROF-039]"), "{err}");
}
