//! `schedfleet lab up|down|status`: arguments in, the engine's
//! [`schedfleet_fleet::lab::Lab`] does the work, results out. The hosts go
//! to stdout (a table, or JSON with `--json`); progress, boot times and
//! hints go to stderr.

use std::io::Write;
use std::time::Duration;

use anyhow::Context;
use schedfleet_fleet::lab::{Lab, LabEvent, LabHost};

use crate::args::{LabCommand, LabDirArgs, LabStatusArgs, LabUpArgs};
use crate::exit;

pub fn run(command: LabCommand) -> anyhow::Result<u8> {
    match command {
        LabCommand::Up(args) => up(args),
        LabCommand::Down(args) => down(args),
        LabCommand::Status(args) => status(args),
    }
}

fn open(dir: LabDirArgs) -> anyhow::Result<Lab> {
    Ok(Lab::open(dir.lab_dir)?)
}

fn up(args: LabUpArgs) -> anyhow::Result<u8> {
    let lab = open(args.dir)?.with_kernel(args.kernel).with_cpus(args.cpus);
    let hosts = usize::from(args.hosts);
    eprintln!("lab: bringing up {hosts} VM(s) in `{}`", lab.dir().display());
    let hosts = lab.up_with(hosts, &report).context("lab up failed")?;
    print_table(&hosts)?;
    print_hint(&hosts);
    Ok(exit::OK)
}

fn down(args: LabDirArgs) -> anyhow::Result<u8> {
    let lab = open(args)?;
    let stopped = lab.down_with(&report).context("lab down failed")?;
    if stopped.is_empty() {
        eprintln!("lab: no VMs were running in `{}`", lab.dir().display());
    }
    Ok(exit::OK)
}

fn status(args: LabStatusArgs) -> anyhow::Result<u8> {
    let lab = open(args.dir)?;
    let survey = lab.survey()?;
    for stale in &survey.stale {
        let pid = stale.pid.map_or_else(|| "is unreadable".to_owned(), |pid| format!("names pid {pid}, which is gone"));
        eprintln!(
            "lab: {}: not running (its PID file {pid}); `schedfleet lab up` restarts it, `schedfleet lab down` forgets it",
            stale.name
        );
    }
    if args.json {
        let mut out = std::io::stdout().lock();
        serde_json::to_writer_pretty(&mut out, &survey.running)?;
        writeln!(out)?;
    } else if survey.running.is_empty() {
        eprintln!("lab: no VMs running in `{}`; start them with `schedfleet lab up`", lab.dir().display());
    } else {
        print_table(&survey.running)?;
        print_hint(&survey.running);
    }
    Ok(exit::OK)
}

/// Progress on stderr, one line per event.
fn report(event: LabEvent) {
    let line = match event {
        LabEvent::WaitingForLock { lock } => {
            format!("waiting for another `schedfleet lab` command (lock `{}`)", lock.display())
        }
        LabEvent::ImageReady { path, bytes, rebuilt, took } => format!(
            "base image `{}` ({:.1} MiB, {})",
            path.display(),
            bytes as f64 / (1024.0 * 1024.0),
            if rebuilt { format!("built in {}", seconds(took)) } else { "cached".to_owned() }
        ),
        LabEvent::KernelReady { release, path, fallback_reason } => match fallback_reason {
            None => format!("kernel {release} `{}`", path.display()),
            Some(why) => format!("kernel {release} `{}` (compressed, boots slower: {why})", path.display()),
        },
        LabEvent::Kept { name, pid, port, kernel } => {
            format!("{name}: already running (pid {pid}, port {port}, kernel {kernel})")
        }
        LabEvent::Started { name, pid, port, console } => {
            format!("{name}: booting (pid {pid}, port {port}, console `{}`)", console.display())
        }
        LabEvent::Ready { name, took, kept: false } => format!("{name}: ssh answered after {}", seconds(took)),
        LabEvent::Ready { name, took, kept: true } => format!("{name}: ssh answers ({})", seconds(took)),
        LabEvent::Rebooting { name, kept_console } => format!(
            "{name}: its kernel panicked while booting (console kept at `{}`); booting it once more",
            kept_console.display()
        ),
        LabEvent::Extra { name, pid } => {
            format!("{name}: also running (pid {pid}), beyond the hosts asked for; `schedfleet lab down` stops it")
        }
        LabEvent::Stopped { name, pid } => format!("{name}: stopped (pid {pid})"),
        LabEvent::StaleRemoved { name, pid } => match pid {
            Some(pid) => format!("{name}: removed a stale PID file (pid {pid} is no lab VM; nothing was signalled)"),
            None => format!("{name}: removed an unreadable PID file"),
        },
        // The event enum is non-exhaustive: say something rather than nothing.
        other => format!("{other:?}"),
    };
    eprintln!("lab: {line}");
}

fn seconds(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

fn print_table(hosts: &[LabHost]) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    let name_width = hosts.iter().map(|h| h.name.len()).max().unwrap_or(0).max("NAME".len());
    writeln!(out, "{:<name_width$}  {:<9}  {:>5}  {:<4}  {:>8}  KERNEL", "NAME", "ADDRESS", "PORT", "USER", "PID")?;
    for h in hosts {
        writeln!(
            out,
            "{:<name_width$}  {:<9}  {:>5}  {:<4}  {:>8}  {}",
            h.name, h.address, h.port, h.user, h.pid, h.kernel
        )?;
    }
    Ok(())
}

/// How to log in by hand, on stderr so that stdout stays a table.
fn print_hint(hosts: &[LabHost]) {
    if let Some(h) = hosts.first() {
        eprintln!(
            "lab: log in with: ssh -i {} -o UserKnownHostsFile={} -o StrictHostKeyChecking=yes -p {} {}@{}",
            h.identity_file.display(),
            h.known_hosts_file.display(),
            h.port,
            h.user,
            h.address
        );
    }
}
