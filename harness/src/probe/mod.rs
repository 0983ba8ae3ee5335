//! Probes that run from the harness process (or a thread placed in a lab
//! namespace) against a service, independent of the in-cluster agent.

pub mod downtime;
