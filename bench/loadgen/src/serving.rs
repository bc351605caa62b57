//! The serving side, shaped like an inference server's CPU threads: a
//! dispatcher takes requests that arrive at random (Poisson, open loop, so
//! a slow server does not slow the arrivals down) and wakes an idle worker
//! for each; the worker computes briefly and sleeps again. Next to them,
//! feeder threads wake on a timer (a GPU-feeding loop) and compute briefly.
//!
//! Measured per request: the wake-up latency (the dispatcher's wake-up call
//! to the worker running; only for requests that found their worker
//! asleep, so queueing is not counted as wake-up) and the end-to-end
//! latency (arrival to done, queueing and preemption included). Per feeder
//! period: the timer's deadline to the feeder running.
//!
//! All threads are named `lgserve-*`, so a scheduler can also match them
//! by command-name prefix.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Barrier};

use serde::Serialize;

use crate::histogram::{Histogram, LatencySummary};
use crate::sys::{now_ns, sleep_until, spawn, tight_timer_slack, ContextSwitches, Rng};
use crate::work::spin;

#[derive(Debug, Clone)]
pub struct ServingConfig {
    pub duration_ns: u64,
    pub workers: usize,
    pub rate_per_s: f64,
    pub request_iters: u64,
    pub feeders: usize,
    pub feed_period_ns: u64,
    pub feed_iters: u64,
    pub seed: u64,
}

struct Request {
    arrival_ns: u64,
    sent_ns: u64,
    /// The worker had nothing pending when it was sent: it was asleep (or
    /// about to be), so the delay to its running is a wake-up latency.
    to_idle: bool,
}

#[derive(Default)]
struct WorkerResult {
    wakeup: Histogram,
    request: Histogram,
    completed: u64,
}

#[derive(Debug, Serialize)]
pub struct ServingReport {
    /// The cgroup the serving process ran in.
    pub cgroup: Option<String>,
    pub elapsed_s: f64,
    /// Request and timer wake-ups together.
    pub wakeup: LatencySummary,
    /// Dispatcher's wake-up call to the worker running.
    pub wakeup_request: LatencySummary,
    /// Timer deadline to the feeder running.
    pub wakeup_timer: LatencySummary,
    /// Arrival to done.
    pub request: LatencySummary,
    pub requests_issued: u64,
    pub requests_completed: u64,
    /// Feeder periods missed because the previous one ran past them.
    pub feeder_periods_missed: u64,
    pub context_switches: ContextSwitches,
}

/// Starts every thread, calls `ready` (which returns when the load should start), runs the load for
/// the configured time and returns what it measured.
pub fn run(cfg: &ServingConfig, ready: impl FnOnce()) -> ServingReport {
    let pending: Arc<Vec<AtomicU64>> = Arc::new((0..cfg.workers).map(|_| AtomicU64::new(0)).collect());
    let start = Arc::new(Barrier::new(cfg.workers + cfg.feeders + 2));
    let mut senders = Vec::new();
    let mut workers = Vec::new();
    for w in 0..cfg.workers {
        let (tx, rx) = mpsc::channel::<Request>();
        senders.push(tx);
        let (pending, start, iters) = (pending.clone(), start.clone(), cfg.request_iters);
        workers.push(spawn(format!("lgserve-w{w}"), move || {
            start.wait();
            let mut r = WorkerResult::default();
            while let Ok(req) = rx.recv() {
                let running = now_ns();
                if req.to_idle {
                    r.wakeup.record(running.saturating_sub(req.sent_ns));
                }
                spin(iters);
                r.request.record(now_ns().saturating_sub(req.arrival_ns));
                r.completed += 1;
                pending[w].fetch_sub(1, Ordering::AcqRel);
            }
            r
        }));
    }
    let mut feeders = Vec::new();
    for f in 0..cfg.feeders {
        let (start, cfg) = (start.clone(), cfg.clone());
        feeders.push(spawn(format!("lgserve-feed{f}"), move || {
            tight_timer_slack();
            start.wait();
            let end = now_ns() + cfg.duration_ns;
            let (mut h, mut missed) = (Histogram::default(), 0u64);
            let mut next = now_ns() + cfg.feed_period_ns;
            while next < end {
                sleep_until(next);
                h.record(now_ns().saturating_sub(next));
                spin(cfg.feed_iters);
                next += cfg.feed_period_ns;
                let now = now_ns();
                if next < now {
                    let behind = (now - next) / cfg.feed_period_ns + 1;
                    missed += behind;
                    next += behind * cfg.feed_period_ns;
                }
            }
            (h, missed)
        }));
    }
    let dispatcher = {
        let (start, cfg, pending) = (start.clone(), cfg.clone(), pending.clone());
        spawn("lgserve-disp".into(), move || {
            tight_timer_slack();
            start.wait();
            let begin = now_ns();
            let end = begin + cfg.duration_ns;
            let mut rng = Rng::new(cfg.seed);
            let mean_gap_ns = 1e9 / cfg.rate_per_s.max(1e-3);
            let mut next = begin + rng.exponential(mean_gap_ns) as u64;
            let mut issued = 0u64;
            while next < end {
                sleep_until(next);
                let now = now_ns();
                while next <= now && next < end {
                    // The worker with the least pending, an idle one when there is.
                    let w = (0..pending.len()).min_by_key(|&i| pending[i].load(Ordering::Acquire)).unwrap_or(0);
                    let before = pending[w].fetch_add(1, Ordering::AcqRel);
                    let req = Request { arrival_ns: next, sent_ns: now_ns(), to_idle: before == 0 };
                    if senders[w].send(req).is_err() {
                        break;
                    }
                    issued += 1;
                    next += rng.exponential(mean_gap_ns) as u64;
                }
            }
            // Dropping the senders lets the workers finish what is queued and stop.
            issued
        })
    };

    // Every thread exists and waits: the caller starts the clock.
    ready();
    let before = ContextSwitches::of_this_process();
    let begin = now_ns();
    start.wait();
    let issued = dispatcher.join().expect("the dispatcher panicked");
    let mut wakeup_request = Histogram::default();
    let mut request = Histogram::default();
    let mut completed = 0;
    for w in workers {
        let r = w.join().expect("a worker panicked");
        wakeup_request.merge(&r.wakeup);
        request.merge(&r.request);
        completed += r.completed;
    }
    let mut wakeup_timer = Histogram::default();
    let mut missed = 0;
    for f in feeders {
        let (h, m) = f.join().expect("a feeder panicked");
        wakeup_timer.merge(&h);
        missed += m;
    }
    let elapsed_s = (now_ns() - begin) as f64 / 1e9;
    let mut wakeup = wakeup_request.clone();
    wakeup.merge(&wakeup_timer);
    ServingReport {
        cgroup: crate::cgroup::current(),
        elapsed_s,
        wakeup: wakeup.summary(),
        wakeup_request: wakeup_request.summary(),
        wakeup_timer: wakeup_timer.summary(),
        request: request.summary(),
        requests_issued: issued,
        requests_completed: completed,
        feeder_periods_missed: missed,
        context_switches: ContextSwitches::of_this_process().since(before),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A short run on this machine: every request issued is completed and
    /// measured, and feeders wake about once per period.
    #[test]
    fn every_request_is_served_and_measured() {
        let cfg = ServingConfig {
            duration_ns: 300_000_000,
            workers: 2,
            rate_per_s: 200.0,
            request_iters: 1000,
            feeders: 1,
            feed_period_ns: 10_000_000,
            feed_iters: 100,
            seed: 7,
        };
        let r = run(&cfg, || {});
        assert!(r.requests_issued > 10, "{r:?}");
        assert_eq!(r.requests_completed, r.requests_issued);
        assert_eq!(r.request.samples, r.requests_issued);
        assert!(r.wakeup_request.samples > 0 && r.wakeup_request.samples <= r.requests_issued);
        assert!(r.wakeup_timer.samples + r.feeder_periods_missed >= 20, "{r:?}");
        assert_eq!(r.wakeup.samples, r.wakeup_request.samples + r.wakeup_timer.samples);
        assert!(r.elapsed_s >= 0.3);
    }
}
