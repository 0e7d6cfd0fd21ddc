//! Errors: degenerate data (an expected, explicit outcome the caller turns into "inconclusive") and
//! invalid parameters (a programming or configuration mistake).

use std::fmt;

/// Why the data cannot support an answer yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Fewer units than the method needs (usually n < 2 in some arm).
    TooFewUnits,
    /// Every unit has the same value, so the variance is zero.
    ZeroVariance,
    /// A proportion is exactly 0 or 1, so its variance estimate is zero.
    ProportionAtBoundary,
    /// The mean of a denominator (or of the control, for a relative effect) is zero.
    ZeroDenominatorMean,
    /// An input value is NaN or infinite.
    NonFiniteInput,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Reason::TooFewUnits => "too few units",
            Reason::ZeroVariance => "zero variance",
            Reason::ProportionAtBoundary => "proportion of 0 or 1",
            Reason::ZeroDenominatorMean => "zero denominator mean",
            Reason::NonFiniteInput => "non-finite input",
        })
    }
}

/// Error of every fallible function in this crate.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StatsError {
    /// The data are degenerate: the honest answer is "not enough data", not a number.
    #[error("not enough data: {reason}")]
    NotEnoughData { reason: Reason },
    /// A parameter is outside its domain.
    #[error("invalid parameter `{name}` = {value}: expected {expected}")]
    InvalidParameter {
        name: &'static str,
        value: f64,
        expected: &'static str,
    },
}

impl StatsError {
    pub(crate) fn data(reason: Reason) -> Self {
        StatsError::NotEnoughData { reason }
    }
}

/// Checks a parameter and returns `InvalidParameter` with its name when `ok` is false.
pub(crate) fn check(
    ok: bool,
    name: &'static str,
    value: f64,
    expected: &'static str,
) -> Result<(), StatsError> {
    if ok {
        Ok(())
    } else {
        Err(StatsError::InvalidParameter {
            name,
            value,
            expected,
        })
    }
}

/// Checks a significance level.
pub(crate) fn check_alpha(alpha: f64) -> Result<(), StatsError> {
    check(
        alpha > 0.0 && alpha < 1.0,
        "alpha",
        alpha,
        "a level in (0, 1)",
    )
}

/// Checks that all values are finite.
pub(crate) fn check_finite(values: &[f64]) -> Result<(), StatsError> {
    if values.iter().all(|v| v.is_finite()) {
        Ok(())
    } else {
        Err(StatsError::data(Reason::NonFiniteInput))
    }
}
