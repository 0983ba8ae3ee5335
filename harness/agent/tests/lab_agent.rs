//! Lab: the agent's servers and clients across a real veth between two
//! namespaces, the capture counter on plaintext traffic, and lab teardown.
//! Root only (see common::lab_enabled).
#![allow(clippy::expect_used, reason = "test helpers fail the test loudly")]

use infraflux_testkit::lab::{self, agent as common};

use std::time::Duration;

use infraflux_testkit::lab::{LinkedPair, netns::run_ip};

fn netns_names() -> String {
    run_ip(&["netns", "list"]).expect("ip netns list")
}

#[test]
fn agent_modes_work_across_a_veth() {
    if !lab::enabled() {
        return;
    }
    let common::Served { agent, pair, server: _server } = common::served_pair(
        &[
            "--http",
            "8080",
            "--https",
            "8443",
            "--tcp-echo",
            "7000",
            "--tcp-sink",
            "7001",
            "--udp-echo",
            "7002",
            "--rr",
            "7003",
        ],
    );
    let b = pair.b_ip.to_string();
    let t = Duration::from_secs(20);

    let http = common::agent_run(
        &agent,
        &pair.a,
        &[
            "client",
            "http",
            "--url",
            &format!("http://{b}:8080/status/418"),
            "--header",
            "X-Probe: lab",
        ],
        t,
    );
    assert_eq!(http["ok"], true, "{http}");
    assert_eq!(http["status"], 418);
    let echo = common::json(http["body"].as_str().expect("body"));
    assert_eq!(
        echo["client_ip"],
        pair.a_ip.to_string(),
        "server must see the real client address"
    );
    assert_eq!(echo["headers"]["x-probe"], "lab");
    assert_eq!(echo["tls"], false);

    let https = common::agent_run(
        &agent,
        &pair.a,
        &[
            "client",
            "http",
            "--url",
            &format!("https://{b}:8443/x"),
            "--insecure",
        ],
        t,
    );
    assert_eq!(https["ok"], true, "{https}");
    assert_eq!(
        common::json(https["body"].as_str().expect("body"))["tls"],
        true
    );

    let tcp = common::agent_run(
        &agent,
        &pair.a,
        &[
            "client",
            "tcp",
            "--target",
            &format!("{b}:7000"),
            "--count",
            "5",
        ],
        t,
    );
    assert_eq!(tcp["ok"], true, "{tcp}");
    assert_eq!(tcp["latency_ms"]["count"], 5);

    let udp = common::agent_run(
        &agent,
        &pair.a,
        &[
            "client",
            "udp",
            "--target",
            &format!("{b}:7002"),
            "--count",
            "5",
            "--size",
            "1200",
        ],
        t,
    );
    assert_eq!(udp["ok"], true, "{udp}");
    assert_eq!(udp["bytes"], 6000);

    let stream = common::agent_run(
        &agent,
        &pair.a,
        &[
            "client",
            "stream",
            "--target",
            &format!("{b}:7001"),
            "--duration-s",
            "0.5",
            "--samples",
            "2",
        ],
        t,
    );
    assert_eq!(stream["ok"], true, "{stream}");
    assert!(stream["bytes"].as_u64().unwrap_or(0) > 0);
    assert_eq!(stream["samples"].as_array().map(Vec::len), Some(2));

    // Four parallel connections of exactly 1 MB each: one sample, 4 MB.
    let multi = common::agent_run(
        &agent,
        &pair.a,
        &["client", "stream", "--target", &format!("{b}:7001"), "--bytes", "1000000", "--parallel", "4"],
        t,
    );
    assert_eq!(multi["ok"], true, "{multi}");
    assert_eq!(multi["bytes"], 4_000_000, "{multi}");
    assert_eq!(multi["samples"].as_array().map(Vec::len), Some(1));

    let rr = common::agent_run(
        &agent,
        &pair.a,
        &[
            "client",
            "rr",
            "--target",
            &format!("{b}:7003"),
            "--duration-s",
            "0.3",
            "--size",
            "64",
            "--resp-size",
            "512",
        ],
        t,
    );
    assert_eq!(rr["ok"], true, "{rr}");
    let n = rr["latency_ms"]["count"].as_u64().unwrap_or(0);
    assert!(n > 0);
    assert_eq!(rr["bytes"].as_u64(), Some(n * (64 + 512)));

    let crr = common::agent_run(
        &agent,
        &pair.a,
        &[
            "client",
            "crr",
            "--target",
            &format!("{b}:7003"),
            "--duration-s",
            "0.3",
        ],
        t,
    );
    assert_eq!(crr["ok"], true, "{crr}");
    assert!(crr["connections_per_s"].as_f64().unwrap_or(0.0) > 0.0);

    // Nothing listens on 7999: a refused connection is a report, not a hang.
    let refused = common::agent_run(
        &agent,
        &pair.a,
        &["client", "tcp", "--target", &format!("{b}:7999")],
        t,
    );
    assert_eq!(refused["ok"], false);
    assert!(
        refused["error"].as_str().unwrap_or("").contains("refused"),
        "{refused}"
    );

    // Neither end of the veth is visible in the host namespace, and the
    // host holds no lab address.
    let host_links = run_ip(&["-o", "link", "show"]).expect("ip link show");
    assert!(
        !host_links.contains(&pair.a_if) && !host_links.contains(&pair.b_if),
        "{host_links}"
    );
    let host_addrs = run_ip(&["-o", "addr", "show"]).expect("ip addr show");
    assert!(!host_addrs.contains("10.199."), "{host_addrs}");
}

#[test]
fn capture_counts_plaintext_on_the_veth() {
    if !lab::enabled() {
        return;
    }
    let common::Served { agent, pair, server: _server } = common::served_pair(
        &["--tcp-echo", "7000", "--udp-echo", "7002"],
    );
    let ips = format!("{},{}", pair.a_ip, pair.b_ip);
    let mut cmd = std::process::Command::new(&agent);
    cmd.args([
        "--netns",
        pair.b.name(),
        "capture",
        "--iface",
        "auto",
        "--route-to",
        &pair.a_ip.to_string(),
        "--filter-ips",
        &ips,
        "--proto",
        "tcp",
        "--udp-port",
        "7002",
        "--duration-s",
        "2",
    ]);
    let mut cap = lab::LabProcess::spawn("capture", &mut cmd).expect("spawn capture");
    cap.wait_line(
        lab::process::Stream::Stderr,
        Duration::from_secs(5),
        |l| l.contains("ready"),
    )
    .expect("capture ready");
    let b = pair.b_ip.to_string();
    let t = Duration::from_secs(10);
    let tcp = common::agent_run(
        &agent,
        &pair.a,
        &[
            "client",
            "tcp",
            "--target",
            &format!("{b}:7000"),
            "--count",
            "10",
        ],
        t,
    );
    assert_eq!(tcp["ok"], true, "{tcp}");
    let udp = common::agent_run(
        &agent,
        &pair.a,
        &[
            "client",
            "udp",
            "--target",
            &format!("{b}:7002"),
            "--count",
            "7",
        ],
        t,
    );
    assert_eq!(udp["ok"], true, "{udp}");
    let (status, out) = cap
        .wait_output(Duration::from_secs(10))
        .expect("capture ends");
    assert!(status.success(), "{out}");
    let report = common::json(out.lines().last().unwrap_or_default());
    assert_eq!(report["ok"], true, "{report}");
    // `auto` picked the veth that the route to the peer leaves through.
    assert_eq!(report["iface"].as_str(), Some(pair.b_if.as_str()), "{report}");
    // 10 connections of >= 3 TCP packets each way on the wire.
    assert!(
        report["plaintext_packets"].as_u64().unwrap_or(0) >= 30,
        "{report}"
    );
    // 7 requests + 7 echoes.
    assert_eq!(report["udp_port_packets"].as_u64(), Some(14), "{report}");

    // No route (the lab namespace has no default route): a clear failure,
    // and nothing is sent anywhere.
    let none = common::agent_run(
        &agent,
        &pair.b,
        &["capture", "--iface", "auto", "--route-to", "203.0.113.9", "--filter-ips", &ips, "--duration-s", "0.1"],
        t,
    );
    assert_eq!(none["ok"], false, "{none}");
    assert!(none["error"].as_str().unwrap_or_default().contains("failed to find a route to 203.0.113.9"), "{none}");
}

#[test]
fn namespaces_are_removed_on_drop_and_on_panic() {
    if !lab::enabled() {
        return;
    }
    let pair = LinkedPair::create().expect("create lab pair");
    let (a, b) = (pair.a.name().to_string(), pair.b.name().to_string());
    assert!(netns_names().contains(&a));
    drop(pair);
    let names = netns_names();
    assert!(!names.contains(&a) && !names.contains(&b), "{names}");

    let created = std::sync::Mutex::new(String::new());
    let result = std::panic::catch_unwind(|| {
        let pair = LinkedPair::create().expect("create lab pair");
        if let Ok(mut c) = created.lock() {
            *c = pair.a.name().to_string();
        }
        panic!("simulated test failure");
    });
    assert!(result.is_err());
    let name = created.lock().map(|c| c.clone()).unwrap_or_default();
    assert!(!name.is_empty());
    assert!(
        !netns_names().contains(&name),
        "namespace {name} survived a panic"
    );
}

#[test]
fn dns_server_and_client_and_system_resolver() {
    if !lab::enabled() {
        return;
    }
    let agent = common::agent_bin();
    let pair = LinkedPair::create().expect("create lab pair");
    let b = pair.b_ip.to_string();
    let _server = common::agent_serve(
        &agent,
        &pair.b,
        &[
            "--dns",
            "53",
            "--dns-record",
            &format!("echo.lab={b}"),
            "--http",
            "8080",
        ],
    );
    let t = Duration::from_secs(10);
    let found = common::agent_run(
        &agent,
        &pair.a,
        &[
            "client", "dns", "--target", &b, "--name", "echo.lab", "--count", "3",
        ],
        t,
    );
    assert_eq!(found["ok"], true, "{found}");
    assert_eq!(found["status"], 0);
    assert_eq!(found["answers"], serde_json::json!([b]));
    let missing = common::agent_run(
        &agent,
        &pair.a,
        &["client", "dns", "--target", &b, "--name", "other.lab"],
        t,
    );
    assert_eq!(missing["ok"], true, "{missing}");
    assert_eq!(missing["status"], 3, "NXDOMAIN expected: {missing}");

    // Names in URLs go through the system resolver (cluster DNS in a pod):
    // point the namespace's resolv.conf at the lab DNS server.
    pair.a
        .set_resolv_conf(&format!("nameserver {b}\noptions timeout:1 attempts:1\n"))
        .expect("resolv.conf");
    let mut cmd = pair.a.command(&agent);
    cmd.args(["client", "http", "--url", "http://echo.lab:8080/by-name"]);
    let mut p = lab::LabProcess::spawn("agent client by name", &mut cmd).expect("spawn");
    let http = common::report(&mut p, t);
    assert_eq!(http["ok"], true, "{http}");
    assert_eq!(
        common::json(http["body"].as_str().unwrap_or("{}"))["path"],
        "/by-name"
    );
    let etc = format!("/etc/netns/{}", pair.a.name());
    drop(p);
    drop(pair);
    assert!(!std::path::Path::new(&etc).exists(), "{etc} left behind");
}

/// A test CA and a server certificate it signed, as PEM files.
struct TestPki {
    dir: tempfile::TempDir,
}

impl TestPki {
    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }
}

fn make_ca(cn: &str) -> (rcgen::CertifiedIssuer<'static, rcgen::KeyPair>, String) {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("ca params");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.distinguished_name.push(rcgen::DnType::CommonName, cn);
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let key = rcgen::KeyPair::generate().expect("ca key");
    let ca = rcgen::CertifiedIssuer::self_signed(params, key).expect("self-sign ca");
    let pem = ca.pem();
    (ca, pem)
}

/// ca.pem (trusted), other-ca.pem (an unrelated CA), server.pem/server.key
/// for app.infraflux.test and *.wild.infraflux.test, signed by ca.pem.
fn test_pki() -> TestPki {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ca, ca_pem) = make_ca("InfraFlux test CA");
    let (_, other_pem) = make_ca("InfraFlux other CA");
    let mut leaf = rcgen::CertificateParams::new(vec![
        "app.infraflux.test".to_string(),
        "*.wild.infraflux.test".to_string(),
    ])
    .expect("leaf params");
    leaf.distinguished_name
        .push(rcgen::DnType::CommonName, "app.infraflux.test");
    let leaf_key = rcgen::KeyPair::generate().expect("leaf key");
    let cert = leaf.signed_by(&leaf_key, &ca).expect("sign leaf");
    std::fs::write(dir.path().join("ca.pem"), ca_pem).expect("write ca");
    std::fs::write(dir.path().join("other-ca.pem"), other_pem).expect("write other ca");
    std::fs::write(dir.path().join("server.pem"), cert.pem()).expect("write cert");
    std::fs::write(dir.path().join("server.key"), leaf_key.serialize_pem()).expect("write key");
    TestPki { dir }
}

#[test]
fn https_by_name_with_resolve_verifies_against_a_test_ca() {
    if !lab::enabled() {
        return;
    }
    let pki = test_pki();
    let (cert, key) = (pki.path("server.pem"), pki.path("server.key"));
    let common::Served { agent, pair, server: _server } = common::served_pair(
        &[
            "--https", "8443", "--http", "8080", "--tls-cert", &cert, "--tls-key", &key,
        ],
    );
    let b = pair.b_ip.to_string();
    let ca = pki.path("ca.pem");
    let t = Duration::from_secs(20);
    let client = |url: &str, extra: &[&str]| {
        let mut args = vec!["client", "http", "--url", url];
        args.extend_from_slice(extra);
        common::agent_run(&agent, &pair.a, &args, t)
    };
    let pin = |name: &str, port: u16| format!("{name}:{port}:{b}");

    // The name resolves nowhere: only --resolve makes it reachable, and the
    // server still sees the name in Host and SNI (its certificate matched).
    let good = client(
        "https://app.infraflux.test:8443/hello",
        &["--resolve", &pin("app.infraflux.test", 8443), "--ca-file", &ca],
    );
    assert_eq!(good["ok"], true, "{good}");
    assert_eq!(good["status"], 200);
    let tls = &good["tls"];
    assert_eq!(tls["verified"], true, "{good}");
    assert_eq!(tls["sni"], "app.infraflux.test");
    assert_eq!(tls["version"], "TLSv1_3");
    assert_eq!(
        tls["peer_sans"],
        serde_json::json!(["app.infraflux.test", "*.wild.infraflux.test"])
    );
    assert_eq!(tls["peer_subject"], "CN=app.infraflux.test");
    assert_eq!(tls["peer_issuer"], "CN=InfraFlux test CA");
    let echo = common::json(good["body"].as_str().expect("body"));
    assert_eq!(echo["headers"]["host"], "app.infraflux.test");
    assert_eq!(echo["tls"], true);
    assert_eq!(echo["server_ip"], b);
    assert_eq!(good["headers"]["content-type"], "application/json");

    // A wildcard SAN covers one label.
    let wild = client(
        "https://x.wild.infraflux.test:8443/",
        &["--resolve", &pin("x.wild.infraflux.test", 8443), "--ca-file", &ca],
    );
    assert_eq!(wild["ok"], true, "{wild}");
    assert_eq!(wild["tls"]["sni"], "x.wild.infraflux.test");

    // A name the certificate lacks fails verification, and the report
    // still says what the server presented.
    let wrong = client(
        "https://other.infraflux.test:8443/",
        &["--resolve", &pin("other.infraflux.test", 8443), "--ca-file", &ca],
    );
    assert_eq!(wrong["ok"], false, "{wrong}");
    let err = wrong["error"].as_str().unwrap_or("");
    assert!(err.contains("certificate"), "{wrong}");
    assert!(err.contains("other.infraflux.test"), "{wrong}");
    assert_eq!(wrong["tls"]["verified"], false);
    assert_eq!(wrong["tls"]["peer_sans"][0], "app.infraflux.test");

    // The right name under a CA that did not sign it fails too.
    let untrusted = client(
        "https://app.infraflux.test:8443/",
        &[
            "--resolve",
            &pin("app.infraflux.test", 8443),
            "--ca-file",
            &pki.path("other-ca.pem"),
        ],
    );
    assert_eq!(untrusted["ok"], false, "{untrusted}");
    assert!(
        untrusted["error"]
            .as_str()
            .unwrap_or("")
            .contains("certificate"),
        "{untrusted}"
    );

    // --insecure connects anyway, reports the certificate, claims nothing.
    let insecure = client(
        "https://other.infraflux.test:8443/",
        &["--resolve", &pin("other.infraflux.test", 8443), "--insecure"],
    );
    assert_eq!(insecure["ok"], true, "{insecure}");
    assert_eq!(insecure["tls"]["verified"], false);
    assert_eq!(insecure["tls"]["sni"], "other.infraflux.test");
    assert_eq!(
        insecure["tls"]["peer_sans"],
        serde_json::json!(["app.infraflux.test", "*.wild.infraflux.test"])
    );

    // Redirects are reported, not followed.
    let redirect = client(
        "https://app.infraflux.test:8443/status/301",
        &["--resolve", &pin("app.infraflux.test", 8443), "--ca-file", &ca],
    );
    assert_eq!(redirect["ok"], true, "{redirect}");
    assert_eq!(redirect["status"], 301);
    assert_eq!(
        redirect["headers"]["location"],
        "https://app.infraflux.test/status/301"
    );

    // Plain http by name: Host is the name, no tls report.
    let plain = client(
        "http://app.infraflux.test:8080/p",
        &["--resolve", &pin("app.infraflux.test", 8080)],
    );
    assert_eq!(plain["ok"], true, "{plain}");
    assert!(plain["tls"].is_null());
    assert_eq!(
        common::json(plain["body"].as_str().expect("body"))["headers"]["host"],
        "app.infraflux.test"
    );

    // A pin for another port does not apply: the name must then resolve,
    // and in the lab it does not.
    let unpinned = client(
        "https://app.infraflux.test:8443/",
        &["--resolve", &pin("app.infraflux.test", 9999), "--ca-file", &ca],
    );
    assert_eq!(unpinned["ok"], false, "{unpinned}");
    assert!(
        unpinned["error"].as_str().unwrap_or("").contains("resolve"),
        "{unpinned}"
    );
}

/// Runs `args` inside `ns` with `ip netns exec`, failing the test on error.
fn in_netns(ns: &lab::Netns, args: &[&str]) {
    ns.run(args[0], &args[1..], Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
}

#[test]
fn host_rules_reports_kube_proxy_chains_in_a_namespace() {
    if !lab::enabled() {
        return;
    }
    let agent = common::agent_bin();
    let ns = lab::Netns::new("r").expect("create namespace");
    let t = Duration::from_secs(30);
    let fresh = common::agent_run(&agent, &ns, &["host-rules", "--host-root", "/"], t);
    assert_eq!(fresh["ok"], true, "{fresh}");
    assert_eq!(fresh["mode"], "host-rules");
    assert_eq!(fresh["kube_svc_chains"], 0, "{fresh}");
    assert_eq!(fresh["kube_service_rules"], 0, "{fresh}");
    let tools: Vec<&str> = fresh["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .filter_map(|t| t["tool"].as_str())
        .collect();
    assert!(
        tools.contains(&"iptables-nft-save") && tools.contains(&"iptables-legacy-save"),
        "{fresh}"
    );

    // kube-proxy's shape, in the nft backend; one more service chain in the
    // legacy backend, which `iptables-nft-save` alone would not show.
    in_netns(&ns, &["iptables-nft", "-t", "nat", "-N", "KUBE-SERVICES"]);
    in_netns(&ns, &["iptables-nft", "-t", "nat", "-N", "KUBE-SVC-TEST1234"]);
    in_netns(
        &ns,
        &["iptables-nft", "-t", "nat", "-A", "KUBE-SERVICES", "-j", "KUBE-SVC-TEST1234"],
    );
    in_netns(&ns, &["iptables-legacy", "-t", "nat", "-N", "KUBE-SEP-LEGACY01"]);

    let after = common::agent_run(&agent, &ns, &["host-rules", "--host-root", "/"], t);
    assert_eq!(after["ok"], true, "{after}");
    assert_eq!(
        after["kube_chains"],
        serde_json::json!(["KUBE-SEP-LEGACY01", "KUBE-SERVICES", "KUBE-SVC-TEST1234"]),
        "{after}"
    );
    assert_eq!(after["kube_svc_chains"], 2, "{after}");
    assert_eq!(after["kube_service_rules"], 1, "{after}");
    let nft = after["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .find(|t| t["tool"] == "iptables-nft-save")
        .expect("nft tool report");
    assert_eq!(nft["ok"], true);
    assert_eq!(nft["tables"]["nat"]["rules"], 1, "{nft}");
    assert!(
        nft["tables"]["nat"]["chains"]
            .as_array()
            .expect("chains")
            .iter()
            .any(|c| c == "KUBE-SVC-TEST1234"),
        "{nft}"
    );

    // Through chroot: the host's / bind-mounted at another path (in a
    // private mount namespace, so the host's mount table never changes),
    // as the pod sees it at /host.
    let root = tempfile::tempdir().expect("tempdir");
    let root_text = root.path().display().to_string();
    let script = format!(
        "mount --rbind / {root} && exec {agent} --netns {ns} host-rules --host-root {root}",
        root = root.path().display(),
        agent = agent.display(),
        ns = ns.name()
    );
    let mut cmd = std::process::Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private", "sh", "-c", &script]);
    let mut p = lab::LabProcess::spawn("agent host-rules chroot", &mut cmd).expect("spawn unshare");
    let chrooted = common::report(&mut p, t);
    // The bind mount lived only in the private mount namespace, now gone.
    // Should it ever show here, never let TempDir's recursive delete walk
    // into the host's root through it.
    if std::fs::read_dir(root.path()).map_or(true, |mut d| d.next().is_some()) {
        let kept = root.keep();
        panic!("bind mount leaked into the host: {}", kept.display());
    }
    assert_eq!(chrooted["ok"], true, "{chrooted}");
    assert_eq!(chrooted["host_root"], root_text);
    assert_eq!(chrooted["kube_chains"], after["kube_chains"], "{chrooted}");

    // An empty root has no tools: proof the agent looked inside it.
    let empty = tempfile::tempdir().expect("tempdir");
    let bare = common::agent_run(
        &agent,
        &ns,
        &["host-rules", "--host-root", &empty.path().display().to_string()],
        t,
    );
    assert_eq!(bare["ok"], false, "{bare}");
    assert!(
        bare["error"]
            .as_str()
            .unwrap_or("")
            .contains("no iptables-save tool"),
        "{bare}"
    );

    // A host root that does not exist is a report, not a crash.
    let missing = common::agent_run(
        &agent,
        &ns,
        &["host-rules", "--host-root", "/nonexistent-infraflux-root"],
        t,
    );
    assert_eq!(missing["ok"], false, "{missing}");
    assert!(
        missing["error"].as_str().unwrap_or("").contains("chroot"),
        "{missing}"
    );
}
