//! `up` and `down`: a profile's provider hands over a cluster
//! (`infraflux-provision`), the install pipeline (`infraflux-install`)
//! installs or removes the stack on it. `conform` reuses [`prepare`] and
//! [`install`].
//!
//! Input problems (profile, flags, a chart directory that holds the wrong
//! chart, an unresolvable token) exit 2 before the cluster is touched;
//! a missing helm or chart download, an unusable cluster or a failed phase
//! exit 3. `up` always writes its run directory once it has started
//! installing: `results.json` and `junit.xml` (testsuite `install`) plus
//! `diagnostics/` when a phase failed.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use infraflux_install::{self as install, Options, Plan};
use infraflux_model::diag::Finding;
use infraflux_model::exit::Status;
use infraflux_model::profile::{Loaded, ProviderKind};
use infraflux_model::results::{DriftReport, PhaseResult, RunResults, SCHEMA, Target};
use infraflux_model::secret;
use infraflux_model::suite::model::HumanDuration;
use infraflux_provision::{Access, Provider};
use tokio_util::sync::CancellationToken;

use crate::cli::{DownCmd, Global, InstallFlags, UpArgs, UpCmd, flag_finding, flag_rules};

/// A checked install: the plan, its options and the provider.
pub struct Prepared {
    pub plan: Plan,
    pub opts: Options,
    pub provider: Box<dyn Provider>,
    pub dry_run: bool,
    /// How the provider runs the profile (the plan is built from its
    /// `profile`); its `limits` reach the run's expectations.
    pub adaptation: infraflux_provision::Adaptation,
    /// `up --gitops`: what is served to Flux once the cluster is up.
    pub gitops: Option<crate::gitops_cmd::GitopsPrep>,
}

impl Prepared {
    /// `--dry-run`: what the provider would do, what it cannot give here,
    /// then the ordered install plan.
    pub fn print_dry_run(&self) {
        let kind = self.provider.kind();
        for line in self.provider.plan() {
            println!("provider {kind}: {line}");
        }
        for l in &self.adaptation.limits {
            println!("provider {kind}: not verifiable here: {}: {}", l.feature, l.reason);
        }
        print!("{}", self.plan.render(self.opts.control_plane_only));
    }
}

fn wait_timeout(argv: &[String], text: &str) -> Result<Duration, Status> {
    HumanDuration::parse(text).map(|d| d.0).map_err(|e| {
        report_finding(&flag_finding(
            argv,
            flag_rules::WAIT_TIMEOUT,
            "--wait-timeout",
            format!("--wait-timeout: {e}"),
            "give a duration such as 90s, 10m or 1h",
        ))
    })
}

fn report_finding(f: &Finding) -> Status {
    eprintln!("{}", secret::redact(&f.to_string()));
    Status::BadInput
}

fn fail(status: Status, e: &dyn std::error::Error) -> Status {
    eprintln!("error: {}", secret::redact(&install::run::chain(e)));
    status
}

/// The provider a command uses: `--provider`, else `existing` when the
/// command line names a cluster (`--kubeconfig`/`--context`), else `local`
/// for the embedded default profile (whose Proxmox site is an example, not
/// a place to send anything), else the profile's.
pub fn provider_kind(global: &Global, flag: Option<crate::cli::Provider>, loaded: &Loaded) -> ProviderKind {
    match flag {
        Some(p) => p.into(),
        None if global.kubeconfig.is_some() || global.context.is_some() => ProviderKind::Existing,
        None if loaded.file == infraflux_model::profile::DEFAULT_FILE => ProviderKind::Local,
        None => loaded.profile.provider.kind(),
    }
}

/// The provider for `up`, `down` and `conform`. A profile section the
/// provider cannot run with is reported at its line in the profile (the
/// PROF rules only provisioning applies, PROF-041), before anything is
/// called; what the provider still refuses is FLAG-004 at `--provider`.
/// `creating` is false for `down` (which needs no SSH identity).
pub fn provider(argv: &[String], global: &Global, up: &UpArgs, loaded: &Loaded, creating: bool) -> Result<Box<dyn Provider>, Status> {
    let flags = Access { kubeconfig: global.kubeconfig.clone(), context: global.context.clone() };
    let kind = provider_kind(global, up.provider, loaded);
    if kind == loaded.profile.provider.kind() {
        let findings = infraflux_model::profile::provisioning(loaded, creating);
        if !findings.is_empty() {
            for f in &findings {
                eprintln!("{}", secret::redact(&f.to_string()));
            }
            eprintln!("error: provider `{kind}` cannot provision with this profile ({} finding(s)); nothing was done", findings.len());
            return Err(Status::BadInput);
        }
    }
    infraflux_provision::for_profile(&loaded.profile, Some(kind), &flags).map_err(|e| {
        let hint = match &e {
            infraflux_provision::ProvisionError::Proxmox(_) => {
                format!("fix provider.proxmoxRke2 in {} (README, section Proxmox)", loaded.file)
            }
            _ => format!("provider `{kind}` cannot provision yet: use --provider existing (with --kubeconfig/--context or provider.existing in the profile)"),
        };
        report_finding(&flag_finding(
            argv,
            flag_rules::PROVIDER_CANNOT_PROVISION,
            "--provider",
            format!("{}; nothing was done", install::run::chain(&e)),
            hint,
        ))
    })
}

/// The profile's `install.charts`, by chart name, resolved against the
/// profile file (`check` has validated them: PROF-037).
fn local_chart_dirs(loaded: &Loaded) -> std::collections::BTreeMap<String, PathBuf> {
    let charts = &loaded.profile.install.charts;
    charts
        .entries()
        .into_iter()
        .filter_map(|(_, name, _)| charts.resolved(name, &loaded.file).map(|d| (name.to_owned(), d)))
        .collect()
}

/// The options every install or comparison of `loaded` shares.
fn base_options(flags: &InstallFlags, loaded: &Loaded) -> Options {
    Options {
        charts_dir: flags.charts.clone(),
        chart_dirs: local_chart_dirs(loaded),
        image_registry: loaded.profile.install.image_registry.clone(),
        control_plane_only: flags.control_plane_only,
        always_collect: flags.collect_diagnostics,
        ..Options::default()
    }
}

/// Compares the cluster behind `access` with `plan` (see
/// [`install::drift`]); what stops the comparison is the report's error.
pub async fn drift(plan: &Plan, opts: &Options, access: &Access) -> DriftReport {
    let cluster = match access.connect().await {
        Ok(c) => c,
        Err(e) => return DriftReport { error: Some(secret::redact(&install::run::chain(&e))), ..DriftReport::default() },
    };
    let helm = install::helm::Helm {
        bin: opts.helm.clone(),
        kubeconfig: access.kubeconfig.clone(),
        context: access.context.clone(),
        timeout: opts.wait_timeout,
    };
    install::drift::check(&cluster, &helm, plan, opts).await
}

/// Acceptance of an `existing` cluster used as found (`conform
/// --skip-install`): the profile's plan compared with it. Nothing is
/// installed, no secret is resolved; a plan or helm that cannot be had is
/// the report's error, not the run's end (the suites still judge the
/// cluster).
pub async fn drift_as_found(global: &Global, flags: &InstallFlags, loaded: &Loaded) -> DriftReport {
    let not_checked = |why: String| DriftReport { error: Some(secret::redact(&why)), ..DriftReport::default() };
    let helm = match install::helm::locate(flags.helm.as_deref()) {
        Ok(h) => h,
        Err(e) => return not_checked(install::run::chain(&e)),
    };
    let wait_timeout = HumanDuration::parse(&flags.wait_timeout).map_or(Duration::from_secs(600), |d| d.0);
    let opts = Options { helm, wait_timeout, ..base_options(flags, loaded) };
    let plan = match install::plan::build(&loaded.profile, &opts) {
        Ok(p) => p,
        Err(e) => return not_checked(install::run::chain(&e)),
    };
    let flag_access = Access { kubeconfig: global.kubeconfig.clone(), context: global.context.clone() };
    let access = match infraflux_provision::for_profile(&loaded.profile, Some(ProviderKind::Existing), &flag_access) {
        Ok(p) => p.access(),
        Err(e) => return not_checked(install::run::chain(&e)),
    };
    drift(&plan, &opts, &access).await
}

/// Checks the flags, builds the plan and picks the provider. Touches no
/// cluster; a dry run needs no helm either.
pub async fn prepare(argv: &[String], global: &Global, up: &UpArgs, flags: &InstallFlags, loaded: &Loaded, run_dir: Option<&Path>) -> Result<Prepared, Status> {
    let timeout = wait_timeout(argv, &flags.wait_timeout)?;
    let provider = provider(argv, global, up, loaded, true)?;
    if !flags.dry_run {
        provider.prerequisites().await.map_err(|e| fail(e.status(), &e))?;
    }
    let helm = if flags.dry_run {
        flags.helm.clone().unwrap_or_else(|| PathBuf::from("helm"))
    } else {
        install::helm::locate(flags.helm.as_deref()).map_err(|e| fail(Status::Cluster, &e))?
    };
    let adaptation = provider.adapt(&loaded.profile);
    let opts = Options {
        helm,
        wait_timeout: timeout,
        diagnostics_dir: run_dir.map(Path::to_path_buf),
        progress: !global.quiet && std::io::stderr().is_terminal(),
        chart_values: adaptation.chart_values.clone(),
        unavailable: adaptation.unavailable.clone(),
        ..base_options(flags, loaded)
    };
    let plan = install::plan::build(&adaptation.profile, &opts).map_err(|e| fail(e.status(), &e))?;
    if !flags.dry_run {
        // Resolve the secret references now: a missing token is bad input,
        // found before anything is created.
        for s in plan.phases.iter().flat_map(|p| &p.steps) {
            if let install::Step::Secret(s) = s
                && let Err(e) = s.from.resolve()
            {
                let e = install::Error::Token { secret: format!("{}/{}", s.namespace, s.name), source: e };
                return Err(fail(Status::BadInput, &e));
            }
        }
    }
    let mut p = Prepared { plan, opts, provider, dry_run: flags.dry_run, adaptation, gitops: None };
    if flags.gitops {
        crate::gitops_cmd::prepare(argv, &mut p)?;
    }
    Ok(p)
}

/// Said after an install error when `up` refused before creating anything.
const NOTHING_CREATED: &str = "(nothing was created)";

/// What an install did, for `up` and `conform`.
pub struct Installed {
    pub access: Access,
    pub outcome: install::InstallOutcome,
    /// There was no install record before: this run installed the stack
    /// (so `conform` removes it afterwards unless --keep).
    pub fresh: bool,
}

fn helm_for(p: &Prepared, access: &Access) -> install::helm::Helm {
    install::helm::Helm {
        bin: p.opts.helm.clone(),
        kubeconfig: access.kubeconfig.clone(),
        context: access.context.clone(),
        timeout: p.opts.wait_timeout,
    }
}

/// Completes on Ctrl-C (SIGINT) or SIGTERM.
pub async fn interrupted() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
}

/// A token cancelled by Ctrl-C (SIGINT) or SIGTERM.
pub fn interrupt_token() -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        interrupted().await;
        eprintln!("interrupted: stopping the install; `infraflux down` removes what was created");
        t.cancel();
    });
    token
}

/// Why [`install`] could not hand over a cluster.
pub struct InstallFailure {
    pub status: Status,
    pub message: String,
    /// The provider refused before it changed anything (a node already
    /// there, not root): the caller must not tear down what it did not make.
    pub created_nothing: bool,
}

impl InstallFailure {
    fn from(e: &(dyn std::error::Error + 'static), status: Status) -> InstallFailure {
        InstallFailure { status, message: install::run::chain(e), created_nothing: false }
    }
}

/// Provisions (for `existing`: checks the cluster answers) and installs.
/// `Err` only when no cluster could be had.
pub async fn install(p: &Prepared, cancel: &CancellationToken) -> Result<Installed, InstallFailure> {
    let access = p.provider.up().await.map_err(|e| {
        let mut f = InstallFailure::from(&e, e.status());
        if e.created_nothing() {
            f.created_nothing = true;
            f.message = format!("{} {NOTHING_CREATED}", f.message);
        }
        f
    })?;
    if let Some(g) = &p.gitops {
        let (prep, helm) = (g.clone(), p.opts.helm.clone());
        let sha = tokio::task::spawn_blocking(move || prep.build(&helm))
            .await
            .map_err(|e| InstallFailure::from(&e, Status::Cluster))?
            .map_err(|e| InstallFailure::from(&e, Status::Cluster))?;
        let program = std::env::current_exe().map_err(|e| InstallFailure::from(&e, Status::Cluster))?;
        p.provider.start_gitops(&program).await.map_err(|e| InstallFailure::from(&e, e.status()))?;
        eprintln!("gitops: Flux gets commit {sha} of {}", g.tree_url());
    }
    let cluster = access.connect().await.map_err(|e| InstallFailure::from(&e, e.status()))?;
    let fresh = install::record::read(&cluster).await.map_err(|e| InstallFailure::from(&e, e.status()))?.is_none();
    let helm = helm_for(p, &access);
    let outcome = install::up(&cluster, &helm, &p.plan, &p.opts, cancel)
        .await
        .map_err(|e| InstallFailure::from(&e, e.status()))?;
    if !outcome.failed() {
        p.provider.after_install().await.map_err(|e| InstallFailure::from(&e, e.status()))?;
    }
    Ok(Installed { access, outcome, fresh })
}

/// The run's target as far as the install knows it.
pub fn target(loaded: &Loaded, provider: ProviderKind, access: &Access) -> Target {
    Target {
        profile: Some(loaded.file.clone()),
        profile_hash: Some(loaded.sha256.clone()),
        provider: Some(provider.as_str().to_owned()),
        context: access.context.clone(),
        ..Target::default()
    }
}

/// The bundle's path relative to the run directory `dir`, for the reports.
pub fn relative_bundle(dir: &Path, bundle: Option<&Path>) -> Option<String> {
    bundle.map(|b| b.strip_prefix(dir).unwrap_or(b).display().to_string())
}

/// Writes `results.json`/`junit.xml` for a run that only installed.
#[expect(clippy::too_many_arguments, reason = "one call per command; a struct would only rename them")]
pub fn write_install_report(
    dir: &Path,
    run_id: &str,
    started_at: String,
    duration: Duration,
    target: Target,
    phases: Vec<PhaseResult>,
    diagnostics: Option<&Path>,
    setup_error: Option<String>,
) -> Status {
    let results = RunResults {
        schema: SCHEMA.into(),
        run_id: run_id.to_owned(),
        started_at,
        duration_ms: u64::try_from(duration.as_millis()).unwrap_or(u64::MAX),
        target,
        cases: Vec::new(),
        perf: Vec::new(),
        setup_error,
        install: phases,
        diagnostics: relative_bundle(dir, diagnostics),
        drift: None,
        // A report of install phases only: no case was meant to run, so
        // "nothing verified" is not a verdict on it.
        policy: infraflux_model::contract::Policy { allow_empty: true, ..Default::default() },
        coverage: Vec::new(),
    };
    match infraflux_report::write_all(dir, &results) {
        Ok(w) => {
            eprintln!("reports: {}", w.dir.display());
            Status::Pass
        }
        Err(e) => {
            eprintln!("error: failed to write the reports: {}", secret::redact(&e.to_string()));
            e.exit_status()
        }
    }
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Prints one line per phase: what a non-TTY log (and `--quiet` aside, a
/// human) reads instead of the progress bars.
pub fn print_phases(phases: &[PhaseResult]) {
    for p in phases {
        let (status, detail) = match &p.outcome {
            infraflux_model::results::Outcome::Passed => ("ok", String::new()),
            infraflux_model::results::Outcome::Skipped { reason } => ("skipped", format!(": {reason}")),
            infraflux_model::results::Outcome::Failed { step, message } => {
                ("FAILED", format!(" in `{}`: {message}", step.as_deref().unwrap_or("?")))
            }
            infraflux_model::results::Outcome::TimedOut { after_ms, .. } => ("TIMED OUT", format!(" after {after_ms} ms")),
        };
        let skipped = p.steps.iter().filter(|s| s.status == "skipped").count();
        let extra = if skipped > 0 { format!(" ({skipped} step(s) skipped)") } else { String::new() };
        eprintln!("{}: {status}{extra}{}", p.id, secret::redact(&detail));
    }
}

/// `infraflux up`.
pub async fn up(args: &UpCmd, global: &Global, loaded: &Loaded, argv: &[String]) -> Status {
    let run_id = infraflux_engine::new_run_id();
    let run_dir = args.out.join(&run_id);
    let p = match prepare(argv, global, &args.up, &args.install, loaded, Some(&run_dir)).await {
        Ok(p) => p,
        Err(status) => return status,
    };
    if p.dry_run {
        p.print_dry_run();
        return Status::Pass;
    }
    let started = std::time::Instant::now();
    let started_at = now_rfc3339();
    let cancel = interrupt_token();
    let target_of = |access: &Access| target(loaded, p.provider.kind(), access);
    match install(&p, &cancel).await {
        Err(InstallFailure { status, message, .. }) => {
            eprintln!("error: {}", secret::redact(&message));
            let _ = write_install_report(&run_dir, &run_id, started_at, started.elapsed(), target_of(&p.provider.access()), Vec::new(), None, Some(format!("cluster unusable: {message}")));
            status
        }
        Ok(done) => {
            print_phases(&done.outcome.phases);
            let report = write_install_report(&run_dir, &run_id, started_at, started.elapsed(), target_of(&done.access), done.outcome.phases.clone(), done.outcome.diagnostics.as_deref(), None);
            if let Some(d) = &done.outcome.diagnostics {
                eprintln!("diagnostics: {}", d.display());
            }
            if done.outcome.failed() {
                return Status::Cluster;
            }
            if done.outcome.changed == 0 {
                eprintln!("up: nothing changed; the stack already matches the profile");
            } else {
                eprintln!("up: {} object(s) or release(s) created or changed", done.outcome.changed);
            }
            report
        }
    }
}

/// Removes what the install record and the phase labels say `up` created.
pub async fn remove(access: &Access, helm: install::helm::Helm, timeout: Duration) -> Status {
    let cluster = match access.connect().await {
        Ok(c) => c,
        Err(e) => return fail(e.status(), &e),
    };
    match install::down(&cluster, &helm, timeout).await {
        Ok(r) => {
            eprintln!(
                "down: {} release(s) uninstalled{}, {} object(s) deleted",
                r.releases.len(),
                if r.releases.is_empty() { String::new() } else { format!(" ({})", r.releases.join(", ")) },
                r.objects
            );
            Status::Pass
        }
        Err(e) => fail(e.status(), &e),
    }
}

/// `infraflux down`.
pub async fn down(args: &DownCmd, global: &Global, loaded: &Loaded, argv: &[String]) -> Status {
    let timeout = match wait_timeout(argv, &args.wait_timeout) {
        Ok(t) => t,
        Err(s) => return s,
    };
    let provider = match provider(argv, global, &args.up, loaded, false) {
        Ok(p) => p,
        Err(s) => return s,
    };
    let bin = match install::helm::locate(args.helm.as_deref()) {
        Ok(b) => b,
        Err(e) => return fail(Status::Cluster, &e),
    };
    let access = provider.access();
    // A cluster the provider owns is deleted whole: uninstalling the stack
    // from it first would only cost time (and fail on a half-dead node).
    if !provider.owns_cluster() {
        let helm = install::helm::Helm { bin, kubeconfig: access.kubeconfig.clone(), context: access.context.clone(), timeout };
        let status = remove(&access, helm, timeout).await;
        if status != Status::Pass {
            return status;
        }
    }
    match provider.down().await {
        Ok(()) => Status::Pass,
        Err(e) => fail(e.status(), &e),
    }
}
