//! `status`: what the kernel runs, what the agent believes it loaded, and
//! whether the two agree; then the host's health report (wake-up latency,
//! CPU pressure, load, reloads since the previous report, the last ejection,
//! GPUs, and the operator's user probes).
//!
//! Only the first part can fail the command: a host without sched_ext is
//! still refused with `no_sched_ext`, as before the health report, so callers
//! that use `status` as a sched_ext check keep working. Every health field is
//! best effort and is left out, or carries its own error, when the host
//! cannot say; a user probe that fails is a result, not an error.

use schedfleet_proto::{ActiveScheduler, KernelSchedExt, Status};

use crate::cli::StatusArgs;
use crate::error::Result;
use crate::{health, sched, state};

pub fn run(args: StatusArgs) -> Result<Status> {
    // Fails at once on a host without sched_ext, before any window.
    sched::kernel::read()?;
    // User probes run alongside the window, each bounded by its own
    // timeout, so they add nothing to the report beyond the longest one.
    let probes = health::user_probe::start(args.probes);
    // The window comes first so that everything below describes its end: a
    // scheduler ejected during the window shows as ejected.
    let latency =
        (args.latency_window_ms > 0).then(|| health::latency::measure(args.latency_window_ms, args.cgroup.as_deref()));
    let probes = probes.finish();
    let kernel = sched::kernel::read()?;
    let active = state::load()?.active;
    let kernel_agrees = agrees(&kernel, active.as_ref());
    let enable_seq_changed_since_last_report = health::last_report::exchange(kernel.enable_seq);
    Ok(Status {
        agent_version: env!("CARGO_PKG_VERSION").to_owned(),
        kernel,
        active,
        kernel_agrees,
        latency,
        pressure: health::pressure::read(),
        loadavg: health::load::loadavg(),
        runnable: health::load::runnable(),
        enable_seq_changed_since_last_report,
        last_ejection: sched::kernel::last_ejection(),
        gpu: health::gpu::read(),
        probes,
    })
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
