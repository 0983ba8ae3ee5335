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
pub use rules::{RULES, YAML_000, YAML_001, YAML_002, YAML_003};
pub use tree::{Node, Pos, Value};

use std::path::Path;
use std::sync::Arc;

/// Upper bound on nodes produced by one document, aliases expanded. Guards
/// against alias bombs in untrusted input; per document, so a large
/// multi-document file of ordinary objects is not mistaken for one.
const MAX_NODES: usize = 2_000_000;

/// Deepest nesting accepted, block and flow style alike. Kubernetes objects
/// (CRD schemas included) stay far below; every reader of the tree
/// recurses, so unbounded depth would overflow the stack.
pub const MAX_DEPTH: usize = 256;

/// Largest file read: far above any manifest or values file, far below
/// what would exhaust memory (`/dev/zero` is refused as not regular).
pub const MAX_FILE_BYTES: u64 = 256 << 20;

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
    #[error("{file}:{line}:{col}: nesting deeper than {MAX_DEPTH} levels")]
    TooDeep { file: Arc<str>, line: u32, col: u32 },
    #[error("{file}: {message}")]
    Unreadable { file: String, message: String },
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
            | Error::UnknownAlias { line, col, .. }
            | Error::TooDeep { line, col, .. } => Some((*line, *col)),
            Error::TooLarge { .. } | Error::Read { .. } | Error::Unreadable { .. } => None,
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
    let text = read_text(path)?;
    parse_str(&path.display().to_string(), &text)
}

/// Reads a text input file within bounds: a regular file (never a FIFO,
/// device or directory, which could block or never end) of at most
/// [`MAX_FILE_BYTES`], in UTF-8 (a UTF-16 or other encoding is named as
/// such, with where the first bad byte is).
pub fn read_text(path: &Path) -> Result<String, Error> {
    let file = path.display().to_string();
    let read = |source| Error::Read { file: file.clone(), source };
    let unreadable = |message: String| Error::Unreadable { file: file.clone(), message };
    let meta = std::fs::metadata(path).map_err(read)?;
    if !meta.is_file() {
        return Err(unreadable("not a regular file (a directory, FIFO or device); give a file".into()));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(unreadable(format!(
            "{} bytes, more than the {} MiB an input file may have",
            meta.len(),
            MAX_FILE_BYTES >> 20
        )));
    }
    let bytes = std::fs::read(path).map_err(read)?;
    String::from_utf8(bytes).map_err(|e| {
        let b = e.as_bytes();
        let encoding = if b.starts_with(&[0xff, 0xfe]) || b.starts_with(&[0xfe, 0xff]) {
            "UTF-16 (byte-order mark); save it as UTF-8"
        } else {
            "not UTF-8; save it as UTF-8"
        };
        unreadable(format!("{encoding} (invalid byte at offset {})", e.utf8_error().valid_up_to()))
    })
}

#[cfg(test)]
mod tests;
