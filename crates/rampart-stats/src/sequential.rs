//! Always-valid inference for continuous monitoring: the mixture sequential probability ratio test
//! (mSPRT) with a normal mixing distribution, its confidence sequence, and the asymptotic confidence
//! sequences of Waudby-Smith et al., which are the same boundary with a data-scaled mixing variance.
//!
//! Every method takes an estimate θ̂ (a difference, a rate minus a threshold, …) and the variance V of
//! that estimate at this look, so the same call serves two-sample comparisons, one-sample thresholds
//! and non-inferiority (shift by the margin). Looks are pure: the caller keeps the previous
//! [`SequentialLook`] and passes it in, which carries the running minimum p-value and the running
//! intersection of intervals.

use crate::compare::Interval;
use crate::dist::{Alternative, Normal};
use crate::error::{check, check_alpha, Reason, StatsError};
use crate::special;

/// The state after one look of a sequential test.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SequentialLook {
    /// Mixture likelihood ratio Λ at this look against the null value.
    pub likelihood_ratio: f64,
    /// Always-valid p-value: running minimum of min(1, 1/Λ) over looks so far.
    pub p_value: f64,
    /// Confidence sequence: running intersection of the intervals so far.
    pub interval: Interval,
    /// True once the p-value is at or below alpha (the null is rejected for good).
    pub rejected: bool,
}

/// ln Λ of the normal-mixture likelihood ratio for a deviation x = θ̂ − θ0 with estimate variance V
/// and mixing variance τ² (Robbins 1970; Johari et al. 2017, eq. 11):
/// two-sided Λ = √(V/(V+τ²)) · exp(τ²x² / (2V(V+τ²))); one-sided (half-normal mixture on the
/// alternative side) Λ = 2 Φ(τx/√(V(V+τ²))) times the two-sided value.
fn ln_mixture_ratio(x: f64, v: f64, tau2: f64, alternative: Alternative) -> f64 {
    let base = 0.5 * (v / (v + tau2)).ln() + tau2 * x * x / (2.0 * v * (v + tau2));
    let signed = match alternative {
        Alternative::TwoSided => return base,
        Alternative::Greater => x,
        Alternative::Less => -x,
    };
    let phi = Normal::cdf(signed * tau2.sqrt() / (v * (v + tau2)).sqrt());
    if phi == 0.0 {
        return f64::NEG_INFINITY;
    }
    std::f64::consts::LN_2 + base + phi.ln()
}

/// Half-width of the two-sided mixture boundary: the |x| where Λ = 1/α,
/// √( V(V+τ²)/τ² · (ln((V+τ²)/V) + 2 ln(1/α)) ).
fn two_sided_half_width(v: f64, tau2: f64, alpha: f64) -> f64 {
    (v * (v + tau2) / tau2 * (((v + tau2) / v).ln() - 2.0 * alpha.ln())).sqrt()
}

/// Distance from θ̂ to the confidence-sequence bound at this look.
fn half_width(v: f64, tau2: f64, alpha: f64, alternative: Alternative) -> f64 {
    let two = two_sided_half_width(v, tau2, alpha);
    if alternative == Alternative::TwoSided {
        return two;
    }
    // The one-sided ratio is below the two-sided one for x ≤ 0 and above it for x ≥ 0, so its
    // crossing point lies in (0, two-sided width].
    let target = -alpha.ln();
    special::brent(
        |x| ln_mixture_ratio(x, v, tau2, Alternative::Greater) - target,
        0.0,
        two,
        1e-14 * two,
    )
    .unwrap_or(two)
}

fn look_with(
    estimate: f64,
    variance: f64,
    null: f64,
    tau2: f64,
    alpha: f64,
    alternative: Alternative,
    previous: Option<&SequentialLook>,
) -> Result<SequentialLook, StatsError> {
    if !estimate.is_finite() || !variance.is_finite() || !null.is_finite() {
        return Err(StatsError::data(Reason::NonFiniteInput));
    }
    if variance <= 0.0 {
        return Err(StatsError::data(Reason::ZeroVariance));
    }
    let ln_lambda = ln_mixture_ratio(estimate - null, variance, tau2, alternative);
    let likelihood_ratio = ln_lambda.exp();
    let p_now = (-ln_lambda).exp().min(1.0);
    let w = half_width(variance, tau2, alpha, alternative);
    let now = match alternative {
        Alternative::TwoSided => Interval {
            lower: estimate - w,
            upper: estimate + w,
        },
        Alternative::Greater => Interval {
            lower: estimate - w,
            upper: f64::INFINITY,
        },
        Alternative::Less => Interval {
            lower: f64::NEG_INFINITY,
            upper: estimate + w,
        },
    };
    let (p_value, interval) = match previous {
        Some(prev) => (
            prev.p_value.min(p_now),
            Interval {
                lower: prev.interval.lower.max(now.lower),
                upper: prev.interval.upper.min(now.upper),
            },
        ),
        None => (p_now, now),
    };
    Ok(SequentialLook {
        likelihood_ratio,
        p_value,
        interval,
        rejected: p_value <= alpha,
    })
}

/// Mixture SPRT with a N(0, τ²) mixing distribution over the effect (half-normal for one-sided).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Msprt {
    pub tau2: f64,
    pub alpha: f64,
    pub alternative: Alternative,
}

impl Msprt {
    pub fn new(tau2: f64, alpha: f64, alternative: Alternative) -> Result<Self, StatsError> {
        check(
            tau2 > 0.0 && tau2.is_finite(),
            "tau2",
            tau2,
            "a mixing variance > 0",
        )?;
        check_alpha(alpha)?;
        Ok(Msprt {
            tau2,
            alpha,
            alternative,
        })
    }

    /// One look: `estimate` of the effect, `variance` of that estimate now (e.g. s²_t/n_t + s²_c/n_c),
    /// tested against `null` (0 for "no difference", −margin for non-inferiority, a threshold for
    /// a rate).
    pub fn look(
        &self,
        estimate: f64,
        variance: f64,
        null: f64,
        previous: Option<&SequentialLook>,
    ) -> Result<SequentialLook, StatsError> {
        look_with(
            estimate,
            variance,
            null,
            self.tau2,
            self.alpha,
            self.alternative,
            previous,
        )
    }

    /// The rejection boundary for |θ̂ − θ0| at estimate variance V (the CS half-width).
    pub fn boundary(&self, variance: f64) -> f64 {
        half_width(variance, self.tau2, self.alpha, self.alternative)
    }
}

/// Mixing variance from the minimum effect of interest δ: τ² = δ², the normal mixture whose scale is
/// the smallest effect worth detecting (Johari, Koomen, Pekelis & Walsh 2022 match the mixing
/// distribution to the effects one expects to see).
pub fn mixing_variance_for_effect(min_effect: f64) -> Result<f64, StatsError> {
    check(
        min_effect != 0.0 && min_effect.is_finite(),
        "min_effect",
        min_effect,
        "a non-zero effect",
    )?;
    Ok(min_effect * min_effect)
}

/// Mixing variance that makes the two-sided boundary tightest when the estimate variance reaches
/// `variance_at_horizon` (the planned sample size), found by golden-section search over τ²/V. It
/// plays the role of the tuning parameter t* of the asymptotic confidence sequence.
pub fn mixing_variance_for_horizon(
    variance_at_horizon: f64,
    alpha: f64,
) -> Result<f64, StatsError> {
    check(
        variance_at_horizon > 0.0 && variance_at_horizon.is_finite(),
        "variance_at_horizon",
        variance_at_horizon,
        "a variance > 0",
    )?;
    check_alpha(alpha)?;
    let v = variance_at_horizon;
    // Minimize the half-width over ln r by golden-section search (unimodal in r).
    let f = |lr: f64| two_sided_half_width(v, v * lr.exp(), alpha);
    let (mut a, mut b) = (-10.0_f64, 15.0_f64);
    let g = 0.5 * (5f64.sqrt() - 1.0);
    let (mut c, mut d) = (b - g * (b - a), a + g * (b - a));
    for _ in 0..200 {
        if f(c) < f(d) {
            b = d;
        } else {
            a = c;
        }
        c = b - g * (b - a);
        d = a + g * (b - a);
    }
    Ok(v * (0.5 * (a + b)).exp())
}

/// Asymptotic confidence sequence of Waudby-Smith, Arnold, Wu, Howard & Ramdas (2024, Thm 2.2):
/// θ̂_n ± σ̂ √( 2(nρ²+1)/(n²ρ²) · ln(√(nρ²+1)/α) ), with ρ² = (−2 ln α + ln(−2 ln α + 1)) / t* so that
/// the boundary is tightest at n = t* units (the tuning parameter, default 5000).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AsymptoticCs {
    pub alpha: f64,
    pub tuning: f64,
    pub alternative: Alternative,
}

impl AsymptoticCs {
    /// Default tuning parameter t* (units at which the sequence is tightest).
    pub const DEFAULT_TUNING: f64 = 5000.0;

    pub fn new(alpha: f64, tuning: f64, alternative: Alternative) -> Result<Self, StatsError> {
        check_alpha(alpha)?;
        check(
            tuning > 0.0 && tuning.is_finite(),
            "tuning",
            tuning,
            "a sample size > 0",
        )?;
        Ok(AsymptoticCs {
            alpha,
            tuning,
            alternative,
        })
    }

    /// ρ² for the configured α and t*.
    pub fn rho2(&self) -> f64 {
        let l = -2.0 * self.alpha.ln();
        (l + (l + 1.0).ln()) / self.tuning
    }

    /// One look: the estimate, its variance V, and the number of units `n` behind it (so that the
    /// per-unit variance is σ̂² = V·n). The boundary equals the normal mixture with τ² = ρ²σ̂².
    pub fn look(
        &self,
        estimate: f64,
        variance: f64,
        n: f64,
        null: f64,
        previous: Option<&SequentialLook>,
    ) -> Result<SequentialLook, StatsError> {
        if n.is_nan() || n < 1.0 {
            return Err(StatsError::data(Reason::TooFewUnits));
        }
        let tau2 = self.rho2() * variance * n;
        if tau2.is_nan() || tau2 <= 0.0 {
            return Err(StatsError::data(Reason::ZeroVariance));
        }
        look_with(
            estimate,
            variance,
            null,
            tau2,
            self.alpha,
            self.alternative,
            previous,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundary_is_where_lambda_is_one_over_alpha() {
        for alt in [Alternative::TwoSided, Alternative::Greater] {
            let m = Msprt::new(0.01, 0.05, alt).unwrap();
            let w = m.boundary(0.002);
            let l = ln_mixture_ratio(w, 0.002, 0.01, alt);
            assert!((l - 20f64.ln()).abs() < 1e-10, "{alt:?}");
        }
    }

    #[test]
    fn running_minimum_and_intersection() {
        let m = Msprt::new(0.04, 0.05, Alternative::TwoSided).unwrap();
        let a = m.look(0.5, 0.01, 0.0, None).unwrap();
        let b = m.look(0.0, 0.005, 0.0, Some(&a)).unwrap();
        assert_eq!(b.p_value, a.p_value);
        assert!(b.interval.lower >= a.interval.lower && b.interval.upper <= a.interval.upper);
        assert!(a.rejected && b.rejected);
    }

    #[test]
    fn horizon_mixing_minimizes_width() {
        let v = 1e-3;
        let tau2 = mixing_variance_for_horizon(v, 0.05).unwrap();
        let w = two_sided_half_width(v, tau2, 0.05);
        assert!(w < two_sided_half_width(v, tau2 * 1.1, 0.05));
        assert!(w < two_sided_half_width(v, tau2 / 1.1, 0.05));
    }
}
