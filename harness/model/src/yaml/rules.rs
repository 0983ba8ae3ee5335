//! The `YAML-` catalog: inputs that are not readable, valid YAML. Every
//! loader (profile, suites, `check`, reports' YAML inputs) reports these
//! through [`crate::diag::Finding::from_yaml_error`].

use crate::rules::{Impact, Rule};

/// A file or directory that cannot be read, or no input at all.
pub const YAML_000: Rule = Rule::error(
    "YAML-000",
    "yaml",
    "input file or directory unreadable, or no checkable input",
    "check that the path exists and is readable",
);

/// Text that is not YAML (syntax error, unknown alias, too large).
pub const YAML_001: Rule = Rule::error(
    "YAML-001",
    "yaml",
    "invalid YAML: syntax error, unknown alias or input too large",
    "fix the YAML syntax at the given position",
);

/// A repeated mapping key. Also in the stack's seed-audit coverage (#5).
pub const YAML_002: Rule = Rule::error(
    "YAML-002",
    "yaml",
    "duplicate mapping key: parsers either reject the file or silently keep only one value",
    "merge the entries into one key (e.g. a single `disable:` list); YAML requires unique keys and parsers disagree on which one wins",
)
.audited(Impact::Silent, &[5]);

/// Input that is not text a YAML parser should be given: not a regular
/// file, larger than the input bound, not UTF-8, or nested deeper than
/// any manifest is (every reader recurses over the tree).
pub const YAML_003: Rule = Rule::error(
    "YAML-003",
    "yaml",
    "input refused by a bound: not a regular file, too large, not UTF-8, or nested too deep",
    "give a regular UTF-8 file of sane size and nesting (at most 256 levels, 256 MiB)",
);

/// The catalog, in id order.
pub const RULES: &[Rule] = &[YAML_000, YAML_001, YAML_002, YAML_003];
