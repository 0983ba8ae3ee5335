//! The located node tree and its builder over saphyr-parser events.

use std::collections::HashMap;
use std::sync::Arc;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

use super::{Document, Error, MAX_DEPTH, MAX_NODES};

/// 1-based line and column of a node's first character.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Pos {
    pub line: u32,
    pub col: u32,
}

impl std::fmt::Display for Pos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// A YAML node with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub pos: Pos,
    pub value: Value,
}

/// Node content, with plain scalars resolved by the YAML 1.2 core schema.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    /// Entries in document order; keys are unique (checked at build time)
    /// unless parsed with `parse_str_keep_duplicates`.
    Map(Vec<(Node, Node)>),
}

impl Node {
    pub fn new(pos: Pos, value: Value) -> Self {
        Node { pos, value }
    }

    /// Short name of the node's type, for messages.
    pub fn type_name(&self) -> &'static str {
        match self.value {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Int(_) => "integer",
            Value::Float(_) => "float",
            Value::Str(_) => "string",
            Value::Seq(_) => "sequence",
            Value::Map(_) => "mapping",
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self.value {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self.value {
            Value::Int(i) => Some(i),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.value {
            Value::Seq(items) => Some(items),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.value {
            Value::Map(entries) => Some(entries),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.value, Value::Null)
    }

    /// The scalar rendered as text (`true`, `42`, `x`), `None` for collections
    /// and null. Used where a field accepts "any scalar", e.g. Helm values.
    pub fn scalar_text(&self) -> Option<String> {
        match &self.value {
            Value::Bool(b) => Some(b.to_string()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(f) => Some(f.to_string()),
            Value::Str(s) => Some(s.clone()),
            Value::Null | Value::Seq(_) | Value::Map(_) => None,
        }
    }

    /// Value of mapping key `key` (compared as text).
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.get_entry(key).map(|(_, v)| v)
    }

    /// Key node and value node of mapping key `key`.
    pub fn get_entry(&self, key: &str) -> Option<(&Node, &Node)> {
        self.as_map()?.iter().find(|(k, _)| k.scalar_is(key)).map(|(k, v)| (k, v))
    }

    /// Whether the scalar's text (as [`Node::scalar_text`] renders it) is
    /// `text`. Key lookups run for every rule on every object, so string
    /// keys, nearly all of them, are compared without allocating.
    pub fn scalar_is(&self, text: &str) -> bool {
        match &self.value {
            Value::Str(s) => s == text,
            Value::Null | Value::Seq(_) | Value::Map(_) => false,
            Value::Bool(_) | Value::Int(_) | Value::Float(_) => self.scalar_text().as_deref() == Some(text),
        }
    }

    /// Follows a dotted path with `[i]` indexes, e.g. `spec.peers[0].peerASN`.
    /// Keys containing dots can be quoted: `data."kube-proxy.yaml"`.
    pub fn lookup(&self, path: &str) -> Option<&Node> {
        let mut node = self;
        for seg in split_path(path) {
            node = match seg {
                PathSeg::Key(k) => node.get(&k)?,
                PathSeg::Index(i) => node.as_seq()?.get(i)?,
            };
        }
        Some(node)
    }

    /// Converts to JSON (what the Kubernetes API takes). Non-string keys
    /// are rendered as text.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.value {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            Value::Str(s) => J::String(s.clone()),
            Value::Seq(items) => J::Array(items.iter().map(Node::to_json).collect()),
            Value::Map(entries) => J::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.scalar_text().unwrap_or_default(), v.to_json()))
                    .collect(),
            ),
        }
    }

    /// Number of nodes in this subtree.
    pub fn count(&self) -> usize {
        1 + match &self.value {
            Value::Seq(items) => items.iter().map(Node::count).sum(),
            Value::Map(entries) => entries.iter().map(|(k, v)| k.count() + v.count()).sum(),
            _ => 0,
        }
    }
}

enum PathSeg {
    Key(String),
    Index(usize),
}

fn split_path(path: &str) -> Vec<PathSeg> {
    let mut out = Vec::new();
    let mut chars = path.chars().peekable();
    let mut cur = String::new();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                for q in chars.by_ref() {
                    if q == '"' {
                        break;
                    }
                    cur.push(q);
                }
            }
            '.' => {
                if !cur.is_empty() {
                    out.push(PathSeg::Key(std::mem::take(&mut cur)));
                }
            }
            '[' => {
                if !cur.is_empty() {
                    out.push(PathSeg::Key(std::mem::take(&mut cur)));
                }
                let mut idx = String::new();
                for d in chars.by_ref() {
                    if d == ']' {
                        break;
                    }
                    idx.push(d);
                }
                // A non-numeric index can never match; usize::MAX keeps lookup total.
                out.push(PathSeg::Index(idx.trim().parse().unwrap_or(usize::MAX)));
            }
            _ => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(PathSeg::Key(cur));
    }
    out
}

fn pos_of(span: &Span) -> Pos {
    Pos {
        line: u32::try_from(span.start.line()).unwrap_or(u32::MAX),
        col: u32::try_from(span.start.col() + 1).unwrap_or(u32::MAX),
    }
}

/// Resolves a plain scalar per the YAML 1.2 core schema.
pub(crate) fn resolve_plain(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Value::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Value::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Value::Float(f64::NAN),
        _ => {}
    }
    if let Some(hex) = text.strip_prefix("0x")
        && !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit())
            && let Ok(i) = i64::from_str_radix(hex, 16) {
                return Value::Int(i);
            }
    if let Some(oct) = text.strip_prefix("0o")
        && !oct.is_empty() && oct.chars().all(|c| ('0'..='7').contains(&c))
            && let Ok(i) = i64::from_str_radix(oct, 8) {
                return Value::Int(i);
            }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit())
        && let Ok(i) = text.parse::<i64>() {
            return Value::Int(i);
        }
    if is_core_float(digits)
        && let Ok(f) = text.parse::<f64>() {
            return Value::Float(f);
        }
    Value::Str(text.to_owned())
}

/// `(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?` without the sign.
fn is_core_float(s: &str) -> bool {
    let (mantissa, exp) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let mant_ok = match mantissa.split_once('.') {
        Some((int, frac)) => {
            (int.chars().all(|c| c.is_ascii_digit()) && frac.chars().all(|c| c.is_ascii_digit()))
                && !(int.is_empty() && frac.is_empty())
        }
        None => !mantissa.is_empty() && mantissa.chars().all(|c| c.is_ascii_digit()),
    };
    let exp_ok = exp.is_none_or(|e| {
        let d = e.strip_prefix(['-', '+']).unwrap_or(e);
        !d.is_empty() && d.chars().all(|c| c.is_ascii_digit())
    });
    // A bare integer was handled before; require a dot or an exponent here.
    mant_ok && exp_ok && (mantissa.contains('.') || exp.is_some())
}

enum Frame {
    Seq {
        pos: Pos,
        anchor: usize,
        items: Vec<Node>,
    },
    Map {
        pos: Pos,
        anchor: usize,
        entries: Vec<(Node, Node)>,
        pending_key: Option<Node>,
    },
}

pub(crate) struct Builder {
    file: Arc<str>,
    anchors: HashMap<usize, Node>,
    nodes: usize,
    /// When set, duplicate keys are kept (both entries, in document order)
    /// and recorded here instead of failing the parse.
    duplicates: Option<Vec<Error>>,
}

impl Builder {
    pub(crate) fn new(file: Arc<str>) -> Self {
        Builder {
            file,
            anchors: HashMap::new(),
            nodes: 0,
            duplicates: None,
        }
    }

    pub(crate) fn keeping_duplicates(mut self) -> Self {
        self.duplicates = Some(Vec::new());
        self
    }

    pub(crate) fn take_duplicates(&mut self) -> Vec<Error> {
        self.duplicates.take().unwrap_or_default()
    }

    fn syntax(&self, pos: Pos, message: impl Into<String>) -> Error {
        Error::Syntax {
            file: self.file.clone(),
            line: pos.line,
            col: pos.col,
            message: message.into(),
        }
    }

    pub(crate) fn build(mut self, text: &str) -> Result<Vec<Document>, Error> {
        self.build_mut(text)
    }

    pub(crate) fn build_mut(&mut self, text: &str) -> Result<Vec<Document>, Error> {
        let mut docs = Vec::new();
        let mut stack: Vec<Frame> = Vec::new();
        let mut root: Option<Node> = None;
        for item in Parser::new_from_str(text) {
            let (event, span) = item.map_err(|e| Error::Syntax {
                file: self.file.clone(),
                line: u32::try_from(e.marker().line()).unwrap_or(u32::MAX),
                col: u32::try_from(e.marker().col() + 1).unwrap_or(u32::MAX),
                message: e.info().to_owned(),
            })?;
            let pos = pos_of(&span);
            let finished: Option<Node> = match event {
                Event::StreamStart | Event::StreamEnd | Event::Nothing => None,
                Event::DocumentStart(_) => {
                    root = None;
                    self.anchors.clear();
                    self.nodes = 0;
                    None
                }
                Event::DocumentEnd => {
                    let node = root.take().unwrap_or(Node::new(pos, Value::Null));
                    docs.push(Document {
                        file: self.file.clone(),
                        index: docs.len(),
                        root: node,
                    });
                    None
                }
                Event::Alias(id) => {
                    let node = self.anchors.get(&id).cloned().ok_or(Error::UnknownAlias {
                        file: self.file.clone(),
                        line: pos.line,
                        col: pos.col,
                    })?;
                    self.nodes += node.count();
                    // The alias keeps the referenced content but reports where it is used.
                    Some(Node::new(pos, node.value))
                }
                Event::Scalar(text, style, anchor, tag) => {
                    let value = match (&tag, style) {
                        (Some(t), _) if t.is_yaml_core_schema() && t.suffix == "str" => {
                            Value::Str(text.into_owned())
                        }
                        (Some(t), _) if t.is_yaml_core_schema() => resolve_plain(&text),
                        (_, ScalarStyle::Plain) => resolve_plain(&text),
                        _ => Value::Str(text.into_owned()),
                    };
                    self.nodes += 1;
                    let node = Node::new(pos, value);
                    if anchor > 0 {
                        self.anchors.insert(anchor, node.clone());
                    }
                    Some(node)
                }
                Event::SequenceStart(..) | Event::MappingStart(..) if stack.len() >= MAX_DEPTH => {
                    return Err(Error::TooDeep { file: self.file.clone(), line: pos.line, col: pos.col });
                }
                Event::SequenceStart(anchor, _) => {
                    stack.push(Frame::Seq {
                        pos,
                        anchor,
                        items: Vec::new(),
                    });
                    None
                }
                Event::MappingStart(anchor, _) => {
                    stack.push(Frame::Map {
                        pos,
                        anchor,
                        entries: Vec::new(),
                        pending_key: None,
                    });
                    None
                }
                Event::SequenceEnd | Event::MappingEnd => match stack.pop() {
                    Some(Frame::Seq { pos, anchor, items }) => {
                        self.nodes += 1;
                        let node = Node::new(pos, Value::Seq(items));
                        if anchor > 0 {
                            self.anchors.insert(anchor, node.clone());
                        }
                        Some(node)
                    }
                    Some(Frame::Map {
                        pos,
                        anchor,
                        entries,
                        ..
                    }) => {
                        self.nodes += 1;
                        let node = Node::new(pos, Value::Map(entries));
                        if anchor > 0 {
                            self.anchors.insert(anchor, node.clone());
                        }
                        Some(node)
                    }
                    None => return Err(self.syntax(pos, "unbalanced collection end")),
                },
            };
            if self.nodes > MAX_NODES {
                return Err(Error::TooLarge {
                    file: self.file.clone(),
                });
            }
            if let Some(node) = finished {
                self.attach(&mut stack, &mut root, node)?;
            }
        }
        Ok(docs)
    }

    fn attach(
        &mut self,
        stack: &mut [Frame],
        root: &mut Option<Node>,
        node: Node,
    ) -> Result<(), Error> {
        match stack.last_mut() {
            None => *root = Some(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map {
                entries,
                pending_key,
                ..
            }) => match pending_key.take() {
                None => *pending_key = Some(node),
                Some(key) => {
                    if let Some((first, _)) = entries.iter().find(|(k, _)| same_key(k, &key)) {
                        let err = Error::DuplicateKey {
                            file: self.file.clone(),
                            line: key.pos.line,
                            col: key.pos.col,
                            key: key.scalar_text().unwrap_or_else(|| key.type_name().into()),
                            first_line: first.pos.line,
                        };
                        match self.duplicates.as_mut() {
                            Some(seen) => seen.push(err),
                            None => return Err(err),
                        }
                    }
                    entries.push((key, node));
                }
            },
        }
        Ok(())
    }
}

fn same_key(a: &Node, b: &Node) -> bool {
    match (&a.value, &b.value) {
        (Value::Seq(_) | Value::Map(_), _) | (_, Value::Seq(_) | Value::Map(_)) => {
            strip_pos(a) == strip_pos(b)
        }
        _ => a.value == b.value,
    }
}

fn strip_pos(n: &Node) -> serde_json::Value {
    n.to_json()
}
