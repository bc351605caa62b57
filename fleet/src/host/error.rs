//! The one outcome type of a host visit: it was reached and did what was
//! asked (`Ok`), or it could not be reached (with the reason), or its agent
//! refused (with the agent's error kind), or a step on it failed. Callers
//! tell them apart all the way to the exit code and the journal: a host lost
//! to the network is not a host that failed its health gate.

use schedfleet_proto::{AgentError, ErrorKind};

use super::session::TransportError;

#[derive(Debug, Clone, thiserror::Error)]
pub enum HostError {
    /// No connection, a dropped one, or no answer in time.
    #[error("{reason}")]
    Unreachable { host: String, reason: String },
    /// The agent answered with an error.
    #[error("agent on `{host}`: {error}")]
    Agent { host: String, error: AgentError },
    /// The agent (or a bootstrap step) printed no valid reply.
    #[error("agent on `{host}` gave no valid reply to `{command}` (exit {code:?}): {detail}")]
    BadReply { host: String, command: String, code: Option<i32>, detail: String },
    /// A step of the agent's bootstrap failed on the host.
    #[error("`{step}` failed on `{host}` (exit {code:?}): {stderr}")]
    Step { host: String, step: String, code: Option<i32>, stderr: String },
}

impl HostError {
    pub fn unreachable(host: &str, reason: impl Into<String>) -> HostError {
        HostError::Unreachable { host: host.to_owned(), reason: reason.into() }
    }

    pub fn is_unreachable(&self) -> bool {
        matches!(self, HostError::Unreachable { .. })
    }

    /// The agent's error kind, when the agent refused.
    pub fn agent_kind(&self) -> Option<ErrorKind> {
        match self {
            HostError::Agent { error, .. } => Some(error.kind),
            _ => None,
        }
    }

    /// The agent's error, when the agent refused.
    pub fn agent_error(&self) -> Option<&AgentError> {
        match self {
            HostError::Agent { error, .. } => Some(error),
            _ => None,
        }
    }
}

impl From<TransportError> for HostError {
    fn from(e: TransportError) -> HostError {
        let host = match &e {
            TransportError::Connect { host, .. }
            | TransportError::Command { host, .. }
            | TransportError::Stdin { host, .. } => host.clone(),
        };
        HostError::Unreachable { host, reason: e.to_string() }
    }
}
