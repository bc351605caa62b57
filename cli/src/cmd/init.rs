//! `schedfleet init [DIR] [--from-ansible FILE]`: a new config repository
//! that `validate` accepts as it is: `git init`, a `fleet.yaml` with one
//! assignment and a conservative rollout, an inventory (one lab VM, or the
//! given Ansible inventory copied in with its `group_vars/` and
//! `host_vars/`), `schedulers/simple.yaml`, a short README, all committed.
//! A DIR that exists and is not empty is refused (exit 2): init never
//! mixes its files with someone else's.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use schedfleet_fleet::config::{self, InventoryFormat, LoadOptions};
use schedfleet_fleet::BadInput;

use crate::args::InitArgs;
use crate::exit;

/// Where `--from-ansible` copies the inventory, inside the new repository.
const ANSIBLE_DIR: &str = "ansible";

const FLEET_HEAD: &str = "\
# Which scheduler each host runs, and how a change rolls out.
# Every field: docs/config.md in the schedfleet sources.
";

const FLEET_BODY: &str = "\
assignments:
  - hosts: all
    scheduler: simple
    params:
      slice_ns: 5000000
# Conservative: one canary host, then 10%, half, the rest; each wave is
# watched for 5 minutes; the first failed host halts the rollout and the
# earlier waves go back to what they ran.
rollout:
  waves: [1, \"10%\", \"50%\", \"100%\"]
  bake: 5m
  failure_budget: { per_wave: 0, total: 0 }
  on_failure: rollback
  confirm_timeout: 10m
";

const INVENTORY: &str = "\
# The hosts. `lab-1` is a VM of `schedfleet lab up --hosts 1`, to try the
# config on a real sched_ext kernel; replace it with your hosts, such as
#   gpu-01: { address: 10.0.0.11, user: root, identity_file: ~/.ssh/fleet_ed25519,
#             known_hosts_file: ~/.ssh/known_hosts, labels: { rack: r01 } }
# or use an Ansible inventory (`inventory:` in fleet.yaml, docs/ansible.md).
hosts:
  lab-1: { connection: lab }
";

const SCHEDULER: &str = "\
# A weighted-vtime global queue, built into schedfleet (bpf/schedulers/simple/).
source: builtin:simple
params:
  slice_ns:
    type: u64
    default: 5000000
    min: 100000
    max: 100000000
    description: Time slice of a task, in nanoseconds.
";

pub fn run(args: InitArgs) -> Result<u8> {
    let dir = &args.dir;
    refuse_non_empty(dir)?;
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let inventory_line = match &args.from_ansible {
        None => {
            files.push(("inventory.yaml".into(), INVENTORY.into()));
            "`inventory.yaml` lists the hosts"
        }
        Some(source) => {
            let rel = ansible_files(source, &mut files)?;
            files.push(("fleet.yaml".into(), format!("{FLEET_HEAD}inventory:\n  file: {rel}\n{FLEET_BODY}").into()));
            "`ansible/` holds the Ansible inventory `fleet.yaml` names"
        }
    };
    if args.from_ansible.is_none() {
        files.push(("fleet.yaml".into(), format!("{FLEET_HEAD}{FLEET_BODY}").into()));
    }
    files.push(("schedulers/simple.yaml".into(), SCHEDULER.into()));
    files.push((
        "README.md".into(),
        format!(
            "# schedfleet config repository\n\
             `fleet.yaml` assigns schedulers to hosts and sets the rollout; {inventory_line}; `schedulers/` declares the schedulers.\n\
             Check a change with `schedfleet validate --repo .` (contacts no host), see what it would do with `schedfleet plan --repo .`.\n\
             Only committed content is deployed: commit, then `schedfleet apply --repo .` rolls it out in waves.\n\
             Every field is described in docs/config.md of the schedfleet sources.\n"
        )
        .into(),
    ));
    std::fs::create_dir_all(dir).map_err(|e| BadInput::new(format!("cannot create `{}`: {e}", dir.display())))?;
    let commit = schedfleet_fleet::repo::create(dir, &files, "New schedfleet config repository")?;
    // The promise is that `validate` accepts the result: hold init to it.
    let opened = schedfleet_fleet::repo::ConfigRepo::open(dir, "HEAD")?;
    let desired = config::load(&opened, &LoadOptions::default())
        .context("the new repository does not validate; this is a bug in `schedfleet init`")?;
    eprintln!(
        "created config repository `{}` (commit {}, {} host(s)); next: `schedfleet validate --repo {}`",
        dir.display(),
        &commit[..12],
        desired.inventory.len(),
        dir.display()
    );
    Ok(exit::OK)
}

fn refuse_non_empty(dir: &Path) -> Result<()> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(BadInput::new(format!(
                    "`{}` is not empty; `schedfleet init` creates a repository only in a new or empty directory",
                    dir.display()
                ))
                .into());
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => {
            Err(BadInput::new(format!("`{}` is a file, not a directory", dir.display())).into())
        }
        Err(e) => Err(BadInput::new(format!("cannot read `{}`: {e}", dir.display())).into()),
    }
}

/// Checks the Ansible inventory `source` (refusing what schedfleet cannot
/// read before anything is written), then queues it and the `group_vars/`
/// and `host_vars/` beside it for the new repository. Returns its path there.
fn ansible_files(source: &Path, files: &mut Vec<(String, Vec<u8>)>) -> Result<String> {
    let loaded = config::load_inventory(None, None, Some(source), InventoryFormat::Auto)?;
    loaded.resolve()?;
    let name = source
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| BadInput::new(format!("`{}` has no usable file name", source.display())))?;
    let rel = format!("{ANSIBLE_DIR}/{name}");
    files.push((rel.clone(), std::fs::read(source)?));
    let beside =
        source.parent().filter(|p| !p.as_os_str().is_empty()).map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    for sub in ["group_vars", "host_vars"] {
        copy_tree(&beside.join(sub), &format!("{ANSIBLE_DIR}/{sub}"), files)?;
    }
    Ok(rel)
}

fn copy_tree(from: &Path, to: &str, files: &mut Vec<(String, Vec<u8>)>) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(from) else { return Ok(()) };
    for entry in entries {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else { continue };
        let kind = entry.file_type()?;
        if kind.is_dir() {
            copy_tree(&entry.path(), &format!("{to}/{name}"), files)?;
        } else if kind.is_file() {
            files.push((format!("{to}/{name}"), std::fs::read(entry.path())?));
        }
    }
    Ok(())
}
