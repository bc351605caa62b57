//! Signed commits (`--require-signed`, `--allowed-signers`): real git
//! repositories with commits signed by real SSH keys (`ssh-keygen` in a
//! temp dir, `git -c gpg.format=ssh commit -S`). A commit signed by an
//! allowed key is accepted; an unsigned one, one signed by another key, and
//! a signed commit rewritten after signing (its signature kept) are refused
//! with exit 2 by every command that deploys or compares a commit, before
//! any host is contacted (the inventory's host is 127.0.0.1 port 1, where
//! contact would end in exit 4).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::repo::ConfigRepo;
use crate::support::{run, schedfleet, stderr};

const INVENTORY: &str = "hosts:\n  h1: { address: 127.0.0.1, port: 1 }\n";
const FLEET: &str = "assignments:\n  - hosts: all\n    scheduler: simple\n    params: { slice_ns: 3000000 }\n";

struct Keys {
    dir: tempfile::TempDir,
}

impl Keys {
    fn new() -> Keys {
        let dir = tempfile::tempdir().unwrap();
        for name in ["allowed", "stranger"] {
            let ok = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
                .arg(dir.path().join(name))
                .status()
                .unwrap()
                .success();
            assert!(ok, "ssh-keygen {name}");
        }
        let public = std::fs::read_to_string(dir.path().join("allowed.pub")).unwrap();
        std::fs::write(dir.path().join("allowed_signers"), format!("ops@example.invalid namespaces=\"git\" {public}"))
            .unwrap();
        Keys { dir }
    }

    fn key(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn allowed_signers(&self) -> PathBuf {
        self.key("allowed_signers")
    }
}

fn repo() -> ConfigRepo {
    let repo = ConfigRepo::from_example("quickstart");
    repo.write("inventory.yaml", INVENTORY);
    repo.write("fleet.yaml", FLEET);
    repo
}

fn signed_commit(repo: &ConfigRepo, key: &Path, msg: &str) -> String {
    let signing_key = format!("user.signingkey={}", key.display());
    repo.commit_with(&["gpg.format=ssh", &signing_key], &["-S"], msg)
}

/// Rewrites HEAD's commit object with another message, keeping its
/// `gpgsig` header, and points the branch at the result.
fn tamper_with_head(repo: &ConfigRepo) -> String {
    let original = repo.git_out(&["cat-file", "commit", "HEAD"]);
    assert!(original.contains("-----BEGIN SSH SIGNATURE-----"), "{original}");
    let forged = original.replacen("\n\nsigned", "\n\nforged", 1);
    assert_ne!(forged, original);
    let tmp = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(tmp.path(), format!("{forged}\n")).unwrap();
    let id = repo.git_out(&["hash-object", "-t", "commit", "-w", tmp.path().to_str().unwrap()]);
    repo.git_out(&["update-ref", "refs/heads/main", &id]);
    id
}

/// The commands that read a commit, each with the signing options.
fn commands(repo: &ConfigRepo, rev: &str, allowed: &Path) -> Vec<(&'static str, Command)> {
    let dir = repo.path().to_str().unwrap().to_owned();
    let base = |verb: &[&str]| {
        let mut cmd = schedfleet();
        cmd.args(verb).args(["--repo", &dir]).arg("--allowed-signers").arg(allowed);
        cmd
    };
    vec![
        ("validate", base(&["validate", "--rev", rev])),
        ("plan", base(&["plan", "--rev", rev])),
        ("apply", base(&["apply", "--yes", "--rev", rev])),
        ("drift", base(&["drift", "--rev", rev, "--host-timeout", "5s"])),
        ("rollback --to", base(&["rollback", "--yes", "--to", rev])),
    ]
}

fn refused_everywhere(repo: &ConfigRepo, rev: &str, allowed: &Path, says: &str) {
    for (name, mut cmd) in commands(repo, rev, allowed) {
        let out: Output = run(&mut cmd);
        assert_eq!(out.status.code(), Some(2), "{name}: {}", stderr(&out));
        assert!(stderr(&out).contains(says), "{name}: expected `{says}` in:\n{}", stderr(&out));
        assert!(!stderr(&out).contains("127.0.0.1"), "{name} reached for the host:\n{}", stderr(&out));
    }
}

#[test]
fn a_commit_signed_by_an_allowed_key_is_accepted_by_every_command() {
    let keys = Keys::new();
    let repo = repo();
    let rev = signed_commit(&repo, &keys.key("allowed"), "signed");
    for (name, mut cmd) in commands(&repo, &rev, &keys.allowed_signers()) {
        let out = run(&mut cmd);
        assert!(stderr(&out).contains("good ssh signature by ops@example.invalid"), "{name}: {}", stderr(&out));
        if name == "validate" {
            assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        } else {
            // Past the signature check the command goes on to the host,
            // which is unreachable: anything but "bad input".
            assert_ne!(out.status.code(), Some(2), "{name}: {}", stderr(&out));
        }
    }
}

#[test]
fn unsigned_commits_are_refused_before_contact() {
    let keys = Keys::new();
    let repo = repo();
    let rev = repo.commit("unsigned");
    refused_everywhere(&repo, &rev, &keys.allowed_signers(), "is not signed, and signed commits are required");
    // Without any allowed keys, --require-signed fails closed.
    let out = run(schedfleet().args(["validate", "--require-signed", "--repo"]).arg(repo.path()));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no allowed signers are configured"), "{}", stderr(&out));
}

#[test]
fn commits_signed_by_a_key_not_allowed_are_refused_before_contact() {
    let keys = Keys::new();
    let repo = repo();
    let rev = signed_commit(&repo, &keys.key("stranger"), "signed");
    refused_everywhere(&repo, &rev, &keys.allowed_signers(), "is signed by a key that");
}

#[test]
fn a_signed_commit_changed_after_signing_is_refused_before_contact() {
    let keys = Keys::new();
    let repo = repo();
    signed_commit(&repo, &keys.key("allowed"), "signed");
    let forged = tamper_with_head(&repo);
    refused_everywhere(&repo, &forged, &keys.allowed_signers(), "its SSH signature does not verify");
}

#[test]
fn the_allowed_signers_file_must_live_outside_the_repository() {
    let keys = Keys::new();
    let repo = repo();
    std::fs::copy(keys.allowed_signers(), repo.path().join("allowed_signers")).unwrap();
    let rev = signed_commit(&repo, &keys.key("allowed"), "signed");
    let out = run(schedfleet()
        .args(["validate", "--rev", &rev, "--repo"])
        .arg(repo.path())
        .arg("--allowed-signers")
        .arg(repo.path().join("allowed_signers")));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("is inside the config repository"), "{}", stderr(&out));
}

/// A GnuPG home with one fresh signing key, made with `gpg` in a temp dir.
fn gpg_key(home: &Path, name: &str) -> String {
    let gpg = |args: &[&str]| {
        let out = Command::new("gpg").arg("--homedir").arg(home).args(["--batch", "--no-tty"]).args(args).output();
        let out = out.expect("gpg must be installed for this test (lab/setup.sh installs it)");
        assert!(out.status.success(), "gpg {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    std::fs::create_dir_all(home).unwrap();
    std::fs::set_permissions(home, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let uid = format!("{name} <{name}@example.invalid>");
    gpg(&["--passphrase", "", "--quick-gen-key", &uid, "ed25519", "sign", "never"]);
    let listing = gpg(&["--with-colons", "--list-secret-keys", &uid]);
    listing.lines().find_map(|l| l.strip_prefix("fpr:")).map(|f| f.trim_matches(':').to_owned()).unwrap()
}

#[test]
fn openpgp_signatures_are_verified_against_a_keyring_on_the_controller() {
    let tmp = tempfile::tempdir().unwrap();
    let (ops_home, stranger_home) = (tmp.path().join("ops"), tmp.path().join("stranger"));
    let ops = gpg_key(&ops_home, "ops");
    let stranger = gpg_key(&stranger_home, "stranger");
    let keyring = tmp.path().join("allowed.gpg");
    let export = Command::new("gpg").arg("--homedir").arg(&ops_home).args(["--batch", "--export", &ops]).output();
    std::fs::write(&keyring, export.unwrap().stdout).unwrap();
    let validate = |repo: &ConfigRepo, rev: &str| {
        run(schedfleet()
            .args(["validate", "--rev", rev, "--repo"])
            .arg(repo.path())
            .arg("--allowed-gpg-keys")
            .arg(&keyring))
    };
    // git runs `gpg.program` with gpg's own arguments: a wrapper names the
    // GnuPG home, so no environment variable of this process changes.
    let sign = |repo: &ConfigRepo, home: &Path, key: &str| {
        let wrapper = home.with_extension("sh");
        std::fs::write(&wrapper, format!("#!/bin/sh\nexec gpg --homedir '{}' \"$@\"\n", home.display())).unwrap();
        std::fs::set_permissions(&wrapper, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let program = format!("gpg.program={}", wrapper.display());
        repo.commit_with(&["gpg.format=openpgp", &program, &format!("user.signingkey={key}")], &["-S"], "signed")
    };

    let repo = repo();
    let good = sign(&repo, &ops_home, &ops);
    let out = validate(&repo, &good);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains(&format!("good gpg signature by {ops}")), "{}", stderr(&out));

    let other = sign(&repo, &stranger_home, &stranger);
    let out = validate(&repo, &other);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("signed by an OpenPGP key that"), "{}", stderr(&out));

    sign(&repo, &ops_home, &ops);
    let original = repo.git_out(&["cat-file", "commit", "HEAD"]);
    let forged = original.replacen("\n\nsigned", "\n\nforged", 1);
    let file = tmp.path().join("forged");
    std::fs::write(&file, format!("{forged}\n")).unwrap();
    let forged = repo.git_out(&["hash-object", "-t", "commit", "-w", file.to_str().unwrap()]);
    let out = validate(&repo, &forged);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("its OpenPGP signature does not verify"), "{}", stderr(&out));

    // Without a keyring, a PGP-signed commit is refused and says why.
    let out = run(schedfleet()
        .args(["validate", "--rev", &good, "--repo"])
        .arg(repo.path())
        .arg("--allowed-signers")
        .arg(tmp.path().join("allowed.gpg")));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no keyring of allowed OpenPGP keys is configured"), "{}", stderr(&out));
}
