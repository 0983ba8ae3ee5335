//! Command-line definitions (clap). Kept in the library so tests can check
//! that `--help` stays true to the code.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// InfraFlux: validation and conformance harness for Cilium-based Kubernetes.
///
/// Exit codes: 0 pass; 1 failed cases, a broken profile promise, a run that
/// verified nothing (unless --allow-empty), an open promise under
/// --require-all, error findings or a perf regression; 2 bad input or usage (profile, suite YAML, manifest, flag);
/// 3 cluster or provisioning failure.
#[derive(Debug, Parser)]
#[command(name = "infraflux", version, about, long_about)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every subcommand accepts.
#[derive(Debug, Args)]
pub struct Global {
    /// Kubeconfig to use (default: $KUBECONFIG, then ~/.kube/config).
    #[arg(long, global = true, env = "KUBECONFIG", value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context (default: the current context).
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,
    /// More log output on stderr (-v info, -vv debug, -vvv trace); INFRAFLUX_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors on stderr; no progress bars.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Output format for data (findings, listings, comparisons).
    #[arg(long, global = true, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Static preflight: validate a cluster profile and/or stack manifests.
    ///
    /// PATHS may be files or directories: Kubernetes manifests (multi-document
    /// YAML), Helm values files, Flux HelmReleases with inline values or
    /// valuesFrom ConfigMaps, and RKE2 config files. A path that parses as a
    /// cluster profile is validated with the PROF rules. Exit 1 on error
    /// findings, 2 on unreadable or malformed input.
    Check(CheckArgs),
    /// Render the corrected stack for a profile: install-ordered manifests and
    /// Helm values, or a Flux GitOps tree with --gitops.
    Render(RenderArgs),
    /// Provision a cluster and install the stack for a profile.
    ///
    /// Installs in dependency order: Gateway API CRDs, Cilium (Helm) and its
    /// rollout, cert-manager, sealed-secrets and external-dns (Helm), then
    /// the custom resources (LB pools, BGP, Gateway and routes, issuers and
    /// certificates, network policies) and waits on their conditions.
    /// Server-side apply with field manager `infraflux`; a second `up`
    /// changes nothing and says so. Needs the helm CLI (`.ci/build-helm`
    /// builds it; --helm or INFRAFLUX_HELM name another) and the charts
    /// (`.ci/fetch-charts`, or --charts DIR). Writes results.json and
    /// junit.xml (testsuite `install`) under --out, plus a diagnostics bundle
    /// when a phase fails. Exit 3 when a phase fails or the cluster is
    /// unusable, 2 on bad input.
    Up(UpCmd),
    /// Remove what `up` created, in reverse order: the Helm releases in its
    /// install record and the objects labelled with its phases. Never touches
    /// what it did not create (nor the cluster of an `existing` provider);
    /// safe to run twice.
    Down(DownCmd),
    /// Run conformance suites against the cluster (libtest-style filters).
    Run(RunArgs),
    /// Rewrite reports for a finished run and compare perf against a baseline.
    Report(ReportArgs),
    /// The main job: check the profile, provision, install the stack (as
    /// `up`), run every suite, write reports (install phases are the
    /// `install` testsuite), compare with a baseline if given, then remove
    /// what this run installed (as `down`) unless --keep. With
    /// --skip-install the suites run against the stack as found. Before the
    /// suites, the cluster is compared with the profile (chart versions,
    /// values, custom resources): the drift is printed and reported.
    Conform(ConformArgs),
    /// Remove every object a run created (namespaces, workloads, pools…
    /// labelled app.kubernetes.io/managed-by=infraflux with a case label),
    /// e.g. after a run was killed. Waits for the run lock first, so it
    /// never pulls objects from under a live run.
    Cleanup(CleanupArgs),
    /// Serve a GitOps source root (bare Git repositories over smart HTTP,
    /// a Helm repository) until SIGTERM; `up --gitops` starts it on the
    /// provider's host.
    #[command(hide = true)]
    ServeSource(ServeSourceArgs),
}

#[derive(Debug, Args)]
pub struct ServeSourceArgs {
    /// The directory built by `up --gitops` (`git/`, `charts/`).
    #[arg(long, value_name = "DIR")]
    pub root: PathBuf,
    /// Address to listen on.
    #[arg(long, value_name = "ADDR")]
    pub listen: std::net::SocketAddr,
}

#[derive(Debug, Args)]
pub struct CleanupArgs {
    /// Only the objects of this run id (default: every run's).
    #[arg(long, value_name = "RUN_ID")]
    pub run_id: Option<String>,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Cluster profile and/or manifest files and directories.
    pub paths: Vec<PathBuf>,
    /// Print the rule catalog (PROF and stack rules) instead of checking.
    #[arg(long)]
    pub rules: bool,
    /// Repository the paths belong to: its other manifests are read to
    /// resolve references and namespaces (findings only for PATHS).
    #[arg(long, value_name = "DIR")]
    pub repo: Option<PathBuf>,
    /// Cilium version to judge against when the inputs pin none (e.g. 1.19.4).
    #[arg(long, value_name = "VERSION")]
    pub cilium_version: Option<String>,
    /// Gateway API CRD bundle to judge against when the inputs install none
    /// (e.g. v1.4.1; default: the cluster profile's, else the bundle the
    /// Cilium release requires).
    #[arg(long, value_name = "VERSION")]
    pub gateway_api_version: Option<String>,
    /// Channel of that bundle when the inputs do not say (standard or
    /// experimental; unknown judges kinds against experimental and skips
    /// the experimental-field rule).
    #[arg(long, value_name = "CHANNEL", value_parser = ["standard", "experimental"])]
    pub gateway_api_channel: Option<String>,
    /// Flux release to judge toolkit API versions against when the inputs
    /// name none (e.g. v2.9.5; default: the cluster profile's).
    #[arg(long, value_name = "VERSION")]
    pub flux_version: Option<String>,
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    /// Cluster profile (default: the embedded default profile).
    #[arg(long, value_name = "PATH")]
    pub profile: Option<PathBuf>,
    /// Output directory (created; existing files are replaced).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Write a Flux GitOps tree instead of install-ordered manifests.
    #[arg(long)]
    pub gitops: bool,
}

/// Installer back end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Provider {
    Kind,
    ProxmoxRke2,
    Existing,
    Local,
}

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Cluster profile (default: the embedded default profile).
    #[arg(long, value_name = "PATH")]
    pub profile: Option<PathBuf>,
    /// Override the profile's provider.
    #[arg(long, value_enum)]
    pub provider: Option<Provider>,
}

/// How the stack is installed (`up`, `conform`).
#[derive(Debug, Args)]
pub struct InstallFlags {
    /// Print the ordered install plan (every chart with version and values
    /// digest, every object, every wait and its bound) and exit; needs no cluster.
    #[arg(long)]
    pub dry_run: bool,
    /// Local chart directories for air-gapped sites: DIR/<chart>/ (cilium,
    /// cert-manager, external-dns, sealed-secrets) and DIR/gateway-api/
    /// (CRD files). Takes precedence over the profile's install.charts;
    /// charts found in neither come from the Go module cache.
    #[arg(long, value_name = "DIR")]
    pub charts: Option<PathBuf>,
    /// The helm binary (default: $INFRAFLUX_HELM, the .ci/build-helm cache, PATH).
    #[arg(long, value_name = "PATH")]
    pub helm: Option<PathBuf>,
    /// Bound on every wait and helm call, e.g. 10m.
    #[arg(long, value_name = "DURATION", default_value = "10m")]
    pub wait_timeout: String,
    /// The cluster has no datapath (e.g. kwok nodes): skip the waits and
    /// objects that need running controllers; they are reported as skipped.
    #[arg(long)]
    pub control_plane_only: bool,
    /// Write the diagnostics bundle even when every phase passes.
    #[arg(long)]
    pub collect_diagnostics: bool,
    /// Install only the bootstrap (Gateway API CRDs, Cilium), then Flux,
    /// and hand Flux the rendered GitOps tree (`render --gitops`), served
    /// from the provider's host: Flux reconciles the rest and adopts the
    /// Cilium release. Needs a provider that can serve the tree (local,
    /// proxmox-rke2).
    #[arg(long)]
    pub gitops: bool,
}

#[derive(Debug, Args)]
pub struct UpCmd {
    #[command(flatten)]
    pub up: UpArgs,
    #[command(flatten)]
    pub install: InstallFlags,
    /// Where the run directory (results.json, junit.xml, diagnostics/) is written.
    #[arg(long, value_name = "DIR", default_value = "reports/runs")]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct DownCmd {
    #[command(flatten)]
    pub up: UpArgs,
    /// The helm binary (default: $INFRAFLUX_HELM, the .ci/build-helm cache, PATH).
    #[arg(long, value_name = "PATH")]
    pub helm: Option<PathBuf>,
    /// Bound on each phase's removal, e.g. 5m.
    #[arg(long, value_name = "DURATION", default_value = "10m")]
    pub wait_timeout: String,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Run only cases whose `<suite>::<case>` id contains one of these.
    pub filters: Vec<String>,
    /// List cases instead of running them.
    #[arg(long)]
    pub list: bool,
    /// Skip cases whose id contains this (repeatable).
    #[arg(long, value_name = "PATTERN")]
    pub skip: Vec<String>,
    /// Filters and --skip match whole ids exactly.
    #[arg(long)]
    pub exact: bool,
    /// Run only cases marked ignored.
    #[arg(long)]
    pub ignored: bool,
    /// Cases run in parallel, each in its own namespace (default: the
    /// number of CPUs). Exclusive cases (`exclusive: true`: restarts,
    /// resets, throughput) always run alone, after the others.
    #[arg(long, value_name = "N")]
    pub test_threads: Option<usize>,
    #[command(flatten)]
    pub prove: ProveFlags,
    /// Suites directory.
    #[arg(long, value_name = "DIR", default_value = "suites")]
    pub suites: PathBuf,
    /// Cluster profile: the run's contract. Features it enables must be
    /// there (cases needing a missing one fail), features it disables skip
    /// their cases, and its promises get a coverage verdict
    /// (docs/contract.md). Without it, missing features just skip.
    #[arg(long, value_name = "PATH")]
    pub profile: Option<PathBuf>,
    /// Bound on the whole run, e.g. 30m.
    #[arg(long, value_name = "DURATION", default_value = "60m")]
    pub deadline: String,
    /// Where run directories are written.
    #[arg(long, value_name = "DIR", default_value = "reports/runs")]
    pub out: PathBuf,
    /// Image of the probe agent (`infraflux-agent`) for probe steps; without
    /// it, cases that probe are skipped with that reason.
    #[arg(long, value_name = "REF", env = "INFRAFLUX_AGENT_IMAGE")]
    pub agent_image: Option<String>,
    #[command(flatten)]
    pub endpoints: Endpoints,
    #[command(flatten)]
    pub judge: JudgeArgs,
    /// Namespace of cilium-config and the cilium DaemonSet (Helm installs
    /// into kube-system by default; some sites use `cilium`).
    #[arg(long, value_name = "NS", default_value = "kube-system")]
    pub cilium_namespace: String,
}

/// Negative controls (docs/prove.md).
#[derive(Debug, Args, Default, Clone, Copy)]
pub struct ProveFlags {
    /// Instead of a run, prove every selected case that runs here: apply the
    /// case's `break` recipe, expect the case to fail for its stated reason,
    /// restore, expect it to pass again. Writes prove.json and junit.xml
    /// (testsuite `prove`); exit 1 when a case cannot fail, fails for
    /// another reason, does not pass after restore, or declares no break.
    /// Changes the cluster's Cilium configuration while it runs: use a
    /// cluster you own.
    #[arg(long)]
    pub prove: bool,
}

/// How a run is judged beyond its cases (docs/contract.md).
#[derive(Debug, Args, Default, Clone, Copy)]
pub struct JudgeArgs {
    /// Acceptance mode: fail the run when any promise of the profile is not
    /// verified or has no case (default: gating mode, which lists them).
    /// Needs a profile.
    #[arg(long)]
    pub require_all: bool,
    /// Let a run in which no case executed pass (by default it exits 1 with
    /// "nothing was verified").
    #[arg(long)]
    pub allow_empty: bool,
}

/// External endpoints the DNS and BGP steps use.
#[derive(Debug, Args)]
pub struct Endpoints {
    /// Cloudflare-compatible API base for `dnsRecord` steps.
    #[arg(long, value_name = "URL", default_value = "https://api.cloudflare.com/client/v4")]
    pub dns_api: String,
    /// One of the zone's authoritative DNS servers (IP:PORT). With a profile
    /// whose Cloudflare token resolves, this enables the `dnsApi` cases.
    #[arg(long, value_name = "IP:PORT")]
    pub dns_authoritative: Option<std::net::SocketAddr>,
    /// Address the harness's own BGP router listens on for `bgpPeer` steps
    /// (the address the cluster's CiliumBGPPeerConfig peers with), e.g.
    /// 192.168.3.1:179. Needs a profile (ASNs come from it).
    #[arg(long, value_name = "IP:PORT")]
    pub bgp_listen: Option<std::net::SocketAddr>,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// A run directory containing results.json.
    #[arg(long, value_name = "DIR")]
    pub results: PathBuf,
    /// A previous run directory, or a history directory of runs.
    #[arg(long, value_name = "DIR_OR_HISTORY")]
    pub baseline: Option<PathBuf>,
    /// Regression threshold in percent.
    #[arg(long, value_name = "PERCENT", default_value_t = 5.0)]
    pub threshold: f64,
}

#[derive(Debug, Args)]
pub struct ConformArgs {
    #[command(flatten)]
    pub up: UpArgs,
    #[command(flatten)]
    pub install: InstallFlags,
    /// Run the suites against the stack as found: no install, no teardown.
    /// With the existing provider the stack is first compared with the
    /// profile (drift: chart versions, values, custom resources).
    #[arg(long)]
    pub skip_install: bool,
    /// Run only cases whose `<suite>::<case>` id contains this (repeatable).
    #[arg(long, value_name = "PATTERN")]
    pub filter: Vec<String>,
    #[command(flatten)]
    pub prove: ProveFlags,
    /// Keep what this run installed (and a provisioned cluster) afterwards.
    #[arg(long)]
    pub keep: bool,
    /// Baseline for the perf regression check.
    #[arg(long, value_name = "DIR_OR_HISTORY")]
    pub baseline: Option<PathBuf>,
    /// Suites directory.
    #[arg(long, value_name = "DIR", default_value = "suites")]
    pub suites: PathBuf,
    /// Where run directories are written.
    #[arg(long, value_name = "DIR", default_value = "reports/runs")]
    pub out: PathBuf,
    /// Bound on the whole run, e.g. 90m.
    #[arg(long, value_name = "DURATION", default_value = "60m")]
    pub deadline: String,
    /// Image of the probe agent for probe steps.
    #[arg(long, value_name = "REF", env = "INFRAFLUX_AGENT_IMAGE")]
    pub agent_image: Option<String>,
    #[command(flatten)]
    pub endpoints: Endpoints,
    #[command(flatten)]
    pub judge: JudgeArgs,
    /// Namespace of cilium-config and the cilium DaemonSet (Helm installs
    /// into kube-system by default; some sites use `cilium`).
    #[arg(long, value_name = "NS", default_value = "kube-system")]
    pub cilium_namespace: String,
}

/// Rule ids for command-line values that parse but cannot be used. Clap
/// already rejects unknown flags and wrong types (exit 2); these are the
/// checks that need more than one flag, or a profile, to decide.
pub mod flag_rules {
    use crate::rules::Rule;

    const AREA: &str = "flag";

    pub const FLAG_001: Rule = Rule::error(
        "FLAG-001",
        AREA,
        "`--deadline` is not a duration",
        "give a duration such as 90s, 30m or 2h",
    );
    pub const FLAG_002: Rule = Rule::error(
        "FLAG-002",
        AREA,
        "`--dns-authoritative` without a profile to take the zone and token from",
        "add --profile PATH; the zone and the Cloudflare token come from the profile",
    );
    pub const FLAG_003: Rule = Rule::error(
        "FLAG-003",
        AREA,
        "`--bgp-listen` unusable: no profile, not IPv4, or a profile without usable peers",
        "give an IPv4 listen address such as 0.0.0.0:179 and a --profile with BGP peers",
    );
    pub const FLAG_004: Rule = Rule::error(
        "FLAG-004",
        AREA,
        "the provider cannot provision (not built, or its profile section is unusable: proxmox-rke2 without a verified certificate or SSH identity) and no existing cluster was named",
        "point at an existing cluster with --kubeconfig, choose a provider that provisions, or complete provider.proxmoxRke2",
    );
    pub const FLAG_005: Rule = Rule::error(
        "FLAG-005",
        AREA,
        "the profile's Cloudflare token reference cannot be resolved",
        "set the environment variable or create the file the profile's token reference names",
    );

    pub const FLAG_006: Rule = Rule::error(
        "FLAG-006",
        AREA,
        "`--require-all` without a profile whose promises it would require",
        "add --profile PATH (conform always has one), or drop --require-all",
    );

    pub const FLAG_007: Rule = Rule::error(
        "FLAG-007",
        AREA,
        "the kubeconfig is missing, not a regular file, or not a kubeconfig",
        "point --kubeconfig (or the profile's provider.existing.kubeconfig) at a kubeconfig file",
    );

    pub const FLAG_008: Rule = Rule::error(
        "FLAG-008",
        AREA,
        "`--out` cannot be written",
        "give --out a directory you can write to; it is checked before the cluster is touched",
    );

    pub const FLAG_009: Rule = Rule::error(
        "FLAG-009",
        AREA,
        "`--wait-timeout` is not a duration",
        "give a duration such as 90s, 10m or 1h",
    );

    pub const FLAG_010: Rule = Rule::error(
        "FLAG-010",
        AREA,
        "`--gitops` where the tree cannot be served to the cluster (a provider that cannot host it, or `--skip-install`)",
        "use a provider that serves the tree (local, proxmox-rke2), and drop --skip-install: --gitops is a way to install",
    );

    /// The catalog, in id order.
    pub const RULES: &[Rule] = &[FLAG_001, FLAG_002, FLAG_003, FLAG_004, FLAG_005, FLAG_006, FLAG_007, FLAG_008, FLAG_009, FLAG_010];

    /// `--deadline` is not a duration.
    pub const DEADLINE: &str = FLAG_001.id;
    /// `--dns-authoritative` without a profile to take the zone and token from.
    pub const DNS_NEEDS_PROFILE: &str = FLAG_002.id;
    /// `--bgp-listen` unusable: no profile, not IPv4, or a profile without peers.
    pub const BGP_LISTEN: &str = FLAG_003.id;
    /// The provider cannot provision and no existing cluster was named.
    pub const PROVIDER_CANNOT_PROVISION: &str = FLAG_004.id;
    /// The profile's Cloudflare token reference cannot be resolved.
    pub const DNS_TOKEN: &str = FLAG_005.id;
    /// `--require-all` without a profile.
    pub const REQUIRE_ALL_NEEDS_PROFILE: &str = FLAG_006.id;
    /// The kubeconfig is missing, not a file, or not a kubeconfig.
    pub const KUBECONFIG: &str = FLAG_007.id;
    /// `--out` cannot be written.
    pub const OUT_NOT_WRITABLE: &str = FLAG_008.id;
    /// `--wait-timeout` is not a duration.
    pub const WAIT_TIMEOUT: &str = FLAG_009.id;
    /// `--gitops` that cannot be honoured.
    pub const GITOPS: &str = FLAG_010.id;
}

/// A finding about a command-line flag, located at the flag's first
/// occurrence in `argv` as `<command line>:1:COL` (COL counts characters of
/// the arguments joined by single spaces, 1-based), so flag errors read like
/// every other input error: location, rule id, message, hint.
pub fn flag_finding(
    argv: &[String],
    rule: &str,
    flag: &str,
    message: impl Into<String>,
    hint: impl Into<String>,
) -> crate::diag::Finding {
    let finding = crate::diag::Finding::error(rule, message, hint).with_path(flag);
    let mut col = 1usize;
    for arg in argv {
        if arg == flag || arg.strip_prefix(flag).is_some_and(|rest| rest.starts_with('=')) {
            let pos = crate::yaml::Pos { line: 1, col: u32::try_from(col).unwrap_or(u32::MAX) };
            return finding.at_pos("<command line>", pos);
        }
        col += arg.chars().count() + 1;
    }
    finding
}

#[cfg(test)]
mod flag_tests {
    use super::*;

    fn argv(s: &str) -> Vec<String> {
        s.split(' ').map(str::to_owned).collect()
    }

    #[test]
    fn a_flag_is_located_by_column_in_the_joined_command_line() {
        let f = flag_finding(&argv("infraflux run --deadline 5x"), flag_rules::DEADLINE, "--deadline", "bad", "use 30m");
        let text = f.to_string();
        assert!(text.starts_with("<command line>:1:15: error[FLAG-001]: bad (at `--deadline`)"), "{text}");
        assert!(text.contains("hint: use 30m"), "{text}");
    }

    #[test]
    fn every_flag_rule_id_is_in_the_table_once() {
        let ids: Vec<&str> = flag_rules::RULES.iter().map(|r| r.id).collect();
        for id in [
            flag_rules::DEADLINE,
            flag_rules::DNS_NEEDS_PROFILE,
            flag_rules::BGP_LISTEN,
            flag_rules::PROVIDER_CANNOT_PROVISION,
            flag_rules::DNS_TOKEN,
            flag_rules::REQUIRE_ALL_NEEDS_PROFILE,
            flag_rules::KUBECONFIG,
            flag_rules::OUT_NOT_WRITABLE,
            flag_rules::WAIT_TIMEOUT,
            flag_rules::GITOPS,
        ] {
            assert_eq!(ids.iter().filter(|i| **i == id).count(), 1, "{id}");
        }
        assert_eq!(ids.len(), 10);
    }

    #[test]
    fn the_equals_form_is_found_and_a_missing_flag_has_no_location() {
        let f = flag_finding(&argv("infraflux run --bgp-listen=[::1]:179"), flag_rules::BGP_LISTEN, "--bgp-listen", "m", "h");
        assert_eq!(f.location.as_ref().map(|l| l.col), Some(15));
        let g = flag_finding(&argv("infraflux conform"), flag_rules::PROVIDER_CANNOT_PROVISION, "--kubeconfig", "m", "h");
        assert!(g.location.is_none());
        assert!(!g.to_string().contains("<command line>"));
    }
}
