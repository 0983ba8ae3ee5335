//! Step kinds whose execution is more than a kube call, one file each.
//! The kube-backed kinds (apply, assert, wait, delete, probe, disrupt) are
//! dispatched in [`crate::kube_backend`].

pub mod bgp;
pub mod dns;
pub mod exec;
