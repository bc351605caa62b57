//! The kernel's own account of sched_ext, from `/sys/kernel/sched_ext` and
//! the kernel log. This is the ground truth the agent checks every claim
//! against: a scheduler is active only when the kernel says `enabled` with
//! the expected ops name.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use schedfleet_proto::{ActiveScheduler, Ejection, ErrorKind, KernelSchedExt};

use crate::error::{Failure, Result};

const SCX: &str = "/sys/kernel/sched_ext";

pub fn present() -> bool {
    Path::new(SCX).is_dir()
}

fn read_trimmed(name: &str) -> Option<String> {
    std::fs::read_to_string(Path::new(SCX).join(name)).ok().map(|s| s.trim().to_owned())
}

fn read_u64(name: &str) -> u64 {
    read_trimmed(name).and_then(|s| s.parse().ok()).unwrap_or(0)
}

pub fn read() -> Result<KernelSchedExt> {
    let state = read_trimmed("state").ok_or_else(|| {
        Failure::new(ErrorKind::NoSchedExt, format!("cannot read `{SCX}/state`: this kernel has no sched_ext"))
    })?;
    let loaded = state != "disabled";
    let ops = if loaded { read_trimmed("root/ops").filter(|s| !s.is_empty()) } else { None };
    let events = if loaded {
        read_trimmed("root/events").map(|s| parse_events(&s)).unwrap_or_default()
    } else {
        BTreeMap::new()
    };
    Ok(KernelSchedExt {
        state,
        ops,
        enable_seq: read_u64("enable_seq"),
        nr_rejected: read_u64("nr_rejected"),
        switch_all: read_u64("switch_all") != 0,
        events,
    })
}

/// Parses `root/events`: one `SCX_EV_NAME value` pair a line. Names are kept
/// as the kernel gives them, so a newer kernel simply adds entries.
pub fn parse_events(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|line| {
            let mut it = line.split(|c: char| c.is_whitespace() || c == ':').filter(|s| !s.is_empty());
            let name = it.next()?;
            let value = it.next()?.parse().ok()?;
            Some((name.to_owned(), value))
        })
        .collect()
}

/// The kernel runs exactly what the agent loaded: same ops name, and no
/// reload since (a changed `enable_seq` means someone loaded again); or
/// nothing, when the agent loaded nothing.
pub fn agrees(kernel: &KernelSchedExt, active: Option<&ActiveScheduler>) -> bool {
    match active {
        None => kernel.state == "disabled",
        Some(a) => {
            kernel.state == "enabled"
                && kernel.ops.as_deref() == Some(a.ops.as_str())
                && kernel.enable_seq == a.enable_seq
        }
    }
}

/// Polls the kernel until `done` holds or `timeout` passes; returns the
/// last reading either way, and whether `done` held.
pub fn wait_until(timeout: Duration, done: impl Fn(&KernelSchedExt) -> bool) -> Result<(KernelSchedExt, bool)> {
    let deadline = Instant::now() + timeout;
    loop {
        let k = read()?;
        if done(&k) {
            return Ok((k, true));
        }
        if Instant::now() >= deadline {
            return Ok((k, false));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The newest `sched_ext: ...` line of the kernel log, such as
/// `sched_ext: BPF scheduler "simple" disabled (runtime error)`. Read from
/// `/dev/kmsg` without blocking; `None` when the log is unreadable.
pub fn last_kernel_message() -> Option<String> {
    kernel_log()?.into_iter().rev().map(|(_, msg)| msg).find(|msg| msg.starts_with("sched_ext:"))
}

/// The newest scheduler the kernel disabled on its own, from the kernel
/// log; `None` when there is none (or the log is unreadable, or the line
/// has left the kernel's ring buffer).
pub fn last_ejection() -> Option<Ejection> {
    find_last_ejection(&kernel_log()?)
}

/// The records of the kernel log still in its ring buffer, oldest first:
/// `(microseconds since boot, first line of the message)`.
fn kernel_log() -> Option<Vec<(u64, String)>> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let mut kmsg = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open("/dev/kmsg").ok()?;
    let mut records = Vec::new();
    let mut buf = vec![0u8; 8192];
    loop {
        match kmsg.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if let Some((time_us, msg)) = parse_kmsg_record(&String::from_utf8_lossy(&buf[..n])) {
                    records.push((time_us, msg.to_owned()));
                }
            }
            // EPIPE means records were overwritten while reading: go on.
            Err(e) if e.raw_os_error() == Some(libc::EPIPE) => continue,
            Err(_) => break,
        }
    }
    Some(records)
}

/// Splits a `/dev/kmsg` record, `prio,seq,time_us,flags[,...];message\n`
/// followed by ` KEY=value` continuation lines, into the time and the
/// message's first line.
pub fn parse_kmsg_record(record: &str) -> Option<(u64, &str)> {
    let (header, msg) = record.split_once(';')?;
    let time_us = header.split(',').nth(2)?.parse().ok()?;
    Some((time_us, msg.lines().next().unwrap_or("").trim()))
}

/// The kernel's reason when a scheduler was unloaded by a program (the
/// agent's `deactivate`, a scheduler's loader exiting): not an ejection.
const UNLOADED_FROM_USER_SPACE: &str = "unregistered from user space";

/// `(ops, reason)` of `sched_ext: BPF scheduler "<ops>" disabled (<reason>)`.
pub fn parse_disabled_line(msg: &str) -> Option<(&str, &str)> {
    let rest = msg.strip_prefix("sched_ext: BPF scheduler \"")?;
    let (ops, rest) = rest.split_once("\" disabled (")?;
    let reason = &rest[..rest.find(')')?];
    Some((ops, reason))
}

/// The newest time the kernel disabled the scheduler named `ops`, for
/// whatever reason (an unload from user space included); `None` when the
/// kernel log holds none or is unreadable.
pub fn last_disable_of(ops: &str) -> Option<Ejection> {
    find_last_disable(&kernel_log()?, |o, _| o == ops)
}

/// Whether a disable was an unload from user space (a pin removed, a
/// loader exiting) rather than the kernel's own decision.
pub fn is_unload_from_user_space(e: &Ejection) -> bool {
    e.reason == UNLOADED_FROM_USER_SPACE
}

/// The newest ejection among `records` (oldest first), with the message
/// the kernel logs right after an error (`sched_ext: <ops>: <message>`).
pub fn find_last_ejection(records: &[(u64, String)]) -> Option<Ejection> {
    find_last_disable(records, |_, reason| reason != UNLOADED_FROM_USER_SPACE)
}

/// The newest `disabled` line among `records` whose `(ops, reason)` `keep`
/// accepts, with the scheduler's message when the kernel logged one.
pub fn find_last_disable(records: &[(u64, String)], keep: impl Fn(&str, &str) -> bool) -> Option<Ejection> {
    let (index, ops, reason) = records.iter().enumerate().rev().find_map(|(i, (_, msg))| {
        let (ops, reason) = parse_disabled_line(msg)?;
        keep(ops, reason).then_some((i, ops, reason))
    })?;
    let own_prefix = format!("sched_ext: {ops}: ");
    let message = records[index + 1..]
        .iter()
        .take_while(|(_, msg)| parse_disabled_line(msg).is_none())
        .find_map(|(_, msg)| msg.strip_prefix(&own_prefix))
        .map(str::to_owned);
    let (time_us, line) = &records[index];
    Some(Ejection {
        ops: ops.to_owned(),
        reason: reason.to_owned(),
        message_line: line.clone(),
        message,
        kernel_time_us: Some(*time_us),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kernel(state: &str, ops: Option<&str>, seq: u64) -> KernelSchedExt {
        KernelSchedExt { state: state.into(), ops: ops.map(Into::into), enable_seq: seq, ..Default::default() }
    }

    fn active(ops: &str, seq: u64) -> ActiveScheduler {
        ActiveScheduler {
            artifact: "a".repeat(64),
            ops: ops.into(),
            params: Default::default(),
            commit: None,
            since: 0,
            enable_seq: seq,
            confirmed: true,
            binary: None,
        }
    }

    #[test]
    fn agreement_needs_same_ops_and_no_reload() {
        assert!(agrees(&kernel("disabled", None, 3), None));
        assert!(!agrees(&kernel("enabled", Some("x"), 3), None));
        assert!(agrees(&kernel("enabled", Some("simple"), 3), Some(&active("simple", 3))));
        assert!(!agrees(&kernel("enabled", Some("simple"), 4), Some(&active("simple", 3))));
        assert!(!agrees(&kernel("disabled", None, 3), Some(&active("simple", 3))));
        assert!(!agrees(&kernel("enabled", Some("other"), 3), Some(&active("simple", 3))));
    }

    #[test]
    fn events_parse_names_as_given() {
        let text = "SCX_EV_SELECT_CPU_FALLBACK 3\nSCX_EV_DISPATCH_KEEP_LAST 0\nSCX_EV_NEW_KIND: 7\ngarbage\n";
        let ev = parse_events(text);
        assert_eq!(ev["SCX_EV_SELECT_CPU_FALLBACK"], 3);
        assert_eq!(ev["SCX_EV_DISPATCH_KEEP_LAST"], 0);
        assert_eq!(ev["SCX_EV_NEW_KIND"], 7);
        assert_eq!(ev.len(), 3);
    }

    #[test]
    fn kmsg_records_split_into_time_and_first_line() {
        let record =
            "3,1234,5678901,-,caller=T42;sched_ext: BPF scheduler \"simple\" disabled (runtime error)\n SUBSYSTEM=x\n";
        assert_eq!(
            parse_kmsg_record(record),
            Some((5678901, "sched_ext: BPF scheduler \"simple\" disabled (runtime error)"))
        );
        assert_eq!(parse_kmsg_record("6,1,2,-;plain\n"), Some((2, "plain")));
        assert_eq!(parse_kmsg_record("no header"), None);
        assert_eq!(parse_kmsg_record("6,1,x,-;bad time\n"), None);
    }

    #[test]
    fn disabled_lines_give_ops_and_reason() {
        assert_eq!(
            parse_disabled_line("sched_ext: BPF scheduler \"ejector\" disabled (scx_bpf_error)"),
            Some(("ejector", "scx_bpf_error"))
        );
        assert_eq!(
            parse_disabled_line("sched_ext: BPF scheduler \"bpfland_1.1.4\" disabled (runnable task stall)"),
            Some(("bpfland_1.1.4", "runnable task stall"))
        );
        assert_eq!(parse_disabled_line("sched_ext: BPF scheduler \"simple\" enabled"), None);
        assert_eq!(parse_disabled_line("sched_ext: simple: runnable task stall"), None);
        assert_eq!(parse_disabled_line("sched_ext: BPF scheduler \"x\" disabled (unterminated"), None);
    }

    fn log(lines: &[&str]) -> Vec<(u64, String)> {
        lines.iter().enumerate().map(|(i, l)| (i as u64 * 1000, l.to_string())).collect()
    }

    #[test]
    fn the_newest_ejection_wins_and_user_space_unloads_are_not_ejections() {
        let records = log(&[
            "sched_ext: BPF scheduler \"old\" disabled (runnable task stall)",
            "sched_ext: old: ksoftirqd/0[15] failed to run for 30.5s",
            "sched_ext: BPF scheduler \"ejector\" enabled",
            "sched_ext: BPF scheduler \"ejector\" disabled (scx_bpf_error)",
            "sched_ext: ejector: ejector: deliberate error for tests, 1500 ms after init",
            "   scx_bpf_error_bstr+0x6d/0x90",
            "sched_ext: BPF scheduler \"simple\" enabled",
            "sched_ext: BPF scheduler \"simple\" disabled (unregistered from user space)",
        ]);
        let e = find_last_ejection(&records).unwrap();
        assert_eq!((e.ops.as_str(), e.reason.as_str()), ("ejector", "scx_bpf_error"));
        assert_eq!(e.message_line, "sched_ext: BPF scheduler \"ejector\" disabled (scx_bpf_error)");
        assert_eq!(e.message.as_deref(), Some("ejector: deliberate error for tests, 1500 ms after init"));
        assert_eq!(e.kernel_time_us, Some(3000));
    }

    #[test]
    fn an_ejection_without_a_message_has_none_even_if_a_later_one_does() {
        let records = log(&[
            "sched_ext: BPF scheduler \"a\" disabled (disabled by sysrq-S)",
            "sched_ext: BPF scheduler \"a\" enabled",
            "sched_ext: BPF scheduler \"a\" disabled (unregistered from user space)",
            "sched_ext: a: a message that belongs to a later event",
        ]);
        let e = find_last_ejection(&records).unwrap();
        assert_eq!((e.reason.as_str(), e.message), ("disabled by sysrq-S", None));
        assert_eq!(
            find_last_ejection(&log(&["sched_ext: BPF scheduler \"a\" disabled (unregistered from user space)"])),
            None
        );
        assert_eq!(find_last_ejection(&[]), None);
    }

    #[test]
    fn the_last_disable_of_one_scheduler_includes_unloads() {
        let records = log(&[
            "sched_ext: BPF scheduler \"ejector\" disabled (scx_bpf_error)",
            "sched_ext: ejector: deliberate",
            "sched_ext: BPF scheduler \"simple\" disabled (unregistered from user space)",
        ]);
        let e = find_last_disable(&records, |ops, _| ops == "simple").unwrap();
        assert!(is_unload_from_user_space(&e));
        let e = find_last_disable(&records, |ops, _| ops == "ejector").unwrap();
        assert_eq!((e.reason.as_str(), e.message.as_deref()), ("scx_bpf_error", Some("deliberate")));
        assert!(!is_unload_from_user_space(&e));
        assert_eq!(find_last_disable(&records, |ops, _| ops == "other"), None);
    }
}
