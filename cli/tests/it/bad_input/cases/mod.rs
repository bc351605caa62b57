//! The bad-input cases, one table per kind of config file that holds the
//! mistake: `fleet.yaml`'s assignments, its rollout and health policy, host
//! patterns, `inventory.yaml`, scheduler files, the `groups/` and `hosts/`
//! override files, and the repository itself. `runner.rs` runs them all.

pub(super) mod fleet;
pub(super) mod inventory;
pub(super) mod overrides;
pub(super) mod patterns;
pub(super) mod repo;
pub(super) mod rollout;
pub(super) mod schedulers;
