//! The watchdog of one unconfirmed activation (`schedfleet-agent watch`):
//! the host-local half of the dead-man switch, so a host falls back even
//! when the controller that activated it is gone.
//!
//! Every watch interval it reads the kernel's state and compares it with
//! the activation ([`watchdog_verdict`]: enabled, same ops, same
//! `enable_seq`, deadline); every probe interval it runs the user probes on
//! a thread of their own, so a slow probe never delays the kernel checks.
//! On the first failure it takes the state lock, makes sure the activation
//! is still the pending one, falls back ([`fallback::fall_back`]) and exits.
//! It fails closed: a state file it cannot read when it starts or must fall
//! back means the kernel's default scheduler. Started by an agent that was
//! killed before it recorded the activation (the intent is there, the
//! pending record is not), it undoes the change itself
//! (`deadman::recover`). It exits quietly when the state file shows the
//! activation confirmed or replaced, and on SIGTERM (which `confirm`, `activate`, `rollback` and
//! `deactivate` send while they hold the state lock, so never in the middle
//! of a fallback).
//!
//! Signals are blocked and waited for (`sigtimedwait`) rather than handled:
//! the waits between checks end at once on SIGTERM, a fallback is never
//! interrupted, and the probe threads inherit the mask.

use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::time::{Duration, Instant};

use schedfleet_proto::{AgentState, Fallback, Pending, ProbeResult};
use serde::Serialize;

use super::fallback;
use super::verdict::{defer_to_supervisor, probe_verdict, watchdog_verdict, Reason};
use crate::cli::WatchArgs;
use crate::error::Result;
use crate::health::user_probe::{self, Probe};
use crate::log;
use crate::sched::switch::Ready;
use crate::sched::{self, switch};
use crate::state::{self, FileLock};

/// The log is kept whole up to this size, then moved to `watchdog.log.1`.
const LOG_ROTATE_BYTES: u64 = 1 << 20;

/// How the watchdog ended, its one JSON document (its stdout is
/// `/dev/null` when the agent starts it; people running it by hand see it).
#[derive(Debug, Serialize)]
pub struct Watched {
    /// `confirmed`, `replaced`, `stopped`, `fell_back` or `recovered`.
    pub ended: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback: Option<Fallback>,
}

impl Watched {
    fn ended(ended: &'static str) -> Watched {
        log::info(&format!("watchdog ends: {ended}"));
        Watched { ended, fallback: None }
    }
}

pub fn run(args: WatchArgs) -> Result<Watched> {
    log_to_own_file(&state::root().join("watchdog.log"));
    log::with_timestamps();
    block_stop_signals();
    sched::libbpf_log::install();
    log::info(&format!(
        "watchdog for `{}` (enable_seq {}) starts: kernel every {} ms, {} probe(s) every {} ms",
        args.artifact,
        args.enable_seq,
        args.watch_interval_ms,
        args.probes.len(),
        args.probe_interval_ms
    ));

    // `activate` holds the state lock until the pending record (with this
    // process's pid) is written: wait for it.
    let Some(lock) = lock_unless_stopped() else { return Ok(Watched::ended("stopped")) };
    let mut st = match state::load() {
        Ok(st) => st,
        Err(e) => return fall_back_blind(&args, &e.message),
    };
    let mut pending = match still_pending(&st, &args) {
        Ok(pending) => pending,
        // The agent that started this watchdog was killed before it
        // recorded the activation: nothing else would undo it.
        Err(_) if st.intent.as_ref().is_some_and(|i| i.artifact == args.artifact) => {
            let fallback = super::recover::recover(&mut st)?;
            log::info("watchdog ends: undid the interrupted activation");
            return Ok(Watched { ended: "recovered", fallback });
        }
        Err(ended) => return Ok(Watched::ended(ended)),
    };
    let mut binary = st.active.as_ref().is_some_and(|a| a.binary.is_some());
    drop(lock);
    log::info(&format!(
        "deadline {} (Unix seconds); falls back to {}",
        pending.deadline,
        pending.previous.as_ref().map_or("the kernel default".into(), |p| format!("previous `{}`", p.ops))
    ));

    // Verified by the kernel now, so that a fallback only attaches it.
    let mut preloaded = pending.previous.as_ref().map(|previous| {
        let started = Instant::now();
        let loaded = switch::load_stored(previous);
        match &loaded {
            Ok(_) => log::info(&format!("previous `{}` loaded in {} ms", previous.ops, started.elapsed().as_millis())),
            Err(e) => log::error(&format!("cannot load previous `{}`: {}", previous.ops, e.message)),
        }
        loaded
    });

    let interval = Duration::from_millis(args.watch_interval_ms);
    let probe_interval = Duration::from_millis(args.probe_interval_ms);
    let mut next_probes = Instant::now() + probe_interval;
    let mut round: Option<Receiver<Vec<ProbeResult>>> = None;
    loop {
        if stop_requested(Duration::ZERO) {
            return Ok(Watched::ended("stopped"));
        }
        match state::load() {
            // The record is read again each time: a supervised binary's
            // restart moves its `enable_seq` (see the module `scx`).
            Ok(st) => match still_pending(&st, &args) {
                Ok(p) => {
                    pending = p;
                    binary = st.active.as_ref().is_some_and(|a| a.binary.is_some());
                }
                Err(ended) => return Ok(Watched::ended(ended)),
            },
            Err(e) => log::error(&format!("cannot read the state: {}", e.message)),
        }
        // sched_ext's files do not go away; should a read fail anyway, the
        // next tick reads again (the deadline still comes).
        let mut verdict = match sched::kernel::read() {
            Ok(kernel) => watchdog_verdict(&kernel, &pending, state::unix_now()),
            Err(e) => {
                log::error(&format!("cannot read the kernel's state: {}", e.message));
                (state::unix_now() >= pending.deadline)
                    .then_some(Reason::NotConfirmed { within: pending.confirm_within })
            }
        };
        // A supervised binary between two starts, or just restarted: its
        // supervisor decides (restart policy, fallback past the cap) while
        // it lives.
        if binary
            && defer_to_supervisor(
                verdict.as_ref(),
                binary,
                crate::scx::launch::running_supervisor().is_some_and(|(_, r)| r.artifact == args.artifact),
            )
        {
            verdict = None;
        }
        if verdict.is_none() {
            if let Some(results) = round.as_ref().and_then(finished) {
                round = None;
                verdict = probe_verdict(&results);
                if verdict.is_none() {
                    log::debug(&format!("{} probe(s) passed", results.len()));
                }
            }
        }
        if let Some(reason) = verdict {
            let noticed = Instant::now();
            log::info(&format!("failure noticed: {}", reason.noticed()));
            return fall_back(&args, &reason, preloaded.take(), noticed);
        }
        if round.is_none() && !args.probes.is_empty() && Instant::now() >= next_probes {
            round = Some(start_round(args.probes.clone()));
            next_probes = Instant::now() + probe_interval;
        }
        let to_deadline = Duration::from_millis((pending.deadline * 1000).saturating_sub(unix_now_ms()));
        if stop_requested(interval.min(to_deadline)) {
            return Ok(Watched::ended("stopped"));
        }
    }
}

/// The pending activation this watchdog watches, or how it ended.
fn still_pending(st: &AgentState, args: &WatchArgs) -> std::result::Result<Pending, &'static str> {
    match &st.pending {
        Some(p)
            if p.artifact == args.artifact
                && (p.enable_seq == args.enable_seq || p.watchdog_pid == std::process::id()) =>
        {
            Ok(p.clone())
        }
        _ => {
            let confirmed = st
                .active
                .as_ref()
                .is_some_and(|a| a.artifact == args.artifact && a.enable_seq == args.enable_seq && a.confirmed);
            Err(if confirmed { "confirmed" } else { "replaced" })
        }
    }
}

fn fall_back(args: &WatchArgs, reason: &Reason, preloaded: Option<Result<Ready>>, noticed: Instant) -> Result<Watched> {
    let Some(_lock) = lock_unless_stopped() else { return Ok(Watched::ended("stopped")) };
    // Under the lock, the state is the truth: a `confirm` or a new
    // `activate` that came first wins.
    let mut st = match state::load() {
        Ok(st) => st,
        Err(e) => return fall_back_blind(args, &e.message),
    };
    let pending = match still_pending(&st, args) {
        Ok(pending) => pending,
        Err(ended) => return Ok(Watched::ended(ended)),
    };
    let fallback = fallback::fall_back(&mut st, &pending, reason, preloaded, noticed);
    state::save(&st)?;
    log::info("watchdog ends: fell back");
    Ok(Watched { ended: "fell_back", fallback: Some(fallback) })
}

/// Fails closed: the state file cannot be read, so nothing says whether the
/// activation was confirmed or what to return to. The scheduler is removed
/// (the host runs the kernel's default), the unreadable file is kept beside
/// as `state.json.unreadable-<time>` for people, and a new state records
/// the fallback. Callers hold the state lock.
fn fall_back_blind(args: &WatchArgs, error: &str) -> Result<Watched> {
    let started = Instant::now();
    log::error(&format!("cannot read the state ({error}): falling back to the kernel's default scheduler"));
    let ops = sched::kernel::read().ok().and_then(|k| k.ops).unwrap_or_default();
    let (to, restore_error) = match switch::remove_ours() {
        Ok(_) => ("kernel default".to_owned(), None),
        Err(e) => (format!("left alone: `{ops}`"), Some(e.message)),
    };
    let file = state::root().join("state.json");
    let kept = file.with_extension(format!("json.unreadable-{}", state::unix_now()));
    if std::fs::rename(&file, &kept).is_ok() {
        log::info(&format!("kept the unreadable state as `{}`", kept.display()));
    }
    let fallback = Fallback {
        at: state::unix_now(),
        from_ops: ops,
        from_artifact: args.artifact.clone(),
        to,
        reason: format!("the state file could not be read ({error}); fell back to the kernel's default"),
        took_ms: started.elapsed().as_millis() as u64,
        restore_error,
    };
    let st = AgentState { last_fallback: Some(fallback.clone()), ..Default::default() };
    if let Err(e) = state::save(&st) {
        log::error(&format!("cannot record the fallback: {}", e.message));
    }
    log::info("watchdog ends: fell back (state unreadable)");
    Ok(Watched { ended: "fell_back", fallback: Some(fallback) })
}

fn start_round(probes: Vec<Probe>) -> Receiver<Vec<ProbeResult>> {
    let (tx, rx) = mpsc::channel();
    let spawned = std::thread::Builder::new().name("probe round".into()).spawn(move || {
        let _ = tx.send(user_probe::start(probes).finish());
    });
    if let Err(e) = spawned {
        log::error(&format!("cannot start a probe round: {e}"));
    }
    rx
}

/// The results of a finished round; a round whose thread died counts as
/// finished with no results (the next round runs them again).
fn finished(round: &Receiver<Vec<ProbeResult>>) -> Option<Vec<ProbeResult>> {
    match round.try_recv() {
        Ok(results) => Some(results),
        Err(TryRecvError::Empty) => None,
        Err(TryRecvError::Disconnected) => Some(Vec::new()),
    }
}

/// Takes the state lock, giving up when asked to stop meanwhile.
pub fn lock_unless_stopped() -> Option<FileLock> {
    loop {
        match FileLock::try_acquire(&state::state_lock_file()) {
            Ok(Some(lock)) => return Some(lock),
            Ok(None) => {}
            Err(e) => log::error(&format!("cannot take the state lock: {}", e.message)),
        }
        if stop_requested(Duration::from_millis(5)) {
            return None;
        }
    }
}

fn unix_now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

fn stop_signals() -> libc::sigset_t {
    // SAFETY: sigemptyset and sigaddset initialise the set they are given.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for signal in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
            libc::sigaddset(&mut set, signal);
        }
        set
    }
}

/// Blocks SIGTERM, SIGINT and SIGHUP in this thread and every thread it
/// starts; [`stop_requested`] takes them.
pub fn block_stop_signals() {
    let set = stop_signals();
    // SAFETY: `set` is initialised; the old mask is not wanted.
    unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
}

/// Waits up to `timeout` for a stop signal; true when one came.
pub fn stop_requested(timeout: Duration) -> bool {
    let set = stop_signals();
    let ts = libc::timespec { tv_sec: timeout.as_secs() as libc::time_t, tv_nsec: timeout.subsec_nanos() as _ };
    loop {
        // SAFETY: all pointers are to live, initialised values.
        let signal = unsafe { libc::sigtimedwait(&set, std::ptr::null_mut(), &ts) };
        if signal > 0 {
            log::info(&format!("signal {signal} received"));
            return true;
        }
        // EINTR (another signal) waits again, at most once more per
        // unrelated signal; EAGAIN is the timeout.
        if std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return false;
        }
    }
}

/// Points stderr at `path` (`<root>/watchdog.log` for the watchdog;
/// appended, rotated once past [`LOG_ROTATE_BYTES`]); stays `/dev/null`
/// when the file cannot be opened.
pub fn log_to_own_file(path: &std::path::Path) {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::OpenOptionsExt;
    if std::fs::metadata(path).is_ok_and(|m| m.len() > LOG_ROTATE_BYTES) {
        let _ = std::fs::rename(path, path.with_extension("log.1"));
    }
    let file = std::fs::OpenOptions::new().create(true).append(true).mode(0o600).open(path);
    if let Ok(file) = file {
        // SAFETY: dup2 onto stderr; `file` stays open until the call returns.
        unsafe { libc::dup2(file.as_raw_fd(), libc::STDERR_FILENO) };
    }
}
