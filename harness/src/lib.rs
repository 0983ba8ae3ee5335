//! InfraFlux: validation and conformance harness for Cilium-based Kubernetes
//! platforms. The `infraflux` binary is a thin clap front over this library.

pub mod cli;
pub mod cluster;
pub mod controlplane;
pub mod diag;
pub mod engine;
pub mod exit;
pub mod profile;
pub mod results;
pub mod secret;
pub mod suite;
pub mod yaml;
