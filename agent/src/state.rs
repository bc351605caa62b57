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
//!
//! The root and everything in it are root-only: directories `0700`, files
//! `0600` (the agent binary `0700`). [`check_root`] runs before every
//! command and narrows a wider mode it finds (a root made by an older agent
//! with the default umask), saying so on stderr, and refuses a root that is
//! not a directory or belongs to another user.

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
    ensure_dir(dir)?;
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
    write_atomic(&state_file(), &bytes, 0o600)
}

/// Writes `bytes` to `path` so that readers see either the old or the new
/// content, never a mix, even across a crash.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let dir = path.parent().expect("agent paths have a parent");
    let shown = path.display().to_string();
    ensure_dir(dir)?;
    let (tmp, mut f) = create_temp(dir, &path.file_name().unwrap().to_string_lossy(), mode)?;
    let result = (|| {
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Failure::io("write", &shown, e)
    })?;
    sync_dir(dir)
}

/// Creates a new file in `dir` that no other writer uses (process id, a
/// per-process counter and the time in its name, and `create_new`, which
/// fails rather than share a name), with `mode`. Returns its path, open
/// for writing.
pub fn create_temp(dir: &Path, purpose: &str, mode: u32) -> Result<(PathBuf, std::fs::File)> {
    use std::os::unix::fs::OpenOptionsExt;
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut last = None;
    for _ in 0..16 {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!(".tmp-{}-{n}-{nanos:08x}-{purpose}", std::process::id()));
        match std::fs::OpenOptions::new().write(true).create_new(true).mode(mode).open(&tmp) {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(Failure::io("create", &tmp.display().to_string(), e)),
        }
    }
    let e = last.expect("every try failed");
    Err(Failure::io("create a temporary file in", &dir.display().to_string(), e))
}

/// Syncs a directory, so that a rename in it survives a crash.
pub fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(|e| Failure::io("sync", &dir.display().to_string(), e))
}

/// Creates `dir` (and its missing parents) root-only, `0700`.
pub fn ensure_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| Failure::io("create", &dir.display().to_string(), e))
}

/// What [`check_root`] found wrong with one path and narrowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Narrowed {
    pub path: PathBuf,
    pub from: u32,
    pub to: u32,
}

/// Checks the agent's root, its store and the files directly in them:
/// every one must belong to this user (or root), directories must be
/// directories, and no mode may give the group or others anything. A wider
/// mode is narrowed (group and other bits cleared; an executable stays
/// executable for its owner) and reported; anything else is refused with
/// what to do. A root that does not exist yet is fine: it is created
/// root-only when first written.
pub fn check_root() -> Result<Vec<Narrowed>> {
    check_tree(&root())
}

fn check_tree(root: &Path) -> Result<Vec<Narrowed>> {
    let mut narrowed = Vec::new();
    for dir in [root.to_path_buf(), root.join("store")] {
        match std::fs::symlink_metadata(&dir) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Failure::io("inspect", &dir.display().to_string(), e)),
            Ok(m) if !m.is_dir() => {
                return Err(Failure::new(
                    ErrorKind::Internal,
                    format!(
                        "`{}` is not a directory (a link or a file): the agent keeps its state and store only in a \
                         root-only directory; move it away and run the command again",
                        dir.display()
                    ),
                ))
            }
            Ok(m) => {
                narrow(&dir, &m, &mut narrowed)?;
                // A root-only directory of root's, seen by an agent not run
                // as root: its files are out of reach and out of others'
                // reach alike; the command says what it needs.
                if std::os::unix::fs::MetadataExt::uid(&m) != effective_uid() {
                    break;
                }
            }
        }
        let entries = std::fs::read_dir(&dir).map_err(|e| Failure::io("list", &dir.display().to_string(), e))?;
        for entry in entries.flatten() {
            let path = entry.path();
            match std::fs::symlink_metadata(&path) {
                Ok(m) if m.is_file() => narrow(&path, &m, &mut narrowed)?,
                _ => {}
            }
        }
    }
    for n in &narrowed {
        crate::log::info(&format!(
            "narrowed the mode of `{}` from {:04o} to {:04o}: the agent's files are root-only",
            n.path.display(),
            n.from,
            n.to
        ));
    }
    Ok(narrowed)
}

fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

fn narrow(path: &Path, meta: &std::fs::Metadata, narrowed: &mut Vec<Narrowed>) -> Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let euid = effective_uid();
    let mode = meta.mode() & 0o7777;
    if meta.uid() != euid && meta.uid() != 0 {
        return Err(Failure::new(
            ErrorKind::Internal,
            format!(
                "`{}` belongs to uid {}, not to root or this agent's user (uid {euid}): refusing to trust it; \
                 check who made it, then remove it or give it to root",
                path.display(),
                meta.uid()
            ),
        ));
    }
    if mode & 0o077 == 0 {
        return Ok(());
    }
    if meta.uid() != euid {
        return Err(Failure::new(
            ErrorKind::Internal,
            format!(
                "`{}` has mode {mode:04o}, readable beyond root: run the agent as root to narrow it to {:04o}",
                path.display(),
                mode & 0o700
            ),
        ));
    }
    let to = mode & 0o700;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(to))
        .map_err(|e| Failure::io("narrow the mode of", &path.display().to_string(), e))?;
    narrowed.push(Narrowed { path: path.to_path_buf(), from: mode, to });
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn a_root_made_with_a_wide_umask_is_narrowed_and_said_so() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("schedfleet");
        std::fs::create_dir_all(root.join("store")).unwrap();
        for (path, m) in [(root.clone(), 0o755), (root.join("store"), 0o755)] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(m)).unwrap();
        }
        std::fs::write(root.join("state.json"), b"{}").unwrap();
        std::fs::set_permissions(root.join("state.json"), std::fs::Permissions::from_mode(0o644)).unwrap();
        let agent = root.join("store").join("a".repeat(64));
        std::fs::write(&agent, b"#!").unwrap();
        std::fs::set_permissions(&agent, std::fs::Permissions::from_mode(0o755)).unwrap();

        let narrowed = check_tree(&root).unwrap();
        assert_eq!(narrowed.len(), 4, "{narrowed:?}");
        assert_eq!((mode(&root), mode(&root.join("store"))), (0o700, 0o700));
        assert_eq!(mode(&root.join("state.json")), 0o600);
        assert_eq!(mode(&agent), 0o700, "an executable stays executable for root");
        assert_eq!(check_tree(&root).unwrap(), vec![], "nothing left to narrow");
        assert_eq!(check_tree(&dir.path().join("absent")).unwrap(), vec![], "created later, root-only");
    }

    #[test]
    fn a_root_that_is_a_link_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("schedfleet");
        std::os::unix::fs::symlink(dir.path(), &root).unwrap();
        let err = check_tree(&root).unwrap_err();
        assert!(err.message.contains("is not a directory"), "{}", err.message);
    }

    #[test]
    fn writes_are_root_only_and_leave_no_temporary_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("new").join("schedfleet");
        write_atomic(&root.join("state.json"), b"{}", 0o600).unwrap();
        assert_eq!((mode(&root), mode(&root.join("state.json"))), (0o700, 0o600));
        let names: Vec<_> = std::fs::read_dir(&root).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("state.json")]);
    }
}
