//! Operational commands in scripts and task files.

use crate::diag::Finding;
use crate::diag::Severity::{Error, Warning};
use crate::yaml::Pos;

use super::Impact::{Breaks, Deprecated};
use super::{Rule, rule};
use crate::check::model::{Command, Ctx};

pub(crate) const OPS_001: Rule = rule(
    "OPS-001", "ops", Warning, Deprecated,
    "in-pod `cilium` CLI: renamed `cilium-dbg` in 1.15 (`cilium` is a compatibility alias; `bgp` subcommands are deprecated)",
    "`kubectl -n kube-system exec ds/cilium -c cilium-agent -- cilium-dbg …`; for BGP use cilium-cli `cilium bgp peers`", &[59],
);
pub(crate) const OPS_002: Rule = rule(
    "OPS-002", "ops", Error, Breaks,
    "`wg` is not in the Cilium agent image (no wireguard-tools): command not found",
    "`cilium-dbg status | grep Encryption` or `cilium-dbg debuginfo --output json | jq .encryption`", &[60],
);
pub(crate) const OPS_003: Rule = rule(
    "OPS-003", "ops", Error, Breaks,
    "`kubectl drain --delete-local-data` was removed",
    "--delete-emptydir-data", &[61],
);
pub(crate) const OPS_004: Rule = rule(
    "OPS-004", "ops", Warning, Breaks,
    "manifest applied from a moving branch of a raw GitHub URL (content changes or disappears under you)",
    "pin a release tag, or use `cilium connectivity perf` instead of ad-hoc netperf manifests", &[62],
);

pub(crate) const RULES: &[Rule] = &[OPS_001, OPS_002, OPS_003, OPS_004];

/// The program run inside a pod by `kubectl exec … -- prog args`.
fn exec_program(c: &Command) -> Option<(&str, Pos)> {
    if !c.text.contains("kubectl") || !c.text.contains(" exec") {
        return None;
    }
    let idx = c.text.find(" -- ")?;
    let prog = c.text[idx + 4..].split_whitespace().next()?;
    Some((prog, c.pos))
}

pub(crate) fn check(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    for c in &ctx.commands {
        if let Some((prog, pos)) = exec_program(c) {
            match prog {
                "cilium" => out.push(OPS_001.at(&c.file, pos, "runs `cilium` inside the agent pod")),
                "wg" => out.push(OPS_002.at(&c.file, pos, "runs `wg` inside the agent pod")),
                _ => {}
            }
        }
        if c.text.contains("--delete-local-data") {
            out.push(OPS_003.at(&c.file, c.pos, "uses --delete-local-data"));
        }
        if c.text.contains("kubectl") && c.text.contains("raw.githubusercontent.com") {
            let moving = ["/main/", "/master/", "/HEAD/"].iter().any(|b| c.text.contains(b));
            if moving {
                out.push(OPS_004.at(&c.file, c.pos, "applies a manifest from a moving branch"));
            }
        }
    }
}
