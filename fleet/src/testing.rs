//! What unit tests across the engine share: a desired state read from a
//! real (throw-away) git repository, as `apply` reads one.

use crate::config::DesiredState;

/// `n` hosts `h01`.. on 127.0.0.1, all assigned the built-in `simple`.
pub fn desired(n: usize) -> DesiredState {
    desired_with_fleet(n, "assignments:\n  - { hosts: all, scheduler: simple }\n")
}

/// [`desired`] with `simple`'s `slice_ns` set to `slice_ns` (a template).
pub fn desired_with_params(n: usize, slice_ns: &str) -> DesiredState {
    desired_with_fleet(
        n,
        &format!("assignments:\n  - {{ hosts: all, scheduler: simple, params: {{ slice_ns: '{slice_ns}' }} }}\n"),
    )
}

/// [`desired`] with `fleet.yaml` holding `fleet`.
pub fn desired_with_fleet(n: usize, fleet: &str) -> DesiredState {
    desired_with(n, fleet, SIMPLE_YAML)
}

/// [`desired`], with `schedulers/simple.yaml` holding `scheduler_yaml`.
pub fn desired_with_scheduler(n: usize, scheduler_yaml: &str) -> DesiredState {
    desired_with(n, "assignments:\n  - { hosts: all, scheduler: simple }\n", scheduler_yaml)
}

const SIMPLE_YAML: &str =
    "source: builtin:simple\nparams:\n  slice_ns: { type: u64, default: 5000000, min: 100000, max: 100000000 }\n";

fn desired_with(n: usize, fleet: &str, scheduler_yaml: &str) -> DesiredState {
    try_desired_with(n, fleet, scheduler_yaml, &[]).unwrap()
}

/// A repository with `n` hosts, `fleet.yaml`, `schedulers/simple.yaml` and
/// `files` (path, bytes) committed, loaded; the error as `validate` gets it.
pub fn try_desired_with(
    n: usize,
    fleet: &str,
    scheduler_yaml: &str,
    files: &[(&str, &[u8])],
) -> anyhow::Result<DesiredState> {
    let repo = tempfile::tempdir().unwrap();
    let root = repo.path();
    std::fs::create_dir_all(root.join("schedulers")).unwrap();
    let hosts: String = (1..=n).map(|i| format!("  h{i:02}: {{ address: 127.0.0.1 }}\n")).collect();
    std::fs::write(root.join("inventory.yaml"), format!("hosts:\n{hosts}")).unwrap();
    std::fs::write(root.join("fleet.yaml"), fleet).unwrap();
    std::fs::write(root.join("schedulers/simple.yaml"), scheduler_yaml).unwrap();
    for (path, bytes) in files {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
    for args in [
        &["init", "-q"][..],
        &["add", "."],
        &["-c", "user.name=t", "-c", "user.email=t@t.invalid", "commit", "-qm", "x"],
    ] {
        assert!(std::process::Command::new("git").args(args).current_dir(root).status().unwrap().success());
    }
    let repo = crate::repo::ConfigRepo::open(root, "HEAD").unwrap();
    crate::config::load(&repo, &Default::default())
}
