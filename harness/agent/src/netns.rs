//! Joining a named network namespace (the `ip netns` convention).

use std::fs::File;

use nix::sched::{CloneFlags, setns};

#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    #[error("failed to open network namespace {path}: {source}")]
    Open {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to enter network namespace {path}: {source}")]
    Enter {
        path: String,
        #[source]
        source: nix::Error,
    },
}

/// Moves the calling thread into `/run/netns/<name>`. Called before any
/// thread is spawned, so every thread of the agent lives in that namespace.
pub fn enter(name: &str) -> Result<(), NetnsError> {
    let path = if name.contains('/') {
        name.to_string()
    } else {
        format!("/run/netns/{name}")
    };
    let file = File::open(&path).map_err(|source| NetnsError::Open {
        path: path.clone(),
        source,
    })?;
    setns(&file, CloneFlags::CLONE_NEWNET).map_err(|source| NetnsError::Enter { path, source })
}
