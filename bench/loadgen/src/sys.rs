//! The few system calls the load needs beyond std: the monotonic clock as
//! nanoseconds (so a deadline can be slept to with `TIMER_ABSTIME`, without
//! the drift of relative sleeps), a tight timer slack, context-switch
//! counts, and what sched_ext says is running.

use serde::Serialize;

/// `CLOCK_MONOTONIC` in nanoseconds.
pub fn now_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes the timespec we own; CLOCK_MONOTONIC always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Sleeps until `CLOCK_MONOTONIC` reaches `deadline_ns`.
pub fn sleep_until(deadline_ns: u64) {
    let ts = libc::timespec {
        tv_sec: (deadline_ns / 1_000_000_000) as libc::time_t,
        tv_nsec: (deadline_ns % 1_000_000_000) as libc::c_long,
    };
    loop {
        // SAFETY: reads the timespec we own; no remaining time is asked for with TIMER_ABSTIME.
        let rc =
            unsafe { libc::clock_nanosleep(libc::CLOCK_MONOTONIC, libc::TIMER_ABSTIME, &ts, std::ptr::null_mut()) };
        if rc != libc::EINTR {
            return;
        }
    }
}

/// A timer slack of 1 ns for the calling thread: the default 50 us would be
/// added to every timer wake-up and hide the scheduler's part.
pub fn tight_timer_slack() {
    // SAFETY: PR_SET_TIMERSLACK takes an integer and touches no memory of ours.
    unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0) };
}

/// Voluntary and involuntary context switches of this process, all its
/// threads (ended ones included) together.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct ContextSwitches {
    pub voluntary: u64,
    pub involuntary: u64,
}

impl ContextSwitches {
    pub fn of_this_process() -> ContextSwitches {
        // SAFETY: rusage is plain old data that getrusage fills.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: RUSAGE_SELF with a pointer to our own rusage.
        unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
        ContextSwitches { voluntary: ru.ru_nvcsw as u64, involuntary: ru.ru_nivcsw as u64 }
    }

    pub fn since(self, earlier: ContextSwitches) -> ContextSwitches {
        ContextSwitches {
            voluntary: self.voluntary.saturating_sub(earlier.voluntary),
            involuntary: self.involuntary.saturating_sub(earlier.involuntary),
        }
    }
}

/// Context switches of every CPU since boot (`ctxt` of `/proc/stat`).
pub fn system_context_switches() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    text.lines().find_map(|l| l.strip_prefix("ctxt "))?.trim().parse().ok()
}

/// Busy and idle (idle + iowait) time of all CPUs since boot, in clock
/// ticks, from the `cpu` line of `/proc/stat`: a scheduler that leaves CPUs
/// idle while batch work waits shows here.
pub fn cpu_busy_idle() -> Option<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
    // user nice system idle iowait irq softirq steal (guest times are in user).
    let idle = v.get(3)? + v.get(4).unwrap_or(&0);
    let busy = v.iter().take(8).sum::<u64>() - idle;
    Some((busy, idle))
}

/// What `/sys/kernel/sched_ext` says, so a run records which scheduler it
/// measured and whether one was (re)loaded or ejected meanwhile.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SchedExtState {
    /// `disabled` (the kernel's default scheduler), `enabled` ...; `absent`
    /// without sched_ext.
    pub state: String,
    pub ops: Option<String>,
    pub enable_seq: Option<u64>,
}

impl SchedExtState {
    pub fn read() -> SchedExtState {
        let read =
            |f: &str| std::fs::read_to_string(format!("/sys/kernel/sched_ext/{f}")).ok().map(|s| s.trim().to_owned());
        SchedExtState {
            state: read("state").unwrap_or_else(|| "absent".into()),
            ops: read("root/ops").filter(|s| !s.is_empty()),
            enable_seq: read("enable_seq").and_then(|s| s.parse().ok()),
        }
    }
}

/// A small fast generator (xorshift64*) for arrival times and jitter; not
/// for anything that needs real randomness.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    /// Uniform in (0, 1].
    pub fn unit(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d);
        ((x >> 11) + 1) as f64 / (1u64 << 53) as f64
    }

    /// Exponentially distributed with the given mean (Poisson arrivals).
    pub fn exponential(&mut self, mean: f64) -> f64 {
        -self.unit().ln() * mean
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponential_gaps_have_the_asked_mean() {
        let mut r = Rng::new(42);
        let n = 200_000;
        let mean = (0..n).map(|_| r.exponential(5.0)).sum::<f64>() / n as f64;
        assert!((mean - 5.0).abs() < 0.1, "{mean}");
        assert!((0..1000).all(|_| (0.0..=1.0).contains(&r.unit()) && r.unit() > 0.0));
    }

    #[test]
    fn sleeping_to_a_deadline_does_not_return_early() {
        let deadline = now_ns() + 2_000_000;
        sleep_until(deadline);
        assert!(now_ns() >= deadline);
    }
}

/// Starts a named load thread (names show in `top -H` and the kernel's
/// `comm`, which a comm-prefix serving set matches).
pub fn spawn<T: Send + 'static>(name: String, f: impl FnOnce() -> T + Send + 'static) -> std::thread::JoinHandle<T> {
    std::thread::Builder::new().name(name).spawn(f).expect("spawn a load thread")
}
