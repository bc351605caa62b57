//! How the controller reaches hosts: SSH through the system `ssh`, one
//! multiplexed connection per host, host keys always checked strictly.

mod ssh;

pub use ssh::{ControlDir, HostSession, RemoteOutput, TransportError};
