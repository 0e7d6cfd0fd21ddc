//! Bayesian summaries: for binary metrics the beta-binomial model with the exact probability that
//! treatment beats control and the expected loss of either choice; for any effect, a Gaussian
//! posterior on the relative effect under a configurable normal prior.

use crate::compare::{Effect, Interval};
use crate::dist::{Beta, Normal};
use crate::error::{check, check_alpha, Reason, StatsError};
use crate::moments::Proportion;
use crate::special;

/// Beta(a, b) prior on a conversion rate; Beta(1, 1) is uniform.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BetaPrior {
    pub a: f64,
    pub b: f64,
}

impl Default for BetaPrior {
    fn default() -> Self {
        BetaPrior { a: 1.0, b: 1.0 }
    }
}

/// Posterior comparison of two rates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BetaBinomial {
    /// P(p_treatment > p_control | data).
    pub prob_treatment_better: f64,
    /// E[max(p_control − p_treatment, 0)]: what is lost on average by shipping the treatment.
    pub expected_loss_treatment: f64,
    /// E[max(p_treatment − p_control, 0)]: what is lost on average by keeping the control.
    pub expected_loss_control: f64,
}

/// P(Y > X) for X ~ Beta(a1, b1), Y ~ Beta(a2, b2) with integer a2, by the closed form of
/// Evan Miller (2015): Σ_{i=0}^{a2−1} B(a1+i, b1+b2) / ((b2+i) B(1+i, b2) B(a1, b1)).
fn prob_greater_sum(a1: f64, b1: f64, a2: f64, b2: f64) -> f64 {
    let lb = special::ln_beta(a1, b1);
    let mut total = 0.0;
    let terms = a2 as u64;
    for i in 0..terms {
        let i = i as f64;
        total += (special::ln_beta(a1 + i, b1 + b2)
            - (b2 + i).ln()
            - special::ln_beta(1.0 + i, b2)
            - lb)
            .exp();
    }
    total
}

/// Largest number of terms for the closed-form sum before switching to quadrature.
const MAX_TERMS: f64 = 50_000.0;

/// P(Y > X) for independent betas: the closed-form sum over the smallest integer parameter (four
/// symmetric forms), or Simpson quadrature of ∫ f_Y(x) F_X(x) dx when no parameter is a small integer.
fn prob_greater(x: (f64, f64), y: (f64, f64)) -> f64 {
    let is_int = |v: f64| v.fract() == 0.0 && v <= MAX_TERMS;
    let (a1, b1) = x;
    let (a2, b2) = y;
    // Candidates: (terms, value closure index).
    let mut best: Option<(f64, u8)> = None;
    for (count, which) in [(a2, 0u8), (a1, 1), (b1, 2), (b2, 3)] {
        if is_int(count) && best.is_none_or(|(c, _)| count < c) {
            best = Some((count, which));
        }
    }
    match best {
        Some((_, 0)) => prob_greater_sum(a1, b1, a2, b2),
        Some((_, 1)) => 1.0 - prob_greater_sum(a2, b2, a1, b1),
        // P(Y > X) = P(1−X > 1−Y), with 1−X ~ Beta(b1, a1) in the "greater" role.
        Some((_, 2)) => prob_greater_sum(b2, a2, b1, a1),
        Some(_) => 1.0 - prob_greater_sum(b1, a1, b2, a2),
        None => prob_greater_quadrature(x, y),
    }
}

fn prob_greater_quadrature(x: (f64, f64), y: (f64, f64)) -> f64 {
    let (bx, by) = match (Beta::new(x.0, x.1), Beta::new(y.0, y.1)) {
        (Ok(a), Ok(b)) => (a, b),
        _ => return f64::NAN,
    };
    // Integrate over where Y has its mass: mean ± 12 sd, clipped to [0, 1].
    let (a, b) = y;
    let mean = a / (a + b);
    let sd = (a * b / ((a + b) * (a + b) * (a + b + 1.0))).sqrt();
    let lo = (mean - 12.0 * sd).max(0.0);
    let hi = (mean + 12.0 * sd).min(1.0);
    let m = 4000;
    let h = (hi - lo) / m as f64;
    let mut s = 0.0;
    for i in 0..=m {
        let t = lo + h * i as f64;
        let w = if i == 0 || i == m {
            1.0
        } else if i % 2 == 1 {
            4.0
        } else {
            2.0
        };
        s += w * by.pdf(t) * bx.cdf(t);
    }
    (s * h / 3.0).clamp(0.0, 1.0)
}

/// Beta-binomial comparison of two rates under a common prior.
pub fn beta_binomial(
    control: &Proportion,
    treatment: &Proportion,
    prior: BetaPrior,
) -> Result<BetaBinomial, StatsError> {
    check(
        prior.a > 0.0 && prior.a.is_finite(),
        "prior.a",
        prior.a,
        "a shape parameter > 0",
    )?;
    check(
        prior.b > 0.0 && prior.b.is_finite(),
        "prior.b",
        prior.b,
        "a shape parameter > 0",
    )?;
    if control.successes > control.n || treatment.successes > treatment.n {
        return Err(StatsError::data(Reason::TooFewUnits));
    }
    let post = |p: &Proportion| {
        (
            prior.a + p.successes as f64,
            prior.b + (p.n - p.successes) as f64,
        )
    };
    let (c, t) = (post(control), post(treatment));
    let prob = prob_greater(c, t).clamp(0.0, 1.0);
    let mean = |(a, b): (f64, f64)| a / (a + b);
    // Stucchio (2015): E[max(X − Y, 0)] = E[X]·P(X⁺ > Y) − E[Y]·P(X > Y⁺), where ⁺ adds one to a.
    let loss = |x: (f64, f64), y: (f64, f64)| {
        (mean(x) * prob_greater(y, (x.0 + 1.0, x.1)) - mean(y) * prob_greater((y.0 + 1.0, y.1), x))
            .max(0.0)
    };
    Ok(BetaBinomial {
        prob_treatment_better: prob,
        expected_loss_treatment: loss(c, t),
        expected_loss_control: loss(t, c),
    })
}

/// Normal prior on the relative effect; an infinite variance is the flat (improper) prior.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GaussianPrior {
    pub mean: f64,
    pub variance: f64,
}

impl GaussianPrior {
    pub fn flat() -> Self {
        GaussianPrior {
            mean: 0.0,
            variance: f64::INFINITY,
        }
    }
}

/// Gaussian posterior on an effect.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GaussianPosterior {
    pub mean: f64,
    pub std_dev: f64,
    /// P(effect > 0 | data), the "chance to win".
    pub prob_positive: f64,
    /// Equal-tailed credible interval of probability 1 − alpha.
    pub credible: Interval,
    /// E[max(−effect, 0)]: expected loss of shipping.
    pub expected_loss: f64,
}

/// Posterior of an effect (typically `Comparison::relative`) under a normal prior, treating the
/// estimate as N(effect, se²): precision-weighted mean, precisions add (conjugate normal model).
pub fn gaussian_posterior(
    effect: &Effect,
    prior: GaussianPrior,
    alpha: f64,
) -> Result<GaussianPosterior, StatsError> {
    check_alpha(alpha)?;
    check(
        prior.variance > 0.0,
        "prior.variance",
        prior.variance,
        "a variance > 0 (∞ for flat)",
    )?;
    check(
        prior.mean.is_finite(),
        "prior.mean",
        prior.mean,
        "a finite mean",
    )?;
    if effect.std_error.is_nan() || effect.std_error <= 0.0 || !effect.estimate.is_finite() {
        return Err(StatsError::data(Reason::ZeroVariance));
    }
    let data_precision = 1.0 / (effect.std_error * effect.std_error);
    let prior_precision = 1.0 / prior.variance;
    let precision = data_precision + prior_precision;
    let mean = (effect.estimate * data_precision + prior.mean * prior_precision) / precision;
    let std_dev = precision.sqrt().recip();
    let z = Normal::isf(alpha / 2.0);
    let r = mean / std_dev;
    Ok(GaussianPosterior {
        mean,
        std_dev,
        prob_positive: Normal::cdf(r),
        credible: Interval {
            lower: mean - z * std_dev,
            upper: mean + z * std_dev,
        },
        expected_loss: std_dev * Normal::pdf(r) - mean * Normal::cdf(-r),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_data_is_a_coin_flip() {
        let p = Proportion::new(1000, 100);
        let r = beta_binomial(&p, &p, BetaPrior::default()).unwrap();
        assert!((r.prob_treatment_better - 0.5).abs() < 1e-12);
        assert!((r.expected_loss_treatment - r.expected_loss_control).abs() < 1e-14);
    }

    #[test]
    fn sum_forms_agree() {
        let (x, y) = ((13.0, 90.0), (20.0, 85.0));
        let direct = prob_greater_sum(x.0, x.1, y.0, y.1);
        assert!((direct - (1.0 - prob_greater_sum(y.0, y.1, x.0, x.1))).abs() < 1e-12);
        assert!((direct - prob_greater_sum(y.1, y.0, x.1, x.0)).abs() < 1e-12);
        assert!((direct - prob_greater_quadrature(x, y)).abs() < 1e-9);
    }

    #[test]
    fn flat_prior_posterior_is_the_likelihood() {
        let e =
            Effect::from_estimate(0.02, 0.01, None, crate::compare::TestSpec::default()).unwrap();
        let post = gaussian_posterior(&e, GaussianPrior::flat(), 0.05).unwrap();
        assert_eq!(post.mean, 0.02);
        assert!((post.prob_positive - Normal::cdf(2.0)).abs() < 1e-15);
        let shrunk = gaussian_posterior(
            &e,
            GaussianPrior {
                mean: 0.0,
                variance: 1e-4,
            },
            0.05,
        )
        .unwrap();
        assert!((shrunk.mean - 0.01).abs() < 1e-15);
    }
}
