//! The command probe: a program run directly (never through a shell), with
//! stdin from `/dev/null` and stdout and stderr into one pipe, passing when
//! it exits with status 0 before its timeout.
//!
//! The child is made the leader of a new process group, and when the
//! timeout passes the whole group is killed (SIGKILL), so a probe that is a
//! script leaves no stragglers behind it either. A child also dies with the
//! agent's thread that started it (`PR_SET_PDEATHSIG`), so an agent killed
//! mid-report (the SSH session dropped) does not leave probes running.
//!
//! Only the end of the output is kept (the last [`TAIL_BYTES`], stdout and
//! stderr interleaved as written): that is where errors are. The probe waits
//! for the child, not for the pipe: a child that exits while something it
//! started in the background keeps the pipe open is done when it exits.

use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::run::Outcome;

/// How much of the output `detail` keeps.
pub const TAIL_BYTES: usize = 300;

/// The longest between two looks at a child that writes nothing; the first
/// looks come sooner, so quick commands report quickly.
const MAX_TICK: Duration = Duration::from_millis(20);

/// Runs `argv` (its first element is the program, found through `PATH` when
/// it has no `/`) for at most `timeout`.
pub fn run(argv: &[String], timeout: Duration) -> Outcome {
    let deadline = Instant::now() + timeout;
    let program = &argv[0];
    let pipe = std::io::pipe().and_then(|(reader, writer)| Ok((reader, writer.try_clone()?, writer)));
    let (reader, stdout, stderr) = match pipe {
        Ok(ends) => ends,
        Err(e) => return Outcome::failed(format!("failed to create a pipe for `{program}`: {e}")),
    };
    let mut command = Command::new(program);
    command.args(&argv[1..]).stdin(Stdio::null()).stdout(stdout).stderr(stderr).process_group(0);
    // SAFETY: prctl is async-signal-safe and touches nothing of the parent.
    unsafe {
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let spawned = command.spawn();
    // The command holds copies of the pipe's write ends until it is dropped;
    // the reader sees the end of the output only once the child's copies are
    // the last ones open.
    drop(command);
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => return Outcome::failed(format!("failed to start `{program}`: {e}")),
    };

    let mut output = Tail::default();
    let mut pipe_open = true;
    let mut tick = Duration::from_millis(1);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Ok(status),
            Ok(None) => {}
            Err(e) => {
                kill_group(&mut child);
                break Err(format!("failed to wait for `{program}`: {e}"));
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            kill_group(&mut child);
            break Err(format!("timed out after {} ms, killed", timeout.as_millis()));
        }
        // Output wakes this up at once, and so does the end of the output,
        // which usually is the child's exit; the tick only bounds how late
        // an exit is seen while something else keeps the pipe open.
        let wait = tick.min(left);
        if pipe_open {
            pipe_open = read_ready(&reader, &mut output, wait) != Pipe::Closed;
        } else {
            std::thread::sleep(wait);
        }
        tick = (tick * 2).min(MAX_TICK);
    };
    // What the child wrote before it ended is in the pipe; take it, but do
    // not wait for whatever it left running in the background (and stop at
    // a bound should that keep writing).
    for _ in 0..64 {
        if !pipe_open || read_ready(&reader, &mut output, Duration::ZERO) != Pipe::Read {
            break;
        }
    }
    let output = output.text();
    match status {
        Ok(status) if status.success() => {
            Outcome { ok: true, detail: if output.is_empty() { ended(status) } else { output } }
        }
        Ok(status) => Outcome::failed(with_output(ended(status), &output)),
        Err(why) => Outcome::failed(with_output(why, &output)),
    }
}

/// Kills the child's process group (the child and whatever it started that
/// did not leave the group), then reaps the child.
fn kill_group(child: &mut Child) {
    // The child is not reaped yet, so its pid is still its group's id and
    // cannot name anything else.
    let pgid = child.id() as libc::pid_t;
    // SAFETY: kill has no memory-safety preconditions.
    if unsafe { libc::kill(-pgid, libc::SIGKILL) } != 0 {
        let _ = child.kill();
    }
    let _ = child.wait();
}

fn ended(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        (None, None) => status.to_string(),
    }
}

fn with_output(what: String, output: &str) -> String {
    if output.is_empty() {
        what
    } else {
        format!("{what}: {output}")
    }
}

#[derive(Debug, PartialEq)]
enum Pipe {
    Read,
    Quiet,
    Closed,
}

/// Waits up to `wait` for output and takes what is there (one read, which
/// cannot block once poll said so).
fn read_ready(reader: &std::io::PipeReader, output: &mut Tail, wait: Duration) -> Pipe {
    let mut pollfd = libc::pollfd { fd: reader.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    let ms = wait.as_millis().min(i32::MAX as u128) as libc::c_int;
    // SAFETY: one valid pollfd, and the count says one.
    let ready = unsafe { libc::poll(&mut pollfd, 1, ms) };
    if ready <= 0 {
        // Nothing yet, or EINTR: look again on the next turn.
        return Pipe::Quiet;
    }
    let mut chunk = [0u8; 4096];
    match (&*reader).read(&mut chunk) {
        Ok(0) => Pipe::Closed,
        Ok(n) => {
            output.push(&chunk[..n]);
            Pipe::Read
        }
        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => Pipe::Quiet,
        Err(_) => Pipe::Closed,
    }
}

/// The last [`TAIL_BYTES`] of the output.
#[derive(Default)]
struct Tail {
    bytes: Vec<u8>,
    cut: bool,
}

impl Tail {
    fn push(&mut self, data: &[u8]) {
        self.bytes.extend_from_slice(data);
        if self.bytes.len() > TAIL_BYTES {
            self.bytes.drain(..self.bytes.len() - TAIL_BYTES);
            self.cut = true;
        }
    }

    /// The tail as text, trimmed, starting at a whole UTF-8 character and
    /// marked with `...` when the output was longer.
    fn text(&self) -> String {
        let start = self.bytes.iter().position(|&b| b & 0xC0 != 0x80).unwrap_or(self.bytes.len());
        let text = String::from_utf8_lossy(&self.bytes[start..]);
        let text = text.trim();
        if self.cut && !text.is_empty() {
            format!("...{text}")
        } else {
            text.to_owned()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(args: &[&str]) -> Vec<String> {
        args.iter().map(|&a| a.to_owned()).collect()
    }

    fn sh(script: &str) -> Vec<String> {
        argv(&["sh", "-c", script])
    }

    /// Alive, as opposed to gone or a zombie waiting for its parent (dead,
    /// even if a container's init is slow to reap it).
    fn alive(pid: u32) -> bool {
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return false };
        let state = stat.rsplit_once(") ").and_then(|(_, rest)| rest.chars().next());
        !matches!(state, Some('Z' | 'X') | None)
    }

    fn read_pid(path: &std::path::Path) -> u32 {
        std::fs::read_to_string(path).unwrap().trim().parse().unwrap()
    }

    #[test]
    fn true_passes_and_false_fails() {
        let started = Instant::now();
        assert_eq!(
            run(&argv(&["true"]), Duration::from_secs(5)),
            Outcome { ok: true, detail: "exited with status 0".into() }
        );
        assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
        assert_eq!(
            run(&argv(&["false"]), Duration::from_secs(5)),
            Outcome { ok: false, detail: "exited with status 1".into() }
        );
    }

    #[test]
    fn output_of_both_streams_is_the_detail() {
        let outcome = run(&sh("echo ready; echo 'replica 2 behind' >&2"), Duration::from_secs(5));
        assert_eq!(outcome, Outcome { ok: true, detail: "ready\nreplica 2 behind".into() });
        let outcome = run(&sh("echo 'no quorum' >&2; exit 3"), Duration::from_secs(5));
        assert_eq!(outcome, Outcome { ok: false, detail: "exited with status 3: no quorum".into() });
        let outcome = run(&sh("kill -TERM $$"), Duration::from_secs(5));
        assert_eq!(outcome, Outcome { ok: false, detail: "killed by signal 15".into() });
    }

    #[test]
    fn only_the_end_of_a_long_output_is_kept() {
        let outcome = run(
            &sh("i=0; while [ $i -lt 500 ]; do echo line $i; i=$((i+1)); done; echo é end"),
            Duration::from_secs(10),
        );
        assert!(outcome.ok);
        assert!(outcome.detail.starts_with("..."), "{}", outcome.detail);
        assert!(outcome.detail.ends_with("line 499\né end"), "{}", outcome.detail);
        assert!(outcome.detail.len() <= TAIL_BYTES + 3, "{}", outcome.detail.len());
    }

    #[test]
    fn stdin_is_empty() {
        let outcome = run(&argv(&["cat"]), Duration::from_secs(5));
        assert_eq!(outcome, Outcome { ok: true, detail: "exited with status 0".into() });
    }

    #[test]
    fn a_missing_program_fails_to_start() {
        let outcome = run(&argv(&["/nonexistent/schedfleet-probe"]), Duration::from_secs(5));
        assert!(!outcome.ok);
        assert!(outcome.detail.starts_with("failed to start `/nonexistent/schedfleet-probe`: "), "{}", outcome.detail);
    }

    #[test]
    fn a_command_past_its_timeout_is_killed_with_its_children() {
        let dir = tempfile::tempdir().unwrap();
        let (child_pid, grandchild_pid) = (dir.path().join("child"), dir.path().join("grandchild"));
        // The child starts a grandchild in the background, says so, and
        // waits for it: both would sleep for 30 s.
        let script = format!(
            "echo $$ > '{}'; sleep 30 & echo $! > '{}'; echo started; wait",
            child_pid.display(),
            grandchild_pid.display()
        );
        let started = Instant::now();
        let outcome = run(&sh(&script), Duration::from_millis(300));
        let took = started.elapsed();
        assert_eq!(outcome, Outcome { ok: false, detail: "timed out after 300 ms, killed: started".into() });
        assert!(took >= Duration::from_millis(300) && took < Duration::from_secs(3), "{took:?}");
        let (child, grandchild) = (read_pid(&child_pid), read_pid(&grandchild_pid));
        assert!(!alive(child), "the child {child} is gone");
        // The grandchild was killed with the group; its new parent reaps it.
        let gone = Instant::now();
        while alive(grandchild) && gone.elapsed() < Duration::from_secs(2) {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(!alive(grandchild), "the grandchild {grandchild} is gone");
    }

    #[test]
    fn a_plain_sleep_is_killed_at_its_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pid");
        let outcome =
            run(&sh(&format!("echo $$ > '{}'; exec sleep 30", pid_file.display())), Duration::from_millis(200));
        assert_eq!(outcome, Outcome { ok: false, detail: "timed out after 200 ms, killed".into() });
        assert!(!alive(read_pid(&pid_file)), "the sleep is gone");
    }

    #[test]
    fn background_children_holding_the_output_do_not_delay_the_result() {
        let started = Instant::now();
        let outcome = run(&sh("sleep 3 & echo done"), Duration::from_secs(10));
        assert_eq!(outcome, Outcome { ok: true, detail: "done".into() });
        assert!(started.elapsed() < Duration::from_secs(2), "waited for the pipe: {:?}", started.elapsed());
    }
}
