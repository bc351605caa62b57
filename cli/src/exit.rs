//! The exit codes of `schedfleet`, one meaning each. They are documented in
//! the README and relied on by scripts and cron jobs: never renumber them.

/// Success; nothing to change; no drift.
pub const OK: u8 = 0;
/// `plan`: changes pending; `drift`: drift found.
pub const CHANGES: u8 = 1;
/// Bad input or usage: nothing on any host was touched.
pub const BAD_INPUT: u8 = 2;
/// Rollout halted by a health gate; affected hosts fell back or were rolled back.
pub const HALTED: u8 = 3;
/// Some hosts failed or were unreachable beyond the failure budget.
pub const HOSTS_FAILED: u8 = 4;
/// Another rollout holds the lock.
pub const LOCKED: u8 = 5;
