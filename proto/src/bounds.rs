//! Every bound the agent enforces on what the controller sends it, in one
//! place. The agent's command line refuses a value past one of these; the
//! controller's `validate` refuses the same value before any host is
//! contacted, so "exit 2 = nothing on any host touched" holds for every
//! value an agent would refuse. Neither side writes these numbers itself.

/// An inclusive range of whole numbers and its unit, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    pub min: u64,
    pub max: u64,
    /// `seconds`, `milliseconds`, `bytes`.
    pub unit: &'static str,
}

impl Bounds {
    pub const fn contains(&self, n: u64) -> bool {
        n >= self.min && n <= self.max
    }

    /// ``expected 1 to 604800 seconds``: the end of every refusal.
    pub fn expected(&self) -> String {
        format!("expected {} to {} {}", self.min, self.max, self.unit)
    }
}

/// `activate --confirm-within`: a canary bakes for minutes or hours; more
/// than a week is a typo. `rollout.confirm_timeout` in `fleet.yaml`.
pub const CONFIRM_WITHIN_SECS: Bounds = Bounds { min: 1, max: 7 * 24 * 3600, unit: "seconds" };

/// `activate --watch-interval-ms`: how often the watchdog reads the kernel.
pub const WATCH_INTERVAL_MS: Bounds = Bounds { min: 10, max: 60_000, unit: "milliseconds" };

/// `activate --probe-interval-ms`: how often the watchdog runs the probes.
pub const PROBE_INTERVAL_MS: Bounds = Bounds { min: 100, max: 3_600_000, unit: "milliseconds" };

/// `status --latency-window`: reports are meant to be quick; a window
/// longer than a minute is a typo. `health.latency.window` in `fleet.yaml`
/// and `schedfleet status --latency-window` (where 0 turns it off).
pub const LATENCY_WINDOW_MS: Bounds = Bounds { min: 0, max: 60_000, unit: "milliseconds" };

/// `timeout_ms` of a user probe (`--probes`): a probe is part of a report;
/// more than a minute is a typo. `health.probes[].timeout` in `fleet.yaml`.
pub const PROBE_TIMEOUT_MS: Bounds = Bounds { min: 1, max: 60_000, unit: "milliseconds" };

/// The margin the controller adds to `--confirm-within` for the lease of a
/// host it activates: the lease covers the activation, the bake and the
/// confirmation (all before the confirmation deadline), and is released at
/// the end of the rollout; the TTL only matters when the controller dies.
pub const LEASE_MARGIN_SECS: u64 = 30;

/// `lease acquire --ttl`: one confirmation window and its margin at most,
/// so every `confirm_timeout` `validate` accepts gives a lease the agent
/// accepts.
pub const LEASE_TTL_SECS: Bounds = Bounds { min: 1, max: CONFIRM_WITHIN_SECS.max + LEASE_MARGIN_SECS, unit: "seconds" };

/// `lease --owner`: free text for people; more than this is not a name.
pub const LEASE_OWNER_BYTES: Bounds = Bounds { min: 1, max: 512, unit: "bytes" };

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_inclusive_and_say_so() {
        assert!(CONFIRM_WITHIN_SECS.contains(1) && CONFIRM_WITHIN_SECS.contains(604_800));
        assert!(!CONFIRM_WITHIN_SECS.contains(0) && !CONFIRM_WITHIN_SECS.contains(604_801));
        assert_eq!(CONFIRM_WITHIN_SECS.expected(), "expected 1 to 604800 seconds");
        assert!(
            LEASE_TTL_SECS.contains(CONFIRM_WITHIN_SECS.max + LEASE_MARGIN_SECS),
            "the controller's lease of a maximal confirm"
        );
    }
}
