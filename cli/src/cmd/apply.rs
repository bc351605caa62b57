//! `schedfleet apply`: roll the repository's desired state out to the hosts.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use schedfleet_fleet::artifact::{self, Artifact};
use schedfleet_fleet::config;
use schedfleet_fleet::deploy::{self, ApplyOptions, ApplyReport};
use schedfleet_fleet::rollout::{self, RolloutOptions};
use schedfleet_fleet::BadInput;

use crate::args::ApplyArgs;
use crate::exit;

/// How long an SSH connection to a host may take to come up.
pub(super) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

pub fn run(args: ApplyArgs) -> Result<u8> {
    let desired = super::load_desired(&args.repo, args.hosts.limit.as_deref())?;
    if desired.hosts.is_empty() {
        eprintln!("no host has a scheduler assigned in fleet.yaml; nothing to do");
        return Ok(exit::OK);
    }
    let agent = find_agent(args.agent)?;
    if !args.yes && !args.dry_run && !confirm(&desired)? {
        eprintln!("aborted; nothing was changed");
        return Ok(exit::OK);
    }
    if args.dry_run {
        let opts = ApplyOptions {
            agent,
            parallel: usize::from(args.hosts.parallel),
            dry_run: true,
            connect_timeout: CONNECT_TIMEOUT,
            confirm: None,
            lease_owner: None,
        };
        let report = super::runtime()?.block_on(deploy::apply(&desired, &opts))?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            print_dry_run(&report);
        }
        return Ok(if report.failures() > 0 { exit::HOSTS_FAILED } else { exit::OK });
    }
    run_rollout(&desired, &args.repo, agent, args.hosts.parallel, args.resume, args.json)
}

/// Rolls `desired` out in waves and prints the result; shared by `apply`
/// and `rollback --to`.
pub(super) fn run_rollout(
    desired: &config::DesiredState,
    repo: &crate::args::RepoArgs,
    agent: Artifact,
    parallel: u16,
    resume: bool,
    json: bool,
) -> Result<u8> {
    let opts = RolloutOptions {
        agent,
        parallel: usize::from(parallel),
        connect_timeout: CONNECT_TIMEOUT,
        fleet_key: super::fleet_key(repo)?,
        resume,
        poll: Duration::from_secs(2),
    };
    let progress = crate::progress::for_stderr();
    let report =
        super::runtime()?.block_on(rollout::start(desired, &opts, Arc::new(AtomicBool::new(false)), &*progress))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        super::rollout_table(&report);
    }
    Ok(super::rollout_exit_code(&report))
}

/// The agent pushed to hosts: `--agent`/`SCHEDFLEET_AGENT`, else the
/// `schedfleet-agent` installed beside this executable.
pub(super) fn find_agent(flag: Option<PathBuf>) -> Result<Artifact> {
    let path = match flag {
        Some(p) => p,
        None => {
            let exe = std::env::current_exe().context("cannot locate the schedfleet executable")?;
            let beside = exe.with_file_name("schedfleet-agent");
            if !beside.exists() {
                return Err(BadInput::new(format!(
                    "no agent binary at `{}`; build it with `agent/build-static.sh` and pass its path with --agent or SCHEDFLEET_AGENT",
                    beside.display()
                ))
                .into());
            }
            beside
        }
    };
    artifact::load_agent_binary(&path).map_err(|e| BadInput::new(e.to_string()).into())
}

pub(super) fn confirm(desired: &config::DesiredState) -> Result<bool> {
    if !std::io::stdin().is_terminal() {
        return Err(BadInput::new("apply changes hosts: pass --yes to confirm when not run from a terminal").into());
    }
    eprintln!("apply commit {} to {} host(s):", &desired.commit[..12], desired.hosts.len());
    for p in &desired.hosts {
        eprintln!("  {:<24} {} ({})", p.host.name, p.scheduler, p.artifact.digest.short());
    }
    eprint!("proceed? [y/N] ");
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes"))
}

fn print_dry_run(report: &ApplyReport) {
    println!("{:<20} {:<12} {:<14} {:<13} {:>8}  DETAIL", "HOST", "OUTCOME", "SCHEDULER", "ARTIFACT", "TIME");
    for h in &report.hosts {
        let outcome = h.outcome.as_str();
        let detail = match (&h.message, h.bytes_sent) {
            (Some(m), _) => m.clone(),
            (None, 0) => "nothing sent".to_owned(),
            (None, n) => format!("sent {n} bytes"),
        };
        println!(
            "{:<20} {:<12} {:<14} {:<13} {:>7.1}s  {}",
            h.host,
            outcome,
            h.scheduler,
            &h.artifact[..12],
            h.elapsed_ms as f64 / 1000.0,
            detail
        );
    }
    eprintln!("commit {}: {} host(s), {} failed", &report.commit[..12], report.hosts.len(), report.failures());
}
