//! Every rule catalog, in the order `infraflux check --rules` lists them.
//!
//! Each catalog is a `&'static [Rule]` table next to the code that emits its
//! findings: `YAML-` (model, every loader), `PROF-` (model, profile rules),
//! `SUITE-` (model, suite loader), `FLAG-` (this crate, command-line values),
//! `REPORT-` (report inputs) and the stack rules of `check` (stack).

use std::fmt::Write as _;

pub use infraflux_model::rules::{Catalog, Impact, Rule, find, ids_in};

use crate::cli::flag_rules;
use crate::{check, profile, report, suite, yaml};

/// All catalogs, in listing order. Rule ids are unique across them.
pub fn catalogs() -> Vec<Catalog> {
    vec![
        Catalog { name: "YAML", title: "YAML inputs (every loader)", rules: yaml::RULES },
        Catalog { name: "PROF", title: "Cluster profile rules", rules: profile::RULES },
        Catalog { name: "SUITE", title: "Suite loader rules", rules: suite::RULES },
        Catalog { name: "FLAG", title: "Command-line values", rules: flag_rules::RULES },
        Catalog { name: "REPORT", title: "Report and compare inputs", rules: report::RULES },
        check::catalog(),
    ]
}

/// Looks a rule up in every catalog.
pub fn lookup(id: &str) -> Option<&'static Rule> {
    catalogs().iter().find_map(|c| c.find(id))
}

/// `check --rules` as text: one section per catalog.
pub fn render_text() -> String {
    let mut s = String::new();
    for (i, c) in catalogs().iter().enumerate() {
        if i > 0 {
            s.push('\n');
        }
        let _ = writeln!(s, "# {} ({}, {} rules)", c.title, c.name, c.rules.len());
        for r in c.rules {
            let impact = r.impact.map_or("", Impact::label);
            let _ = writeln!(s, "{:<11} {:<7} {:<10} {}", r.id, r.severity.to_string(), impact, r.title);
            let _ = write!(s, "{:<30}fix: {}", "", r.hint);
            if !r.audit.is_empty() {
                let audit: Vec<String> = r.audit.iter().map(|a| format!("#{a}")).collect();
                let _ = write!(s, " (audit {})", audit.join(" "));
            }
            s.push('\n');
        }
    }
    s
}

/// `check --rules --format json`: `{"catalogs": [{name, title, rules}],
/// "not_detectable": [{audit, reason}]}` (the latter: seed-audit items no
/// stack rule can catch).
pub fn render_json() -> String {
    let not_detectable: Vec<serde_json::Value> = check::rules::NOT_DETECTABLE
        .iter()
        .map(|(audit, reason)| serde_json::json!({"audit": audit, "reason": reason}))
        .collect();
    let v = serde_json::json!({"catalogs": catalogs(), "not_detectable": not_detectable});
    serde_json::to_string_pretty(&v).unwrap_or_else(|e| format!("{{\"error\":\"failed to render the rule catalogs: {e}\"}}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_across_catalogs_and_carry_their_prefix() {
        let mut seen = std::collections::BTreeSet::new();
        for c in catalogs() {
            assert!(!c.rules.is_empty(), "{} is empty", c.name);
            for r in c.rules {
                assert!(seen.insert(r.id), "{} is listed twice", r.id);
                assert!(!r.title.is_empty() && !r.hint.is_empty(), "{} lacks text", r.id);
                if c.name != "stack" {
                    assert!(r.id.starts_with(&format!("{}-", c.name)), "{} in catalog {}", r.id, c.name);
                }
            }
        }
        for id in ["YAML-000", "YAML-002", "PROF-001", "SUITE-019", "FLAG-005", "REPORT-020", "CIL-001"] {
            assert!(lookup(id).is_some(), "{id}");
        }
    }

    #[test]
    fn text_lists_every_catalog() {
        let text = render_text();
        for c in catalogs() {
            assert!(text.contains(&format!("({}, ", c.name)), "{}", c.name);
            for r in c.rules {
                assert!(text.contains(r.id), "{}", r.id);
            }
        }
    }
}
