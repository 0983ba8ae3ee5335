//! Findings and their rendering.
//!
//! One shape serves every gate: profile rules (`PROF-NNN`), stack checks
//! (`check` rules), suite-loader errors (`SUITE-NNN`) and YAML syntax errors.
//! A finding names its rule, says what is wrong and how to fix it, and points
//! at `file:line:col` when it has a place.

use serde::Serialize;

use crate::yaml::{DeError, Pos};

/// How bad a finding is. `Error` findings fail `check` (exit 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
    Info,
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        })
    }
}

/// A place in an input file (1-based line and column).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Location {
    pub file: String,
    pub line: u32,
    pub col: u32,
}

impl Location {
    pub fn new(file: impl Into<String>, pos: Pos) -> Self {
        Location {
            file: file.into(),
            line: pos.line,
            col: pos.col,
        }
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.col)
    }
}

/// One problem found in an input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Stable rule id, e.g. `PROF-004`, `CIL-001`, `SUITE-002`, `YAML-001`.
    pub rule: String,
    pub severity: Severity,
    pub message: String,
    /// How to fix it.
    pub hint: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    /// Dotted path of the offending field, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

impl Finding {
    pub fn new(
        rule: impl Into<String>,
        severity: Severity,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        Finding {
            rule: rule.into(),
            severity,
            message: message.into(),
            hint: hint.into(),
            location: None,
            path: None,
        }
    }

    pub fn error(rule: impl Into<String>, message: impl Into<String>, hint: impl Into<String>) -> Self {
        Finding::new(rule, Severity::Error, message, hint)
    }

    pub fn warning(rule: impl Into<String>, message: impl Into<String>, hint: impl Into<String>) -> Self {
        Finding::new(rule, Severity::Warning, message, hint)
    }

    pub fn at(mut self, location: Location) -> Self {
        self.location = Some(location);
        self
    }

    pub fn at_pos(self, file: &str, pos: Pos) -> Self {
        self.at(Location::new(file, pos))
    }

    pub fn with_path(mut self, path: impl Into<String>) -> Self {
        self.path = Some(path.into());
        self
    }

    /// A YAML read/syntax/duplicate-key error as a finding (rule `YAML-000`,
    /// `YAML-001` or `YAML-002`, with the hint of [`crate::yaml::RULES`]).
    pub fn from_yaml_error(err: &crate::yaml::Error) -> Self {
        use crate::yaml::Error as E;
        let rule = match err {
            E::DuplicateKey { .. } => &crate::yaml::YAML_002,
            E::Read { .. } => &crate::yaml::YAML_000,
            E::Unreadable { .. } | E::TooDeep { .. } => &crate::yaml::YAML_003,
            _ => &crate::yaml::YAML_001,
        };
        let (file, pos) = match err {
            E::Syntax { file, line, col, .. }
            | E::DuplicateKey { file, line, col, .. }
            | E::UnknownAlias { file, line, col, .. }
            | E::TooDeep { file, line, col } => {
                (file.to_string(), Some(Pos { line: *line, col: *col }))
            }
            E::TooLarge { file } => (file.to_string(), None),
            E::Read { file, .. } | E::Unreadable { file, .. } => (file.clone(), None),
        };
        let message = match err {
            E::Syntax { message, .. } => format!("invalid YAML: {message}"),
            E::DuplicateKey { key, first_line, .. } => {
                format!("duplicate key `{key}` (first defined at line {first_line})")
            }
            E::TooDeep { .. } => format!("nesting deeper than {} levels", crate::yaml::MAX_DEPTH),
            E::Unreadable { message, .. } => message.clone(),
            other => other.to_string(),
        };
        let f = rule.finding(message);
        match pos {
            Some(p) => f.at_pos(&file, p),
            None => f.at(Location { file, line: 0, col: 0 }),
        }
    }

    /// A typed-decoding error (unknown field, wrong type…) as a finding.
    pub fn from_de_error(rule: &str, file: &str, err: &DeError, hint: &str) -> Self {
        let f = Finding::error(rule, err.message.clone(), hint);
        let f = if err.path.is_empty() { f } else { f.with_path(err.path.clone()) };
        match err.pos {
            Some(p) => f.at_pos(file, p),
            None => f,
        }
    }
}

/// Input text as a terminal may show it: control characters (ESC, BEL,
/// CR…) from a file or flag become `\u{1b}`-style escapes, so a hostile
/// input cannot rewrite the screen or ring the bell through a diagnostic.
/// Line breaks stay: multi-line messages are ours.
pub fn escape_controls(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(|c| c.is_control() && c != '\n') {
        return std::borrow::Cow::Borrowed(s);
    }
    std::borrow::Cow::Owned(
        s.chars()
            .map(|c| if c.is_control() && c != '\n' { c.escape_unicode().to_string() } else { c.to_string() })
            .collect(),
    )
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(loc) = &self.location {
            write!(f, "{}: ", escape_controls(&loc.to_string()))?;
        }
        write!(f, "{}[{}]: {}", self.severity, self.rule, escape_controls(&self.message))?;
        if let Some(path) = &self.path {
            write!(f, " (at `{}`)", escape_controls(path))?;
        }
        if !self.hint.is_empty() {
            write!(f, "\n  hint: {}", self.hint)?;
        }
        Ok(())
    }
}

/// Sorts findings by file, line, column, then rule, for stable output.
pub fn sort(findings: &mut [Finding]) {
    findings.sort_by(|a, b| {
        a.location
            .cmp(&b.location)
            .then_with(|| a.rule.cmp(&b.rule))
            .then_with(|| a.message.cmp(&b.message))
    });
}

/// True when any finding is an error.
pub fn has_errors(findings: &[Finding]) -> bool {
    findings.iter().any(|f| f.severity == Severity::Error)
}

#[cfg(test)]
mod escape_tests {
    use super::*;

    #[test]
    fn control_characters_from_input_are_escaped_in_diagnostics() {
        let f = Finding::error("YAML-001", "bad key `a\u{1b}[2J\u{7}b`\nsecond line", "h")
            .with_path("x\ry")
            .at(Location { file: "f\u{1b}.yaml".into(), line: 1, col: 2 });
        let text = f.to_string();
        assert!(!text.chars().any(|c| c.is_control() && c != '\n'), "{text:?}");
        assert!(text.contains("a\\u{1b}[2J\\u{7}b") && text.contains("x\\u{d}y") && text.contains("f\\u{1b}.yaml"), "{text}");
        assert!(text.contains("\nsecond line"));
    }
}
