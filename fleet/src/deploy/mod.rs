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
use crate::config::{DesiredState, HostSpec, Templates};
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
    /// Two-phase activation: the host reverts by itself unless confirmed in time.
    pub confirm: Option<ConfirmMode>,
    /// Take this host lease before changing a host (and keep it: the rollout releases it).
    pub lease_owner: Option<String>,
}

/// How an activation waits for its confirmation.
#[derive(Debug, Clone)]
pub struct ConfirmMode {
    /// The host reverts by itself when not confirmed within this.
    pub within: Duration,
    /// The probes its watchdog runs, as the agent's `--probes` JSON.
    pub probes_json: Option<String>,
}

/// Applies `desired` to all its hosts at once and reports per host.
pub async fn apply(desired: &DesiredState, opts: &ApplyOptions) -> Result<ApplyReport> {
    let specs: Vec<&HostSpec> = desired.hosts.iter().collect();
    let hosts = apply_hosts(&specs, &desired.commit, opts).await?;
    Ok(ApplyReport { commit: desired.commit.clone(), hosts })
}

/// Applies the given hosts (one wave, or all) in parallel; reports in the given order.
pub async fn apply_hosts(specs: &[&HostSpec], commit: &str, opts: &ApplyOptions) -> Result<Vec<HostReport>> {
    let targets = transport::targets::resolve(specs.iter().map(|s| &s.host))?;
    let control = ControlDir::new()?;
    let templates = Templates::default();
    let (control, templates) = (&control, &templates);
    let mut hosts: Vec<HostReport> = futures::stream::iter(specs.iter())
        .map(|spec| {
            let target = targets.get(&spec.host.name).cloned();
            async move { host::apply_one(spec, target, commit, opts, control, templates).await }
        })
        .buffer_unordered(opts.parallel.max(1))
        .collect()
        .await;
    let order: Vec<&str> = specs.iter().map(|s| s.host.name.as_str()).collect();
    in_order(&mut hosts, &order, |h| &h.host);
    Ok(hosts)
}

/// Sorts per-host results (which parallel work returns in completion
/// order) into the order of `order`, the hosts' names.
pub(crate) fn in_order<T>(items: &mut [T], order: &[&str], name: impl Fn(&T) -> &str) {
    let rank: std::collections::HashMap<&str, usize> = order.iter().enumerate().map(|(i, n)| (*n, i)).collect();
    items.sort_by_key(|item| rank.get(name(item)).copied().unwrap_or(usize::MAX));
}
