use std::path::{Path, PathBuf};

use super::*;
use crate::diag::Severity;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

use rules::SEED_BLOCKERS;

#[test]
fn seed_plan_raises_all_seven_blockers() {
    let report = check(&[repo().join("fixtures/seed")]).expect("seed fixtures are readable YAML");
    if std::env::var_os("INFRAFLUX_SHOW").is_some() {
        eprintln!("{}", render_human(&report));
    }
    assert_eq!(report.status(), Status::Failed);
    for id in SEED_BLOCKERS {
        let rule = rules::find(id).expect("blocker is in the catalog");
        assert_eq!(rule.severity, Severity::Error, "{id}");
        assert!(report.findings.iter().any(|f| f.rule == *id), "seed plan must raise {id}");
    }
}

#[test]
fn catalog_is_complete_and_unique() {
    let all = rules();
    assert!(all.len() >= 35, "only {} rules", all.len());
    let mut ids: Vec<&str> = all.iter().map(|r| r.id).collect();
    ids.sort_unstable();
    let before = ids.len();
    ids.dedup();
    assert_eq!(before, ids.len(), "duplicate rule ids");
    for r in all {
        assert!(!r.hint.is_empty() && !r.title.is_empty() && r.impact.is_some(), "{} lacks text or impact", r.id);
    }
}

#[test]
fn docs_match_catalog() {
    let path = repo().join("docs/check-rules.md");
    let want = rules::catalog_markdown();
    if std::env::var_os("INFRAFLUX_BLESS").is_some() {
        std::fs::write(&path, &want).expect("write docs");
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(have == want, "docs/check-rules.md drifted from check::rules(); rerun with INFRAFLUX_BLESS=1");
}

/// `(file, line)` of every `<- RULE-ID` marker in a fixture file or directory.
fn markers(path: &Path, id: &str) -> Vec<(String, u32)> {
    let marker = format!("<- {id}");
    let mut files = Vec::new();
    collect(path, &mut files);
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        for (i, l) in text.lines().enumerate() {
            if l.contains(&marker) {
                out.push((f.display().to_string(), i as u32 + 1));
            }
        }
    }
    out
}

fn collect(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        let mut entries: Vec<PathBuf> =
            std::fs::read_dir(path).into_iter().flatten().filter_map(|e| e.ok().map(|e| e.path())).collect();
        entries.sort();
        for e in entries {
            collect(&e, out);
        }
    } else {
        out.push(path.to_path_buf());
    }
}

#[test]
fn every_rule_has_failing_and_passing_fixtures() {
    let root = repo().join("fixtures/check");
    let mut problems = Vec::new();
    for r in rules() {
        let dir = root.join(r.id);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            problems.push(format!("{}: no fixture directory", r.id));
            continue;
        };
        let mut files: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        files.sort();
        let fails: Vec<&PathBuf> = files.iter().filter(|p| stem(p).starts_with("fail")).collect();
        let passes: Vec<&PathBuf> = files.iter().filter(|p| stem(p).starts_with("pass")).collect();
        if fails.is_empty() || passes.is_empty() {
            problems.push(format!("{}: needs fail.* and pass.*", r.id));
            continue;
        }
        for f in fails {
            let want = markers(f, r.id);
            if want.is_empty() {
                problems.push(format!("{}: {} has no `<- {}` marker", r.id, f.display(), r.id));
                continue;
            }
            match check(std::slice::from_ref(f)) {
                Err(e) => problems.push(format!("{}: {} does not load: {e}", r.id, f.display())),
                Ok(rep) => {
                    let got: Vec<(String, u32)> = rep
                        .findings
                        .iter()
                        .filter(|x| x.rule == r.id)
                        .filter_map(|x| x.location.as_ref().map(|l| (l.file.clone(), l.line)))
                        .collect();
                    for w in &want {
                        if !got.contains(w) {
                            problems.push(format!(
                                "{}: expected at {}:{}, got {got:?}\n{}",
                                r.id,
                                w.0,
                                w.1,
                                render_human(&rep)
                            ));
                        }
                    }
                }
            }
        }
        for p in passes {
            match check(std::slice::from_ref(p)) {
                Err(e) => problems.push(format!("{}: {} does not load: {e}", r.id, p.display())),
                Ok(rep) => {
                    if let Some(x) = rep.findings.iter().find(|x| x.rule == r.id) {
                        problems.push(format!("{}: pass fixture raised it: {x}", r.id));
                    }
                }
            }
        }
    }
    assert!(problems.is_empty(), "{} problem(s):\n{}", problems.len(), problems.join("\n"));
}

fn stem(p: &Path) -> String {
    p.file_name().and_then(|n| n.to_str()).unwrap_or("").to_owned()
}

#[test]
fn syntax_error_is_bad_input_with_position_and_the_rest_is_still_checked() {
    let rep = check_texts(&[
        ("bad.yaml".into(), "a: [1, 2\nb: 3\n".into()),
        ("values.yaml".into(), "kubeProxyReplacement: strict\nk8sServiceHost: x\n".into()),
    ])
    .expect("one broken file is a finding");
    assert_eq!(rep.status(), Status::BadInput);
    let f = rep.findings.iter().find(|f| f.rule == "YAML-001").expect("YAML-001");
    assert!(f.location.as_ref().is_some_and(|l| l.file == "bad.yaml" && l.line >= 1));
    assert!(rep.findings.iter().any(|f| f.rule == "CIL-001"), "{}", render_human(&rep));
}

#[test]
fn flux_substitution_is_accepted_in_typed_fields() {
    let text = "apiVersion: v1\nkind: Service\nmetadata:\n  name: s\n  namespace: x\nspec:\n  ports:\n  - port: ${PORT}\n    targetPort: ${TARGET:=8080}\n  selectr: {}\n";
    let rep = check_texts(&[("svc.yaml".into(), text.into())]).expect("loads");
    let rules: Vec<&str> = rep.findings.iter().map(|f| f.rule.as_str()).collect();
    assert_eq!(rules, vec!["SCHEMA-001"], "{}", render_human(&rep));
}

#[test]
fn unreadable_path_is_bad_input() {
    let err = check(&[PathBuf::from("/nonexistent/infraflux-check")]).unwrap_err();
    assert!(matches!(err, CheckError::Read { .. }));
    assert_eq!(err.status(), Status::BadInput);
}

#[test]
fn duplicate_key_is_a_finding_and_checking_continues() {
    let text = "cni: none\ndisable:\n  - rke2-coredns\ndisable:\n  - rke2-canal\n";
    let rep = check_texts(&[("rke2/config.yaml".into(), text.into())]).expect("loads");
    assert!(rep.findings.iter().any(|f| f.rule == "YAML-002" && f.location.as_ref().is_some_and(|l| l.line == 4)));
    // Both lists are still checked.
    assert!(rep.findings.iter().any(|f| f.rule == "RKE2-003"));
    assert!(rep.findings.iter().any(|f| f.rule == "RKE2-002"));
}

#[test]
fn embedded_values_positions_point_into_the_configmap_file() {
    let text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cilium-values\n  namespace: kube-system\ndata:\n  values.yaml: |\n    k8sServiceHost: localhost\n    kubeProxyReplacement: strict\n";
    let rep = check_texts(&[("cm.yaml".into(), text.into())]).expect("loads");
    let f = rep.findings.iter().find(|f| f.rule == "CIL-001").expect("CIL-001");
    let loc = f.location.as_ref().expect("located");
    assert_eq!((loc.line, loc.col), (9, 27));
}

#[test]
fn json_rendering_round_trips() {
    let rep = check_texts(&[("a.yaml".into(), "kubeProxyReplacement: strict\nk8sServiceHost: x\n".into())]).expect("loads");
    let v: serde_json::Value = serde_json::from_str(&render_json(&rep)).expect("json");
    let rules: Vec<&str> = v["findings"].as_array().expect("findings").iter().filter_map(|f| f["rule"].as_str()).collect();
    assert!(rules.contains(&"CIL-001"), "{rules:?}");
}

#[test]
fn unknown_fields_in_core_objects_are_found() {
    let text = "apiVersion: v1\nkind: Service\nmetadata:\n  name: s\nspec:\n  selectr:\n    app: x\n  ports:\n  - port: 80\n";
    let rep = check_texts(&[("svc.yaml".into(), text.into())]).expect("loads");
    let f = rep.findings.iter().find(|f| f.rule == "SCHEMA-001").expect("unknown field");
    assert_eq!(f.location.as_ref().map(|l| l.line), Some(6));
    assert_eq!(f.path.as_deref(), Some("spec.selectr"));
}

#[test]
fn run_with_profile_adds_profile_findings() {
    let dir = tempfile::tempdir().expect("tempdir");
    let manifest = dir.path().join("values.yaml");
    std::fs::write(&manifest, "kubeProxyReplacement: true\nk8sServiceHost: localhost\nipam: {mode: kubernetes}\n").expect("write");
    let good = dir.path().join("profile.yaml");
    std::fs::write(&good, crate::profile::DEFAULT_YAML).expect("write");
    let rep = run(std::slice::from_ref(&manifest), Some(&good)).expect("runs");
    assert!(!rep.has_errors(), "{}", render_human(&rep));
    assert!(rep.files.iter().any(|f| f.ends_with("profile.yaml")));
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, crate::profile::DEFAULT_YAML.replace("wireguard: true", "wireguard: false")).expect("write");
    let rep = run(std::slice::from_ref(&manifest), Some(&bad)).expect("runs");
    assert!(rep.findings.iter().any(|f| f.rule.starts_with("PROF-")), "{}", render_human(&rep));
    let broken = dir.path().join("broken.yaml");
    std::fs::write(&broken, "a: [").expect("write");
    assert_eq!(run(&[manifest], Some(&broken)).unwrap_err().status(), Status::BadInput);
}

fn seed_texts() -> Vec<(String, String)> {
    let mut files = Vec::new();
    collect(&repo().join("fixtures/seed"), &mut files);
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap_or_default();
            (p.display().to_string(), text)
        })
        .collect()
}

mod no_panic {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn arbitrary_text_never_panics(text in "(?s).{0,300}", ext in prop::sample::select(vec!["yaml", "j2", "sh", "tf"])) {
            let _ = check_texts(&[(format!("input.{ext}"), text)]);
        }

        #[test]
        fn mutated_seed_never_panics(file in 0usize..64, line in 0usize..200, op in 0u8..4) {
            let mut texts = seed_texts();
            let n = texts.len();
            let (_, text) = &mut texts[file % n];
            let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
            if !lines.is_empty() {
                let i = line % lines.len();
                match op {
                    0 => { lines.remove(i); }
                    1 => { let l = lines[i].clone(); lines.insert(i, l); }
                    2 => { lines[i] = format!("  {}", lines[i]); }
                    _ => { lines[i] = lines[i].replace(':', ""); }
                }
            }
            *text = lines.join("\n");
            match check_texts(&texts) {
                Ok(report) => prop_assert!(report.findings.iter().all(|f| !f.rule.is_empty())),
                Err(e) => prop_assert_eq!(e.status(), Status::BadInput),
            }
        }
    }
}

#[test]
fn every_audit_item_is_covered_or_explained() {
    for item in 1..=rules::AUDIT_ITEMS {
        let covered = rules().iter().any(|r| r.audit.contains(&item));
        let explained = rules::NOT_DETECTABLE.iter().any(|(i, why)| *i == item && !why.is_empty());
        assert!(covered || explained, "audit item #{item} has neither a rule nor a reason");
    }
    for r in rules() {
        assert!(r.audit.iter().all(|a| (1..=rules::AUDIT_ITEMS).contains(a)), "{}", r.id);
    }
}

#[test]
fn repo_context_resolves_references_without_reporting_on_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let write = |rel: &str, text: &str| {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    };
    let ks = |name: &str, deps: &str| {
        format!(
            "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: {name}\n  namespace: flux-system\nspec:\n  interval: 1h\n  path: ./x\n  prune: true\n  sourceRef: {{kind: GitRepository, name: flux-system}}\n{deps}"
        )
    };
    write("apps/ks.yaml", &ks("apps", "  dependsOn:\n    - name: infra\n"));
    write("infra/ks.yaml", &ks("infra", "  dependsOn:\n    - name: missing\n"));
    let pool = |name: &str| format!("apiVersion: cilium.io/v2\nkind: CiliumLoadBalancerIPPool\nmetadata:\n  name: {name}\nspec:\n  blocks: [{{cidr: 10.1.0.0/24}}]\n");
    write("clusters/a/pool.yaml", &pool("pool"));
    write("clusters/b/pool.yaml", &pool("pool"));
    let paths = [root.join("apps"), root.join("clusters/a")];
    let alone = check(&paths).expect("checks");
    assert!(alone.findings.iter().any(|f| f.rule == "FLUX-009"), "{}", render_human(&alone));
    let opts = Options { repo: Some(root.to_path_buf()), ..Options::default() };
    let rep = check_with(&paths, &opts).expect("checks");
    let rules: Vec<&str> = rep.findings.iter().filter(|f| f.severity != Severity::Info).map(|f| f.rule.as_str()).collect();
    // infra's own broken dependsOn is in the context, not reported; the
    // other cluster's pool is not compared with this one's.
    assert!(rules.is_empty(), "{}", render_human(&rep));
    assert_eq!(rep.files.len(), 2);
    assert_eq!(rep.objects_checked, 2);
}

#[test]
fn a_key_placed_by_target_path_counts_as_set() {
    let text = "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: cilium\n  namespace: kube-system\nspec:\n  interval: 1h\n  chart:\n    spec: {chart: cilium, version: 1.20.2, sourceRef: {kind: HelmRepository, name: cilium}}\n  values:\n    kubeProxyReplacement: true\n  valuesFrom:\n    - {kind: Secret, name: cluster, valuesKey: vip, targetPath: k8sServiceHost}\n";
    let rep = check_texts(&[("hr.yaml".into(), text.into())]).expect("loads");
    assert!(!rep.findings.iter().any(|f| f.rule == "CIL-002"), "{}", render_human(&rep));
    let wrong = text.replace("targetPath: k8sServiceHost", "targetPath: k8s\\.serviceHost");
    let rep = check_texts(&[("hr.yaml".into(), wrong)]).expect("loads");
    assert!(rep.findings.iter().any(|f| f.rule == "CIL-002"), "{}", render_human(&rep));
    let chart = rep.findings.iter().find(|f| f.rule == "CHART-001").expect("CHART-001");
    assert_eq!(chart.path.as_deref(), Some("k8s.serviceHost"));
    assert_eq!(chart.location.as_ref().map(|l| l.line), Some(13));
}
