//! The agent's one error type: a [`Failure`] carries the wire kind the
//! controller matches on and a message a person can act on.

use schedfleet_proto::{AgentError, ErrorKind, Fallback, Lease};

#[derive(Debug)]
pub struct Failure {
    pub kind: ErrorKind,
    pub message: String,
    pub verifier_log: Option<String>,
    /// With [`ErrorKind::Reverted`]: the fallback that reverted the activation.
    pub last_fallback: Option<Box<Fallback>>,
    /// With [`ErrorKind::LeaseHeld`]: the other owner's lease.
    pub lease: Option<Lease>,
}

pub type Result<T, E = Failure> = std::result::Result<T, E>;

impl Failure {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Failure { kind, message: message.into(), verifier_log: None, last_fallback: None, lease: None }
    }

    /// An I/O failure on `path`, with what was being done.
    pub fn io(what: &str, path: &str, err: std::io::Error) -> Self {
        Failure::new(ErrorKind::Internal, format!("failed to {what} `{path}`: {err}"))
    }

    pub fn into_wire(self) -> AgentError {
        AgentError {
            kind: self.kind,
            message: self.message,
            verifier_log: self.verifier_log,
            last_fallback: self.last_fallback,
            lease: self.lease,
        }
    }
}
