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

use std::time::Duration;

use anyhow::Result;
use futures::StreamExt;

pub use agent::RemoteAgent;
pub use push::{preflight, Preflight};
pub use report::{ApplyReport, HostReport, Outcome};

use crate::artifact::Artifact;
use crate::config::{DesiredState, Templates};
use crate::transport::{self, ControlDir};

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
    let targets = transport::targets::resolve(desired.hosts.iter().map(|s| &s.host))?;
    let control = ControlDir::new()?;
    let templates = Templates::default();
    let (control, templates) = (&control, &templates);
    let mut hosts: Vec<HostReport> = futures::stream::iter(desired.hosts.iter())
        .map(|spec| {
            let target = targets.get(&spec.host.name).cloned();
            async move { host::apply_one(spec, target, &desired.commit, opts, control, templates).await }
        })
        .buffer_unordered(opts.parallel.max(1))
        .collect()
        .await;
    let order: Vec<&str> = desired.hosts.iter().map(|s| s.host.name.as_str()).collect();
    hosts.sort_by_key(|h| order.iter().position(|n| *n == h.host));
    Ok(ApplyReport { commit: desired.commit.clone(), hosts })
}
