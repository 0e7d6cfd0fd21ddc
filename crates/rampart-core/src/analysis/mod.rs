//! Gate analysis for staged rollouts: turns a rollout's evidence into one [`GateVerdict`] per gate
//! (pass, fail with harm, or inconclusive), plus one failing verdict per segment in which a gate
//! shows harm.
//!
//! Every check is an always-valid sequential test (mSPRT with a normal mixture, from
//! `rampart-stats`), so the controller may look at every tick without inflating false alarms:
//! - `max` / `min`: the candidate's value (mean, ratio, or for latency with `quantile` the share of
//!   events beyond the limit) against the limit;
//! - `compare = "control"`: the change against the concurrent control, in the direction of the
//!   metric's goal, against the allowed worsening (`max_worsening`);
//! - segments: the same checks within every segment value, Benjamini–Hochberg across segments;
//! - a metric with a `maturity` is read on the mature units only (first exposed at least that
//!   long before the look's `now`, in both arms alike; see [`EntityEvidence::mature`]).
//!
//! A gate on a `prometheus` metric reads one number per variant from the readings of the look
//! instead (see [`provider`]): a plain comparison, no statistical test.
//!
//! `assess_gates` is pure and keeps no state between looks. `docs/gates.md` has the formulas.

pub(crate) mod check;
pub mod provider;

use std::collections::BTreeMap;

use rampart_stats::{adjust_p_values, Correction};
use serde::Serialize;

use crate::config::Duration;
use crate::config::{Config, Control, Gate, Goal, Metric, Rollout, Worsening};
use crate::evidence::{EntityEvidence, MatureEvidence, SegmentEvidence, VariantEvidence};
use crate::record::Millis;
use check::{Missing, Quantity, Side, Tested};
use provider::{Context, Readings};

pub use check::{HORIZON_UNITS, MIN_OBSERVATIONS, MIN_RELATIVE_EFFECT};

/// Significance level of a gate that sets no `alpha`.
pub const DEFAULT_ALPHA: f64 = 0.05;

/// What the statistics say about one gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Every check of the gate is met beyond noise.
    Pass,
    /// A check shows harm beyond noise.
    Fail,
    /// Not enough evidence either way (or no usable evidence at all).
    Inconclusive,
}

/// The quantity whose estimate and bounds [`GateNumbers`] report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Measure {
    /// The candidate's value: mean per unit (per event for latency) or ratio.
    Value,
    /// Share of the candidate's latency events above the limit.
    ShareAbove,
    /// Share of the candidate's latency events below the limit.
    ShareBelow,
    /// Candidate − control, in the metric's units.
    Difference,
    /// Candidate / control − 1.
    RelativeDifference,
}

/// The numbers a verdict rests on; `None` where nothing could be computed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GateNumbers {
    /// What `estimate`, `lower`, `upper` and `threshold` are about.
    pub measure: Option<Measure>,
    pub estimate: Option<f64>,
    /// One-sided always-valid confidence-sequence bounds (each at level alpha over the checks).
    pub lower: Option<f64>,
    pub upper: Option<f64>,
    /// Always-valid p-value of "no harm" (Bonferroni over the gate's checks).
    pub p_value: Option<f64>,
    /// For a segment: the p-value adjusted by Benjamini–Hochberg across the tested segments.
    pub adjusted_p_value: Option<f64>,
    /// The limit on `estimate`: values beyond it on the harmful side are harm.
    pub threshold: Option<f64>,
    /// Units (latency: events) behind the estimate.
    pub n_candidate: u64,
    pub n_control: u64,
    /// The candidate's and the control's own values (mean, ratio or quantile).
    pub candidate_estimate: Option<f64>,
    pub control_estimate: Option<f64>,
    pub alpha: f64,
    /// For a metric with a `maturity`: `n_candidate` and `n_control` count the mature units
    /// only; this says the maturity and how many units each arm has exposed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mature: Option<MatureUnits>,
}

/// How many of the units exposed were mature at the look (see [`GateNumbers::mature`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MatureUnits {
    /// The metric's maturity in milliseconds.
    pub maturity_ms: u64,
    /// Units exposed to the candidate (mature or not).
    pub exposed_candidate: u64,
    /// Units exposed to the control (mature or not).
    pub exposed_control: u64,
}

/// The verdict on one gate of a rollout, overall or in one segment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GateVerdict {
    /// Index in `rollout.gates`.
    pub gate: usize,
    pub metric: String,
    pub outcome: Outcome,
    /// Fail because the sequential test shows harm (triggers early rollback even mid-stage).
    pub harm: bool,
    /// `(attribute, value)` when the verdict is about one segment.
    pub segment: Option<(String, String)>,
    /// One line a person understands: what was tested, the numbers, why.
    pub message: String,
    pub numbers: GateNumbers,
    /// For a `prometheus` metric: the queries as sent and what came back.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reads: Vec<provider::ProviderRead>,
}

impl GateVerdict {
    /// The provider's failure behind this verdict, if a query of it failed.
    pub fn provider_error(&self) -> Option<String> {
        provider::provider_error(&self.metric, &self.reads)
    }
}

/// Assesses every gate of `rollout` on `evidence` (the rollout's entity evidence) at a look at
/// time `now` (which decides the mature units of metrics with a `maturity`).
///
/// Returns one verdict per gate, in gate order, with `segment = None`; after each, one `Fail`
/// verdict per segment value in which the gate shows harm after Benjamini–Hochberg adjustment
/// across all segment values of the rollout's segment attributes.
pub fn assess_gates(
    rollout: &Rollout,
    config: &Config,
    evidence: &EntityEvidence,
    now: Millis,
) -> Vec<GateVerdict> {
    assess_gates_with(rollout, config, Some(evidence), &Readings::new(), 0, now)
}

/// The rendering context of a rollout's queries for `variant`; `stage` is 0-based.
fn rollout_context<'a>(rollout: &'a Rollout, stage: usize, variant: &'a str) -> Context<'a> {
    Context {
        used_in: "a rollout gate",
        model: &rollout.model,
        variant,
        baseline: Some(&rollout.baseline),
        candidate: Some(&rollout.candidate),
        rollout: Some(&rollout.name),
        stage: Some(stage + 1),
        experiment: None,
    }
}

/// The queries the `prometheus` gates of `rollout` read at a look in `stage` (0-based), without
/// repeats: the candidate's, and the control's for comparisons.
pub fn rollout_queries(rollout: &Rollout, config: &Config, stage: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for gate in &rollout.gates {
        let Some(metric) = config.metric(&gate.metric).filter(|m| m.is_prometheus()) else {
            continue;
        };
        let template = metric.query.as_deref().unwrap_or_default();
        let mut variants = vec![rollout.candidate.as_str()];
        if gate.compare.is_some() && rollout.control != Control::None {
            variants.push(&rollout.baseline);
        }
        for v in variants {
            if let Ok(q) = provider::render(template, &rollout_context(rollout, stage, v)) {
                if !out.contains(&q) {
                    out.push(q);
                }
            }
        }
    }
    out
}

/// [`assess_gates`] with the readings of the look's provider queries (see [`rollout_queries`])
/// and the current stage (0-based, for `{{stage}}`). Gates on event metrics need `evidence`: without
/// it they give no verdict; gates on `prometheus` metrics always give one.
pub fn assess_gates_with(
    rollout: &Rollout,
    config: &Config,
    evidence: Option<&EntityEvidence>,
    readings: &Readings,
    stage: usize,
    now: Millis,
) -> Vec<GateVerdict> {
    let mature = evidence.and_then(|e| e.mature(config, now));
    let mut out = Vec::new();
    for (index, gate) in rollout.gates.iter().enumerate() {
        let alpha = gate.alpha.unwrap_or(DEFAULT_ALPHA);
        match config.metric(&gate.metric) {
            Some(metric) if metric.is_prometheus() => {
                let arms = provider::Arms {
                    candidate: rollout_context(rollout, stage, &rollout.candidate),
                    control: (rollout.control != Control::None).then_some(&rollout.baseline),
                };
                let a = provider::assess(metric, gate, &arms, readings, alpha);
                out.push(GateVerdict {
                    gate: index,
                    metric: gate.metric.clone(),
                    outcome: a.outcome,
                    harm: a.outcome == Outcome::Fail,
                    segment: None,
                    message: a.message,
                    numbers: a.numbers,
                    reads: a.reads,
                });
            }
            _ => {
                if let Some(evidence) = evidence {
                    let read = Read {
                        all: evidence,
                        mature: mature.as_ref(),
                    };
                    assess_event_gate(rollout, config, read, index, gate, &mut out);
                }
            }
        }
    }
    out
}

/// The evidence a look reads: all of it, and the mature view when some metric has a maturity.
#[derive(Clone, Copy)]
struct Read<'a> {
    all: &'a EntityEvidence,
    mature: Option<&'a MatureEvidence>,
}

impl<'a> Read<'a> {
    /// The maturity of `metric`, if its statistics are of mature units.
    fn maturity(&self, metric: &str) -> Option<u64> {
        self.mature?.maturities.get(metric).copied()
    }

    /// The per-variant totals and segments a gate on `metric` compares.
    fn compared(
        &self,
        metric: &str,
    ) -> (&'a BTreeMap<String, VariantEvidence>, &'a [SegmentEvidence]) {
        match self.mature {
            Some(m) if m.maturities.contains_key(metric) => (&m.variants, &m.segments),
            _ => (&self.all.variants, &self.all.segments),
        }
    }
}

/// For a gate on a metric with a maturity: the units exposed per arm next to the mature ones,
/// in the numbers and at the end of the message.
fn note_maturity(
    rollout: &Rollout,
    gate: &Gate,
    maturity_ms: u64,
    exposed: &BTreeMap<String, VariantEvidence>,
    assessed: &mut Assessed,
) {
    let n = |variant: &str| {
        exposed
            .get(variant)
            .and_then(|v| v.metrics.get(&gate.metric))
            .map_or(0, |m| m.n)
    };
    let (exposed_candidate, exposed_control) = (n(&rollout.candidate), n(&rollout.baseline));
    let numbers = &mut assessed.numbers;
    numbers.mature = Some(MatureUnits {
        maturity_ms,
        exposed_candidate,
        exposed_control,
    });
    let counts = if gate.compare.is_some() {
        format!(
            "{} of {exposed_candidate} candidate and {} of {exposed_control} control units",
            numbers.n_candidate, numbers.n_control
        )
    } else {
        format!(
            "{} of {exposed_candidate} candidate units",
            numbers.n_candidate
        )
    };
    assessed.message = format!(
        "{} (mature units: exposed ≥ {} ago; {counts})",
        assessed.message,
        Duration::from_millis(maturity_ms)
    );
}

/// The verdict on one gate on an event metric, then its failing segment verdicts.
fn assess_event_gate(
    rollout: &Rollout,
    config: &Config,
    read: Read<'_>,
    index: usize,
    gate: &Gate,
    out: &mut Vec<GateVerdict>,
) {
    let maturity = read.maturity(&gate.metric);
    let (variants, segments) = read.compared(&gate.metric);
    let mut attributes: Vec<&str> = config.segments.iter().map(String::as_str).collect();
    for s in &rollout.segments {
        if !attributes.contains(&s.as_str()) {
            attributes.push(s);
        }
    }
    {
        let alpha = gate.alpha.unwrap_or(DEFAULT_ALPHA);
        let metric = config.metric(&gate.metric);
        let mut overall = assess_gate(rollout, metric, gate, variants, alpha);
        if let Some(ms) = maturity {
            note_maturity(rollout, gate, ms, &read.all.variants, &mut overall);
        }
        out.push(GateVerdict {
            gate: index,
            metric: gate.metric.clone(),
            outcome: overall.outcome,
            harm: overall.outcome == Outcome::Fail,
            segment: None,
            message: overall.message,
            numbers: overall.numbers,
            reads: Vec::new(),
        });
        let Some(metric) = metric else { return };
        // Mature segments are in the order of the evidence's segments.
        let tested: Vec<_> = segments
            .iter()
            .zip(&read.all.segments)
            .filter(|(s, _)| attributes.contains(&s.attribute.as_str()))
            .filter(|(s, _)| has_data(rollout, gate, &s.variants))
            .map(|(s, all)| {
                let mut a = assess_gate(rollout, Some(metric), gate, &s.variants, alpha);
                if let Some(ms) = maturity {
                    note_maturity(rollout, gate, ms, &all.variants, &mut a);
                }
                (s, a)
            })
            .collect();
        if tested.is_empty() {
            return;
        }
        // A segment that cannot be tested counts as p = 1: it stays in the family, so the family
        // does not shrink with the data.
        let p: Vec<f64> = tested
            .iter()
            .map(|(_, a)| a.numbers.p_value.unwrap_or(1.0))
            .collect();
        let Ok(adjusted) = adjust_p_values(&p, Correction::BenjaminiHochberg) else {
            return;
        };
        let family = tested.len();
        for ((segment, assessed), adj) in tested.into_iter().zip(adjusted) {
            if adj > alpha || assessed.outcome != Outcome::Fail {
                continue;
            }
            let mut numbers = assessed.numbers;
            numbers.adjusted_p_value = Some(adj);
            let message = format!(
                "segment {}={}: {} (Benjamini–Hochberg adjusted {} over {family} segment value(s), alpha {})",
                segment.attribute,
                segment.value,
                assessed.message,
                fmt_p(adj),
                fmt_num(alpha)
            );
            out.push(GateVerdict {
                gate: index,
                metric: gate.metric.clone(),
                outcome: Outcome::Fail,
                harm: true,
                segment: Some((segment.attribute.clone(), segment.value.clone())),
                message,
                numbers,
                reads: Vec::new(),
            });
        }
    }
}

/// Whether a segment has units in every arm the gate reads.
fn has_data(rollout: &Rollout, gate: &Gate, variants: &BTreeMap<String, VariantEvidence>) -> bool {
    let n = |v: &str| {
        variants
            .get(v)
            .and_then(|e| e.metrics.get(&gate.metric))
            .map_or(0, |m| m.n)
    };
    n(&rollout.candidate) > 0 && (gate.compare.is_none() || n(&rollout.baseline) > 0)
}

/// One gate on one group of variants (the totals or a segment).
struct Assessed {
    outcome: Outcome,
    message: String,
    numbers: GateNumbers,
}

/// One check of a gate: what it is, and its quantity and test (or why there is none).
struct CheckResult {
    label: String,
    quantity: Option<Quantity>,
    tested: Result<Tested, Missing>,
}

pub(crate) fn empty_numbers(alpha: f64) -> GateNumbers {
    GateNumbers {
        measure: None,
        estimate: None,
        lower: None,
        upper: None,
        p_value: None,
        adjusted_p_value: None,
        threshold: None,
        n_candidate: 0,
        n_control: 0,
        candidate_estimate: None,
        control_estimate: None,
        alpha,
        mature: None,
    }
}

fn assess_gate(
    rollout: &Rollout,
    metric: Option<&Metric>,
    gate: &Gate,
    variants: &BTreeMap<String, VariantEvidence>,
    alpha: f64,
) -> Assessed {
    let Some(metric) = metric else {
        return Assessed {
            outcome: Outcome::Inconclusive,
            message: format!(
                "{}: inconclusive: {}",
                gate.metric,
                Missing::UnknownMetric(gate.metric.clone())
            ),
            numbers: empty_numbers(alpha),
        };
    };
    let checks = u32::from(gate.max.is_some())
        + u32::from(gate.min.is_some())
        + u32::from(gate.compare.is_some());
    if checks == 0 {
        return Assessed {
            outcome: Outcome::Inconclusive,
            message: format!("{}: the gate has no max, min or compare", gate.metric),
            numbers: empty_numbers(alpha),
        };
    }
    // Bonferroni over the gate's checks keeps the gate's false-alarm rate at alpha.
    let each = alpha / f64::from(checks);
    let stats = |variant: &str, arm: &'static str| {
        variants
            .get(variant)
            .and_then(|v| v.metrics.get(&metric.name))
            .filter(|m| m.n > 0)
            .ok_or_else(|| Missing::NoData {
                arm,
                variant: variant.to_string(),
            })
    };
    let quantile = gate
        .quantile
        .map(|q| format!(" p{}", fmt_num(q * 100.0)))
        .unwrap_or_default();
    let mut results = Vec::new();
    for (limit, side, word) in [
        (gate.max, Side::Above, "max"),
        (gate.min, Side::Below, "min"),
    ] {
        let Some(limit) = limit else { continue };
        let label = format!("{}{quantile} {word} {}", metric.name, fmt_num(limit));
        let quantity = stats(&rollout.candidate, "candidate")
            .and_then(|s| check::absolute(gate, s, limit, side));
        results.push(run(label, quantity, each));
    }
    if gate.compare.is_some() {
        let goal = match metric.goal() {
            Goal::Increase => "higher is better",
            Goal::Decrease => "lower is better",
        };
        let label = format!("{}{quantile} vs control ({goal})", metric.name);
        let quantity = if rollout.control == Control::None {
            Err(Missing::NoControl)
        } else {
            stats(&rollout.candidate, "candidate").and_then(|t| {
                let c = stats(&rollout.baseline, "control")?;
                check::comparison(metric, gate, t, c)
            })
        };
        results.push(run(label, quantity, each));
    }
    combine(results, alpha, checks)
}

fn run(label: String, quantity: Result<Quantity, Missing>, alpha: f64) -> CheckResult {
    match quantity {
        Ok(q) => CheckResult {
            label,
            tested: check::test(&q, alpha),
            quantity: Some(q),
        },
        Err(m) => CheckResult {
            label,
            quantity: None,
            tested: Err(m),
        },
    }
}

/// Fail when any check shows harm, pass when all pass, else inconclusive. The numbers are those
/// of the check that decides: the first harmful one, else the first one not passing.
fn combine(results: Vec<CheckResult>, alpha: f64, checks: u32) -> Assessed {
    let ok = |r: &CheckResult| r.tested.as_ref().ok().copied();
    let outcome = if results.iter().any(|r| ok(r).is_some_and(|t| t.harm)) {
        Outcome::Fail
    } else if results.iter().all(|r| ok(r).is_some_and(|t| t.pass)) {
        Outcome::Pass
    } else {
        Outcome::Inconclusive
    };
    let decisive = results
        .iter()
        .position(|r| ok(r).is_some_and(|t| t.harm))
        .or_else(|| results.iter().position(|r| !ok(r).is_some_and(|t| t.pass)))
        .unwrap_or(0);
    let min_p = results
        .iter()
        .filter_map(|r| ok(r).map(|t| t.p_harm))
        .fold(f64::INFINITY, f64::min);
    let mut numbers = empty_numbers(alpha);
    if let Some(r) = results.get(decisive) {
        if let Some(q) = &r.quantity {
            numbers.measure = Some(q.measure);
            numbers.estimate = Some(q.estimate);
            numbers.threshold = Some(q.limit);
            numbers.n_candidate = q.n_candidate;
            numbers.n_control = q.n_control;
            numbers.candidate_estimate = q.candidate;
            numbers.control_estimate = q.control;
        }
        if let Ok(t) = &r.tested {
            numbers.lower = Some(t.lower);
            numbers.upper = Some(t.upper);
        }
    }
    if min_p.is_finite() {
        numbers.p_value = Some((min_p * f64::from(checks)).min(1.0));
    }
    let each = alpha / f64::from(checks);
    let message = results
        .iter()
        .map(|r| describe(r, each))
        .collect::<Vec<_>>()
        .join("; ");
    Assessed {
        outcome,
        message,
        numbers,
    }
}

/// One line for one check.
fn describe(r: &CheckResult, alpha: f64) -> String {
    let (q, t) = match (&r.quantity, &r.tested) {
        (Some(q), Ok(t)) => (q, t),
        (_, Err(missing)) => return format!("{}: inconclusive: {missing}", r.label),
        (None, Ok(_)) => return format!("{}: inconclusive", r.label),
    };
    let show = |x: f64| match q.measure {
        Measure::RelativeDifference => fmt_signed_pct(x),
        Measure::ShareAbove | Measure::ShareBelow => fmt_pct(x),
        Measure::Difference => fmt_signed(x),
        Measure::Value => fmt_num(x),
    };
    let level = fmt_num((1.0 - alpha) * 100.0);
    let per = if q.events { "events" } else { "units" };
    let what = match (q.measure, q.quantile) {
        (Measure::ShareAbove | Measure::ShareBelow, Some((quant, ms))) => {
            let dir = if q.measure == Measure::ShareAbove {
                "above"
            } else {
                "below"
            };
            let own = q
                .candidate
                .map(|v| format!("candidate p{} {} ms, ", fmt_num(quant * 100.0), fmt_num(v)))
                .unwrap_or_default();
            let control = q
                .control
                .map(|v| format!("control {} ms, ", fmt_num(v)))
                .unwrap_or_default();
            format!(
                "{own}{control}{} of {} events {dir} {} ms",
                show(q.estimate),
                q.n_candidate,
                fmt_num(ms)
            )
        }
        (Measure::Difference | Measure::RelativeDifference, _) => format!(
            "candidate {} vs control {} ({} vs {} {per}), change {}",
            q.candidate.map_or("?".to_string(), fmt_num),
            q.control.map_or("?".to_string(), fmt_num),
            q.n_candidate,
            q.n_control,
            show(q.estimate)
        ),
        _ => format!(
            "candidate {} over {} {per}",
            show(q.estimate),
            q.n_candidate
        ),
    };
    let allowed = match (&q.allowed, q.harm) {
        (Some(allowed), _) => allowed.clone(),
        (None, Side::Above) => format!("at most {} allowed", show(q.limit)),
        (None, Side::Below) => format!("at least {} required", show(q.limit)),
    };
    let bounds = format!(
        "always-valid {level}% bounds {} to {}",
        show(t.lower),
        show(t.upper)
    );
    let verdict = if t.harm {
        format!("harm: beyond the limit ({})", fmt_p(t.p_harm))
    } else if t.pass {
        "pass".to_string()
    } else {
        "inconclusive: not yet clear either way".to_string()
    };
    format!("{}: {what}, {allowed}; {bounds}: {verdict}", r.label)
}

/// The tolerance of a comparison in the metric's own direction: "at most +25% higher than the
/// control allowed" for a lower-is-better metric, "at most 3% lower than the control allowed"
/// for a higher-is-better one.
pub(crate) fn allowed_worsening(goal: Goal, worsening: Worsening) -> String {
    let amount = worsening.amount();
    let (sign, way, none) = match goal {
        Goal::Decrease => ("+", "higher", "not higher than the control allowed"),
        Goal::Increase => ("", "lower", "not lower than the control allowed"),
    };
    if amount == 0.0 {
        return none.to_string();
    }
    let shown = match worsening {
        Worsening::Relative(_) => fmt_pct(amount),
        Worsening::Absolute(_) => fmt_num(amount),
    };
    format!("at most {sign}{shown} {way} than the control allowed")
}

/// Four significant digits, without a trailing run of zeros.
fn fmt_num(x: f64) -> String {
    if !x.is_finite() {
        return x.to_string();
    }
    if x == 0.0 {
        return "0".to_string();
    }
    let a = x.abs();
    if !(1e-4..1e6).contains(&a) {
        return format!("{x:.3e}");
    }
    let decimals = (3 - a.log10().floor() as i32).max(0) as usize;
    let s = format!("{x:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

fn fmt_signed(x: f64) -> String {
    if x > 0.0 {
        format!("+{}", fmt_num(x))
    } else {
        fmt_num(x)
    }
}

fn fmt_pct(x: f64) -> String {
    format!("{}%", fmt_num(x * 100.0))
}

fn fmt_signed_pct(x: f64) -> String {
    format!("{}%", fmt_signed(x * 100.0))
}

/// `p = 0.003`, or `p < 0.0001` for smaller values.
fn fmt_p(p: f64) -> String {
    if p < 1e-4 {
        "p < 0.0001".to_string()
    } else {
        format!("p = {}", fmt_num(p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_short_and_readable() {
        assert_eq!(fmt_num(0.031_234_5), "0.03123");
        assert_eq!(fmt_num(250.0), "250");
        assert_eq!(fmt_num(1234.5678), "1235");
        assert_eq!(fmt_num(-0.5), "-0.5");
        assert_eq!(fmt_signed_pct(0.0512), "+5.12%");
        assert_eq!(fmt_pct(0.01), "1%");
        assert_eq!(fmt_p(1e-7), "p < 0.0001");
        assert_eq!(fmt_p(0.0123), "p = 0.0123");
    }
}
