//! A new config repository: `git init` and one first commit of the given
//! files. The author is the user's git identity, or `schedfleet` when git
//! has none configured, so `schedfleet init` works on a fresh machine.

use std::path::Path;

use anyhow::{Context, Result};
use git2::{IndexAddOption, Repository, Signature};

/// Writes `files` (paths relative to `dir`) into the new repository at
/// `dir`, commits them with `message`, and returns the commit id.
pub fn create(dir: &Path, files: &[(String, Vec<u8>)], message: &str) -> Result<String> {
    let repo =
        Repository::init(dir).with_context(|| format!("failed to create a git repository in `{}`", dir.display()))?;
    for (rel, bytes) in files {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("failed to create `{}`", parent.display()))?;
        }
        std::fs::write(&path, bytes).with_context(|| format!("failed to write `{}`", path.display()))?;
    }
    let mut index = repo.index()?;
    index.add_all(["*"], IndexAddOption::DEFAULT, None)?;
    index.write()?;
    let tree = repo.find_tree(index.write_tree()?)?;
    let author = repo.signature().or_else(|_| Signature::now("schedfleet", "schedfleet@localhost"))?;
    let commit = repo.commit(Some("HEAD"), &author, &author, message, &tree, &[])?;
    Ok(commit.to_string())
}
