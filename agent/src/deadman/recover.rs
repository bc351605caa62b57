//! Finishing what a killed agent left: a change of scheduler whose intent
//! (written before anything was switched, see [`AgentState::intent`]) is
//! still in the state file was interrupted, since every agent that writes
//! one clears it under the same state lock before it lets go, and the
//! kernel drops the lock of a process that dies.
//!
//! An interrupted change is undone, never guessed forward: the host goes
//! back to the confirmed position the intent names (loaded again from the
//! store, digest verified), or to the kernel's default, and the state file
//! records a fallback that says so. Nothing is switched when the kernel
//! still runs that position (the agent died before it switched anything).
//!
//! Every command that takes the state lock runs [`recover`] first (so does
//! `status`, when the lock is free), the watchdog runs it when it finds
//! itself orphaned, and `schedfleet-agent recover` runs it alone, for a
//! boot-time unit.

use std::time::Instant;

use schedfleet_proto::{ActiveScheduler, AgentState, Fallback, Intent, KernelSchedExt};

use crate::sched::{kernel, switch};
use crate::{log, state};

/// What an interrupted change needs.
#[derive(Debug, Clone, PartialEq)]
pub enum Undo {
    /// The kernel runs the intent's confirmed position: only the record is fixed.
    Record,
    /// The host must be switched back to the intent's confirmed position.
    Switch,
}

/// Whether `kernel` already runs what `intent` goes back to.
pub fn decide(intent: &Intent, kernel: &KernelSchedExt) -> Undo {
    if kernel::agrees(kernel, intent.previous.as_ref()) {
        Undo::Record
    } else {
        Undo::Switch
    }
}

/// The state after undoing `intent`: `running` is what runs now (the
/// confirmed position, or `None` for the kernel's default).
pub fn record_undo(st: &mut AgentState, intent: &Intent, running: Option<ActiveScheduler>, fallback: Fallback) {
    st.intent = None;
    st.pending = None;
    st.active = running.map(|a| ActiveScheduler { confirmed: true, ..a });
    st.last_fallback =
        Some(Fallback { from_ops: intent.ops.clone(), from_artifact: intent.artifact.clone(), ..fallback });
}

/// Undoes the interrupted change in `st`, if any, and saves the state.
/// Callers hold the state lock. Returns the fallback recorded.
pub fn recover(st: &mut AgentState) -> crate::error::Result<Option<Fallback>> {
    let Some(intent) = st.intent.clone() else { return Ok(None) };
    let started = Instant::now();
    let why = format!(
        "the agent (pid {}) was killed while it activated `{}` at {}: the change is undone",
        intent.pid, intent.ops, intent.started
    );
    log::info(&why);
    // A watchdog of a pending activation the change was replacing is
    // already gone, or was stopped by the killed agent.
    let k = kernel::read()?;
    let (running, to, restore_error) = match decide(&intent, &k) {
        Undo::Record => (intent.previous.clone(), describe(intent.previous.as_ref()), None),
        Undo::Switch => {
            crate::sched::libbpf_log::install();
            match switch::remove_ours() {
                Err(e) => (None, format!("left alone: `{}`", k.ops.as_deref().unwrap_or("?")), Some(e.message)),
                Ok(_) => match &intent.previous {
                    None => (None, "kernel default".to_owned(), None),
                    Some(prev) => match switch::load_stored(prev).and_then(switch::attach_and_check) {
                        Ok((_, enable_seq, _)) => (
                            Some(ActiveScheduler { enable_seq, since: state::unix_now(), ..prev.clone() }),
                            describe(Some(prev)),
                            None,
                        ),
                        Err(e) => (
                            None,
                            "kernel default".to_owned(),
                            Some(format!("restoring the previous scheduler `{}` failed: {}", prev.ops, e.message)),
                        ),
                    },
                },
            }
        }
    };
    let fallback = Fallback {
        at: state::unix_now(),
        from_ops: String::new(),
        from_artifact: String::new(),
        to,
        reason: why,
        took_ms: started.elapsed().as_millis() as u64,
        restore_error,
    };
    record_undo(st, &intent, running, fallback.clone());
    state::save(st)?;
    log::info(&format!("recovered: the host runs {}", fallback.to));
    Ok(st.last_fallback.clone())
}

fn describe(previous: Option<&ActiveScheduler>) -> String {
    previous.map_or("kernel default".to_owned(), |p| format!("previous `{}`", p.ops))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sched(ops: &str, seq: u64) -> ActiveScheduler {
        ActiveScheduler {
            artifact: "a".repeat(64),
            ops: ops.into(),
            params: Default::default(),
            commit: None,
            since: 1,
            enable_seq: seq,
            confirmed: true,
            binary: None,
        }
    }

    fn intent(previous: Option<ActiveScheduler>) -> Intent {
        Intent { artifact: "b".repeat(64), ops: "next".into(), started: 5, pid: 42, previous }
    }

    fn kernel(state: &str, ops: Option<&str>, seq: u64) -> KernelSchedExt {
        KernelSchedExt { state: state.into(), ops: ops.map(Into::into), enable_seq: seq, ..Default::default() }
    }

    #[test]
    fn killed_before_any_switch_only_the_record_is_fixed() {
        let prev = sched("simple", 3);
        assert_eq!(decide(&intent(Some(prev)), &kernel("enabled", Some("simple"), 3)), Undo::Record);
        assert_eq!(decide(&intent(None), &kernel("disabled", None, 3)), Undo::Record);
    }

    #[test]
    fn killed_after_the_old_one_left_or_the_new_one_came_the_host_switches_back() {
        let prev = sched("simple", 3);
        for k in [kernel("disabled", None, 3), kernel("enabled", Some("next"), 4), kernel("enabled", Some("simple"), 4)]
        {
            assert_eq!(decide(&intent(Some(prev.clone())), &k), Undo::Switch, "{k:?}");
        }
        assert_eq!(decide(&intent(None), &kernel("enabled", Some("next"), 4)), Undo::Switch);
    }

    #[test]
    fn the_undo_is_recorded_as_a_fallback_from_the_interrupted_scheduler() {
        let prev = sched("simple", 3);
        let mut st = AgentState {
            active: Some(ActiveScheduler { confirmed: false, ..sched("next", 4) }),
            intent: Some(intent(Some(prev.clone()))),
            ..Default::default()
        };
        let fb = Fallback {
            at: 9,
            from_ops: String::new(),
            from_artifact: String::new(),
            to: "previous `simple`".into(),
            reason: "killed".into(),
            took_ms: 1,
            restore_error: None,
        };
        let i = st.intent.clone().unwrap();
        record_undo(&mut st, &i, Some(ActiveScheduler { enable_seq: 5, ..prev }), fb);
        assert_eq!(st.intent, None);
        assert_eq!(st.active.as_ref().map(|a| (a.ops.as_str(), a.enable_seq, a.confirmed)), Some(("simple", 5, true)));
        let fb = st.last_fallback.unwrap();
        assert_eq!((fb.from_ops.as_str(), fb.from_artifact), ("next", "b".repeat(64)));
    }
}
