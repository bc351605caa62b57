//! The rollout's [`HostOps`] over SSH: activation through the deploy path,
//! status through `collect`, and single agent commands (`confirm`,
//! `rollback`, `lease release`) on fresh connections.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use schedfleet_proto::AGENT_LINK;

use super::run::HostOps;
use crate::collect::{self, CollectOptions, Collected};
use crate::config::HostSpec;
use crate::deploy::{self, ApplyOptions, HostReport, RemoteAgent};
use crate::transport::{self, ControlDir, HostSession};

pub struct SshOps {
    pub commit: String,
    pub apply: ApplyOptions,
    pub collect: CollectOptions,
    pub owner: String,
}

impl SshOps {
    /// Runs one agent command on `host` over a new connection.
    async fn agent(&self, host: &HostSpec, args: &[&str]) -> Result<serde_json::Value, String> {
        let targets = transport::targets::resolve([&host.host]).map_err(|e| format!("{e:#}"))?;
        let target = targets.get(&host.host.name).ok_or("lab host is not running")?;
        let control = ControlDir::new().map_err(|e| e.to_string())?;
        let session = HostSession::connect(&host.host.name, target, &control, self.apply.connect_timeout)
            .await
            .map_err(|e| e.to_string())?;
        let result = RemoteAgent::new(&session, AGENT_LINK.to_owned()).raw(args).await.map_err(|e| e.to_string());
        session.close().await;
        result
    }
}

impl HostOps for SshOps {
    async fn activate(&self, wave: &[&HostSpec]) -> Vec<HostReport> {
        match deploy::apply_hosts(wave, &self.commit, &self.apply).await {
            Ok(reports) => reports,
            Err(e) => wave
                .iter()
                .map(|s| HostReport {
                    host: s.host.name.clone(),
                    scheduler: s.scheduler.clone(),
                    artifact: s.artifact.digest.to_string(),
                    outcome: deploy::Outcome::Failed,
                    message: Some(format!("{e:#}")),
                    bytes_sent: 0,
                    load_ms: None,
                    activated: None,
                    elapsed_ms: 0,
                })
                .collect(),
        }
    }

    async fn statuses(&self, hosts: &[&HostSpec], latency_window: Option<Duration>) -> Vec<Collected> {
        let plain: Vec<_> = hosts.iter().map(|s| &s.host).collect();
        let mut opts = self.collect.clone();
        if let Some(w) = latency_window {
            let probes = self.apply.confirm.as_ref().and_then(|c| c.probes_json.as_deref());
            opts.status_args = collect::status_args(w, probes);
        }
        match collect::collect(&plain, &opts).await {
            Ok(answers) => answers,
            Err(e) => hosts
                .iter()
                .map(|s| Collected {
                    host: s.host.name.clone(),
                    reach: collect::Reach::Unreachable,
                    error: Some(format!("{e:#}")),
                    status: None,
                    facts: None,
                })
                .collect(),
        }
    }

    async fn confirm(&self, host: &HostSpec) -> Result<(), String> {
        self.agent(host, &["confirm", "--artifact", host.artifact.digest.as_str()]).await.map(drop)
    }

    async fn rollback(&self, host: &HostSpec) -> Result<(), String> {
        self.agent(host, &["rollback"]).await.map(drop)
    }

    async fn release(&self, hosts: &[&HostSpec]) {
        futures::stream::iter(hosts.iter())
            .for_each_concurrent(self.apply.parallel.max(1), |h| async move {
                if let Err(e) = self.agent(h, &["lease", "release", "--owner", &self.owner]).await {
                    tracing::warn!(host = %h.host.name, error = %e, "cannot release the host lease");
                }
            })
            .await;
    }

    fn now(&self) -> u64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
    }
}
