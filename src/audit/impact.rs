//! Would the second opinions help a retrain? A cross-validated estimate: a
//! ridge regression of the target on the full-reference columns alone
//! (*baseline*) against the same plus the second-opinion columns, on the
//! same rows and the same folds.
//!
//! - **Baseline columns**: the healthy signal columns (finite ratio ≥
//!   `--min-finite-ratio`, some spread) that are not no-reference / MOS
//!   evidence (not in `no_reference_ugc`, not a no-reference scorer's), plus
//!   `vmaf`/`vmaf_score` when they are not the target (the reference keeps
//!   other target candidates out of the signals, but VMAF is the first
//!   full-reference feature a MOS model has).
//! - **Second-opinion columns**: the healthy `_score` and component columns
//!   of no-reference scorers, values whose `_status` is not `ok` left out.
//! - **Rows**: those where the target and every selected column are finite
//!   (complete cases), in table order.
//! - **Folds**: the rows are shuffled with a Fisher–Yates shuffle driven by
//!   SplitMix64 seeded with `--seed` (for i from n−1 down to 1, swap i with
//!   `next() % (i + 1)`), then cut into `--folds` consecutive folds, the
//!   first `n % k` one row larger (scikit-learn's `KFold` sizes).
//! - **Model** per fold: features standardised with the training fold's
//!   mean and population standard deviation (a constant feature is scaled
//!   by 1), ridge with intercept and `--ridge-alpha` (default 1.0), solved
//!   by Cholesky — scikit-learn's `StandardScaler` + `Ridge`.
//! - **Scores** per test fold: PLCC (Pearson), SROCC (Spearman, average
//!   ranks), RMSE; summarised by mean, population standard deviation, min
//!   and max over the folds, and the difference of the means (with − without;
//!   for RMSE lower is better).
//!
//! Below [`MIN_TEST_ROWS`] rows per test fold nothing is estimated; below
//! [`RELIABLE_ROWS`] rows the estimate is given but marked unreliable.

use super::data::TableData;
use super::families::{Classifier, ColumnClass, ColumnRole, Evidence, NO_REFERENCE_FAMILY};
use super::stats;

/// Fewest rows in a test fold (a correlation needs 3).
pub const MIN_TEST_ROWS: usize = 3;

/// Fewer complete rows than this and the estimate is called unreliable.
pub const RELIABLE_ROWS: usize = 100;

#[derive(Clone, Copy, Debug)]
pub struct ImpactOptions {
    pub folds: usize,
    pub seed: u64,
    pub alpha: f64,
    pub min_finite_ratio: f64,
}

/// One metric over the folds.
#[derive(Clone, Copy, Debug)]
pub struct MetricSummary {
    pub mean: f64,
    pub std: f64,
    pub min: f64,
    pub max: f64,
    /// Folds where the metric was defined.
    pub folds: usize,
}

impl MetricSummary {
    fn of(values: &[f64]) -> MetricSummary {
        let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        let (mean, std) = stats::mean_std(finite.iter().copied());
        MetricSummary {
            mean,
            std,
            min: finite.iter().copied().fold(f64::NAN, f64::min),
            max: finite.iter().copied().fold(f64::NAN, f64::max),
            folds: finite.len(),
        }
    }
}

/// The scores of one model on one test fold.
#[derive(Clone, Copy, Debug)]
pub struct FoldScores {
    pub train_rows: usize,
    pub test_rows: usize,
    pub plcc: f64,
    pub srocc: f64,
    pub rmse: f64,
}

#[derive(Clone, Debug)]
pub struct ModelScores {
    pub columns: Vec<String>,
    pub folds: Vec<FoldScores>,
    pub plcc: MetricSummary,
    pub srocc: MetricSummary,
    pub rmse: MetricSummary,
}

impl ModelScores {
    fn new(columns: Vec<String>, folds: Vec<FoldScores>) -> ModelScores {
        let metric =
            |f: fn(&FoldScores) -> f64| MetricSummary::of(&folds.iter().map(f).collect::<Vec<_>>());
        ModelScores {
            plcc: metric(|f| f.plcc),
            srocc: metric(|f| f.srocc),
            rmse: metric(|f| f.rmse),
            columns,
            folds,
        }
    }
}

/// The estimate.
#[derive(Clone, Debug)]
pub struct Impact {
    pub target: String,
    pub rows: usize,
    pub folds: usize,
    pub seed: u64,
    pub alpha: f64,
    pub baseline: ModelScores,
    pub with_second_opinions: ModelScores,
    /// Per metric, the with − without difference of the per-fold scores.
    pub plcc_gain: MetricSummary,
    pub srocc_gain: MetricSummary,
    pub rmse_gain: MetricSummary,
    pub reliable: bool,
    pub note: String,
}

/// Why there is no estimate.
#[derive(Clone, Debug)]
pub struct NoImpact {
    pub reason: String,
    /// What was there, for the report.
    pub rows: usize,
    pub baseline_columns: Vec<String>,
    pub second_opinion_columns: Vec<String>,
}

/// The columns each model uses.
pub fn impact_columns(
    data: &TableData,
    classifier: &Classifier,
    classes: &[ColumnClass],
    signal_columns: &[String],
    target: &str,
    min_finite_ratio: f64,
) -> (Vec<String>, Vec<String>) {
    let healthy = |column: &str, values: &[f64]| {
        let s = stats::finite_stats(values);
        column != target && s.finite_ratio >= min_finite_ratio && s.has_spread()
    };
    let mut baseline = Vec::new();
    let mut second_opinion = Vec::new();
    for (column, class) in data.columns.iter().zip(classes) {
        let Some(values) = data.numeric(column) else {
            continue;
        };
        let nr_owner = class
            .owner
            .as_ref()
            .filter(|(owner, _)| classifier.scorers[*owner].evidence == Evidence::NoReference);
        if let Some((_, role)) = nr_owner {
            if matches!(role, ColumnRole::Score | ColumnRole::Component(_))
                && signal_columns.contains(column)
                && healthy(column, values)
            {
                second_opinion.push(column.clone());
            }
            continue;
        }
        let no_reference = class
            .primary()
            .is_some_and(|f| classifier.key(f) == NO_REFERENCE_FAMILY);
        let vmaf = matches!(column.to_lowercase().as_str(), "vmaf" | "vmaf_score");
        if ((signal_columns.contains(column) && !no_reference) || vmaf) && healthy(column, values) {
            baseline.push(column.clone());
        }
    }
    (baseline, second_opinion)
}

/// SplitMix64, the generator of the fold shuffle.
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// The folds of `n` rows: positions 0..n shuffled, cut in `k` consecutive
/// parts, the first `n % k` one larger.
pub fn folds(n: usize, k: usize, seed: u64) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..n).collect();
    let mut random = SplitMix64::new(seed);
    for i in (1..n).rev() {
        let j = (random.next_u64() % (i as u64 + 1)) as usize;
        order.swap(i, j);
    }
    let mut start = 0;
    (0..k)
        .map(|fold| {
            let size = n / k + usize::from(fold < n % k);
            let part = order[start..start + size].to_vec();
            start += size;
            part
        })
        .collect()
}

/// The values of `column` with non-ok statuses left out, for a scorer's
/// columns.
fn model_values(
    data: &TableData,
    classifier: &Classifier,
    classes: &[ColumnClass],
    column: &str,
) -> Vec<f64> {
    let index = data
        .columns
        .iter()
        .position(|c| c == column)
        .expect("column");
    let values = data.numeric(column).expect("numeric");
    let status = classes[index].owner.as_ref().and_then(|(owner, _)| {
        let name = format!(
            "{}_{}_status",
            classifier.prefix, classifier.scorers[*owner].slug
        );
        data.text(&name)
    });
    match status {
        Some(statuses) => values
            .iter()
            .zip(statuses)
            .map(|(v, s)| {
                if s.as_deref() == Some("ok") {
                    *v
                } else {
                    f64::NAN
                }
            })
            .collect(),
        None => values.to_vec(),
    }
}

/// Estimate the retrain impact of the second-opinion columns.
pub fn estimate(
    data: &TableData,
    classifier: &Classifier,
    classes: &[ColumnClass],
    signal_columns: &[String],
    target: Option<&str>,
    options: ImpactOptions,
) -> Result<Impact, NoImpact> {
    let no = |reason: String, rows, baseline: &[String], second: &[String]| NoImpact {
        reason,
        rows,
        baseline_columns: baseline.to_vec(),
        second_opinion_columns: second.to_vec(),
    };
    let Some(target) = target.filter(|t| data.is_numeric(t)) else {
        return Err(no("no numeric target column".to_string(), 0, &[], &[]));
    };
    let (baseline, second) = impact_columns(
        data,
        classifier,
        classes,
        signal_columns,
        target,
        options.min_finite_ratio,
    );
    if second.is_empty() {
        return Err(no(
            "no healthy second-opinion score columns of a no-reference scorer in the table"
                .to_string(),
            0,
            &baseline,
            &second,
        ));
    }
    let target_values = data.numeric(target).expect("numeric target");
    let baseline_values: Vec<Vec<f64>> = baseline
        .iter()
        .map(|c| model_values(data, classifier, classes, c))
        .collect();
    let second_values: Vec<Vec<f64>> = second
        .iter()
        .map(|c| model_values(data, classifier, classes, c))
        .collect();
    let complete: Vec<usize> = (0..data.rows)
        .filter(|&row| {
            target_values[row].is_finite()
                && baseline_values.iter().all(|v| v[row].is_finite())
                && second_values.iter().all(|v| v[row].is_finite())
        })
        .collect();
    let n = complete.len();
    let k = options.folds;
    if n < k * MIN_TEST_ROWS {
        return Err(no(
            format!(
                "too small: {n} rows have the target and every model column; {k} folds need at least {} \
                 ({MIN_TEST_ROWS} test rows per fold)",
                k * MIN_TEST_ROWS
            ),
            n,
            &baseline,
            &second,
        ));
    }
    let gather = |values: &[Vec<f64>]| -> Vec<Vec<f64>> {
        values
            .iter()
            .map(|v| complete.iter().map(|&row| v[row]).collect())
            .collect()
    };
    let y: Vec<f64> = complete.iter().map(|&row| target_values[row]).collect();
    let baseline_owned = gather(&baseline_values);
    let second_owned = gather(&second_values);
    drop((baseline_values, second_values));
    let baseline_x: Vec<&[f64]> = baseline_owned.iter().map(Vec::as_slice).collect();
    let mut full_x = baseline_x.clone();
    full_x.extend(second_owned.iter().map(Vec::as_slice));
    let parts = folds(n, k, options.seed);
    let mut baseline_folds = Vec::with_capacity(k);
    let mut full_folds = Vec::with_capacity(k);
    for test in &parts {
        let mut in_test = vec![false; n];
        test.iter().for_each(|&i| in_test[i] = true);
        let train: Vec<usize> = (0..n).filter(|&i| !in_test[i]).collect();
        baseline_folds.push(fit_and_score(&baseline_x, &y, &train, test, options.alpha));
        full_folds.push(fit_and_score(&full_x, &y, &train, test, options.alpha));
    }
    let gain = |f: fn(&FoldScores) -> f64| {
        MetricSummary::of(
            &baseline_folds
                .iter()
                .zip(&full_folds)
                .map(|(b, w)| f(w) - f(b))
                .collect::<Vec<_>>(),
        )
    };
    let reliable = n >= RELIABLE_ROWS;
    let note = if reliable {
        format!("{n} rows in {k} folds of about {} test rows", n / k)
    } else {
        format!(
            "Only {n} rows: each test fold holds about {} clips, so these numbers are noise-level; \
             treat any difference smaller than its fold-to-fold spread as none",
            n / k
        )
    };
    let mut full_columns = baseline.clone();
    full_columns.extend(second.iter().cloned());
    Ok(Impact {
        target: target.to_string(),
        rows: n,
        folds: k,
        seed: options.seed,
        alpha: options.alpha,
        plcc_gain: gain(|f| f.plcc),
        srocc_gain: gain(|f| f.srocc),
        rmse_gain: gain(|f| f.rmse),
        baseline: ModelScores::new(baseline, baseline_folds),
        with_second_opinions: ModelScores::new(full_columns, full_folds),
        reliable,
        note,
    })
}

/// Fit on `train`, predict `test`, score the predictions.
fn fit_and_score(
    x: &[&[f64]],
    y: &[f64],
    train: &[usize],
    test: &[usize],
    alpha: f64,
) -> FoldScores {
    let predictions = ridge_fit_predict(x, y, train, test, alpha);
    let truth: Vec<f64> = test.iter().map(|&i| y[i]).collect();
    let rmse = (predictions
        .iter()
        .zip(&truth)
        .map(|(p, t)| (p - t) * (p - t))
        .sum::<f64>()
        / truth.len() as f64)
        .sqrt();
    FoldScores {
        train_rows: train.len(),
        test_rows: test.len(),
        plcc: stats::pearson(&predictions, &truth),
        srocc: stats::spearman(&predictions, &truth),
        rmse,
    }
}

/// Standardise with the training rows' statistics, fit ridge with an
/// intercept, predict the test rows. `x` is column-major.
pub fn ridge_fit_predict(
    x: &[&[f64]],
    y: &[f64],
    train: &[usize],
    test: &[usize],
    alpha: f64,
) -> Vec<f64> {
    let p = x.len();
    let scale: Vec<(f64, f64)> = x
        .iter()
        .map(|column| {
            let (mean, std) = stats::mean_std(train.iter().map(|&i| column[i]));
            (mean, if std > 0.0 { std } else { 1.0 })
        })
        .collect();
    let standardised = |j: usize, i: usize| (x[j][i] - scale[j].0) / scale[j].1;
    let z: Vec<Vec<f64>> = (0..p)
        .map(|j| train.iter().map(|&i| standardised(j, i)).collect())
        .collect();
    // Centre again on the training rows (scikit-learn's Ridge does, after
    // the scaler; it only removes rounding), and the target.
    let z_means: Vec<f64> = z
        .iter()
        .map(|c| c.iter().sum::<f64>() / c.len() as f64)
        .collect();
    let y_mean = train.iter().map(|&i| y[i]).sum::<f64>() / train.len() as f64;
    let mut gram = vec![vec![0.0; p]; p];
    let mut rhs = vec![0.0; p];
    for a in 0..p {
        for b in 0..=a {
            let dot: f64 = z[a]
                .iter()
                .zip(&z[b])
                .map(|(u, v)| (u - z_means[a]) * (v - z_means[b]))
                .sum();
            gram[a][b] = dot;
            gram[b][a] = dot;
        }
        gram[a][a] += alpha;
        rhs[a] = z[a]
            .iter()
            .zip(train)
            .map(|(u, &i)| (u - z_means[a]) * (y[i] - y_mean))
            .sum();
    }
    let weights = cholesky_solve(gram, rhs);
    let intercept = y_mean
        - weights
            .iter()
            .zip(&z_means)
            .map(|(w, m)| w * m)
            .sum::<f64>();
    test.iter()
        .map(|&i| intercept + (0..p).map(|j| weights[j] * standardised(j, i)).sum::<f64>())
        .collect()
}

/// Solve `a w = b` for a symmetric positive-definite `a` (ridge's `ZᵀZ + αI`
/// with α > 0 is one).
fn cholesky_solve(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Vec<f64> {
    let n = b.len();
    for j in 0..n {
        let diagonal = a[j][j] - (0..j).map(|k| a[j][k] * a[j][k]).sum::<f64>();
        let diagonal = diagonal.max(f64::MIN_POSITIVE).sqrt();
        a[j][j] = diagonal;
        for i in j + 1..n {
            let value = a[i][j] - (0..j).map(|k| a[i][k] * a[j][k]).sum::<f64>();
            a[i][j] = value / diagonal;
        }
    }
    // L y = b, then Lᵀ w = y.
    for i in 0..n {
        b[i] = (b[i] - (0..i).map(|k| a[i][k] * b[k]).sum::<f64>()) / a[i][i];
    }
    for i in (0..n).rev() {
        b[i] = (b[i] - (i + 1..n).map(|k| a[k][i] * b[k]).sum::<f64>()) / a[i][i];
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix64_reference_values() {
        // The first outputs for seed 0, as published with the algorithm.
        let mut random = SplitMix64::new(0);
        assert_eq!(random.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(random.next_u64(), 0x6E78_9E6A_A1B9_65F4);
    }

    #[test]
    fn folds_partition_like_kfold() {
        let parts = folds(12, 5, 7);
        let sizes: Vec<usize> = parts.iter().map(Vec::len).collect();
        assert_eq!(sizes, [3, 3, 2, 2, 2]);
        let mut all: Vec<usize> = parts.concat();
        all.sort_unstable();
        assert_eq!(all, (0..12).collect::<Vec<_>>());
        assert_eq!(parts, folds(12, 5, 7), "deterministic");
        assert_ne!(parts, folds(12, 5, 8));
    }

    #[test]
    fn ridge_recovers_a_line() {
        // y = 3 + 2x: with a tiny alpha the fit is nearly exact.
        let column: Vec<f64> = (0..20).map(|i| i as f64).collect();
        let x = [column.as_slice()];
        let y: Vec<f64> = (0..20).map(|i| 3.0 + 2.0 * i as f64).collect();
        let train: Vec<usize> = (0..15).collect();
        let test: Vec<usize> = (15..20).collect();
        let predicted = ridge_fit_predict(&x, &y, &train, &test, 1e-9);
        for (p, &i) in predicted.iter().zip(&test) {
            assert!((p - y[i]).abs() < 1e-6, "{p} vs {}", y[i]);
        }
        // No features: the training mean.
        let mean = ridge_fit_predict(&[], &y, &train, &test, 1.0);
        assert!(mean.iter().all(|p| (p - 17.0).abs() < 1e-12));
    }

    #[test]
    fn cholesky_solves() {
        let a = vec![vec![4.0, 2.0], vec![2.0, 3.0]];
        let w = cholesky_solve(a, vec![2.0, 1.0]);
        assert!((w[0] - 0.5).abs() < 1e-12 && w[1].abs() < 1e-12);
    }
}
