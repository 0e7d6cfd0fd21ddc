//! The stopping rules: [`decide`] reads an [`ExperimentReport`] and says whether the experiment
//! stops now and why ([`Verdict`]). Pure; the time is passed in.
//!
//! - A sample ratio mismatch blocks every verdict except the maximum duration.
//! - A guardrail that the always-valid test shows harmed (adjusted p < alpha, worse in the
//!   metric's goal direction) stops the experiment at once, under either rule.
//! - `sequential`: a variant whose primary always-valid adjusted p < alpha with an effect in the
//!   goal direction wins (the best such variant); when `mde` is set and every variant's
//!   confidence sequence lies inside ±mde of the control's value, there is no difference.
//! - `fixed`: nothing is decided before the planned sample is reached; at the sample the best
//!   variant with fixed-horizon adjusted p < alpha in the goal direction wins, else no difference.
//! - Interleaving designs read the report's preferences instead (see `interleaving.rs`).
//! - Both end at `max_duration`.
//! - A `limits` entry on a `prometheus` guardrail that fails stops the experiment as a breach;
//!   one that is inconclusive (no reading) holds back a winner.

use serde::{Deserialize, Serialize};

use super::report::{Direction, ExperimentReport, MetricComparison};
use crate::analysis::Outcome;
use crate::config::{Experiment, StoppingRule};
use crate::record::Millis;

/// What the stopping rule says at one look.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "kebab-case")]
pub enum Verdict {
    /// Keep running.
    NotYet { reason: String },
    /// This variant is better than the control on the primary metric.
    Winner { variant: String },
    /// No variant differs from the control by the effect the experiment looks for.
    NoDifference,
    /// The variant harms a guardrail metric.
    GuardrailBreach { variant: String, metric: String },
    /// The experiment ran for its maximum duration without another verdict.
    MaxDuration,
}

impl Verdict {
    /// Whether the experiment stops on this verdict.
    pub fn stops(&self) -> bool {
        !matches!(self, Verdict::NotYet { .. })
    }
}

fn significant(c: &MetricComparison, p: Option<f64>, alpha: f64, direction: Direction) -> bool {
    c.direction == Some(direction) && p.is_some_and(|p| p < alpha)
}

/// The best variant (largest goal-signed lift) among primary comparisons that pass `p < alpha`
/// in the goal direction.
fn winner(
    report: &ExperimentReport,
    experiment: &Experiment,
    rule: StoppingRule,
) -> Option<String> {
    let alpha = experiment.stopping.alpha;
    report
        .metrics
        .iter()
        .filter(|c| c.metric == experiment.primary)
        .filter(|c| significant(c, c.adjusted_for(rule), alpha, Direction::Better))
        .filter_map(|c| Some((c.goal_lift()?, c)))
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c.variant.clone())
}

/// Whether every variant's always-valid interval on the primary metric lies within ±mde of the
/// control's value.
fn all_within_mde(report: &ExperimentReport, experiment: &Experiment) -> bool {
    let Some(mde) = experiment.stopping.mde else {
        return false;
    };
    let primary: Vec<&MetricComparison> = report
        .metrics
        .iter()
        .filter(|c| c.metric == experiment.primary)
        .collect();
    !primary.is_empty()
        && primary
            .iter()
            .all(|c| match (c.always_valid_lift, c.control_value) {
                (Some(l), Some(v)) => {
                    let band = mde * v.abs();
                    band > 0.0 && l.lower > -band && l.upper < band
                }
                _ => false,
            })
}

/// Applies the experiment's stopping rule to `report`. `started_at` is when the experiment
/// started; `now` is the time of the look.
pub fn decide(
    report: &ExperimentReport,
    experiment: &Experiment,
    started_at: Millis,
    now: Millis,
) -> Verdict {
    let stopping = &experiment.stopping;
    let alpha = stopping.alpha;
    let elapsed = now.saturating_sub(started_at);
    let out_of_time = stopping
        .max_duration
        .is_some_and(|d| elapsed >= i64::try_from(d.as_millis()).unwrap_or(i64::MAX));

    if report.srm.blocked {
        if out_of_time {
            return Verdict::MaxDuration;
        }
        return Verdict::NotYet {
            reason: format!("blocked: {}", report.srm.message),
        };
    }

    let breach = report
        .metrics
        .iter()
        .filter(|c| experiment.guardrails.contains(&c.metric))
        .filter(|c| significant(c, c.adjusted_always_valid_p_value, alpha, Direction::Worse))
        .min_by(|a, b| {
            let p = |c: &MetricComparison| c.adjusted_always_valid_p_value.unwrap_or(1.0);
            p(a).total_cmp(&p(b))
        });
    if let Some(c) = breach {
        return Verdict::GuardrailBreach {
            variant: c.variant.clone(),
            metric: c.metric.clone(),
        };
    }
    if let Some(l) = report.limits.iter().find(|l| l.outcome == Outcome::Fail) {
        return Verdict::GuardrailBreach {
            variant: l.variant.clone(),
            metric: l.metric.clone(),
        };
    }
    // A limit that cannot be read never passes, so no winner is declared past it.
    let unread = report
        .limits
        .iter()
        .find(|l| l.outcome == Outcome::Inconclusive);
    match (decide_on_tests(report, experiment, out_of_time), unread) {
        (Verdict::Winner { variant }, Some(l)) => Verdict::NotYet {
            reason: format!(
                "{variant} would win, but the limit on guardrail {} is inconclusive for {}: {}",
                l.metric, l.variant, l.message
            ),
        },
        (verdict, _) => verdict,
    }
}

/// The stopping rule on the statistical tests of the report (interleaving, sequential or fixed).
fn decide_on_tests(
    report: &ExperimentReport,
    experiment: &Experiment,
    out_of_time: bool,
) -> Verdict {
    let stopping = &experiment.stopping;
    let alpha = stopping.alpha;

    if let Some(interleaving) = &report.interleaving {
        let waiting = match super::interleaving::decide(interleaving, experiment) {
            Ok(verdict) => return verdict,
            Err(waiting) => waiting,
        };
        if out_of_time {
            return Verdict::MaxDuration;
        }
        return Verdict::NotYet { reason: waiting };
    }

    let waiting = match stopping.rule {
        StoppingRule::Sequential => {
            if let Some(variant) = winner(report, experiment, StoppingRule::Sequential) {
                return Verdict::Winner { variant };
            }
            if all_within_mde(report, experiment) {
                return Verdict::NoDifference;
            }
            format!(
                "no variant beats the control on {} beyond noise yet (always-valid, alpha {alpha})",
                experiment.primary
            )
        }
        StoppingRule::Fixed => match &report.sample_size {
            Some(plan) if plan.reached => {
                return match winner(report, experiment, StoppingRule::Fixed) {
                    Some(variant) => Verdict::Winner { variant },
                    None => Verdict::NoDifference,
                };
            }
            Some(plan) => match &plan.not_enough_data {
                Some(why) => why.clone(),
                None => {
                    let arms = plan
                        .arms
                        .iter()
                        .map(|a| {
                            format!(
                                "{} {}/{}",
                                a.variant,
                                a.observed,
                                a.required.unwrap_or_default()
                            )
                        })
                        .collect::<Vec<_>>()
                        .join(", ");
                    format!(
                        "the planned sample is not reached ({:.0}%: {arms}); nothing is decided before it",
                        plan.progress * 100.0
                    )
                }
            },
            None => "the fixed-horizon test has no sample size (no stopping.mde); it ends at max_duration"
                .to_string(),
        },
    };
    if out_of_time {
        return Verdict::MaxDuration;
    }
    Verdict::NotYet { reason: waiting }
}
