//! The content-addressed artifact store: `<root>/store/<sha256>`. A file is
//! only ever visible under its name once its bytes hash to that name, so a
//! half-finished upload or a corrupted transfer never poses as an artifact.
//!
//! Every upload goes to a temporary file of its own (`create_new` on a name
//! no other writer uses, see [`state::create_temp`]), is synced, checked and
//! only then renamed over its name, and the directory synced: two uploads
//! of one artifact at once both succeed, and a crash leaves at worst a
//! dot-file behind, never a short entry. Nothing trusts a name alone: `has`
//! hashes each entry (a disk that rots, or a person who edits, turns an
//! entry into a missing one), `put` replaces an entry that no longer hashes
//! to its name, and loading re-checks the digest of the very bytes it loads.
//! Entries are `0600`, in a root-only store (see [`state::ensure_dir`]).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use schedfleet_proto::{ErrorKind, StoreHas, StorePut};
use sha2::{Digest, Sha256};

use crate::error::{Failure, Result};
use crate::{log, state};

pub fn path_of(digest: &str) -> PathBuf {
    state::store_dir().join(digest)
}

/// What the store holds under a name.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    Absent,
    Intact,
    /// Present, but its bytes hash to this (or cannot be read).
    Corrupt(String),
}

fn entry(digest: &str) -> Entry {
    let path = path_of(digest);
    let mut file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Entry::Absent,
        Err(e) => return Entry::Corrupt(format!("unreadable: {e}")),
    };
    if !file.metadata().is_ok_and(|m| m.is_file()) {
        return Entry::Corrupt("not a regular file".into());
    }
    let mut hasher = Sha256::new();
    match std::io::copy(&mut file, &mut hasher) {
        Ok(_) => {
            let actual = hex::encode(hasher.finalize());
            if actual == digest {
                Entry::Intact
            } else {
                Entry::Corrupt(actual)
            }
        }
        Err(e) => Entry::Corrupt(format!("unreadable: {e}")),
    }
}

/// Which of `digests` the store holds intact: each entry is hashed, so a
/// truncated or altered entry is reported missing (and `put` repairs it).
pub fn has(digests: &[String]) -> StoreHas {
    let (present, missing) = digests.iter().cloned().partition(|d| entry(d) == Entry::Intact);
    StoreHas { present, missing }
}

/// Reads an artifact from `input`, checks that it hashes to `digest`, and
/// moves it into the store, replacing an entry of that name that no longer
/// hashes to it. Nothing is stored on a mismatch.
pub fn put(digest: &str, input: &mut impl Read) -> Result<StorePut> {
    match entry(digest) {
        Entry::Intact => return Ok(StorePut { digest: digest.to_owned(), bytes: 0, written: false }),
        Entry::Corrupt(got) => log::info(&format!("store entry `{digest}` is corrupt ({got}); replacing it")),
        Entry::Absent => {}
    }
    let dir = state::store_dir();
    let shown = dir.display().to_string();
    state::ensure_dir(&dir)?;
    let (tmp, file) = state::create_temp(&dir, &format!("upload-{digest}"), 0o600)?;
    let result = receive(&tmp, file, input).and_then(|(bytes, actual)| {
        if actual != digest {
            return Err(Failure::new(
                ErrorKind::DigestMismatch,
                format!("artifact received as `{digest}` hashes to `{actual}` ({bytes} bytes); nothing stored"),
            ));
        }
        std::fs::rename(&tmp, path_of(digest)).map_err(|e| Failure::io("rename into", &shown, e))?;
        state::sync_dir(&dir)?;
        Ok(StorePut { digest: digest.to_owned(), bytes, written: true })
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn receive(tmp: &Path, mut file: std::fs::File, input: &mut impl Read) -> Result<(u64, String)> {
    let shown = tmp.display().to_string();
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Failure::io("read stdin for", &shown, e)),
        };
        hasher.update(&buf[..n]);
        file.write_all(&buf[..n]).map_err(|e| Failure::io("write", &shown, e))?;
        total += n as u64;
    }
    file.sync_all().map_err(|e| Failure::io("sync", &shown, e))?;
    Ok((total, hex::encode(hasher.finalize())))
}

/// Reads an artifact and checks its digest; the bytes returned are the ones
/// that were hashed, so nothing can change between check and use.
pub fn read_verified(path: &str, digest: &str) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path).map_err(|e| Failure::io("read", path, e))?;
    let actual = hex::encode(Sha256::digest(&bytes));
    if actual != digest {
        return Err(Failure::new(
            ErrorKind::DigestMismatch,
            format!("`{path}` hashes to `{actual}`, expected `{digest}`: refusing to load it"),
        ));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Barrier, OnceLock};

    use super::*;

    /// The store root comes from the environment: every test of this module
    /// shares one, set once, and uses artifacts of its own.
    fn test_root() -> &'static Path {
        static ROOT: OnceLock<PathBuf> = OnceLock::new();
        ROOT.get_or_init(|| {
            let dir = std::env::temp_dir().join(format!("sf-store-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::env::set_var("SCHEDFLEET_AGENT_ROOT", &dir);
            dir
        })
    }

    fn digest_of(data: &[u8]) -> String {
        hex::encode(Sha256::digest(data))
    }

    /// Temporary files of uploads of `digest` left in the store. Only this
    /// digest's: the tests share one store and run at once, so another
    /// test's upload in flight is not this test's leftover.
    fn leftovers(digest: &str) -> Vec<String> {
        std::fs::read_dir(state::store_dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with('.') && n.contains(digest))
            .collect()
    }

    #[test]
    fn put_verifies_and_is_idempotent() {
        test_root();
        let data = b"not really a bpf object";
        let digest = digest_of(data);

        let bad = put(&"0".repeat(64), &mut &data[..]).unwrap_err();
        assert_eq!(bad.kind, ErrorKind::DigestMismatch);
        assert!(!path_of(&"0".repeat(64)).exists());
        assert!(leftovers(&"0".repeat(64)).is_empty(), "failed upload left files behind");

        let first = put(&digest, &mut &data[..]).unwrap();
        assert!(first.written);
        assert_eq!(first.bytes, data.len() as u64);
        let second = put(&digest, &mut &data[..]).unwrap();
        assert!(!second.written);

        let report = has(&[digest.clone(), "1".repeat(64)]);
        assert_eq!(report.present, vec![digest.clone()]);
        assert_eq!(report.missing, vec!["1".repeat(64)]);

        let p = path_of(&digest);
        assert_eq!(read_verified(p.to_str().unwrap(), &digest).unwrap(), data);
    }

    /// Seen on a host: a store entry that no longer hashes to its name
    /// (truncated by an interrupted copy, or altered) was reported present
    /// by `has` and kept by `put` (`written: false`) forever.
    #[test]
    fn a_corrupted_entry_is_missing_and_put_repairs_it() {
        test_root();
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 241) as u8).collect();
        let digest = digest_of(&data);
        assert!(put(&digest, &mut &data[..]).unwrap().written);
        let p = path_of(&digest);
        std::fs::write(&p, &data[..65_536]).unwrap();

        assert_eq!(has(std::slice::from_ref(&digest)).missing, vec![digest.clone()], "a truncated entry is missing");
        let err = read_verified(p.to_str().unwrap(), &digest).unwrap_err();
        assert_eq!(err.kind, ErrorKind::DigestMismatch);

        let repaired = put(&digest, &mut &data[..]).unwrap();
        assert!(repaired.written, "put replaces a corrupted entry");
        assert_eq!(std::fs::read(&p).unwrap(), data);
        assert_eq!(has(std::slice::from_ref(&digest)).present, vec![digest.clone()]);
        assert!(leftovers(&digest).is_empty(), "{:?}", leftovers(&digest));
    }

    /// Two uploads of one artifact at once (two controllers, or a retry
    /// while the first still runs) each write a temporary file of their own:
    /// both succeed and the entry is whole.
    #[test]
    fn concurrent_puts_of_one_artifact_all_succeed_and_leave_it_whole() {
        test_root();
        let data: Arc<Vec<u8>> =
            Arc::new((0..4_000_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect());
        let digest = digest_of(&data);
        let n = 6;
        let barrier = Arc::new(Barrier::new(n));
        let threads: Vec<_> = (0..n)
            .map(|_| {
                let (data, digest, barrier) = (data.clone(), digest.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    put(&digest, &mut &data[..]).map(|p| p.written).map_err(|e| e.message)
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap().expect("every concurrent put succeeds");
        }
        assert_eq!(std::fs::read(path_of(&digest)).unwrap(), *data);
        assert!(leftovers(&digest).is_empty(), "{:?}", leftovers(&digest));
    }
}
