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

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PerfFile<'a> {
    schema: &'static str,
    run_id: &'a str,
    started_at: &'a str,
    percentile_method: &'static str,
    ci_method: &'static str,
    metrics: Vec<PerfMetricJson<'a>>,
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
