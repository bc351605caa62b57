//! Asking hosts what they run, read-only and in parallel: the agent's
//! status report and facts, for `plan`, `status`, `drift` and the
//! rollout's bakes. Nothing is pushed and nothing is changed; a host without
//! an agent is reported as such, its facts read without the agent
//! ([`host::facts_without_agent`]). Every host gets a deadline, so one hung
//! host cannot hold up a cron job. Hosts are reached through a
//! [`Pool`], so a run that collects again (every bake poll) reuses its
//! sessions.

use std::time::Duration;

use futures::StreamExt;
use schedfleet_proto::{ErrorKind, Facts, Status, StatusRequest};
use serde::Serialize;

use crate::config::Host;
use crate::host::{self, AgentOnHost, HostError, Pool, Transport};
use crate::state::FactsCache;

#[derive(Debug, Clone)]
pub struct CollectOptions {
    /// The whole visit of one host, connection included.
    pub host_timeout: Duration,
    /// What `status` is asked for. The default measures no latency:
    /// `plan` and `drift` need what runs, not how it performs, and a window
    /// costs its length on every host.
    pub status: StatusRequest,
    /// Also ask for the host's facts.
    pub facts: bool,
}

impl Default for CollectOptions {
    fn default() -> Self {
        CollectOptions { host_timeout: Duration::from_secs(60), status: StatusRequest::default(), facts: true }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Reach {
    Ok,
    Unreachable,
    /// No sched_ext on the host.
    Refused,
    /// The host's parameters do not render or check with its facts.
    Invalid,
    /// The host's agent answered with an error (see `error_kind`).
    AgentError,
}

impl Reach {
    /// The word used in tables and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Reach::Ok => "ok",
            Reach::Unreachable => "unreachable",
            Reach::Refused => "refused",
            Reach::Invalid => "invalid",
            Reach::AgentError => "agent_error",
        }
    }
}

/// What one host said.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Collected {
    pub host: String,
    pub reach: Reach,
    /// Why the host could not be asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// With [`Reach::AgentError`]: the agent's error kind.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<ErrorKind>,
    /// `None` when the host has no agent yet (or could not be asked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub facts: Option<Facts>,
    /// The kernel release the host's first probe read (always fresh, unlike
    /// cached facts); `None` when the host could not be probed.
    #[serde(skip)]
    pub kernel_release: Option<String>,
}

impl Collected {
    pub fn failed(host: &str, e: &HostError) -> Collected {
        let reach = if e.agent_kind().is_some() { Reach::AgentError } else { Reach::Unreachable };
        Collected {
            host: host.to_owned(),
            reach,
            error: Some(e.to_string()),
            error_kind: e.agent_kind(),
            status: None,
            facts: None,
            kernel_release: None,
        }
    }

    fn refused(host: &str, why: String) -> Collected {
        Collected {
            host: host.to_owned(),
            reach: Reach::Refused,
            error: Some(why),
            error_kind: None,
            status: None,
            facts: None,
            kernel_release: None,
        }
    }
}

/// Visits `hosts` and returns their answers in the order given.
pub async fn collect<T: Transport>(pool: &Pool<T>, hosts: &[&Host], opts: &CollectOptions) -> Vec<Collected> {
    let names: Vec<&str> = hosts.iter().map(|h| h.name.as_str()).collect();
    let answers = collect_names(pool, &names, opts).await;
    let cache = FactsCache::open();
    for a in &answers {
        if let Some(f) = &a.facts {
            cache.put(&a.host, f);
        }
    }
    answers
}

/// [`collect`] by host name, without touching the facts cache (the
/// rollout's bake polls, which ask for no facts).
pub async fn collect_names<T: Transport>(pool: &Pool<T>, hosts: &[&str], opts: &CollectOptions) -> Vec<Collected> {
    // `buffered`, not `buffer_unordered`: answers come back in the order
    // asked. No more visits start than the pool admits at once, so a host's
    // deadline does not run while it waits for its turn.
    futures::stream::iter(hosts.iter())
        .map(|host| async move {
            match tokio::time::timeout(opts.host_timeout, visit(pool, host, opts)).await {
                Ok(answer) => answer,
                Err(_) => Collected::failed(
                    host,
                    &HostError::unreachable(host, format!("no answer within {:?}", opts.host_timeout)),
                ),
            }
        })
        .buffered(pool.parallel())
        .collect()
        .await
}

async fn visit<T: Transport>(pool: &Pool<T>, host: &str, opts: &CollectOptions) -> Collected {
    match ask(pool, host, opts).await {
        Ok(answer) => answer,
        Err(e) => Collected::failed(host, &e),
    }
}

async fn ask<T: Transport>(pool: &Pool<T>, host: &str, opts: &CollectOptions) -> Result<Collected, HostError> {
    let v = pool.visit(host).await?;
    let probe = host::probe(&v, None).await?;
    if probe.sched_ext_state.is_none() {
        return Ok(Collected::refused(host, format!("kernel `{}` has no sched_ext", probe.kernel_release)));
    }
    let mut answer = Collected {
        host: host.to_owned(),
        reach: Reach::Ok,
        error: None,
        error_kind: None,
        status: None,
        facts: None,
        kernel_release: Some(probe.kernel_release.clone()),
    };
    let path = match probe.linked {
        AgentOnHost::Verified(path) => path,
        other => {
            if let AgentOnHost::Corrupt { path, got } = other {
                // Never run it; `apply` replaces it.
                answer.error = Some(format!(
                    "the agent at `{path}` does not match its digest (sha256 {}); it is not run",
                    got.as_deref().unwrap_or("unreadable")
                ));
            }
            // Without an agent the facts are read by a read-only script, so
            // every host renders with its real facts before anything is
            // pushed, and a host that had no agent keeps nothing of it.
            if opts.facts {
                answer.facts = Some(host::facts_without_agent(&v).await?);
            }
            return Ok(answer);
        }
    };
    let agent = v.agent(path);
    answer.status = Some(agent.status(opts.status.clone()).await?);
    if opts.facts {
        answer.facts = Some(agent.facts().await?);
    }
    Ok(answer)
}
