//! Upstream scheduler binaries (the sched-ext/scx project's `scx_*`): the
//! agent runs each one as the child of a supervisor process of its own and
//! treats it, everywhere else, like a BPF object it loaded itself.
//!
//! `launch` checks a binary and starts its supervisor; `supervisor` is that
//! process's loop (start, wait for `enabled`, classify every end, restart
//! per policy, fall back past the cap, stop on request); `record` is the
//! supervisor's file that `activate`, `status` and `sched::switch` read;
//! `restart` and `exit` are its pure decisions; `logfile` the bounded log
//! of the scheduler's output; `stats` the scx_stats client `status` uses;
//! `preflight` what `activate` refuses before any change; `elf` the
//! `DT_NEEDED` reader preflight uses. `sched::switch` makes a binary one
//! more kind of scheduler (`Ready::Binary`), so activate, confirm, the
//! watchdog, rollback, deactivate and recover handle both kinds alike.
//!
//! # Restarts, the watchdog and `kernel_agrees`
//!
//! A supervisor restart is a new load for the kernel: `enable_seq` moves,
//! and between the end and the new start sched_ext reads `disabled`. For an
//! object either would mean someone else acted; for a supervised binary it
//! is the supervisor doing its job. So:
//!
//! - Once a restart reaches `enabled`, the supervisor writes the new
//!   `enable_seq` (and ops) into the state file, under the state lock, into
//!   `active` and into `pending` when the activation is unconfirmed. From
//!   then on `kernel_agrees` holds again, and the watchdog and `confirm`
//!   compare against the new value. (A scheduler that re-attaches itself
//!   within one process, as scx binaries do on a CPU hotplug, is recorded
//!   the same way.)
//! - While a restart is under way `kernel_agrees` is false: that is the
//!   truth (the kernel runs its default), and `status` shows the
//!   supervisor's phase and last exit beside it.
//! - The watchdog of an unconfirmed binary leaves process-level failures
//!   (`disabled`, a changed `enable_seq`) to the supervisor while the
//!   supervisor lives: the restart policy decides, and past its cap the
//!   supervisor itself falls back (as the watchdog would, with the cause).
//!   The deadline, the probes and a dead supervisor stay the watchdog's.
//! - `confirm` applies the watchdog's verdict to what the kernel runs at
//!   that moment: a binary caught between two starts is not confirmed, it
//!   is reverted. A bake that saw a restart confirms only a scheduler that
//!   is up again.
//! - A supervisor that is killed takes its scheduler with it
//!   (`PR_SET_PDEATHSIG`): no scheduler runs unsupervised; the host is then
//!   on the kernel's default, `kernel_agrees` is false, and an unconfirmed
//!   activation's watchdog falls back.

pub mod elf;
pub mod exit;
pub mod launch;
pub mod logfile;
pub mod preflight;
pub mod record;
pub mod restart;
pub mod stats;
pub mod supervisor;
