//! `rollback`: undo the latest change of scheduler. An unconfirmed
//! activation goes back to the confirmed scheduler under it; a confirmed
//! one to the confirmed scheduler before it (`previous_confirmed`, `None`
//! being the kernel's default), which is loaded again from the store,
//! digest verified, with its parameters. What runs afterwards is recorded
//! confirmed (see `deadman::transition` for the history this keeps).
//!
//! As in `activate`, the target is loaded (verified by the kernel) before
//! anything running is touched, and a target that does not come up is
//! removed and the scheduler that ran before is put back.

use schedfleet_proto::{ErrorKind, RolledBack};

use crate::deadman::transition;
use crate::error::{Failure, Result};
use crate::sched::switch;
use crate::{log, sched, state};

pub fn run() -> Result<RolledBack> {
    super::require_root_and_sched_ext()?;
    sched::libbpf_log::install();
    let (_lock, mut st) = super::lock_state()?;
    let kernel = sched::kernel::read()?;
    let kernel_agrees = sched::kernel::agrees(&kernel, st.active.as_ref());
    let plan = transition::plan_rollback(&st, kernel_agrees);
    let from = st.active.clone().filter(|_| kernel_agrees);
    let running_target = match (&plan.target, &from) {
        (Some(t), Some(f)) => transition::same_scheduler(t, f),
        (None, None) => kernel.state == "disabled",
        _ => false,
    };

    // Verified first, while the current scheduler keeps running.
    let loaded = plan.target.as_ref().filter(|_| !running_target).map(switch::load_stored).transpose()?;
    super::stop_watchdog(&st);
    if running_target {
        log::info("the rollback's target already runs; only the record changes");
        let running = if plan.target.is_some() { from.clone() } else { None };
        transition::record_rollback(&mut st, plan, running);
        state::save(&st)?;
        return Ok(RolledBack { from, active: st.active.clone(), kernel });
    }
    switch::remove_ours()?;
    let running = match (loaded, &plan.target) {
        (Some(loaded), Some(target)) => match switch::attach_and_check(loaded) {
            Ok((_, enable_seq, _)) => Some(schedfleet_proto::ActiveScheduler {
                enable_seq,
                since: state::unix_now(),
                confirmed: true,
                ..target.clone()
            }),
            Err(mut failure) => {
                // Back to what ran before the rollback, if it was confirmed:
                // an unconfirmed one has lost its watchdog.
                st.pending = None;
                let restored = match from.clone() {
                    Some(f) if !f.confirmed => {
                        st.active = None;
                        state::save(&st)?;
                        format!(
                            "; the unconfirmed `{}` it rolled back from is not put back: the host runs the kernel's default scheduler",
                            f.ops
                        )
                    }
                    from => super::activate::restore(from, &mut st),
                };
                failure.message.push_str(&restored);
                return Err(failure);
            }
        },
        _ => None,
    };
    log::info(&format!(
        "rolled back to {}",
        running.as_ref().map_or("the kernel default".to_owned(), |r| format!("`{}`", r.ops))
    ));
    transition::record_rollback(&mut st, plan, running);
    state::save(&st)?;
    let kernel = sched::kernel::read()?;
    if !sched::kernel::agrees(&kernel, st.active.as_ref()) {
        return Err(Failure::new(
            ErrorKind::NotEnabled,
            format!(
                "rolled back, but the kernel now reports sched_ext `{}`, ops `{}`",
                kernel.state,
                kernel.ops.as_deref().unwrap_or("none")
            ),
        ));
    }
    Ok(RolledBack { from, active: st.active.clone(), kernel })
}
