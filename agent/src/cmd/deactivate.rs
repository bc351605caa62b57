//! `deactivate`: remove the scheduler this agent pinned and wait until the
//! kernel's default scheduler is back. An unconfirmed activation's watchdog
//! is stopped and the activation forgotten; the scheduler left becomes the
//! one `rollback` returns to.

use schedfleet_proto::Deactivated;

use crate::deadman::transition;
use crate::error::Result;
use crate::sched::switch;
use crate::{sched, state};

pub fn run() -> Result<Deactivated> {
    super::require_root_and_sched_ext()?;
    let (_lock, mut st) = super::lock_state()?;
    let kernel_agrees = sched::kernel::agrees(&sched::kernel::read()?, st.active.as_ref());
    // Removed first: should that fail (a scheduler not ours runs), nothing
    // changed, and the watchdog of a pending activation goes on watching.
    let kernel = switch::remove_ours()?;
    super::stop_watchdog(&st);
    let removed = transition::record_deactivation(&mut st, kernel_agrees);
    state::save(&st)?;
    Ok(Deactivated { removed, kernel })
}
