//! Data-driven profile tests over `fixtures/profiles/`.
//!
//! - `rules/PROF-NNN/fail.yaml` starts with `# expect: PROF-NNN at L:C` and
//!   must produce that rule (and no other) with a finding at L:C;
//! - `rules/PROF-NNN/pass.yaml` must produce no finding at all;
//! - both with the provisioning rules ([`profile::provisioning`]) added
//!   for the rules only `up`/`conform` apply (PROF-041);
//! - `malformed/*.yaml` must fail to load with the expected rule and place;
//! - every catalog rule has a fixture folder and every folder is a rule;
//! - `default.yaml` (and its embedded copy) is clean.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use infraflux_model::diag::Finding;
use infraflux_model::profile;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/profiles")
}

/// `(rule, Some((line, col)))` from the first line `# expect: RULE at L:C`
/// (`at` part optional).
fn expectation(path: &Path) -> (String, Option<(u32, u32)>) {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let first = text.lines().next().unwrap_or_default();
    let rest = first.strip_prefix("# expect: ").unwrap_or_else(|| {
        panic!(
            "{}: first line must be `# expect: RULE at L:C`",
            path.display()
        )
    });
    match rest.split_once(" at ") {
        None => (rest.trim().to_owned(), None),
        Some((rule, at)) => {
            let (l, c) = at
                .trim()
                .split_once(':')
                .unwrap_or_else(|| panic!("{}: bad L:C", path.display()));
            let l = l
                .parse()
                .unwrap_or_else(|_| panic!("{}: bad line", path.display()));
            let c = c
                .parse()
                .unwrap_or_else(|_| panic!("{}: bad col", path.display()));
            (rule.trim().to_owned(), Some((l, c)))
        }
    }
}

fn render(findings: &[Finding]) -> String {
    findings.iter().map(|f| format!("{f}\n")).collect()
}

/// Checks one fixture's findings; returns what is wrong, if anything.
fn check_expected(
    path: &Path,
    findings: &[Finding],
    rule: &str,
    at: Option<(u32, u32)>,
) -> Option<String> {
    let shown = path.display();
    let rules: BTreeSet<&str> = findings.iter().map(|f| f.rule.as_str()).collect();
    if rules != BTreeSet::from([rule]) {
        return Some(format!(
            "{shown}: expected only {rule}, got:\n{}",
            render(findings)
        ));
    }
    let file = shown.to_string();
    for f in findings {
        match &f.location {
            None => return Some(format!("{shown}: unlocated finding {f}")),
            Some(loc) if loc.file != file => {
                return Some(format!("{shown}: finding names file {}", loc.file));
            }
            Some(_) => {}
        }
        if f.hint.is_empty() {
            return Some(format!("{shown}: finding without hint: {f}"));
        }
    }
    let (line, col) = at?;
    let found = findings.iter().any(|f| {
        f.location
            .as_ref()
            .is_some_and(|l| (l.line, l.col) == (line, col))
    });
    (!found).then(|| {
        format!(
            "{shown}: no {rule} at {line}:{col}, got:\n{}",
            render(findings)
        )
    })
}

/// Rules `check` does not apply; `up`/`conform` add them when provisioning.
const PROVISIONING: &[&str] = &["PROF-041"];

/// `check`'s findings, plus the provisioning rules' for those rules' fixtures.
fn findings_of(path: &Path, id: &str) -> Vec<Finding> {
    let mut out = profile::check_file(path).findings;
    if PROVISIONING.contains(&id)
        && let Ok(loaded) = profile::load_file(path)
    {
        out.extend(profile::provisioning(&loaded, true));
    }
    out
}

fn dirs(path: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .map(|e| e.map(|e| e.path()).unwrap_or_else(|e| panic!("{e}")))
        .collect();
    out.sort();
    out
}

#[test]
fn default_profile_is_clean() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/default-profile.yaml");
    let findings = profile::check_file(&path).findings;
    assert!(findings.is_empty(), "{}", render(&findings));
    let embedded = profile::load_default().unwrap_or_else(|e| panic!("{e}"));
    assert!(profile::validate(&embedded).is_empty());
    assert_eq!(embedded.file, "<embedded>/default.yaml");
    let on_disk = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        on_disk,
        profile::DEFAULT_YAML,
        "embedded default differs from the shipped file"
    );
}

#[test]
fn every_rule_has_fixtures_and_every_fixture_is_a_rule() {
    let catalog: BTreeSet<String> = profile::rules().iter().map(|r| r.id.to_owned()).collect();
    let folders: BTreeSet<String> = dirs(&fixtures().join("rules"))
        .iter()
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    assert_eq!(catalog, folders);
}

#[test]
fn rule_fixtures() {
    let mut problems = Vec::new();
    let mut checked = 0;
    for dir in dirs(&fixtures().join("rules")) {
        let id = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let fail = dir.join("fail.yaml");
        let (rule, at) = expectation(&fail);
        assert_eq!(
            rule,
            id,
            "{}: expects another rule than its folder",
            fail.display()
        );
        assert!(
            at.is_some(),
            "{}: fail fixtures must give L:C",
            fail.display()
        );
        problems.extend(check_expected(
            &fail,
            &findings_of(&fail, &id),
            &rule,
            at,
        ));

        let pass = dir.join("pass.yaml");
        let findings = findings_of(&pass, &id);
        if !findings.is_empty() {
            problems.push(format!(
                "{}: expected no findings, got:\n{}",
                pass.display(),
                render(&findings)
            ));
        }
        checked += 1;
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(checked >= 30, "only {checked} rule folders");
}

#[test]
fn malformed_fixtures_fail_to_load_with_location() {
    let mut problems = Vec::new();
    let mut checked = 0;
    for path in dirs(&fixtures().join("malformed")) {
        let (rule, at) = expectation(&path);
        let err = match profile::load_file(&path) {
            Ok(_) => panic!("{}: loaded, expected {rule}", path.display()),
            Err(e) => e,
        };
        assert_eq!(err.status(), infraflux_model::exit::Status::BadInput);
        assert!(
            at.is_some(),
            "{}: malformed fixtures must give L:C",
            path.display()
        );
        problems.extend(check_expected(&path, &err.findings(), &rule, at));
        checked += 1;
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(checked >= 4);
}

fn docs() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/profile.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn docs_list_every_rule_with_its_catalog_title_and_hint() {
    let docs = docs();
    for r in profile::rules() {
        let row = format!("| {} | {} | {} |", r.id, r.title, r.hint);
        assert!(
            docs.contains(&row),
            "docs/profile.md lacks or differs for row:\n{row}"
        );
    }
}

/// Every key written in the default profile is documented (inside a
/// backtick span, alone or as part of a dotted path). Children of free-form
/// label maps are data, not keys.
#[test]
fn docs_cover_every_key_of_the_default_profile() {
    use infraflux_model::yaml::{Node, Value};
    fn keys(node: &Node, out: &mut BTreeSet<String>) {
        match &node.value {
            Value::Map(entries) => {
                for (k, v) in entries {
                    let key = k.scalar_text().unwrap_or_default();
                    out.insert(key.clone());
                    let free_form = [
                        "nodeSelector",
                        "matchLabels",
                        "infrastructureLabels",
                        "labels",
                    ];
                    if !free_form.contains(&key.as_str()) {
                        keys(v, out);
                    }
                }
            }
            Value::Seq(items) => items.iter().for_each(|i| keys(i, out)),
            _ => {}
        }
    }
    let loaded = profile::load_default().unwrap_or_else(|e| panic!("{e}"));
    let mut all = BTreeSet::new();
    keys(&loaded.root, &mut all);
    let docs = docs();
    let documented: BTreeSet<&str> = docs
        .split('`')
        .skip(1)
        .step_by(2)
        .flat_map(|span| span.split(['.', '[', ']', ' ', '{', '}', ',', ':']))
        .filter(|t| !t.is_empty())
        .collect();
    let missing: Vec<&String> = all
        .iter()
        .filter(|k| !documented.contains(k.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "keys not documented in docs/profile.md: {missing:?}"
    );
}
