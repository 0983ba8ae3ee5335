//! InfraFlux: validation and conformance harness for Cilium-based Kubernetes
//! platforms. The `infraflux` binary is a thin clap front over this library.

pub mod check;
pub mod diag;
pub mod exit;
pub mod profile;
pub mod results;
pub mod secret;
pub mod stack;
pub mod yaml;
