//! Loading 1,000 cases: suite YAML generated in memory (8 suites of 125
//! cases, every step kind, manifests and assertions of realistic size) is
//! parsed and validated with `suite::load_str`, fixtures resolved against the
//! repository's `fixtures/` directory, as `infraflux run` does before
//! touching a cluster.

use std::fmt::Write as _;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use infraflux_model::suite;

const SUITES: usize = 8;
const CASES_PER_SUITE: usize = 125;

/// One case; `i` varies the step mix so every kind appears in every suite.
fn case(s: &mut String, suite: usize, i: usize) {
    let _ = write!(
        s,
        "  - name: case-{i:03}\n    description: generated case {i} of suite {suite}\n    \
         requires: [lbIpam]\n    retries: {}\n    vars:\n      poolCidr: 198.51.{}.{}/28\n      \
         greeting: hello-{i}\n    steps:\n",
        i % 3,
        100 + suite,
        (i % 16) * 16
    );
    s.push_str(
        "      - apply:\n          manifest:\n            apiVersion: cilium.io/v2\n            \
         kind: CiliumLoadBalancerIPPool\n            metadata:\n              name: \"{{namespace}}-pool\"\n            \
         spec:\n              blocks: [{cidr: \"{{poolCidr}}\"}]\n              serviceSelector:\n                \
         matchLabels: {infraflux.io/pool: \"{{namespace}}\"}\n",
    );
    if i.is_multiple_of(2) {
        s.push_str("      - apply:\n          file: manifests/echo-configmap.yaml\n");
    }
    s.push_str(
        "      - apply:\n          manifest:\n            apiVersion: v1\n            kind: Service\n            \
         metadata:\n              name: test-lb\n              namespace: \"{{namespace}}\"\n              \
         labels: {infraflux.io/pool: \"{{namespace}}\"}\n            spec:\n              type: LoadBalancer\n              \
         ports: [{port: 80, targetPort: 8080, protocol: TCP}]\n              selector: {app: echo}\n",
    );
    s.push_str(
        "      - wait:\n          ref: {apiVersion: v1, kind: Service, name: test-lb}\n          \
         condition: {type: cilium.io/IPAMRequestSatisfied, status: \"True\"}\n          timeout: 60s\n",
    );
    // inCidr is checked at load time, so it cannot be a template variable.
    let _ = write!(
        s,
        "      - assert:\n          ref: {{apiVersion: v1, kind: Service, name: test-lb}}\n          that:\n            \
         - path: $.status.loadBalancer.ingress[*].ip\n              inCidr: 198.51.{}.{}/28\n            \
         - path: $.spec.ports\n              count: {{equals: 1}}\n            - path: $.metadata.name\n              \
         matches: \"^test-\"\n",
        100 + suite,
        (i % 16) * 16
    );
    if i.is_multiple_of(3) {
        s.push_str(
            "      - probe:\n          name: root\n          action:\n            \
             http: {url: \"http://test-lb.{{namespace}}.svc/\", headers: [\"X-Test: 1\"]}\n          expect: ok\n      \
             - assert:\n          probe: root\n          that:\n            - path: $.status\n              equals: 200\n",
        );
    }
    s.push_str(
        "    catch:\n      - assert:\n          ref: {apiVersion: v1, kind: Service, name: test-lb}\n          \
         that: [{path: $.status, exists: true}]\n          timeout: 5s\n    finally:\n      - delete:\n          \
         ref: {apiVersion: v1, kind: Service, name: test-lb}\n          wait: true\n",
    );
}

fn suite_text(n: usize) -> String {
    let mut s = format!(
        "apiVersion: infraflux.io/v1alpha1\nkind: Suite\nmetadata:\n  name: gen-{n}\n  labels: {{tier: bench}}\n\
         description: generated suite {n}\nrequires: [cilium]\ndefaults:\n  timeout: 3m\n  retries: 0\n  \
         timeouts:\n    wait: 90s\n    assert: 30s\ncases:\n"
    );
    for i in 0..CASES_PER_SUITE {
        case(&mut s, n, i);
    }
    s
}

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join("fixtures")
}

fn bench_load(c: &mut Criterion) {
    let texts: Vec<(String, String)> = (0..SUITES).map(|n| (format!("suites/gen-{n}.yaml"), suite_text(n))).collect();
    let fixtures = fixtures_dir();
    // A generator bug would make the bench time error paths; fail loudly.
    let cases: usize = texts
        .iter()
        .map(|(f, t)| match suite::load_str(f, t, &fixtures) {
            Ok(s) => s.cases.len(),
            Err(e) => panic!("generated suite {f} does not load: {e:?}"),
        })
        .sum();
    assert_eq!(cases, SUITES * CASES_PER_SUITE);
    let bytes: usize = texts.iter().map(|(_, t)| t.len()).sum();
    eprintln!("suites bench input: {SUITES} suites, {cases} cases, {} KiB of YAML", bytes / 1024);

    let mut g = c.benchmark_group("suites");
    g.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(10));
    g.bench_function("load_1000_cases", |b| {
        b.iter(|| {
            for (f, t) in &texts {
                let loaded = suite::load_str(f, t, &fixtures);
                black_box(loaded.is_ok());
            }
        })
    });
    // The YAML layer alone, to show what validation adds on top of parsing.
    g.bench_function("parse_only_1000_cases", |b| {
        b.iter(|| {
            for (f, t) in &texts {
                black_box(infraflux_model::yaml::parse_str(f, t).map(|d| d.len()).unwrap_or(0));
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench_load);
criterion_main!(benches);
