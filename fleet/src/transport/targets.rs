//! Where each host is reached: its inventory SSH fields, or for lab hosts
//! what `schedfleet lab` recorded. A lab host that is not running has no
//! target; callers report it as unreachable.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Result;

use crate::config::{Connection, Host, SshTarget};
use crate::lab::Lab;

pub fn resolve<'a>(hosts: impl IntoIterator<Item = &'a Host>) -> Result<BTreeMap<String, SshTarget>> {
    let hosts: Vec<&Host> = hosts.into_iter().collect();
    let lab_hosts = if hosts.iter().any(|h| h.connection == Connection::Lab) {
        Lab::open(std::env::var_os("SCHEDFLEET_LAB_DIR").map(PathBuf::from))?.status()?
    } else {
        Vec::new()
    };
    let mut targets = BTreeMap::new();
    for host in hosts {
        let target = match &host.ssh {
            Some(t) => Some(t.clone()),
            None => lab_hosts.iter().find(|l| l.name == host.name).map(|l| SshTarget {
                address: l.address.clone(),
                port: l.port,
                user: l.user.clone(),
                identity_file: Some(l.identity_file.clone()),
                known_hosts_file: Some(l.known_hosts_file.clone()),
            }),
        };
        if let Some(t) = target {
            targets.insert(host.name.clone(), t);
        }
    }
    Ok(targets)
}
