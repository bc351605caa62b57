//! `status`: what the kernel runs, what the agent believes it loaded, and
//! whether the two agree; then the host's health report (wake-up latency,
//! CPU pressure, load, reloads since the previous report, the last ejection,
//! GPUs, and the operator's user probes).
//!
//! The first part also carries the rollout's view of the host: an
//! activation waiting for `confirm` (and whether its watchdog lives), the
//! scheduler `rollback` would return to, the last fallback, and the lease.
//!
//! An interrupted change of scheduler (its agent killed mid-way) is undone
//! before the report, when no live command holds the state lock.
//!
//! Only the first part can fail the command: a host without sched_ext is
//! still refused with `no_sched_ext`, as before the health report, so callers
//! that use `status` as a sched_ext check keep working. Every health field is
//! best effort and is left out, or carries its own error, when the host
//! cannot say; a user probe that fails is a result, not an error.

use schedfleet_proto::Status;

use crate::cli::StatusArgs;
use crate::deadman::process;
use crate::error::Result;
use crate::{health, lease, log, sched, state};

pub fn run(args: StatusArgs) -> Result<Status> {
    // Fails at once on a host without sched_ext, before any window.
    sched::kernel::read()?;
    recover_if_interrupted()?;
    // User probes run alongside the window, each bounded by its own
    // timeout, so they add nothing to the report beyond the longest one.
    let probes = health::user_probe::start(args.probes);
    // The window comes first so that everything below describes its end: a
    // scheduler ejected during the window shows as ejected.
    let latency =
        (args.latency_window_ms > 0).then(|| health::latency::measure(args.latency_window_ms, args.cgroup.as_deref()));
    let probes = probes.finish();
    let kernel = sched::kernel::read()?;
    let st = state::load()?;
    let kernel_agrees = sched::kernel::agrees(&kernel, st.active.as_ref());
    let enable_seq_changed_since_last_report = health::last_report::exchange(kernel.enable_seq);
    let watchdog_running = st.pending.as_ref().map(|p| process::is_watchdog(p.watchdog_pid, &p.artifact));
    let (supervised, scx_stats, scx_stats_error) = binary_report(st.active.as_ref(), &kernel);
    Ok(Status {
        agent_version: env!("CARGO_PKG_VERSION").to_owned(),
        kernel,
        active: st.active,
        kernel_agrees,
        pending: st.pending,
        watchdog_running,
        previous_confirmed: st.previous_confirmed,
        last_fallback: st.last_fallback,
        lease: lease::current(&state::root(), state::unix_now()),
        latency,
        pressure: health::pressure::read(),
        loadavg: health::load::loadavg(),
        runnable: health::load::runnable(),
        enable_seq_changed_since_last_report,
        last_ejection: sched::kernel::last_ejection(),
        gpu: health::gpu::read(),
        probes,
        supervised,
        scx_stats,
        scx_stats_error,
    })
}

/// The supervised process of an active binary, and what its scx_stats
/// server says (bounded by `stats::TIMEOUT`, so a slow or dead server never
/// holds the report up). A binary that serves no statistics (no socket)
/// has neither stats nor an error.
fn binary_report(
    active: Option<&schedfleet_proto::ActiveScheduler>,
    kernel: &schedfleet_proto::KernelSchedExt,
) -> (Option<schedfleet_proto::Supervised>, Option<serde_json::Value>, Option<String>) {
    use crate::scx::{launch, record, stats};
    let Some(active) = active.filter(|a| a.binary.is_some()) else { return (None, None, None) };
    let supervised = record::load().filter(|r| r.artifact == active.artifact).map(|r| {
        let alive = process::is_agent(r.supervised.supervisor_pid, launch::VERB, Some(&r.artifact));
        let phase = serde_json::to_value(r.phase).ok().and_then(|v| v.as_str().map(str::to_owned));
        let mut s = r.supervised;
        s.phase = if alive { phase } else { Some("gone".into()) };
        if !alive {
            s.pid = None;
            s.started = None;
        }
        s
    });
    let socket = std::path::Path::new(stats::SOCKET);
    if kernel.state != "enabled" || !socket.exists() {
        return (supervised, None, None);
    }
    match stats::query(socket, stats::TIMEOUT) {
        Ok(v) => (supervised, Some(v), None),
        Err(e) => (supervised, None, Some(e)),
    }
}

/// A change of scheduler an agent killed mid-way left is undone here too,
/// so the report that follows describes a finished state (see
/// `deadman::recover`). Only when the state lock is free: a live command
/// holding it finishes its own change.
fn recover_if_interrupted() -> Result<()> {
    if state::load().map_or(true, |st| st.intent.is_none()) {
        return Ok(());
    }
    let Some(_lock) = state::FileLock::try_acquire(&state::state_lock_file())? else {
        log::info("a change of scheduler is under way; reporting without waiting for it");
        return Ok(());
    };
    let mut st = state::load()?;
    crate::deadman::recover::recover(&mut st)?;
    Ok(())
}
