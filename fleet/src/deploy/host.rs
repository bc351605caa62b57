//! Applying one host's spec, start to finish, into a [`HostReport`].

use std::time::Instant;

use schedfleet_proto::STORE_DIR;

use super::agent::RemoteAgent;
use super::push::{self, PushError};
use super::report::{HostReport, Outcome};
use super::ApplyOptions;
use crate::config::{HostSpec, SshTarget, Templates};
use crate::plan::{decide, Action};
use crate::state::FactsCache;
use crate::transport::{ControlDir, HostSession};

pub async fn apply_one(
    spec: &HostSpec,
    target: Option<SshTarget>,
    commit: &str,
    opts: &ApplyOptions,
    control: &ControlDir,
    templates: &Templates,
) -> HostReport {
    let started = Instant::now();
    let mut report = HostReport {
        host: spec.host.name.clone(),
        scheduler: spec.scheduler.clone(),
        artifact: spec.artifact.digest.to_string(),
        outcome: Outcome::Failed,
        message: None,
        bytes_sent: 0,
        load_ms: None,
        activated: None,
        elapsed_ms: 0,
    };
    let (outcome, message) = match target {
        None => (Outcome::Unreachable, Some("lab host is not running; start it with `schedfleet lab up`".to_owned())),
        Some(target) => match HostSession::connect(&spec.host.name, &target, control, opts.connect_timeout).await {
            Err(e) => (Outcome::Unreachable, Some(e.to_string())),
            Ok(session) => {
                let result = converge(&session, spec, commit, opts, templates, &mut report).await;
                session.close().await;
                match result {
                    Ok(outcome) => (outcome, None),
                    Err((outcome, msg)) => (outcome, Some(msg)),
                }
            }
        },
    };
    report.outcome = outcome;
    report.message = message;
    report.elapsed_ms = started.elapsed().as_millis() as u64;
    match outcome {
        o if o.is_failure() => {
            tracing::warn!(host = %report.host, ?outcome, message = report.message.as_deref().unwrap_or(""), "host not applied")
        }
        _ => tracing::info!(host = %report.host, ?outcome, elapsed_ms = report.elapsed_ms, "host done"),
    }
    report
}

/// The host lease covers one wave of this host: activation, bake and
/// confirmation all happen before its confirmation deadline (checked when
/// `fleet.yaml` is loaded), plus a margin. The rollout releases it when it
/// ends; the TTL only matters when this controller dies, and then the host
/// is free again shortly after it reverted by itself.
fn lease_ttl(opts: &ApplyOptions) -> u64 {
    opts.confirm.as_ref().map_or(300, |c| c.within.as_secs() + 30)
}

fn failed(e: PushError) -> (Outcome, String) {
    (Outcome::Failed, e.to_string())
}

async fn converge(
    s: &HostSession,
    spec: &HostSpec,
    commit: &str,
    opts: &ApplyOptions,
    templates: &Templates,
    report: &mut HostReport,
) -> Result<Outcome, (Outcome, String)> {
    let pre = push::preflight(s).await.map_err(|e| (Outcome::Unreachable, e.to_string()))?;
    if pre.sched_ext_state.is_none() {
        return Err((
            Outcome::Refused,
            format!("kernel `{}` has no sched_ext (no /sys/kernel/sched_ext); nothing was pushed", pre.kernel_release),
        ));
    }
    if opts.dry_run {
        return dry_run(s, spec, opts, templates).await;
    }
    report.bytes_sent += push::ensure_agent(s, &opts.agent).await.map_err(failed)?;
    let agent = RemoteAgent::new(s, push::agent_path(&opts.agent));
    let facts = agent.facts().await.map_err(|e| failed(e.into()))?;
    FactsCache::open().put(&spec.host.name, &facts);
    let plan = spec.render(templates, &facts).map_err(|e| (Outcome::Failed, e.to_string()))?;
    let status = agent.status().await.map_err(|e| failed(e.into()))?;
    if decide(&plan, Some(&status)).0 == Action::None {
        return Ok(Outcome::Unchanged);
    }
    if let Some(owner) = &opts.lease_owner {
        agent.lease_acquire(owner, lease_ttl(opts)).await.map_err(|e| (Outcome::Failed, e.to_string()))?;
    }
    report.bytes_sent += push::ensure_artifact(&agent, &plan.artifact).await.map_err(failed)?;
    let object = format!("{STORE_DIR}/{}", plan.artifact.digest);
    let params: Vec<(String, String)> = plan.params.clone().into_iter().collect();
    let activated = agent
        .activate(&object, plan.artifact.digest.as_str(), &params, commit, opts.confirm.as_ref())
        .await
        .map_err(|e| failed(e.into()))?;
    report.load_ms = Some(activated.load_ms);
    report.activated = Some(activated.kernel);
    Ok(Outcome::Changed)
}

/// Connects and compares through the agent already on the host, if any;
/// pushes and changes nothing.
async fn dry_run(
    s: &HostSession,
    spec: &HostSpec,
    opts: &ApplyOptions,
    templates: &Templates,
) -> Result<Outcome, (Outcome, String)> {
    let path = push::agent_path(&opts.agent);
    if !s.run("test", &["-x", &path]).await.map_err(|e| (Outcome::Unreachable, e.to_string()))?.success() {
        return Ok(Outcome::WouldChange);
    }
    let agent = RemoteAgent::new(s, path);
    let facts = agent.facts().await.map_err(|e| failed(e.into()))?;
    let plan = spec.render(templates, &facts).map_err(|e| (Outcome::Failed, e.to_string()))?;
    let status = agent.status().await.map_err(|e| failed(e.into()))?;
    Ok(if decide(&plan, Some(&status)).0 == Action::None { Outcome::Unchanged } else { Outcome::WouldChange })
}
