//! Wire types between the schedfleet controller and its host agent.
//!
//! This crate owns the commands the controller sends ([`Request`], turned
//! into the agent's arguments in one place), the JSON documents the agent
//! prints on stdout and the controller parses, plus the few constants both sides must agree on (where
//! the agent keeps its store and state on a host), the bounds the agent
//! enforces on what it is sent ([`bounds`]) and what a user probe may be
//! ([`probe`]), which the controller checks before it contacts a host. It owns no behaviour: no
//! I/O, no transport, and no parsing of kernel files beyond the pure
//! assembly of the topology facts ([`topology`]) from file contents both
//! sides read, so the agent and the agentless facts cannot disagree. Both `schedfleet-agent` and
//! `schedfleet-fleet` depend on it; it depends on nothing of theirs.
//!
//! Every document carries [`SCHEMA_VERSION`]; fields are only ever added, so a
//! newer controller can read an older agent and the other way round.

pub mod binary;
pub mod bounds;
mod facts;
pub mod probe;
mod replies;
mod request;
mod state;
mod status;
pub mod topology;

use serde::{Deserialize, Serialize};

pub use binary::{BinaryOrigin, BinarySpec, ExitCause, ProcessExit, RestartPolicy, Supervised};
pub use facts::Facts;
pub use replies::{Activated, Confirmed, Deactivated, LeaseAcquired, LeaseReleased, RolledBack, StoreHas, StorePut};
pub use request::{ActivateRequest, ConfirmRequest, Request, StatusRequest};
pub use state::{ActiveScheduler, AgentState, Fallback, Intent, Lease, Pending};
pub use status::{
    CpuPressure, Ejection, Gpu, GpuInfo, KernelSchedExt, LoadAvg, PressureLine, ProbeResult, ProbeSpec, Status,
    WakeLatency,
};
pub use topology::{NumaNode, PciGpu, SysfsView, Topology};

/// Version of the documents in this crate. Bumped only on incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

/// Root of everything the agent keeps on a host.
pub const AGENT_ROOT: &str = "/var/lib/schedfleet";
/// Content-addressed artifact store: `<STORE_DIR>/<sha256 hex>`.
pub const STORE_DIR: &str = "/var/lib/schedfleet/store";
/// A symbolic link to the agent most recently pushed, so read-only callers
/// (`plan`, `status`, `drift`) find an agent without knowing its digest.
pub const AGENT_LINK: &str = "/var/lib/schedfleet/schedfleet-agent";
/// What the agent believes is active, written atomically on every change.
pub const STATE_FILE: &str = "/var/lib/schedfleet/state.json";
/// What `status` saw last time (`enable_seq`), so the next report can say
/// whether a scheduler was loaded in between. Written atomically by `status`.
pub const LAST_REPORT_FILE: &str = "/var/lib/schedfleet/last_report.json";
/// Where the agent pins the struct_ops link of the scheduler it loaded. The
/// kernel keeps the scheduler attached as long as this pin exists.
pub const LINK_PIN: &str = "/sys/fs/bpf/schedfleet/sched_ext_link";
/// The per-host lease (`schedfleet-agent lease`): who may change this host,
/// until when. Written atomically under an flock of [`LEASE_LOCK_FILE`].
pub const LEASE_FILE: &str = "/var/lib/schedfleet/lease.json";
/// The lock file that makes a lease's read-modify-write atomic.
pub const LEASE_LOCK_FILE: &str = "/var/lib/schedfleet/lease.lock";
/// The lock file every command that changes [`STATE_FILE`] holds (an flock)
/// while it reads, decides and writes, the watchdog included.
pub const STATE_LOCK_FILE: &str = "/var/lib/schedfleet/state.lock";
/// Where the watchdog of an unconfirmed activation logs.
pub const WATCHDOG_LOG: &str = "/var/lib/schedfleet/watchdog.log";

/// The one document the agent prints on stdout for every command.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Reply<T> {
    /// The command did what it was asked.
    Ok { schema: u32, result: T },
    /// The command failed; the host runs what it ran before.
    Error { schema: u32, error: AgentError },
}

impl<T> Reply<T> {
    pub fn ok(result: T) -> Self {
        Reply::Ok { schema: SCHEMA_VERSION, result }
    }

    pub fn error(error: AgentError) -> Self {
        Reply::Error { schema: SCHEMA_VERSION, error }
    }

    pub fn into_result(self) -> Result<T, AgentError> {
        match self {
            Reply::Ok { result, .. } => Ok(result),
            Reply::Error { error, .. } => Err(error),
        }
    }
}

/// A failure the agent reports, with a kind scripts can match on and a
/// message for people.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct AgentError {
    pub kind: ErrorKind,
    pub message: String,
    /// The last lines of the kernel verifier's log, when the kernel refused
    /// the program.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verifier_log: Option<String>,
    /// With [`ErrorKind::Reverted`]: the fallback that reverted the
    /// activation (boxed: errors stay small).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_fallback: Option<Box<Fallback>>,
    /// With [`ErrorKind::LeaseHeld`]: the lease of the other owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<Lease>,
}

impl std::fmt::Display for AgentError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)?;
        if let Some(log) = &self.verifier_log {
            write!(f, "\nverifier log (tail):\n{log}")?;
        }
        Ok(())
    }
}

impl std::error::Error for AgentError {}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Wrong command line.
    Usage,
    /// The agent must run as root to load BPF.
    NotRoot,
    /// The running kernel has no sched_ext.
    NoSchedExt,
    /// An artifact's sha256 is not the one expected.
    DigestMismatch,
    /// The object is not a usable sched_ext scheduler (no struct_ops map...).
    BadObject,
    /// A parameter is unknown or its value does not fit.
    BadParam,
    /// The kernel verifier rejected a program.
    VerifierRejected,
    /// A sched_ext scheduler is already active.
    AlreadyActive,
    /// The kernel accepted the scheduler but it is not (or no longer) running.
    NotEnabled,
    /// `confirm`: no activation waits for a confirmation.
    NotPending,
    /// `confirm`: a different artifact waits for a confirmation.
    OtherPending,
    /// `confirm`: the activation was already reverted (by its watchdog, or
    /// by `confirm` itself after its deadline or a kernel failure); the
    /// error's `last_fallback` says why.
    Reverted,
    /// `lease acquire`/`release`: another owner holds an unexpired lease;
    /// the error's `lease` names the holder and the expiry.
    LeaseHeld,
    /// `activate`: a check of the host before any change failed (a shared
    /// library an upstream binary needs is missing, the kernel has no BTF or
    /// no `/boot/config-<release>`); the message says what to do. Nothing on
    /// the host was changed.
    Preflight,
    /// `activate`: another sched_ext manager is active on the host
    /// (`scx.service`, `scx_loader`, or an `scx_*` process schedfleet did not
    /// start); the message names it. Nothing was changed; `--takeover`
    /// stops it first.
    OtherManager,
    /// Anything else: I/O, unexpected kernel answers.
    Internal,
}

/// True when `s` is a lower-case hex sha256 (64 characters), the only
/// form the store accepts: it is also a file name, so nothing else may pass.
pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_round_trips_with_outcome_tag() {
        let reply: Reply<StoreHas> = Reply::ok(StoreHas { present: vec!["a".into()], missing: vec![] });
        let json = serde_json::to_string(&reply).unwrap();
        assert!(json.contains(r#""outcome":"ok""#), "{json}");
        let back: Reply<StoreHas> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, reply);
    }

    #[test]
    fn error_reply_carries_kind() {
        let reply: Reply<()> = Reply::error(AgentError {
            kind: ErrorKind::DigestMismatch,
            message: "m".into(),
            verifier_log: None,
            last_fallback: None,
            lease: None,
        });
        let json = serde_json::to_string(&reply).unwrap();
        assert_eq!(json, r#"{"outcome":"error","schema":1,"error":{"kind":"digest_mismatch","message":"m"}}"#);
    }

    #[test]
    fn sha256_hex_is_strict() {
        assert!(is_sha256_hex(&"a".repeat(64)));
        assert!(!is_sha256_hex(&"A".repeat(64)));
        assert!(!is_sha256_hex(&"a".repeat(63)));
        assert!(!is_sha256_hex(&format!("../{}", "a".repeat(61))));
    }
}
