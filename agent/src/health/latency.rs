//! Wake-up latency for the report: runs the `wakelat` probe for a window
//! and summarises its histogram (percentiles, non-empty buckets).
//!
//! Percentiles are read off the histogram, not computed from samples: the
//! answer for quantile q is the upper bound of the first bucket whose
//! cumulative count reaches ceil(q * samples), capped at the observed
//! maximum. That overstates by at most one bucket width (1 us below 8 us,
//! 12.5% above) and never understates, which is the safe side for a health
//! gate.

use std::time::Duration;

use schedfleet_bpf::probes::WAKELAT;
use schedfleet_proto::WakeLatency;

use crate::sched::wakelat::{bucket_upper_us, Histogram, Probe};
use crate::{facts, log, sched};

/// Loads the probe, waits `window_ms`, reads and unloads it. Never fails:
/// whatever goes wrong is the report's `error`.
pub fn measure(window_ms: u64, cgroup: Option<&str>) -> WakeLatency {
    let failed = |error: String| WakeLatency {
        window_ms,
        cgroup: cgroup.map(str::to_owned),
        error: Some(error),
        ..Default::default()
    };
    let filter = match cgroup.map(super::cgroup::resolve).transpose() {
        Ok(filter) => filter,
        Err(e) => return failed(e),
    };
    sched::libbpf_log::install();
    sched::libbpf_log::take();
    let probe = match Probe::attach(WAKELAT, filter) {
        Ok(probe) => probe,
        Err(e) => {
            let said = sched::libbpf_log::verifier_tail(&sched::libbpf_log::take(), 8);
            let mut msg = format!("wake-up latency probe not loaded: {e}");
            if !facts::is_root() {
                msg.push_str(" (tracing with BPF needs root)");
            } else if !std::path::Path::new("/sys/kernel/btf/vmlinux").exists() {
                msg.push_str(" (the kernel has no BTF: /sys/kernel/btf/vmlinux is missing)");
            }
            if let Some(said) = said {
                msg.push_str("; libbpf says: ");
                msg.push_str(&said.replace('\n', " | "));
            }
            return failed(msg);
        }
    };
    log::debug(&format!("wake-up latency probe attached for {window_ms} ms"));
    std::thread::sleep(Duration::from_millis(window_ms));
    let read = probe.read();
    drop(probe);
    match read {
        Ok(hist) => WakeLatency { cgroup: cgroup.map(str::to_owned), ..summarize(window_ms, &hist) },
        Err(e) => failed(e),
    }
}

/// The report of one window's histogram.
pub fn summarize(window_ms: u64, hist: &Histogram) -> WakeLatency {
    // Samples are counted from the buckets, not `hist.count`: the per-CPU
    // copies are read while the probe runs, and only the buckets must agree
    // with the percentiles.
    let samples: u64 = hist.buckets.iter().sum();
    if samples == 0 {
        return WakeLatency { window_ms, ..Default::default() };
    }
    let max_us = hist.max_ns.div_ceil(1000);
    let upper = |bucket: usize| bucket_upper_us(bucket).map_or(max_us, |u| u.min(max_us));
    let percentile = |permille: u64| {
        let rank = (samples * permille).div_ceil(1000).max(1);
        let mut seen = 0;
        hist.buckets.iter().position(|&n| {
            seen += n;
            seen >= rank
        })
    };
    let mean_us = (hist.count > 0).then(|| (hist.sum_ns / hist.count + 500) / 1000);
    WakeLatency {
        window_ms,
        samples,
        p50_us: percentile(500).map(upper),
        p90_us: percentile(900).map(upper),
        p99_us: percentile(990).map(upper),
        max_us: Some(max_us),
        mean_us,
        buckets: hist
            .buckets
            .iter()
            .enumerate()
            .filter(|&(_, &n)| n > 0)
            .map(|(b, &n)| (bucket_upper_us(b).unwrap_or(max_us), n))
            .collect(),
        cgroup: None,
        error: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sched::wakelat::{bucket_of_us, NR_BUCKETS};

    /// A histogram as the probe would fill it from these latencies.
    fn histogram(samples_us: &[(u64, u64)]) -> Histogram {
        let mut hist = Histogram { buckets: vec![0; NR_BUCKETS], ..Default::default() };
        for &(us, times) in samples_us {
            hist.buckets[bucket_of_us(us)] += times;
            hist.count += times;
            hist.sum_ns += us * 1000 * times;
            hist.max_ns = hist.max_ns.max(us * 1000);
        }
        hist
    }

    #[test]
    fn percentiles_of_a_known_distribution() {
        // 50 wake-ups at 2 us, 40 at 100 us, 10 at 5 ms.
        let lat = summarize(1000, &histogram(&[(2, 50), (100, 40), (5000, 10)]));
        assert_eq!(lat.samples, 100);
        assert_eq!(lat.p50_us, Some(3), "the 50th sample is in [2, 3)");
        assert_eq!(lat.p90_us, Some(104), "the 90th sample is in [96, 104)");
        assert_eq!(lat.p99_us, Some(5000), "[4608, 5120) capped at the maximum");
        assert_eq!(lat.max_us, Some(5000));
        assert_eq!(lat.mean_us, Some((2 * 50 + 100 * 40 + 5000 * 10) / 100));
        assert_eq!(lat.buckets, vec![(3, 50), (104, 40), (5120, 10)]);
        assert_eq!(lat.error, None);
    }

    #[test]
    fn the_rank_is_rounded_up() {
        // 1000 samples: p99 is the 990th, the last of the 990 fast ones.
        let lat = summarize(1000, &histogram(&[(10, 990), (900, 10)]));
        assert_eq!(lat.p99_us, Some(11));
        // With 11 slow ones of 1000, the 990th is slow: [896, 960) capped at 900.
        let lat = summarize(1000, &histogram(&[(10, 989), (900, 11)]));
        assert_eq!(lat.p99_us, Some(900));
    }

    #[test]
    fn a_single_sample_is_every_percentile() {
        let lat = summarize(500, &histogram(&[(37, 1)]));
        assert_eq!((lat.p50_us, lat.p90_us, lat.p99_us, lat.max_us), (Some(37), Some(37), Some(37), Some(37)));
    }

    #[test]
    fn sub_microsecond_latencies_round_up() {
        let mut hist = histogram(&[]);
        hist.buckets[0] = 4;
        hist.count = 4;
        hist.sum_ns = 4 * 400;
        hist.max_ns = 700;
        let lat = summarize(1000, &hist);
        assert_eq!((lat.p50_us, lat.max_us, lat.mean_us), (Some(1), Some(1), Some(0)));
        assert_eq!(lat.buckets, vec![(1, 4)]);
    }

    #[test]
    fn overflow_bucket_is_bounded_by_the_maximum() {
        let lat = summarize(1000, &histogram(&[(1, 1), (20_000_000, 1)]));
        assert_eq!(lat.buckets, vec![(2, 1), (20_000_000, 1)]);
        assert_eq!(lat.p99_us, Some(20_000_000));
    }

    /// Wakes two threads up `rounds` times each, through a pair of pipes.
    fn ping_pong(rounds: usize) {
        use std::io::{Read, Write};
        use std::os::unix::net::UnixStream;
        let (mut a, mut b) = UnixStream::pair().unwrap();
        let echo = std::thread::spawn(move || {
            let mut byte = [0u8];
            while b.read_exact(&mut byte).is_ok() && b.write_all(&byte).is_ok() {}
        });
        let mut byte = [0u8];
        for _ in 0..rounds {
            a.write_all(b"x").unwrap();
            a.read_exact(&mut byte).unwrap();
        }
        drop(a);
        echo.join().unwrap();
    }

    /// The probe on this machine's kernel: it needs root and BTF, not
    /// sched_ext, so it runs here (and fails loudly where it cannot).
    #[test]
    fn the_probe_measures_wake_ups_on_this_kernel() {
        assert!(facts::is_root(), "this test loads a BPF probe: run the agent's tests as root");
        let worker = std::thread::spawn(|| {
            std::thread::sleep(Duration::from_millis(50));
            ping_pong(2000)
        });
        let lat = measure(400, None);
        worker.join().unwrap();
        eprintln!("{}", serde_json::to_string(&lat).unwrap());
        assert_eq!(lat.error, None, "{lat:?}");
        assert!(lat.samples >= 1000, "the ping-pong alone wakes 4000 times: {lat:?}");
        let (p50, p99, max) = (lat.p50_us.unwrap(), lat.p99_us.unwrap(), lat.max_us.unwrap());
        assert!(p50 <= p99 && p99 <= max, "{lat:?}");
        assert_eq!(lat.buckets.iter().map(|b| b.1).sum::<u64>(), lat.samples);
    }

    #[test]
    fn the_cgroup_filter_keeps_only_that_cgroups_tasks() {
        assert!(facts::is_root(), "this test creates cgroups: run the agent's tests as root");
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let mount = super::super::cgroup::cgroup2_mounts(&mountinfo)
            .into_iter()
            .next()
            .expect("this test needs a cgroup2 file system mounted");
        let name = format!("schedfleet-test-{}", std::process::id());
        let (empty, busy) = (format!("{name}-empty"), format!("{name}-busy"));
        for dir in [&empty, &busy] {
            std::fs::create_dir(mount.mount_point.join(dir)).unwrap();
        }
        // A shell that moves itself into `busy`, then sleeps in short steps:
        // every step forks a `sleep` and is woken by a timer, all inside.
        let procs = mount.mount_point.join(&busy).join("cgroup.procs");
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("echo $$ > '{}' && for i in $(seq 150); do sleep 0.002; done", procs.display()))
            .spawn()
            .unwrap();
        let lat_empty = measure(300, Some(&empty));
        let lat_busy = measure(300, Some(&busy));
        let lat_root = measure(100, Some(mount.mount_point.to_str().unwrap()));
        child.kill().ok();
        child.wait().unwrap();
        for dir in [&empty, &busy] {
            // The cgroup is only removable once its processes are gone.
            for _ in 0..100 {
                if std::fs::remove_dir(mount.mount_point.join(dir)).is_ok() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        assert_eq!((lat_empty.error.as_deref(), lat_empty.samples), (None, 0), "{lat_empty:?}");
        assert_eq!(lat_empty.cgroup.as_deref(), Some(empty.as_str()));
        assert_eq!(lat_busy.error, None, "{lat_busy:?}");
        assert!(lat_busy.samples >= 10, "the shell and its sleeps wake up inside: {lat_busy:?}");
        assert!(lat_root.samples > 0, "every task is below the root: {lat_root:?}");
    }

    #[test]
    fn an_unknown_cgroup_is_the_reports_error_not_a_failure() {
        let lat = measure(10, Some("/sys/fs/cgroup/no-such-cgroup-for-schedfleet"));
        assert!(lat.error.unwrap().contains("no-such-cgroup"));
        assert_eq!(lat.samples, 0);
    }

    #[test]
    fn an_empty_window_has_no_percentiles() {
        let lat = summarize(1000, &histogram(&[]));
        assert_eq!(lat, WakeLatency { window_ms: 1000, ..Default::default() });
    }
}
