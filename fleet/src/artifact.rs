//! Artifacts: the bytes schedfleet pushes to hosts (the agent, BPF objects),
//! named by their sha256. The digest is computed once, here, from the exact
//! bytes that will be sent; hosts check it again before using them.

use std::fmt;
use std::sync::Arc;

use sha2::{Digest, Sha256};

/// A lower-case hex sha256.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct ArtifactDigest(String);

impl ArtifactDigest {
    pub fn of(bytes: &[u8]) -> Self {
        ArtifactDigest(hex::encode(Sha256::digest(bytes)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A digest declared in a file, already checked to be 64 lower-case hex
    /// digits.
    pub fn from_hex(hex: &str) -> Self {
        debug_assert!(schedfleet_proto::is_sha256_hex(hex));
        ArtifactDigest(hex.to_owned())
    }

    /// The digest of a description (such as an installed binary's path and
    /// version) standing for bytes schedfleet never sees.
    pub fn derived(text: &str) -> Self {
        ArtifactDigest::of(text.as_bytes())
    }

    /// The first 12 characters, for tables.
    pub fn short(&self) -> &str {
        &self.0[..12]
    }
}

impl fmt::Display for ArtifactDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Bytes with their digest and a name for messages.
#[derive(Debug, Clone)]
pub struct Artifact {
    pub name: String,
    pub digest: ArtifactDigest,
    pub bytes: Arc<[u8]>,
}

impl Artifact {
    pub fn new(name: impl Into<String>, bytes: impl Into<Arc<[u8]>>) -> Self {
        let bytes = bytes.into();
        Artifact { name: name.into(), digest: ArtifactDigest::of(&bytes), bytes }
    }

    /// An artifact known only by its digest (a binary installed on the
    /// hosts): nothing to push, `bytes` is empty.
    pub fn declared(name: impl Into<String>, digest: ArtifactDigest) -> Self {
        Artifact { name: name.into(), digest, bytes: Arc::from(Vec::new()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_is_sha256_hex() {
        let d = ArtifactDigest::of(b"abc");
        assert_eq!(d.as_str(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(d.short(), "ba7816bf8f01");
        assert!(schedfleet_proto::is_sha256_hex(d.as_str()));
    }
}

/// The largest agent binary read: the static release agent is a few MB, a
/// debug build some tens; more is not an agent.
pub const MAX_AGENT_BYTES: u64 = 256 << 20;

/// Why a file cannot serve as the agent pushed to hosts.
#[derive(Debug, thiserror::Error)]
pub enum AgentBinaryError {
    /// Not readable, not a regular file (a FIFO, `/dev/zero`) or too large.
    #[error(transparent)]
    Read(#[from] crate::BadInput),
    #[error("agent binary `{path}` is not a 64-bit little-endian ELF executable")]
    NotElf { path: String },
    #[error(
        "agent binary `{path}` is dynamically linked (it names an ELF interpreter), so hosts may lack its libraries; \
         pass a static one (`agent/build-static.sh` prints its path) or leave out --agent/SCHEDFLEET_AGENT to push the agent built into schedfleet"
    )]
    Dynamic { path: String },
}

/// Reads the agent binary and checks it is a static x86-64/aarch64 ELF (no
/// `PT_INTERP`), since it must run on hosts whatever their libc.
pub fn load_agent_binary(path: &std::path::Path) -> Result<Artifact, AgentBinaryError> {
    let shown = path.display().to_string();
    let bytes = crate::files::read_bounded(path, MAX_AGENT_BYTES, "agent binary")?;
    agent_from_bytes(&shown, bytes)
}

/// The same check for bytes already in memory (the agent embedded in the
/// CLI); `origin` names them in the error.
pub fn agent_from_bytes(origin: &str, bytes: impl Into<Arc<[u8]>>) -> Result<Artifact, AgentBinaryError> {
    let bytes = bytes.into();
    match elf_has_interpreter(&bytes) {
        None => Err(AgentBinaryError::NotElf { path: origin.to_owned() }),
        Some(true) => Err(AgentBinaryError::Dynamic { path: origin.to_owned() }),
        Some(false) => Ok(Artifact::new("schedfleet-agent", bytes)),
    }
}

/// `Some(true)` when the ELF64 LE file has a `PT_INTERP` program header,
/// `None` when it is not such a file.
fn elf_has_interpreter(b: &[u8]) -> Option<bool> {
    const PT_INTERP: u32 = 3;
    if b.len() < 64 || &b[..4] != b"\x7fELF" || b[4] != 2 || b[5] != 1 {
        return None;
    }
    let u16_at = |o: usize| Some(u16::from_le_bytes(b.get(o..o + 2)?.try_into().ok()?));
    let u32_at = |o: usize| Some(u32::from_le_bytes(b.get(o..o + 4)?.try_into().ok()?));
    let u64_at = |o: usize| Some(u64::from_le_bytes(b.get(o..o + 8)?.try_into().ok()?));
    let phoff = usize::try_from(u64_at(0x20)?).ok()?;
    let phentsize = usize::from(u16_at(0x36)?);
    let phnum = usize::from(u16_at(0x38)?);
    for i in 0..phnum {
        if u32_at(phoff.checked_add(i.checked_mul(phentsize)?)?)? == PT_INTERP {
            return Some(true);
        }
    }
    Some(false)
}

#[cfg(test)]
mod elf_tests {
    use super::*;

    #[test]
    fn dynamic_executables_are_refused() {
        // Every test binary of this crate is dynamically linked.
        let me = std::env::current_exe().unwrap();
        assert!(matches!(load_agent_binary(&me), Err(AgentBinaryError::Dynamic { .. })));
        let not_elf = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(not_elf.path(), b"#!/bin/sh\necho hi\n").unwrap();
        assert!(matches!(load_agent_binary(not_elf.path()), Err(AgentBinaryError::NotElf { .. })));
    }
}
