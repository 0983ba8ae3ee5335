//! Terraform files (scanned as text: provider pins, references, duplicates).

use std::net::Ipv4Addr;
use std::sync::OnceLock;

use ipnet::Ipv4Net;

use crate::diag::Finding;
use crate::diag::Severity::{Error, Warning};
use crate::yaml::Pos;

use super::Impact::{Breaks, Deprecated, Silent};
use super::{Rule, rule};
use crate::check::model::Ctx;

pub(crate) const TF_001: Rule = rule(
    "TF-001", "terraform", Warning, Deprecated,
    "Cloudflare provider pinned to v4; v5 is the maintained line (cloudflare_api_token changed shape)",
    "move to `~> 5.13` (tf-migrate) with `policies = [{…}]` and the permission_groups_list data source", &[9],
);
pub(crate) const TF_002: Rule = rule(
    "TF-002", "terraform", Error, Breaks,
    "reference to a data source that is never declared (\"Reference to undeclared resource\")",
    "declare the data source, or reference the one that exists", &[10],
);
pub(crate) const TF_003: Rule = rule(
    "TF-003", "terraform", Error, Breaks,
    "permission groups are keyed by names such as \"DNS Write\", not `Zone:DNS:Edit`",
    "look the group up by its name (v5: data cloudflare_api_token_permission_groups_list)", &[10],
);
pub(crate) const TF_004: Rule = rule(
    "TF-004", "terraform", Warning, Deprecated,
    "telmate/proxmox 2.x is outdated; 3.x changed network/disk blocks",
    "pin 3.0.x and update network { id = 0 … } and the disk layout", &[12],
);
pub(crate) const TF_005: Rule = rule(
    "TF-005", "terraform", Error, Breaks,
    "the same resource address is declared twice (\"Duplicate resource configuration\")",
    "keep one declaration; extend it instead of redeclaring", &[12],
);

pub(crate) const TF_006: Rule = rule(
    "TF-006", "terraform", Warning, Silent,
    "the Terraform LB range does not match the LB-IPAM pools in the manifests",
    "derive both from one value (the profile's loadBalancer pools)", &[13],
);

pub(crate) const RULES: &[Rule] = &[TF_001, TF_002, TF_003, TF_004, TF_005, TF_006];

fn re(cell: &'static OnceLock<Option<regex::Regex>>, p: &str) -> Option<&'static regex::Regex> {
    super::regex(cell, p)
}

fn pos_of(text: &str, byte: usize) -> Pos {
    let before = &text[..byte];
    let line = before.matches('\n').count() as u32 + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) as u32 + 1;
    Pos { line, col }
}

pub(crate) fn check(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    static DECL: OnceLock<Option<regex::Regex>> = OnceLock::new();
    static REF: OnceLock<Option<regex::Regex>> = OnceLock::new();
    static RES: OnceLock<Option<regex::Regex>> = OnceLock::new();
    static PERM: OnceLock<Option<regex::Regex>> = OnceLock::new();
    static PIN: OnceLock<Option<regex::Regex>> = OnceLock::new();
    let files: Vec<_> = ctx.terraform().collect();
    if files.is_empty() {
        return;
    }
    let mut declared: Vec<(String, String)> = Vec::new();
    let mut resources: Vec<(String, String, String, Pos)> = Vec::new();
    for f in &files {
        for c in re(&DECL, r#"(?m)^\s*data\s+"([^"]+)"\s+"([^"]+)""#).into_iter().flat_map(|r| r.captures_iter(&f.text)) {
            declared.push((c[1].to_owned(), c[2].to_owned()));
        }
        for c in re(&RES, r#"(?m)^\s*resource\s+"([^"]+)"\s+"([^"]+)""#).into_iter().flat_map(|r| r.captures_iter(&f.text)) {
            let at = c.get(0).map_or(0, |m| m.start() + (m.as_str().len() - m.as_str().trim_start().len()));
            resources.push((c[1].to_owned(), c[2].to_owned(), f.path.clone(), pos_of(&f.text, at)));
        }
    }
    for (i, (t, n, file, pos)) in resources.iter().enumerate() {
        if let Some((_, _, first, _)) = resources[..i].iter().find(|(t2, n2, _, _)| t2 == t && n2 == n) {
            out.push(TF_005.at(file, *pos, format!("resource \"{t}\" \"{n}\" is also declared in {first}")));
        }
    }
    static RANGE: OnceLock<Option<regex::Regex>> = OnceLock::new();
    let pools = pool_span(ctx);
    for f in &files {
        let Some(pools) = pools else { break };
        for c in re(&RANGE, r#"lb_ip_range\s*=\s*"(\d+\.\d+\.\d+\.\d+)-(\d+\.\d+\.\d+\.\d+)""#)
            .into_iter()
            .flat_map(|r| r.captures_iter(&f.text))
        {
            let (Ok(a), Ok(b)) = (c[1].parse::<Ipv4Addr>(), c[2].parse::<Ipv4Addr>()) else { continue };
            if (u32::from(a), u32::from(b)) != pools {
                let at = c.get(1).map_or(0, |m| m.start());
                out.push(TF_006.at(
                    &f.path,
                    pos_of(&f.text, at),
                    format!(
                        "lb_ip_range {a}-{b} but the pools span {}-{}",
                        Ipv4Addr::from(pools.0),
                        Ipv4Addr::from(pools.1)
                    ),
                ));
            }
        }
    }
    for f in &files {
        for c in re(&REF, r"\bdata\.([a-z0-9_]+)\.([a-z0-9_]+)").into_iter().flat_map(|r| r.captures_iter(&f.text)) {
            if !declared.iter().any(|(t, n)| *t == c[1] && *n == c[2]) {
                let at = c.get(0).map_or(0, |m| m.start());
                out.push(TF_002.at(&f.path, pos_of(&f.text, at), format!("data.{}.{} is not declared", &c[1], &c[2])));
            }
        }
        for m in re(&PERM, r#"\["[A-Za-z]+:[A-Za-z]+:[A-Za-z]+"\]"#).into_iter().flat_map(|r| r.find_iter(&f.text)) {
            out.push(TF_003.at(&f.path, pos_of(&f.text, m.start()), format!("`{}` is not a permission-group key", m.as_str())));
        }
        for c in re(&PIN, r#"source\s*=\s*"([^"]+)"\s*\n\s*version\s*=\s*"([^"]+)""#)
            .into_iter()
            .flat_map(|r| r.captures_iter(&f.text))
        {
            let at = c.get(2).map_or(0, |m| m.start());
            let ver = c[2].trim_start_matches(['~', '>', '=', ' ']);
            if &c[1] == "cloudflare/cloudflare" && ver.starts_with('4') {
                out.push(TF_001.at(&f.path, pos_of(&f.text, at), format!("cloudflare provider `{}`", &c[2])));
            }
            if c[1].eq_ignore_ascii_case("telmate/proxmox") && ver.starts_with('2') {
                out.push(TF_004.at(&f.path, pos_of(&f.text, at), format!("telmate/proxmox `{}`", &c[2])));
            }
        }
    }
}

/// First and last address over every LB pool block in the inputs.
fn pool_span(ctx: &Ctx<'_>) -> Option<(u32, u32)> {
    let mut span: Option<(u32, u32)> = None;
    for p in ctx.objects.iter().filter(|o| o.kind == "CiliumLoadBalancerIPPool") {
        for list in ["spec.blocks", "spec.cidrs"] {
            for b in p.get(list).and_then(crate::yaml::Node::as_seq).unwrap_or_default() {
                let text = |k: &str| b.get(k).and_then(crate::yaml::Node::scalar_text);
                let range = if let Some(net) = text("cidr").and_then(|c| c.parse::<Ipv4Net>().ok()) {
                    Some((u32::from(net.network()), u32::from(net.broadcast())))
                } else {
                    match (text("start").and_then(|s| s.parse::<Ipv4Addr>().ok()), text("stop").and_then(|s| s.parse::<Ipv4Addr>().ok())) {
                        (Some(a), Some(z)) => Some((u32::from(a), u32::from(z))),
                        _ => None,
                    }
                };
                if let Some((a, z)) = range {
                    span = Some(span.map_or((a, z), |(x, y)| (x.min(a), y.max(z))));
                }
            }
        }
    }
    span
}
