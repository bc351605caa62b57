//! `rollback --previous` and `rollback --default`: every selected host at
//! once, no waves, as fast as the transport allows. An emergency path: it
//! does not take the fleet lock (it must work while a stuck rollout holds
//! it) and asks each host's agent directly.

use std::time::Instant;

use futures::StreamExt;
use serde::Serialize;

use crate::config::Host;
use crate::host::{AgentOnHost, HostError, Pool, Transport};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Undo {
    /// The previous confirmed scheduler kept on the host (or the kernel default).
    Previous,
    /// The kernel's default scheduler.
    Default,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum UndoOutcome {
    Done,
    /// No schedfleet agent on the host: nothing of ours to undo.
    NothingToUndo,
    Unreachable,
    Failed,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct UndoResult {
    pub host: String,
    pub outcome: UndoOutcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// What the kernel runs afterwards, as the agent reports it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kernel_state: Option<String>,
    pub elapsed_ms: u64,
}

/// Undoes `how` on every host of `pool`'s run at once (within its bound).
pub async fn undo<T: Transport>(pool: &Pool<T>, hosts: &[&Host], how: Undo) -> Vec<UndoResult> {
    futures::stream::iter(hosts.iter())
        .map(|h| async move {
            let started = Instant::now();
            let (outcome, message, kernel_state) = match one(pool, &h.name, how).await {
                Ok(Some(state)) => (UndoOutcome::Done, None, Some(state)),
                Ok(None) => (UndoOutcome::NothingToUndo, Some("no schedfleet agent on the host".to_owned()), None),
                Err(e) if e.is_unreachable() => (UndoOutcome::Unreachable, Some(e.to_string()), None),
                Err(e) => (UndoOutcome::Failed, Some(e.to_string()), None),
            };
            UndoResult {
                host: h.name.clone(),
                outcome,
                message,
                kernel_state,
                elapsed_ms: started.elapsed().as_millis() as u64,
            }
        })
        .buffered(pool.parallel())
        .collect()
        .await
}

/// The kernel's sched_ext state afterwards; `None` when the host has no
/// agent of ours (a corrupt one is never run: nothing of ours can be undone
/// with it, and `apply` replaces it).
async fn one<T: Transport>(pool: &Pool<T>, host: &str, how: Undo) -> Result<Option<String>, HostError> {
    let v = pool.visit(host).await?;
    let AgentOnHost::Verified(path) = crate::host::probe(&v, None).await?.linked else {
        return Ok(None);
    };
    let agent = v.agent(path);
    let kernel = match how {
        Undo::Previous => agent.rollback().await?.kernel,
        Undo::Default => agent.deactivate().await?.kernel,
    };
    Ok(Some(kernel.state))
}
