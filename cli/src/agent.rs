//! The agent this controller pushes to hosts: the static `schedfleet-agent`
//! built into the CLI by `build.rs` (so every build carries one, and no
//! dynamic agent lying beside the executable is ever picked up), unless
//! `--agent`/`SCHEDFLEET_AGENT` names another file, which must be static
//! too. `schedfleet --version` and `status` say which one it is.

use std::path::PathBuf;

use anyhow::Result;
use schedfleet_fleet::artifact::{self, Artifact};
use schedfleet_fleet::BadInput;

/// The static agent's bytes, built by `build.rs` from this workspace.
static EMBEDDED: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/schedfleet-agent"));

/// Its sha256, computed by `build.rs` from the same bytes.
pub const EMBEDDED_SHA256: &str = env!("SCHEDFLEET_AGENT_SHA256");

/// The target the embedded agent was built for.
pub const EMBEDDED_TARGET: &str = env!("SCHEDFLEET_AGENT_TARGET");

/// The embedded agent's version: the workspace shares one version, so it is
/// the CLI's.
pub const EMBEDDED_VERSION: &str = env!("CARGO_PKG_VERSION");

/// `schedfleet --version`: the CLI's version, then the agent it pushes.
pub fn long_version() -> &'static str {
    static TEXT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TEXT.get_or_init(|| {
        format!(
            "{EMBEDDED_VERSION}\nagent: schedfleet-agent {EMBEDDED_VERSION} ({EMBEDDED_TARGET}, static, {} bytes) sha256:{EMBEDDED_SHA256}",
            EMBEDDED.len()
        )
    })
}

/// The bytes of the embedded agent (for `schedfleet generate agent`).
pub fn embedded_bytes() -> &'static [u8] {
    EMBEDDED
}

/// Which agent a command pushes and where it came from, for messages.
pub struct ChosenAgent {
    pub artifact: Artifact,
    /// `built into schedfleet` or the file's path.
    pub origin: String,
}

/// The agent to push: `--agent`/`SCHEDFLEET_AGENT` when given (refused
/// with exit 2 when it is dynamic or no ELF), else the embedded one.
pub fn choose(flag: Option<PathBuf>) -> Result<ChosenAgent> {
    Ok(match flag {
        Some(path) => ChosenAgent {
            artifact: artifact::load_agent_binary(&path)
                .map_err(|e| BadInput::new(format!("--agent/SCHEDFLEET_AGENT: {e}")))?,
            origin: path.display().to_string(),
        },
        None => ChosenAgent {
            artifact: artifact::agent_from_bytes("built into schedfleet", EMBEDDED)
                .map_err(|e| BadInput::new(e.to_string()))?,
            origin: "built into schedfleet".to_owned(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_agent_is_static_and_its_digest_is_the_one_announced() {
        let chosen = choose(None).expect("the embedded agent passes the static check");
        assert_eq!(chosen.artifact.digest.as_str(), EMBEDDED_SHA256);
        assert!(long_version().contains(EMBEDDED_SHA256));
    }

    #[test]
    fn an_explicit_dynamic_agent_is_refused_as_bad_input() {
        // This test binary is dynamically linked.
        let me = std::env::current_exe().unwrap();
        let err = choose(Some(me)).err().expect("a dynamic agent is refused");
        assert!(err.chain().any(|e| e.is::<BadInput>()));
        assert!(format!("{err:#}").contains("dynamically linked"), "{err:#}");
    }
}
