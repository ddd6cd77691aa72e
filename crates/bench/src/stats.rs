//! Order statistics over wall times. Medians and high percentiles rather than
//! means: on a shared machine a few runs are always slowed by someone else's
//! build, and those outliers should not move the figure we compare.

use std::time::Duration;

use serde_json::{json, Value};

/// The `q`-quantile (0.0..=1.0) of `samples` by the nearest-rank method: the
/// smallest sample with at least `q` of all samples at or below it. The
/// median (`q = 0.5`) of an even count is the mean of the two middle samples
/// instead, as usual. `None` when there are no samples.
pub fn quantile(samples: &[f64], q: f64) -> Option<f64> {
    if samples.is_empty() {
        return None;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    if q == 0.5 && n.is_multiple_of(2) {
        return Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0);
    }
    let rank = (q.clamp(0.0, 1.0) * n as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, n) - 1])
}

/// The median of `samples`, `None` when empty.
pub fn median(samples: &[f64]) -> Option<f64> {
    quantile(samples, 0.5)
}

/// Wall times of repeated runs of one thing, in milliseconds.
#[derive(Clone, Debug, Default)]
pub struct Samples {
    /// Every run in the order taken, so the JSON keeps drift visible.
    pub ms: Vec<f64>,
}

impl Samples {
    /// Records one run.
    pub fn push(&mut self, elapsed: Duration) {
        self.ms.push(elapsed.as_secs_f64() * 1e3);
    }

    /// Records one run already in milliseconds.
    pub fn push_ms(&mut self, ms: f64) {
        self.ms.push(ms);
    }

    /// Median in ms (0 when nothing was recorded).
    pub fn median(&self) -> f64 {
        median(&self.ms).unwrap_or(0.0)
    }

    /// 90th percentile in ms (0 when nothing was recorded).
    pub fn p90(&self) -> f64 {
        quantile(&self.ms, 0.9).unwrap_or(0.0)
    }

    /// `{"median_ms", "p90_ms", "runs_ms": [...]}`, rounded to µs.
    pub fn to_json(&self) -> Value {
        json!({
            "median_ms": round3(self.median()),
            "p90_ms": round3(self.p90()),
            "runs_ms": self.ms.iter().map(|&v| round3(v)).collect::<Vec<_>>(),
        })
    }
}

/// `a / b`, or `None` when `b` is not a positive number (nothing measured).
pub fn ratio(a: f64, b: f64) -> Option<f64> {
    (b > 0.0 && a.is_finite()).then(|| a / b)
}

/// Rounds to three decimals, for JSON meant to be read by people too.
pub fn round3(v: f64) -> f64 {
    (v * 1e3).round() / 1e3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[7.0]), Some(7.0));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn nearest_rank_percentiles() {
        let ten: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(quantile(&ten, 0.9), Some(9.0));
        assert_eq!(quantile(&ten, 1.0), Some(10.0));
        assert_eq!(quantile(&ten, 0.0), Some(1.0));
        let thirty: Vec<f64> = (1..=30).rev().map(f64::from).collect();
        assert_eq!(quantile(&thirty, 0.9), Some(27.0));
        assert_eq!(quantile(&[5.0, 1.0], 0.9), Some(5.0));
    }

    #[test]
    fn samples_summarise_in_milliseconds() {
        let mut s = Samples::default();
        for ms in [10, 30, 20] {
            s.push(Duration::from_millis(ms));
        }
        assert!((s.median() - 20.0).abs() < 1e-9);
        assert!((s.p90() - 30.0).abs() < 1e-9);
        assert_eq!(s.to_json()["runs_ms"], json!([10.0, 30.0, 20.0]));
    }

    #[test]
    fn ratio_needs_a_measured_denominator() {
        assert_eq!(ratio(6.0, 2.0), Some(3.0));
        assert_eq!(ratio(6.0, 0.0), None);
    }
}
