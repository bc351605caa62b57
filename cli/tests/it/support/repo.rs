//! Throw-away config repositories: real git repositories in a temp dir,
//! seeded from `examples/` and changed commit by commit.

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct ConfigRepo {
    dir: tempfile::TempDir,
}

impl ConfigRepo {
    /// A repository whose first commit is a copy of `examples/<name>`.
    pub fn from_example(name: &str) -> ConfigRepo {
        let dir = tempfile::tempdir().unwrap();
        copy_dir(&super::workspace_root().join("examples").join(name), dir.path());
        let repo = ConfigRepo { dir };
        repo.git(&["init", "-q", "-b", "main"]);
        repo.commit("from example");
        repo
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, rel: &str, bytes: impl AsRef<[u8]>) {
        let p = self.dir.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }

    pub fn commit(&self, msg: &str) -> String {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "--allow-empty", "-m", msg]);
        let out = Command::new("git").args(["rev-parse", "HEAD"]).current_dir(self.path()).output().unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    /// Commits with extra `git -c` settings (`gpg.format=ssh`, a signing
    /// key) and extra `commit` arguments (`-S`); returns the commit id.
    pub fn commit_with(&self, config: &[&str], args: &[&str], msg: &str) -> String {
        self.git(&["add", "-A"]);
        let mut git: Vec<&str> = config.iter().flat_map(|c| ["-c", c]).collect();
        git.extend(["commit", "-q", "--allow-empty", "-m", msg]);
        git.extend(args);
        self.git(&git);
        self.git_out(&["rev-parse", "HEAD"])
    }

    /// Runs git here and returns its stdout, trimmed.
    pub fn git_out(&self, args: &[&str]) -> String {
        let out = Command::new("git").args(args).current_dir(self.path()).output().unwrap();
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    fn git(&self, args: &[&str]) {
        let ok = Command::new("git")
            .args([
                "-c",
                "user.name=schedfleet-test",
                "-c",
                "user.email=test@example.invalid",
                "-c",
                "commit.gpgsign=false",
            ])
            .args(args)
            .current_dir(self.path())
            .status()
            .unwrap()
            .success();
        assert!(ok, "git {args:?} failed");
    }
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target: PathBuf = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}
