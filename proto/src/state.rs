//! What the agent keeps on a host in its state file ([`STATE_FILE`]):
//! the active scheduler, an activation waiting for `confirm`, where
//! `rollback` goes, the newest fallback, a change under way; and the lease.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::BinarySpec;
// Named by the docs (which are also the JSON Schema's descriptions).
#[cfg(doc)]
use crate::{binary, STATE_FILE};

/// What the agent activated, kept on the host in [`STATE_FILE`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ActiveScheduler {
    /// sha256 of the BPF object, lower-case hex.
    pub artifact: String,
    /// The ops name the object declares; the kernel must report it.
    pub ops: String,
    pub params: BTreeMap<String, String>,
    /// Commit of the config repository this came from, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// Seconds since the Unix epoch.
    pub since: u64,
    /// `enable_seq` right after the load: a change means a reload happened.
    pub enable_seq: u64,
    /// False while the activation waits for `confirm` (see
    /// [`AgentState::pending`]); true otherwise, and for state files written
    /// before two-phase activation.
    #[serde(default = "confirmed_by_default")]
    pub confirmed: bool,
    /// Set for an upstream scheduler binary the agent runs and supervises
    /// (see [`binary`]); absent for a BPF object the agent loads itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binary: Option<BinarySpec>,
}

fn confirmed_by_default() -> bool {
    true
}

/// The agent's state file.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct AgentState {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<ActiveScheduler>,
    /// An activation made with `--confirm-within` that waits for `confirm`;
    /// its watchdog reverts it to `previous` otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<Pending>,
    /// The confirmed scheduler before the current confirmed one (`None`: the
    /// kernel's default): where `rollback` goes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_confirmed: Option<ActiveScheduler>,
    /// The newest fallback of an unconfirmed activation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_fallback: Option<Fallback>,
    /// A change of scheduler under way, written before anything is switched
    /// (write-ahead): one found by a later command means the agent that
    /// wrote it died mid-way, and the host goes back to `previous`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intent: Option<Intent>,
}

/// A change of scheduler under way (see [`AgentState::intent`]).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Intent {
    /// sha256 of the scheduler being activated.
    pub artifact: String,
    /// Its ops name.
    pub ops: String,
    /// Seconds since the Unix epoch when the change began.
    pub started: u64,
    /// The agent process making the change.
    pub pid: u32,
    /// The confirmed position to return to should the change not finish
    /// (`None`: the kernel's default), as it ran when the change began.
    pub previous: Option<ActiveScheduler>,
}

/// An unconfirmed activation (`activate --confirm-within`) and what its
/// watchdog reverts to.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Pending {
    /// sha256 of the activated object (also `active.artifact`).
    pub artifact: String,
    /// Its ops name; the kernel must keep reporting it.
    #[serde(default)]
    pub ops: String,
    /// The kernel's `enable_seq` right after the activation; a change means
    /// someone loaded a scheduler since.
    #[serde(default)]
    pub enable_seq: u64,
    /// Seconds since the Unix epoch by which `confirm` must come.
    pub deadline: u64,
    /// `--confirm-within`, in seconds (for people, and the fallback's reason).
    #[serde(default)]
    pub confirm_within: u64,
    /// The last confirmed scheduler, restored on a fallback; `None`: the
    /// kernel's default.
    #[serde(default)]
    pub previous: Option<ActiveScheduler>,
    /// The watchdog process (`schedfleet-agent watch`).
    pub watchdog_pid: u32,
}

/// What a watchdog (or `confirm`, past the deadline) did when an
/// unconfirmed activation failed or was not confirmed in time.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Fallback {
    /// Seconds since the Unix epoch.
    pub at: u64,
    pub from_ops: String,
    pub from_artifact: String,
    /// ``previous `<ops>` `` or `kernel default`.
    pub to: String,
    /// Why, such as ``kernel ejected the scheduler: <kernel log line>``,
    /// `enable_seq changed: reloaded by someone else`,
    /// ``probe `serving` failed: <detail>``, `not confirmed within 120 s`.
    pub reason: String,
    /// Milliseconds from noticing the failure to the fallback's end.
    #[serde(default)]
    pub took_ms: u64,
    /// Why the previous scheduler could not be restored (the host then runs
    /// the kernel's default); absent when it was, or there was none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_error: Option<String>,
}

/// The per-host lease, `<agent root>/lease.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Lease {
    /// Free text; the controller uses `user@machine pid N run R`.
    pub owner: String,
    /// Seconds since the Unix epoch; the lease is free from then on.
    pub expires: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Activated, AgentError, ErrorKind, Reply};

    #[test]
    fn old_documents_read_as_confirmed_with_no_rollout_state() {
        let old_state = r#"{"active":{"artifact":"a","ops":"simple","params":{},"since":1,"enable_seq":4}}"#;
        let st: AgentState = serde_json::from_str(old_state).unwrap();
        assert!(st.active.as_ref().unwrap().confirmed);
        assert_eq!((st.pending, st.previous_confirmed, st.last_fallback), (None, None, None));
        let old_activated = r#"{"active":{"artifact":"a","ops":"simple","params":{},"since":1,"enable_seq":4},
            "kernel":{"state":"enabled","ops":"simple","enable_seq":4,"nr_rejected":0,"switch_all":true},"load_ms":9}"#;
        let a: Activated = serde_json::from_str(old_activated).unwrap();
        assert_eq!((a.active.confirmed, a.watchdog_pid, a.deadline), (true, None, None));
        let old_error = r#"{"outcome":"error","schema":1,"error":{"kind":"not_enabled","message":"m"}}"#;
        let e = serde_json::from_str::<Reply<()>>(old_error).unwrap().into_result().unwrap_err();
        assert_eq!((e.last_fallback, e.lease), (None, None));
    }

    #[test]
    fn rollout_state_round_trips() {
        let active = ActiveScheduler {
            artifact: "b".into(),
            ops: "canary".into(),
            params: BTreeMap::new(),
            commit: None,
            since: 5,
            enable_seq: 7,
            confirmed: false,
            binary: None,
        };
        let st = AgentState {
            active: Some(active.clone()),
            pending: Some(Pending {
                artifact: "b".into(),
                ops: "canary".into(),
                enable_seq: 7,
                deadline: 125,
                confirm_within: 120,
                previous: None,
                watchdog_pid: 321,
            }),
            previous_confirmed: Some(ActiveScheduler { confirmed: true, ..active }),
            last_fallback: Some(Fallback {
                at: 3,
                from_ops: "x".into(),
                from_artifact: "c".into(),
                to: "kernel default".into(),
                reason: "not confirmed within 5 s".into(),
                took_ms: 12,
                restore_error: None,
            }),
            intent: Some(Intent { artifact: "d".into(), ops: "next".into(), started: 9, pid: 77, previous: None }),
        };
        let json = serde_json::to_string(&st).unwrap();
        assert!(json.contains(r#""confirmed":false"#), "{json}");
        assert!(json.contains(r#""pending":{"artifact":"b","ops":"canary","enable_seq":7,"deadline":125,"confirm_within":120,"previous":null,"watchdog_pid":321}"#), "{json}");
        assert_eq!(serde_json::from_str::<AgentState>(&json).unwrap(), st);
        let held = AgentError {
            kind: ErrorKind::LeaseHeld,
            message: "m".into(),
            verifier_log: None,
            last_fallback: None,
            lease: Some(Lease { owner: "u@h pid 1 run r".into(), expires: 9 }),
        };
        let json = serde_json::to_string(&held).unwrap();
        assert_eq!(json, r#"{"kind":"lease_held","message":"m","lease":{"owner":"u@h pid 1 run r","expires":9}}"#);
        for (kind, text) in [
            (ErrorKind::NotPending, "not_pending"),
            (ErrorKind::OtherPending, "other_pending"),
            (ErrorKind::Reverted, "reverted"),
            (ErrorKind::Preflight, "preflight"),
            (ErrorKind::OtherManager, "other_manager"),
        ] {
            assert_eq!(serde_json::to_string(&kind).unwrap(), format!("\"{text}\""));
        }
    }
}
