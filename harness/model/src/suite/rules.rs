//! The `SUITE-NNN` catalog: every rule the suite loader emits, with a title
//! and a general hint. Loader call sites give a hint specific to the field;
//! the table's hint is what `check --rules` and suites/README.md show. A test
//! keeps the table and the ids in loader.rs equal.

use crate::rules::Rule;

const AREA: &str = "suite";

pub const SUITE_000: Rule = Rule::error(
    "SUITE-000",
    AREA,
    "suite file or directory unreadable",
    "pass an existing, readable directory or file with --suites",
);
pub const SUITE_001: Rule = Rule::error(
    "SUITE-001",
    AREA,
    "schema: unknown field or step kind, wrong type, missing field",
    "fix the field against the suite schema in suites/README.md",
);
pub const SUITE_002: Rule = Rule::error(
    "SUITE-002",
    AREA,
    "wrong `apiVersion` / `kind`",
    "set `apiVersion: infraflux.io/v1alpha1` and `kind: Suite`",
);
pub const SUITE_003: Rule = Rule::error(
    "SUITE-003",
    AREA,
    "unknown feature name in `requires` (with or without `!`)",
    "use a feature name from suites/README.md, optionally prefixed with `!`",
);
pub const SUITE_004: Rule = Rule::error(
    "SUITE-004",
    AREA,
    "bad or zero duration",
    "write durations as `500ms`, `30s`, `2m` or `1h`, greater than zero",
);
pub const SUITE_005: Rule = Rule::error(
    "SUITE-005",
    AREA,
    "`retries` above the bound",
    "fix the flake instead of retrying it; retries are bounded so flakes stay visible",
);
pub const SUITE_006: Rule = Rule::error(
    "SUITE-006",
    AREA,
    "duplicate case name",
    "case names must be unique within a suite; they form the case id",
);
pub const SUITE_007: Rule = Rule::error(
    "SUITE-007",
    AREA,
    "no cases, or a case without steps",
    "give the suite at least one case and every case at least one step",
);
pub const SUITE_008: Rule = Rule::error(
    "SUITE-008",
    AREA,
    "fixture file missing, outside fixtures/, or not YAML",
    "point `apply.file` at an existing YAML file under fixtures/",
);
pub const SUITE_009: Rule = Rule::error(
    "SUITE-009",
    AREA,
    "a step or predicate needs exactly one of several fields",
    "set exactly one of the alternatives the message lists",
);
pub const SUITE_010: Rule = Rule::error(
    "SUITE-010",
    AREA,
    "invalid JSONPath",
    "write an RFC 9535 JSONPath such as `$.status.phase`",
);
pub const SUITE_011: Rule = Rule::error(
    "SUITE-011",
    AREA,
    "invalid regex, CIDR, range/count bound, bgpPeer prefix or http `resolve` address",
    "fix the value as the message says (regex syntax, a CIDR like 10.0.0.0/8, min <= max, an IP address)",
);
pub const SUITE_012: Rule = Rule::error(
    "SUITE-012",
    AREA,
    "suite or case name not a DNS label / too long",
    "use 1-63 characters from a-z, 0-9 and `-`, not starting or ending with `-`",
);
pub const SUITE_013: Rule = Rule::error(
    "SUITE-013",
    AREA,
    "probe/exec/bgpPeer report names: duplicate, or assert on an unknown report",
    "give every report a unique name in its case and assert only on reports an earlier step produced",
);
pub const SUITE_014: Rule = Rule::error(
    "SUITE-014",
    AREA,
    "duplicate suite name across files",
    "give every suite a unique metadata.name; it prefixes every case id",
);
pub const SUITE_015: Rule = Rule::error(
    "SUITE-015",
    AREA,
    "empty file or more than one document",
    "write exactly one `kind: Suite` document per file",
);
pub const SUITE_016: Rule = Rule::error(
    "SUITE-016",
    AREA,
    "applied object lacks apiVersion/kind/metadata.name",
    "give every applied object apiVersion, kind and metadata.name",
);
pub const SUITE_017: Rule = Rule::error(
    "SUITE-017",
    AREA,
    "unknown or redefined template variable",
    "use only the template variables suites/README.md lists, and define each `vars` entry once",
);
pub const SUITE_018: Rule = Rule::error(
    "SUITE-018",
    AREA,
    "probe metric on an action without samples, or a bad metric id",
    "attach metrics only to probes that produce samples, with ids of lowercase letters, digits, `.`, `_` and `-`",
);
pub const SUITE_019: Rule = Rule::error(
    "SUITE-019",
    AREA,
    "a feature both required and excluded (`x` and `\"!x\"`)",
    "keep either `x` or `\"!x\"`; the case could never run",
);

pub const SUITE_020: Rule = Rule::error(
    "SUITE-020",
    AREA,
    "bad `gatewayConformance`: unknown or repeated feature, empty list, extended feature under `support: core`, or a case without `gatewayApi`",
    "list upstream GATEWAY-HTTP feature names once each, with `support: extended` for extended ones, on cases that require `gatewayApi`",
);
pub const SUITE_021: Rule = Rule::error(
    "SUITE-021",
    AREA,
    "bad perf `baseline`: no `metric`, the probe's own metric, not a metric of this suite, or another unit or direction",
    "name another metric this suite records, of the same unit and direction",
);

pub const SUITE_022: Rule = Rule::error(
    "SUITE-022",
    AREA,
    "an assertion that restates the case's own requirement: it checks the cilium-config key that detects a feature the case requires, so it cannot fail",
    "assert what the feature does (a probe, a status), or drop the requirement so the assertion can fail",
);
pub const SUITE_023: Rule = Rule::error(
    "SUITE-023",
    AREA,
    "a negative probe (`expect: fail`) without a positive control: no probe of the same case reaches the same target first",
    "probe the same target with `expect: ok` before the change that should block it, or say why none can exist with `noControl: <reason>`",
);
pub const SUITE_024: Rule = Rule::error(
    "SUITE-024",
    AREA,
    "a count for every node asserted as at least one",
    "compare with the node count: `count: {equals: \"{{nodeCount}}\"}` or `min: \"{{nodeCount}}\"`",
);
pub const SUITE_025: Rule = Rule::error(
    "SUITE-025",
    AREA,
    "bad `break` or `breaks`: unknown or unused recipe, a recipe that changes nothing, no `failsWith` (or a bad regex), or `none` without a reason",
    "write `break: {recipe: <a key of the suite's breaks>, failsWith: <regex of the expected failure>}` or `break: {none: <why it cannot be broken here>}`",
);

/// The catalog, in id order.
pub const RULES: &[Rule] = &[
    SUITE_000, SUITE_001, SUITE_002, SUITE_003, SUITE_004, SUITE_005, SUITE_006, SUITE_007, SUITE_008,
    SUITE_009, SUITE_010, SUITE_011, SUITE_012, SUITE_013, SUITE_014, SUITE_015, SUITE_016, SUITE_017,
    SUITE_018, SUITE_019, SUITE_020, SUITE_021, SUITE_022, SUITE_023, SUITE_024, SUITE_025,
];

#[cfg(test)]
mod tests {
    use super::RULES;
    use crate::rules::ids_in;

    #[test]
    fn the_table_and_the_loader_name_the_same_rules() {
        let table: Vec<String> = RULES.iter().map(|r| r.id.replace('-', "_")).collect();
        let mut sorted = table.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(table, sorted, "SUITE ids must be unique and in order");
        for r in RULES {
            assert_eq!(r.area, "suite");
            assert!(!r.title.is_empty() && !r.hint.is_empty(), "{} lacks text", r.id);
        }
        // The loader names rules only through these constants, never by a
        // string literal, so an id cannot be emitted without a table entry.
        let loader = [
            include_str!("loader/mod.rs"),
            include_str!("loader/apply.rs"),
            include_str!("loader/assert.rs"),
            include_str!("loader/bgp.rs"),
            include_str!("loader/disrupt.rs"),
            include_str!("loader/dns.rs"),
            include_str!("loader/exec.rs"),
            include_str!("loader/probe.rs"),
            include_str!("loader/wait.rs"),
            include_str!("loader/lints.rs"),
            include_str!("loader/breaks.rs"),
        ]
        .concat();
        assert!(ids_in(&loader, "SUITE-").is_empty(), "the loader spells a SUITE id as a literal");
        let mut emitted = ids_in(&loader, "SUITE_");
        emitted.sort();
        emitted.dedup();
        assert_eq!(emitted, table, "ids emitted by the loader vs the SUITE table");
    }
}
