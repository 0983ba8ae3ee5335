//! The profile as a contract. Without a profile a run detects what the
//! cluster has and skips what it lacks. With one, the profile says what the
//! cluster must be: a feature it enables that the cluster lacks fails the
//! cases that need it, a feature it disables skips them (naming the field),
//! and every promise it makes (features, LB pools, BGP peers, DNS records,
//! gateway listeners, failover budgets, the perf threshold) gets a verdict
//! in the run's coverage table.
//!
//! Everything here is pure: the engine feeds in case facts and outcomes,
//! reporters read [`PromiseResult`]s and [`verdict`].

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::exit::Status;
use crate::profile::{DnsTarget, ListenerProtocol, Profile, RoutingMode};
use crate::results::{Outcome, RunResults};
use crate::suite::Feature;

mod suite;
pub use suite::{SUITE, profile_suite};

/// What the profile says about one feature, with the profile field that
/// says it (`features.wireguard`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stance {
    Enabled { field: String },
    Disabled { field: String },
    /// The profile enables it, but the provider cannot give it on this host
    /// (no kernel module, no image): switched off, and reported as not
    /// verifiable here with the reason rather than as a failure.
    Unavailable { field: String, reason: String },
}

/// The profile's stance on each feature it speaks about. Features it is
/// silent on (Flux, the run's own capabilities) are absent: for them the
/// run detects and skips as without a profile.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expectations {
    stances: BTreeMap<Feature, Stance>,
}

impl Expectations {
    pub fn from_profile(p: &Profile) -> Expectations {
        let f = &p.features;
        let flag = |on: bool, field: &str| {
            let field = field.to_owned();
            if on { Stance::Enabled { field } } else { Stance::Disabled { field } }
        };
        let stances = BTreeMap::from([
            (Feature::Cilium, Stance::Enabled { field: "versions.cilium".into() }),
            (Feature::KubeProxyReplacement, flag(f.kube_proxy_replacement, "features.kubeProxyReplacement")),
            (Feature::Wireguard, flag(f.wireguard, "features.wireguard")),
            (Feature::NodeEncryption, flag(f.node_encryption, "features.nodeEncryption")),
            (Feature::BgpControlPlane, flag(f.bgp, "features.bgp")),
            (Feature::GatewayApi, flag(f.gateway_api, "features.gatewayAPI")),
            (Feature::L7Proxy, flag(f.l7_proxy, "features.l7Proxy")),
            (Feature::Hubble, flag(f.hubble.enabled, "features.hubble.enabled")),
            (Feature::BandwidthManager, flag(f.bandwidth_manager, "features.bandwidthManager")),
            (Feature::LocalRedirectPolicy, flag(f.local_redirect_policy, "features.localRedirectPolicy")),
            (Feature::BpfMasquerade, flag(p.network.bpf_masquerade, "network.bpfMasquerade")),
            (
                Feature::NativeRouting,
                flag(p.network.routing_mode == RoutingMode::Native, "network.routingMode"),
            ),
            (Feature::LbIpam, flag(!p.load_balancer.pools.is_empty(), "loadBalancer.pools")),
            (Feature::MultiNode, flag(p.nodes.len() >= 2, "nodes")),
            (Feature::CertManager, Stance::Enabled { field: "certManager".into() }),
            (Feature::ExternalDns, Stance::Enabled { field: "dns.cloudflare".into() }),
        ]);
        Expectations { stances }
    }

    /// Records that the provider switched `f` off on this host, and why.
    /// Only a feature the profile enables becomes unavailable; one it
    /// disables stays disabled.
    pub fn mark_unavailable(&mut self, f: Feature, reason: &str) {
        if let Some(Stance::Enabled { field }) = self.stances.get(&f) {
            let field = field.clone();
            self.stances.insert(f, Stance::Unavailable { field, reason: reason.to_owned() });
        }
    }

    pub fn stance(&self, f: Feature) -> Option<&Stance> {
        self.stances.get(&f)
    }

    pub fn enabled(&self) -> impl Iterator<Item = (Feature, &str)> {
        self.stances.iter().filter_map(|(f, s)| match s {
            Stance::Enabled { field } => Some((*f, field.as_str())),
            Stance::Disabled { .. } | Stance::Unavailable { .. } => None,
        })
    }
}

/// How the profile words a disabled feature in a skip reason.
pub fn disabled_reason(field: &str) -> String {
    match field {
        "network.routingMode" => "profile: network.routingMode is not native".into(),
        "loadBalancer.pools" => "profile: loadBalancer.pools is empty".into(),
        "nodes" => "profile: nodes lists a single node".into(),
        _ => format!("profile: {field} is false"),
    }
}

/// What gives the run a capability that is the harness's, not the
/// cluster's, in the words of the command line.
pub fn run_capability(f: Feature) -> Option<&'static str> {
    match f {
        Feature::ProbeAgent => Some("--agent-image (or INFRAFLUX_AGENT_IMAGE)"),
        Feature::DnsApi => Some("--dns-authoritative with --profile (zone and token from dns.cloudflare)"),
        Feature::BgpPeer => Some("--bgp-listen with --profile"),
        _ => None,
    }
}

/// Gating passes with promises not verified (listed); acceptance fails on
/// any promise not verified or uncovered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Mode {
    #[default]
    Gating,
    Acceptance,
}

/// How a run is judged beyond its cases.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Policy {
    #[serde(default)]
    pub mode: Mode,
    /// A run in which no case executed passes (`--allow-empty`).
    #[serde(default)]
    pub allow_empty: bool,
}

/// Which cases speak for a promise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub enum Evidence {
    /// Cases that require the feature.
    Feature(Feature),
    /// These case ids (the profile suite's).
    Cases(Vec<String>),
    /// Cases that declare this variable, which the profile sets.
    Var(String),
    /// The perf baseline comparison.
    Baseline,
}

/// One thing the profile promises about the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Promise {
    /// Stable id: `feature:wireguard`, `lbPool:main`, `failover:agentRestart`.
    pub id: String,
    /// The profile field that makes it (`loadBalancer.pools[main]`).
    pub field: String,
    /// The promise in words.
    pub statement: String,
    pub evidence: Evidence,
}

/// The profile suite's case name for a promise with its own case.
pub fn profile_case(kind: &str, name: &str) -> String {
    format!("profile::{kind}-{name}")
}

/// Every promise `p` makes, in table order.
pub fn promises(p: &Profile) -> Vec<Promise> {
    let mut out = Vec::new();
    let e = Expectations::from_profile(p);
    for (f, field) in e.enabled() {
        let statement = match f {
            Feature::Cilium => format!("Cilium {} is installed and runs the datapath", p.versions.cilium),
            Feature::LbIpam => format!("LB-IPAM hands out addresses ({} pool(s))", p.load_balancer.pools.len()),
            Feature::MultiNode => format!("the cluster has {} nodes", p.nodes.len()),
            Feature::CertManager => format!("cert-manager {} issues certificates", p.versions.cert_manager),
            Feature::ExternalDns => format!("external-dns {} publishes records to Cloudflare zone {}", p.versions.external_dns, p.dns.cloudflare.zone),
            other => format!("{other} is enabled"),
        };
        out.push(Promise {
            id: format!("feature:{f}"),
            field: field.to_owned(),
            statement,
            evidence: Evidence::Feature(f),
        });
    }
    for pool in &p.load_balancer.pools {
        let blocks: Vec<String> = pool
            .blocks
            .iter()
            .map(|b| match (&b.cidr, &b.start, &b.stop) {
                (Some(c), _, _) => c.clone(),
                (None, Some(a), Some(z)) => format!("{a}-{z}"),
                _ => "?".into(),
            })
            .collect();
        let statement = format!("pool {} serves {}", pool.name, blocks.join(", "));
        out.push(named("lbPool", "loadBalancer.pools", "lb-pool", &pool.name, statement));
    }
    if p.features.bgp {
        for peer in &p.bgp.peers {
            let statement = format!("every node peers with {} (AS{}) from AS{}", peer.address, peer.asn, p.bgp.local_asn);
            out.push(named("bgpPeer", "bgp.peers", "bgp-peer", &peer.name, statement));
        }
    }
    for r in &p.dns.records {
        let to = match &r.target {
            DnsTarget::Gateway => "the gateway".to_owned(),
            DnsTarget::Tunnel => "the tunnel".to_owned(),
            DnsTarget::Address(a) => a.clone(),
        };
        let statement = format!("{} is published and points at {to}", r.hostname);
        out.push(named("dnsRecord", "dns.records", "dns-record", &r.name, statement));
    }
    if p.features.gateway_api {
        for l in &p.gateway.listeners {
            let protocol = match l.protocol {
                ListenerProtocol::Http => "HTTP",
                ListenerProtocol::Https => "HTTPS",
            };
            let statement = format!(
                "gateway {}/{} listener {} ({protocol} :{}) is programmed",
                p.gateway.namespace, p.gateway.name, l.name, l.port
            );
            out.push(named("gatewayListener", "gateway.listeners", "gateway-listener", &l.name, statement));
        }
    }
    let b = &p.failover.max_downtime_ms;
    for (key, var, ms, what) in [
        ("agentRestart", "maxDowntimeAgentRestartMs", b.agent_restart, "a Cilium agent restart"),
        ("operatorRestart", "maxDowntimeOperatorRestartMs", b.operator_restart, "an operator restart"),
        ("envoyRestart", "maxDowntimeEnvoyRestartMs", b.envoy_restart, "an Envoy restart"),
        ("bgpPeerLoss", "maxDowntimeBgpPeerLossMs", b.bgp_peer_loss, "the loss of a BGP peer"),
        ("nodeDrain", "maxDowntimeNodeDrainMs", b.node_drain, "a node drain"),
    ] {
        out.push(Promise {
            id: format!("failover:{key}"),
            field: format!("failover.maxDowntimeMs.{key}"),
            statement: format!("traffic is back within {ms} ms of {what}"),
            evidence: Evidence::Var(var.into()),
        });
    }
    out.push(Promise {
        id: "perf:regressionThreshold".into(),
        field: "perf.regressionThresholdPercent".into(),
        statement: format!(
            "no perf metric regresses by more than {}% against the baseline",
            p.perf.regression_threshold_percent
        ),
        evidence: Evidence::Baseline,
    });
    out
}

/// A promise about one named object of a profile list (`field[name]`),
/// checked by its own case in the profile suite.
fn named(id_kind: &str, list_field: &str, case_kind: &str, name: &str, statement: String) -> Promise {
    Promise {
        id: format!("{id_kind}:{name}"),
        field: format!("{list_field}[{name}]"),
        statement,
        evidence: Evidence::Cases(vec![profile_case(case_kind, name)]),
    }
}

/// A promise's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Verdict {
    Failed,
    NotVerified,
    Uncovered,
    Verified,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Verified => "verified",
            Verdict::Failed => "failed",
            Verdict::NotVerified => "not verified",
            Verdict::Uncovered => "uncovered",
        }
    }
}

/// A promise and what the run made of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PromiseResult {
    pub promise: Promise,
    pub verdict: Verdict,
    /// The cases behind the verdict: those that passed (verified), failed
    /// (failed) or were skipped (not verified).
    #[serde(default)]
    pub cases: Vec<String>,
    /// Why, in words a user acts on: for `not verified` the skip reasons
    /// (which name the flag or field that would change them), for
    /// `uncovered` what case would cover it.
    pub detail: String,
}

/// What the engine knows of one loaded case.
#[derive(Debug, Clone, Copy)]
pub struct CaseFacts<'a> {
    pub id: &'a str,
    pub requires: &'a [Feature],
    pub vars: &'a BTreeMap<String, String>,
    /// `None`: not selected by the run's filters.
    pub outcome: Option<&'a Outcome>,
}

/// The perf comparison, when one ran: `Some(regressions)`.
pub type BaselineFacts = Option<Vec<String>>;

/// Judges each promise from the cases that speak for it.
pub fn evaluate(promises: &[Promise], cases: &[CaseFacts<'_>], baseline: &BaselineFacts) -> Vec<PromiseResult> {
    promises.iter().map(|p| judge(p, cases, baseline)).collect()
}

fn judge(p: &Promise, cases: &[CaseFacts<'_>], baseline: &BaselineFacts) -> PromiseResult {
    let result = |verdict, cases: Vec<String>, detail: String| PromiseResult {
        promise: p.clone(),
        verdict,
        cases,
        detail,
    };
    let linked: Vec<&CaseFacts<'_>> = match &p.evidence {
        Evidence::Baseline => {
            return match baseline {
                None => result(
                    Verdict::NotVerified,
                    Vec::new(),
                    "no baseline was compared: give conform --baseline DIR_OR_HISTORY".into(),
                ),
                Some(r) if r.is_empty() => result(Verdict::Verified, Vec::new(), "no metric regressed".into()),
                Some(r) => result(Verdict::Failed, r.clone(), format!("{} metric(s) regressed", r.len())),
            };
        }
        Evidence::Feature(f) => cases.iter().filter(|c| c.requires.contains(f)).collect(),
        Evidence::Cases(ids) => cases.iter().filter(|c| ids.iter().any(|i| i == c.id)).collect(),
        Evidence::Var(v) => cases.iter().filter(|c| c.vars.contains_key(v)).collect(),
    };
    if linked.is_empty() {
        let what = match &p.evidence {
            Evidence::Feature(f) => format!("no case requires {f}; a case with `requires: [{f}]` would cover it"),
            Evidence::Var(v) => format!("no case uses {{{{{v}}}}}; a failover case measuring it would cover it"),
            _ => "no case checks it (the profile suite has no case for it)".into(),
        };
        return result(Verdict::Uncovered, Vec::new(), what);
    }
    let ids = |pred: &dyn Fn(&Outcome) -> bool| -> Vec<String> {
        linked
            .iter()
            .filter(|c| c.outcome.is_some_and(pred))
            .map(|c| c.id.to_owned())
            .collect()
    };
    let failed = ids(&|o| o.is_failure());
    if !failed.is_empty() {
        return result(Verdict::Failed, failed.clone(), format!("{} case(s) failed", failed.len()));
    }
    let passed = ids(&|o| matches!(o, Outcome::Passed));
    if !passed.is_empty() {
        return result(Verdict::Verified, passed.clone(), format!("{} case(s) passed", passed.len()));
    }
    // Every linked case was skipped or not selected: say why, once per reason.
    let mut reasons = BTreeSet::new();
    let mut skipped = Vec::new();
    for c in &linked {
        match c.outcome {
            Some(Outcome::Skipped { reason }) => {
                reasons.insert(reason.clone());
                skipped.push(c.id.to_owned());
            }
            None => {
                reasons.insert("not selected by the run's filters".to_owned());
            }
            Some(_) => {}
        }
    }
    result(Verdict::NotVerified, skipped, reasons.into_iter().collect::<Vec<_>>().join("; "))
}

/// The run's verdict: its exit status, a headline and the reasons behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunVerdict {
    pub status: Status,
    pub headline: String,
    pub reasons: Vec<String>,
}

/// Judges a whole run: setup trouble (3), failed cases (1), nothing
/// executed without `allow_empty` (1), and in acceptance mode any promise
/// not verified or uncovered (1).
pub fn verdict(r: &RunResults) -> RunVerdict {
    if let Some(e) = &r.setup_error {
        return RunVerdict {
            status: Status::Cluster,
            headline: "ERROR: the run could not use the cluster".into(),
            reasons: vec![e.lines().next().unwrap_or(e).to_owned()],
        };
    }
    let failed: Vec<&str> = r.cases.iter().filter(|c| c.outcome.is_failure()).map(|c| c.id.as_str()).collect();
    let executed = r.cases.iter().filter(|c| !matches!(c.outcome, Outcome::Skipped { .. })).count();
    let promises_failed = r.coverage.iter().filter(|p| p.verdict == Verdict::Failed).count();
    let open: Vec<&PromiseResult> = r
        .coverage
        .iter()
        .filter(|p| matches!(p.verdict, Verdict::NotVerified | Verdict::Uncovered))
        .collect();
    let mut reasons = Vec::new();
    if !failed.is_empty() {
        reasons.push(format!("{} case(s) failed", failed.len()));
    }
    if promises_failed > 0 {
        reasons.push(format!("{promises_failed} promise(s) of the profile failed"));
    }
    if executed == 0 && !r.policy.allow_empty {
        reasons.push(if r.cases.is_empty() {
            "nothing was verified: no case was selected (--allow-empty accepts that)".into()
        } else {
            format!("nothing was verified: all {} selected case(s) were skipped (--allow-empty accepts that)", r.cases.len())
        });
    }
    if r.policy.mode == Mode::Acceptance && !open.is_empty() {
        reasons.push(format!(
            "acceptance (--require-all): {} promise(s) not verified or uncovered",
            open.len()
        ));
    }
    if reasons.is_empty() {
        let mut headline = format!("PASS: {executed} case(s) ran, none failed");
        if !open.is_empty() {
            headline.push_str(&format!("; {} promise(s) not verified (gating mode)", open.len()));
        }
        return RunVerdict { status: Status::Pass, headline, reasons };
    }
    RunVerdict {
        status: Status::Failed,
        headline: format!("FAIL: {}", reasons[0]),
        reasons,
    }
}

#[cfg(test)]
mod tests;
