//! The supervisor of one upstream scheduler binary
//! (`schedfleet-agent supervise --artifact HEX`): started detached by the
//! command that activates it, it runs the binary as its child and stays
//! with it until the agent stops it or it falls back.
//!
//! The child: the argv of the spec (never a shell), an environment of only
//! the declared variables, `PATH` and `LD_LIBRARY_PATH` (see
//! [`Launch::environment`]), `/dev/null` on stdin, stdout and stderr into
//! one pipe that a thread copies into the bounded log
//! (`logfile::RotatingLog`), and `PR_SET_PDEATHSIG` = SIGINT: should the
//! supervisor itself be killed, its scheduler stops too, so no scheduler
//! ever runs unsupervised.
//!
//! A start succeeds when the kernel shows `enabled` with an ops name the
//! spec matches within `start_timeout_ms`; the first start that fails
//! fails the activation (`Phase::Failed`) and nothing restarts. Every later
//! end is classified (`exit::classify`: the kernel log's ejection wins) and
//! the restart policy decides (`restart::RestartTracker`); past its cap the
//! supervisor falls back exactly like a failed unconfirmed activation
//! (`deadman::fallback`): the confirmed scheduler before it, else the
//! kernel's default, with the cause in `last_fallback`.
//!
//! Stop (SIGTERM, SIGINT or SIGHUP, which `switch::remove_ours` sends while
//! holding the state lock): SIGINT to the scheduler, wait until it has
//! exited and the kernel no longer runs it, SIGKILL after
//! [`launch::CHILD_STOP_TIMEOUT`].

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use schedfleet_proto::{ExitCause, Pending, ProcessExit, Supervised};
use serde::Serialize;

use super::exit::{self, WaitStatus};
use super::launch::{self, Launch};
use super::logfile::{self, RotatingLog};
use super::record::{self, Phase, Record};
use super::restart::{Decision, RestartTracker};
use crate::deadman::verdict::Reason;
use crate::deadman::{fallback, transition, watchdog};
use crate::error::{Failure, Result};
use crate::{log, sched, state};

/// How often the supervisor looks at its child and the kernel.
const TICK: Duration = Duration::from_millis(50);

/// A scheduler whose process lives on while the kernel has dropped it
/// this long is treated as ejected and stopped.
const DISABLED_GRACE: Duration = Duration::from_secs(5);

/// The supervisor's one JSON document (its stdout is `/dev/null`).
#[derive(Debug, Serialize)]
pub struct Supervise {
    pub ended: Phase,
}

/// Points stderr at the supervisor's log, with timestamps.
pub fn log_to_own_file() {
    let _ = state::ensure_dir(&record::dir());
    watchdog::log_to_own_file(&record::supervisor_log());
    log::with_timestamps();
}

pub fn run(artifact: &str) -> Result<Supervise> {
    log::info(&format!("supervisor starts for `{artifact}`"));
    watchdog::block_stop_signals();
    sched::libbpf_log::install();
    let launch: Launch = record::read_json(&record::launch_path())?;
    if launch.artifact != artifact {
        return Err(Failure::new(
            schedfleet_proto::ErrorKind::Internal,
            format!("the launch file is for `{}`, not `{artifact}`", launch.artifact),
        ));
    }
    let name = format!("scx_{}", launch.spec.ops_name);
    let mut rec = Record {
        artifact: artifact.to_owned(),
        phase: Phase::Starting,
        ops: None,
        enable_seq: None,
        error: None,
        supervised: Supervised {
            pid: None,
            supervisor_pid: std::process::id(),
            restarts: 0,
            started: None,
            last_exit: None,
            log: record::output_log(&launch.spec.ops_name).to_string_lossy().into_owned(),
            phase: None,
        },
    };
    save(&rec);
    log::info(&format!("supervising `{name}` ({artifact})"));
    let mut tracker = RestartTracker::new(launch.spec.restart.clone());
    let mut first = true;
    loop {
        rec.phase = Phase::Starting;
        save(&rec);
        let ended = match start(&launch, &mut rec, first) {
            Started::Up(child) => {
                if !first {
                    record_restart_in_state(&launch, &rec);
                }
                first = false;
                match watch(&launch, child, &mut rec) {
                    Some(exit) => exit,
                    None => return Ok(end(&mut rec, Phase::Stopped)),
                }
            }
            Started::Failed(exit) if first => {
                log::error(&format!("`{name}` did not come up: {}", exit::describe(&exit.cause)));
                rec.supervised.last_exit = Some(exit);
                return Ok(end(&mut rec, Phase::Failed));
            }
            Started::Failed(exit) => exit,
            Started::Refused(why) if first => {
                rec.error = Some(why);
                return Ok(end(&mut rec, Phase::Failed));
            }
            Started::Refused(why) => {
                rec.error = Some(why.clone());
                return Ok(give_up(&launch, &mut rec, format!("the binary cannot be started again: {why}")));
            }
            Started::StopRequested => return Ok(end(&mut rec, Phase::Stopped)),
        };
        log::info(&format!("`{name}` (pid {}) {}", ended.pid, exit::describe(&ended.cause)));
        let cause = exit::describe(&ended.cause);
        rec.supervised.last_exit = Some(ended);
        rec.supervised.pid = None;
        rec.supervised.started = None;
        rec.ops = None;
        match tracker.decide(monotonic_ms()) {
            Decision::RestartAfter(wait) => {
                rec.supervised.restarts = tracker.total;
                rec.phase = Phase::Restarting;
                save(&rec);
                log::info(&format!("restart {} in {} ms", tracker.total, wait.as_millis()));
                if watchdog::stop_requested(wait) {
                    return Ok(end(&mut rec, Phase::Stopped));
                }
            }
            Decision::GiveUp { restarts, window_secs } => {
                let why = format!(
                    "`{name}` {cause} after {restarts} restart(s) within {window_secs} s, past its restart policy"
                );
                return Ok(give_up(&launch, &mut rec, why));
            }
        }
    }
}

fn save(rec: &Record) {
    if let Err(e) = record::save(rec) {
        log::error(&format!("cannot write the supervisor's record: {}", e.message));
    }
}

fn end(rec: &mut Record, phase: Phase) -> Supervise {
    rec.phase = phase;
    rec.supervised.pid = None;
    rec.supervised.started = None;
    save(rec);
    log::info(&format!("supervisor ends: {phase:?}"));
    Supervise { ended: phase }
}

enum Started {
    Up(Child),
    Failed(ProcessExit),
    Refused(String),
    StopRequested,
}

fn start(launch: &Launch, rec: &mut Record, first: bool) -> Started {
    if !first {
        // The kernel may still be handing tasks back from the last one.
        let _ = sched::kernel::wait_until(sched::switch::DISABLE_TIMEOUT, |k| k.state == "disabled");
    }
    if let Err(e) = launch.verify() {
        return Started::Refused(e.message);
    }
    let log_path = record::output_log(&launch.spec.ops_name);
    let mut output = match RotatingLog::open(&log_path, logfile::MAX_BYTES) {
        Ok(log) => log,
        Err(e) => return Started::Refused(format!("cannot open its log `{}`: {e}", log_path.display())),
    };
    let (reader, writer) = match std::io::pipe() {
        Ok(pair) => pair,
        Err(e) => return Started::Refused(format!("cannot make a pipe: {e}")),
    };
    let writer2 = match writer.try_clone() {
        Ok(w) => w,
        Err(e) => return Started::Refused(format!("cannot make a pipe: {e}")),
    };
    let exe = launch.exec_path();
    let mut command = Command::new(&exe);
    command
        .args(&launch.spec.args)
        .env_clear()
        .envs(launch.environment())
        .stdin(Stdio::null())
        .stdout(Stdio::from(writer))
        .stderr(Stdio::from(writer2))
        .current_dir("/");
    let supervisor = std::process::id() as libc::pid_t;
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        command.pre_exec(move || {
            let mut none: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut none);
            libc::pthread_sigmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGINT as libc::c_ulong, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The supervisor died before the prctl: do not run unsupervised.
            if libc::getppid() != supervisor {
                libc::_exit(1);
            }
            Ok(())
        });
    }
    // The kernel sets `enabled` (and the ops name) a moment before it
    // counts the load in `enable_seq`: a start is up once both moved.
    let seq_before = sched::kernel::read().map_or(0, |k| k.enable_seq);
    let started_mono_us = monotonic_ms() * 1000;
    let _ = output.write(
        format!("--- schedfleet: starting {} {:?} at {} ---\n", exe.display(), launch.spec.args, state::unix_now())
            .as_bytes(),
    );
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => return Started::Refused(format!("cannot start `{}`: {e}", exe.display())),
    };
    drop(command);
    std::thread::spawn(move || logfile::pump(reader, &mut output));
    let pid = child.id();
    rec.supervised.pid = Some(pid);
    rec.supervised.started = Some(state::unix_now());
    save(rec);
    let limit = Duration::from_millis(launch.spec.start_timeout_ms);
    let began = Instant::now();
    loop {
        if watchdog::stop_requested(TICK) {
            stop_child(&mut child, None);
            return Started::StopRequested;
        }
        if let Some(status) = try_wait(&child) {
            return Started::Failed(exited(launch, pid, status, false, started_mono_us, None));
        }
        if let Ok(k) = sched::kernel::read() {
            if k.state == "enabled"
                && k.enable_seq > seq_before
                && k.ops.as_deref().is_some_and(|ops| launch.spec.ops_matches(ops))
            {
                log::info(&format!(
                    "`{}` enabled after {} ms (enable_seq {})",
                    k.ops.as_deref().unwrap_or(""),
                    began.elapsed().as_millis(),
                    k.enable_seq
                ));
                rec.ops = k.ops.clone();
                rec.enable_seq = Some(k.enable_seq);
                rec.phase = Phase::Running;
                rec.error = None;
                save(rec);
                return Started::Up(child);
            }
        }
        if began.elapsed() >= limit {
            let ops = sched::kernel::read().ok().and_then(|k| k.ops);
            stop_child(&mut child, ops.as_deref());
            return Started::Failed(ProcessExit {
                at: state::unix_now(),
                pid,
                cause: ExitCause::StartTimeout,
                log_tail: logfile::tail(&record::output_log(&launch.spec.ops_name), 20),
            });
        }
    }
}

/// Watches a running scheduler until it ends (`Some`) or the agent stops
/// it (`None`).
fn watch(launch: &Launch, mut child: Child, rec: &mut Record) -> Option<ProcessExit> {
    let pid = child.id();
    let started_mono_us = monotonic_ms().saturating_sub(TICK.as_millis() as u64) * 1000;
    let ops = rec.ops.clone().unwrap_or_default();
    let mut disabled_since: Option<Instant> = None;
    let mut last_check = Instant::now();
    loop {
        if watchdog::stop_requested(TICK) {
            stop_child(&mut child, Some(&ops));
            return None;
        }
        if let Some(status) = try_wait(&child) {
            return Some(exited(launch, pid, status, false, started_mono_us, Some(&ops)));
        }
        if last_check.elapsed() < Duration::from_millis(500) {
            continue;
        }
        last_check = Instant::now();
        let Ok(k) = sched::kernel::read() else { continue };
        let ours = k.state == "enabled" && k.ops.as_deref().is_some_and(|o| launch.spec.ops_matches(o));
        if ours && Some(k.enable_seq) != rec.enable_seq {
            // The scheduler re-attached by itself (scx binaries do on a CPU
            // hotplug): the same process under a new enable_seq.
            log::info(&format!("`{ops}` re-attached itself (enable_seq {})", k.enable_seq));
            rec.enable_seq = Some(k.enable_seq);
            rec.ops = k.ops.clone();
            save(rec);
            record_restart_in_state(launch, rec);
        }
        if ours {
            disabled_since = None;
        } else if disabled_since.get_or_insert_with(Instant::now).elapsed() >= DISABLED_GRACE {
            log::info(&format!(
                "the kernel no longer runs `{ops}` (sched_ext `{}`) but its process lives: stopping it",
                k.state
            ));
            let status = stop_child(&mut child, Some(&ops));
            let disable = sched::kernel::last_disable_of(&ops);
            let mut cause = exit::classify(status, false, disable.as_ref());
            if matches!(cause, ExitCause::Exited { .. } | ExitCause::Signaled { .. }) {
                cause = ExitCause::Ejected { reason: format!("sched_ext `{}` while the process lived", k.state) };
            }
            return Some(ProcessExit {
                at: state::unix_now(),
                pid,
                cause,
                log_tail: logfile::tail(&record::output_log(&launch.spec.ops_name), 20),
            });
        }
    }
}

fn try_wait(child: &Child) -> Option<WaitStatus> {
    let mut status: libc::c_int = 0;
    // SAFETY: waitpid on our own child with a valid status pointer.
    let got = unsafe { libc::waitpid(child.id() as libc::pid_t, &mut status, libc::WNOHANG) };
    if got == child.id() as libc::pid_t {
        WaitStatus::from_raw(status)
    } else {
        None
    }
}

fn wait_blocking(child: &Child) -> WaitStatus {
    let mut status: libc::c_int = 0;
    loop {
        // SAFETY: as in `try_wait`.
        let got = unsafe { libc::waitpid(child.id() as libc::pid_t, &mut status, 0) };
        if got == child.id() as libc::pid_t {
            if let Some(s) = WaitStatus::from_raw(status) {
                return s;
            }
        } else if got < 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return WaitStatus::Signaled(libc::SIGKILL);
        }
    }
}

/// SIGINT, then wait until the process has exited and the kernel no
/// longer runs `ops`; SIGKILL past [`launch::CHILD_STOP_TIMEOUT`].
fn stop_child(child: &mut Child, ops: Option<&str>) -> WaitStatus {
    let pid = child.id() as libc::pid_t;
    // SAFETY: our own child, not yet reaped.
    unsafe { libc::kill(pid, libc::SIGINT) };
    let until = Instant::now() + launch::CHILD_STOP_TIMEOUT;
    let mut status = None;
    while Instant::now() < until {
        if status.is_none() {
            status = try_wait(child);
        }
        let kernel_done = sched::kernel::read().map_or(true, |k| k.state == "disabled" || k.ops.as_deref() != ops);
        if status.is_some() && (ops.is_none() || kernel_done) {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = match status {
        Some(s) => s,
        None => {
            log::info(&format!("pid {pid} did not leave within {:?} of SIGINT: SIGKILL", launch::CHILD_STOP_TIMEOUT));
            // SAFETY: as above.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            wait_blocking(child)
        }
    };
    let _ = sched::kernel::wait_until(sched::switch::DISABLE_TIMEOUT, |k| k.state == "disabled");
    log::info(&format!("stopped pid {pid}"));
    status
}

fn exited(
    launch: &Launch,
    pid: u32,
    status: WaitStatus,
    stopping: bool,
    started_mono_us: u64,
    ops: Option<&str>,
) -> ProcessExit {
    // The kernel logs a disable a moment after the process has gone.
    let disable = ops.and_then(|ops| {
        let until = Instant::now() + Duration::from_millis(500);
        loop {
            let found = sched::kernel::last_disable_of(ops)
                .filter(|e| e.kernel_time_us.is_none_or(|t| t + 500_000 >= started_mono_us));
            if found.is_some() || Instant::now() >= until {
                return found;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    ProcessExit {
        at: state::unix_now(),
        pid,
        cause: exit::classify(status, stopping, disable.as_ref()),
        log_tail: logfile::tail(&record::output_log(&launch.spec.ops_name), 20),
    }
}

/// A restart changed the kernel's `enable_seq`: the state file follows, so
/// that `kernel_agrees`, the watchdog and `confirm` see the same scheduler
/// (see the module `scx`).
fn record_restart_in_state(launch: &Launch, rec: &Record) {
    let (Some(seq), Some(ops)) = (rec.enable_seq, rec.ops.clone()) else { return };
    let Some(_lock) = watchdog::lock_unless_stopped() else { return };
    let Ok(mut st) = state::load() else { return };
    if !transition::record_restart(&mut st, &launch.artifact, &ops, seq) {
        return;
    }
    if let Err(e) = state::save(&st) {
        log::error(&format!("cannot record the restart in the state: {}", e.message));
    }
}

/// Past the restart cap (or a restart that cannot even be tried): fall back
/// like a failed activation, under the state lock.
fn give_up(launch: &Launch, rec: &mut Record, why: String) -> Supervise {
    log::error(&format!("giving up: {why}"));
    let result = end(rec, Phase::GaveUp);
    let noticed = Instant::now();
    let Some(_lock) = watchdog::lock_unless_stopped() else { return result };
    let mut st = match state::load() {
        Ok(st) => st,
        Err(e) => {
            log::error(&format!("cannot read the state to fall back: {}", e.message));
            return result;
        }
    };
    let Some(active) = st.active.clone().filter(|a| a.artifact == launch.artifact && a.binary.is_some()) else {
        log::info("the state no longer records this scheduler active: nothing to fall back from");
        return result;
    };
    // An unconfirmed activation returns to the confirmed position under
    // it; a confirmed one to the confirmed scheduler before it.
    let pending = match st.pending.clone().filter(|p| p.artifact == launch.artifact) {
        Some(p) => p,
        None => Pending {
            artifact: active.artifact.clone(),
            ops: active.ops.clone(),
            enable_seq: active.enable_seq,
            deadline: 0,
            confirm_within: 0,
            previous: st.previous_confirmed.clone(),
            watchdog_pid: 0,
        },
    };
    let fb = fallback::fall_back(&mut st, &pending, &Reason::RestartsExhausted { detail: why }, None, noticed);
    if let Err(e) = state::save(&st) {
        log::error(&format!("cannot record the fallback: {}", e.message));
    }
    // Its watchdog sees the activation replaced and leaves by itself.
    log::info(&format!("fell back to {}", fb.to));
    result
}

fn monotonic_ms() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: a valid timespec pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1000 + ts.tv_nsec as u64 / 1_000_000
}
