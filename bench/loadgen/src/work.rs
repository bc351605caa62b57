//! The CPU work every thread of the load does: a fixed number of iterations
//! of a dependent integer chain that the compiler cannot remove or
//! vectorise. Work is counted in iterations, not in time, so a thread that
//! is preempted in the middle takes longer instead of doing less, and a
//! batch work unit is the same amount of work under every scheduler.

use std::hint::black_box;
use std::time::{Duration, Instant};

/// Runs `iters` iterations; returns the chain's value so it stays live.
pub fn spin(iters: u64) -> u64 {
    let mut x = black_box(0x9e37_79b9_7f4a_7c15u64);
    for _ in 0..iters {
        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        x ^= x >> 29;
    }
    black_box(x)
}

/// Iterations per microsecond on this CPU, measured over `window` (the best
/// of five tries, so a preempted try does not count). Run it before the
/// load starts.
pub fn calibrate(window: Duration) -> f64 {
    let mut best: f64 = 0.0;
    for _ in 0..5 {
        let mut iters = 0u64;
        let start = Instant::now();
        while start.elapsed() < window / 5 {
            spin(1000);
            iters += 1000;
        }
        best = best.max(iters as f64 / start.elapsed().as_secs_f64() / 1e6);
    }
    best.max(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn more_iterations_take_longer() {
        // The fastest of a few tries each, so a preemption of one try on a
        // busy machine does not decide the comparison.
        let fastest = |n, tries| {
            (0..tries)
                .map(|_| {
                    let t = Instant::now();
                    spin(n);
                    t.elapsed()
                })
                .min()
                .unwrap()
        };
        let (short, long) = (fastest(10_000, 5), fastest(2_000_000, 3));
        assert!(long > short, "{long:?} vs {short:?}");
        assert!(calibrate(Duration::from_millis(20)) >= 1.0);
    }
}
