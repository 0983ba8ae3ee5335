//! DNS lifecycle checks for the external-dns + Cloudflare part of the stack.
//!
//! - [`cloudflare`]: API v4 types and a client (the real API, or the
//!   Cloudflare-compatible test server in `infraflux-testkit` that the lab
//!   and the DNS suite's offline mode share).
//! - [`lifecycle`]: the expectations the DNS suite checks: a record appears
//!   with the intended content, proxied flag and TTL plus external-dns's TXT
//!   ownership record, resolves at the zone's authoritative server, and is
//!   gone after deletion, with time-to-visible and time-to-gone measured;
//!   and a guard that refuses to touch records we do not own.

pub mod cloudflare;
pub mod lifecycle;

/// Errors of the DNS module.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Http(String),
    #[error("failed to {what}: http {status}: {}", format_api_errors(.errors))]
    Api {
        what: String,
        status: u16,
        errors: Vec<cloudflare::ApiMessage>,
    },
    #[error("{0} not found")]
    NotFound(String),
    #[error("test dns server failed: {0}")]
    Server(String),
    #[error("refusing to change {name} ({rtype}): {reason}")]
    NotOwned {
        name: String,
        rtype: String,
        reason: String,
    },
    #[error("record {name} ({rtype}) does not match the expectation: {}", .problems.join("; "))]
    Mismatch {
        name: String,
        rtype: String,
        problems: Vec<String>,
    },
    #[error("timed out after {timeout:?} waiting for {what}; last: {last}")]
    Timeout {
        what: String,
        timeout: std::time::Duration,
        last: String,
    },
    #[error("failed to build a resolver: {0}")]
    Resolver(String),
}

impl Error {
    /// The first Cloudflare error code, if this is an API error.
    pub fn api_code(&self) -> Option<u32> {
        match self {
            Error::Api { errors, .. } => errors.first().map(|e| e.code),
            _ => None,
        }
    }

    pub fn http_status(&self) -> Option<u16> {
        match self {
            Error::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}

fn format_api_errors(errors: &[cloudflare::ApiMessage]) -> String {
    if errors.is_empty() {
        return "no error details".into();
    }
    errors
        .iter()
        .map(|e| format!("{} {}", e.code, e.message))
        .collect::<Vec<_>>()
        .join(", ")
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
