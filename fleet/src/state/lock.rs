//! The controller's fleet lock: one rollout of a fleet at a time from this
//! machine, and a clear answer to "who is rolling out right now?".
//!
//! The lock is `flock(LOCK_EX | LOCK_NB)` on `<dir>/locks/<fleet key>.lock`,
//! where `dir` is usually the state directory and the fleet key names the
//! fleet in a file name ([`fleet_key`] makes one from a repository's path or
//! URL). The kernel owns the lock, not the file: it is released when the
//! holder's file is closed, including when the holder dies, so a crashed
//! controller never leaves a lock that blocks the next run. The file is
//! opened close-on-exec (Rust's default), so the `ssh` children a controller
//! starts do not inherit the lock and cannot keep it past the controller.
//! A `flock` is held by an open file description, not by a process, so a
//! second `acquire` in the same process conflicts with the first as another
//! process would.
//!
//! Inside the file the holder writes an [`Owner`] record (user, host, pid,
//! run id, since) so that a refused `acquire` ([`LockError::Held`]) and
//! [`holder`] can say who holds the lock. The record is only information:
//! whether the lock is held is always the kernel's answer. A holder clears
//! its record when it releases the lock; a holder that crashed leaves a
//! stale record, which the next `acquire` overwrites and [`break_stale`]
//! clears. Lock files are never deleted: a process that opened the old file
//! and one that created a new one could then both hold "the" lock.
//!
//! What this does not cover: two controllers on two different machines.
//! Each has its own state directory and its own lock; what keeps them from
//! driving the same host at once is the per-host lease the agent takes on
//! each host, a separate mechanism that lives in the agent.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// How often, and how far apart, a contended lock is tried again before it
/// is called held. Short contention is real: [`holder`] takes a shared lock
/// for an instant, and a new holder takes the lock a moment before it writes
/// its record.
const ATTEMPTS: u32 = 50;
const PAUSE: Duration = Duration::from_millis(10);
/// A lock must be refused this many times in a row before a readable record
/// is believed, so a passing [`holder`] probe never fails an `acquire`.
const REFUSALS_BEFORE_HELD: u32 = 3;

/// Who holds a fleet lock, as the holder wrote it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Owner {
    pub user: String,
    /// The machine the controller runs on.
    pub host: String,
    pub pid: u32,
    /// The rollout's journal, once it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// When the lock was taken, in seconds since the Unix epoch.
    pub since: u64,
}

impl Owner {
    /// This process, now: `$USER` (else `$LOGNAME`, else the uid), the host
    /// name from `/etc/hostname` (else `uname`'s node name), and the pid.
    pub fn current(run_id: Option<&str>) -> Owner {
        let user = std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .ok()
            .filter(|u| !u.is_empty())
            // SAFETY: geteuid has no preconditions and cannot fail.
            .unwrap_or_else(|| format!("uid {}", unsafe { libc::geteuid() }));
        Owner {
            user,
            host: local_host(),
            pid: std::process::id(),
            run_id: run_id.map(str::to_string),
            since: SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()),
        }
    }

    /// The stand-in for a holder whose record cannot be read (pid 0, which
    /// no user process has): the lock is held, but by whom is not known.
    fn unknown() -> Owner {
        Owner { user: String::new(), host: String::new(), pid: 0, run_id: None, since: 0 }
    }

    /// True for a holder that left no readable record.
    pub fn is_unknown(&self) -> bool {
        self.pid == 0
    }

    /// A record of a process on this machine that no longer exists: left by
    /// a crash, or about to be overwritten by a new holder.
    fn is_dead_here(&self) -> bool {
        let Ok(pid) = libc::pid_t::try_from(self.pid) else { return false };
        if pid <= 0 || self.host != local_host() {
            return false;
        }
        // SAFETY: signal 0 only checks that the process exists.
        let gone = unsafe { libc::kill(pid, 0) } == -1;
        gone && io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
    }
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_unknown() {
            return f.write_str("a process that has not recorded who it is");
        }
        write!(f, "`{}` on `{}` (pid {}", self.user, self.host, self.pid)?;
        if let Some(run_id) = &self.run_id {
            write!(f, ", run `{run_id}`")?;
        }
        let (year, month, day) = super::journal::civil_from_days(self.since / 86_400);
        let (h, m, s) = (self.since / 3600 % 24, self.since / 60 % 60, self.since % 60);
        write!(f, ", since {year:04}-{month:02}-{day:02} {h:02}:{m:02}:{s:02} UTC)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another rollout of the fleet is running (the CLI exits with 5).
    #[error("the fleet is locked by {owner}")]
    Held { owner: Owner },

    #[error("`{fleet}` is not a fleet key (letters, digits, `.`, `-`, `_`, not starting with `.`)")]
    BadKey { fleet: String },

    #[error("failed to {action} the fleet lock `{path}`")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// A held fleet lock. Dropping it clears the record and releases the lock.
#[derive(Debug)]
pub struct FleetLock {
    file: File,
    path: PathBuf,
    owner: Owner,
}

impl FleetLock {
    /// Takes the lock of `fleet` in `dir` for `owner`, without waiting:
    /// [`LockError::Held`] names the holder if another open file (in this
    /// process or another) has it.
    pub fn acquire(dir: &Path, fleet: &str, owner: &Owner) -> Result<FleetLock, LockError> {
        let path = lock_path(dir, fleet)?;
        let parent = path.parent().expect("a lock path has a parent");
        std::fs::create_dir_all(parent).map_err(io_error("create the directory of", parent))?;
        // Never `truncate(true)`: the file may hold a live holder's record.
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io_error("open", &path))?;
        lock_exclusive(&file, &path)?;
        let lock = FleetLock { file, path, owner: owner.clone() };
        lock.write_record()?;
        Ok(lock)
    }

    /// Records the run id once the run has one (its journal is created after
    /// the lock is taken, so that two runs never both start a journal).
    pub fn set_run_id(&mut self, run_id: &str) -> Result<(), LockError> {
        self.owner.run_id = Some(run_id.to_string());
        self.write_record()
    }

    pub fn owner(&self) -> &Owner {
        &self.owner
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn write_record(&self) -> Result<(), LockError> {
        let mut record = serde_json::to_vec(&self.owner).expect("an owner serializes");
        record.push(b'\n');
        // Readers that catch the file empty or half-written try again.
        self.file.set_len(0).map_err(io_error("clear", &self.path))?;
        self.file.write_all_at(&record, 0).map_err(io_error("write the owner into", &self.path))
    }
}

impl Drop for FleetLock {
    fn drop(&mut self) {
        // Clear the record while still holding the lock, so a clean exit leaves
        // no stale owner; closing the file then releases the lock.
        if let Err(e) = self.file.set_len(0) {
            tracing::debug!(path = %self.path.display(), error = %e, "cannot clear the fleet lock's owner");
        }
    }
}

/// Who holds the lock of `fleet` in `dir`, or `None` when nobody does
/// (whatever stale record the file may still hold). A holder whose record
/// cannot be read shows as an [`Owner::is_unknown`] owner.
pub fn holder(dir: &Path, fleet: &str) -> Option<Owner> {
    let path = lock_path(dir, fleet).ok()?;
    let file = File::open(&path).ok()?;
    let mut last = None;
    for _ in 0..ATTEMPTS {
        // A shared lock is free exactly when nobody holds the exclusive one.
        // It is held only for this instant; `acquire` retries past it.
        match try_flock(&file, libc::LOCK_SH) {
            Ok(true) => return None,
            Ok(false) => {}
            Err(_) => return read_record(&path).or_else(|| Some(Owner::unknown())),
        }
        last = read_record(&path);
        if let Some(owner) = &last {
            if !owner.is_dead_here() {
                return last;
            }
        }
        std::thread::sleep(PAUSE);
    }
    Some(last.unwrap_or_else(Owner::unknown))
}

/// Clears the record a crashed holder left in the lock of `fleet`, and
/// returns it (`None` if there was none). Refuses with [`LockError::Held`]
/// while a live process holds the lock: its record is not stale.
///
/// Nothing needs this to take the lock: the kernel released a dead holder's
/// lock, and `acquire` overwrites its record. It only stops [`holder`]-style
/// tools that read the file directly from naming a process that is gone.
pub fn break_stale(dir: &Path, fleet: &str) -> Result<Option<Owner>, LockError> {
    let path = lock_path(dir, fleet)?;
    let file = match OpenOptions::new().read(true).write(true).open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error("open", &path)(e)),
    };
    lock_exclusive(&file, &path)?;
    let stale = read_record(&path);
    file.set_len(0).map_err(io_error("clear", &path))?;
    Ok(stale)
}

/// A fleet key for `identity` (a repository's absolute path or its remote
/// URL): 16 hex digits of its SHA-256, so any identity makes a file name.
pub fn fleet_key(identity: &str) -> String {
    hex::encode(&Sha256::digest(identity.as_bytes())[..8])
}

fn lock_path(dir: &Path, fleet: &str) -> Result<PathBuf, LockError> {
    let valid = !fleet.is_empty()
        && fleet.len() <= 128
        && !fleet.starts_with('.')
        && fleet.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    if !valid {
        return Err(LockError::BadKey { fleet: fleet.to_string() });
    }
    Ok(dir.join("locks").join(format!("{fleet}.lock")))
}

/// Takes `LOCK_EX` on `file`, or says who has it.
fn lock_exclusive(file: &File, path: &Path) -> Result<(), LockError> {
    let mut refusals = 0;
    let mut last = None;
    for _ in 0..ATTEMPTS {
        if try_flock(file, libc::LOCK_EX).map_err(io_error("lock", path))? {
            return Ok(());
        }
        refusals += 1;
        last = read_record(path);
        if let Some(owner) = &last {
            if refusals >= REFUSALS_BEFORE_HELD && !owner.is_dead_here() {
                return Err(LockError::Held { owner: owner.clone() });
            }
        }
        std::thread::sleep(PAUSE);
    }
    Err(LockError::Held { owner: last.unwrap_or_else(Owner::unknown) })
}

/// `flock(op | LOCK_NB)`: `Ok(false)` when another open file holds a conflicting lock.
fn try_flock(file: &File, op: libc::c_int) -> io::Result<bool> {
    loop {
        // SAFETY: the descriptor is open for as long as `file` is borrowed.
        if unsafe { libc::flock(file.as_raw_fd(), op | libc::LOCK_NB) } == 0 {
            return Ok(true);
        }
        let error = io::Error::last_os_error();
        match error.raw_os_error() {
            Some(libc::EWOULDBLOCK) => return Ok(false),
            Some(libc::EINTR) => continue,
            _ => return Err(error),
        }
    }
}

/// The owner recorded in the lock file, if it holds a whole one.
fn read_record(path: &Path) -> Option<Owner> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

/// This machine's name: `/etc/hostname`, else `uname`'s node name.
fn local_host() -> String {
    if let Ok(name) = std::fs::read_to_string("/etc/hostname") {
        let name = name.trim();
        if !name.is_empty() {
            return name.to_string();
        }
    }
    // SAFETY: `uname` fills the zeroed struct; `nodename` is NUL-terminated.
    unsafe {
        let mut uts: libc::utsname = std::mem::zeroed();
        if libc::uname(&mut uts) == 0 {
            return std::ffi::CStr::from_ptr(uts.nodename.as_ptr()).to_string_lossy().into_owned();
        }
    }
    "unknown".to_string()
}

fn io_error<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> LockError + 'a {
    move |source| LockError::Io { action, path: path.to_path_buf(), source }
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    use super::*;

    const FLEET: &str = "0123456789abcdef";

    fn held_by(result: Result<FleetLock, LockError>) -> Owner {
        match result {
            Err(LockError::Held { owner }) => owner,
            Err(e) => panic!("expected the lock to be held, got: {e}"),
            Ok(lock) => panic!("took a lock that is held: {lock:?}"),
        }
    }

    #[test]
    fn a_second_open_file_conflicts_even_in_the_same_process() {
        let dir = tempfile::tempdir().unwrap();
        let me = Owner::current(Some("run-1"));
        let first = FleetLock::acquire(dir.path(), FLEET, &me).unwrap();
        assert_eq!(first.path(), dir.path().join("locks").join(format!("{FLEET}.lock")));
        // `acquire` opens the file again: a new open file description.
        let other = Owner { user: "someone-else".into(), ..Owner::current(None) };
        let owner = held_by(FleetLock::acquire(dir.path(), FLEET, &other));
        assert_eq!(owner, me, "the refusal names the holder from its record");
        let message = LockError::Held { owner }.to_string();
        assert!(
            message.contains(&format!("pid {}", std::process::id())) && message.contains("run `run-1`"),
            "{message}"
        );
        // Another fleet is another lock.
        let _unrelated = FleetLock::acquire(dir.path(), "another-fleet", &other).unwrap();

        drop(first);
        let second = FleetLock::acquire(dir.path(), FLEET, &other).unwrap();
        assert_eq!(second.owner(), &other);
    }

    #[test]
    fn holder_reads_the_record_and_drop_clears_it() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(holder(dir.path(), FLEET), None, "no lock file");
        let me = Owner::current(None);
        let mut lock = FleetLock::acquire(dir.path(), FLEET, &me).unwrap();
        assert_eq!(holder(dir.path(), FLEET), Some(me.clone()));
        // The probe does not disturb the holder.
        assert!(FleetLock::acquire(dir.path(), FLEET, &me).is_err());

        lock.set_run_id("20250301T142501.042Z-3f9c").unwrap();
        let seen = holder(dir.path(), FLEET).unwrap();
        assert_eq!(seen.run_id.as_deref(), Some("20250301T142501.042Z-3f9c"));
        assert_eq!(seen.pid, std::process::id());

        let path = lock.path().to_path_buf();
        drop(lock);
        assert_eq!(holder(dir.path(), FLEET), None);
        assert_eq!(std::fs::read(&path).unwrap(), b"", "a clean release leaves no record");
        assert!(path.exists(), "lock files are never deleted");
    }

    #[test]
    fn break_stale_refuses_a_live_holder_and_clears_a_dead_ones_record() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(break_stale(dir.path(), FLEET).unwrap(), None, "no lock file");
        let me = Owner::current(None);
        let lock = FleetLock::acquire(dir.path(), FLEET, &me).unwrap();
        assert!(matches!(break_stale(dir.path(), FLEET), Err(LockError::Held { owner }) if owner == me));
        assert!(!std::fs::read(lock.path()).unwrap().is_empty(), "a live record is kept");
        let path = lock.path().to_path_buf();
        drop(lock);
        assert_eq!(break_stale(dir.path(), FLEET).unwrap(), None, "released cleanly: nothing stale");

        // A holder that crashed left its record, but no kernel lock.
        let crashed = Owner { user: "ghost".into(), host: "elsewhere".into(), pid: 4242, run_id: None, since: 1 };
        std::fs::write(&path, serde_json::to_vec(&crashed).unwrap()).unwrap();
        assert_eq!(holder(dir.path(), FLEET), None, "a stale record is not a holder");
        assert_eq!(break_stale(dir.path(), FLEET).unwrap(), Some(crashed.clone()));
        assert_eq!(std::fs::read(&path).unwrap(), b"");

        // And a stale record never blocks the next holder, which overwrites it.
        std::fs::write(&path, serde_json::to_vec(&crashed).unwrap()).unwrap();
        let lock = FleetLock::acquire(dir.path(), FLEET, &me).unwrap();
        assert_eq!(holder(dir.path(), FLEET), Some(me));
        drop(lock);
    }

    #[test]
    fn fleet_keys_are_file_names() {
        let dir = tempfile::tempdir().unwrap();
        let me = Owner::current(None);
        for bad in ["", "..", ".hidden", "a/b", "/etc/passwd", "x y", &"k".repeat(129)] {
            assert!(
                matches!(FleetLock::acquire(dir.path(), bad, &me), Err(LockError::BadKey { .. })),
                "accepted `{bad}`"
            );
            assert!(matches!(break_stale(dir.path(), bad), Err(LockError::BadKey { .. })));
            assert_eq!(holder(dir.path(), bad), None);
        }
        let key = fleet_key("/home/alice/fleet-config");
        assert_eq!(key.len(), 16);
        assert_eq!(key, fleet_key("/home/alice/fleet-config"), "stable");
        assert_ne!(key, fleet_key("git@example.com:ops/fleet.git"));
        assert!(FleetLock::acquire(dir.path(), &key, &me).is_ok());
    }

    #[test]
    fn the_current_owner_and_its_words() {
        let me = Owner::current(Some("r1"));
        assert_eq!(me.pid, std::process::id());
        assert!(!me.user.is_empty() && !me.host.is_empty());
        assert!(!me.is_unknown() && !me.is_dead_here());
        let at = Owner { user: "alice".into(), host: "ctl-1".into(), pid: 7, run_id: None, since: 1_740_839_101 };
        assert_eq!(at.to_string(), "`alice` on `ctl-1` (pid 7, since 2025-03-01 14:25:01 UTC)");
        assert_eq!(Owner::unknown().to_string(), "a process that has not recorded who it is");
        // A record of a process of this machine that is gone is stale.
        let mut child = Command::new("true").spawn().unwrap();
        child.wait().unwrap();
        assert!(Owner { pid: child.id(), ..Owner::current(None) }.is_dead_here());
    }

    /// Another process (util-linux `flock(1)`) holds the lock: refused, then
    /// released by the kernel when that process is killed, without unlocking.
    #[test]
    fn another_process_holds_the_lock_until_it_dies() {
        if Command::new("flock").arg("--version").output().is_err() {
            eprintln!("\n!!! SKIPPED the cross-process fleet lock check: `flock` (util-linux) is not installed !!!\n");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("locks").join(format!("{FLEET}.lock"));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let other = Owner { user: "other".into(), host: "elsewhere".into(), pid: 4242, run_id: None, since: 1 };
        let record = serde_json::to_string(&other).unwrap();
        // `-o`: the shell does not inherit the lock; only `flock` itself holds it.
        let script = format!("printf '%s' '{record}' > '{}' && echo locked && sleep 3", path.display());
        let mut child = Command::new("flock")
            .args(["-n", "-o"])
            .arg(&path)
            .args(["-c", &script])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "locked", "flock(1) did not take the lock");

        let me = Owner::current(None);
        assert_eq!(held_by(FleetLock::acquire(dir.path(), FLEET, &me)), other);
        assert_eq!(holder(dir.path(), FLEET), Some(other.clone()));
        assert!(matches!(break_stale(dir.path(), FLEET), Err(LockError::Held { .. })));

        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(holder(dir.path(), FLEET), None, "the kernel released the dead holder's lock");
        assert_eq!(break_stale(dir.path(), FLEET).unwrap(), Some(other));
        let lock = FleetLock::acquire(dir.path(), FLEET, &me).unwrap();
        assert_eq!(holder(dir.path(), FLEET).as_ref(), Some(lock.owner()));
    }
}
