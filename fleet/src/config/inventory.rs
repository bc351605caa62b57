//! `inventory.yaml`: the hosts and how to reach them.
//!
//! ```yaml
//! defaults:                 # optional, applies to every host
//!   user: root
//!   port: 22
//!   identity_file: ~/.ssh/fleet_ed25519
//!   known_hosts_file: ~/.ssh/known_hosts
//! hosts:
//!   gpu-01: { address: 10.1.0.11, labels: { rack: r1 }, vars: { nvme: true } }
//!   lab-1: { connection: lab }   # address, key and host key from `schedfleet lab`
//! groups:
//!   gpu: { hosts: [gpu-01], vars: { serving_port: 8000 } }
//!   prod: { children: [gpu] }
//! ```
//!
//! Hosts are kept in name order.
//!
//! Every name that ends up on an `ssh` command line is checked here: host
//! names, addresses and users are restricted to characters that can never be
//! read as an option or reach a shell.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::Deserialize;

use super::yaml::{Positions, Step};
use crate::BadInput;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InventoryFile {
    /// Fields every host gets unless it sets its own; labels and vars are merged.
    #[serde(default)]
    pub defaults: HostFields,
    pub hosts: BTreeMap<String, HostFields>,
    #[serde(default)]
    pub groups: BTreeMap<String, GroupFields>,
}

#[derive(Debug, Default, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HostFields {
    /// `ssh` (default) or `lab`.
    pub connection: Option<Connection>,
    /// Host name or IP address; defaults to the host's name.
    pub address: Option<String>,
    /// SSH port, default 22.
    pub port: Option<u16>,
    /// Remote user, default `root`.
    pub user: Option<String>,
    /// Private key on the controller (`~` expands to `$HOME`).
    pub identity_file: Option<PathBuf>,
    /// Known-hosts file on the controller; host keys are always checked strictly.
    pub known_hosts_file: Option<PathBuf>,
    /// Labels for patterns (`rack=r07`) and wave ordering.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Template variables of this host.
    #[serde(default)]
    pub vars: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Default, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupFields {
    /// Member hosts, by name.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Member groups, whose hosts belong to this group too.
    #[serde(default)]
    pub children: Vec<String>,
    /// Template variables of the group's hosts.
    #[serde(default)]
    pub vars: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Connection {
    /// Plain SSH with the given address, user and keys.
    Ssh,
    /// A VM of `schedfleet lab`: reached with the lab's key and known-hosts.
    Lab,
}

/// Where and as whom to connect. Paths are on the controller.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SshTarget {
    pub address: String,
    pub port: u16,
    pub user: String,
    pub identity_file: Option<PathBuf>,
    pub known_hosts_file: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Host {
    pub name: String,
    pub connection: Connection,
    /// `None` for lab hosts until the lab is asked where they are.
    pub ssh: Option<SshTarget>,
    pub labels: BTreeMap<String, String>,
    /// The host's own variables from the inventory (not `defaults.vars`, which rank below groups).
    #[serde(skip)]
    pub vars: BTreeMap<String, serde_json::Value>,
}

/// Resolves the hosts of an inventory file (groups are resolved by the
/// caller); `file` gives the file's name and lines for messages.
/// Relative `identity_file` and `known_hosts_file` paths resolve against
/// `dir`, the inventory's own directory (`~/` against `$HOME`).
pub fn resolve(file: &Positions, inv: &InventoryFile, dir: &Path) -> Result<Vec<Host>, BadInput> {
    if inv.hosts.is_empty() {
        return Err(BadInput::new(format!("{} lists no hosts; add at least one", file.origin(&[Step::Key("hosts")]))));
    }
    let d = &inv.defaults;
    if d.address.is_some() {
        return Err(BadInput::new(format!(
            "{}: `defaults.address` would give every host the same address; set `address` per host \
             (it defaults to the host's name)",
            file.origin(&[Step::Key("defaults"), Step::Key("address")])
        )));
    }
    inv.hosts
        .iter()
        .map(|(name, h)| {
            let name = name.clone();
            // The line of `sub` (a path below a host) where this host's value
            // comes from: its own, else the defaults', else the host's entry.
            let at = |sub: &[&str], what: &str| {
                let own: Vec<Step<'_>> = [Step::Key("hosts"), Step::Key(&name)]
                    .into_iter()
                    .chain(sub.iter().map(|k| Step::Key(k)))
                    .collect();
                let default: Vec<Step<'_>> =
                    [Step::Key("defaults")].into_iter().chain(sub.iter().map(|k| Step::Key(k))).collect();
                let origin = [&own[..], &default[..]]
                    .into_iter()
                    .find(|p| !sub.is_empty() && file.line(p).is_some())
                    .map_or_else(|| file.origin(&own[..2]), |p| file.origin(p));
                format!("{origin}: host `{}`: {what}", name.escape_debug())
            };
            check_name(&name).map_err(|why| BadInput::new(at(&[], &why)))?;
            let connection = h.connection.or(d.connection).unwrap_or(Connection::Ssh);
            let ssh = match connection {
                Connection::Lab => {
                    if h.address.is_some() || h.port.is_some() {
                        return Err(BadInput::new(at(
                            &[],
                            "`connection: lab` hosts take address and port from the lab; remove them",
                        )));
                    }
                    None
                }
                Connection::Ssh => {
                    let address = h.address.clone().unwrap_or_else(|| name.clone());
                    check_address(&address).map_err(|why| BadInput::new(at(&["address"], &why)))?;
                    let user = h.user.clone().or(d.user.clone()).unwrap_or_else(|| "root".into());
                    check_user(&user).map_err(|why| BadInput::new(at(&["user"], &why)))?;
                    let port = h.port.or(d.port).unwrap_or(22);
                    if port == 0 {
                        return Err(BadInput::new(at(&["port"], "port 0 cannot be connected to; use 1 to 65535")));
                    }
                    let ssh_path = |own: &Option<PathBuf>, default: &Option<PathBuf>, key: &str| {
                        own.clone()
                            .or(default.clone())
                            .map(|p| {
                                check_ssh_path(&p)
                                    .map_err(|why| BadInput::new(at(&[key], &format!("`{key}`: {why}"))))?;
                                Ok(dir.join(expand_home(p)))
                            })
                            .transpose()
                    };
                    Some(SshTarget {
                        address,
                        port,
                        user,
                        identity_file: ssh_path(&h.identity_file, &d.identity_file, "identity_file")?,
                        known_hosts_file: ssh_path(&h.known_hosts_file, &d.known_hosts_file, "known_hosts_file")?,
                    })
                }
            };
            let mut labels = d.labels.clone();
            labels.extend(h.labels.clone());
            if let Some(k) = labels.keys().find(|k| !is_label_key(k)) {
                return Err(BadInput::new(at(
                    &["labels", k],
                    &format!("label key `{}` may only hold letters, digits, `-`, `_`, `.`, `/`", k.escape_debug()),
                )));
            }
            // `defaults.vars` are not merged here: they are the lowest
            // inventory layer, below group variables (see `config::load`).
            Ok(Host { name, connection, ssh, labels, vars: h.vars.clone() })
        })
        .collect()
}

/// A path ssh takes as one file, unchanged: ssh splits the value of
/// `-o UserKnownHostsFile=` at whitespace into several files, reads quotes
/// and backslashes as ssh_config syntax, and expands `%` tokens in both it
/// and `-i`. Such paths are refused rather than quoted, so what ssh opens is
/// exactly the file the inventory names.
fn check_ssh_path(p: &Path) -> Result<(), String> {
    let Some(text) = p.to_str() else { return Err("the path is not UTF-8".into()) };
    match text.chars().find(|c| c.is_whitespace() || c.is_control() || matches!(c, '"' | '\'' | '\\' | '%')) {
        _ if text.is_empty() => Err("the path is empty".into()),
        Some(c) => Err(format!(
            "`{}` holds {c:?}, which ssh would read as several files, quoting or a `%` token; \
             move or link the file to a path without whitespace, quotes, `\\` or `%`",
            text.escape_debug()
        )),
        None => Ok(()),
    }
}

fn expand_home(p: PathBuf) -> PathBuf {
    match (p.strip_prefix("~"), std::env::var_os("HOME")) {
        (Ok(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => p,
    }
}

/// Host names: letters, digits, `-`, `_`, `.`; not starting with `-`.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 253
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{}` is not a valid host name (letters, digits, `-`, `_`, `.`; starting with a letter or digit)",
            name.escape_debug()
        ))
    }
}

/// Label keys: letters, digits, `-`, `_`, `.`, `/`.
pub fn is_label_key(key: &str) -> bool {
    !key.is_empty() && key.len() <= 63 && key.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./".contains(&b))
}

/// Addresses: a host name or an IP address (IPv6 allowed).
fn check_address(address: &str) -> Result<(), String> {
    if address.parse::<std::net::IpAddr>().is_ok() || check_name(address).is_ok() {
        Ok(())
    } else {
        Err(format!("`{}` is neither a host name nor an IP address", address.escape_debug()))
    }
}

fn check_user(user: &str) -> Result<(), String> {
    let ok = !user.is_empty()
        && user.len() <= 32
        && (user.as_bytes()[0].is_ascii_lowercase() || user.as_bytes()[0] == b'_')
        && user.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(format!("`{}` is not a valid user name", user.escape_debug()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inv(yaml: &str) -> Result<Vec<Host>, BadInput> {
        let at = Positions::new("inventory.yaml", yaml.as_bytes());
        resolve(&at, &crate::config::yaml::parse("inventory.yaml", yaml.as_bytes())?, Path::new("/inv"))
    }

    #[test]
    fn defaults_apply_and_hosts_override() {
        let hosts = inv("defaults: { user: ops, port: 2222 }\nhosts:\n  a: { address: 10.0.0.1 }\n  b: { port: 22, labels: { rack: r1 } }\n  lab-1: { connection: lab }\n").unwrap();
        let a = hosts[0].ssh.as_ref().unwrap();
        assert_eq!((a.address.as_str(), a.port, a.user.as_str()), ("10.0.0.1", 2222, "ops"));
        let b = hosts[1].ssh.as_ref().unwrap();
        assert_eq!((b.address.as_str(), b.port), ("b", 22));
        assert_eq!(hosts[1].labels["rack"], "r1");
        assert_eq!(hosts[2].connection, Connection::Lab);
        assert!(hosts[2].ssh.is_none());
    }

    #[test]
    fn hostile_names_are_refused() {
        for bad in [
            "hosts:\n  '-oProxyCommand=x': {}\n",
            "hosts:\n  'a;b': {}\n",
            "hosts:\n  a: { address: '-oProxyCommand=touch /tmp/x' }\n",
            "hosts:\n  a: { address: 'x y' }\n",
            "hosts:\n  a: { user: 'root -o x' }\n",
            "hosts:\n  lab-1: { connection: lab, port: 22 }\n",
            "hosts: {}\n",
            "hosts:\n  a: { adress: 10.0.0.1 }\n",
            "defaults: { address: 10.0.0.1 }\nhosts:\n  a: {}\n",
            "hosts:\n  a: { port: 0 }\n",
        ] {
            assert!(inv(bad).is_err(), "accepted: {bad}");
        }
    }

    #[test]
    fn errors_give_the_line_of_the_host() {
        let err = inv("hosts:\n  a: {}\n  b:\n    user: 'x y'\n").unwrap_err().to_string();
        assert!(err.starts_with("`inventory.yaml` line 4: host `b`: "), "{err}");
        let err = inv("defaults:\n  user: 'x y'\nhosts:\n  a: {}\n").unwrap_err().to_string();
        assert!(err.starts_with("`inventory.yaml` line 2: host `a`: "), "{err}");
        let err = inv("hosts:\n  a: {}\n  '-b': {}\n").unwrap_err().to_string();
        assert!(err.starts_with("`inventory.yaml` line 3: host `-b`: "), "{err}");
    }

    #[test]
    fn key_files_are_single_paths_relative_to_the_inventory() {
        let hosts = inv("defaults: { identity_file: keys/id, known_hosts_file: /etc/kh }\nhosts:\n  a: {}\n").unwrap();
        let ssh = hosts[0].ssh.as_ref().unwrap();
        assert_eq!(ssh.identity_file.as_deref(), Some(Path::new("/inv/keys/id")));
        assert_eq!(ssh.known_hosts_file.as_deref(), Some(Path::new("/etc/kh")));
        for (bad, says) in [
            ("known_hosts_file: 'a b'", "holds ' '"),
            ("known_hosts_file: \"a\\tb\"", "holds '\\t'"),
            ("identity_file: '/k/%h'", "holds '%'"),
            ("identity_file: 'a\"b'", "holds '\"'"),
        ] {
            let err = inv(&format!("hosts:\n  a: {{ {bad} }}\n")).unwrap_err().to_string();
            assert!(err.contains("line 2: host `a`: `") && err.contains(says), "{bad}: {err}");
        }
    }

    /// The YAML parser's budget scales with the file: 60,000 hosts written
    /// out in full parse (bench/inventory-scale.sh measures time and memory).
    #[test]
    fn an_inventory_of_60000_hosts_fits_the_parsers_budget() {
        let mut text = String::from("hosts:\n");
        for i in 0..60_000 {
            text.push_str(&format!(
                "  h{i:05}: {{ address: 10.{}.{}.{}, labels: {{ rack: r{} }} }}\n",
                i >> 16,
                (i >> 8) & 255,
                i & 255,
                i / 40
            ));
        }
        let hosts = inv(&text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(hosts.len(), 60_000);
    }

    #[test]
    fn ipv6_addresses_are_fine() {
        let hosts = inv("hosts:\n  a: { address: '::1' }\n").unwrap();
        assert_eq!(hosts[0].ssh.as_ref().unwrap().address, "::1");
    }
}

#[cfg(test)]
mod shipped_inventories {
    use super::*;

    /// The sample inventories in `inventories/` and `examples/` parse, so
    /// they never rot.
    #[test]
    fn every_shipped_inventory_resolves() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let mut files: Vec<_> = std::fs::read_dir(root.join("inventories"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file())
            .collect();
        files.push(root.join("examples/quickstart/inventory.yaml"));
        assert!(files.len() >= 3);
        for f in files {
            let shown = f.display().to_string();
            let bytes = std::fs::read(&f).unwrap();
            let parsed = crate::config::yaml::parse::<InventoryFile>(&shown, &bytes).unwrap();
            let hosts = resolve(&Positions::new(&shown, &bytes), &parsed, f.parent().unwrap())
                .unwrap_or_else(|e| panic!("{e}"));
            assert!(!hosts.is_empty(), "{shown}");
        }
    }
}
