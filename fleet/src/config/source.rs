//! Where the inventory of a run comes from, in this order: `--inventory
//! FILE` on the controller's disk, the file `inventory:` in `fleet.yaml`
//! names in the repository, or the repository's `inventory.yaml`. Any of
//! them may be schedfleet's own format or an Ansible inventory (see
//! [`super::ansible`]); the result is one [`InventoryFile`] either way.
//!
//! Also the inventory as `ansible-inventory --list` would print it, so that
//! what schedfleet read can be compared with Ansible.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Result;
use serde_json::{json, Map, Value};

use super::ansible::{self, InventoryFormat, VarsDirs};
use super::fleet::FleetFile;
use super::inventory::{Host, InventoryFile};
use super::pattern::Universe;
use super::yaml::{self, Positions, Step::Key};
use crate::repo::ConfigRepo;
use crate::BadInput;

/// An inventory file read and mapped, with its name and lines for messages.
pub struct LoadedInventory {
    pub file: InventoryFile,
    /// Lines of a schedfleet-format file; none for an Ansible one, whose
    /// messages name the file and the host instead.
    pub positions: Positions,
    pub name: String,
    /// The inventory's directory on the controller, where relative
    /// `identity_file` and `known_hosts_file` paths resolve.
    pub dir: PathBuf,
}

/// Reads the inventory of a run (see the module's paragraph).
pub fn load_inventory(
    repo: Option<&ConfigRepo>,
    fleet: Option<(&FleetFile, &Positions)>,
    file: Option<&Path>,
    format: InventoryFormat,
) -> Result<LoadedInventory> {
    if let Some(path) = file {
        let shown = path.display().to_string();
        let meta =
            std::fs::metadata(path).map_err(|e| BadInput::new(format!("cannot read inventory `{shown}`: {e}")))?;
        if meta.is_dir() {
            return Err(BadInput::new(format!(
                "inventory `{shown}` is a directory; give one inventory file (schedfleet reads one file, with the \
                 `group_vars/` and `host_vars/` beside it)"
            ))
            .into());
        }
        {
            use std::os::unix::fs::PermissionsExt;
            if meta.permissions().mode() & 0o111 != 0 {
                return Err(BadInput::new(format!(
                    "inventory `{shown}` is executable: a dynamic inventory script, which schedfleet does not run; \
                     {} (or `chmod -x` it if it is a static file)",
                    ansible::EXPORT_HINT
                ))
                .into());
            }
        }
        // A FIFO or a device is refused, not read; one byte past the YAML
        // limit lets the parser say how large the file is.
        let bytes = crate::files::read_bounded(path, yaml::MAX_FILE_BYTES as u64 + 1, "inventory")?;
        let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let mut loaded = from_bytes(&shown, &bytes, format, &ansible::DiskDirs(dir.to_path_buf()))?;
        loaded.dir = dir.to_path_buf();
        return Ok(loaded);
    }
    let repo = repo.expect("without --inventory there is a repository");
    if let Some((r, at)) = fleet.and_then(|(f, at)| f.inventory.as_ref().map(|r| (r, at))) {
        let bytes = repo.read(&r.file)?.ok_or_else(|| {
            BadInput::new(format!(
                "{}: inventory `{}` is not in commit {}; commit it, or fix the path",
                at.origin(&[Key("inventory"), Key("file")]),
                r.file,
                &repo.commit_id()[..12]
            ))
        })?;
        let dir = Path::new(&r.file).parent().map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
        let mut loaded = from_bytes(&r.file, &bytes, r.format, &RepoDirs { repo, base: dir.clone() })?;
        loaded.dir = repo_dir(repo).join(dir);
        return Ok(loaded);
    }
    let rel = "inventory.yaml";
    let bytes = repo.read(rel)?.ok_or_else(|| {
        BadInput::new(format!(
            "`{rel}` is not in commit {}; commit it first, name another file with `inventory:` in `fleet.yaml`, \
             or give --inventory FILE",
            &repo.commit_id()[..12]
        ))
    })?;
    let mut loaded = from_bytes(rel, &bytes, format, &RepoDirs { repo, base: String::new() })?;
    loaded.dir = repo_dir(repo);
    Ok(loaded)
}

/// The config directory on the controller (the working tree's), else the
/// directory schedfleet runs in.
fn repo_dir(repo: &ConfigRepo) -> PathBuf {
    repo.dir_on_disk().unwrap_or_else(|| PathBuf::from("."))
}

/// The inventory a repository names (`inventory:` in its `fleet.yaml`, else
/// `inventory.yaml`), for commands that need no more of the repository.
pub fn load_repo_inventory(repo: &ConfigRepo) -> Result<LoadedInventory> {
    match repo.read("fleet.yaml")? {
        Some(bytes) => {
            let fleet: FleetFile = yaml::parse("fleet.yaml", &bytes)?;
            let at = Positions::new("fleet.yaml", &bytes);
            load_inventory(Some(repo), Some((&fleet, &at)), None, InventoryFormat::Auto)
        }
        None => load_inventory(Some(repo), None, None, InventoryFormat::Auto),
    }
}

impl LoadedInventory {
    /// The hosts, checked, and the groups patterns see.
    pub fn resolve(&self) -> Result<(Vec<Host>, Universe), BadInput> {
        let hosts = super::inventory::resolve(&self.positions, &self.file, &self.dir)?;
        let groups = self
            .file
            .groups
            .iter()
            .map(|(name, g)| {
                (name.clone(), super::pattern::GroupDef { hosts: g.hosts.clone(), children: g.children.clone() })
            })
            .collect();
        let universe = Universe::build(hosts.iter().map(|h| (h.name.clone(), h.labels.clone())).collect(), &groups)
            .map_err(|e| BadInput::new(format!("`{}`: {e}", self.name)))?;
        Ok((hosts, universe))
    }
}

fn from_bytes(shown: &str, bytes: &[u8], format: InventoryFormat, dirs: &dyn VarsDirs) -> Result<LoadedInventory> {
    match ansible::detect(shown, bytes, format)? {
        InventoryFormat::Schedfleet | InventoryFormat::Auto => Ok(LoadedInventory {
            file: yaml::parse(shown, bytes)?,
            positions: Positions::new(shown, bytes),
            name: shown.to_owned(),
            dir: PathBuf::new(),
        }),
        ansible_format => {
            let read = ansible::read(shown, bytes, ansible_format, dirs)?;
            Ok(LoadedInventory {
                file: read.to_inventory_file(shown)?,
                positions: Positions::new(shown, b""),
                name: shown.to_owned(),
                dir: PathBuf::new(),
            })
        }
    }
}

/// `group_vars/` and `host_vars/` beside an inventory in the repository, at the commit.
struct RepoDirs<'a> {
    repo: &'a ConfigRepo,
    /// The inventory's directory, relative to the config directory.
    base: String,
}

impl RepoDirs<'_> {
    fn path(&self, rel: &str) -> String {
        if self.base.is_empty() {
            rel.to_owned()
        } else {
            format!("{}/{rel}", self.base)
        }
    }
}

impl VarsDirs for RepoDirs<'_> {
    fn files(&self, dir: &str) -> Result<Vec<String>> {
        self.repo.list(&self.path(dir))
    }

    fn dirs(&self, dir: &str) -> Result<Vec<String>> {
        self.repo.list_dirs(&self.path(dir))
    }

    fn read(&self, path: &str) -> Result<Option<Vec<u8>>> {
        self.repo.read(&self.path(path))
    }

    fn show(&self, path: &str) -> String {
        self.path(path)
    }
}

/// The inventory as `ansible-inventory --list` prints one: `_meta.hostvars`
/// (each host's inventory variables, merged: `defaults.vars`, then its
/// groups', then its own), and every non-empty group's direct `hosts` and
/// `children`; `all` lists the groups without a parent and `ungrouped`.
pub fn ansible_list(file: &InventoryFile, hosts: &[Host], universe: &Universe) -> Value {
    let mut out = Map::new();
    let mut hostvars = Map::new();
    for h in hosts {
        let mut vars: Map<String, Value> = file.defaults.vars.clone().into_iter().collect();
        for g in universe.groups_of(&h.name) {
            vars.extend(file.groups[g].vars.clone());
        }
        vars.extend(h.vars.clone());
        if !vars.is_empty() {
            hostvars.insert(h.name.clone(), Value::Object(vars));
        }
    }
    out.insert("_meta".into(), json!({ "hostvars": hostvars }));
    let has_parent: std::collections::BTreeSet<&str> =
        file.groups.values().flat_map(|g| g.children.iter().map(String::as_str)).collect();
    let mut top: Vec<&str> = vec!["ungrouped"];
    top.extend(file.groups.keys().map(String::as_str).filter(|g| !has_parent.contains(g)));
    out.insert("all".into(), json!({ "children": top }));
    let grouped: std::collections::BTreeSet<&str> =
        file.groups.values().flat_map(|g| g.hosts.iter().map(String::as_str)).collect();
    let ungrouped: Vec<&str> = hosts.iter().map(|h| h.name.as_str()).filter(|h| !grouped.contains(h)).collect();
    if !ungrouped.is_empty() {
        out.insert("ungrouped".into(), json!({ "hosts": ungrouped }));
    }
    for (name, g) in &file.groups {
        let mut entry = BTreeMap::new();
        if !g.hosts.is_empty() {
            entry.insert("hosts", json!(g.hosts));
        }
        if !g.children.is_empty() {
            entry.insert("children", json!(g.children));
        }
        if !entry.is_empty() {
            out.insert(name.clone(), json!(entry));
        }
    }
    Value::Object(out)
}
