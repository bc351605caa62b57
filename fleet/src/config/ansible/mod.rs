//! Ansible inventories, read as Ansible reads them, into schedfleet's own
//! inventory model, so that a team keeps one inventory for both tools.
//!
//! Supported: the YAML and INI formats of Ansible's `yaml` and `ini`
//! inventory plugins (groups, `children`, host and group variables, host
//! ranges such as `gpu[01:40].example`, `host:port`), the implicit `all` and
//! `ungrouped` groups, `group_vars/` and `host_vars/` beside the file, and
//! Ansible's variable precedence (see [`model`]). Refused, by name: dynamic
//! inventory scripts (executable files), plugin configurations (`plugin:`),
//! and vaulted values (`!vault`, `$ANSIBLE_VAULT`).
//!
//! Mapping: each host's variables, merged as Ansible merges them, become
//! the host's variables in schedfleet; `ansible_host`, `ansible_port`,
//! `ansible_user` and `ansible_ssh_private_key_file` (and their older
//! `ansible_ssh_*` spellings) become where and as whom it is reached;
//! `schedfleet_known_hosts_file` (or `-o UserKnownHostsFile=...` in
//! `ansible_ssh_common_args`) its known-hosts file, `schedfleet_labels` its
//! labels and `schedfleet_connection` its connection. Groups keep their
//! direct hosts and children; their variables are already in the hosts'.
//!
//! This module reads and maps; checking names, addresses and patterns is
//! `inventory.rs`'s and `pattern/`'s work, as for any inventory.

mod ini;
mod literal;
mod loader;
mod model;
mod range;
mod yaml;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value;

use super::inventory::{Connection, GroupFields, HostFields, InventoryFile};
use crate::BadInput;

pub use model::Vars;

/// How an inventory file is written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum InventoryFormat {
    /// Decided from the content: Ansible YAML (`all:`, or groups holding
    /// `hosts:`/`children:`/`vars:`), Ansible INI (`[group]` sections), or
    /// schedfleet's own (`hosts:` of host fields, `groups:`, `defaults:`).
    #[default]
    Auto,
    /// schedfleet's `inventory.yaml` format.
    Schedfleet,
    /// An Ansible YAML inventory.
    AnsibleYaml,
    /// An Ansible INI inventory.
    AnsibleIni,
}

impl InventoryFormat {
    pub const NAMES: [&'static str; 4] = ["auto", "schedfleet", "ansible-yaml", "ansible-ini"];

    pub fn parse(text: &str) -> Option<InventoryFormat> {
        Some(match text {
            "auto" => InventoryFormat::Auto,
            "schedfleet" => InventoryFormat::Schedfleet,
            "ansible-yaml" => InventoryFormat::AnsibleYaml,
            "ansible-ini" => InventoryFormat::AnsibleIni,
            _ => return None,
        })
    }
}

/// Where `group_vars/` and `host_vars/` beside an inventory are read from:
/// the controller's disk, or the config repository at its commit.
pub trait VarsDirs {
    /// Regular file names directly in `dir` (relative to the inventory's
    /// directory); empty when there is no such directory.
    fn files(&self, dir: &str) -> anyhow::Result<Vec<String>>;
    /// Sub-directory names directly in `dir`.
    fn dirs(&self, dir: &str) -> anyhow::Result<Vec<String>>;
    fn read(&self, path: &str) -> anyhow::Result<Option<Vec<u8>>>;
    /// How a path is shown in messages.
    fn show(&self, path: &str) -> String;
}

/// `group_vars/` and `host_vars/` in a directory on disk.
pub struct DiskDirs(pub PathBuf);

impl VarsDirs for DiskDirs {
    fn files(&self, dir: &str) -> anyhow::Result<Vec<String>> {
        self.entries(dir, false)
    }

    fn dirs(&self, dir: &str) -> anyhow::Result<Vec<String>> {
        self.entries(dir, true)
    }

    fn read(&self, path: &str) -> anyhow::Result<Option<Vec<u8>>> {
        let full = self.0.join(path);
        match std::fs::metadata(&full) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            // Regular files of a bounded size only (a FIFO would block).
            _ => Ok(Some(crate::files::read_bounded(&full, super::yaml::MAX_FILE_BYTES as u64 + 1, "inventory file")?)),
        }
    }

    fn show(&self, path: &str) -> String {
        self.0.join(path).display().to_string()
    }
}

impl DiskDirs {
    fn entries(&self, dir: &str, want_dirs: bool) -> anyhow::Result<Vec<String>> {
        let Ok(read) = std::fs::read_dir(self.0.join(dir)) else { return Ok(Vec::new()) };
        let mut out = Vec::new();
        for e in read.flatten() {
            let is_dir = e.file_type().map(|t| t.is_dir()).unwrap_or(false);
            if is_dir == want_dirs {
                if let Ok(name) = e.file_name().into_string() {
                    out.push(name);
                }
            }
        }
        out.sort();
        Ok(out)
    }
}

/// How to turn what schedfleet does not read into what it does.
pub const EXPORT_HINT: &str =
    "let Ansible write it out as a static inventory, `ansible-inventory -i SOURCE --list --yaml --export > static.yml`, and give schedfleet that file";

/// What the content of an inventory file is, or why it is refused.
pub fn detect(shown: &str, bytes: &[u8], format: InventoryFormat) -> Result<InventoryFormat, BadInput> {
    let text = String::from_utf8_lossy(bytes);
    let refuse = |what: &str| {
        BadInput::new(format!("`{shown}` is {what}, which schedfleet does not run or read; {EXPORT_HINT}"))
    };
    if text.trim_start().starts_with("$ANSIBLE_VAULT") {
        return Err(BadInput::new(format!(
            "`{shown}` is an Ansible Vault file, which schedfleet cannot decrypt; give schedfleet an unencrypted \
             inventory and keep secrets out of it"
        )));
    }
    if text.starts_with("#!") {
        return Err(refuse("a dynamic inventory script"));
    }
    let blank = |l: &str| {
        let l = l.trim();
        l.is_empty() || l.starts_with('#') || l.starts_with(';') || l == "---" || l == "..."
    };
    if text.lines().all(blank) {
        return Err(BadInput::new(format!("`{shown}` is empty (nothing but blanks and comments)")));
    }
    if format != InventoryFormat::Auto {
        return Ok(format);
    }
    match loader::parse(&text) {
        Ok(Some(loader::Node { kind: loader::Kind::Map(entries), .. })) => {
            let keys: Vec<&str> = entries.iter().map(|(k, _)| k.text.as_str()).collect();
            if keys.contains(&"plugin") {
                return Err(refuse("an inventory plugin configuration (`plugin:`)"));
            }
            // `all:` is Ansible's; `hosts:`, `groups:` or `defaults:` schedfleet's (whose
            // own parser then names any unknown key); otherwise Ansible's when every
            // top-level value is a group (empty, or `hosts:`/`children:`/`vars:`).
            let is_group = |n: &loader::Node| match &n.kind {
                loader::Kind::Scalar(Value::Null) => true,
                loader::Kind::Map(m) => m.iter().all(|(k, _)| ["hosts", "children", "vars"].contains(&k.text.as_str())),
                _ => false,
            };
            let native = !keys.contains(&"all")
                && (keys.iter().any(|k| ["defaults", "hosts", "groups"].contains(k))
                    || !entries.iter().all(|(_, v)| is_group(v)));
            Ok(if native { InventoryFormat::Schedfleet } else { InventoryFormat::AnsibleYaml })
        }
        // A scalar (`host1 ansible_host=...`) or a flow list (`[web]`): INI.
        Ok(_) => Ok(InventoryFormat::AnsibleIni),
        Err((line, why)) if why.contains("`!vault`") => Err(BadInput::new(format!("`{shown}` line {line}: {why}"))),
        // Not YAML: INI when it has a section; else a YAML file with a mistake, which
        // schedfleet's parser describes best.
        Err(_) if text.lines().any(|l| l.trim().starts_with('[') && l.trim().ends_with(']')) => {
            Ok(InventoryFormat::AnsibleIni)
        }
        Err(_) => Ok(InventoryFormat::Schedfleet),
    }
}

/// An Ansible inventory read: its groups and hosts as Ansible has them, and
/// every host's merged variables.
pub struct AnsibleInventory {
    pub inventory: model::Inventory,
    pub host_vars: BTreeMap<String, Vars>,
}

/// Reads an Ansible inventory (`format` is `AnsibleYaml` or `AnsibleIni`)
/// with the `group_vars/` and `host_vars/` of `dirs`.
pub fn read(
    shown: &str,
    bytes: &[u8],
    format: InventoryFormat,
    dirs: &dyn VarsDirs,
) -> anyhow::Result<AnsibleInventory> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let line = bytes[..e.valid_up_to()].iter().filter(|&&b| b == b'\n').count() + 1;
        BadInput::new(format!("`{shown}` line {line}: not valid UTF-8"))
    })?;
    let at = |(line, why): (usize, String)| {
        if line > 0 {
            BadInput::new(format!("`{shown}` line {line}: {why}"))
        } else {
            BadInput::new(format!("`{shown}`: {why}"))
        }
    };
    let mut inv = model::Inventory::default();
    match format {
        InventoryFormat::AnsibleIni => ini::parse(text, &mut inv).map_err(at)?,
        _ => {
            let root = loader::parse(text)
                .map_err(at)?
                .ok_or_else(|| BadInput::new(format!("`{shown}` is empty (nothing but blanks and comments)")))?;
            yaml::parse(&root, &mut inv).map_err(at)?;
        }
    }
    inv.reconcile();
    if inv.hosts.is_empty() {
        return Err(BadInput::new(format!("`{shown}` lists no hosts; add at least one")).into());
    }
    let group_files = vars_files(dirs, "group_vars", inv.groups.keys())?;
    let host_files = vars_files(dirs, "host_vars", inv.hosts.keys())?;
    let host_vars = inv.hosts.keys().map(|h| (h.clone(), inv.merged_vars(h, &group_files, &host_files))).collect();
    Ok(AnsibleInventory { inventory: inv, host_vars })
}

/// The variables `group_vars/<name>` (or `host_vars/<name>`) give each name,
/// files in Ansible's order: `<name>` (a file, or a directory read
/// recursively in name order), `<name>.yml`, `<name>.yaml`, `<name>.json`.
fn vars_files<'a>(
    dirs: &dyn VarsDirs,
    dir: &str,
    names: impl Iterator<Item = &'a String>,
) -> anyhow::Result<BTreeMap<String, Vars>> {
    let files = dirs.files(dir)?;
    let subdirs = dirs.dirs(dir)?;
    if files.is_empty() && subdirs.is_empty() {
        return Ok(BTreeMap::new());
    }
    let mut out = BTreeMap::new();
    for name in names {
        let mut paths = Vec::new();
        if subdirs.contains(name) {
            dir_files(dirs, &format!("{dir}/{name}"), &mut paths)?;
        }
        for ext in ["", ".yml", ".yaml", ".json"] {
            let file = format!("{name}{ext}");
            if files.contains(&file) {
                paths.push(format!("{dir}/{file}"));
            }
        }
        let mut vars = Vars::new();
        for path in paths {
            let shown = dirs.show(&path);
            let Some(bytes) = dirs.read(&path)? else { continue };
            let text = std::str::from_utf8(&bytes).map_err(|_| BadInput::new(format!("`{shown}`: not valid UTF-8")))?;
            if text.trim_start().starts_with("$ANSIBLE_VAULT") {
                return Err(BadInput::new(format!(
                    "`{shown}` is an Ansible Vault file; schedfleet cannot decrypt it: move its secrets out of the \
                     variables schedfleet reads"
                ))
                .into());
            }
            let node =
                loader::parse(text).map_err(|(line, why)| BadInput::new(format!("`{shown}` line {line}: {why}")))?;
            match node.map(|n| n.to_json()) {
                None => {}
                // Here `ansible_group_priority` is a plain variable: Ansible reads
                // the priority only from the inventory file itself.
                Some(Value::Object(m)) => vars.extend(m),
                Some(_) => return Err(BadInput::new(format!("`{shown}` must be a mapping of variables")).into()),
            }
        }
        if !vars.is_empty() {
            out.insert(name.clone(), vars);
        }
    }
    Ok(out)
}

fn dir_files(dirs: &dyn VarsDirs, dir: &str, out: &mut Vec<String>) -> anyhow::Result<()> {
    let mut entries: Vec<(String, bool)> = dirs.files(dir)?.into_iter().map(|f| (f, false)).collect();
    entries.extend(dirs.dirs(dir)?.into_iter().map(|d| (d, true)));
    entries.sort();
    for (name, is_dir) in entries {
        if name.starts_with('.') || name.ends_with('~') {
            continue;
        }
        let ext = std::path::Path::new(&name).extension().and_then(|e| e.to_str()).map(|e| format!(".{e}"));
        if is_dir && ext.is_none() {
            dir_files(dirs, &format!("{dir}/{name}"), out)?;
        } else if !is_dir && ext.as_deref().is_none_or(|e| [".yml", ".yaml", ".json"].contains(&e)) {
            out.push(format!("{dir}/{name}"));
        }
    }
    Ok(())
}

impl AnsibleInventory {
    /// schedfleet's inventory model of this inventory: every host with its
    /// connection fields and merged variables, every group but `all` and
    /// `ungrouped` (implicit in schedfleet too) with its direct members.
    pub fn to_inventory_file(&self, shown: &str) -> Result<InventoryFile, BadInput> {
        let mut hosts = BTreeMap::new();
        for (name, vars) in &self.host_vars {
            let at = |why: String| BadInput::new(format!("`{shown}`: host `{name}`: {why}"));
            hosts.insert(name.clone(), host_fields(vars).map_err(at)?);
        }
        let groups = self
            .inventory
            .groups
            .iter()
            .filter(|(g, _)| *g != "all" && *g != "ungrouped")
            .map(|(g, def)| {
                (
                    g.clone(),
                    GroupFields { hosts: def.hosts.clone(), children: def.children.clone(), vars: BTreeMap::new() },
                )
            })
            .collect();
        Ok(InventoryFile { defaults: HostFields::default(), hosts, groups })
    }
}

/// A string variable; `None` when unset.
fn string_var(vars: &Vars, names: &[&str]) -> Result<Option<String>, String> {
    for n in names {
        match vars.get(*n) {
            None | Some(Value::Null) => continue,
            Some(Value::String(s)) if s.contains("{{") || s.contains("{%") => {
                return Err(format!("`{n}` is an Ansible template (`{s}`); schedfleet does not render Ansible templates: give the value itself"))
            }
            Some(Value::String(s)) => return Ok(Some(s.clone())),
            Some(Value::Number(x)) => return Ok(Some(x.to_string())),
            Some(other) => return Err(format!("`{n}` must be a string, not `{other}`")),
        }
    }
    Ok(None)
}

fn host_fields(vars: &Vars) -> Result<HostFields, String> {
    let port = match string_var(vars, &["ansible_port", "ansible_ssh_port"])? {
        None => None,
        Some(p) => {
            Some(p.trim().parse::<u16>().map_err(|_| format!("`ansible_port` `{p}` is not a port (1 to 65535)"))?)
        }
    };
    let known_hosts = match string_var(vars, &["schedfleet_known_hosts_file"])? {
        Some(k) => Some(k),
        None => {
            let mut found = None;
            for args in ["ansible_ssh_common_args", "ansible_ssh_extra_args"] {
                if let Some(a) = string_var(vars, &[args])? {
                    found = found.or_else(|| user_known_hosts_file(&a));
                }
            }
            found
        }
    };
    let labels = match vars.get("schedfleet_labels") {
        None | Some(Value::Null) => BTreeMap::new(),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                Value::Number(_) | Value::Bool(_) => Ok((k.clone(), v.to_string())),
                _ => Err(format!("`schedfleet_labels.{k}` must be a scalar")),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err("`schedfleet_labels` must be a mapping of label keys to values".into()),
    };
    let connection = match string_var(vars, &["schedfleet_connection"])?.as_deref() {
        None | Some("ssh") => None,
        Some("lab") => Some(Connection::Lab),
        Some(other) => return Err(format!("`schedfleet_connection` is `ssh` or `lab`, not `{other}`")),
    };
    Ok(HostFields {
        connection,
        address: string_var(vars, &["ansible_host", "ansible_ssh_host"])?,
        port,
        user: string_var(vars, &["ansible_user", "ansible_ssh_user"])?,
        identity_file: string_var(vars, &["ansible_ssh_private_key_file", "ansible_private_key_file"])?
            .map(PathBuf::from),
        known_hosts_file: known_hosts.map(PathBuf::from),
        labels,
        vars: vars.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
    })
}

/// `UserKnownHostsFile` from ssh arguments (`-o UserKnownHostsFile=F`,
/// `-oUserKnownHostsFile=F`, `-o UserKnownHostsFile F`).
fn user_known_hosts_file(args: &str) -> Option<String> {
    let words: Vec<&str> = args.split_whitespace().collect();
    for (i, w) in words.iter().enumerate() {
        let opt = match *w {
            "-o" => words.get(i + 1).copied()?,
            w => match w.strip_prefix("-o") {
                Some(rest) if !rest.is_empty() => rest,
                _ => continue,
            },
        };
        let (key, value) = match opt.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (opt, words.get(i + 2).copied()),
        };
        if key.eq_ignore_ascii_case("UserKnownHostsFile") {
            return value.map(|v| v.trim_matches(['"', '\'']).to_owned());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    struct NoDirs;

    impl VarsDirs for NoDirs {
        fn files(&self, _: &str) -> anyhow::Result<Vec<String>> {
            Ok(Vec::new())
        }
        fn dirs(&self, _: &str) -> anyhow::Result<Vec<String>> {
            Ok(Vec::new())
        }
        fn read(&self, _: &str) -> anyhow::Result<Option<Vec<u8>>> {
            Ok(None)
        }
        fn show(&self, p: &str) -> String {
            p.to_owned()
        }
    }

    fn detected(text: &str) -> Result<InventoryFormat, String> {
        detect("f", text.as_bytes(), InventoryFormat::Auto).map_err(|e| e.to_string())
    }

    #[test]
    fn formats_are_told_apart_and_unsupported_ones_named() {
        assert_eq!(detected("all:\n  hosts: { a: }\n"), Ok(InventoryFormat::AnsibleYaml));
        assert_eq!(detected("web:\n  hosts:\n    a:\n"), Ok(InventoryFormat::AnsibleYaml));
        assert_eq!(detected("hosts:\n  a: { address: 127.0.0.1 }\ngroups: {}\n"), Ok(InventoryFormat::Schedfleet));
        assert_eq!(detected("[web]\na\n"), Ok(InventoryFormat::AnsibleIni));
        assert_eq!(detected("hots:\n  a: { address: 127.0.0.1 }\n"), Ok(InventoryFormat::Schedfleet));
        assert_eq!(detected("hosts:\n  a: {}\nextra: 1\n"), Ok(InventoryFormat::Schedfleet));
        assert!(detected("# nothing\n---\n").unwrap_err().contains("empty"));
        assert_eq!(detected("a ansible_host=127.0.0.1\n"), Ok(InventoryFormat::AnsibleIni));
        assert!(detected("#!/usr/bin/env python3\nprint('{}')\n").unwrap_err().contains("dynamic inventory script"));
        assert!(detected("plugin: aws_ec2\n").unwrap_err().contains("plugin"));
        assert!(detected("$ANSIBLE_VAULT;1.1;AES256\n6162\n").unwrap_err().contains("Vault"));
    }

    #[test]
    fn connection_variables_map_to_host_fields() {
        let text = "all:\n  vars: { ansible_user: ops, ansible_ssh_common_args: '-o UserKnownHostsFile=/k -o X=y' }\n  hosts:\n    a:\n      ansible_host: 127.0.0.1\n      ansible_port: '2222'\n      ansible_ssh_private_key_file: /id\n      schedfleet_labels: { rack: 7 }\n";
        let read = read("f", text.as_bytes(), InventoryFormat::AnsibleYaml, &NoDirs).unwrap();
        let file = read.to_inventory_file("f").unwrap();
        let a = &file.hosts["a"];
        assert_eq!(a.address.as_deref(), Some("127.0.0.1"));
        assert_eq!((a.port, a.user.as_deref()), (Some(2222), Some("ops")));
        assert_eq!(a.identity_file.as_deref(), Some(std::path::Path::new("/id")));
        assert_eq!(a.known_hosts_file.as_deref(), Some(std::path::Path::new("/k")));
        assert_eq!(a.labels["rack"], "7");
        assert_eq!(a.vars["ansible_user"], "ops");
    }

    #[test]
    fn templates_in_connection_variables_are_refused() {
        let text = "all:\n  hosts:\n    a: { ansible_host: '{{ ip }}' }\n";
        let read = read("f", text.as_bytes(), InventoryFormat::AnsibleYaml, &NoDirs).unwrap();
        let err = read.to_inventory_file("f").unwrap_err().to_string();
        assert!(err.contains("host `a`") && err.contains("template"), "{err}");
    }
}
