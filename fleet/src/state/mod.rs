//! The controller's own state directory: what schedfleet remembers between
//! runs on the machine it runs on: host facts and the status history (journal and lock later).
//! `$SCHEDFLEET_STATE_DIR`, else `$XDG_STATE_HOME/schedfleet`, else
//! `~/.local/state/schedfleet`.

mod facts;
pub mod history;
pub mod journal;
pub mod lock;

use std::path::PathBuf;

pub use facts::FactsCache;

pub fn dir() -> PathBuf {
    if let Some(d) = std::env::var_os("SCHEDFLEET_STATE_DIR") {
        return PathBuf::from(d);
    }
    let base = std::env::var_os("XDG_STATE_HOME").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into())).join(".local/state")
    });
    base.join("schedfleet")
}
