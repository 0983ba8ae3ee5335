//! Node preparation (Ansible tasks): kernel modules and the kernel floor.

use crate::diag::Finding;
use crate::diag::Severity::{Error, Warning};
use crate::yaml::{Node, Pos};

use super::Impact::{Breaks, Deprecated, Silent};
use super::{Rule, rule};
use crate::check::model::{Ctx, Tasks};

pub(crate) const NODE_001: Rule = rule(
    "NODE-001", "nodeprep", Error, Breaks,
    "`sch_bpf` is not a loadable module on any mainline kernel (`NET_SCH_BPF` is a bool); `modprobe` fails and aborts the play",
    "drop it; load wireguard, xt_socket and xt_TPROXY instead", &[8],
);
pub(crate) const NODE_002: Rule = rule(
    "NODE-002", "nodeprep", Error, Breaks,
    "module list lacks `wireguard`, required for `encryption.type: wireguard` (no userspace fallback since 1.17)",
    "add `wireguard` to the modules loaded on every node", &[8],
);
pub(crate) const NODE_003: Rule = rule(
    "NODE-003", "nodeprep", Warning, Deprecated,
    "module is not a Cilium requirement (xt_bpf, ip_tables, iptable_nat, br_netfilter)",
    "drop it from the Cilium module list", &[8],
);
pub(crate) const NODE_004: Rule = rule(
    "NODE-004", "nodeprep", Warning, Silent,
    "module list lacks xt_socket/xt_TPROXY needed by the L7/FQDN proxy",
    "load xt_socket and xt_TPROXY (or confirm they are built in)", &[8],
);
pub(crate) const NODE_005: Rule = rule(
    "NODE-005", "nodeprep", Warning, Silent,
    "node preparation loads modules but never asserts the kernel is >= 5.10 (Cilium 1.18 minimum)",
    "add an assert on `ansible_kernel is version('5.10', '>=')`", &[8],
);

pub(crate) const RULES: &[Rule] = &[NODE_001, NODE_002, NODE_003, NODE_004, NODE_005];

const MODPROBE_KEYS: &[&str] = &["modprobe", "community.general.modprobe"];

/// Modules a task file loads, with where each is named.
fn modules(t: &Tasks<'_>) -> Vec<(String, Pos)> {
    let mut out = Vec::new();
    for task in &t.tasks {
        let Some(m) = MODPROBE_KEYS.iter().find_map(|k| task.get(k)) else { continue };
        let name_node = m.get("name").or_else(|| m.as_str().map(|_| m));
        let Some(name_node) = name_node else { continue };
        let name = name_node.scalar_text().unwrap_or_default();
        let name = name.strip_prefix("name=").unwrap_or(&name).to_owned();
        if name.contains("item") {
            let list = task.get("loop").or_else(|| task.get("with_items")).and_then(Node::as_seq);
            for item in list.unwrap_or_default() {
                let n = item.get("name").unwrap_or(item);
                if let Some(text) = n.scalar_text() {
                    out.push((text, n.pos));
                }
            }
        } else {
            out.push((name, name_node.pos));
        }
    }
    out
}

pub(crate) fn check(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let wg_wanted = ctx.cilium_values().next().is_none()
        || ctx.cilium_values().any(|v| v.str("encryption.type").as_deref() == Some("wireguard"));
    for t in &ctx.tasks {
        let mods = modules(t);
        if mods.is_empty() {
            continue;
        }
        let file = t.src.path.as_str();
        let first = mods[0].1;
        let has = |m: &str| mods.iter().any(|(n, _)| n == m);
        for (name, pos) in &mods {
            match name.as_str() {
                "sch_bpf" => out.push(NODE_001.at(file, *pos, "`modprobe sch_bpf` fails: no such module")),
                "xt_bpf" | "ip_tables" | "iptable_nat" | "br_netfilter" => {
                    out.push(NODE_003.at(file, *pos, format!("`{name}` is not needed by Cilium")))
                }
                _ => {}
            }
        }
        if wg_wanted && !has("wireguard") {
            out.push(NODE_002.at(file, first, "the module list does not load `wireguard`"));
        }
        let missing: Vec<&str> = ["xt_socket", "xt_TPROXY"].into_iter().filter(|m| !has(m)).collect();
        if !missing.is_empty() {
            out.push(NODE_004.at(file, first, format!("not loaded: {}", missing.join(", "))));
        }
        let asserts_kernel = ctx
            .tasks
            .iter()
            .any(|other| other.src.text.contains("ansible_kernel"));
        if !asserts_kernel {
            out.push(NODE_005.at(file, first, "no kernel version assertion in node preparation"));
        }
    }
}
