//! Getting bytes onto a host, each at most once.
//!
//! The agent itself is bootstrapped with standard tools (`mkdir`, `dd`,
//! `sha256sum`, `chmod`, `mv`): written under a temporary name, its digest
//! checked on the host, and only then renamed to its digest in the store, so
//! a half-sent agent can never be executed. Everything else goes through
//! the agent's own `store put`, which checks the digest before the artifact
//! becomes visible.

use schedfleet_proto::{AGENT_LINK, STORE_DIR};

use super::agent::{AgentCallError, RemoteAgent};
use crate::artifact::Artifact;
use crate::transport::{HostSession, TransportError};

#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error(transparent)]
    Agent(#[from] AgentCallError),
    #[error("`{step}` failed on `{host}` (exit {code:?}): {stderr}")]
    Step { host: String, step: String, code: Option<i32>, stderr: String },
    #[error("the agent sent to `{host}` arrived as `{got}`, expected `{want}`; nothing was installed")]
    Corrupted { host: String, want: String, got: String },
}

/// What the kernel of a host says before anything is pushed.
pub struct Preflight {
    pub kernel_release: String,
    /// `None` when the host has no sched_ext.
    pub sched_ext_state: Option<String>,
}

/// One round trip, nothing written: the kernel release and sched_ext state.
pub async fn preflight(s: &HostSession) -> Result<Preflight, TransportError> {
    let out = s.run("cat", &["/proc/sys/kernel/osrelease", "/sys/kernel/sched_ext/state"]).await?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    Ok(Preflight {
        kernel_release: lines.next().unwrap_or("unknown").trim().to_owned(),
        sched_ext_state: lines.next().map(|l| l.trim().to_owned()).filter(|_| out.success()),
    })
}

pub fn agent_path(agent: &Artifact) -> String {
    format!("{STORE_DIR}/{}", agent.digest)
}

async fn step(s: &HostSession, program: &str, args: &[&str]) -> Result<String, PushError> {
    let out = s.run(program, args).await?;
    if !out.success() {
        return Err(PushError::Step {
            host: s.host().to_owned(),
            step: std::iter::once(program).chain(args.iter().copied()).collect::<Vec<_>>().join(" "),
            code: out.code,
            stderr: out.stderr,
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Makes sure the host holds `agent` in its store; returns bytes sent.
pub async fn ensure_agent(s: &HostSession, agent: &Artifact) -> Result<u64, PushError> {
    let path = agent_path(agent);
    if s.run("test", &["-x", &path]).await?.success() {
        return Ok(0);
    }
    let tmp = format!("{STORE_DIR}/.upload-agent-{}", agent.digest);
    step(s, "mkdir", &["-p", STORE_DIR]).await?;
    let out = s.run_with_input("dd", &[&format!("of={tmp}"), "bs=65536"], Some(&agent.bytes)).await?;
    if !out.success() {
        return Err(PushError::Step {
            host: s.host().to_owned(),
            step: format!("dd of={tmp}"),
            code: out.code,
            stderr: out.stderr,
        });
    }
    let sum = step(s, "sha256sum", &[&tmp]).await?;
    let got = sum.split_whitespace().next().unwrap_or("").to_owned();
    if got != agent.digest.as_str() {
        let _ = s.run("rm", &["-f", &tmp]).await;
        return Err(PushError::Corrupted { host: s.host().to_owned(), want: agent.digest.to_string(), got });
    }
    step(s, "chmod", &["0755", &tmp]).await?;
    step(s, "mv", &["-f", &tmp, &path]).await?;
    step(s, "ln", &["-sfn", &path, AGENT_LINK]).await?;
    Ok(agent.bytes.len() as u64)
}

/// Makes sure the host's store holds `artifact`; returns bytes sent.
pub async fn ensure_artifact(agent: &RemoteAgent<'_>, artifact: &Artifact) -> Result<u64, PushError> {
    let has = agent.store_has(&[artifact.digest.as_str()]).await?;
    if has.missing.is_empty() {
        return Ok(0);
    }
    let put = agent.store_put(artifact.digest.as_str(), &artifact.bytes).await?;
    Ok(put.bytes)
}
