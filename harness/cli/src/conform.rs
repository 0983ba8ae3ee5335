//! `conform`'s install and teardown around the suite run:
//! check → provision → **install** → run → report → **down**.
//!
//! A failed install is a red `install::<phase>` testcase in the run's
//! reports (and exit 3), not a stack trace; the suites do not run on a stack
//! that did not install. Teardown removes what *this* run installed (the
//! install record did not exist before it) unless `--keep`; a stack that was
//! already there, and an `existing` cluster itself, are left alone.

use std::time::{Duration, Instant};

use infraflux_model::exit::Status;
use infraflux_model::profile::Loaded;
use infraflux_model::results::{DriftReport, PhaseResult};
use infraflux_provision::Access;

use crate::cli::{ConformArgs, Global};
use crate::install_cmd::{self, Prepared};

/// What the install stage left for the run and the teardown.
pub struct Stage {
    pub access: Access,
    /// The run id the install used: the suites' reports go to the same run
    /// directory, next to the diagnostics bundle.
    pub run_id: Option<String>,
    pub phases: Vec<PhaseResult>,
    /// The install's diagnostics bundle, relative to the run directory.
    pub diagnostics: Option<String>,
    /// The cluster compared with the profile after the install (what the
    /// install left as it found it: releases and objects it did not create).
    pub drift: Option<DriftReport>,
    /// What the provider could not give here (reported as not verifiable).
    pub limits: Vec<infraflux_provision::Limit>,
    /// The profile as the provider ran it.
    pub adapted: infraflux_model::profile::Profile,
    /// The probe agent image the provider loaded, when it built one.
    pub agent_image: Option<String>,
    teardown: Option<Teardown>,
}

struct Teardown {
    prepared: Prepared,
    access: Access,
}

/// Provisions and installs. `Err(status)` when the run must stop here (bad
/// input, no cluster, a failed phase); the reports are written first when
/// the install started.
pub async fn install_stage(args: &ConformArgs, global: &Global, loaded: &Loaded, argv: &[String]) -> Result<Stage, Status> {
    let run_id = infraflux_engine::new_run_id();
    let run_dir = args.out.join(&run_id);
    let prepared = install_cmd::prepare(argv, global, &args.up, &args.install, loaded, Some(&run_dir)).await?;
    if prepared.dry_run {
        prepared.print_dry_run();
        return Err(Status::Pass);
    }
    let started = Instant::now();
    let started_at = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let cancel = install_cmd::interrupt_token();
    let kind = prepared.provider.kind();
    match install_cmd::install(&prepared, &cancel).await {
        Err(install_cmd::InstallFailure { status, message, created_nothing }) => {
            eprintln!("error: {}", infraflux_model::secret::redact(&message));
            let target = install_cmd::target(loaded, kind, &prepared.provider.access());
            let _ = install_cmd::write_install_report(&run_dir, &run_id, started_at, started.elapsed(), target, Vec::new(), None, Some(format!("cluster unusable: {message}")));
            // A cluster this run made is not left behind because it failed.
            if prepared.provider.owns_cluster()
                && !args.keep
                && !created_nothing
                && let Err(e) = prepared.provider.down().await
            {
                eprintln!("error: {}", infraflux_install::run::chain(&e));
            }
            Err(status)
        }
        Ok(done) => {
            install_cmd::print_phases(&done.outcome.phases);
            let access = done.access.clone();
            // A cluster the provider made goes with the run even when the
            // stack was found in place.
            let keep = args.keep || (!done.fresh && !prepared.provider.owns_cluster());
            if !done.fresh {
                eprintln!("conform: the stack was installed before this run; it is left in place afterwards");
            }
            let diagnostics = install_cmd::relative_bundle(&run_dir, done.outcome.diagnostics.as_deref());
            if let Some(d) = &done.outcome.diagnostics {
                eprintln!("diagnostics: {}", d.display());
            }
            let drift = if done.outcome.failed() {
                None
            } else {
                let d = install_cmd::drift(&prepared.plan, &prepared.opts, &access).await;
                eprint!("{}", infraflux_model::secret::redact(&infraflux_install::drift::render(&d)));
                Some(d)
            };
            let mut stage = Stage {
                access: access.clone(),
                run_id: Some(run_id.clone()),
                diagnostics,
                drift,
                phases: done.outcome.phases.clone(),
                limits: prepared.adaptation.limits.clone(),
                adapted: prepared.adaptation.profile.clone(),
                agent_image: prepared.adaptation.agent_image.clone(),
                teardown: (!keep).then_some(Teardown { prepared, access }),
            };
            if done.outcome.failed() {
                let target = install_cmd::target(loaded, kind, &stage.access);
                let _ = install_cmd::write_install_report(&run_dir, &run_id, started_at, started.elapsed(), target, stage.phases.clone(), done.outcome.diagnostics.as_deref(), None);
                teardown(&mut stage).await;
                return Err(Status::Cluster);
            }
            Ok(stage)
        }
    }
}

/// Removes what this run installed (`down`), unless kept; returns the
/// teardown's status (Pass when there was nothing to do).
pub async fn teardown(stage: &mut Stage) -> Status {
    let Some(t) = stage.teardown.take() else { return Status::Pass };
    let timeout = t.prepared.opts.wait_timeout.max(Duration::from_secs(60));
    let helm = infraflux_install::helm::Helm {
        bin: t.prepared.opts.helm.clone(),
        kubeconfig: t.access.kubeconfig.clone(),
        context: t.access.context.clone(),
        timeout,
    };
    if !t.prepared.provider.owns_cluster() {
        let status = install_cmd::remove(&t.access, helm, timeout).await;
        if status != Status::Pass {
            return status;
        }
    }
    match t.prepared.provider.down().await {
        Ok(()) => Status::Pass,
        Err(e) => {
            eprintln!("error: {}", infraflux_install::run::chain(&e));
            e.status()
        }
    }
}

/// `conform --skip-install` against a provider that owns its cluster (a
/// node or VMs `up` left running): nothing is installed or torn down, but
/// the run judges the cluster as the provider runs the profile. `Ok(None)`:
/// the cluster is named by the flags or the profile (`existing`). A
/// provider that cannot be used is reported as for `up` (exit 2); one that
/// has no cluster here (no kubeconfig: `up` never ran or `down` did) exits
/// 3 saying so.
pub fn existing_stage(args: &ConformArgs, global: &Global, loaded: &Loaded, argv: &[String]) -> Result<Option<Stage>, Status> {
    let kind = install_cmd::provider_kind(global, args.up.provider, loaded);
    if kind == infraflux_model::profile::ProviderKind::Existing {
        return Ok(None);
    }
    let provider = install_cmd::provider(argv, global, &args.up, loaded, true)?;
    if !provider.owns_cluster() {
        return Ok(None);
    }
    let access = provider.access();
    if let Some(kc) = &access.kubeconfig
        && !kc.is_file()
    {
        eprintln!(
            "error: conform --skip-install: provider `{kind}` has no cluster up for profile `{}` (no kubeconfig at {}); run `infraflux up --provider {kind}` first, or name a cluster with --kubeconfig",
            loaded.profile.name,
            kc.display()
        );
        return Err(Status::Cluster);
    }
    let a = provider.adapt(&loaded.profile);
    Ok(Some(Stage {
        access,
        run_id: None,
        phases: Vec::new(),
        diagnostics: None,
        drift: None,
        limits: a.limits,
        adapted: a.profile,
        agent_image: a.agent_image,
        teardown: None,
    }))
}
