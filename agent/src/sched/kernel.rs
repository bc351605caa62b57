//! The kernel's own account of sched_ext, from `/sys/kernel/sched_ext` and
//! the kernel log. This is the ground truth the agent checks every claim
//! against: a scheduler is active only when the kernel says `enabled` with
//! the expected ops name.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use schedfleet_proto::{ErrorKind, KernelSchedExt};

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
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let mut kmsg = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open("/dev/kmsg").ok()?;
    let mut last = None;
    let mut buf = vec![0u8; 8192];
    loop {
        match kmsg.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                let record = String::from_utf8_lossy(&buf[..n]);
                // A record is `prio,seq,time,flags;message\n continuation...`.
                if let Some((_, msg)) = record.split_once(';') {
                    let msg = msg.lines().next().unwrap_or("").trim();
                    if msg.starts_with("sched_ext:") {
                        last = Some(msg.to_owned());
                    }
                }
            }
            // EPIPE means records were overwritten while reading: go on.
            Err(e) if e.raw_os_error() == Some(libc::EPIPE) => continue,
            Err(_) => break,
        }
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_parse_names_as_given() {
        let text = "SCX_EV_SELECT_CPU_FALLBACK 3\nSCX_EV_DISPATCH_KEEP_LAST 0\nSCX_EV_NEW_KIND: 7\ngarbage\n";
        let ev = parse_events(text);
        assert_eq!(ev["SCX_EV_SELECT_CPU_FALLBACK"], 3);
        assert_eq!(ev["SCX_EV_DISPATCH_KEEP_LAST"], 0);
        assert_eq!(ev["SCX_EV_NEW_KIND"], 7);
        assert_eq!(ev.len(), 3);
    }
}
