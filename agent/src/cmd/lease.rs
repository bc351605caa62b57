//! `lease acquire` and `lease release`: the per-host lease (see `lease`).

use schedfleet_proto::{LeaseAcquired, LeaseReleased};

use crate::error::Result;
use crate::{lease, state};

pub fn acquire(owner: &str, ttl: u64) -> Result<LeaseAcquired> {
    lease::acquire(&state::root(), owner, ttl, state::unix_now())
}

pub fn release(owner: &str) -> Result<LeaseReleased> {
    lease::release(&state::root(), owner, state::unix_now())
}
