//! Planning every selected host: what it runs (from [`crate::collect`])
//! against its rendered desired state, on the kernel it runs: a host whose
//! kernel the scheduler does not support (`kernels:`) is invalid, with the
//! reason, before anything is decided for it.

use std::collections::BTreeMap;

use schedfleet_proto::Facts;
use serde::Serialize;

use super::diff::{decide, Action, Current};
use crate::collect::{self, CollectOptions, Collected, Reach};
use crate::config::{placeholder_facts, DesiredState, HostPlan, HostSpec, Templates};
use crate::host::{Pool, Transport};
use crate::state::FactsCache;

/// Where the facts used for rendering came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FactsSource {
    Host,
    Cached,
    Placeholder,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
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
    /// For an upstream binary: its desired arguments, rendered for this
    /// host (values of parameters not declared public redacted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub args: Option<Vec<String>>,
    /// For an upstream binary: its desired arguments differ from those it
    /// runs, compared before redaction (`args` and `current.args` are
    /// redacted alike, so equal secrets and changed ones look the same).
    #[serde(skip)]
    pub args_differ: bool,
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
    /// The supervised process of the upstream binary the host runs, and
    /// what its scx_stats server answered (for drift's metrics; `status`
    /// prints them).
    #[serde(skip)]
    pub supervised: Option<schedfleet_proto::Supervised>,
    #[serde(skip)]
    pub scx_stats: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
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
        args: None,
        args_differ: false,
        current: answer.status.as_ref().map(Current::from),
        agent_version: answer.status.as_ref().map(|s| s.agent_version.clone()),
        facts: FactsSource::Placeholder,
        rendered: None,
        supervised: answer.status.as_ref().and_then(|s| s.supervised.clone()),
        scx_stats: answer.status.as_ref().and_then(|s| s.scx_stats.clone()),
    };
    if diff.reach != Reach::Ok {
        return diff;
    }
    let mut facts: Facts = match (answer.facts, cache.get(&spec.host.name)) {
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
    // The probe's release is read on every visit; cached facts may predate
    // a kernel update (a scheduler's `kernels:` is checked against it).
    if let Some(release) = answer.kernel_release {
        facts.kernel_release = release;
    }
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
            if let Some(b) = &plan.binary {
                let running = diff.current.as_mut().and_then(|c| c.args.as_mut());
                diff.args_differ = running.as_deref().map_or(!b.spec.args.is_empty(), |have| *have != b.spec.args);
                // What the host runs is shown like what is desired: values
                // of parameters not declared public redacted.
                for arg in running.into_iter().flatten() {
                    *arg = plan.redact(arg);
                }
                diff.args = Some(b.spec.args.iter().map(|a| plan.redact(a)).collect());
            }
            diff.rendered = Some(plan);
        }
    }
    diff
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::host::memory::{MemoryHost, MemoryTransport};
    use crate::host::RemoteOutput;

    /// A host with sched_ext and no agent yet, running kernel `release`.
    fn bare_host(name: &str, release: &'static str) -> MemoryHost {
        MemoryHost {
            respond: Arc::new(move |program, _, _| {
                assert_eq!(program, "sh", "only the read-only probe runs on a host without an agent");
                let stdout = format!("release {release}\nsched_ext disabled\n").into_bytes();
                RemoteOutput { code: Some(0), stdout, stderr: String::new() }
            }),
            ..MemoryHost::healthy(name)
        }
    }

    async fn plan_on(scheduler_yaml: &str) -> (PlanReport, MemoryTransport) {
        let desired = crate::testing::desired_with_scheduler(2, scheduler_yaml);
        let transport = MemoryTransport::new([
            bare_host("h01", "7.2.6+deb13-cloud-amd64"),
            bare_host("h02", "7.3.4+deb13-cloud-amd64"),
        ]);
        let pool = Pool::new(transport.clone(), transport.targets(), 4);
        (plan(&pool, &desired, &CollectOptions::default()).await, transport)
    }

    #[tokio::test]
    async fn a_host_on_a_kernel_the_scheduler_does_not_support_is_invalid_with_the_reason() {
        let (report, transport) = plan_on("source: builtin:simple\nkernels: \">=7.3\"\n").await;
        let h01 = &report.hosts[0];
        assert_eq!((h01.reach, h01.action), (Reach::Invalid, None), "{h01:?}");
        assert_eq!(
            h01.reason,
            "host `h01`: kernel `7.2.6+deb13-cloud-amd64` is outside what it supports; scheduler `simple` \
             supports `kernels: >=7.3` (`schedulers/simple.yaml` line 2), so nothing is changed on this host"
        );
        let h02 = &report.hosts[1];
        assert_eq!((h02.reach, h02.action), (Reach::Ok, Some(Action::Install)), "{h02:?}");
        assert_eq!(report.failures(), 1);
        // Without an agent: the probe and the read-only facts script, nothing more.
        assert_eq!(transport.commands("h01").len(), 2);
    }

    #[tokio::test]
    async fn without_kernels_nothing_more_is_asked() {
        let (report, transport) = plan_on("source: builtin:simple\n").await;
        assert!(report.hosts.iter().all(|h| h.action == Some(Action::Install)), "{:?}", report.hosts);
        assert_eq!(transport.commands("h01").len(), 2, "the probe and the read-only facts, as without `kernels:`");
    }
}
