//! Perf settings (PROF-028) and failover budgets (PROF-029).

use super::Cx;
use crate::profile::model::Profile;

pub(super) fn budgets(cx: &mut Cx, p: &Profile) {
    let perf = &p.perf;
    if perf.samples == 0 {
        cx.push("PROF-028", "perf.samples", "samples must be at least 1");
    }
    if perf.duration_seconds == 0 {
        cx.push(
            "PROF-028",
            "perf.durationSeconds",
            "durationSeconds must be at least 1",
        );
    }
    let t = perf.regression_threshold_percent;
    if !(t.is_finite() && t > 0.0 && t <= 100.0) {
        cx.push(
            "PROF-028",
            "perf.regressionThresholdPercent",
            format!("regression threshold {t}% is outside (0, 100]"),
        );
    }
    let b = &p.failover.max_downtime_ms;
    let all: [(&str, u64); 5] = [
        ("agentRestart", b.agent_restart),
        ("operatorRestart", b.operator_restart),
        ("envoyRestart", b.envoy_restart),
        ("bgpPeerLoss", b.bgp_peer_loss),
        ("nodeDrain", b.node_drain),
    ];
    for (key, ms) in all {
        if ms == 0 {
            cx.push(
                "PROF-029",
                &format!("failover.maxDowntimeMs.{key}"),
                format!("budget {key} is 0 ms; no real failover is instantaneous"),
            );
        }
    }
    let hold_ms = u64::from(p.bgp.timers.hold_time_seconds) * 1000;
    if p.features.bgp && b.bgp_peer_loss != 0 && b.bgp_peer_loss < hold_ms {
        cx.push(
            "PROF-029",
            "failover.maxDowntimeMs.bgpPeerLoss",
            format!("bgpPeerLoss budget {} ms is below the BGP hold time ({hold_ms} ms) that detection waits for", b.bgp_peer_loss),
        );
    }
}
