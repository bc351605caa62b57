//! Reverting an unconfirmed activation: take it out, put the confirmed
//! position back (loaded from the store, digest verified, with its
//! parameters; or nothing, for the kernel's default), and record why.
//!
//! The watchdog hands in the previous scheduler already loaded (verified by
//! the kernel while the unconfirmed scheduler ran), so a fallback after a kernel ejection
//! is an unpin of a dead link and one attach: well under a second even on
//! an emulated lab VM. `confirm` and `activate`, which fall back only in
//! rare cases, load it here. Callers hold the state lock and save the state.

use std::time::Instant;

use schedfleet_proto::{ActiveScheduler, AgentState, Fallback, Pending};

use super::transition;
use super::verdict::Reason;
use crate::error::Result;
use crate::sched::switch::Ready;
use crate::sched::{kernel, switch};
use crate::{log, state};

/// Falls back from `pending` for `reason`, noticed at `noticed`, and
/// records it in `st`. `preloaded` is `pending.previous` already loaded (or
/// the error loading it gave), when the caller has it.
pub fn fall_back(
    st: &mut AgentState,
    pending: &Pending,
    reason: &Reason,
    preloaded: Option<Result<Ready>>,
    noticed: Instant,
) -> Fallback {
    log::info(&format!("falling back from `{}`: {}", pending.ops, reason.noticed()));
    let (restored, to, restore_error) = match switch::remove_ours() {
        Err(e) => (None, format!("left alone: `{}`, not loaded by schedfleet", running_ops()), Some(e.message)),
        Ok(_) => match &pending.previous {
            None => (None, "kernel default".to_owned(), None),
            Some(previous) => restore(previous, preloaded),
        },
    };
    let took_ms = noticed.elapsed().as_millis() as u64;
    // Read after the switch: the kernel logs an ejection a moment after it
    // reports `disabled`, and the switch adds no `disabled` line of ours.
    let disable = if reason.is_kernel_disable() { kernel::last_disable_of(&pending.ops) } else { None };
    let fallback = Fallback {
        at: state::unix_now(),
        from_ops: pending.ops.clone(),
        from_artifact: pending.artifact.clone(),
        to,
        reason: reason.describe(disable.as_ref()),
        took_ms,
        restore_error,
    };
    log::info(&format!(
        "fell back from `{}` to {} in {took_ms} ms: {}{}",
        fallback.from_ops,
        fallback.to,
        fallback.reason,
        fallback.restore_error.as_deref().map(|e| format!(" ({e})")).unwrap_or_default()
    ));
    transition::record_fallback(st, restored, fallback.clone());
    fallback
}

/// Puts `previous` back: `(what runs, to, restore_error)`.
fn restore(
    previous: &ActiveScheduler,
    preloaded: Option<Result<Ready>>,
) -> (Option<ActiveScheduler>, String, Option<String>) {
    let loaded = preloaded.unwrap_or_else(|| switch::load_stored(previous));
    match loaded.and_then(switch::attach_and_check) {
        Ok((ops, enable_seq, _)) => {
            let running = ActiveScheduler { enable_seq, since: state::unix_now(), confirmed: true, ..previous.clone() };
            (Some(running), format!("previous `{ops}`"), None)
        }
        Err(e) => (
            None,
            "kernel default".to_owned(),
            Some(format!("restoring the previous scheduler `{}` failed: {}", previous.ops, e.message)),
        ),
    }
}

fn running_ops() -> String {
    kernel::read().ok().and_then(|k| k.ops).unwrap_or_else(|| "?".into())
}
