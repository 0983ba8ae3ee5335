//! The bottom layer of InfraFlux: everything that can be decided from text
//! alone. Located YAML and its findings, the rule catalogs' common type, the
//! cluster profile and its `PROF-` rules, the suite model and loader, run
//! results, secret handling and the exit-code contract.
//!
//! Nothing here performs network or cluster I/O, so every higher layer
//! (kube, stack, engine, report, cli) can share these types without pulling
//! an async runtime into the parser.

pub mod contract;
pub mod diag;
pub mod exit;
pub mod pins;
pub mod profile;
pub mod results;
pub mod rules;
pub mod secret;
pub mod suite;
pub mod yaml;
