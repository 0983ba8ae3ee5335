//! Declarative test suites: the `kind: Suite` model, its loader and the
//! `{{var}}` templating of manifests.
//!
//! Loader rules (every one is a [`crate::diag::Finding`] with a location;
//! the table with titles and hints is [`rules::RULES`]):
//!
//! | rule | meaning |
//! |---|---|
//! | SUITE-000 | suite file or directory unreadable |
//! | SUITE-001 | schema: unknown field or step kind, wrong type, missing field |
//! | SUITE-002 | wrong `apiVersion` / `kind` |
//! | SUITE-003 | unknown feature name in `requires` (with or without `!`) |
//! | SUITE-004 | bad or zero duration |
//! | SUITE-005 | `retries` above the bound |
//! | SUITE-006 | duplicate case name |
//! | SUITE-007 | no cases, or a case without steps |
//! | SUITE-008 | fixture file missing, outside fixtures/, or not YAML |
//! | SUITE-009 | a step or predicate needs exactly one of several fields |
//! | SUITE-010 | invalid JSONPath |
//! | SUITE-011 | invalid regex, CIDR, range/count bound, bgpPeer prefix or http `resolve` address |
//! | SUITE-012 | suite or case name not a DNS label / too long |
//! | SUITE-013 | probe/exec/bgpPeer report names: duplicate, or assert on an unknown report |
//! | SUITE-014 | duplicate suite name across files |
//! | SUITE-015 | empty file or more than one document |
//! | SUITE-016 | applied object lacks apiVersion/kind/metadata.name |
//! | SUITE-017 | unknown or redefined template variable |
//! | SUITE-018 | probe metric on an action without samples, or a bad metric id |
//! | SUITE-019 | a feature both required and excluded (`x` and `"!x"`) |
//! | SUITE-020 | `gatewayConformance`: unknown, repeated or empty `features`, an extended feature under `support: core`, or on a case that does not require `gatewayApi` |
//! | SUITE-021 | probe `baseline`: without `metric`, naming itself, not a metric of the suite, or of another unit or direction |
//! | SUITE-022 | an assertion that restates the case's own requirement (cannot fail) |
//! | SUITE-023 | an `expect: fail` probe with no positive control against the same target |
//! | SUITE-024 | "every node" asserted as a count of at least one |
//! | SUITE-025 | `break`/`breaks`: unknown or unused recipe, empty recipe, missing or bad `failsWith`, `none` without a reason |

pub mod loader;
pub mod model;
pub mod rules;
pub mod template;
pub mod url;

pub use loader::{LoadError, LoadedBreak, LoadedCase, LoadedSuite, load_dir, load_files, load_str};
pub use model::{Feature, Step, Suite};
pub use rules::RULES;
