//! The lab's SSH trust: the client key pair that logs in as root on every
//! VM, one host key per VM, and the known-hosts file that pins each VM's
//! host key to its loopback port.
//!
//! Keys are made by `ssh-keygen` (run directly with separate arguments,
//! never through a shell) and kept across restarts, so a VM that is booted
//! again presents the same host key. The known-hosts file is rewritten
//! whole from the running VMs, so a port that moved from one VM to another
//! never leaves a stale entry behind: clients use it with
//! `StrictHostKeyChecking=yes` and never learn keys on first use.

use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::Command;

use super::error::{io_err, LabError};

/// Makes an ed25519 key pair at `private` (and `private.pub`) unless both exist.
pub fn ensure_key_pair(ssh_keygen: &Path, private: &Path, comment: &str) -> Result<(), LabError> {
    let public = public_key_path(private);
    if private.is_file() && public.is_file() {
        return Ok(());
    }
    // ssh-keygen asks before overwriting; a half-made pair is thrown away.
    for stale in [private, public.as_path()] {
        match fs::remove_file(stale) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(LabError::Io { action: "remove", path: stale.to_owned(), source }),
        }
    }
    let out = Command::new(ssh_keygen)
        .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
        .arg(private)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(io_err("run", ssh_keygen))?;
    if !out.status.success() {
        return Err(LabError::Command {
            program: ssh_keygen.to_owned(),
            action: format!("make the key `{}`", private.display()),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    Ok(())
}

fn public_key_path(private: &Path) -> std::path::PathBuf {
    let mut name = private.as_os_str().to_owned();
    name.push(".pub");
    name.into()
}

/// `ssh-ed25519 AAAA...` from a `.pub` file, without its comment.
pub fn read_public_key(path: &Path) -> Result<String, LabError> {
    let text = fs::read_to_string(path).map_err(io_err("read", path))?;
    let mut fields = text.split_whitespace();
    match (fields.next(), fields.next()) {
        (Some(kind), Some(key)) if kind.starts_with("ssh-") => Ok(format!("{kind} {key}")),
        _ => Err(LabError::Corrupt {
            path: path.to_owned(),
            content: text.chars().take(40).collect(),
            expected: "an OpenSSH public key",
        }),
    }
}

/// One known-hosts line per `(address, port, public key)`, written atomically.
pub fn write_known_hosts(path: &Path, entries: &[(String, u16, String)]) -> Result<(), LabError> {
    let mut text = String::from("# Written by `schedfleet lab`; rewritten on every `lab up` and `lab down`.\n");
    for (address, port, key) in entries {
        text.push_str(&format!("{} {key}\n", host_pattern(address, *port)));
    }
    let tmp = path.with_extension("tmp");
    let mut file = fs::File::create(&tmp).map_err(io_err("create", &tmp))?;
    file.write_all(text.as_bytes()).map_err(io_err("write", &tmp))?;
    drop(file);
    fs::rename(&tmp, path).map_err(io_err("rename into", path))
}

/// How OpenSSH names a host on a non-default port: `[127.0.0.1]:2222`.
fn host_pattern(address: &str, port: u16) -> String {
    if port == 22 {
        address.to_owned()
    } else {
        format!("[{address}]:{port}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_pairs_are_made_once() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("id_ed25519");
        ensure_key_pair(Path::new("/usr/bin/ssh-keygen"), &key, "test").unwrap();
        let first = read_public_key(&dir.path().join("id_ed25519.pub")).unwrap();
        assert!(first.starts_with("ssh-ed25519 AAAA"), "{first}");
        assert!(!first.contains("test"), "the comment is dropped");
        ensure_key_pair(Path::new("/usr/bin/ssh-keygen"), &key, "test").unwrap();
        assert_eq!(read_public_key(&dir.path().join("id_ed25519.pub")).unwrap(), first);
    }

    #[test]
    fn half_made_pairs_are_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("id_ed25519");
        fs::write(&key, "garbage").unwrap();
        ensure_key_pair(Path::new("/usr/bin/ssh-keygen"), &key, "test").unwrap();
        assert!(fs::read_to_string(&key).unwrap().contains("OPENSSH PRIVATE KEY"));
    }

    #[test]
    fn known_hosts_use_bracketed_ports() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("known_hosts");
        write_known_hosts(&path, &[("127.0.0.1".into(), 40022, "ssh-ed25519 AAAAx".into())]).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.lines().any(|l| l == "[127.0.0.1]:40022 ssh-ed25519 AAAAx"), "{text}");
    }

    #[test]
    fn garbage_is_not_a_public_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.pub");
        fs::write(&path, "hello").unwrap();
        assert!(read_public_key(&path).unwrap_err().to_string().contains("not an OpenSSH public key"));
    }
}
