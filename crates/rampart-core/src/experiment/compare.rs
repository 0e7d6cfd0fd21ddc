//! One comparison of a variant with the control on one metric, from the two arms' sufficient
//! statistics: each arm's value, the absolute and relative lift with fixed-horizon intervals and
//! p-value, the always-valid p-value and confidence sequence (two-sided mSPRT), and for binary
//! metrics the Bayesian probability to beat the control; when both arms carry a pre-exposure
//! covariate with variance, the CUPED-adjusted lift. Also the fixed-horizon sample size.

use rampart_stats::{
    beta_binomial, cuped, cuped_theta, cuped_with_theta, mixing_variance_for_effect,
    proportion_effect_size, ratio, sample_size, two_proportions, welch, Alternative, AsymptoticCs,
    BetaPrior, Comparison, Covariate, CupedArm, Moments, Msprt, PowerSpec, PowerTest, Proportion,
    RatioMoments, TestSpec,
};
use serde::Serialize;

use crate::analysis::{HORIZON_UNITS, MIN_RELATIVE_EFFECT};
use crate::config::{Goal, Metric, MetricKind};
use crate::evidence::MetricStats;

pub(crate) use crate::analysis::check::Missing;

/// An estimate with its two-sided interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Lift {
    pub estimate: f64,
    pub lower: f64,
    pub upper: f64,
}

/// The CUPED-adjusted comparison (regression on the pre-exposure covariate, θ pooled over the
/// two arms), beside the unadjusted one. Informative: the stopping rule reads the unadjusted
/// tests.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CupedLift {
    /// Adjusted variant − control, with its fixed-horizon two-sided interval (Welch).
    pub absolute_lift: Lift,
    /// Adjusted variant / control − 1, with its delta-method interval.
    pub relative_lift: Option<Lift>,
    pub p_value: f64,
    /// 1 − var(adjusted lift) / var(unadjusted lift), both by Welch on the same units.
    pub variance_reduction: f64,
    /// The pooled regression coefficient cov(value, covariate) / var(covariate).
    pub theta: f64,
}

/// The numbers of one comparison when the data allow one.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Tested {
    pub control: f64,
    pub treatment: f64,
    /// Treatment − control with its fixed-horizon interval.
    pub absolute: Lift,
    /// Treatment / control − 1 with its fixed-horizon delta-method interval.
    pub relative: Option<Lift>,
    pub p_value: f64,
    /// Treatment − control with its always-valid confidence sequence.
    pub always_valid: Lift,
    pub always_valid_p_value: f64,
    /// P(treatment beats control in the goal direction), binary metrics only.
    pub prob_beat_control: Option<f64>,
}

/// The value of one arm: mean per unit (per event for latency), or Σ num / Σ den for ratios.
pub(super) fn arm_value(stats: &MetricStats) -> Option<f64> {
    match stats.kind {
        MetricKind::Ratio => stats.ratio(),
        _ => stats.mean(),
    }
}

fn finite(values: &[f64]) -> Result<(), Missing> {
    if values.iter().all(|v| v.is_finite()) {
        Ok(())
    } else {
        Err(Missing::NonFinite)
    }
}

fn enough(stats: &MetricStats, arm: &'static str) -> Result<(), Missing> {
    if stats.n < 2 {
        return Err(Missing::TooFew { arm, n: stats.n });
    }
    finite(&[
        stats.sum,
        stats.sum_sq,
        stats.den_sum,
        stats.den_sum_sq,
        stats.cross,
    ])
}

/// Units and converted units of a binary metric.
pub(super) fn proportion(stats: &MetricStats) -> Result<Proportion, Missing> {
    let successes = stats.sum.round();
    if !(0.0..=stats.n as f64).contains(&successes) {
        return Err(Missing::NonFinite);
    }
    Ok(Proportion::new(stats.n, successes as u64))
}

pub(super) fn ratio_moments(stats: &MetricStats) -> RatioMoments {
    RatioMoments::from_sums(
        stats.n as f64,
        stats.sum,
        stats.den_sum,
        stats.sum_sq,
        stats.den_sum_sq,
        stats.cross,
    )
}

/// The fixed-horizon comparison that fits the metric's kind: two-proportion z-test for binary,
/// delta-method z-test for ratio, Welch's t-test for the others (latency: over events).
fn fixed_horizon(
    kind: MetricKind,
    control: &MetricStats,
    treatment: &MetricStats,
    alpha: f64,
) -> Result<Comparison, Missing> {
    let spec = TestSpec::two_sided(alpha);
    let result = match kind {
        MetricKind::Binary => two_proportions(&proportion(control)?, &proportion(treatment)?, spec),
        MetricKind::Ratio => {
            if control.den_sum == 0.0 {
                return Err(Missing::ZeroDenominator { arm: "control" });
            }
            if treatment.den_sum == 0.0 {
                return Err(Missing::ZeroDenominator { arm: "variant" });
            }
            ratio(&ratio_moments(control), &ratio_moments(treatment), spec)
        }
        _ => {
            let m = |s: &MetricStats| Moments::from_sums(s.n as f64, s.sum, s.sum_sq);
            welch(&m(control), &m(treatment), spec)
        }
    };
    Ok(result?)
}

/// One arm's metric and covariate moments for CUPED: binary, count and sum metrics whose every
/// unit carries a covariate, with at least two units and a covariate that varies.
pub(super) fn cuped_arm(stats: &MetricStats) -> Option<CupedArm> {
    if !matches!(
        stats.kind,
        MetricKind::Binary | MetricKind::Count | MetricKind::Sum
    ) {
        return None;
    }
    let variance = stats.pre_variance()?;
    let covariance = stats.pre_covariance()?;
    let mean = stats.pre_mean()?;
    if variance <= 0.0 {
        return None;
    }
    let metric = Moments::from_sums(stats.n as f64, stats.sum, stats.sum_sq);
    finite(&[metric.mean, metric.variance]).ok()?;
    Some(CupedArm {
        metric,
        covariate: Covariate {
            mean,
            variance,
            covariance,
        },
    })
}

/// The CUPED-adjusted comparison of `treatment` with `control`, or `None` when either arm has
/// no usable covariate or the statistics refuse the data. Never NaN.
pub(super) fn compare_cuped(
    control: &MetricStats,
    treatment: &MetricStats,
    alpha: f64,
) -> Option<CupedLift> {
    let (c, t) = (cuped_arm(control)?, cuped_arm(treatment)?);
    let spec = TestSpec::two_sided(alpha);
    let adjusted = cuped(&c, &t, spec).ok()?;
    // θ = 0 is Welch on the same moments: the reduction compares like with like, also for binary
    // metrics whose unadjusted test is the two-proportion z-test.
    let plain = cuped_with_theta(&c, &t, 0.0, spec).ok()?;
    let theta = cuped_theta(&c, &t);
    let (se_adj, se) = (adjusted.absolute.std_error, plain.absolute.std_error);
    let lift = |e: &rampart_stats::Effect| Lift {
        estimate: e.estimate,
        lower: e.interval.lower,
        upper: e.interval.upper,
    };
    let out = CupedLift {
        absolute_lift: lift(&adjusted.absolute),
        relative_lift: adjusted.relative.as_ref().map(lift),
        p_value: adjusted.absolute.p_value,
        variance_reduction: 1.0 - (se_adj * se_adj) / (se * se),
        theta,
    };
    let mut all = vec![
        out.absolute_lift.estimate,
        out.absolute_lift.lower,
        out.absolute_lift.upper,
        out.p_value,
        out.variance_reduction,
        out.theta,
    ];
    all.extend(
        out.relative_lift
            .iter()
            .flat_map(|r| [r.estimate, r.lower, r.upper]),
    );
    finite(&all).ok()?;
    Some(out)
}

/// Mixing variance of the always-valid test on the absolute difference: the larger of the
/// squared minimum effect of interest (`mde` × the control's value, 5% when no mde is set) and
/// the data-scaled ρ²σ̂² of the asymptotic confidence sequence tuned to `HORIZON_UNITS` per arm.
pub(super) fn mixing_variance(
    control: f64,
    variance: f64,
    units: f64,
    alpha: f64,
    mde: Option<f64>,
) -> Result<f64, Missing> {
    let rho2 = AsymptoticCs::new(alpha, HORIZON_UNITS, Alternative::TwoSided)?.rho2();
    let scaled = rho2 * variance * units;
    let effect = mde.unwrap_or(MIN_RELATIVE_EFFECT) * control.abs();
    let by_effect = if effect > 0.0 && effect.is_finite() {
        mixing_variance_for_effect(effect)?
    } else {
        0.0
    };
    let tau2 = by_effect.max(scaled);
    finite(&[tau2])?;
    if tau2 <= 0.0 {
        return Err(Missing::ZeroVariance);
    }
    Ok(tau2)
}

/// Compares `treatment` with `control` on `metric`.
pub(super) fn compare(
    metric: &Metric,
    control: &MetricStats,
    treatment: &MetricStats,
    alpha: f64,
    mde: Option<f64>,
) -> Result<Tested, Missing> {
    enough(control, "control")?;
    enough(treatment, "variant")?;
    let c = fixed_horizon(metric.kind, control, treatment, alpha)?;
    let abs = c.absolute;
    let relative = c.relative.map(|r| Lift {
        estimate: r.estimate,
        lower: r.interval.lower,
        upper: r.interval.upper,
    });
    let variance = abs.std_error * abs.std_error;
    let (nc, nt) = (control.n as f64, treatment.n as f64);
    let units = 2.0 * nc * nt / (nc + nt);
    let tau2 = mixing_variance(c.control_mean, variance, units, alpha, mde)?;
    let look =
        Msprt::new(tau2, alpha, Alternative::TwoSided)?.look(abs.estimate, variance, 0.0, None)?;
    let prob_beat_control = if metric.kind == MetricKind::Binary {
        let b = beta_binomial(
            &proportion(control)?,
            &proportion(treatment)?,
            BetaPrior::default(),
        )?;
        Some(match metric.goal() {
            Goal::Increase => b.prob_treatment_better,
            Goal::Decrease => 1.0 - b.prob_treatment_better,
        })
    } else {
        None
    };
    let tested = Tested {
        control: c.control_mean,
        treatment: c.treatment_mean,
        absolute: Lift {
            estimate: abs.estimate,
            lower: abs.interval.lower,
            upper: abs.interval.upper,
        },
        relative,
        p_value: abs.p_value,
        always_valid: Lift {
            estimate: abs.estimate,
            lower: look.interval.lower,
            upper: look.interval.upper,
        },
        always_valid_p_value: look.p_value,
        prob_beat_control,
    };
    let mut all = vec![
        tested.control,
        tested.treatment,
        tested.p_value,
        tested.always_valid_p_value,
        tested.absolute.lower,
        tested.absolute.upper,
        tested.always_valid.lower,
        tested.always_valid.upper,
    ];
    all.extend(
        tested
            .relative
            .iter()
            .flat_map(|r| [r.estimate, r.lower, r.upper]),
    );
    all.extend(tested.prob_beat_control);
    finite(&all)?;
    Ok(tested)
}

/// Standardized effect of a relative change `mde` of the control's value, for a two-sided
/// z-test: Cohen's h for binary metrics, mde·|value| / σ for the others (σ of the linearized
/// per-unit ratio for ratio metrics).
pub(super) fn effect_size(
    metric: &Metric,
    control: &MetricStats,
    mde: f64,
) -> Result<(f64, f64), Missing> {
    enough(control, "control")?;
    let value = arm_value(control).ok_or(match metric.kind {
        MetricKind::Ratio => Missing::ZeroDenominator { arm: "control" },
        _ => Missing::NonFinite,
    })?;
    let d = match metric.kind {
        MetricKind::Binary => {
            let shifted = match metric.goal() {
                Goal::Increase => value * (1.0 + mde),
                Goal::Decrease => value * (1.0 - mde),
            };
            if value <= 0.0 {
                return Err(Missing::ZeroControl);
            }
            if !(0.0..=1.0).contains(&shifted) {
                return Err(Missing::Parameter(format!(
                    "a change of {mde} from a rate of {value} leaves [0, 1]"
                )));
            }
            proportion_effect_size(shifted, value)?.abs()
        }
        MetricKind::Ratio => {
            let sd = ratio_moments(control).linearized_variance().sqrt();
            if sd <= 0.0 {
                return Err(Missing::ZeroVariance);
            }
            mde * value.abs() / sd
        }
        _ => {
            let sd = control.variance().ok_or(Missing::NonFinite)?.sqrt();
            if sd <= 0.0 {
                return Err(Missing::ZeroVariance);
            }
            mde * value.abs() / sd
        }
    };
    finite(&[d])?;
    if d <= 0.0 {
        return Err(Missing::ZeroControl);
    }
    Ok((value, d))
}

/// Control units (continuous; round up) for power `power` at level `alpha`, two-sided, with
/// `ratio` = variant units / control units.
pub(super) fn required_control_units(
    d: f64,
    alpha: f64,
    power: f64,
    ratio: f64,
) -> Result<f64, Missing> {
    let n = sample_size(
        PowerTest::Z,
        d,
        power,
        &PowerSpec::new(alpha, Alternative::TwoSided, ratio),
    )?;
    finite(&[n])?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixing_variance_takes_the_larger_scale() {
        // mde 10% of 0.2 is 0.02: τ² = 4e-4 beats ρ²·V·n = ρ²·1e-4·100.
        let tau2 = mixing_variance(0.2, 1e-4, 100.0, 0.05, Some(0.1)).unwrap();
        assert!((tau2 - 4e-4).abs() < 1e-15);
        let rho2 = AsymptoticCs::new(0.05, HORIZON_UNITS, Alternative::TwoSided)
            .unwrap()
            .rho2();
        // A control at 0 leaves only the data-scaled term.
        let tau2 = mixing_variance(0.0, 0.01, 1_000.0, 0.05, None).unwrap();
        assert!((tau2 - rho2 * 10.0).abs() < 1e-15);
        assert_eq!(
            mixing_variance(0.0, 0.0, 1_000.0, 0.05, None),
            Err(Missing::ZeroVariance)
        );
    }

    #[test]
    fn one_unit_per_arm_is_not_enough() {
        let metric = Metric {
            name: "m".into(),
            kind: MetricKind::Sum,
            event: Some("e".into()),
            numerator: None,
            denominator: None,
            window: None,
            maturity: None,
            goal: None,
            query: None,
        };
        let mut one = MetricStats::new(MetricKind::Sum);
        one.n = 1;
        one.sum = 3.0;
        one.sum_sq = 9.0;
        let err = compare(&metric, &one, &one, 0.05, None).unwrap_err();
        assert_eq!(
            err,
            Missing::TooFew {
                arm: "control",
                n: 1
            }
        );
        assert!(err.report().starts_with("not enough data"));
    }
}
