//! Tests of the rollout loop against a fleet in memory ([`FakeFleet`]):
//! waves, gates, halts and undo, without SSH or a lab.

use std::cell::RefCell;
use std::collections::BTreeSet;

use schedfleet_proto::{ActiveScheduler, KernelSchedExt, Status};

use super::*;
use crate::config::{HostCount, Span};

/// A fleet in memory: which hosts fail how, and what was done to them.
#[derive(Default)]
struct FakeFleet {
    /// Hosts whose activation fails (unreachable, push error).
    broken: BTreeSet<String>,
    /// Hosts whose scheduler the kernel ejects during the bake (their watchdog falls back).
    ejects: BTreeSet<String>,
    /// Hosts whose wake-up latency doubles once they run the new scheduler.
    slow: BTreeSet<String>,
    /// Hosts whose connection drops when they are confirmed.
    lost_at_confirm: BTreeSet<String>,
    log: RefCell<Vec<String>>,
    polls: RefCell<usize>,
    activated: RefCell<BTreeSet<String>>,
}

impl FakeFleet {
    fn did(&self, what: &str) -> Vec<String> {
        self.log.borrow().iter().filter(|l| l.starts_with(what)).cloned().collect()
    }
}

/// An agent's record of what it activated; built from JSON so it follows
/// the wire format's defaults.
pub(crate) fn active(artifact: &str, enable_seq: u64) -> ActiveScheduler {
    serde_json::from_value(serde_json::json!({
        "artifact": artifact, "ops": "simple", "params": {}, "since": 0, "enable_seq": enable_seq
    }))
    .expect("a minimal ActiveScheduler parses")
}

fn kernel(seq: u64) -> KernelSchedExt {
    KernelSchedExt { state: "enabled".into(), ops: Some("simple".into()), enable_seq: seq, ..Default::default() }
}

impl HostOps for FakeFleet {
    async fn activate(&self, wave: &[&HostSpec]) -> Vec<HostReport> {
        wave.iter()
            .map(|s| {
                let name = &s.host.name;
                self.log.borrow_mut().push(format!("activate {name}"));
                self.activated.borrow_mut().insert(name.clone());
                let broken = self.broken.contains(name);
                HostReport {
                    host: name.clone(),
                    scheduler: s.scheduler.clone(),
                    artifact: s.artifact.digest.to_string(),
                    outcome: if broken { Outcome::Unreachable } else { Outcome::Changed },
                    message: broken.then(|| "connection refused".into()),
                    error_kind: None,
                    bytes_sent: 0,
                    load_ms: None,
                    activated: (!broken).then(|| schedfleet_proto::Activated {
                        active: active(s.artifact.digest.as_str(), 1),
                        kernel: kernel(1),
                        load_ms: 1,
                        watchdog_pid: None,
                        deadline: None,
                    }),
                    elapsed_ms: 0,
                }
            })
            .collect()
    }

    async fn statuses(&self, hosts: &[&HostSpec], _window: Option<Duration>) -> Vec<Collected> {
        *self.polls.borrow_mut() += 1;
        hosts
            .iter()
            .map(|s| {
                let ejected = self.ejects.contains(&s.host.name);
                let mut status = Status {
                    kernel: kernel(1),
                    active: Some(active(s.artifact.digest.as_str(), 1)),
                    kernel_agrees: true,
                    ..Default::default()
                };
                if ejected {
                    status.kernel.state = "disabled".into();
                    status.kernel_agrees = false;
                }
                // 1,000 wake-ups spread over 100..1,000 us; twice that on a slow, switched host.
                let factor = if self.slow.contains(&s.host.name) && self.activated.borrow().contains(&s.host.name) {
                    2
                } else {
                    1
                };
                let buckets: Vec<(u64, u64)> = (1..=10).map(|i| (i * 100 * factor, 100)).collect();
                status.latency = Some(
                    serde_json::from_value(serde_json::json!({
                        "window_ms": 1000, "samples": 1000, "buckets": buckets
                    }))
                    .expect("a latency report parses"),
                );
                Collected {
                    host: s.host.name.clone(),
                    reach: Reach::Ok,
                    error: None,
                    error_kind: None,
                    status: Some(status),
                    facts: None,
                    kernel_release: None,
                }
            })
            .collect()
    }

    async fn confirm(&self, hosts: &[&HostSpec]) -> Vec<Result<(), HostError>> {
        hosts
            .iter()
            .map(|h| {
                let name = &h.host.name;
                if self.lost_at_confirm.contains(name) {
                    return Err(HostError::unreachable(name, "connection dropped during `confirm`"));
                }
                self.log.borrow_mut().push(format!("confirm {name}"));
                Ok(())
            })
            .collect()
    }

    async fn rollback(&self, host: &HostSpec) -> Result<(), HostError> {
        self.log.borrow_mut().push(format!("rollback {}", host.host.name));
        Ok(())
    }

    async fn release(&self, _hosts: &[&HostSpec]) {}
}

fn desired(n: usize, waves: Vec<HostCount>, on_failure: OnFailure) -> DesiredState {
    let mut d = crate::testing::desired(n);
    d.fleet.rollout.waves = waves;
    d.fleet.rollout.bake = Span(Duration::from_secs(60));
    d.fleet.rollout.on_failure = on_failure;
    d
}

async fn run(d: &DesiredState, fleet: &FakeFleet, cancel: bool) -> (RolloutReport, Vec<Event>) {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::create_in(dir.path(), &d.commit).unwrap();
    let names: Vec<String> = d.hosts.iter().map(|s| s.host.name.clone()).collect();
    let flag = AtomicBool::new(cancel);
    let timing = RolloutTiming { poll: Duration::from_secs(10) };
    let report = rollout(d, &names, fleet, &journal, &timing, &flag, &NoProgress).await.unwrap();
    let events = crate::state::journal::read_in(dir.path(), journal.run_id()).unwrap();
    (report, events)
}

fn states(r: &RolloutReport) -> Vec<(&str, &str)> {
    r.hosts.iter().map(|h| (h.host.as_str(), h.state.as_str())).collect()
}

#[tokio::test(start_paused = true)]
async fn good_rollout_confirms_every_wave_after_its_bake() {
    let d = desired(4, vec![HostCount::Count(1), HostCount::Percent(50), HostCount::Percent(100)], OnFailure::Rollback);
    let fleet = FakeFleet::default();
    let started = tokio::time::Instant::now();
    let (report, events) = run(&d, &fleet, false).await;
    assert!(report.halted.is_none());
    assert_eq!(report.waves, vec![vec!["h01"], vec!["h02", "h03"], vec!["h04"]]);
    assert!(report.hosts.iter().all(|h| h.state == HostState::Confirmed), "{:?}", states(&report));
    // Three bakes of 60 s each, measured on the paused clock, polled every 10 s.
    assert_eq!(started.elapsed(), Duration::from_secs(180));
    assert_eq!(*fleet.polls.borrow(), 3 * 7);
    assert_eq!(fleet.did("confirm").len(), 4);
    assert!(events.iter().any(|e| e.action == Action::RunDone));
}

#[tokio::test(start_paused = true)]
async fn an_ejected_canary_halts_and_nothing_else_is_touched() {
    let d = desired(3, vec![HostCount::Count(1), HostCount::Percent(100)], OnFailure::Rollback);
    let fleet = FakeFleet { ejects: ["h01".to_owned()].into(), ..Default::default() };
    let started = tokio::time::Instant::now();
    let (report, events) = run(&d, &fleet, false).await;
    let halt = report.halted.clone().expect("halted");
    assert_eq!((halt.wave, halt.kind), (0, HaltKind::Gate));
    assert_eq!(states(&report), vec![("h01", "fell_back"), ("h02", "not_started"), ("h03", "not_started")]);
    assert_eq!(fleet.did("activate"), vec!["activate h01"]);
    assert!(fleet.did("confirm").is_empty());
    assert_eq!(started.elapsed(), Duration::ZERO, "a failed gate ends the bake at once");
    let gate = events.iter().find(|e| e.action == Action::Gate).unwrap();
    assert_eq!(gate.values["kernel_state"], "disabled");
    assert!(events.iter().any(|e| e.action == Action::RunHalted));
}

#[tokio::test(start_paused = true)]
async fn a_failure_in_a_later_wave_rolls_earlier_waves_back() {
    let d = desired(3, vec![HostCount::Count(1), HostCount::Percent(100)], OnFailure::Rollback);
    let fleet = FakeFleet { ejects: ["h03".to_owned()].into(), ..Default::default() };
    let (report, _) = run(&d, &fleet, false).await;
    assert_eq!(report.halted.as_ref().map(|h| h.wave), Some(1));
    assert_eq!(states(&report), vec![("h01", "rolled_back"), ("h02", "rolled_back"), ("h03", "fell_back")]);

    let d = desired(3, vec![HostCount::Count(1), HostCount::Percent(100)], OnFailure::Freeze);
    let fleet = FakeFleet { ejects: ["h03".to_owned()].into(), ..Default::default() };
    let (report, _) = run(&d, &fleet, false).await;
    assert_eq!(states(&report), vec![("h01", "confirmed"), ("h02", "confirmed"), ("h03", "fell_back")]);
    // Only the failing host itself is taken back; earlier waves are left as they are.
    assert_eq!(fleet.did("rollback"), vec!["rollback h03"]);
}

#[tokio::test(start_paused = true)]
async fn unreachable_hosts_count_against_the_budget() {
    let mut d = desired(4, vec![HostCount::Count(2), HostCount::Percent(100)], OnFailure::Rollback);
    d.fleet.rollout.failure_budget.per_wave = HostCount::Count(1);
    d.fleet.rollout.failure_budget.total = HostCount::Count(1);
    let fleet = FakeFleet { broken: ["h02".to_owned()].into(), ..Default::default() };
    let (report, _) = run(&d, &fleet, false).await;
    assert!(report.halted.is_none(), "one failure is within the budget");
    assert_eq!(
        states(&report),
        vec![("h01", "confirmed"), ("h02", "failed"), ("h03", "confirmed"), ("h04", "confirmed")]
    );

    let fleet = FakeFleet { broken: ["h02".to_owned(), "h03".to_owned()].into(), ..Default::default() };
    let (report, _) = run(&d, &fleet, false).await;
    let halt = report.halted.expect("two failures are over the total budget");
    assert_eq!((halt.wave, halt.kind), (1, HaltKind::Hosts));
}

#[tokio::test(start_paused = true)]
async fn a_latency_regression_fails_the_canary_against_baseline_and_controls() {
    let mut d = desired(3, vec![HostCount::Count(1), HostCount::Percent(100)], OnFailure::Rollback);
    d.fleet.health.latency = Some(crate::config::LatencyGate {
        window: Span(Duration::from_secs(1)),
        policy: crate::health::CanaryPolicy::default(),
        cgroup: None,
    });
    let fleet = FakeFleet { slow: ["h01".to_owned()].into(), ..Default::default() };
    let (report, events) = run(&d, &fleet, false).await;
    let gates: Vec<_> =
        events.iter().filter(|e| e.action == Action::Gate).map(|e| e.values["latency"].to_string()).collect();
    let halt = report.halted.clone().unwrap_or_else(|| panic!("the slow canary halts the rollout: {gates:?}"));
    assert_eq!((halt.wave, halt.kind), (0, HaltKind::Gate));
    assert!(report.hosts[0].message.as_deref().unwrap().contains("wake-up latency regressed"), "{:?}", report.hosts[0]);
    let gate = events.iter().find(|e| e.action == Action::Gate && e.outcome == EventOutcome::Failed).unwrap();
    assert_eq!(gate.values["latency"]["verdict"], "fail", "{}", gate.values);

    // The same latency without the switch making it worse passes.
    let fleet = FakeFleet::default();
    let (report, _) = run(&d, &fleet, false).await;
    assert!(report.halted.is_none(), "{:?}", report.halted);
}

#[tokio::test(start_paused = true)]
async fn a_host_lost_at_confirm_is_a_host_failure_not_a_gate() {
    let d = desired(3, vec![HostCount::Count(1), HostCount::Percent(100)], OnFailure::Rollback);
    let fleet = FakeFleet { lost_at_confirm: ["h01".to_owned()].into(), ..Default::default() };
    let (report, events) = run(&d, &fleet, false).await;
    let halt = report.halted.clone().expect("over the budget");
    assert_eq!((halt.wave, halt.kind), (0, HaltKind::Hosts), "exit 4, not 3");
    assert!(report.hosts[0].message.as_deref().unwrap().contains("unreachable at confirm"), "{:?}", report.hosts[0]);
    let confirm = events.iter().find(|e| e.action == Action::Confirm).expect("a confirm event");
    assert_eq!((confirm.host.as_deref(), confirm.outcome), (Some("h01"), EventOutcome::Unreachable));
    assert!(events.iter().filter(|e| e.action == Action::Gate).all(|e| e.outcome == EventOutcome::Ok));
}

#[tokio::test(start_paused = true)]
async fn an_interrupted_rollout_starts_nothing() {
    let d = desired(2, vec![HostCount::Count(1), HostCount::Percent(100)], OnFailure::Rollback);
    let fleet = FakeFleet::default();
    let (report, events) = run(&d, &fleet, true).await;
    assert_eq!(report.halted.map(|h| h.kind), Some(HaltKind::Interrupted));
    assert!(fleet.did("activate").is_empty());
    assert!(events.iter().any(|e| e.action == Action::RunHalted));
}
