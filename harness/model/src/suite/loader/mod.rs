//! Reads `suites/*.yaml`, validates them and resolves fixtures.
//!
//! Everything that can be checked without a cluster is checked here, so a
//! bad suite fails before any object is created (exit 2). Each problem is a
//! [`Finding`] with a `SUITE-NNN` rule, `file:line:col` and a hint; the
//! loader collects all of them instead of stopping at the first.
//!
//! This file loads files, checks suites and cases and dispatches each step;
//! the checks of one step kind live in that kind's file (`apply.rs`,
//! `probe.rs`, ...), so a new kind adds a file instead of growing this one.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use crate::diag::{self, Finding};
use crate::results::{ConformanceSupport, GatewayConformance, gateway_feature_support};
use crate::rules::Rule;
use crate::yaml::{self, Document, Node, Pos};

use crate::suite::model::{
    API_VERSION, Apply, Assert, Case, Feature, INVALID_DURATION, KIND, MAX_RETRIES, NOT_PREFIX, Predicate,
    Requirement, Step, StepTimeouts, Suite, Wait,
};
use super::rules::*;
use super::template::{AGENT_IMAGE_VAR, BUILTIN_VARS, referenced, referenced_json};

mod apply;
mod assert;
mod bgp;
mod breaks;
mod lints;
mod disrupt;
mod dns;
mod exec;
mod probe;
mod wait;

/// A validated case, ready for the engine.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedCase {
    /// `<suite>::<case>`.
    pub id: String,
    pub suite: String,
    pub name: String,
    pub description: Option<String>,
    /// Suite and case requirements, plus `probeAgent` when the case probes.
    pub requires: Vec<Feature>,
    /// Features written as `"!name"`: the case runs only when they are
    /// not detected.
    pub excludes: Vec<Feature>,
    /// Skip reason unless ignored cases are requested.
    pub ignore: Option<String>,
    /// Case timeout written in the case or the suite defaults.
    pub timeout: Option<Duration>,
    /// Case step timeouts over suite defaults (profile and built-ins are
    /// applied by the engine).
    pub timeouts: StepTimeouts,
    pub retries: u32,
    pub vars: BTreeMap<String, String>,
    pub steps: Vec<Step>,
    pub catch: Vec<Step>,
    pub finally: Vec<Step>,
    /// The Gateway API conformance the case proves, for its result.
    pub gateway_conformance: Option<GatewayConformance>,
    /// Runs with nothing else in flight (case or suite `exclusive`).
    pub exclusive: bool,
    /// The case's negative control for `infraflux prove`; `None` when the
    /// case declares none.
    pub break_: Option<LoadedBreak>,
    /// Where the case is written.
    pub location: diag::Location,
}

/// A case's validated `break`.
#[derive(Debug, Clone, PartialEq)]
pub enum LoadedBreak {
    /// Apply the suite's recipe `name`; the case must then fail with a
    /// message matching `fails_with`.
    Recipe {
        name: String,
        recipe: crate::suite::model::BreakRecipe,
        fails_with: String,
    },
    /// The case cannot be broken here, for this reason.
    None { reason: String },
}

/// A validated suite with its fixture files parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedSuite {
    pub file: String,
    pub name: String,
    pub description: Option<String>,
    pub cases: Vec<LoadedCase>,
    /// Fixture path (as written in `apply.file`) → its documents as JSON.
    pub fixtures: BTreeMap<String, Vec<serde_json::Value>>,
}

/// Every finding that made loading fail (at least one error).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("failed to load suites: {} error(s)", diag_errors(.0))]
pub struct LoadError(pub Vec<Finding>);

fn diag_errors(f: &[Finding]) -> usize {
    f.iter().filter(|f| f.severity == diag::Severity::Error).count()
}

/// Loads every `*.yaml` / `*.yml` file directly in `suites_dir` (sorted by
/// name), resolving `apply.file` against `fixtures_dir`.
pub fn load_dir(suites_dir: &Path, fixtures_dir: &Path) -> Result<Vec<LoadedSuite>, LoadError> {
    let entries = std::fs::read_dir(suites_dir).map_err(|e| {
        LoadError(vec![
            SUITE_000.finding_hint(
                format!("failed to read suites directory {}: {e}", suites_dir.display()),
                "pass an existing directory with --suites",
            )
            .at(diag::Location {
                file: suites_dir.display().to_string(),
                line: 0,
                col: 0,
            }),
        ])
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"))
        })
        .collect();
    files.sort();
    if files.is_empty() {
        // A run over nothing would "pass" with 0 cases: a wrong --suites.
        return Err(LoadError(vec![
            SUITE_000
                .finding_hint(
                    format!("no suite files (*.yaml, *.yml) in {}", suites_dir.display()),
                    "pass the directory that holds the suites with --suites (the repository's is `suites/`)",
                )
                .at(diag::Location { file: suites_dir.display().to_string(), line: 0, col: 0 }),
        ]));
    }
    load_files(&files, fixtures_dir)
}

/// Loads the given suite files; suite names must be unique across them.
pub fn load_files(files: &[PathBuf], fixtures_dir: &Path) -> Result<Vec<LoadedSuite>, LoadError> {
    let mut findings = Vec::new();
    let mut suites = Vec::new();
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for path in files {
        let file = path.display().to_string();
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                findings.push(
                    SUITE_000.finding_hint(
                        format!("failed to read suite file: {e}"),
                        "check that the file exists and is readable",
                    )
                    .at(diag::Location { file, line: 0, col: 0 }),
                );
                continue;
            }
        };
        match load_str(&file, &text, fixtures_dir) {
            Ok(s) => {
                if let Some(first) = seen.get(&s.name) {
                    findings.push(
                        SUITE_014.finding_hint(
                            format!("suite name `{}` is already used by {first}", s.name),
                            "give every suite a unique metadata.name; it prefixes every case id",
                        )
                        .at(diag::Location { file: file.clone(), line: 1, col: 1 }),
                    );
                } else {
                    seen.insert(s.name.clone(), file.clone());
                    suites.push(s);
                }
            }
            Err(LoadError(f)) => findings.extend(f),
        }
    }
    if diag::has_errors(&findings) {
        diag::sort(&mut findings);
        return Err(LoadError(findings));
    }
    Ok(suites)
}

/// Loads one suite from text. `file` names it in findings.
pub fn load_str(file: &str, text: &str, fixtures_dir: &Path) -> Result<LoadedSuite, LoadError> {
    let docs = yaml::parse_str(file, text)
        .map_err(|e| LoadError(vec![Finding::from_yaml_error(&e)]))?;
    let docs: Vec<Document> = docs.into_iter().filter(|d| !d.root.is_null()).collect();
    let doc = match docs.as_slice() {
        [one] => one,
        [] => {
            return Err(LoadError(vec![
                SUITE_015.finding_hint(
                    "suite file is empty",
                    "write one `kind: Suite` document (see suites/README.md)",
                )
                .at_pos(file, Pos { line: 1, col: 1 }),
            ]));
        }
        [_, second, ..] => {
            return Err(LoadError(vec![
                SUITE_015.finding_hint(
                    "suite file holds more than one YAML document",
                    "put one suite per file; split the others into their own files",
                )
                .at_pos(file, second.root.pos),
            ]));
        }
    };
    let suite: Suite = yaml::from_node(&doc.root).map_err(|e| {
        let (rule, hint) = if e.message.starts_with(INVALID_DURATION) {
            (&SUITE_004, "write durations as `500ms`, `30s`, `2m` or `1h`")
        } else {
            (
                &SUITE_001,
                "fix the field against the suite schema in suites/README.md",
            )
        };
        LoadError(vec![Finding::from_de_error(rule.id, file, &e, hint)])
    })?;
    let mut v = Validator {
        file,
        root: &doc.root,
        fixtures_dir,
        findings: Vec::new(),
        fixtures: BTreeMap::new(),
    };
    let loaded = v.suite(suite);
    if diag::has_errors(&v.findings) {
        diag::sort(&mut v.findings);
        return Err(LoadError(v.findings));
    }
    Ok(LoadedSuite {
        fixtures: v.fixtures,
        ..loaded
    })
}

struct Validator<'a> {
    file: &'a str,
    root: &'a Node,
    fixtures_dir: &'a Path,
    findings: Vec<Finding>,
    fixtures: BTreeMap<String, Vec<serde_json::Value>>,
}

/// Kubernetes label values (used for `infraflux.io/case`) are at most 63
/// characters, and names go into namespace names: keep them DNS-label-like.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

impl Validator<'_> {
    fn pos(&self, path: &str) -> Pos {
        // Fall back to the nearest written ancestor so a finding always has a place.
        let mut p = path.to_owned();
        loop {
            if let Some(n) = self.root.lookup(&p) {
                return n.pos;
            }
            match p.rfind(['.', '[']) {
                Some(i) => p.truncate(i),
                None => return self.root.pos,
            }
        }
    }

    fn error(&mut self, rule: &Rule, path: &str, message: String, hint: &str) {
        let pos = self.pos(path);
        self.findings
            .push(rule.finding_hint(message, hint).at_pos(self.file, pos).with_path(path));
    }

    fn suite(&mut self, s: Suite) -> LoadedSuite {
        if s.api_version != API_VERSION {
            self.error(
                &SUITE_002,
                "apiVersion",
                format!("apiVersion is `{}`, expected `{API_VERSION}`", s.api_version),
                "set `apiVersion: infraflux.io/v1alpha1`",
            );
        }
        if s.kind != KIND {
            self.error(
                &SUITE_002,
                "kind",
                format!("kind is `{}`, expected `{KIND}`", s.kind),
                "set `kind: Suite`",
            );
        }
        if !valid_name(&s.metadata.name) {
            self.error(
                &SUITE_012,
                "metadata.name",
                format!("suite name `{}` is not a lowercase DNS label", s.metadata.name),
                "use 1-63 characters from a-z, 0-9 and `-`, not starting or ending with `-`",
            );
        }
        let suite_req = self.features(&s.requires, "requires");
        self.contradictions(&[], &suite_req, &BTreeSet::new());
        self.positive_timeouts("defaults", s.defaults.timeout.as_ref(), &s.defaults.timeouts);
        let default_retries = s.defaults.retries.unwrap_or(0);
        if default_retries > MAX_RETRIES {
            self.error(
                &SUITE_005,
                "defaults.retries",
                format!("retries is {default_retries}, the maximum is {MAX_RETRIES}"),
                "fix the flake instead of retrying it; retries are bounded so flakes stay visible",
            );
        }
        if s.cases.is_empty() {
            self.error(
                &SUITE_007,
                "cases",
                "suite has no cases".into(),
                "add at least one case with at least one step",
            );
        }
        self.recipes(&s.breaks);
        let mut names: BTreeMap<String, usize> = BTreeMap::new();
        let mut cases = Vec::new();
        let mut used: BTreeSet<String> = BTreeSet::new();
        for (i, case) in s.cases.into_iter().enumerate() {
            let base = format!("cases[{i}]");
            if let Some(first) = names.get(&case.name) {
                let line = self.pos(&format!("cases[{first}].name")).line;
                self.error(
                    &SUITE_006,
                    &format!("{base}.name"),
                    format!("duplicate case name `{}` (first defined at line {line})", case.name),
                    "case names must be unique within a suite; they form the case id",
                );
            } else {
                names.insert(case.name.clone(), i);
            }
            // Referenced counts as used even when the reference is bad:
            // one mistake, one finding.
            if let Some(name) = case.break_.as_ref().and_then(|b| b.recipe.clone()) {
                used.insert(name);
            }
            let brk = self.case_break(&base, case.break_.as_ref(), &s.breaks);
            let exclusive = case.exclusive.unwrap_or(s.exclusive);
            let mut loaded = self.case(&s.metadata.name, &base, case, &suite_req, &s.defaults);
            loaded.exclusive = exclusive;
            loaded.break_ = brk;
            self.cannot_fail(&base, &loaded);
            cases.push(loaded);
        }
        self.unused_recipes(&s.breaks, &used);
        self.baselines(&cases);
        LoadedSuite {
            file: self.file.to_owned(),
            name: s.metadata.name,
            description: s.description,
            cases,
            fixtures: BTreeMap::new(),
        }
    }

    /// Parses `requires:` entries (`name` or `"!name"`) with the path of each.
    fn features(&mut self, names: &[String], path: &str) -> Vec<(Requirement, String)> {
        let mut out = Vec::new();
        for (j, n) in names.iter().enumerate() {
            let at = format!("{path}[{j}]");
            match Requirement::parse(n) {
                Some(r) => out.push((r, at)),
                None => {
                    let bare = n.strip_prefix(NOT_PREFIX).unwrap_or(n);
                    self.error(
                        &SUITE_003,
                        &at,
                        format!("unknown feature `{bare}`; valid features: {}", Feature::names()),
                        "use one of the listed feature names, optionally prefixed with `!` (suites/README.md explains how each is detected)",
                    )
                }
            }
        }
        out
    }

    /// A feature both required and excluded (`x` and `"!x"`, across suite
    /// and case, or `!probeAgent` on a case that probes) can never run.
    /// `suite` holds entries already checked among themselves (the suite's
    /// own list), so only clashes involving `case` or `implied` are new.
    fn contradictions(
        &mut self,
        suite: &[(Requirement, String)],
        case: &[(Requirement, String)],
        implied: &BTreeSet<Feature>,
    ) {
        let all: Vec<(&(Requirement, String), bool)> =
            suite.iter().map(|e| (e, true)).chain(case.iter().map(|e| (e, false))).collect();
        for ((r, at), neg_in_suite) in all.iter().filter(|((r, _), _)| r.negated) {
            let clash = all
                .iter()
                .find(|((o, _), pos_in_suite)| !o.negated && o.feature == r.feature && !(*neg_in_suite && *pos_in_suite));
            let why = match clash {
                Some(_) => format!("`{}` is required and excluded (`{r}`) at once", r.feature),
                None if implied.contains(&r.feature) => {
                    format!("`{r}` excludes `{}`, which this case's steps need", r.feature)
                }
                None => continue,
            };
            self.error(
                &SUITE_019,
                at,
                format!("contradictory requirements: {why}; the case could never run"),
                "keep either the feature or its `!` negation",
            );
        }
    }

    fn case(
        &mut self,
        suite: &str,
        base: &str,
        c: Case,
        suite_req: &[(Requirement, String)],
        defaults: &crate::suite::model::Defaults,
    ) -> LoadedCase {
        if !valid_name(&c.name) {
            self.error(
                &SUITE_012,
                &format!("{base}.name"),
                format!("case name `{}` is not a lowercase DNS label", c.name),
                "use 1-63 characters from a-z, 0-9 and `-`, not starting or ending with `-`",
            );
        }
        let label = format!("{suite}.{}", c.name);
        if label.len() > 63 {
            self.error(
                &SUITE_012,
                &format!("{base}.name"),
                format!("`{label}` is longer than 63 characters, the limit of a label value"),
                "shorten the case name (it is stored in the infraflux.io/case label)",
            );
        }
        self.positive_timeouts(base, c.timeout.as_ref(), &c.timeouts);
        let case_req = self.features(&c.requires, &format!("{base}.requires"));
        let mut requires: BTreeSet<Feature> = BTreeSet::new();
        let mut excludes: BTreeSet<Feature> = BTreeSet::new();
        for (r, _) in suite_req.iter().chain(&case_req) {
            if r.negated {
                excludes.insert(r.feature);
            } else {
                requires.insert(r.feature);
            }
        }
        let written = requires.clone();
        let retries = c.retries.or(defaults.retries).unwrap_or(0);
        if let Some(r) = c.retries
            && r > MAX_RETRIES
        {
            self.error(
                &SUITE_005,
                &format!("{base}.retries"),
                format!("retries is {r}, the maximum is {MAX_RETRIES}"),
                "fix the flake instead of retrying it; retries are bounded so flakes stay visible",
            );
        }
        if c.steps.is_empty() {
            self.error(
                &SUITE_007,
                &format!("{base}.steps"),
                format!("case `{}` has no steps", c.name),
                "add at least one step under `steps:`",
            );
        }
        for (k, v) in &c.vars {
            if BUILTIN_VARS.contains(&k.as_str()) {
                self.error(
                    &SUITE_017,
                    &format!("{base}.vars.{k}"),
                    format!("`{k}` is a built-in variable and cannot be redefined"),
                    "rename the variable",
                );
            }
            let _ = v;
        }
        let mut known: BTreeSet<String> = BUILTIN_VARS.iter().map(|s| s.to_string()).collect();
        known.extend(c.vars.keys().cloned());
        let mut probes: BTreeSet<String> = BTreeSet::new();
        let mut probes_used = false;
        for (list, steps) in [("steps", &c.steps), ("catch", &c.catch), ("finally", &c.finally)] {
            for (j, step) in steps.iter().enumerate() {
                let path = format!("{base}.{list}[{j}].{}", step.kind());
                self.step(&path, step, &known, &mut probes);
                probes_used |= matches!(step, Step::Probe(_)) || self.uses_agent_image(step);
            }
        }
        if probes_used {
            requires.insert(Feature::ProbeAgent);
        }
        let dns_used = [&c.steps, &c.catch, &c.finally]
            .into_iter()
            .flatten()
            .any(|s| matches!(s, Step::DnsRecord(_)));
        if dns_used {
            requires.insert(Feature::DnsApi);
        }
        let bgp_used = [&c.steps, &c.catch, &c.finally].into_iter().flatten().any(|s| {
            matches!(s, Step::BgpPeer(_))
                || matches!(s, Step::Disrupt(d) if matches!(d.action, crate::suite::model::DisruptAction::BgpSessionReset(_)))
        });
        if bgp_used {
            requires.insert(Feature::BgpPeer);
        }
        let implied: BTreeSet<Feature> = requires.difference(&written).copied().collect();
        self.contradictions(suite_req, &case_req, &implied);
        if let Some(g) = &c.gateway_conformance {
            self.gateway_conformance(&format!("{base}.gatewayConformance"), g, requires.contains(&Feature::GatewayApi));
        }
        let pos = self.pos(base);
        LoadedCase {
            id: format!("{suite}::{}", c.name),
            suite: suite.to_owned(),
            name: c.name,
            description: c.description,
            requires: requires.into_iter().collect(),
            excludes: excludes.into_iter().collect(),
            ignore: c.ignore,
            timeout: c.timeout.or(defaults.timeout).map(|d| d.0),
            timeouts: merge_timeouts(&c.timeouts, &defaults.timeouts),
            retries,
            vars: c.vars,
            steps: c.steps,
            catch: c.catch,
            finally: c.finally,
            gateway_conformance: c.gateway_conformance,
            exclusive: false,
            break_: None,
            location: diag::Location::new(self.file, pos),
        }
    }

    /// `gatewayConformance`: only where the case needs the Gateway API, with
    /// known upstream feature names, each once, and extended support when
    /// an extended feature is exercised.
    fn gateway_conformance(&mut self, path: &str, g: &GatewayConformance, needs_gateway_api: bool) {
        if !needs_gateway_api {
            self.error(
                &SUITE_020,
                path,
                "`gatewayConformance` on a case that does not require `gatewayApi`".into(),
                "only a case that needs the Gateway API can prove its conformance: add `gatewayApi` to the suite's or case's `requires`, or drop the field",
            );
        }
        let written = self.root.lookup(&format!("{path}.features")).is_some();
        if written && g.features.is_empty() {
            self.error(
                &SUITE_020,
                &format!("{path}.features"),
                "`features` is empty".into(),
                "list the upstream features the case exercises, or leave `features` out for a case that checks platform wiring beyond the API",
            );
        }
        let mut seen = BTreeSet::new();
        for (i, f) in g.features.iter().enumerate() {
            let at = format!("{path}.features[{i}]");
            match gateway_feature_support(f) {
                None => self.error(
                    &SUITE_020,
                    &at,
                    format!("unknown Gateway API feature `{f}`"),
                    "use an upstream feature name of the GATEWAY-HTTP profile, e.g. `Gateway`, `HTTPRoute`, `HTTPRouteSchemeRedirect` (suites/README.md lists them)",
                ),
                Some(ConformanceSupport::Extended) if g.support == ConformanceSupport::Core => self.error(
                    &SUITE_020,
                    &at,
                    format!("`{f}` is an extended feature, but the case claims `support: core`"),
                    "set `support: extended`: a case that needs an extended feature proves extended support",
                ),
                Some(_) => {}
            }
            if !seen.insert(f.as_str()) {
                self.error(
                    &SUITE_020,
                    &at,
                    format!("feature `{f}` is listed twice"),
                    "list each feature once",
                );
            }
        }
    }

    /// Every probe `baseline` names another metric recorded in this suite,
    /// with the same unit and direction, so the reports can form the ratio.
    fn baselines(&mut self, cases: &[LoadedCase]) {
        // metric id -> (unit, higher is better) when known
        let mut metrics: BTreeMap<String, Option<(&'static str, bool)>> = BTreeMap::new();
        for c in cases {
            for (_, steps) in step_lists(c) {
                for step in steps {
                    let (m, unit) = match step {
                        Step::Probe(p) => (&p.metric, p.action.sample_unit()),
                        Step::DnsRecord(d) => (&d.metric, Some(("ms", false))),
                        Step::BgpPeer(b) => (&b.metric, Some(("ms", false))),
                        _ => continue,
                    };
                    if let Some(m) = m {
                        metrics.insert(m.clone(), unit);
                    }
                }
            }
        }
        for (i, c) in cases.iter().enumerate() {
            for (list, steps) in step_lists(c) {
                for (j, step) in steps.iter().enumerate() {
                    let Step::Probe(p) = step else { continue };
                    let Some(b) = &p.baseline else { continue };
                    let at = format!("cases[{i}].{list}[{j}].probe.baseline");
                    let (message, hint) = match (&p.metric, metrics.get(b)) {
                        (None, _) => (
                            "`baseline` on a probe without `metric`".to_owned(),
                            "give the probe a `metric`: the baseline is what that metric is measured against",
                        ),
                        (Some(m), _) if m == b => (
                            format!("metric `{m}` names itself as its baseline"),
                            "name the other metric this one is compared with, e.g. its host_to_host twin",
                        ),
                        (Some(_), None) => (
                            format!("baseline `{b}` is not a metric of this suite"),
                            "name a `metric` that a probe, dnsRecord or bgpPeer step of this suite records",
                        ),
                        (Some(m), Some(unit)) if unit.is_some() && *unit != p.action.sample_unit() => (
                            format!("baseline `{b}` is measured in another unit or direction than `{m}`"),
                            "compare metrics of the same kind, e.g. two stream probes",
                        ),
                        _ => continue,
                    };
                    self.error(&SUITE_021, &at, message, hint);
                }
            }
        }
    }

    /// A zero `timeout` or `timeouts.<kind>` would fail every step at once
    /// (durations are greater than zero, per `SUITE_004`).
    fn positive_timeouts(
        &mut self,
        base: &str,
        timeout: Option<&crate::suite::model::HumanDuration>,
        kinds: &crate::suite::model::StepTimeouts,
    ) {
        let at = |field: &str| if base.is_empty() { field.to_owned() } else { format!("{base}.{field}") };
        let mut zero = Vec::new();
        if timeout.is_some_and(|d| d.0.is_zero()) {
            zero.push(at("timeout"));
        }
        for (kind, d) in [
            ("apply", &kinds.apply),
            ("delete", &kinds.delete),
            ("wait", &kinds.wait),
            ("assert", &kinds.assert),
            ("probe", &kinds.probe),
        ] {
            if d.as_ref().is_some_and(|d| d.0.is_zero()) {
                zero.push(at(&format!("timeouts.{kind}")));
            }
        }
        for path in zero {
            self.error(&SUITE_004, &path, "timeout is zero".into(), "give a positive timeout such as `30s`");
        }
    }

    fn step(&mut self, path: &str, step: &Step, known: &BTreeSet<String>, probes: &mut BTreeSet<String>) {
        if step.timeout() == Some(Duration::ZERO) {
            self.error(
                &SUITE_004,
                &format!("{path}.timeout"),
                "timeout is zero".into(),
                "give the step a positive timeout such as `30s`",
            );
        }
        match step {
            Step::Apply(a) => self.apply(path, a, known),
            Step::Delete(d) => self.refs(path, &d.target, known),
            Step::Wait(w) => self.wait(path, w, known),
            Step::Probe(p) => {
                if p.metric.is_some() && p.action.sample_unit().is_none() {
                    self.error(
                        &SUITE_018,
                        &format!("{path}.metric"),
                        format!("a `{}` probe reports no samples to record as a metric", p.action.kind()),
                        "drop `metric`, or measure with stream, requestResponse, connectRate, http, tcp, udp or dns",
                    );
                }
                if let Some(m) = &p.metric
                    && !m.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
                {
                    self.error(
                        &SUITE_018,
                        &format!("{path}.metric"),
                        format!("metric id `{m}` has characters outside [a-z0-9._-]"),
                        "use a dotted lowercase id such as `throughput.tcp_stream_1.pod_to_pod.cross_node`",
                    );
                }
                self.probe_action(&format!("{path}.action"), &p.action, known);
                if p.background && p.name.is_none() {
                    self.error(
                        &SUITE_009,
                        &format!("{path}.background"),
                        "a background probe needs a `name`".into(),
                        "name it and collect its report with a later `assert: {probe: <name>}`",
                    );
                }
                if let Some(n) = &p.name
                    && !probes.insert(n.clone())
                {
                    self.error(
                        &SUITE_013,
                        &format!("{path}.name"),
                        format!("probe name `{n}` is used twice in this case"),
                        "give each probe a unique name",
                    );
                }
            }
            Step::Assert(a) => self.assert(path, a, known, probes),
            Step::Disrupt(d) => self.disrupt(path, d, known),
            Step::DnsRecord(d) => self.dns_record(path, d, known),
            Step::BgpPeer(b) => {
                self.bgp_peer(path, b, known);
                // A named bgpPeer step leaves a report an assert can read.
                if let Some(n) = &b.name
                    && !probes.insert(n.clone())
                {
                    self.error(
                        &SUITE_013,
                        &format!("{path}.name"),
                        format!("probe name `{n}` is used twice in this case"),
                        "give each probe and bgpPeer step a unique name",
                    );
                }
            }
            Step::Exec(e) => self.exec(path, e, known, probes),
        }
        if let Step::Probe(p) = step
            && let crate::suite::model::ProbeAction::Capture(c) = &p.action
        {
            let names = c.between_pods.iter().flat_map(|n| referenced(n)).collect();
            self.vars(&format!("{path}.action.capture.betweenPods"), names, known);
            let mut names = referenced(&c.interface);
            for f in [&c.route_to, &c.route_to_node_of].into_iter().flatten() {
                names.extend(referenced(f));
            }
            self.vars(&format!("{path}.action.capture"), names, known);
            let routed = c.route_to.is_some() || c.route_to_node_of.is_some();
            if c.interface == "auto" && !routed {
                self.error(
                    &SUITE_009,
                    &format!("{path}.action.capture.interface"),
                    "`interface: auto` needs `routeTo` or `routeToNodeOf`".into(),
                    "name the other node, e.g. `routeToNodeOf: echo-other`, so the capture watches the uplink towards it",
                );
            }
            if c.route_to.is_some() && c.route_to_node_of.is_some() {
                self.error(
                    &SUITE_009,
                    &format!("{path}.action.capture"),
                    "`routeTo` and `routeToNodeOf` both given".into(),
                    "keep one: an address, or a case pod whose node address is used",
                );
            }
            if let Some(ip) = &c.route_to
                && referenced(ip).is_empty()
                && ip.parse::<std::net::Ipv4Addr>().is_err()
            {
                self.error(
                    &SUITE_011,
                    &format!("{path}.action.capture.routeTo"),
                    format!("`{ip}` is not an IPv4 address"),
                    "give the other node's address, or use `routeToNodeOf: <pod>`",
                );
            }
        }
    }

    /// Whether an apply step starts objects from `{{agentImage}}` (its own
    /// agent-based servers): the case then needs an agent image like a probe.
    fn uses_agent_image(&self, step: &Step) -> bool {
        let Step::Apply(a) = step else { return false };
        let docs: Vec<serde_json::Value> = match (&a.manifest, &a.file) {
            (Some(m), _) => vec![m.clone()],
            (None, Some(f)) => self.fixtures.get(f).cloned().unwrap_or_default(),
            (None, None) => Vec::new(),
        };
        docs.iter().any(|d| {
            let mut names = Vec::new();
            referenced_json(d, &mut names);
            names.iter().any(|n| n == AGENT_IMAGE_VAR)
        })
    }

    fn vars(&mut self, path: &str, names: Vec<String>, known: &BTreeSet<String>) {
        for n in names {
            if !known.contains(&n) {
                self.error(
                    &SUITE_017,
                    path,
                    format!(
                        "unknown template variable `{n}`; known: {}",
                        known.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
                    ),
                    "declare it under the case's `vars:` or use a built-in variable",
                );
            }
        }
    }

    fn refs(&mut self, path: &str, r: &crate::suite::model::ObjectRef, known: &BTreeSet<String>) {
        if r.namespace.as_deref() == Some("*") && r.name.is_some() {
            self.error(
                &SUITE_009,
                &format!("{path}.ref.namespace"),
                "namespace `*` (all namespaces) only works for a list reference".into(),
                "drop `name` to list across namespaces, or name one namespace",
            );
        }
        let mut names = Vec::new();
        for s in [&r.name, &r.namespace, &r.label_selector].into_iter().flatten() {
            names.extend(referenced(s));
        }
        self.vars(&format!("{path}.ref"), names, known);
    }

}

/// A case's step lists with their names in YAML.
fn step_lists(c: &LoadedCase) -> [(&'static str, &[Step]); 3] {
    [("steps", &c.steps), ("catch", &c.catch), ("finally", &c.finally)]
}

fn merge_timeouts(case: &StepTimeouts, suite: &StepTimeouts) -> StepTimeouts {
    StepTimeouts {
        apply: case.apply.or(suite.apply),
        delete: case.delete.or(suite.delete),
        wait: case.wait.or(suite.wait),
        assert: case.assert.or(suite.assert),
        probe: case.probe.or(suite.probe),
    }
}
