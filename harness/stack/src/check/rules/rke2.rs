//! RKE2 server/agent config and the template remnants that break it.

use std::sync::OnceLock;

use regex::Regex;

use crate::diag::Finding;
use crate::diag::Severity::{Error, Warning};
use crate::yaml::Pos;

use super::Impact::{Breaks, Silent};
use super::{Rule, rule};
use crate::check::input::{Format, placeholder_name};
use crate::check::model::{Chart, Ctx, Rke2};

pub(crate) const TPL_001: Rule = rule(
    "TPL-001", "template", Error, Breaks,
    "`{ {` … `} }` is not Jinja: it is written out literally and becomes a YAML mapping keyed by a mapping",
    "write `\"{{ var }}\"` (no space between the braces, quoted so YAML keeps it a string)", &[1],
);
pub(crate) const RKE2_002: Rule = rule(
    "RKE2-002", "rke2", Error, Breaks,
    "`disable:` lists a CNI chart; RKE2 selects the CNI with `cni:`, so the CNI is still deployed",
    "remove it from `disable` and set `cni: none` (install Cilium before Flux) or `cni: cilium`", &[2],
);
pub(crate) const RKE2_003: Rule = rule(
    "RKE2-003", "rke2", Error, Breaks,
    "`disable: rke2-coredns` removes cluster DNS; Cilium's DNS proxy is not a DNS server",
    "keep rke2-coredns (optionally nodelocal with `use_cilium_lrp: true`)", &[3],
);
pub(crate) const RKE2_004: Rule = rule(
    "RKE2-004", "rke2", Error, Breaks,
    "`disable: rke2-kube-proxy` is not a valid item; current RKE2 runs kube-proxy as a static pod",
    "use `disable-kube-proxy: true` (identical on all servers)", &[4],
);
pub(crate) const RKE2_005: Rule = rule(
    "RKE2-005", "rke2", Error, Breaks,
    "`kube-proxy-arg` sets an invalid proxy mode (valid: iptables, ipvs, nftables); it does not disable kube-proxy",
    "drop `kube-proxy-arg` and set `disable-kube-proxy: true`", &[4],
);
pub(crate) const RKE2_006: Rule = rule(
    "RKE2-006", "rke2", Warning, Breaks,
    "`*-arg` entry written with a leading `--`; RKE2 adds the dashes itself",
    "write `name=value` without the leading `--`", &[4],
);
pub(crate) const RKE2_007: Rule = rule(
    "RKE2-007", "rke2", Error, Breaks,
    "`disable:` item is not a packaged component RKE2 can disable",
    "valid items: rke2-coredns, rke2-metrics-server, rke2-snapshot-controller, rke2-snapshot-controller-crd, rke2-snapshot-validation-webhook", &[2, 4],
);
pub(crate) const RKE2_008: Rule = rule(
    "RKE2-008", "rke2", Error, Breaks,
    "server config does not select Cilium: without `cni: none|cilium` RKE2 deploys its default CNI",
    "set `cni: none` and install Cilium before Flux, or `cni: cilium` with a HelmChartConfig", &[2, 7],
);
pub(crate) const RKE2_009: Rule = rule(
    "RKE2-009", "rke2", Error, Breaks,
    "kube-proxy keeps running: the stack replaces it with Cilium but the server config lacks `disable-kube-proxy: true`",
    "add `disable-kube-proxy: true` to every server config", &[4],
);
pub(crate) const RKE2_010: Rule = rule(
    "RKE2-010", "rke2", Warning, Silent,
    "bundled ingress controller not disabled: Traefik (v1.36+) or ingress-nginx binds hostPorts 80/443 next to the Gateway",
    "add `ingress-controller: none`", &[6],
);
pub(crate) const RKE2_011: Rule = rule(
    "RKE2-011", "rke2", Warning, Silent,
    "the address nodes join through (`server:`) is not in `tls-san`, so the API certificate does not cover it",
    "add `tls-san: [\"<vip>\"]` on every server", &[6],
);
pub(crate) const RKE2_012: Rule = rule(
    "RKE2-012", "rke2", Warning, Silent,
    "server template always renders `server:`; the first server must not carry it",
    "wrap `server:` in `{% if not first_server %}…{% endif %}` (only joining servers set server/token)", &[6],
);
pub(crate) const RKE2_013: Rule = rule(
    "RKE2-013", "rke2", Error, Breaks,
    "Cilium is only installed by Flux on a cluster that starts without a CNI: nodes stay NotReady and Flux never schedules",
    "install Cilium before Flux (`cni: cilium` + HelmChartConfig, or `helm install cilium -n kube-system` from the installer), then let Flux adopt it", &[7],
);

pub(crate) const RULES: &[Rule] = &[
    TPL_001, RKE2_002, RKE2_003, RKE2_004, RKE2_005, RKE2_006, RKE2_007, RKE2_008, RKE2_009,
    RKE2_010, RKE2_011, RKE2_012, RKE2_013,
];

const VALID_DISABLE: &[&str] = &[
    "rke2-coredns", "rke2-metrics-server", "rke2-snapshot-controller",
    "rke2-snapshot-controller-crd", "rke2-snapshot-validation-webhook",
];
const CNI_CHARTS: &[&str] = &["rke2-canal", "rke2-calico", "rke2-cilium", "rke2-flannel", "rke2-multus"];

fn brace_space() -> Option<&'static Regex> {
    static RE: OnceLock<Option<Regex>> = OnceLock::new();
    super::regex(&RE, r"\{\s+\{[^{}\n]*\}\s+\}")
}

pub(crate) fn check(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    for src in ctx.sources {
        if !matches!(src.format, Format::Yaml | Format::Template) {
            continue;
        }
        for (i, line) in src.text.lines().enumerate() {
            for m in brace_space().into_iter().flat_map(|re| re.find_iter(line)) {
                let col = line[..m.start()].chars().count() as u32 + 1;
                out.push(TPL_001.at(
                    &src.path,
                    Pos { line: i as u32 + 1, col },
                    format!("`{}` is not a Jinja expression", m.as_str()),
                ));
            }
        }
    }
    let kpr_wanted = ctx
        .cilium_values()
        .any(|v| matches!(v.str("kubeProxyReplacement").as_deref(), Some("true" | "strict")));
    for cfg in &ctx.rke2 {
        check_config(ctx, cfg, kpr_wanted, out);
    }
}

fn check_config(ctx: &Ctx<'_>, cfg: &Rke2<'_>, kpr_wanted: bool, out: &mut Vec<Finding>) {
    let file = cfg.src.path.as_str();
    let mut kube_proxy_removal_attempted = false;
    for (item, pos) in cfg.items("disable") {
        if CNI_CHARTS.contains(&item.as_str()) {
            out.push(RKE2_002.at(file, pos, format!("`{item}` in `disable` does not remove the CNI")));
        } else if item == "rke2-coredns" {
            out.push(RKE2_003.at(file, pos, "disabling rke2-coredns breaks every *.svc lookup"));
        } else if item == "rke2-kube-proxy" {
            kube_proxy_removal_attempted = true;
            out.push(RKE2_004.at(file, pos, "`rke2-kube-proxy` is not a valid `disable` item"));
        } else if !VALID_DISABLE.contains(&item.as_str()) {
            out.push(RKE2_007.at(file, pos, format!("`{item}` is not a component RKE2 can disable")));
        }
    }
    for (arg, pos) in cfg.items("kube-proxy-arg") {
        let bare = arg.trim_start_matches('-');
        if let Some(mode) = bare.strip_prefix("proxy-mode=") {
            kube_proxy_removal_attempted |= mode == "disabled" || mode == "none";
            if !["iptables", "ipvs", "nftables"].contains(&mode) {
                out.push(RKE2_005.at(file, pos, format!("`{mode}` is not a kube-proxy mode")));
            }
        }
    }
    if let Some(map) = cfg.root.as_map() {
        for (k, v) in map {
            let key = k.scalar_text().unwrap_or_default();
            if !key.ends_with("-arg") {
                continue;
            }
            for (arg, pos) in cfg.items(&key) {
                if arg.starts_with("--") {
                    out.push(RKE2_006.at(file, pos, format!("`{key}` entry `{arg}` starts with `--`")));
                }
            }
            let _ = v;
        }
    }
    if !cfg.is_server() {
        return;
    }
    let cni = cfg.all("cni").first().and_then(|(_, v)| v.scalar_text());
    let cni_pos = cfg.all("cni").first().map_or(cfg.root.pos, |(_, v)| v.pos);
    match cni.as_deref() {
        Some("none" | "cilium") => {}
        Some(other) => out.push(RKE2_008.at(file, cni_pos, format!("`cni: {other}` deploys a CNI other than Cilium"))),
        None => out.push(RKE2_008.at(file, cfg.root.pos, "no `cni:` key: RKE2 deploys Canal")),
    }
    let kp_disabled = cfg
        .all("disable-kube-proxy")
        .first()
        .is_some_and(|(_, v)| v.as_bool() == Some(true) || v.as_str() == Some("true"));
    if !kp_disabled && (kpr_wanted || kube_proxy_removal_attempted) {
        out.push(RKE2_009.at(
            file,
            cfg.root.pos,
            if kube_proxy_removal_attempted {
                "kube-proxy removal is attempted through invalid options; `disable-kube-proxy: true` is missing"
            } else {
                "Cilium runs with kubeProxyReplacement but `disable-kube-proxy: true` is missing"
            },
        ));
    }
    let ingress_none = cfg
        .all("ingress-controller")
        .first()
        .and_then(|(_, v)| v.scalar_text())
        .is_some_and(|v| v == "none");
    if !ingress_none {
        out.push(RKE2_010.at(file, cfg.root.pos, "`ingress-controller: none` is missing"));
    }
    if let Some((server_key, server)) = cfg.all("server").first().copied() {
        let url = server.scalar_text().unwrap_or_default();
        let host = url
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .split([':', '/'])
            .next()
            .unwrap_or("")
            .to_owned();
        let sans: Vec<String> = cfg.items("tls-san").into_iter().map(|(s, _)| s).collect();
        let covered = sans.iter().any(|s| placeholder_name(s) == placeholder_name(&host));
        if !covered {
            out.push(RKE2_011.at(file, server.pos, format!("join address `{url}` is not covered by `tls-san`")));
        }
        if cfg.src.format == Format::Template && !cfg.src.is_guarded(server_key.pos.line) {
            out.push(RKE2_012.at(file, server_key.pos, "`server:` is rendered on every server, including the first"));
        }
    }
    if matches!(cni.as_deref(), Some("none") | None) && cilium_only_from_flux(ctx) {
        out.push(RKE2_013.at(
            file,
            cni_pos,
            "the cluster starts without a CNI and the only Cilium install is a Flux HelmRelease",
        ));
    }
}

/// A Cilium HelmRelease exists and nothing installs Cilium before Flux: no
/// `rke2-cilium` HelmChartConfig, no `helm install/upgrade … cilium` command.
fn cilium_only_from_flux(ctx: &Ctx<'_>) -> bool {
    let flux_cilium = ctx.releases.iter().any(|r| r.chart == Chart::Cilium);
    let chart_config = ctx
        .objects
        .iter()
        .any(|o| o.kind == "HelmChartConfig" && o.name == "rke2-cilium");
    let helm_cmd = ctx.commands.iter().any(|c| {
        let t = &c.text;
        t.contains("helm ") && (t.contains(" install ") || t.contains(" upgrade ")) && t.contains("cilium")
    });
    flux_cilium && !chart_config && !helm_cmd
}
