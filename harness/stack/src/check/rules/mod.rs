//! The rule catalog and the dispatcher.
//!
//! Each area module declares its rules as constants (id, severity, title,
//! fix, audit items) and one `check` function. Findings take their severity
//! and hint from the rule, so the catalog printed by `--rules` and the
//! findings can never disagree.

pub(crate) mod bgp;
pub(crate) mod chart_keys;
pub(crate) mod certmanager;
pub(crate) mod cilium_values;
pub(crate) mod dns;
pub(crate) mod flux;
pub(crate) mod gateway;
pub(crate) mod gateway_versions;
pub(crate) mod lbipam;
pub(crate) mod nodeprep;
pub(crate) mod ops;
pub(crate) mod policy;
pub(crate) mod rke2;
pub(crate) mod secrets;
pub(crate) mod terraform;

use std::sync::OnceLock;


pub use infraflux_model::rules::{Catalog, Impact, Rule};

use crate::diag::{Finding, Severity};

use super::model::Ctx;

/// A stack rule: every one carries its seed-audit impact and items.
pub(crate) const fn rule(
    id: &'static str,
    area: &'static str,
    severity: Severity,
    impact: Impact,
    title: &'static str,
    fix: &'static str,
    audit: &'static [u8],
) -> Rule {
    Rule { id, area, severity, title, hint: fix, impact: Some(impact), audit }
}

use Impact::{Breaks, Silent};
use Severity::{Error, Info};

/// Repeated mapping key; raised while reading (see `model`). The rule is the
/// model's `YAML-002` (one hint for every loader); the stack catalog lists it
/// too because it covers seed-audit item #5 and has check fixtures.
pub(crate) const YAML_002: Rule = crate::yaml::YAML_002;

/// Rules of other catalogs that `check` also raises and documents; they
/// come first in [`rules`] and are left out of [`catalog`].
const SHARED: &[Rule] = &[YAML_002];

/// Strict schema of core objects and the stack's CRDs.
pub(crate) const SCHEMA_001: Rule = rule(
    "SCHEMA-001", "schema", Error, Breaks,
    "field not in the object's schema (unknown, misspelled or removed field)",
    "remove or rename the field; check the API version's reference", &[27],
);
pub(crate) const SCHEMA_002: Rule = rule(
    "SCHEMA-002", "schema", Error, Breaks,
    "field has the wrong type or value for the object's schema",
    "use the type the API expects (quote strings, unquote numbers)", &[],
);

/// Notes about inputs that are read differently or not at all. They never
/// fail a check; they say what was not looked at and why.
pub(crate) const INPUT_001: Rule = rule(
    "INPUT-001", "inputs", Info, Silent,
    "Helm chart template (a `Chart.yaml` above its `templates/` directory): not a manifest until rendered, skipped",
    "check the rendered output (`helm template … | infraflux check /dev/stdin`) or the values file", &[],
);
pub(crate) const INPUT_002: Rule = rule(
    "INPUT-002", "inputs", Info, Silent,
    "Jinja/makejinja template that is not YAML as written (delimiters from the nearest makejinja.toml, else `{{`/`{%`): skipped",
    "check the rendered files instead", &[],
);
pub(crate) const INPUT_003: Rule = rule(
    "INPUT-003", "inputs", Info, Silent,
    "SOPS-encrypted document: its values are ciphertext, so it is checked for structure (apiVersion, kind, metadata) and references, not against the schema",
    "nothing to fix; decrypt locally to check the values", &[],
);
pub(crate) const INPUT_004: Rule = rule(
    "INPUT-004", "inputs", Info, Silent,
    "chart values could not be checked against the chart: that chart version is not in the Go module cache",
    "pin the version in harness/tools/charts/go.mod and run .ci/fetch-charts", &[],
);
pub(crate) const INPUT_005: Rule = rule(
    "INPUT-005", "inputs", Info, Silent,
    "references matched by name only: the namespace of the referring or the referred object is not knowable from the inputs (no metadata.namespace, kustomize `namespace:` or Flux `targetNamespace` applies)",
    "pass the directory holding the kustomization.yaml / Flux Kustomization (or --repo) so namespaces resolve", &[],
);

pub(crate) const INPUT_006: Rule = rule(
    "INPUT-006", "inputs", Info, Silent,
    "Gateway API objects could not be judged against their CRD bundle: that release is not in the Go module cache",
    "pin it in harness/tools/crds/go.mod and run .ci/fetch-crds (or `go mod download sigs.k8s.io/gateway-api@<version>`)", &[],
);

const GENERAL: &[Rule] = &[SCHEMA_001, SCHEMA_002, INPUT_001, INPUT_002, INPUT_003, INPUT_004, INPUT_005, INPUT_006];

/// The seed plan's seven independent install blockers. The audit does not
/// enumerate them; these are the BREAKS findings that each, alone, stop the
/// install on current releases, one per layer so none implies another:
/// node prep aborts (NODE-001), RKE2 cannot parse its config (TPL-001), the
/// cluster never gets a CNI (RKE2-013), the Cilium agent refuses to start
/// (CIL-001), the Cilium chart fails to render (CIL-003), and Flux rejects
/// the HelmRelease (FLUX-005) and HelmRepository (FLUX-006) APIs.
pub const SEED_BLOCKERS: &[&str] =
    &["NODE-001", "TPL-001", "RKE2-013", "CIL-001", "CIL-003", "FLUX-005", "FLUX-006"];

/// Number of items in seed-audit.md section A.
pub const AUDIT_ITEMS: u8 = 63;

/// Audit items no static rule can catch, with the reason.
pub const NOT_DETECTABLE: &[(u8, &str)] = &[
    (11, "whether the Cloudflare bootstrap token may create tokens is a property of the token, visible only to the Cloudflare API"),
    (13, "the missing exports to the Ansible group-vars template are a Terraform-to-Ansible data flow; TF-006 covers the range mismatch and LB-005 the on-link part"),
    (21, "\"XDP/DSR are claimed but not configured\" is a mismatch with prose; CIL-009 covers the config combination that loses encryption"),
    (26, "whether the router accepts sessions from every node, and whether a peer exists, needs the network (the BGP suite checks session state)"),
    (29, "whether on-link clients must reach VIPs is a design intent; LB-005 flags VIPs inside a BGP peer's on-link /24 without L2 announcements"),
    (40, "ServiceMonitor/scrape configuration lives in the monitoring stack; HUB-003/HUB-004 cover the Cilium values side"),
    (57, "which pods serve admission webhooks or need the API server is known only from the running chart; CNP-007 covers the DNS part"),
    (62, "whether a URL exists needs the network; OPS-004 flags manifests applied from a moving branch"),
];

fn all() -> &'static [Rule] {
    static ALL: OnceLock<Vec<Rule>> = OnceLock::new();
    ALL.get_or_init(|| {
        let mut v: Vec<Rule> = Vec::new();
        for set in [
            SHARED,
            GENERAL,
            rke2::RULES,
            nodeprep::RULES,
            cilium_values::RULES,
            chart_keys::RULES,
            bgp::RULES,
            lbipam::RULES,
            gateway::RULES,
            gateway_versions::RULES,
            dns::RULES,
            certmanager::RULES,
            flux::RULES,
            policy::RULES,
            ops::RULES,
            secrets::RULES,
            terraform::RULES,
        ] {
            v.extend_from_slice(set);
        }
        v
    })
}

/// Every rule `check` raises on stack inputs, grouped by area in a fixed
/// order (docs/check-rules.md lists exactly these).
pub fn rules() -> &'static [Rule] {
    all()
}

/// The stack's own catalog for `check --rules`: [`rules`] without the
/// shared `YAML-` rule, which the YAML catalog lists.
pub fn catalog() -> Catalog {
    Catalog {
        name: "stack",
        title: "Stack rules (manifests, Helm values, Flux, RKE2, node prep, Terraform)",
        rules: all().get(SHARED.len()..).unwrap_or_default(),
    }
}

/// Looks a rule up by id.
pub fn find(id: &str) -> Option<&'static Rule> {
    all().iter().find(|r| r.id == id)
}

pub(crate) fn run_all(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    rke2::check(ctx, out);
    secrets::check(ctx, out);
    nodeprep::check(ctx, out);
    cilium_values::check(ctx, out);
    chart_keys::check(ctx, out);
    bgp::check(ctx, out);
    lbipam::check(ctx, out);
    gateway::check(ctx, out);
    gateway_versions::check(ctx, out);
    dns::check(ctx, out);
    certmanager::check(ctx, out);
    flux::check(ctx, out);
    policy::check(ctx, out);
    ops::check(ctx, out);
    terraform::check(ctx, out);
}

/// A lazily compiled constant pattern. `None` only if the pattern itself is
/// invalid, which the rule tests would catch; rules then simply match nothing.
pub(crate) fn regex(
    cell: &'static OnceLock<Option<regex::Regex>>,
    pattern: &str,
) -> Option<&'static regex::Regex> {
    cell.get_or_init(|| regex::Regex::new(pattern).ok()).as_ref()
}

/// The catalog as Markdown (docs/check-rules.md is this text; a test fails
/// when the file drifts).
pub fn catalog_markdown() -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(s, "# `infraflux check` rule catalog\n");
    let _ = writeln!(
        s,
        "Generated from `check::rules()` by `cargo test -p infraflux-stack --lib check::tests::docs_match_catalog` \
         (set `INFRAFLUX_BLESS=1` to rewrite). Severity `error` fails `check` (exit 1); `warning` is reported only. \
         Impact is the seed audit's label (BREAKS / SILENT / DEPRECATED); audit numbers refer to seed-audit.md section A.\n"
    );
    let _ = writeln!(s, "{}", super::output::INPUTS_DOC);
    let mut area = "";
    for r in all() {
        if r.area != area {
            area = r.area;
            let _ = writeln!(s, "\n## {area}\n");
            let _ = writeln!(s, "| id | severity | impact | audit | detects | fix |");
            let _ = writeln!(s, "|---|---|---|---|---|---|");
        }
        let audit: Vec<String> = r.audit.iter().map(|a| format!("#{a}")).collect();
        let _ = writeln!(
            s,
            "| `{}` | {} | {} | {} | {} | {} |",
            r.id,
            r.severity,
            r.impact.map_or("", Impact::label),
            audit.join(" "),
            r.title.replace('|', "\\|"),
            r.hint.replace('|', "\\|")
        );
    }
    let _ = writeln!(s, "\n## The seed plan's seven independent blockers\n");
    let _ = writeln!(
        s,
        "The audit does not enumerate them. Chosen as the BREAKS findings that each, alone, stop the install on current \
         releases, one per layer so none implies another; `fixtures/seed/` (the seed plan's own files) must raise all of them \
         (test `check::tests::seed_plan_raises_all_seven_blockers`):\n"
    );
    for id in SEED_BLOCKERS {
        if let Some(r) = find(id) {
            let _ = writeln!(s, "- `{id}`: {}", r.title);
        }
    }
    let _ = writeln!(s, "\n## Coverage of seed-audit.md section A\n");
    let _ = writeln!(s, "| item | rules |");
    let _ = writeln!(s, "|---|---|");
    for item in 1..=AUDIT_ITEMS {
        let ids: Vec<String> = all().iter().filter(|r| r.audit.contains(&item)).map(|r| format!("`{}`", r.id)).collect();
        let partial = NOT_DETECTABLE.iter().any(|(i, _)| *i == item);
        let cell = match (ids.is_empty(), partial) {
            (true, _) => "not statically detectable (below)".to_owned(),
            (false, true) => format!("{} (partly; see below)", ids.join(" ")),
            (false, false) => ids.join(" "),
        };
        let _ = writeln!(s, "| #{item} | {cell} |");
    }
    let _ = writeln!(s, "\n## Audit items without a static rule\n");
    for (item, why) in NOT_DETECTABLE {
        let _ = writeln!(s, "- #{item}: {why}");
    }
    let _ = writeln!(s, "\n{}", include_str!("../field_test.md").trim_end());
    let _ = writeln!(s, "\n{} rules.", all().len());
    s
}
