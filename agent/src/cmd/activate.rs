//! `activate`: verify, load, attach and check a scheduler, or leave the host
//! running what it ran before.
//!
//! The order is what makes a failed activation harmless: the digest is
//! checked and the object opened and parameterised first; then the kernel
//! verifies every program while the current scheduler keeps running; only
//! then is the current scheduler removed and the new one attached. If the
//! new one does not reach `enabled` with its own ops name, it is removed
//! and the previous one (kept in the store) is loaded again.
//!
//! Before anything running is touched, the change is written ahead in the
//! state file (`intent`, with the confirmed position to return to) and
//! cleared in the same write that records its outcome: an agent killed in
//! between leaves the intent, and the next agent command (or the watchdog,
//! or `recover` at boot) undoes the change (`deadman::recover`).
//!
//! With `--confirm-within` the new scheduler runs unconfirmed: the state
//! records it as pending, over the last confirmed scheduler, and a watchdog
//! process is started before the reply (see `deadman`). Without it, the new
//! scheduler is confirmed at once. Either way a watchdog of an earlier
//! unconfirmed activation is stopped first.

use std::time::{SystemTime, UNIX_EPOCH};

use schedfleet_proto::{Activated, ActiveScheduler, AgentState, ErrorKind, Intent, Pending};

use crate::cli::{self, ActivateArgs};
use crate::deadman::verdict::{self, Reason};
use crate::deadman::{fallback, fault, process, transition};
use crate::error::{Failure, Result};
use crate::sched::object;
use crate::sched::switch::{self, attach_and_check, Ready};
use crate::scx::launch::Launch;
use crate::scx::preflight;
use crate::{log, sched, state, store};

pub fn run(args: ActivateArgs) -> Result<Activated> {
    super::require_root_and_sched_ext()?;
    sched::libbpf_log::install();
    // Everything that can be refused is refused before the state lock and
    // before anything on the host changes.
    let (ready, ops_hint) = match &args.binary {
        Some(spec) => {
            if !args.params.is_empty() {
                return Err(Failure::new(
                    ErrorKind::Usage,
                    "a binary takes its arguments in `--binary`'s `args`, not `--param`",
                ));
            }
            let launch = Launch::prepare(&args.sha256, spec)?;
            if launch.source.as_os_str() != args.object.as_str() {
                return Err(Failure::new(
                    ErrorKind::Usage,
                    format!("the binary is `{}`, but `{}` was given", launch.source.display(), args.object),
                ));
            }
            preflight::check_binary(&launch)?;
            log::info(&format!("verified `{}` for `scx_{}`", args.object, spec.ops_name));
            (Ready::Binary(Box::new(launch)), format!("scx_{}", spec.ops_name))
        }
        None => {
            let bytes = store::read_verified(&args.object, &args.sha256)?;
            let loaded = object::prepare(&bytes, &args.params)?.load()?;
            log::info(&format!("verified and loaded `{}` ({} bytes)", loaded.ops_name, bytes.len()));
            let ops = loaded.ops_name.clone();
            (Ready::Object(loaded), ops)
        }
    };

    let (_lock, mut st) = super::lock_state()?;
    let competitors = preflight::competitors();
    if !competitors.is_empty() {
        if !args.takeover {
            return Err(preflight::refusal(&competitors));
        }
        preflight::take_over(&competitors)?;
    }
    let kernel = sched::kernel::read()?;
    let ours = switch::is_ours();
    if kernel.state != "disabled" && (!args.replace || !ours) {
        let whose = if ours { "loaded by schedfleet; pass --replace to switch" } else { "not loaded by schedfleet" };
        return Err(Failure::new(
            ErrorKind::AlreadyActive,
            format!("scheduler `{}` is already active ({whose})", kernel.ops.as_deref().unwrap_or("?")),
        ));
    }
    let kernel_agrees = sched::kernel::agrees(&kernel, st.active.as_ref());
    let last_confirmed = transition::last_confirmed(&st, kernel_agrees);
    super::stop_watchdog(&st);
    // What to put back should the new scheduler not come up: what runs
    // now, unless that is itself unconfirmed (its watchdog is gone now),
    // then the confirmed one under it.
    let restore_target = match (kernel.state.as_str(), st.pending.is_some()) {
        ("disabled", _) => None,
        (_, true) => last_confirmed.clone(),
        (_, false) => st.active.clone(),
    };
    // Write-ahead: from here until the outcome is recorded, a later agent
    // that finds this intent knows this one died and undoes the change
    // (see `deadman::recover`).
    st.intent = Some(Intent {
        artifact: args.sha256.clone(),
        ops: ops_hint,
        started: now(),
        pid: std::process::id(),
        previous: restore_target.clone(),
    });
    state::save(&st)?;
    fault::point("intent");
    // With sched_ext `disabled`, what is removed is a pin left behind by a
    // scheduler the kernel ejected (it would block the new one), or a
    // supervised binary between two starts.
    let removed = switch::remove_ours().map(drop);
    if let Err(failure) = removed {
        // Nothing was switched: the intent goes.
        st.intent = None;
        state::save(&st)?;
        return Err(failure);
    }
    fault::point("removed");
    st.pending = None;
    st.active = None;

    let (ops, enable_seq, load_ms) = match attach_and_check(ready) {
        Ok(up) => up,
        Err(mut failure) => {
            st.intent = None;
            failure.message.push_str(&restore(restore_target, &mut st));
            return Err(failure);
        }
    };
    fault::point("attached");
    // Every outcome below is recorded in the same write that clears the intent.
    st.intent = None;
    let active = ActiveScheduler {
        artifact: args.sha256.clone(),
        ops: ops.clone(),
        params: args.params,
        commit: args.commit,
        since: now(),
        enable_seq,
        confirmed: args.confirm.is_none(),
        binary: args.binary.clone(),
    };
    let Some(confirm) = args.confirm else {
        transition::record_confirmed_activation(&mut st, active.clone(), last_confirmed);
        state::save(&st)?;
        return Ok(Activated { active, kernel: sched::kernel::read()?, load_ms, watchdog_pid: None, deadline: None });
    };

    let deadline = verdict::deadline(now_ms(), confirm.within);
    let mut pending = Pending {
        artifact: args.sha256.clone(),
        ops,
        enable_seq,
        deadline,
        confirm_within: confirm.within,
        previous: last_confirmed,
        watchdog_pid: 0,
    };
    // The watchdog waits for the state lock, held here until the pending
    // record with its pid is written.
    match process::spawn(&cli::watch_command_line(&args.sha256, enable_seq, &confirm)) {
        Ok(pid) => pending.watchdog_pid = pid,
        Err(e) => {
            // Nothing would supervise it: revert now rather than leave an
            // unconfirmed scheduler that never falls back.
            let reason = Reason::NoWatchdog { error: e.message.clone() };
            transition::record_pending_activation(&mut st, active, pending.clone());
            let fb = fallback::fall_back(&mut st, &pending, &reason, None, std::time::Instant::now());
            state::save(&st)?;
            let mut failure = Failure::new(ErrorKind::Internal, format!("{}; fell back to {}", fb.reason, fb.to));
            failure.last_fallback = Some(Box::new(fb));
            return Err(failure);
        }
    }
    fault::point("watchdog");
    log::info(&format!("`{}` runs unconfirmed until {deadline}; watchdog pid {}", active.ops, pending.watchdog_pid));
    let watchdog_pid = pending.watchdog_pid;
    transition::record_pending_activation(&mut st, active, pending);
    state::save(&st)?;
    Ok(Activated {
        active: st.active.clone().expect("just recorded"),
        kernel: sched::kernel::read()?,
        load_ms,
        watchdog_pid: Some(watchdog_pid),
        deadline: Some(deadline),
    })
}

/// Puts the previous scheduler back after a failed switch; returns what to
/// add to the error message. The state records what runs afterwards.
pub(super) fn restore(previous: Option<ActiveScheduler>, st: &mut AgentState) -> String {
    let Some(prev) = previous else {
        st.active = None;
        let _ = state::save(st);
        return "; the host runs the kernel's default scheduler, as before".into();
    };
    match switch::load_stored(&prev).and_then(attach_and_check) {
        Ok((_, enable_seq, _)) => {
            st.active = Some(ActiveScheduler { enable_seq, since: now(), confirmed: true, ..prev.clone() });
            let _ = state::save(st);
            format!("; restored the previous scheduler `{}`", prev.ops)
        }
        Err(e) => {
            st.active = None;
            let _ = state::save(st);
            format!(
                "; restoring the previous scheduler `{}` failed too ({}); the host runs the kernel's default scheduler",
                prev.ops, e.message
            )
        }
    }
}

fn now() -> u64 {
    state::unix_now()
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}
