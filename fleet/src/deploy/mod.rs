//! Deployment: bringing hosts to their [`HostPlan`](crate::config::HostPlan).
//!
//! `apply` works on hosts in parallel with a bound. Per host (`host.rs`):
//! connect with strict host keys, check the kernel has sched_ext before
//! pushing anything, push the agent and the scheduler object only when the
//! host's content-addressed store lacks their digest (`push.rs`), ask the
//! agent what runs (`agent.rs`), activate when it differs. A failure on one
//! host is recorded in its [`HostReport`] and the others go on; the caller
//! decides the exit code from the reports. Waves, gates and rollback build
//! on this path.

mod agent;
mod host;
mod push;
mod report;

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Result;
use futures::StreamExt;

pub use agent::RemoteAgent;
pub use report::{ApplyReport, HostReport, Outcome};

use crate::artifact::Artifact;
use crate::config::{Connection, DesiredState, SshTarget};
use crate::lab::Lab;
use crate::transport::ControlDir;
use crate::BadInput;

#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// The static agent binary pushed to hosts.
    pub agent: Artifact,
    /// Hosts worked on at once.
    pub parallel: usize,
    /// Connect and compare only.
    pub dry_run: bool,
    pub connect_timeout: Duration,
}

/// Applies `desired` to its hosts and reports per host.
pub async fn apply(desired: &DesiredState, opts: &ApplyOptions) -> Result<ApplyReport> {
    let targets = resolve_targets(desired)?;
    let control = ControlDir::new()?;
    let control = &control;
    let mut hosts: Vec<HostReport> = futures::stream::iter(desired.hosts.iter())
        .map(|plan| {
            let target = targets.get(&plan.host.name).cloned();
            async move { host::apply_one(plan, target, &desired.commit, opts, control).await }
        })
        .buffer_unordered(opts.parallel.max(1))
        .collect()
        .await;
    hosts.sort_by(|a, b| a.host.cmp(&b.host));
    Ok(ApplyReport { commit: desired.commit.clone(), hosts })
}

/// Where each host is reached. Lab hosts are looked up in the lab's state;
/// one that is not running is reported by its host as unreachable.
fn resolve_targets(desired: &DesiredState) -> Result<BTreeMap<String, SshTarget>> {
    let mut targets = BTreeMap::new();
    let needs_lab = desired.hosts.iter().any(|p| p.host.connection == Connection::Lab);
    let lab_hosts = if needs_lab {
        Lab::open(std::env::var_os("SCHEDFLEET_LAB_DIR").map(std::path::PathBuf::from))?.status()?
    } else {
        Vec::new()
    };
    for plan in &desired.hosts {
        let target = match (&plan.host.ssh, plan.host.connection) {
            (Some(t), _) => Some(t.clone()),
            (None, Connection::Lab) => lab_hosts.iter().find(|l| l.name == plan.host.name).map(|l| SshTarget {
                address: l.address.clone(),
                port: l.port,
                user: l.user.clone(),
                identity_file: Some(l.identity_file.clone()),
                known_hosts_file: Some(l.known_hosts_file.clone()),
            }),
            (None, Connection::Ssh) => {
                return Err(BadInput::new(format!("host `{}` has no SSH address", plan.host.name)).into())
            }
        };
        if let Some(t) = target {
            targets.insert(plan.host.name.clone(), t);
        }
    }
    Ok(targets)
}
