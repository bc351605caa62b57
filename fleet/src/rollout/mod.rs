//! Canary rollouts: `apply` rolls the desired state out in waves, bakes
//! each wave while its health gates hold, confirms healthy hosts (whose
//! agents otherwise revert by themselves), and halts and rolls back past
//! the failure budget.
//!
//! `waves` cuts the hosts into waves, `gate` judges one host's status during
//! its bake, `run` is the rollout itself over [`HostOps`] (tested with
//! paused time and a fleet in memory), `remote` is [`HostOps`] over the run's pool,
//! `start` ties in the lock, the journal, the plan, the run's pool of host
//! sessions and Ctrl-C, `undo` is the all-at-once `rollback --previous` /
//! `--default`, and `dry_run` shows the rollout `apply` would start.

mod dry_run;
mod gate;
mod remote;
mod run;
mod start;
mod undo;
mod waves;

pub use dry_run::{dry_run, DryRunHost, DryRunReport};
pub use gate::{evaluate, Baseline, GateReport};
pub use run::{
    rollout, Halt, HaltKind, HostOps, HostResult, HostState, NoProgress, Progress, RolloutReport, RolloutTiming,
};
pub use start::{start, Locked, RolloutOptions};
pub use undo::{undo, Undo, UndoOutcome, UndoResult};
pub use waves::{waves, Wave};
