//! The `infraflux` binary: clap front, logging, exit codes. All behaviour
//! lives in the library; this file only wires subcommands to it.

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser as _;
use infraflux::cli::{Cli, Command, Format};
use infraflux::pipeline;
use infraflux::diag::{self, Finding};
use infraflux::exit::Status;
use infraflux::{check, engine, profile, report, secret, stack};

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
            eprintln!("error: {}", secret::redact(&engine::error_chain(e.as_ref())));
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
        // Colour codes only for a person at a terminal, never in CI logs.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
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
    match &cli.command {
        Command::Check(args) => cmd_check(args, format),
        Command::Render(args) => cmd_render(args),
        Command::Up(args) => match load_profile_for_use(args.up.profile.as_deref()) {
            Ok(loaded) => Ok(infraflux::install_cmd::up(args, &cli.global, &loaded, &argv()).await),
            Err(status) => Ok(status),
        },
        Command::Down(args) => match load_profile_for_use(args.up.profile.as_deref()) {
            Ok(loaded) => Ok(infraflux::install_cmd::down(args, &cli.global, &loaded, &argv()).await),
            Err(status) => Ok(status),
        },
        Command::Run(args) => cmd_run(args, &cli.global).await,
        Command::Report(args) => cmd_report(args, format),
        Command::Conform(args) => cmd_conform(args, &cli.global).await,
        Command::Cleanup(args) => cmd_cleanup(args, &cli.global).await,
        Command::ServeSource(args) => Ok(infraflux::gitops_cmd::serve_source(args).await),
    }
}

/// The command line as typed, with the program's name rather than its
/// install path, so flag columns are stable.
fn argv() -> Vec<String> {
    std::iter::once("infraflux".to_owned()).chain(std::env::args().skip(1)).collect()
}

/// Prints an input finding (rule id, location, hint) and returns the
/// bad-input status.
fn input_error(finding: &Finding) -> Status {
    eprintln!("{}", secret::redact(&finding.to_string()));
    Status::BadInput
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

/// True when `path` is a file whose first document parses with `kind:
/// ClusterProfile` (any quoting, comments, flow or JSON style, line
/// endings). A file that does not parse is not a profile; the manifest
/// checker reports why.
fn is_profile(path: &std::path::Path) -> bool {
    let Ok(text) = infraflux::yaml::read_text(path) else { return false };
    let Ok(docs) = infraflux::yaml::parse_str(&path.display().to_string(), &text) else { return false };
    docs.first().and_then(|d| d.root.get("kind")).is_some_and(|k| k.scalar_is("ClusterProfile"))
}

fn cmd_check(args: &infraflux::cli::CheckArgs, format: Format) -> anyhow::Result<Status> {
    if args.rules {
        let text = match format {
            Format::Json => infraflux::rules::render_json(),
            Format::Text => infraflux::rules::render_text(),
        };
        writeln!(std::io::stdout().lock(), "{}", text.trim_end())?;
        return Ok(Status::Pass);
    }
    // A file named on the command line that holds nothing is a mistake (a
    // truncated profile, a wrong path), not a clean pass.
    let empty: Vec<Finding> = args
        .paths
        .iter()
        .filter(|p| p.is_file())
        .filter(|p| {
            infraflux::yaml::read_text(p).is_ok_and(|t| {
                t.lines().all(|l| {
                    let l = l.trim();
                    l.is_empty() || l.starts_with('#') || l == "---" || l == "..."
                })
            })
        })
        .map(|p| {
            infraflux::yaml::YAML_000
                .finding("the file holds no YAML document: nothing to check")
                .at(diag::Location { file: p.display().to_string(), line: 0, col: 0 })
        })
        .collect();
    if !empty.is_empty() {
        print_findings(&empty, format)?;
        return Ok(Status::BadInput);
    }
    let (profiles, manifests): (Vec<_>, Vec<_>) = args.paths.iter().cloned().partition(|p| is_profile(p));
    if profiles.len() > 1 {
        eprintln!("error: more than one cluster profile given ({}); check them one at a time", profiles.len());
        return Ok(Status::BadInput);
    }
    if manifests.is_empty() {
        let checked = match profiles.first() {
            Some(p) => profile::check_file(p),
            None => profile::check_str(profile::DEFAULT_FILE, profile::DEFAULT_YAML),
        };
        print_findings(&checked.findings, format)?;
        return Ok(checked.status());
    }
    let opts = check::Options {
        repo: args.repo.clone(),
        cilium_version: args.cilium_version.clone(),
        gateway_api_version: args.gateway_api_version.clone(),
        gateway_api_channel: args.gateway_api_channel.clone(),
        flux_version: args.flux_version.clone(),
        profile: None,
    };
    match check::run_with(&manifests, profiles.first().map(|p| p.as_path()), &opts) {
        Ok(report) => {
            let text = match format {
                Format::Json => check::render_json(&report),
                Format::Text => check::render_human(&report),
            };
            print!("{}", secret::redact(&text));
            Ok(report.status())
        }
        Err(e) => {
            print_findings(&e.findings(), format)?;
            if e.findings().is_empty() {
                eprintln!("error: {}", secret::redact(&e.to_string()));
            }
            Ok(e.status())
        }
    }
}

/// Loads a profile (or the embedded default) and refuses one with error
/// findings: commands that consume a profile treat those as bad input.
fn load_profile_for_use(path: Option<&std::path::Path>) -> Result<profile::Loaded, Status> {
    let checked = match path {
        Some(p) => profile::check_file(p),
        None => profile::check_str(profile::DEFAULT_FILE, profile::DEFAULT_YAML),
    };
    let errors: Vec<&Finding> = checked
        .findings
        .iter()
        .filter(|f| f.severity == diag::Severity::Error)
        .collect();
    match checked.loaded {
        Some(loaded) if errors.is_empty() => Ok(loaded),
        _ => {
            for f in &errors {
                eprintln!("{}", secret::redact(&f.to_string()));
            }
            eprintln!("error: the profile has {} error finding(s); fix them first (`infraflux check`)", errors.len());
            Err(Status::BadInput)
        }
    }
}

fn cmd_render(args: &infraflux::cli::RenderArgs) -> anyhow::Result<Status> {
    let loaded = match load_profile_for_use(args.profile.as_deref()) {
        Ok(l) => l,
        Err(status) => return Ok(status),
    };
    match stack::render(&loaded.profile, &args.out, args.gitops) {
        Ok(r) => {
            for f in &r.files {
                println!("{}", r.out_dir.join(f).display());
            }
            eprintln!(
                "rendered {} file(s) into {} ({} warning(s) from check)",
                r.files.len(),
                r.out_dir.display(),
                r.report.findings.len()
            );
            Ok(Status::Pass)
        }
        Err(e) => {
            if let stack::StackError::SelfCheck { findings } = &e {
                for f in findings {
                    eprintln!("{}", secret::redact(&f.to_string()));
                }
            }
            // The OS cause (permission denied, read-only file system) is
            // what the user acts on.
            eprintln!("error: {}", secret::redact(&engine::error_chain(&e)));
            Ok(e.status())
        }
    }
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

async fn cmd_run(args: &infraflux::cli::RunArgs, global: &infraflux::cli::Global) -> anyhow::Result<Status> {
    let loaded = match &args.profile {
        Some(p) => match load_profile_for_use(Some(p)) {
            Ok(l) => Some(l),
            Err(status) => return Ok(status),
        },
        None => None,
    };
    let argv = argv();
    let mut plan = match pipeline::plan_run(pipeline::RunInput {
        argv: &argv,
        kubeconfig: global.kubeconfig.clone(),
        context: global.context.clone(),
        endpoints: &args.endpoints,
        suites: &args.suites,
        out_root: &args.out,
        deadline: &args.deadline,
        agent_image: args.agent_image.as_ref(),
        profile: loaded.as_ref(),
        provider: profile::ProviderKind::Existing,
        judge: args.judge,
        cilium_namespace: &args.cilium_namespace,
        limits: &[],
        original: None,
    }) {
        Ok(p) => p,
        Err(f) => return Ok(input_error(&f)),
    };
    plan.opts.filters = args.filters.clone();
    plan.opts.skip = args.skip.clone();
    plan.opts.exact = args.exact;
    plan.opts.ignored = args.ignored;
    plan.opts.test_threads = args.test_threads;
    plan.prove = args.prove.prove;
    if args.list {
        plan.opts.list = true;
        return Ok(match engine::list(&plan.opts) {
            Ok(cases) => {
                let mut out = std::io::stdout().lock();
                if global.format == Format::Json {
                    let json: Vec<_> = cases
                        .iter()
                        .map(|c| serde_json::json!({"id": c.id, "description": c.description, "requires": c.requires, "ignore": c.ignore}))
                        .collect();
                    writeln!(out, "{}", serde_json::to_string_pretty(&json)?)?;
                } else {
                    for c in &cases {
                        writeln!(out, "{}", c.id)?;
                    }
                    writeln!(out, "\n{} case(s)", cases.len())?;
                }
                Status::Pass
            }
            Err(e) => {
                for f in e.findings() {
                    eprintln!("{}", secret::redact(&f.to_string()));
                }
                eprintln!("error: {e}");
                e.exit_status()
            }
        });
    }
    Ok(pipeline::execute(plan).await.status)
}

async fn cmd_cleanup(args: &infraflux::cli::CleanupArgs, global: &infraflux::cli::Global) -> anyhow::Result<Status> {
    let opts = engine::RunOptions {
        kubeconfig: global.kubeconfig.clone(),
        context: global.context.clone(),
        ..engine::RunOptions::default()
    };
    match engine::cleanup_only(&opts, args.run_id.as_deref()).await {
        Ok(n) => {
            eprintln!("removed {n} object(s) the harness had created");
            Ok(Status::Pass)
        }
        Err(e) => {
            eprintln!("error: {}", secret::redact(&engine::error_chain(&e)));
            Ok(e.exit_status())
        }
    }
}

async fn cmd_conform(args: &infraflux::cli::ConformArgs, global: &infraflux::cli::Global) -> anyhow::Result<Status> {
    // Gate 1: the profile and the stack it renders, before touching anything.
    let loaded = match load_profile_for_use(args.up.profile.as_deref()) {
        Ok(l) => l,
        Err(status) => return Ok(status),
    };
    let files = match stack::render_files(&loaded.profile, false).and_then(|f| stack::self_check(&f)) {
        Ok(report) => report,
        Err(e) => {
            if let stack::StackError::SelfCheck { findings } = &e {
                for f in findings {
                    eprintln!("{}", secret::redact(&f.to_string()));
                }
            }
            eprintln!("error: {}", secret::redact(&e.to_string()));
            return Ok(e.status());
        }
    };
    eprintln!(
        "profile {} and its rendered stack pass the static gate ({} warning(s))",
        loaded.file,
        files.findings.len()
    );
    // Gate 2: a cluster with the stack installed (its phases lead the
    // reports), or with --skip-install the cluster named by the flags or the
    // profile, as found.
    let argv = argv();
    // Every run flag is checked before anything is installed; the run's own
    // plan is made once the cluster is known.
    if let Err(f) = pipeline::plan_run(pipeline::RunInput {
        argv: &argv,
        kubeconfig: None,
        context: None,
        endpoints: &args.endpoints,
        suites: &args.suites,
        out_root: &args.out,
        deadline: &args.deadline,
        agent_image: args.agent_image.as_ref(),
        profile: Some(&loaded),
        provider: infraflux::install_cmd::provider_kind(global, args.up.provider, &loaded),
        judge: args.judge,
        cilium_namespace: &args.cilium_namespace,
        limits: &[],
        original: None,
    }) {
        return Ok(input_error(&f));
    }
    if args.skip_install && args.install.gitops {
        return Ok(input_error(&infraflux::cli::flag_finding(
            &argv,
            infraflux::cli::flag_rules::GITOPS,
            "--gitops",
            "`--gitops` with `--skip-install`: nothing is installed, so nothing is handed to Flux",
            infraflux::cli::flag_rules::FLAG_010.hint,
        )));
    }
    // With --skip-install, a provider that owns its cluster (a node `up`
    // left running) still says how it runs the profile; an existing cluster
    // is used as found.
    let staged = if args.skip_install {
        match infraflux::conform::existing_stage(args, global, &loaded, &argv) {
            Ok(s) => s,
            Err(status) => return Ok(status),
        }
    } else {
        match infraflux::conform::install_stage(args, global, &loaded, &argv).await {
            Ok(s) => Some(s),
            Err(status) => return Ok(status),
        }
    };
    let cluster = match &staged {
        Some(s) => pipeline::ClusterChoice {
            provider: infraflux::install_cmd::provider_kind(global, args.up.provider, &loaded),
            kubeconfig: s.access.kubeconfig.clone(),
            context: s.access.context.clone(),
        },
        None => match pipeline::choose_cluster(&argv, global, args.up.provider, &loaded) {
            Ok(c) => c,
            Err(f) => return Ok(input_error(&f)),
        },
    };
    // Acceptance of a cluster used as found: the stack compared with the
    // profile before the suites run.
    let as_found = if args.skip_install && staged.is_none() && cluster.provider == profile::ProviderKind::Existing {
        let d = infraflux::install_cmd::drift_as_found(global, &args.install, &loaded).await;
        eprint!("{}", secret::redact(&infraflux::install::drift::render(&d)));
        Some(d)
    } else {
        None
    };
    let mut stage = staged;
    let status = conform_run(args, &argv, cluster, &loaded, stage.as_ref(), as_found).await?;
    let down = match &mut stage {
        Some(s) => infraflux::conform::teardown(s).await,
        None => Status::Pass,
    };
    Ok(if status == Status::Pass { down } else { status })
}

/// Gate 3 of `conform`: every suite, then the reports and the perf baseline.
async fn conform_run(
    args: &infraflux::cli::ConformArgs,
    argv: &[String],
    cluster: pipeline::ClusterChoice,
    loaded: &profile::Loaded,
    stage: Option<&infraflux::conform::Stage>,
    as_found: Option<infraflux::results::DriftReport>,
) -> anyhow::Result<Status> {
    let install = stage.map(|s| s.phases.clone()).unwrap_or_default();
    // The provider may have run the profile adapted to its host: the run
    // checks what was installed, judged against what the user asked for.
    let adapted = stage.map(|s| profile::Loaded { profile: s.adapted.clone(), ..loaded.clone() });
    let limits = stage.map(|s| s.limits.clone()).unwrap_or_default();
    let agent_image = args.agent_image.clone().or_else(|| stage.and_then(|s| s.agent_image.clone()));
    let mut plan = match pipeline::plan_run(pipeline::RunInput {
        argv,
        kubeconfig: cluster.kubeconfig,
        context: cluster.context,
        endpoints: &args.endpoints,
        suites: &args.suites,
        out_root: &args.out,
        deadline: &args.deadline,
        agent_image: agent_image.as_ref(),
        profile: Some(adapted.as_ref().unwrap_or(loaded)),
        provider: cluster.provider,
        judge: args.judge,
        cilium_namespace: &args.cilium_namespace,
        limits: &limits,
        original: adapted.as_ref().map(|_| &loaded.profile),
    }) {
        Ok(p) => p,
        Err(f) => return Ok(input_error(&f)),
    };
    plan.install = install;
    plan.opts.filters = args.filter.clone();
    plan.prove = args.prove.prove;
    plan.drift = as_found.or_else(|| stage.and_then(|s| s.drift.clone()));
    plan.diagnostics = stage.and_then(|s| s.diagnostics.clone());
    // One run directory for the install and the suites: the diagnostics
    // bundle the install wrote sits next to the reports that link it.
    if let Some(id) = stage.and_then(|s| s.run_id.clone()) {
        plan.out = args.out.join(&id);
        plan.opts.run_id = Some(id);
    }
    let pipeline::Executed { status, out } = pipeline::execute(plan).await;
    if args.prove.prove {
        return Ok(status);
    }
    let (Some(out), Some(baseline)) = (out, &args.baseline) else { return Ok(status) };
    // The profile's threshold, not the report command's default.
    let opts = report::CompareOptions {
        threshold: loaded.profile.perf.regression_threshold_percent / 100.0,
        ..report::CompareOptions::default()
    };
    let cmp = match report::compare_with(&out, baseline, &opts) {
        Ok(c) => c,
        Err(e) => return Ok(report_error(&e)),
    };
    print!("{}", cmp.render_text());
    if let Err(e) = cmp.write_to(&out).and_then(|_| report::record_comparison(&out, &cmp)) {
        return Ok(report_error(&e));
    }
    Ok(if cmp.has_regressions() && status == Status::Pass { Status::Failed } else { status })
}
