//! How the controller reaches hosts: SSH through the system `ssh`, one
//! multiplexed connection per host, host keys always checked strictly;
//! and where each host is reached (`targets`).

mod ssh;
pub mod targets;

pub use ssh::{ControlDir, HostSession, RemoteOutput, TransportError};
