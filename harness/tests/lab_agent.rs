//! Lab: the agent's servers and clients across a real veth between two
//! namespaces, the capture counter on plaintext traffic, and lab teardown.
//! Root only (see common::lab_enabled).
#![allow(clippy::expect_used, reason = "test helpers fail the test loudly")]

mod common;

use std::time::Duration;

use infraflux::lab::{LinkedPair, netns::run_ip};

fn netns_names() -> String {
    run_ip(&["netns", "list"]).expect("ip netns list")
}

#[test]
fn agent_modes_work_across_a_veth() {
    if !common::lab_enabled() {
        return;
    }
    let agent = common::agent_bin();
    let pair = LinkedPair::create().expect("create lab pair");
    let _server = common::agent_serve(
        &agent,
        &pair.b,
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
    if !common::lab_enabled() {
        return;
    }
    let agent = common::agent_bin();
    let pair = LinkedPair::create().expect("create lab pair");
    let _server = common::agent_serve(
        &agent,
        &pair.b,
        &["--tcp-echo", "7000", "--udp-echo", "7002"],
    );
    let ips = format!("{},{}", pair.a_ip, pair.b_ip);
    let mut cmd = std::process::Command::new(&agent);
    cmd.args([
        "--netns",
        pair.b.name(),
        "capture",
        "--iface",
        &pair.b_if,
        "--filter-ips",
        &ips,
        "--proto",
        "tcp",
        "--udp-port",
        "7002",
        "--duration-s",
        "2",
    ]);
    let mut cap = infraflux::lab::LabProcess::spawn("capture", &mut cmd).expect("spawn capture");
    cap.wait_line(
        infraflux::lab::process::Stream::Stderr,
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
    // 10 connections of >= 3 TCP packets each way on the wire.
    assert!(
        report["plaintext_packets"].as_u64().unwrap_or(0) >= 30,
        "{report}"
    );
    // 7 requests + 7 echoes.
    assert_eq!(report["udp_port_packets"].as_u64(), Some(14), "{report}");
}

#[test]
fn namespaces_are_removed_on_drop_and_on_panic() {
    if !common::lab_enabled() {
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
    if !common::lab_enabled() {
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
    let mut p = infraflux::lab::LabProcess::spawn("agent client by name", &mut cmd).expect("spawn");
    let (_status, out) = p.wait_output(t).expect("client finished");
    let http = common::json(out.lines().last().unwrap_or_default());
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
