//! Summaries of timed samples: the percentiles every table prints, computed one way.

use std::time::Duration;

/// The median and 99th percentile of a set of samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub median: Duration,
    pub p99: Duration,
}

impl Summary {
    /// Summarize `samples`; `None` when there are none.
    pub fn of(mut samples: Vec<Duration>) -> Option<Self> {
        samples.sort_unstable();
        Some(Self {
            median: percentile(&samples, 0.5)?,
            p99: percentile(&samples, 0.99)?,
        })
    }
}

/// The sample at quantile `q` (0..=1) of sorted `samples`, nearest rank on the 0-based index
/// `(n - 1) * q`; `None` for an empty slice.
pub fn percentile(sorted: &[Duration], q: f64) -> Option<Duration> {
    let last = sorted.len().checked_sub(1)?;
    let rank = (last as f64 * q.clamp(0.0, 1.0)).round() as usize;
    sorted.get(rank.min(last)).copied()
}

/// Milliseconds as a float, for printing.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn millis(values: &[u64]) -> Vec<Duration> {
        values.iter().map(|&v| Duration::from_millis(v)).collect()
    }

    #[test]
    fn percentile_of_nothing_is_none() {
        assert_eq!(percentile(&[], 0.5), None);
        assert_eq!(Summary::of(Vec::new()), None);
    }

    #[test]
    fn one_sample_is_every_percentile() {
        let one = millis(&[7]);
        assert_eq!(percentile(&one, 0.0), Some(Duration::from_millis(7)));
        assert_eq!(percentile(&one, 0.99), Some(Duration::from_millis(7)));
    }

    #[test]
    fn median_of_odd_count_is_the_middle_sample() {
        let sorted = millis(&[1, 2, 3, 4, 5]);
        assert_eq!(percentile(&sorted, 0.5), Some(Duration::from_millis(3)));
    }

    #[test]
    fn p99_of_a_hundred_samples_is_the_second_largest() {
        // Ranks 0..=99; (99 * 0.99).round() = 98.
        let sorted: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&sorted, 0.99), Some(Duration::from_millis(99)));
    }

    #[test]
    fn summary_sorts_before_taking_ranks() {
        let summary = Summary::of(millis(&[9, 1, 5, 3, 7])).expect("five samples");
        assert_eq!(
            summary.median,
            Duration::from_millis(5),
            "middle of 1 3 5 7 9"
        );
        assert_eq!(summary.p99, Duration::from_millis(9), "largest of five");
    }

    #[test]
    fn quantiles_outside_zero_to_one_are_clamped() {
        let sorted = millis(&[1, 2, 3]);
        assert_eq!(percentile(&sorted, -1.0), Some(Duration::from_millis(1)));
        assert_eq!(percentile(&sorted, 2.0), Some(Duration::from_millis(3)));
    }
}
