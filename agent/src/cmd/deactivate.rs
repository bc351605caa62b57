//! `deactivate`: remove the scheduler this agent pinned and wait until the
//! kernel's default scheduler is back.

use std::time::Duration;

use schedfleet_proto::{Deactivated, ErrorKind, KernelSchedExt};

use crate::error::{Failure, Result};
use crate::{log, sched, state};

/// How long the kernel may take to hand every task back; generous because
/// emulated lab VMs are slow.
pub const DISABLE_TIMEOUT: Duration = Duration::from_secs(10);

pub fn run() -> Result<Deactivated> {
    super::require_root_and_sched_ext()?;
    let mut st = state::load()?;
    let kernel = remove_ours()?;
    let removed = st.active.take();
    state::save(&st)?;
    Ok(Deactivated { removed, kernel })
}

/// Unpins our scheduler (if any) and waits for `disabled`. A scheduler that
/// this agent did not load is left alone and reported.
pub fn remove_ours() -> Result<KernelSchedExt> {
    let before = sched::kernel::read()?;
    if !sched::link::unpin()? {
        if before.state != "disabled" {
            return Err(Failure::new(
                ErrorKind::AlreadyActive,
                format!(
                    "scheduler `{}` was not loaded by schedfleet (no pin at `{}`); stop it with the tool that started it",
                    before.ops.as_deref().unwrap_or("?"),
                    sched::link::pin_path().display()
                ),
            ));
        }
        return Ok(before);
    }
    log::info(&format!("removed scheduler `{}`", before.ops.as_deref().unwrap_or("?")));
    let (after, done) = sched::kernel::wait_until(DISABLE_TIMEOUT, |k| k.state == "disabled")?;
    if !done {
        return Err(Failure::new(
            ErrorKind::Internal,
            format!("the pin is gone but sched_ext is still `{}` after {DISABLE_TIMEOUT:?}", after.state),
        ));
    }
    Ok(after)
}
