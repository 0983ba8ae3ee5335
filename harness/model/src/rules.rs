//! The one rule type every catalog uses.
//!
//! Every bad input InfraFlux reports is a [`Finding`] that names a rule. The
//! rules live in `&'static [Rule]` tables next to the code that emits them:
//! `YAML-` ([`crate::yaml::RULES`]), `PROF-` ([`crate::profile::rules`]),
//! `SUITE-` ([`crate::suite::RULES`]), and in the crates above, `FLAG-`
//! (cli), `REPORT-` (report) and the stack catalog (stack: `CIL-`, `FLUX-`,
//! …). A finding built from its table entry ([`Rule::finding`], [`Rule::at`])
//! takes the id, severity and hint from the table, so the catalog that
//! `infraflux check --rules` prints and the findings cannot drift apart.

use serde::Serialize;

use crate::diag::{Finding, Severity};
use crate::yaml::Pos;

/// How the seed audit classifies the defect a stack rule catches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Impact {
    /// Install or reconcile fails, or the component does not come up.
    Breaks,
    /// It applies, but the result is wrong or insecure.
    Silent,
    /// Outdated; on a removal path or already removed.
    Deprecated,
}

impl Impact {
    pub fn label(self) -> &'static str {
        match self {
            Impact::Breaks => "BREAKS",
            Impact::Silent => "SILENT",
            Impact::Deprecated => "DEPRECATED",
        }
    }
}

/// One entry of a rule catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Rule {
    /// Stable, prefixed id (`PROF-004`, `CIL-001`, `SUITE-019`).
    pub id: &'static str,
    /// Group inside the catalog (`profile`, `suite`, `cilium-values`, …).
    pub area: &'static str,
    /// The severity of the findings this rule raises (the worst one when a
    /// rule raises both, like PROF-026).
    pub severity: Severity,
    /// One line: what the rule detects.
    pub title: &'static str,
    /// How to fix it (the finding's hint, unless the call site has a more
    /// specific one).
    pub hint: &'static str,
    /// Seed-audit impact (stack rules).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub impact: Option<Impact>,
    /// Item numbers in seed-audit.md section A (stack rules).
    #[serde(skip_serializing_if = "<[u8]>::is_empty")]
    pub audit: &'static [u8],
}

impl Rule {
    /// An error rule without audit metadata.
    pub const fn error(id: &'static str, area: &'static str, title: &'static str, hint: &'static str) -> Rule {
        Rule { id, area, severity: Severity::Error, title, hint, impact: None, audit: &[] }
    }

    /// A warning rule without audit metadata.
    pub const fn warning(id: &'static str, area: &'static str, title: &'static str, hint: &'static str) -> Rule {
        Rule { id, area, severity: Severity::Warning, title, hint, impact: None, audit: &[] }
    }

    /// The same rule with seed-audit metadata.
    pub const fn audited(self, impact: Impact, audit: &'static [u8]) -> Rule {
        Rule { impact: Some(impact), audit, ..self }
    }

    /// A finding of this rule with the table's severity and hint.
    pub fn finding(&self, message: impl Into<String>) -> Finding {
        Finding::new(self.id, self.severity, message, self.hint)
    }

    /// A finding of this rule with a hint specific to the call site.
    pub fn finding_hint(&self, message: impl Into<String>, hint: impl Into<String>) -> Finding {
        Finding::new(self.id, self.severity, message, hint)
    }

    /// [`Rule::finding`] located at `file:pos`.
    pub fn at(&self, file: &str, pos: Pos, message: impl Into<String>) -> Finding {
        self.finding(message).at_pos(file, pos)
    }
}

/// A named table of rules, as `check --rules` lists it.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Catalog {
    /// Short name, usually the id prefix (`YAML`, `PROF`, `stack`).
    pub name: &'static str,
    /// What the catalog covers.
    pub title: &'static str,
    pub rules: &'static [Rule],
}

impl Catalog {
    pub fn find(&self, id: &str) -> Option<&'static Rule> {
        find(self.rules, id)
    }
}

/// Looks `id` up in `rules`.
pub fn find(rules: &'static [Rule], id: &str) -> Option<&'static Rule> {
    rules.iter().find(|r| r.id == id)
}

/// The distinct `PREFIX-NNN` ids that occur as whole words in `text`, in
/// order of first occurrence. Catalog tests use it to compare the ids a
/// module's source emits with its table.
pub fn ids_in(text: &str, prefix: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let bytes = text.as_bytes();
    for (i, _) in text.match_indices(prefix) {
        let start_ok = i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
        let digits = &bytes[i + prefix.len()..];
        let n = digits.iter().take_while(|b| b.is_ascii_digit()).count();
        if start_ok && n == 3 {
            let id = text[i..i + prefix.len() + 3].to_owned();
            if !out.contains(&id) {
                out.push(id);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_in_finds_whole_three_digit_ids_once() {
        let text = r#"x "SUITE-001" SUITE_002 MYSUITE-003 "SUITE-001" SUITE-0045 SUITE-"#;
        assert_eq!(ids_in(text, "SUITE-"), vec!["SUITE-001".to_owned()]);
        assert_eq!(ids_in(text, "SUITE_"), vec!["SUITE_002".to_owned()]);
    }

    #[test]
    fn a_finding_takes_id_severity_and_hint_from_the_rule() {
        const R: Rule = Rule::warning("X-001", "x", "title", "do this");
        let f = R.at("f.yaml", Pos { line: 3, col: 4 }, "bad");
        assert_eq!((f.rule.as_str(), f.severity, f.hint.as_str()), ("X-001", Severity::Warning, "do this"));
        assert_eq!(f.location.map(|l| (l.line, l.col)), Some((3, 4)));
        let a = R.audited(Impact::Breaks, &[7]);
        assert_eq!((a.impact, a.audit), (Some(Impact::Breaks), &[7u8][..]));
    }
}
