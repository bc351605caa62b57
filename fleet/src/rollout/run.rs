//! The rollout: waves, bakes, gates, confirmation, halt and rollback.
//!
//! For each wave: activate its hosts two-phase (each host reverts by itself
//! unless confirmed before its deadline), watch them for the bake while
//! their gates hold, confirm the healthy ones, count the rest against the
//! failure budget. Past the budget the rollout halts and, with
//! `on_failure: rollback`, puts the hosts of earlier waves back on their
//! previous confirmed scheduler. Every step is journaled. The hosts are
//! reached through [`HostOps`], so this logic is tested with paused time and
//! no SSH.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::Serialize;

use super::gate::{self, Baseline, GateReport};
use super::waves;
use crate::collect::{Collected, Reach};
use crate::config::{DesiredState, HostSpec, OnFailure};
use crate::deploy::{HostReport, Outcome};
use crate::health::{self, Histogram, Verdict};
use crate::host::HostError;
use crate::state::journal::{Action, Event, EventOutcome, Journal};

/// What the rollout needs from hosts; the real one speaks SSH to agents.
#[allow(async_fn_in_trait)]
pub trait HostOps {
    /// Activates the wave's hosts two-phase (push as needed); one report per host, in order.
    async fn activate(&self, wave: &[&HostSpec]) -> Vec<HostReport>;
    /// Status reports (with probes, and wake-up latency measured over
    /// `latency_window` when given), one per host, in order.
    async fn statuses(&self, hosts: &[&HostSpec], latency_window: Option<Duration>) -> Vec<Collected>;
    /// Confirms the pending activations of these hosts (in parallel), one
    /// result per host, in order. An error says why not: the host's agent
    /// reverted it (`reverted`), refused otherwise, or the host could not
    /// be reached.
    async fn confirm(&self, hosts: &[&HostSpec]) -> Vec<Result<(), HostError>>;
    /// Back to the host's previous confirmed scheduler.
    async fn rollback(&self, host: &HostSpec) -> Result<(), HostError>;
    /// Releases the host leases taken by `activate`.
    async fn release(&self, hosts: &[&HostSpec]);
}

/// The journal's word for a failed host step: unreachable is not failed.
fn outcome_of(e: &HostError) -> EventOutcome {
    if e.is_unreachable() {
        EventOutcome::Unreachable
    } else {
        EventOutcome::Failed
    }
}

/// Where a rollout is, for people watching it (progress bars). Every
/// method has a no-op default; [`NoProgress`] is the silent observer.
pub trait Progress {
    /// Wave `index` (0-based) of `waves` starts with these hosts.
    fn wave(&self, _index: usize, _waves: usize, _hosts: &[String]) {}
    /// A host of the current wave reached a state (activated, confirmed, fell back...).
    fn host(&self, _host: &str, _state: &str) {}
    /// The current wave bakes; this much of the bake is left.
    fn bake(&self, _left: Duration) {}
    /// The rollout ended.
    fn done(&self) {}
}

/// Reports nothing.
pub struct NoProgress;

impl Progress for NoProgress {}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum HostState {
    /// Already in the desired state; not touched.
    Unchanged,
    /// Runs the new scheduler, confirmed.
    Confirmed,
    /// Failed a gate; its watchdog or the rollout put the previous scheduler back.
    FellBack,
    /// Could not be changed (unreachable, push or load failure); runs what it ran.
    Failed,
    /// Confirmed in an earlier wave, then returned to its previous scheduler by a halt.
    RolledBack,
    /// Its wave never started.
    NotStarted,
}

impl HostState {
    pub fn as_str(self) -> &'static str {
        match self {
            HostState::Unchanged => "unchanged",
            HostState::Confirmed => "confirmed",
            HostState::FellBack => "fell_back",
            HostState::Failed => "failed",
            HostState::RolledBack => "rolled_back",
            HostState::NotStarted => "not_started",
        }
    }
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct HostResult {
    pub host: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wave: Option<usize>,
    pub state: HostState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gate: Option<GateReport>,
    pub bytes_sent: u64,
    /// When the host's agent refused the activation: its error kind
    /// (`digest_mismatch`, `already_active`...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<schedfleet_proto::ErrorKind>,
    /// Milliseconds the host's agent took from the start of the load (for
    /// an upstream binary: of the process) to the kernel's `enabled`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub load_ms: Option<u64>,
}

impl HostResult {
    /// The host failed because its agent refused before changing anything
    /// (a preflight check: the artifact, the host's libraries, kernel or
    /// another sched_ext manager), not because something broke.
    pub fn refused_before_change(&self) -> bool {
        use schedfleet_proto::ErrorKind as K;
        self.state == HostState::Failed
            && matches!(
                self.error_kind,
                Some(
                    K::DigestMismatch
                        | K::BadObject
                        | K::BadParam
                        | K::AlreadyActive
                        | K::NoSchedExt
                        | K::NotRoot
                        | K::Preflight
                        | K::OtherManager
                )
            )
    }
}

impl RolloutReport {
    /// Every host that failed was refused before any change, and no host
    /// was changed by this run: as bad input, nothing on any host touched
    /// (beyond artifacts in its store).
    pub fn refused_before_any_change(&self) -> bool {
        let failed: Vec<&HostResult> = self.hosts.iter().filter(|h| h.state == HostState::Failed).collect();
        !failed.is_empty()
            && failed.iter().all(|h| h.refused_before_change())
            && self
                .hosts
                .iter()
                .all(|h| matches!(h.state, HostState::Failed | HostState::Unchanged | HostState::NotStarted))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum HaltKind {
    /// A health gate failed beyond the budget (exit 3).
    Gate,
    /// Hosts could not be reached or changed beyond the budget (exit 4).
    Hosts,
    /// Interrupted by the operator.
    Interrupted,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Halt {
    pub wave: usize,
    pub kind: HaltKind,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct RolloutReport {
    pub commit: String,
    pub run_id: String,
    /// The hosts of each wave.
    pub waves: Vec<Vec<String>>,
    pub hosts: Vec<HostResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub halted: Option<Halt>,
}

#[derive(Debug, Clone)]
pub struct RolloutTiming {
    /// How often baking hosts are asked for their status.
    pub poll: Duration,
}

/// A journal event of this run with its wave, host and words.
fn event(
    journal: &Journal,
    wave: Option<usize>,
    host: Option<&str>,
    action: Action,
    outcome: EventOutcome,
    detail: String,
) -> Event {
    Event { wave, host: host.map(str::to_owned), detail, ..journal.event(action, outcome) }
}

/// The latency histogram in a status report (empty when there is none).
fn histogram(answer: &Collected) -> Histogram {
    let buckets =
        answer.status.as_ref().and_then(|s| s.latency.as_ref()).map(|l| l.buckets.clone()).unwrap_or_default();
    Histogram { buckets }
}

/// Runs the rollout of `desired` over the hosts of `to_change` (names; the
/// others are reported unchanged).
pub async fn rollout<O: HostOps>(
    desired: &DesiredState,
    to_change: &[String],
    ops: &O,
    journal: &Journal,
    timing: &RolloutTiming,
    cancel: &AtomicBool,
    progress: &dyn Progress,
) -> std::io::Result<RolloutReport> {
    let policy = &desired.fleet.rollout;
    let commit = desired.commit.as_str();
    let specs: BTreeMap<&str, &HostSpec> = desired.hosts.iter().map(|s| (s.host.name.as_str(), s)).collect();
    let candidates: Vec<(String, BTreeMap<String, String>)> = desired
        .hosts
        .iter()
        .filter(|s| to_change.contains(&s.host.name))
        .map(|s| (s.host.name.clone(), s.host.labels.clone()))
        .collect();
    let waves = waves::waves(&candidates, &policy.waves, policy.order_by.as_deref());
    let mut results: BTreeMap<String, HostResult> = desired
        .hosts
        .iter()
        .map(|s| {
            let changing = to_change.contains(&s.host.name);
            let state = if changing { HostState::NotStarted } else { HostState::Unchanged };
            (
                s.host.name.clone(),
                HostResult {
                    host: s.host.name.clone(),
                    wave: None,
                    state,
                    message: None,
                    gate: None,
                    bytes_sent: 0,
                    error_kind: None,
                    load_ms: None,
                },
            )
        })
        .collect();

    let total = candidates.len();
    let (mut failed_total, mut halted, mut touched) = (0usize, None, Vec::<&HostSpec>::new());
    for wave in &waves {
        if cancel.load(Ordering::SeqCst) {
            halted = Some(Halt {
                wave: wave.index,
                kind: HaltKind::Interrupted,
                reason: "interrupted before the wave".into(),
            });
            break;
        }
        let hosts: Vec<&HostSpec> = wave.hosts.iter().map(|h| specs[h.as_str()]).collect();
        touched.extend(hosts.iter().copied());
        progress.wave(wave.index, waves.len(), &wave.hosts);
        let w = Some(wave.index);
        let (mut gate_failures, mut host_failures) = (0usize, 0usize);
        let mut baking: Vec<(&HostSpec, Baseline)> = Vec::new();

        // Wake-up latency just before the switch: each host's own baseline.
        let latency = desired.fleet.health.latency.as_ref();
        let window = latency.map(|l| l.window.0);
        let mut baselines: BTreeMap<String, Histogram> = BTreeMap::new();
        if window.is_some() {
            for answer in ops.statuses(&hosts, window).await {
                baselines.insert(answer.host.clone(), histogram(&answer));
            }
        }
        let mut observed: BTreeMap<String, Histogram> = BTreeMap::new();
        let mut controls = Histogram::default();

        for (spec, report) in hosts.iter().zip(ops.activate(&hosts).await) {
            let r = results.get_mut(&spec.host.name).expect("every host has a result");
            r.wave = w;
            r.bytes_sent = report.bytes_sent;
            r.message = report.message.clone();
            r.error_kind = report.error_kind;
            r.load_ms = report.load_ms;
            let outcome = match report.outcome {
                Outcome::Unreachable => EventOutcome::Unreachable,
                o if o.is_failure() => EventOutcome::Failed,
                _ => EventOutcome::Ok,
            };
            journal.append(&event(
                journal,
                w,
                Some(&spec.host.name),
                Action::Activate,
                outcome,
                report.message.clone().unwrap_or_else(|| report.outcome.as_str().to_owned()),
            ))?;
            match (report.outcome, report.activated) {
                // The host's own clock at its switch: fallbacks are dated by it too.
                (Outcome::Changed, Some(a)) => {
                    baking.push((spec, Baseline::new(spec.artifact.digest.as_str(), &a.kernel, a.active.since)))
                }
                (Outcome::Unchanged, _) => {
                    r.state = HostState::Confirmed;
                    progress.host(&r.host, r.state.as_str());
                }
                _ => {
                    r.state = HostState::Failed;
                    progress.host(&r.host, HostState::Failed.as_str());
                    host_failures += 1;
                }
            }
        }

        // The bake: gates are checked at every poll; a failing host leaves the bake.
        let bake_end = tokio::time::Instant::now() + policy.bake.0;
        let mut interrupted = false;
        loop {
            if baking.is_empty() {
                break;
            }
            if cancel.load(Ordering::SeqCst) {
                interrupted = true;
                break;
            }
            let pending: Vec<&HostSpec> = baking.iter().map(|(s, _)| *s).collect();
            // Hosts of later waves, still on the old scheduler, are the controls.
            let control_hosts: Vec<&HostSpec> = if window.is_some() {
                desired
                    .hosts
                    .iter()
                    .filter(|s| {
                        results.get(&s.host.name).is_some_and(|r| r.state == HostState::NotStarted && r.wave.is_none())
                    })
                    .collect()
            } else {
                Vec::new()
            };
            let mut asked = pending.clone();
            asked.extend(control_hosts.iter().copied());
            let mut answers = ops.statuses(&asked, window).await;
            for control in answers.split_off(pending.len()) {
                controls.merge(&histogram(&control));
            }
            let mut still = Vec::new();
            for ((spec, base), answer) in baking.into_iter().zip(answers) {
                observed.entry(spec.host.name.clone()).or_default().merge(&histogram(&answer));
                if answer.reach == Reach::Unreachable {
                    // Lost, not unhealthy: the host reverts by itself at its
                    // deadline; it counts against the budget as a host failure.
                    let why = answer.error.clone().unwrap_or_default();
                    journal.append(&event(
                        journal,
                        w,
                        Some(&spec.host.name),
                        Action::Gate,
                        EventOutcome::Unreachable,
                        format!("no status during the bake: {why}"),
                    ))?;
                    let r = results.get_mut(&spec.host.name).expect("every host has a result");
                    r.state = HostState::FellBack;
                    r.message = Some(format!(
                        "no status during the bake ({why}); unconfirmed, the host reverts by itself at its deadline"
                    ));
                    progress.host(&r.host, HostState::FellBack.as_str());
                    host_failures += 1;
                    continue;
                }
                let verdict = match (&answer.reach, &answer.status) {
                    (Reach::Ok, Some(status)) => {
                        let mut verdict = gate::evaluate(&base, status, &desired.fleet.health);
                        if let (true, Some(l)) = (verdict.ok, latency) {
                            let own = baselines.get(&spec.host.name).cloned().unwrap_or_default();
                            let controls: Vec<Histogram> =
                                if controls.samples() > 0 { vec![controls.clone()] } else { Vec::new() };
                            let judged = health::judge(&observed[&spec.host.name], &own, &controls, &l.policy);
                            verdict.values["latency"] = serde_json::to_value(&judged).unwrap_or_default();
                            if matches!(judged, Verdict::Fail { .. }) {
                                verdict.ok = false;
                                verdict.reason = Some(format!("wake-up latency regressed: {judged}"));
                            }
                        }
                        verdict
                    }
                    _ => GateReport {
                        ok: false,
                        reason: Some(format!(
                            "no status during the bake: {}",
                            answer.error.clone().unwrap_or_default()
                        )),
                        fell_back: false,
                        values: serde_json::Value::Null,
                    },
                };
                let mut ev = event(
                    journal,
                    w,
                    Some(&spec.host.name),
                    Action::Gate,
                    if verdict.ok { EventOutcome::Ok } else { EventOutcome::Failed },
                    verdict.reason.clone().unwrap_or_else(|| "healthy".into()),
                );
                ev.values = verdict.values.clone();
                journal.append(&ev)?;
                if verdict.ok {
                    still.push((spec, base));
                    continue;
                }
                let r = results.get_mut(&spec.host.name).expect("every host has a result");
                if !verdict.fell_back {
                    // The gate failed but the host still runs the new scheduler
                    // (events, probes seen by us, reload): take it back now.
                    let back = ops.rollback(spec).await;
                    journal.append(&event(
                        journal,
                        w,
                        Some(&spec.host.name),
                        Action::Fallback,
                        back.as_ref().err().map_or(EventOutcome::Ok, outcome_of),
                        back.err().map_or_else(|| "rolled back by the controller".into(), |e| e.to_string()),
                    ))?;
                } else {
                    journal.append(&event(
                        journal,
                        w,
                        Some(&spec.host.name),
                        Action::Fallback,
                        EventOutcome::Ok,
                        "the host's watchdog fell back".into(),
                    ))?;
                }
                r.state = HostState::FellBack;
                progress.host(&r.host, HostState::FellBack.as_str());
                r.message = verdict.reason.clone();
                r.gate = Some(verdict);
                gate_failures += 1;
            }
            baking = still;
            let now = tokio::time::Instant::now();
            if now >= bake_end || baking.is_empty() {
                break;
            }
            progress.bake(bake_end - now);
            tokio::time::sleep(timing.poll.min(bake_end - now)).await;
        }

        if interrupted {
            // Unconfirmed hosts go back now rather than at their deadline.
            for (spec, _) in &baking {
                let back = ops.rollback(spec).await;
                let r = results.get_mut(&spec.host.name).expect("every host has a result");
                r.state = HostState::FellBack;
                progress.host(&r.host, HostState::FellBack.as_str());
                r.message = Some(match back {
                    Ok(()) => "interrupted during the bake; previous scheduler restored".to_owned(),
                    Err(e) => {
                        format!("interrupted during the bake; restoring failed ({e}); the host reverts at its deadline")
                    }
                });
                journal.append(&event(
                    journal,
                    w,
                    Some(&spec.host.name),
                    Action::Interrupted,
                    EventOutcome::Ok,
                    r.message.clone().unwrap_or_default(),
                ))?;
            }
            halted = Some(Halt {
                wave: wave.index,
                kind: HaltKind::Interrupted,
                reason: "interrupted during the bake".into(),
            });
            break;
        }

        // Every healthy host of the wave is confirmed at once: they share
        // one deadline, and a wave confirmed host by host could miss it.
        let to_confirm: Vec<&HostSpec> = baking.iter().map(|(s, _)| *s).collect();
        for (spec, confirmed) in to_confirm.iter().zip(ops.confirm(&to_confirm).await) {
            let r = results.get_mut(&spec.host.name).expect("every host has a result");
            journal.append(&event(
                journal,
                w,
                Some(&spec.host.name),
                Action::Confirm,
                confirmed.as_ref().err().map_or(EventOutcome::Ok, outcome_of),
                confirmed.as_ref().err().map_or_else(|| "confirmed".into(), |e| e.to_string()),
            ))?;
            match confirmed {
                Ok(()) => {
                    r.state = HostState::Confirmed;
                    progress.host(&r.host, r.state.as_str());
                }
                Err(e) => {
                    r.state = HostState::FellBack;
                    progress.host(&r.host, HostState::FellBack.as_str());
                    if e.agent_kind() == Some(schedfleet_proto::ErrorKind::Reverted) {
                        // The host's own watchdog judged it unhealthy: a gate.
                        r.message = Some(e.to_string());
                        gate_failures += 1;
                    } else if e.is_unreachable() {
                        r.message = Some(format!(
                            "unreachable at confirm ({e}); unconfirmed, the host reverts by itself at its deadline"
                        ));
                        host_failures += 1;
                    } else {
                        r.message = Some(e.to_string());
                        host_failures += 1;
                    }
                }
            }
        }

        let wave_failed = gate_failures + host_failures;
        failed_total += wave_failed;
        journal.append(&event(
            journal,
            w,
            None,
            Action::WaveDone,
            if wave_failed == 0 { EventOutcome::Ok } else { EventOutcome::Failed },
            format!("{} host(s), {wave_failed} failed", hosts.len()),
        ))?;
        let over_wave = wave_failed > policy.failure_budget.per_wave.of(hosts.len());
        let over_total = failed_total > policy.failure_budget.total.of(total);
        if over_wave || over_total {
            let kind = if gate_failures > 0 { HaltKind::Gate } else { HaltKind::Hosts };
            let budget = if over_wave {
                format!("wave budget {}", policy.failure_budget.per_wave)
            } else {
                format!("total budget {}", policy.failure_budget.total)
            };
            halted = Some(Halt {
                wave: wave.index,
                kind,
                reason: format!("{wave_failed} host(s) of wave {} failed, over the {budget}", wave.index + 1),
            });
            break;
        }
    }

    if let Some(h) = &halted {
        journal.append(&event(
            journal,
            Some(h.wave),
            None,
            Action::RunHalted,
            EventOutcome::Failed,
            h.reason.clone(),
        ))?;
        if desired.fleet.rollout.on_failure == OnFailure::Rollback && h.kind != HaltKind::Interrupted {
            for spec in &touched {
                let r = results.get_mut(&spec.host.name).expect("every host has a result");
                if r.state != HostState::Confirmed {
                    continue;
                }
                let back = ops.rollback(spec).await;
                journal.append(&event(
                    journal,
                    r.wave,
                    Some(&spec.host.name),
                    Action::Rollback,
                    back.as_ref().err().map_or(EventOutcome::Ok, outcome_of),
                    back.as_ref().err().map_or_else(|| "rolled back after the halt".into(), |e| e.to_string()),
                ))?;
                match back {
                    Ok(()) => {
                        r.state = HostState::RolledBack;
                        progress.host(&r.host, r.state.as_str());
                    }
                    Err(e) => r.message = Some(format!("rollback after the halt failed: {e}")),
                }
            }
        }
    } else {
        journal.append(&event(
            journal,
            None,
            None,
            Action::RunDone,
            EventOutcome::Ok,
            format!("{failed_total} host(s) failed within the budget"),
        ))?;
    }
    ops.release(&touched).await;
    progress.done();
    let order: Vec<&str> = desired.hosts.iter().map(|s| s.host.name.as_str()).collect();
    let mut hosts: Vec<HostResult> = results.into_values().collect();
    crate::deploy::in_order(&mut hosts, &order, |h| &h.host);
    Ok(RolloutReport {
        commit: commit.to_owned(),
        run_id: journal.run_id().to_owned(),
        waves: waves.iter().map(|w| w.hosts.clone()).collect(),
        hosts,
        halted,
    })
}

#[cfg(test)]
pub(crate) mod tests;
