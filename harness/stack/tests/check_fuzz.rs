//! Property test for `check` over manifests: real fixtures, mutated at
//! random, are checked or refused with catalogued findings — never a panic.
//! `PROPTEST_CASES=100000` runs it long; the default is a short CI run.

use std::path::Path;

use proptest::prelude::*;

const TOKENS: &[&str] = &[
    "- ", ": ", "\n", "\n  ", "[", "]", "{", "}", "&a ", "*a", "<<: *a\n", "'", "\"", "---\n", "\r\n", "${VAR}",
    "ENC[AES256_GCM,data:x]", "{{ .Values.x }}", "kind: ClusterProfile\n", "apiVersion: v1\n", "namespace: x\n",
];

fn fixtures() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/check");
    let mut out = Vec::new();
    let mut stack = vec![dir];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "yaml") {
                out.push(std::fs::read_to_string(&p).unwrap_or_default());
            }
        }
    }
    out.sort();
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn mutated_manifests_never_panic(
        which in 0usize..10_000,
        edits in prop::collection::vec((0.0..1.0f64, prop::sample::select(TOKENS), 0usize..30), 1..6),
    ) {
        let all = fixtures();
        let mut chars: Vec<char> = all[which % all.len()].chars().collect();
        for (f, token, del) in edits {
            let i = ((f * chars.len() as f64) as usize).min(chars.len());
            let j = (i + del).min(chars.len());
            chars.splice(i..j, token.chars());
        }
        let text: String = chars.into_iter().collect();
        let checked = infraflux_stack::check::check_texts(&[("fuzz.yaml".to_owned(), text)]);
        let findings = match &checked {
            Ok(r) => r.findings.clone(),
            Err(e) => e.findings(),
        };
        for f in findings {
            prop_assert!(!f.rule.is_empty() && !f.message.is_empty());
        }
    }
}

#[test]
fn deep_and_huge_shapes_are_refused_not_fatal() {
    for text in ["- ".repeat(100_000) + "x", "{a: ".repeat(50_000)] {
        let r = infraflux_stack::check::check_texts(&[("deep.yaml".to_owned(), text)]);
        let findings = match &r {
            Ok(r) => r.findings.clone(),
            Err(e) => e.findings(),
        };
        assert!(findings.iter().any(|f| f.rule.starts_with("YAML-")), "{findings:?}");
    }
}
