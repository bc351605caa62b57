//! Health judgement of hosts that run a new scheduler. It owns the
//! statistics that turn measurements into a verdict (today: canary analysis
//! of wake-up latency histograms) and nothing that gathers them: reading
//! probes on hosts, bake timing and acting on a verdict belong to the
//! collection and rollout code. Everything here is pure: no I/O, no clock.

mod canary;
mod normal;

pub use canary::{
    judge, mann_whitney, CanaryPolicy, Comparison, Histogram, MannWhitney, Reference, Verdict, MIN_SAMPLES_PER_SIDE,
};
