//! `confirm --artifact HEX`: the controller's word that an unconfirmed
//! activation is healthy. It becomes the confirmed scheduler (the one it
//! replaced is kept for `rollback`) and its watchdog is stopped.
//!
//! The state lock decides the race with the watchdog: whichever takes it
//! first acts, and the other sees the outcome. `confirm` applies the same
//! verdict as the watchdog: an activation the kernel no longer runs, or
//! whose deadline has passed, is reverted here and now (as its watchdog
//! would a moment later, or never, were it dead) and reported `reverted`.
//! So is one a watchdog already reverted: that is how the controller learns
//! that the host fell back, and why.

use std::time::Instant;

use schedfleet_proto::{Confirmed, ErrorKind, Fallback};

use crate::deadman::transition::{self, ConfirmDecision};
use crate::deadman::{fallback, process};
use crate::error::{Failure, Result};
use crate::{log, sched, state};

pub fn run(artifact: &str) -> Result<Confirmed> {
    super::require_root_and_sched_ext()?;
    let (_lock, mut st) = super::lock_state()?;
    let kernel = sched::kernel::read()?;
    match transition::decide_confirm(&st, artifact, &kernel, state::unix_now()) {
        ConfirmDecision::Confirm => {
            let (pending, active) = transition::record_confirm(&mut st).map_err(inconsistent)?;
            state::save(&st)?;
            process::stop(pending.watchdog_pid, &pending.artifact);
            log::info(&format!("confirmed `{}`", active.ops));
            Ok(Confirmed { active, already_confirmed: false })
        }
        ConfirmDecision::AlreadyConfirmed => {
            let active = st.active.ok_or_else(|| inconsistent("no scheduler is recorded active".into()))?;
            Ok(Confirmed { active, already_confirmed: true })
        }
        ConfirmDecision::FallBack(reason) => {
            let pending = st.pending.clone().ok_or_else(|| inconsistent("no activation is pending".into()))?;
            super::stop_watchdog(&st);
            sched::libbpf_log::install();
            let fb = fallback::fall_back(&mut st, &pending, &reason, None, Instant::now());
            state::save(&st)?;
            Err(reverted(artifact, fb))
        }
        ConfirmDecision::Reverted(fb) => Err(reverted(artifact, fb)),
        ConfirmDecision::NotPending => {
            let runs = match &st.active {
                Some(a) if sched::kernel::agrees(&kernel, Some(a)) => format!("`{}` ({})", a.ops, a.artifact),
                _ => format!("sched_ext `{}`, ops `{}`", kernel.state, kernel.ops.as_deref().unwrap_or("none")),
            };
            Err(Failure::new(
                ErrorKind::NotPending,
                format!("`{artifact}` does not wait for a confirmation: nothing does; the host runs {runs}"),
            ))
        }
        ConfirmDecision::OtherPending(p) => Err(Failure::new(
            ErrorKind::OtherPending,
            format!(
                "`{artifact}` does not wait for a confirmation; `{}` ({}) does, until {}",
                p.ops, p.artifact, p.deadline
            ),
        )),
    }
}

/// The state file contradicts itself: said, not panicked on. The host is
/// left as it is; `rollback` or `deactivate` put it in a known state.
fn inconsistent(why: String) -> Failure {
    Failure::new(
        ErrorKind::Internal,
        format!("cannot confirm: {why}; nothing was changed: run `rollback` or `deactivate` to reach a known state"),
    )
}

fn reverted(artifact: &str, fb: Fallback) -> Failure {
    let mut failure = Failure::new(
        ErrorKind::Reverted,
        format!("`{artifact}` was reverted at {} to {}: {}", fb.at, fb.to, fb.reason),
    );
    failure.last_fallback = Some(Box::new(fb));
    failure
}
