//! The controller's own state directory: what schedfleet remembers between
//! runs on the machine it runs on: host facts and the status history (journal and lock later).
//! `$SCHEDFLEET_STATE_DIR`, else `$XDG_STATE_HOME/schedfleet`, else
//! `~/.local/state/schedfleet`.
//!
//! The journal and the status history hold what hosts reported and why
//! they failed: their directories are `0700` and their files `0600`
//! ([`create_private_dir`] narrows a directory an older version made
//! wider).

mod facts;
pub mod history;
pub mod journal;
pub mod lock;

use std::path::{Path, PathBuf};

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

/// Creates `dir` (and missing parents) and makes it `0700`, narrowing it
/// when it exists with a wider mode.
pub(crate) fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    let mode = std::fs::metadata(dir)?.permissions().mode() & 0o777;
    if mode != 0o700 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}
