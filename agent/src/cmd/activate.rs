//! `activate`: verify, load, attach and check a scheduler, or leave the host
//! running what it ran before.
//!
//! The order is what makes a failed activation harmless: the digest is
//! checked and the object opened and parameterised first; then the kernel
//! verifies every program while the current scheduler keeps running; only
//! then is the current scheduler removed and the new one attached. If the
//! new one does not reach `enabled` with its own ops name, it is removed
//! and the previous one (kept in the store) is loaded again.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use schedfleet_proto::{Activated, ActiveScheduler, AgentState, ErrorKind};

use crate::cli::ActivateArgs;
use crate::error::{Failure, Result};
use crate::sched::object::{self, Loaded};
use crate::{log, sched, state, store};

/// Enabling walks every task of the host; emulated lab VMs are slow.
const ENABLE_TIMEOUT: Duration = Duration::from_secs(10);

pub fn run(args: ActivateArgs) -> Result<Activated> {
    super::require_root_and_sched_ext()?;
    sched::libbpf_log::install();
    let bytes = store::read_verified(&args.object, &args.sha256)?;
    let loaded = object::prepare(&bytes, &args.params)?.load()?;
    log::info(&format!("verified and loaded `{}` ({} bytes)", loaded.ops_name, bytes.len()));

    let mut st = state::load()?;
    let kernel = sched::kernel::read()?;
    let previous = if kernel.state != "disabled" {
        if !args.replace || !sched::link::is_pinned() {
            let whose = if sched::link::is_pinned() {
                "loaded by schedfleet; pass --replace to switch"
            } else {
                "not loaded by schedfleet"
            };
            return Err(Failure::new(
                ErrorKind::AlreadyActive,
                format!("scheduler `{}` is already active ({whose})", kernel.ops.as_deref().unwrap_or("?")),
            ));
        }
        super::deactivate::remove_ours()?;
        st.active.take()
    } else {
        // The kernel runs its default scheduler. A pin left behind means our
        // scheduler was ejected by the kernel: the pin holds a dead link and
        // would block the new one.
        if sched::link::unpin()? {
            log::info("removed the pin of a scheduler the kernel had already disabled");
        }
        st.active.take();
        None
    };

    match attach_and_check(loaded) {
        Ok((ops, enable_seq, load_ms)) => {
            let active = ActiveScheduler {
                artifact: args.sha256,
                ops,
                params: args.params,
                commit: args.commit,
                since: now(),
                enable_seq,
            };
            st.active = Some(active.clone());
            state::save(&st)?;
            Ok(Activated { active, kernel: sched::kernel::read()?, load_ms })
        }
        Err(mut failure) => {
            failure.message.push_str(&restore(previous, &mut st));
            Err(failure)
        }
    }
}

/// Attaches, then waits until the kernel reports the scheduler enabled
/// under its own ops name. Returns `(ops, enable_seq, load_ms)`.
fn attach_and_check(loaded: Loaded) -> Result<(String, u64, u64)> {
    let ops = loaded.ops_name.clone();
    let started = loaded.started;
    loaded.attach_and_pin()?;
    let (k, ok) = sched::kernel::wait_until(ENABLE_TIMEOUT, |k| k.state == "enabled")?;
    if ok && k.ops.as_deref() == Some(ops.as_str()) {
        return Ok((ops, k.enable_seq, started.elapsed().as_millis() as u64));
    }
    let _ = sched::link::unpin();
    let _ = sched::kernel::wait_until(super::deactivate::DISABLE_TIMEOUT, |k| k.state == "disabled");
    let said = sched::kernel::last_kernel_message().unwrap_or_else(|| "nothing".into());
    Err(Failure::new(
        ErrorKind::NotEnabled,
        format!(
            "scheduler `{ops}` did not stay enabled (kernel state `{}`, ops `{}`); kernel log says: {said}",
            k.state,
            k.ops.as_deref().unwrap_or("none")
        ),
    ))
}

/// Puts the previous scheduler back after a failed switch; returns what to
/// add to the error message.
fn restore(previous: Option<ActiveScheduler>, st: &mut AgentState) -> String {
    let Some(prev) = previous else {
        let _ = state::save(st);
        return "; the host runs the kernel's default scheduler, as before".into();
    };
    let path = store::path_of(&prev.artifact);
    let attempt = store::read_verified(&path.to_string_lossy(), &prev.artifact)
        .and_then(|bytes| object::prepare(&bytes, &prev.params)?.load())
        .and_then(attach_and_check);
    match attempt {
        Ok((_, enable_seq, _)) => {
            st.active = Some(ActiveScheduler { enable_seq, since: now(), ..prev.clone() });
            let _ = state::save(st);
            format!("; restored the previous scheduler `{}`", prev.ops)
        }
        Err(e) => {
            let _ = state::save(st);
            format!(
                "; restoring the previous scheduler `{}` failed too ({}); the host runs the kernel's default scheduler",
                prev.ops, e.message
            )
        }
    }
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}
