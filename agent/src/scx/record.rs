//! The supervisor's own record, `<root>/scx/supervised.json`: what it runs
//! now, in which phase, and how the process last ended. The supervisor
//! writes it (atomically) at every change; `activate` waits on it for the
//! first start, `status` reports it, and `switch::remove_ours` finds the
//! supervisor to stop through it (its pid checked against `/proc`).
//! Where the files of supervised schedulers live is also said here.

use std::path::PathBuf;

use schedfleet_proto::Supervised;
use serde::{Deserialize, Serialize};

use crate::error::{Failure, Result};
use crate::state;

/// Where a supervised scheduler is in its life.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Started, not yet `enabled` in the kernel.
    Starting,
    /// `enabled` with the expected ops.
    Running,
    /// Ended by itself; waiting out the backoff before the next start.
    Restarting,
    /// The first start failed (`last_exit` says how); the activation fails.
    Failed,
    /// Past the restart cap; the supervisor fell back.
    GaveUp,
    /// Stopped by the agent.
    Stopped,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Record {
    /// The binary's identity (`ActiveScheduler::artifact`).
    pub artifact: String,
    pub phase: Phase,
    /// The kernel's ops name while running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ops: Option<String>,
    /// The kernel's `enable_seq` of the running process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_seq: Option<u64>,
    /// Why a start was refused before any process ran (a digest that no
    /// longer matches, a library gone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub supervised: Supervised,
}

/// `<root>/scx`: everything of supervised schedulers (root-only).
pub fn dir() -> PathBuf {
    state::root().join("scx")
}

pub fn path() -> PathBuf {
    dir().join("supervised.json")
}

/// What the supervisor is to run, written by the command that starts it.
pub fn launch_path() -> PathBuf {
    dir().join("launch.json")
}

/// The supervisor's own log (its stderr).
pub fn supervisor_log() -> PathBuf {
    dir().join("supervisor.log")
}

/// The scheduler's output, per ops name (`bpfland.log`).
pub fn output_log(ops_name: &str) -> PathBuf {
    dir().join(format!("{ops_name}.log"))
}

pub fn load() -> Option<Record> {
    serde_json::from_slice(&std::fs::read(path()).ok()?).ok()
}

pub fn save(record: &Record) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(record).expect("a record always serializes");
    state::write_atomic(&path(), &bytes, 0o600)
}

pub fn read_json<T: serde::de::DeserializeOwned>(path: &std::path::Path) -> Result<T> {
    let bytes = std::fs::read(path).map_err(|e| Failure::io("read", &path.display().to_string(), e))?;
    serde_json::from_slice(&bytes).map_err(|e| {
        Failure::new(schedfleet_proto::ErrorKind::Internal, format!("`{}` is corrupt: {e}", path.display()))
    })
}
