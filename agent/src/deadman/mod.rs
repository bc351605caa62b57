//! Two-phase activation: `activate --confirm-within` runs a scheduler
//! unconfirmed, with a watchdog process that reverts it to the last
//! confirmed scheduler (or the kernel's default) when the kernel ejects it,
//! someone reloads, a user probe fails, or `confirm` does not come in time.
//!
//! `transition` holds the state file's transitions (confirmed position,
//! pending, previous, last fallback) and `verdict` the decisions on the
//! kernel's state, the probes and the clock, both pure and tested without a
//! kernel. `fallback` does the revert, `watchdog` is the `watch` process's
//! loop, and `process` starts, finds and stops that process. `recover`
//! undoes a change of scheduler whose agent was killed mid-way (found by
//! its write-ahead intent), and `fault` kills the agent at a chosen step,
//! for the tests of those windows. Loading and
//! switching schedulers is `sched::switch`'s; the commands are in `cmd/`.

pub mod fallback;
pub mod fault;
pub mod process;
pub mod recover;
pub mod transition;
pub mod verdict;
pub mod watchdog;
