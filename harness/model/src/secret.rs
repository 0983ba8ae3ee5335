//! Secrets: where they come from and how they are kept out of output.
//!
//! Tokens (Cloudflare, Proxmox) are referenced from a profile by environment
//! variable or file path, never written inline. A resolved [`Secret`] prints
//! as `<redacted>`, and every resolved value is registered with a
//! process-wide redactor that log, report and JUnit writers pass text through,
//! so a token echoed back by a failing command still cannot leak.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use serde::{Deserialize, Serialize};

/// Replacement text for a redacted value.
pub const REDACTED: &str = "<redacted>";

/// Values shorter than this are not registered: redacting e.g. "1" would
/// mangle unrelated text, and no real token is that short.
const MIN_REDACT_LEN: usize = 6;

/// Where a secret lives. Exactly one of `env` / `file` must be set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretRef {
    /// Name of an environment variable holding the value.
    #[serde(default)]
    pub env: Option<String>,
    /// Path of a file whose contents (trimmed) are the value.
    #[serde(default)]
    pub file: Option<PathBuf>,
}

/// Why a secret could not be resolved. Never contains the value.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("secret reference must set exactly one of `env` or `file`")]
    Ambiguous,
    #[error("environment variable `{0}` is not set or empty")]
    MissingEnv(String),
    #[error("failed to read secret file {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("secret file {0} is empty")]
    EmptyFile(String),
    /// Tokens go into HTTP headers, which carry printable ASCII only; any
    /// other byte would be sent mangled or echoed back in a form redaction
    /// does not recognise. The value is never shown.
    #[error("the secret from {0} holds characters other than printable ASCII (character {1}); tokens are printable ASCII")]
    NotPrintable(String, usize),
}

impl SecretRef {
    /// A one-line description safe to print (`env:CF_API_TOKEN`, `file:/run/x`).
    pub fn describe(&self) -> String {
        match (&self.env, &self.file) {
            (Some(e), None) => format!("env:{e}"),
            (None, Some(f)) => format!("file:{}", f.display()),
            _ => "invalid reference".into(),
        }
    }

    /// Reads the value and registers it for redaction.
    pub fn resolve(&self) -> Result<Secret, Error> {
        self.resolve_with(|var| std::env::var(var).ok())
    }

    /// Like [`SecretRef::resolve`] with an explicit environment, so callers
    /// (and tests) need not mutate the process environment.
    pub fn resolve_with(&self, env: impl Fn(&str) -> Option<String>) -> Result<Secret, Error> {
        let value = match (&self.env, &self.file) {
            (Some(var), None) => env(var)
                .filter(|v| !v.trim().is_empty())
                .ok_or_else(|| Error::MissingEnv(var.clone()))?,
            (None, Some(path)) => read_file(path)?,
            _ => return Err(Error::Ambiguous),
        };
        let value = value.trim();
        if let Some(at) = value.chars().position(|c| !c.is_ascii_graphic()) {
            return Err(Error::NotPrintable(self.describe(), at + 1));
        }
        Ok(Secret::new(value.to_owned()))
    }
}

fn read_file(path: &Path) -> Result<String, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.display().to_string(),
        source,
    })?;
    if text.trim().is_empty() {
        return Err(Error::EmptyFile(path.display().to_string()));
    }
    Ok(text)
}

/// A secret value. `Debug`/`Display` never show it; use [`Secret::expose`]
/// only at the point of use (an HTTP header, a Kubernetes Secret body).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value and registers it with the redactor.
    pub fn new(value: String) -> Self {
        register(&value);
        Secret(value)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(REDACTED)
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(REDACTED)
    }
}

fn registry() -> &'static Mutex<Vec<String>> {
    static REG: OnceLock<Mutex<Vec<String>>> = OnceLock::new();
    REG.get_or_init(|| Mutex::new(Vec::new()))
}

/// Registers a value so that [`redact`] removes it from any text.
pub fn register(value: &str) {
    if value.len() < MIN_REDACT_LEN {
        return;
    }
    let mut reg = registry().lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if !reg.iter().any(|v| v == value) {
        reg.push(value.to_owned());
        // Longest first so a secret that contains another is removed whole.
        reg.sort_by_key(|v| std::cmp::Reverse(v.len()));
    }
}

/// Returns `text` with every registered secret replaced by [`REDACTED`].
pub fn redact(text: &str) -> String {
    let reg = registry().lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut out = text.to_owned();
    for v in reg.iter() {
        if out.contains(v.as_str()) {
            out = out.replace(v.as_str(), REDACTED);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolved_secret_never_prints_and_is_redacted_everywhere() {
        let var = "INFRAFLUX_TEST_SECRET_REDACT";
        let r = SecretRef { env: Some(var.into()), file: None };
        let env = |k: &str| (k == var).then(|| "cf-token-0123456789".to_owned());
        let s = r.resolve_with(env).expect("resolves");
        assert_eq!(format!("{s} {s:?}"), "<redacted> <redacted>");
        assert_eq!(s.expose(), "cf-token-0123456789");
        assert_eq!(
            redact("curl -H 'Authorization: Bearer cf-token-0123456789'"),
            "curl -H 'Authorization: Bearer <redacted>'"
        );
        assert_eq!(r.describe(), format!("env:{var}"));
    }

    #[test]
    fn file_secrets_are_trimmed_and_empty_is_an_error() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("tok");
        std::fs::write(&p, "  proxmox-secret-abcdef\n").expect("write");
        let s = SecretRef { env: None, file: Some(p.clone()) }.resolve().expect("resolves");
        assert_eq!(s.expose(), "proxmox-secret-abcdef");
        std::fs::write(&p, "\n").expect("write");
        assert!(matches!(
            SecretRef { env: None, file: Some(p) }.resolve(),
            Err(Error::EmptyFile(_))
        ));
    }

    #[test]
    fn tokens_that_are_not_printable_ascii_are_refused_without_showing_them() {
        let r = SecretRef { env: Some("TOK".into()), file: None };
        for bad in ["t\u{f6}ken-secret-1", "tok\u{7}en-secret-2", "tok en-secret-3"] {
            let err = r.resolve_with(|_| Some(bad.to_owned())).unwrap_err();
            let text = err.to_string();
            assert!(matches!(err, Error::NotPrintable(..)), "{text}");
            assert!(text.contains("env:TOK") && !text.contains("secret-"), "{text}");
        }
    }

    #[test]
    fn exactly_one_source() {
        let both = SecretRef { env: Some("A".into()), file: Some("/x".into()) };
        assert!(matches!(both.resolve(), Err(Error::Ambiguous)));
        let none = SecretRef { env: None, file: None };
        assert!(matches!(none.resolve(), Err(Error::Ambiguous)));
        let missing = SecretRef { env: Some("INFRAFLUX_SURELY_UNSET_VAR".into()), file: None };
        let err = missing.resolve().unwrap_err().to_string();
        assert!(err.contains("INFRAFLUX_SURELY_UNSET_VAR"), "{err}");
    }
}
