//! `schedfleet apply`: roll the repository's desired state out to the hosts.

use std::io::IsTerminal;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use schedfleet_fleet::artifact::Artifact;
use schedfleet_fleet::collect::CollectOptions;
use schedfleet_fleet::config;
use schedfleet_fleet::plan;
use schedfleet_fleet::rollout::{self, DryRunReport, RolloutOptions};
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
    let agent = crate::agent::choose(args.agent)?.artifact;
    if !args.yes && !args.dry_run && !confirm(&desired)? {
        eprintln!("aborted; nothing was changed");
        return Ok(exit::OK);
    }
    if args.dry_run {
        // The plan's decision in the rollout's shape: no second path.
        let opts = CollectOptions::default();
        let planned = super::on_hosts(&desired, args.hosts.parallel, CONNECT_TIMEOUT, async |pool| {
            plan::plan(pool, &desired, &opts).await
        })?;
        let report = rollout::dry_run(&desired, &planned);
        if args.json {
            crate::output::print_versioned(crate::output::Output::ApplyDryRun, &report)?;
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
        crate::output::print_versioned(crate::output::Output::Apply, &report)?;
    } else {
        super::rollout_table(&report);
    }
    Ok(super::rollout_exit_code(&report))
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

fn print_dry_run(report: &DryRunReport) {
    println!("{:<20} {:<5} {:<13} {:<14} {:<13} DETAIL", "HOST", "WAVE", "STATE", "SCHEDULER", "ARTIFACT");
    for h in &report.hosts {
        let wave = h.wave.map_or("-".to_owned(), |w| (w + 1).to_string());
        let line = format!(
            "{:<20} {:<5} {:<13} {:<14} {:<13} {}",
            h.host,
            wave,
            h.state,
            h.scheduler,
            &h.artifact[..12],
            h.reason
        );
        println!("{}", crate::terminal::clean(&line));
    }
    eprintln!(
        "commit {}: {} host(s) in {} wave(s), {} would change, {} cannot be planned; nothing was changed",
        &report.commit[..12],
        report.hosts.len(),
        report.waves.len(),
        report.changes(),
        report.failures()
    );
}
