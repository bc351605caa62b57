//! The decision, as a pure function of the desired plan and the agent's
//! status report: the one place that says whether a host is in its desired
//! state. `apply` and `plan` both use it.

use std::collections::BTreeMap;

use schedfleet_proto::Status;
use serde::Serialize;

use crate::config::HostPlan;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// The host runs exactly the desired state.
    None,
    /// No agent or no scheduler of ours yet: push and activate.
    Install,
    /// Another artifact runs: switch to the desired one.
    Replace,
    /// The desired artifact runs with other parameters: reload it.
    Reconfigure,
    /// The agent's record and the kernel disagree (ejected, reloaded or
    /// removed behind schedfleet's back): activate again.
    Repair,
}

impl Action {
    /// The word used in tables and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::None => "none",
            Action::Install => "install",
            Action::Replace => "replace",
            Action::Reconfigure => "reconfigure",
            Action::Repair => "repair",
        }
    }
}

/// What a host runs, as its agent reports it.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Current {
    pub kernel_state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ops: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artifact: Option<String>,
    pub params: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    pub kernel_agrees: bool,
    /// The arguments of the upstream binary it runs, when it runs one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub args: Option<Vec<String>>,
}

impl From<&Status> for Current {
    fn from(s: &Status) -> Self {
        Current {
            kernel_state: s.kernel.state.clone(),
            ops: s.kernel.ops.clone(),
            artifact: s.active.as_ref().map(|a| a.artifact.clone()),
            params: s.active.as_ref().map(|a| a.params.clone()).unwrap_or_default(),
            commit: s.active.as_ref().and_then(|a| a.commit.clone()),
            kernel_agrees: s.kernel_agrees,
            args: s.active.as_ref().and_then(|a| a.binary.as_ref()).map(|b| b.args.clone()),
        }
    }
}

/// The action that brings the host to `plan`, and why, in words.
pub fn decide(plan: &HostPlan, status: Option<&Status>) -> (Action, String) {
    let Some(status) = status else {
        return (Action::Install, "no schedfleet agent on the host yet".into());
    };
    let Some(active) = &status.active else {
        return match &status.kernel.ops {
            Some(ops) if status.kernel.state != "disabled" => {
                (Action::Install, format!("runs `{ops}`, not loaded by schedfleet"))
            }
            _ => (Action::Install, "runs the kernel's default scheduler".into()),
        };
    };
    if active.artifact != plan.artifact.digest.as_str() {
        return (Action::Replace, format!("runs artifact {}…", &active.artifact[..12.min(active.artifact.len())]));
    }
    if !status.kernel_agrees {
        return (
            Action::Repair,
            format!(
                "the kernel disagrees with the agent (kernel `{}`, ops `{}`)",
                status.kernel.state,
                status.kernel.ops.as_deref().unwrap_or("none")
            ),
        );
    }
    if let Some(want) = &plan.binary {
        return match &active.binary {
            Some(have) if *have == want.spec => (Action::None, "in sync".into()),
            Some(have) => (Action::Reconfigure, plan.redact(&binary_changes(have, &want.spec))),
            // The same digest loaded as a BPF object: start it as the binary.
            None => (Action::Replace, "runs this artifact as a BPF object, not as a binary".into()),
        };
    }
    if active.params != plan.params {
        let changed: Vec<String> = plan
            .params
            .iter()
            .filter(|(k, v)| active.params.get(*k) != Some(*v))
            .map(|(k, v)| format!("{k}: {} -> {v}", active.params.get(k).map_or("unset", String::as_str)))
            .chain(active.params.keys().filter(|k| !plan.params.contains_key(*k)).map(|k| format!("{k}: unset")))
            .collect();
        return (Action::Reconfigure, changed.join(", "));
    }
    (Action::None, "in sync".into())
}

/// What differs between the binary a host runs and the desired one, in words.
fn binary_changes(have: &schedfleet_proto::BinarySpec, want: &schedfleet_proto::BinarySpec) -> String {
    let mut out = Vec::new();
    if have.args != want.args {
        out.push(format!("args: `{}` -> `{}`", have.args.join(" "), want.args.join(" ")));
    }
    if have.env != want.env {
        let text =
            |e: &BTreeMap<String, String>| e.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ");
        out.push(format!("env: `{}` -> `{}`", text(&have.env), text(&want.env)));
    }
    if have.restart != want.restart {
        out.push("restart policy".into());
    }
    if have.start_timeout_ms != want.start_timeout_ms {
        out.push(format!("start_timeout: {} ms -> {} ms", have.start_timeout_ms, want.start_timeout_ms));
    }
    if have.libs != want.libs {
        out.push("libs".into());
    }
    if (&have.origin, &have.ops_name, &have.ops_version) != (&want.origin, &want.ops_name, &want.ops_version) {
        out.push("origin or expected ops name".into());
    }
    out.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::artifact::Artifact;
    use crate::config::{Connection, Host};
    use schedfleet_proto::KernelSchedExt;

    fn plan(params: &[(&str, &str)]) -> HostPlan {
        HostPlan {
            host: Host {
                name: "h".into(),
                connection: Connection::Ssh,
                ssh: None,
                labels: Default::default(),
                vars: Default::default(),
            },
            scheduler: "simple".into(),
            artifact: Artifact::new("a", &b"object"[..]),
            params: params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            public: Default::default(),
            binary: None,
        }
    }

    fn params_map(params: &[(&str, &str)]) -> std::collections::BTreeMap<String, String> {
        params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn status(artifact: &str, params: &[(&str, &str)], agrees: bool) -> Status {
        Status {
            agent_version: "0".into(),
            kernel: KernelSchedExt {
                state: "enabled".into(),
                ops: Some("simple".into()),
                enable_seq: 1,
                ..Default::default()
            },
            active: Some(
                serde_json::from_value(serde_json::json!({
                    "artifact": artifact, "ops": "simple", "params": params_map(params), "since": 0, "enable_seq": 1
                }))
                .unwrap(),
            ),
            kernel_agrees: agrees,
            ..Default::default()
        }
    }

    #[test]
    fn decisions() {
        let p = plan(&[("slice_ns", "3000")]);
        let d = p.artifact.digest.to_string();
        assert_eq!(decide(&p, None).0, Action::Install);
        assert_eq!(decide(&p, Some(&status(&d, &[("slice_ns", "3000")], true))).0, Action::None);
        let (a, why) = decide(&p, Some(&status(&d, &[("slice_ns", "5000")], true)));
        assert_eq!(a, Action::Reconfigure);
        assert_eq!(why, "slice_ns: 5000 -> 3000");
        assert_eq!(decide(&p, Some(&status(&"0".repeat(64), &[("slice_ns", "3000")], true))).0, Action::Replace);
        assert_eq!(decide(&p, Some(&status(&d, &[("slice_ns", "3000")], false))).0, Action::Repair);
        let mut none = status(&d, &[], true);
        none.active = None;
        none.kernel.state = "disabled".into();
        assert_eq!(decide(&p, Some(&none)), (Action::Install, "runs the kernel's default scheduler".into()));
    }
}
