//! InfraFlux: validation and conformance harness for Cilium-based Kubernetes
//! platforms. The `infraflux` binary is a thin clap front over this library.

pub mod diag;
pub mod exit;
pub mod image;
pub mod lab;
pub mod probe;
pub mod results;
pub mod secret;
pub mod yaml;
