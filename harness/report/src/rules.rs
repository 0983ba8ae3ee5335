//! The `REPORT-NNN` catalog: inputs of `infraflux report` / `compare` that
//! cannot be used (a results.json, a baseline, compare options). Call sites
//! build their findings from these entries (with a hint specific to the
//! field); a test keeps the table and the ids used in the sources equal.

use infraflux_model::rules::Rule;

const AREA: &str = "report";

pub const REPORT_001: Rule = Rule::error(
    "REPORT-001",
    AREA,
    "results.json is not JSON or not the results model",
    "the file must be a results.json written by `infraflux run`; restore it or re-run",
);
pub const REPORT_002: Rule = Rule::error(
    "REPORT-002",
    AREA,
    "unsupported or missing results schema id",
    "re-render the run with the infraflux version that wrote it, or re-run",
);
pub const REPORT_003: Rule = Rule::error(
    "REPORT-003",
    AREA,
    "`startedAt` is not an RFC 3339 timestamp",
    "use UTC RFC 3339, e.g. 2026-01-02T03:04:05Z",
);
pub const REPORT_004: Rule = Rule::error(
    "REPORT-004",
    AREA,
    "perf series has a non-finite sample",
    "drop samples the benchmark could not measure instead of recording NaN or infinity",
);
pub const REPORT_005: Rule = Rule::error(
    "REPORT-005",
    AREA,
    "perf metric id appears more than once",
    "give each perf series a unique metric id, or merge the samples into one series",
);
pub const REPORT_006: Rule = Rule::error(
    "REPORT-006",
    AREA,
    "case id appears more than once",
    "a case is reported once; retries are counted in `attempts`",
);
pub const REPORT_010: Rule = Rule::error(
    "REPORT-010",
    AREA,
    "no results file at the given run directory",
    "point at a run directory written by `infraflux run` (it contains results.json)",
);
pub const REPORT_011: Rule = Rule::error(
    "REPORT-011",
    AREA,
    "no baseline runs at the given path",
    "pass a run directory (containing results.json) or a directory of run directories",
);
pub const REPORT_020: Rule = Rule::error(
    "REPORT-020",
    AREA,
    "compare options out of range (threshold, confidence level, history)",
    "use a non-negative threshold fraction (0.05 = 5%), a level in (0, 1) and a positive history",
);

/// The catalog, in id order.
pub const RULES: &[Rule] =
    &[REPORT_001, REPORT_002, REPORT_003, REPORT_004, REPORT_005, REPORT_006, REPORT_010, REPORT_011, REPORT_020];

#[cfg(test)]
mod tests {
    use super::RULES;
    use infraflux_model::rules::ids_in;

    #[test]
    fn the_table_and_the_sources_name_the_same_rules() {
        let table: Vec<String> = RULES.iter().map(|r| r.id.replace('-', "_")).collect();
        let mut sorted = table.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(table, sorted, "REPORT ids must be unique and in order");
        let sources = [include_str!("input.rs"), include_str!("baseline.rs"), include_str!("compare.rs")];
        let mut emitted = Vec::new();
        for src in sources {
            // Tests may assert on an id string; findings use the constants.
            let code = src.split("#[cfg(test)]").next().unwrap_or(src);
            let code: String = code.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n");
            assert!(ids_in(&code, "REPORT-").is_empty(), "a finding spells a REPORT id as a literal");
            emitted.extend(ids_in(&code, "REPORT_"));
        }
        emitted.sort();
        emitted.dedup();
        assert_eq!(emitted, table, "ids used by the report sources vs the REPORT table");
    }
}
