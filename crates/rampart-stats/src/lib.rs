//! rampart-stats: pure statistics for online experiments.
//!
//! The engine takes sufficient statistics and returns numbers: no IO, no async, and no knowledge of
//! rollouts or experiments. How the parts connect:
//!
//! - **Inputs** ([`Moments`], [`Proportion`], [`RatioMoments`], CUPED covariates) are sums the store
//!   adds up per variant; everything else reads only these.
//! - **Fixed-horizon comparisons** ([`welch`], [`two_proportions`], [`ratio`], [`cuped`]) turn two
//!   arms into a [`Comparison`]: absolute and relative [`Effect`]s with interval and p-value, which
//!   [`non_inferiority`] / [`superiority`] test against a [`Margin`] and [`adjust_p_values`] corrects
//!   across metrics, variants and segments.
//! - **Sequential methods** take an estimate and its variance at each look: [`Msprt`] and
//!   [`AsymptoticCs`] give always-valid p-values and confidence sequences; a
//!   [`GroupSequentialDesign`] (built once, cached by the caller) gives boundaries for planned looks.
//! - **Planning** ([`power_z`], [`sample_size`], [`plan_group_sequential`], [`simulate_sequential`])
//!   answers "how many units" before a test starts; distribution-free tests, Bayesian summaries,
//!   [`sample_ratio_mismatch`] and the seeded [`Bootstrap`] complete the kit.
//!
//! Degenerate data return [`StatsError::NotEnoughData`] with a [`Reason`], never NaN and never a
//! panic. Formulas and their sources are in `docs/statistics.md`.

mod bayes;
mod compare;
mod dist;
mod error;
mod group_sequential;
mod moments;
mod multiple;
mod nonparametric;
mod power;
mod resample;
mod rng;
mod sequential;
mod special;
mod srm;

pub use bayes::{
    beta_binomial, gaussian_posterior, BetaBinomial, BetaPrior, GaussianPosterior, GaussianPrior,
};
pub use compare::{
    cuped, cuped_ratio, cuped_theta, cuped_with_theta, non_inferiority, ratio, superiority,
    two_proportions, welch, z_test, Comparison, CupedArm, CupedRatioArm, Direction, Effect,
    Interval, Margin, MarginTest, TestSpec,
};
pub use dist::{Alternative, Beta, Binomial, ChiSquared, Normal, StudentT};
pub use error::{Reason, StatsError};
pub use group_sequential::{GroupSequentialDecision, GroupSequentialDesign, Spending};
pub use moments::{Covariate, Moments, Proportion, RatioCovariate, RatioMoments};
pub use multiple::{adjust_p_values, Correction};
pub use nonparametric::{
    binomial_test, hodges_lehmann, mann_whitney, BinomialTest, MannWhitney, MannWhitneyMethod,
};
pub use power::{
    minimum_detectable_effect, plan_group_sequential, power_t, power_z, proportion_effect_size,
    sample_size, simulate_sequential, PowerSpec, PowerTest, SequentialMethod, SequentialPlan,
};
pub use resample::{Bootstrap, BootstrapInterval};
pub use rng::Rng;
pub use sequential::{
    mixing_variance_for_effect, mixing_variance_for_horizon, AsymptoticCs, Msprt, SequentialLook,
};
pub use special_api::{erf, erfc, ln_gamma, regularized_beta, regularized_gamma_p};
pub use srm::{sample_ratio_mismatch, SrmTest};

/// The special functions that the reference tests check directly.
mod special_api {
    /// ln Γ(x).
    pub fn ln_gamma(x: f64) -> f64 {
        crate::special::ln_gamma(x)
    }
    /// Error function.
    pub fn erf(x: f64) -> f64 {
        crate::special::erf(x)
    }
    /// Complementary error function.
    pub fn erfc(x: f64) -> f64 {
        crate::special::erfc(x)
    }
    /// Regularized lower incomplete gamma P(a, x).
    pub fn regularized_gamma_p(a: f64, x: f64) -> f64 {
        crate::special::incomplete_gamma(a, x).0
    }
    /// Regularized incomplete beta I_x(a, b).
    pub fn regularized_beta(a: f64, b: f64, x: f64) -> f64 {
        crate::special::incomplete_beta(a, b, x, 1.0 - x).0
    }
}
