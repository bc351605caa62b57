//! The state file's transitions between confirmed and unconfirmed
//! schedulers, as pure functions on [`AgentState`], so every one of them is
//! tested without a kernel. The commands do the kernel's part (load,
//! switch, check) and then record it here.
//!
//! The model: the host's *confirmed position* is the last scheduler that
//! was confirmed and really ran (`None`: the kernel's default).
//! `previous_confirmed` is the confirmed position before the current one,
//! where `rollback` goes. An unconfirmed activation (`pending`) sits on top
//! of the confirmed position (`pending.previous`) until `confirm` makes it
//! the new confirmed position, or a fallback returns to `pending.previous`.

use schedfleet_proto::{ActiveScheduler, AgentState, Fallback, KernelSchedExt, Pending};

use super::verdict::{watchdog_verdict, Reason};
use crate::sched::kernel::agrees;

/// The confirmed position: with an activation pending, the one it sits on;
/// otherwise the active scheduler if it is confirmed and the kernel runs
/// it (one the kernel ejected is no place to go back to: the host ran the
/// kernel's default since).
pub fn last_confirmed(st: &AgentState, kernel_agrees: bool) -> Option<ActiveScheduler> {
    if let Some(pending) = &st.pending {
        return pending.previous.clone();
    }
    st.active.as_ref().filter(|a| a.confirmed && kernel_agrees).cloned()
}

/// Same object (or binary), same parameters (or arguments, environment,
/// restart policy): running one means running the other.
pub fn same_scheduler(a: &ActiveScheduler, b: &ActiveScheduler) -> bool {
    a.artifact == b.artifact && a.params == b.params && a.binary == b.binary
}

/// `activate` without `--confirm-within`: the new scheduler is the
/// confirmed position at once and the old position becomes the previous.
pub fn record_confirmed_activation(
    st: &mut AgentState,
    mut active: ActiveScheduler,
    last_confirmed: Option<ActiveScheduler>,
) {
    active.confirmed = true;
    st.previous_confirmed = last_confirmed;
    st.pending = None;
    st.active = Some(active);
}

/// `activate --confirm-within`: the scheduler runs unconfirmed on top of
/// the confirmed position (`pending.previous`); `previous_confirmed` stays
/// until `confirm`.
pub fn record_pending_activation(st: &mut AgentState, mut active: ActiveScheduler, pending: Pending) {
    active.confirmed = false;
    st.pending = Some(pending);
    st.active = Some(active);
}

/// What `confirm --artifact` should do.
#[derive(Debug, Clone, PartialEq)]
pub enum ConfirmDecision {
    /// The artifact is pending and the kernel runs it: confirm it.
    Confirm,
    /// Confirmed before, and the kernel still runs it: nothing to do.
    AlreadyConfirmed,
    /// The artifact is pending but has failed (or its deadline passed): fall
    /// back now, as its watchdog would, and report it reverted.
    FallBack(Reason),
    /// A fallback reverted it already.
    Reverted(Fallback),
    /// Nothing is pending (and it is not the confirmed one either).
    NotPending,
    /// Another artifact is pending.
    OtherPending(Pending),
}

pub fn decide_confirm(st: &AgentState, artifact: &str, kernel: &KernelSchedExt, now: u64) -> ConfirmDecision {
    match &st.pending {
        Some(p) if p.artifact == artifact => match watchdog_verdict(kernel, p, now) {
            Some(reason) => ConfirmDecision::FallBack(reason),
            None => ConfirmDecision::Confirm,
        },
        Some(p) => ConfirmDecision::OtherPending(p.clone()),
        None => {
            let active = st.active.as_ref().filter(|a| a.artifact == artifact && a.confirmed);
            if active.is_some() && agrees(kernel, active) {
                return ConfirmDecision::AlreadyConfirmed;
            }
            match &st.last_fallback {
                Some(f) if f.from_artifact == artifact => ConfirmDecision::Reverted(f.clone()),
                _ => ConfirmDecision::NotPending,
            }
        }
    }
}

/// `confirm`: the pending scheduler becomes the confirmed position; the
/// one it sat on becomes the previous. Returns the pending record and the
/// confirmed scheduler; an error that says what is wrong (and nothing
/// changed) when nothing was pending, or the state file contradicts itself
/// (a pending activation without its active scheduler, or of another
/// artifact).
pub fn record_confirm(st: &mut AgentState) -> Result<(Pending, ActiveScheduler), String> {
    let pending = st.pending.clone().ok_or("no activation is pending")?;
    match &st.active {
        Some(a) if a.artifact == pending.artifact => {}
        Some(a) => {
            return Err(format!(
                "the state file is inconsistent: `{}` is pending but `{}` ({}) is recorded active",
                pending.artifact, a.ops, a.artifact
            ))
        }
        None => {
            return Err(format!(
                "the state file is inconsistent: `{}` is pending but no scheduler is recorded active",
                pending.artifact
            ))
        }
    }
    st.pending = None;
    st.previous_confirmed = pending.previous.clone();
    let active = st.active.as_mut().expect("checked above");
    active.confirmed = true;
    Ok((pending, active.clone()))
}

/// A fallback ended: `restored` runs (the pending one's previous, loaded
/// again; `None`: the kernel's default). The confirmed position and its
/// previous are what they were before the activation.
pub fn record_fallback(st: &mut AgentState, restored: Option<ActiveScheduler>, fallback: Fallback) {
    st.pending = None;
    st.active = restored.map(|a| ActiveScheduler { confirmed: true, ..a });
    st.last_fallback = Some(fallback);
}

/// A supervised binary `artifact` came up again (a restart, or a
/// re-attach within its process) as `ops` with `enable_seq`: the active
/// record, and the pending one when it is that binary's, follow, so that
/// `kernel_agrees`, the watchdog and `confirm` compare with what runs (see
/// the module `scx`). Nothing changes, and false is returned, when the
/// state no longer records that binary active.
pub fn record_restart(st: &mut AgentState, artifact: &str, ops: &str, enable_seq: u64) -> bool {
    let Some(active) = st.active.as_mut().filter(|a| a.artifact == artifact && a.binary.is_some()) else {
        return false;
    };
    active.enable_seq = enable_seq;
    active.ops = ops.to_owned();
    if let Some(p) = st.pending.as_mut().filter(|p| p.artifact == artifact) {
        p.enable_seq = enable_seq;
        p.ops = ops.to_owned();
    }
    true
}

/// Where `rollback` goes, and what `previous_confirmed` is afterwards.
#[derive(Debug, Clone, PartialEq)]
pub struct RollbackPlan {
    /// `None`: the kernel's default.
    pub target: Option<ActiveScheduler>,
    pub previous_after: Option<ActiveScheduler>,
}

/// `rollback` undoes the latest change: an unconfirmed activation goes back
/// to the confirmed position it sits on (as its fallback would, and
/// `previous_confirmed` stays); a confirmed one goes back to
/// `previous_confirmed`, and the position left becomes the previous, so a
/// second `rollback` returns to it.
pub fn plan_rollback(st: &AgentState, kernel_agrees: bool) -> RollbackPlan {
    match &st.pending {
        Some(pending) => {
            RollbackPlan { target: pending.previous.clone(), previous_after: st.previous_confirmed.clone() }
        }
        None => {
            RollbackPlan { target: st.previous_confirmed.clone(), previous_after: last_confirmed(st, kernel_agrees) }
        }
    }
}

/// `rollback` ended with `running` (the plan's target as loaded again, or
/// `None` for the kernel's default), recorded confirmed.
pub fn record_rollback(st: &mut AgentState, plan: RollbackPlan, running: Option<ActiveScheduler>) {
    st.pending = None;
    st.active = running.map(|a| ActiveScheduler { confirmed: true, ..a });
    st.previous_confirmed = plan.previous_after;
}

/// `deactivate`: the kernel's default becomes the confirmed position, and
/// the one left the previous. Returns what was active. With nothing of ours
/// active nothing changes, so deactivating twice keeps the history.
pub fn record_deactivation(st: &mut AgentState, kernel_agrees: bool) -> Option<ActiveScheduler> {
    if st.active.is_none() && st.pending.is_none() {
        return None;
    }
    st.previous_confirmed = last_confirmed(st, kernel_agrees);
    st.pending = None;
    st.active.take()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sched(name: &str, seq: u64) -> ActiveScheduler {
        ActiveScheduler {
            artifact: name.repeat(64)[..64].to_owned(),
            ops: name.into(),
            params: Default::default(),
            commit: None,
            since: 0,
            enable_seq: seq,
            confirmed: true,
            binary: None,
        }
    }

    fn kernel_running(a: &ActiveScheduler) -> KernelSchedExt {
        KernelSchedExt {
            state: "enabled".into(),
            ops: Some(a.ops.clone()),
            enable_seq: a.enable_seq,
            ..Default::default()
        }
    }

    fn pending_over(new: &ActiveScheduler, previous: Option<ActiveScheduler>, deadline: u64) -> Pending {
        Pending {
            artifact: new.artifact.clone(),
            ops: new.ops.clone(),
            enable_seq: new.enable_seq,
            deadline,
            confirm_within: 60,
            previous,
            watchdog_pid: 99,
        }
    }

    fn fallback_from(a: &ActiveScheduler) -> Fallback {
        Fallback {
            at: 1,
            from_ops: a.ops.clone(),
            from_artifact: a.artifact.clone(),
            to: "previous `a`".into(),
            reason: "not confirmed within 60 s".into(),
            took_ms: 3,
            restore_error: None,
        }
    }

    /// `a` confirmed, then `b` activated unconfirmed on top of it.
    fn a_then_pending_b() -> (AgentState, ActiveScheduler, ActiveScheduler) {
        let (a, b) = (sched("a", 1), sched("b", 2));
        let mut st = AgentState::default();
        record_confirmed_activation(&mut st, a.clone(), None);
        let prev = last_confirmed(&st, true);
        assert_eq!(prev.as_ref(), Some(&a));
        record_pending_activation(&mut st, b.clone(), pending_over(&b, prev, 100));
        (st, a, b)
    }

    #[test]
    fn a_restart_moves_the_enable_seq_of_its_own_binary_only() {
        let (mut st, a, mut b) = a_then_pending_b();
        assert!(!record_restart(&mut st, &b.artifact, "b", 9), "b is an object: no supervisor restarts it");
        b.binary = Some(schedfleet_proto::BinarySpec {
            origin: schedfleet_proto::BinaryOrigin::Store,
            args: vec![],
            env: Default::default(),
            ops_name: "b".into(),
            ops_version: None,
            start_timeout_ms: 1000,
            restart: Default::default(),
            libs: Default::default(),
        });
        st.active = Some(ActiveScheduler { confirmed: false, ..b.clone() });
        assert!(!record_restart(&mut st, &a.artifact, "a", 9), "not the active one");
        assert!(record_restart(&mut st, &b.artifact, "b_1.0_x", 9));
        assert_eq!(st.active.as_ref().map(|x| (x.ops.as_str(), x.enable_seq)), Some(("b_1.0_x", 9)));
        let p = st.pending.as_ref().unwrap();
        assert_eq!((p.ops.as_str(), p.enable_seq, p.previous.as_ref()), ("b_1.0_x", 9, Some(&a)));
        let running = kernel_running(st.active.as_ref().unwrap());
        assert_eq!(decide_confirm(&st, &b.artifact, &running, 50), ConfirmDecision::Confirm, "confirm follows");
    }

    #[test]
    fn an_old_state_file_reads_as_confirmed() {
        let st: AgentState =
            serde_json::from_str(r#"{"active":{"artifact":"x","ops":"simple","params":{},"since":1,"enable_seq":4}}"#)
                .unwrap();
        assert!(st.active.as_ref().unwrap().confirmed);
        assert_eq!((st.pending, st.previous_confirmed, st.last_fallback), (None, None, None));
    }

    #[test]
    fn the_confirmed_position_is_what_really_runs() {
        let (st, a, _) = a_then_pending_b();
        assert_eq!(last_confirmed(&st, true), Some(a.clone()), "pending: the one it sits on");
        assert_eq!(last_confirmed(&st, false), Some(a.clone()), "even while the kernel disagrees");
        let mut plain = AgentState::default();
        record_confirmed_activation(&mut plain, a.clone(), None);
        assert_eq!(last_confirmed(&plain, true), Some(a));
        assert_eq!(last_confirmed(&plain, false), None, "ejected: the host ran the kernel default since");
        assert_eq!(last_confirmed(&AgentState::default(), true), None);
    }

    #[test]
    fn confirmed_activations_shift_the_history() {
        let (a, b) = (sched("a", 1), sched("b", 2));
        let mut st = AgentState::default();
        record_confirmed_activation(&mut st, a.clone(), None);
        let before = last_confirmed(&st, true);
        record_confirmed_activation(&mut st, b.clone(), before);
        assert_eq!(st.active, Some(b));
        assert_eq!(st.previous_confirmed, Some(a));
        assert_eq!(st.pending, None);
    }

    #[test]
    fn confirm_makes_the_pending_one_the_confirmed_position() {
        let (mut st, a, b) = a_then_pending_b();
        assert!(!st.active.as_ref().unwrap().confirmed);
        assert_eq!(decide_confirm(&st, &b.artifact, &kernel_running(&b), 50), ConfirmDecision::Confirm);
        let (_, confirmed) = record_confirm(&mut st).unwrap();
        assert!(confirmed.confirmed);
        assert_eq!((st.pending.as_ref(), st.previous_confirmed.as_ref()), (None, Some(&a)));
        assert_eq!(
            decide_confirm(&st, &b.artifact, &kernel_running(&b), 500),
            ConfirmDecision::AlreadyConfirmed,
            "a repeated confirm is fine, even after the deadline"
        );
        assert_eq!(record_confirm(&mut st), Err("no activation is pending".into()));
    }

    #[test]
    fn an_inconsistent_state_is_reported_not_confirmed() {
        let (mut st, _, b) = a_then_pending_b();
        st.active = None;
        let before = st.clone();
        let err = record_confirm(&mut st).unwrap_err();
        assert!(err.contains("no scheduler is recorded active"), "{err}");
        assert_eq!(st, before, "nothing changed");
        st.active = Some(sched("z", 9));
        let err = record_confirm(&mut st).unwrap_err();
        assert!(err.contains(&format!("`{}` is pending but `z`", b.artifact)), "{err}");
    }

    #[test]
    fn confirm_refuses_what_is_not_pending() {
        let (st, a, b) = a_then_pending_b();
        let ConfirmDecision::OtherPending(p) = decide_confirm(&st, &a.artifact, &kernel_running(&b), 50) else {
            panic!("a different artifact is pending")
        };
        assert_eq!(p.artifact, b.artifact);
        let mut plain = AgentState::default();
        assert_eq!(decide_confirm(&plain, &a.artifact, &kernel_running(&a), 50), ConfirmDecision::NotPending);
        record_confirmed_activation(&mut plain, a.clone(), None);
        let ejected = KernelSchedExt { state: "disabled".into(), ..Default::default() };
        assert_eq!(decide_confirm(&plain, &a.artifact, &ejected, 50), ConfirmDecision::NotPending);
    }

    #[test]
    fn confirm_of_a_failed_or_late_activation_falls_back() {
        let (st, _, b) = a_then_pending_b();
        let ejected = KernelSchedExt { state: "disabled".into(), enable_seq: 2, ..Default::default() };
        assert_eq!(
            decide_confirm(&st, &b.artifact, &ejected, 50),
            ConfirmDecision::FallBack(Reason::KernelDisabled { state: "disabled".into() })
        );
        assert_eq!(
            decide_confirm(&st, &b.artifact, &kernel_running(&b), 100),
            ConfirmDecision::FallBack(Reason::NotConfirmed { within: 60 })
        );
    }

    #[test]
    fn a_fallback_restores_the_confirmed_position_and_confirm_then_says_reverted() {
        let (mut st, a, b) = a_then_pending_b();
        let fb = fallback_from(&b);
        let again = ActiveScheduler { enable_seq: 3, confirmed: false, ..a.clone() };
        record_fallback(&mut st, Some(again), fb.clone());
        assert_eq!(st.pending, None);
        assert_eq!(st.active.as_ref().map(|x| (x.ops.as_str(), x.enable_seq, x.confirmed)), Some(("a", 3, true)));
        assert_eq!(st.previous_confirmed, None, "the history before the activation is unchanged");
        let running = st.active.clone().unwrap();
        assert_eq!(decide_confirm(&st, &b.artifact, &kernel_running(&running), 50), ConfirmDecision::Reverted(fb));
        // To the kernel default when there was no confirmed scheduler.
        let mut st = AgentState::default();
        record_pending_activation(&mut st, b.clone(), pending_over(&b, None, 100));
        record_fallback(&mut st, None, fallback_from(&b));
        assert_eq!((st.active, st.pending), (None, None));
    }

    #[test]
    fn rollback_of_a_confirmed_scheduler_goes_to_the_previous_and_back() {
        let (mut st, a, b) = a_then_pending_b();
        record_confirm(&mut st).unwrap();
        let plan = plan_rollback(&st, true);
        assert_eq!(plan.target.as_ref(), Some(&a));
        assert_eq!(plan.previous_after.as_ref().map(|x| x.ops.as_str()), Some("b"));
        let a_again = ActiveScheduler { enable_seq: 5, ..a.clone() };
        record_rollback(&mut st, plan, Some(a_again.clone()));
        assert_eq!(st.active, Some(a_again.clone()));
        assert_eq!(st.previous_confirmed.as_ref().map(|x| x.artifact.as_str()), Some(b.artifact.as_str()));
        let back = plan_rollback(&st, true);
        assert_eq!(back.target.map(|x| x.ops), Some("b".into()));
        assert_eq!(back.previous_after, Some(a_again));
    }

    #[test]
    fn rollback_of_an_unconfirmed_scheduler_undoes_it() {
        let (mut st, a, _) = a_then_pending_b();
        st.previous_confirmed = Some(sched("z", 0));
        let plan = plan_rollback(&st, true);
        assert_eq!(plan.target.as_ref(), Some(&a));
        assert_eq!(plan.previous_after.as_ref().map(|x| x.ops.as_str()), Some("z"));
        record_rollback(&mut st, plan, Some(a.clone()));
        assert_eq!((st.active.as_ref(), st.pending.as_ref()), (Some(&a), None));
    }

    #[test]
    fn rollback_without_history_goes_to_the_kernel_default() {
        let mut st = AgentState::default();
        record_confirmed_activation(&mut st, sched("a", 1), None);
        let plan = plan_rollback(&st, true);
        assert_eq!(plan.target, None);
        record_rollback(&mut st, plan, None);
        assert_eq!(st.active, None);
        assert_eq!(st.previous_confirmed.map(|x| x.ops), Some("a".into()));
    }

    #[test]
    fn deactivation_keeps_the_history() {
        let (mut st, a, b) = a_then_pending_b();
        assert_eq!(record_deactivation(&mut st, true).map(|x| x.ops), Some(b.ops));
        assert_eq!((st.active.as_ref(), st.pending.as_ref()), (None, None));
        assert_eq!(st.previous_confirmed.as_ref(), Some(&a), "the confirmed position under the pending one");
        assert_eq!(record_deactivation(&mut st, true), None);
        assert_eq!(st.previous_confirmed.as_ref(), Some(&a), "deactivating twice forgets nothing");
    }

    #[test]
    fn same_scheduler_means_same_object_and_parameters() {
        let a = sched("a", 1);
        assert!(same_scheduler(&a, &ActiveScheduler { enable_seq: 9, since: 5, ..a.clone() }));
        let mut other = a.clone();
        other.params.insert("slice_ns".into(), "1".into());
        assert!(!same_scheduler(&a, &other));
    }
}
