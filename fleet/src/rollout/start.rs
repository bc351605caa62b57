//! Starting a rollout for real: the fleet lock, the plan that reads every
//! host's facts and renders its parameters before anything changes (a host
//! that does not render stops the run there, nothing touched), the journal, one pool of host sessions for the whole
//! run (plan, waves, bakes, confirms, rollbacks, lease releases), and
//! Ctrl-C.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;

use super::remote::PoolOps;
use super::run::{self, Progress, RolloutReport, RolloutTiming};
use crate::artifact::Artifact;
use crate::collect::{CollectOptions, Reach};
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
    let pool = host::ssh_pool(desired.hosts.iter().map(|s| &s.host), opts.parallel, opts.connect_timeout)?;
    // Render before change: every host's facts are read (read-only, without
    // an agent where it has none) and its parameters rendered before any
    // host is touched; one that does not render stops the run with nothing
    // changed anywhere (exit 2).
    let planned = plan::plan(&pool, desired, &CollectOptions::default()).await;
    if let Some(invalid) = render_errors(&planned) {
        pool.close().await;
        return Err(invalid.into());
    }
    let journal = open_journal(desired, opts.resume)?;
    lock.set_run_id(journal.run_id())?;
    // The owner's words already name the run (set just above).
    let owner = lock.owner().to_string();
    // Unreachable hosts are tried too, so they count against the budget;
    // hosts already in their desired state are not, nor (above) hosts whose
    // parameters do not render.
    let to_change: Vec<String> = planned
        .hosts
        .iter()
        .filter(|h| h.action != Some(Action::None) && h.reach != Reach::Invalid)
        .map(|h| h.host.clone())
        .collect();
    let rendered = planned.hosts.iter().filter_map(|h| Some((h.host.clone(), h.rendered.clone()?))).collect();

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
            rendered: std::sync::Arc::new(rendered),
        },
        collect: CollectOptions {
            status: schedfleet_proto::StatusRequest {
                probes_json,
                // The latency gate's cgroup: every look of the bake measures
                // the same tasks as the baseline before activation.
                cgroup: desired.fleet.health.latency.as_ref().and_then(|l| l.cgroup.clone()),
                ..Default::default()
            },
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

/// The hosts whose parameters do not render (or check) with their facts,
/// as one bad-input error; `None` when every planned host rendered.
fn render_errors(planned: &plan::PlanReport) -> Option<crate::BadInput> {
    let invalid: Vec<String> = planned
        .hosts
        .iter()
        .filter(|h| h.reach == Reach::Invalid)
        // Each reason names its host already.
        .map(|h| h.reason.clone())
        .collect();
    (!invalid.is_empty()).then(|| {
        crate::BadInput::new(format!(
            "{}\n{} host(s) cannot be planned (parameters that do not render with their facts, or a kernel outside the scheduler's `kernels:`); nothing was changed on any host",
            invalid.join("\n"),
            invalid.len()
        ))
    })
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::config::{placeholder_facts, Templates};
    use crate::host::memory::{MemoryHost, MemoryTransport};
    use crate::host::{Pool, RemoteOutput};

    /// A host with sched_ext, 2 CPUs and no agent: it answers the probe and
    /// the facts script, and nothing else is ever run.
    fn two_cpu_host(name: &str) -> MemoryHost {
        MemoryHost {
            respond: Arc::new(|program, args, _| {
                assert_eq!(program, "sh", "only read-only scripts reach a host without an agent");
                let out = if args[1].contains("cpu/online") {
                    "release 7.3.4\narch x86_64\nsched_ext 1\ncpus 0-1\nuid 0\n"
                } else {
                    "release 7.3.4\nsched_ext disabled\n"
                };
                RemoteOutput { code: Some(0), stdout: out.into(), stderr: String::new() }
            }),
            ..MemoryHost::healthy(name)
        }
    }

    #[tokio::test]
    async fn a_render_error_only_real_facts_reveal_is_bad_input_before_any_change() {
        let d = crate::testing::desired_with_params(2, "{{ 1000000 * 100 // (facts.cpus - 2) }}");
        assert!(d.hosts[0].render(&Templates::default(), &placeholder_facts()).is_ok(), "valid with placeholders");
        let transport = MemoryTransport::new([two_cpu_host("h01"), two_cpu_host("h02")]);
        let pool = Pool::new(transport.clone(), transport.targets(), 4);
        let planned = plan::plan(&pool, &d, &CollectOptions::default()).await;
        assert!(planned.hosts.iter().all(|h| h.reach == Reach::Invalid), "{:?}", planned.hosts);
        let err = render_errors(&planned).expect("exit 2").to_string();
        assert!(err.contains("host `h01`") && err.contains("host `h02`"), "{err}");
        assert!(err.contains("nothing was changed on any host"), "{err}");
        for h in ["h01", "h02"] {
            let ran = transport.commands(h);
            assert!(ran.iter().all(|c| c.starts_with("sh ")), "{ran:?}");
        }
    }
}
