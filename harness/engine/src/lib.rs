//! The runner: every case becomes a `libtest_mimic::Trial` named
//! `<suite>::<case>`, run against the cluster with per-case namespaces,
//! bounded retries, deadlines, and cleanup that survives timeouts, panics
//! and Ctrl-C.
//!
//! Exit-code contract (see [`exit_status`] and [`EngineError::exit_status`]):
//! 0 all selected cases passed or were skipped; 1 a case failed or timed out
//! (also an interrupted run); 2 bad suite input or options; 3 the cluster is
//! unreachable, refuses the credentials, or another run holds the lock.

mod backend;
mod case;
pub mod bgp;
pub mod dns;
pub mod steps;
pub mod kube_backend;
pub mod capabilities;
pub mod probes;
mod select;
pub mod prove;

// The layers below, under the names the modules of this crate use.
use infraflux_kube as cluster;
use infraflux_model::{contract, diag, exit, results, secret, suite};
use infraflux_model::contract::{CaseFacts, Expectations, Policy, Promise};

pub use backend::{Backend, CaseCtx, CurrentStep, ObjectId, StepError, StepPhase, StepRef, TimeoutDefaults};
pub use case::namespace_for;
pub use select::{Disposition, Selection};

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::cluster::Cluster;
use capabilities::Detected;
use crate::exit::Status;
use crate::results::{CaseResult, Outcome, RunEvent, RunResults, SCHEMA, Target};
use crate::suite::{LoadedCase, LoadedSuite};

/// Receives the run's [`RunEvent`]s; the default drops them. Called from
/// the case threads, so it must be cheap and must not block.
#[derive(Clone, Default)]
pub struct EventSink(Option<Arc<dyn Fn(RunEvent) + Send + Sync>>);

impl EventSink {
    pub fn new(f: impl Fn(RunEvent) + Send + Sync + 'static) -> EventSink {
        EventSink(Some(Arc::new(f)))
    }

    pub fn emit(&self, event: RunEvent) {
        if let Some(f) = &self.0 {
            f(event);
        }
    }
}

impl std::fmt::Debug for EventSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() { "EventSink(set)" } else { "EventSink(none)" })
    }
}

/// What the run is pointed at besides the cluster: the profile (optional).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileInfo {
    pub name: Option<String>,
    /// sha256 of the profile file, hex.
    pub hash: Option<String>,
    pub provider: Option<String>,
}

/// Everything a run needs. `Default` gives the repository layout
/// (`suites/`, `fixtures/`) and built-in timeouts.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub suites_dir: PathBuf,
    pub fixtures_dir: PathBuf,
    /// Substring filters on `<suite>::<case>` (any must match).
    pub filters: Vec<String>,
    /// Substring patterns that exclude cases.
    pub skip: Vec<String>,
    /// Filters and skips must match the whole id.
    pub exact: bool,
    /// Run only cases marked `ignore:`.
    pub ignored: bool,
    /// Run ignored cases too.
    pub include_ignored: bool,
    /// Concurrent cases; `None` = libtest-mimic's default (CPU count).
    pub test_threads: Option<usize>,
    /// Only list the selected cases (no cluster contact).
    pub list: bool,
    /// Bound on the whole run, measured from the start of case execution.
    pub deadline: Option<Duration>,
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
    pub profile: Option<ProfileInfo>,
    /// Profile-level timeouts (suite, case and step values override them).
    pub timeouts: TimeoutDefaults,
    /// `None` generates `YYYYMMDDTHHMMSSZ-<6 hex>`.
    pub run_id: Option<String>,
    /// Probe agent image; without it, cases with probe steps are skipped.
    pub agent_image: Option<String>,
    /// Namespace of cilium-config and the cilium DaemonSet.
    pub cilium_namespace: String,
    /// Namespace of the run-lock Lease.
    pub lock_namespace: String,
    /// A lock not renewed for this long is stale.
    pub lock_ttl: Duration,
    /// Write the libtest-style console output to this file instead of
    /// stdout (e.g. `reports/runs/<id>/console.log`).
    pub console_log: Option<PathBuf>,
    /// Cancelling it interrupts the run (cleanup still runs). Ctrl-C cancels
    /// it too when `handle_ctrl_c` is set.
    pub cancel: CancellationToken,
    pub handle_ctrl_c: bool,
    /// Where the run's events go as they happen (reporters, progress).
    pub events: EventSink,
    /// New values for case `vars` of the same name (a case only sees
    /// overrides for variables it declares, so suites keep loading without a
    /// profile). The CLI derives them from the profile it was given.
    pub var_overrides: BTreeMap<String, String>,
    /// DNS provider settings for `dnsRecord` steps (feature `dnsApi`).
    pub dns: Option<steps::dns::DnsSettings>,
    /// The harness's BGP router for `bgpPeer` steps (feature `bgpPeer`):
    /// bound for the whole run.
    pub bgp: Option<steps::bgp::BgpSettings>,
    /// The profile's stance on each feature (`run --profile`, `conform`);
    /// `None` detects and skips, as without a profile.
    pub expectations: Option<Expectations>,
    /// The profile's promises, judged into `RunResults.coverage`.
    pub promises: Vec<Promise>,
    /// How the run is judged beyond its cases.
    pub policy: Policy,
    /// Suites made at run time, loaded after `suites_dir`'s: `(file name,
    /// YAML)` (the profile suite).
    pub extra_suites: Vec<(String, String)>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            suites_dir: PathBuf::from("suites"),
            fixtures_dir: PathBuf::from("fixtures"),
            filters: Vec::new(),
            skip: Vec::new(),
            exact: false,
            ignored: false,
            include_ignored: false,
            test_threads: None,
            list: false,
            deadline: None,
            kubeconfig: None,
            context: None,
            profile: None,
            timeouts: TimeoutDefaults::default(),
            run_id: None,
            agent_image: None,
            cilium_namespace: "kube-system".into(),
            lock_namespace: "default".into(),
            lock_ttl: Duration::from_secs(60),
            console_log: None,
            cancel: CancellationToken::new(),
            handle_ctrl_c: false,
            events: EventSink::default(),
            var_overrides: BTreeMap::new(),
            dns: None,
            bgp: None,
            expectations: None,
            promises: Vec::new(),
            policy: Policy::default(),
            extra_suites: Vec::new(),
        }
    }
}

impl RunOptions {
    /// libtest-mimic arguments; creates the console log first so a bad path
    /// is an error here rather than a panic inside libtest-mimic.
    fn trial_args(&self) -> Result<libtest_mimic::Arguments, EngineError> {
        let logfile = match &self.console_log {
            Some(path) => {
                std::fs::File::create(path).map_err(|source| EngineError::Output {
                    path: path.display().to_string(),
                    source,
                })?;
                Some(path.display().to_string())
            }
            None => None,
        };
        Ok(libtest_mimic::Arguments {
            test_threads: self.test_threads,
            logfile,
            ..Default::default()
        })
    }

    fn selection(&self) -> Selection {
        Selection {
            filters: self.filters.clone(),
            skip: self.skip.clone(),
            exact: self.exact,
            ignored: self.ignored,
            include_ignored: self.include_ignored,
        }
    }
}

/// Why a run could not produce results.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("failed to load suites")]
    Input(#[source] suite::LoadError),
    #[error("invalid run options: {0}")]
    Options(String),
    #[error("cluster unusable")]
    Cluster(#[source] cluster::Error),
    #[error("failed to write {path}")]
    Output {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to run the case executor: {0}")]
    Executor(String),
}

impl EngineError {
    /// 2 for bad input/options/output path, 3 for cluster trouble.
    pub fn exit_status(&self) -> Status {
        match self {
            EngineError::Input(_) | EngineError::Options(_) | EngineError::Output { .. } => Status::BadInput,
            EngineError::Cluster(_) | EngineError::Executor(_) => Status::Cluster,
        }
    }

    /// Loader findings, when the error is bad suite input.
    pub fn findings(&self) -> &[crate::diag::Finding] {
        match self {
            EngineError::Input(e) => &e.0,
            _ => &[],
        }
    }
}

/// The run's exit status (see [`contract::verdict`]): 1 when a case
/// failed, when nothing was verified (unless allowed) or, in acceptance
/// mode, when a promise stayed open; 3 when setup failed.
pub fn exit_status(results: &RunResults) -> Status {
    contract::verdict(results).status
}

/// One listed case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedCase {
    pub id: String,
    pub description: Option<String>,
    pub requires: Vec<String>,
    /// `Some(reason)` when the case only runs with `ignored`.
    pub ignore: Option<String>,
}

fn load(opts: &RunOptions) -> Result<Vec<LoadedSuite>, EngineError> {
    let mut suites = suite::load_dir(&opts.suites_dir, &opts.fixtures_dir).map_err(EngineError::Input)?;
    for (file, text) in &opts.extra_suites {
        suites.push(suite::load_str(file, text, &opts.fixtures_dir).map_err(EngineError::Input)?);
    }
    Ok(suites)
}

/// The cases the filters select, in suite-file then case order, without
/// contacting a cluster.
pub fn list(opts: &RunOptions) -> Result<Vec<ListedCase>, EngineError> {
    let suites = load(opts)?;
    let sel = opts.selection();
    Ok(suites
        .iter()
        .flat_map(|s| s.cases.iter())
        .filter(|c| sel.decide(c, None, None) != Disposition::FilteredOut)
        .map(|c| ListedCase {
            id: c.id.clone(),
            description: c.description.clone(),
            requires: c
                .requires
                .iter()
                .map(|f| f.name().to_owned())
                .chain(c.excludes.iter().map(|f| format!("{}{}", crate::suite::model::NOT_PREFIX, f.name())))
                .collect(),
            ignore: c.ignore.clone(),
        })
        .collect())
}

/// A new run id: `YYYYMMDDTHHMMSSZ-<6 hex>`.
pub fn new_run_id() -> String {
    let now = time::OffsetDateTime::now_utc();
    let fmt = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    let stamp = now.format(&fmt).unwrap_or_else(|_| "00000000T000000Z".into());
    format!("{stamp}-{:06x}", rand::random::<u32>() & 0xff_ffff)
}

/// Now, as the RFC 3339 UTC timestamp results carry.
fn rfc3339_now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Runs the selected cases against the cluster and returns their results;
/// writing them (results.json and every other report) is the report
/// crate's job, done once. Must be called on a multi-threaded tokio runtime.
pub async fn run(opts: RunOptions) -> Result<RunResults, EngineError> {
    if opts.test_threads == Some(0) {
        return Err(EngineError::Options("test_threads must be at least 1".into()));
    }
    let suites = load(&opts)?;
    // Fail on a bad console path before touching the cluster.
    opts.trial_args()?;
    let run_id = opts.run_id.clone().unwrap_or_else(new_run_id);
    let started_at = rfc3339_now();
    let started = Instant::now();
    if opts.list {
        let trials = suites
            .iter()
            .flat_map(|s| s.cases.iter())
            .filter(|c| opts.selection().decide(c, None, None) != Disposition::FilteredOut)
            .map(|c| libtest_mimic::Trial::test(c.id.clone(), || Ok(())))
            .collect();
        let args = libtest_mimic::Arguments {
            list: true,
            ..opts.trial_args()?
        };
        let _listed = tokio::task::spawn_blocking(move || libtest_mimic::run(&args, trials))
            .await
            .map_err(|e| EngineError::Executor(e.to_string()))?;
        return Ok(empty_results(run_id, started_at, &opts, None));
    }

    opts.events.emit(RunEvent::Started {
        run_id: run_id.clone(),
        started_at: started_at.clone(),
        target: target(&opts, None, None),
    });
    let session = Session::open(&opts, &run_id).await?;
    let executed = execute_inner(
        &opts,
        session.backend(&opts),
        &suites,
        Some(&session.detected),
        &run_id,
        Some(&opts.lock_namespace),
    )
    .await;
    let run_target = session.target(&opts);
    session.close(&opts, &[run_id.as_str()]).await;
    let mut results = executed?;

    results.run_id = run_id;
    results.started_at = started_at;
    results.duration_ms = started.elapsed().as_millis() as u64;
    results.target = run_target;
    opts.events.emit(RunEvent::Finished(results.clone()));
    Ok(results)
}

/// What a run holds while its cases run: the cluster, what it has, the
/// harness's BGP router, the run lock and the signal handler.
struct Session {
    cluster: Arc<Cluster>,
    detected: Detected,
    bgp: Option<Arc<steps::bgp::BgpCollector>>,
    lock: cluster::lock::RunLock,
    signals: Option<tokio::task::JoinHandle<()>>,
}

impl Session {
    /// Connects, detects, binds the BGP router, takes the lock and sweeps
    /// what killed runs of this lock left. A failure here is the
    /// cluster's: reporters hear about it before the error returns.
    async fn open(opts: &RunOptions, run_id: &str) -> Result<Session, EngineError> {
        // Which cluster, in every setup error: the kubeconfig a user meant
        // may not be the one that was read.
        let which = cluster_description(opts, None);
        let setup_failed = |e: cluster::Error| {
            let e = EngineError::Cluster(e);
            opts.events.emit(RunEvent::SetupFailed { message: format!("{}\n  cluster: {which}", error_chain(&e)) });
            e
        };
        let cluster = Arc::new(
            Cluster::connect(opts.kubeconfig.as_deref(), opts.context.as_deref())
                .await
                .map_err(setup_failed)?,
        );
        let mut detected = capabilities::detect(&cluster, &opts.cilium_namespace, opts.agent_image.as_deref())
            .await
            .map_err(setup_failed)?;
        capabilities::set_dns_api(&mut detected, opts.dns.as_ref());
        // Bound before any case so Cilium's sessions are up by the time a case looks.
        let bgp = match &opts.bgp {
            None => Err("the run has no BGP router of its own".to_owned()),
            Some(s) => steps::bgp::BgpCollector::bind(s)
                .await
                .map(Arc::new)
                .map_err(|e| format!("failed to start the harness's bgp router on {}: {e}", s.listen)),
        };
        capabilities::set_bgp_peer(&mut detected, bgp.as_ref().map(|_| ()).map_err(Clone::clone));
        let lock = cluster
            .acquire_lock(&opts.lock_namespace, run_id, opts.lock_ttl)
            .await
            .map_err(setup_failed)?;

        let signals = opts.handle_ctrl_c.then(|| {
            let token = opts.cancel.clone();
            tokio::spawn(async move {
                let signal = interrupted().await;
                tracing::warn!("interrupted by {signal}: cleaning up before exit");
                token.cancel();
            })
        });

        // Holding the lock means no other run of this lock is alive: case
        // objects labelled with it and another run id were left by a run
        // that was killed (SIGKILL, a lost node) and are swept before any case.
        let stale = format!(
            "{}={},{},{}={},{}!={run_id}",
            cluster::MANAGED_BY,
            cluster::MANAGER,
            cluster::CASE,
            cluster::LOCK,
            opts.lock_namespace,
            cluster::RUN_ID
        );
        match cluster.delete_labelled(&stale, opts.timeouts.cleanup).await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(objects = n, "swept what earlier, killed runs left behind"),
            Err(e) => tracing::warn!(error = %e, "failed to sweep objects of earlier killed runs"),
        }
        Ok(Session { cluster, detected, bgp: bgp.ok(), lock, signals })
    }

    /// The backend cases run through: this session's cluster and BGP router.
    fn backend(&self, opts: &RunOptions) -> Arc<kube_backend::KubeBackend> {
        Arc::new(
            kube_backend::KubeBackend::new(self.cluster.clone(), opts.agent_image.clone())
                .with_dns(opts.dns.clone())
                .with_bgp(self.bgp.clone()),
        )
    }

    /// What the run was pointed at, as read from the cluster.
    fn target(&self, opts: &RunOptions) -> Target {
        let mut t = target(opts, Some(&self.detected), self.cluster.context());
        t.api_server = self.cluster.server().map(str::to_owned);
        t
    }

    /// Safety net behind per-case cleanup: anything still carrying one of
    /// `run_ids` goes, on a fresh deadline; then the lock is released.
    async fn close(self, opts: &RunOptions, run_ids: &[&str]) {
        for id in run_ids {
            let selector = format!("{}={id},{}", cluster::RUN_ID, cluster::CASE);
            if let Err(e) = self.cluster.delete_labelled(&selector, opts.timeouts.cleanup).await {
                tracing::error!(error = %e, "final sweep failed; objects labelled {selector} may remain");
            }
        }
        if let Err(e) = self.lock.release().await {
            tracing::warn!(error = %e, "failed to release the run lock; it goes stale after its TTL");
        }
        if let Some(h) = self.signals {
            h.abort();
        }
    }
}

/// `kubeconfig K, context C[, API server S]` for setup errors.
pub fn cluster_description(opts: &RunOptions, server: Option<&str>) -> String {
    let kubeconfig = opts
        .kubeconfig
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "default ($KUBECONFIG or ~/.kube/config)".into());
    let context = opts.context.clone().unwrap_or_else(|| "the kubeconfig's current-context".into());
    let mut s = format!("kubeconfig {kubeconfig}, context {context}");
    if let Some(server) = server {
        s.push_str(&format!(", API server {server}"));
    }
    s
}

/// The first of SIGINT (Ctrl-C), SIGTERM (a CI runner or systemd stopping
/// the job) and SIGHUP (a closed terminal), by name. All of them mean
/// "stop": the run cancels, cleans up and writes its reports.
async fn interrupted() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    async fn next(s: &mut Option<tokio::signal::unix::Signal>) {
        match s {
            Some(s) => {
                s.recv().await;
            }
            // A handler that could not be installed never fires.
            None => std::future::pending().await,
        }
    }
    let mut term = signal(SignalKind::terminate()).ok();
    let mut hup = signal(SignalKind::hangup()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => "SIGINT",
        _ = next(&mut term) => "SIGTERM",
        _ = next(&mut hup) => "SIGHUP",
    }
}

/// Deletes every object the harness left behind: those labelled with
/// `run_id`, or every `app.kubernetes.io/managed-by=infraflux` object when
/// `run_id` is `None`. Takes the run lock first so it never pulls objects
/// from under a live run. Returns how many objects were deleted.
pub async fn cleanup_only(opts: &RunOptions, run_id: Option<&str>) -> Result<usize, EngineError> {
    let cluster = Arc::new(
        Cluster::connect(opts.kubeconfig.as_deref(), opts.context.as_deref())
            .await
            .map_err(EngineError::Cluster)?,
    );
    let holder = opts.run_id.clone().unwrap_or_else(new_run_id);
    // A killed run's Lease is fresh for up to its TTL: wait that long (and
    // no longer) for it to go stale; a live run keeps renewing and wins.
    let give_up = Instant::now() + opts.lock_ttl + Duration::from_secs(5);
    let lock = loop {
        match cluster.acquire_lock(&opts.lock_namespace, &holder, opts.lock_ttl).await {
            Ok(lock) => break lock,
            Err(cluster::Error::Locked { renewed_ago_s, ttl_s, .. }) if Instant::now() < give_up => {
                let wait = (ttl_s - renewed_ago_s).clamp(1, 5);
                tracing::info!(seconds = wait, "the run lock is held; waiting for it to go stale");
                tokio::time::sleep(Duration::from_secs(wait as u64)).await;
            }
            Err(e) => return Err(EngineError::Cluster(e)),
        }
    };
    // The lock's own Lease carries the managed-by label: never sweep it.
    let selector = match run_id {
        Some(id) => format!("{}={id},{}", cluster::RUN_ID, cluster::CASE),
        None => format!("{}={},{}", cluster::MANAGED_BY, cluster::MANAGER, cluster::CASE),
    };
    let swept = cluster.delete_labelled(&selector, opts.timeouts.cleanup).await;
    if let Err(e) = lock.release().await {
        tracing::warn!(error = %e, "failed to release the run lock; it goes stale after its TTL");
    }
    swept.map_err(EngineError::Cluster)
}

fn target(opts: &RunOptions, d: Option<&Detected>, context: Option<&str>) -> Target {
    let p = opts.profile.clone().unwrap_or_default();
    Target {
        profile: p.name,
        profile_hash: p.hash,
        provider: p.provider,
        context: context.map(str::to_owned).or_else(|| opts.context.clone()),
        kubernetes_version: d.and_then(|d| d.kubernetes_version.clone()),
        cilium_version: d.and_then(|d| d.cilium_version.clone()),
        node_count: d.and_then(|d| d.node_count),
        api_server: None,
    }
}

/// An error and its causes, one per line, as reports show it.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut src = e.source();
    while let Some(cause) = src {
        msg.push_str(&format!("\n  caused by: {cause}"));
        src = cause.source();
    }
    msg
}

fn empty_results(run_id: String, started_at: String, opts: &RunOptions, d: Option<&Detected>) -> RunResults {
    RunResults {
        schema: SCHEMA.into(),
        run_id,
        started_at,
        duration_ms: 0,
        target: target(opts, d, None),
        cases: Vec::new(),
        perf: Vec::new(),
        setup_error: None,
        install: Vec::new(),
        diagnostics: None,
        drift: None,
        policy: opts.policy,
        coverage: Vec::new(),
    }
}

/// Runs the selected cases of `suites` through `backend` as libtest-mimic
/// trials and collects their results (skips included, filtered-out cases
/// excluded). This is the part of [`run`] after connecting, detecting and
/// locking; it is public so embedders and tests can drive any [`Backend`]
/// (e.g. a [`kube_backend::KubeBackend`] wrapped to inject faults).
/// `detected: None` evaluates no requirements.
pub async fn execute<B: Backend>(
    opts: &RunOptions,
    backend: Arc<B>,
    suites: &[LoadedSuite],
    detected: Option<&Detected>,
    run_id: &str,
) -> Result<RunResults, EngineError> {
    execute_inner(opts, backend, suites, detected, run_id, None).await
}

async fn execute_inner<B: Backend>(
    opts: &RunOptions,
    backend: Arc<B>,
    suites: &[LoadedSuite],
    detected: Option<&Detected>,
    run_id: &str,
    lock_namespace: Option<&str>,
) -> Result<RunResults, EngineError> {
    let args = opts.trial_args()?;
    let started_at = rfc3339_now();
    let started = Instant::now();
    let run = Arc::new(case::RunCtx {
        backend,
        run_id: run_id.to_owned(),
        // Durations are bounded at parse time; an unbounded one from an
        // embedder means "no deadline" rather than an overflow panic.
        run_deadline: opts.deadline.and_then(|d| Instant::now().checked_add(d)),
        cancel: opts.cancel.clone(),
        timeouts: opts.timeouts,
        agent_image: opts.agent_image.clone(),
        var_overrides: opts.var_overrides.clone(),
        perf: std::sync::Mutex::new(Vec::new()),
        lock_namespace: lock_namespace.map(str::to_owned),
    });
    let sel = opts.selection();
    let handle = tokio::runtime::Handle::current();
    let collected: Arc<Mutex<BTreeMap<String, CaseResult>>> = Arc::new(Mutex::new(BTreeMap::new()));
    let mut order: Vec<(Arc<LoadedCase>, Disposition)> = Vec::new();
    let mut trials = Vec::new();
    // Exclusive cases (restarts, resets, throughput) take the write side,
    // every other case the read side: an exclusive case waits for what is
    // in flight and nothing starts beside it. They are queued last so the
    // parallel part runs undisturbed first.
    let gate = Arc::new(tokio::sync::RwLock::new(()));
    let mut exclusive_trials = Vec::new();
    for s in suites {
        let fixtures = Arc::new(s.fixtures.clone());
        for c in &s.cases {
            let disposition = sel.decide(c, detected, opts.expectations.as_ref());
            let case = Arc::new(c.clone());
            match &disposition {
                Disposition::FilteredOut => continue,
                Disposition::Skip(reason) => {
                    // libtest-mimic shows it as ignored; the reason lives in our results.
                    trials.push(
                        libtest_mimic::Trial::test(c.id.clone(), || Ok(()))
                            .with_ignored_flag(true)
                            .with_kind(short_reason(reason)),
                    );
                }
                Disposition::Unmet(reason) => {
                    // A broken promise is a failed case, reported like one
                    // as it happens.
                    let result = unmet(c, reason.clone());
                    opts.events.emit(RunEvent::CaseFinished(result.clone()));
                    if let Ok(mut m) = collected.lock() {
                        m.insert(result.id.clone(), result);
                    }
                    let message = reason.clone();
                    trials.push(libtest_mimic::Trial::test(c.id.clone(), move || Err(message.into())));
                }
                Disposition::Run => {
                    let (run, handle, collected, fixtures, case, events, gate) = (
                        run.clone(),
                        handle.clone(),
                        collected.clone(),
                        fixtures.clone(),
                        case.clone(),
                        opts.events.clone(),
                        gate.clone(),
                    );
                    let exclusive = c.exclusive;
                    let trial = libtest_mimic::Trial::test(c.id.clone(), move || {
                        // Held for the whole case; waiting for it is not the case's time.
                        let _turn = if case.exclusive {
                            Turn::Alone(handle.block_on(gate.write_owned()))
                        } else {
                            Turn::Shared(handle.block_on(gate.read_owned()))
                        };
                        let result = handle.block_on(case::run_case(&run, case, fixtures));
                        let verdict = match result.outcome.failure_headline() {
                            Some(headline) => Err(headline.into()),
                            None => Ok(()),
                        };
                        events.emit(RunEvent::CaseFinished(result.clone()));
                        if let Ok(mut m) = collected.lock() {
                            m.insert(result.id.clone(), result);
                        }
                        verdict
                    });
                    if exclusive {
                        exclusive_trials.push(trial.with_kind("exclusive"));
                    } else {
                        trials.push(trial);
                    }
                }
            }
            order.push((case, disposition));
        }
    }
    trials.extend(exclusive_trials);
    let joined = tokio::task::spawn_blocking(move || libtest_mimic::run(&args, trials)).await;
    if let Err(e) = joined {
        tracing::error!(error = %e, "case executor thread failed");
    }
    let collected = collected.lock().map(|m| m.clone()).unwrap_or_default();
    let mut perf = run.perf.lock().map(|p| p.clone()).unwrap_or_default();
    // Cases finish in any order; a stable order keeps results.json diffable.
    perf.sort_by(|a, b| (&a.case, &a.metric).cmp(&(&b.case, &b.metric)));
    let cases: Vec<CaseResult> = order
        .into_iter()
        .map(|(c, d)| match (d, collected.get(&c.id)) {
            (_, Some(r)) => r.clone(),
            (Disposition::Skip(reason), None) => skipped(&c, reason),
            (_, None) => skipped(&c, "not run: the executor stopped before this case".into()),
        })
        .collect();
    let coverage = if opts.promises.is_empty() {
        Vec::new()
    } else {
        let by_id: BTreeMap<&str, &CaseResult> = cases.iter().map(|c| (c.id.as_str(), c)).collect();
        let facts: Vec<CaseFacts<'_>> = suites
            .iter()
            .flat_map(|s| s.cases.iter())
            .map(|c| CaseFacts {
                id: &c.id,
                requires: &c.requires,
                vars: &c.vars,
                outcome: by_id.get(c.id.as_str()).map(|r| &r.outcome),
            })
            .collect();
        contract::evaluate(&opts.promises, &facts, &None)
    };
    Ok(RunResults {
        schema: SCHEMA.into(),
        run_id: run_id.to_owned(),
        started_at,
        duration_ms: started.elapsed().as_millis() as u64,
        target: target(opts, detected, None),
        cases,
        perf,
        setup_error: None,
        install: Vec::new(),
        diagnostics: None,
        drift: None,
        policy: opts.policy,
        coverage,
    })
}

/// A case's hold on the run: shared with other cases, or alone.
enum Turn {
    Shared(#[expect(dead_code, reason = "held for its drop")] tokio::sync::OwnedRwLockReadGuard<()>),
    Alone(#[expect(dead_code, reason = "held for its drop")] tokio::sync::OwnedRwLockWriteGuard<()>),
}

fn unmet(c: &LoadedCase, reason: String) -> CaseResult {
    CaseResult {
        outcome: Outcome::Failed { step: None, message: reason },
        ..skipped(c, String::new())
    }
}

fn skipped(c: &LoadedCase, reason: String) -> CaseResult {
    CaseResult {
        id: c.id.clone(),
        suite: c.suite.clone(),
        case: c.name.clone(),
        outcome: Outcome::Skipped { reason },
        duration_ms: 0,
        attempts: 0,
        steps: Vec::new(),
        gateway_conformance: c.gateway_conformance.clone(),
    }
}

/// First clause of a skip reason, short enough for the console's `[kind]`.
fn short_reason(reason: &str) -> String {
    let first = reason.split(';').next().unwrap_or(reason);
    let first = first.split(':').next().unwrap_or(first);
    first.chars().take(40).collect()
}

#[cfg(test)]
mod tests;
