//! Seeded bootstrap confidence intervals over units (percentile method, Efron & Tibshirani 1993,
//! ch. 13): for per-unit values (e.g. interleaving credit per query) and for per-unit (numerator,
//! denominator) pairs of a ratio metric, one sample or the difference of two.

use crate::error::{check, check_alpha, check_finite, Reason, StatsError};
use crate::rng::Rng;

/// Bootstrap settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bootstrap {
    pub resamples: usize,
    pub alpha: f64,
    pub seed: u64,
}

/// A bootstrap estimate with its percentile interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BootstrapInterval {
    /// The statistic on the original sample.
    pub estimate: f64,
    pub lower: f64,
    pub upper: f64,
    /// Standard deviation of the bootstrap replicates.
    pub std_error: f64,
}

fn mean(values: &[f64], idx: impl Iterator<Item = usize>) -> f64 {
    let (mut s, mut n) = (0.0, 0usize);
    for i in idx {
        s += values[i];
        n += 1;
    }
    s / n as f64
}

fn ratio(pairs: &[(f64, f64)], idx: impl Iterator<Item = usize>) -> f64 {
    let (mut a, mut b) = (0.0, 0.0);
    for i in idx {
        a += pairs[i].0;
        b += pairs[i].1;
    }
    a / b
}

impl Bootstrap {
    pub fn new(resamples: usize, alpha: f64, seed: u64) -> Self {
        Bootstrap {
            resamples,
            alpha,
            seed,
        }
    }

    fn validate(&self) -> Result<(), StatsError> {
        check_alpha(self.alpha)?;
        check(
            self.resamples >= 100,
            "resamples",
            self.resamples as f64,
            "at least 100 resamples",
        )
    }

    /// Runs `stat` on `resamples` index draws per sample; `sizes` are the sample sizes.
    fn run(
        &self,
        estimate: f64,
        sizes: &[usize],
        mut stat: impl FnMut(&[Vec<usize>]) -> f64,
    ) -> Result<BootstrapInterval, StatsError> {
        self.validate()?;
        let mut rng = Rng::new(self.seed);
        let mut idx: Vec<Vec<usize>> = sizes.iter().map(|&n| vec![0; n]).collect();
        let mut reps = Vec::with_capacity(self.resamples);
        for _ in 0..self.resamples {
            for v in idx.iter_mut() {
                let n = v.len() as u64;
                for slot in v.iter_mut() {
                    *slot = rng.below(n) as usize;
                }
            }
            let r = stat(&idx);
            if r.is_finite() {
                reps.push(r);
            }
        }
        // Resamples with a zero denominator are dropped; too many means the data cannot support it.
        if reps.len() < self.resamples / 2 {
            return Err(StatsError::data(Reason::ZeroDenominatorMean));
        }
        reps.sort_by(f64::total_cmp);
        let q = |p: f64| {
            // Linear interpolation between order statistics (numpy's default percentile).
            let h = p * (reps.len() - 1) as f64;
            let (i, f) = (h.floor() as usize, h - h.floor());
            if i + 1 < reps.len() {
                reps[i] + f * (reps[i + 1] - reps[i])
            } else {
                reps[i]
            }
        };
        let m = reps.iter().sum::<f64>() / reps.len() as f64;
        let var = reps.iter().map(|r| (r - m) * (r - m)).sum::<f64>() / (reps.len() - 1) as f64;
        Ok(BootstrapInterval {
            estimate,
            lower: q(self.alpha / 2.0),
            upper: q(1.0 - self.alpha / 2.0),
            std_error: var.sqrt(),
        })
    }

    /// Interval for the mean of per-unit values.
    pub fn mean(&self, values: &[f64]) -> Result<BootstrapInterval, StatsError> {
        check_finite(values)?;
        if values.len() < 2 {
            return Err(StatsError::data(Reason::TooFewUnits));
        }
        let est = mean(values, 0..values.len());
        self.run(est, &[values.len()], |idx| {
            mean(values, idx[0].iter().copied())
        })
    }

    /// Interval for treatment mean − control mean, resampling units within each arm.
    pub fn mean_difference(
        &self,
        control: &[f64],
        treatment: &[f64],
    ) -> Result<BootstrapInterval, StatsError> {
        check_finite(control)?;
        check_finite(treatment)?;
        if control.len() < 2 || treatment.len() < 2 {
            return Err(StatsError::data(Reason::TooFewUnits));
        }
        let est = mean(treatment, 0..treatment.len()) - mean(control, 0..control.len());
        self.run(est, &[control.len(), treatment.len()], |idx| {
            mean(treatment, idx[1].iter().copied()) - mean(control, idx[0].iter().copied())
        })
    }

    /// Interval for Σnumerator / Σdenominator over units given as (numerator, denominator) pairs.
    pub fn ratio(&self, pairs: &[(f64, f64)]) -> Result<BootstrapInterval, StatsError> {
        let est = checked_ratio(pairs)?;
        self.run(est, &[pairs.len()], |idx| {
            ratio(pairs, idx[0].iter().copied())
        })
    }

    /// Interval for the difference of ratio metrics, treatment − control.
    pub fn ratio_difference(
        &self,
        control: &[(f64, f64)],
        treatment: &[(f64, f64)],
    ) -> Result<BootstrapInterval, StatsError> {
        let est = checked_ratio(treatment)? - checked_ratio(control)?;
        self.run(est, &[control.len(), treatment.len()], |idx| {
            ratio(treatment, idx[1].iter().copied()) - ratio(control, idx[0].iter().copied())
        })
    }
}

fn checked_ratio(pairs: &[(f64, f64)]) -> Result<f64, StatsError> {
    if pairs.len() < 2 {
        return Err(StatsError::data(Reason::TooFewUnits));
    }
    if !pairs.iter().all(|(a, b)| a.is_finite() && b.is_finite()) {
        return Err(StatsError::data(Reason::NonFiniteInput));
    }
    let r = ratio(pairs, 0..pairs.len());
    if !r.is_finite() {
        return Err(StatsError::data(Reason::ZeroDenominatorMean));
    }
    Ok(r)
}
