//! Agent stream throughput against iperf3 over the same veth path, in one
//! run. Criterion reports each tool's goodput (bytes per iteration over the
//! transfer time the tool itself measured, so process start-up is not
//! counted for either); then an interleaved series of 1-second transfers
//! gives the agent/iperf3 ratio (target >= 0.95), interleaved because the
//! machine's load drifts between the two criterion groups.
//!
//! Root only, like the lab tests: `sudo cargo bench -p infraflux --bench
//! lab_throughput`. Not root: fails unless INFRAFLUX_LAB=skip.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use criterion::{Criterion, Throughput};
use infraflux_testkit::lab::agent::{agent_bin, json};
use infraflux_testkit::lab::netns::run_command;
use infraflux_testkit::lab::process::Stream;
use infraflux_testkit::lab::{self, Gate, LabProcess, LinkedPair, Netns};

const SINK_PORT: u16 = 7001;
const IPERF_PORT: u16 = 5201;
const BYTES_PER_ITER: u64 = 512 << 20;
const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// One agent transfer; returns (bytes, seconds) as the agent measured them.
fn agent_once(agent: &Path, ns: &Netns, target: &str, bytes: Option<u64>, secs: f64) -> (f64, f64) {
    let mut cmd = Command::new(agent);
    cmd.args(["--netns", ns.name(), "client", "stream", "--target", target]);
    match bytes {
        Some(b) => cmd.args(["--bytes", &b.to_string()]),
        None => cmd.args(["--duration-s", &secs.to_string()]),
    };
    let out = run_command(&mut cmd, None, RUN_TIMEOUT).unwrap_or_else(|e| panic!("{e}"));
    let r = json(&out);
    let gbps = r["throughput_gbps"]
        .as_f64()
        .unwrap_or_else(|| panic!("no throughput: {r}"));
    let moved = r["bytes"].as_f64().unwrap_or(0.0);
    (moved, moved * 8.0 / (gbps * 1e9))
}

/// One iperf3 transfer; returns (bytes, seconds) as iperf3 measured them
/// at the receiver.
fn iperf_once(iperf: &Path, ns: &Netns, host: &str, bytes: Option<u64>, secs: f64) -> (f64, f64) {
    let mut cmd = ns.command(iperf);
    cmd.args(["-c", host, "-p", &IPERF_PORT.to_string(), "-J"]);
    match bytes {
        Some(b) => cmd.args(["-n", &b.to_string()]),
        // iperf3 reads -t as whole seconds and treats 0 as "forever".
        None => cmd.args(["-t", &(secs.ceil().max(1.0) as u64).to_string()]),
    };
    let out = run_command(&mut cmd, None, RUN_TIMEOUT).unwrap_or_else(|e| panic!("{e}"));
    let r = json(&out);
    let recv = &r["end"]["sum_received"];
    let moved = recv["bytes"]
        .as_f64()
        .unwrap_or_else(|| panic!("no bytes: {r}"));
    let seconds = recv["seconds"].as_f64().unwrap_or(0.0);
    (moved, seconds)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() { 0.0 } else { v[v.len() / 2] }
}

fn main() {
    match lab::gate() {
        Ok(Gate::Run) => {}
        Ok(Gate::Skip(reason)) => {
            println!("lab_throughput skipped: {reason}");
            return;
        }
        Err(e) => {
            eprintln!("lab_throughput: {e}");
            std::process::exit(1);
        }
    }
    // `cargo bench` passes --bench; anything else (cargo test --benches) is
    // criterion's test mode, where one short round is enough.
    let quick = !std::env::args().any(|a| a == "--bench");
    let agent = agent_bin();
    let iperf = lab::find_program("iperf3").unwrap_or_else(|e| panic!("{e}"));
    let pair = LinkedPair::create().unwrap_or_else(|e| panic!("{e}"));
    let host = pair.b_ip.to_string();
    let target = format!("{host}:{SINK_PORT}");

    let mut sink_cmd = Command::new(&agent);
    sink_cmd.args([
        "--netns",
        pair.b.name(),
        "serve",
        "--tcp-sink",
        &SINK_PORT.to_string(),
    ]);
    let mut sink = LabProcess::spawn("agent sink", &mut sink_cmd).unwrap_or_else(|e| panic!("{e}"));
    sink.wait_line(Stream::Stdout, Duration::from_secs(10), |l| {
        l.contains("\"ready\":true")
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let mut iperf_cmd = pair.b.command(&iperf);
    // --forceflush: iperf3 block-buffers stdout on a pipe, hiding the ready line.
    iperf_cmd.args(["-s", "--forceflush", "-p", &IPERF_PORT.to_string()]);
    let mut server =
        LabProcess::spawn("iperf3 -s", &mut iperf_cmd).unwrap_or_else(|e| panic!("{e}"));
    server
        .wait_line(Stream::Stdout, Duration::from_secs(10), |l| {
            l.contains("listening")
        })
        .unwrap_or_else(|e| panic!("{e}"));

    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(8))
        .configure_from_args();
    {
        let mut g = c.benchmark_group("lab_throughput");
        g.throughput(Throughput::Bytes(BYTES_PER_ITER));
        g.bench_function("agent_stream", |b| {
            b.iter_custom(|iters| {
                let secs: f64 = (0..iters)
                    .map(|_| agent_once(&agent, &pair.a, &target, Some(BYTES_PER_ITER), 0.0).1)
                    .sum();
                Duration::from_secs_f64(secs)
            });
        });
        g.bench_function("iperf3", |b| {
            b.iter_custom(|iters| {
                let secs: f64 = (0..iters)
                    .map(|_| iperf_once(&iperf, &pair.a, &host, Some(BYTES_PER_ITER), 0.0).1)
                    .sum();
                Duration::from_secs_f64(secs)
            });
        });
        g.finish();
    }

    let (rounds, secs) = if quick { (1, 1.0) } else { (7, 1.0) };
    let mut agent_gbps = Vec::new();
    let mut iperf_gbps = Vec::new();
    for _ in 0..rounds {
        let (b, s) = agent_once(&agent, &pair.a, &target, None, secs);
        agent_gbps.push(b * 8.0 / s / 1e9);
        let (b, s) = iperf_once(&iperf, &pair.a, &host, None, secs);
        iperf_gbps.push(b * 8.0 / s / 1e9);
    }
    let (a, i) = (median(agent_gbps.clone()), median(iperf_gbps.clone()));
    let ratio = if i > 0.0 { a / i } else { 0.0 };
    println!(
        "lab_throughput interleaved ({rounds} x {secs} s): agent {agent_gbps:.2?} Gbit/s, iperf3 {iperf_gbps:.2?} Gbit/s"
    );
    println!(
        "lab_throughput ratio agent/iperf3 = {ratio:.3} (median {a:.2} / {i:.2} Gbit/s; target >= 0.95: {})",
        if ratio >= 0.95 { "met" } else { "NOT met" }
    );
    c.final_summary();
}
