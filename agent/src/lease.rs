//! The per-host lease: `<agent root>/lease.json`, `{owner, expires}`, so
//! that two controllers (two operators, a cron run and a person) never roll
//! out to the same host at once. The agent only keeps the record honest; the
//! controller decides to take it before it changes a host and to give it
//! back after. A lease is free once `expires` has passed, so a controller
//! that died leaves nothing behind for longer than its TTL.
//!
//! Every change is a read-modify-write under an flock of `lease.lock`, so of
//! two concurrent `lease acquire`s exactly one wins. The decisions are pure
//! functions ([`decide_acquire`], [`decide_release`]); this module's I/O
//! takes the root directory as an argument so tests need no root.

use std::path::{Path, PathBuf};

use schedfleet_proto::{ErrorKind, Lease, LeaseAcquired, LeaseReleased};

use crate::error::{Failure, Result};
use crate::state::{self, FileLock};

fn lease_file(root: &Path) -> PathBuf {
    root.join("lease.json")
}

fn lock_file(root: &Path) -> PathBuf {
    root.join("lease.lock")
}

/// The lease that holds at `now`: `None` when there is none or it expired.
pub fn holding(current: Option<&Lease>, now: u64) -> Option<&Lease> {
    current.filter(|lease| lease.expires > now)
}

/// `acquire` by `owner` for `ttl` seconds at `now`: the new lease and
/// whether the owner already held it, or the other owner's lease.
pub fn decide_acquire(current: Option<&Lease>, owner: &str, ttl: u64, now: u64) -> Result<(Lease, bool), Lease> {
    let refreshed = match holding(current, now) {
        Some(held) if held.owner != owner => return Err(held.clone()),
        Some(_) => true,
        None => false,
    };
    Ok((Lease { owner: owner.to_owned(), expires: now.saturating_add(ttl) }, refreshed))
}

/// `release` by `owner` at `now`: the lease given up (`None`: it was free),
/// or the other owner's lease.
pub fn decide_release(current: Option<&Lease>, owner: &str, now: u64) -> Result<Option<Lease>, Lease> {
    match holding(current, now) {
        Some(held) if held.owner != owner => Err(held.clone()),
        held => Ok(held.cloned()),
    }
}

fn held_by_other(lease: Lease, now: u64) -> Failure {
    let mut failure = Failure::new(
        ErrorKind::LeaseHeld,
        format!(
            "the host is leased to `{}` until {} ({} s from now)",
            lease.owner,
            lease.expires,
            lease.expires.saturating_sub(now)
        ),
    );
    failure.lease = Some(lease);
    failure
}

fn read(root: &Path) -> Result<Option<Lease>> {
    let path = lease_file(root);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            Failure::new(ErrorKind::Internal, format!("lease file `{}` is corrupt ({e}); remove it", path.display()))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Failure::io("read", &path.display().to_string(), e)),
    }
}

/// The lease that holds now, for `status`; `None` when free or unreadable.
pub fn current(root: &Path, now: u64) -> Option<Lease> {
    read(root).ok().flatten().filter(|lease| lease.expires > now)
}

pub fn acquire(root: &Path, owner: &str, ttl: u64, now: u64) -> Result<LeaseAcquired> {
    let _lock = FileLock::acquire(&lock_file(root))?;
    let current = read(root)?;
    let (lease, refreshed) = decide_acquire(current.as_ref(), owner, ttl, now).map_err(|l| held_by_other(l, now))?;
    let bytes = serde_json::to_vec_pretty(&lease).expect("a lease always serializes");
    state::write_atomic(&lease_file(root), &bytes, 0o600)?;
    Ok(LeaseAcquired { lease, refreshed })
}

pub fn release(root: &Path, owner: &str, now: u64) -> Result<LeaseReleased> {
    let _lock = FileLock::acquire(&lock_file(root))?;
    let current = read(root)?;
    let released = decide_release(current.as_ref(), owner, now).map_err(|l| held_by_other(l, now))?;
    if current.is_some() {
        let path = lease_file(root);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Failure::io("remove", &path.display().to_string(), e)),
        }
    }
    Ok(LeaseReleased { released })
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Barrier};

    use super::*;

    fn lease(owner: &str, expires: u64) -> Lease {
        Lease { owner: owner.into(), expires }
    }

    #[test]
    fn a_free_or_expired_lease_goes_to_whoever_asks() {
        assert_eq!(decide_acquire(None, "a", 60, 100), Ok((lease("a", 160), false)));
        assert_eq!(decide_acquire(Some(&lease("b", 100)), "a", 60, 100), Ok((lease("a", 160), false)));
        assert_eq!(decide_acquire(Some(&lease("b", 99)), "a", 60, 100), Ok((lease("a", 160), false)));
    }

    #[test]
    fn the_holder_refreshes_and_others_are_refused() {
        assert_eq!(decide_acquire(Some(&lease("a", 150)), "a", 60, 100), Ok((lease("a", 160), true)));
        assert_eq!(decide_acquire(Some(&lease("a", 150)), "a", 10, 100), Ok((lease("a", 110), true)));
        assert_eq!(decide_acquire(Some(&lease("b", 101)), "a", 60, 100), Err(lease("b", 101)));
    }

    #[test]
    fn only_the_holder_releases_and_a_free_lease_releases_fine() {
        assert_eq!(decide_release(None, "a", 100), Ok(None));
        assert_eq!(decide_release(Some(&lease("b", 50)), "a", 100), Ok(None));
        assert_eq!(decide_release(Some(&lease("a", 150)), "a", 100), Ok(Some(lease("a", 150))));
        assert_eq!(decide_release(Some(&lease("b", 150)), "a", 100), Err(lease("b", 150)));
    }

    #[test]
    fn files_follow_the_decisions() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        assert_eq!(current(root, 100), None);
        let got = acquire(root, "alice@m pid 1 run r1", 60, 100).unwrap();
        assert_eq!((got.lease.expires, got.refreshed), (160, false));
        assert_eq!(current(root, 100), Some(lease("alice@m pid 1 run r1", 160)));
        let refused = acquire(root, "bob", 60, 120).unwrap_err();
        assert_eq!(refused.kind, ErrorKind::LeaseHeld);
        assert_eq!(refused.lease, Some(lease("alice@m pid 1 run r1", 160)));
        assert!(refused.message.contains("`alice@m pid 1 run r1` until 160 (40 s from now)"), "{}", refused.message);
        assert!(acquire(root, "alice@m pid 1 run r1", 60, 130).unwrap().refreshed);
        assert_eq!(release(root, "bob", 131).unwrap_err().kind, ErrorKind::LeaseHeld);
        assert_eq!(release(root, "alice@m pid 1 run r1", 131).unwrap().released.unwrap().expires, 190);
        assert!(!lease_file(root).exists());
        assert_eq!(release(root, "anyone", 132).unwrap().released, None);
        // Expired: another owner takes it, and `current` no longer shows it.
        acquire(root, "alice", 10, 200).unwrap();
        assert_eq!(current(root, 210), None);
        let taken = acquire(root, "bob", 10, 210).unwrap();
        assert_eq!((taken.lease.owner.as_str(), taken.refreshed), ("bob", false));
        std::fs::write(lease_file(root), b"{").unwrap();
        assert_eq!(acquire(root, "bob", 10, 211).unwrap_err().kind, ErrorKind::Internal);
    }

    #[test]
    fn of_concurrent_acquires_exactly_one_wins() {
        for round in 0..20 {
            let dir = tempfile::tempdir().unwrap();
            let root = Arc::new(dir.path().to_owned());
            let start = Arc::new(Barrier::new(8));
            let threads: Vec<_> = (0..8)
                .map(|i| {
                    let (root, start) = (root.clone(), start.clone());
                    std::thread::spawn(move || {
                        start.wait();
                        acquire(&root, &format!("owner {i}"), 60, 1000).map(|got| got.lease.owner)
                    })
                })
                .collect();
            let results: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
            let winners: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
            assert_eq!(winners.len(), 1, "round {round}: {results:?}");
            for lost in results.iter().filter_map(|r| r.as_ref().err()) {
                assert_eq!(lost.kind, ErrorKind::LeaseHeld);
                assert_eq!(lost.lease.as_ref().map(|l| &l.owner), Some(winners[0]));
            }
            assert_eq!(current(&root, 1000).map(|l| l.owner).as_ref(), Some(winners[0]));
        }
    }
}
