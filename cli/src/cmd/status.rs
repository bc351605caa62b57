//! `schedfleet status`: every selected host's health report from its agent,
//! collected in parallel, as a table or JSON; unreachable hosts are listed,
//! never hidden. Reports are appended to the status history.

use anyhow::Result;
use schedfleet_fleet::collect::{self, CollectOptions, Collected, Reach};
use schedfleet_fleet::state::history;
use schedfleet_proto::StatusRequest;

use crate::args::StatusArgs;
use crate::exit;

pub fn run(args: StatusArgs) -> Result<u8> {
    let desired = super::load_desired(&args.repo, args.hosts.limit.as_deref())?;
    let hosts: Vec<_> = desired.hosts.iter().map(|s| &s.host).collect();
    let probes = desired.fleet.health.probes_json();
    let status = StatusRequest {
        latency_window_ms: args.latency_window.as_millis() as u64,
        cgroup: args.cgroup.clone(),
        probes_json: probes,
    };
    let opts = CollectOptions { status, ..CollectOptions::default() };
    let answers = super::on_hosts(&desired, args.hosts.parallel, super::apply::CONNECT_TIMEOUT, async |pool| {
        collect::collect(pool, &hosts, &opts).await
    })?;
    let now = super::now_secs();
    if let Err(e) = history::append(now, answers.iter().map(|a| (a.host.as_str(), a))) {
        eprintln!("note: status history not written: {e}");
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&answers)?);
    } else {
        print_table(&answers, now);
    }
    say_agent();
    let failed = answers.iter().filter(|a| a.reach != Reach::Ok).count();
    Ok(if failed > 0 { exit::HOSTS_FAILED } else { exit::OK })
}

/// Which agent `apply` would push from here, on stderr (stdout stays data).
fn say_agent() {
    let flag = std::env::var_os("SCHEDFLEET_AGENT").map(std::path::PathBuf::from);
    let from_env = flag.is_some();
    match crate::agent::choose(flag) {
        Ok(agent) if from_env => {
            eprintln!(
                "agent: apply pushes sha256:{} (`{}`, from SCHEDFLEET_AGENT)",
                agent.artifact.digest, agent.origin
            )
        }
        Ok(agent) => eprintln!(
            "agent: apply pushes schedfleet-agent {} sha256:{} ({})",
            crate::agent::EMBEDDED_VERSION,
            agent.artifact.digest,
            agent.origin
        ),
        Err(e) => eprintln!("agent: apply would refuse to push: {e:#}"),
    }
}

fn age(now: u64, since: u64) -> String {
    let s = now.saturating_sub(since);
    match s {
        0..=119 => format!("{s}s ago"),
        120..=7199 => format!("{}m ago", s / 60),
        7200..=172_799 => format!("{}h ago", s / 3600),
        _ => format!("{}d ago", s / 86_400),
    }
}

fn print_table(answers: &[Collected], now: u64) {
    println!(
        "{:<20} {:<14} {:<10} {:<10} {:>10} {:<8}  LAST FALLBACK",
        "HOST", "SCHEDULER", "STATE", "SINCE", "P99 WAKE", "PROBES"
    );
    for a in answers {
        let Some(st) = &a.status else {
            let why = match a.reach {
                Reach::Ok => "no schedfleet agent on the host".to_owned(),
                _ => a.error.clone().unwrap_or_default(),
            };
            let line = format!(
                "{:<20} {:<14} {:<10} {:<10} {:>10} {:<8}  {}",
                a.host,
                "-",
                a.reach.as_str(),
                "-",
                "-",
                "-",
                why
            );
            println!("{}", crate::terminal::clean(&line));
            continue;
        };
        let scheduler = st.kernel.ops.clone().unwrap_or_else(|| "default".into());
        let state = if st.kernel_agrees { st.kernel.state.clone() } else { format!("{}!", st.kernel.state) };
        let since = st.active.as_ref().map_or("-".into(), |a| age(now, a.since));
        let p99 = st.latency.as_ref().and_then(|l| l.p99_us).map_or("-".into(), |us| format!("{us}us"));
        let fallback = st.last_ejection.as_ref().map_or("-".into(), |e| format!("`{}`: {}", e.ops, e.reason));
        let probes = match st.probes.iter().filter(|p| !p.ok).map(|p| p.name.as_str()).collect::<Vec<_>>() {
            _ if st.probes.is_empty() => "-".to_owned(),
            failed if failed.is_empty() => format!("{} ok", st.probes.len()),
            failed => format!("{} failed", failed.join(",")),
        };
        let line = format!(
            "{:<20} {:<14} {:<10} {:<10} {:>10} {:<8}  {}",
            a.host, scheduler, state, since, p99, probes, fallback
        );
        println!("{}", crate::terminal::clean(&line));
        if let Some(s) = &st.supervised {
            println!("{}", crate::terminal::clean(&format!("{:<20} {}", "", supervised_line(s, st, now))));
        }
    }
}

/// The supervised process of an upstream binary, in one indented line:
/// pid and uptime (or down), restarts, the last exit and its cause, how
/// many scx_stats fields it served.
fn supervised_line(s: &schedfleet_proto::Supervised, st: &schedfleet_proto::Status, now: u64) -> String {
    use schedfleet_proto::ExitCause;
    let mut parts = vec![match (s.pid, s.started) {
        (Some(pid), Some(started)) => format!("process {pid} up since {}", age(now, started)),
        (Some(pid), None) => format!("process {pid}"),
        (None, _) => "process down (restarting)".to_owned(),
    }];
    parts.push(format!("{} restart(s)", s.restarts));
    if let Some(e) = &s.last_exit {
        let cause = match &e.cause {
            ExitCause::Exited { code } => format!("exited with code {code}"),
            ExitCause::Signaled { signal } => format!("killed by signal {signal}"),
            ExitCause::Ejected { reason } => format!("ejected by the kernel: {reason}"),
            ExitCause::Stopped => "stopped by schedfleet".to_owned(),
            ExitCause::StartTimeout => "not enabled within its start timeout".to_owned(),
        };
        parts.push(format!("last exit {}: pid {} {cause}", age(now, e.at), e.pid));
    }
    match (&st.scx_stats, &st.scx_stats_error) {
        (Some(v), _) => parts.push(format!("scx_stats: {} field(s)", v.as_object().map_or(0, |o| o.len()))),
        (None, Some(e)) => parts.push(format!("scx_stats: {e}")),
        _ => {}
    }
    parts.join("; ")
}
