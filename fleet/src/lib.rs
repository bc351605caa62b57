//! The schedfleet engine that the `schedfleet` CLI drives.
//!
//! It owns the model of the desired state (read from a git repository at a
//! commit), the one layer that talks to hosts (`host`: SSH with strict host
//! keys, one session per host for a whole run, the agent's typed client),
//! the deployment of schedulers, rollouts, drift, and the local VM lab. It
//! owns no argument parsing and no rendering of results for people: that
//! is the CLI's. The host agent shares only `schedfleet-proto` with it.

pub mod artifact;
pub mod collect;
pub mod config;
pub mod deploy;
pub mod drift;
mod error;
pub mod files;
pub mod health;
pub mod host;
pub mod lab;
pub mod plan;
pub mod repo;
pub mod rollout;
pub mod state;
#[cfg(test)]
mod testing;

pub use error::BadInput;
