//! `watch`: the watchdog of an unconfirmed activation. `activate
//! --confirm-within` starts it detached; it is not meant to be run by hand
//! (see `canary::watchdog`).

use crate::canary::watchdog::{self, Watched};
use crate::cli::WatchArgs;
use crate::error::Result;

pub fn run(args: WatchArgs) -> Result<Watched> {
    watchdog::run(args)
}
