//! The release strategies the simulator compares, each played on one seed's units:
//!
//! - `rampart`: the staged rollout with rampart's always-valid gates, through the real controller
//!   ([`run_rollout_in`]);
//! - `fixed-threshold`: the same stages judged the way Flagger and Argo Rollouts judge a canary —
//!   every interval each check compares the candidate's value in that interval with a fixed limit;
//!   [`assess_interval`] and [`step_threshold`] are the rule;
//! - `fixed-horizon-ab`: 50/50 until the planned sample size, then two-sided z-tests;
//! - `sequential-ab`: 50/50 with rampart-stats' mSPRT, looked at regularly, stopping at the first
//!   boundary crossing;
//! - `interleaving`: team-draft interleaving (multileaving for three or more rankers) of the
//!   scenario's rankers under a cascade click model, decided by the always-valid preference test.
//!
//! Everything is pure and seeded; time is simulated.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rampart_core::evidence::PairEvidence;
use rampart_core::experiment::always_valid_preference;
use rampart_core::interleave::{credit, interleave, Method, Outcome as Preference};
use rampart_core::state::RolloutStatus;
use rampart_core::Millis;
use rampart_stats::{
    proportion_effect_size, sample_size, two_proportions, Alternative, Msprt, PowerSpec, PowerTest,
    Proportion, Rng, SequentialLook, TestSpec,
};
use serde::Serialize;

use crate::rollout::{run_rollout_in, RunOptions};
use crate::scenario::{
    FixedThreshold, Promote, Ranking, Scenario, SimMetric, ThresholdCheck, ROLLOUT,
};
use crate::world::{Arrivals, Outcome, Unit, World};

/// A release strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StrategyKind {
    Rampart,
    FixedThreshold,
    FixedHorizonAb,
    SequentialAb,
    Interleaving,
}

impl StrategyKind {
    pub const ALL: [StrategyKind; 5] = [
        StrategyKind::Rampart,
        StrategyKind::FixedThreshold,
        StrategyKind::FixedHorizonAb,
        StrategyKind::SequentialAb,
        StrategyKind::Interleaving,
    ];

    pub fn name(self) -> &'static str {
        match self {
            StrategyKind::Rampart => "rampart",
            StrategyKind::FixedThreshold => "fixed-threshold",
            StrategyKind::FixedHorizonAb => "fixed-horizon-ab",
            StrategyKind::SequentialAb => "sequential-ab",
            StrategyKind::Interleaving => "interleaving",
        }
    }

    pub fn parse(s: &str) -> Option<StrategyKind> {
        StrategyKind::ALL.into_iter().find(|k| k.name() == s)
    }
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Ending {
    /// The candidate was promoted to all traffic (rollout completed, A/B shipped, ranker won).
    Promoted,
    /// The candidate was rolled back or rejected.
    RolledBack,
    /// No decision by the horizon.
    Undecided,
}

/// One strategy on one seed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StrategyRun {
    pub strategy: StrategyKind,
    pub seed: u64,
    pub ending: Ending,
    /// Simulated time of the decision.
    pub decided_at: Option<Millis>,
    /// Units served a variant worse than the baseline for their segment, from the start to the
    /// horizon (after a promotion every unit gets the promoted variant). Interleaved lists count
    /// the share of their items placed by worse rankers.
    pub worse_units: f64,
    /// Units that arrived before the horizon.
    pub units: u64,
    /// Whether the promoted-or-not candidate is truly worse than the baseline (for interleaving:
    /// the candidate ranker ranks with more noise).
    pub candidate_worse: bool,
    /// Promoted a variant that is worse than the baseline.
    pub false_promotion: bool,
    /// Rolled back although the candidate is not worse.
    pub false_rollback: bool,
    /// Why, in a few words.
    pub reason: String,
}

/// Plays `kinds` on one seed; strategies that do not apply (interleaving without rankers) are
/// left out.
pub fn run_seed(
    scenario: &Scenario,
    kinds: &[StrategyKind],
    seed: u64,
) -> Result<Vec<StrategyRun>, String> {
    let arrivals = scenario.world.arrivals(seed);
    let mut out = Vec::with_capacity(kinds.len());
    for &kind in kinds {
        let run = match kind {
            StrategyKind::Rampart => run_rampart(scenario, &arrivals, seed)?,
            StrategyKind::FixedThreshold => run_fixed_threshold(scenario, &arrivals, seed),
            StrategyKind::FixedHorizonAb => run_fixed_horizon(scenario, &arrivals, seed)?,
            StrategyKind::SequentialAb => run_sequential(scenario, &arrivals, seed)?,
            StrategyKind::Interleaving => match &scenario.ranking {
                Some(r) => run_interleaving(scenario, r, &arrivals, seed)?,
                None => continue,
            },
        };
        out.push(run);
    }
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
fn finish(
    scenario: &Scenario,
    strategy: StrategyKind,
    seed: u64,
    arrivals: &Arrivals,
    ending: Ending,
    decided_at: Option<Millis>,
    worse_units: f64,
    reason: String,
) -> StrategyRun {
    let worse = scenario.candidate_worse();
    StrategyRun {
        strategy,
        seed,
        ending,
        decided_at,
        worse_units,
        units: arrivals.total(),
        candidate_worse: worse,
        false_promotion: worse && ending == Ending::Promoted,
        false_rollback: !worse && ending == Ending::RolledBack,
        reason,
    }
}

/// Units served the candidate after a promotion at the end of tick `k`, when it is worse for them.
fn worse_after(world: &World, scenario: &Scenario, arrivals: &Arrivals, k: usize) -> f64 {
    arrivals
        .units_from(k + 1)
        .filter(|u| world.worse(&scenario.baseline, &scenario.candidate, world.segment(u)))
        .count() as f64
}

fn run_rampart(scenario: &Scenario, arrivals: &Arrivals, seed: u64) -> Result<StrategyRun, String> {
    let w = &scenario.world;
    let run = run_rollout_in(
        &scenario.config,
        ROLLOUT,
        w,
        arrivals,
        RunOptions {
            tick_ms: w.tick_ms,
            horizon_ms: w.horizon_ms,
            approve_after_ms: scenario.approve_after_ms,
            seed,
        },
    )?;
    let ending = match run.status {
        RolloutStatus::Completed => Ending::Promoted,
        RolloutStatus::RolledBack => Ending::RolledBack,
        _ => Ending::Undecided,
    };
    let reason = match ending {
        Ending::Undecided => format!(
            "{} in stage {} at the horizon",
            run.status.as_str(),
            run.stage + 1
        ),
        _ => run
            .decisions
            .last()
            .map(|d| format!("{}: {}", d.action, d.reason))
            .unwrap_or_default(),
    };
    Ok(finish(
        scenario,
        StrategyKind::Rampart,
        seed,
        arrivals,
        ending,
        run.decided_at,
        run.worse_units as f64,
        reason,
    ))
}

/// Conversions not yet arrived: (time, arm), arm 1 = candidate.
type Pending = BinaryHeap<Reverse<(Millis, u8)>>;

/// Pops the conversions that have arrived by `now`, each as its arm.
fn due(pending: &mut Pending, now: Millis) -> impl Iterator<Item = u8> + '_ {
    std::iter::from_fn(move || match pending.peek() {
        Some(&Reverse((at, arm))) if at <= now => {
            pending.pop();
            Some(arm)
        }
        _ => None,
    })
}

/// Places unit `u` in a two-arm split: on the candidate (arm 1) when its assignment draw is below
/// `share`. Returns its arm, its outcome (none when it leaves without one), and whether it got a
/// variant worse than the baseline for its segment.
fn place(scenario: &Scenario, u: &Unit, share: f64) -> Option<(u8, Outcome, bool)> {
    let w = &scenario.world;
    let arm = u8::from(u.draws.assign < share);
    let variant = if arm == 1 {
        &scenario.candidate
    } else {
        &scenario.baseline
    };
    let o = w.outcome(u, variant)?;
    let on_worse = arm == 1 && w.worse(&scenario.baseline, &scenario.candidate, w.segment(u));
    Some((arm, o, on_worse))
}

/// What one arm did in one interval of the fixed-threshold rule.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ArmInterval {
    /// Units exposed in the interval.
    pub units: u64,
    pub errors: u64,
    /// Conversion events that arrived in the interval.
    pub conversions: u64,
    pub latencies: Vec<f64>,
}

impl ArmInterval {
    fn value(&mut self, metric: SimMetric, quantile: f64) -> Option<f64> {
        if self.units == 0 {
            return None;
        }
        Some(match metric {
            SimMetric::Conversion => self.conversions as f64 / self.units as f64,
            SimMetric::ErrorRate => self.errors as f64 / self.units as f64,
            SimMetric::Latency => {
                if self.latencies.is_empty() {
                    return None;
                }
                self.latencies.sort_by(f64::total_cmp);
                let i = ((quantile * self.latencies.len() as f64).ceil() as usize).max(1) - 1;
                self.latencies[i.min(self.latencies.len() - 1)]
            }
        })
    }
}

/// The result of one interval's checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntervalResult {
    Pass,
    /// The first failing check, described.
    Fail(String),
    /// Too few candidate units to judge: counts neither way.
    Skipped,
}

/// Judges one interval: every check on the candidate's value in the interval (ratios against the
/// baseline in the same interval; a ratio check without baseline units or with a baseline of 0
/// passes unless the candidate exceeds 0 under `max_ratio`).
pub fn assess_interval(
    rule: &FixedThreshold,
    candidate: &mut ArmInterval,
    baseline: &mut ArmInterval,
) -> IntervalResult {
    if candidate.units == 0 || candidate.units < rule.min_units {
        return IntervalResult::Skipped;
    }
    for check in &rule.checks {
        if let Some(why) = failed(check, candidate, baseline) {
            return IntervalResult::Fail(why);
        }
    }
    IntervalResult::Pass
}

fn failed(c: &ThresholdCheck, cand: &mut ArmInterval, base: &mut ArmInterval) -> Option<String> {
    let name = match c.metric {
        SimMetric::Conversion => "conversion",
        SimMetric::ErrorRate => "error_rate",
        SimMetric::Latency => "latency",
    };
    let v = cand.value(c.metric, c.quantile)?;
    // Limits are met with a little slack for rounding: 9/100 ÷ 100/1000 is 0.9, not 0.8999….
    const SLACK: f64 = 1e-9;
    if let Some(max) = c.max.filter(|m| v > *m + SLACK) {
        return Some(format!("{name} {v:.4} > {max}"));
    }
    if let Some(min) = c.min.filter(|m| v < *m - SLACK) {
        return Some(format!("{name} {v:.4} < {min}"));
    }
    let b = base.value(c.metric, c.quantile);
    match b {
        Some(b) if b > 0.0 => {
            let ratio = v / b;
            if let Some(max) = c.max_ratio.filter(|m| ratio > *m + SLACK) {
                return Some(format!("{name} {ratio:.3}× the baseline > {max}×"));
            }
            if let Some(min) = c.min_ratio.filter(|m| ratio < *m - SLACK) {
                return Some(format!("{name} {ratio:.3}× the baseline < {min}×"));
            }
        }
        Some(_) if v > 0.0 && c.max_ratio.is_some() => {
            return Some(format!("{name} {v:.4} while the baseline's is 0"));
        }
        _ => {}
    }
    None
}

/// Where a fixed-threshold rollout stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ThresholdState {
    pub stage: usize,
    /// Passing intervals in the current stage.
    pub passes: u32,
    /// Failed intervals since the start.
    pub failures: u32,
}

/// What the rule does after an interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThresholdStep {
    Stay,
    Advance,
    RollBack,
    Promote,
}

/// Applies one interval's result: `failure_limit` failed intervals roll back; `success_count`
/// passing intervals in a stage advance to the next one, or promote after the last stage.
pub fn step_threshold(
    rule: &FixedThreshold,
    state: ThresholdState,
    result: &IntervalResult,
) -> (ThresholdState, ThresholdStep) {
    let mut next = state;
    match result {
        IntervalResult::Skipped => (next, ThresholdStep::Stay),
        IntervalResult::Fail(_) => {
            next.failures += 1;
            if next.failures >= rule.failure_limit {
                (next, ThresholdStep::RollBack)
            } else {
                (next, ThresholdStep::Stay)
            }
        }
        IntervalResult::Pass => {
            next.passes += 1;
            if next.passes < rule.success_count {
                return (next, ThresholdStep::Stay);
            }
            if next.stage + 1 >= rule.stages.len() {
                return (next, ThresholdStep::Promote);
            }
            next.stage += 1;
            next.passes = 0;
            (next, ThresholdStep::Advance)
        }
    }
}

fn run_fixed_threshold(scenario: &Scenario, arrivals: &Arrivals, seed: u64) -> StrategyRun {
    let w = &scenario.world;
    let rule = &scenario.fixed_threshold;
    let kind = StrategyKind::FixedThreshold;
    let mut state = ThresholdState::default();
    let mut arms = [ArmInterval::default(), ArmInterval::default()];
    let mut pending = Pending::new();
    let mut worse = 0.0;
    let mut next_check = rule.interval_ms;
    let mut last_fail = String::new();
    for k in 0..arrivals.ticks() {
        let share = rule.stages.get(state.stage).copied().unwrap_or(100.0) / 100.0;
        for u in arrivals.units(k) {
            let Some((arm, o, on_worse)) = place(scenario, &u, share) else {
                continue;
            };
            worse += f64::from(u8::from(on_worse));
            let a = &mut arms[arm as usize];
            a.units += 1;
            a.errors += u64::from(o.error);
            a.latencies.push(o.latency_ms);
            if let Some(at) = o.converted_at {
                pending.push(Reverse((at, arm)));
            }
        }
        let now = (k as Millis + 1) * w.tick_ms;
        for arm in due(&mut pending, now) {
            arms[arm as usize].conversions += 1;
        }
        if now < next_check {
            continue;
        }
        next_check += rule.interval_ms;
        let [base, cand] = &mut arms;
        let result = assess_interval(rule, cand, base);
        if let IntervalResult::Fail(why) = &result {
            last_fail = why.clone();
        }
        arms = [ArmInterval::default(), ArmInterval::default()];
        let (next, step) = step_threshold(rule, state, &result);
        state = next;
        match step {
            ThresholdStep::RollBack => {
                let reason = format!("{} failed intervals; last: {last_fail}", state.failures);
                return finish(
                    scenario,
                    kind,
                    seed,
                    arrivals,
                    Ending::RolledBack,
                    Some(now),
                    worse,
                    reason,
                );
            }
            ThresholdStep::Promote => {
                worse += worse_after(w, scenario, arrivals, k);
                let reason = format!("{} stages passed", rule.stages.len());
                return finish(
                    scenario,
                    kind,
                    seed,
                    arrivals,
                    Ending::Promoted,
                    Some(now),
                    worse,
                    reason,
                );
            }
            ThresholdStep::Stay | ThresholdStep::Advance => {}
        }
    }
    let reason = format!("in stage {} at the horizon", state.stage + 1);
    finish(
        scenario,
        kind,
        seed,
        arrivals,
        Ending::Undecided,
        None,
        worse,
        reason,
    )
}

/// Counts of one A/B arm so far.
#[derive(Debug, Clone, Copy, Default)]
struct AbArm {
    units: u64,
    errors: u64,
    conversions: u64,
}

/// The baseline's long-run conversion and error rate over all segments, weighted by share.
fn baseline_rates(scenario: &Scenario) -> (f64, f64) {
    let w = &scenario.world;
    let segments = w.segment_values();
    let mut rest = 1.0;
    let (mut conv, mut err) = (0.0, 0.0);
    for s in segments {
        let share = match s {
            Some(v) => match w.traffic.segments.iter().find(|x| x.value == v) {
                Some(seg) => seg.share,
                None => rest,
            },
            None => 1.0,
        };
        if let Some(v) = s {
            if v != "other" {
                rest -= share;
            }
        }
        if let Some(b) = w.behaviour(&scenario.baseline, s) {
            conv += share * b.conversion;
            err += share * b.error;
        }
    }
    (conv, err)
}

/// Units per arm of the fixed-horizon test: two-sided z-test on Cohen's h, as `rampart plan`.
pub fn planned_units_per_arm(scenario: &Scenario) -> Result<u64, String> {
    let (p, _) = baseline_rates(scenario);
    let ab = &scenario.ab;
    let treated = (p * (1.0 + ab.mde)).min(1.0);
    let h = proportion_effect_size(treated, p).map_err(|e| e.to_string())?;
    let n = sample_size(
        PowerTest::Z,
        h,
        ab.power,
        &PowerSpec::new(ab.alpha, Alternative::TwoSided, 1.0),
    )
    .map_err(|e| format!("cannot size the A/B test (baseline conversion {p}): {e}"))?;
    Ok(n.ceil() as u64)
}

/// Plays a 50/50 split; `decide` looks at the arms at the end of each tick and may end the run.
fn run_split(
    scenario: &Scenario,
    arrivals: &Arrivals,
    seed: u64,
    kind: StrategyKind,
    mut decide: impl FnMut(Millis, &AbArm, &AbArm) -> Option<(Ending, String)>,
) -> StrategyRun {
    let w = &scenario.world;
    let mut arms = [AbArm::default(), AbArm::default()];
    let mut pending = Pending::new();
    let mut worse = 0.0;
    for k in 0..arrivals.ticks() {
        for u in arrivals.units(k) {
            let Some((arm, o, on_worse)) = place(scenario, &u, 0.5) else {
                continue;
            };
            worse += f64::from(u8::from(on_worse));
            let a = &mut arms[arm as usize];
            a.units += 1;
            a.errors += u64::from(o.error);
            if let Some(at) = o.converted_at {
                pending.push(Reverse((at, arm)));
            }
        }
        let now = (k as Millis + 1) * w.tick_ms;
        for arm in due(&mut pending, now) {
            arms[arm as usize].conversions += 1;
        }
        if let Some((ending, reason)) = decide(now, &arms[0], &arms[1]) {
            if ending == Ending::Promoted {
                worse += worse_after(w, scenario, arrivals, k);
            }
            return finish(
                scenario,
                kind,
                seed,
                arrivals,
                ending,
                Some(now),
                worse,
                reason,
            );
        }
    }
    let reason = "no decision by the horizon".to_string();
    finish(
        scenario,
        kind,
        seed,
        arrivals,
        Ending::Undecided,
        None,
        worse,
        reason,
    )
}

/// Two-sided test of candidate − baseline: (estimate, p-value).
fn z_test(base: (u64, u64), cand: (u64, u64), alpha: f64) -> Option<(f64, f64)> {
    let c = two_proportions(
        &Proportion::new(base.0, base.1),
        &Proportion::new(cand.0, cand.1),
        TestSpec::two_sided(alpha),
    )
    .ok()?;
    Some((c.absolute.estimate, c.absolute.p_value))
}

fn run_fixed_horizon(
    scenario: &Scenario,
    arrivals: &Arrivals,
    seed: u64,
) -> Result<StrategyRun, String> {
    let n = planned_units_per_arm(scenario)?;
    let ab = scenario.ab.clone();
    Ok(run_split(
        scenario,
        arrivals,
        seed,
        StrategyKind::FixedHorizonAb,
        |_, b, c| {
            if b.units < n || c.units < n {
                return None;
            }
            let conv = z_test((b.units, b.conversions), (c.units, c.conversions), ab.alpha);
            let err = z_test((b.units, b.errors), (c.units, c.errors), ab.alpha);
            let sig = |t: Option<(f64, f64)>| t.filter(|(_, p)| *p < ab.alpha).map(|(e, _)| e);
            let (conv_sig, err_sig) = (sig(conv), sig(err));
            let at = format!("at {n} units per arm");
            Some(if conv_sig.is_some_and(|e| e < 0.0) {
                (
                    Ending::RolledBack,
                    format!("conversion significantly lower {at}"),
                )
            } else if err_sig.is_some_and(|e| e > 0.0) {
                (
                    Ending::RolledBack,
                    format!("error rate significantly higher {at}"),
                )
            } else if conv_sig.is_some_and(|e| e > 0.0) {
                (
                    Ending::Promoted,
                    format!("conversion significantly higher {at}"),
                )
            } else if ab.promote == Promote::NoHarm {
                (Ending::Promoted, format!("no significant harm {at}"))
            } else {
                (Ending::RolledBack, format!("no significant win {at}"))
            })
        },
    ))
}

/// The mSPRT look at a difference of two proportions; `None` while the variance is 0.
fn msprt_look(
    test: &Msprt,
    base: (u64, u64),
    cand: (u64, u64),
    previous: Option<&SequentialLook>,
) -> Option<SequentialLook> {
    if base.0 == 0 || cand.0 == 0 {
        return None;
    }
    let pb = base.1 as f64 / base.0 as f64;
    let pc = cand.1 as f64 / cand.0 as f64;
    let v = pb * (1.0 - pb) / base.0 as f64 + pc * (1.0 - pc) / cand.0 as f64;
    if v <= 0.0 {
        return None;
    }
    test.look(pc - pb, v, 0.0, previous).ok()
}

fn run_sequential(
    scenario: &Scenario,
    arrivals: &Arrivals,
    seed: u64,
) -> Result<StrategyRun, String> {
    let ab = scenario.ab.clone();
    let (p, e) = baseline_rates(scenario);
    // Mixing over the effect of interest: the mde on each metric's scale (as the experiment
    // analysis tunes its sequential rule).
    let mix = |rate: f64| (ab.mde * rate.max(1e-4)).powi(2);
    let conv_test =
        Msprt::new(mix(p), ab.alpha, Alternative::TwoSided).map_err(|x| x.to_string())?;
    let err_test =
        Msprt::new(mix(e), ab.alpha, Alternative::TwoSided).map_err(|x| x.to_string())?;
    let (mut conv_prev, mut err_prev): (Option<SequentialLook>, Option<SequentialLook>) =
        (None, None);
    let mut next_look = ab.look_every_ms;
    Ok(run_split(
        scenario,
        arrivals,
        seed,
        StrategyKind::SequentialAb,
        |now, b, c| {
            if now < next_look {
                return None;
            }
            next_look += ab.look_every_ms;
            let conv = msprt_look(
                &conv_test,
                (b.units, b.conversions),
                (c.units, c.conversions),
                conv_prev.as_ref(),
            );
            let err = msprt_look(
                &err_test,
                (b.units, b.errors),
                (c.units, c.errors),
                err_prev.as_ref(),
            );
            if conv.is_some() {
                conv_prev = conv;
            }
            if err.is_some() {
                err_prev = err;
            }
            let crossed = |l: Option<SequentialLook>| l.filter(|l| l.rejected);
            let estimate = |x: u64, n: u64| if n == 0 { 0.0 } else { x as f64 / n as f64 };
            let conv_delta = estimate(c.conversions, c.units) - estimate(b.conversions, b.units);
            let err_delta = estimate(c.errors, c.units) - estimate(b.errors, b.units);
            let at = format!("after {} units", b.units + c.units);
            if crossed(err).is_some() && err_delta > 0.0 {
                return Some((
                    Ending::RolledBack,
                    format!("error rate crossed the boundary (higher) {at}"),
                ));
            }
            if crossed(conv).is_some() {
                return Some(if conv_delta < 0.0 {
                    (
                        Ending::RolledBack,
                        format!("conversion crossed the boundary (lower) {at}"),
                    )
                } else {
                    (
                        Ending::Promoted,
                        format!("conversion crossed the boundary (higher) {at}"),
                    )
                });
            }
            None
        },
    ))
}

/// A query: `items` items with grades 0–2; each ranker's ranking of them.
fn rankings(ranking: &Ranking, rng: &mut Rng) -> (Vec<u8>, Vec<Vec<String>>) {
    let grades: Vec<u8> = (0..ranking.items).map(|_| rng.below(3) as u8).collect();
    let lists = ranking
        .rankers
        .iter()
        .map(|r| {
            let mut scored: Vec<(f64, usize)> = grades
                .iter()
                .enumerate()
                .map(|(i, &g)| (f64::from(g) + r.noise * rng.normal(), i))
                .collect();
            scored.sort_by(|a, b| b.0.total_cmp(&a.0));
            scored.into_iter().map(|(_, i)| format!("d{i}")).collect()
        })
        .collect();
    (grades, lists)
}

fn run_interleaving(
    scenario: &Scenario,
    ranking: &Ranking,
    arrivals: &Arrivals,
    seed: u64,
) -> Result<StrategyRun, String> {
    let kind = StrategyKind::Interleaving;
    let k = ranking.rankers.len();
    let method = if k == 2 {
        Method::TeamDraft
    } else {
        Method::TeamDraftMultileave
    };
    let base_noise = ranking.rankers[0].noise;
    let worse_ranker: Vec<bool> = ranking
        .rankers
        .iter()
        .map(|r| r.noise > base_noise)
        .collect();
    let candidate_worse = worse_ranker.get(1).copied().unwrap_or(false);
    // Pairs (baseline, j): units preferring the baseline, preferring j, tied.
    let mut pairs: Vec<PairEvidence> = (1..k)
        .map(|j| PairEvidence {
            first: ranking.rankers[0].name.clone(),
            second: ranking.rankers[j].name.clone(),
            prefer_first: 0,
            prefer_second: 0,
            tied: 0,
            preference_sum: 0.0,
        })
        .collect();
    // Bonferroni over the baseline's comparisons.
    let alpha = scenario.ab.alpha / (k - 1) as f64;
    let mut worse = 0.0;
    let mut next_look = scenario.ab.look_every_ms;
    let done = |ending: Ending, at: Millis, worse: f64, reason: String| {
        let mut run = finish(
            scenario,
            kind,
            seed,
            arrivals,
            ending,
            Some(at),
            worse,
            reason,
        );
        run.candidate_worse = candidate_worse;
        run
    };
    for t in 0..arrivals.ticks() {
        for u in arrivals.units(t) {
            let Unit { draws, .. } = u;
            let mut rng = Rng::new(draws.query);
            let (grades, lists) = rankings(ranking, &mut rng);
            let impression =
                interleave(method, &lists, ranking.shown, &mut rng).map_err(|e| e.to_string())?;
            let mut clicked: Vec<&str> = Vec::new();
            let mut from_worse = 0usize;
            for item in &impression.items {
                if item.team.is_some_and(|team| worse_ranker[team]) {
                    from_worse += 1;
                }
            }
            for item in &impression.items {
                let g = item.id[1..]
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| grades.get(i))
                    .copied()
                    .unwrap_or(0) as usize;
                if rng.bernoulli(ranking.click_model.click[g]) {
                    clicked.push(&item.id);
                    if rng.bernoulli(ranking.click_model.stop[g]) {
                        break;
                    }
                }
            }
            worse += from_worse as f64 / impression.items.len().max(1) as f64;
            let c = credit(&impression, &clicked).map_err(|e| e.to_string())?;
            for (j, pair) in pairs.iter_mut().enumerate() {
                match c.pairwise(0, j + 1) {
                    Preference::Win(0) => pair.prefer_first += 1,
                    Preference::Win(_) => pair.prefer_second += 1,
                    Preference::Tie => pair.tied += 1,
                }
            }
        }
        let now = (t as Millis + 1) * scenario.world.tick_ms;
        if now < next_look {
            continue;
        }
        next_look += scenario.ab.look_every_ms;
        let looks: Vec<Option<(f64, f64)>> = pairs
            .iter()
            .map(|p| {
                always_valid_preference(p, alpha, Some(ranking.mde))
                    .map(|(pv, lift)| (pv, lift.estimate))
            })
            .collect();
        // A candidate significantly preferred to the baseline wins (the largest Δ among them).
        let winner = looks
            .iter()
            .enumerate()
            .filter_map(|(j, l)| {
                l.filter(|(p, d)| *p <= alpha && *d < 0.0)
                    .map(|(_, d)| (j + 1, d))
            })
            .min_by(|a, b| a.1.total_cmp(&b.1));
        let units = pairs[0].prefer_first + pairs[0].prefer_second + pairs[0].tied;
        if let Some((j, _)) = winner {
            let rest: f64 = if worse_ranker[j] {
                arrivals.units_from(t + 1).count() as f64
            } else {
                0.0
            };
            let reason = format!(
                "{} preferred to {} after {units} impressions",
                ranking.rankers[j].name, ranking.rankers[0].name
            );
            let mut run = done(Ending::Promoted, now, worse + rest, reason);
            run.false_promotion = worse_ranker[j];
            run.false_rollback = false;
            return Ok(run);
        }
        let baseline_wins = looks
            .iter()
            .all(|l| l.is_some_and(|(p, d)| p <= alpha && d > 0.0));
        if baseline_wins {
            let reason = format!(
                "{} preferred to every candidate after {units} impressions",
                ranking.rankers[0].name
            );
            let mut run = done(Ending::RolledBack, now, worse, reason);
            run.false_promotion = false;
            run.false_rollback = !candidate_worse;
            return Ok(run);
        }
    }
    let mut run = finish(
        scenario,
        kind,
        seed,
        arrivals,
        Ending::Undecided,
        None,
        worse,
        "no preference by the horizon".into(),
    );
    run.candidate_worse = candidate_worse;
    run.false_promotion = false;
    run.false_rollback = false;
    Ok(run)
}
