//! Upstream scheduler binaries (the sched-ext/scx project's `scx_*`): what
//! the controller asks the agent to run and supervise, and what the agent
//! reports about the process it supervises.
//!
//! A binary scheduler is an [`crate::ActiveScheduler`] whose `binary` is set.
//! Its `artifact` is the binary's identity everywhere the controller and the
//! agent compare schedulers (drift, confirm, rollback): the sha256 of the
//! executable when the controller pushed it or the repository declares the
//! digest of an installed one, else the sha256 of
//! [`installed_identity_input`] (its declared path and version). Its `ops` is the ops name the kernel reported once it
//! came up (`bpfland_1.1.4_x86_64_unknown_linux_gnu`).
//!
//! The agent receives a [`BinarySpec`] as one JSON argument
//! (`activate PATH --sha256 D --binary JSON`), never as a shell string.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Where the executable comes from.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BinaryOrigin {
    /// Pushed by the controller into the agent's store; the `artifact`
    /// digest names it (`<STORE_DIR>/<artifact>`).
    Store,
    /// Installed on the host by other means at `path` (absolute). With
    /// `sha256` the agent checks the file's digest before every start; with
    /// only `version`, the version the kernel's ops name must carry.
    Installed {
        path: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sha256: Option<String>,
    },
}

/// How the agent restarts a supervised scheduler that ended by itself:
/// at most `max` restarts within `window_secs`, waiting
/// `backoff_initial_ms`, doubled after each restart up to
/// `backoff_max_ms`. Past the cap the host falls back like after any failed
/// scheduler (the previous confirmed one, else the kernel's default); it
/// never loops.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RestartPolicy {
    pub max: u32,
    pub window_secs: u64,
    pub backoff_initial_ms: u64,
    pub backoff_max_ms: u64,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        RestartPolicy { max: 3, window_secs: 300, backoff_initial_ms: 1_000, backoff_max_ms: 30_000 }
    }
}

/// An upstream scheduler binary to run and supervise (see the module).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct BinarySpec {
    pub origin: BinaryOrigin,
    /// Arguments, one per element, already rendered; never a shell string.
    #[serde(default)]
    pub args: Vec<String>,
    /// Environment declared in the repository (such as `SCX_TIMEOUT_MS`);
    /// the process gets only this plus `PATH` and, with `libs`,
    /// `LD_LIBRARY_PATH`.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// The ops name must start with `<ops_name>_` (scx names its ops
    /// `<name>_<semver>_g<sha>[-dirty]_<target-triple>`)...
    pub ops_name: String,
    /// ...followed by this version, when declared (`1.1.4`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ops_version: Option<String>,
    /// How long the kernel may take to show `enabled` with the expected
    /// ops name after a start.
    pub start_timeout_ms: u64,
    pub restart: RestartPolicy,
    /// Shared libraries pushed with the binary: file name (soname, such as
    /// `libelf.so.1`) -> sha256 of the file in the store. The agent puts
    /// them in a directory of their own and points `LD_LIBRARY_PATH` at it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub libs: BTreeMap<String, String>,
}

impl BinarySpec {
    /// Whether `ops` is what this binary must show in the kernel.
    pub fn ops_matches(&self, ops: &str) -> bool {
        let Some(rest) = ops.strip_prefix(&self.ops_name).and_then(|r| r.strip_prefix('_')) else {
            return false;
        };
        match &self.ops_version {
            None => true,
            Some(v) => rest.strip_prefix(v.as_str()).is_some_and(|r| r.is_empty() || r.starts_with('_')),
        }
    }
}

/// What the identity (an `artifact`) of an installed binary whose digest
/// the repository does not declare is the sha256 of: its declared path and
/// version, so that a change of either is a change of scheduler. Lower-case
/// hex like every artifact; computed by the controller.
pub fn installed_identity_input(path: &str, version: Option<&str>) -> String {
    format!("schedfleet-installed-binary\0{path}\0{}", version.unwrap_or(""))
}

/// How a supervised scheduler process ended.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "cause", rename_all = "snake_case")]
pub enum ExitCause {
    /// It exited by itself with this code.
    Exited { code: i32 },
    /// A signal killed it (not one the agent sent).
    Signaled { signal: i32 },
    /// The kernel ejected the scheduler; `reason` from the kernel log.
    Ejected { reason: String },
    /// The agent stopped it (rollback, switch, deactivate, fallback).
    Stopped,
    /// It never reached `enabled` with the expected ops name in time.
    StartTimeout,
}

/// One end of a supervised process.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ProcessExit {
    /// Seconds since the Unix epoch.
    pub at: u64,
    pub pid: u32,
    #[serde(flatten)]
    pub cause: ExitCause,
    /// The last lines it wrote (stderr and stdout), for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_tail: Option<String>,
}

/// The supervised process of a binary scheduler, in `status`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Supervised {
    /// The scheduler process; absent while it is down (between restarts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// The agent's supervising process.
    pub supervisor_pid: u32,
    /// Restarts since activation.
    pub restarts: u32,
    /// Seconds since the Unix epoch when the running process started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<u64>,
    /// Its newest end, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_exit: Option<ProcessExit>,
    /// Where its output goes on the host (bounded, rotated).
    pub log: String,
    /// The supervisor's phase: `starting`, `running`, `restarting` (waiting
    /// out the backoff), `failed` (the first start), `gave_up` (past the
    /// restart cap: it fell back), `stopped`, or `gone` (the supervisor no
    /// longer runs); absent from older agents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, version: Option<&str>) -> BinarySpec {
        BinarySpec {
            origin: BinaryOrigin::Store,
            args: vec![],
            env: BTreeMap::new(),
            ops_name: name.into(),
            ops_version: version.map(Into::into),
            start_timeout_ms: 10_000,
            restart: RestartPolicy::default(),
            libs: BTreeMap::new(),
        }
    }

    #[test]
    fn ops_match_by_name_and_version() {
        let ops = "bpfland_1.1.4_x86_64_unknown_linux_gnu";
        assert!(spec("bpfland", None).ops_matches(ops));
        assert!(spec("bpfland", Some("1.1.4")).ops_matches(ops));
        assert!(!spec("bpfland", Some("1.1.5")).ops_matches(ops));
        assert!(!spec("bpfland", Some("1.1")).ops_matches(ops));
        assert!(!spec("bpf", None).ops_matches(ops));
        assert!(!spec("cosmos", None).ops_matches(ops));
        assert!(spec("cosmos", Some("1.1.7")).ops_matches("cosmos_1.1.7_g1234abc-dirty_x86_64_unknown_linux_gnu"));
    }

    #[test]
    fn spec_round_trips_as_json() {
        let mut s = spec("bpfland", Some("1.1.4"));
        s.origin = BinaryOrigin::Installed { path: "/usr/bin/scx_bpfland".into(), sha256: None };
        s.args = vec!["-s".into(), "5000".into()];
        s.env.insert("SCX_TIMEOUT_MS".into(), "5000".into());
        let text = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<BinarySpec>(&text).unwrap(), s);
        let exit = ProcessExit { at: 1, pid: 2, cause: ExitCause::Signaled { signal: 9 }, log_tail: None };
        let text = serde_json::to_string(&exit).unwrap();
        assert!(text.contains(r#""cause":"signaled""#), "{text}");
        assert_eq!(serde_json::from_str::<ProcessExit>(&text).unwrap(), exit);
    }
}
