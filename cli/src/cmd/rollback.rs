//! `schedfleet rollback`: `--previous` (each host's previous confirmed
//! scheduler, kept on the host), `--to REV` (a full rollout of that commit,
//! with waves and gates), `--default` (emergency: the kernel's default
//! scheduler everywhere at once).

use std::time::Instant;

use anyhow::Result;
use schedfleet_fleet::rollout::{self, Undo, UndoOutcome};
use schedfleet_fleet::BadInput;

use crate::args::{RepoArgs, RollbackArgs};
use crate::exit;

pub fn run(args: RollbackArgs) -> Result<u8> {
    if let Some(rev) = &args.to {
        let repo = RepoArgs {
            repo: args.repo.repo.clone(),
            rev: rev.clone(),
            inventory: args.repo.inventory.clone(),
            inventory_format: args.repo.inventory_format,
            signing: args.repo.signing.clone(),
        };
        let desired = super::load_desired(&repo, args.hosts.limit.as_deref())?;
        let agent = crate::agent::choose(args.agent)?.artifact;
        if !args.yes && !super::apply::confirm(&desired)? {
            eprintln!("aborted; nothing was changed");
            return Ok(exit::OK);
        }
        return super::apply::run_rollout(&desired, &repo, agent, args.hosts.parallel, false, args.json);
    }
    let how = if args.default { Undo::Default } else { Undo::Previous };
    let desired = super::load_desired(&args.repo, args.hosts.limit.as_deref())?;
    if !args.yes {
        return Err(BadInput::new("rollback changes hosts: pass --yes to confirm").into());
    }
    let hosts: Vec<_> = desired.hosts.iter().map(|s| &s.host).collect();
    let started = Instant::now();
    let results = super::on_hosts(&desired, args.hosts.parallel, super::apply::CONNECT_TIMEOUT, async |pool| {
        rollout::undo(pool, &hosts, how).await
    })?;
    let wall = started.elapsed();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&results)?);
    } else {
        println!("{:<20} {:<16} {:<10} DETAIL", "HOST", "OUTCOME", "KERNEL");
        for r in &results {
            let outcome = serde_json::to_value(r.outcome)?.as_str().unwrap_or_default().to_owned();
            let line = format!(
                "{:<20} {:<16} {:<10} {}",
                r.host,
                outcome,
                r.kernel_state.as_deref().unwrap_or("-"),
                r.message.as_deref().unwrap_or("")
            );
            println!("{}", crate::terminal::clean(&line));
        }
    }
    let failed = results.iter().filter(|r| matches!(r.outcome, UndoOutcome::Failed | UndoOutcome::Unreachable)).count();
    eprintln!("{} host(s) in {:.2}s, {failed} failed", results.len(), wall.as_secs_f64());
    Ok(if failed > 0 { exit::HOSTS_FAILED } else { exit::OK })
}
