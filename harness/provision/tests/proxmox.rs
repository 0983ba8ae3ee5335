//! `proxmox-rke2` against the Proxmox-API test server
//! (`infraflux_testkit::pve`), which follows the documented API for the
//! endpoints the provider calls and refuses what Proxmox refuses.
//!
//! Without a lab, the VMs it starts never boot (no guest agent, no SSH):
//! those tests need no root and cover the API client, the tag rule, a
//! failing clone, TLS pinning and the canary token. In the network lab
//! (root, as every lab test; `INFRAFLUX_LAB=skip` opts out), a started VM is a network
//! namespace with a real sshd on its `ipconfig0` address, and the
//! bootstrap runs over real SSH until the RKE2 install: every node (first
//! server, joining server, agent) is prepared before RKE2 is installed on
//! any, and the install needs get.rke2.io (or the release tarballs), which
//! the lab cannot reach by design, so `up` stops at the first server's
//! install with the curl error, and every node's files are read back and
//! checked with `infraflux check`'s rules.
#![allow(clippy::expect_used, clippy::unwrap_used, reason = "test")]

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use infraflux_model::profile::Profile;
use infraflux_provision::Provider as _;
use infraflux_provision::proxmox::api::Client;
use infraflux_provision::proxmox::tls::{Trust, format_fingerprint};
use infraflux_provision::proxmox::{ProxmoxRke2, Timeouts, run_tag};
use infraflux_testkit::pve::vm::Lab;
use infraflux_testkit::pve::{Config, PveServer};

const PVE_CANARY: &str = "CANARY-pve-5d1e0c7a9b3f";
const RKE2_CANARY: &str = "CANARY-rke2-8e2b4f6a0c1d";
const TOKEN_ID: &str = "infraflux@pve!harness";
const TEMPLATE: (u32, &str) = (9000, "ubuntu-2404-cloudinit");

fn config(seed: Vec<(u32, String, bool, Option<String>)>) -> Config {
    let mut all = vec![(TEMPLATE.0, TEMPLATE.1.to_owned(), true, None)];
    all.extend(seed);
    Config { node: "pve1".into(), storage: "local-lvm".into(), token_id: TOKEN_ID.into(), token: PVE_CANARY.into(), seed: all, storage_avail_gib: 500 }
}

fn keygen(dir: &Path) -> (String, String) {
    let key = dir.join("id_ed25519");
    let st = std::process::Command::new("ssh-keygen").args(["-q", "-t", "ed25519", "-N", "", "-f"]).arg(&key).status().expect("ssh-keygen");
    assert!(st.success());
    (key.display().to_string(), format!("{}.pub", key.display()))
}

/// The embedded profile with its addresses moved into `net` (`10.91.N.`),
/// the nodes cut to `nodes`, and the provider pointed at `server`.
fn profile(server: &PveServer, dir: &Path, net: &str, nodes: &[&str]) -> Profile {
    profile_with(server, dir, net, nodes, "")
}

/// As [`profile`], with `rke2_extra` (indented lines) added to `rke2:`.
fn profile_with(server: &PveServer, dir: &Path, net: &str, nodes: &[&str], rke2_extra: &str) -> Profile {
    std::fs::write(dir.join("pve-token"), PVE_CANARY).unwrap();
    std::fs::write(dir.join("rke2-token"), RKE2_CANARY).unwrap();
    let (key, pubkey) = keygen(dir);
    let text = infraflux_model::profile::DEFAULT_YAML.replace("192.168.3.", net);
    let start = text.find("\nprovider:").unwrap() + 1;
    let end = start + text[start..].find("\nversions:").unwrap() + 1;
    let provider = format!(
        "provider:\n  proxmoxRke2:\n    proxmox:\n      endpoint: {}\n      tokenId: \"{TOKEN_ID}\"\n      token: {{file: {d}/pve-token}}\n      targetNode: pve1\n      template: {}\n      bridge: vmbr0\n      fingerprint: \"{}\"\n      vm: {{cores: 2, memoryMiB: 4096, disk: scsi0, diskGiB: 20}}\n      ssh: {{user: root, publicKeyFile: {pubkey}, privateKeyFile: {key}}}\n    rke2:\n      version: v1.33.5+rke2r1\n      token: {{file: {d}/rke2-token}}\n      cni: none\n{rke2_extra}",
        server.endpoint(),
        TEMPLATE.1,
        format_fingerprint(&server.fingerprint()),
        d = dir.display(),
    );
    let mut text = format!("{}{provider}{}", &text[..start], &text[end..]);
    // Keep only the wanted node lines.
    text = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("- {name: k8s-") || nodes.iter().any(|n| l.contains(&format!("name: {n},"))))
        .map(|l| format!("{l}\n"))
        .collect();
    infraflux_model::profile::load_str("p.yaml", &text).unwrap_or_else(|e| panic!("{e}")).profile
}

type Log = Arc<Mutex<Vec<String>>>;

fn provider(p: &Profile, state: &Path, boot: Duration) -> (ProxmoxRke2, Log) {
    let log: Log = Arc::default();
    let l = log.clone();
    let mut px = ProxmoxRke2::new(p, state.to_path_buf()).unwrap_or_else(|e| panic!("{e}")).with_log(move |s| l.lock().unwrap().push(s.to_owned()));
    px.timeouts = Timeouts { task: Duration::from_secs(20), boot, command: Duration::from_secs(60) };
    (px, log)
}

fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut c = e.source();
    while let Some(x) = c {
        s += &format!(": {x}");
        c = x.source();
    }
    s
}

fn assert_no_canary(what: &str, text: &str) {
    for c in [PVE_CANARY, RKE2_CANARY] {
        assert!(!text.contains(c), "{what} leaks a token:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_is_refused_like_proxmox_refuses() {
    let server = PveServer::start(config(vec![(120, "busy".into(), false, None)]), None).await.unwrap();
    let fp = Trust::Fingerprint(server.fingerprint());
    let token = infraflux_model::secret::Secret::new(PVE_CANARY.into());
    let c = Client::new(&server.endpoint(), TOKEN_ID, &token, &fp, Duration::from_secs(5)).unwrap();
    assert_eq!(c.next_id().await.unwrap(), 100);

    // The CA file verifies too; a wrong pin is refused before any request.
    let ca = Client::new(&server.endpoint(), TOKEN_ID, &token, &Trust::CaFile(server.ca_file().into()), Duration::from_secs(5)).unwrap();
    assert!(ca.vms().await.unwrap().iter().any(|v| v.template && v.name == TEMPLATE.1));
    let seen_before = server.seen().len();
    let wrong = Client::new(&server.endpoint(), TOKEN_ID, &token, &Trust::Fingerprint([7; 32]), Duration::from_secs(5)).unwrap();
    let e = wrong.next_id().await.unwrap_err().to_string();
    assert!(e.contains("fingerprint"), "{e}");
    assert_eq!(server.seen().len(), seen_before, "nothing reached the server over an unverified connection");

    let bad = infraflux_model::secret::Secret::new("not-the-token".into());
    let e = Client::new(&server.endpoint(), TOKEN_ID, &bad, &fp, Duration::from_secs(5)).unwrap().next_id().await.unwrap_err();
    assert!(e.to_string().contains("401"), "{e}");

    // An unknown parameter and a malformed value: 400 naming the parameter.
    let e = c.configure("pve1", 120, &[("sshkey", "x".into())]).await.unwrap_err().to_string();
    assert!(e.contains("400") && e.contains("sshkey: property is not defined"), "{e}");
    let e = c.configure("pve1", 120, &[("sshkeys", "ssh-ed25519 AAAA me".into())]).await.unwrap_err().to_string();
    assert!(e.contains("sshkeys: value"), "a raw (not URL-encoded) key is refused: {e}");

    // A running VM is not destroyed without a stop.
    c.configure("pve1", 120, &[("ipconfig0", "ip=10.91.250.9/24,gw=10.91.250.1".into())]).await.unwrap();
    c.start("pve1", 120).await.unwrap();
    let e = c.destroy("pve1", 120).await.unwrap_err().to_string();
    assert!(e.contains("500") && e.contains("is running - destroy failed"), "{e}");
    // A task that ends in error comes back with its log.
    let e = c.start("pve1", 120).await.unwrap_err().to_string();
    assert!(e.contains("already running") && e.contains("TASK ERROR"), "{e}");
    c.stop("pve1", 120).await.unwrap();
    c.destroy("pve1", 120).await.unwrap();

    server.forbid("/cluster/resources");
    let e = c.vms().await.unwrap_err().to_string();
    assert!(e.contains("403") && e.contains("Permission check failed"), "{e}");
    server.break_path("/cluster/nextid");
    let e = c.next_id().await.unwrap_err().to_string();
    assert!(e.contains("HTTP 500"), "{e}");
    assert_no_canary("client errors", &e);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_tags_what_it_creates_and_down_destroys_only_the_tagged() {
    let dir = tempfile::tempdir().unwrap();
    // Someone else's VM with a node's name, and another cluster's VM.
    let server = PveServer::start(
        config(vec![(300, "k8s-server-1".into(), false, None), (301, "k8s-agent-1".into(), false, Some("infraflux-other".into()))]),
        None,
    )
    .await
    .unwrap();
    let p = profile(&server, dir.path(), "10.91.251.", &["k8s-server-1", "k8s-agent-1"]);
    let tag = run_tag(&p.name);
    let (px, log) = provider(&p, &dir.path().join("state"), Duration::from_secs(2));
    // Without the lab the guests never boot: `up` stops waiting for the
    // guest agent, after every VM was created, configured and started.
    let e = px.up().await.unwrap_err();
    let msg = chain(&e);
    assert!(msg.contains("guest agent never answered"), "{msg}");
    let mine: Vec<_> = server.vms().into_iter().filter(|v| v.2.contains(&tag)).collect();
    assert_eq!(mine.len(), 2, "{:?}", server.vms());
    assert!(mine.iter().all(|v| v.3), "started: {mine:?}");
    let server1 = mine.iter().find(|v| v.1 == "k8s-server-1").unwrap().0;
    let cfg = server.config(server1).unwrap();
    assert_eq!(cfg["ipconfig0"], "ip=10.91.251.11/24,gw=10.91.251.1");
    assert_eq!(cfg["ciuser"], "root");
    assert_eq!(cfg["cores"], "2");
    assert_eq!(cfg["memory"], "4096");
    assert_eq!(cfg["agent"], "1");
    assert!(cfg["scsi0"].ends_with("size=20G"), "{}", cfg["scsi0"]);
    let pubkey = std::fs::read_to_string(dir.path().join("id_ed25519.pub")).unwrap();
    let keys = percent_encoding::percent_decode_str(&cfg["sshkeys"]).decode_utf8().unwrap();
    assert_eq!(keys.trim(), pubkey.trim(), "sshkeys round-trips through Proxmox's URL encoding");

    // Order: quota checks before the first clone; the tag is the first
    // configuration of each clone.
    let seen = server.seen();
    let paths: Vec<String> = seen.iter().map(|s| format!("{} {}", s.method, s.path)).collect();
    let first_clone = paths.iter().position(|p| p.ends_with("/clone")).unwrap();
    assert!(paths[..first_clone].iter().any(|p| p == "GET /cluster/resources"));
    assert!(paths[..first_clone].iter().any(|p| p.ends_with("/storage/local-lvm/status")));
    let after_clone = seen[first_clone + 1..].iter().find(|s| s.path.ends_with("/config")).unwrap();
    assert_eq!(after_clone.params, [("tags".to_owned(), tag.clone())]);

    // Resuming reuses the tagged VMs: no second clone.
    let clones = |s: &PveServer| s.seen().iter().filter(|x| x.path.ends_with("/clone")).count();
    let before = clones(&server);
    let _ = px.up().await.unwrap_err();
    assert_eq!(clones(&server), before, "a second up reuses the tagged VMs");

    px.down().await.unwrap();
    let left = server.vms();
    assert!(left.iter().any(|v| v.0 == 300 && v.1 == "k8s-server-1"), "the untagged VM with a node's name survives: {left:?}");
    assert!(left.iter().any(|v| v.0 == 301), "another cluster's VM survives: {left:?}");
    assert!(left.iter().all(|v| !v.2.contains(&tag)), "{left:?}");
    let destroys: Vec<_> = server.seen().into_iter().filter(|s| s.method == "DELETE").collect();
    assert_eq!(destroys.len(), 2);
    assert!(destroys.iter().all(|d| d.params.contains(&("purge".into(), "1".into())) && d.params.contains(&("destroy-unreferenced-disks".into(), "1".into()))));

    let all = log.lock().unwrap().join("\n");
    assert_no_canary("the provider's log", &all);
    assert_no_canary("the error", &msg);
    assert_no_canary("the plan", &px.plan().join("\n"));
    assert!(server.seen().iter().all(|s| s.authorized && s.params.iter().all(|(_, v)| !v.contains(PVE_CANARY))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_clone_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let server = PveServer::start(config(vec![]), None).await.unwrap();
    server.fail_clone_of("k8s-agent-1");
    let p = profile(&server, dir.path(), "10.91.252.", &["k8s-server-1", "k8s-agent-1"]);
    let (px, log) = provider(&p, &dir.path().join("state"), Duration::from_secs(2));
    let e = px.up().await.unwrap_err();
    let msg = chain(&e);
    assert!(msg.contains("clone failed") && msg.contains("TASK ERROR") && msg.contains("were destroyed"), "{msg}");
    assert!(e.created_nothing(), "a reverted up leaves nothing to tear down");
    assert_eq!(server.vms().len(), 1, "only the template is left: {:?}", server.vms());
    assert_no_canary("log", &log.lock().unwrap().join("\n"));
}

#[test]
fn the_plan_lists_every_call_and_file_in_order_with_secrets_elided() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let server = rt.block_on(PveServer::start(config(vec![]), None)).unwrap();
    let mut p = profile_with(
        &server,
        dir.path(),
        "10.91.253.",
        &["k8s-server-1", "k8s-server-2", "k8s-agent-1"],
        "      apiVip:\n        kubeVip: {interface: ens18, version: v1.0.3, digest: \"sha256:4e2791cc0238ae01b3986d827f4d568a25d846c94bab51238fe6241281a27113\"}\n",
    );
    p.install.image_registry = Some("mirror.lab.internal:5000/cache".into());
    let (px, _) = provider(&p, &dir.path().join("state"), Duration::from_secs(1));
    let plan = px.plan();
    let text = plan.join("\n");
    assert_no_canary("the plan", &text);
    assert!(text.contains("<secret from file:"), "{text}");
    let pos = |needle: &str| plan.iter().position(|l| l.contains(needle)).unwrap_or_else(|| panic!("no `{needle}` in\n{text}"));
    assert!(pos("GET /cluster/resources") < pos("GET /cluster/nextid"));
    assert!(pos("/clone newid=<vmid:k8s-server-1>") < pos("tags=infraflux-"));
    assert!(pos("sshkeys=ssh-ed25519%20") > 0);
    // Every node prepared (config, token, kube-vip) before RKE2 is
    // installed anywhere; then the first server, its kubeconfig, and the
    // joining nodes once the registration address answers.
    let order = [
        "node k8s-server-1: write /etc/rancher/rke2/config.yaml",
        "node k8s-server-1: write /var/lib/rancher/rke2/agent/pod-manifests/kube-vip.yaml",
        "node k8s-server-2: write /etc/rancher/rke2/config.yaml",
        "node k8s-server-2: write /var/lib/rancher/rke2/agent/pod-manifests/kube-vip.yaml",
        "node k8s-agent-1: write /etc/rancher/rke2/token",
        "node k8s-server-1: run: install RKE2 (online)",
        "node k8s-server-1: run: start RKE2",
        "node k8s-server-1: read /etc/rancher/rke2/rke2.yaml and write it to",
        "node k8s-server-2: run: wait for the registration address",
        "node k8s-server-2: run: install RKE2 (online)",
        "node k8s-agent-1: run: wait for the registration address",
        "node k8s-agent-1: run: install RKE2 (online)",
    ];
    for w in order.windows(2) {
        assert!(pos(w[0]) < pos(w[1]), "`{}` before `{}` in\n{text}", w[0], w[1]);
    }
    assert!(!text.contains("node k8s-agent-1: write /var/lib/rancher/rke2/agent/pod-manifests/kube-vip.yaml"), "no kube-vip on agents");
    assert!(pos("node k8s-server-1:     | cni: none") > 0);
    assert!(pos("node k8s-server-2:     | server: \"https://10.91.253.10:9345\"") > 0);
    assert!(pos("node k8s-server-2:     $ until curl -sk -o /dev/null --max-time 5 https://10.91.253.10:9345/; do") > 0);
    // The image from the mirror, pinned by version and digest.
    assert!(pos("|       image: \"mirror.lab.internal:5000/cache/kube-vip/kube-vip:v1.0.3@sha256:4e2791cc") > 0);
    assert!(pos("|           value: \"10.91.253.10\"") > 0);
    assert!(server.seen().is_empty(), "a plan makes no call");
}

/// Network lab (root: namespaces, sshd; `INFRAFLUX_LAB=skip` opts out):
/// the bootstrap over real SSH, on a first server, a joining server and an
/// agent, with kube-vip holding the API VIP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bootstrap_prepares_every_node_over_real_ssh_up_to_the_rke2_install() {
    if !infraflux_testkit::lab::enabled() {
        return;
    }
    let host_rancher = Path::new("/etc/rancher").exists();
    let host_pod_manifests = Path::new("/var/lib/rancher/rke2/agent/pod-manifests/kube-vip.yaml").exists();
    let lab = Lab::create().unwrap();
    let net = lab.cidr().trim_end_matches("0/24").to_owned();
    let server = PveServer::start(config(vec![]), Some(lab)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let nodes = ["k8s-server-1", "k8s-server-2", "k8s-agent-1"];
    let p = profile_with(&server, dir.path(), &net, &nodes, "      apiVip:\n        kubeVip: {interface: eth0}\n");
    let (px, log) = provider(&p, &dir.path().join("state"), Duration::from_secs(20));
    let e = px.up().await.unwrap_err();
    let msg = chain(&e);
    // The documented stopping point: the first server's online install,
    // which needs get.rke2.io; the lab has no route or resolver for it.
    assert!(msg.contains("node k8s-server-1") && msg.contains("install RKE2 (online)") && msg.contains("exit 6"), "{msg}");
    let all = log.lock().unwrap().join("\n");
    eprintln!("provider log:\n{all}\nstopped with: {msg}");
    assert!(all.contains("Cilium's datapath options present") || all.contains("config not readable"), "{all}");
    assert_no_canary("the provider's log", &all);
    assert_no_canary("the error", &msg);
    // Prepared before anything was installed: the agent's token is written
    // before the first server's install starts.
    let at = |needle: &str| all.find(needle).unwrap_or_else(|| panic!("no `{needle}` in\n{all}"));
    assert!(at("node k8s-agent-1: write /etc/rancher/rke2/token") < at("node k8s-server-1: install RKE2 (online)"));

    let vip = format!("{net}10");
    let mut texts = Vec::new();
    use std::os::unix::fs::PermissionsExt as _;
    for name in nodes {
        let vmid = server.vms().into_iter().find(|v| v.1 == name).unwrap().0;
        let disk = server.disk(vmid);
        let etc = disk.join("etc");
        let config = std::fs::read_to_string(etc.join("rancher/rke2/config.yaml")).unwrap();
        assert_eq!(std::fs::read_to_string(etc.join("rancher/rke2/token")).unwrap(), RKE2_CANARY, "{name}: the join token reached the node");
        assert_eq!(std::fs::metadata(etc.join("rancher/rke2/token")).unwrap().permissions().mode() & 0o777, 0o600);
        assert!(std::fs::read_to_string(etc.join("sysctl.d/90-infraflux-cilium.conf")).unwrap().contains("ip_forward = 1"));
        let joins = format!("server: \"https://{vip}:9345\"");
        assert_eq!(config.contains(&joins), name != "k8s-server-1", "{name} joins through the registration address:\n{config}");
        texts.push((format!("{name}/rke2-config.yaml"), config.clone()));
        let manifest = disk.join("varlib/rancher/rke2/agent/pod-manifests/kube-vip.yaml");
        if name.starts_with("k8s-server") {
            let m = std::fs::read_to_string(&manifest).unwrap_or_else(|e| panic!("{name}: {}: {e}", manifest.display()));
            assert!(m.contains(&format!("value: \"{vip}\"")) && m.contains("name: vip_interface\n          value: \"eth0\""), "{m}");
            assert!(m.contains("ghcr.io/kube-vip/kube-vip:v1.0.2@sha256:"), "{m}");
            assert_no_canary("the kube-vip manifest", &m);
            texts.push((format!("{name}/kube-vip.yaml"), m));
        } else {
            assert!(!manifest.exists(), "{name}: kube-vip runs on servers only");
        }
    }
    assert_eq!(Path::new("/etc/rancher").exists(), host_rancher, "the node's files stayed off the host");
    assert_eq!(Path::new("/var/lib/rancher/rke2/agent/pod-manifests/kube-vip.yaml").exists(), host_pod_manifests);
    let report = infraflux_stack::check::check_texts(&texts).unwrap();
    assert_eq!(report.objects_checked, texts.len(), "each read as an RKE2 config or a manifest: {report:?}");
    assert!(report.findings.is_empty(), "{:?}\n{texts:#?}", report.findings);
    assert!(texts[0].1.contains("cni: none") && texts[0].1.contains("disable-kube-proxy: true"), "{}", texts[0].1);

    px.down().await.unwrap();
    assert!(server.vms().iter().all(|v| v.0 == TEMPLATE.0), "{:?}", server.vms());
}

#[test]
fn every_nodes_rke2_config_passes_infraflux_check() {
    use infraflux_model::profile::{Provider as P, Rke2Cni};
    use infraflux_provision::proxmox::steps::rke2_config;
    let mut p = infraflux_model::profile::load_str("p.yaml", infraflux_model::profile::DEFAULT_YAML).unwrap().profile;
    for cni in [Rke2Cni::None, Rke2Cni::Cilium] {
        let P::ProxmoxRke2(px) = &mut p.provider else { panic!("the default profile is proxmox-rke2") };
        px.rke2.cni = cni;
        let px = px.clone();
        let mut kv = px.clone();
        kv.rke2.api_vip = infraflux_model::profile::ApiVip::KubeVip(infraflux_model::profile::KubeVip { interface: "ens18".into(), version: None, digest: None });
        let mut texts: Vec<(String, String)> = p.nodes.iter().map(|n| (format!("{}/{}-config.yaml", n.name, n.name), rke2_config(&p, &px, n))).collect();
        texts.push(("k8s-server-1/kube-vip.yaml".into(), infraflux_provision::proxmox::steps::kube_vip_manifest(&p, &kv).unwrap()));
        let report = infraflux_stack::check::check_texts(&texts).unwrap();
        assert_eq!(report.objects_checked, p.nodes.len() + 1, "{report:?}");
        assert!(report.findings.is_empty(), "{cni:?}: {:?}\n{texts:#?}", report.findings);
        let joining = &texts[1].1;
        assert!(joining.contains("server: \"https://192.168.3.10:9345\"") && joining.contains("tls-san:\n  - \"192.168.3.10\""), "{joining}");
        let agent = &texts[p.nodes.len() - 1].1;
        assert!(!agent.contains("cni:") && agent.contains("server:"), "{agent}");
    }
}

/// Network lab: a pinned host key that is not the node's stops the
/// bootstrap before anything is written (no trust on first use).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_pinned_host_key_stops_the_bootstrap() {
    use infraflux_model::profile::Provider as P;
    if !infraflux_testkit::lab::enabled() {
        return;
    }
    let lab = Lab::create().unwrap();
    let net = lab.cidr().trim_end_matches("0/24").to_owned();
    let server = PveServer::start(config(vec![]), Some(lab)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut p = profile(&server, dir.path(), &net, &["k8s-server-1"]);
    let other = dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    let (_, other_pub) = keygen(&other);
    let known = dir.path().join("known_hosts");
    let key = std::fs::read_to_string(other_pub).unwrap();
    let mut parts = key.split_whitespace();
    std::fs::write(&known, format!("{net}11 {} {}\n", parts.next().unwrap(), parts.next().unwrap())).unwrap();
    let P::ProxmoxRke2(px) = &mut p.provider else { unreachable!() };
    px.proxmox.ssh.as_mut().unwrap().known_hosts_file = Some(known.display().to_string());
    let (px, log) = provider(&p, &dir.path().join("state"), Duration::from_secs(4));
    let msg = chain(&px.up().await.unwrap_err());
    assert!(msg.contains("no SSH login") && msg.contains("Host key verification failed"), "{msg}");
    let all = log.lock().unwrap().join("\n");
    assert!(!all.contains("write /etc/rancher"), "nothing was written:\n{all}");
    let vmid = server.vms().into_iter().find(|v| v.1 == "k8s-server-1").unwrap().0;
    assert!(!server.disk(vmid).join("etc/rancher").exists());
    px.down().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn air_gapped_artifacts_are_checked_before_the_first_clone() {
    use infraflux_model::profile::Provider as P;
    use sha2::Digest as _;
    let dir = tempfile::tempdir().unwrap();
    let server = PveServer::start(config(vec![]), None).await.unwrap();
    let mut p = profile(&server, dir.path(), "10.91.249.", &["k8s-server-1"]);
    let art = dir.path().join("artifacts");
    std::fs::create_dir(&art).unwrap();
    for (f, body) in [("install.sh", "#!/bin/sh\n"), ("rke2.linux-amd64.tar.gz", "tarball"), ("rke2-images-core.linux-amd64.tar.zst", "images")] {
        std::fs::write(art.join(f), body).unwrap();
    }
    let sum = |b: &str| hex::encode(sha2::Sha256::digest(b.as_bytes()));
    // The images' checksum is wrong: as if the download was cut short.
    std::fs::write(
        art.join("sha256sum-amd64.txt"),
        format!("{}  rke2.linux-amd64.tar.gz\n{}  rke2-images-core.linux-amd64.tar.zst\n", sum("tarball"), sum("other")),
    )
    .unwrap();
    let P::ProxmoxRke2(x) = &mut p.provider else { unreachable!() };
    x.rke2.artifacts_dir = Some(art.display().to_string());
    let (px, _) = provider(&p, &dir.path().join("state"), Duration::from_secs(1));
    let plan = px.plan().join("\n");
    assert!(plan.contains("copy ") && plan.contains("install RKE2 (air-gapped)") && plan.contains("INSTALL_RKE2_ARTIFACT_PATH="), "{plan}");
    let e = px.up().await.unwrap_err();
    let msg = chain(&e);
    assert!(msg.contains("rke2-images-core.linux-amd64.tar.zst has SHA-256"), "{msg}");
    assert!(e.created_nothing());
    assert!(server.seen().is_empty(), "refused before any API call");
}
