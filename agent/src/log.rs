//! The agent's whole logging stack: plain lines on stderr, prefixed so they
//! are easy to tell apart from the remote shell's own noise. Verbosity comes
//! from `SCHEDFLEET_AGENT_LOG` (`error`, `info`, `debug`); the default is
//! `info`. stdout is never written here: it belongs to the JSON reply.

use std::sync::OnceLock;

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Level {
    Error,
    Info,
    Debug,
}

fn threshold() -> Level {
    static LEVEL: OnceLock<Level> = OnceLock::new();
    *LEVEL.get_or_init(|| match std::env::var("SCHEDFLEET_AGENT_LOG").as_deref() {
        Ok("error") => Level::Error,
        Ok("debug") => Level::Debug,
        _ => Level::Info,
    })
}

fn write(level: Level, tag: &str, msg: &str) {
    if level <= threshold() {
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
