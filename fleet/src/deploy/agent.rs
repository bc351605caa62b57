//! The typed client of `schedfleet-agent` on a host: runs one agent command
//! over the host's session and parses the one JSON reply it prints.

use schedfleet_proto::{Activated, AgentError, Deactivated, Facts, Reply, Status, StoreHas, StorePut};
use serde::de::DeserializeOwned;

use crate::transport::HostSession;

/// Failures of an agent call: the call itself (transport, garbage output)
/// or the agent's own refusal, kept apart so callers can tell them apart.
#[derive(Debug, thiserror::Error)]
pub enum AgentCallError {
    #[error(transparent)]
    Transport(#[from] crate::transport::TransportError),
    #[error("agent on `{host}` gave no valid reply (exit {code:?}): {detail}")]
    BadReply { host: String, code: Option<i32>, detail: String },
    #[error("agent on `{host}`: {error}")]
    Agent { host: String, error: AgentError },
}

pub struct RemoteAgent<'s> {
    session: &'s HostSession,
    path: String,
}

impl<'s> RemoteAgent<'s> {
    pub fn new(session: &'s HostSession, path: String) -> Self {
        RemoteAgent { session, path }
    }

    async fn call<T: DeserializeOwned>(&self, args: &[&str], input: Option<&[u8]>) -> Result<T, AgentCallError> {
        let out = self.session.run_with_input(&self.path, args, input).await?;
        let host = self.session.host().to_owned();
        let text = String::from_utf8_lossy(&out.stdout);
        let reply: Reply<T> = serde_json::from_str(text.trim()).map_err(|e| AgentCallError::BadReply {
            host: host.clone(),
            code: out.code,
            detail: if out.stderr.is_empty() { format!("{e}") } else { out.stderr.clone() },
        })?;
        reply.into_result().map_err(|error| AgentCallError::Agent { host, error })
    }

    /// Any agent command, its `result` as JSON.
    pub async fn raw(&self, args: &[&str]) -> Result<serde_json::Value, AgentCallError> {
        self.call(args, None).await
    }

    pub async fn facts(&self) -> Result<Facts, AgentCallError> {
        self.call(&["facts"], None).await
    }

    pub async fn status(&self) -> Result<Status, AgentCallError> {
        self.status_with(&[]).await
    }

    /// `status` with extra arguments (such as a latency window).
    pub async fn status_with(&self, extra: &[&str]) -> Result<Status, AgentCallError> {
        let mut args = vec!["status"];
        args.extend_from_slice(extra);
        self.call(&args, None).await
    }

    pub async fn store_has(&self, digests: &[&str]) -> Result<StoreHas, AgentCallError> {
        let mut args = vec!["store", "has"];
        args.extend_from_slice(digests);
        self.call(&args, None).await
    }

    pub async fn store_put(&self, digest: &str, bytes: &[u8]) -> Result<StorePut, AgentCallError> {
        self.call(&["store", "put", digest], Some(bytes)).await
    }

    pub async fn activate(
        &self,
        object: &str,
        digest: &str,
        params: &[(String, String)],
        commit: &str,
        confirm: Option<&super::ConfirmMode>,
    ) -> Result<Activated, AgentCallError> {
        let pairs: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let mut args = vec!["activate", object, "--sha256", digest, "--commit", commit, "--replace"];
        for p in &pairs {
            args.push("--param");
            args.push(p);
        }
        let within = confirm.map(|c| c.within.as_secs().max(1).to_string());
        if let (Some(c), Some(within)) = (confirm, &within) {
            args.extend(["--confirm-within", within.as_str()]);
            if let Some(probes) = &c.probes_json {
                args.extend(["--probes", probes.as_str()]);
            }
        }
        self.call(&args, None).await
    }

    pub async fn lease_acquire(&self, owner: &str, ttl_secs: u64) -> Result<serde_json::Value, AgentCallError> {
        self.call(&["lease", "acquire", "--owner", owner, "--ttl", &ttl_secs.to_string()], None).await
    }

    pub async fn deactivate(&self) -> Result<Deactivated, AgentCallError> {
        self.call(&["deactivate"], None).await
    }
}
