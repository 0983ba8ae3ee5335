//! Property tests for the suite loader: every shipped suite, mutated at
//! random (tokens inserted, spans deleted or duplicated), loads or fails
//! with located, catalogued findings — never a panic, never an abort.
//! `PROPTEST_CASES=100000 cargo test -p infraflux-model --test suite_fuzz`
//! runs it long; the default is a short run for CI.

use std::path::Path;

use infraflux_model::suite::{self, rules::RULES};
use proptest::prelude::*;

/// YAML-significant fragments and the shapes that once broke a parser.
const TOKENS: &[&str] = &[
    "- ", ": ", "\n", "\n  ", "[", "]", "{", "}", ",", "&a ", "*a", "<<: *a\n", "!!str ", "'", "\"", "#", "---\n",
    "\r\n", "\u{feff}", "\u{1b}[2J", "0s", "99999999999999999h", "-1", "{{", "}}", "{{nodeCount}}", "$.items[?@.x",
    "requires: [\"!wireguard\"]\n", "timeout: 0s\n",
];

#[derive(Debug, Clone)]
enum Edit {
    Insert(f64, &'static str),
    Delete(f64, usize),
    Duplicate(f64, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (0.0..1.0f64, prop::sample::select(TOKENS)).prop_map(|(at, t)| Edit::Insert(at, t)),
        (0.0..1.0f64, 1usize..40).prop_map(|(at, n)| Edit::Delete(at, n)),
        (0.0..1.0f64, 1usize..200).prop_map(|(at, n)| Edit::Duplicate(at, n)),
    ]
}

/// Applies edits at character boundaries (fractions of the length).
fn mutate(text: &str, edits: &[Edit]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for e in edits {
        let at = |f: f64, len: usize| ((f * len as f64) as usize).min(len);
        match *e {
            Edit::Insert(f, t) => {
                let i = at(f, chars.len());
                chars.splice(i..i, t.chars());
            }
            Edit::Delete(f, n) => {
                let i = at(f, chars.len());
                let j = (i + n).min(chars.len());
                chars.drain(i..j);
            }
            Edit::Duplicate(f, n) => {
                let i = at(f, chars.len());
                let j = (i + n).min(chars.len());
                let copy: Vec<char> = chars[i..j].to_vec();
                chars.splice(j..j, copy);
            }
        }
    }
    chars.into_iter().collect()
}

fn shipped() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../suites");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files.iter().map(|p| std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{e}"))).collect()
}

fn load(text: &str) {
    if let Err(e) = suite::load_str("fuzz.yaml", text, Path::new("/nonexistent")) {
        for f in &e.0 {
            let known = f.rule.starts_with("YAML-") || RULES.iter().any(|r| r.id == f.rule);
            assert!(known, "uncatalogued rule {}", f.rule);
            assert!(!f.message.is_empty());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn mutated_suites_never_panic(which in 0usize..10, edits in prop::collection::vec(edit(), 1..8)) {
        let suites = shipped();
        let text = mutate(&suites[which % suites.len()], &edits);
        load(&text);
    }
}

/// The shapes that broke the loader before (the regression corpus).
#[test]
fn regression_corpus() {
    let deep_block = "- ".repeat(100_000) + "x";
    let deep_flow = "[".repeat(100_000);
    let bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n".to_owned()
        + &(b'b'..=b'k')
            .map(|c| {
                let prev = (c - 1) as char;
                let c = c as char;
                format!("{c}: &{c} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n")
            })
            .collect::<String>();
    for text in [deep_block, deep_flow, bomb, "\u{feff}kind: Suite\r\n".into(), String::new()] {
        load(&text);
    }
}
