//! Descriptive statistics and confidence intervals for perf samples.
//!
//! Definitions, so that numbers in `perf.json` can be reproduced elsewhere:
//!
//! - **Percentiles** use linear interpolation between closest ranks
//!   (Hyndman & Fan type 7, the default of NumPy and R, Excel's
//!   `PERCENTILE.INC`): for sorted `x[0..n]` and `p` in `[0, 1]`, with
//!   `h = (n - 1) p`, the value is `x[⌊h⌋] + (h - ⌊h⌋)(x[⌊h⌋+1] - x[⌊h⌋])`.
//! - **Standard deviation** is the sample one (divisor `n - 1`); it is 0 for
//!   a single sample.
//! - **CI of the mean** is Student t: `mean ± t(1 - α/2, n - 1) · s / √n`.
//!   With one sample the interval collapses to the mean (no spread is known).
//! - **Bootstrap CI of the relative difference of means** (run vs baseline)
//!   resamples both sides with replacement and takes the percentile interval
//!   of `mean(run*) / mean(base*) - 1`. The generator is SplitMix64 seeded
//!   from the metric name (FNV-1a), so a report is reproducible bit for bit
//!   and does not depend on the `rand` crate's algorithm choices.

/// Descriptive statistics of one sample set; `None` fields mean "no samples".
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub n: usize,
    pub min: f64,
    pub max: f64,
    pub mean: f64,
    pub stddev: f64,
    pub p25: f64,
    pub p50: f64,
    pub p75: f64,
    pub p90: f64,
    pub p99: f64,
    /// Student-t confidence interval of the mean at [`Summary::level`].
    pub ci_low: f64,
    pub ci_high: f64,
    pub level: f64,
}

/// Summarises `samples` with a `level` (e.g. 0.95) t-interval of the mean.
/// Returns `None` for an empty slice or any non-finite value.
pub fn summarize(samples: &[f64], level: f64) -> Option<Summary> {
    if samples.is_empty() || samples.iter().any(|v| !v.is_finite()) {
        return None;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    let m = mean(&sorted)?;
    let sd = stddev(&sorted).unwrap_or(0.0);
    let (ci_low, ci_high) = t_interval(m, sd, n, level);
    Some(Summary {
        n,
        min: sorted[0],
        max: sorted[n - 1],
        mean: m,
        stddev: sd,
        p25: percentile_sorted(&sorted, 0.25)?,
        p50: percentile_sorted(&sorted, 0.50)?,
        p75: percentile_sorted(&sorted, 0.75)?,
        p90: percentile_sorted(&sorted, 0.90)?,
        p99: percentile_sorted(&sorted, 0.99)?,
        ci_low,
        ci_high,
        level,
    })
}

/// Arithmetic mean; `None` when empty.
pub fn mean(samples: &[f64]) -> Option<f64> {
    if samples.is_empty() {
        return None;
    }
    Some(samples.iter().sum::<f64>() / samples.len() as f64)
}

/// Sample standard deviation (divisor `n - 1`); `None` when empty, 0 for one sample.
pub fn stddev(samples: &[f64]) -> Option<f64> {
    let m = mean(samples)?;
    if samples.len() < 2 {
        return Some(0.0);
    }
    let ss: f64 = samples.iter().map(|v| (v - m) * (v - m)).sum();
    Some((ss / (samples.len() - 1) as f64).sqrt())
}

/// Type-7 percentile of an ascending slice; `p` is clamped to `[0, 1]`.
pub fn percentile_sorted(sorted: &[f64], p: f64) -> Option<f64> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    let h = (n - 1) as f64 * p.clamp(0.0, 1.0);
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(n - 1);
    Some(sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo]))
}

/// Type-7 percentile of unsorted samples.
pub fn percentile(samples: &[f64], p: f64) -> Option<f64> {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    percentile_sorted(&sorted, p)
}

/// Two-sided Student-t interval of a mean.
pub fn t_interval(mean: f64, stddev: f64, n: usize, level: f64) -> (f64, f64) {
    if n < 2 {
        return (mean, mean);
    }
    let t = t_quantile(0.5 + level.clamp(0.0, 0.999_999) / 2.0, (n - 1) as f64);
    let half = t * stddev / (n as f64).sqrt();
    (mean - half, mean + half)
}

/// Quantile of Student's t distribution with `df` degrees of freedom,
/// `p` in `(0, 1)`. Found by bisection on the CDF, which is monotone, so the
/// answer is accurate to ~1e-10 without special-casing small `df`.
pub fn t_quantile(p: f64, df: f64) -> f64 {
    if p == 0.5 {
        return 0.0;
    }
    if p < 0.5 {
        return -t_quantile(1.0 - p, df);
    }
    let (mut lo, mut hi) = (0.0_f64, 1.0_f64);
    while t_cdf(hi, df) < p && hi < 1e12 {
        hi *= 2.0;
    }
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if t_cdf(mid, df) < p {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo < 1e-12 * hi.max(1.0) {
            break;
        }
    }
    0.5 * (lo + hi)
}

/// CDF of Student's t: `1 - I_x(df/2, 1/2) / 2` for `t > 0`, `x = df / (df + t²)`.
pub fn t_cdf(t: f64, df: f64) -> f64 {
    let x = df / (df + t * t);
    let tail = 0.5 * reg_inc_beta(x, df / 2.0, 0.5);
    if t >= 0.0 { 1.0 - tail } else { tail }
}

/// Regularised incomplete beta `I_x(a, b)` via its continued fraction
/// (modified Lentz), using the symmetry `I_x(a,b) = 1 - I_{1-x}(b,a)` where
/// the fraction converges slowly.
fn reg_inc_beta(x: f64, a: f64, b: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let ln_front = ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln();
    if x < (a + 1.0) / (a + b + 2.0) {
        ln_front.exp() * beta_cf(x, a, b) / a
    } else {
        1.0 - ln_front.exp() * beta_cf(1.0 - x, b, a) / b
    }
}

fn beta_cf(x: f64, a: f64, b: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let mut c = 1.0;
    let mut d = 1.0 - (a + b) * x / (a + 1.0);
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..500 {
        let m = m as f64;
        // Even step.
        let num = m * (b - m) * x / ((a + 2.0 * m - 1.0) * (a + 2.0 * m));
        d = 1.0 + num * d;
        d = if d.abs() < TINY { 1.0 / TINY } else { 1.0 / d };
        c = 1.0 + num / c;
        if c.abs() < TINY {
            c = TINY;
        }
        h *= d * c;
        // Odd step.
        let num = -(a + m) * (a + b + m) * x / ((a + 2.0 * m) * (a + 2.0 * m + 1.0));
        d = 1.0 + num * d;
        d = if d.abs() < TINY { 1.0 / TINY } else { 1.0 / d };
        c = 1.0 + num / c;
        if c.abs() < TINY {
            c = TINY;
        }
        let delta = d * c;
        h *= delta;
        if (delta - 1.0).abs() < 1e-15 {
            break;
        }
    }
    h
}

/// `ln Γ(x)` for `x > 0` (Lanczos, g = 7, n = 9; ~15 significant digits).
fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection keeps the series in its accurate range.
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut acc = C[0];
    for (i, c) in C.iter().enumerate().skip(1) {
        acc += c / (x + i as f64);
    }
    let t = x + G + 0.5;
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + acc.ln()
}

/// A small deterministic generator (SplitMix64). Not for cryptography; its
/// only job is a reproducible bootstrap.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// Seeds from a name (FNV-1a 64), so each metric gets its own stream.
    pub fn from_name(name: &str) -> Self {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in name.as_bytes() {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        SplitMix64(h)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform index in `0..n` (multiply-shift; the bias is below 2^-32 for
    /// any sample count we will see).
    pub fn index(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }
}

/// Bootstrap interval of the relative change of the mean, `run / base - 1`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RelativeChange {
    /// Point estimate from the observed means.
    pub estimate: f64,
    pub low: f64,
    pub high: f64,
    pub level: f64,
    pub resamples: usize,
}

/// Percentile-bootstrap CI of `mean(run) / mean(base) - 1`.
///
/// Returns `None` when either side is empty or non-finite, or the baseline
/// mean is not positive (a relative change is then meaningless). With a
/// single sample on both sides the interval collapses to the estimate.
pub fn bootstrap_relative_change(
    run: &[f64],
    base: &[f64],
    level: f64,
    resamples: usize,
    rng: &mut SplitMix64,
) -> Option<RelativeChange> {
    if run.iter().chain(base).any(|v| !v.is_finite()) {
        return None;
    }
    let m_run = mean(run)?;
    let m_base = mean(base)?;
    if m_base <= 0.0 {
        return None;
    }
    let estimate = m_run / m_base - 1.0;
    let resamples = resamples.max(1);
    let mut dist = Vec::with_capacity(resamples);
    for _ in 0..resamples {
        let r = resample_mean(run, rng);
        let b = resample_mean(base, rng);
        if b > 0.0 {
            dist.push(r / b - 1.0);
        }
    }
    if dist.is_empty() {
        return None;
    }
    dist.sort_by(f64::total_cmp);
    let alpha = (1.0 - level.clamp(0.0, 1.0)) / 2.0;
    Some(RelativeChange {
        estimate,
        low: percentile_sorted(&dist, alpha)?,
        high: percentile_sorted(&dist, 1.0 - alpha)?,
        level,
        resamples,
    })
}

fn resample_mean(samples: &[f64], rng: &mut SplitMix64) -> f64 {
    let n = samples.len();
    let mut sum = 0.0;
    for _ in 0..n {
        sum += samples[rng.index(n)];
    }
    sum / n as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn t_quantiles_match_published_tables() {
        // Two-sided 95% critical values from standard t tables.
        for (df, want) in [
            (1.0, 12.706),
            (2.0, 4.303),
            (5.0, 2.571),
            (10.0, 2.228),
            (30.0, 2.042),
            (120.0, 1.980),
        ] {
            let got = t_quantile(0.975, df);
            assert!(close(got, want, 5e-4), "df={df}: got {got}, want {want}");
        }
        assert!(close(t_quantile(0.995, 4.0), 4.604, 5e-4));
        assert!(close(t_quantile(0.025, 10.0), -2.228, 5e-4));
        // Large df approaches the normal quantile.
        assert!(close(t_quantile(0.975, 1e6), 1.95996, 1e-4));
    }

    #[test]
    fn percentiles_are_type_7() {
        let xs = [15.0, 20.0, 35.0, 40.0, 50.0];
        assert_eq!(percentile(&xs, 0.0), Some(15.0));
        assert_eq!(percentile(&xs, 1.0), Some(50.0));
        assert_eq!(percentile(&xs, 0.5), Some(35.0));
        // h = 4 * 0.4 = 1.6 -> 20 + 0.6 * 15 = 29.
        assert!(close(percentile(&xs, 0.4).unwrap_or(f64::NAN), 29.0, 1e-12));
        assert_eq!(percentile(&[7.0], 0.99), Some(7.0));
        assert_eq!(percentile(&[], 0.5), None);
    }

    #[test]
    fn summary_mean_stddev_and_t_interval() {
        let xs = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0];
        let s = summarize(&xs, 0.95).expect("non-empty");
        assert_eq!(s.n, 8);
        assert!(close(s.mean, 5.0, 1e-12));
        // Sample variance = 32 / 7.
        assert!(close(s.stddev, (32.0f64 / 7.0).sqrt(), 1e-12));
        let half = 2.364_624 * s.stddev / 8f64.sqrt();
        assert!(close(s.ci_low, 5.0 - half, 1e-4), "{s:?}");
        assert!(close(s.ci_high, 5.0 + half, 1e-4), "{s:?}");
        let one = summarize(&[3.0], 0.95).expect("one sample");
        assert_eq!((one.stddev, one.ci_low, one.ci_high), (0.0, 3.0, 3.0));
        assert!(summarize(&[], 0.95).is_none());
        assert!(summarize(&[1.0, f64::NAN], 0.95).is_none());
    }

    #[test]
    fn bootstrap_is_deterministic_per_name_and_brackets_the_change() {
        let base: Vec<f64> = (0..30).map(|i| 100.0 + f64::from(i % 5)).collect();
        let run: Vec<f64> = base.iter().map(|v| v * 0.8).collect();
        let a = bootstrap_relative_change(&run, &base, 0.95, 2000, &mut SplitMix64::from_name("m"));
        let b = bootstrap_relative_change(&run, &base, 0.95, 2000, &mut SplitMix64::from_name("m"));
        assert_eq!(a, b);
        let a = a.expect("comparable");
        assert!(close(a.estimate, -0.2, 1e-12));
        assert!(a.low <= a.estimate && a.estimate <= a.high, "{a:?}");
        assert!(a.high < -0.18 && a.low > -0.22, "{a:?}");
        assert!(
            bootstrap_relative_change(&run, &[0.0, 0.0], 0.95, 10, &mut SplitMix64::new(1))
                .is_none()
        );
        assert!(bootstrap_relative_change(&[], &base, 0.95, 10, &mut SplitMix64::new(1)).is_none());
    }

    #[test]
    fn rng_index_stays_in_range_and_names_differ() {
        let mut r = SplitMix64::from_name("x");
        assert!((0..10_000).all(|_| r.index(7) < 7));
        assert_ne!(
            SplitMix64::from_name("a").next_u64(),
            SplitMix64::from_name("b").next_u64()
        );
    }
}
