//! `recover`: undo a change of scheduler an agent killed mid-way left, and
//! say what runs. Every command that changes the host does this first; this
//! command does only that, for a boot-time unit (`ExecStart=...
//! schedfleet-agent recover`) or a person, so a host comes up on a known
//! scheduler even when no controller ever asks.

use schedfleet_proto::{ActiveScheduler, Fallback, KernelSchedExt};
use serde::Serialize;

use crate::error::Result;
use crate::sched;

#[derive(Debug, Serialize)]
pub struct Recovered {
    /// The fallback recorded by this command; absent when nothing was interrupted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovered: Option<Fallback>,
    pub active: Option<ActiveScheduler>,
    pub kernel: KernelSchedExt,
}

pub fn run() -> Result<Recovered> {
    super::require_root_and_sched_ext()?;
    let lock = crate::state::lock()?;
    let mut st = crate::state::load()?;
    let recovered = crate::deadman::recover::recover(&mut st)?;
    drop(lock);
    Ok(Recovered { recovered, active: st.active, kernel: sched::kernel::read()? })
}
