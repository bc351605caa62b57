//! Canary analysis in the manner of Kayenta: did a canary host's wake-up
//! latency regress after it switched scheduler? It owns the latency
//! histogram type, an exact Mann–Whitney U test computed on histograms, and
//! the verdict with the numbers that led to it. It does not own how the
//! histograms are gathered (the `wakelat` probe and the health report), how
//! long a bake lasts, or what a rollout does with a verdict.
//!
//! The U test is rank based, so it needs no assumption about the shape of
//! latency distributions (which are skewed and heavy tailed), and it is
//! computed from the buckets in O(buckets), not O(samples): a bake on a busy
//! host records billions of wake-ups.

use super::normal::normal_sf;
use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};

/// A latency histogram: `(upper bound in µs, count)` pairs, sorted by bound,
/// as the agent reports them in `WakeLatency::buckets`.
///
/// Every sample in a bucket is taken to equal the bucket's upper bound. The
/// true values are unknown within a bucket, and the bound is the safe side for
/// a health gate (it never understates a latency). For the U test it means
/// that two samples in the same bucket are a tie, which the test handles with
/// mid-ranks; two histograms must therefore share their bucket scheme, as all
/// histograms of one agent version do, or bucket boundaries show up as shifts.
///
/// Empty buckets are allowed and ignored. Unsorted buckets or repeated bounds
/// are tolerated (they are put in order before any computation), but the
/// agent never sends them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Histogram {
    pub buckets: Vec<(u64, u64)>,
}

impl Histogram {
    /// A histogram with one bucket per distinct value, mostly for tests and
    /// for small raw measurements.
    pub fn from_samples(samples: &[u64]) -> Histogram {
        let mut sorted = samples.to_vec();
        sorted.sort_unstable();
        let mut buckets: Vec<(u64, u64)> = Vec::new();
        for value in sorted {
            match buckets.last_mut() {
                Some((bound, count)) if *bound == value => *count += 1,
                _ => buckets.push((value, 1)),
            }
        }
        Histogram { buckets }
    }

    /// The number of samples, saturating at `u64::MAX`.
    pub fn samples(&self) -> u64 {
        self.buckets.iter().fold(0u64, |total, &(_, count)| total.saturating_add(count))
    }

    /// The nearest-rank quantile, as the agent computes its percentiles: the
    /// bound of the first bucket whose cumulative count reaches
    /// `ceil(q * samples)` (at least 1). `q` is rounded to nine decimals so
    /// that 0.99 means exactly 99/100 and not the binary float below it.
    /// `None` for an empty histogram or a `q` outside `[0, 1]`.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        if !(0.0..=1.0).contains(&q) {
            return None;
        }
        let hist = self.in_order();
        let samples = u128::from(hist.samples());
        if samples == 0 {
            return None;
        }
        const SCALE: u128 = 1_000_000_000;
        let q_scaled = (q * SCALE as f64).round() as u128;
        let rank = (samples * q_scaled).div_ceil(SCALE).max(1);
        let mut seen = 0u128;
        hist.buckets.iter().find_map(|&(bound, count)| {
            seen += u128::from(count);
            (seen >= rank).then_some(bound)
        })
    }

    /// Adds `other`'s samples to this histogram, bucket by bucket. The result
    /// is sorted, with one bucket per bound.
    pub fn merge(&mut self, other: &Histogram) {
        let (ours, theirs) = (self.in_order(), other.in_order());
        let (mut a, mut b) = (ours.buckets.iter().peekable(), theirs.buckets.iter().peekable());
        let mut merged: Vec<(u64, u64)> = Vec::with_capacity(ours.buckets.len() + theirs.buckets.len());
        loop {
            let next = match (a.peek(), b.peek()) {
                (Some(x), Some(y)) if x.0 <= y.0 => a.next(),
                (Some(_), Some(_)) => b.next(),
                (Some(_), None) => a.next(),
                (None, _) => b.next(),
            };
            let Some(&(bound, count)) = next else { break };
            match merged.last_mut() {
                Some((last, total)) if *last == bound => *total = total.saturating_add(count),
                _ => merged.push((bound, count)),
            }
        }
        self.buckets = merged;
    }

    /// This histogram with its buckets sorted by bound, copied only when they
    /// are not sorted already.
    fn in_order(&self) -> Cow<'_, Histogram> {
        if self.buckets.windows(2).all(|w| w[0].0 <= w[1].0) {
            Cow::Borrowed(self)
        } else {
            let mut buckets = self.buckets.clone();
            buckets.sort_by_key(|&(bound, _)| bound);
            Cow::Owned(Histogram { buckets })
        }
    }
}

/// Fewer samples than this on either side and [`mann_whitney`] gives no
/// answer: its p-value comes from the normal approximation of U, which is
/// commonly held good enough from about 20 samples per group; below that the
/// exact permutation distribution would be needed, and a canary judged on so
/// few wake-ups would be judged on noise anyway.
pub const MIN_SAMPLES_PER_SIDE: u64 = 20;

/// More samples than this on either side and [`mann_whitney`] gives no
/// answer either: up to 2⁵³ every count is exact in an `f64` and the rank
/// sums fit 128 bits. No host records that many (a million wake-ups a second
/// for 285 years); a histogram that claims to is corrupt.
const MAX_SAMPLES_PER_SIDE: u64 = 1 << 53;

/// The result of a one-sided Mann–Whitney U test: is the canary's latency
/// stochastically greater than the reference's?
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct MannWhitney {
    /// The canary's U: the number of (canary, reference) sample pairs in
    /// which the canary is slower, plus half the number of ties.
    pub u: f64,
    /// The standardised U, `(u − n_canary·n_baseline/2 − 1/2) / σ`, with the
    /// tie-corrected σ and the upper tail's continuity correction of −1/2 (as
    /// R's `wilcox.test(alternative = "greater", correct = TRUE)` computes it).
    pub z: f64,
    /// One-sided p-value that the canary is slower, from the normal
    /// approximation: `P(Z >= z)`.
    pub p_value: f64,
    /// The common-language effect size `u / (n_canary * n_baseline)`:
    /// P(canary > reference) + 0.5 P(tie). 0.5 means no difference.
    pub effect: f64,
    pub n_canary: u64,
    pub n_baseline: u64,
}

/// The one-sided U test of `canary` against `baseline` (any reference
/// histogram). `None` when either side has fewer than
/// [`MIN_SAMPLES_PER_SIDE`] samples, below which the normal approximation
/// used for the p-value is not trustworthy, or more than 2⁵³, which only a
/// corrupt histogram claims.
///
/// When every sample of both sides is in one bucket, U has no variance: the
/// test then reports `z = 0` and `p_value = 1` (nothing suggests a shift).
pub fn mann_whitney(canary: &Histogram, baseline: &Histogram) -> Option<MannWhitney> {
    let usable = MIN_SAMPLES_PER_SIDE..=MAX_SAMPLES_PER_SIDE;
    if !usable.contains(&canary.samples()) || !usable.contains(&baseline.samples()) {
        return None;
    }
    Some(RankSum::of(&canary.in_order(), &baseline.in_order()).test())
}

/// What the U test needs from the two merged bucket lists, in exact integer
/// arithmetic as far as it goes.
#[derive(Debug, Clone, Copy, PartialEq)]
struct RankSum {
    n_canary: u64,
    n_baseline: u64,
    /// Twice the canary's U, which is an integer (U itself is a multiple of
    /// 1/2 because of ties).
    twice_u: u128,
    /// The sum over groups of tied samples of `t³ − t`; exact up to about
    /// 7·10¹² samples in all, where `t³` stops fitting 128 bits and the sum
    /// is carried in floating point.
    ties: Ties,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Ties {
    Exact(u128),
    Approximate(f64),
}

impl RankSum {
    /// Walks both sorted bucket lists at once. Each distinct bound is a group
    /// of `t = a + b` tied samples (a from the canary, b from the baseline)
    /// that would hold ranks `below + 1 ..= below + t`; each gets the
    /// mid-rank `below + (t + 1) / 2`, so the group adds
    /// `a * (2 * below + t + 1) / 2` to the canary's rank sum.
    fn of(canary: &Histogram, baseline: &Histogram) -> RankSum {
        let (c, b) = (&canary.buckets, &baseline.buckets);
        let (mut i, mut j) = (0, 0);
        let (mut n_canary, mut below, mut twice_rank_sum) = (0u128, 0u128, 0u128);
        let mut ties = Ties::Exact(0);
        loop {
            let bound = match (c.get(i), b.get(j)) {
                (Some(x), Some(y)) => x.0.min(y.0),
                (Some(x), None) => x.0,
                (None, Some(y)) => y.0,
                (None, None) => break,
            };
            let (mut a, mut other) = (0u128, 0u128);
            while let Some(&(_, count)) = c.get(i).filter(|bucket| bucket.0 == bound) {
                a += u128::from(count);
                i += 1;
            }
            while let Some(&(_, count)) = b.get(j).filter(|bucket| bucket.0 == bound) {
                other += u128::from(count);
                j += 1;
            }
            let t = a + other;
            twice_rank_sum += a * (2 * below + t + 1);
            ties = ties.add(t);
            below += t;
            n_canary += a;
        }
        let n_baseline = below - n_canary;
        // U = R − n(n + 1)/2, doubled.
        let twice_u = twice_rank_sum - n_canary * (n_canary + 1);
        RankSum {
            n_canary: n_canary.try_into().unwrap_or(u64::MAX),
            n_baseline: n_baseline.try_into().unwrap_or(u64::MAX),
            twice_u,
            ties,
        }
    }

    /// The test statistics, without any floor on the sample counts.
    fn test(&self) -> MannWhitney {
        let (n1, n2) = (self.n_canary as f64, self.n_baseline as f64);
        let u = self.twice_u as f64 / 2.0;
        let mean = n1 * n2 / 2.0;
        // σ² = n1·n2/12 · ((n + 1) − Σ(t³ − t) / (n(n − 1)))
        //    = n1·n2/12 · ((n³ − n) − Σ(t³ − t)) / (n(n − 1)),
        // written the second way so that the all-tied case gives exactly 0.
        let n = u128::from(self.n_canary) + u128::from(self.n_baseline);
        let spread = match (self.ties, Ties::Exact(0).add(n)) {
            (Ties::Exact(ties), Ties::Exact(all)) => (all - ties) as f64,
            (ties, all) => (all.as_f64() - ties.as_f64()).max(0.0),
        };
        let n = n as f64;
        let variance = if n > 1.0 { n1 * n2 / 12.0 * spread / (n * (n - 1.0)) } else { 0.0 };
        let (z, p_value) = if variance > 0.0 {
            let z = (u - mean - 0.5) / variance.sqrt();
            (z, normal_sf(z))
        } else {
            (0.0, 1.0)
        };
        let effect = if n1 * n2 > 0.0 { u / (n1 * n2) } else { 0.5 };
        MannWhitney { u, z, p_value, effect, n_canary: self.n_canary, n_baseline: self.n_baseline }
    }
}

impl Ties {
    /// Adds a group of `t` tied samples: `t³ − t`.
    fn add(self, t: u128) -> Ties {
        let exact = t.checked_mul(t).and_then(|t2| t2.checked_mul(t)).map(|t3| t3 - t);
        match (self, exact) {
            (Ties::Exact(sum), Some(term)) if sum.checked_add(term).is_some() => Ties::Exact(sum + term),
            (sum, _) => {
                let t = t as f64;
                Ties::Approximate(sum.as_f64() + t * (t * t - 1.0))
            }
        }
    }

    fn as_f64(self) -> f64 {
        match self {
            Ties::Exact(sum) => sum as f64,
            Ties::Approximate(sum) => sum,
        }
    }
}

/// When a canary fails. The defaults suit wake-up latency over a bake of
/// minutes; they are deliberately hard to trip by noise, since a false
/// failure halts a rollout and a true regression that slips by still has to
/// pass the next waves.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct CanaryPolicy {
    /// The significance level of the one-sided U test.
    pub alpha: f64,
    /// The smallest common-language effect size that counts: with millions
    /// of samples a shift nobody would notice is still significant, so a
    /// significant result must also be large enough to matter.
    pub min_effect: f64,
    /// The tolerance on the 99th percentile: the canary's p99 must exceed
    /// the reference's by more than this ratio to fail.
    pub max_p99_ratio: f64,
    /// Fewer samples than this in the canary, its baseline or the controls
    /// together (and never fewer than [`MIN_SAMPLES_PER_SIDE`]) make the
    /// verdict inconclusive.
    pub min_samples: u64,
}

impl Default for CanaryPolicy {
    fn default() -> Self {
        CanaryPolicy { alpha: 0.01, min_effect: 0.56, max_p99_ratio: 1.25, min_samples: 200 }
    }
}

impl CanaryPolicy {
    /// What is wrong with the policy, if anything. A NaN threshold would
    /// make every comparison false and so let every canary pass silently.
    pub fn problem(&self) -> Option<String> {
        if !(self.alpha > 0.0 && self.alpha < 1.0) {
            return Some(format!("invalid canary policy: `alpha` is {}, not in (0, 1)", self.alpha));
        }
        if !(0.0..=1.0).contains(&self.min_effect) {
            return Some(format!("invalid canary policy: `min_effect` is {}, not in [0, 1]", self.min_effect));
        }
        if !(self.max_p99_ratio.is_finite() && self.max_p99_ratio > 0.0) {
            return Some(format!("invalid canary policy: `max_p99_ratio` is {}, not positive", self.max_p99_ratio));
        }
        None
    }
}

/// What the canary was compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reference {
    /// The canary itself, measured just before the new scheduler was activated.
    Baseline,
    /// Hosts that were not upgraded, measured during the bake, merged.
    Controls { hosts: usize },
}

/// One comparison of the canary with a reference, and whether it counts as a
/// regression under the policy.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Comparison {
    pub reference: Reference,
    pub test: MannWhitney,
    pub canary_p99_us: u64,
    pub reference_p99_us: u64,
    /// `canary_p99_us / reference_p99_us`, with a bound of 0 µs taken as
    /// 1 µs so that the ratio stays finite (and serializable).
    pub p99_ratio: f64,
    /// `p_value < alpha && effect >= min_effect && p99_ratio > max_p99_ratio`.
    pub regressed: bool,
}

/// The judgement of one canary, with the numbers that led to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// No regression beyond tolerance that both references confirm.
    Pass {
        baseline: Comparison,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        controls: Option<Comparison>,
    },
    /// A regression beyond tolerance against the baseline and against the
    /// controls (when there are any).
    Fail {
        baseline: Comparison,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        controls: Option<Comparison>,
    },
    /// Too little data, or an unusable policy, to say either.
    Inconclusive { reason: String },
}

/// Judges a canary host's wake-up latency during its bake.
///
/// The canary is compared with its own `baseline` (measured just before the
/// new scheduler was activated) and with the merged `controls` (hosts not
/// upgraded, measured over the same bake window). It fails only when both
/// comparisons show a regression: `p_value < alpha`, `effect >= min_effect`
/// and a p99 ratio above `max_p99_ratio`. Without controls, the baseline
/// comparison alone decides.
///
/// Both are required because each is blind in its own way. The own baseline
/// compares the same machine, same hardware and same tenants, but at another
/// time: when load across the fleet drifts during the bake (a traffic peak, a
/// batch job starting), the canary's latency rises with it and the baseline
/// comparison blames the scheduler. That drift shows up in the controls, not
/// in the canary's own baseline. The controls see the same time, but other
/// machines, whose load and hardware differ from the canary's. A regression
/// that both confirm is the scheduler's.
///
/// Inconclusive when the canary, the baseline or the controls together have
/// fewer than `min_samples` samples (or more than 2⁵³, which only a corrupt
/// histogram claims), or when the policy is unusable.
pub fn judge(canary: &Histogram, baseline: &Histogram, controls: &[Histogram], policy: &CanaryPolicy) -> Verdict {
    let inconclusive = |reason: String| Verdict::Inconclusive { reason };
    if let Some(problem) = policy.problem() {
        return inconclusive(problem);
    }
    let needed = policy.min_samples.max(MIN_SAMPLES_PER_SIDE);
    let too_few = |who_has: &str, samples: u64| {
        if samples > MAX_SAMPLES_PER_SIDE {
            Some(format!("{who_has} {samples} samples, more than the 2^53 a histogram can plausibly hold"))
        } else {
            (samples < needed).then(|| format!("{who_has} {samples} samples, the policy needs at least {needed}"))
        }
    };
    let merged_controls = (!controls.is_empty()).then(|| {
        let mut merged = Histogram::default();
        controls.iter().for_each(|control| merged.merge(control));
        merged
    });
    let shortage = too_few("the canary has", canary.samples())
        .or_else(|| too_few("the baseline has", baseline.samples()))
        .or_else(|| merged_controls.as_ref().and_then(|c| too_few(&controls_have(controls.len()), c.samples())));
    if let Some(reason) = shortage {
        return inconclusive(reason);
    }
    let Some(against_baseline) = compare(canary, baseline, Reference::Baseline, policy) else {
        return inconclusive("the U test had too few samples".to_owned());
    };
    let against_controls = match &merged_controls {
        None => None,
        Some(merged) => match compare(canary, merged, Reference::Controls { hosts: controls.len() }, policy) {
            Some(comparison) => Some(comparison),
            None => return inconclusive("the U test had too few samples".to_owned()),
        },
    };
    let regressed = against_baseline.regressed && against_controls.is_none_or(|c| c.regressed);
    if regressed {
        Verdict::Fail { baseline: against_baseline, controls: against_controls }
    } else {
        Verdict::Pass { baseline: against_baseline, controls: against_controls }
    }
}

fn compare(canary: &Histogram, reference: &Histogram, kind: Reference, policy: &CanaryPolicy) -> Option<Comparison> {
    let test = mann_whitney(canary, reference)?;
    let canary_p99_us = canary.quantile(0.99)?;
    let reference_p99_us = reference.quantile(0.99)?;
    let p99_ratio = canary_p99_us.max(1) as f64 / reference_p99_us.max(1) as f64;
    let regressed = test.p_value < policy.alpha && test.effect >= policy.min_effect && p99_ratio > policy.max_p99_ratio;
    Some(Comparison { reference: kind, test, canary_p99_us, reference_p99_us, p99_ratio, regressed })
}

fn controls_have(count: usize) -> String {
    match count {
        1 => "the control host has".to_owned(),
        n => format!("the {n} control hosts together have"),
    }
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.reference {
            Reference::Baseline => f.write_str("against its baseline")?,
            Reference::Controls { hosts: 1 } => f.write_str("against 1 control host")?,
            Reference::Controls { hosts } => write!(f, "against {hosts} control hosts")?,
        }
        let p = self.test.p_value;
        let p = if p >= 0.001 { format!("{p:.3}") } else { format!("{p:.1e}") };
        write!(
            f,
            ": {} (p99 {} µs vs {} µs, ×{:.2}; p = {p}; effect {:.3}; n = {} vs {})",
            if self.regressed { "regressed" } else { "within tolerance" },
            self.canary_p99_us,
            self.reference_p99_us,
            self.p99_ratio,
            self.test.effect,
            self.test.n_canary,
            self.test.n_baseline,
        )
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (word, baseline, controls) = match self {
            Verdict::Inconclusive { reason } => return write!(f, "inconclusive: {reason}"),
            Verdict::Pass { baseline, controls } => ("pass", baseline, controls),
            Verdict::Fail { baseline, controls } => ("fail", baseline, controls),
        };
        write!(f, "{word}: wake-up latency {baseline}")?;
        match controls {
            Some(controls) => write!(f, "; {controls}"),
            None => f.write_str("; no control hosts"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Twice the canary's U by the definition, over all pairs of samples.
    fn naive_twice_u(canary: &[u64], baseline: &[u64]) -> u128 {
        let mut twice = 0;
        for c in canary {
            for b in baseline {
                twice += match c.cmp(b) {
                    std::cmp::Ordering::Greater => 2,
                    std::cmp::Ordering::Equal => 1,
                    std::cmp::Ordering::Less => 0,
                };
            }
        }
        twice
    }

    fn expand(hist: &Histogram) -> Vec<u64> {
        hist.buckets.iter().flat_map(|&(bound, count)| std::iter::repeat_n(bound, count as usize)).collect()
    }

    fn ranks(canary: &[u64], baseline: &[u64]) -> RankSum {
        RankSum::of(&Histogram::from_samples(canary), &Histogram::from_samples(baseline))
    }

    /// Log2-spaced buckets (1, 2, 4 … µs) with binomial(16, ½) weights
    /// centred on 2^`center` µs: a skewed, latency-like shape. Raising
    /// `center` by one doubles every latency.
    fn latency(center: u32, samples: u64) -> Histogram {
        let binomial = |k: u64| (0..k).fold(1u64, |acc, i| acc * (16 - i) / (i + 1));
        let buckets = (0..=16u64)
            .map(|k| (1u64 << (center + k as u32 - 8), samples * binomial(k) / 65_536))
            .filter(|&(_, count)| count > 0)
            .collect();
        Histogram { buckets }
    }

    /// SplitMix64: a tiny deterministic generator, enough for test data.
    struct SplitMix(u64);

    impl SplitMix {
        fn below(&mut self, n: u64) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            (z ^ (z >> 31)) % n
        }
    }

    fn close(got: f64, want: f64, relative: f64) -> bool {
        (got - want).abs() <= relative * want.abs()
    }

    #[test]
    fn u_of_disjoint_samples_is_zero_or_n1_n2() {
        assert_eq!(ranks(&[1, 2, 3], &[4, 5, 6]).twice_u, 0, "the canary is never slower");
        assert_eq!(ranks(&[4, 5, 6], &[1, 2, 3]).twice_u, 18, "U = 9: the canary is always slower");
    }

    #[test]
    fn u_with_ties_uses_mid_ranks() {
        // Canary {1, 2, 2, 3}, baseline {2, 2, 4}. Pooled and ranked: 1 → 1;
        // the four 2s share ranks 2..=5, mid-rank 3.5; 3 → 6; 4 → 7. The
        // canary's rank sum is 1 + 3.5 + 3.5 + 6 = 14, so U = 14 − 4·5/2 = 4
        // (by pairs: each canary 2 ties two baseline 2s, the 3 beats both).
        let r = ranks(&[1, 2, 2, 3], &[2, 2, 4]);
        assert_eq!((r.twice_u, r.n_canary, r.n_baseline), (8, 4, 3));
        assert_eq!(r.ties, Ties::Exact(4 * 4 * 4 - 4));
        // σ² = 4·3/12 · (8 − 60/(7·6)) = 46/7; z = (4 − 6 − 0.5)/σ.
        let test = r.test();
        assert!(close(test.z, -2.5 / (46.0f64 / 7.0).sqrt(), 1e-14), "z = {}", test.z);
        assert!(close(test.effect, 4.0 / 12.0, 1e-15));
    }

    #[test]
    #[allow(clippy::excessive_precision, reason = "reference digits are kept as mpmath prints them")]
    fn wikipedia_tortoise_and_hare() {
        // Wikipedia, "Mann–Whitney U test", illustration of calculation
        // methods: six tortoises and six hares finish in the order
        // T H H H H H T T T T T H. Counting, for each hare, the tortoises it
        // beats gives 5, 5, 5, 5, 5, 0: U_H = 25 (and U_T = 11). With finishing
        // positions as latencies, "a hare beats a tortoise" is "the tortoise
        // is slower", so the tortoises' U in our sense is 25.
        let tortoises = [1, 7, 8, 9, 10, 11];
        let hares = [2, 3, 4, 5, 6, 12];
        assert_eq!(naive_twice_u(&tortoises, &hares), 50);
        assert_eq!(ranks(&tortoises, &hares).twice_u, 50);
        assert_eq!(ranks(&hares, &tortoises).twice_u, 22);
        // No ties: σ² = 6·6·13/12 = 39, z = (25 − 18 − 0.5)/√39 = 1.0408330…,
        // p = P(Z ≥ z) = 0.1489765… (mpmath at 30 digits).
        let test = ranks(&tortoises, &hares).test();
        assert!(close(test.z, 6.5 / 39f64.sqrt(), 1e-15), "z = {}", test.z);
        assert!(close(test.z, 1.040_832_999_733_066_4, 1e-15), "z = {}", test.z);
        assert!(close(test.p_value, 0.148_976_530_804_083_88, 1e-14), "p = {}", test.p_value);
        assert!(mann_whitney(&Histogram::from_samples(&tortoises), &Histogram::from_samples(&hares)).is_none());
    }

    #[test]
    fn histogram_u_equals_the_pairwise_count_on_random_data() {
        let mut rng = SplitMix(0x5eed);
        for case in 0..2_000 {
            // Few distinct bounds so that ties are common; some empty and
            // repeated buckets, and unsorted lists, to exercise the ordering.
            let random_histogram = |rng: &mut SplitMix| {
                let buckets = (0..rng.below(8)).map(|_| (rng.below(10), rng.below(5))).collect::<Vec<_>>();
                Histogram { buckets }
            };
            let (canary, baseline) = (random_histogram(&mut rng), random_histogram(&mut rng));
            let (c, b) = (expand(&canary), expand(&baseline));
            let r = RankSum::of(&canary.in_order(), &baseline.in_order());
            assert_eq!(r.twice_u, naive_twice_u(&c, &b), "case {case}: {canary:?} vs {baseline:?}");
            assert_eq!((r.n_canary, r.n_baseline), (c.len() as u64, b.len() as u64));
            let mut pooled = Histogram::from_samples(&c);
            pooled.merge(&Histogram::from_samples(&b));
            let ties: u128 = pooled.buckets.iter().map(|&(_, t)| u128::from(t).pow(3) - u128::from(t)).sum();
            assert_eq!(r.ties, Ties::Exact(ties), "case {case}");
        }
    }

    #[test]
    fn u_of_both_directions_adds_up_to_n1_n2() {
        let (canary, baseline) = (latency(9, 3_000), latency(8, 5_000));
        let forward = mann_whitney(&canary, &baseline).unwrap();
        let backward = mann_whitney(&baseline, &canary).unwrap();
        let pairs = forward.n_canary as f64 * forward.n_baseline as f64;
        assert_eq!(forward.u + backward.u, pairs);
        assert!(close(forward.effect + backward.effect, 1.0, 1e-15));
    }

    #[test]
    fn huge_counts_do_not_overflow() {
        // 2⁵² samples a side: t³ no longer fits 128 bits and the tie sum is
        // carried in floating point.
        let big = |center| Histogram {
            buckets: latency(center, 1 << 16).buckets.iter().map(|&(b, c)| (b, c << 36)).collect(),
        };
        let same = mann_whitney(&big(8), &big(8)).unwrap();
        assert_eq!((same.n_canary, same.effect), (1 << 52, 0.5));
        assert!((same.p_value - 0.5).abs() < 1e-6, "p = {}", same.p_value);
        let shifted = mann_whitney(&big(9), &big(8)).unwrap();
        assert!(shifted.p_value == 0.0 && (shifted.effect - 0.636).abs() < 0.005, "{shifted:?}");
        let moderate = |center| Histogram {
            buckets: latency(center, 1 << 16).buckets.iter().map(|&(b, c)| (b, c << 20)).collect(),
        };
        let r = RankSum::of(&moderate(9), &moderate(8));
        assert!(matches!(r.ties, Ties::Exact(_)), "2³⁶ samples in all keep the tie sum exact");
    }

    #[test]
    fn the_test_needs_twenty_samples_a_side() {
        let twenty = Histogram { buckets: vec![(10, 12), (20, 8)] };
        let nineteen = Histogram { buckets: vec![(10, 12), (20, 7)] };
        assert!(mann_whitney(&twenty, &twenty).is_some());
        assert!(mann_whitney(&nineteen, &twenty).is_none());
        assert!(mann_whitney(&twenty, &nineteen).is_none());
    }

    #[test]
    fn all_samples_in_one_bucket_is_no_evidence() {
        let flat = Histogram { buckets: vec![(50, 1_000)] };
        let test = mann_whitney(&flat, &flat).unwrap();
        assert_eq!((test.u, test.z, test.p_value, test.effect), (500_000.0, 0.0, 1.0, 0.5));
    }

    #[test]
    fn quantiles_of_a_synthetic_histogram() {
        // 100 samples: 50 at 10 µs, 40 at 20, 9 at 40, 1 at 80.
        let hist = Histogram { buckets: vec![(10, 50), (15, 0), (20, 40), (40, 9), (80, 1)] };
        assert_eq!(hist.samples(), 100);
        let q = |q| hist.quantile(q);
        assert_eq!((q(0.0), q(0.5), q(0.51), q(0.9), q(0.91)), (Some(10), Some(10), Some(20), Some(20), Some(40)));
        assert_eq!((q(0.99), q(0.995), q(1.0)), (Some(40), Some(80), Some(80)));
        assert_eq!((q(-0.1), q(1.1), q(f64::NAN)), (None, None, None));
        assert_eq!(Histogram::default().quantile(0.5), None);
        // 0.07 · 100 is 7.000000000000001 in floats; the rank must still be 7.
        let ones = Histogram { buckets: (1..=100).map(|v| (v, 1)).collect() };
        assert_eq!(ones.quantile(0.07), Some(7));
        assert_eq!(latency(10, 65_536).quantile(0.5), Some(1 << 10));
    }

    #[test]
    fn merge_adds_bucket_by_bucket() {
        let mut hist = Histogram { buckets: vec![(1, 2), (4, 1), (8, 3)] };
        hist.merge(&Histogram { buckets: vec![(2, 5), (4, 2), (16, 1)] });
        assert_eq!(hist.buckets, vec![(1, 2), (2, 5), (4, 3), (8, 3), (16, 1)]);
        hist.merge(&Histogram { buckets: vec![(16, 1), (1, 1)] });
        assert_eq!(hist.buckets, vec![(1, 3), (2, 5), (4, 3), (8, 3), (16, 2)]);
        assert_eq!(hist.samples(), 16);
    }

    #[test]
    fn equal_distributions_pass() {
        let (canary, baseline) = (latency(8, 10_000), latency(8, 10_000));
        let test = mann_whitney(&canary, &baseline).unwrap();
        assert_eq!(test.effect, 0.5);
        assert!((test.p_value - 0.5).abs() < 1e-3, "p = {}", test.p_value);
        let verdict = judge(&canary, &baseline, &[latency(8, 5_000), latency(8, 5_000)], &CanaryPolicy::default());
        assert!(matches!(verdict, Verdict::Pass { .. }), "{verdict}");
    }

    #[test]
    fn doubled_latency_fails() {
        let (canary, baseline) = (latency(9, 5_000), latency(8, 5_000));
        let controls = [latency(8, 3_000), latency(8, 3_000), latency(8, 3_000)];
        let verdict = judge(&canary, &baseline, &controls, &CanaryPolicy::default());
        let Verdict::Fail { baseline: against, controls: Some(against_controls) } = &verdict else {
            panic!("{verdict}");
        };
        // The latency spans 16 octaves, so doubling it gives an effect of
        // ½ + ½ P(D = 0) + ½ P(D = −1) with D the difference of two
        // binomial(16, ½) buckets: ½ + (C(32, 16) + C(32, 15)) / 2³³ ≈ 0.636.
        assert!(against.test.p_value < 1e-100 && (against.test.effect - 0.636).abs() < 0.005, "{against}");
        assert_eq!((against.p99_ratio, against_controls.reference), (2.0, Reference::Controls { hosts: 3 }));
        // Without controls, the baseline alone decides.
        let verdict = judge(&canary, &baseline, &[], &CanaryPolicy::default());
        assert!(matches!(verdict, Verdict::Fail { controls: None, .. }), "{verdict}");
    }

    #[test]
    fn a_tiny_significant_shift_passes_on_effect_size() {
        // 2% of wake-ups become very slow: significant with 100,000 samples,
        // and the p99 lands in the slow bucket, but the effect is only ~0.51.
        let baseline = latency(8, 100_000);
        let mut canary = baseline.clone();
        assert_eq!(canary.buckets[8].0, 256);
        canary.buckets[8].1 -= 2_000;
        canary.buckets.push((1 << 20, 2_000));
        let verdict = judge(&canary, &baseline, &[], &CanaryPolicy::default());
        let Verdict::Pass { baseline: against, .. } = &verdict else { panic!("{verdict}") };
        assert!(against.test.p_value < 1e-6 && against.p99_ratio > 1.25, "{against}");
        assert!(against.test.effect < 0.52, "{against}");
        let no_floor = CanaryPolicy { min_effect: 0.5, ..CanaryPolicy::default() };
        assert!(matches!(judge(&canary, &baseline, &[], &no_floor), Verdict::Fail { .. }));
    }

    #[test]
    fn a_shift_below_the_p99_passes_on_tolerance() {
        // The body moves from 100 to 200 µs, the p99 stays at 1 ms.
        let baseline = Histogram { buckets: vec![(100, 5_000), (200, 4_800), (1_000, 200)] };
        let canary = Histogram { buckets: vec![(100, 2_000), (200, 7_800), (1_000, 200)] };
        let verdict = judge(&canary, &baseline, &[], &CanaryPolicy::default());
        let Verdict::Pass { baseline: against, .. } = &verdict else { panic!("{verdict}") };
        assert!(against.test.p_value < 1e-100, "{against}");
        // 0.78·0.50 slower + 0.02·0.98 slower + ½(0.20·0.50 + 0.78·0.48 + 0.02·0.02) tied.
        assert!(close(against.test.effect, 0.647, 1e-12), "{against}");
        assert_eq!(against.p99_ratio, 1.0);
    }

    #[test]
    fn a_shift_the_controls_share_passes() {
        // The whole fleet got twice as slow during the bake: load, not the
        // scheduler. The own baseline sees a regression, the controls do not.
        let (canary, baseline) = (latency(9, 5_000), latency(8, 5_000));
        let controls = [latency(9, 4_000), latency(9, 4_000)];
        let verdict = judge(&canary, &baseline, &controls, &CanaryPolicy::default());
        let Verdict::Pass { baseline: against, controls: Some(against_controls) } = &verdict else {
            panic!("{verdict}")
        };
        assert!(against.regressed && !against_controls.regressed, "{verdict}");
        // And the other way round: slower than the controls but not than
        // itself (a slow machine to begin with) is no regression either.
        let verdict = judge(&canary, &canary, &[latency(8, 5_000)], &CanaryPolicy::default());
        assert!(matches!(verdict, Verdict::Pass { .. }), "{verdict}");
    }

    #[test]
    fn too_few_samples_are_inconclusive() {
        let policy = CanaryPolicy::default();
        let (plenty, few) = (latency(8, 5_000), Histogram { buckets: vec![(100, 100), (200, 50)] });
        let reason = |verdict: Verdict| match verdict {
            Verdict::Inconclusive { reason } => reason,
            other => panic!("{other}"),
        };
        assert_eq!(
            reason(judge(&few, &plenty, &[], &policy)),
            "the canary has 150 samples, the policy needs at least 200"
        );
        assert!(reason(judge(&plenty, &few, &[latency(8, 5_000)], &policy)).starts_with("the baseline has 150"));
        let controls = [latency(8, 100), latency(8, 50)];
        assert!(reason(judge(&plenty, &plenty, &controls, &policy)).starts_with("the 2 control hosts together have"));
        // A policy asking for fewer than the test's floor still gets the floor.
        let lax = CanaryPolicy { min_samples: 1, ..policy };
        let tiny = Histogram { buckets: vec![(1, 10)] };
        assert!(reason(judge(&tiny, &plenty, &[], &lax)).ends_with("needs at least 20"));
        let corrupt = Histogram { buckets: vec![(10, u64::MAX), (20, u64::MAX)] };
        assert!(reason(judge(&plenty, &corrupt, &[], &policy)).contains("more than the 2^53"));
        assert!(mann_whitney(&corrupt, &plenty).is_none());
        let broken = CanaryPolicy { alpha: f64::NAN, ..policy };
        assert!(reason(judge(&plenty, &plenty, &[], &broken)).contains("`alpha`"));
    }

    #[test]
    fn verdicts_serialize_and_display() {
        let verdict = judge(&latency(9, 5_000), &latency(8, 5_000), &[latency(8, 5_000)], &CanaryPolicy::default());
        let json = serde_json::to_string(&verdict).unwrap();
        assert!(json.starts_with(r#"{"verdict":"fail","baseline":{"reference":{"kind":"baseline"},"#), "{json}");
        let again = serde_json::from_str::<Verdict>(&json).unwrap();
        assert_eq!(serde_json::to_string(&again).unwrap(), json);
        let text = verdict.to_string();
        assert!(text.starts_with("fail: wake-up latency against its baseline: regressed (p99 "), "{text}");
        assert!(text.contains("; against 1 control host: regressed"), "{text}");
        let hist: Histogram = serde_json::from_str(r#"{"buckets":[[4,2],[104,1]]}"#).unwrap();
        assert_eq!(hist.buckets, vec![(4, 2), (104, 1)]);
        let policy: CanaryPolicy = serde_json::from_str(r#"{"alpha":0.001}"#).unwrap();
        assert_eq!(policy, CanaryPolicy { alpha: 0.001, ..CanaryPolicy::default() });
    }
}
