//! Where the repository's shipped inputs live, for the test binaries of
//! every crate: each crate's `CARGO_MANIFEST_DIR` sits at a different
//! depth, and a copy of `join("../..")` per test file is one more place to
//! get it wrong when crates move.

use std::path::{Path, PathBuf};

/// The repository root (this crate lives at `harness/testkit`).
pub fn repo_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .nth(2)
        .map_or_else(|| manifest.join("../.."), Path::to_path_buf)
}

/// The shipped suites (`suites/`).
pub fn suites_dir() -> PathBuf {
    repo_root().join("suites")
}

/// The shipped fixtures the suites refer to (`fixtures/`).
pub fn fixtures_dir() -> PathBuf {
    repo_root().join("fixtures")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_holds_the_suites_and_fixtures() {
        assert!(repo_root().join("Cargo.toml").is_file());
        assert!(suites_dir().is_dir() && fixtures_dir().is_dir());
    }
}
