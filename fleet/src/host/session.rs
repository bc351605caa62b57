//! What the pool needs of a transport: open a session to a host, run a
//! program on it, tell whether the session still stands, close it. SSH
//! ([`super::ssh`]) is the real one; tests use one in memory.

use crate::config::SshTarget;

#[derive(Debug, Clone, thiserror::Error)]
pub enum TransportError {
    #[error("cannot connect to `{host}` ({user}@{address}:{port}): {reason}")]
    Connect { host: String, user: String, address: String, port: u16, reason: String },
    #[error("`{program}` on `{host}` failed: {reason}")]
    Command { host: String, program: String, reason: String },
    #[error("sending data to `{program}` on `{host}` failed: {reason}")]
    Stdin { host: String, program: String, reason: String },
}

/// What a remote command did.
#[derive(Debug, Clone)]
pub struct RemoteOutput {
    /// `None` when the command was killed by a signal.
    pub code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl RemoteOutput {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

/// Opens sessions to hosts.
#[allow(async_fn_in_trait)]
pub trait Transport {
    type Session: Channel;
    async fn connect(&self, host: &str, target: &SshTarget) -> Result<Self::Session, TransportError>;
}

/// One open session to one host; commands may run on it concurrently.
#[allow(async_fn_in_trait)]
pub trait Channel {
    /// Runs `program args...`, with `input` on its stdin when given.
    async fn run(&self, program: &str, args: &[String], input: Option<&[u8]>) -> Result<RemoteOutput, TransportError>;
    /// Whether the session (the SSH master) still stands.
    async fn alive(&self) -> bool;
    async fn close(self);
}
