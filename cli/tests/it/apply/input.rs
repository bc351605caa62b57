//! Bad input to `apply`: exit 2, one precise message, no host contacted.
//! The inventory points at a port nobody listens on, so any attempt to
//! connect would show up as exit 4 instead.

use crate::support::repo::ConfigRepo;
use crate::support::{run, schedfleet, stderr};

const NOWHERE: &str = "hosts:\n  h1: { address: 127.0.0.1, port: 1 }\n";
const FLEET: &str = "assignments:\n  - hosts: all\n    scheduler: simple\n";

fn repo_with(files: &[(&str, &str)]) -> ConfigRepo {
    let repo = ConfigRepo::from_example("quickstart");
    repo.write("inventory.yaml", NOWHERE);
    repo.write("fleet.yaml", FLEET);
    for (path, text) in files {
        repo.write(path, text);
    }
    repo.commit("case");
    repo
}

fn apply_fails_with(repo: &ConfigRepo, extra: &[&str], expected: &[&str]) {
    let out = run(schedfleet().arg("apply").arg("--repo").arg(repo.path()).arg("--yes").args(extra));
    assert_eq!(out.status.code(), Some(2), "bad input must exit 2");
    let err = stderr(&out);
    for e in expected {
        assert!(err.contains(e), "stderr lacks `{e}`:\n{err}");
    }
}

#[test]
fn malformed_config_exits_2_naming_file_and_line() {
    apply_fails_with(
        &repo_with(&[("fleet.yaml", "assignments:\n  - hosts: all\n    schedulr: simple\n")]),
        &[],
        &["fleet.yaml", "schedulr", "3"],
    );
    apply_fails_with(
        &repo_with(&[("fleet.yaml", "assignments:\n  - hosts: all\n    scheduler: nope\n")]),
        &[],
        &["schedulers/nope.yaml"],
    );
    apply_fails_with(
        &repo_with(&[("fleet.yaml", "assignments:\n  - hosts: 'gpu-*'\n    scheduler: simple\n")]),
        &[],
        &["gpu-*", "matches no host"],
    );
    apply_fails_with(
        &repo_with(&[(
            "fleet.yaml",
            "assignments:\n  - hosts: all\n    scheduler: simple\n    params: { slice_ns: 1 }\n",
        )]),
        &[],
        &["slice_ns", "outside"],
    );
    apply_fails_with(
        &repo_with(&[("schedulers/simple.yaml", "source: object:../../etc/passwd\n")]),
        &[],
        &["leaves the config directory"],
    );
    apply_fails_with(
        &repo_with(&[("inventory.yaml", "hosts:\n  '-oProxyCommand=x': {}\n")]),
        &[],
        &["not a valid host name"],
    );
}

#[test]
fn usage_errors_exit_2() {
    let repo = repo_with(&[]);
    apply_fails_with(&repo, &["--rev", "no-such-branch"], &["no-such-branch"]);
    apply_fails_with(&repo, &["--limit", "zzz*"], &["zzz*", "matches no host"]);
    apply_fails_with(&repo, &["--agent", "/etc/hostname"], &["not a 64-bit"]);
    let out = run(schedfleet().args(["apply", "--no-such-flag"]));
    assert_eq!(out.status.code(), Some(2));
    let not_git = tempfile::tempdir().unwrap();
    let out = run(schedfleet().arg("apply").arg("--repo").arg(not_git.path()).arg("--yes"));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("not inside a git repository"), "{}", stderr(&out));
}

#[test]
fn without_yes_and_no_terminal_nothing_happens() {
    let repo = repo_with(&[]);
    let out = run(schedfleet().arg("apply").arg("--repo").arg(repo.path()).stdin(std::process::Stdio::null()));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--yes"), "{}", stderr(&out));
}
