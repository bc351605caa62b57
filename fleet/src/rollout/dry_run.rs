//! `apply --dry-run`: the plan's decision for every host, in the shape of
//! the rollout it would start: which hosts change, in which wave, and why.
//! It is `plan`'s answer rearranged, never a second decision, so the two
//! cannot disagree.

use std::collections::BTreeMap;

use serde::Serialize;

use super::waves;
use crate::collect::Reach;
use crate::config::DesiredState;
use crate::plan::{Action, PlanReport};

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct DryRunReport {
    pub commit: String,
    /// The hosts of each wave the rollout would start.
    pub waves: Vec<Vec<String>>,
    pub hosts: Vec<DryRunHost>,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct DryRunHost {
    pub host: String,
    /// The wave it would change in (0-based); `None`: left as it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wave: Option<usize>,
    /// `unchanged` (already in its desired state), `would_change`, or
    /// `unreachable`/`refused`/`invalid`/`agent_error` (the rollout would
    /// try it and count it against the budget).
    pub state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<Action>,
    pub scheduler: String,
    pub artifact: String,
    pub reason: String,
}

impl DryRunReport {
    pub fn changes(&self) -> usize {
        self.hosts.iter().filter(|h| h.state == "would_change").count()
    }

    pub fn failures(&self) -> usize {
        self.hosts.iter().filter(|h| !matches!(h.state, "would_change" | "unchanged")).count()
    }
}

/// The rollout that `apply` would start from `plan`.
pub fn dry_run(desired: &DesiredState, plan: &PlanReport) -> DryRunReport {
    // The rollout's own rule (rollout::start): every host not planned as
    // `none` is a candidate, waves cut over the candidates.
    let to_change: Vec<&str> =
        plan.hosts.iter().filter(|h| h.action != Some(Action::None)).map(|h| h.host.as_str()).collect();
    let candidates: Vec<(String, BTreeMap<String, String>)> = desired
        .hosts
        .iter()
        .filter(|s| to_change.contains(&s.host.name.as_str()))
        .map(|s| (s.host.name.clone(), s.host.labels.clone()))
        .collect();
    let policy = &desired.fleet.rollout;
    let waves = waves::waves(&candidates, &policy.waves, policy.order_by.as_deref());
    let wave_of: BTreeMap<&str, usize> =
        waves.iter().flat_map(|w| w.hosts.iter().map(move |h| (h.as_str(), w.index))).collect();
    let hosts = plan
        .hosts
        .iter()
        .map(|h| DryRunHost {
            host: h.host.clone(),
            wave: wave_of.get(h.host.as_str()).copied(),
            state: match (h.reach, h.action) {
                (Reach::Ok, Some(Action::None)) => "unchanged",
                (Reach::Ok, Some(_)) => "would_change",
                (reach, _) => reach.as_str(),
            },
            action: h.action,
            scheduler: h.scheduler.clone(),
            artifact: h.artifact.clone(),
            reason: h.reason.clone(),
        })
        .collect();
    DryRunReport { commit: plan.commit.clone(), waves: waves.iter().map(|w| w.hosts.clone()).collect(), hosts }
}
