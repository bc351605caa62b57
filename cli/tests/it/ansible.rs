//! Ansible inventories, with Ansible itself as the oracle: for every
//! inventory under `inventories/ansible/`, the hosts, the groups (their
//! direct hosts and children) and every host's variables that `schedfleet
//! inventory --list` prints must equal what `ansible-inventory -i FILE
//! --list` prints. ansible-core comes from the virtualenv `lab/setup.sh
//! tools` makes; without it this test fails, it never skips.
//!
//! Also: what schedfleet refuses by name (scripts, plugins, vaults), an
//! Ansible inventory named by `fleet.yaml` and read at the commit, and a
//! `validate` of a repository with `--inventory` pointing at an Ansible file.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support::repo::ConfigRepo;
use crate::support::{run, schedfleet, stderr, stdout, workspace_root};

/// The `ansible-inventory` of `lab/setup.sh tools`.
pub fn ansible_inventory() -> PathBuf {
    let home = std::env::var_os("HOME").expect("HOME is set");
    let bin = Path::new(&home).join(".cache/schedfleet/tools/ansible/bin/ansible-inventory");
    assert!(
        bin.is_file(),
        "{} is missing: the Ansible oracle is required for this test; run `bash lab/setup.sh tools`",
        bin.display()
    );
    bin
}

/// The inventories under `inventories/ansible/`: its files, and the
/// `hosts.*` file of each directory there (which comes with `group_vars/`).
fn fixtures() -> Vec<PathBuf> {
    let dir = workspace_root().join("inventories/ansible");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            out.push(path);
        } else {
            for inner in std::fs::read_dir(&path).unwrap() {
                let inner = inner.unwrap().path();
                if inner.is_file() && inner.file_stem().is_some_and(|s| s == "hosts") {
                    out.push(inner);
                }
            }
        }
    }
    out.sort();
    out
}

/// Both `--list` outputs in one comparable form: `_meta.profile` dropped,
/// host and child lists sorted, hosts without variables left out, and
/// `all.children` reduced to the groups no other group holds. (Ansible also
/// lists there a group written under `all:` that has another parent too;
/// schedfleet has no `all` to write under, and membership is the same: every
/// host is in `all`.)
fn normalized(mut list: Value) -> Value {
    let map = list.as_object_mut().expect("--list prints an object");
    let held: std::collections::BTreeSet<String> = map
        .iter()
        .filter(|(name, _)| *name != "all" && *name != "_meta")
        .flat_map(|(_, g)| g["children"].as_array().cloned().unwrap_or_default())
        .filter_map(|c| c.as_str().map(str::to_owned))
        .collect();
    if let Some(Value::Array(top)) = map.get_mut("all").and_then(|a| a.get_mut("children")) {
        top.retain(|g| g.as_str().is_some_and(|g| !held.contains(g)));
    }
    if let Some(meta) = map.get_mut("_meta").and_then(Value::as_object_mut) {
        meta.remove("profile");
        if let Some(hv) = meta.get_mut("hostvars").and_then(Value::as_object_mut) {
            hv.retain(|_, v| v.as_object().is_some_and(|o| !o.is_empty()));
        }
    }
    for (name, group) in map.iter_mut() {
        if name == "_meta" {
            continue;
        }
        for key in ["hosts", "children"] {
            if let Some(Value::Array(items)) = group.get_mut(key) {
                items.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
            }
        }
    }
    list
}

fn oracle(inventory: &Path) -> Value {
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join("ansible.cfg");
    std::fs::write(&config, "").unwrap();
    let out = Command::new(ansible_inventory())
        .arg("-i")
        .arg(inventory)
        .arg("--list")
        // No user or machine configuration, and nothing written outside a temp dir.
        .env("ANSIBLE_CONFIG", &config)
        .env("ANSIBLE_HOME", home.path())
        .env("ANSIBLE_LOCAL_TEMP", home.path())
        .env("ANSIBLE_INVENTORY_UNPARSED_FAILED", "true")
        .output()
        .expect("run ansible-inventory");
    assert!(
        out.status.success(),
        "ansible-inventory failed on {}: {}",
        inventory.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("ansible-inventory --list prints JSON")
}

fn schedfleet_list(inventory: &Path) -> Value {
    let out = run(schedfleet().args(["inventory", "--list", "--inventory"]).arg(inventory));
    assert_eq!(out.status.code(), Some(0), "{}: {}", inventory.display(), stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(&out)))
}

#[test]
fn schedfleet_reads_every_inventory_as_ansible_does() {
    let files = fixtures();
    assert!(files.len() >= 6, "at least 6 Ansible inventories in inventories/ansible/: {files:?}");
    let mut hosts = 0;
    for f in &files {
        let want = normalized(oracle(f));
        let got = normalized(schedfleet_list(f));
        assert!(
            want == got,
            "{}: schedfleet and Ansible disagree\nansible-inventory --list:\n{}\nschedfleet inventory --list:\n{}",
            f.display(),
            serde_json::to_string_pretty(&want).unwrap(),
            serde_json::to_string_pretty(&got).unwrap()
        );
        hosts += want["_meta"]["hostvars"].as_object().map_or(0, |m| m.len());
    }
    assert!(hosts > 30, "the fixtures exercise variables on many hosts ({hosts})");
}

/// The oracle notices a difference: a change to one variable in one file
/// makes the two outputs differ, so the comparison above cannot pass by
/// comparing nothing.
#[test]
fn the_comparison_sees_a_changed_variable() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hosts.ini");
    std::fs::write(&file, "[g]\na x=1\n").unwrap();
    let want = normalized(oracle(&file));
    std::fs::write(&file, "[g]\na x=2\n").unwrap();
    assert_ne!(want, normalized(schedfleet_list(&file)));
    assert_eq!(normalized(oracle(&file)), normalized(schedfleet_list(&file)));
}

#[test]
fn unsupported_ansible_inventories_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &str, bool, &str); 5] = [
        ("script.py", "#!/usr/bin/env python3\nprint('{}')\n", false, "dynamic inventory script"),
        ("exec.ini", "[g]\na\n", true, "dynamic inventory script"),
        ("aws.yml", "plugin: amazon.aws.aws_ec2\nregions: [eu-west-1]\n", false, "plugin"),
        (
            "vaulted.yml",
            "all:\n  hosts:\n    a:\n      secret: !vault |\n        $ANSIBLE_VAULT;1.1;AES256\n        6162\n",
            false,
            "!vault",
        ),
        ("whole.yml", "$ANSIBLE_VAULT;1.1;AES256\n61626364\n", false, "Ansible Vault"),
    ];
    for (name, text, executable, says) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        if executable {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let out = run(schedfleet().args(["inventory", "--list", "--inventory"]).arg(&path));
        assert_eq!(out.status.code(), Some(2), "{name}");
        let err = stderr(&out);
        assert!(err.contains(says) && err.contains(name), "{name}: {err}");
        assert!(stdout(&out).is_empty(), "{name}");
    }
}

#[test]
fn fleet_yaml_names_an_ansible_inventory_read_at_the_commit() {
    let repo = ConfigRepo::from_example("quickstart");
    std::fs::remove_file(repo.path().join("inventory.yaml")).unwrap();
    let src = workspace_root().join("inventories/ansible/group-vars-dirs");
    for rel in [
        "hosts.ini",
        "group_vars/all.yml",
        "group_vars/gpu.yaml",
        "group_vars/prod/10-base.yml",
        "group_vars/prod/20-override.yaml",
        "host_vars/gpu-02.yml",
    ] {
        repo.write(&format!("ansible/{rel}"), std::fs::read(src.join(rel)).unwrap());
    }
    repo.write(
        "fleet.yaml",
        "inventory: { file: ansible/hosts.ini }\npublic: [slice_ns]\nassignments:\n  - hosts: gpu\n    scheduler: simple\n    params: { slice_ns: '{{ slice_ns }}' }\n",
    );
    repo.commit("Ansible inventory");
    let out = run(schedfleet().args(["validate", "--repo"]).arg(repo.path()));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("2 of 3 host(s) assigned"), "{}", stdout(&out));
    // group_vars/gpu.yaml's 3000000 and host_vars/gpu-02.yml's 5000000 reach the hosts' templates:
    // out of bounds, each is named.
    repo.write("schedulers/simple.yaml", "source: builtin:simple\nparams:\n  slice_ns: { type: u64, max: 4000000 }\n");
    repo.commit("bounds");
    let out = run(schedfleet().args(["validate", "--repo"]).arg(repo.path()));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("gpu-02") && stderr(&out).contains("5000000"), "{}", stderr(&out));
    // The working tree does not count: an uncommitted change to the inventory is not read.
    repo.write("ansible/hosts.ini", "[gpu]\n");
    let out = run(schedfleet().args(["inventory", "--list", "--repo"]).arg(repo.path()));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("gpu-01"), "{}", stdout(&out));
    // A path that is not in the commit is named with its line in fleet.yaml.
    repo.write(
        "fleet.yaml",
        "inventory: { file: ansible/nope.ini }\nassignments:\n  - hosts: all\n    scheduler: simple\n",
    );
    repo.commit("wrong path");
    let out = run(schedfleet().args(["validate", "--repo"]).arg(repo.path()));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("`fleet.yaml` line 1") && stderr(&out).contains("ansible/nope.ini"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn inventory_format_can_be_given_and_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hosts");
    std::fs::write(&file, "web-01\n[db]\ndb-01\n").unwrap();
    let out =
        run(schedfleet().args(["inventory", "--list", "--inventory-format", "ansible-ini", "--inventory"]).arg(&file));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("db-01"));
    let out =
        run(schedfleet().args(["inventory", "--list", "--inventory-format", "ansible-yaml", "--inventory"]).arg(&file));
    assert_eq!(out.status.code(), Some(2), "an INI file read as YAML is refused: {}", stdout(&out));
    assert!(stderr(&out).contains("hosts"), "{}", stderr(&out));
}
