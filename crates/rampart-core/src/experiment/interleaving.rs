//! The analysis of interleaving experiments (`team-draft`, `balanced`, `probabilistic`,
//! `team-draft-multileave`): from the per-unit preference counts of the evidence to a
//! preference Δ per pair of variants with a bootstrap interval, a sign test, an always-valid
//! test, and the stopping rule's verdict.
//!
//! For a pair (A, B) over the n units with impressions, each unit prefers A, prefers B or ties:
//! - Δ = (units preferring A + tied / 2) / n − 0.5, in [−0.5, 0.5]; Δ > 0 means A is preferred.
//!   It is the mean of the per-unit scores x = +½ (prefers A), 0 (tie), −½ (prefers B);
//! - the interval is a seeded percentile bootstrap of that mean over units;
//! - the sign test is the exact two-sided binomial test (p = ½) on the non-tied units;
//! - the always-valid test is the two-sided mSPRT on the mean of the per-unit scores, with the
//!   confidence sequence on Δ; a sample variance of 0 (every unit agreeing) is floored at 1/(4n),
//!   as if one unit in n disagreed, so that unanimity is evidence without a division by zero.
//!
//! Worked example: 60 units prefer A, 20 prefer B, 20 tie: Δ = (60 + 10)/100 − 0.5 = 0.2; the
//! sign test on 60 of 80 gives p ≈ 8.6·10⁻⁶.

use rampart_stats::{
    adjust_p_values, binomial_test, mixing_variance_for_effect, Alternative, AsymptoticCs,
    Bootstrap, Msprt, Normal,
};
use serde::Serialize;

use super::compare::Lift;
use super::decide::Verdict;
use crate::analysis::{HORIZON_UNITS, MIN_RELATIVE_EFFECT};
use crate::config::{Correction, Design, Experiment, StoppingRule};
use crate::evidence::{InterleavingEvidence, PairEvidence};
use crate::interleave::{Method, DEFAULT_TAU};

/// Bootstrap resamples per pair and look: enough for a stable 95% percentile interval.
pub const BOOTSTRAP_RESAMPLES: usize = 2_000;

/// The interleaving method of a design; `None` for designs that split units.
pub fn interleaving_method(design: Design) -> Option<Method> {
    match design {
        Design::TeamDraft => Some(Method::TeamDraft),
        Design::Balanced => Some(Method::Balanced),
        Design::Probabilistic => Some(Method::Probabilistic { tau: DEFAULT_TAU }),
        Design::TeamDraftMultileave => Some(Method::TeamDraftMultileave),
        _ => None,
    }
}

/// The preference between two variants at one look. Numbers that cannot be computed are `None`
/// and `not_enough_data` says why; nothing is NaN.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Preference {
    pub first: String,
    pub second: String,
    /// Units with impressions.
    pub units: u64,
    pub prefer_first: u64,
    pub prefer_second: u64,
    pub tied: u64,
    /// (prefer_first + tied/2) / units − 0.5: positive when `first` is preferred.
    pub delta: Option<f64>,
    /// Δ with the seeded bootstrap percentile interval (1 − alpha) over units.
    pub interval: Option<Lift>,
    /// Exact two-sided sign test on the non-tied units.
    pub sign_test_p_value: Option<f64>,
    /// Δ with the always-valid confidence sequence (1 − alpha).
    pub always_valid_interval: Option<Lift>,
    pub always_valid_p_value: Option<f64>,
    /// Adjusted across the pairs by the experiment's correction.
    pub adjusted_p_value: Option<f64>,
    pub adjusted_always_valid_p_value: Option<f64>,
    /// The variant Δ favours; `None` when Δ is 0 or unknown.
    pub preferred: Option<String>,
    pub not_enough_data: Option<String>,
}

impl Preference {
    /// The adjusted p-value the stopping rule reads: always-valid for `sequential`, the sign test
    /// for `fixed`.
    pub fn adjusted_for(&self, rule: StoppingRule) -> Option<f64> {
        match rule {
            StoppingRule::Sequential => self.adjusted_always_valid_p_value,
            StoppingRule::Fixed => self.adjusted_p_value,
        }
    }
}

/// Units a fixed-horizon interleaving test needs, and progress toward them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InterleavingSampleSize {
    /// The smallest |Δ| the test is sized for (`stopping.mde`).
    pub mde: f64,
    pub alpha: f64,
    pub power: f64,
    /// ⌈((z₁₋α/₂ + z_power) / (2·mde))²⌉: the per-unit scores have variance at most ¼ on the Δ
    /// scale, so this is enough whatever the share of ties.
    pub required_units: u64,
    pub observed_units: u64,
    pub progress: f64,
    pub reached: bool,
}

/// The interleaving part of an experiment report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InterleavingReport {
    #[serde(flatten)]
    pub method: Method,
    pub variants: Vec<String>,
    pub units: u64,
    pub impressions: u64,
    pub clicks: u64,
    /// Every pair of variants in config order; one pair for two variants.
    pub pairs: Vec<Preference>,
    /// Fixed-horizon rule with `stopping.mde` only.
    pub sample_size: Option<InterleavingSampleSize>,
    pub notes: Vec<String>,
}

impl InterleavingReport {
    /// The pair of `a` and `b` in either order.
    pub fn pair(&self, a: &str, b: &str) -> Option<&Preference> {
        self.pairs
            .iter()
            .find(|p| (p.first == a && p.second == b) || (p.first == b && p.second == a))
    }

    /// One line on why `variant` won, for the decision log.
    pub fn winner_text(&self, variant: &str, rule: StoppingRule) -> String {
        let kind = match rule {
            StoppingRule::Sequential => "always-valid",
            StoppingRule::Fixed => "sign test",
        };
        self.pairs
            .iter()
            .filter(|p| p.preferred.as_deref() == Some(variant))
            .map(|p| {
                let other = if p.first == variant {
                    &p.second
                } else {
                    &p.first
                };
                // Δ as seen from the winner's side.
                let delta = p.delta.map_or(0.0, |d| {
                    if p.first == variant {
                        d
                    } else {
                        -d
                    }
                });
                format!(
                    "preferred to {other}, Δ = {delta:+.3} over {} units ({kind} adjusted p = {:.4})",
                    p.units,
                    p.adjusted_for(rule).unwrap_or(1.0)
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

fn rampart_correction(c: Correction) -> rampart_stats::Correction {
    match c {
        Correction::Holm => rampart_stats::Correction::Holm,
        Correction::Bh => rampart_stats::Correction::BenjaminiHochberg,
        Correction::Bonferroni => rampart_stats::Correction::Bonferroni,
    }
}

/// The per-unit scores on the Δ scale: +½ per unit preferring `first`, 0 per tie, −½ per unit
/// preferring `second`, in that order.
pub fn unit_scores(pair: &PairEvidence) -> Vec<f64> {
    let n = |x: u64| usize::try_from(x).unwrap_or(usize::MAX);
    let mut out = Vec::with_capacity(
        n(pair.prefer_first)
            .saturating_add(n(pair.tied))
            .saturating_add(n(pair.prefer_second)),
    );
    out.extend(std::iter::repeat_n(0.5, n(pair.prefer_first)));
    out.extend(std::iter::repeat_n(0.0, n(pair.tied)));
    out.extend(std::iter::repeat_n(-0.5, n(pair.prefer_second)));
    out
}

/// Analyzes one pair: Δ, the bootstrap interval (seeded by `seed`), the sign test and the
/// always-valid test at level `alpha`. `mde` (an |Δ|) scales the always-valid test's mixing
/// distribution; 0.05 when `None`. Adjusted p-values are left to the caller.
pub fn analyze_pair(pair: &PairEvidence, alpha: f64, mde: Option<f64>, seed: u64) -> Preference {
    let units = pair.prefer_first + pair.prefer_second + pair.tied;
    let mut out = Preference {
        first: pair.first.clone(),
        second: pair.second.clone(),
        units,
        prefer_first: pair.prefer_first,
        prefer_second: pair.prefer_second,
        tied: pair.tied,
        delta: None,
        interval: None,
        sign_test_p_value: None,
        always_valid_interval: None,
        always_valid_p_value: None,
        adjusted_p_value: None,
        adjusted_always_valid_p_value: None,
        preferred: None,
        not_enough_data: None,
    };
    if units == 0 {
        out.not_enough_data = Some("not enough data: no unit has an impression yet".to_string());
        return out;
    }
    let n = units as f64;
    let delta = (pair.prefer_first as f64 + pair.tied as f64 / 2.0) / n - 0.5;
    out.delta = Some(delta);
    out.preferred = if delta > 0.0 {
        Some(pair.first.clone())
    } else if delta < 0.0 {
        Some(pair.second.clone())
    } else {
        None
    };
    let decided = pair.prefer_first + pair.prefer_second;
    let mut missing = Vec::new();
    if decided > 0 {
        match binomial_test(pair.prefer_first, decided, 0.5, Alternative::TwoSided) {
            Ok(t) if t.p_value.is_finite() => out.sign_test_p_value = Some(t.p_value),
            Ok(_) => missing.push("the sign test gave no number".to_string()),
            Err(e) => missing.push(format!("sign test: {e}")),
        }
    } else {
        missing.push("no unit prefers either variant yet (every unit is tied)".to_string());
    }
    if units < 2 {
        missing.push(format!(
            "{units} unit with impressions; the intervals need at least 2"
        ));
        out.not_enough_data = Some(format!("not enough data: {}", missing.join("; ")));
        return out;
    }
    match Bootstrap::new(BOOTSTRAP_RESAMPLES, alpha, seed).mean(&unit_scores(pair)) {
        Ok(b) => {
            out.interval = Some(Lift {
                estimate: delta,
                lower: b.lower,
                upper: b.upper,
            })
        }
        Err(e) => missing.push(format!("bootstrap: {e}")),
    }
    match always_valid(pair, delta, alpha, mde) {
        Ok((p, lift)) => {
            out.always_valid_p_value = Some(p);
            out.always_valid_interval = Some(lift);
        }
        Err(e) => missing.push(format!("always-valid test: {e}")),
    }
    if !missing.is_empty() {
        out.not_enough_data = Some(format!("not enough data: {}", missing.join("; ")));
    }
    out
}

/// The always-valid two-sided test of one pair alone, as [`analyze_pair`] runs it but without the
/// bootstrap: the p-value and the confidence sequence on Δ. For callers that look often, such as
/// the simulator. `None` with fewer than two units.
pub fn always_valid_preference(
    pair: &PairEvidence,
    alpha: f64,
    mde: Option<f64>,
) -> Option<(f64, Lift)> {
    let units = pair.prefer_first + pair.prefer_second + pair.tied;
    if units < 2 {
        return None;
    }
    let delta = (pair.prefer_first as f64 + pair.tied as f64 / 2.0) / units as f64 - 0.5;
    always_valid(pair, delta, alpha, mde).ok()
}

/// The two-sided mSPRT on Δ: the estimate's variance is the per-unit scores' sample variance
/// over n (floored, see the module doc); the mixing variance is the larger of mde² and the
/// data-scaled ρ²σ̂² of the asymptotic confidence sequence tuned to `HORIZON_UNITS`.
fn always_valid(
    pair: &PairEvidence,
    delta: f64,
    alpha: f64,
    mde: Option<f64>,
) -> Result<(f64, Lift), rampart_stats::StatsError> {
    let n = (pair.prefer_first + pair.prefer_second + pair.tied) as f64;
    let sum_sq = 0.25 * (pair.prefer_first + pair.prefer_second) as f64;
    let sample_var = ((sum_sq - n * delta * delta) / (n - 1.0)).max(0.0);
    let unit_var = sample_var.max(0.25 / n);
    let variance = unit_var / n;
    let rho2 = AsymptoticCs::new(alpha, HORIZON_UNITS, Alternative::TwoSided)?.rho2();
    let effect = mde.filter(|m| *m > 0.0).unwrap_or(MIN_RELATIVE_EFFECT);
    let tau2 = mixing_variance_for_effect(effect)?.max(rho2 * unit_var);
    let look = Msprt::new(tau2, alpha, Alternative::TwoSided)?.look(delta, variance, 0.0, None)?;
    Ok((
        look.p_value,
        Lift {
            estimate: delta,
            lower: look.interval.lower,
            upper: look.interval.upper,
        },
    ))
}

/// Adjusts the p-values picked by `get` across the pairs; a pair without one counts as p = 1.
fn adjust(
    pairs: &mut [Preference],
    method: rampart_stats::Correction,
    get: fn(&Preference) -> Option<f64>,
    set: fn(&mut Preference, f64),
) {
    let p: Vec<f64> = pairs.iter().map(|c| get(c).unwrap_or(1.0)).collect();
    let Ok(adjusted) = adjust_p_values(&p, method) else {
        return;
    };
    for (c, a) in pairs.iter_mut().zip(adjusted) {
        if get(c).is_some() && a.is_finite() {
            set(c, a);
        }
    }
}

/// The seed of a pair's bootstrap: fixed by the experiment's name and the pair, so a report is
/// the same at every look on the same evidence.
fn seed_of(experiment: &str, pair: usize) -> u64 {
    xxhash_rust::xxh3::xxh3_64_with_seed(experiment.as_bytes(), pair as u64)
}

/// Analyzes an interleaving experiment on its evidence (`None`: nothing folded yet).
pub fn analyze_interleaving(
    experiment: &Experiment,
    evidence: Option<&InterleavingEvidence>,
) -> InterleavingReport {
    let stopping = &experiment.stopping;
    let method = interleaving_method(experiment.design).unwrap_or(Method::TeamDraft);
    let mut notes = Vec::new();
    let pairs_evidence: Vec<PairEvidence> = match evidence {
        Some(e) => e.pairs.clone(),
        None => {
            notes.push("no interleaving evidence yet".to_string());
            let v = &experiment.variants;
            let mut out = Vec::new();
            for i in 0..v.len() {
                for j in i + 1..v.len() {
                    out.push(PairEvidence {
                        first: v[i].clone(),
                        second: v[j].clone(),
                        prefer_first: 0,
                        prefer_second: 0,
                        tied: 0,
                        preference_sum: 0.0,
                    });
                }
            }
            out
        }
    };
    if let Some(e) = evidence {
        if e.unmatched_clicks > 0 {
            notes.push(format!(
                "{} click event(s) matched no impression of their unit and were not credited",
                e.unmatched_clicks
            ));
        }
        if e.invalid_impressions > 0 {
            notes.push(format!(
                "{} impression(s) could not be credited and were left out",
                e.invalid_impressions
            ));
        }
        if e.click_event.is_none() {
            notes.push(format!(
                "the primary metric {:?} names no event type: no click can be credited",
                experiment.primary
            ));
        }
    }
    let mut pairs: Vec<Preference> = pairs_evidence
        .iter()
        .enumerate()
        .map(|(i, p)| {
            analyze_pair(
                p,
                stopping.alpha,
                stopping.mde,
                seed_of(&experiment.name, i),
            )
        })
        .collect();
    let correction = rampart_correction(experiment.correction);
    adjust(
        &mut pairs,
        correction,
        |p| p.sign_test_p_value,
        |p, a| p.adjusted_p_value = Some(a),
    );
    adjust(
        &mut pairs,
        correction,
        |p| p.always_valid_p_value,
        |p, a| p.adjusted_always_valid_p_value = Some(a),
    );
    let units = evidence.map_or(0, |e| e.units);
    let sample_size = match (stopping.rule, stopping.mde) {
        (StoppingRule::Fixed, Some(mde)) if mde > 0.0 && mde < 0.5 => {
            let z = Normal::isf(stopping.alpha / 2.0) + Normal::quantile(stopping.power);
            let required = ((z / (2.0 * mde)).powi(2)).ceil().max(2.0);
            let required_units = if required.is_finite() {
                required as u64
            } else {
                u64::MAX
            };
            Some(InterleavingSampleSize {
                mde,
                alpha: stopping.alpha,
                power: stopping.power,
                required_units,
                observed_units: units,
                progress: (units as f64 / required_units as f64).clamp(0.0, 1.0),
                reached: units >= required_units,
            })
        }
        (StoppingRule::Fixed, Some(mde)) => {
            notes.push(format!(
                "stopping.mde {mde} is not a preference Δ in (0, 0.5): the fixed-horizon test has no sample size"
            ));
            None
        }
        _ => None,
    };
    InterleavingReport {
        method: evidence.map_or(method, |e| e.method),
        variants: experiment.variants.clone(),
        units,
        impressions: evidence.map_or(0, |e| e.impressions),
        clicks: evidence.map_or(0, |e| e.clicks),
        pairs,
        sample_size,
        notes,
    }
}

/// The variant significantly preferred (adjusted p < alpha for `rule`) to every other variant.
fn winner(report: &InterleavingReport, rule: StoppingRule, alpha: f64) -> Option<String> {
    report.variants.iter().find_map(|v| {
        let beats_all = report.variants.iter().filter(|o| *o != v).all(|o| {
            report.pair(v, o).is_some_and(|p| {
                p.preferred.as_deref() == Some(v.as_str())
                    && p.adjusted_for(rule).is_some_and(|p| p < alpha)
            })
        });
        beats_all.then(|| v.clone())
    })
}

/// The stopping rule on an interleaving report: `Ok` with a verdict that stops, or `Err` with
/// why the experiment keeps running. Maximum duration is the caller's.
///
/// - `sequential`: the variant preferred to every other with always-valid adjusted p < alpha
///   wins; with `mde` set, every pair's confidence sequence inside ±mde means no difference;
/// - `fixed`: nothing before the planned units; then the variant preferred to every other with
///   sign-test adjusted p < alpha wins, else no difference.
pub(super) fn decide(
    report: &InterleavingReport,
    experiment: &Experiment,
) -> Result<Verdict, String> {
    let stopping = &experiment.stopping;
    let alpha = stopping.alpha;
    match stopping.rule {
        StoppingRule::Sequential => {
            if let Some(variant) = winner(report, StoppingRule::Sequential, alpha) {
                return Ok(Verdict::Winner { variant });
            }
            let within = stopping.mde.is_some_and(|mde| {
                !report.pairs.is_empty()
                    && report.pairs.iter().all(|p| {
                        p.always_valid_interval
                            .is_some_and(|l| l.lower > -mde && l.upper < mde)
                    })
            });
            if within {
                return Ok(Verdict::NoDifference);
            }
            Err(format!(
                "no variant is preferred to the others beyond noise yet ({} units, {} impressions; always-valid, alpha {alpha})",
                report.units, report.impressions
            ))
        }
        StoppingRule::Fixed => match &report.sample_size {
            Some(plan) if plan.reached => Ok(match winner(report, StoppingRule::Fixed, alpha) {
                Some(variant) => Verdict::Winner { variant },
                None => Verdict::NoDifference,
            }),
            Some(plan) => Err(format!(
                "the planned sample is not reached ({}/{} units with impressions); nothing is decided before it",
                plan.observed_units, plan.required_units
            )),
            None => Err(
                "the fixed-horizon test has no sample size (no stopping.mde); it ends at max_duration"
                    .to_string(),
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(first: u64, second: u64, tied: u64) -> PairEvidence {
        PairEvidence {
            first: "a".into(),
            second: "b".into(),
            prefer_first: first,
            prefer_second: second,
            tied,
            preference_sum: 0.0,
        }
    }

    #[test]
    fn the_worked_example_of_the_module_doc() {
        let p = analyze_pair(&pair(60, 20, 20), 0.05, None, 1);
        assert!((p.delta.unwrap() - 0.2).abs() < 1e-12);
        let sign = p.sign_test_p_value.unwrap();
        assert!((sign - 8.5806e-6).abs() < 1e-9, "{sign}");
        assert_eq!(p.preferred.as_deref(), Some("a"));
    }

    #[test]
    fn no_units_and_one_unit_say_why() {
        let p = analyze_pair(&pair(0, 0, 0), 0.05, None, 1);
        assert_eq!(p.delta, None);
        assert!(p.not_enough_data.unwrap().contains("no unit"));
        let p = analyze_pair(&pair(1, 0, 0), 0.05, None, 1);
        assert_eq!(p.delta, Some(0.5));
        assert_eq!(p.interval, None);
        assert!(p.not_enough_data.unwrap().contains("at least 2"));
    }

    #[test]
    fn unanimous_units_are_evidence_not_a_division_by_zero() {
        let p = analyze_pair(&pair(40, 0, 0), 0.05, None, 1);
        let av = p
            .always_valid_p_value
            .expect("a p-value despite zero variance");
        assert!(av < 0.05, "{av}");
        let all_tied = analyze_pair(&pair(0, 0, 40), 0.05, None, 1);
        assert_eq!(all_tied.always_valid_p_value, Some(1.0));
        assert_eq!(all_tied.preferred, None);
    }
}
