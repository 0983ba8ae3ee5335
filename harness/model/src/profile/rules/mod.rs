//! Semantic profile rules (`PROF-NNN`).
//!
//! [`validate`] runs every rule and returns all findings at once, each at
//! the position of the field that has to change. The catalog ([`rules`]) is
//! the single list of rule ids, titles and hints that `check --rules` and
//! docs/profile.md show; every id used here is in it (a unit test checks).
//! Each submodule owns one area of the profile.

mod addr;
mod bgp;
mod budgets;
mod catalog;
mod cluster;
mod dns;
mod gateway;
mod install;
mod pools;
mod proxmox;
mod secrets;
mod selector;
mod unique;
mod versions;

pub use catalog::{RULES, rules};
pub(crate) use secrets::inline_secrets;
pub use install::registry_problem;
pub use proxmox::fingerprint_problem;

use super::load::Loaded;
use crate::diag::{Finding, Severity};
use crate::yaml::{Node, Pos};
use catalog::hint_of;

/// Runs every rule; returns all findings, sorted by position.
pub fn validate(loaded: &Loaded) -> Vec<Finding> {
    let mut cx = Cx {
        file: &loaded.file,
        root: &loaded.root,
        out: Vec::new(),
    };
    let p = &loaded.profile;
    let nets = addr::addresses(&mut cx, p);
    addr::overlaps(&mut cx, p, &nets);
    pools::pools(&mut cx, p, &nets);
    bgp::bgp(&mut cx, p, &nets);
    cluster::routing(&mut cx, p, &nets);
    cluster::features(&mut cx, p);
    cluster::control_plane(&mut cx, p);
    versions::versions(&mut cx, p);
    dns::dns(&mut cx, p, &nets);
    gateway::coverage(&mut cx, p);
    unique::duplicates(&mut cx, p);
    secrets::secret_refs(&mut cx, p);
    budgets::budgets(&mut cx, p);
    install::install(&mut cx, p);
    proxmox::proxmox(&mut cx, p);
    let mut out = cx.out;
    crate::diag::sort(&mut out);
    out
}

/// What provisioning with the profile's provider needs beyond [`validate`]
/// (PROF-041: `proxmoxRke2` without `caFile`/`fingerprint` or `ssh`). Not
/// part of `check`: a profile that is only rendered, or run against an
/// existing cluster, need not say how to reach VMs.
/// `creating` is false for `down`, which only needs to reach the API (so
/// the SSH identity is not required to remove VMs).
pub fn provisioning(loaded: &Loaded, creating: bool) -> Vec<Finding> {
    let mut cx = Cx {
        file: &loaded.file,
        root: &loaded.root,
        out: Vec::new(),
    };
    proxmox::provisioning(&mut cx, &loaded.profile, creating);
    let mut out = cx.out;
    crate::diag::sort(&mut out);
    out
}

pub(super) struct Cx<'a> {
    pub(super) file: &'a str,
    pub(super) root: &'a Node,
    pub(super) out: Vec<Finding>,
}

impl Cx<'_> {
    /// Position of `path`, or of its nearest existing ancestor (an absent
    /// optional field is reported at its parent).
    pub(super) fn pos(&self, path: &str) -> Pos {
        let mut p = path;
        loop {
            if let Some(n) = self.root.lookup(p) {
                return n.pos;
            }
            match p.rfind(['.', '[']) {
                Some(i) => p = &p[..i],
                None => return self.root.pos,
            }
        }
    }

    pub(super) fn push(&mut self, rule: &str, path: &str, message: impl Into<String>) {
        self.push_sev(rule, Severity::Error, path, message);
    }

    pub(super) fn push_sev(
        &mut self,
        rule: &str,
        sev: Severity,
        path: &str,
        message: impl Into<String>,
    ) {
        let pos = self.pos(path);
        let f = Finding::new(rule, sev, message, hint_of(rule))
            .at_pos(self.file, pos)
            .with_path(path);
        self.out.push(f);
    }
}

#[cfg(test)]
mod tests;
