//! InfraFlux: validation and conformance harness for Cilium-based Kubernetes
//! platforms. The `infraflux` binary is a thin clap front over this library.

pub mod cli;
pub mod cluster;
pub mod controlplane;
pub mod bench_tree;
pub mod bgp;
pub mod check;
pub mod diag;
pub mod engine;
pub mod dns;
pub mod exit;
pub mod image;
pub mod lab;
pub mod profile;
pub mod lab_bgpdns;
pub mod report;
pub mod results;
pub mod secret;
pub mod suite;
pub mod stats;
pub mod stack;
pub mod yaml;
