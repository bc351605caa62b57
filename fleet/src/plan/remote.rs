//! Planning every selected host: what it runs (from [`crate::collect`])
//! against its rendered desired state.

use std::collections::BTreeMap;

use schedfleet_proto::Facts;
use serde::Serialize;

use super::diff::{decide, Action, Current};
use crate::collect::{self, CollectOptions, Collected, Reach};
use crate::config::{placeholder_facts, DesiredState, HostPlan, HostSpec, Templates};
use crate::host::{Pool, Transport};
use crate::state::FactsCache;

/// Where the facts used for rendering came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FactsSource {
    Host,
    Cached,
    Placeholder,
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
    /// The desired parameters, rendered for this host.
    pub params: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current: Option<Current>,
    /// The agent's version on the host, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_version: Option<String>,
    pub facts: FactsSource,
    /// The desired state rendered with those facts, what `apply` asks the
    /// host to run (not printed: `params` is its face).
    #[serde(skip)]
    pub rendered: Option<HostPlan>,
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

/// Plans every host of `desired`, visiting them through `pool`.
pub async fn plan<T: Transport>(pool: &Pool<T>, desired: &DesiredState, opts: &CollectOptions) -> PlanReport {
    let hosts: Vec<_> = desired.hosts.iter().map(|s| &s.host).collect();
    let answers = collect::collect(pool, &hosts, opts).await;
    let templates = Templates::default();
    let cache = FactsCache::open();
    let hosts =
        desired.hosts.iter().zip(answers).map(|(spec, answer)| diff_one(spec, answer, &templates, &cache)).collect();
    PlanReport { commit: desired.commit.clone(), hosts }
}

fn diff_one(spec: &HostSpec, answer: Collected, templates: &Templates, cache: &FactsCache) -> HostDiff {
    let mut diff = HostDiff {
        host: spec.host.name.clone(),
        scheduler: spec.scheduler.clone(),
        artifact: spec.artifact.digest.to_string(),
        reach: answer.reach,
        action: None,
        reason: answer.error.unwrap_or_default(),
        params: BTreeMap::new(),
        current: answer.status.as_ref().map(Current::from),
        agent_version: answer.status.as_ref().map(|s| s.agent_version.clone()),
        facts: FactsSource::Placeholder,
        rendered: None,
    };
    if diff.reach != Reach::Ok {
        return diff;
    }
    let facts: Facts = match (answer.facts, cache.get(&spec.host.name)) {
        (Some(f), _) => {
            diff.facts = FactsSource::Host;
            f
        }
        (None, Some(f)) => {
            diff.facts = FactsSource::Cached;
            f
        }
        (None, None) => placeholder_facts(),
    };
    match spec.render(templates, &facts) {
        Err(e) => {
            diff.reach = Reach::Invalid;
            diff.reason = e.to_string();
        }
        Ok(plan) => {
            let (action, why) = decide(&plan, answer.status.as_ref());
            diff.action = Some(action);
            diff.reason = why;
            diff.params = plan.params.clone();
            diff.rendered = Some(plan);
        }
    }
    diff
}
