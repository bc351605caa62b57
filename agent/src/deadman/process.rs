//! The watchdog as a process: started detached from the command that
//! activates, found again by its pid, and stopped.
//!
//! It is the agent itself (`/proc/self/exe`, so the very binary that
//! activated, even if a newer agent has been pushed since) run as
//! `schedfleet-agent watch ...`, double forked with a `setsid` in between:
//! it belongs to no SSH session and no terminal, is reparented to init, and
//! survives the controller's connection. Its stdio is `/dev/null`; it logs
//! to its own file. Nothing here needs systemd, and nothing here keeps the
//! scheduler attached (the pin does, see `sched::link`).
//!
//! A pid from the state file may be stale and reused, so before signalling
//! it `/proc/PID/cmdline` must read as our `watch` for the expected
//! artifact. A zombie (its parent, init, has not reaped it yet) has an empty
//! cmdline and counts as gone.

use std::ffi::OsString;
use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use schedfleet_proto::ErrorKind;

use crate::error::{Failure, Result};
use crate::log;

/// `argv[0]` of every watchdog, what the `/proc` check looks for.
pub const ARGV0: &str = "schedfleet-agent";

/// How long a watchdog gets to leave after SIGTERM before SIGKILL: it looks
/// for the signal between any two steps, the longest of which is loading
/// the previous scheduler when it starts (seconds under emulation).
const TERM_GRACE: Duration = Duration::from_secs(5);

/// Starts `schedfleet-agent watch <args>` detached; returns its pid once it
/// runs (its `exec` succeeded).
pub fn spawn(args: &[OsString]) -> Result<u32> {
    spawn_agent("watch", "the watchdog", args)
}

/// Starts `schedfleet-agent <verb> <args>` detached, the same way (the
/// watchdog, or the supervisor of an upstream scheduler binary, see
/// `scx::supervisor`); `what` names it in errors.
pub fn spawn_agent(verb: &str, what: &str, args: &[OsString]) -> Result<u32> {
    let failed = |step: &str, e: std::io::Error| {
        Failure::new(ErrorKind::Internal, format!("failed to start {what} ({step}): {e}"))
    };
    let (mut pid_reader, pid_writer) = std::io::pipe().map_err(|e| failed("pipe", e))?;
    let pid_fd = pid_writer.as_raw_fd();
    let mut command = Command::new("/proc/self/exe");
    command
        .arg0(ARGV0)
        .arg(verb)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .current_dir("/");
    // SAFETY: between fork and exec only async-signal-safe calls (setsid,
    // fork, write, _exit) run, and nothing is allocated.
    unsafe {
        command.pre_exec(move || {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            match libc::fork() {
                -1 => Err(std::io::Error::last_os_error()),
                // The grandchild goes on to exec the watchdog.
                0 => Ok(()),
                grandchild => {
                    let bytes = grandchild.to_ne_bytes();
                    libc::write(pid_fd, bytes.as_ptr().cast(), bytes.len());
                    libc::_exit(0)
                }
            }
        });
    }
    // Returns once the grandchild has exec'd: std's own close-on-exec pipe
    // stays open in both children until then, and carries the exec error.
    let mut middle = command.spawn().map_err(|e| failed("exec", e))?;
    let _ = middle.wait();
    drop(command);
    drop(pid_writer);
    let mut bytes = [0u8; std::mem::size_of::<libc::pid_t>()];
    pid_reader.read_exact(&mut bytes).map_err(|e| failed("reading its pid", e))?;
    let pid = libc::pid_t::from_ne_bytes(bytes);
    u32::try_from(pid).map_err(|_| Failure::new(ErrorKind::Internal, format!("the pid {pid} of {what} is invalid")))
}

/// Whether `cmdline` (NUL-separated, as in `/proc/PID/cmdline`) is our
/// watchdog for `artifact`.
#[cfg(test)]
pub fn is_watchdog_cmdline(cmdline: &[u8], artifact: &str) -> bool {
    is_agent_cmdline(cmdline, "watch", Some(artifact))
}

/// Whether `cmdline` is `schedfleet-agent <verb> ... --artifact <artifact>`
/// (any artifact with `None`).
pub fn is_agent_cmdline(cmdline: &[u8], verb: &str, artifact: Option<&str>) -> bool {
    let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
    let program = args.first().map(|a| a.rsplit(|&b| b == b'/').next().unwrap_or(a));
    program == Some(ARGV0.as_bytes())
        && args.get(1) == Some(&verb.as_bytes())
        && artifact.is_none_or(|artifact| args.windows(2).any(|w| w[0] == b"--artifact" && w[1] == artifact.as_bytes()))
}

/// Whether `pid` is a live watchdog of ours for `artifact`.
pub fn is_watchdog(pid: u32, artifact: &str) -> bool {
    is_agent(pid, "watch", Some(artifact))
}

/// Whether `pid` is a live `schedfleet-agent <verb>` (for `artifact`).
pub fn is_agent(pid: u32, verb: &str, artifact: Option<&str>) -> bool {
    pid != 0 && std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| is_agent_cmdline(&c, verb, artifact))
}

/// How stopping a watchdog went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// It was not running (or the pid is someone else's now).
    NotRunning,
    /// It left after SIGTERM.
    Terminated,
    /// It had to be killed.
    Killed,
}

/// Stops the watchdog `pid` of `artifact`, if that is what the pid is, and
/// waits until it is gone. Callers hold the state lock, so the watchdog is
/// never in the middle of a fallback when it is signalled.
pub fn stop(pid: u32, artifact: &str) -> Stopped {
    stop_agent(pid, "watch", artifact, TERM_GRACE)
}

/// Stops `schedfleet-agent <verb>` of `artifact` at `pid` (SIGTERM, then
/// SIGKILL after `grace`) and waits until it is gone.
pub fn stop_agent(pid: u32, verb: &str, artifact: &str, grace: Duration) -> Stopped {
    let alive = || is_agent(pid, verb, Some(artifact));
    if !alive() {
        return Stopped::NotRunning;
    }
    let gone_within = |signal: libc::c_int, wait: Duration| {
        // SAFETY: kill has no memory-safety preconditions; the pid was
        // checked to be our process just before.
        unsafe { libc::kill(pid as libc::pid_t, signal) };
        let until = Instant::now() + wait;
        while Instant::now() < until {
            if !alive() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        !alive()
    };
    if gone_within(libc::SIGTERM, grace) {
        log::info(&format!("stopped the {verb} process (pid {pid})"));
        return Stopped::Terminated;
    }
    gone_within(libc::SIGKILL, Duration::from_secs(2));
    log::info(&format!("killed the {verb} process (pid {pid}), it did not leave after SIGTERM"));
    Stopped::Killed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_our_watch_for_the_artifact_matches() {
        let a = "ab".repeat(32);
        let ours = format!("/var/lib/schedfleet/store/x/{ARGV0}\0watch\0--artifact\0{a}\0--enable-seq\03\0");
        assert!(is_watchdog_cmdline(ours.as_bytes(), &a));
        assert!(is_watchdog_cmdline(format!("{ARGV0}\0watch\0--artifact\0{a}").as_bytes(), &a));
        assert!(!is_watchdog_cmdline(ours.as_bytes(), &"cd".repeat(32)), "another artifact");
        assert!(!is_watchdog_cmdline(format!("{ARGV0}\0status\0--artifact\0{a}").as_bytes(), &a));
        assert!(!is_watchdog_cmdline(format!("bash\0watch\0--artifact\0{a}").as_bytes(), &a));
        assert!(!is_watchdog_cmdline(b"", &a), "a zombie has an empty cmdline");
    }

    #[test]
    fn this_process_is_not_a_watchdog_and_pid_zero_never_is() {
        assert!(!is_watchdog(std::process::id(), "x"));
        assert!(!is_watchdog(0, "x"));
        assert_eq!(stop(0, "x"), Stopped::NotRunning);
    }
}
