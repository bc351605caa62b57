//! One file per agent command. Each returns the document that goes on
//! stdout, already as JSON, so `main` prints exactly one reply.

mod activate;
mod confirm;
mod deactivate;
mod lease;
mod recover;
mod rollback;
mod status;
mod watch;

use schedfleet_proto::{AgentState, ErrorKind};
use serde_json::Value;

use crate::cli::Command;
use crate::deadman::process;
use crate::error::{Failure, Result};

pub fn run(command: Command) -> Result<Value> {
    // Every command that reads or writes the agent's files first makes sure
    // they are root-only (see `state::check_root`).
    // A supervisor's stderr is `/dev/null`: it logs to its own file from
    // the start, so that even a failure of the check below is on record.
    if matches!(command, Command::Supervise { .. }) {
        crate::scx::supervisor::log_to_own_file();
    }
    if !matches!(command, Command::Version | Command::Facts) {
        crate::state::check_root()?;
    }
    let value = match command {
        Command::Version => json(&serde_json::json!({ "agent_version": env!("CARGO_PKG_VERSION") })),
        Command::Facts => json(&crate::facts::collect()),
        Command::Status(args) => json(&status::run(args)?),
        Command::Activate(args) => json(&activate::run(args)?),
        Command::Confirm { artifact } => json(&confirm::run(&artifact)?),
        Command::Rollback => json(&rollback::run()?),
        Command::Deactivate => json(&deactivate::run()?),
        Command::Recover => json(&recover::run()?),
        Command::LeaseAcquire { owner, ttl } => json(&lease::acquire(&owner, ttl)?),
        Command::LeaseRelease { owner } => json(&lease::release(&owner)?),
        Command::Watch(args) => json(&watch::run(args)?),
        Command::Supervise { artifact } => json(&crate::scx::supervisor::run(&artifact)?),
        Command::StoreHas(digests) => json(&crate::store::has(&digests)),
        Command::StorePut(digest) => json(&crate::store::put(&digest, &mut std::io::stdin().lock())?),
    };
    Ok(value)
}

fn json<T: serde::Serialize>(doc: &T) -> Value {
    serde_json::to_value(doc).expect("agent documents always serialize")
}

/// Takes the state lock and reads the state, first undoing a change of
/// scheduler an agent killed mid-way left (see `deadman::recover`): every
/// command that changes the host starts from a finished state.
fn lock_state() -> Result<(crate::state::FileLock, AgentState)> {
    let lock = crate::state::lock()?;
    let mut st = crate::state::load()?;
    crate::deadman::recover::recover(&mut st)?;
    Ok((lock, st))
}

/// Stops the watchdog of the pending activation in `st`, if any. Callers
/// hold the state lock, so it is never stopped halfway through a fallback.
fn stop_watchdog(st: &AgentState) {
    if let Some(pending) = &st.pending {
        process::stop(pending.watchdog_pid, &pending.artifact);
    }
}

/// Loading and removing schedulers needs root and a kernel with sched_ext;
/// say which is missing before anything else happens.
fn require_root_and_sched_ext() -> Result<()> {
    if !crate::facts::is_root() {
        return Err(Failure::new(ErrorKind::NotRoot, "loading BPF schedulers needs root; run the agent as root"));
    }
    if !crate::sched::kernel::present() {
        let release = crate::facts::collect().kernel_release;
        return Err(Failure::new(
            ErrorKind::NoSchedExt,
            format!("kernel `{release}` has no sched_ext (no /sys/kernel/sched_ext); boot a kernel built with CONFIG_SCHED_CLASS_EXT=y"),
        ));
    }
    Ok(())
}
