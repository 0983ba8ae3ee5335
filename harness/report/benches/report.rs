//! Report rendering and regression comparison at realistic sizes:
//! all report files for 1,000 case results, and a comparison of 100 perf
//! metrics (2,000 bootstrap resamples each) against a baseline run.

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, criterion_group, criterion_main};
use infraflux_report::{Baseline, BaselineKind, CompareOptions};
use infraflux_model::results::{CaseResult, Outcome, PerfSeries, RunResults, SCHEMA, StepResult, Target};
use infraflux_report::stats::SplitMix64;

fn noise(rng: &mut SplitMix64, mean: f64, rel_sd: f64) -> f64 {
    // Sum of uniforms: close enough to normal for a benchmark input.
    let u: f64 = (0..4)
        .map(|_| (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64)
        .sum::<f64>()
        - 2.0;
    mean * (1.0 + rel_sd * u)
}

fn results(run_id: &str, cases: usize, metrics: usize, samples: usize, seed: u64) -> RunResults {
    let mut rng = SplitMix64::new(seed);
    let cases = (0..cases)
        .map(|i| {
            let suite = format!("suite-{:02}", i % 20);
            let case = format!("case-{i:04}");
            let outcome = match i % 10 {
                0 => Outcome::Failed {
                    step: Some("probe echo".into()),
                    message: format!("expected 200, got 503 ({i})"),
                },
                1 => Outcome::Skipped {
                    reason: "feature gatewayAPI is disabled".into(),
                },
                2 => Outcome::TimedOut {
                    step: Some("wait Ready".into()),
                    after_ms: 30_000,
                },
                _ => Outcome::Passed,
            };
            let steps = (0..4)
                .map(|s| StepResult {
                    name: format!("step {s} of {case}"),
                    kind: "probe".into(),
                    status: "passed".into(),
                    duration_ms: 40,
                    message: None,
                })
                .collect();
            CaseResult {
                id: format!("{suite}::{case}"),
                suite,
                case,
                outcome,
                duration_ms: 1200,
                attempts: 1,
                steps,
                gateway_conformance: None,
            }
        })
        .collect();
    let perf = (0..metrics)
        .map(|m| PerfSeries {
            metric: format!("throughput.metric_{m:03}"),
            case: "perf::netperf".into(),
            unit: if m % 2 == 0 {
                "Gbit/s".into()
            } else {
                "ms".into()
            },
            higher_is_better: m % 2 == 0,
            samples: (0..samples).map(|_| noise(&mut rng, 10.0, 0.05)).collect(),
            baseline: None,
        })
        .collect();
    RunResults {
        schema: SCHEMA.into(),
        run_id: run_id.into(),
        started_at: "2026-01-01T00:00:00Z".into(),
        duration_ms: 600_000,
        target: Target {
            provider: Some("kind".into()),
            ..Default::default()
        },
        cases,
        perf,
        setup_error: None,
        install: Vec::new(),
        diagnostics: None,
        drift: None,
        policy: Default::default(),
        coverage: Vec::new(),
    }
}

fn bench_render(c: &mut Criterion) {
    let run = results("20260101T000000Z-000001", 1000, 10, 10, 1);
    let Ok(tmp) = tempfile::tempdir() else { return };
    let dir = tmp.path().join(&run.run_id);
    c.bench_function("report/write_all 1000 cases + 10 metrics", |b| {
        b.iter(|| infraflux_report::write_all(black_box(&dir), black_box(&run)))
    });
}

fn bench_compare(c: &mut Criterion) {
    let run = results("20260102T000000Z-000002", 0, 100, 20, 2);
    let base = Baseline {
        kind: BaselineKind::Run,
        path: PathBuf::from("baseline"),
        runs: vec![results("20260101T000000Z-000001", 0, 100, 20, 1)],
    };
    let opts = CompareOptions::default();
    c.bench_function("report/compare 100 metrics x 20 samples", |b| {
        b.iter(|| infraflux_report::compare_results(black_box(&run), black_box(&base), &opts))
    });
}

criterion_group!(benches, bench_render, bench_compare);
criterion_main!(benches);
