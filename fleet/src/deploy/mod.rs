//! Deployment: bringing hosts to their [`HostPlan`](crate::config::HostPlan).
//!
//! Per host (`host.rs`), over the run's session of that host: check the
//! kernel has sched_ext and which agent the store holds (one round trip),
//! take the parameters the plan rendered (or render them now, from facts
//! read without the agent) so that a render error changes nothing, install
//! the agent only when the store lacks a verified copy, ask the agent what runs and stop when
//! it is the desired state, take the host lease, push the scheduler object
//! only when the store lacks it, activate. A failure on one host is recorded
//! in its [`HostReport`] and the others go on; the rollout decides from the
//! reports.

mod host;
mod report;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;

pub use report::{HostReport, Outcome};

use crate::artifact::Artifact;
use crate::config::{HostPlan, HostSpec, Templates};
use crate::host::{Pool, Transport};

#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// The static agent binary pushed to hosts.
    pub agent: Artifact,
    /// Two-phase activation: the host reverts by itself unless confirmed in time.
    pub confirm: Option<ConfirmMode>,
    /// Take this host lease before changing a host (and keep it: the rollout releases it).
    pub lease_owner: Option<String>,
    /// Each host's desired state as the plan rendered it, before any host
    /// was changed; a host missing here is rendered from facts read
    /// without the agent, before anything is pushed to it.
    pub rendered: Arc<BTreeMap<String, HostPlan>>,
}

/// How an activation waits for its confirmation.
#[derive(Debug, Clone)]
pub struct ConfirmMode {
    /// The host reverts by itself when not confirmed within this.
    pub within: Duration,
    /// The probes its watchdog runs, as the agent's `--probes` JSON.
    pub probes_json: Option<String>,
}

/// Applies the given hosts (one wave) in parallel within the pool's bound;
/// reports in the given order.
pub async fn apply_hosts<T: Transport>(
    pool: &Pool<T>,
    specs: &[&HostSpec],
    commit: &str,
    opts: &ApplyOptions,
) -> Vec<HostReport> {
    let templates = Templates::default();
    let templates = &templates;
    futures::stream::iter(specs.iter())
        .map(|spec| host::apply_one(pool, spec, commit, opts, templates))
        .buffered(pool.parallel())
        .collect()
        .await
}

/// Sorts per-host results (which parallel work returns in completion
/// order) into the order of `order`, the hosts' names.
pub(crate) fn in_order<T>(items: &mut [T], order: &[&str], name: impl Fn(&T) -> &str) {
    let rank: std::collections::HashMap<&str, usize> = order.iter().enumerate().map(|(i, n)| (*n, i)).collect();
    items.sort_by_key(|item| rank.get(name(item)).copied().unwrap_or(usize::MAX));
}
