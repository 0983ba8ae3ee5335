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
//! | `provision` | `infraflux-provision` | where the cluster comes from (`existing` today) |
//! | `install` | `infraflux-install` | the install pipeline behind `up`, `down` and `conform` |

pub mod cli;
pub mod conform;
pub mod gitops_cmd;
pub mod image;
pub mod install_cmd;
pub mod pipeline;
pub mod rules;

pub use infraflux_engine as engine;
pub use infraflux_engine::bgp;
pub use infraflux_kube as cluster;
pub use infraflux_install as install;
pub use infraflux_provision as provision;
pub use infraflux_model::{contract, diag, exit, profile, results, secret, suite, yaml};
pub use infraflux_report as report;
pub use infraflux_stack::{self as stack, check};
