//! The one place that talks to hosts.
//!
//! `target` resolves where each host of a run is reached (once per run);
//! `pool` keeps one session per host for the whole run and bounds how many
//! hosts are visited at once; `ssh` is the transport (the only code that
//! opens a connection); `probe` is the first, read-only round trip of a
//! visit (kernel, sched_ext, a verified agent) and the agent's bootstrap;
//! `facts` reads a host's facts without the agent (nothing written);
//! `agent` is the typed client of the agent, speaking
//! [`schedfleet_proto::Request`]. Every visit ends in `Ok` or a
//! [`HostError`] that says whether the host was unreachable, its agent
//! refused (and with which kind), or a step failed.
//!
//! Everything else in `fleet` (collect, deploy, the rollout, undo) reaches
//! hosts through this module and owns no connection.

mod agent;
mod error;
mod facts;
#[cfg(test)]
pub(crate) mod memory;
mod pool;
mod probe;
mod session;
mod ssh;
mod target;

use std::time::Duration;

pub use agent::AgentClient;
pub use error::HostError;
pub use facts::facts_without_agent;
pub use pool::{Pool, Visit};
pub use probe::{agent_path, install_agent, probe, AgentOnHost, Probe};
pub use session::{Channel, RemoteOutput, Transport, TransportError};
pub use ssh::{ControlDir, HostSession, Ssh};
pub use target::Targets;

use crate::config::Host;

/// The pool of a real run: SSH to the given hosts.
pub type SshPool = Pool<Ssh>;

/// A pool over SSH for `hosts`, `parallel` visits at once.
pub fn ssh_pool<'a>(
    hosts: impl IntoIterator<Item = &'a Host>,
    parallel: usize,
    connect_timeout: Duration,
) -> anyhow::Result<SshPool> {
    let targets = Targets::resolve(hosts)?;
    Ok(Pool::new(Ssh::new(connect_timeout)?, targets, parallel))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// The invariant of ARCHITECTURE.md: only `fleet/src/host/` opens
    /// connections. Every Rust file of the controller is read; one that
    /// names the connecting API outside this folder fails the build's tests.
    #[test]
    fn only_the_host_layer_connects() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let own = root.join("fleet/src/host");
        let mut files = Vec::new();
        for dir in ["fleet/src", "cli/src"] {
            collect(&root.join(dir), &mut files);
        }
        assert!(files.len() > 50, "the walk found the sources ({} files)", files.len());
        let needles = ["HostSession::connect", "connect_mux", "SessionBuilder", "openssh::"];
        let offenders: Vec<String> = files
            .iter()
            .filter(|f| !f.starts_with(&own))
            .filter(|f| {
                let text = std::fs::read_to_string(f).unwrap();
                needles.iter().any(|n| text.contains(n))
            })
            .map(|f| f.display().to_string())
            .collect();
        assert!(offenders.is_empty(), "only fleet/src/host/ may connect to hosts: {offenders:?}");
    }

    fn collect(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                collect(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
}
