//! Where each host of a run is reached, resolved once per run: its
//! inventory SSH fields, or for lab hosts what `schedfleet lab` recorded (the
//! lab answers that; this module only asks it). A host with no target is
//! unreachable for the whole run, with the reason kept.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Result;

use crate::config::{Connection, Host, SshTarget};
use crate::lab::Lab;

/// The SSH target of every host of a run, or why there is none.
#[derive(Debug, Clone, Default)]
pub struct Targets(BTreeMap<String, Result<SshTarget, String>>);

impl Targets {
    pub fn resolve<'a>(hosts: impl IntoIterator<Item = &'a Host>) -> Result<Targets> {
        let hosts: Vec<&Host> = hosts.into_iter().collect();
        let lab: BTreeMap<String, SshTarget> = if hosts.iter().any(|h| h.connection == Connection::Lab) {
            let lab = Lab::open(std::env::var_os("SCHEDFLEET_LAB_DIR").map(PathBuf::from))?;
            lab.status()?.iter().map(|h| (h.name.clone(), h.ssh_target())).collect()
        } else {
            BTreeMap::new()
        };
        Ok(Targets(
            hosts
                .into_iter()
                .map(|host| {
                    let target = match &host.ssh {
                        Some(t) => Ok(t.clone()),
                        None => lab
                            .get(&host.name)
                            .cloned()
                            .ok_or_else(|| "lab host is not running; start it with `schedfleet lab up`".to_owned()),
                    };
                    (host.name.clone(), target)
                })
                .collect(),
        ))
    }

    /// Targets given directly (tests, benchmarks).
    pub fn from_map(map: BTreeMap<String, SshTarget>) -> Targets {
        Targets(map.into_iter().map(|(k, v)| (k, Ok(v))).collect())
    }

    pub fn get(&self, host: &str) -> Result<&SshTarget, String> {
        match self.0.get(host) {
            Some(Ok(t)) => Ok(t),
            Some(Err(why)) => Err(why.clone()),
            None => Err(format!("`{host}` is not a host of this run")),
        }
    }
}
