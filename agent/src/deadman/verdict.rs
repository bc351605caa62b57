//! When an unconfirmed activation has failed: pure decisions on what the
//! kernel says, what the probes say and the time, shared by the watchdog
//! and `confirm`. Nothing here reads a file or the clock.

use schedfleet_proto::{Ejection, KernelSchedExt, Pending, ProbeResult};

use crate::sched::kernel::is_unload_from_user_space;

/// Why an unconfirmed activation is reverted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// sched_ext is no longer `enabled` (the kernel ejected the scheduler,
    /// or its pin was removed).
    KernelDisabled { state: String },
    /// `enable_seq` moved: a scheduler was loaded since the activation.
    Reloaded { expected: u64, now: u64, ops: Option<String> },
    /// Enabled, no reload, but under another ops name.
    OtherOps { expected: String, now: Option<String> },
    /// A user probe failed.
    ProbeFailed { name: String, detail: String },
    /// The deadline passed without `confirm`.
    NotConfirmed { within: u64 },
    /// The watchdog could not be started, so nothing would supervise it.
    NoWatchdog { error: String },
    /// A supervised binary ended more often than its restart policy allows
    /// (or could not be started again); `detail` says how it last ended.
    RestartsExhausted { detail: String },
}

impl Reason {
    /// Whether the kernel log is worth reading for this reason.
    pub fn is_kernel_disable(&self) -> bool {
        matches!(self, Reason::KernelDisabled { .. })
    }

    /// A first word on the reason, as soon as it is noticed (the kernel log
    /// may not hold the ejection yet).
    pub fn noticed(&self) -> String {
        match self {
            Reason::KernelDisabled { state } => format!("sched_ext is `{state}`"),
            other => other.describe(None),
        }
    }

    /// The reason for people and the state file. `disable` is the kernel
    /// log's newest `disabled` line of the scheduler, for
    /// [`Reason::KernelDisabled`].
    pub fn describe(&self, disable: Option<&Ejection>) -> String {
        match self {
            Reason::KernelDisabled { state } => match disable {
                Some(e) if is_unload_from_user_space(e) => {
                    format!("the scheduler was unloaded from user space (its pin removed?): {}", e.message_line)
                }
                Some(e) => match &e.message {
                    Some(said) => format!("kernel ejected the scheduler: {}; it said: {said}", e.message_line),
                    None => format!("kernel ejected the scheduler: {}", e.message_line),
                },
                None => format!("kernel ejected the scheduler: sched_ext is `{state}` (the kernel log says nothing)"),
            },
            Reason::Reloaded { expected, now, ops } => format!(
                "enable_seq changed: reloaded by someone else (enable_seq {expected} -> {now}, the kernel runs `{}`)",
                ops.as_deref().unwrap_or("nothing")
            ),
            Reason::OtherOps { expected, now } => {
                format!("the kernel runs `{}`, not `{expected}`", now.as_deref().unwrap_or("nothing"))
            }
            Reason::ProbeFailed { name, detail } => format!("probe `{name}` failed: {detail}"),
            Reason::NotConfirmed { within } => format!("not confirmed within {within} s"),
            Reason::NoWatchdog { error } => format!("the watchdog could not be started: {error}"),
            Reason::RestartsExhausted { detail } => detail.clone(),
        }
    }
}

/// What the kernel and the clock say about `expected` at `now` (Unix
/// seconds): `None` while it runs as activated and the deadline has not
/// passed. A kernel failure wins over the deadline: it is the better reason.
pub fn watchdog_verdict(kernel: &KernelSchedExt, expected: &Pending, now: u64) -> Option<Reason> {
    if kernel.state != "enabled" {
        return Some(Reason::KernelDisabled { state: kernel.state.clone() });
    }
    if kernel.enable_seq != expected.enable_seq {
        return Some(Reason::Reloaded {
            expected: expected.enable_seq,
            now: kernel.enable_seq,
            ops: kernel.ops.clone(),
        });
    }
    if kernel.ops.as_deref() != Some(expected.ops.as_str()) {
        return Some(Reason::OtherOps { expected: expected.ops.clone(), now: kernel.ops.clone() });
    }
    if now >= expected.deadline {
        return Some(Reason::NotConfirmed { within: expected.confirm_within });
    }
    None
}

/// Whether the watchdog of an unconfirmed activation leaves `verdict` to
/// the activation's supervisor: for a supervised binary whose supervisor
/// lives, `disabled` (between two starts) and a changed `enable_seq` (a
/// restart) are the restart policy's to judge (see the module `scx`). The
/// deadline, the probes, another ops name and a dead supervisor stay the
/// watchdog's.
pub fn defer_to_supervisor(verdict: Option<&Reason>, binary: bool, supervisor_alive: bool) -> bool {
    binary && supervisor_alive && matches!(verdict, Some(Reason::KernelDisabled { .. } | Reason::Reloaded { .. }))
}

/// The first failed probe of a round, if any.
pub fn probe_verdict(results: &[ProbeResult]) -> Option<Reason> {
    results.iter().find(|r| !r.ok).map(|r| Reason::ProbeFailed { name: r.name.clone(), detail: r.detail.clone() })
}

/// The deadline (Unix seconds) of an activation at `now_ms` (Unix
/// milliseconds) confirmed within `within` seconds: rounded up, so a
/// fallback never comes before `within` seconds have passed.
pub fn deadline(now_ms: u64, within: u64) -> u64 {
    now_ms.saturating_add(within.saturating_mul(1000)).div_ceil(1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kernel(state: &str, ops: Option<&str>, seq: u64) -> KernelSchedExt {
        KernelSchedExt { state: state.into(), ops: ops.map(Into::into), enable_seq: seq, ..Default::default() }
    }

    pub(crate) fn pending(ops: &str, seq: u64, deadline: u64) -> Pending {
        Pending {
            artifact: "b".repeat(64),
            ops: ops.into(),
            enable_seq: seq,
            deadline,
            confirm_within: 120,
            previous: None,
            watchdog_pid: 42,
        }
    }

    #[test]
    fn a_live_supervisor_judges_restarts_and_nothing_else() {
        let disabled = Reason::KernelDisabled { state: "disabled".into() };
        let reloaded = Reason::Reloaded { expected: 3, now: 4, ops: Some("bpfland_1.1.4_x".into()) };
        assert!(defer_to_supervisor(Some(&disabled), true, true));
        assert!(defer_to_supervisor(Some(&reloaded), true, true));
        assert!(!defer_to_supervisor(Some(&disabled), true, false), "a dead supervisor restarts nothing");
        assert!(!defer_to_supervisor(Some(&disabled), false, true), "a BPF object has no supervisor");
        for own in [
            Reason::NotConfirmed { within: 60 },
            Reason::ProbeFailed { name: "p".into(), detail: "d".into() },
            Reason::OtherOps { expected: "a".into(), now: Some("b".into()) },
        ] {
            assert!(!defer_to_supervisor(Some(&own), true, true), "{own:?}");
        }
        assert!(!defer_to_supervisor(None, true, true));
    }

    #[test]
    fn a_scheduler_running_as_activated_before_its_deadline_is_fine() {
        let p = pending("canary", 7, 1000);
        assert_eq!(watchdog_verdict(&kernel("enabled", Some("canary"), 7), &p, 999), None);
    }

    #[test]
    fn kernel_failures_are_named_and_win_over_the_deadline() {
        let p = pending("canary", 7, 1000);
        for (k, want) in [
            (kernel("disabled", None, 7), Reason::KernelDisabled { state: "disabled".into() }),
            (kernel("disabling", Some("canary"), 7), Reason::KernelDisabled { state: "disabling".into() }),
            (kernel("enabled", Some("other"), 8), Reason::Reloaded { expected: 7, now: 8, ops: Some("other".into()) }),
            (
                kernel("enabled", Some("canary"), 8),
                Reason::Reloaded { expected: 7, now: 8, ops: Some("canary".into()) },
            ),
            (
                kernel("enabled", Some("other"), 7),
                Reason::OtherOps { expected: "canary".into(), now: Some("other".into()) },
            ),
        ] {
            assert_eq!(watchdog_verdict(&k, &p, 5), Some(want.clone()), "{k:?}");
            assert_eq!(watchdog_verdict(&k, &p, 5000), Some(want), "{k:?} after the deadline");
        }
    }

    #[test]
    fn the_deadline_is_inclusive() {
        let p = pending("canary", 7, 1000);
        let k = kernel("enabled", Some("canary"), 7);
        assert_eq!(watchdog_verdict(&k, &p, 1000), Some(Reason::NotConfirmed { within: 120 }));
        assert_eq!(Reason::NotConfirmed { within: 120 }.describe(None), "not confirmed within 120 s");
    }

    #[test]
    fn deadlines_round_up_to_whole_seconds() {
        assert_eq!(deadline(1_000_000, 5), 1005);
        assert_eq!(deadline(1_000_001, 5), 1006);
        assert_eq!(deadline(1_000_999, 5), 1006);
    }

    #[test]
    fn the_first_failed_probe_is_the_reason() {
        let r =
            |name: &str, ok: bool| ProbeResult { name: name.into(), ok, detail: format!("{name} said"), elapsed_ms: 1 };
        assert_eq!(probe_verdict(&[]), None);
        assert_eq!(probe_verdict(&[r("a", true)]), None);
        let why = probe_verdict(&[r("a", true), r("serving", false), r("c", false)]).unwrap();
        assert_eq!(why.describe(None), "probe `serving` failed: serving said");
    }

    #[test]
    fn kernel_reasons_quote_the_kernel_log() {
        let why = Reason::KernelDisabled { state: "disabled".into() };
        let line = "sched_ext: BPF scheduler \"ejector\" disabled (scx_bpf_error)";
        let ejection = Ejection {
            ops: "ejector".into(),
            reason: "scx_bpf_error".into(),
            message_line: line.into(),
            message: Some("ejector: deliberate error".into()),
            kernel_time_us: Some(1),
        };
        assert_eq!(
            why.describe(Some(&ejection)),
            format!("kernel ejected the scheduler: {line}; it said: ejector: deliberate error")
        );
        let unloaded = Ejection {
            reason: "unregistered from user space".into(),
            message_line: "sched_ext: BPF scheduler \"ejector\" disabled (unregistered from user space)".into(),
            message: None,
            ..ejection
        };
        assert!(why.describe(Some(&unloaded)).starts_with("the scheduler was unloaded from user space"));
        assert_eq!(
            why.describe(None),
            "kernel ejected the scheduler: sched_ext is `disabled` (the kernel log says nothing)"
        );
        let reloaded = Reason::Reloaded { expected: 3, now: 4, ops: Some("x".into()) }.describe(None);
        assert!(reloaded.starts_with("enable_seq changed: reloaded by someone else"), "{reloaded}");
    }
}
