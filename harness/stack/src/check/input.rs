//! Finding input files and turning them into parsed sources.
//!
//! Format is decided by extension: `.yaml`/`.yml`/`.json` are YAML;
//! `.j2`/`.jinja`/`.jinja2`/`.tpl` are Jinja templates of YAML ("rendered as
//! written": `{{ … }}` expressions become same-length placeholders and
//! `{% … %}` tags become blanks, so positions stay true); `.sh`/`.bash` are
//! shell scripts; `.tf` is Terraform, scanned as text. Directories are
//! walked recursively in sorted order, skipping hidden entries and `target/`.

use std::path::{Path, PathBuf};

use std::sync::OnceLock;

use crate::diag::{self, Finding};
use crate::yaml::{self, Document, Pos};

use super::CheckError;
use super::rules::{INPUT_001, INPUT_002};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Yaml,
    Template,
    Shell,
    Terraform,
}

pub(crate) struct Source {
    pub path: String,
    /// Read only to resolve references and namespaces (`--repo`); findings
    /// located in it are dropped.
    pub context: bool,
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
    /// Not a manifest (a Helm chart template, a makejinja template): the
    /// note says why it was not checked.
    Skipped(Box<Finding>),
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

pub(crate) fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), CheckError> {
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

/// Reads one input. An unreadable file is a finding (exit 2), not an abort:
/// the other files are still checked.
pub(crate) fn load(path: &Path, layout: &mut Layout) -> Loaded {
    let name = path.display().to_string();
    if let Some(chart) = helm_chart_of(path) {
        return Loaded::Skipped(Box::new(INPUT_001.at(
            &name,
            Pos { line: 1, col: 1 },
            format!("Helm chart template (chart {}); it is a manifest only after `helm template`", chart.display()),
        )));
    }
    // Bounded like every input: a regular UTF-8 file of sane size (a FIFO
    // would block, /dev/zero never end); refusals are located findings.
    let text = match yaml::read_text(path) {
        Ok(t) => t,
        Err(e) => return Loaded::Malformed(Box::new(diag::Finding::from_yaml_error(&e))),
    };
    if let Some(d) = layout.makejinja(path)
        && let Some(delim) = d.used_in(&text)
    {
        return Loaded::Skipped(Box::new(INPUT_002.at(
            &name,
            Pos { line: 1, col: 1 },
            format!("makejinja template (`{delim}` delimiters from {}); checked after rendering", d.config),
        )));
    }
    load_text(&name, text)
}

pub(crate) fn load_text(name: &str, text: String) -> Loaded {
    let format = format_of(Path::new(name)).unwrap_or(Format::Yaml);
    let (yaml_text, guarded) = match format {
        Format::Template => blank_jinja(&text),
        Format::Yaml => (alias_keys(&text), Vec::new()),
        Format::Shell | Format::Terraform => {
            return Loaded::Ok(Source {
                path: name.to_owned(),
                context: false,
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
            context: false,
            text,
            format,
            docs,
            duplicates,
            guarded,
        }),
        // Text that is not YAML but carries template syntax is a template
        // (Helm, Jinja, gomplate) that did not survive rendering-as-written;
        // broken YAML without template syntax stays an error.
        Err(e) if templated(&text) => Loaded::Skipped(Box::new(INPUT_002.at(
            name,
            Pos { line: e.position().map_or(1, |p| p.0), col: e.position().map_or(1, |p| p.1) },
            "template syntax (`{{ }}`/`{% %}`) that is not YAML as written; checked after rendering",
        ))),
        Err(e) => Loaded::Malformed(Box::new(Finding::from_yaml_error(&e))),
    }
}

fn templated(text: &str) -> bool {
    text.contains("{{") || text.contains("{%")
}

/// The chart directory when `path` sits in a Helm chart's `templates/`.
fn helm_chart_of(path: &Path) -> Option<PathBuf> {
    let mut dir = path.parent();
    while let Some(d) = dir {
        if d.file_name().is_some_and(|n| n == "templates")
            && let Some(chart) = d.parent()
            && chart.join("Chart.yaml").is_file()
        {
            return Some(chart.to_path_buf());
        }
        dir = d.parent();
    }
    None
}

/// go-yaml (what kubectl, kustomize and Flux parse with) ends an alias name
/// at `:`, so `*app: value` uses anchor `app` as a key; YAML 1.2 parsers read
/// the colon as part of the name. Inserting a space gives the Go reading;
/// columns after it on that line shift by one.
fn alias_keys(text: &str) -> String {
    static RE: OnceLock<Option<regex::Regex>> = OnceLock::new();
    if !text.contains('*') {
        return text.to_owned();
    }
    match super::rules::regex(&RE, r"(?m)(^[ \t]*(?:- )?|[{,][ \t]*)\*([A-Za-z0-9_-]+):([ \t]|$)") {
        Some(re) => re.replace_all(text, "${1}*${2} :${3}").into_owned(),
        None => text.to_owned(),
    }
}

/// makejinja delimiters that mark a file as a template.
pub(crate) struct Delims {
    pub config: String,
    starts: Vec<String>,
}

impl Delims {
    fn used_in(&self, text: &str) -> Option<&str> {
        self.starts.iter().find(|d| text.contains(d.as_str())).map(String::as_str)
    }
}

/// Facts about the tree an input sits in, looked up once per directory.
#[derive(Default)]
pub(crate) struct Layout {
    makejinja: std::collections::HashMap<PathBuf, Option<std::rc::Rc<Delims>>>,
}

impl Layout {
    /// The nearest `makejinja.toml` above `path`, with its start delimiters.
    fn makejinja(&mut self, path: &Path) -> Option<std::rc::Rc<Delims>> {
        let dir = path.parent()?.to_path_buf();
        if let Some(hit) = self.makejinja.get(&dir) {
            return hit.clone();
        }
        let cfg = dir.join("makejinja.toml");
        let found = if cfg.is_file() {
            std::fs::read_to_string(&cfg).ok().map(|t| std::rc::Rc::new(parse_makejinja(&cfg, &t)))
        } else {
            self.makejinja(&dir)
        };
        self.makejinja.insert(dir, found.clone());
        found
    }
}

/// Reads `*_start_string = "…"` settings; makejinja's defaults are Jinja's.
fn parse_makejinja(cfg: &Path, text: &str) -> Delims {
    let mut starts = Vec::new();
    for key in ["variable_start", "block_start", "comment_start"] {
        let value = text.lines().find_map(|l| {
            let (k, v) = l.split_once('=')?;
            let k = k.trim();
            (k == key || k == format!("{key}_string")).then(|| v.trim().trim_matches('"').trim_matches('\'').to_owned())
        });
        let default = match key {
            "variable_start" => "{{",
            "block_start" => "{%",
            _ => "{#",
        };
        let d = value.filter(|v| !v.is_empty()).unwrap_or_else(|| default.to_owned());
        starts.push(d);
    }
    Delims { config: cfg.display().to_string(), starts }
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
