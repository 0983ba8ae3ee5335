//! `run` and `conform` as one pipeline: profile → run plan → (provision) →
//! suites → reports. Everything a profile means for a run is decided here,
//! in one place: the flags it enables, the case variables it sets, the DNS
//! and BGP settings it implies and which cluster it names.
//!
//! Input problems come back as [`Finding`]s (rule id, command-line location,
//! hint) before anything is created. Once the plan stands, the run's report
//! directory is owned by [`execute`]: whatever happens after that point,
//! including a cluster that cannot be reached, ends in a written report.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use infraflux_engine::steps::{bgp::BgpSettings, dns::DnsSettings};
use infraflux_engine::{self as engine, EventSink, RunOptions};
use infraflux_model::contract::{self, Expectations, Mode, Policy};
use infraflux_model::diag::Finding;
use infraflux_model::exit::Status;
use infraflux_model::profile::{Loaded, Profile, Provider as ProfileProvider, ProviderKind};
use infraflux_model::secret;
use infraflux_report::Recorder;
use infraflux_model::suite::model::HumanDuration;

use crate::cli::{Endpoints, Global, JudgeArgs, Provider, flag_finding, flag_rules};

impl From<Provider> for ProviderKind {
    fn from(p: Provider) -> ProviderKind {
        match p {
            Provider::Kind => ProviderKind::Kind,
            Provider::ProxmoxRke2 => ProviderKind::ProxmoxRke2,
            Provider::Existing => ProviderKind::Existing,
            Provider::Local => ProviderKind::Local,
        }
    }
}

/// What a `run`/`conform` invocation asked for, before it is checked.
pub struct RunInput<'a> {
    /// The command line as typed (for flag locations), program name first.
    pub argv: &'a [String],
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
    pub endpoints: &'a Endpoints,
    pub suites: &'a Path,
    pub out_root: &'a Path,
    pub deadline: &'a str,
    pub agent_image: Option<&'a String>,
    pub profile: Option<&'a Loaded>,
    /// The provider that produced the cluster (`existing` for a named one).
    pub provider: ProviderKind,
    pub judge: JudgeArgs,
    pub cilium_namespace: &'a str,
    /// What the provider could not give on its host (features the profile
    /// enables that are reported as not verifiable here, with the reason).
    pub limits: &'a [infraflux_provision::Limit],
    /// The profile as the user wrote it, when the provider ran an adapted
    /// one (`profile`): the promises' stances come from this one.
    pub original: Option<&'a Profile>,
}

/// A checked run: engine options and the run directory its reports go to.
#[derive(Debug)]
pub struct Plan {
    pub opts: RunOptions,
    pub out: PathBuf,
    /// Install phases `conform` ran before the suites; they lead the
    /// reports (the `install` testsuite).
    pub install: Vec<infraflux_model::results::PhaseResult>,
    /// The install's diagnostics bundle, relative to the run directory.
    pub diagnostics: Option<String>,
    /// The cluster compared with the profile before the suites ran.
    pub drift: Option<infraflux_model::results::DriftReport>,
    /// The command line, for locating flag findings raised while executing.
    pub argv: Vec<String>,
    /// Prove the selected cases instead of running them (`--prove`).
    pub prove: bool,
}

/// The cluster `conform` runs against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterChoice {
    pub provider: ProviderKind,
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
}

/// Picks the cluster for `conform`: the `--provider` flag, else the
/// profile's provider. An `existing` provider takes its kubeconfig and
/// context from the flags first, then from `provider.existing` in the
/// profile. `conform` gets here only for `existing` and for providers that
/// are not built (`kind`): those are refused (FLAG-004) unless a cluster
/// was named on the command line; providers that provision (`local`,
/// `proxmox-rke2`) hand over their cluster before this is asked.
pub fn choose_cluster(
    argv: &[String],
    global: &Global,
    flag: Option<Provider>,
    loaded: &Loaded,
) -> Result<ClusterChoice, Box<Finding>> {
    let provider = flag.map(ProviderKind::from).unwrap_or_else(|| loaded.profile.provider.kind());
    let explicit = global.kubeconfig.is_some() || global.context.is_some();
    if provider == ProviderKind::Existing {
        let from_profile = match &loaded.profile.provider {
            ProfileProvider::Existing(e) => Some(e),
            _ => None,
        };
        return Ok(ClusterChoice {
            provider,
            kubeconfig: global
                .kubeconfig
                .clone()
                .or_else(|| from_profile.and_then(|e| e.kubeconfig.as_ref().map(PathBuf::from))),
            context: global.context.clone().or_else(|| from_profile.and_then(|e| e.context.clone())),
        });
    }
    if !explicit {
        return Err(Box::new(flag_finding(
            argv,
            flag_rules::PROVIDER_CANNOT_PROVISION,
            "--provider",
            format!("provider `{provider}` is not built, so it has no cluster to give; nothing was done"),
            "point conform at an existing cluster with --kubeconfig/--context, or use a provider that provisions (local, proxmox-rke2)",
        )));
    }
    // Nothing is provisioned: the cluster named on the command line is used
    // as it is, so the provider that produced it, for the reports, is
    // `existing`.
    Ok(ClusterChoice {
        provider: ProviderKind::Existing,
        kubeconfig: global.kubeconfig.clone(),
        context: global.context.clone(),
    })
}

/// Case variables a profile provides: the failover budgets
/// (`maxDowntimeAgentRestartMs`, `maxDowntimeOperatorRestartMs`,
/// `maxDowntimeEnvoyRestartMs`, `maxDowntimeBgpPeerLossMs`,
/// `maxDowntimeNodeDrainMs`) and the published domain (`dnsDomain`).
pub fn var_overrides(profile: &Profile) -> BTreeMap<String, String> {
    let b = &profile.failover.max_downtime_ms;
    [
        ("maxDowntimeAgentRestartMs", b.agent_restart),
        ("maxDowntimeOperatorRestartMs", b.operator_restart),
        ("maxDowntimeEnvoyRestartMs", b.envoy_restart),
        ("maxDowntimeBgpPeerLossMs", b.bgp_peer_loss),
        ("maxDowntimeNodeDrainMs", b.node_drain),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_string()))
    .chain([("dnsDomain".to_owned(), profile.dns.domain.clone())])
    .collect()
}

/// DNS settings for the profile's Cloudflare zone; the token is resolved
/// from its reference (env or file) here, once.
pub fn dns_settings(profile: &Profile, api_base: &str, authoritative: SocketAddr) -> Result<DnsSettings, secret::Error> {
    Ok(DnsSettings {
        api_base: api_base.to_owned(),
        token: profile.dns.cloudflare.api_token.resolve()?,
        zone: profile.dns.cloudflare.zone.clone(),
        authoritative,
        owner: profile.dns.txt_owner_id.clone(),
    })
}

/// The harness's BGP router for `--bgp-listen`: it plays the profile's
/// first peer (that router's ASN) and expects the nodes' ASN.
fn bgp_settings(argv: &[String], profile: &Profile, listen: SocketAddr) -> Result<BgpSettings, Box<Finding>> {
    let bad = |message: &str, hint: &str| Box::new(flag_finding(argv, flag_rules::BGP_LISTEN, "--bgp-listen", message, hint));
    let IpAddr::V4(ip) = listen.ip() else {
        return Err(bad("--bgp-listen must be an IPv4 address", "e.g. --bgp-listen 0.0.0.0:179"));
    };
    let (Some(router), Ok(node_asn)) = (profile.bgp.peers.first(), u32::try_from(profile.bgp.local_asn)) else {
        return Err(bad(
            "--bgp-listen needs a profile with BGP peers",
            "the harness plays the profile's first bgp.peers entry; add one or drop --bgp-listen",
        ));
    };
    let Ok(router_asn) = u32::try_from(router.asn) else {
        return Err(bad("the profile's peer ASN does not fit 32 bits", "use a 4-byte ASN"));
    };
    let config = infraflux_engine::bgp::Config::new(router_asn, ip, ip).with_peer_asn(node_asn);
    Ok(BgpSettings { listen, config })
}

/// Checks the flags against the profile and builds the run's options.
/// Creates nothing.
pub fn plan_run(input: RunInput<'_>) -> Result<Plan, Box<Finding>> {
    let argv = input.argv;
    let deadline = HumanDuration::parse(input.deadline).map_err(|e| {
        Box::new(flag_finding(
            argv,
            flag_rules::DEADLINE,
            "--deadline",
            format!("--deadline: {e}"),
            "give a duration such as 90s, 30m or 2h",
        ))
    })?;
    if deadline.0.is_zero() {
        return Err(Box::new(flag_finding(
            argv,
            flag_rules::DEADLINE,
            "--deadline",
            "--deadline is zero: the run would end before its first case",
            "give a duration such as 90s, 30m or 2h",
        )));
    }
    let profile = input.profile.map(|p| &p.profile);
    let dns = match (profile, input.endpoints.dns_authoritative) {
        (Some(p), Some(auth)) => Some(dns_settings(p, &input.endpoints.dns_api, auth).map_err(|e| {
            Box::new(flag_finding(
                argv,
                flag_rules::DNS_TOKEN,
                "--dns-authoritative",
                format!("the profile's Cloudflare token: {e}"),
                "the DNS step reads the token the profile names (dns.cloudflare.apiToken: env or file); set that variable or file",
            ))
        })?),
        (None, Some(_)) => {
            return Err(Box::new(flag_finding(
                argv,
                flag_rules::DNS_NEEDS_PROFILE,
                "--dns-authoritative",
                "--dns-authoritative needs --profile",
                "the zone, owner id and token come from the profile: add --profile PATH",
            )));
        }
        (_, None) => None,
    };
    let bgp = match (profile, input.endpoints.bgp_listen) {
        (Some(p), Some(listen)) => Some(bgp_settings(argv, p, listen)?),
        (None, Some(_)) => {
            return Err(Box::new(flag_finding(
                argv,
                flag_rules::BGP_LISTEN,
                "--bgp-listen",
                "--bgp-listen needs --profile",
                "the ASNs come from the profile: add --profile PATH",
            )));
        }
        (_, None) => None,
    };
    if let Some(kc) = &input.kubeconfig
        && let Err(why) = infraflux_kube::check_kubeconfig(kc)
    {
        return Err(Box::new(flag_finding(
            argv,
            flag_rules::KUBECONFIG,
            "--kubeconfig",
            format!("kubeconfig {why}"),
            "point --kubeconfig (or the profile's provider.existing.kubeconfig) at a kubeconfig file",
        )));
    }
    if input.judge.require_all && profile.is_none() {
        return Err(Box::new(flag_finding(
            argv,
            flag_rules::REQUIRE_ALL_NEEDS_PROFILE,
            "--require-all",
            "--require-all needs --profile: without a profile there are no promises to require",
            "add --profile PATH, or drop --require-all",
        )));
    }
    let run_id = engine::new_run_id();
    let out = input.out_root.join(&run_id);
    let opts = RunOptions {
        suites_dir: input.suites.to_owned(),
        deadline: Some(deadline.0),
        kubeconfig: input.kubeconfig,
        context: input.context,
        profile: Some(engine::ProfileInfo {
            name: input.profile.map(|l| l.file.clone()),
            hash: input.profile.map(|l| l.sha256.clone()),
            provider: Some(input.provider.as_str().to_owned()),
        }),
        expectations: input.original.or(profile).map(|p| {
            let mut e = Expectations::from_profile(p);
            for l in input.limits {
                e.mark_unavailable(l.feature, &l.reason);
            }
            e
        }),
        promises: promises_of(input.original, profile),
        extra_suites: input
            .profile
            .map(|l| vec![contract::profile_suite(&l.profile, &l.file)])
            .unwrap_or_default(),
        policy: Policy {
            mode: if input.judge.require_all { Mode::Acceptance } else { Mode::Gating },
            allow_empty: input.judge.allow_empty,
        },
        run_id: Some(run_id),
        agent_image: input.agent_image.cloned(),
        var_overrides: profile.map(var_overrides).unwrap_or_default(),
        dns,
        bgp,
        handle_ctrl_c: true,
        cilium_namespace: input.cilium_namespace.to_owned(),
        ..RunOptions::default()
    };
    Ok(Plan { opts, out, argv: argv.to_vec(), install: Vec::new(), diagnostics: None, drift: None, prove: false })
}

/// The run's promises. When the provider ran an adapted profile, the
/// feature promises are the user's (so a feature the host cannot give is
/// listed, as not verifiable here) and the per-object ones are what was
/// installed (pools with the addresses they really serve).
fn promises_of(original: Option<&Profile>, ran: Option<&Profile>) -> Vec<contract::Promise> {
    let is_feature = |p: &contract::Promise| matches!(p.evidence, contract::Evidence::Feature(_));
    match (original, ran) {
        (Some(o), Some(r)) => {
            let mut v: Vec<contract::Promise> = contract::promises(o).into_iter().filter(is_feature).collect();
            v.extend(contract::promises(r).into_iter().filter(|p| !is_feature(p)));
            v
        }
        (None, Some(r)) => contract::promises(r),
        _ => Vec::new(),
    }
}

/// Creates the run directory and proves a file can be written in it.
fn writable(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let probe = dir.join(".write-probe");
    std::fs::write(&probe, b"")?;
    std::fs::remove_file(probe)
}

/// How a planned run ended.
#[derive(Debug)]
pub struct Executed {
    pub status: Status,
    /// The run directory, when reports were written there.
    pub out: Option<PathBuf>,
}

/// Runs the plan and writes every report, `results.json` included, once,
/// from the run's events. A run that fails before its cases because of the
/// cluster (unreachable, credentials refused, lock held) still writes its
/// reports: a `junit.xml` whose `setup` testcase carries the error, so CI
/// shows why nothing ran. Bad input (suites, options) ends before the run
/// starts: nothing is written and the status is 2.
pub async fn execute(mut plan: Plan) -> Executed {
    // Found out after the run, an unwritable --out would lose the results:
    // check it before the lock is taken or the cluster touched.
    if let Err(e) = writable(&plan.out) {
        let f = flag_finding(
            &plan.argv,
            flag_rules::OUT_NOT_WRITABLE,
            "--out",
            format!("cannot write the run's reports under {}: {e}", plan.out.display()),
            "give --out a directory you can write to",
        );
        eprintln!("{}", secret::redact(&f.to_string()));
        return Executed { status: Status::BadInput, out: None };
    }
    if plan.prove {
        return execute_prove(plan).await;
    }
    let recorder = Arc::new(Mutex::new(Recorder::default()));
    let sink = recorder.clone();
    plan.opts.events = EventSink::new(move |event| {
        if let Ok(mut r) = sink.lock() {
            r.handle(event);
        }
    });
    let which = engine::cluster_description(&plan.opts, None);
    let status = match engine::run(plan.opts).await {
        Ok(results) => engine::exit_status(&results),
        Err(e) => report_engine_error(&e, &which),
    };
    let Some(mut results) = recorder.lock().ok().and_then(|r| r.results()) else {
        return Executed { status, out: None };
    };
    results.install = plan.install;
    results.diagnostics = plan.diagnostics;
    results.drift = plan.drift.map(Box::new);
    match infraflux_report::write_all(&plan.out, &results) {
        Ok(w) => {
            eprintln!("reports: {}", w.dir.display());
            Executed { status, out: Some(plan.out) }
        }
        Err(e) => {
            eprintln!("error: failed to write the reports: {}", secret::redact(&e.to_string()));
            Executed { status: e.exit_status(), out: None }
        }
    }
}

/// `--prove`: the negative controls instead of a run; the table on
/// stdout, prove.json and junit.xml under the run directory.
async fn execute_prove(plan: Plan) -> Executed {
    let which = engine::cluster_description(&plan.opts, None);
    match engine::prove::prove(plan.opts).await {
        Ok(report) => {
            print!("{}", infraflux_report::render_prove_table(&report));
            let status = if report.holds() { Status::Pass } else { Status::Failed };
            match infraflux_report::write_prove(&plan.out, &report) {
                Ok(dir) => {
                    eprintln!("reports: {}", dir.display());
                    Executed { status, out: Some(dir) }
                }
                Err(e) => {
                    eprintln!("error: failed to write the prove reports: {}", secret::redact(&e.to_string()));
                    Executed { status: e.exit_status(), out: None }
                }
            }
        }
        Err(e) => Executed { status: report_engine_error(&e, &which), out: None },
    }
}

/// Prints why a run or a prove could not produce results (loader findings,
/// the error chain, and for cluster trouble which cluster) and returns the
/// exit status.
fn report_engine_error(e: &engine::EngineError, which: &str) -> Status {
    for f in e.findings() {
        eprintln!("{}", secret::redact(&f.to_string()));
    }
    eprintln!("error: {}", secret::redact(&engine::error_chain(e)));
    if matches!(e, engine::EngineError::Cluster(_)) {
        eprintln!("  cluster: {}", secret::redact(which));
    }
    e.exit_status()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

    /// The default profile with its `provider:` block replaced.
    fn loaded(provider_yaml: &str) -> Loaded {
        let text = infraflux_model::profile::DEFAULT_YAML;
        let start = text.find("\nprovider:").map(|i| i + 1).unwrap_or_else(|| panic!("default profile has a provider block"));
        let rest = &text[start..];
        let replaced = format!("{}{}{}", &text[..start], provider_yaml, &rest[block_end(rest)..]);
        infraflux_model::profile::load_str("p.yaml", &replaced).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Byte length of the top-level block starting at `text`'s first line.
    fn block_end(text: &str) -> usize {
        let mut pos = 0;
        for (i, line) in text.split_inclusive('\n').enumerate() {
            if i > 0 && !line.starts_with(' ') && !line.trim().is_empty() && !line.starts_with('#') {
                return pos;
            }
            pos += line.len();
        }
        pos
    }

    fn global(args: &[&str]) -> Global {
        let argv: Vec<&str> = ["infraflux"].into_iter().chain(args.iter().copied()).chain(["check"]).collect();
        crate::cli::Cli::try_parse_from(argv).unwrap_or_else(|e| panic!("{e}")).global
    }

    #[test]
    fn existing_provider_reads_kubeconfig_and_context_from_the_profile() {
        let l = loaded("provider:\n  existing:\n    kubeconfig: /etc/k/admin.conf\n    context: lab\n");
        let g = Global { kubeconfig: None, ..global(&[]) };
        let c = choose_cluster(&[], &g, None, &l).unwrap_or_else(|f| panic!("{f}"));
        assert_eq!(c.provider, ProviderKind::Existing);
        assert_eq!(c.kubeconfig.as_deref(), Some(Path::new("/etc/k/admin.conf")));
        assert_eq!(c.context.as_deref(), Some("lab"));
        // Flags win over the profile.
        let g = Global { kubeconfig: Some("/tmp/other".into()), context: Some("ci".into()), ..global(&[]) };
        let c = choose_cluster(&[], &g, None, &l).unwrap_or_else(|f| panic!("{f}"));
        assert_eq!((c.kubeconfig.as_deref(), c.context.as_deref()), (Some(Path::new("/tmp/other")), Some("ci")));
    }

    #[test]
    fn a_provider_that_must_provision_needs_a_named_cluster() {
        let l = loaded("provider:\n  existing: {}\n");
        let g = Global { kubeconfig: None, context: None, ..global(&[]) };
        let argv: Vec<String> = ["infraflux", "conform", "--provider", "kind"].map(String::from).to_vec();
        let f = choose_cluster(&argv, &g, Some(Provider::Kind), &l).expect_err("kind cannot provision yet");
        assert_eq!(f.rule, flag_rules::PROVIDER_CANNOT_PROVISION);
        assert!(f.message.contains("`kind`"), "{}", f.message);
        let named = Global { context: Some("kind-lab".into()), ..g };
        let c = choose_cluster(&argv, &named, Some(Provider::ProxmoxRke2), &l).unwrap_or_else(|f| panic!("{f}"));
        assert_eq!(c.provider, ProviderKind::Existing, "a named cluster is used as it is");
    }

    #[test]
    fn every_cli_provider_maps_to_the_profile_kind_of_the_same_name() {
        use clap::ValueEnum as _;
        for p in Provider::value_variants() {
            let name = p.to_possible_value().map(|v| v.get_name().to_owned()).unwrap_or_default();
            assert_eq!(ProviderKind::from(*p).as_str(), name);
        }
    }
}
