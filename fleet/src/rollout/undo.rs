//! `rollback --previous` and `rollback --default`: every selected host at
//! once, no waves, as fast as the transport allows. An emergency path: it
//! does not take the fleet lock (it must work while a stuck rollout holds
//! it) and asks each host's agent directly.

use std::time::{Duration, Instant};

use anyhow::Result;
use futures::StreamExt;
use schedfleet_proto::AGENT_LINK;
use serde::Serialize;

use crate::config::Host;
use crate::deploy::RemoteAgent;
use crate::transport::{self, ControlDir, HostSession};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Undo {
    /// The previous confirmed scheduler kept on the host (or the kernel default).
    Previous,
    /// The kernel's default scheduler.
    Default,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UndoOutcome {
    Done,
    /// No schedfleet agent on the host: nothing of ours to undo.
    NothingToUndo,
    Unreachable,
    Failed,
}

#[derive(Debug, Clone, Serialize)]
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

pub async fn undo(hosts: &[&Host], how: Undo, parallel: usize, connect_timeout: Duration) -> Result<Vec<UndoResult>> {
    let targets = transport::targets::resolve(hosts.iter().copied())?;
    let control = ControlDir::new()?;
    let control = &control;
    let mut results: Vec<UndoResult> = futures::stream::iter(hosts.iter())
        .map(|h| {
            let target = targets.get(&h.name).cloned();
            async move {
                let started = Instant::now();
                let (outcome, message, kernel_state) = match target {
                    None => (UndoOutcome::Unreachable, Some("lab host is not running".to_owned()), None),
                    Some(t) => match HostSession::connect(&h.name, &t, control, connect_timeout).await {
                        Err(e) => (UndoOutcome::Unreachable, Some(e.to_string()), None),
                        Ok(s) => {
                            let r = one(&s, how).await;
                            s.close().await;
                            r
                        }
                    },
                };
                UndoResult {
                    host: h.name.clone(),
                    outcome,
                    message,
                    kernel_state,
                    elapsed_ms: started.elapsed().as_millis() as u64,
                }
            }
        })
        .buffer_unordered(parallel.max(1))
        .collect()
        .await;
    let order: Vec<&str> = hosts.iter().map(|h| h.name.as_str()).collect();
    crate::deploy::in_order(&mut results, &order, |r| &r.host);
    Ok(results)
}

async fn one(s: &HostSession, how: Undo) -> (UndoOutcome, Option<String>, Option<String>) {
    match s.run("test", &["-x", AGENT_LINK]).await {
        Err(e) => return (UndoOutcome::Unreachable, Some(e.to_string()), None),
        Ok(o) if !o.success() => {
            return (UndoOutcome::NothingToUndo, Some("no schedfleet agent on the host".into()), None)
        }
        Ok(_) => {}
    }
    let agent = RemoteAgent::new(s, AGENT_LINK.to_owned());
    let args: &[&str] = match how {
        Undo::Previous => &["rollback"],
        Undo::Default => &["deactivate"],
    };
    match agent.raw(args).await {
        Ok(v) => {
            let state = v["kernel"]["state"].as_str().map(str::to_owned);
            (UndoOutcome::Done, None, state)
        }
        Err(e) => (UndoOutcome::Failed, Some(e.to_string()), None),
    }
}
