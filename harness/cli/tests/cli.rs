//! The `infraflux` binary end to end: help text, exit codes, and a real run
//! against the real control plane that writes every report.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test-crate helpers: a failed setup step is the test failure"
)]

mod common;

use std::path::Path;
use std::process::Command;

use common::run;
use infraflux::results::{PerfSeries, RunResults};

#[test]
fn help_lists_every_subcommand_and_the_exit_codes() {
    let (code, out, _) = run(&["--help"]);
    assert_eq!(code, 0);
    for cmd in ["check", "render", "up", "down", "run", "report", "conform"] {
        assert!(out.contains(cmd), "--help misses {cmd}:\n{out}");
    }
    assert!(out.contains("3 cluster or provisioning failure"), "{out}");
    for cmd in ["check", "render", "up", "down", "run", "report", "conform"] {
        let (code, out, _) = run(&[cmd, "--help"]);
        assert_eq!(code, 0, "{cmd} --help");
        assert!(out.contains("Usage: infraflux"), "{cmd}: {out}");
    }
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(run(&["bogus"]).0, 2);
    assert_eq!(run(&["run", "--test-threads", "x"]).0, 2);
    assert_eq!(run(&["run", "--list", "--deadline", "5 parsecs"]).0, 2);
    // The embedded default's Proxmox site names no way to verify its
    // certificate and no SSH identity, so proxmox-rke2 refuses it before
    // any call, at the profile's line. (Plain `up` with the embedded
    // default is the local provider: it would build and start a real node.)
    let (code, _, err) = run(&["up", "--provider", "proxmox-rke2"]);
    assert_eq!(code, 2);
    let at = "<embedded>/default.yaml:10:7: error[PROF-041]";
    assert!(err.matches(at).count() == 2 && err.contains("neither `caFile` nor `fingerprint`") && err.contains("no `ssh` section"), "{err}");
    assert!(err.contains("hint: add caFile or fingerprint") && err.contains("nothing was done"), "{err}");
    let (code, _, err) = run(&["conform", "--skip-install", "--provider", "proxmox-rke2"]);
    assert_eq!(code, 2, "the same refusal without an install: {err}");
    assert!(err.contains("error[PROF-041]") && !err.contains("not built"), "{err}");
    let (code, _, err) = run(&["up", "--provider", "kind"]);
    assert_eq!(code, 2);
    assert!(err.contains("error[FLAG-004]") && err.contains("not built yet"), "{err}");
    let (code, _, err) = run(&["up", "--provider", "existing", "--wait-timeout", "soon"]);
    assert_eq!(code, 2);
    assert!(err.contains("error[FLAG-009]"), "{err}");
}

#[test]
fn flag_errors_carry_a_rule_id_a_location_and_a_hint() {
    let (code, _, err) = run(&["run", "--list", "--deadline", "5 parsecs"]);
    assert_eq!(code, 2);
    assert!(err.contains("<command line>:1:22: error[FLAG-001]"), "{err}");
    assert!(err.contains("hint: give a duration"), "{err}");
    let (code, _, err) = run(&["run", "--list", "--dns-authoritative", "127.0.0.1:53"]);
    assert_eq!(code, 2);
    assert!(err.contains("error[FLAG-002]: --dns-authoritative needs --profile"), "{err}");
    let (code, _, err) = run(&["run", "--list", "--bgp-listen=127.0.0.1:1179"]);
    assert_eq!(code, 2);
    assert!(err.contains("error[FLAG-003]"), "{err}");
    // A deadline that would overflow a clock, or end the run at once, is
    // refused before anything is touched (no panic, no lock taken).
    for bad in ["99999999999999999h", "0s"] {
        let (code, _, err) = run(&["run", "--deadline", bad, "--kubeconfig", "/nonexistent"]);
        assert_eq!(code, 2, "{bad}: {err}");
        assert!(err.contains("error[FLAG-001]"), "{bad}: {err}");
    }
}

#[test]
fn check_exit_codes_follow_the_contract() {
    let (code, out, _) = run(&["check"]);
    assert_eq!(code, 0, "{out}");
    let (code, out, _) = run(&["check", "harness/model/assets/default-profile.yaml"]);
    assert_eq!(code, 0, "{out}");
    let (code, out, _) = run(&["check", "fixtures/profiles/rules/PROF-013/fail.yaml"]);
    assert_eq!(code, 1);
    assert!(out.contains("error[PROF-013]"), "{out}");
    let (code, _, _) = run(&["check", "fixtures/profiles/malformed/unknown-key.yaml"]);
    assert_eq!(code, 2);
    let (code, out, _) = run(&["check", "fixtures/seed"]);
    assert_eq!(code, 1);
    for blocker in ["NODE-001", "TPL-001", "RKE2-013", "CIL-001", "CIL-003", "FLUX-005", "FLUX-006"] {
        assert!(out.contains(&format!("[{blocker}]")), "seed blocker {blocker} missing");
    }
    let (code, out, _) = run(&["check", "--format", "json", "fixtures/profiles/rules/PROF-013/fail.yaml"]);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json findings");
    assert_eq!(v[0]["rule"], "PROF-013");
    assert!(v[0]["location"]["line"].as_u64().is_some());
    assert_eq!(run(&["check", "/no/such/path.yaml"]).0, 2);
}

#[test]
fn check_judges_gateway_api_and_flux_against_the_release_the_flags_name() {
    // The FLUX-006 fixture states no Flux release: the default profile's
    // 2.8 no longer serves source v1beta2, 2.7 still does (deprecated).
    let fixture = "fixtures/check/FLUX-006/fail.yaml";
    let (code, out, _) = run(&["check", fixture]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("error[FLUX-006]") && out.contains("from the default profile"), "{out}");
    let (code, out, _) = run(&["check", "--flux-version", "v2.7.3", fixture]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("warning[FLUX-010]") && out.contains("from --flux-version"), "{out}");
    // A TLSRoute at v1alpha2 with no bundle in the inputs: served (deprecated)
    // by v1.6's experimental channel, not by its standard one.
    let dir = tempfile::tempdir().expect("tempdir");
    let route = dir.path().join("route.yaml");
    std::fs::write(
        &route,
        "apiVersion: gateway.networking.k8s.io/v1alpha2\nkind: TLSRoute\nmetadata: {name: r, namespace: edge}\nspec:\n  parentRefs: [{name: main}]\n  rules: [{backendRefs: [{name: b, port: 443}]}]\n",
    )
    .expect("write");
    let route = route.to_str().expect("utf8");
    let (_, out, _) = run(&["check", "--gateway-api-version", "v1.6.3", "--gateway-api-channel", "experimental", route]);
    assert!(out.contains("warning[GW-014]") && out.contains("from --gateway-api-version"), "{out}");
    let (code, out, _) = run(&["check", "--gateway-api-version", "v1.6.3", "--gateway-api-channel", "standard", route]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("error[GW-013]"), "{out}");
    assert_eq!(run(&["check", "--gateway-api-channel", "beta", route]).0, 2);
}

#[test]
fn check_rules_lists_every_catalog() {
    let (code, out, _) = run(&["check", "--rules", "--format", "json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json catalogs");
    let catalogs = v["catalogs"].as_array().expect("catalogs array");
    let names: Vec<&str> = catalogs.iter().filter_map(|c| c["name"].as_str()).collect();
    assert_eq!(names, ["YAML", "PROF", "SUITE", "FLAG", "REPORT", "stack"]);
    let in_catalog = |name: &str, id: &str| {
        catalogs.iter().filter(|c| c["name"] == name).flat_map(|c| c["rules"].as_array().into_iter().flatten()).any(|r| {
            r["id"] == id && r["title"].as_str().is_some_and(|t| !t.is_empty()) && r["hint"].as_str().is_some_and(|h| !h.is_empty())
        })
    };
    for (name, id) in
        [("YAML", "YAML-000"), ("YAML", "YAML-001"), ("PROF", "PROF-001"), ("SUITE", "SUITE-019"), ("FLAG", "FLAG-001"), ("REPORT", "REPORT-001"), ("stack", "CIL-001")]
    {
        assert!(in_catalog(name, id), "{id} missing from catalog {name}");
    }
    let (code, text, _) = run(&["check", "--rules"]);
    assert_eq!(code, 0);
    for id in ["YAML-000", "PROF-001", "SUITE-019", "FLAG-001", "REPORT-001", "CIL-001"] {
        assert!(text.contains(id), "text catalog misses {id}");
    }
}

#[test]
fn render_is_deterministic_and_passes_check() {
    let tmp = tempfile::tempdir().expect("tmp");
    let a = tmp.path().join("a");
    let b = tmp.path().join("b");
    for d in [&a, &b] {
        let (code, _, err) = run(&["render", "--out", d.to_str().expect("utf8")]);
        assert_eq!(code, 0, "{err}");
    }
    let diff = Command::new("diff").arg("-r").arg(&a).arg(&b).output().expect("diff");
    assert!(diff.status.success(), "render differs between runs");
    let (code, out, _) = run(&["check", a.to_str().expect("utf8")]);
    assert_eq!(code, 0, "{out}");
    let (code, _, err) = run(&["render", "--out", a.to_str().expect("utf8")]);
    assert_eq!(code, 2, "rendering into a non-empty dir must be refused: {err}");
    let (code, _, _) = run(&["render", "--profile", "fixtures/profiles/rules/PROF-013/fail.yaml", "--out", tmp.path().join("c").to_str().expect("utf8")]);
    assert_eq!(code, 2, "a profile with error findings is refused");
    assert!(!tmp.path().join("c").exists(), "nothing written for a refused profile");
}

#[test]
fn run_list_prints_suite_case_ids() {
    let (code, out, _) = run(&["run", "--list"]);
    assert_eq!(code, 0);
    let ids: Vec<&str> = out.lines().filter(|l| l.contains("::")).collect();
    assert!(ids.len() >= 10, "{out}");
    assert!(ids.iter().all(|id| id.split("::").count() == 2 && !id.contains(' ')), "{out}");
    let (code, out, _) = run(&["run", "--list", "bgp::"]);
    assert_eq!(code, 0);
    assert!(out.lines().filter(|l| l.contains("::")).all(|l| l.starts_with("bgp::")), "{out}");
    let (code, _, err) = run(&["run", "--list", "--suites", "fixtures/suites/invalid"]);
    assert_eq!(code, 2);
    assert!(err.contains("error[SUITE-"), "{err}");
}

fn write_run(dir: &Path, id: &str, samples: Vec<f64>) {
    let results = RunResults {
        schema: infraflux::results::SCHEMA.into(),
        run_id: id.into(),
        started_at: "2026-11-24T00:00:00Z".into(),
        duration_ms: 1,
        target: Default::default(),
        cases: Vec::new(),
        perf: vec![PerfSeries {
            metric: "throughput.tcp_stream_1.pod_to_pod.cross_node".into(),
            case: "throughput::tcp-stream-1".into(),
            unit: "Gbit/s".into(),
            higher_is_better: true,
            samples,
            baseline: None,
        }],
        setup_error: None,
        install: Vec::new(),
        diagnostics: None,
        drift: None,
        policy: Default::default(),
        coverage: Vec::new(),
    };
    infraflux::report::write_all(dir, &results).expect("write run");
}

#[test]
fn report_flags_a_20_percent_drop_and_passes_a_rerun() {
    let tmp = tempfile::tempdir().expect("tmp");
    let noise = |base: f64, k: usize| -> Vec<f64> {
        (0..12).map(|i| base * (1.0 + 0.01 * (((i * 7 + k) % 5) as f64 - 2.0))).collect()
    };
    let (base, rerun, drop) = (tmp.path().join("base"), tmp.path().join("rerun"), tmp.path().join("drop"));
    write_run(&base, "base", noise(10.0, 0));
    write_run(&rerun, "rerun", noise(10.0, 3));
    write_run(&drop, "drop", noise(8.0, 1));
    let s = |p: &Path| p.to_str().expect("utf8").to_owned();
    let (code, out, err) = run(&["report", "--results", &s(&rerun), "--baseline", &s(&base)]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, _) = run(&["report", "--results", &s(&drop), "--baseline", &s(&base)]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("throughput.tcp_stream_1.pod_to_pod.cross_node"), "{out}");
    assert!(out.contains("-20"), "the size of the change is named: {out}");
}

/// A cluster that cannot be reached is exit 3, and CI still gets a report:
/// `junit.xml` with a `setup` testcase whose `<error>` says why nothing ran.
#[test]
fn unreachable_cluster_exits_3_and_still_writes_junit() {
    let tmp = tempfile::tempdir().expect("tmp");
    let out = tmp.path().join("runs");
    let out_s = out.to_string_lossy().into_owned();
    // A real kubeconfig for a server nobody listens on.
    let kc = dead_kubeconfig(tmp.path());
    let (code, _, err) = run(&["conform", "--skip-install", "--kubeconfig", kc.to_str().expect("utf8"), "--out", &out_s]);
    assert_eq!(code, 3, "{err}");
    let runs: Vec<_> = std::fs::read_dir(&out).expect("run dir created").flatten().collect();
    assert_eq!(runs.len(), 1, "one run directory");
    let junit = std::fs::read_to_string(runs[0].path().join("junit.xml")).expect("junit.xml");
    assert!(junit.contains(r#"tests="1" failures="0" errors="1""#), "{junit}");
    assert!(junit.contains(r#"<testcase name="setup""#), "{junit}");
    assert!(junit.contains(r#"<error type="setup" message="cluster unusable"#), "{junit}");
    assert!(junit.contains("https://127.0.0.1:1"), "the error names the API server: {junit}");
    assert!(junit.contains("context the kubeconfig") && err.contains("  cluster: kubeconfig "), "and the kubeconfig and context: {junit}\n{err}");
    let results: RunResults =
        serde_json::from_str(&std::fs::read_to_string(runs[0].path().join("results.json")).expect("results.json"))
            .expect("results.json parses");
    assert!(results.cases.is_empty());
    assert!(results.setup_error.as_deref().is_some_and(|e| e.contains("127.0.0.1:1")), "{results:?}");
}

/// A kubeconfig that is missing, a directory or garbage is bad input:
/// exit 2 with FLAG-007, nothing created.
#[test]
fn a_bad_kubeconfig_is_a_flag_error() {
    let tmp = tempfile::tempdir().expect("tmp");
    let garbage = tmp.path().join("garbage");
    std::fs::write(&garbage, "\u{0}\u{1}not yaml: [").expect("write");
    let out = tmp.path().join("runs");
    for kc in [Path::new("/nonexistent"), tmp.path(), garbage.as_path()] {
        let (code, _, err) =
            run(&["run", "--kubeconfig", kc.to_str().expect("utf8"), "--out", out.to_str().expect("utf8")]);
        assert_eq!(code, 2, "{}: {err}", kc.display());
        assert!(err.contains("error[FLAG-007]"), "{err}");
        assert!(!out.exists(), "nothing created");
    }
}

/// A valid kubeconfig for a server nobody listens on (port 1).
fn dead_kubeconfig(dir: &Path) -> std::path::PathBuf {
    let kc = dir.join("kubeconfig");
    std::fs::write(
        &kc,
        "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: \"https://127.0.0.1:1\"}}]\n\
         users: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n",
    )
    .expect("kubeconfig");
    kc
}

/// Bad input is refused before anything is created: no run directory.
#[test]
fn bad_input_creates_no_run_directory() {
    let tmp = tempfile::tempdir().expect("tmp");
    let out = tmp.path().join("runs");
    let out_s = out.to_string_lossy().into_owned();
    let (code, _, err) = run(&["conform", "--kubeconfig", "/nonexistent", "--out", &out_s, "--deadline", "soon"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("error[FLAG-001]"), "{err}");
    assert!(!out.exists(), "a refused run must not create {}", out.display());
}

/// A profile is recognised by parsing it: quoting, trailing comments, JSON
/// and CR line endings all still get the PROF rules (a broken profile must
/// never pass as an unrecognised "manifest"); an empty file is exit 2.
#[test]
fn check_recognises_a_profile_in_any_spelling() {
    let tmp = tempfile::tempdir().expect("tmp");
    let base = infraflux::profile::DEFAULT_YAML.replace("name: infraflux\n", "name: infraflux\nbogusField: 1\n");
    let doc = infraflux::yaml::parse_str("p", &base).expect("parses").remove(0);
    let variants = [
        ("quoted.yaml", base.replace("kind: ClusterProfile", "kind: \"ClusterProfile\"")),
        ("comment.yaml", base.replace("kind: ClusterProfile", "kind: ClusterProfile  # the cluster")),
        ("crlf.yaml", base.replace('\n', "\r\n")),
        ("profile.json", serde_json::to_string_pretty(&doc.root.to_json()).expect("json")),
    ];
    for (name, text) in variants {
        let p = tmp.path().join(name);
        std::fs::write(&p, text).expect("write");
        let (code, out, err) = run(&["check", p.to_str().expect("utf8")]);
        assert_eq!(code, 2, "{name}: {out}{err}");
        assert!(out.contains("PROF-") && out.contains("bogusField"), "{name}: {out}{err}");
    }
    let empty = tmp.path().join("empty.yaml");
    std::fs::write(&empty, "# nothing\n").expect("write");
    let (code, out, _) = run(&["check", empty.to_str().expect("utf8")]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("YAML-000") && out.contains("no YAML document"), "{out}");
}

/// An unwritable --out is found before the cluster is touched (FLAG-008,
/// exit 2), not after the run when the results would be lost.
#[test]
fn an_unwritable_out_dir_is_refused_first() {
    let tmp = tempfile::tempdir().expect("tmp");
    let file = tmp.path().join("a-file");
    std::fs::write(&file, "x").expect("write");
    let kc = dead_kubeconfig(tmp.path());
    // A path under a regular file can never be created (even by root).
    let out = file.join("runs");
    let (code, _, err) = run(&["run", "--kubeconfig", kc.to_str().expect("utf8"), "--out", out.to_str().expect("utf8")]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("error[FLAG-008]") && err.contains("Not a directory"), "{err}");
    assert!(!err.contains("127.0.0.1:1"), "the cluster was not contacted: {err}");
}

/// A suites directory with no suite in it is a wrong --suites, not a run
/// that passes with 0 cases.
#[test]
fn an_empty_suites_dir_is_bad_input() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (code, _, err) = run(&["run", "--list", "--suites", tmp.path().to_str().expect("utf8")]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("SUITE-000") && err.contains("no suite files"), "{err}");
}

/// A render that cannot write says why, with the OS cause.
#[test]
fn render_write_errors_carry_the_os_cause() {
    let tmp = tempfile::tempdir().expect("tmp");
    let file = tmp.path().join("a-file");
    std::fs::write(&file, "x").expect("write");
    let (code, _, err) = run(&["render", "--out", file.join("stack").to_str().expect("utf8")]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("caused by:") && err.contains("os error"), "{err}");
}
