//! The statistics of the audit, written to give numpy's and scipy's answers
//! on the same data (the Python check in `tests/python/check_audit.py`
//! compares them to 1e-9).
//!
//! Values are `f64` with NaN for "no value" (null, non-numeric, missing
//! member). Like the reference, which converts each column with
//! `to_numpy(dtype=float64, na_value=nan)` and masks with `np.isfinite`, a
//! pair of columns is compared on the rows where both are finite.

/// Spread at or below this (a population standard deviation) counts as
/// none: the reference's `np.std(x) <= 1e-12`.
pub const MIN_SPREAD: f64 = 1e-12;

/// Fewest finite pairs a correlation is computed on.
pub const MIN_PAIRS: usize = 3;

/// Pearson's r over the rows where both `a` and `b` are finite; NaN with
/// fewer than [`MIN_PAIRS`] such rows or when either side has no spread.
/// Two passes (means first), so large offsets do not cost precision.
pub fn pearson(a: &[f64], b: &[f64]) -> f64 {
    debug_assert_eq!(a.len(), b.len());
    let pairs = || {
        a.iter()
            .zip(b)
            .filter(|(x, y)| x.is_finite() && y.is_finite())
    };
    let (mut count, mut sum_a, mut sum_b) = (0usize, 0.0, 0.0);
    for (x, y) in pairs() {
        count += 1;
        sum_a += x;
        sum_b += y;
    }
    if count < MIN_PAIRS {
        return f64::NAN;
    }
    let (mean_a, mean_b) = (sum_a / count as f64, sum_b / count as f64);
    let (mut square_a, mut square_b, mut cross) = (0.0, 0.0, 0.0);
    for (x, y) in pairs() {
        let (dx, dy) = (x - mean_a, y - mean_b);
        square_a += dx * dx;
        square_b += dy * dy;
        cross += dx * dy;
    }
    let n = count as f64;
    if (square_a / n).sqrt() <= MIN_SPREAD || (square_b / n).sqrt() <= MIN_SPREAD {
        return f64::NAN;
    }
    (cross / (square_a.sqrt() * square_b.sqrt())).clamp(-1.0, 1.0)
}

/// Average ranks (1-based, ties share the mean of their ranks) of every
/// value that is not NaN; NaN stays NaN. Infinities are ranked like any
/// other value, as pandas' `Series.rank(method="average")` does.
pub fn average_ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).filter(|&i| !values[i].is_nan()).collect();
    order.sort_by(|&i, &j| {
        values[i]
            .partial_cmp(&values[j])
            .expect("NaN was filtered out")
    });
    let mut ranks = vec![f64::NAN; values.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && values[order[end]] == values[order[start]] {
            end += 1;
        }
        // Positions start..end hold ranks start+1 ..= end.
        let rank = (start + 1 + end) as f64 / 2.0;
        for &index in &order[start..end] {
            ranks[index] = rank;
        }
        start = end;
    }
    ranks
}

/// Spearman's rho as the reference computes it: each column ranked on its
/// own (average ranks), then Pearson's r of the ranks over the rows where
/// both are finite.
pub fn spearman(a: &[f64], b: &[f64]) -> f64 {
    pearson(&average_ranks(a), &average_ranks(b))
}

/// What the reference reports about a column's finite values.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FiniteStats {
    /// Finite values over all rows.
    pub finite_ratio: f64,
    pub mean: f64,
    /// Population standard deviation (numpy's default `ddof=0`).
    pub std: f64,
    pub min: f64,
    pub max: f64,
}

impl FiniteStats {
    /// Whether the column has values and they vary.
    pub fn has_spread(&self) -> bool {
        !self.std.is_nan() && self.std > MIN_SPREAD
    }
}

/// Finite ratio, mean, standard deviation, min and max of the finite values.
pub fn finite_stats(values: &[f64]) -> FiniteStats {
    let finite = || values.iter().copied().filter(|v| v.is_finite());
    let count = finite().count();
    if count == 0 {
        return FiniteStats {
            finite_ratio: 0.0,
            mean: f64::NAN,
            std: f64::NAN,
            min: f64::NAN,
            max: f64::NAN,
        };
    }
    let (mean, std) = mean_std(finite());
    FiniteStats {
        finite_ratio: count as f64 / values.len().max(1) as f64,
        mean,
        std,
        min: finite().fold(f64::INFINITY, f64::min),
        max: finite().fold(f64::NEG_INFINITY, f64::max),
    }
}

/// Mean and population standard deviation of `values` (NaN, NaN when empty).
pub fn mean_std(values: impl Iterator<Item = f64> + Clone) -> (f64, f64) {
    let (count, sum) = values
        .clone()
        .fold((0usize, 0.0), |(n, s), v| (n + 1, s + v));
    if count == 0 {
        return (f64::NAN, f64::NAN);
    }
    let mean = sum / count as f64;
    let squares: f64 = values.map(|v| (v - mean) * (v - mean)).sum();
    (mean, (squares / count as f64).sqrt())
}

/// Each finite value's place among the finite values of `values`, from 0
/// (lowest) to 1 (highest), ties sharing their average rank; NaN where the
/// value is not finite. `1 - p` when `invert` (lower is better). A single
/// finite value sits at 0.5.
pub fn percentiles(values: &[f64], invert: bool) -> Vec<f64> {
    let finite: Vec<f64> = values
        .iter()
        .map(|v| if v.is_finite() { *v } else { f64::NAN })
        .collect();
    let count = finite.iter().filter(|v| !v.is_nan()).count();
    average_ranks(&finite)
        .into_iter()
        .map(|rank| {
            if rank.is_nan() {
                return f64::NAN;
            }
            let p = if count < 2 {
                0.5
            } else {
                (rank - 1.0) / (count - 1) as f64
            };
            if invert {
                1.0 - p
            } else {
                p
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn pearson_masks_non_finite_pairs() {
        let a = [1.0, 2.0, 3.0, f64::NAN, 5.0, f64::INFINITY];
        let b = [2.0, 4.0, 6.0, 8.0, 10.0, 1.0];
        assert!(close(pearson(&a, &b), 1.0));
        assert!(close(pearson(&a, &[10.0, 8.0, 6.0, 0.0, 2.0, 0.0]), -1.0));
    }

    #[test]
    fn pearson_needs_three_pairs_and_spread() {
        assert!(pearson(&[1.0, 2.0], &[1.0, 2.0]).is_nan());
        assert!(pearson(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]).is_nan());
        assert!(pearson(&[1.0, 2.0, f64::NAN, 4.0], &[f64::NAN, 1.0, 2.0, 3.0]).is_nan());
    }

    #[test]
    fn pearson_keeps_precision_far_from_zero() {
        let a: Vec<f64> = (0..24).map(|i| 1e9 + i as f64).collect();
        let b: Vec<f64> = (0..24).map(|i| 0.5 + 0.01 * i as f64).collect();
        assert!(close(pearson(&a, &b), 1.0));
    }

    #[test]
    fn ranks_average_ties_and_keep_nan() {
        let ranks = average_ranks(&[3.0, f64::NAN, 1.0, 3.0, 2.0, 0.0, -0.0]);
        assert_eq!(ranks[0], 5.5);
        assert!(ranks[1].is_nan());
        assert_eq!(ranks[2], 3.0);
        assert_eq!(ranks[3], 5.5);
        assert_eq!(ranks[4], 4.0);
        // 0.0 and -0.0 are equal, so they tie.
        assert_eq!(ranks[5], 1.5);
        assert_eq!(ranks[6], 1.5);
        let infinite = average_ranks(&[f64::INFINITY, 1.0, f64::NEG_INFINITY]);
        assert_eq!(infinite, vec![3.0, 2.0, 1.0]);
    }

    #[test]
    fn spearman_ranks_each_column_before_masking() {
        // Monotone but not linear.
        let a = [1.0, 2.0, 3.0, 4.0, 5.0];
        let b = [1.0, 4.0, 9.0, 16.0, 250.0];
        assert!(close(spearman(&a, &b), 1.0));
        assert!(pearson(&a, &b) < 1.0);
    }

    #[test]
    fn finite_stats_like_numpy() {
        let stats = finite_stats(&[1.0, 2.0, f64::NAN, 3.0]);
        assert_eq!(stats.finite_ratio, 0.75);
        assert_eq!(stats.mean, 2.0);
        assert!(close(stats.std, (2.0f64 / 3.0).sqrt()));
        assert_eq!((stats.min, stats.max), (1.0, 3.0));
        assert!(stats.has_spread());
        let empty = finite_stats(&[f64::NAN]);
        assert_eq!(empty.finite_ratio, 0.0);
        assert!(empty.mean.is_nan() && !empty.has_spread());
        assert!(!finite_stats(&[10.0, 10.0, 10.0]).has_spread());
    }

    #[test]
    fn percentiles_from_zero_to_one() {
        let p = percentiles(&[10.0, 30.0, f64::NAN, 20.0, 20.0], false);
        assert_eq!(p[0], 0.0);
        assert_eq!(p[1], 1.0);
        assert!(p[2].is_nan());
        assert_eq!(p[3], 0.5);
        let inverted = percentiles(&[10.0, 30.0], true);
        assert_eq!(inverted, vec![1.0, 0.0]);
        assert_eq!(percentiles(&[7.0], false), vec![0.5]);
    }
}
