//! Sufficient statistics, the only inputs of the fixed-horizon and sequential methods: moments of a
//! per-unit metric, counts for proportions, joint moments for ratio metrics and CUPED covariates.
//! All of them can be built from running sums that the store adds up (`n`, Σx, Σx², Σxy).

use crate::error::{check_finite, Reason, StatsError};

/// Count, mean and unbiased (n - 1) variance of a per-unit metric in one variant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Moments {
    pub n: f64,
    pub mean: f64,
    pub variance: f64,
}

impl Moments {
    pub fn new(n: f64, mean: f64, variance: f64) -> Self {
        Moments { n, mean, variance }
    }

    /// From running sums; the variance is clamped at 0 against rounding of Σx² - n·mean².
    pub fn from_sums(n: f64, sum: f64, sum_sq: f64) -> Self {
        if n <= 0.0 {
            return Moments::new(n, 0.0, 0.0);
        }
        let mean = sum / n;
        let variance = if n > 1.0 {
            ((sum_sq - sum * mean) / (n - 1.0)).max(0.0)
        } else {
            0.0
        };
        Moments::new(n, mean, variance)
    }

    /// From per-unit values (two-pass, for tests and small inputs).
    pub fn from_values(values: &[f64]) -> Self {
        let n = values.len() as f64;
        if values.is_empty() {
            return Moments::new(0.0, 0.0, 0.0);
        }
        let mean = values.iter().sum::<f64>() / n;
        let ss: f64 = values.iter().map(|v| (v - mean) * (v - mean)).sum();
        let variance = if n > 1.0 { ss / (n - 1.0) } else { 0.0 };
        Moments::new(n, mean, variance)
    }

    /// Variance of the mean, s²/n.
    pub fn variance_of_mean(&self) -> f64 {
        self.variance / self.n
    }

    /// Rejects degenerate moments: n < 2, non-finite values, zero variance.
    pub(crate) fn validate(&self) -> Result<(), StatsError> {
        check_finite(&[self.n, self.mean, self.variance])?;
        if self.n < 2.0 {
            return Err(StatsError::data(Reason::TooFewUnits));
        }
        if self.variance <= 0.0 {
            return Err(StatsError::data(Reason::ZeroVariance));
        }
        Ok(())
    }
}

/// Units and the number of them with the event, for a binary metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Proportion {
    pub n: u64,
    pub successes: u64,
}

impl Proportion {
    pub fn new(n: u64, successes: u64) -> Self {
        Proportion { n, successes }
    }
    pub fn rate(&self) -> f64 {
        self.successes as f64 / self.n as f64
    }
    /// Moments of the 0/1 per-unit metric with the maximum-likelihood variance p(1-p), as in the
    /// z-test of two proportions.
    pub fn moments(&self) -> Moments {
        let p = self.rate();
        Moments::new(self.n as f64, p, p * (1.0 - p))
    }
    pub(crate) fn validate(&self) -> Result<(), StatsError> {
        if self.n < 2 || self.successes > self.n {
            return Err(StatsError::data(Reason::TooFewUnits));
        }
        Ok(())
    }
}

/// Joint moments of a ratio metric's numerator and denominator per unit (e.g. clicks and
/// impressions per user), over the units of one variant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RatioMoments {
    pub n: f64,
    pub numerator_mean: f64,
    pub denominator_mean: f64,
    pub numerator_variance: f64,
    pub denominator_variance: f64,
    pub covariance: f64,
}

impl RatioMoments {
    /// From running sums Σm, Σd, Σm², Σd², Σmd.
    pub fn from_sums(
        n: f64,
        sum_num: f64,
        sum_den: f64,
        sum_num_sq: f64,
        sum_den_sq: f64,
        sum_cross: f64,
    ) -> Self {
        let num = Moments::from_sums(n, sum_num, sum_num_sq);
        let den = Moments::from_sums(n, sum_den, sum_den_sq);
        let covariance = if n > 1.0 {
            (sum_cross - sum_num * sum_den / n) / (n - 1.0)
        } else {
            0.0
        };
        RatioMoments {
            n,
            numerator_mean: num.mean,
            denominator_mean: den.mean,
            numerator_variance: num.variance,
            denominator_variance: den.variance,
            covariance,
        }
    }

    /// The ratio of means μ_m / μ_d.
    pub fn ratio(&self) -> f64 {
        self.numerator_mean / self.denominator_mean
    }

    /// Delta-method per-unit variance of the ratio:
    /// s_m²/μ_d² + s_d²·μ_m²/μ_d⁴ − 2·cov·μ_m/μ_d³ (divide by n for the variance of the ratio).
    pub fn linearized_variance(&self) -> f64 {
        let (mm, md) = (self.numerator_mean, self.denominator_mean);
        (self.numerator_variance / (md * md)
            + self.denominator_variance * mm * mm / (md * md * md * md)
            - 2.0 * self.covariance * mm / (md * md * md))
            .max(0.0)
    }

    /// The ratio seen as a mean of the linearized per-unit metric.
    pub fn linearized(&self) -> Moments {
        Moments::new(self.n, self.ratio(), self.linearized_variance())
    }

    pub(crate) fn validate(&self) -> Result<(), StatsError> {
        check_finite(&[
            self.n,
            self.numerator_mean,
            self.denominator_mean,
            self.numerator_variance,
            self.denominator_variance,
            self.covariance,
        ])?;
        if self.n < 2.0 {
            return Err(StatsError::data(Reason::TooFewUnits));
        }
        if self.denominator_mean == 0.0 {
            return Err(StatsError::data(Reason::ZeroDenominatorMean));
        }
        if self.linearized_variance() <= 0.0 {
            return Err(StatsError::data(Reason::ZeroVariance));
        }
        Ok(())
    }
}

/// Moments of a pre-exposure covariate x for one variant, with its covariance with the metric.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Covariate {
    pub mean: f64,
    pub variance: f64,
    /// cov(metric, x); for a ratio metric see [`RatioCovariate`].
    pub covariance: f64,
}

/// Covariate moments for a ratio metric: covariances of x with numerator and denominator.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RatioCovariate {
    pub mean: f64,
    pub variance: f64,
    pub numerator_covariance: f64,
    pub denominator_covariance: f64,
}

impl RatioCovariate {
    /// Covariance of x with the linearized ratio metric m/μ_d − μ_m·d/μ_d².
    pub fn linearized(&self, ratio: &RatioMoments) -> Covariate {
        let (mm, md) = (ratio.numerator_mean, ratio.denominator_mean);
        Covariate {
            mean: self.mean,
            variance: self.variance,
            covariance: self.numerator_covariance / md
                - mm * self.denominator_covariance / (md * md),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_and_values_agree() {
        let xs = [1.0, 4.0, 2.5, 8.0, -1.0];
        let a = Moments::from_values(&xs);
        let b = Moments::from_sums(5.0, xs.iter().sum(), xs.iter().map(|x| x * x).sum());
        assert!((a.mean - 2.9).abs() < 1e-15);
        assert!((a.variance - b.variance).abs() < 1e-12);
        assert!((a.variance - 11.55).abs() < 1e-12);
    }

    #[test]
    fn ratio_of_constant_ratio_has_zero_variance() {
        // Numerator is exactly twice the denominator: the ratio has no sampling variance.
        let d = [1.0, 2.0, 5.0, 3.0];
        let sum_d: f64 = d.iter().sum();
        let sum_d2: f64 = d.iter().map(|x| x * x).sum();
        let r =
            RatioMoments::from_sums(4.0, 2.0 * sum_d, sum_d, 4.0 * sum_d2, sum_d2, 2.0 * sum_d2);
        assert!((r.ratio() - 2.0).abs() < 1e-15);
        assert!(r.linearized_variance() < 1e-12);
        assert_eq!(r.validate(), Err(StatsError::data(Reason::ZeroVariance)));
    }
}
