//! What happened on each host, for tables, JSON and exit codes.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The desired scheduler is now active and verified.
    Changed,
    /// The host already ran exactly the desired state.
    Unchanged,
    /// The host cannot run the desired state (no sched_ext, ...); nothing was pushed.
    Refused,
    /// The host could not be reached; nothing was changed.
    Unreachable,
    /// Something failed on the host; it runs what it ran before.
    Failed,
}

impl Outcome {
    /// The word used in tables and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Changed => "changed",
            Outcome::Unchanged => "unchanged",
            Outcome::Refused => "refused",
            Outcome::Unreachable => "unreachable",
            Outcome::Failed => "failed",
        }
    }

    pub fn is_failure(self) -> bool {
        matches!(self, Outcome::Refused | Outcome::Unreachable | Outcome::Failed)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct HostReport {
    pub host: String,
    pub scheduler: String,
    pub artifact: String,
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// With [`Outcome::Failed`] by the agent's refusal: its error kind.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<schedfleet_proto::ErrorKind>,
    /// Artifact bytes sent to the host in this run (agent included).
    pub bytes_sent: u64,
    /// Milliseconds the agent took from open to `enabled`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub load_ms: Option<u64>,
    /// What the agent and the kernel said right after activation: the
    /// baseline of the health gates (`enable_seq`, event counters, and the
    /// host's own clock at the switch).
    #[serde(skip)]
    pub activated: Option<schedfleet_proto::Activated>,
    pub elapsed_ms: u64,
}

impl HostReport {
    /// The report of a host not yet (or not at all) worked on.
    pub fn new(spec: &crate::config::HostSpec) -> HostReport {
        HostReport {
            host: spec.host.name.clone(),
            scheduler: spec.scheduler.clone(),
            artifact: spec.artifact.digest.to_string(),
            outcome: Outcome::Failed,
            message: None,
            error_kind: None,
            bytes_sent: 0,
            load_ms: None,
            activated: None,
            elapsed_ms: 0,
        }
    }
}
