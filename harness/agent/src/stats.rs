//! Latency summaries shared by the client modes.

use serde::Serialize;

/// Latency summary in milliseconds; percentiles use nearest-rank.
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    pub count: u64,
    pub min: f64,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

impl Latency {
    /// `None` when there are no samples, so the report says `null`
    /// rather than a misleading 0.
    pub fn from_ms(samples: &[f64]) -> Option<Latency> {
        if samples.is_empty() {
            return None;
        }
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        let rank = |q: f64| {
            let idx = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
            sorted[idx]
        };
        let sum: f64 = sorted.iter().sum();
        Some(Latency {
            count: sorted.len() as u64,
            min: sorted[0],
            mean: sum / sorted.len() as f64,
            p50: rank(0.50),
            p90: rank(0.90),
            p99: rank(0.99),
            max: sorted[sorted.len() - 1],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let s: Vec<f64> = (1..=100).map(f64::from).collect();
        let l = Latency::from_ms(&s).unwrap();
        assert_eq!(l.count, 100);
        assert_eq!(l.min, 1.0);
        assert_eq!(l.p50, 50.0);
        assert_eq!(l.p90, 90.0);
        assert_eq!(l.p99, 99.0);
        assert_eq!(l.max, 100.0);
        assert!((l.mean - 50.5).abs() < 1e-9);
    }

    #[test]
    fn empty_is_none() {
        assert!(Latency::from_ms(&[]).is_none());
    }
}
