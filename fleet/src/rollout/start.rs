//! Starting a rollout for real: the fleet lock, the journal, the plan that
//! says which hosts need a change, one pool of host sessions for the whole
//! run (plan, waves, bakes, confirms, rollbacks, lease releases), and
//! Ctrl-C.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;

use super::remote::PoolOps;
use super::run::{self, Progress, RolloutReport, RolloutTiming};
use crate::artifact::Artifact;
use crate::collect::CollectOptions;
use crate::config::DesiredState;
use crate::deploy::{ApplyOptions, ConfirmMode};
use crate::host;
use crate::plan::{self, Action};
use crate::state::journal::{self, Journal};
use crate::state::lock::{FleetLock, LockError, Owner};

#[derive(Debug, Clone)]
pub struct RolloutOptions {
    pub agent: Artifact,
    pub parallel: usize,
    pub connect_timeout: Duration,
    /// Identifies the fleet for the controller lock (see [`crate::state::lock::fleet_key`]).
    pub fleet_key: String,
    /// Append to the latest journal when it is an unfinished run of the same commit.
    pub resume: bool,
    /// How often baking hosts are asked for their status.
    pub poll: Duration,
}

/// Another rollout holds the fleet lock (the CLI exits with 5).
#[derive(Debug, thiserror::Error)]
#[error("{0}; wait for it, or if it is gone, `schedfleet unlock` (only clears a lock no live process holds)")]
pub struct Locked(pub LockError);

pub async fn start(
    desired: &DesiredState,
    opts: &RolloutOptions,
    cancel: Arc<AtomicBool>,
    progress: &dyn Progress,
) -> Result<RolloutReport> {
    let state_dir = crate::state::dir();
    let mut lock = match FleetLock::acquire(&state_dir, &opts.fleet_key, &Owner::current(None)) {
        Ok(lock) => lock,
        Err(e @ LockError::Held { .. }) => return Err(Locked(e).into()),
        Err(e) => return Err(e.into()),
    };
    let journal = open_journal(desired, opts.resume)?;
    lock.set_run_id(journal.run_id())?;
    // The owner's words already name the run (set just above).
    let owner = lock.owner().to_string();

    let pool = host::ssh_pool(desired.hosts.iter().map(|s| &s.host), opts.parallel, opts.connect_timeout)?;
    let planned = plan::plan(&pool, desired, &CollectOptions::default()).await;
    // Hosts that could not be planned (unreachable, invalid) are tried
    // too, so they count against the budget; hosts already in their
    // desired state are not.
    let to_change: Vec<String> =
        planned.hosts.iter().filter(|h| h.action != Some(Action::None)).map(|h| h.host.clone()).collect();

    let probes_json = desired.fleet.health.probes_json();
    let ops = PoolOps {
        pool: &pool,
        commit: desired.commit.clone(),
        apply: ApplyOptions {
            agent: opts.agent.clone(),
            confirm: Some(ConfirmMode {
                within: desired.fleet.rollout.confirm_timeout.0,
                probes_json: probes_json.clone(),
            }),
            lease_owner: Some(owner.clone()),
        },
        collect: CollectOptions {
            status: schedfleet_proto::StatusRequest { probes_json, ..Default::default() },
            ..CollectOptions::default()
        },
        owner,
    };
    let timing = RolloutTiming { poll: opts.poll };
    let watcher = tokio::spawn({
        let cancel = cancel.clone();
        async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!(
                    "interrupted: no new hosts are started; hosts in their bake go back to their previous scheduler"
                );
                cancel.store(true, std::sync::atomic::Ordering::SeqCst);
            }
        }
    });
    let report = run::rollout(desired, &to_change, &ops, &journal, &timing, &cancel, progress).await;
    watcher.abort();
    let connections = pool.connections();
    tracing::debug!(?connections, "SSH connections per host in this run");
    pool.close().await;
    drop(lock);
    Ok(report?)
}

fn open_journal(desired: &DesiredState, resume: bool) -> Result<Journal> {
    if resume {
        if let Some(run_id) = journal::latest_run()? {
            let events = journal::read(&run_id)?;
            let point = journal::resume_point(&events);
            if !point.finished && point.commit == desired.commit {
                eprintln!("resuming run {run_id}: {} host(s) already confirmed", point.confirmed_hosts.len());
                return Ok(Journal::open(&run_id)?);
            }
            eprintln!("note: the latest run {run_id} is finished or of another commit; starting a new run");
        }
    }
    Ok(Journal::create(&desired.commit)?)
}
