//! Fixed-horizon comparisons of a treatment with a control from sufficient statistics: Welch's
//! t-test, the two-proportion z-test, ratio metrics and relative lift by the delta method, CUPED
//! regression adjustment, and non-inferiority / superiority tests against a margin.
//!
//! Every comparison returns the absolute difference (treatment − control) with its test, and the
//! relative difference (treatment / control − 1) with a delta-method test when the control mean is
//! not zero. Formulas and sources are in `docs/statistics.md`.

use crate::dist::{Alternative, Normal, StudentT};
use crate::error::{check, check_alpha, Reason, StatsError};
use crate::moments::{Covariate, Moments, Proportion, RatioCovariate, RatioMoments};

/// Significance level and alternative of a test; intervals have coverage 1 − alpha.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TestSpec {
    pub alpha: f64,
    pub alternative: Alternative,
}

impl TestSpec {
    pub fn new(alpha: f64, alternative: Alternative) -> Self {
        TestSpec { alpha, alternative }
    }
    /// Two-sided at the given level.
    pub fn two_sided(alpha: f64) -> Self {
        TestSpec::new(alpha, Alternative::TwoSided)
    }
}

impl Default for TestSpec {
    fn default() -> Self {
        TestSpec::two_sided(0.05)
    }
}

/// A confidence interval; one-sided intervals have an infinite end.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    pub lower: f64,
    pub upper: f64,
}

impl Interval {
    pub fn contains(&self, x: f64) -> bool {
        self.lower <= x && x <= self.upper
    }
    pub fn width(&self) -> f64 {
        self.upper - self.lower
    }
}

/// An estimated effect with its standard error, interval and test of "effect = 0".
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Effect {
    pub estimate: f64,
    pub std_error: f64,
    pub interval: Interval,
    pub statistic: f64,
    pub p_value: f64,
    /// Degrees of freedom of the t reference distribution; `None` means standard normal.
    pub df: Option<f64>,
}

impl Effect {
    /// Builds the test and interval of an asymptotically normal (df = None) or t-distributed
    /// estimate.
    pub fn from_estimate(
        estimate: f64,
        std_error: f64,
        df: Option<f64>,
        spec: TestSpec,
    ) -> Result<Self, StatsError> {
        check_alpha(spec.alpha)?;
        if std_error.is_nan() || std_error <= 0.0 || !std_error.is_finite() || !estimate.is_finite()
        {
            return Err(StatsError::data(Reason::ZeroVariance));
        }
        let reference = Reference::new(df)?;
        let statistic = estimate / std_error;
        let p_value = reference.p_value(statistic, spec.alternative);
        let interval = reference.interval(estimate, std_error, spec);
        Ok(Effect {
            estimate,
            std_error,
            interval,
            statistic,
            p_value,
            df,
        })
    }

    /// Test of "effect = null" (instead of 0) with the same estimate and standard error: returns
    /// (statistic, p-value).
    pub fn test_against(&self, null: f64, alternative: Alternative) -> (f64, f64) {
        let statistic = (self.estimate - null) / self.std_error;
        // df was validated when the effect was built.
        let reference = Reference::new(self.df).unwrap_or(Reference::Normal);
        (statistic, reference.p_value(statistic, alternative))
    }

    /// One-sided bound of coverage 1 − alpha: lower for `Greater`, upper for `Less`; the two-sided
    /// interval ends are returned for `TwoSided` as (lower, upper).
    pub fn bound(&self, alpha: f64, alternative: Alternative) -> Interval {
        let reference = Reference::new(self.df).unwrap_or(Reference::Normal);
        reference.interval(
            self.estimate,
            self.std_error,
            TestSpec::new(alpha, alternative),
        )
    }
}

/// The distribution a statistic is referred to.
#[derive(Debug, Clone, Copy)]
enum Reference {
    Normal,
    T(StudentT),
}

impl Reference {
    fn new(df: Option<f64>) -> Result<Self, StatsError> {
        Ok(match df {
            None => Reference::Normal,
            Some(df) => Reference::T(StudentT::new(df)?),
        })
    }
    fn sf(&self, x: f64) -> f64 {
        match self {
            Reference::Normal => Normal::sf(x),
            Reference::T(t) => t.sf(x),
        }
    }
    fn isf(&self, q: f64) -> f64 {
        match self {
            Reference::Normal => Normal::isf(q),
            Reference::T(t) => t.isf(q),
        }
    }
    fn p_value(&self, statistic: f64, alternative: Alternative) -> f64 {
        match alternative {
            Alternative::TwoSided => (2.0 * self.sf(statistic.abs())).min(1.0),
            Alternative::Greater => self.sf(statistic),
            Alternative::Less => self.sf(-statistic),
        }
    }
    fn interval(&self, estimate: f64, se: f64, spec: TestSpec) -> Interval {
        match spec.alternative {
            Alternative::TwoSided => {
                let q = self.isf(spec.alpha / 2.0);
                Interval {
                    lower: estimate - q * se,
                    upper: estimate + q * se,
                }
            }
            Alternative::Greater => Interval {
                lower: estimate - self.isf(spec.alpha) * se,
                upper: f64::INFINITY,
            },
            Alternative::Less => Interval {
                lower: f64::NEG_INFINITY,
                upper: estimate + self.isf(spec.alpha) * se,
            },
        }
    }
}

/// Result of comparing a treatment with a control.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Comparison {
    pub control_mean: f64,
    pub treatment_mean: f64,
    /// treatment − control.
    pub absolute: Effect,
    /// treatment / control − 1 by the delta method; `None` when the control mean is zero.
    pub relative: Option<Effect>,
}

/// Welch–Satterthwaite degrees of freedom.
fn welch_df(vc: f64, nc: f64, vt: f64, nt: f64) -> f64 {
    let (a, b) = (vc / nc, vt / nt);
    (a + b) * (a + b) / (a * a / (nc - 1.0) + b * b / (nt - 1.0))
}

/// Delta-method relative effect μ_t/μ_c − 1 with variance
/// var_t/(n_t μ_c²) + μ_t² var_c/(n_c μ_c⁴) (independent arms).
fn relative_effect(control: &Moments, treatment: &Moments, spec: TestSpec) -> Option<Effect> {
    let (mc, mt) = (control.mean, treatment.mean);
    if mc == 0.0 {
        return None;
    }
    let var = treatment.variance_of_mean() / (mc * mc)
        + mt * mt * control.variance_of_mean() / (mc * mc * mc * mc);
    Effect::from_estimate(mt / mc - 1.0, var.sqrt(), None, spec).ok()
}

/// Welch's unequal-variance t-test of the difference of means (scipy `ttest_ind(equal_var=False)`).
pub fn welch(
    control: &Moments,
    treatment: &Moments,
    spec: TestSpec,
) -> Result<Comparison, StatsError> {
    control.validate()?;
    treatment.validate()?;
    let se = (control.variance_of_mean() + treatment.variance_of_mean()).sqrt();
    let df = welch_df(control.variance, control.n, treatment.variance, treatment.n);
    let absolute = Effect::from_estimate(treatment.mean - control.mean, se, Some(df), spec)?;
    Ok(Comparison {
        control_mean: control.mean,
        treatment_mean: treatment.mean,
        absolute,
        relative: relative_effect(control, treatment, spec),
    })
}

/// Large-sample z-test of the difference of means (Welch without the t correction), used for ratio
/// and CUPED-adjusted metrics whose variances come from the delta method.
pub fn z_test(
    control: &Moments,
    treatment: &Moments,
    spec: TestSpec,
) -> Result<Comparison, StatsError> {
    control.validate()?;
    treatment.validate()?;
    let se = (control.variance_of_mean() + treatment.variance_of_mean()).sqrt();
    let absolute = Effect::from_estimate(treatment.mean - control.mean, se, None, spec)?;
    Ok(Comparison {
        control_mean: control.mean,
        treatment_mean: treatment.mean,
        absolute,
        relative: relative_effect(control, treatment, spec),
    })
}

/// Two-proportion z-test: the statistic and p-value use the pooled variance (statsmodels
/// `proportions_ztest`), the standard error and interval the unpooled one (Wald, statsmodels
/// `confint_proportions_2indep(method="wald")`).
pub fn two_proportions(
    control: &Proportion,
    treatment: &Proportion,
    spec: TestSpec,
) -> Result<Comparison, StatsError> {
    check_alpha(spec.alpha)?;
    control.validate()?;
    treatment.validate()?;
    let (nc, nt) = (control.n as f64, treatment.n as f64);
    let (pc, pt) = (control.rate(), treatment.rate());
    let pooled = (control.successes + treatment.successes) as f64 / (nc + nt);
    if pooled <= 0.0 || pooled >= 1.0 {
        return Err(StatsError::data(Reason::ProportionAtBoundary));
    }
    let se_pooled = (pooled * (1.0 - pooled) * (1.0 / nc + 1.0 / nt)).sqrt();
    let se = (pc * (1.0 - pc) / nc + pt * (1.0 - pt) / nt).sqrt();
    if se <= 0.0 {
        return Err(StatsError::data(Reason::ProportionAtBoundary));
    }
    let diff = pt - pc;
    let interval_part = Effect::from_estimate(diff, se, None, spec)?;
    let test_part = Effect::from_estimate(diff, se_pooled, None, spec)?;
    let absolute = Effect {
        statistic: test_part.statistic,
        p_value: test_part.p_value,
        ..interval_part
    };
    Ok(Comparison {
        control_mean: pc,
        treatment_mean: pt,
        absolute,
        relative: relative_effect(&control.moments(), &treatment.moments(), spec),
    })
}

/// Difference of ratio metrics (Σnumerator / Σdenominator per variant) by the delta method,
/// referred to the normal distribution.
pub fn ratio(
    control: &RatioMoments,
    treatment: &RatioMoments,
    spec: TestSpec,
) -> Result<Comparison, StatsError> {
    control.validate()?;
    treatment.validate()?;
    z_test(&control.linearized(), &treatment.linearized(), spec)
}

/// One variant's metric and pre-exposure covariate, for CUPED.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CupedArm {
    pub metric: Moments,
    pub covariate: Covariate,
}

/// One variant's ratio metric and pre-exposure covariate, for CUPED on ratios.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CupedRatioArm {
    pub metric: RatioMoments,
    pub covariate: RatioCovariate,
}

/// The CUPED coefficient θ = cov(y, x) / var(x), pooled within variants (weights n − 1), so that it
/// does not absorb the treatment effect. Zero when the covariate has no variance.
pub fn cuped_theta(control: &CupedArm, treatment: &CupedArm) -> f64 {
    let (wc, wt) = (control.metric.n - 1.0, treatment.metric.n - 1.0);
    let cov = wc * control.covariate.covariance + wt * treatment.covariate.covariance;
    let var = wc * control.covariate.variance + wt * treatment.covariate.variance;
    if var > 0.0 {
        cov / var
    } else {
        0.0
    }
}

/// Moments of y − θ(x − x̄_pooled) for one arm.
fn cuped_adjust(arm: &CupedArm, theta: f64, pooled_x: f64) -> Moments {
    let m = &arm.metric;
    let c = &arm.covariate;
    let variance = (m.variance - 2.0 * theta * c.covariance + theta * theta * c.variance).max(0.0);
    Moments::new(m.n, m.mean - theta * (c.mean - pooled_x), variance)
}

/// CUPED-adjusted comparison of means with a given θ (θ = 0 gives back `welch`).
pub fn cuped_with_theta(
    control: &CupedArm,
    treatment: &CupedArm,
    theta: f64,
    spec: TestSpec,
) -> Result<Comparison, StatsError> {
    check(theta.is_finite(), "theta", theta, "a finite coefficient")?;
    let (nc, nt) = (control.metric.n, treatment.metric.n);
    let pooled_x = (nc * control.covariate.mean + nt * treatment.covariate.mean) / (nc + nt);
    welch(
        &cuped_adjust(control, theta, pooled_x),
        &cuped_adjust(treatment, theta, pooled_x),
        spec,
    )
}

/// CUPED-adjusted comparison of means (Deng, Xu, Kohavi & Walker 2013) with the pooled θ.
pub fn cuped(
    control: &CupedArm,
    treatment: &CupedArm,
    spec: TestSpec,
) -> Result<Comparison, StatsError> {
    control.metric.validate()?;
    treatment.metric.validate()?;
    cuped_with_theta(control, treatment, cuped_theta(control, treatment), spec)
}

/// CUPED for ratio metrics: the ratio is linearized by the delta method, then adjusted as a mean
/// with the pooled θ; `theta = None` uses the pooled estimate, `Some(0.0)` gives back `ratio`.
pub fn cuped_ratio(
    control: &CupedRatioArm,
    treatment: &CupedRatioArm,
    theta: Option<f64>,
    spec: TestSpec,
) -> Result<Comparison, StatsError> {
    control.metric.validate()?;
    treatment.metric.validate()?;
    let lin = |arm: &CupedRatioArm| CupedArm {
        metric: arm.metric.linearized(),
        covariate: arm.covariate.linearized(&arm.metric),
    };
    let (c, t) = (lin(control), lin(treatment));
    let theta = theta.unwrap_or_else(|| cuped_theta(&c, &t));
    check(theta.is_finite(), "theta", theta, "a finite coefficient")?;
    let pooled_x =
        (c.metric.n * c.covariate.mean + t.metric.n * t.covariate.mean) / (c.metric.n + t.metric.n);
    z_test(
        &cuped_adjust(&c, theta, pooled_x),
        &cuped_adjust(&t, theta, pooled_x),
        spec,
    )
}

/// A margin for non-inferiority or superiority: in the metric's units, or relative to the control
/// (0.02 = 2 %).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Margin {
    Absolute(f64),
    Relative(f64),
}

/// Which way is good for a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    HigherIsBetter,
    LowerIsBetter,
}

/// Result of a one-sided test against a margin.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MarginTest {
    /// The null boundary the effect is tested against (−m or +m, absolute or relative units).
    pub threshold: f64,
    pub statistic: f64,
    pub p_value: f64,
    /// The one-sided confidence bound (lower if higher is better) compared with the threshold.
    pub bound: f64,
    /// True when the null is rejected at level alpha.
    pub rejected: bool,
}

fn margin_test(
    cmp: &Comparison,
    margin: Margin,
    direction: Direction,
    alpha: f64,
    superiority: bool,
) -> Result<MarginTest, StatsError> {
    check_alpha(alpha)?;
    let (effect, m) = match margin {
        Margin::Absolute(m) => (cmp.absolute, m),
        Margin::Relative(m) => (
            cmp.relative
                .ok_or(StatsError::data(Reason::ZeroDenominatorMean))?,
            m,
        ),
    };
    check(
        m >= 0.0 && m.is_finite(),
        "margin",
        m,
        "a finite margin ≥ 0",
    )?;
    // Non-inferiority (higher is better): H0 effect ≤ −m. Superiority: H0 effect ≤ +m.
    let sign = if superiority { 1.0 } else { -1.0 };
    let (threshold, alternative) = match direction {
        Direction::HigherIsBetter => (sign * m, Alternative::Greater),
        Direction::LowerIsBetter => (-sign * m, Alternative::Less),
    };
    let (statistic, p_value) = effect.test_against(threshold, alternative);
    let interval = effect.bound(alpha, alternative);
    let bound = match alternative {
        Alternative::Less => interval.upper,
        _ => interval.lower,
    };
    Ok(MarginTest {
        threshold,
        statistic,
        p_value,
        bound,
        rejected: p_value < alpha,
    })
}

/// Non-inferiority: rejects "treatment is worse than control by more than the margin".
pub fn non_inferiority(
    cmp: &Comparison,
    margin: Margin,
    direction: Direction,
    alpha: f64,
) -> Result<MarginTest, StatsError> {
    margin_test(cmp, margin, direction, alpha, false)
}

/// Superiority by a margin: rejects "treatment is not better than control by more than the margin".
pub fn superiority(
    cmp: &Comparison,
    margin: Margin,
    direction: Direction,
    alpha: f64,
) -> Result<MarginTest, StatsError> {
    margin_test(cmp, margin, direction, alpha, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn degenerate_inputs_are_not_enough_data() {
        let ok = Moments::new(100.0, 1.0, 2.0);
        let spec = TestSpec::default();
        assert_eq!(
            welch(&Moments::new(1.0, 1.0, 2.0), &ok, spec),
            Err(StatsError::data(Reason::TooFewUnits))
        );
        assert_eq!(
            welch(&ok, &Moments::new(50.0, 1.0, 0.0), spec),
            Err(StatsError::data(Reason::ZeroVariance))
        );
        assert_eq!(
            two_proportions(&Proportion::new(100, 0), &Proportion::new(100, 0), spec),
            Err(StatsError::data(Reason::ProportionAtBoundary))
        );
        let zero_control = welch(&Moments::new(10.0, 0.0, 1.0), &ok, spec).unwrap();
        assert!(zero_control.relative.is_none());
    }

    #[test]
    fn cuped_with_zero_theta_is_welch() {
        let c = CupedArm {
            metric: Moments::new(500.0, 3.0, 4.0),
            covariate: Covariate {
                mean: 2.0,
                variance: 3.0,
                covariance: 2.5,
            },
        };
        let t = CupedArm {
            metric: Moments::new(480.0, 3.3, 4.4),
            covariate: Covariate {
                mean: 2.1,
                variance: 3.2,
                covariance: 2.7,
            },
        };
        let spec = TestSpec::default();
        let plain = welch(&c.metric, &t.metric, spec).unwrap();
        assert_eq!(cuped_with_theta(&c, &t, 0.0, spec).unwrap(), plain);
        // With the pooled θ the variance shrinks by 1 − ρ² (ρ² ≈ 0.52 here, so se × ≈ 0.69).
        let adj = cuped(&c, &t, spec).unwrap();
        let ratio = adj.absolute.std_error / plain.absolute.std_error;
        assert!(ratio > 0.65 && ratio < 0.72, "{ratio}");
    }

    #[test]
    fn non_inferiority_directions() {
        let c = Moments::new(1000.0, 10.0, 4.0);
        let t = Moments::new(1000.0, 9.95, 4.0);
        let cmp = welch(&c, &t, TestSpec::default()).unwrap();
        // −0.05 ± 0.089 ⇒ not worse than −0.2 (higher is better).
        let ni =
            non_inferiority(&cmp, Margin::Absolute(0.2), Direction::HigherIsBetter, 0.05).unwrap();
        assert!(ni.rejected && ni.bound > -0.2 && ni.threshold == -0.2);
        // The same numbers for a latency-like metric: a 0.05 drop is an improvement.
        let ni =
            non_inferiority(&cmp, Margin::Absolute(0.0), Direction::LowerIsBetter, 0.05).unwrap();
        assert!(ni.p_value < 0.5 && ni.bound > -0.05);
        // Relative effect −0.5 % ± 0.9 % against +1 %: z ≈ −1.68, p ≈ 0.95.
        let sup = superiority(
            &cmp,
            Margin::Relative(0.01),
            Direction::HigherIsBetter,
            0.05,
        )
        .unwrap();
        assert!(!sup.rejected && sup.p_value > 0.9 && sup.threshold == 0.01);
    }
}
