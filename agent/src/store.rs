//! The content-addressed artifact store: `<root>/store/<sha256>`. A file is
//! only ever visible under its name once its bytes hash to that name, so a
//! half-finished upload or a corrupted transfer never poses as an artifact.
//! Loading re-checks the digest anyway (disks rot, people edit).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use schedfleet_proto::{ErrorKind, StoreHas, StorePut};
use sha2::{Digest, Sha256};

use crate::error::{Failure, Result};
use crate::state;

pub fn path_of(digest: &str) -> PathBuf {
    state::store_dir().join(digest)
}

pub fn has(digests: &[String]) -> StoreHas {
    let (present, missing) = digests.iter().cloned().partition(|d| path_of(d).is_file());
    StoreHas { present, missing }
}

/// Reads an artifact from `input`, checks that it hashes to `digest`, and
/// moves it into the store. Nothing is stored on a mismatch.
pub fn put(digest: &str, input: &mut impl Read) -> Result<StorePut> {
    let final_path = path_of(digest);
    if final_path.is_file() {
        return Ok(StorePut { digest: digest.to_owned(), bytes: 0, written: false });
    }
    let dir = state::store_dir();
    let shown = dir.display().to_string();
    std::fs::create_dir_all(&dir).map_err(|e| Failure::io("create", &shown, e))?;
    let tmp = dir.join(format!(".upload-{}-{}", std::process::id(), digest));
    let result = receive(&tmp, input).and_then(|(bytes, actual)| {
        if actual != digest {
            return Err(Failure::new(
                ErrorKind::DigestMismatch,
                format!("artifact received as `{digest}` hashes to `{actual}` ({bytes} bytes); nothing stored"),
            ));
        }
        std::fs::rename(&tmp, &final_path).map_err(|e| Failure::io("rename into", &shown, e))?;
        std::fs::File::open(&dir).and_then(|d| d.sync_all()).map_err(|e| Failure::io("sync", &shown, e))?;
        Ok(StorePut { digest: digest.to_owned(), bytes, written: true })
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn receive(tmp: &Path, input: &mut impl Read) -> Result<(u64, String)> {
    use std::os::unix::fs::OpenOptionsExt;
    let shown = tmp.display().to_string();
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(tmp)
        .map_err(|e| Failure::io("create", &shown, e))?;
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
    use super::*;

    // The store root comes from the environment; tests that use it run in
    // one test function so they never race on the variable.
    #[test]
    fn put_verifies_and_is_idempotent() {
        let dir = std::env::temp_dir().join(format!("sf-store-{}", std::process::id()));
        std::env::set_var("SCHEDFLEET_AGENT_ROOT", &dir);
        let data = b"not really a bpf object";
        let digest = hex::encode(Sha256::digest(data));

        let bad = put(&"0".repeat(64), &mut &data[..]).unwrap_err();
        assert_eq!(bad.kind, ErrorKind::DigestMismatch);
        assert!(!path_of(&"0".repeat(64)).exists());
        let leftovers: Vec<_> = std::fs::read_dir(state::store_dir()).unwrap().collect();
        assert!(leftovers.is_empty(), "failed upload left files behind");

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
        std::fs::write(&p, b"corrupted").unwrap();
        let err = read_verified(p.to_str().unwrap(), &digest).unwrap_err();
        assert_eq!(err.kind, ErrorKind::DigestMismatch);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
