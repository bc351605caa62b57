//! Asking hosts what they run, read-only and in parallel: the agent's
//! status report and facts, for `plan`, `status` and `drift`. Nothing is
//! pushed and nothing is changed; a host without an agent is reported as
//! such. Every host gets a deadline, so one hung host cannot hold up a cron
//! job.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Result;
use futures::StreamExt;
use schedfleet_proto::{Facts, Status, AGENT_LINK};
use serde::Serialize;

use crate::config::{Host, SshTarget};
use crate::deploy::{preflight, RemoteAgent};
use crate::state::FactsCache;
use crate::transport::{self, ControlDir, HostSession};

#[derive(Debug, Clone)]
pub struct CollectOptions {
    pub parallel: usize,
    pub connect_timeout: Duration,
    /// The whole visit of one host, connection included.
    pub host_timeout: Duration,
    /// Extra arguments for `schedfleet-agent status`.
    pub status_args: Vec<String>,
}

impl Default for CollectOptions {
    fn default() -> Self {
        CollectOptions {
            parallel: 32,
            connect_timeout: Duration::from_secs(10),
            host_timeout: Duration::from_secs(60),
            // No latency window: `plan` and `drift` need what runs, not how it
            // performs, and a window costs a second per host.
            status_args: status_args(Duration::ZERO, None),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reach {
    Ok,
    Unreachable,
    /// No sched_ext on the host.
    Refused,
    /// The host's parameters do not render or check with its facts.
    Invalid,
}

impl Reach {
    /// The word used in tables and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Reach::Ok => "ok",
            Reach::Unreachable => "unreachable",
            Reach::Refused => "refused",
            Reach::Invalid => "invalid",
        }
    }
}

/// Arguments of `schedfleet-agent status`: measure wake-up latency for
/// `latency_window` (zero: not at all) and run these probes (`--probes` JSON).
pub fn status_args(latency_window: Duration, probes_json: Option<&str>) -> Vec<String> {
    let mut args = vec!["--latency-window".to_owned(), latency_window.as_millis().to_string()];
    if let Some(p) = probes_json {
        args.extend(["--probes".to_owned(), p.to_owned()]);
    }
    args
}

/// What one host said.
#[derive(Debug, Clone, Serialize)]
pub struct Collected {
    pub host: String,
    pub reach: Reach,
    /// Why the host could not be asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// `None` when the host has no agent yet (or could not be asked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub facts: Option<Facts>,
}

/// Visits `hosts` and returns their answers in the order given.
pub async fn collect(hosts: &[&Host], opts: &CollectOptions) -> Result<Vec<Collected>> {
    let targets = transport::targets::resolve(hosts.iter().copied())?;
    let control = ControlDir::new()?;
    let control = &control;
    let mut answers: BTreeMap<String, Collected> = futures::stream::iter(hosts.iter())
        .map(|host| {
            let target = targets.get(&host.name).cloned();
            async move {
                let visit = visit(&host.name, target, opts, control);
                let answer = match tokio::time::timeout(opts.host_timeout, visit).await {
                    Ok(a) => a,
                    Err(_) => {
                        failed(&host.name, Reach::Unreachable, format!("no answer within {:?}", opts.host_timeout))
                    }
                };
                (host.name.clone(), answer)
            }
        })
        .buffer_unordered(opts.parallel.max(1))
        .collect()
        .await;
    let cache = FactsCache::open();
    Ok(hosts
        .iter()
        .map(|h| {
            let a = answers.remove(&h.name).expect("every host answers");
            if let Some(f) = &a.facts {
                cache.put(&h.name, f);
            }
            a
        })
        .collect())
}

fn failed(host: &str, reach: Reach, error: String) -> Collected {
    Collected { host: host.to_owned(), reach, error: Some(error), status: None, facts: None }
}

async fn visit(host: &str, target: Option<SshTarget>, opts: &CollectOptions, control: &ControlDir) -> Collected {
    let Some(target) = target else {
        return failed(host, Reach::Unreachable, "lab host is not running; start it with `schedfleet lab up`".into());
    };
    let session = match HostSession::connect(host, &target, control, opts.connect_timeout).await {
        Ok(s) => s,
        Err(e) => return failed(host, Reach::Unreachable, e.to_string()),
    };
    let answer = ask(&session, opts).await;
    session.close().await;
    match answer {
        Ok((status, facts)) => Collected { host: host.to_owned(), reach: Reach::Ok, error: None, status, facts },
        Err((reach, why)) => failed(host, reach, why),
    }
}

type Answer = (Option<Status>, Option<Facts>);

async fn ask(s: &HostSession, opts: &CollectOptions) -> Result<Answer, (Reach, String)> {
    let pre = preflight(s).await.map_err(|e| (Reach::Unreachable, e.to_string()))?;
    if pre.sched_ext_state.is_none() {
        return Err((Reach::Refused, format!("kernel `{}` has no sched_ext", pre.kernel_release)));
    }
    let has_agent = s.run("test", &["-x", AGENT_LINK]).await.map_err(|e| (Reach::Unreachable, e.to_string()))?;
    if !has_agent.success() {
        return Ok((None, None));
    }
    let agent = RemoteAgent::new(s, AGENT_LINK.to_owned());
    let args: Vec<&str> = opts.status_args.iter().map(String::as_str).collect();
    let status = agent.status_with(&args).await.map_err(|e| (Reach::Unreachable, e.to_string()))?;
    let facts = agent.facts().await.map_err(|e| (Reach::Unreachable, e.to_string()))?;
    Ok((Some(status), Some(facts)))
}
