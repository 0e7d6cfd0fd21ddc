//! Sample ratio mismatch: Pearson's chi-square goodness-of-fit test of the observed units per
//! variant against the configured traffic split (scipy `chisquare`). A tiny p-value means the
//! assignment or the logging is broken and the comparison should not be trusted.

use crate::dist::ChiSquared;
use crate::error::{check, Reason, StatsError};

/// Result of the sample-ratio-mismatch test.
#[derive(Debug, Clone, PartialEq)]
pub struct SrmTest {
    pub statistic: f64,
    pub df: f64,
    pub p_value: f64,
    /// Expected units per variant under the configured split.
    pub expected: Vec<f64>,
}

/// Tests observed counts against split weights (any positive scale; they are normalized).
pub fn sample_ratio_mismatch(observed: &[u64], weights: &[f64]) -> Result<SrmTest, StatsError> {
    check(
        observed.len() >= 2,
        "observed",
        observed.len() as f64,
        "at least two variants",
    )?;
    check(
        weights.len() == observed.len(),
        "weights",
        weights.len() as f64,
        "one weight per variant",
    )?;
    for &w in weights {
        check(w > 0.0 && w.is_finite(), "weights", w, "positive weights")?;
    }
    let total: f64 = observed.iter().map(|&o| o as f64).sum();
    if total <= 0.0 {
        return Err(StatsError::data(Reason::TooFewUnits));
    }
    let wsum: f64 = weights.iter().sum();
    let expected: Vec<f64> = weights.iter().map(|w| total * w / wsum).collect();
    let statistic = observed
        .iter()
        .zip(&expected)
        .map(|(&o, e)| {
            let d = o as f64 - e;
            d * d / e
        })
        .sum();
    let df = (observed.len() - 1) as f64;
    let p_value = ChiSquared::new(df)?.sf(statistic);
    Ok(SrmTest {
        statistic,
        df,
        p_value,
        expected,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balanced_split_has_p_one() {
        let r = sample_ratio_mismatch(&[500, 500], &[1.0, 1.0]).unwrap();
        assert_eq!(r.statistic, 0.0);
        assert!((r.p_value - 1.0).abs() < 1e-15);
        // 2 df: sf(x) = exp(-x/2).
        let r = sample_ratio_mismatch(&[100, 120, 80], &[1.0, 1.0, 1.0]).unwrap();
        assert!((r.statistic - 8.0).abs() < 1e-12);
        assert!((r.p_value - (-4.0f64).exp()).abs() < 1e-15);
        assert!(sample_ratio_mismatch(&[0, 0], &[1.0, 1.0]).is_err());
    }
}
