//! `status`: what the kernel runs, what the agent believes it loaded, and
//! whether the two agree.

use schedfleet_proto::{ActiveScheduler, KernelSchedExt, Status};

use crate::error::Result;
use crate::{sched, state};

pub fn run() -> Result<Status> {
    let kernel = sched::kernel::read()?;
    let active = state::load()?.active;
    let kernel_agrees = agrees(&kernel, active.as_ref());
    Ok(Status { agent_version: env!("CARGO_PKG_VERSION").to_owned(), kernel, active, kernel_agrees })
}

/// The kernel runs exactly what the agent loaded: same ops name, and no
/// reload since (a changed `enable_seq` means someone loaded again).
pub fn agrees(kernel: &KernelSchedExt, active: Option<&ActiveScheduler>) -> bool {
    match active {
        None => kernel.state == "disabled",
        Some(a) => {
            kernel.state == "enabled"
                && kernel.ops.as_deref() == Some(a.ops.as_str())
                && kernel.enable_seq == a.enable_seq
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kernel(state: &str, ops: Option<&str>, seq: u64) -> KernelSchedExt {
        KernelSchedExt { state: state.into(), ops: ops.map(Into::into), enable_seq: seq, ..Default::default() }
    }

    fn active(ops: &str, seq: u64) -> ActiveScheduler {
        ActiveScheduler {
            artifact: "a".repeat(64),
            ops: ops.into(),
            params: Default::default(),
            commit: None,
            since: 0,
            enable_seq: seq,
        }
    }

    #[test]
    fn agreement_needs_same_ops_and_no_reload() {
        assert!(agrees(&kernel("disabled", None, 3), None));
        assert!(!agrees(&kernel("enabled", Some("x"), 3), None));
        assert!(agrees(&kernel("enabled", Some("simple"), 3), Some(&active("simple", 3))));
        assert!(!agrees(&kernel("enabled", Some("simple"), 4), Some(&active("simple", 3))));
        assert!(!agrees(&kernel("disabled", None, 3), Some(&active("simple", 3))));
        assert!(!agrees(&kernel("enabled", Some("other"), 3), Some(&active("simple", 3))));
    }
}
