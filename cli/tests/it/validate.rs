//! `schedfleet validate` against what the project ships: every example, every
//! sample inventory, the JSON Schemas and the config reference in `docs/`,
//! so that none of them rots. Also how `--repo` and `--rev` choose what is
//! read: a subdirectory of a repository, an older commit, never the working
//! tree.
//!
//! Every run gets an empty `SCHEDFLEET_STATE_DIR`, so facts cached by other
//! runs on this machine never leak into the rendering.

use std::path::Path;
use std::process::{Command, Output};

use crate::support::repo::ConfigRepo;
use crate::support::{property_names, run, schedfleet, stderr, stdout, workspace_root};

/// The hosts each example config repository assigns. Every directory under
/// `examples/` with a `fleet.yaml` must be listed here; directories without
/// one hold other material (such as `drift-check/`'s cron and systemd files).
const EXAMPLES: &[(&str, usize)] =
    &[("inference-fleet", 40), ("inference-serving", 8), ("quickstart", 2), ("two-schedulers", 3), ("upstream-scx", 2)];

const SCHEMAS: [&str; 4] = ["fleet", "inventory", "scheduler", "override"];

const REGENERATE_SCHEMAS: &str =
    "for f in fleet inventory scheduler override; do schedfleet schema $f > docs/schema/$f.schema.json; done";

/// `schedfleet validate --repo REPO ARGS...` with a fresh, empty state directory.
fn validate(repo: &Path, args: &[&str]) -> Output {
    let state = tempfile::tempdir().unwrap();
    validate_with_state(repo, args, state.path())
}

fn validate_with_state(repo: &Path, args: &[&str], state: &Path) -> Output {
    run(schedfleet().arg("validate").arg("--repo").arg(repo).args(args).env("SCHEDFLEET_STATE_DIR", state))
}

/// `(assigned, total)` from `commit …: valid; N of M host(s) assigned; …`.
fn host_counts(out: &Output) -> (usize, usize) {
    let text = stdout(out);
    let counts = text
        .split_once("valid; ")
        .and_then(|(_, rest)| rest.split_once(" host(s) assigned"))
        .and_then(|(counts, _)| counts.split_once(" of "))
        .and_then(|(a, t)| Some((a.parse().ok()?, t.parse().ok()?)));
    counts.unwrap_or_else(|| panic!("stdout lacks `valid; N of M host(s) assigned`:\n{text}\n{}", stderr(out)))
}

fn assert_valid(out: &Output, hosts: usize) {
    assert_eq!(out.status.code(), Some(0), "validate failed:\n{}", stderr(out));
    assert_eq!(host_counts(out), (hosts, hosts), "{}", stdout(out));
}

fn git(dir: &Path, args: &[&str]) {
    let ok = Command::new("git").args(args).current_dir(dir).status().unwrap().success();
    assert!(ok, "git {args:?} failed");
}

/// The directories under `examples/` that are config repositories.
fn example_repos() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(workspace_root().join("examples"))
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_dir() && e.path().join("fleet.yaml").is_file())
        .map(|e| e.file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[test]
fn every_example_validates_with_its_host_count() {
    let listed: Vec<&str> = EXAMPLES.iter().map(|(name, _)| *name).collect();
    assert_eq!(example_repos(), listed, "every example with a fleet.yaml needs its host count in `EXAMPLES`");
    for (name, hosts) in EXAMPLES {
        let repo = ConfigRepo::from_example(name);
        let out = validate(repo.path(), &[]);
        assert_valid(&out, *hosts);
        assert!(!stderr(&out).contains("uncommitted"), "{name}: {}", stderr(&out));
    }
}

#[test]
fn inference_fleet_templates_fit_small_and_large_hosts() {
    let repo = ConfigRepo::from_example("inference-fleet");
    // Both sides of `facts.cpus >= 96` must stay within the schedulers' bounds.
    for cpus in [8, 96, 256] {
        let state = tempfile::tempdir().unwrap();
        let facts_dir = state.path().join("facts");
        std::fs::create_dir_all(&facts_dir).unwrap();
        let facts = serde_json::json!({
            "agent_version": "0.1.0", "kernel_release": "7.3.4+deb13-cloud-amd64", "arch": "x86_64",
            "sched_ext": true, "btf": true, "cpus": cpus, "numa_nodes": 2, "cgroup_version": 2, "is_root": true,
        });
        for rack in 1..=5 {
            for slot in 1..=8 {
                std::fs::write(facts_dir.join(format!("gpu-r{rack:02}-{slot:02}.json")), facts.to_string()).unwrap();
            }
        }
        let out = validate_with_state(repo.path(), &[], state.path());
        assert_valid(&out, 40);
        assert!(stderr(&out).contains("cached facts for 40 host(s)"), "cpus {cpus}: {}", stderr(&out));
    }
}

#[test]
fn every_sample_inventory_works_with_an_assign_all_config() {
    let repo = ConfigRepo::from_example("quickstart");
    repo.write("fleet.yaml", "assignments:\n  - hosts: all\n    scheduler: simple\n");
    repo.commit("assign every host");
    let mut inventories: Vec<_> = std::fs::read_dir(workspace_root().join("inventories"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    inventories.sort();
    assert!(inventories.len() >= 3, "{inventories:?}");
    for inventory in inventories {
        let out = validate(repo.path(), &["--inventory", inventory.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(0), "{}: {}", inventory.display(), stderr(&out));
        let (assigned, total) = host_counts(&out);
        assert!(assigned > 0 && assigned == total, "{}: {}", inventory.display(), stdout(&out));
    }
}

#[test]
fn repo_may_be_a_subdirectory_of_a_git_repository() {
    // The quickstart at the root, the two-schedulers example under `cfg/`.
    let repo = ConfigRepo::from_example("quickstart");
    let ok = Command::new("cp")
        .arg("-R")
        .arg(workspace_root().join("examples/two-schedulers"))
        .arg(repo.path().join("cfg"))
        .status()
        .unwrap()
        .success();
    assert!(ok, "cp failed");
    repo.commit("add cfg/");

    let out = validate(&repo.path().join("cfg"), &[]);
    assert_valid(&out, 3);
    // `object:objects/simple-copy.bpf.o` resolves inside `cfg/`.
    assert!(stdout(&out).contains("simple-copy ("), "{}", stdout(&out));
    assert_valid(&validate(repo.path(), &[]), 2);

    // Uncommitted changes under `cfg/` are named relative to it; those
    // elsewhere in the repository are not its business.
    repo.write("cfg/fleet.yaml", "assignments: [");
    repo.write("notes.txt", "scratch\n");
    let out = validate(&repo.path().join("cfg"), &[]);
    assert_valid(&out, 3);
    let err = stderr(&out);
    assert!(err.contains("not deployed: uncommitted changes in fleet.yaml"), "{err}");
    assert!(!err.contains("notes.txt"), "{err}");
}

#[test]
fn rev_reads_that_commit_whatever_the_worktree_and_later_commits_hold() {
    let repo = ConfigRepo::from_example("quickstart");
    let fleet = |scheduler: &str, slice: u64| {
        format!("assignments:\n  - hosts: all\n    scheduler: {scheduler}\n    params: {{ slice_ns: {slice} }}\n")
    };
    repo.write("fleet.yaml", fleet("simple", 3_000_000));
    let a = repo.commit("A: simple, 3 ms, two hosts");

    // B renames the scheduler and adds a host.
    let declaration = std::fs::read(repo.path().join("schedulers/simple.yaml")).unwrap();
    std::fs::remove_file(repo.path().join("schedulers/simple.yaml")).unwrap();
    repo.write("schedulers/fast.yaml", declaration);
    repo.write("fleet.yaml", fleet("fast", 3_000_000));
    let inventory = std::fs::read_to_string(repo.path().join("inventory.yaml")).unwrap();
    repo.write("inventory.yaml", format!("{inventory}  lab-3: {{ connection: lab }}\n"));
    let b = repo.commit("B: fast, three hosts");
    git(repo.path(), &["tag", "known-good", &a]);

    // An uncommitted slice of 1 ns would be refused; it is reported, not used.
    repo.write("fleet.yaml", fleet("fast", 1));
    let out = validate(repo.path(), &[]);
    assert_valid(&out, 3);
    assert!(stdout(&out).contains(&format!("commit {}:", &b[..12])), "{}", stdout(&out));
    assert!(stdout(&out).contains("schedulers: fast ("), "{}", stdout(&out));
    assert!(stderr(&out).contains("not deployed: uncommitted changes in fleet.yaml"), "{}", stderr(&out));

    for rev in [a.as_str(), "known-good", "HEAD~1"] {
        let out = validate(repo.path(), &["--rev", rev]);
        assert_valid(&out, 2);
        let text = stdout(&out);
        assert!(text.contains(&format!("commit {}:", &a[..12])), "--rev {rev}: {text}");
        assert!(text.contains("schedulers: simple (") && !text.contains("fast"), "--rev {rev}: {text}");
    }

    // Once committed, the bad slice fails HEAD, and A and B still validate.
    let c = repo.commit("C: 1 ns");
    let out = validate(repo.path(), &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(stderr(&out).contains("`slice_ns` = 1 is outside"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("uncommitted"), "{}", stderr(&out));
    assert_valid(&validate(repo.path(), &["--rev", &b]), 3);
    assert_valid(&validate(repo.path(), &["--rev", &a]), 2);
    assert_ne!(c, b);
}

#[test]
fn committed_schemas_match_the_binary() {
    for file in SCHEMAS {
        let path = workspace_root().join(format!("docs/schema/{file}.schema.json"));
        let committed = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!("cannot read {}: {e}; regenerate the schemas:\n  {REGENERATE_SCHEMAS}", path.display())
        });
        let out = run(schedfleet().args(["schema", file]));
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert!(
            committed == stdout(&out),
            "docs/schema/{file}.schema.json differs from `schedfleet schema {file}`; regenerate the schemas \
             from the workspace root:\n  {REGENERATE_SCHEMAS}"
        );
    }
}

#[test]
fn config_reference_names_every_field() {
    let reference = std::fs::read_to_string(workspace_root().join("docs/config.md")).unwrap();
    let mut names = std::collections::BTreeSet::new();
    for file in SCHEMAS {
        let out = run(schedfleet().args(["schema", file]));
        property_names(&serde_json::from_slice(&out.stdout).unwrap(), &mut names);
    }
    assert!(names.len() > 20, "{names:?}");
    // As `name` itself or as the first or last step of a dotted path (`failure_budget.per_wave`).
    let documented =
        |n: &str| [format!("`{n}`"), format!(".{n}`"), format!("`{n}.")].iter().any(|f| reference.contains(f));
    let missing: Vec<_> = names.iter().filter(|n| !documented(n)).collect();
    assert!(missing.is_empty(), "docs/config.md does not document these fields: {missing:?}");
}

/// The rows of the pattern table in `docs/config.md`: `(pattern, Some(hosts) or None for an error)`.
fn pattern_examples(reference: &str) -> Vec<(String, Option<usize>)> {
    let table = reference.split_once("<!-- pattern-examples").expect("docs/config.md lacks the pattern table").1;
    table
        .lines()
        .skip(1)
        .skip_while(|l| l.trim().is_empty())
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .map(|row| {
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            let pattern = cells[1].strip_prefix('`').and_then(|c| c.strip_suffix('`')).expect(row).to_owned();
            let hosts = (cells[2] != "error").then(|| cells[2].parse().expect(row));
            (pattern, hosts)
        })
        .collect()
}

#[test]
fn pattern_examples_in_the_reference_hold() {
    let reference = std::fs::read_to_string(workspace_root().join("docs/config.md")).unwrap();
    let examples = pattern_examples(&reference);
    assert!(examples.len() >= 20, "{examples:?}");
    let repo = ConfigRepo::from_example("inference-fleet");
    for (pattern, hosts) in examples {
        // simple-latency's bounds fit every host's overrides.
        repo.write("fleet.yaml", format!("assignments:\n  - hosts: '{pattern}'\n    scheduler: simple-latency\n"));
        repo.commit(&pattern);
        let out = validate(repo.path(), &[]);
        match hosts {
            Some(n) => {
                assert_eq!(out.status.code(), Some(0), "`{pattern}`: {}", stderr(&out));
                assert_eq!(host_counts(&out), (n, 40), "`{pattern}`");
            }
            None => {
                assert_eq!(out.status.code(), Some(2), "`{pattern}` should be refused: {}", stdout(&out));
                assert!(stderr(&out).contains("host pattern"), "`{pattern}`: {}", stderr(&out));
            }
        }
    }
}

/// Variable precedence: inventory `defaults.vars` rank below group
/// variables, which rank below the host's own. Each layer's value is only
/// within the declared bounds when the layer above it is ignored, so a
/// wrong order fails validation.
#[test]
fn variables_override_in_documented_order() {
    let repo = ConfigRepo::from_example("quickstart");
    repo.write(
        "schedulers/simple.yaml",
        "source: builtin:simple\nparams:\n  slice_ns: { type: u64, min: 1000000, max: 2000000 }\n",
    );
    repo.write(
        "fleet.yaml",
        "public: [slice_ns]\nvars: { x: 9000000 }\nassignments:\n  - hosts: all\n    scheduler: simple\n    params: { slice_ns: '{{ x }}' }\n",
    );
    repo.write(
        "inventory.yaml",
        "defaults: { vars: { x: 8000000 } }\nhosts:\n  a: { address: 127.0.0.1 }\n  b: { address: 127.0.0.1, vars: { x: 1000000 } }\ngroups:\n  g: { hosts: [a, b], vars: { x: 2000000 } }\n",
    );
    repo.commit("layers");
    let out = validate(repo.path(), &[]);
    assert_valid(&out, 2);
    // Without the group layer, `defaults.vars` (out of bounds) must win over fleet.yaml for `a`.
    repo.write("inventory.yaml", "defaults: { vars: { x: 8000000 } }\nhosts:\n  a: { address: 127.0.0.1 }\n");
    repo.commit("no group");
    let out = validate(repo.path(), &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("8000000"), "{}", stderr(&out));
}
