//! The `kind: Suite` document model.
//!
//! Pure data with serde derives and no I/O. Every struct denies unknown
//! fields and every step kind is an externally tagged enum, so a typo in a
//! suite is an error at its `file:line:col` (through [`crate::yaml::from_node`])
//! instead of a silently ignored key.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};

/// `apiVersion` every suite must carry.
pub const API_VERSION: &str = "infraflux.io/v1alpha1";
/// `kind` every suite must carry.
pub const KIND: &str = "Suite";
/// Upper bound on `retries`: retries hide flakes, so they stay few.
pub const MAX_RETRIES: u32 = 5;

/// One suite file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Suite {
    pub api_version: String,
    pub kind: String,
    pub metadata: Metadata,
    #[serde(default)]
    pub description: Option<String>,
    /// Features every case of the suite needs (added to each case's own).
    #[serde(default)]
    pub requires: Vec<String>,
    #[serde(default)]
    pub defaults: Defaults,
    /// Every case of the suite runs alone (disruptive or perf suites):
    /// nothing else is in flight while one of them runs.
    #[serde(default)]
    pub exclusive: bool,
    /// Named ways to break a good cluster, referenced by cases' `break`
    /// (`infraflux prove`).
    #[serde(default)]
    pub breaks: BTreeMap<String, BreakRecipe>,
    pub cases: Vec<Case>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Metadata {
    /// Suite name: first half of every case id `<suite>::<case>`.
    pub name: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// Suite-wide defaults; each case may override them.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Defaults {
    /// Whole-case timeout (all attempts share nothing: each attempt gets it).
    #[serde(default)]
    pub timeout: Option<HumanDuration>,
    #[serde(default)]
    pub retries: Option<u32>,
    #[serde(default)]
    pub timeouts: StepTimeouts,
}

/// Per-kind step timeouts. Resolution: step → case → suite → profile → built-in.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StepTimeouts {
    #[serde(default)]
    pub apply: Option<HumanDuration>,
    #[serde(default)]
    pub delete: Option<HumanDuration>,
    #[serde(default)]
    pub wait: Option<HumanDuration>,
    #[serde(default)]
    pub assert: Option<HumanDuration>,
    #[serde(default)]
    pub probe: Option<HumanDuration>,
}

/// One test case: `steps` (try), then `catch` on failure, then `finally`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Case {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// Feature names the target must have; missing ones skip the case.
    #[serde(default)]
    pub requires: Vec<String>,
    /// When set, the case only runs with `--ignored`/`--include-ignored`;
    /// the text is the skip reason (e.g. "disruptive: blocks BGP on a node").
    #[serde(default)]
    pub ignore: Option<String>,
    #[serde(default)]
    pub timeout: Option<HumanDuration>,
    #[serde(default)]
    pub timeouts: StepTimeouts,
    #[serde(default)]
    pub retries: Option<u32>,
    /// Extra template variables (`{{name}}`) for this case's manifests.
    #[serde(default)]
    pub vars: BTreeMap<String, String>,
    /// The Gateway API conformance this case proves (features and core or
    /// extended support), for the run's `ConformanceReport`; only on cases
    /// that require `gatewayApi` (SUITE-020).
    #[serde(default)]
    pub gateway_conformance: Option<crate::results::GatewayConformance>,
    /// Run with nothing else in flight (overrides the suite's `exclusive`).
    #[serde(default)]
    pub exclusive: Option<bool>,
    /// How `infraflux prove` breaks the cluster so that this case must
    /// fail, or why it cannot.
    #[serde(default, rename = "break")]
    pub break_: Option<CaseBreak>,
    #[serde(default)]
    pub steps: Vec<Step>,
    #[serde(default)]
    pub catch: Vec<Step>,
    #[serde(default)]
    pub finally: Vec<Step>,
}

/// A case's negative control: `{recipe: <suite break>, failsWith: <regex>}`
/// or `{none: <reason>}` (exactly one of `recipe` / `none`; SUITE-025).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CaseBreak {
    /// A key of the suite's `breaks`.
    #[serde(default)]
    pub recipe: Option<String>,
    /// Regex the failure (`step `<name>`: <message>`) must match under the
    /// break: the case must fail for the reason it claims to detect, not
    /// for any reason.
    #[serde(default)]
    pub fails_with: Option<String>,
    /// Why the case cannot be broken here (the loader lists these).
    #[serde(default)]
    pub none: Option<String>,
}

/// One way to break a good cluster, undone by `prove` after the case ran.
/// Every change is recorded first and restored exactly (in reverse order).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BreakRecipe {
    /// What the break does, for the prove table ("kube-proxy replacement off").
    pub description: String,
    /// cilium-config keys to set (`null` removes a key); the agents and the
    /// operator are restarted and rolled out before the case runs, and again
    /// after the originals are back.
    #[serde(default)]
    pub cilium_config: BTreeMap<String, Option<String>>,
    /// Objects to delete (one by `name`, or all a `labelSelector` or kind
    /// selects); re-created from their recorded form on restore.
    #[serde(default)]
    pub remove: Vec<ObjectRef>,
    /// Objects to create (server-side apply, harness labels added), e.g. a
    /// kube-proxy DaemonSet the cluster must not have; deleted on restore.
    /// Pods should not be schedulable (a nodeSelector no node has), so
    /// nothing is pulled or run.
    #[serde(default)]
    pub create: Vec<serde_json::Value>,
    /// JSON merge patches on existing objects (e.g. a DaemonSet's
    /// nodeSelector, a peer's ASN); the recorded spec is put back on restore.
    /// A patched Deployment or DaemonSet is waited on to roll out.
    #[serde(default)]
    pub patch: Vec<BreakPatch>,
    /// Extra time after the changes took effect (e.g. for BGP to withdraw).
    #[serde(default)]
    pub settle: Option<HumanDuration>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BreakPatch {
    #[serde(rename = "ref")]
    pub target: ObjectRef,
    pub merge: serde_json::Value,
    /// Wait for a patched workload to roll out (default). `false` for a
    /// break whose point is a rollout that cannot finish (a Deployment
    /// whose new pods cannot be scheduled).
    #[serde(default = "yes")]
    pub rollout: bool,
}

/// One operation. Exactly one key per list item: `- apply: {...}`.
// Steps are built once per load and cloned rarely; boxing the big variants
// would only obscure pattern matching.
#[expect(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub enum Step {
    Apply(Apply),
    Delete(Delete),
    Wait(Wait),
    Probe(Probe),
    Assert(Assert),
    Disrupt(Disrupt),
    DnsRecord(DnsRecord),
    BgpPeer(BgpPeer),
    Exec(Exec),
}

impl Step {
    /// Step kind as written in YAML.
    pub fn kind(&self) -> &'static str {
        match self {
            Step::Apply(_) => "apply",
            Step::Delete(_) => "delete",
            Step::Wait(_) => "wait",
            Step::Probe(_) => "probe",
            Step::Assert(_) => "assert",
            Step::Disrupt(_) => "disrupt",
            Step::DnsRecord(_) => "dnsRecord",
            Step::BgpPeer(_) => "bgpPeer",
            Step::Exec(_) => "exec",
        }
    }

    /// Explicit per-step timeout, if written.
    pub fn timeout(&self) -> Option<Duration> {
        let t = match self {
            Step::Apply(s) => &s.timeout,
            Step::Delete(s) => &s.timeout,
            Step::Wait(s) => &s.timeout,
            Step::Probe(s) => &s.timeout,
            Step::Assert(s) => &s.timeout,
            Step::Disrupt(s) => &s.timeout,
            Step::DnsRecord(s) => &s.timeout,
            Step::BgpPeer(s) => &s.timeout,
            Step::Exec(s) => &s.timeout,
        };
        t.as_ref().map(|d| d.0)
    }

    /// Display name: the given `name`, else one derived from the step.
    pub fn display_name(&self) -> String {
        let given = match self {
            Step::Apply(s) => &s.name,
            Step::Delete(s) => &s.name,
            Step::Wait(s) => &s.name,
            Step::Probe(s) => &s.name,
            Step::Assert(s) => &s.name,
            Step::Disrupt(s) => &s.name,
            Step::DnsRecord(s) => &s.name,
            Step::BgpPeer(s) => &s.name,
            Step::Exec(s) => &s.name,
        };
        if let Some(n) = given {
            return n.clone();
        }
        match self {
            Step::Apply(a) => match &a.file {
                Some(f) => format!("apply {f}"),
                None => "apply inline manifest".into(),
            },
            Step::Delete(d) => format!("delete {}", d.target),
            Step::Wait(w) => {
                let what = if let Some(c) = &w.condition {
                    format!("{}={}", c.type_, c.status)
                } else if w.deleted == Some(true) {
                    "deleted".into()
                } else if let Some(f) = &w.field {
                    f.path.clone()
                } else {
                    "?".into()
                };
                format!("wait {} {what}", w.target)
            }
            Step::Probe(p) => format!("probe {}", p.action.kind()),
            Step::Assert(a) => match (&a.target, &a.probe) {
                (Some(t), _) => format!("assert {t}"),
                (None, Some(p)) => format!("assert probe {p}"),
                (None, None) => "assert".into(),
            },
            Step::Disrupt(d) => format!("disrupt {}", d.action.kind()),
            Step::DnsRecord(d) => format!("dnsRecord {} {} {}", d.rtype, d.record, d.state.as_str()),
            Step::BgpPeer(b) => format!(
                "bgpPeer {} received, {} not received",
                b.received.len() + usize::from(b.pod_cidrs_from_nodes),
                b.not_received.len()
            ),
            Step::Exec(e) => format!("exec {} in [{}]", e.command.first().map_or("?", String::as_str), e.pods.label_selector),
        }
    }
}

/// A reference to one object (with `name`) or a list (with `labelSelector`
/// or neither). `namespace` defaults to the case namespace for namespaced
/// kinds; all string fields are templated.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ObjectRef {
    pub api_version: String,
    pub kind: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub label_selector: Option<String>,
}

impl std::fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.kind.to_lowercase())?;
        match (&self.namespace, &self.name) {
            (Some(ns), Some(n)) => write!(f, "/{ns}/{n}"),
            (None, Some(n)) => write!(f, "/{n}"),
            (_, None) => match &self.label_selector {
                Some(sel) => write!(f, "[{sel}]"),
                None => f.write_str("[*]"),
            },
        }
    }
}

/// Server-side apply of an inline manifest or a file under `fixtures/`.
/// Exactly one of `manifest` / `file`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Apply {
    #[serde(default)]
    pub name: Option<String>,
    /// One object, or a list of objects.
    #[serde(default)]
    pub manifest: Option<serde_json::Value>,
    /// Path relative to the fixtures directory; may hold several documents.
    #[serde(default)]
    pub file: Option<String>,
    #[serde(default)]
    pub timeout: Option<HumanDuration>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Delete {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(rename = "ref")]
    pub target: ObjectRef,
    /// Also wait until the object is gone.
    #[serde(default)]
    pub wait: bool,
    #[serde(default)]
    pub timeout: Option<HumanDuration>,
}

/// Polls an object until a condition, a field predicate or its deletion
/// holds. Exactly one of `condition` / `field` / `deleted`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Wait {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(rename = "ref")]
    pub target: ObjectRef,
    #[serde(default)]
    pub condition: Option<ConditionMatch>,
    #[serde(default)]
    pub field: Option<Predicate>,
    #[serde(default)]
    pub deleted: Option<bool>,
    #[serde(default)]
    pub timeout: Option<HumanDuration>,
}

/// A `status.conditions[]` entry to wait for.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConditionMatch {
    #[serde(rename = "type")]
    pub type_: String,
    /// `"True"`, `"False"` or `"Unknown"` (quoted: it is a string in the API).
    pub status: String,
    #[serde(default)]
    pub reason: Option<String>,
}

/// A check on the values an RFC 9535 JSONPath selects. Exactly one
/// comparison besides `path`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Predicate {
    /// e.g. `$.status.conditions[?@.type=='Ready'].status` or
    /// `$.data['kube-proxy-replacement']`.
    pub path: String,
    /// Some selected value equals this.
    #[serde(default)]
    pub equals: Option<serde_json::Value>,
    /// Some selected string contains this text, or some selected array
    /// contains this element.
    #[serde(default)]
    pub contains: Option<serde_json::Value>,
    /// Some selected string matches this regex.
    #[serde(default)]
    pub matches: Option<String>,
    /// `true`: the path selects at least one value.
    #[serde(default)]
    pub exists: Option<bool>,
    /// `true`: the path selects nothing.
    #[serde(default)]
    pub absent: Option<bool>,
    /// Every selected value is an IP address inside this CIDR.
    #[serde(default)]
    pub in_cidr: Option<String>,
    /// Something is selected and every selected value is an IP address
    /// outside this CIDR (a block a selector must keep a Service out of,
    /// whichever other pools the cluster has).
    #[serde(default)]
    pub not_in_cidr: Option<String>,
    /// Bounds on how many values are selected (an array counts its items).
    #[serde(default)]
    pub count: Option<CountCheck>,
    /// Something numeric is selected and every selected value is a number
    /// within these bounds (throughputs, packet counts, downtimes).
    #[serde(default)]
    pub range: Option<RangeCheck>,
    /// On a report only: the path selects something, and exactly what it
    /// selects in the report of this earlier probe (e.g. the same
    /// `$.bodyJson.hostname`: a sticky session answered by one backend).
    #[serde(default)]
    pub same_as: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RangeCheck {
    #[serde(default)]
    pub min: Option<Bound>,
    #[serde(default)]
    pub max: Option<Bound>,
}

/// A range bound: a number, or text holding one after templating (e.g.
/// `"{{maxDowntimeAgentRestartMs}}"`, a budget the profile provides).
#[derive(Debug, Clone, PartialEq)]
pub struct Bound(pub String);

impl Bound {
    /// The bound's value; `Err` when the (rendered) text is not a number.
    pub fn value(&self) -> Result<f64, String> {
        self.0
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(|| format!("range bound `{}` is not a number", self.0))
    }
}

impl Bound {
    /// The bound as a count: a non-negative whole number.
    pub fn count(&self) -> Result<u64, String> {
        self.0
            .trim()
            .parse::<u64>()
            .map_err(|_| format!("count bound `{}` is not a non-negative whole number", self.0))
    }
}

impl From<u64> for Bound {
    fn from(v: u64) -> Self {
        Bound(v.to_string())
    }
}

impl From<f64> for Bound {
    fn from(v: f64) -> Self {
        Bound(v.to_string())
    }
}

impl Serialize for Bound {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Bound {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Bound;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a number or a `{{variable}}` holding one")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Bound, E> {
                Ok(Bound(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Bound, E> {
                Ok(Bound(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Bound, E> {
                Ok(Bound(v.to_string()))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Bound, E> {
                Ok(Bound(v.to_owned()))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CountCheck {
    /// Each bound is a number or a `"{{variable}}"` holding one (e.g.
    /// `"{{nodeCount}}"`); see [`Bound::count`].
    #[serde(default)]
    pub equals: Option<Bound>,
    #[serde(default)]
    pub min: Option<Bound>,
    #[serde(default)]
    pub max: Option<Bound>,
}

/// Polls until every predicate holds on an object (`ref`) or on a named
/// earlier probe's JSON result (`probe`). Exactly one of `ref` / `probe`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Assert {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, rename = "ref")]
    pub target: Option<ObjectRef>,
    /// Name of an earlier `probe` or `exec` step whose report to check;
    /// `report:` is the same field.
    #[serde(default, alias = "report")]
    pub probe: Option<String>,
    pub that: Vec<Predicate>,
    #[serde(default)]
    pub timeout: Option<HumanDuration>,
}

/// Runs one probe action in the probe agent pod and checks its verdict.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Probe {
    /// Names the result so a later `assert: {probe: <name>}` can read it.
    #[serde(default)]
    pub name: Option<String>,
    pub action: ProbeAction,
    /// Run the action in this pod of the case namespace (one the case
    /// applied from `{{agentImage}}`, e.g. with `hostNetwork: true` or pinned
    /// to a node, container named `agent`) instead of the shared agent pod.
    #[serde(default)]
    pub pod: Option<String>,
    /// Records the report's `samples` as a performance series under this
    /// metric id (e.g. `throughput.tcp_stream_1.pod_to_pod.cross_node`), for
    /// `results.json` and `report --baseline`.
    #[serde(default)]
    pub metric: Option<String>,
    /// Id of another metric of the same suite this one is measured against
    /// (e.g. the host-network twin of a pod-to-pod metric): the reports show
    /// the ratio of their means with a 95% CI. Needs `metric` (SUITE-021).
    #[serde(default)]
    pub baseline: Option<String>,
    /// Start the probe and go on with the next step at once; a later
    /// `assert: {probe: <name>}` waits for its report (and its verdict).
    /// For measuring while a `disrupt` step breaks something.
    #[serde(default)]
    pub background: bool,
    #[serde(default)]
    pub expect: ProbeExpect,
    /// Run the probe again (once a second) until its verdict is `expect`
    /// or this much time has passed, within the step's timeout. Cilium
    /// programs a new Service or policy a moment after the API server has
    /// it; a probe sent in that moment tests the race, not the datapath.
    /// Default [`Probe::DEFAULT_EVENTUALLY`] for connectivity probes (http,
    /// dns, tcp, udp, and load probes expecting success); `0s` checks once.
    /// Capture and downtime probes always run once.
    #[serde(default)]
    pub eventually: Option<HumanDuration>,
    /// Before measuring, wait (bounded) until the target answers for
    /// itself: a Service name or address has ready endpoints, a pod address
    /// belongs to a Ready pod. Default true; `false` only where the target
    /// is meant to be absent.
    #[serde(default = "yes")]
    pub wait_for_target: bool,
    /// Why an `expect: fail` probe has no positive control against the same
    /// target in its case (SUITE-023): e.g. the port of a component that
    /// must not exist at all.
    #[serde(default)]
    pub no_control: Option<String>,
    #[serde(default)]
    pub timeout: Option<HumanDuration>,
}

fn yes() -> bool {
    true
}

impl Probe {
    pub const DEFAULT_EVENTUALLY: std::time::Duration = std::time::Duration::from_secs(20);

    /// How long this probe may be repeated until its verdict holds.
    pub fn eventually(&self) -> std::time::Duration {
        let repeatable = match self.action {
            ProbeAction::Http(_) | ProbeAction::Dns(_) | ProbeAction::Tcp(_) | ProbeAction::Udp(_) => true,
            ProbeAction::Stream(_) | ProbeAction::RequestResponse(_) | ProbeAction::ConnectRate(_) => {
                self.expect == ProbeExpect::Ok
            }
            ProbeAction::Capture(_) | ProbeAction::Downtime(_) => false,
        };
        if !repeatable || self.background {
            return std::time::Duration::ZERO;
        }
        self.eventually.map_or(Self::DEFAULT_EVENTUALLY, |d| d.0)
    }
}

/// Breaks something on purpose (failover cases): the cluster recovers on
/// its own, and anything the step changed beyond that (a cordon) is undone
/// at cleanup.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Disrupt {
    #[serde(default)]
    pub name: Option<String>,
    pub action: DisruptAction,
    #[serde(default)]
    pub timeout: Option<HumanDuration>,
}

/// What to break. Externally tagged: `action: {deletePod: {...}}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub enum DisruptAction {
    /// Deletes one pod matching `labelSelector` in `namespace` (a Cilium
    /// agent, the operator, Envoy); its controller restarts it.
    DeletePod(DeletePod),
    /// Cordons the node running `sameNodeAs` and evicts its pods (not
    /// DaemonSet pods); the node is uncordoned at cleanup.
    DrainNode(DrainNode),
    /// Sets `replicas` of a Deployment or StatefulSet through its scale
    /// subresource.
    Scale(Scale),
    /// Makes the harness's own BGP router send a Cease NOTIFICATION on
    /// every session and close it ("cut the peer"); the nodes reconnect on
    /// their own.
    BgpSessionReset(BgpSessionReset),
}

impl DisruptAction {
    pub fn kind(&self) -> &'static str {
        match self {
            DisruptAction::DeletePod(_) => "deletePod",
            DisruptAction::DrainNode(_) => "drainNode",
            DisruptAction::Scale(_) => "scale",
            DisruptAction::BgpSessionReset(_) => "bgpSessionReset",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeletePod {
    pub namespace: String,
    pub label_selector: String,
    /// Pick the matching pod on the node of this pod of the case namespace.
    #[serde(default)]
    pub same_node_as: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DrainNode {
    /// A pod of the case namespace; its node is drained.
    pub same_node_as: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Scale {
    #[serde(rename = "ref")]
    pub target: ObjectRef,
    pub replicas: u32,
}

/// `bgpSessionReset: {}`: no fields; every session of the run's BGP
/// router is reset.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BgpSessionReset {}

/// Waits until a DNS record external-dns manages is published (in the
/// Cloudflare API with content, proxied flag, TTL and its TXT ownership
/// record, and answered by the zone's authoritative servers) or gone. Read
/// only: the step never writes a record.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DnsRecord {
    #[serde(default)]
    pub name: Option<String>,
    /// Fully qualified record name, e.g. `"{{namespace}}.{{zone}}"`.
    pub record: String,
    /// `A`, `AAAA` or `CNAME`.
    #[serde(default = "default_rtype", rename = "type")]
    pub rtype: String,
    /// Expected content (required for `present`).
    #[serde(default)]
    pub content: Option<String>,
    #[serde(default)]
    pub proxied: bool,
    /// Expected TTL for DNS-only records (proxied ones must show 1).
    #[serde(default)]
    pub ttl: Option<u32>,
    #[serde(default)]
    pub state: RecordState,
    /// Records the time until visible (present) or gone (absent) in ms as
    /// a performance series with this id.
    #[serde(default)]
    pub metric: Option<String>,
    #[serde(default)]
    pub timeout: Option<HumanDuration>,
}

fn default_rtype() -> String {
    "A".into()
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum RecordState {
    #[default]
    Present,
    Absent,
}

impl RecordState {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordState::Present => "present",
            RecordState::Absent => "absent",
        }
    }
}

/// Waits until the harness's own BGP speaker (the run's external router)
/// has the sessions and received routes the step names.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BgpPeer {
    #[serde(default)]
    pub name: Option<String>,
    /// At least this many established sessions (e.g. one per node).
    #[serde(default)]
    pub min_sessions: Option<u32>,
    /// IPv4 prefixes that some session must have received (templated).
    #[serde(default)]
    pub received: Vec<String>,
    /// IPv4 prefixes no session may hold (withdrawn routes; templated).
    #[serde(default)]
    pub not_received: Vec<String>,
    /// Also require every node's `spec.podCIDRs` (IPv4).
    #[serde(default)]
    pub pod_cidrs_from_nodes: bool,
    #[serde(default)]
    pub timeout: Option<HumanDuration>,
    /// Records the time from the step's start until everything held, in
    /// ms, as a performance series with this id (e.g. how long routes took
    /// to come back after a session reset).
    #[serde(default)]
    pub metric: Option<String>,
}

/// Runs a command in every pod `pods` selects (e.g. `cilium-dbg status -o
/// json` in each Cilium agent) and records one report for a later
/// `assert: {probe: <name>}`. Never labels, changes or deletes those pods.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Exec {
    /// Required (SUITE-009): the report is read by name.
    #[serde(default)]
    pub name: Option<String>,
    pub pods: PodSelector,
    /// Container to exec in; may be left out only for single-container
    /// pods (the API server refuses to guess).
    #[serde(default)]
    pub container: Option<String>,
    /// argv, templated; no shell.
    pub command: Vec<String>,
    /// `ok`: every pod exits 0; `fail`: every pod exits non-zero.
    #[serde(default)]
    pub expect: ProbeExpect,
    /// Fewer matching pods fail the step (default 1).
    #[serde(default)]
    pub min_pods: Option<u32>,
    #[serde(default)]
    pub timeout: Option<HumanDuration>,
}

/// Pods picked by label, optionally only the one(s) on a case pod's node.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PodSelector {
    /// Defaults to the case namespace.
    #[serde(default)]
    pub namespace: Option<String>,
    pub label_selector: String,
    /// A pod of the case namespace: only pods on its node are selected.
    #[serde(default)]
    pub same_node_as: Option<String>,
}

/// Expected verdict of a probe.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ProbeExpect {
    /// The agent reports success.
    #[default]
    Ok,
    /// The agent reports failure (drop, refusal, timeout): for deny policies.
    Fail,
}

/// What the probe agent does. Externally tagged: `action: {http: {...}}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub enum ProbeAction {
    Http(HttpProbe),
    Dns(DnsProbe),
    Tcp(Endpoint),
    Udp(UdpProbe),
    Stream(LoadProbe),
    RequestResponse(LoadProbe),
    ConnectRate(LoadProbe),
    Capture(CaptureProbe),
    Downtime(DowntimeProbe),
}

impl ProbeAction {
    /// Unit of the report's `samples` and whether more is better; `None`
    /// for actions without samples (capture).
    pub fn sample_unit(&self) -> Option<(&'static str, bool)> {
        match self {
            ProbeAction::Stream(_) => Some(("Gbit/s", true)),
            ProbeAction::RequestResponse(_) => Some(("trans/s", true)),
            ProbeAction::ConnectRate(_) => Some(("conn/s", true)),
            ProbeAction::Http(_) | ProbeAction::Dns(_) | ProbeAction::Tcp(_) | ProbeAction::Udp(_) => {
                Some(("ms", false))
            }
            ProbeAction::Capture(_) => None,
            // One sample: the longest outage window of the run.
            ProbeAction::Downtime(_) => Some(("ms", false)),
        }
    }

    /// The host (as written, after rendering: an IPv6 literal keeps its
    /// brackets) and port the action connects to: an http `resolve`
    /// address or the URL's host, or the action's `host`. `None` for DNS
    /// probes (they name a record) and captures, and for a URL without a
    /// host.
    pub fn target(&self) -> Option<(String, u16)> {
        match self {
            ProbeAction::Http(h) => {
                let (host, port) = crate::suite::url::url_host_port(&h.url)?;
                Some((h.resolve.clone().unwrap_or(host), port))
            }
            ProbeAction::Tcp(e) => Some((e.host.clone(), e.port)),
            ProbeAction::Udp(u) => Some((u.host.clone(), u.port)),
            ProbeAction::Stream(l) | ProbeAction::RequestResponse(l) | ProbeAction::ConnectRate(l) => {
                Some((l.host.clone(), l.port))
            }
            ProbeAction::Downtime(d) => Some((d.host.clone(), d.port)),
            ProbeAction::Dns(_) | ProbeAction::Capture(_) => None,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            ProbeAction::Http(_) => "http",
            ProbeAction::Dns(_) => "dns",
            ProbeAction::Tcp(_) => "tcp",
            ProbeAction::Udp(_) => "udp",
            ProbeAction::Stream(_) => "stream",
            ProbeAction::RequestResponse(_) => "requestResponse",
            ProbeAction::ConnectRate(_) => "connectRate",
            ProbeAction::Capture(_) => "capture",
            ProbeAction::Downtime(_) => "downtime",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpProbe {
    pub url: String,
    #[serde(default)]
    pub method: Option<String>,
    /// `Name: value` strings.
    #[serde(default)]
    pub headers: Vec<String>,
    /// https: accept any server certificate (the agent requires it for https).
    #[serde(default)]
    pub insecure: bool,
    /// Connect to this address instead of resolving the URL's host (like
    /// `curl --resolve`): the URL keeps its name for SNI and `Host`.
    /// Templated, e.g. `"{{gwIp}}"`.
    #[serde(default)]
    pub resolve: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DnsProbe {
    pub name: String,
    /// DNS server `HOST[:PORT]`; the cluster DNS Service by default.
    #[serde(default)]
    pub server: Option<String>,
    /// Record type, `A` by default.
    #[serde(default, rename = "type")]
    pub type_: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UdpProbe {
    pub host: String,
    pub port: u16,
    #[serde(default)]
    pub payload: Option<String>,
}

/// Throughput / request-response / connect-rate load against a server.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LoadProbe {
    pub host: String,
    pub port: u16,
    pub duration: HumanDuration,
    /// Measurements of `duration` each (default 1); the statistics and the
    /// 95% CI are over these.
    #[serde(default)]
    pub samples: Option<u32>,
    /// `stream` only: parallel connections per sample (default 1), like
    /// `iperf3 -P`; a sample is their summed goodput.
    #[serde(default)]
    pub streams: Option<u32>,
}

/// Probes `host:port` at a fixed rate for `duration` and reports the
/// longest outage window (`downtime_ms`): the downtime a client sees while
/// a `disrupt` step breaks something.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DowntimeProbe {
    pub host: String,
    pub port: u16,
    /// `tcp` (one byte to an agent `--tcp-echo` server and back) or `http`
    /// (a GET that must answer 2xx).
    #[serde(default)]
    pub probe: DowntimeKind,
    /// http: request path (default `/`).
    #[serde(default)]
    pub path: Option<String>,
    /// http: `Host` header (e.g. a Gateway listener hostname).
    #[serde(default)]
    pub host_header: Option<String>,
    /// Attempts per second (default [`DEFAULT_DOWNTIME_RATE`]).
    #[serde(default)]
    pub rate: Option<u32>,
    pub duration: HumanDuration,
}

/// Probing rate when a `downtime` probe names none: 5 ms resolution.
pub const DEFAULT_DOWNTIME_RATE: u32 = 200;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum DowntimeKind {
    #[default]
    Tcp,
    Http,
}

impl DowntimeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DowntimeKind::Tcp => "tcp",
            DowntimeKind::Http => "http",
        }
    }
}

/// Counts IPv4 packets on an interface of the agent pod, used to prove that
/// traffic between `filterIps` is not seen in clear text.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CaptureProbe {
    /// An interface name, or `auto`: the one the node's main routing table
    /// sends `routeTo` (or the node of `routeToNodeOf`) through.
    pub interface: String,
    /// With `interface: auto`: the IPv4 address whose route picks the interface.
    #[serde(default)]
    pub route_to: Option<String>,
    /// With `interface: auto`: a pod of the case namespace; its node's
    /// address (`status.hostIP`) is the `routeTo` (the other node of a
    /// cross-node pair, so the capture watches the real uplink).
    #[serde(default)]
    pub route_to_node_of: Option<String>,
    /// A packet counts as plaintext when source and destination are both listed.
    #[serde(default)]
    pub filter_ips: Vec<String>,
    /// Pods of the case namespace whose IPv4 `status.podIPs` are added to
    /// `filterIps` at run time (e.g. `[client, echo-other]`).
    #[serde(default)]
    pub between_pods: Vec<String>,
    /// Also count UDP packets to/from this port (e.g. WireGuard 51871).
    #[serde(default)]
    pub udp_port: Option<u16>,
    pub duration: HumanDuration,
}

/// A duration written as text: `500ms`, `30s`, `2m`, `1h`, `1m30s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct HumanDuration(pub Duration);

/// Prefix of every duration parse error; the loader keys its rule id on it.
pub const INVALID_DURATION: &str = "invalid duration";

/// The longest duration accepted anywhere (one year): beyond it a deadline
/// is a typo, and `Instant + d` could overflow.
pub const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);

impl HumanDuration {
    /// Parses `<number><unit>` groups; units `ms`, `s`, `m`, `h`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim();
        if t.is_empty() {
            return Err(format!("{INVALID_DURATION} ``: expected e.g. `30s`, `2m`, `1m30s`"));
        }
        let mut total = Duration::ZERO;
        let mut rest = t;
        while !rest.is_empty() {
            let digits = rest.chars().take_while(|c| c.is_ascii_digit()).count();
            if digits == 0 {
                return Err(format!(
                    "{INVALID_DURATION} `{t}`: expected a number before `{rest}` (e.g. `30s`, `2m`, `1m30s`)"
                ));
            }
            let value: u64 = rest[..digits]
                .parse()
                .map_err(|_| format!("{INVALID_DURATION} `{t}`: number too large"))?;
            rest = &rest[digits..];
            let unit_len = rest.chars().take_while(|c| c.is_ascii_alphabetic()).count();
            let unit = &rest[..unit_len];
            rest = &rest[unit_len..];
            let part = match unit {
                "ms" => Duration::from_millis(value),
                "s" => Duration::from_secs(value),
                "m" => Duration::from_secs(value.saturating_mul(60)),
                "h" => Duration::from_secs(value.saturating_mul(3600)),
                // Saturated values are caught by the bound below.
                "" => {
                    return Err(format!(
                        "{INVALID_DURATION} `{t}`: missing unit (use ms, s, m or h)"
                    ));
                }
                other => {
                    return Err(format!(
                        "{INVALID_DURATION} `{t}`: unknown unit `{other}` (use ms, s, m or h)"
                    ));
                }
            };
            total = total
                .checked_add(part)
                .filter(|t| *t <= MAX_DURATION)
                .ok_or_else(|| format!("{INVALID_DURATION} `{t}`: too large (at most 8760h, one year)"))?;
        }
        Ok(HumanDuration(total))
    }
}

impl std::fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = self.0.as_millis();
        if !ms.is_multiple_of(1000) {
            write!(f, "{ms}ms")
        } else {
            write!(f, "{}s", ms / 1000)
        }
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = HumanDuration;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a duration string such as `30s` or `2m`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<HumanDuration, E> {
                HumanDuration::parse(v).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<HumanDuration, E> {
                Err(E::custom(format!(
                    "{INVALID_DURATION} `{v}`: missing unit (write `{v}s`)"
                )))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<HumanDuration, E> {
                self.visit_i64(v as i64)
            }
        }
        d.deserialize_str(V)
    }
}

/// Cluster features a case can require. Detected from the cluster; with a
/// profile, the profile says which must be there (see `crate::contract`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Feature {
    Cilium,
    KubeProxyReplacement,
    NativeRouting,
    BpfMasquerade,
    Wireguard,
    NodeEncryption,
    BgpControlPlane,
    LbIpam,
    GatewayApi,
    BandwidthManager,
    LocalRedirectPolicy,
    Hubble,
    L7Proxy,
    CertManager,
    /// external-dns runs (a Deployment labelled
    /// `app.kubernetes.io/name=external-dns`).
    ExternalDns,
    Flux,
    MultiNode,
    ProbeAgent,
    DnsApi,
    BgpPeer,
}

impl Feature {
    pub const ALL: [Feature; 20] = [
        Feature::Cilium,
        Feature::KubeProxyReplacement,
        Feature::NativeRouting,
        Feature::BpfMasquerade,
        Feature::Wireguard,
        Feature::NodeEncryption,
        Feature::BgpControlPlane,
        Feature::LbIpam,
        Feature::GatewayApi,
        Feature::BandwidthManager,
        Feature::LocalRedirectPolicy,
        Feature::Hubble,
        Feature::L7Proxy,
        Feature::CertManager,
        Feature::ExternalDns,
        Feature::Flux,
        Feature::MultiNode,
        Feature::ProbeAgent,
        Feature::DnsApi,
        Feature::BgpPeer,
    ];

    /// Name as written in `requires:`.
    pub fn name(self) -> &'static str {
        match self {
            Feature::Cilium => "cilium",
            Feature::KubeProxyReplacement => "kubeProxyReplacement",
            Feature::NativeRouting => "nativeRouting",
            Feature::BpfMasquerade => "bpfMasquerade",
            Feature::Wireguard => "wireguard",
            Feature::NodeEncryption => "nodeEncryption",
            Feature::BgpControlPlane => "bgpControlPlane",
            Feature::LbIpam => "lbIpam",
            Feature::GatewayApi => "gatewayApi",
            Feature::BandwidthManager => "bandwidthManager",
            Feature::LocalRedirectPolicy => "localRedirectPolicy",
            Feature::Hubble => "hubble",
            Feature::L7Proxy => "l7Proxy",
            Feature::CertManager => "certManager",
            Feature::ExternalDns => "externalDns",
            Feature::Flux => "flux",
            Feature::MultiNode => "multiNode",
            Feature::ProbeAgent => "probeAgent",
            Feature::DnsApi => "dnsApi",
            Feature::BgpPeer => "bgpPeer",
        }
    }

    /// The cilium-config key and value that detect this feature, for the
    /// features read from cilium-config.
    pub fn config_flag(self) -> Option<(&'static str, &'static str)> {
        Some(match self {
            Feature::KubeProxyReplacement => ("kube-proxy-replacement", "true"),
            Feature::BpfMasquerade => ("enable-bpf-masquerade", "true"),
            Feature::Wireguard => ("enable-wireguard", "true"),
            Feature::NodeEncryption => ("encrypt-node", "true"),
            Feature::BgpControlPlane => ("enable-bgp-control-plane", "true"),
            Feature::BandwidthManager => ("enable-bandwidth-manager", "true"),
            Feature::LocalRedirectPolicy => ("enable-local-redirect-policy", "true"),
            Feature::Hubble => ("enable-hubble", "true"),
            Feature::L7Proxy => ("enable-l7-proxy", "true"),
            Feature::NativeRouting => ("routing-mode", "native"),
            _ => return None,
        })
    }

    pub fn from_name(name: &str) -> Option<Feature> {
        Feature::ALL.into_iter().find(|f| f.name() == name)
    }

    /// All names, for error messages.
    pub fn names() -> String {
        Feature::ALL
            .iter()
            .map(|f| format!("`{}`", f.name()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Prefix of a negated requirement: `"!wireguard"` runs only without it.
pub const NOT_PREFIX: char = '!';

/// One entry of `requires:`: a feature that must be present, or (written
/// `"!name"`) one that must be absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Requirement {
    pub feature: Feature,
    pub negated: bool,
}

impl Requirement {
    /// Parses `name` or `!name`; `None` when the name is unknown.
    pub fn parse(text: &str) -> Option<Requirement> {
        match text.strip_prefix(NOT_PREFIX) {
            Some(rest) => Feature::from_name(rest.trim()).map(|feature| Requirement { feature, negated: true }),
            None => Feature::from_name(text).map(|feature| Requirement { feature, negated: false }),
        }
    }
}

impl std::fmt::Display for Requirement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.negated {
            write!(f, "{NOT_PREFIX}{}", self.feature)
        } else {
            write!(f, "{}", self.feature)
        }
    }
}

impl Serialize for Feature {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Feature {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Feature, D::Error> {
        let name = String::deserialize(d)?;
        Feature::from_name(&name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown feature {name:?}; known: {}", Feature::names())))
    }
}

impl std::fmt::Display for Feature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
