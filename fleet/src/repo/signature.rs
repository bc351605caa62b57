//! Signed commits: with a signing policy, the commit a command reads must
//! carry a signature that verifies, by a key the controller allows, or the
//! command stops with bad input (exit 2) before it reads a file of the
//! commit or contacts a host.
//!
//! The allowed keys live on the controller, never in the repository: a list
//! kept in the repository could be rewritten by the very commit it is meant
//! to refuse. SSH signatures (git's `gpgsig` header holding an `SSH
//! SIGNATURE`, made with `gpg.format=ssh`) are verified by `ssh-keygen -Y`,
//! which every controller has, against an allowed-signers file
//! (`ssh-keygen(1)`, "ALLOWED SIGNERS"), exactly as `git verify-commit`
//! does: find the principal of the key, then verify the payload (the commit
//! object without its `gpgsig` header) in the `git` namespace. OpenPGP
//! signatures are verified by `gpg` against a keyring file of allowed keys,
//! in a throw-away GnuPG home, so the user's own keyring and trust settings
//! play no part; without `gpg`, or without a keyring, a PGP-signed commit is
//! refused and the message says why.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result};

use crate::BadInput;

/// Who may sign the commits a command deploys.
#[derive(Debug, Clone, Default)]
pub struct SigningPolicy {
    /// An `ssh-keygen` allowed-signers file.
    pub allowed_signers: Option<PathBuf>,
    /// A keyring of allowed OpenPGP public keys (`gpg --export`).
    pub allowed_gpg_keys: Option<PathBuf>,
}

/// A signature that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoodSignature {
    /// `ssh` or `gpg`.
    pub format: &'static str,
    /// The principal of the allowed-signers file, or the OpenPGP key.
    pub signer: String,
}

fn refuse(msg: String) -> anyhow::Error {
    BadInput::new(msg).into()
}

/// The readable path of an allowed-keys file that lies outside `workdir`.
fn controller_file(path: &Path, workdir: Option<&Path>, what: &str) -> Result<PathBuf> {
    let real = path.canonicalize().map_err(|e| refuse(format!("{what} `{}` cannot be read: {e}", path.display())))?;
    if !real.is_file() {
        return Err(refuse(format!("{what} `{}` is not a regular file", path.display())));
    }
    if let Some(workdir) = workdir.and_then(|w| w.canonicalize().ok()) {
        if real.starts_with(&workdir) {
            return Err(refuse(format!(
                "{what} `{}` is inside the config repository `{}`: a commit could change it; keep it on the \
                 controller, outside the repository",
                path.display(),
                workdir.display()
            )));
        }
    }
    Ok(real)
}

/// Verifies the signature of `commit` in `repo` under `policy`.
pub fn verify(repo: &git2::Repository, commit: git2::Oid, policy: &SigningPolicy) -> Result<GoodSignature> {
    let short = &commit.to_string()[..12];
    if policy.allowed_signers.is_none() && policy.allowed_gpg_keys.is_none() {
        return Err(refuse(
            "signed commits are required, but no allowed signers are configured: give --allowed-signers FILE \
             (or SCHEDFLEET_ALLOWED_SIGNERS), a file kept on the controller outside the repository"
                .to_owned(),
        ));
    }
    let (signature, payload) = match repo.extract_signature(&commit, None) {
        Ok((sig, data)) => (sig.to_vec(), data.to_vec()),
        Err(e) if e.code() == git2::ErrorCode::NotFound => {
            return Err(refuse(format!(
                "commit {short} is not signed, and signed commits are required; sign it with an allowed key \
                 (`git -c gpg.format=ssh -c user.signingkey=KEY commit -S`)"
            )))
        }
        Err(e) => return Err(e).context(format!("failed to read the signature of commit {short}")),
    };
    let text = String::from_utf8_lossy(&signature);
    let workdir = repo.workdir();
    if text.starts_with("-----BEGIN SSH SIGNATURE-----") {
        let Some(allowed) = &policy.allowed_signers else {
            return Err(refuse(format!(
                "commit {short} has an SSH signature, but no allowed-signers file is configured: give \
                 --allowed-signers FILE (or SCHEDFLEET_ALLOWED_SIGNERS)"
            )));
        };
        let allowed = controller_file(allowed, workdir, "allowed-signers file")?;
        verify_ssh(short, &signature, &payload, &allowed)
    } else if text.starts_with("-----BEGIN PGP SIGNATURE-----") {
        let Some(keys) = &policy.allowed_gpg_keys else {
            return Err(refuse(format!(
                "commit {short} has an OpenPGP signature, but no keyring of allowed OpenPGP keys is configured: \
                 give --allowed-gpg-keys FILE (or SCHEDFLEET_ALLOWED_GPG_KEYS), or sign with an SSH key"
            )));
        };
        let keys = controller_file(keys, workdir, "allowed OpenPGP keyring")?;
        verify_gpg(short, &signature, &payload, &keys)
    } else {
        Err(refuse(format!("commit {short} has a signature of a kind schedfleet does not know (not SSH, not OpenPGP)")))
    }
}

/// A command's output as one line for a message, control characters and
/// all: what a tool prints about a signature is not trusted text.
fn said(out: &[u8]) -> String {
    let text = String::from_utf8_lossy(out);
    let line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    line.chars().filter(|c| !c.is_control()).take(300).collect()
}

fn run(mut cmd: Command, stdin: Option<&[u8]>, tool: &str) -> Result<std::process::Output> {
    cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| {
        refuse(format!("cannot run `{tool}` to verify the commit's signature: {e}; install it, or sign differently"))
    })?;
    if let (Some(data), Some(mut pipe)) = (stdin, child.stdin.take()) {
        use std::io::Write;
        // A tool that exits early closes its end; its status says why.
        let _ = pipe.write_all(data);
    }
    Ok(child.wait_with_output()?)
}

fn verify_ssh(short: &str, signature: &[u8], payload: &[u8], allowed: &Path) -> Result<GoodSignature> {
    let tmp = tempfile::tempdir()?;
    let sig_file = tmp.path().join("commit.sig");
    std::fs::write(&sig_file, signature)?;
    let mut find = Command::new("ssh-keygen");
    find.arg("-Y").arg("find-principals").arg("-f").arg(allowed).arg("-s").arg(&sig_file);
    let found = run(find, None, "ssh-keygen")?;
    let principal = String::from_utf8_lossy(&found.stdout).lines().next().map(str::trim).unwrap_or("").to_owned();
    if !found.status.success() || principal.is_empty() {
        return Err(refuse(format!(
            "commit {short} is signed by a key that `{}` does not allow; deploy a commit signed by an allowed key \
             (ssh-keygen: {})",
            allowed.display(),
            said(&found.stderr)
        )));
    }
    let mut verify = Command::new("ssh-keygen");
    verify.args(["-Y", "verify", "-n", "git", "-f"]).arg(allowed).arg("-I").arg(&principal).arg("-s").arg(&sig_file);
    let verified = run(verify, Some(payload), "ssh-keygen")?;
    if !verified.status.success() {
        return Err(refuse(format!(
            "commit {short}: its SSH signature does not verify: the commit was changed after it was signed, or \
             the key is not allowed for git at this time (ssh-keygen: {} {})",
            said(&verified.stdout),
            said(&verified.stderr)
        )));
    }
    Ok(GoodSignature { format: "ssh", signer: said(principal.as_bytes()) })
}

fn verify_gpg(short: &str, signature: &[u8], payload: &[u8], keys: &Path) -> Result<GoodSignature> {
    let home = tempfile::tempdir()?;
    let gpg = |args: &[&str]| {
        let mut cmd = Command::new("gpg");
        cmd.arg("--homedir").arg(home.path()).args(["--batch", "--no-tty", "--no-auto-key-retrieve"]).args(args);
        cmd
    };
    let mut import = gpg(&["--import"]);
    import.arg(keys);
    let imported = run(import, None, "gpg")?;
    if !imported.status.success() {
        return Err(refuse(format!(
            "allowed OpenPGP keyring `{}` cannot be imported (gpg: {})",
            keys.display(),
            said(&imported.stderr)
        )));
    }
    let sig_file = home.path().join("commit.sig");
    std::fs::write(&sig_file, signature)?;
    let mut verify = gpg(&["--status-fd", "1", "--verify"]);
    verify.arg(&sig_file).arg("-");
    let verified = run(verify, Some(payload), "gpg")?;
    let status = String::from_utf8_lossy(&verified.stdout);
    let valid = status
        .lines()
        .find_map(|l| l.strip_prefix("[GNUPG:] VALIDSIG "))
        .map(|rest| rest.split_whitespace().next().unwrap_or_default().to_owned());
    match valid {
        Some(fingerprint) if verified.status.success() => {
            Ok(GoodSignature { format: "gpg", signer: said(fingerprint.as_bytes()) })
        }
        _ if status.contains("[GNUPG:] NO_PUBKEY") => Err(refuse(format!(
            "commit {short} is signed by an OpenPGP key that `{}` does not hold; deploy a commit signed by an \
             allowed key",
            keys.display()
        ))),
        _ => Err(refuse(format!(
            "commit {short}: its OpenPGP signature does not verify: the commit was changed after it was signed \
             (gpg: {})",
            said(&verified.stderr)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_output_is_one_line_without_control_characters() {
        assert_eq!(said(b"Good \x1b[31m\"git\"\nsignature\r\n"), "Good [31m\"git\" signature");
    }
}
