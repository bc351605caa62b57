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

use schedfleet_proto::bounds::{CONFIRM_WITHIN_SECS, LATENCY_WINDOW_MS};
use schemars::JsonSchema;
use serde::Deserialize;

use super::units::{HostCount, Span};
use super::yaml::{Scalar, Step};

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FleetFile {
    /// Template variables every host sees; group and host variables override them.
    #[serde(default)]
    pub vars: BTreeMap<String, serde_json::Value>,
    /// Which scheduler each host runs; the first assignment whose pattern selects a host wins.
    pub assignments: Vec<Assignment>,
    /// Parameters whose rendered values may be shown in errors, logs and the
    /// journal. Every other rendered value is treated as a secret: errors
    /// say what was expected, never what was rendered.
    #[serde(default)]
    pub public: Vec<String>,
    #[serde(default)]
    pub rollout: RolloutPolicy,
    #[serde(default)]
    pub health: HealthGates,
    /// The inventory file to read instead of `inventory.yaml`: schedfleet's
    /// format or an Ansible YAML or INI inventory (`--inventory` overrides it).
    #[serde(default)]
    pub inventory: Option<InventoryRef>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InventoryRef {
    /// Path of the inventory in the repository, relative to the config
    /// directory; its `group_vars/` and `host_vars/` are read beside it.
    pub file: String,
    /// `auto` (decided from the content), `schedfleet`, `ansible-yaml` or `ansible-ini`.
    #[serde(default)]
    pub format: super::ansible::InventoryFormat,
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
    /// Canary analysis of wake-up latency: each baking host against its own
    /// measurement just before activation and against hosts of later waves.
    #[serde(default)]
    pub latency: Option<LatencyGate>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LatencyGate {
    /// How long a host measures at each look: once before activation, then at every poll of the bake.
    #[serde(default = "default_latency_window")]
    pub window: Span,
    /// When a shift counts as a regression (Mann-Whitney U, effect size, p99 tolerance).
    #[serde(default)]
    pub policy: crate::health::CanaryPolicy,
    /// Measure only the tasks of this cgroup v2 (and below), e.g. the serving
    /// cgroup of an inference host: a path relative to the cgroup2 root
    /// (`/serving`) or under its mount point. Every host must have it.
    #[serde(default)]
    pub cgroup: Option<String>,
}

fn default_latency_window() -> Span {
    Span(std::time::Duration::from_secs(1))
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

impl HealthGates {
    /// The probes as the agent's `--probes` JSON; `None` when there are none.
    pub fn probes_json(&self) -> Option<String> {
        let specs: Vec<_> = self.probes.iter().map(Probe::to_spec).collect();
        (!specs.is_empty()).then(|| serde_json::to_string(&specs).expect("probe specs always serialize"))
    }
}

impl Probe {
    /// The probe as the agent takes it (`--probes`).
    pub fn to_spec(&self) -> schedfleet_proto::ProbeSpec {
        schedfleet_proto::ProbeSpec {
            name: self.name.clone(),
            command: self.command.clone(),
            http: self.http.clone(),
            timeout_ms: u64::try_from(self.timeout.0.as_millis()).unwrap_or(u64::MAX),
        }
    }
}

fn default_probe_timeout() -> Span {
    Span(std::time::Duration::from_secs(5))
}

impl FleetFile {
    /// Cross-field checks serde cannot express. An error comes with the path
    /// of the value it is about, so the caller can give its line.
    pub fn check(&self) -> Result<(), (Vec<Step<'_>>, String)> {
        use Step::{Index, Key};
        if self.assignments.is_empty() {
            return Err((vec![Key("assignments")], "`assignments` is empty; assign at least one scheduler".into()));
        }
        let r = &self.rollout;
        let waves = || vec![Key("rollout"), Key("waves")];
        if r.waves.is_empty() {
            return Err((waves(), "`rollout.waves` is empty; use e.g. `[1, \"100%\"]`".into()));
        }
        if let Some(i) = r.waves.iter().position(|w| matches!(w, HostCount::Count(0) | HostCount::Percent(0))) {
            let mut at = waves();
            at.push(Index(i));
            return Err((
                at,
                format!("`rollout.waves` has an empty wave `{}`; every wave takes at least one host", r.waves[i]),
            ));
        }
        if r.bake.0.is_zero() && r.waves.len() > 1 {
            return Err((
                vec![Key("rollout"), Key("bake")],
                "`rollout.bake` is 0s with several waves: nothing would be watched between them".into(),
            ));
        }
        if !CONFIRM_WITHIN_SECS.contains(r.confirm_timeout.0.as_secs()) {
            return Err((
                vec![Key("rollout"), Key("confirm_timeout")],
                format!(
                    "`rollout.confirm_timeout` {}: the agent takes {} ({}); shorten it",
                    r.confirm_timeout,
                    CONFIRM_WITHIN_SECS.expected(),
                    Span(std::time::Duration::from_secs(CONFIRM_WITHIN_SECS.max))
                ),
            ));
        }
        if r.confirm_timeout.0 <= r.bake.0 + std::time::Duration::from_secs(5) {
            return Err((
                vec![Key("rollout"), Key("confirm_timeout")],
                format!(
                    "`rollout.confirm_timeout` {} must exceed `rollout.bake` {} by more than 5s: hosts revert by themselves when not confirmed in time, and confirmation comes after the bake",
                    r.confirm_timeout, r.bake
                ),
            ));
        }
        if let Some(key) = &r.order_by {
            if !super::inventory::is_label_key(key) {
                return Err((
                    vec![Key("rollout"), Key("order_by")],
                    format!("`rollout.order_by` `{}` is not a label key", key.escape_debug()),
                ));
            }
        }
        for k in self.health.max_events.keys() {
            if !k.starts_with("SCX_EV_") {
                return Err((
                    vec![Key("health"), Key("max_events"), Key(k)],
                    format!(
                        "`health.max_events`: `{}` is not a sched_ext event name (they start with `SCX_EV_`)",
                        k.escape_debug()
                    ),
                ));
            }
        }
        if let Some(l) = &self.health.latency {
            if let Some(problem) = l.policy.problem() {
                return Err((
                    vec![Key("health"), Key("latency"), Key("policy")],
                    format!("`health.latency.policy`: {problem}"),
                ));
            }
            let ms = u64::try_from(l.window.0.as_millis()).unwrap_or(u64::MAX);
            if ms == 0 || !LATENCY_WINDOW_MS.contains(ms) {
                return Err((
                    vec![Key("health"), Key("latency"), Key("window")],
                    format!(
                        "`health.latency.window` {} must be between 1ms and {} (the agent's bound)",
                        l.window,
                        Span(std::time::Duration::from_millis(LATENCY_WINDOW_MS.max))
                    ),
                ));
            }
            if let Some(cgroup) = &l.cgroup {
                let one = schedfleet_bpf::param::parse_cgroup_paths(cgroup).and_then(|paths| {
                    if paths.len() == 1 {
                        Ok(())
                    } else {
                        Err("name exactly one cgroup".into())
                    }
                });
                if let Err(why) = one {
                    return Err((
                        vec![Key("health"), Key("latency"), Key("cgroup")],
                        format!("`health.latency.cgroup` `{}`: {why}", cgroup.escape_debug()),
                    ));
                }
            }
        }
        let mut names = std::collections::BTreeSet::new();
        for (i, p) in self.health.probes.iter().enumerate() {
            let at = || vec![Key("health"), Key("probes"), Index(i)];
            if p.name.is_empty() {
                return Err((at(), "a probe has an empty `name`; name it, as in `serving`".into()));
            }
            if !super::inventory::is_label_key(&p.name) {
                return Err((
                    at(),
                    format!("probe name `{}` may only hold letters, digits, `-`, `_`, `.`, `/`", p.name.escape_debug()),
                ));
            }
            if !names.insert(p.name.as_str()) {
                return Err((at(), format!("`health.probes`: two probes are named `{}`", p.name)));
            }
            // The agent's own checks (proto), so a probe it would refuse
            // is refused here, before any host is contacted.
            p.to_spec().check().map_err(|why| (at(), format!("`health.probes`: {why}")))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use schedfleet_proto::bounds::PROBE_TIMEOUT_MS;

    use super::*;

    fn check(yaml: &str) -> Result<(), String> {
        let text = format!("assignments:\n  - hosts: all\n    scheduler: simple\n{yaml}");
        let file: FleetFile = super::super::yaml::parse("fleet.yaml", text.as_bytes()).map_err(|e| e.to_string())?;
        file.check().map_err(|(_, why)| why)
    }

    /// The same bounds the agent's parser applies (its test
    /// `the_parser_refuses_exactly_past_the_proto_bounds`): the bound is
    /// taken, one past it is refused.
    #[test]
    fn validate_refuses_exactly_past_the_agents_bounds() {
        let confirm = |secs: u64| check(&format!("rollout:\n  confirm_timeout: {secs}s\n"));
        assert_eq!(confirm(CONFIRM_WITHIN_SECS.max), Ok(()));
        let err = confirm(CONFIRM_WITHIN_SECS.max + 1).unwrap_err();
        assert!(err.contains(&CONFIRM_WITHIN_SECS.expected()), "{err}");
        let window = |ms: u64| check(&format!("health:\n  latency:\n    window: {ms}ms\n"));
        assert_eq!(window(LATENCY_WINDOW_MS.max), Ok(()));
        assert!(window(LATENCY_WINDOW_MS.max + 1).is_err());
        let probe =
            |ms: u64| check(&format!("health:\n  probes:\n    - {{ name: p, command: [x], timeout: {ms}ms }}\n"));
        assert_eq!(probe(PROBE_TIMEOUT_MS.max), Ok(()));
        assert!(probe(PROBE_TIMEOUT_MS.max + 1).unwrap_err().contains(&PROBE_TIMEOUT_MS.expected()));
    }

    #[test]
    fn the_latency_gate_names_one_plain_cgroup() {
        let cgroup = |c: &str| check(&format!("health:\n  latency:\n    cgroup: '{c}'\n"));
        assert_eq!(cgroup("/system.slice/vllm.service"), Ok(()));
        assert!(cgroup("/a/../b").unwrap_err().contains("`health.latency.cgroup` `/a/../b`: "));
        assert!(cgroup("/a,/b").unwrap_err().contains("name exactly one cgroup"));
        assert!(cgroup("/").unwrap_err().contains("root cgroup"));
    }

    #[test]
    fn probe_urls_are_the_agents() {
        let url = |u: &str| check(&format!("health:\n  probes:\n    - {{ name: p, http: \"{u}\" }}\n"));
        assert_eq!(url("http://127.0.0.1:8000/health"), Ok(()));
        assert_eq!(url("http://[::1]/"), Ok(()));
        assert_eq!(url("http://localhost/"), Ok(()));
        assert!(url("http://serving.internal/health").unwrap_err().contains("no DNS resolver"));
        assert!(url("http://127.0.0.1/a b").unwrap_err().contains("percent-encode"));
    }
}
