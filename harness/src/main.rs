//! The `infraflux` binary: clap front, logging, exit codes. All behaviour
//! lives in the library; this file only wires subcommands to it.

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser as _;
use infraflux::cli::{Cli, Command, Format};
use infraflux::diag::{self, Finding};
use infraflux::exit::Status;
use infraflux::{profile, report, secret};

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(&cli);
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: failed to start the async runtime: {e}");
            return ExitCode::from(Status::Cluster.code() as u8);
        }
    };
    let status = match rt.block_on(dispatch(cli)) {
        Ok(status) => status,
        Err(e) => {
            let mut msg = format!("error: {e}");
            for cause in e.chain().skip(1) {
                msg.push_str(&format!("\n  caused by: {cause}"));
            }
            eprintln!("{}", secret::redact(&msg));
            // Errors that reach here are environment trouble; input errors are
            // mapped to statuses inside the commands.
            Status::Cluster
        }
    };
    ExitCode::from(status.code() as u8)
}

fn init_tracing(cli: &Cli) {
    let default = if cli.global.quiet {
        "error"
    } else {
        match cli.global.verbose {
            0 => "warn",
            1 => "info",
            2 => "debug",
            _ => "trace",
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("INFRAFLUX_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(RedactingStderr::default)
        .with_target(false)
        .try_init();
}

/// Log writer that strips registered secrets before anything reaches stderr.
#[derive(Default)]
struct RedactingStderr {
    buf: Vec<u8>,
}

impl std::io::Write for RedactingStderr {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if !self.buf.is_empty() {
            let text = secret::redact(&String::from_utf8_lossy(&self.buf));
            std::io::stderr().write_all(text.as_bytes())?;
            self.buf.clear();
        }
        Ok(())
    }
}

impl Drop for RedactingStderr {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

async fn dispatch(cli: Cli) -> anyhow::Result<Status> {
    let format = cli.global.format;
    match cli.command {
        Command::Check(args) => cmd_check(&args, format),
        Command::Render(_) => not_built("render", "the stack issue"),
        Command::Up(_) => not_built(
            "up",
            "the installer issue (kind, Proxmox+RKE2, local providers); use --kubeconfig with `run` for an existing cluster",
        ),
        Command::Down(_) => not_built("down", "the installer issue"),
        Command::Run(_) => not_built("run", "the runner"),
        Command::Report(args) => cmd_report(&args, format),
        Command::Conform(_) => not_built("conform", "the installer issue"),
    }
}

fn not_built(cmd: &str, owner: &str) -> anyhow::Result<Status> {
    eprintln!("error: `infraflux {cmd}` is not built yet ({owner}); nothing was done");
    Ok(Status::BadInput)
}

fn print_findings(findings: &[Finding], format: Format) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match format {
        Format::Json => {
            let json = serde_json::to_string_pretty(findings).context("failed to encode findings")?;
            writeln!(out, "{}", secret::redact(&json))?;
        }
        Format::Text => {
            for f in findings {
                writeln!(out, "{}", secret::redact(&f.to_string()))?;
            }
            let errors = findings.iter().filter(|f| f.severity == diag::Severity::Error).count();
            let warnings = findings.len() - errors;
            writeln!(out, "{errors} error(s), {warnings} warning(s)")?;
        }
    }
    Ok(())
}

fn cmd_check(args: &infraflux::cli::CheckArgs, format: Format) -> anyhow::Result<Status> {
    if args.rules {
        let mut out = std::io::stdout().lock();
        for r in profile::rules() {
            writeln!(out, "{}  {}\n      fix: {}", r.id, r.title, r.hint)?;
        }
        return Ok(Status::Pass);
    }
    let checked = match args.paths.as_slice() {
        [] => profile::check_str(profile::DEFAULT_FILE, profile::DEFAULT_YAML),
        [one] => profile::check_file(one),
        _ => {
            eprintln!("error: checking manifests is not built yet (the stack issue)");
            return Ok(Status::BadInput);
        }
    };
    print_findings(&checked.findings, format)?;
    Ok(checked.status())
}

fn cmd_report(args: &infraflux::cli::ReportArgs, format: Format) -> anyhow::Result<Status> {
    let Some(baseline) = &args.baseline else {
        // No baseline: rebuild the human reports from results.json.
        return Ok(match report::rerender(&args.results) {
            Ok(w) => {
                for f in w.files() {
                    println!("wrote {}", f.display());
                }
                Status::Pass
            }
            Err(e) => report_error(&e),
        });
    };
    let opts = report::CompareOptions {
        threshold: args.threshold / 100.0,
        ..report::CompareOptions::default()
    };
    let cmp = match report::compare_with(&args.results, baseline, &opts) {
        Ok(c) => c,
        Err(e) => return Ok(report_error(&e)),
    };
    match format {
        Format::Json => println!("{}", cmp.render_json().context("failed to encode the comparison")?),
        Format::Text => print!("{}", cmp.render_text()),
    }
    if let Err(e) = cmp.write_to(&args.results) {
        return Ok(report_error(&e));
    }
    Ok(if cmp.has_regressions() { Status::Failed } else { Status::Pass })
}

fn report_error(e: &report::ReportError) -> Status {
    match e.finding() {
        Some(f) => eprintln!("{}", secret::redact(&f.to_string())),
        None => eprintln!("error: {}", secret::redact(&e.to_string())),
    }
    e.exit_status()
}
