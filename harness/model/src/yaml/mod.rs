//! Located YAML.
//!
//! Every input the harness reads (profiles, suites, stack manifests, Helm
//! values) goes through this module so that each error and each finding can
//! point at `file:line:col`. The tree keeps a position on every node, rejects
//! duplicate mapping keys (YAML 1.2 requires unique keys; parsers that let the
//! last one win hide real defects such as a second `disable:` list), and can be
//! deserialized into serde types with errors that name the offending node.

mod de;
pub mod rules;
mod tree;

pub use de::{DeError, from_node};
pub use rules::{RULES, YAML_000, YAML_001, YAML_002};
pub use tree::{Node, Pos, Value};

use std::path::Path;
use std::sync::Arc;

/// Upper bound on nodes produced by one stream, aliases expanded. Guards
/// against alias bombs in untrusted input.
const MAX_NODES: usize = 2_000_000;

/// One document of a (possibly multi-document) YAML stream.
#[derive(Debug, Clone)]
pub struct Document {
    /// The file the document came from, as given by the caller.
    pub file: Arc<str>,
    /// Zero-based index of the document in its stream.
    pub index: usize,
    /// Root node; `Value::Null` for an empty document.
    pub root: Node,
}

/// Errors raised while turning text into located documents.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{file}:{line}:{col}: invalid YAML: {message}")]
    Syntax {
        file: Arc<str>,
        line: u32,
        col: u32,
        message: String,
    },
    #[error("{file}:{line}:{col}: duplicate key `{key}` (first defined at line {first_line})")]
    DuplicateKey {
        file: Arc<str>,
        line: u32,
        col: u32,
        key: String,
        first_line: u32,
    },
    #[error("{file}:{line}:{col}: alias refers to unknown anchor")]
    UnknownAlias { file: Arc<str>, line: u32, col: u32 },
    #[error("{file}: document expands to more than {MAX_NODES} nodes (alias bomb?)")]
    TooLarge { file: Arc<str> },
    #[error("failed to read {file}")]
    Read {
        file: String,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// `(line, col)` of the error, when it has one.
    pub fn position(&self) -> Option<(u32, u32)> {
        match self {
            Error::Syntax { line, col, .. }
            | Error::DuplicateKey { line, col, .. }
            | Error::UnknownAlias { line, col, .. } => Some((*line, *col)),
            Error::TooLarge { .. } | Error::Read { .. } => None,
        }
    }
}

/// Parses every document in `text`. `file` is only used for messages.
pub fn parse_str(file: &str, text: &str) -> Result<Vec<Document>, Error> {
    tree::Builder::new(Arc::from(file)).build(text)
}

/// Like [`parse_str`], but a duplicate mapping key does not fail the parse:
/// both entries are kept in document order and each repeat is returned as an
/// [`Error::DuplicateKey`]. Linters use this so one repeated key does not hide
/// every other defect in the same file.
pub fn parse_str_keep_duplicates(
    file: &str,
    text: &str,
) -> Result<(Vec<Document>, Vec<Error>), Error> {
    let mut builder = tree::Builder::new(Arc::from(file)).keeping_duplicates();
    let docs = builder.build_mut(text)?;
    Ok((docs, builder.take_duplicates()))
}

/// Reads and parses a file.
pub fn parse_file(path: &Path) -> Result<Vec<Document>, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        file: path.display().to_string(),
        source,
    })?;
    parse_str(&path.display().to_string(), &text)
}

#[cfg(test)]
mod tests;
