//! How a supervised scheduler process ended, from its wait status, whether
//! the agent was stopping it, and the kernel log: the kernel's word wins,
//! since a scheduler the kernel ejected usually exits by itself a moment
//! later with a code that says little.

use schedfleet_proto::{Ejection, ExitCause};

use crate::sched::kernel::is_unload_from_user_space;

/// A process's end as `waitpid` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitStatus {
    Exited(i32),
    Signaled(i32),
}

impl WaitStatus {
    /// From a raw `waitpid` status; `None` for a stop or continue report.
    pub fn from_raw(status: libc::c_int) -> Option<WaitStatus> {
        if libc::WIFEXITED(status) {
            Some(WaitStatus::Exited(libc::WEXITSTATUS(status)))
        } else if libc::WIFSIGNALED(status) {
            Some(WaitStatus::Signaled(libc::WTERMSIG(status)))
        } else {
            None
        }
    }
}

/// The cause of an end. `stopping`: the agent asked it to stop (SIGINT,
/// then maybe SIGKILL). `disable`: the kernel log's newest `disabled` line
/// of its ops since it started, if any.
pub fn classify(status: WaitStatus, stopping: bool, disable: Option<&Ejection>) -> ExitCause {
    if stopping {
        return ExitCause::Stopped;
    }
    if let Some(e) = disable.filter(|e| !is_unload_from_user_space(e)) {
        let reason = match &e.message {
            Some(said) => format!("{}: {said}", e.reason),
            None => e.reason.clone(),
        };
        return ExitCause::Ejected { reason };
    }
    match status {
        WaitStatus::Exited(code) => ExitCause::Exited { code },
        WaitStatus::Signaled(signal) => ExitCause::Signaled { signal },
    }
}

/// One line for people and logs.
pub fn describe(cause: &ExitCause) -> String {
    match cause {
        ExitCause::Exited { code } => format!("exited with code {code}"),
        ExitCause::Signaled { signal } => format!("killed by signal {signal}"),
        ExitCause::Ejected { reason } => format!("ejected by the kernel ({reason})"),
        ExitCause::Stopped => "stopped by schedfleet".to_owned(),
        ExitCause::StartTimeout => "did not reach `enabled` in time".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disable(reason: &str, message: Option<&str>) -> Ejection {
        Ejection {
            ops: "bpfland_1.1.4_x86_64_unknown_linux_gnu".into(),
            reason: reason.into(),
            message_line: format!("sched_ext: BPF scheduler \"bpfland\" disabled ({reason})"),
            message: message.map(Into::into),
            kernel_time_us: Some(5),
        }
    }

    #[test]
    fn raw_wait_statuses_decode() {
        assert_eq!(WaitStatus::from_raw(0), Some(WaitStatus::Exited(0)));
        assert_eq!(WaitStatus::from_raw(3 << 8), Some(WaitStatus::Exited(3)));
        assert_eq!(WaitStatus::from_raw(libc::SIGKILL), Some(WaitStatus::Signaled(9)));
        assert_eq!(WaitStatus::from_raw(0x137f), None, "stopped by SIGSTOP");
    }

    #[test]
    fn the_kernels_word_wins_over_the_exit_status() {
        let stall = disable("runnable task stall", Some("kworker/0:1[42] failed to run for 30.2s"));
        assert_eq!(
            classify(WaitStatus::Exited(0), false, Some(&stall)),
            ExitCause::Ejected { reason: "runnable task stall: kworker/0:1[42] failed to run for 30.2s".into() }
        );
        assert_eq!(
            classify(WaitStatus::Signaled(9), false, Some(&disable("disabled by sysrq-S", None))),
            ExitCause::Ejected { reason: "disabled by sysrq-S".into() }
        );
    }

    #[test]
    fn an_unload_from_user_space_is_the_process_own_end() {
        let unload = disable("unregistered from user space", None);
        assert_eq!(classify(WaitStatus::Signaled(9), false, Some(&unload)), ExitCause::Signaled { signal: 9 });
        assert_eq!(classify(WaitStatus::Exited(1), false, Some(&unload)), ExitCause::Exited { code: 1 });
        assert_eq!(classify(WaitStatus::Exited(0), false, None), ExitCause::Exited { code: 0 });
    }

    #[test]
    fn what_the_agent_stopped_is_stopped_whatever_the_status() {
        for status in [WaitStatus::Exited(0), WaitStatus::Signaled(2), WaitStatus::Signaled(9)] {
            assert_eq!(classify(status, true, None), ExitCause::Stopped);
        }
        assert_eq!(describe(&ExitCause::Signaled { signal: 9 }), "killed by signal 9");
    }
}
