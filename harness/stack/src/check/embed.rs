//! YAML embedded in a string (a Helm values file inside a ConfigMap).
//!
//! A block scalar's node position is its first content line, and every
//! content line shares that indentation, so a position inside the embedded
//! text maps back to the outer file by a fixed line and column shift.

use crate::diag::Finding;
use crate::yaml::{self, Node, Pos, Value};

/// Parses `text` found at `at` in `file`; positions in the result and in
/// the error finding point into `file`.
pub(crate) fn parse(file: &str, at: Pos, text: &str) -> Result<Vec<Node>, Box<Finding>> {
    let shift = |p: Pos| Pos {
        line: at.line + p.line.saturating_sub(1),
        col: at.col + p.col.saturating_sub(1),
    };
    match yaml::parse_str_keep_duplicates(file, text) {
        Ok((docs, dups)) => {
            if let Some(d) = dups.first() {
                let mut f = Finding::from_yaml_error(d);
                if let (Some(loc), Some((l, c))) = (f.location.as_mut(), d.position()) {
                    let p = shift(Pos { line: l, col: c });
                    loc.line = p.line;
                    loc.col = p.col;
                }
                return Err(Box::new(f));
            }
            Ok(docs
                .into_iter()
                .map(|d| {
                    let mut n = d.root;
                    relocate(&mut n, &shift);
                    n
                })
                .collect())
        }
        Err(e) => {
            let mut f = Finding::from_yaml_error(&e);
            f.message = format!("embedded values are not valid YAML: {}", f.message);
            if let (Some(loc), Some((l, c))) = (f.location.as_mut(), e.position()) {
                let p = shift(Pos { line: l, col: c });
                loc.line = p.line;
                loc.col = p.col;
            }
            Err(Box::new(f))
        }
    }
}

fn relocate(node: &mut Node, shift: &dyn Fn(Pos) -> Pos) {
    node.pos = shift(node.pos);
    match &mut node.value {
        Value::Seq(items) => items.iter_mut().for_each(|n| relocate(n, shift)),
        Value::Map(entries) => entries.iter_mut().for_each(|(k, v)| {
            relocate(k, shift);
            relocate(v, shift);
        }),
        _ => {}
    }
}
