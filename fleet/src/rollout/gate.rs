//! Health gates: whether a host that runs a new, unconfirmed scheduler is
//! healthy during its bake, judged from its agent's status report against
//! what the kernel said right after activation. Pure: the values that led to
//! a verdict are returned with it, for the journal.

use std::collections::BTreeMap;

use schedfleet_proto::{KernelSchedExt, Status};
use serde::Serialize;
use serde_json::json;

use crate::config::HealthGates;

/// What a host looked like right after activation.
#[derive(Debug, Clone)]
pub struct Baseline {
    pub artifact: String,
    pub ops: Option<String>,
    pub enable_seq: u64,
    pub events: BTreeMap<String, u64>,
    /// Seconds since the Unix epoch; a fallback at or after this is ours.
    pub activated_at: u64,
}

impl Baseline {
    pub fn new(artifact: &str, kernel: &KernelSchedExt, activated_at: u64) -> Baseline {
        Baseline {
            artifact: artifact.to_owned(),
            ops: kernel.ops.clone(),
            enable_seq: kernel.enable_seq,
            events: kernel.events.clone(),
            activated_at,
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct GateReport {
    pub ok: bool,
    /// Why the host failed, in words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The host's watchdog already put the previous scheduler back.
    pub fell_back: bool,
    /// Every value the verdict was made from.
    pub values: serde_json::Value,
}

/// Judges one status report of a baking host.
pub fn evaluate(base: &Baseline, status: &Status, gates: &HealthGates) -> GateReport {
    let k = &status.kernel;
    let deltas: BTreeMap<&str, u64> = gates
        .max_events
        .keys()
        .map(|name| {
            let now = k.events.get(name).copied().unwrap_or(0);
            (name.as_str(), now.saturating_sub(base.events.get(name).copied().unwrap_or(0)))
        })
        .collect();
    let probes: Vec<_> =
        status.probes.iter().map(|p| json!({"name": p.name, "ok": p.ok, "detail": p.detail})).collect();
    let fallback = serde_json::to_value(status).ok().and_then(|v| v.get("last_fallback").cloned());
    let values = json!({
        "kernel_state": k.state,
        "ops": k.ops,
        "enable_seq": k.enable_seq,
        "kernel_agrees": status.kernel_agrees,
        "artifact": status.active.as_ref().map(|a| a.artifact.clone()),
        "event_deltas": deltas,
        "probes": probes,
        "last_fallback": fallback,
        "supervised": status.supervised,
    });
    let fail = |reason: String, fell_back: bool| GateReport {
        ok: false,
        reason: Some(reason),
        fell_back,
        values: values.clone(),
    };

    if let Some(f) = fallback.as_ref().filter(|f| f["at"].as_u64().is_some_and(|at| at >= base.activated_at)) {
        let reason = f["reason"].as_str().unwrap_or("the host's watchdog fell back");
        return fail(format!("fell back: {reason}"), true);
    }
    if status.active.as_ref().map(|a| a.artifact.as_str()) != Some(base.artifact.as_str()) {
        return fail("the agent no longer runs the new artifact".into(), false);
    }
    // An upstream binary between two starts of its supervisor (it ended and
    // waits out its backoff): not judged until it is up again or the agent
    // gives up and falls back, which the check above sees.
    let restarting = status.supervised.as_ref().is_some_and(|s| match s.phase.as_deref() {
        Some(phase) => phase == "restarting" || phase == "starting",
        None => s.pid.is_none(),
    });
    if restarting {
        return GateReport { ok: true, reason: None, fell_back: false, values };
    }
    // The kernel leaving the binary's scheduler (it died, was killed or
    // ejected) is the supervisor's to handle: it restarts it within its
    // policy or falls back past it (seen above). Until its next report the
    // kernel may already say `disabling` while the supervisor still says
    // `running`; that moment is not a verdict either.
    let supervisor_on_duty = status
        .supervised
        .as_ref()
        .is_some_and(|s| matches!(s.phase.as_deref(), None | Some("starting" | "running" | "restarting")));
    if supervisor_on_duty && matches!(k.state.as_str(), "disabling" | "disabled" | "enabling") {
        return GateReport { ok: true, reason: None, fell_back: false, values };
    }
    // For a binary, the kernel must run a scheduler with its ops name; which
    // load it is (`enable_seq`) is judged below against its restarts, not
    // through the agent's bookkeeping of the newest one, which trails a
    // restart by up to one supervisor tick.
    let runs_it = match status.active.as_ref().and_then(|a| a.binary.as_ref()) {
        Some(spec) => k.state == "enabled" && k.ops.as_deref().is_some_and(|o| spec.ops_matches(o)),
        None => k.state == "enabled" && status.kernel_agrees,
    };
    if !runs_it {
        return fail(
            format!("kernel `{}` with ops `{}`, not the new scheduler", k.state, k.ops.as_deref().unwrap_or("none")),
            false,
        );
    }
    // Each restart of a supervised binary loads it again; loads beyond
    // those are someone else's.
    let restarts = status.supervised.as_ref().map_or(0, |s| u64::from(s.restarts));
    if k.enable_seq.saturating_sub(base.enable_seq) > restarts || k.enable_seq < base.enable_seq {
        return fail(format!("reloaded during the bake (enable_seq {} -> {})", base.enable_seq, k.enable_seq), false);
    }
    for (name, max) in &gates.max_events {
        let delta = deltas[name.as_str()];
        if delta > *max {
            return fail(format!("`{name}` rose by {delta} during the bake (at most {max})"), false);
        }
    }
    if let Some(p) = status.probes.iter().find(|p| !p.ok) {
        return fail(format!("probe `{}` failed: {}", p.name, p.detail), false);
    }
    GateReport { ok: true, reason: None, fell_back: false, values }
}

#[cfg(test)]
mod tests {
    use super::*;
    use schedfleet_proto::ProbeResult;

    fn kernel(seq: u64, fallback_events: u64) -> KernelSchedExt {
        KernelSchedExt {
            state: "enabled".into(),
            ops: Some("simple".into()),
            enable_seq: seq,
            events: [("SCX_EV_SELECT_CPU_FALLBACK".to_owned(), fallback_events)].into(),
            ..Default::default()
        }
    }

    fn status(seq: u64, events: u64) -> Status {
        Status {
            kernel: kernel(seq, events),
            active: Some(crate::rollout::run::tests::active(&"a".repeat(64), seq)),
            kernel_agrees: true,
            ..Default::default()
        }
    }

    fn gates(max: u64) -> HealthGates {
        HealthGates {
            max_events: [("SCX_EV_SELECT_CPU_FALLBACK".to_owned(), max)].into(),
            probes: vec![],
            latency: None,
        }
    }

    fn base() -> Baseline {
        Baseline::new(&"a".repeat(64), &kernel(5, 100), 1000)
    }

    #[test]
    fn healthy_host_passes_with_values() {
        let r = evaluate(&base(), &status(5, 150), &gates(100));
        assert!(r.ok, "{r:?}");
        assert_eq!(r.values["event_deltas"]["SCX_EV_SELECT_CPU_FALLBACK"], 50);
    }

    #[test]
    fn each_gate_fails_on_its_own() {
        let r = evaluate(&base(), &status(5, 201), &gates(100));
        assert!(!r.ok && r.reason.unwrap().contains("rose by 101"));
        let r = evaluate(&base(), &status(6, 100), &gates(100));
        assert!(!r.ok && r.reason.unwrap().contains("reloaded"));
        let mut ejected = status(5, 100);
        ejected.kernel.state = "disabled".into();
        ejected.kernel_agrees = false;
        assert!(!evaluate(&base(), &ejected, &gates(100)).ok);
        // A supervised binary restarted once by its agent: one reload is its own.
        let mut restarted = status(6, 100);
        restarted.supervised = Some(schedfleet_proto::Supervised { pid: Some(7), restarts: 1, ..Default::default() });
        assert!(evaluate(&base(), &restarted, &gates(100)).ok);
        restarted.kernel.enable_seq = 7;
        assert!(!evaluate(&base(), &restarted, &gates(100)).ok, "a second reload is not its own");
        // Down between two starts: not judged yet.
        let mut down = status(6, 100);
        down.kernel.state = "disabled".into();
        down.kernel_agrees = false;
        down.supervised = Some(schedfleet_proto::Supervised { pid: None, restarts: 0, ..Default::default() });
        assert!(evaluate(&base(), &down, &gates(100)).ok);
        // Killed a moment ago: the kernel is disabling, the supervisor has
        // not noticed yet. Its next report decides (a restart or a fallback).
        let mut dying = status(5, 100);
        dying.kernel.state = "disabling".into();
        dying.kernel_agrees = false;
        dying.supervised =
            Some(schedfleet_proto::Supervised { pid: Some(7), phase: Some("running".into()), ..Default::default() });
        assert!(evaluate(&base(), &dying, &gates(100)).ok);
        // A binary is judged by its ops name, not by the agent's newest
        // enable_seq, which trails a restart for a moment.
        let mut binary = status(5, 100);
        binary.kernel.ops = Some("bpfland_1.1.4_x86_64_unknown_linux_gnu".into());
        binary.kernel_agrees = false;
        binary.active.as_mut().unwrap().binary = Some(schedfleet_proto::BinarySpec {
            origin: schedfleet_proto::BinaryOrigin::Store,
            args: vec![],
            env: Default::default(),
            ops_name: "bpfland".into(),
            ops_version: None,
            start_timeout_ms: 1000,
            restart: Default::default(),
            libs: Default::default(),
        });
        let base_b = Baseline::new(&"a".repeat(64), &binary.kernel, 1000);
        assert!(evaluate(&base_b, &binary, &gates(100)).ok);
        binary.kernel.ops = Some("cosmos_1.1.7_x86_64_unknown_linux_gnu".into());
        assert!(!evaluate(&base_b, &binary, &gates(100)).ok, "another scheduler");
        // A supervisor that is gone decides nothing: the host fails.
        dying.supervised.as_mut().unwrap().phase = Some("gone".into());
        assert!(!evaluate(&base(), &dying, &gates(100)).ok);
        let mut probe = status(5, 100);
        probe.probes = vec![ProbeResult { name: "serving".into(), ok: false, detail: "503".into(), elapsed_ms: 3 }];
        let r = evaluate(&base(), &probe, &gates(100));
        assert!(!r.ok && r.reason.unwrap().contains("probe `serving` failed: 503"));
    }
}
