//! `perf.json` (every sample plus statistics) and `perfdash.json`.
//!
//! `perfdash.json` follows the perfdash `PerfData` shape that
//! clusterloader2 and `cilium connectivity perf --report-dir` emit
//! (`{"version", "dataItems": [{"data", "unit", "labels"}]}`), so existing
//! dashboards can ingest our runs; `perf.json` is ours and carries the raw
//! samples a regression comparison needs.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{LEVEL, ReportError};
use crate::results::{PerfSeries, RunResults};
use crate::stats::{self, Summary};

/// Schema id of `perf.json`.
pub const PERF_SCHEMA: &str = "infraflux.io/perf/v1";

/// One metric with its statistics (`None` when it has no samples).
#[derive(Debug, Clone)]
pub struct Metric<'a> {
    pub series: &'a PerfSeries,
    pub summary: Option<Summary>,
}

/// Statistics for every perf series of a run, in run order.
pub fn metrics(run: &RunResults) -> Vec<Metric<'_>> {
    run.perf
        .iter()
        .map(|series| Metric {
            series,
            summary: stats::summarize(&series.samples, LEVEL),
        })
        .collect()
}

/// Bootstrap resamples for a ratio's interval (as in the regression rule).
const RATIO_RESAMPLES: usize = 2_000;

/// How a metric compares with the baseline its suite declares for it
/// (`baseline:` on the probe, carried as [`PerfSeries::baseline`]), e.g. a
/// pod path against the host path it runs over: the mean of the metric
/// divided by the mean of its baseline, with a 95% percentile-bootstrap
/// interval. A ratio of 0.93 on a throughput pair means pods get 93% of what
/// the nodes themselves get; on a latency pair (lower is better) above 1
/// means pods are slower.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Ratio {
    /// Named by [`ratio_id`], e.g. `throughput.tcp_stream_1.pod_vs_host.cross_node`.
    pub id: String,
    pub numerator: String,
    pub denominator: String,
    pub higher_is_better: bool,
    pub ratio: f64,
    pub ci95: Option<RatioCi>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RatioCi {
    pub level: f64,
    pub low: f64,
    pub high: f64,
}

/// Every declared pair among the metrics, in the order of the measured
/// metrics. Pairs whose baseline is missing from the run, whose unit or
/// direction differ, or whose baseline mean is not positive have no
/// meaningful ratio and are left out.
pub fn ratios(metrics: &[Metric<'_>]) -> Vec<Ratio> {
    let by_id: BTreeMap<&str, &Metric<'_>> = metrics.iter().map(|m| (m.series.metric.as_str(), m)).collect();
    let mut out = Vec::new();
    for m in metrics {
        let Some(base_id) = m.series.baseline.as_deref() else { continue };
        let id = m.series.metric.as_str();
        let Some(base) = by_id.get(base_id) else { continue };
        if base.series.unit != m.series.unit || base.series.higher_is_better != m.series.higher_is_better {
            continue;
        }
        let (Some(p), Some(h)) = (stats::mean(&m.series.samples), stats::mean(&base.series.samples)) else {
            continue;
        };
        if !(h > 0.0 && p.is_finite()) {
            continue;
        }
        let mut rng = stats::SplitMix64::from_name(id);
        let ci = stats::bootstrap_relative_change(&m.series.samples, &base.series.samples, LEVEL, RATIO_RESAMPLES, &mut rng)
            .map(|c| RatioCi { level: c.level, low: c.low + 1.0, high: c.high + 1.0 });
        out.push(Ratio {
            id: ratio_id(id, base_id),
            numerator: id.to_owned(),
            denominator: base_id.to_owned(),
            higher_is_better: m.series.higher_is_better,
            ratio: p / h,
            ci95: ci,
        });
    }
    out
}

/// The id of the ratio of `metric` to `baseline`. When the two dotted ids
/// differ in exactly one segment, that segment of `metric` becomes
/// `<a>_vs_<b>`, where a segment written `x_to_x` counts as `x`:
/// `throughput.tcp_stream_1.pod_to_pod.cross_node` over
/// `throughput.tcp_stream_1.host_to_host.cross_node` is
/// `throughput.tcp_stream_1.pod_vs_host.cross_node`. Otherwise
/// `<metric>.vs_baseline`.
pub fn ratio_id(metric: &str, baseline: &str) -> String {
    let a: Vec<&str> = metric.split('.').collect();
    let b: Vec<&str> = baseline.split('.').collect();
    let differ: Vec<usize> = (0..a.len()).filter(|&i| b.get(i) != Some(&a[i])).collect();
    match differ.as_slice() {
        [i] if a.len() == b.len() => {
            let short = |seg: &str| match seg.split_once("_to_") {
                Some((x, y)) if x == y => x.to_owned(),
                _ => seg.to_owned(),
            };
            let seg = format!("{}_vs_{}", short(a[*i]), short(b[*i]));
            a.iter().enumerate().map(|(j, s)| if j == *i { seg.as_str() } else { s }).collect::<Vec<_>>().join(".")
        }
        _ => format!("{metric}.vs_baseline"),
    }
}

impl Ratio {
    /// The interval as `low – high`, or `–` without one.
    pub fn ci_text(&self) -> String {
        self.ci95.map_or_else(|| "–".to_owned(), |c| format!("{} – {}", super::num(c.low), super::num(c.high)))
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PerfFile<'a> {
    schema: &'static str,
    run_id: &'a str,
    started_at: &'a str,
    percentile_method: &'static str,
    ci_method: &'static str,
    metrics: Vec<PerfMetricJson<'a>>,
    /// Metric / declared baseline pairs ([`ratios`]).
    ratios: &'a [Ratio],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PerfMetricJson<'a> {
    metric: &'a str,
    case: &'a str,
    unit: &'a str,
    higher_is_better: bool,
    samples: &'a [f64],
    n: usize,
    min: Option<f64>,
    max: Option<f64>,
    mean: Option<f64>,
    stddev: Option<f64>,
    p50: Option<f64>,
    p90: Option<f64>,
    p99: Option<f64>,
    ci95: Option<Ci>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Ci {
    level: f64,
    low: f64,
    high: f64,
}

pub(super) fn render_perf_json(
    run: &RunResults,
    metrics: &[Metric<'_>],
    ratios: &[Ratio],
) -> Result<String, ReportError> {
    let file = PerfFile {
        schema: PERF_SCHEMA,
        run_id: &run.run_id,
        started_at: &run.started_at,
        percentile_method: "linear interpolation between closest ranks (Hyndman-Fan type 7)",
        ci_method: "Student t interval of the mean",
        metrics: metrics
            .iter()
            .map(|m| {
                let s = m.summary;
                PerfMetricJson {
                    metric: &m.series.metric,
                    case: &m.series.case,
                    unit: &m.series.unit,
                    higher_is_better: m.series.higher_is_better,
                    samples: &m.series.samples,
                    n: m.series.samples.len(),
                    min: s.map(|s| s.min),
                    max: s.map(|s| s.max),
                    mean: s.map(|s| s.mean),
                    stddev: s.map(|s| s.stddev),
                    p50: s.map(|s| s.p50),
                    p90: s.map(|s| s.p90),
                    p99: s.map(|s| s.p99),
                    ci95: s.map(|s| Ci {
                        level: s.level,
                        low: s.ci_low,
                        high: s.ci_high,
                    }),
                }
            })
            .collect(),
        ratios,
    };
    serde_json::to_string_pretty(&file)
        .map(|s| s + "\n")
        .map_err(|source| ReportError::Serialize {
            what: "perf.json",
            source,
        })
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PerfDash {
    version: &'static str,
    data_items: Vec<DataItem>,
    labels: BTreeMap<&'static str, String>,
}

#[derive(Serialize)]
struct DataItem {
    data: BTreeMap<&'static str, f64>,
    unit: String,
    labels: BTreeMap<&'static str, String>,
}

pub(super) fn render_perfdash_json(
    run: &RunResults,
    metrics: &[Metric<'_>],
) -> Result<String, ReportError> {
    let mut labels = BTreeMap::new();
    labels.insert("RunID", run.run_id.clone());
    if let Some(v) = &run.target.cilium_version {
        labels.insert("CiliumVersion", v.clone());
    }
    if let Some(v) = &run.target.kubernetes_version {
        labels.insert("KubernetesVersion", v.clone());
    }
    // perfdash items carry numbers only; metrics without samples are left
    // out here (perf.json still lists them with n = 0).
    let data_items = metrics
        .iter()
        .filter_map(|m| {
            let s = m.summary?;
            let data = BTreeMap::from([
                ("Perc50", s.p50),
                ("Perc90", s.p90),
                ("Perc99", s.p99),
                ("Average", s.mean),
                ("Min", s.min),
                ("Max", s.max),
            ]);
            let labels = BTreeMap::from([
                ("Metric", m.series.metric.clone()),
                ("Case", m.series.case.clone()),
                ("Samples", s.n.to_string()),
                ("HigherIsBetter", m.series.higher_is_better.to_string()),
            ]);
            Some(DataItem {
                data,
                unit: m.series.unit.clone(),
                labels,
            })
        })
        .collect();
    serde_json::to_string_pretty(&PerfDash {
        version: "v1",
        data_items,
        labels,
    })
    .map(|s| s + "\n")
    .map_err(|source| ReportError::Serialize {
        what: "perfdash.json",
        source,
    })
}
