//! How a bad-input case is written down and run: the `Case` the tables under
//! `cases/` are made of, the base repository every case changes, and the
//! tests that run every table through `validate`, `plan` and `apply`. The
//! cases themselves live in `cases/`, one file per kind of config file.

use std::path::Path;

use crate::bad_input::cases;
use crate::support::repo::ConfigRepo;
use crate::support::{run, schedfleet, stderr};

pub(super) const INVENTORY: &str =
    "hosts:\n  h1: { address: 127.0.0.1, port: 1, labels: { rack: r1 } }\ngroups:\n  gpu: { hosts: [h1] }\n";
pub(super) const FLEET: &str =
    "assignments:\n  - hosts: all\n    scheduler: simple\n    params: { slice_ns: 3000000 }\n";

/// What a case puts at a path of the repository.
#[derive(Clone, Copy)]
pub(super) enum Content {
    Text(&'static str),
    Bytes(&'static [u8]),
    /// A YAML file just over the size limit, valid apart from its size.
    Huge,
    /// A symbolic link to this target, committed as a link.
    Symlink(&'static str),
    /// The path removed.
    Absent,
}

use Content::{Absent, Bytes, Huge, Symlink, Text};

#[derive(Clone, Copy, Debug)]
pub(super) enum Cmd {
    Validate,
    Plan,
    Apply,
}

/// Where `--repo` points.
#[derive(Clone, Copy)]
pub(super) enum Dir {
    /// The case's git repository.
    Repo,
    /// A copy of the case's files in a directory that no git repository holds.
    NotGit,
}

pub(super) struct Case {
    pub(super) name: &'static str,
    /// Written over the base repository, then committed.
    pub(super) files: &'static [(&'static str, Content)],
    /// Written after the commit: in the working tree only, never to be read.
    pub(super) uncommitted: &'static [(&'static str, Content)],
    pub(super) args: &'static [&'static str],
    pub(super) cmds: &'static [Cmd],
    pub(super) dir: Dir,
    /// Substrings stderr must hold: the file, the line, what is wrong.
    pub(super) expect: &'static [&'static str],
}

const VALIDATE: &[Cmd] = &[Cmd::Validate];
pub(super) const EVERY: &[Cmd] = &[Cmd::Validate, Cmd::Plan, Cmd::Apply];
pub(super) const REMOTE: &[Cmd] = &[Cmd::Plan, Cmd::Apply];

pub(super) const CASE: Case =
    Case { name: "", files: &[], uncommitted: &[], args: &[], cmds: VALIDATE, dir: Dir::Repo, expect: &[] };

fn fleet_with(extra: &str) -> String {
    format!("{FLEET}{extra}")
}

/// Every table under `cases/`; a table left out here would never run, and
/// its `CASES` would be reported as dead code.
const TABLES: &[&[Case]] = &[
    cases::fleet::CASES,
    cases::rollout::CASES,
    cases::patterns::CASES,
    cases::inventory::CASES,
    cases::schedulers::CASES,
    cases::overrides::CASES,
    cases::repo::CASES,
];

fn put(repo: &ConfigRepo, path: &str, content: Content) {
    let full = repo.path().join(path);
    match content {
        Text(text) => repo.write(path, text),
        Bytes(bytes) => repo.write(path, bytes),
        Huge => {
            let mut text = fleet_with("# padding\n").into_bytes();
            let line = format!("# {}\n", "x".repeat(1021));
            while text.len() <= 4 << 20 {
                text.extend_from_slice(line.as_bytes());
            }
            repo.write(path, text);
        }
        Symlink(target) => {
            remove(&full);
            std::fs::create_dir_all(full.parent().unwrap()).unwrap();
            std::os::unix::fs::symlink(target, &full).unwrap();
        }
        Absent => remove(&full),
    }
}

fn remove(path: &Path) {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(path).unwrap(),
        Ok(_) => std::fs::remove_file(path).unwrap(),
        Err(_) => {}
    }
}

/// Runs one case; the problems found, empty when it passed.
fn check(case: &Case) -> Vec<String> {
    let repo = ConfigRepo::from_example("quickstart");
    repo.write("inventory.yaml", INVENTORY);
    repo.write("fleet.yaml", FLEET);
    for (path, content) in case.files {
        put(&repo, path, *content);
    }
    repo.commit(case.name);
    for (path, content) in case.uncommitted {
        put(&repo, path, *content);
    }
    let not_git = tempfile::tempdir().unwrap();
    let dir = match case.dir {
        Dir::Repo => repo.path().to_path_buf(),
        Dir::NotGit => {
            for f in ["fleet.yaml", "inventory.yaml", "schedulers/simple.yaml"] {
                let to = not_git.path().join(f);
                std::fs::create_dir_all(to.parent().unwrap()).unwrap();
                std::fs::copy(repo.path().join(f), to).unwrap();
            }
            not_git.path().to_path_buf()
        }
    };
    let state = tempfile::tempdir().unwrap();
    let mut problems = Vec::new();
    for cmd in case.cmds {
        let mut command = schedfleet();
        command.env("SCHEDFLEET_STATE_DIR", state.path());
        match cmd {
            Cmd::Validate => command.arg("validate"),
            Cmd::Plan => command.arg("plan"),
            Cmd::Apply => command.args(["apply", "--yes"]),
        };
        let out = run(command.arg("--repo").arg(&dir).args(case.args));
        let err = stderr(&out);
        let mut wrong = Vec::new();
        if out.status.code() != Some(2) {
            wrong.push(format!("exit {:?}, not 2", out.status.code()));
        }
        if err.contains("panicked") {
            wrong.push("panicked".to_owned());
        }
        for e in case.expect {
            if !err.contains(e) {
                wrong.push(format!("stderr lacks `{e}`"));
            }
        }
        if !wrong.is_empty() {
            problems.push(format!("{cmd:?}: {}\n--- stderr:\n{err}---", wrong.join("; ")));
        }
    }
    problems
}

#[test]
fn every_bad_input_exits_2_naming_file_line_and_problem() {
    let cases: Vec<&Case> = TABLES.iter().flat_map(|table| table.iter()).collect();
    assert!(cases.len() >= 45, "the corpus shrank to {} cases", cases.len());
    let mut names = std::collections::BTreeSet::new();
    for case in &cases {
        assert!(names.insert(case.name), "two cases are named `{}`", case.name);
        assert!(!case.expect.is_empty() && !case.cmds.is_empty(), "case `{}` checks nothing", case.name);
    }
    let failed: Vec<String> = cases
        .iter()
        .filter_map(|case| {
            let problems = check(case);
            (!problems.is_empty()).then(|| format!("case `{}`:\n{}", case.name, problems.join("\n")))
        })
        .collect();
    assert!(failed.is_empty(), "{} of {} cases failed:\n\n{}", failed.len(), cases.len(), failed.join("\n\n"));
}

/// Only committed content counts: a broken `fleet.yaml` in the working tree
/// is reported as uncommitted and not read.
#[test]
fn an_uncommitted_broken_file_is_not_read() {
    let repo = ConfigRepo::from_example("quickstart");
    repo.write("inventory.yaml", INVENTORY);
    repo.write("fleet.yaml", FLEET);
    repo.commit("good");
    repo.write("fleet.yaml", "assignments: [\n");
    repo.write("hosts/h1.yaml", "params: { slice_ns: 1 }\n");
    let state = tempfile::tempdir().unwrap();
    let out =
        run(schedfleet().env("SCHEDFLEET_STATE_DIR", state.path()).arg("validate").arg("--repo").arg(repo.path()));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("not deployed: uncommitted changes in") && err.contains("fleet.yaml"), "{err}");
}

/// The control: the base every case changes is valid, and `plan` does try
/// its host, so a case's exit 2 comes from the case, not from the base.
#[test]
fn the_base_repository_is_valid_and_reaches_for_its_host() {
    let repo = ConfigRepo::from_example("quickstart");
    repo.write("inventory.yaml", INVENTORY);
    repo.write("fleet.yaml", FLEET);
    repo.commit("base");
    let state = tempfile::tempdir().unwrap();
    for (verb, code) in [("validate", 0), ("plan", 4)] {
        let out = run(schedfleet().env("SCHEDFLEET_STATE_DIR", state.path()).arg(verb).arg("--repo").arg(repo.path()));
        assert_eq!(out.status.code(), Some(code), "{verb}: {}", stderr(&out));
    }
}
