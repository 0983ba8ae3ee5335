//! Lab: the WireGuard leak check (the pattern of cilium's encryption test,
//! with our capture counter in place of tcpdump). Two namespaces, a veth,
//! a userspace WireGuard tunnel between them: traffic between the inner
//! addresses must never appear in plaintext on the veth (assert mode), and
//! the same traffic without the tunnel must (sanity mode), which proves the
//! counter can see a leak at all. Root only.
#![allow(clippy::expect_used, reason = "test helpers fail the test loudly")]

use infraflux_testkit::lab::{self, agent as common};

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use infraflux_testkit::lab::process::Stream;
use infraflux_testkit::lab::wireguard::{WG_PORT, WgTunnel, plain_inner_addresses};
use infraflux_testkit::lab::{LabProcess, LinkedPair, Netns};

fn start_capture(agent: &Path, ns: &Netns, iface: &str, ips: &str) -> LabProcess {
    let mut cmd = Command::new(agent);
    cmd.args([
        "--netns",
        ns.name(),
        "capture",
        "--iface",
        iface,
        "--filter-ips",
        ips,
    ])
    .args(["--udp-port", &WG_PORT.to_string(), "--duration-s", "4"]);
    let mut cap = LabProcess::spawn(&format!("capture {iface}"), &mut cmd).expect("spawn capture");
    cap.wait_line(Stream::Stderr, Duration::from_secs(5), |l| {
        l.contains("ready")
    })
    .expect("capture ready");
    cap
}

fn finish_capture(mut cap: LabProcess) -> serde_json::Value {
    let (status, out) = cap
        .wait_output(Duration::from_secs(15))
        .expect("capture ends");
    let report = common::json(out.lines().last().unwrap_or_default());
    assert!(status.success() && report["ok"] == true, "{report}");
    report
}

/// The same traffic in both modes: TCP echo and HTTP to the inner address.
fn traffic(agent: &Path, from: &Netns, to: &str) {
    let t = Duration::from_secs(20);
    let tcp = common::agent_run(
        agent,
        from,
        &[
            "client",
            "tcp",
            "--target",
            &format!("{to}:7000"),
            "--count",
            "20",
            "--timeout-ms",
            "5000",
        ],
        t,
    );
    assert_eq!(tcp["ok"], true, "{tcp}");
    let http = common::agent_run(
        agent,
        from,
        &[
            "client",
            "http",
            "--url",
            &format!("http://{to}:8080/"),
            "--count",
            "5",
            "--timeout-ms",
            "5000",
        ],
        t,
    );
    assert_eq!(http["ok"], true, "{http}");
    assert_eq!(http["status"], 200);
}

#[test]
fn wireguard_tunnel_leaks_no_plaintext() {
    if !lab::enabled() {
        return;
    }
    let agent = common::agent_bin();
    let pair = LinkedPair::create().expect("create lab pair");
    let tunnel = WgTunnel::create(&pair).expect("create userspace WireGuard tunnel");
    let _server = common::agent_serve(&agent, &pair.b, &["--tcp-echo", "7000", "--http", "8080"]);
    let ips = format!("{},{}", tunnel.a_inner, tunnel.b_inner);

    let wire = start_capture(&agent, &pair.b, &pair.b_if, &ips);
    // Control: the tunnel device itself carries the inner packets in
    // plaintext, so the same filter must match there.
    let inner = start_capture(&agent, &pair.b, &tunnel.b_dev.ifname, &ips);
    traffic(&agent, &pair.a, &tunnel.b_inner.to_string());
    let wire = finish_capture(wire);
    let inner = finish_capture(inner);
    eprintln!("wireguard assert mode: veth {wire}\n tunnel device {inner}");

    assert_eq!(
        wire["plaintext_packets"], 0,
        "plaintext between inner IPs on the wire: {wire}"
    );
    assert!(
        wire["udp_port_packets"].as_u64().unwrap_or(0) >= 40,
        "no WireGuard packets on the wire: {wire}"
    );
    assert!(
        inner["plaintext_packets"].as_u64().unwrap_or(0) >= 40,
        "filter matched nothing on the tunnel device: {inner}"
    );
}

#[test]
fn without_the_tunnel_the_same_traffic_is_plaintext() {
    if !lab::enabled() {
        return;
    }
    let agent = common::agent_bin();
    let pair = LinkedPair::create().expect("create lab pair");
    let (a_inner, b_inner) = plain_inner_addresses(&pair).expect("inner addresses on the veths");
    let _server = common::agent_serve(&agent, &pair.b, &["--tcp-echo", "7000", "--http", "8080"]);
    let wire = start_capture(&agent, &pair.b, &pair.b_if, &format!("{a_inner},{b_inner}"));
    traffic(&agent, &pair.a, &b_inner.to_string());
    let wire = finish_capture(wire);
    eprintln!("wireguard sanity mode: veth {wire}");
    assert!(
        wire["plaintext_packets"].as_u64().unwrap_or(0) >= 40,
        "sanity mode saw no plaintext: {wire}"
    );
    assert_eq!(wire["udp_port_packets"], 0, "{wire}");
}
