//! Collecting what hosts run, in parallel, and deciding per host.

use std::time::Duration;

use anyhow::Result;
use futures::StreamExt;
use schedfleet_proto::{Facts, AGENT_LINK};
use serde::Serialize;

use super::diff::{decide, Action, Current};
use crate::config::{placeholder_facts, DesiredState, HostSpec, SshTarget, Templates};
use crate::deploy::{preflight, RemoteAgent};
use crate::state::FactsCache;
use crate::transport::{self, ControlDir, HostSession};

#[derive(Debug, Clone)]
pub struct PlanOptions {
    pub parallel: usize,
    pub connect_timeout: Duration,
}

/// Where the facts used for rendering came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FactsSource {
    Host,
    Cached,
    Placeholder,
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

#[derive(Debug, Clone, Serialize)]
pub struct HostDiff {
    pub host: String,
    pub scheduler: String,
    pub artifact: String,
    pub reach: Reach,
    /// `None` when the host could not be planned (see `reach`, `reason`).
    pub action: Option<Action>,
    pub reason: String,
    pub params: std::collections::BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current: Option<Current>,
    pub facts: FactsSource,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlanReport {
    pub commit: String,
    pub hosts: Vec<HostDiff>,
}

impl PlanReport {
    pub fn changes(&self) -> usize {
        self.hosts.iter().filter(|h| h.action.is_some_and(|a| a != Action::None)).count()
    }

    pub fn failures(&self) -> usize {
        self.hosts.iter().filter(|h| h.reach != Reach::Ok).count()
    }
}

pub async fn plan(desired: &DesiredState, opts: &PlanOptions) -> Result<PlanReport> {
    let targets = transport::targets::resolve(desired.hosts.iter().map(|s| &s.host))?;
    let control = ControlDir::new()?;
    let templates = Templates::default();
    let (control, templates) = (&control, &templates);
    let mut hosts: Vec<HostDiff> = futures::stream::iter(desired.hosts.iter())
        .map(|spec| {
            let target = targets.get(&spec.host.name).cloned();
            async move { plan_one(spec, target, opts, control, templates).await }
        })
        .buffer_unordered(opts.parallel.max(1))
        .collect()
        .await;
    let order: Vec<&str> = desired.hosts.iter().map(|s| s.host.name.as_str()).collect();
    hosts.sort_by_key(|h| order.iter().position(|n| *n == h.host));
    Ok(PlanReport { commit: desired.commit.clone(), hosts })
}

async fn plan_one(
    spec: &HostSpec,
    target: Option<SshTarget>,
    opts: &PlanOptions,
    control: &ControlDir,
    templates: &Templates,
) -> HostDiff {
    let mut diff = HostDiff {
        host: spec.host.name.clone(),
        scheduler: spec.scheduler.clone(),
        artifact: spec.artifact.digest.to_string(),
        reach: Reach::Unreachable,
        action: None,
        reason: String::new(),
        params: Default::default(),
        current: None,
        facts: FactsSource::Placeholder,
    };
    let Some(target) = target else {
        diff.reason = "lab host is not running; start it with `schedfleet lab up`".into();
        return diff;
    };
    let session = match HostSession::connect(&spec.host.name, &target, control, opts.connect_timeout).await {
        Ok(s) => s,
        Err(e) => {
            diff.reason = e.to_string();
            return diff;
        }
    };
    let collected = collect(&session).await;
    session.close().await;
    let (status, facts) = match collected {
        Ok(c) => c,
        Err((reach, why)) => {
            diff.reach = reach;
            diff.reason = why;
            return diff;
        }
    };
    let cache = FactsCache::open();
    let facts: Facts = match facts {
        Some(f) => {
            cache.put(&spec.host.name, &f);
            diff.facts = FactsSource::Host;
            f
        }
        None => match cache.get(&spec.host.name) {
            Some(f) => {
                diff.facts = FactsSource::Cached;
                f
            }
            None => placeholder_facts(),
        },
    };
    diff.current = status.as_ref().map(Current::from);
    match spec.render(templates, &facts) {
        Err(e) => {
            diff.reach = Reach::Invalid;
            diff.reason = e.to_string();
        }
        Ok(plan) => {
            let (action, why) = decide(&plan, status.as_ref());
            diff.reach = Reach::Ok;
            diff.action = Some(action);
            diff.reason = why;
            diff.params = plan.params;
        }
    }
    diff
}

type Collected = (Option<schedfleet_proto::Status>, Option<Facts>);

/// The host's status and facts from its agent, if it has one; read only.
async fn collect(s: &HostSession) -> Result<Collected, (Reach, String)> {
    let pre = preflight(s).await.map_err(|e| (Reach::Unreachable, e.to_string()))?;
    if pre.sched_ext_state.is_none() {
        return Err((Reach::Refused, format!("kernel `{}` has no sched_ext", pre.kernel_release)));
    }
    let has_agent = s.run("test", &["-x", AGENT_LINK]).await.map_err(|e| (Reach::Unreachable, e.to_string()))?;
    if !has_agent.success() {
        return Ok((None, None));
    }
    let agent = RemoteAgent::new(s, AGENT_LINK.to_owned());
    let status = agent.status().await.map_err(|e| (Reach::Unreachable, e.to_string()))?;
    let facts = agent.facts().await.map_err(|e| (Reach::Unreachable, e.to_string()))?;
    Ok((Some(status), Some(facts)))
}
