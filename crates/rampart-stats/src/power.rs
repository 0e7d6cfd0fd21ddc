//! Planning: power for a given sample size and effect, sample size for a given power, and the
//! minimum detectable effect for a given sample size, as statsmodels `NormalIndPower` (z-tests,
//! proportions via Cohen's h) and `TTestIndPower` (noncentral t) compute them; and the same for the
//! sequential methods (exactly by numerical integration for group-sequential designs, by seeded
//! simulation of the Gaussian score process for mSPRT and confidence sequences).
//!
//! Effect sizes are standardized: d = (μ_t − μ_c) / σ for means, h = 2 asin √p_t − 2 asin √p_c for
//! proportions. `n1` is the control sample size and `ratio` = n_treatment / n_control.

use crate::dist::{noncentral_t_cdf, Alternative, Normal, StudentT};
use crate::error::{check, check_alpha, StatsError};
use crate::group_sequential::GroupSequentialDesign;
use crate::rng::Rng;
use crate::sequential::{AsymptoticCs, Msprt, SequentialLook};
use crate::special;

/// Level, alternative and allocation ratio of a planned two-sample test.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PowerSpec {
    pub alpha: f64,
    pub alternative: Alternative,
    /// n_treatment / n_control.
    pub ratio: f64,
}

impl PowerSpec {
    pub fn new(alpha: f64, alternative: Alternative, ratio: f64) -> Self {
        PowerSpec {
            alpha,
            alternative,
            ratio,
        }
    }
    fn validate(&self) -> Result<(), StatsError> {
        check_alpha(self.alpha)?;
        check(
            self.ratio > 0.0 && self.ratio.is_finite(),
            "ratio",
            self.ratio,
            "an allocation ratio > 0",
        )
    }
    /// Effective sample size 1 / (1/n1 + 1/n2).
    fn effective_n(&self, n1: f64) -> f64 {
        1.0 / (1.0 / n1 + 1.0 / (n1 * self.ratio))
    }
}

/// Cohen's h for two proportions (statsmodels `proportion_effectsize(p_treatment, p_control)`).
pub fn proportion_effect_size(p_treatment: f64, p_control: f64) -> Result<f64, StatsError> {
    check(
        (0.0..=1.0).contains(&p_treatment),
        "p_treatment",
        p_treatment,
        "a probability",
    )?;
    check(
        (0.0..=1.0).contains(&p_control),
        "p_control",
        p_control,
        "a probability",
    )?;
    Ok(2.0 * (p_treatment.sqrt().asin() - p_control.sqrt().asin()))
}

/// Power of the two-sample z-test (statsmodels `NormalIndPower.power`; two-sided counts both tails).
pub fn power_z(effect_size: f64, n1: f64, spec: &PowerSpec) -> Result<f64, StatsError> {
    spec.validate()?;
    check(n1 > 0.0, "n1", n1, "a sample size > 0")?;
    let shift = effect_size * spec.effective_n(n1).sqrt();
    Ok(match spec.alternative {
        Alternative::TwoSided => {
            let c = Normal::isf(spec.alpha / 2.0);
            Normal::sf(c - shift) + Normal::cdf(-c - shift)
        }
        Alternative::Greater => Normal::sf(Normal::isf(spec.alpha) - shift),
        Alternative::Less => Normal::cdf(-Normal::isf(spec.alpha) - shift),
    })
}

/// Power of the pooled two-sample t-test (statsmodels `TTestIndPower.power`, df = n1 + n2 − 2).
pub fn power_t(effect_size: f64, n1: f64, spec: &PowerSpec) -> Result<f64, StatsError> {
    spec.validate()?;
    let df = n1 + n1 * spec.ratio - 2.0;
    check(df > 0.0, "n1", n1, "a sample size with n1 + n2 > 2")?;
    let t = StudentT::new(df)?;
    let nc = effect_size * spec.effective_n(n1).sqrt();
    let half = if spec.alternative == Alternative::TwoSided {
        spec.alpha / 2.0
    } else {
        spec.alpha
    };
    let mut power = 0.0;
    if spec.alternative != Alternative::Less {
        power += 1.0 - noncentral_t_cdf(t.isf(half), df, nc);
    }
    if spec.alternative != Alternative::Greater {
        power += noncentral_t_cdf(t.quantile(half), df, nc);
    }
    Ok(power)
}

/// Which test a plan is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PowerTest {
    /// z-test (`NormalIndPower`), also for proportions with Cohen's h.
    Z,
    /// Pooled t-test (`TTestIndPower`).
    T,
}

fn power_of(test: PowerTest, d: f64, n1: f64, spec: &PowerSpec) -> Result<f64, StatsError> {
    match test {
        PowerTest::Z => power_z(d, n1, spec),
        PowerTest::T => power_t(d, n1, spec),
    }
}

/// Control-arm sample size n1 (continuous; round up to use) reaching `power` for the effect size.
pub fn sample_size(
    test: PowerTest,
    effect_size: f64,
    power: f64,
    spec: &PowerSpec,
) -> Result<f64, StatsError> {
    spec.validate()?;
    check(
        power > 0.0 && power < 1.0,
        "power",
        power,
        "a probability in (0, 1)",
    )?;
    check(
        effect_size != 0.0 && effect_size.is_finite(),
        "effect_size",
        effect_size,
        "a non-zero effect size",
    )?;
    let wrong_sign = match spec.alternative {
        Alternative::Greater => effect_size < 0.0,
        Alternative::Less => effect_size > 0.0,
        Alternative::TwoSided => false,
    };
    check(
        !wrong_sign,
        "effect_size",
        effect_size,
        "an effect in the direction of the alternative",
    )?;
    check(power > spec.alpha, "power", power, "a power above alpha")?;
    // The t-test needs df = n1(1 + ratio) − 2 > 0; start where df ≥ 1.
    let min_n = if test == PowerTest::T {
        3.0 / (1.0 + spec.ratio)
    } else {
        1e-6
    };
    let f = |n: f64| power_of(test, effect_size, n, spec).unwrap_or(f64::NAN) - power;
    let mut hi = 10.0_f64.max(min_n * 2.0);
    while f(hi) < 0.0 {
        hi *= 4.0;
        check(
            hi < 1e15,
            "effect_size",
            effect_size,
            "an effect detectable with < 1e15 units",
        )?;
    }
    special::brent(f, min_n, hi, 1e-10 * hi).ok_or(StatsError::InvalidParameter {
        name: "power",
        value: power,
        expected: "a power reachable for this effect",
    })
}

/// Minimum detectable standardized effect at control size n1 (negative for `Less`, like statsmodels).
pub fn minimum_detectable_effect(
    test: PowerTest,
    n1: f64,
    power: f64,
    spec: &PowerSpec,
) -> Result<f64, StatsError> {
    spec.validate()?;
    check(
        power > spec.alpha && power < 1.0,
        "power",
        power,
        "a power in (alpha, 1)",
    )?;
    check(n1 > 0.0, "n1", n1, "a sample size > 0")?;
    let sign = if spec.alternative == Alternative::Less {
        -1.0
    } else {
        1.0
    };
    let f = |d: f64| power_of(test, sign * d, n1, spec).unwrap_or(f64::NAN) - power;
    let mut hi = 1.0;
    while f(hi) < 0.0 {
        hi *= 2.0;
        check(
            hi < 1e6,
            "n1",
            n1,
            "a sample size large enough to detect an effect",
        )?;
    }
    let d = special::brent(f, 0.0, hi, 1e-13).ok_or(StatsError::InvalidParameter {
        name: "power",
        value: power,
        expected: "a power reachable at this sample size",
    })?;
    Ok(sign * d)
}

/// A sequential plan: what a design promises for a given effect.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SequentialPlan {
    /// Probability of rejecting the null by the last look.
    pub power: f64,
    /// Expected control-arm sample size at stopping (max if never stopped).
    pub expected_n1: f64,
    /// Control-arm sample size at the last look.
    pub max_n1: f64,
}

/// Plan of a group-sequential design whose last look has `max_n1` control units, for standardized
/// effect `effect_size` (exact, by the same numerical integration as the boundaries).
pub fn plan_group_sequential(
    design: &GroupSequentialDesign,
    effect_size: f64,
    max_n1: f64,
    ratio: f64,
) -> Result<SequentialPlan, StatsError> {
    check(max_n1 > 0.0, "max_n1", max_n1, "a sample size > 0")?;
    check(ratio > 0.0, "ratio", ratio, "an allocation ratio > 0")?;
    let drift = effect_size * (1.0 / (1.0 / max_n1 + 1.0 / (max_n1 * ratio))).sqrt();
    Ok(SequentialPlan {
        power: design.power(drift),
        expected_n1: design.expected_fraction(drift) * max_n1,
        max_n1,
    })
}

/// A sequential method monitored at every look.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SequentialMethod {
    Msprt(Msprt),
    AsymptoticCs(AsymptoticCs),
}

/// Plan of an mSPRT or confidence-sequence test by seeded simulation of the Gaussian score
/// process: at control sizes `looks` (increasing), the estimate has variance σ²(1/n1 + 1/n2) with
/// σ = 1 and mean `effect_size`. No closed form exists for these stopping times. Everything is in
/// standardized units, so an mSPRT's τ² must be given as τ²/σ² (the asymptotic confidence sequence
/// is scale-free).
pub fn simulate_sequential(
    method: &SequentialMethod,
    effect_size: f64,
    looks: &[f64],
    ratio: f64,
    runs: usize,
    seed: u64,
) -> Result<SequentialPlan, StatsError> {
    check(!looks.is_empty(), "looks", 0.0, "at least one look")?;
    check(runs > 0, "runs", 0.0, "at least one run")?;
    check(ratio > 0.0, "ratio", ratio, "an allocation ratio > 0")?;
    let mut prev = 0.0;
    for &n in looks {
        check(n > prev, "looks", n, "increasing sample sizes > 0")?;
        prev = n;
    }
    let mut rng = Rng::new(seed);
    let (mut rejections, mut total_n) = (0usize, 0.0);
    for _ in 0..runs {
        // Score S = Σ information-weighted increments: S_k ~ N(δ I_k, I_k), I_k = 1 / V_k.
        let (mut score, mut info_prev) = (0.0, 0.0);
        let mut state: Option<SequentialLook> = None;
        let mut stop_n = *looks.last().unwrap_or(&0.0);
        let mut rejected = false;
        for &n1 in looks {
            let v = 1.0 / n1 + 1.0 / (n1 * ratio);
            let info = 1.0 / v;
            let di = info - info_prev;
            score += effect_size * di + di.sqrt() * rng.normal();
            info_prev = info;
            let estimate = score / info;
            let look = match method {
                SequentialMethod::Msprt(m) => m.look(estimate, v, 0.0, state.as_ref())?,
                SequentialMethod::AsymptoticCs(cs) => {
                    cs.look(estimate, v, n1 * (1.0 + ratio), 0.0, state.as_ref())?
                }
            };
            if look.rejected {
                rejected = true;
                stop_n = n1;
                break;
            }
            state = Some(look);
        }
        rejections += usize::from(rejected);
        total_n += stop_n;
    }
    Ok(SequentialPlan {
        power: rejections as f64 / runs as f64,
        expected_n1: total_n / runs as f64,
        max_n1: *looks.last().unwrap_or(&0.0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_sided_z_sample_size_has_closed_form() {
        // n1 = 2 ((z_α + z_β) / d)² for equal allocation.
        let spec = PowerSpec::new(0.05, Alternative::Greater, 1.0);
        let n = sample_size(PowerTest::Z, 0.2, 0.8, &spec).unwrap();
        let expect = 2.0 * ((Normal::isf(0.05) + Normal::isf(0.2)) / 0.2_f64).powi(2);
        assert!(((n - expect) / expect).abs() < 1e-9);
        let d = minimum_detectable_effect(PowerTest::Z, expect, 0.8, &spec).unwrap();
        assert!((d - 0.2).abs() < 1e-9);
    }

    #[test]
    fn wrong_direction_is_rejected() {
        let spec = PowerSpec::new(0.05, Alternative::Less, 1.0);
        assert!(sample_size(PowerTest::T, 0.3, 0.8, &spec).is_err());
        assert!(minimum_detectable_effect(PowerTest::T, 100.0, 0.8, &spec).unwrap() < 0.0);
    }
}
