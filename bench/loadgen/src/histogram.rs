//! A latency histogram with bounded relative error (log-linear buckets,
//! as HdrHistogram lays them out): every value below 64 ns has its own
//! bucket, above that each power of two is split into 32 buckets, so a
//! reported percentile is at most 1/32 (about 3 %) above the true sample.
//! Fixed size (1,920 counters), so a 10-minute soak costs no more memory
//! than a 10-second run, and histograms of threads merge by addition.
//!
//! It owns recording and percentiles; what a sample means (wake-up,
//! request) is the caller's.

use serde::Serialize;

const SUB_BITS: u32 = 5;
const SUB: usize = 1 << SUB_BITS;
const BUCKETS: usize = (64 - SUB_BITS as usize + 1) * SUB;

#[derive(Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    count: u64,
    sum: u128,
    min: u64,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram { counts: vec![0; BUCKETS], count: 0, sum: 0, min: u64::MAX, max: 0 }
    }
}

/// The bucket that holds `v`.
fn index(v: u64) -> usize {
    if v < (2 * SUB) as u64 {
        return v as usize;
    }
    let e = 63 - v.leading_zeros();
    let mantissa = (v >> (e - SUB_BITS)) as usize; // in SUB..2*SUB
    (e - SUB_BITS + 1) as usize * SUB + (mantissa - SUB)
}

/// The largest value that falls in bucket `i`.
fn highest_in(i: usize) -> u64 {
    if i < 2 * SUB {
        return i as u64;
    }
    let group = (i / SUB) as u32;
    let mantissa = (i % SUB + SUB) as u128;
    let above = (mantissa + 1) << (group - 1);
    u64::try_from(above - 1).unwrap_or(u64::MAX)
}

impl Histogram {
    pub fn record(&mut self, v: u64) {
        self.counts[index(v)] += 1;
        self.count += 1;
        self.sum += u128::from(v);
        self.min = self.min.min(v);
        self.max = self.max.max(v);
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.count += other.count;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    /// The value at quantile `q` (0..=1): the smallest bucket bound that at
    /// least `ceil(q * count)` samples do not exceed, never above the
    /// largest sample. `None` without samples.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        if self.count == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).max(1);
        let mut seen = 0u64;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Some(highest_in(i).min(self.max).max(self.min));
            }
        }
        Some(self.max)
    }

    /// Percentiles in microseconds, for the JSON report.
    pub fn summary(&self) -> LatencySummary {
        let us = |q: f64| self.quantile(q).map(|ns| ns as f64 / 1000.0);
        LatencySummary {
            samples: self.count,
            p50_us: us(0.50),
            p90_us: us(0.90),
            p99_us: us(0.99),
            p999_us: us(0.999),
            max_us: (self.count > 0).then(|| self.max as f64 / 1000.0),
            mean_us: (self.count > 0).then(|| self.sum as f64 / self.count as f64 / 1000.0),
        }
    }
}

/// Percentiles of one kind of latency; `null` without samples.
#[derive(Debug, Serialize, PartialEq)]
pub struct LatencySummary {
    pub samples: u64,
    pub p50_us: Option<f64>,
    pub p90_us: Option<f64>,
    pub p99_us: Option<f64>,
    pub p999_us: Option<f64>,
    pub max_us: Option<f64>,
    pub mean_us: Option<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_cover_every_value() {
        let mut last = 0;
        for i in 1..BUCKETS {
            assert_eq!(highest_in(i - 1) + 1, lowest(i), "bucket {i}");
            assert_eq!(index(lowest(i)), i);
            assert_eq!(index(highest_in(i)), i);
            last = i;
        }
        assert_eq!(highest_in(last), u64::MAX);
        assert_eq!(index(u64::MAX), BUCKETS - 1);
    }

    fn lowest(i: usize) -> u64 {
        if i == 0 {
            0
        } else {
            highest_in(i - 1) + 1
        }
    }

    #[test]
    fn an_empty_histogram_has_no_percentiles() {
        let h = Histogram::default();
        assert_eq!(h.quantile(0.99), None);
        let s = h.summary();
        assert_eq!((s.samples, s.p99_us, s.max_us, s.mean_us), (0, None, None, None));
    }

    #[test]
    fn small_values_are_exact() {
        let mut h = Histogram::default();
        for v in [3, 7, 7, 60] {
            h.record(v);
        }
        assert_eq!(h.quantile(0.0), Some(3));
        assert_eq!(h.quantile(0.5), Some(7));
        assert_eq!(h.quantile(0.75), Some(7));
        assert_eq!(h.quantile(1.0), Some(60));
    }

    #[test]
    fn percentiles_of_a_uniform_spread_are_within_the_bucket_error() {
        let mut h = Histogram::default();
        for v in 1..=100_000u64 {
            h.record(v * 1000); // 1 us .. 100 ms
        }
        for (q, exact) in [(0.5, 50_000_000u64), (0.99, 99_000_000), (0.999, 99_900_000)] {
            let got = h.quantile(q).unwrap();
            assert!(got >= exact, "q {q}: {got} below the true {exact}");
            assert!((got - exact) as f64 <= exact as f64 / 32.0, "q {q}: {got} too far above {exact}");
        }
        assert_eq!(h.quantile(1.0), Some(100_000_000), "the maximum is exact");
        let s = h.summary();
        assert_eq!(s.samples, 100_000);
        assert!((s.mean_us.unwrap() - 50_000.5).abs() < 1e-6);
    }

    #[test]
    fn a_tail_is_seen_at_p99_9_but_not_at_p99() {
        let mut h = Histogram::default();
        for _ in 0..9_990 {
            h.record(10_000);
        }
        for _ in 0..10 {
            h.record(5_000_000);
        }
        assert!(h.quantile(0.99).unwrap() <= 10_000 + 10_000 / 32);
        assert!(h.quantile(0.9995).unwrap() >= 5_000_000);
    }

    #[test]
    fn merging_equals_recording_everything_in_one() {
        let (mut a, mut b, mut all) = (Histogram::default(), Histogram::default(), Histogram::default());
        for v in 0..5000u64 {
            let x = v * v % 7919 * 13;
            if v % 3 == 0 {
                a.record(x)
            } else {
                b.record(x)
            }
            all.record(x);
        }
        a.merge(&b);
        assert_eq!(a.counts, all.counts);
        assert_eq!((a.count, a.sum, a.min, a.max), (all.count, all.sum, all.min, all.max));
        let mut empty = Histogram::default();
        empty.merge(&Histogram::default());
        assert_eq!(empty.quantile(0.5), None, "merging two empty ones stays empty");
    }
}
