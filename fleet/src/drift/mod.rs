//! Drift: where the hosts differ from the repository, by kind, for cron
//! jobs and alerts. Built on [`crate::plan`]: a host has drifted exactly
//! when the plan's decision says `apply` would change it (the verdict is
//! that decision, never derived again here), and the kinds say why.
//!
//! Kinds are hard (`agent_missing`, `scheduler`, `artifact`, `params`,
//! `kernel_disagrees`: the host does not run what the repository says) or
//! soft (`commit`: the host runs the desired state but was applied from
//! another commit, as after any commit that did not touch it;
//! `agent_version`: an older or newer agent). Only hard kinds count as drift
//! unless the caller asks for strictness, so a cron job does not page on
//! every unrelated commit.

use serde::Serialize;

use crate::collect::Reach;
use crate::plan::{Action, HostDiff, PlanReport};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DriftKind {
    AgentMissing,
    Scheduler,
    Artifact,
    Params,
    KernelDisagrees,
    Commit,
    AgentVersion,
}

impl DriftKind {
    pub const ALL: [DriftKind; 7] = [
        DriftKind::AgentMissing,
        DriftKind::Scheduler,
        DriftKind::Artifact,
        DriftKind::Params,
        DriftKind::KernelDisagrees,
        DriftKind::Commit,
        DriftKind::AgentVersion,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DriftKind::AgentMissing => "agent_missing",
            DriftKind::Scheduler => "scheduler",
            DriftKind::Artifact => "artifact",
            DriftKind::Params => "params",
            DriftKind::KernelDisagrees => "kernel_disagrees",
            DriftKind::Commit => "commit",
            DriftKind::AgentVersion => "agent_version",
        }
    }

    pub fn is_hard(self) -> bool {
        !matches!(self, DriftKind::Commit | DriftKind::AgentVersion)
    }
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct DriftItem {
    pub kind: DriftKind,
    pub desired: String,
    pub actual: String,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct HostDrift {
    pub host: String,
    pub reach: Reach,
    /// The plan's decision for the host (`None` when it could not be planned).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<Action>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub drift: Vec<DriftItem>,
    /// The supervised upstream binary, when the host runs one (metrics only).
    #[serde(skip)]
    pub supervised: Option<schedfleet_proto::Supervised>,
    /// Its scx_stats, flattened to numeric fields (metrics only).
    #[serde(skip)]
    pub scx_stats: Vec<(String, f64)>,
    /// The ops name the kernel reports (metrics' label).
    #[serde(skip)]
    pub ops: Option<String>,
}

impl HostDrift {
    pub fn has(&self, kind: DriftKind) -> bool {
        self.drift.iter().any(|d| d.kind == kind)
    }

    /// Hard drift is the plan's verdict: `apply` would change the host.
    /// Soft kinds count only when `strict`.
    pub fn drifted(&self, strict: bool) -> bool {
        let apply_would_change = self.action.is_some_and(|a| a != Action::None);
        apply_would_change || (strict && self.drift.iter().any(|d| !d.kind.is_hard()))
    }
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct DriftReport {
    pub commit: String,
    /// Seconds since the Unix epoch when the check ran.
    pub checked_at: u64,
    pub hosts: Vec<HostDrift>,
}

impl DriftReport {
    pub fn from_plan(plan: &PlanReport, agent_version: &str, checked_at: u64) -> DriftReport {
        let hosts = plan.hosts.iter().map(|h| host_drift(h, &plan.commit, agent_version)).collect();
        DriftReport { commit: plan.commit.clone(), checked_at, hosts }
    }

    pub fn drifted(&self, strict: bool) -> usize {
        self.hosts.iter().filter(|h| h.drifted(strict)).count()
    }

    pub fn unreachable(&self) -> usize {
        self.hosts.iter().filter(|h| h.reach != Reach::Ok).count()
    }
}

fn params_text(p: &std::collections::BTreeMap<String, String>) -> String {
    p.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
}

fn host_drift(h: &HostDiff, commit: &str, agent_version: &str) -> HostDrift {
    let mut drift = Vec::new();
    let mut push = |kind, desired: String, actual: String| drift.push(DriftItem { kind, desired, actual });
    if h.reach == Reach::Ok {
        match &h.current {
            None => push(DriftKind::AgentMissing, agent_version.to_owned(), "none".into()),
            Some(cur) => {
                match &cur.artifact {
                    None => push(
                        DriftKind::Scheduler,
                        h.scheduler.clone(),
                        cur.ops.clone().map_or("kernel default".into(), |o| format!("`{o}` (not schedfleet's)")),
                    ),
                    Some(a) if *a != h.artifact => push(DriftKind::Artifact, h.artifact.clone(), a.clone()),
                    Some(_) => {
                        if !cur.kernel_agrees {
                            push(
                                DriftKind::KernelDisagrees,
                                format!("enabled `{}`", cur.ops.as_deref().unwrap_or(&h.scheduler)),
                                format!("{} `{}`", cur.kernel_state, cur.ops.as_deref().unwrap_or("none")),
                            );
                        }
                        // A binary's parameters only feed its arguments: its
                        // arguments are what it runs with.
                        // Compared before redaction (`args_differ`), shown
                        // after it, on both sides.
                        match &h.args {
                            Some(want) => {
                                if h.args_differ {
                                    let have = cur.args.clone().unwrap_or_default();
                                    push(DriftKind::Params, want.join(" "), have.join(" "));
                                }
                            }
                            None if cur.params != h.params => {
                                push(DriftKind::Params, params_text(&h.params), params_text(&cur.params))
                            }
                            None => {}
                        }
                        if cur.commit.as_deref() != Some(commit) {
                            push(DriftKind::Commit, commit.to_owned(), cur.commit.clone().unwrap_or_default());
                        }
                    }
                }
                if let Some(v) = h.agent_version.as_deref().filter(|v| *v != agent_version) {
                    push(DriftKind::AgentVersion, agent_version.to_owned(), v.to_owned());
                }
            }
        }
    }
    HostDrift {
        host: h.host.clone(),
        reach: h.reach,
        action: h.action,
        error: (h.reach != Reach::Ok).then(|| h.reason.clone()),
        drift,
        supervised: h.supervised.clone(),
        scx_stats: h.scx_stats.as_ref().map(numeric_fields).unwrap_or_default(),
        ops: h.current.as_ref().and_then(|c| c.ops.clone()),
    }
}

/// The numeric fields of a scheduler's scx_stats reply, flattened: nested
/// objects join their keys with `.` and arrays add the index (`cpus.3.util`),
/// booleans count as 0 or 1, text is left out. At most
/// [`MAX_STATS_FIELDS`], so a scheduler with per-task arrays cannot flood a
/// metrics file.
pub fn numeric_fields(stats: &serde_json::Value) -> Vec<(String, f64)> {
    fn walk(prefix: &str, v: &serde_json::Value, out: &mut Vec<(String, f64)>) {
        if out.len() >= MAX_STATS_FIELDS {
            return;
        }
        let key = |k: &str| if prefix.is_empty() { k.to_owned() } else { format!("{prefix}.{k}") };
        match v {
            serde_json::Value::Number(n) => {
                if let Some(f) = n.as_f64().filter(|f| f.is_finite()) {
                    out.push((prefix.to_owned(), f));
                }
            }
            serde_json::Value::Bool(b) => out.push((prefix.to_owned(), f64::from(u8::from(*b)))),
            serde_json::Value::Object(map) => map.iter().for_each(|(k, v)| walk(&key(k), v, out)),
            serde_json::Value::Array(items) => {
                items.iter().enumerate().for_each(|(i, v)| walk(&key(&i.to_string()), v, out))
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk("", stats, &mut out);
    out.retain(|(k, _)| !k.is_empty());
    out
}

/// The most scx_stats fields one host exposes as metrics.
pub const MAX_STATS_FIELDS: usize = 512;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Action, Current, FactsSource};

    fn diff(current: Option<Current>) -> HostDiff {
        HostDiff {
            host: "h".into(),
            scheduler: "simple".into(),
            artifact: "a".repeat(64),
            reach: Reach::Ok,
            action: Some(Action::None),
            reason: String::new(),
            params: [("slice_ns".to_owned(), "3".to_owned())].into(),
            args: None,
            args_differ: false,
            current,
            agent_version: Some("0.1.0".into()),
            facts: FactsSource::Host,
            rendered: None,
            supervised: None,
            scx_stats: None,
        }
    }

    fn current(artifact: Option<&str>, params: &[(&str, &str)], agrees: bool, commit: &str) -> Current {
        Current {
            kernel_state: if agrees { "enabled".into() } else { "disabled".into() },
            ops: agrees.then(|| "simple".into()),
            artifact: artifact.map(Into::into),
            params: params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            commit: Some(commit.into()),
            kernel_agrees: agrees,
            args: None,
        }
    }

    fn kinds(h: &HostDiff, version: &str) -> Vec<DriftKind> {
        host_drift(h, "c1", version).drift.iter().map(|d| d.kind).collect()
    }

    #[test]
    fn kinds_of_drift() {
        let a = "a".repeat(64);
        assert_eq!(kinds(&diff(Some(current(Some(&a), &[("slice_ns", "3")], true, "c1"))), "0.1.0"), vec![]);
        assert_eq!(kinds(&diff(None), "0.1.0"), vec![DriftKind::AgentMissing]);
        assert_eq!(kinds(&diff(Some(current(None, &[], false, "c1"))), "0.1.0"), vec![DriftKind::Scheduler]);
        assert_eq!(
            kinds(&diff(Some(current(Some(&"b".repeat(64)), &[], true, "c1"))), "0.1.0"),
            vec![DriftKind::Artifact]
        );
        assert_eq!(
            kinds(&diff(Some(current(Some(&a), &[("slice_ns", "4")], false, "c0"))), "0.2.0"),
            vec![DriftKind::KernelDisagrees, DriftKind::Params, DriftKind::Commit, DriftKind::AgentVersion]
        );
        let soft = host_drift(&diff(Some(current(Some(&a), &[("slice_ns", "3")], true, "c0"))), "c1", "0.1.0");
        assert!(!soft.drifted(false) && soft.drifted(true));
    }

    /// A binary whose argument carries a secret parameter: both sides are
    /// redacted, so the verdict comes from the comparison before redaction.
    #[test]
    fn binary_arguments_drift_by_their_values_and_show_redacted() {
        let a = "a".repeat(64);
        let redacted = vec!["--slice-us".to_owned(), "<redacted>".to_owned()];
        let mut d = diff(Some(Current { args: Some(redacted.clone()), ..current(Some(&a), &[], true, "c1") }));
        d.args = Some(redacted);
        assert_eq!(kinds(&d, "0.1.0"), vec![], "the same value, redacted on both sides: no drift");
        d.args_differ = true;
        let drift = host_drift(&d, "c1", "0.1.0").drift;
        assert_eq!(drift.len(), 1, "{drift:?}");
        assert_eq!(
            (drift[0].kind, drift[0].desired.as_str(), drift[0].actual.as_str()),
            (DriftKind::Params, "--slice-us <redacted>", "--slice-us <redacted>")
        );
    }

    #[test]
    fn the_verdict_is_the_plans_decision() {
        let a = "a".repeat(64);
        let mut d = diff(Some(current(Some(&a), &[("slice_ns", "4")], true, "c1")));
        d.action = Some(Action::Reconfigure);
        assert!(host_drift(&d, "c1", "0.1.0").drifted(false));
        // Whatever the kinds would say, a host the plan leaves alone has not drifted.
        d.action = Some(Action::None);
        assert!(!host_drift(&d, "c1", "0.1.0").drifted(false));
        d.action = None;
        d.reach = Reach::Unreachable;
        assert!(!host_drift(&d, "c1", "0.1.0").drifted(true));
    }

    #[test]
    fn numeric_scx_stats_are_flattened_and_text_is_left_out() {
        let stats = serde_json::json!({
            "nr_running": 3, "cpu_util": 12.5, "mode": "auto", "busy": true,
            "layers": {"a": {"util": 1}}, "cpus": [4, {"x": 5}]
        });
        let got = numeric_fields(&stats);
        assert_eq!(
            got,
            vec![
                ("busy".to_owned(), 1.0),
                ("cpu_util".to_owned(), 12.5),
                ("cpus.0".to_owned(), 4.0),
                ("cpus.1.x".to_owned(), 5.0),
                ("layers.a.util".to_owned(), 1.0),
                ("nr_running".to_owned(), 3.0),
            ]
        );
        let many = serde_json::Value::Array((0..2000).map(serde_json::Value::from).collect());
        assert_eq!(numeric_fields(&many).len(), MAX_STATS_FIELDS);
    }

    #[test]
    fn unreachable_hosts_are_not_drift() {
        let mut d = diff(None);
        d.reach = Reach::Unreachable;
        d.reason = "timed out".into();
        let h = host_drift(&d, "c1", "0.1.0");
        assert!(h.drift.is_empty());
        assert_eq!(h.error.as_deref(), Some("timed out"));
    }
}
