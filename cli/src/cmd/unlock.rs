//! `schedfleet unlock`: clear the fleet lock that a crashed or killed
//! rollout left behind. The lock is an flock, which the kernel drops when
//! its process dies, so this only clears the stale owner record; while a
//! live process holds the lock it refuses and says who that is.

use anyhow::Result;
use schedfleet_fleet::state::{self, lock};

use crate::args::UnlockArgs;
use crate::exit;

pub fn run(args: UnlockArgs) -> Result<u8> {
    let key = super::fleet_key(&args.repo)?;
    match lock::break_stale(&state::dir(), &key) {
        Ok(Some(owner)) => eprintln!("cleared a stale lock record of {owner}"),
        Ok(None) => eprintln!("the fleet is not locked"),
        Err(e @ lock::LockError::Held { .. }) => {
            eprintln!("error: {e}; it is running: wait for it or stop that process");
            return Ok(exit::LOCKED);
        }
        Err(e) => return Err(e.into()),
    }
    Ok(exit::OK)
}
