//! When a supervised scheduler that ended by itself is started again: the
//! repository's [`RestartPolicy`] applied to the times of earlier restarts,
//! as a pure function of those times and the clock, so every sequence of
//! exits is tested without a process.
//!
//! At most `max` restarts within any `window_secs`; each waits
//! `backoff_initial_ms`, doubled for every restart already in the window,
//! up to `backoff_max_ms`. The backoff comes from the restarts in the
//! window, so a scheduler that ran quietly for a whole window starts again
//! from the initial backoff. Past the cap the answer is [`Decision::GiveUp`]
//! and the supervisor falls back; nothing ever restarts without bound.

use std::time::Duration;

use schedfleet_proto::RestartPolicy;

/// What to do after an end that was not ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Start it again after this wait.
    RestartAfter(Duration),
    /// The cap is reached: `restarts` already happened within the window.
    GiveUp { restarts: u32, window_secs: u64 },
}

/// The restarts of one supervised scheduler.
#[derive(Debug, Clone)]
pub struct RestartTracker {
    policy: RestartPolicy,
    /// Milliseconds (any monotonic origin) of each restart decided.
    restarts: Vec<u64>,
    /// Every restart since activation, for `status`.
    pub total: u32,
}

impl RestartTracker {
    pub fn new(policy: RestartPolicy) -> Self {
        RestartTracker { policy, restarts: Vec::new(), total: 0 }
    }

    /// Decides at `now_ms` after an end of the process, and counts the
    /// restart when there is one.
    pub fn decide(&mut self, now_ms: u64) -> Decision {
        let window_ms = self.policy.window_secs.saturating_mul(1000);
        self.restarts.retain(|&at| now_ms.saturating_sub(at) < window_ms);
        let in_window = self.restarts.len() as u32;
        if in_window >= self.policy.max {
            return Decision::GiveUp { restarts: in_window, window_secs: self.policy.window_secs };
        }
        let doubled = self.policy.backoff_initial_ms.saturating_mul(1u64.checked_shl(in_window).unwrap_or(u64::MAX));
        let wait = doubled.min(self.policy.backoff_max_ms.max(self.policy.backoff_initial_ms));
        self.restarts.push(now_ms);
        self.total += 1;
        Decision::RestartAfter(Duration::from_millis(wait))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(max: u32, window_secs: u64, initial: u64, cap: u64) -> RestartPolicy {
        RestartPolicy { max, window_secs, backoff_initial_ms: initial, backoff_max_ms: cap }
    }

    fn after(ms: u64) -> Decision {
        Decision::RestartAfter(Duration::from_millis(ms))
    }

    #[test]
    fn backoff_doubles_up_to_its_cap_then_the_count_gives_up() {
        let mut t = RestartTracker::new(policy(4, 300, 1000, 3000));
        assert_eq!(t.decide(0), after(1000));
        assert_eq!(t.decide(2_000), after(2000));
        assert_eq!(t.decide(5_000), after(3000), "capped at backoff_max_ms");
        assert_eq!(t.decide(9_000), after(3000));
        assert_eq!(t.decide(13_000), Decision::GiveUp { restarts: 4, window_secs: 300 });
        assert_eq!(t.decide(14_000), Decision::GiveUp { restarts: 4, window_secs: 300 }, "and stays given up");
        assert_eq!(t.total, 4);
    }

    #[test]
    fn restarts_older_than_the_window_no_longer_count() {
        let mut t = RestartTracker::new(policy(2, 10, 100, 10_000));
        assert_eq!(t.decide(0), after(100));
        assert_eq!(t.decide(1_000), after(200));
        assert_eq!(t.decide(2_000), Decision::GiveUp { restarts: 2, window_secs: 10 });
        // 10 s after the first restart it leaves the window: one more, with
        // the backoff of one restart in the window.
        assert_eq!(t.decide(10_000), after(200));
        // A quiet window later, back to the initial backoff.
        assert_eq!(t.decide(40_000), after(100));
        assert_eq!(t.total, 4);
    }

    #[test]
    fn a_cap_of_zero_never_restarts_and_huge_numbers_do_not_overflow() {
        assert_eq!(
            RestartTracker::new(policy(0, 60, 1000, 1000)).decide(5),
            Decision::GiveUp { restarts: 0, window_secs: 60 }
        );
        let mut t = RestartTracker::new(policy(100, u64::MAX, u64::MAX / 2, u64::MAX));
        for i in 0..70 {
            assert!(matches!(t.decide(i), Decision::RestartAfter(_)));
        }
    }

    #[test]
    fn the_default_policy_gives_up_after_three_quick_deaths() {
        let mut t = RestartTracker::new(RestartPolicy::default());
        let waits: Vec<_> = (0..4).map(|i| t.decide(i * 5_000)).collect();
        assert_eq!(waits[..3], [after(1000), after(2000), after(4000)]);
        assert!(matches!(waits[3], Decision::GiveUp { restarts: 3, .. }));
    }
}
