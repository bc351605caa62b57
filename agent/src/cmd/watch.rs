//! `watch`: the watchdog of an unconfirmed activation. `activate
//! --confirm-within` starts it detached; it is not meant to be run by hand
//! (see `deadman::watchdog`).

use crate::cli::WatchArgs;
use crate::deadman::watchdog::{self, Watched};
use crate::error::Result;

pub fn run(args: WatchArgs) -> Result<Watched> {
    watchdog::run(args)
}
