//! The rollout's [`HostOps`] over the run's [`Pool`]: activation through the
//! deploy path, status through `collect`, and single agent commands
//! (`confirm`, `rollback`, `lease release`), every one over the session the
//! run already holds for the host.

use std::time::Duration;

use futures::StreamExt;
use schedfleet_proto::{StatusRequest, AGENT_LINK};

use super::run::HostOps;
use crate::collect::{self, CollectOptions, Collected};
use crate::config::HostSpec;
use crate::deploy::{self, ApplyOptions, HostReport};
use crate::host::{AgentOnHost, HostError, Pool, Transport};

pub struct PoolOps<'p, T: Transport> {
    pub pool: &'p Pool<T>,
    pub commit: String,
    pub apply: ApplyOptions,
    pub collect: CollectOptions,
    pub owner: String,
}

impl<T: Transport> PoolOps<'_, T> {
    /// Runs one agent command on `host` through the agent the host verified.
    async fn with_agent<R>(
        &self,
        host: &str,
        call: impl AsyncFnOnce(crate::host::AgentClient<'_, '_, T>) -> Result<R, HostError>,
    ) -> Result<R, HostError> {
        let v = self.pool.visit(host).await?;
        if let Some(path) = v.known_agent() {
            return call(v.agent(path)).await;
        }
        // The agent this run pushed, when the store holds it verified; the
        // linked one otherwise (a host of an earlier run).
        let probe = crate::host::probe(&v, Some(&self.apply.agent)).await?;
        let path = if probe.has_wanted {
            crate::host::agent_path(&self.apply.agent)
        } else {
            match probe.linked {
                AgentOnHost::Verified(p) => p,
                AgentOnHost::Absent => return Err(no_agent(host, AGENT_LINK)),
                AgentOnHost::Corrupt { path, .. } => return Err(no_agent(host, &path)),
            }
        };
        call(v.agent(path)).await
    }
}

fn no_agent(host: &str, path: &str) -> HostError {
    HostError::Step {
        host: host.to_owned(),
        step: "find the agent".into(),
        code: None,
        stderr: format!("no verified agent at `{path}`"),
    }
}

impl<T: Transport> HostOps for PoolOps<'_, T> {
    async fn activate(&self, wave: &[&HostSpec]) -> Vec<HostReport> {
        deploy::apply_hosts(self.pool, wave, &self.commit, &self.apply).await
    }

    async fn statuses(&self, hosts: &[&HostSpec], latency_window: Option<Duration>) -> Vec<Collected> {
        let names: Vec<&str> = hosts.iter().map(|s| s.host.name.as_str()).collect();
        let mut opts = self.collect.clone();
        opts.facts = false;
        if let Some(w) = latency_window {
            opts.status = StatusRequest { latency_window_ms: w.as_millis() as u64, ..opts.status };
        }
        collect::collect_names(self.pool, &names, &opts).await
    }

    async fn confirm(&self, hosts: &[&HostSpec]) -> Vec<Result<(), HostError>> {
        let fault = std::env::var("SCHEDFLEET_TEST_FAULT").unwrap_or_default();
        let fault = fault.as_str();
        futures::stream::iter(hosts.iter())
            .map(|h| async move {
                // Test-only: the connection to this host drops just before
                // its confirm, a window no test could hit by timing alone.
                if fault.strip_prefix("drop-before-confirm:") == Some(h.host.name.as_str()) {
                    self.pool.sever(&h.host.name).await;
                }
                let artifact = h.artifact.digest.as_str();
                self.with_agent(&h.host.name, async |a| a.confirm(artifact).await.map(drop)).await
            })
            .buffered(self.pool.parallel())
            .collect()
            .await
    }

    async fn rollback(&self, host: &HostSpec) -> Result<(), HostError> {
        self.with_agent(&host.host.name, async |a| a.rollback().await.map(drop)).await
    }

    async fn release(&self, hosts: &[&HostSpec]) {
        futures::stream::iter(hosts.iter())
            .for_each_concurrent(self.pool.parallel(), |h| async move {
                let owner = self.owner.as_str();
                if let Err(e) = self.with_agent(&h.host.name, async |a| a.lease_release(owner).await.map(drop)).await {
                    tracing::warn!(host = %h.host.name, error = %e, "cannot release the host lease");
                }
            })
            .await;
    }
}
