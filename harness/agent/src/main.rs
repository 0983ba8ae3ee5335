//! `infraflux-agent`: the probe binary the harness ships into test pods and
//! lab namespaces. Four modes: `serve` (echo/sink/request-response servers),
//! `client` (one measurement, one JSON object on stdout), `capture` (an
//! AF_PACKET counter for plaintext leak checks) and `host-rules` (the node's
//! iptables rules, for the kube-proxy check). The JSON contract is in
//! README.md; field names are stable.

mod capture;
mod certinfo;
mod client;
mod dns;
mod downtime;
mod host_rules;
mod http;
mod http_client;
mod netns;
mod report;
mod rr;
mod serve;
mod stats;
mod tls;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "infraflux-agent", version, about = "InfraFlux probe agent")]
struct Cli {
    /// Enter the network namespace /run/netns/NAME before doing anything.
    /// Cheaper than `ip netns exec` (no mount namespace), which matters when
    /// the harness restarts a backend while measuring downtime.
    #[arg(long, global = true, value_name = "NAME")]
    netns: Option<String>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Run servers until killed (or until --duration-s passes).
    Serve(serve::ServeArgs),
    /// Run one measurement and print one JSON object.
    Client(client::ClientArgs),
    /// Count IPv4 packets on an interface and print one JSON object.
    Capture(capture::CaptureArgs),
    /// Read the node's iptables rules (kube-proxy check) and print one JSON object.
    HostRules(host_rules::HostRulesArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(name) = &cli.netns
        && let Err(e) = netns::enter(name)
    {
        eprintln!("infraflux-agent: {e}");
        return ExitCode::from(2);
    }
    match cli.cmd {
        Cmd::Serve(args) => match serve::run(&args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("infraflux-agent: {e}");
                ExitCode::from(1)
            }
        },
        Cmd::Client(args) => {
            let report = client::run(&args);
            emit(&report, report.ok)
        }
        Cmd::Capture(args) => {
            let report = capture::run(&args);
            emit(&report, report.ok)
        }
        Cmd::HostRules(args) => {
            let report = host_rules::run(&args);
            emit(&report, report.ok)
        }
    }
}

fn emit<T: serde::Serialize>(value: &T, ok: bool) -> ExitCode {
    match serde_json::to_string(value) {
        Ok(line) => println!("{line}"),
        Err(e) => {
            eprintln!("infraflux-agent: failed to encode report: {e}");
            return ExitCode::from(1);
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
