//! The real-datapath tier: `infraflux up` brings a single-node Kubernetes
//! with real Cilium up on this host (the local provider), the suites run
//! against it, and `down` must leave the host exactly as it was.
//!
//! Root only, and slow (a cold build of the node's artifacts takes tens of
//! minutes on 2 cores; a warm run about ten): the test is `#[ignore]`d and
//! `.ci/test` runs it with `--ignored` when `INFRAFLUX_LOCAL_TIER=1`;
//! with `INFRAFLUX_PROVE=1` it also proves every case that ran (`--prove`).
//!
//! What it checks, beyond what `conform` itself judges:
//! - the host's state (links, addresses, routes, rules, iptables/nftables,
//!   mounts and their propagation, namespaces, BPF pins, cgroups, watched
//!   sysctls and paths) is identical before `up` and after `down`, read by
//!   this test, not by `down`'s own comparison;
//! - while the node runs, Cilium is attached to the provider's link only,
//!   and the host's uplink, its default route and its addresses are
//!   untouched, with no rule that names the uplink;
//! - a LoadBalancer VIP that Cilium advertises over BGP is learned by the
//!   router namespace's FRR, and the external client reaches it through the
//!   node; after a peer reset (`clear ip bgp *` at the router) it is learned
//!   and reachable again; deleting the Service withdraws it.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test")]

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::local::{Node, infraflux, sh};
use infraflux_provision::local::Local;
use infraflux_provision::local::host::HostState;
use infraflux_testkit::paths::repo_root;

fn uplink() -> String {
    let (_, routes) = sh("ip", &["-4", "route", "show", "default"]);
    routes.split_whitespace().skip_while(|w| *w != "dev").nth(1).unwrap_or("eth0").to_owned()
}

fn results(out: &Path) -> serde_json::Value {
    let run = std::fs::read_dir(out).expect("run dir").flatten().map(|e| e.path()).find(|p| p.join("results.json").is_file());
    let path = run.expect("a run directory with results.json").join("results.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("results.json")).expect("json")
}

#[test]
#[ignore = "real-datapath tier: root, tens of minutes cold; .ci/test runs it when INFRAFLUX_LOCAL_TIER=1"]
fn a_local_node_runs_the_suites_on_real_cilium_and_down_leaves_the_host_as_found() {
    assert!(nix::unistd::Uid::effective().is_root(), "the local provider needs root");
    let before = HostState::capture();
    let uplink = uplink();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("reports");
    let out_s = out.to_str().unwrap();

    let mut node = Node { local: Local::new(None), up: true };
    let t = Instant::now();
    let (code, log) = infraflux(&["up", "--out", out_s]);
    assert_eq!(code, 0, "up failed:\n{log}");
    eprintln!("up took {:?}", t.elapsed());

    // Cilium on the provider's link only; the uplink untouched.
    let (ok, status) = node.kubectl(&["-n", "kube-system", "exec", "ds/cilium", "-c", "cilium-agent", "--", "cilium-dbg", "status"]);
    assert!(ok, "{status}");
    let kpr = status.lines().find(|l| l.starts_with("KubeProxyReplacement:")).unwrap_or_default();
    assert!(kpr.contains("[ifx0 ") && !kpr.contains(&uplink), "KPR devices: {kpr}");
    let masq = status.lines().find(|l| l.starts_with("Masquerading:")).unwrap_or_default();
    assert!(!masq.contains(&uplink), "masquerading: {masq}");
    let during = HostState::capture();
    let same = |what: &str, a: &[String], b: &[String]| {
        let pick = |v: &[String]| v.iter().filter(|l| l.contains(&uplink)).cloned().collect::<Vec<_>>();
        assert_eq!(pick(a), pick(b), "{what} of {uplink} changed while the node ran");
    };
    same("addresses", &before.addresses, &during.addresses);
    same("routes", &before.routes, &during.routes);
    for (program, rules) in &during.iptables {
        assert!(!rules.iter().any(|r| r.contains(&uplink)), "{program} names {uplink}: {rules:#?}");
    }
    assert!(!during.nftables.iter().any(|r| r.contains(&uplink)), "an nft rule names {uplink}");
    let (_, link) = sh("ip", &["-d", "link", "show", "dev", &uplink]);
    assert!(!link.contains("xdp"), "XDP on the uplink: {link}");

    // A LoadBalancer VIP: advertised over BGP, learned by the router's FRR,
    // reachable from the external client through the node.
    let ns = "ifx-local-tier";
    let _ = node.kubectl(&["create", "namespace", ns]);
    let manifest = repo_root().join("fixtures/manifests/net/echo.yaml");
    let text = std::fs::read_to_string(&manifest)
        .unwrap()
        .replace("{{namespace}}", ns)
        .replace("{{agentImage}}", infraflux_provision::local::AGENT_IMAGE);
    let file = tmp.path().join("echo.yaml");
    std::fs::write(&file, text).unwrap();
    let (ok, msg) = node.kubectl(&["apply", "-f", file.to_str().unwrap()]);
    assert!(ok, "{msg}");
    let (ok, msg) = node.kubectl(&["-n", ns, "patch", "service", "echo", "-p", r#"{"spec":{"type":"LoadBalancer"}}"#]);
    assert!(ok, "{msg}");
    let vip = node.poll("the echo Service's VIP", Duration::from_secs(120), || {
        let (_, ip) = node.kubectl(&["-n", ns, "get", "service", "echo", "-o", "jsonpath={.status.loadBalancer.ingress[0].ip}"]);
        let ip = ip.trim().to_owned();
        if ip.parse::<std::net::Ipv4Addr>().is_ok() { Ok(ip) } else { Err(format!("no VIP yet: {ip}")) }
    });
    assert!(vip.starts_with("10.89.100."), "VIP {vip} outside the lab's pools");
    node.poll("FRR to learn the VIP", Duration::from_secs(60), || {
        let r = node.local.vtysh("show ip route").map_err(|e| e.to_string())?;
        if r.lines().any(|l| l.starts_with("B>*") && l.contains(&format!("{vip}/32"))) { Ok(r) } else { Err(r) }
    });
    let agent = infraflux_testkit::lab::agent_binary().expect("the probe agent binary (.ci/build-agent-image)");
    let url = format!("http://{vip}/");
    let body = node.poll("the client to reach the VIP", Duration::from_secs(60), || {
        let (_, out) = sh(agent.to_str().unwrap(), &["--netns", "ifx-client", "client", "http", "--url", &url]);
        if out.contains(r#""ok":true"#) { Ok(out) } else { Err(out) }
    });
    assert!(body.contains(r#"\"client_ip\":\"10.89.1.2\""#) || body.contains("hostname"), "{body}");

    // Peer reset: FRR drops every session; Cilium re-establishes it and the
    // VIP is learned, and reachable, again.
    node.local.vtysh("clear ip bgp *").expect("clear ip bgp");
    let learned = |r: &str| r.lines().any(|l| l.starts_with("B>*") && l.contains(&format!("{vip}/32")));
    node.poll("the VIP to be learned again after a peer reset", Duration::from_secs(90), || {
        let r = node.local.vtysh("show ip route").map_err(|e| e.to_string())?;
        if learned(&r) { Ok(r) } else { Err(r) }
    });
    node.poll("the client to reach the VIP after the reset", Duration::from_secs(60), || {
        let (_, out) = sh(agent.to_str().unwrap(), &["--netns", "ifx-client", "client", "http", "--url", &url]);
        if out.contains(r#""ok":true"#) { Ok(out) } else { Err(out) }
    });
    // Withdrawal: the Service goes, and so does its route at the router.
    let (ok, msg) = node.kubectl(&["-n", ns, "delete", "service", "echo"]);
    assert!(ok, "{msg}");
    node.poll("the VIP to be withdrawn", Duration::from_secs(60), || {
        let r = node.local.vtysh("show ip route").map_err(|e| e.to_string())?;
        if learned(&r) { Err(r) } else { Ok(r) }
    });
    let _ = node.kubectl(&["delete", "namespace", ns, "--wait=false"]);

    // The suites, judged against the profile as the provider runs it.
    let t = Instant::now();
    // Its own report root: `up` wrote a run directory (install phases only)
    // under `out` already.
    let suites_out = tmp.path().join("suites");
    let (code, log) = infraflux(&["conform", "--skip-install", "--out", suites_out.to_str().unwrap()]);
    eprintln!("suites took {:?}", t.elapsed());
    let r = results(&suites_out);
    let cases = r["cases"].as_array().expect("cases");
    let status = |c: &serde_json::Value| c["outcome"]["status"].as_str().unwrap_or("?").to_owned();
    let failed: Vec<String> = cases.iter().filter(|c| status(c) != "passed" && status(c) != "skipped").map(|c| format!("{}: {}", c["id"], c["outcome"])).collect();
    assert!(failed.is_empty(), "cases failed on the real datapath:\n{}\n{log}", failed.join("\n"));
    assert_eq!(code, 0, "{log}");
    let passed = |suite: &str| cases.iter().filter(|c| c["id"].as_str().unwrap_or("").starts_with(suite) && status(c) == "passed").count();
    for (suite, at_least) in [("kube-proxy::", 10), ("bgp::", 6), ("policy::", 6), ("hubble::", 2), ("failover::", 3), ("throughput::", 1)] {
        assert!(passed(suite) >= at_least, "{suite}: {} passed, want at least {at_least}", passed(suite));
    }
    let skipped_with = |id: &str| {
        cases.iter().find(|c| c["id"] == id).map(|c| c["outcome"]["reason"].as_str().unwrap_or("").to_owned()).unwrap_or_default()
    };
    assert!(skipped_with("wireguard::encryption-enabled").contains("not verifiable here"), "{}", skipped_with("wireguard::encryption-enabled"));
    assert!(skipped_with("gateway::gatewayclass-accepted").contains("Envoy"));

    // The negative controls (docs/prove.md): every case that ran must fail
    // under its break for its stated reason and pass after the restore.
    // About half an hour more, so opt-in.
    if std::env::var("INFRAFLUX_PROVE").as_deref() == Ok("1") {
        let t = Instant::now();
        let prove_out = tmp.path().join("prove");
        let (code, log) = infraflux(&["conform", "--skip-install", "--prove", "--out", prove_out.to_str().unwrap()]);
        eprintln!("prove took {:?}\n{log}", t.elapsed());
        let dir = std::fs::read_dir(&prove_out).expect("prove run dir").flatten().next().expect("one run").path();
        let report: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("prove.json")).expect("prove.json")).expect("json");
        let rows = report["rows"].as_array().expect("rows");
        let findings: Vec<String> = rows
            .iter()
            .filter(|r| !matches!(r["verdict"].as_str(), Some("proven" | "noBreak")))
            .map(|r| format!("{} {}: {}", r["verdict"], r["id"], r["underBreak"]))
            .collect();
        assert!(findings.is_empty(), "prove findings:\n{}", findings.join("\n"));
        assert!(rows.iter().filter(|r| r["verdict"] == "proven").count() >= 30, "too few cases proven: {log}");
        assert_eq!(code, 0, "{log}");
    }

    node.down_and_compare(&before);
}
