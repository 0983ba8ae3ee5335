//! InfraFlux: validation and conformance harness for Cilium-based Kubernetes
//! platforms. The `infraflux` binary is a thin clap front over this library
//! and the layers below it, re-exported here under their module names:
//!
//! | module | crate | job |
//! |---|---|---|
//! | `yaml`, `diag`, `profile`, `suite`, `results`, `secret`, `exit` | `infraflux-model` | parse and validate, no I/O |
//! | `cluster` | `infraflux-kube` | kube-rs calls |
//! | `stack`, `check` | `infraflux-stack` | render a profile, the static gate |
//! | `engine` | `infraflux-engine` | run suites against a cluster |
//! | `report` | `infraflux-report` | every report file of a run |

pub mod cli;
pub mod image;
pub mod pipeline;
pub mod rules;

pub use infraflux_engine as engine;
pub use infraflux_engine::bgp;
pub use infraflux_kube as cluster;
pub use infraflux_model::{contract, diag, exit, profile, results, secret, suite, yaml};
pub use infraflux_report as report;
pub use infraflux_stack::{self as stack, check};
