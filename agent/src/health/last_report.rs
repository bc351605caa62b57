//! The memory of the previous `status`: the kernel's `enable_seq` it saw,
//! in `<agent root>/last_report.json`, so a report can say whether a
//! scheduler was loaded in between by anyone (a rollout, an operator, a
//! scheduler restarting itself). `enable_seq` counts every load since boot
//! and never goes back; after a reboot it starts over, which also reads as
//! a change unless it happens to land on the same value.
//!
//! Fails soft: an unreadable file means "unknown" (absent in the report),
//! and a file that cannot be written (the agent not root, a read-only disk)
//! only costs the next report its answer.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{log, state};

#[derive(Debug, Serialize, Deserialize)]
struct LastReport {
    enable_seq: u64,
    /// Seconds since the Unix epoch, for people reading the file.
    at: u64,
}

fn path() -> PathBuf {
    state::root().join("last_report.json")
}

/// Records `enable_seq` as the latest seen and says whether it differs
/// from the one recorded before; `None` when there was none.
pub fn exchange(enable_seq: u64) -> Option<bool> {
    exchange_at(&path(), enable_seq)
}

fn exchange_at(path: &Path, enable_seq: u64) -> Option<bool> {
    let previous = std::fs::read(path).ok().and_then(|b| serde_json::from_slice::<LastReport>(&b).ok());
    let at = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let bytes = serde_json::to_vec(&LastReport { enable_seq, at }).expect("the last report always serializes");
    if let Err(e) = state::write_atomic(path, &bytes, 0o600) {
        log::debug(&format!("cannot remember this report: {}", e.message));
    }
    previous.map(|p| p.enable_seq != enable_seq)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_report_knows_nothing_then_changes_are_seen() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("last_report.json");
        assert_eq!(exchange_at(&file, 3), None);
        assert_eq!(exchange_at(&file, 3), Some(false));
        assert_eq!(exchange_at(&file, 4), Some(true));
        assert_eq!(exchange_at(&file, 4), Some(false));
        std::fs::write(&file, b"{corrupt").unwrap();
        assert_eq!(exchange_at(&file, 4), None);
        assert_eq!(exchange_at(&file, 4), Some(false), "a corrupt file is replaced");
    }

    #[test]
    fn an_unwritable_root_costs_only_the_answer() {
        assert_eq!(exchange_at(Path::new("/proc/no-such-dir/last_report.json"), 1), None);
    }
}
