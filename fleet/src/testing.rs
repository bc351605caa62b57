//! What unit tests across the engine share: a desired state read from a
//! real (throw-away) git repository, as `apply` reads one.

use crate::config::DesiredState;

/// `n` hosts `h01`.. on 127.0.0.1, all assigned the built-in `simple`.
pub fn desired(n: usize) -> DesiredState {
    desired_with_scheduler(n, "source: builtin:simple\n")
}

/// [`desired`], with `schedulers/simple.yaml` holding `scheduler_yaml`.
pub fn desired_with_scheduler(n: usize, scheduler_yaml: &str) -> DesiredState {
    let repo = tempfile::tempdir().unwrap();
    let root = repo.path();
    std::fs::create_dir_all(root.join("schedulers")).unwrap();
    let hosts: String = (1..=n).map(|i| format!("  h{i:02}: {{ address: 127.0.0.1 }}\n")).collect();
    std::fs::write(root.join("inventory.yaml"), format!("hosts:\n{hosts}")).unwrap();
    std::fs::write(root.join("fleet.yaml"), "assignments:\n  - { hosts: all, scheduler: simple }\n").unwrap();
    std::fs::write(root.join("schedulers/simple.yaml"), scheduler_yaml).unwrap();
    for args in [
        &["init", "-q"][..],
        &["add", "."],
        &["-c", "user.name=t", "-c", "user.email=t@t.invalid", "commit", "-qm", "x"],
    ] {
        assert!(std::process::Command::new("git").args(args).current_dir(root).status().unwrap().success());
    }
    let repo = crate::repo::ConfigRepo::open(root, "HEAD").unwrap();
    crate::config::load(&repo, &Default::default()).unwrap()
}
