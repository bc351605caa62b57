//! `schedfleet plan`: per host, what runs against what the repository
//! wants, and what `apply` would do. Exit 0 when nothing would change, 1
//! when something would, 4 when hosts could not be planned.

use anyhow::Result;
use schedfleet_fleet::collect::CollectOptions;
use schedfleet_fleet::plan::{self, Action, PlanReport};

use crate::args::PlanArgs;
use crate::exit;

pub fn run(args: PlanArgs) -> Result<u8> {
    let desired = super::load_desired(&args.repo, args.hosts.limit.as_deref())?;
    let opts = CollectOptions::default();
    let report = super::on_hosts(&desired, args.hosts.parallel, super::apply::CONNECT_TIMEOUT, async |pool| {
        plan::plan(pool, &desired, &opts).await
    })?;
    if args.json {
        crate::output::print_versioned(crate::output::Output::Plan, &report)?;
    } else {
        print_table(&report);
    }
    Ok(if report.failures() > 0 {
        exit::HOSTS_FAILED
    } else if report.changes() > 0 {
        exit::CHANGES
    } else {
        exit::OK
    })
}

fn print_table(report: &PlanReport) {
    println!("{:<20} {:<12} {:<14} {:<13}  DETAIL", "HOST", "ACTION", "SCHEDULER", "ARTIFACT");
    for h in &report.hosts {
        let action = h.action.map_or(h.reach.as_str(), Action::as_str);
        let line = format!("{:<20} {:<12} {:<14} {:<13}  {}", h.host, action, h.scheduler, &h.artifact[..12], h.reason);
        println!("{}", crate::terminal::clean(&line));
    }
    let changes = report.changes();
    if changes == 0 && report.failures() == 0 {
        eprintln!("commit {}: no changes", &report.commit[..12]);
    } else {
        eprintln!(
            "commit {}: {changes} host(s) would change, {} could not be planned",
            &report.commit[..12],
            report.failures()
        );
    }
}
