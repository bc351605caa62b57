//! Taking our scheduler out and putting a loaded one in, each checked
//! against the kernel's own account. These are the mechanics that
//! `activate`, `rollback`, `deactivate` and the watchdog's fallback share;
//! which scheduler goes in, and what to do when it does not, is theirs.

use std::time::Duration;

use schedfleet_proto::{ActiveScheduler, ErrorKind, KernelSchedExt};

use super::object::{self, Loaded};
use crate::error::{Failure, Result};
use crate::scx::launch::{self, Launch};
use crate::{log, sched, store};

/// A scheduler ready to go in: a BPF object loaded (verified by the
/// kernel), or an upstream binary checked (digests of it and its
/// libraries), which its supervisor starts.
pub enum Ready {
    Object(Loaded),
    Binary(Box<Launch>),
}

/// Whether what the kernel runs is schedfleet's: our pin, or a supervised
/// binary of ours.
pub fn is_ours() -> bool {
    sched::link::is_pinned() || launch::running_supervisor().is_some()
}

/// Enabling walks every task of the host; emulated lab VMs are slow.
pub const ENABLE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the kernel may take to hand every task back; generous because
/// emulated lab VMs are slow.
pub const DISABLE_TIMEOUT: Duration = Duration::from_secs(10);

/// Loads (verifies) a scheduler the agent ran before, from the store, with
/// its parameters; the digest is checked again. Nothing is attached. A
/// binary is checked the same way (`Launch::prepare`).
pub fn load_stored(scheduler: &ActiveScheduler) -> Result<Ready> {
    if let Some(spec) = &scheduler.binary {
        return Launch::prepare(&scheduler.artifact, spec).map(|l| Ready::Binary(Box::new(l)));
    }
    let path = store::path_of(&scheduler.artifact);
    let bytes = store::read_verified(&path.to_string_lossy(), &scheduler.artifact)?;
    object::prepare(&bytes, &scheduler.params)?.load().map(Ready::Object)
}

/// Attaches (or starts the binary's supervisor), then waits until the
/// kernel reports the scheduler enabled under its ops name. Returns
/// `(ops, enable_seq, load_ms)`. When it does not get there the scheduler
/// is removed again and the host runs the kernel's default.
pub fn attach_and_check(ready: Ready) -> Result<(String, u64, u64)> {
    match ready {
        Ready::Object(loaded) => attach_object(loaded),
        Ready::Binary(launch) => launch.start(),
    }
}

fn attach_object(loaded: Loaded) -> Result<(String, u64, u64)> {
    let ops = loaded.ops_name.clone();
    let started = loaded.started;
    loaded.attach_and_pin()?;
    let (k, ok) = sched::kernel::wait_until(ENABLE_TIMEOUT, |k| k.state == "enabled")?;
    if ok && k.ops.as_deref() == Some(ops.as_str()) {
        return Ok((ops, k.enable_seq, started.elapsed().as_millis() as u64));
    }
    let _ = sched::link::unpin();
    let _ = sched::kernel::wait_until(DISABLE_TIMEOUT, |k| k.state == "disabled");
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

/// Unpins our scheduler (if any) and waits for `disabled`. A scheduler that
/// this agent did not load is left alone and reported; one on its way out
/// (`disabling`: ejected, or its pin removed by hand) is waited for.
pub fn remove_ours() -> Result<KernelSchedExt> {
    // A supervised binary: its supervisor stops it (SIGINT, the kernel seen
    // `disabled`, SIGKILL past a timeout) and leaves.
    if launch::stop_supervisor() {
        let (after, done) = sched::kernel::wait_until(DISABLE_TIMEOUT, |k| k.state == "disabled")?;
        if !done {
            return Err(Failure::new(
                ErrorKind::Internal,
                format!(
                    "the supervised scheduler stopped but sched_ext is still `{}` after {DISABLE_TIMEOUT:?}",
                    after.state
                ),
            ));
        }
        let _ = sched::link::unpin();
        return Ok(after);
    }
    let before = sched::kernel::read()?;
    if !sched::link::unpin()? {
        if before.state == "disabling" {
            let (after, done) = sched::kernel::wait_until(DISABLE_TIMEOUT, |k| k.state != "disabling")?;
            if done && after.state == "disabled" {
                return Ok(after);
            }
        }
        let before = sched::kernel::read()?;
        if before.state != "disabled" {
            return Err(Failure::new(
                ErrorKind::AlreadyActive,
                format!(
                    "scheduler `{}` was not loaded by schedfleet (no pin at `{}`); stop it with the tool that started it",
                    before.ops.as_deref().unwrap_or("?"),
                    sched::link::pin_path().display()
                ),
            ));
        }
        return Ok(before);
    }
    if before.state != "disabled" {
        log::info(&format!("removed scheduler `{}`", before.ops.as_deref().unwrap_or("?")));
    }
    let (after, done) = sched::kernel::wait_until(DISABLE_TIMEOUT, |k| k.state == "disabled")?;
    if !done {
        return Err(Failure::new(
            ErrorKind::Internal,
            format!("the pin is gone but sched_ext is still `{}` after {DISABLE_TIMEOUT:?}", after.state),
        ));
    }
    Ok(after)
}
