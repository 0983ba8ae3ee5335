//! The repositories a served tree lives in, under one root directory:
//!
//! ```text
//! <root>/git/<name>.git    bare Git repositories (the rendered tree, the
//!                          Gateway API CRDs at their release tag)
//! <root>/charts/           a Helm repository: index.yaml and packaged charts
//! ```
//!
//! Built with the git and helm CLIs. Commits are deterministic (fixed
//! author, committer and date, no user or system git config), so the same
//! files give the same commit and a changed profile a new one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{Error, Result};

/// The branch every served repository carries.
pub const BRANCH: &str = "main";

/// A fixed identity and date: the commit depends on the files alone.
const IDENTITY: [(&str, &str); 6] = [
    ("GIT_AUTHOR_NAME", "InfraFlux"),
    ("GIT_AUTHOR_EMAIL", "infraflux@localhost"),
    ("GIT_AUTHOR_DATE", "2000-01-01T00:00:00Z"),
    ("GIT_COMMITTER_NAME", "InfraFlux"),
    ("GIT_COMMITTER_EMAIL", "infraflux@localhost"),
    ("GIT_COMMITTER_DATE", "2000-01-01T00:00:00Z"),
];

fn git(dir: &Path) -> Command {
    let mut c = Command::new("git");
    c.current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .envs(IDENTITY);
    c
}

fn run(mut c: Command, what: &str) -> Result<String> {
    let out = c.output().map_err(|e| Error::Tool { what: what.to_owned(), message: e.to_string() })?;
    if !out.status.success() {
        return Err(Error::Tool { what: what.to_owned(), message: String::from_utf8_lossy(&out.stderr).trim().to_owned() });
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io { path: path.to_path_buf(), source }
}

/// Replaces the bare repository `bare` with one commit on [`BRANCH`]
/// holding `files` (relative paths), tagged `tag` when given. Returns the
/// commit's SHA.
pub fn git_repo(bare: &Path, files: &BTreeMap<String, Vec<u8>>, tag: Option<&str>, message: &str) -> Result<String> {
    for rel in files.keys() {
        let p = Path::new(rel);
        if p.is_absolute() || p.components().any(|c| !matches!(c, std::path::Component::Normal(_))) {
            return Err(Error::Parse { what: "a served file path".into(), message: format!("`{rel}` is not a plain relative path") });
        }
    }
    let parent = bare.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(io(parent))?;
    let work = tempfile_dir(parent)?;
    run({
        let mut c = git(&work);
        c.args(["init", "-q", "-b", BRANCH, "."]);
        c
    }, "git init")?;
    for (rel, bytes) in files {
        let p = work.join(rel);
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d).map_err(io(d))?;
        }
        std::fs::write(&p, bytes).map_err(io(&p))?;
    }
    run({
        let mut c = git(&work);
        c.args(["add", "-A"]);
        c
    }, "git add")?;
    run({
        let mut c = git(&work);
        c.args(["-c", "commit.gpgsign=false", "commit", "-q", "--no-verify", "--allow-empty", "-m", message]);
        c
    }, "git commit")?;
    if let Some(t) = tag {
        run({
            let mut c = git(&work);
            c.args(["tag", t]);
            c
        }, "git tag")?;
    }
    let sha = run({
        let mut c = git(&work);
        c.args(["rev-parse", "HEAD"]);
        c
    }, "git rev-parse")?;
    if bare.exists() {
        std::fs::remove_dir_all(bare).map_err(io(bare))?;
    }
    run({
        let mut c = git(parent);
        c.args(["clone", "-q", "--bare"]).arg(&work).arg(bare);
        c
    }, "git clone --bare")?;
    std::fs::remove_dir_all(&work).map_err(io(&work))?;
    Ok(sha)
}

/// A fresh scratch directory next to the repositories (same filesystem,
/// removed by the caller).
fn tempfile_dir(parent: &Path) -> Result<PathBuf> {
    for i in 0..1000u32 {
        let p = parent.join(format!(".work-{}-{i}", std::process::id()));
        match std::fs::create_dir(&p) {
            Ok(()) => return Ok(p),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(Error::Io { path: p, source: e }),
        }
    }
    Err(Error::Tool { what: "scratch directory".into(), message: format!("no free name under {}", parent.display()) })
}

/// Every file under `dir/sub`, keyed by its path relative to `dir`.
pub fn files_under(dir: &Path, sub: &str) -> Result<BTreeMap<String, Vec<u8>>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.join(sub)];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).map_err(io(&d))? {
            let e = e.map_err(io(&d))?;
            let p = e.path();
            if e.file_type().map_err(io(&p))?.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap_or(&p).to_string_lossy().into_owned();
                out.insert(rel, std::fs::read(&p).map_err(io(&p))?);
            }
        }
    }
    Ok(out)
}

/// One chart to publish: its directory and the version it is published as.
#[derive(Debug, Clone)]
pub struct ChartSource {
    pub dir: PathBuf,
    pub version: String,
}

/// Replaces `<root>/charts` with a Helm repository of `charts` whose index
/// points at `url` (the address the cluster fetches it from).
pub fn chart_repo(charts_dir: &Path, helm: &Path, charts: &[ChartSource], url: &str) -> Result<()> {
    if charts_dir.exists() {
        std::fs::remove_dir_all(charts_dir).map_err(io(charts_dir))?;
    }
    std::fs::create_dir_all(charts_dir).map_err(io(charts_dir))?;
    for c in charts {
        let mut cmd = Command::new(helm);
        cmd.arg("package").arg(&c.dir).args(["--version", c.version.trim_start_matches('v'), "-d"]).arg(charts_dir);
        run(cmd, &format!("helm package {}", c.dir.display()))?;
    }
    let mut cmd = Command::new(helm);
    cmd.args(["repo", "index"]).arg(charts_dir).args(["--url", url]);
    run(cmd, "helm repo index")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_files_give_the_same_commit_and_a_change_a_new_one() {
        let t = tempfile::tempdir().expect("tmp");
        let mut files = BTreeMap::new();
        files.insert("clusters/x/flux.yaml".to_owned(), b"a: 1\n".to_vec());
        files.insert("apps/routes.yaml".to_owned(), b"b: 2\n".to_vec());
        let bare = t.path().join("git/tree.git");
        let a = git_repo(&bare, &files, Some("v1"), "tree").expect("first");
        let b = git_repo(&bare, &files, Some("v1"), "tree").expect("again");
        assert_eq!(a, b);
        files.insert("apps/routes.yaml".to_owned(), b"b: 3\n".to_vec());
        let c = git_repo(&bare, &files, None, "tree").expect("changed");
        assert_ne!(a, c);
        let head = run(
            {
                let mut g = git(&bare);
                g.args(["rev-parse", BRANCH]);
                g
            },
            "rev-parse",
        )
        .expect("branch");
        assert_eq!(head, c);
        assert!(t.path().join("git").read_dir().expect("dir").count() == 1, "no scratch left behind");
    }

    #[test]
    fn a_path_that_leaves_the_repository_is_refused() {
        let t = tempfile::tempdir().expect("tmp");
        let mut files = BTreeMap::new();
        files.insert("../escape".to_owned(), Vec::new());
        assert!(git_repo(&t.path().join("r.git"), &files, None, "x").is_err());
        assert!(!t.path().join("escape").exists());
    }
}
