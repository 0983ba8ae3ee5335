//! Cases that cannot fail by construction: an assertion that restates the
//! case's own requirement ([`SUITE_022`]), a negative probe without a positive
//! control ([`SUITE_023`]), "every node" counted as "at least one" ([`SUITE_024`]).
//! A case like that turns a defect into a green report, so it is refused
//! like any other bad input.

use super::*;
use crate::suite::model::{ObjectRef, Probe, ProbeAction, ProbeExpect};

impl Validator<'_> {
    pub(super) fn cannot_fail(&mut self, base: &str, c: &LoadedCase) {
        self.restated_requirements(base, c);
        self.uncontrolled_negatives(base, c);
        self.every_node_as_one(base, c);
    }

    /// [`SUITE_022`]: without the feature the case is skipped (or, under a
    /// profile that promises it, failed before it runs), so checking the
    /// key that detects it can only ever pass.
    fn restated_requirements(&mut self, base: &str, c: &LoadedCase) {
        let flags: Vec<(Feature, &str, &str)> =
            c.requires.iter().filter_map(|f| f.config_flag().map(|(k, v)| (*f, k, v))).collect();
        for (j, step) in c.steps.iter().enumerate() {
            let Step::Assert(a) = step else { continue };
            let Some(r) = &a.target else { continue };
            if !is_cilium_config(r) {
                continue;
            }
            for (i, p) in a.that.iter().enumerate() {
                let Some(key) = data_key(&p.path) else { continue };
                let Some((f, _, on)) = flags.iter().find(|(_, k, _)| *k == key) else { continue };
                let restates = p.equals.as_ref().and_then(|v| v.as_str()) == Some(*on) || p.exists == Some(true);
                if restates {
                    self.error(
                        &SUITE_022,
                        &format!("{base}.steps[{j}].assert.that[{i}]"),
                        format!(
                            "checks cilium-config `{key}`, which is how the required feature `{}` is detected: the case never runs without it, so this cannot fail",
                            f.name()
                        ),
                        "assert what the feature does (a probe, a status field), or drop the requirement so this check can fail",
                    );
                }
            }
        }
    }

    /// [`SUITE_023`]: "the probe failed" proves a block only if the same target
    /// answered in the same case before; otherwise a target that never
    /// listens, or a wrong name, passes as a working policy.
    fn uncontrolled_negatives(&mut self, base: &str, c: &LoadedCase) {
        let mut reached: BTreeSet<String> = BTreeSet::new();
        for (j, step) in c.steps.iter().enumerate() {
            let Step::Probe(p) = step else { continue };
            let Some(target) = probe_target(p) else { continue };
            match p.expect {
                ProbeExpect::Ok => {
                    reached.insert(target);
                }
                ProbeExpect::Fail => {
                    if reached.contains(&target) {
                        continue;
                    }
                    match &p.no_control {
                        Some(why) if !why.trim().is_empty() => {}
                        _ => self.error(
                            &SUITE_023,
                            &format!("{base}.steps[{j}].probe"),
                            format!(
                                "probe `{}` expects `{target}` to fail, but no earlier probe of this case reached `{target}`",
                                step.display_name()
                            ),
                            "probe the same target with `expect: ok` before the change that should block it, or give `noControl: <reason>`",
                        ),
                    }
                }
            }
        }
    }

    /// [`SUITE_024`]: `min: 1` holds on a cluster where one node of many has
    /// the thing, which is not what "every node" claims.
    fn every_node_as_one(&mut self, base: &str, c: &LoadedCase) {
        let case_text = c.description.as_deref().unwrap_or("");
        for (j, step) in c.steps.iter().enumerate() {
            let (name, predicates): (Option<&String>, Vec<&Predicate>) = match step {
                Step::Assert(a) => (a.name.as_ref(), a.that.iter().collect()),
                Step::Wait(w) => (w.name.as_ref(), w.field.iter().collect()),
                _ => continue,
            };
            let says_every_node = says_every_node(name.map_or(case_text, String::as_str));
            if !says_every_node {
                continue;
            }
            for (i, p) in predicates.into_iter().enumerate() {
                let Some(count) = &p.count else { continue };
                let one = |b: &Option<crate::suite::model::Bound>| b.as_ref().is_some_and(|b| b.0.trim() == "1");
                if one(&count.min) && count.equals.is_none() {
                    let at = match step {
                        Step::Assert(_) => format!("{base}.steps[{j}].assert.that[{i}].count.min"),
                        _ => format!("{base}.steps[{j}].wait.field.count.min"),
                    };
                    self.error(
                        &SUITE_024,
                        &at,
                        format!("`{}` is said to hold on every node but counts `min: 1`", step.display_name()),
                        "count against the node count: `min: \"{{nodeCount}}\"` (or `equals:`)",
                    );
                }
            }
        }
    }
}

fn is_cilium_config(r: &ObjectRef) -> bool {
    r.kind == "ConfigMap" && r.name.as_deref() == Some("cilium-config")
}

/// `K` of `$.data['K']`, `$.data["K"]` or `$.data.K`.
fn data_key(path: &str) -> Option<&str> {
    let rest = path.trim().strip_prefix("$.data")?;
    if let Some(k) = rest.strip_prefix("['").and_then(|r| r.strip_suffix("']")) {
        return Some(k);
    }
    if let Some(k) = rest.strip_prefix("[\"").and_then(|r| r.strip_suffix("\"]")) {
        return Some(k);
    }
    rest.strip_prefix('.').filter(|k| !k.contains(['.', '[']))
}

/// Where a probe goes, normalised so `svc`, `svc.cluster.local` and a
/// trailing dot compare equal: `host:port` (http, tcp, udp, load) or
/// `dns:server:name`. `None` for probes without one target (capture,
/// downtime).
fn probe_target(p: &Probe) -> Option<String> {
    let norm = |h: &str| {
        let h = h.trim_end_matches('.');
        h.strip_suffix(".cluster.local").unwrap_or(h).to_owned()
    };
    match &p.action {
        ProbeAction::Dns(d) => Some(format!("dns {} @{}", norm(&d.name), d.server.as_deref().unwrap_or("cluster DNS"))),
        // A downtime probe is never a control nor a deny.
        ProbeAction::Downtime(_) => None,
        a => {
            let (host, port) = a.target()?;
            let udp = if matches!(a, ProbeAction::Udp(_)) { "udp " } else { "" };
            Some(format!("{udp}{}:{port}", norm(&host)))
        }
    }
}

fn says_every_node(text: &str) -> bool {
    let t = text.to_lowercase();
    ["every node", "each node", "all nodes", "per node", "every agent", "each agent", "all agents"]
        .iter()
        .any(|w| t.contains(w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_keys_in_every_spelling() {
        assert_eq!(data_key("$.data['kube-proxy-replacement']"), Some("kube-proxy-replacement"));
        assert_eq!(data_key("$.data[\"enable-hubble\"]"), Some("enable-hubble"));
        assert_eq!(data_key("$.data.cluster-name"), Some("cluster-name"));
        assert_eq!(data_key("$.data"), None);
        assert_eq!(data_key("$.metadata.name"), None);
    }
}
