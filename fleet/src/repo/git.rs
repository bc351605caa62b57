//! A config directory inside a git repository, read at one commit.
//!
//! `--repo` may point at a subdirectory of a repository (like Flux's
//! `path`): that prefix then applies inside the commit's tree. Paths given
//! by config files are checked here so none can leave the config directory:
//! no absolute paths, no `..`, no symlinks.

use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result};
use git2::{ObjectType, Repository, Status, StatusOptions};

use crate::BadInput;

/// The largest file read from a commit (a BPF object; config files have
/// their own, smaller limit): checked from the object's header before the
/// object is read.
pub const MAX_BLOB_BYTES: u64 = 64 << 20;

pub struct ConfigRepo {
    repo: Repository,
    /// The config directory, relative to the repository's root.
    prefix: PathBuf,
    commit: git2::Oid,
    /// The directory as given, for messages.
    shown: String,
}

impl ConfigRepo {
    /// Opens the repository holding `dir` and resolves `rev` to a commit.
    pub fn open(dir: &Path, rev: &str) -> Result<ConfigRepo> {
        let shown = dir.display().to_string();
        let abs = dir
            .canonicalize()
            .map_err(|e| BadInput::new(format!("config repository `{shown}` cannot be opened: {e}")))?;
        let repo = Repository::discover(&abs).map_err(|_| {
            BadInput::new(format!(
                "`{shown}` is not inside a git repository, so it is no schedfleet config repository (schedfleet \
                 deploys only committed content); point --repo DIR at a config repository, or create one with \
                 `schedfleet init DIR`"
            ))
        })?;
        let workdir = repo
            .workdir()
            .ok_or_else(|| BadInput::new(format!("`{shown}` is in a bare repository; point --repo at a checkout")))?
            .canonicalize()?;
        let prefix = abs.strip_prefix(&workdir).map(Path::to_path_buf).unwrap_or_default();
        let commit = repo
            .revparse_single(rev)
            .and_then(|o| o.peel_to_commit())
            .map_err(|e| BadInput::new(format!("revision `{rev}` not found in `{shown}`: {}", e.message())))?
            .id();
        Ok(ConfigRepo { repo, prefix, commit, shown })
    }

    /// The config directory as the user named it, for messages.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// The config directory in the working tree, when there is one.
    pub fn dir_on_disk(&self) -> Option<PathBuf> {
        self.repo.workdir().map(|w| w.join(&self.prefix))
    }

    /// Verifies the commit's signature against the controller's allowed
    /// keys; bad input (exit 2) when it is unsigned, signed by a key not
    /// allowed, or changed after it was signed.
    pub fn verify_signature(&self, policy: &super::SigningPolicy) -> Result<super::GoodSignature> {
        super::signature::verify(&self.repo, self.commit, policy)
    }

    /// The full commit id everything read here comes from.
    pub fn commit_id(&self) -> String {
        self.commit.to_string()
    }

    /// Reads `rel` (relative to the config directory) from the commit.
    /// `Ok(None)` when the file is not in the commit.
    pub fn read(&self, rel: &str) -> Result<Option<Vec<u8>>> {
        let path = self.checked_path(rel)?;
        let tree = self.repo.find_commit(self.commit)?.tree()?;
        let entry = match tree.get_path(&path) {
            Ok(entry) => entry,
            Err(e) if e.code() == git2::ErrorCode::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("failed to look up `{}`", path.display())),
        };
        if entry.filemode() == 0o120000 {
            return Err(BadInput::new(format!(
                "`{rel}` is a symbolic link in the repository; schedfleet reads only regular files"
            ))
            .into());
        }
        if entry.kind() != Some(ObjectType::Blob) {
            return Err(BadInput::new(format!("`{rel}` is not a file in the repository")).into());
        }
        // The size from the object's header, before its content is read.
        let (size, _) = self.repo.odb()?.read_header(entry.id())?;
        if size as u64 > MAX_BLOB_BYTES {
            return Err(BadInput::new(format!(
                "`{rel}` is {size} bytes in the commit; schedfleet reads files of at most {MAX_BLOB_BYTES} bytes"
            ))
            .into());
        }
        let blob = entry.to_object(&self.repo)?.peel_to_blob()?;
        Ok(Some(blob.content().to_vec()))
    }

    /// The names of the regular files directly in `rel_dir` at the commit.
    pub fn list(&self, rel_dir: &str) -> Result<Vec<String>> {
        let path = self.checked_path(rel_dir)?;
        let tree = self.repo.find_commit(self.commit)?.tree()?;
        let sub = match tree.get_path(&path) {
            Ok(entry) if entry.kind() == Some(ObjectType::Tree) => entry.to_object(&self.repo)?.peel_to_tree()?,
            Ok(_) => {
                return Err(BadInput::new(format!(
                    "`{rel_dir}` is a file in the repository, not a directory; make it a directory or remove it"
                ))
                .into())
            }
            Err(e) if e.code() == git2::ErrorCode::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e).with_context(|| format!("failed to look up `{}`", path.display())),
        };
        Ok(sub
            .iter()
            .filter(|e| e.kind() == Some(ObjectType::Blob))
            .filter_map(|e| e.name().ok().map(str::to_owned))
            .collect())
    }

    /// The names of the directories directly in `rel_dir` at the commit.
    pub fn list_dirs(&self, rel_dir: &str) -> Result<Vec<String>> {
        let path = self.checked_path(rel_dir)?;
        let tree = self.repo.find_commit(self.commit)?.tree()?;
        let sub = match tree.get_path(&path) {
            Ok(entry) if entry.kind() == Some(ObjectType::Tree) => entry.to_object(&self.repo)?.peel_to_tree()?,
            _ => return Ok(Vec::new()),
        };
        Ok(sub
            .iter()
            .filter(|e| e.kind() == Some(ObjectType::Tree))
            .filter_map(|e| e.name().ok().map(str::to_owned))
            .collect())
    }

    /// Config files that differ in the working tree from `HEAD`: they are
    /// not what gets deployed, and the user should know.
    pub fn uncommitted_changes(&self) -> Vec<String> {
        let mut opts = StatusOptions::new();
        opts.include_untracked(true).recurse_untracked_dirs(true);
        if !self.prefix.as_os_str().is_empty() {
            opts.pathspec(self.prefix.as_os_str());
        }
        let Ok(statuses) = self.repo.statuses(Some(&mut opts)) else { return Vec::new() };
        statuses
            .iter()
            .filter(|s| s.status() != Status::CURRENT && !s.status().contains(Status::IGNORED))
            .filter_map(|s| {
                s.path().ok().map(|p| {
                    Path::new(p).strip_prefix(&self.prefix).map_or_else(|_| p.to_owned(), |r| r.display().to_string())
                })
            })
            .collect()
    }

    /// `rel` joined under the prefix, refusing anything that could leave the
    /// config directory.
    fn checked_path(&self, rel: &str) -> Result<PathBuf> {
        let p = Path::new(rel);
        let escapes = p.components().any(|c| !matches!(c, Component::Normal(_) | Component::CurDir));
        if escapes {
            return Err(BadInput::new(format!(
                "path `{}` leaves the config directory `{}`; use a relative path without `..`",
                rel.escape_debug(),
                self.shown
            ))
            .into());
        }
        // Git's trees know no `.`: `./a` is `a`.
        let normal: PathBuf = p.components().filter(|c| matches!(c, Component::Normal(_))).collect();
        if normal.as_os_str().is_empty() {
            return Err(BadInput::new(format!(
                "path `{}` names no file; give a path like `dir/file`",
                rel.escape_debug()
            ))
            .into());
        }
        Ok(self.prefix.join(normal))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn git(dir: &Path, args: &[&str]) {
        let ok = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid"])
            .args(args)
            .current_dir(dir)
            .status()
            .unwrap()
            .success();
        assert!(ok, "git {args:?}");
    }

    #[test]
    fn reads_committed_content_under_a_prefix_not_the_worktree() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        std::fs::create_dir_all(root.join("cfg/schedulers")).unwrap();
        std::fs::write(root.join("cfg/fleet.yaml"), "v: 1\n").unwrap();
        std::fs::write(root.join("cfg/schedulers/a.yaml"), "x\n").unwrap();
        git(root, &["init", "-q"]);
        git(root, &["add", "."]);
        git(root, &["commit", "-qm", "one"]);
        std::fs::write(root.join("cfg/fleet.yaml"), "v: 2\n").unwrap();

        let repo = ConfigRepo::open(&root.join("cfg"), "HEAD").unwrap();
        assert_eq!(repo.read("fleet.yaml").unwrap().unwrap(), b"v: 1\n");
        assert_eq!(repo.read("missing.yaml").unwrap(), None);
        assert_eq!(repo.list("schedulers").unwrap(), vec!["a.yaml".to_owned()]);
        assert_eq!(repo.uncommitted_changes(), vec!["fleet.yaml".to_owned()]);
        assert_eq!(repo.commit_id().len(), 40);

        for bad in ["../x", "/etc/passwd", "a/../../x", "", "."] {
            let err = repo.read(bad).unwrap_err();
            assert!(err.downcast_ref::<BadInput>().is_some(), "{bad}: {err}");
        }
        assert_eq!(repo.read("./schedulers//a.yaml").unwrap().unwrap(), b"x\n");
        let err = repo.list("fleet.yaml").unwrap_err();
        assert!(err.downcast_ref::<BadInput>().is_some(), "{err}");
        let err = ConfigRepo::open(&root.join("cfg"), "no-such-rev").err().unwrap();
        assert!(err.to_string().contains("no-such-rev"), "{err}");
    }
}
