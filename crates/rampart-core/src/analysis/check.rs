//! One statistical check of a gate: the quantity it tests (an estimate, the variance of that
//! estimate and a limit with a harmful side), built from the evidence, and the pair of one-sided
//! always-valid mSPRT looks that decide "harm" and "pass". `docs/gates.md` has the formulas.

use rampart_stats::{Alternative, AsymptoticCs, Msprt, RatioMoments, Reason, StatsError};

use super::Measure;
use crate::config::{Gate, Goal, Metric, MetricKind, Worsening};
use crate::evidence::MetricStats;

/// The minimum effect of interest, as a share of the reference value of the check (the limit,
/// the control's value, or 1 for relative changes): the mixing standard deviation is at least this.
pub const MIN_RELATIVE_EFFECT: f64 = 0.05;

/// Units per arm at which the data-scaled mixing variance makes the boundary tightest (the tuning
/// parameter t* of the asymptotic confidence sequence of Waudby-Smith et al.).
pub const HORIZON_UNITS: f64 = AsymptoticCs::DEFAULT_TUNING;

/// Why a check (or an experiment's comparison) cannot give an answer yet: the verdict is
/// inconclusive, or the report has no numbers, and says this.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(crate) enum Missing {
    #[error("metric {0:?} is not defined in the config")]
    UnknownMetric(String),
    #[error("compare = \"control\" needs a control group, but the rollout has control = \"none\"")]
    NoControl,
    #[error("no evidence yet for the {arm} ({variant})")]
    NoData { arm: &'static str, variant: String },
    #[error("the {arm} has {n} observation(s); at least {MIN_OBSERVATIONS} are needed before its noise can be estimated")]
    TooFew { arm: &'static str, n: u64 },
    #[error("the {arm}'s denominator sums to 0, so its ratio is undefined")]
    ZeroDenominator { arm: &'static str },
    #[error("the control's value is 0, so a relative change is undefined (give max_worsening as an amount in the metric's units, e.g. max_worsening = 0.01)")]
    ZeroControl,
    #[error("the {arm} has no latency histogram")]
    NoHistogram { arm: &'static str },
    #[error(
        "every observation has the same value (zero variance), so the noise cannot be estimated"
    )]
    ZeroVariance,
    #[error("the evidence holds a value that is not a finite number")]
    NonFinite,
    #[error("the statistics refused a parameter: {0}")]
    Parameter(String),
}

impl Missing {
    /// The text for a report: shortages of data say so first.
    pub(crate) fn report(&self) -> String {
        match self {
            Missing::UnknownMetric(_) | Missing::NonFinite | Missing::Parameter(_) => {
                self.to_string()
            }
            _ => format!("not enough data: {self}"),
        }
    }
}

impl From<StatsError> for Missing {
    fn from(e: StatsError) -> Missing {
        match e {
            StatsError::NotEnoughData { reason } => match reason {
                Reason::ZeroVariance | Reason::ProportionAtBoundary => Missing::ZeroVariance,
                Reason::ZeroDenominatorMean => Missing::ZeroDenominator { arm: "comparison" },
                Reason::NonFiniteInput => Missing::NonFinite,
                Reason::TooFewUnits => Missing::TooFew {
                    arm: "comparison",
                    n: 0,
                },
            },
            other => Missing::Parameter(other.to_string()),
        }
    }
}

/// On which side of its limit a value is harmful.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Side {
    Above,
    Below,
}

/// What one check tests: `estimate` (variance `variance`) against `limit`, harmful on `harm`.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Quantity {
    pub measure: Measure,
    pub estimate: f64,
    /// Variance of `estimate` at this look.
    pub variance: f64,
    /// Effective units per arm behind the estimate, so that `variance · units` is per unit.
    pub units: f64,
    pub limit: f64,
    pub harm: Side,
    /// Reference magnitude of the minimum effect of interest (0: none).
    pub scale: f64,
    /// The candidate's own value (mean, ratio or quantile) and the control's, for people.
    pub candidate: Option<f64>,
    pub control: Option<f64>,
    pub n_candidate: u64,
    pub n_control: u64,
    /// For latency quantile checks: the quantile and the latency limit in milliseconds.
    pub quantile: Option<(f64, f64)>,
    /// The estimate is a share (a proportion), so its bounds are kept within [0, 1].
    pub share: bool,
    /// `n_candidate` and `n_control` count latency events rather than units.
    pub events: bool,
    /// For comparisons: the tolerance in the metric's own direction, for people.
    pub allowed: Option<String>,
}

/// The answer of the two one-sided looks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Tested {
    /// Always-valid p-value of "not harmful" (1/Λ of the harm test at this look).
    pub p_harm: f64,
    pub harm: bool,
    pub pass: bool,
    /// One-sided 1 − α confidence-sequence bounds of the estimate.
    pub lower: f64,
    pub upper: f64,
}

/// Value of one arm and the variance of that value.
struct Arm {
    value: f64,
    variance: f64,
    n: u64,
}

fn finite(values: &[f64]) -> Result<(), Missing> {
    if values.iter().all(|v| v.is_finite()) {
        Ok(())
    } else {
        Err(Missing::NonFinite)
    }
}

/// Observations an arm needs before a check reads it. The tests use the normal approximation with
/// the variance estimated from the data; on a handful of units that estimate can be near zero
/// (say, every early unit without an outcome yet) and a harm test would fire on noise.
pub const MIN_OBSERVATIONS: u64 = 30;

/// Mean per unit (per event for latency) or, for ratio metrics, Σ num / Σ den with the
/// delta-method variance of Deng et al. (2018).
fn arm(stats: &MetricStats, arm: &'static str) -> Result<Arm, Missing> {
    let n = stats.n;
    if n < MIN_OBSERVATIONS {
        return Err(Missing::TooFew { arm, n });
    }
    let nf = n as f64;
    let (value, variance) = if stats.kind == MetricKind::Ratio {
        let m = RatioMoments::from_sums(
            nf,
            stats.sum,
            stats.den_sum,
            stats.sum_sq,
            stats.den_sum_sq,
            stats.cross,
        );
        if m.denominator_mean == 0.0 {
            return Err(Missing::ZeroDenominator { arm });
        }
        (m.ratio(), m.linearized_variance() / nf)
    } else {
        let mean = stats.mean().ok_or(Missing::NonFinite)?;
        let var = stats.variance().ok_or(Missing::NonFinite)?;
        (mean, var / nf)
    };
    finite(&[value, variance])?;
    Ok(Arm { value, variance, n })
}

/// Events of a latency metric beyond `limit` on side `side`, out of all events.
fn share_beyond(
    stats: &MetricStats,
    arm: &'static str,
    limit: f64,
    side: Side,
) -> Result<(u64, u64), Missing> {
    let h = stats
        .histogram
        .as_ref()
        .ok_or(Missing::NoHistogram { arm })?;
    let n = h.count();
    if n < MIN_OBSERVATIONS {
        return Err(Missing::TooFew { arm, n });
    }
    // Bins are compared by their representative value, within 0.5% of every value in them.
    let beyond = h
        .bins()
        .filter(|&(v, _)| match side {
            Side::Above => v > limit,
            Side::Below => v < limit,
        })
        .map(|(_, c)| c)
        .sum();
    Ok((beyond, n))
}

/// A latency quantile check expressed as a share of events: "the q-quantile is at most `limit`"
/// means at most a share 1 − q of the events lies above it ("at least": at most q below it).
fn quantile_share(
    stats: &MetricStats,
    q: f64,
    limit: f64,
    side: Side,
    control_n: Option<u64>,
) -> Result<Quantity, Missing> {
    let (beyond, n) = share_beyond(stats, "candidate", limit, side)?;
    let (measure, p0) = match side {
        Side::Above => (Measure::ShareAbove, 1.0 - q),
        Side::Below => (Measure::ShareBelow, q),
    };
    let nf = n as f64;
    // Variance at the limit (score form); a limit taken from the control's own quantile adds the
    // control's sampling noise, q(1 − q)/n_c, by the Bahadur representation of the quantile.
    let mut variance = p0 * (1.0 - p0) / nf;
    let mut units = nf;
    if let Some(nc) = control_n {
        let ncf = nc as f64;
        variance += p0 * (1.0 - p0) / ncf;
        units = 2.0 * nf * ncf / (nf + ncf);
    }
    Ok(Quantity {
        measure,
        estimate: beyond as f64 / nf,
        variance,
        units,
        limit: p0,
        harm: Side::Above,
        scale: p0,
        candidate: stats.quantile(q),
        control: None,
        n_candidate: n,
        n_control: control_n.unwrap_or(0),
        quantile: Some((q, limit)),
        share: true,
        events: true,
        allowed: None,
    })
}

/// The candidate's value against a fixed `limit` (`max`: harmful above, `min`: harmful below).
pub(super) fn absolute(
    gate: &Gate,
    stats: &MetricStats,
    limit: f64,
    side: Side,
) -> Result<Quantity, Missing> {
    if let (MetricKind::Latency, Some(q)) = (stats.kind, gate.quantile) {
        return quantile_share(stats, q, limit, side, None);
    }
    let a = arm(stats, "candidate")?;
    let nf = a.n as f64;
    // A proportion tested at its limit uses the variance there, so "0 errors so far" can pass. A
    // ratio capped below 1 (errors per request) is at least as noisy as that many independent
    // trials at the limit; clustering within units only adds to it, hence the larger of the two.
    let at_limit = limit > 0.0 && limit < 1.0;
    let variance = match stats.kind {
        MetricKind::Binary if at_limit => limit * (1.0 - limit) / nf,
        MetricKind::Ratio if at_limit && stats.den_sum > 0.0 => {
            a.variance.max(limit * (1.0 - limit) / stats.den_sum)
        }
        _ => a.variance,
    };
    Ok(Quantity {
        measure: Measure::Value,
        estimate: a.value,
        variance,
        units: nf,
        limit,
        harm: side,
        scale: limit.abs(),
        candidate: Some(a.value),
        control: None,
        n_candidate: a.n,
        n_control: 0,
        quantile: None,
        share: stats.kind == MetricKind::Binary,
        events: stats.kind == MetricKind::Latency,
        allowed: None,
    })
}

/// The candidate against the concurrent control, in the direction of the metric's goal.
pub(super) fn comparison(
    metric: &Metric,
    gate: &Gate,
    candidate: &MetricStats,
    control: &MetricStats,
) -> Result<Quantity, Missing> {
    let goal = metric.goal();
    let worsening = gate.worsening();
    let amount = worsening.amount();
    if let (MetricKind::Latency, Some(q)) = (candidate.kind, gate.quantile) {
        let reference = control
            .histogram
            .as_ref()
            .ok_or(Missing::NoHistogram { arm: "control" })?;
        let nc = reference.count();
        if nc < MIN_OBSERVATIONS {
            return Err(Missing::TooFew {
                arm: "control",
                n: nc,
            });
        }
        let cq = reference.quantile(q).ok_or(Missing::NonFinite)?;
        // The worst quantile the tolerance allows, in milliseconds.
        let (limit, side) = match (goal, worsening) {
            (Goal::Decrease, Worsening::Relative(_)) => (cq * (1.0 + amount), Side::Above),
            (Goal::Decrease, Worsening::Absolute(_)) => (cq + amount, Side::Above),
            (Goal::Increase, Worsening::Relative(_)) => (cq * (1.0 - amount), Side::Below),
            (Goal::Increase, Worsening::Absolute(_)) => (cq - amount, Side::Below),
        };
        let mut quantity = quantile_share(candidate, q, limit, side, Some(nc))?;
        quantity.control = Some(cq);
        quantity.allowed = Some(format!(
            "{}, so p{} at most {} ms",
            super::allowed_worsening(goal, worsening),
            super::fmt_num(q * 100.0),
            super::fmt_num(limit)
        ));
        return Ok(quantity);
    }
    let t = arm(candidate, "candidate")?;
    let c = arm(control, "control")?;
    let (measure, estimate, variance, scale) = match worsening {
        Worsening::Absolute(_) => (
            Measure::Difference,
            t.value - c.value,
            t.variance + c.variance,
            c.value.abs(),
        ),
        Worsening::Relative(_) => {
            if c.value == 0.0 {
                return Err(Missing::ZeroControl);
            }
            let c2 = c.value * c.value;
            (
                Measure::RelativeDifference,
                t.value / c.value - 1.0,
                t.variance / c2 + t.value * t.value * c.variance / (c2 * c2),
                1.0,
            )
        }
    };
    finite(&[estimate, variance])?;
    // The change may go the wrong way by at most `amount`: down for higher-is-better metrics,
    // up for lower-is-better ones. Beyond that is harm.
    let (limit, harm) = match goal {
        Goal::Increase => (-amount, Side::Below),
        Goal::Decrease => (amount, Side::Above),
    };
    let (nt, nc) = (t.n as f64, c.n as f64);
    Ok(Quantity {
        measure,
        estimate,
        variance,
        units: 2.0 * nt * nc / (nt + nc),
        limit,
        harm,
        scale,
        candidate: Some(t.value),
        control: Some(c.value),
        n_candidate: t.n,
        n_control: c.n,
        quantile: None,
        share: false,
        events: candidate.kind == MetricKind::Latency,
        allowed: Some(super::allowed_worsening(goal, worsening)),
    })
}

/// Mixing variance τ² of the normal mixture: the larger of (MIN_RELATIVE_EFFECT · scale)² and the
/// data-scaled ρ²σ̂² of the asymptotic confidence sequence tuned to HORIZON_UNITS.
pub(super) fn mixing_variance(q: &Quantity, alpha: f64) -> Result<f64, Missing> {
    let rho2 = AsymptoticCs::new(alpha, HORIZON_UNITS, Alternative::Greater)?.rho2();
    let effect = MIN_RELATIVE_EFFECT * q.scale;
    let tau2 = (effect * effect).max(rho2 * q.variance * q.units);
    finite(&[tau2])?;
    if tau2 <= 0.0 {
        return Err(Missing::ZeroVariance);
    }
    Ok(tau2)
}

/// Runs the harm look and the pass look, each one-sided at `alpha`, on this look's evidence.
pub(super) fn test(q: &Quantity, alpha: f64) -> Result<Tested, Missing> {
    finite(&[q.estimate, q.variance, q.limit])?;
    if q.variance <= 0.0 {
        return Err(Missing::ZeroVariance);
    }
    let tau2 = mixing_variance(q, alpha)?;
    let (harm_alt, safe_alt) = match q.harm {
        Side::Above => (Alternative::Greater, Alternative::Less),
        Side::Below => (Alternative::Less, Alternative::Greater),
    };
    let harm = Msprt::new(tau2, alpha, harm_alt)?.look(q.estimate, q.variance, q.limit, None)?;
    let safe = Msprt::new(tau2, alpha, safe_alt)?.look(q.estimate, q.variance, q.limit, None)?;
    let (greater, less) = match q.harm {
        Side::Above => (&harm, &safe),
        Side::Below => (&safe, &harm),
    };
    let (mut lower, mut upper) = (greater.interval.lower, less.interval.upper);
    if q.share {
        (lower, upper) = (lower.clamp(0.0, 1.0), upper.clamp(0.0, 1.0));
    }
    Ok(Tested {
        p_harm: harm.p_value,
        harm: harm.rejected,
        pass: safe.rejected,
        lower,
        upper,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quantity(estimate: f64, variance: f64, limit: f64, harm: Side) -> Quantity {
        Quantity {
            measure: Measure::Value,
            estimate,
            variance,
            units: 1000.0,
            limit,
            harm,
            scale: limit.abs(),
            candidate: Some(estimate),
            control: None,
            n_candidate: 1000,
            n_control: 0,
            quantile: None,
            share: false,
            events: false,
            allowed: None,
        }
    }

    #[test]
    fn harm_and_pass_are_mirror_images() {
        let up = test(&quantity(0.5, 0.001, 0.3, Side::Above), 0.05).unwrap();
        let down = test(&quantity(-0.5, 0.001, -0.3, Side::Below), 0.05).unwrap();
        assert!(up.harm && !up.pass);
        assert!(down.harm && !down.pass);
        assert!((up.p_harm - down.p_harm).abs() < 1e-12);
        assert!((up.lower + down.upper).abs() < 1e-9);
        assert!(up.lower > 0.3 && up.lower < 0.5);
    }

    #[test]
    fn mixing_variance_takes_the_larger_scale() {
        let q = quantity(0.0, 1e-6, 10.0, Side::Above);
        // 5% of 10 is 0.5: τ² = 0.25 beats ρ²·1e-6·1000.
        assert!((mixing_variance(&q, 0.05).unwrap() - 0.25).abs() < 1e-12);
        let mut q = quantity(0.0, 0.01, 0.0, Side::Above);
        q.scale = 0.0;
        let rho2 = AsymptoticCs::new(0.05, HORIZON_UNITS, Alternative::Greater)
            .unwrap()
            .rho2();
        assert!((mixing_variance(&q, 0.05).unwrap() - rho2 * 10.0).abs() < 1e-15);
    }

    #[test]
    fn zero_variance_is_missing_not_nan() {
        assert_eq!(
            test(&quantity(0.1, 0.0, 0.2, Side::Above), 0.05),
            Err(Missing::ZeroVariance)
        );
        assert_eq!(
            test(&quantity(f64::NAN, 0.1, 0.2, Side::Above), 0.05),
            Err(Missing::NonFinite)
        );
    }
}
