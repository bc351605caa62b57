//! The agent's whole logging stack: plain lines on stderr, prefixed so they
//! are easy to tell apart from the remote shell's own noise. Verbosity comes
//! from `SCHEDFLEET_AGENT_LOG` (`error`, `info`, `debug`); the default is
//! `info`. stdout is never written here: it belongs to the JSON reply.
//!
//! The watchdog's stderr is its own log file, read long after the fact, so
//! it turns on [`with_timestamps`]: every line then starts with the time
//! (Unix seconds, milliseconds) and the process id.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Level {
    Error,
    Info,
    Debug,
}

static TIMESTAMPS: AtomicBool = AtomicBool::new(false);

fn threshold() -> Level {
    static LEVEL: OnceLock<Level> = OnceLock::new();
    *LEVEL.get_or_init(|| match std::env::var("SCHEDFLEET_AGENT_LOG").as_deref() {
        Ok("error") => Level::Error,
        Ok("debug") => Level::Debug,
        _ => Level::Info,
    })
}

/// Prefixes every following line with the time and the process id.
pub fn with_timestamps() {
    TIMESTAMPS.store(true, Ordering::Relaxed);
}

fn write(level: Level, tag: &str, msg: &str) {
    if level > threshold() {
        return;
    }
    if TIMESTAMPS.load(Ordering::Relaxed) {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let (secs, ms) = (now.as_secs(), now.subsec_millis());
        eprintln!("{secs}.{ms:03} schedfleet-agent[{}]: {tag}{msg}", std::process::id());
    } else {
        eprintln!("schedfleet-agent: {tag}{msg}");
    }
}

pub fn error(msg: &str) {
    write(Level::Error, "error: ", msg);
}

pub fn info(msg: &str) {
    write(Level::Info, "", msg);
}

pub fn debug(msg: &str) {
    write(Level::Debug, "debug: ", msg);
}
