//! First contact: `schedfleet init` makes a config repository that
//! `validate` accepts as it is (with its own inventory, or an Ansible one),
//! refuses a directory that is not empty, and every command run where no
//! config repository is (this project's own checkout included) says so and
//! points at `--repo DIR` and `schedfleet init`.

use std::path::Path;
use std::process::Command;

use crate::support::{run, schedfleet, stderr, stdout, workspace_root};

fn git_log(dir: &Path) -> Vec<String> {
    let out = Command::new("git").args(["log", "--format=%s"]).current_dir(dir).output().unwrap();
    String::from_utf8(out.stdout).unwrap().lines().map(str::to_owned).collect()
}

fn git_status(dir: &Path) -> String {
    let out = Command::new("git").args(["status", "--porcelain"]).current_dir(dir).output().unwrap();
    String::from_utf8(out.stdout).unwrap()
}

fn validate(dir: &Path) -> std::process::Output {
    let state = tempfile::tempdir().unwrap();
    run(schedfleet().arg("validate").arg("--repo").arg(dir).env("SCHEDFLEET_STATE_DIR", state.path()))
}

#[test]
fn init_makes_a_committed_repository_that_validates() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("fleet-config");
    let out = run(schedfleet().arg("init").arg(&dir));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("schedfleet validate --repo"), "{}", stderr(&out));
    for f in ["fleet.yaml", "inventory.yaml", "schedulers/simple.yaml", "README.md"] {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
    assert_eq!(git_log(&dir).len(), 1, "one commit");
    assert_eq!(git_status(&dir), "", "everything committed");
    let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
    assert_eq!(readme.lines().count(), 5, "{readme}");
    let fleet = std::fs::read_to_string(dir.join("fleet.yaml")).unwrap();
    assert!(
        fleet.contains("waves: [1,") && fleet.contains("per_wave: 0") && fleet.contains("on_failure: rollback"),
        "{fleet}"
    );

    let out = validate(&dir);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("1 of 1 host(s) assigned; schedulers: simple"), "{}", stdout(&out));
    assert!(!stderr(&out).contains("uncommitted"), "{}", stderr(&out));
}

#[test]
fn init_from_ansible_reads_the_same_inventory_from_the_commit() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cfg");
    let source = workspace_root().join("inventories/ansible/group-vars-dirs/hosts.ini");
    let out = run(schedfleet().arg("init").arg(&dir).arg("--from-ansible").arg(&source));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(dir.join("ansible/hosts.ini").is_file() && dir.join("ansible/group_vars/prod/20-override.yaml").is_file());
    assert!(std::fs::read_to_string(dir.join("fleet.yaml")).unwrap().contains("file: ansible/hosts.ini"));
    assert!(!dir.join("inventory.yaml").exists());
    let out = validate(&dir);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("3 of 3 host(s) assigned"), "{}", stdout(&out));
    // What the repository reads at its commit is what the file on disk gives.
    let in_repo = run(schedfleet().args(["inventory", "--list", "--repo"]).arg(&dir));
    let on_disk = run(schedfleet().args(["inventory", "--list", "--inventory"]).arg(&source));
    assert_eq!(in_repo.status.code(), Some(0), "{}", stderr(&in_repo));
    assert_eq!(stdout(&in_repo), stdout(&on_disk));
    assert!(stdout(&in_repo).contains("\"owner\": \"sre\""), "group_vars/prod/ read: {}", stdout(&in_repo));
}

#[test]
fn init_refuses_a_non_empty_directory_and_an_unreadable_inventory() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("notes.txt"), "mine\n").unwrap();
    let out = run(schedfleet().arg("init").arg(tmp.path()));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("is not empty"), "{}", stderr(&out));
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 1, "nothing was added");

    // An inventory schedfleet cannot read is refused before anything is written.
    let plugin = tmp.path().join("aws_ec2.yml");
    std::fs::write(&plugin, "plugin: amazon.aws.aws_ec2\n").unwrap();
    let dir = tmp.path().join("new");
    let out = run(schedfleet().arg("init").arg(&dir).arg("--from-ansible").arg(&plugin));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("plugin"), "{}", stderr(&out));
    assert!(!dir.exists(), "no repository was started");
}

/// From this project's checkout, a git repository with no `fleet.yaml` at
/// its root, the mistake is the directory, and the message says so.
#[test]
fn commands_without_a_config_repository_say_so_and_suggest_init() {
    for cmd in ["status", "plan", "drift", "validate", "apply"] {
        let out = run(schedfleet().arg(cmd).current_dir(workspace_root()));
        assert_eq!(out.status.code(), Some(2), "{cmd}");
        let err = stderr(&out);
        for says in ["is no schedfleet config repository", "--repo DIR", "schedfleet init"] {
            assert!(err.contains(says), "{cmd}: lacks `{says}`: {err}");
        }
        assert!(!err.contains("commit it first"), "{cmd}: {err}");
    }
    let tmp = tempfile::tempdir().unwrap();
    let out = run(schedfleet().arg("status").current_dir(tmp.path()));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("not inside a git repository") && stderr(&out).contains("schedfleet init"));
}
