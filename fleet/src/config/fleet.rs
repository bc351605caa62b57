//! `fleet.yaml`: which scheduler each host pattern runs with which
//! parameters, the template variables every host sees, the rollout policy
//! and the health gates. The first assignment whose pattern selects a host
//! wins.
//!
//! ```yaml
//! vars: { default_slice_ns: 5000000 }
//! assignments:
//!   - hosts: "gpu:&prod:!gpu-r07-08"
//!     scheduler: simple
//!     params: { slice_ns: "{{ 3000000 if facts.cpus >= 64 else default_slice_ns }}" }
//! rollout:
//!   waves: [1, "10%", "50%", "100%"]
//!   order_by: rack
//!   bake: 2m
//!   failure_budget: { per_wave: 0, total: "5%" }
//!   on_failure: rollback
//! health:
//!   max_events: { SCX_EV_SELECT_CPU_FALLBACK: 10000 }
//!   probes:
//!     - { name: serving, http: "http://127.0.0.1:8000/health", timeout: 2s }
//! ```

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;

use super::units::{HostCount, Span};
use super::yaml::Scalar;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FleetFile {
    /// Template variables every host sees; group and host variables override them.
    #[serde(default)]
    pub vars: BTreeMap<String, serde_json::Value>,
    /// Which scheduler each host runs; the first assignment whose pattern selects a host wins.
    pub assignments: Vec<Assignment>,
    #[serde(default)]
    pub rollout: RolloutPolicy,
    #[serde(default)]
    pub health: HealthGates,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Assignment {
    /// An Ansible-style host pattern: `all`, groups, host names, globs,
    /// `label=value`, combined with `:` (union), `:&` (and), `:!` (except).
    pub hosts: String,
    /// The name of a file `schedulers/<name>.yaml`.
    pub scheduler: String,
    /// Parameter values: scalars, or strings with minijinja templates.
    #[serde(default)]
    pub params: BTreeMap<String, Scalar>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RolloutPolicy {
    /// Wave sizes in hosts or percentages of the selected hosts, rounded up,
    /// at least one host each; the last wave takes the rest.
    #[serde(default = "default_waves")]
    pub waves: Vec<HostCount>,
    /// A label whose values order the hosts (rack by rack); hosts without it come last.
    #[serde(default)]
    pub order_by: Option<String>,
    /// How long each wave is watched before the next one starts.
    #[serde(default = "default_bake")]
    pub bake: Span,
    #[serde(default)]
    pub failure_budget: FailureBudget,
    #[serde(default)]
    pub on_failure: OnFailure,
    /// A host that is not confirmed within this time reverts by itself.
    #[serde(default = "default_confirm_timeout")]
    pub confirm_timeout: Span,
}

impl Default for RolloutPolicy {
    fn default() -> Self {
        RolloutPolicy {
            waves: default_waves(),
            order_by: None,
            bake: default_bake(),
            failure_budget: FailureBudget::default(),
            on_failure: OnFailure::default(),
            confirm_timeout: default_confirm_timeout(),
        }
    }
}

fn default_waves() -> Vec<HostCount> {
    vec![HostCount::Count(1), HostCount::Percent(100)]
}

fn default_bake() -> Span {
    Span(std::time::Duration::from_secs(30))
}

fn default_confirm_timeout() -> Span {
    Span(std::time::Duration::from_secs(120))
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FailureBudget {
    /// Failed hosts tolerated in one wave before the rollout halts.
    #[serde(default = "zero")]
    pub per_wave: HostCount,
    /// Failed hosts tolerated over the whole rollout.
    #[serde(default = "zero")]
    pub total: HostCount,
}

impl Default for FailureBudget {
    fn default() -> Self {
        FailureBudget { per_wave: zero(), total: zero() }
    }
}

fn zero() -> HostCount {
    HostCount::Count(0)
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnFailure {
    /// Return the hosts of earlier waves to their previous confirmed state.
    #[default]
    Rollback,
    /// Leave earlier waves as they are; only the failing wave falls back.
    Freeze,
}

#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HealthGates {
    /// Largest increase of each `SCX_EV_*` counter tolerated during a bake.
    #[serde(default)]
    pub max_events: BTreeMap<String, u64>,
    /// Checks the agent runs on each host during the bake.
    #[serde(default)]
    pub probes: Vec<Probe>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Probe {
    pub name: String,
    /// A command and its arguments, run without a shell; exit 0 is healthy.
    #[serde(default)]
    pub command: Option<Vec<String>>,
    /// An `http://` URL fetched with GET; a 2xx answer is healthy.
    #[serde(default)]
    pub http: Option<String>,
    #[serde(default = "default_probe_timeout")]
    pub timeout: Span,
}

fn default_probe_timeout() -> Span {
    Span(std::time::Duration::from_secs(5))
}

impl FleetFile {
    /// Cross-field checks serde cannot express.
    pub fn check(&self) -> Result<(), String> {
        if self.assignments.is_empty() {
            return Err("`assignments` is empty; assign at least one scheduler".into());
        }
        let r = &self.rollout;
        if r.waves.is_empty() {
            return Err("`rollout.waves` is empty; use e.g. `[1, \"100%\"]`".into());
        }
        if let Some(w) = r.waves.iter().find(|w| matches!(w, HostCount::Count(0) | HostCount::Percent(0))) {
            return Err(format!("`rollout.waves` has an empty wave `{w}`; every wave takes at least one host"));
        }
        if r.bake.0.is_zero() && r.waves.len() > 1 {
            return Err("`rollout.bake` is 0s with several waves: nothing would be watched between them".into());
        }
        if let Some(key) = &r.order_by {
            if !super::inventory::is_label_key(key) {
                return Err(format!("`rollout.order_by` `{key}` is not a label key"));
            }
        }
        for k in self.health.max_events.keys() {
            if !k.starts_with("SCX_EV_") {
                return Err(format!("`health.max_events`: `{k}` is not a sched_ext event name (they start with `SCX_EV_`)"));
            }
        }
        let mut names = std::collections::BTreeSet::new();
        for p in &self.health.probes {
            if !names.insert(p.name.as_str()) {
                return Err(format!("`health.probes`: two probes are named `{}`", p.name));
            }
            match (&p.command, &p.http) {
                (Some(cmd), None) if !cmd.is_empty() && !cmd[0].is_empty() => {}
                (None, Some(url)) if url.starts_with("http://") && !url.contains(char::is_whitespace) => {}
                (None, Some(url)) => return Err(format!("probe `{}`: `{url}` is not an http:// URL", p.name)),
                _ => return Err(format!("probe `{}` needs exactly one of `command` (a non-empty list) or `http`", p.name)),
            }
        }
        Ok(())
    }
}
