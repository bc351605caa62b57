//! Fault injection for tests of the kill windows of a change of scheduler:
//! `SCHEDFLEET_AGENT_FAULT=kill-after:<step>` makes the agent SIGKILL
//! itself right after `<step>`, as an OOM kill or a crash would, so a lab
//! test can reach each window between writing the intent and recording the
//! outcome, which no timing could hit reliably. Unset (always, outside
//! tests) it does nothing.
//!
//! The steps of `activate`, in order: `intent` (the write-ahead record is
//! on disk, nothing switched), `removed` (the running scheduler is out),
//! `attached` (the new one runs, no watchdog, no record of it),
//! `watchdog` (its watchdog runs, the record not written yet).

/// The steps a fault can follow, in the order `activate` passes them.
pub const STEPS: [&str; 4] = ["intent", "removed", "attached", "watchdog"];

const VAR: &str = "SCHEDFLEET_AGENT_FAULT";

/// Whether `setting` (the variable's value) asks for a kill after `step`.
pub fn kills_after(setting: &str, step: &str) -> bool {
    setting.strip_prefix("kill-after:") == Some(step)
}

/// Called by `activate` right after `step`: dies here when told to.
pub fn point(step: &str) {
    debug_assert!(STEPS.contains(&step), "unknown fault point `{step}`");
    let Some(setting) = std::env::var_os(VAR) else { return };
    if kills_after(&setting.to_string_lossy(), step) {
        crate::log::info(&format!("{VAR}: killed after step `{step}`"));
        // SAFETY: kill has no memory-safety preconditions.
        unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_named_step_kills() {
        assert!(kills_after("kill-after:attached", "attached"));
        assert!(!kills_after("kill-after:attached", "removed"));
        assert!(!kills_after("attached", "attached"));
        assert!(!kills_after("", "intent"));
    }
}
