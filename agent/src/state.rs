//! Where the agent keeps things on a host, and its state file: what it
//! believes is active. The kernel is the truth about what runs; the state
//! file only adds what the kernel cannot know (artifact digest, parameters,
//! commit, whether the activation is confirmed, what a fallback or a
//! rollback goes back to). Written atomically (temp file, fsync, rename) so
//! a crash never leaves half a document.
//!
//! Every command that changes the state file (and the watchdog) holds the
//! state lock ([`lock`], an flock) from reading it to writing it, so two
//! agents never decide on the same old state; readers (`status`) need no
//! lock, the rename makes every write whole.

use std::io::Write;
use std::path::{Path, PathBuf};

use schedfleet_proto::{AgentState, ErrorKind, AGENT_ROOT};

use crate::error::{Failure, Result};

/// The agent's root directory; `SCHEDFLEET_AGENT_ROOT` overrides it so the
/// store can be exercised without root in tests.
pub fn root() -> PathBuf {
    std::env::var_os("SCHEDFLEET_AGENT_ROOT").map_or_else(|| PathBuf::from(AGENT_ROOT), PathBuf::from)
}

pub fn store_dir() -> PathBuf {
    root().join("store")
}

fn state_file() -> PathBuf {
    root().join("state.json")
}

/// An exclusive flock on a lock file, held until dropped. The kernel also
/// drops it when the process dies, so a killed agent never leaves the host
/// locked. The descriptor is close-on-exec: a child (the watchdog) never
/// inherits the lock.
#[derive(Debug)]
pub struct FileLock {
    _file: std::fs::File,
}

fn open_lock_file(path: &Path) -> Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path.parent().expect("lock files have a parent");
    std::fs::create_dir_all(dir).map_err(|e| Failure::io("create", &dir.display().to_string(), e))?;
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(|e| Failure::io("open", &path.display().to_string(), e))
}

impl FileLock {
    /// Waits for the lock.
    pub fn acquire(path: &Path) -> Result<FileLock> {
        let file = open_lock_file(path)?;
        file.lock().map_err(|e| Failure::io("lock", &path.display().to_string(), e))?;
        Ok(FileLock { _file: file })
    }

    /// Takes the lock if it is free; `None` when someone holds it.
    pub fn try_acquire(path: &Path) -> Result<Option<FileLock>> {
        let file = open_lock_file(path)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(FileLock { _file: file })),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(Failure::io("lock", &path.display().to_string(), e)),
        }
    }
}

pub fn state_lock_file() -> PathBuf {
    root().join("state.lock")
}

/// Waits for the state lock; see the module's notes.
pub fn lock() -> Result<FileLock> {
    FileLock::acquire(&state_lock_file())
}

/// Seconds since the Unix epoch, the unit of every time in the state file.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

pub fn load() -> Result<AgentState> {
    let path = state_file();
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
            Failure::new(
                ErrorKind::Internal,
                format!("state file `{}` is corrupt ({e}); remove it and run `deactivate`", path.display()),
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(AgentState::default()),
        Err(e) => Err(Failure::io("read", &path.display().to_string(), e)),
    }
}

pub fn save(state: &AgentState) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(state).expect("agent state always serializes");
    write_atomic(&state_file(), &bytes, 0o644)
}

/// Writes `bytes` to `path` so that readers see either the old or the new
/// content, never a mix, even across a crash.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path.parent().expect("agent paths have a parent");
    let shown = path.display().to_string();
    std::fs::create_dir_all(dir).map_err(|e| Failure::io("create", &dir.display().to_string(), e))?;
    let tmp = dir.join(format!(".tmp-{}-{}", std::process::id(), path.file_name().unwrap().to_string_lossy()));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(mode).open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Failure::io("write", &shown, e)
    })
}
