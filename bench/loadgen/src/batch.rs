//! The batch side: N CPU hogs that never sleep (a compiler, a
//! preprocessing job) and bursty threads that work for a while and then
//! sleep (a data loader, log shipping), all counting the fixed-size work
//! units they complete, so batch throughput compares across schedulers.
//! Threads are named `lgbatch-*`.

use std::sync::{Arc, Barrier};

use serde::Serialize;

use crate::sys::{now_ns, sleep_until, spawn, ContextSwitches, Rng};
use crate::work::spin;

#[derive(Debug, Clone)]
pub struct BatchConfig {
    pub duration_ns: u64,
    pub hogs: usize,
    pub burst_threads: usize,
    /// Units per burst.
    pub burst_units: u64,
    /// Mean sleep between bursts (jittered +-50 %).
    pub burst_idle_ns: u64,
    pub unit_iters: u64,
    pub seed: u64,
}

#[derive(Debug, Serialize)]
pub struct BatchReport {
    pub cgroup: Option<String>,
    pub elapsed_s: f64,
    /// Work units completed by every batch thread.
    pub units: u64,
    pub units_per_s: f64,
    pub hog_units: u64,
    pub burst_units: u64,
    pub context_switches: ContextSwitches,
}

pub fn run(cfg: &BatchConfig, ready: impl FnOnce()) -> BatchReport {
    let start = Arc::new(Barrier::new(cfg.hogs + cfg.burst_threads + 1));
    let mut hogs = Vec::new();
    for h in 0..cfg.hogs {
        let (start, cfg) = (start.clone(), cfg.clone());
        hogs.push(spawn(format!("lgbatch-hog{h}"), move || {
            start.wait();
            let end = now_ns() + cfg.duration_ns;
            let mut units = 0u64;
            while now_ns() < end {
                spin(cfg.unit_iters);
                units += 1;
            }
            units
        }));
    }
    let mut bursts = Vec::new();
    for b in 0..cfg.burst_threads {
        let (start, cfg) = (start.clone(), cfg.clone());
        bursts.push(spawn(format!("lgbatch-burst{b}"), move || {
            start.wait();
            let end = now_ns() + cfg.duration_ns;
            let mut rng = Rng::new(cfg.seed.wrapping_add(b as u64 * 7919));
            let mut units = 0u64;
            'run: loop {
                for _ in 0..cfg.burst_units {
                    if now_ns() >= end {
                        break 'run;
                    }
                    spin(cfg.unit_iters);
                    units += 1;
                }
                let idle = (cfg.burst_idle_ns as f64 * (0.5 + rng.unit())) as u64;
                let wake = (now_ns() + idle).min(end);
                sleep_until(wake);
                if wake >= end {
                    break;
                }
            }
            units
        }));
    }
    // Every thread exists and waits: the caller starts the clock.
    ready();
    let before = ContextSwitches::of_this_process();
    let begin = now_ns();
    start.wait();
    let hog_units: u64 = hogs.into_iter().map(|h| h.join().expect("a hog panicked")).sum();
    let burst_units: u64 = bursts.into_iter().map(|b| b.join().expect("a burst thread panicked")).sum();
    let elapsed_s = (now_ns() - begin) as f64 / 1e9;
    let units = hog_units + burst_units;
    BatchReport {
        cgroup: crate::cgroup::current(),
        elapsed_s,
        units,
        units_per_s: units as f64 / elapsed_s.max(1e-9),
        hog_units,
        burst_units,
        context_switches: ContextSwitches::of_this_process().since(before),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hogs_and_bursts_count_their_units() {
        let cfg = BatchConfig {
            duration_ns: 200_000_000,
            hogs: 1,
            burst_threads: 1,
            burst_units: 2,
            burst_idle_ns: 20_000_000,
            unit_iters: 10_000,
            seed: 3,
        };
        let r = run(&cfg, || {});
        assert!(r.hog_units > 0 && r.burst_units > 0, "{r:?}");
        assert!(r.hog_units > r.burst_units, "a hog never sleeps: {r:?}");
        assert_eq!(r.units, r.hog_units + r.burst_units);
        assert!(r.elapsed_s >= 0.2);
    }
}
