//! The GitOps bootstrap: what `up --gitops` needs besides the cluster.
//! [`flux`] loads Flux's install set for the pinned release; [`source`]
//! builds the Git and Helm repositories the rendered tree is served from;
//! [`serve`] serves them over HTTP to the cluster's source-controller, as a
//! Git host and a chart repository would on a real site.

pub mod flux;
pub mod serve;
pub mod source;

use std::path::PathBuf;

/// Why a source or the install set could not be had.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{what} not found (searched {searched}); run `.ci/build-flux`, which downloads it from the Go module proxy")]
    NotFetched { what: String, searched: String },
    #[error("failed to read or write {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to parse {what}: {message}")]
    Parse { what: String, message: String },
    #[error("{what} failed: {message}")]
    Tool { what: String, message: String },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
