//! Strict, located decoding of a profile.
//!
//! Parsing goes through [`crate::yaml`] so duplicate keys and syntax errors
//! carry `file:line:col`, and decoding uses [`crate::yaml::from_node`] so
//! unknown keys, wrong types and unknown enum values are rejected where they
//! are written. A literal secret (`apiToken: "abc…"`) is reported as rule
//! `PROF-015` rather than a bare type error, and its value is registered
//! with the redactor so no later output can echo it.

use std::path::Path;

use sha2::{Digest, Sha256};

use super::model::Profile;
use super::rules;
use crate::diag::{Finding, Location};
use crate::exit::Status;
use crate::yaml::{self, Node};

/// The default profile, embedded so the binary works without the repo.
pub const DEFAULT_YAML: &str = include_str!("../../assets/default-profile.yaml");

/// File name shown in findings about [`DEFAULT_YAML`].
pub const DEFAULT_FILE: &str = "<embedded>/default.yaml";

/// Rule id for any decoding problem (unknown key, wrong type, missing key).
pub const DECODE_RULE: &str = "PROF-000";

/// A decoded profile with the tree it came from, so rules can point at the
/// exact position of each field.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// File name as given by the caller (used in every finding).
    pub file: String,
    pub profile: Profile,
    /// The located YAML root of the profile document.
    pub root: Node,
    /// Hex SHA-256 of the profile text, for reports (which profile ran).
    pub sha256: String,
}

/// Why a profile could not be loaded. Every variant is malformed input
/// (exit 2); [`LoadError::findings`] gives the located findings.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("failed to parse profile")]
    Yaml(#[from] yaml::Error),
    #[error("failed to load profile {file}: the file holds no YAML document")]
    Empty { file: String },
    #[error("failed to load profile {file}: expected one document, found {count}")]
    MultipleDocuments {
        file: String,
        count: usize,
        /// Position of the second document.
        line: u32,
        col: u32,
    },
    #[error("failed to decode profile {file}: {}", summary(.findings))]
    Decode {
        file: String,
        findings: Vec<Finding>,
    },
}

fn summary(findings: &[Finding]) -> String {
    match findings {
        [] => "no details".into(),
        [one] => one.message.clone(),
        [first, rest @ ..] => format!("{} (and {} more)", first.message, rest.len()),
    }
}

impl LoadError {
    /// The located findings describing this error.
    pub fn findings(&self) -> Vec<Finding> {
        match self {
            LoadError::Yaml(e) => vec![Finding::from_yaml_error(e)],
            LoadError::Empty { file } => vec![
                Finding::error(
                    DECODE_RULE,
                    "the profile is empty",
                    "start from harness/model/assets/default-profile.yaml",
                )
                .at(Location {
                    file: file.clone(),
                    line: 1,
                    col: 1,
                }),
            ],
            LoadError::MultipleDocuments {
                file,
                count,
                line,
                col,
            } => vec![
                Finding::error(
                    DECODE_RULE,
                    format!("expected one profile document, found {count}"),
                    "keep one profile per file; remove the extra `---` documents",
                )
                .at(Location {
                    file: file.clone(),
                    line: *line,
                    col: *col,
                }),
            ],
            LoadError::Decode { findings, .. } => findings.clone(),
        }
    }

    /// Malformed profiles are bad input.
    pub fn status(&self) -> Status {
        Status::BadInput
    }
}

/// Reads and decodes a profile file.
pub fn load_file(path: &Path) -> Result<Loaded, LoadError> {
    let file = path.display().to_string();
    let text = yaml::read_text(path).map_err(LoadError::Yaml)?;
    load_str(&file, &text)
}

/// Decodes profile text; `file` is only used in messages.
pub fn load_str(file: &str, text: &str) -> Result<Loaded, LoadError> {
    let docs = yaml::parse_str(file, text)?;
    let mut docs = docs.into_iter();
    let root = match docs.next() {
        Some(doc) if !doc.root.is_null() => doc.root,
        _ => {
            return Err(LoadError::Empty {
                file: file.to_owned(),
            });
        }
    };
    let rest: Vec<_> = docs.collect();
    if let Some(second) = rest.first() {
        return Err(LoadError::MultipleDocuments {
            file: file.to_owned(),
            count: rest.len() + 1,
            line: second.root.pos.line,
            col: second.root.pos.col,
        });
    }
    let secrets = rules::inline_secrets(file, &root);
    match yaml::from_node::<Profile>(&root) {
        Ok(profile) if secrets.is_empty() => Ok(Loaded {
            file: file.to_owned(),
            profile,
            root,
            sha256: hex::encode(Sha256::digest(text.as_bytes())),
        }),
        Ok(_) => Err(LoadError::Decode {
            file: file.to_owned(),
            findings: secrets,
        }),
        Err(e) => {
            let mut findings = secrets;
            let at_secret = findings.iter().any(|f| {
                f.location
                    .as_ref()
                    .is_some_and(|l| e.pos.is_some_and(|p| p.line == l.line && p.col == l.col))
            });
            // The type error at an inline secret says the same thing less
            // usefully, and its message would quote the secret value.
            if !at_secret {
                findings.push(Finding::from_de_error(
                    DECODE_RULE,
                    file,
                    &e,
                    decode_hint(&e.message),
                ));
            }
            Err(LoadError::Decode {
                file: file.to_owned(),
                findings,
            })
        }
    }
}

fn decode_hint(message: &str) -> &'static str {
    if message.starts_with("unknown field") {
        "remove or rename the key; the message lists the keys allowed here (docs/profile.md)"
    } else if message.starts_with("missing field") {
        "add the required key (docs/profile.md lists every field)"
    } else if message.starts_with("unknown variant")
        || message.starts_with("expected one of")
        || message.starts_with("expected exactly one")
    {
        "use one of the values listed in the message"
    } else {
        "write the value with the type named in the message (docs/profile.md)"
    }
}

/// Loads [`DEFAULT_YAML`] (file name [`DEFAULT_FILE`]).
pub fn load_default() -> Result<Loaded, LoadError> {
    load_str(DEFAULT_FILE, DEFAULT_YAML)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_profile_decodes() {
        let loaded = load_default().expect("default profile decodes");
        assert_eq!(loaded.file, DEFAULT_FILE);
        assert_eq!(loaded.profile.nodes.len(), 6);
        assert_eq!(loaded.profile.servers().count(), 3);
        assert_eq!(loaded.sha256.len(), 64);
        assert_eq!(loaded.profile.provider.kind().as_str(), "proxmox-rke2");
        let pos = loaded.root.lookup("network.podCIDR").expect("podCIDR").pos;
        assert!(pos.line > 1 && pos.col > 1);
    }

    #[test]
    fn unknown_key_is_located() {
        let text = DEFAULT_YAML.replace(
            "  podCIDR: 10.244.0.0/16\n",
            "  podCIDR: 10.244.0.0/16\n  podCidr: x\n",
        );
        let err = load_str("p.yaml", &text).expect_err("unknown key");
        let f = err.findings();
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].rule, DECODE_RULE);
        assert!(
            f[0].message.contains("unknown field `podCidr`"),
            "{}",
            f[0].message
        );
        let loc = f[0].location.as_ref().expect("located");
        assert_eq!((loc.file.as_str(), loc.col), ("p.yaml", 3));
        assert_eq!(err.status(), Status::BadInput);
    }

    #[test]
    fn empty_and_multi_document_are_errors() {
        assert!(matches!(
            load_str("e.yaml", "# nothing\n"),
            Err(LoadError::Empty { .. })
        ));
        let two = format!("{DEFAULT_YAML}---\n{DEFAULT_YAML}");
        match load_str("t.yaml", &two) {
            Err(e @ LoadError::MultipleDocuments { .. }) => {
                assert_eq!(e.findings()[0].rule, DECODE_RULE);
            }
            other => panic!("expected MultipleDocuments, got {other:?}"),
        }
    }
}
