//! Finding input files and turning them into parsed sources.
//!
//! Format is decided by extension: `.yaml`/`.yml`/`.json` are YAML;
//! `.j2`/`.jinja`/`.jinja2`/`.tpl` are Jinja templates of YAML ("rendered as
//! written": `{{ … }}` expressions become same-length placeholders and
//! `{% … %}` tags become blanks, so positions stay true); `.sh`/`.bash` are
//! shell scripts; `.tf` is Terraform, scanned as text. Directories are
//! walked recursively in sorted order, skipping hidden entries and `target/`.

use std::path::{Path, PathBuf};

use crate::diag::Finding;
use crate::yaml::{self, Document};

use super::CheckError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Yaml,
    Template,
    Shell,
    Terraform,
}

pub(crate) struct Source {
    pub path: String,
    /// The text as written (templates before placeholder substitution).
    pub text: String,
    pub format: Format,
    pub docs: Vec<Document>,
    /// Repeated mapping keys (kept in `docs`, reported by rule YAML-002).
    pub duplicates: Vec<yaml::Error>,
    /// 1-based line ranges inside a template `{% if %}` block.
    pub guarded: Vec<(u32, u32)>,
}

impl Source {
    pub fn is_guarded(&self, line: u32) -> bool {
        self.guarded.iter().any(|(a, b)| (*a..=*b).contains(&line))
    }
}

pub(crate) enum Loaded {
    Ok(Source),
    Malformed(Box<Finding>),
}

fn format_of(path: &Path) -> Option<Format> {
    let name = path.file_name()?.to_str()?.to_ascii_lowercase();
    let ext = name.rsplit('.').next().unwrap_or("");
    match ext {
        "yaml" | "yml" | "json" => Some(Format::Yaml),
        "j2" | "jinja" | "jinja2" | "tpl" => Some(Format::Template),
        "sh" | "bash" => Some(Format::Shell),
        "tf" => Some(Format::Terraform),
        _ => None,
    }
}

/// Expands directories; an explicitly named file of unknown type is read as YAML.
pub(crate) fn discover(paths: &[PathBuf]) -> Result<Vec<PathBuf>, CheckError> {
    let mut out = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p).map_err(|source| CheckError::Read {
            path: p.display().to_string(),
            source,
        })?;
        if meta.is_dir() {
            let before = out.len();
            walk(p, &mut out)?;
            if out.len() == before {
                return Err(CheckError::NoInputs(p.display().to_string()));
            }
        } else {
            out.push(p.clone());
        }
    }
    if out.is_empty() {
        return Err(CheckError::NoInputs("the given paths".into()));
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), CheckError> {
    let read_err = |source| CheckError::Read {
        path: dir.display().to_string(),
        source,
    };
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(read_err)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(read_err)?;
    entries.sort();
    for path in entries {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with('.') || name == "target" {
            continue;
        }
        if path.is_dir() {
            walk(&path, out)?;
        } else if format_of(&path).is_some() {
            out.push(path);
        }
    }
    Ok(())
}

pub(crate) fn load(path: &Path) -> Result<Loaded, CheckError> {
    let text = std::fs::read_to_string(path).map_err(|source| CheckError::Read {
        path: path.display().to_string(),
        source,
    })?;
    Ok(load_text(&path.display().to_string(), text))
}

pub(crate) fn load_text(name: &str, text: String) -> Loaded {
    let format = format_of(Path::new(name)).unwrap_or(Format::Yaml);
    let (yaml_text, guarded) = match format {
        Format::Template => blank_jinja(&text),
        Format::Yaml => (text.clone(), Vec::new()),
        Format::Shell | Format::Terraform => {
            return Loaded::Ok(Source {
                path: name.to_owned(),
                text,
                format,
                docs: Vec::new(),
                duplicates: Vec::new(),
                guarded: Vec::new(),
            });
        }
    };
    match yaml::parse_str_keep_duplicates(name, &yaml_text) {
        Ok((docs, duplicates)) => Loaded::Ok(Source {
            path: name.to_owned(),
            text,
            format,
            docs,
            duplicates,
            guarded,
        }),
        Err(e) => Loaded::Malformed(Box::new(Finding::from_yaml_error(&e))),
    }
}

/// Replaces Jinja syntax so the YAML parser sees what Ansible would write,
/// with every position unchanged: `{{ vip }}` becomes `_vip_____` (the
/// expression's identifier characters, padded) and `{% … %}` / `{# … #}`
/// become spaces. Returns the text and the line ranges inside `{% if %}`.
pub(crate) fn blank_jinja(text: &str) -> (String, Vec<(u32, u32)>) {
    let bytes: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut guarded = Vec::new();
    let mut open_ifs: Vec<u32> = Vec::new();
    let mut line: u32 = 1;
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let next = bytes.get(i + 1).copied();
        let close = match (c, next) {
            ('{', Some('{')) => Some('}'),
            ('{', Some('%')) => Some('%'),
            ('{', Some('#')) => Some('#'),
            _ => None,
        };
        let Some(closer) = close else {
            if c == '\n' {
                line += 1;
            }
            out.push(c);
            i += 1;
            continue;
        };
        let mut j = i + 2;
        while j + 1 < bytes.len() && !(bytes[j] == closer && bytes[j + 1] == '}') {
            j += 1;
        }
        let end = (j + 2).min(bytes.len());
        let inner: String = bytes[i + 2..j.min(bytes.len())].iter().collect();
        let width = end - i;
        if closer == '}' {
            let ident: String = inner
                .trim()
                .chars()
                .map(|ch| if ch.is_ascii_alphanumeric() || ch == '.' { ch } else { '_' })
                .collect();
            let mut ph: String = format!("_{ident}").chars().take(width).collect();
            while ph.chars().count() < width {
                ph.push('_');
            }
            out.push_str(&ph);
        } else {
            let word = inner.split_whitespace().next().unwrap_or("");
            if closer == '%' {
                match word {
                    "if" => open_ifs.push(line),
                    "endif" => {
                        if let Some(start) = open_ifs.pop() {
                            guarded.push((start, line));
                        }
                    }
                    _ => {}
                }
            }
            for ch in &bytes[i..end] {
                if *ch == '\n' {
                    out.push('\n');
                } else {
                    out.push(' ');
                }
            }
        }
        line += bytes[i..end].iter().filter(|c| **c == '\n').count() as u32;
        i = end;
    }
    (out, guarded)
}

/// Placeholder text produced by [`blank_jinja`] back to a comparable name.
pub(crate) fn placeholder_name(s: &str) -> &str {
    s.trim_matches('_')
}
