//! The analysis of a split experiment at one look: [`analyze`] turns the experiment's evidence
//! into an [`ExperimentReport`] — every metric compared between each variant and the control
//! (fixed-horizon and always-valid), p-values adjusted across the family, the sample-ratio check,
//! the sample size of a fixed-horizon test and a segment breakdown with flags. A `switchback`
//! experiment is compared on window-level values instead of units (see `switchback.rs`).

use std::collections::BTreeMap;

use rampart_stats::{adjust_p_values, sample_ratio_mismatch};
use serde::Serialize;

use super::compare::{self, CupedLift, Lift, Missing};
use super::interleaving::{analyze_interleaving, interleaving_method, InterleavingReport};
use super::switchback::{self, SwitchbackSummary};
use crate::analysis::provider::{self, Arms, Context, ProviderRead, Readings};
use crate::analysis::{GateNumbers, Outcome, DEFAULT_ALPHA};
use crate::config::{
    Config, Correction, Design, Experiment, Goal, Metric, MetricKind, StoppingRule,
};
use crate::evidence::{EntityEvidence, MetricStats, VariantEvidence};
use crate::record::Millis;

/// A split off its configured weights by a chi-square p-value below this blocks every decision.
pub const SRM_ALPHA: f64 = 0.001;

/// Why a metric is in the experiment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Primary,
    Secondary,
    Guardrail,
}

/// Which way a variant moved a metric, judged by the metric's goal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Better,
    Worse,
    Same,
}

/// One arm of the experiment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ArmSummary {
    pub variant: String,
    pub units: u64,
    /// The share of the experiment's units the configured weights give this variant.
    pub expected_share: f64,
}

/// One metric compared between one variant and the control. Numbers that could not be computed
/// are `None` and `not_enough_data` says why; nothing is ever NaN.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricComparison {
    pub metric: String,
    pub role: Role,
    pub kind: Option<MetricKind>,
    pub goal: Option<Goal>,
    pub variant: String,
    /// Units (latency: events) behind each arm's value.
    pub control_n: u64,
    pub variant_n: u64,
    /// Mean per unit (latency: per event), or Σ numerator / Σ denominator for ratio metrics.
    pub control_value: Option<f64>,
    pub variant_value: Option<f64>,
    /// Variant − control, with the fixed-horizon two-sided 1 − alpha interval.
    pub absolute_lift: Option<Lift>,
    /// Variant / control − 1, with the fixed-horizon delta-method interval.
    pub relative_lift: Option<Lift>,
    /// Variant − control, with the always-valid two-sided confidence sequence.
    pub always_valid_lift: Option<Lift>,
    pub p_value: Option<f64>,
    pub always_valid_p_value: Option<f64>,
    /// Adjusted across the family (variants × metrics overall; segment values in a breakdown).
    pub adjusted_p_value: Option<f64>,
    pub adjusted_always_valid_p_value: Option<f64>,
    /// Binary metrics: posterior probability (uniform priors) that the variant beats the
    /// control in the goal direction.
    pub prob_beat_control: Option<f64>,
    /// The CUPED-adjusted comparison, when both arms carry a pre-exposure covariate with
    /// variance (experiments' binary, count and sum metrics); informative only, the stopping
    /// rule reads the unadjusted tests.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cuped: Option<CupedLift>,
    pub direction: Option<Direction>,
    pub not_enough_data: Option<String>,
}

impl MetricComparison {
    /// The adjusted p-value of the test a stopping rule reads: always-valid for `sequential`,
    /// fixed-horizon for `fixed`.
    pub fn adjusted_for(&self, rule: StoppingRule) -> Option<f64> {
        match rule {
            StoppingRule::Sequential => self.adjusted_always_valid_p_value,
            StoppingRule::Fixed => self.adjusted_p_value,
        }
    }

    /// Goal-signed absolute lift: positive is better.
    pub fn goal_lift(&self) -> Option<f64> {
        let lift = self.absolute_lift?.estimate;
        Some(match self.goal? {
            Goal::Increase => lift,
            Goal::Decrease => -lift,
        })
    }
}

/// Units per variant against the configured split.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SrmCheck {
    /// Whether the check applies: only a `split` design divides units by weight.
    pub applies: bool,
    /// Units per variant, in `experiment.variants` order.
    pub units: Vec<u64>,
    pub expected_shares: Vec<f64>,
    pub statistic: Option<f64>,
    pub p_value: Option<f64>,
    /// The p-value is below [`SRM_ALPHA`]: no decision may rest on these numbers.
    pub blocked: bool,
    pub message: String,
}

/// Units needed per arm by a fixed-horizon test of the primary metric, and progress toward them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SampleSizePlan {
    pub metric: String,
    pub mde: f64,
    pub alpha: f64,
    pub power: f64,
    /// The control's current value the relative mde is taken of.
    pub control_value: Option<f64>,
    /// Standardized effect: Cohen's h (binary) or mde·|value|/σ.
    pub effect_size: Option<f64>,
    pub arms: Vec<ArmTarget>,
    /// Fraction of the way to the target, of the arm furthest from it (0 to 1).
    pub progress: f64,
    pub reached: bool,
    pub not_enough_data: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ArmTarget {
    pub variant: String,
    pub required: Option<u64>,
    pub observed: u64,
}

/// Comparisons within one segment value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SegmentReport {
    pub attribute: String,
    pub value: String,
    /// Units per variant, in `experiment.variants` order.
    pub units: Vec<u64>,
    /// Adjusted p-values are Benjamini–Hochberg across the segment values of all attributes.
    pub comparisons: Vec<MetricComparison>,
}

/// A segment value where a variant is clearly worse than the control on a metric.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SegmentFlag {
    pub attribute: String,
    pub value: String,
    pub variant: String,
    pub metric: String,
    pub absolute_lift: f64,
    pub relative_lift: Option<f64>,
    /// Always-valid p-value adjusted by Benjamini–Hochberg across segment values.
    pub adjusted_p_value: f64,
    /// The variant is significantly better than the control on this metric overall.
    pub wins_overall: bool,
    pub message: String,
}

/// Everything the numbers say about an experiment at one look.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExperimentReport {
    pub experiment: String,
    pub model: String,
    pub design: Design,
    /// When the report was computed.
    pub at: Millis,
    pub rule: StoppingRule,
    pub alpha: f64,
    pub correction: Correction,
    /// The first configured variant.
    pub control: String,
    pub arms: Vec<ArmSummary>,
    pub srm: SrmCheck,
    /// Per metric (primary, secondary, guardrails) and per non-control variant.
    pub metrics: Vec<MetricComparison>,
    /// Fixed-horizon rule only.
    pub sample_size: Option<SampleSizePlan>,
    pub segments: Vec<SegmentReport>,
    pub flags: Vec<SegmentFlag>,
    pub notes: Vec<String>,
    /// `switchback` only: the windows behind the comparisons, whose `n` counts windows.
    pub switchback: Option<SwitchbackSummary>,
    /// Interleaving designs only: the per-unit preferences between the variants, which the
    /// stopping rule reads instead of `metrics`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interleaving: Option<InterleavingReport>,
    /// `prometheus` metrics: each variant's value at this look, with the query as sent.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub provider_values: Vec<ProviderValues>,
    /// The experiment's `limits` on `prometheus` guardrails, one verdict per limit and variant.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub limits: Vec<LimitVerdict>,
}

/// A `prometheus` metric of an experiment read for every variant at one look.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProviderValues {
    pub metric: String,
    pub role: Role,
    pub goal: Option<Goal>,
    /// One read per variant, in `experiment.variants` order.
    pub reads: Vec<ProviderRead>,
}

/// One limit of an experiment on one non-control variant: a breach (`fail`) stops the experiment
/// as a guardrail breach; an `inconclusive` one keeps a winner from being declared.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LimitVerdict {
    /// Index in `experiment.limits`.
    pub limit: usize,
    pub metric: String,
    pub variant: String,
    pub outcome: Outcome,
    pub message: String,
    pub numbers: GateNumbers,
    pub reads: Vec<ProviderRead>,
}

impl ExperimentReport {
    pub fn comparison(&self, metric: &str, variant: &str) -> Option<&MetricComparison> {
        self.metrics
            .iter()
            .find(|c| c.metric == metric && c.variant == variant)
    }
}

/// The configured weights as shares summing to 1; equal shares when none (or unusable) are set.
pub(super) fn shares(experiment: &Experiment) -> Vec<f64> {
    let n = experiment.variants.len();
    let usable = experiment.weights.as_ref().filter(|w| {
        w.len() == n && w.iter().all(|x| x.is_finite() && *x > 0.0) && w.iter().sum::<f64>() > 0.0
    });
    match usable {
        Some(w) => {
            let total: f64 = w.iter().sum();
            w.iter().map(|x| x / total).collect()
        }
        None => vec![1.0 / n.max(1) as f64; n],
    }
}

/// The design as the config spells it (`team-draft`).
fn design_name(design: Design) -> String {
    serde_json::to_string(&design).unwrap_or_default()
}

fn correction(c: Correction) -> rampart_stats::Correction {
    match c {
        Correction::Holm => rampart_stats::Correction::Holm,
        Correction::Bh => rampart_stats::Correction::BenjaminiHochberg,
        Correction::Bonferroni => rampart_stats::Correction::Bonferroni,
    }
}

/// Metrics by role, without repeats: a metric listed twice keeps its first role.
fn roles(experiment: &Experiment) -> Vec<(&str, Role)> {
    let mut out: Vec<(&str, Role)> = Vec::new();
    let all = std::iter::once((&experiment.primary, Role::Primary))
        .chain(experiment.secondary.iter().map(|m| (m, Role::Secondary)))
        .chain(experiment.guardrails.iter().map(|m| (m, Role::Guardrail)));
    for (m, role) in all {
        if !out.iter().any(|(n, _)| *n == m.as_str()) {
            out.push((m, role));
        }
    }
    out
}

fn stats_of(
    variants: &BTreeMap<String, VariantEvidence>,
    variant: &str,
    metric: &Metric,
) -> MetricStats {
    variants
        .get(variant)
        .and_then(|v| v.metrics.get(&metric.name))
        .cloned()
        .unwrap_or_else(|| MetricStats::new(metric.kind))
}

fn finite(x: Option<f64>) -> Option<f64> {
    x.filter(|v| v.is_finite())
}

/// One metric × variant comparison on one group of variants (the totals or a segment value).
fn comparison(
    name: &str,
    role: Role,
    metric: Option<&Metric>,
    variants: &BTreeMap<String, VariantEvidence>,
    control: &str,
    variant: &str,
    experiment: &Experiment,
) -> MetricComparison {
    let mut out = MetricComparison {
        metric: name.to_string(),
        role,
        kind: metric.map(|m| m.kind),
        goal: metric.map(Metric::goal),
        variant: variant.to_string(),
        control_n: 0,
        variant_n: 0,
        control_value: None,
        variant_value: None,
        absolute_lift: None,
        relative_lift: None,
        always_valid_lift: None,
        p_value: None,
        always_valid_p_value: None,
        adjusted_p_value: None,
        adjusted_always_valid_p_value: None,
        prob_beat_control: None,
        cuped: None,
        direction: None,
        not_enough_data: None,
    };
    let Some(metric) = metric else {
        out.not_enough_data = Some(Missing::UnknownMetric(name.to_string()).report());
        return out;
    };
    let (c, t) = (
        stats_of(variants, control, metric),
        stats_of(variants, variant, metric),
    );
    out.control_n = c.n;
    out.variant_n = t.n;
    out.control_value = finite(compare::arm_value(&c));
    out.variant_value = finite(compare::arm_value(&t));
    let stopping = &experiment.stopping;
    match compare::compare(metric, &c, &t, stopping.alpha, stopping.mde) {
        Ok(tested) => {
            out.control_value = Some(tested.control);
            out.variant_value = Some(tested.treatment);
            out.absolute_lift = Some(tested.absolute);
            out.relative_lift = tested.relative;
            out.always_valid_lift = Some(tested.always_valid);
            out.p_value = Some(tested.p_value);
            out.always_valid_p_value = Some(tested.always_valid_p_value);
            out.prob_beat_control = tested.prob_beat_control;
            out.cuped = compare::compare_cuped(&c, &t, stopping.alpha);
            let signed = match metric.goal() {
                Goal::Increase => tested.absolute.estimate,
                Goal::Decrease => -tested.absolute.estimate,
            };
            out.direction = Some(if signed > 0.0 {
                Direction::Better
            } else if signed < 0.0 {
                Direction::Worse
            } else {
                Direction::Same
            });
        }
        Err(missing) => out.not_enough_data = Some(missing.report()),
    }
    out
}

/// Adjusts the p-values picked by `get` across `family` and stores them with `set`. A
/// comparison without a p-value counts as p = 1, so the family does not shrink with the data;
/// its adjusted value stays `None`.
fn adjust(
    family: &mut [&mut MetricComparison],
    method: rampart_stats::Correction,
    get: fn(&MetricComparison) -> Option<f64>,
    set: fn(&mut MetricComparison, f64),
) {
    let p: Vec<f64> = family.iter().map(|c| get(c).unwrap_or(1.0)).collect();
    let Ok(adjusted) = adjust_p_values(&p, method) else {
        return;
    };
    for (c, a) in family.iter_mut().zip(adjusted) {
        if get(c).is_some() && a.is_finite() {
            set(c, a);
        }
    }
}

fn adjust_both(family: &mut [&mut MetricComparison], method: rampart_stats::Correction) {
    adjust(
        family,
        method,
        |c| c.p_value,
        |c, a| c.adjusted_p_value = Some(a),
    );
    adjust(
        family,
        method,
        |c| c.always_valid_p_value,
        |c, a| c.adjusted_always_valid_p_value = Some(a),
    );
}

fn srm_check(experiment: &Experiment, units: &[u64], expected: &[f64]) -> SrmCheck {
    let mut check = SrmCheck {
        applies: experiment.design == Design::Split,
        units: units.to_vec(),
        expected_shares: expected.to_vec(),
        statistic: None,
        p_value: None,
        blocked: false,
        message: String::new(),
    };
    if !check.applies {
        check.message = format!(
            "not applicable: design {} does not split units by weight",
            design_name(experiment.design)
        );
        return check;
    }
    match sample_ratio_mismatch(units, expected) {
        Ok(t) if t.statistic.is_finite() && t.p_value.is_finite() => {
            check.statistic = Some(t.statistic);
            check.p_value = Some(t.p_value);
            check.blocked = t.p_value < SRM_ALPHA;
            let split = units
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join("/");
            check.message = if check.blocked {
                format!(
                    "sample ratio mismatch: units {split} are off the configured split (chi-square {:.1}, p = {:.2e} < {SRM_ALPHA}); assignment or logging is broken and no decision is taken",
                    t.statistic, t.p_value
                )
            } else {
                format!(
                    "units {split} match the configured split (chi-square p = {:.4})",
                    t.p_value
                )
            };
        }
        Ok(_) => check.message = "not enough data: the chi-square test failed".to_string(),
        Err(e) => check.message = e.to_string(),
    }
    check
}

fn sample_size_plan(
    experiment: &Experiment,
    metric: Option<&Metric>,
    variants: &BTreeMap<String, VariantEvidence>,
    shares: &[f64],
    mde: f64,
) -> SampleSizePlan {
    let s = &experiment.stopping;
    let mut plan = SampleSizePlan {
        metric: experiment.primary.clone(),
        mde,
        alpha: s.alpha,
        power: s.power,
        control_value: None,
        effect_size: None,
        arms: Vec::new(),
        progress: 0.0,
        reached: false,
        not_enough_data: None,
    };
    let Some(metric) = metric else {
        plan.not_enough_data = Some(Missing::UnknownMetric(experiment.primary.clone()).report());
        return plan;
    };
    let observed: Vec<u64> = experiment
        .variants
        .iter()
        .map(|v| stats_of(variants, v, metric).n)
        .collect();
    plan.arms = experiment
        .variants
        .iter()
        .zip(&observed)
        .map(|(v, &n)| ArmTarget {
            variant: v.clone(),
            required: None,
            observed: n,
        })
        .collect();
    let Some(control) = experiment.variants.first() else {
        return plan;
    };
    let sized = compare::effect_size(metric, &stats_of(variants, control, metric), mde).and_then(
        |(value, d)| {
            plan.control_value = Some(value);
            plan.effect_size = Some(d);
            // Each variant is one two-sided comparison with the control at the allocation
            // ratio of the weights; the control must be large enough for every one of them.
            let mut control_n: f64 = 0.0;
            let mut needs = vec![0.0; shares.len()];
            for i in 1..shares.len() {
                let ratio = shares[i] / shares[0];
                let n1 = compare::required_control_units(d, s.alpha, s.power, ratio)?;
                control_n = control_n.max(n1);
                needs[i] = n1 * ratio;
            }
            needs[0] = control_n;
            Ok(needs)
        },
    );
    match sized {
        Ok(needs) => {
            let mut progress: f64 = 1.0;
            for (arm, need) in plan.arms.iter_mut().zip(needs) {
                let required = need.ceil().max(1.0) as u64;
                arm.required = Some(required);
                progress = progress.min(arm.observed as f64 / required as f64);
            }
            plan.progress = progress.clamp(0.0, 1.0);
            plan.reached = plan
                .arms
                .iter()
                .all(|a| a.required.is_some_and(|r| a.observed >= r));
        }
        Err(missing) => {
            plan.not_enough_data = Some(format!("the sample cannot be sized yet: {missing}"))
        }
    }
    plan
}

/// The rendering context of an experiment's queries for `variant`.
fn experiment_context<'a>(experiment: &'a Experiment, variant: &'a str) -> Context<'a> {
    Context {
        used_in: "an experiment",
        model: &experiment.model,
        variant,
        baseline: experiment.variants.first().map(String::as_str),
        candidate: None,
        rollout: None,
        stage: None,
        experiment: Some(&experiment.name),
    }
}

/// The `prometheus` metrics of `experiment`, in role order.
fn provider_metrics<'a>(experiment: &'a Experiment, config: &'a Config) -> Vec<(&'a Metric, Role)> {
    roles(experiment)
        .into_iter()
        .filter_map(|(name, role)| Some((config.metric(name)?, role)))
        .filter(|(m, _)| m.is_prometheus())
        .collect()
}

/// The queries the `prometheus` metrics of `experiment` read at a look: one per metric and
/// variant, without repeats.
pub fn experiment_queries(experiment: &Experiment, config: &Config) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (metric, _) in provider_metrics(experiment, config) {
        let template = metric.query.as_deref().unwrap_or_default();
        for v in &experiment.variants {
            if let Ok(q) = provider::render(template, &experiment_context(experiment, v)) {
                if !out.contains(&q) {
                    out.push(q);
                }
            }
        }
    }
    out
}

/// Values, comparisons and limit verdicts of the `prometheus` metrics of `experiment`.
fn provider_part(
    experiment: &Experiment,
    config: &Config,
    readings: &Readings,
) -> (
    Vec<ProviderValues>,
    Vec<MetricComparison>,
    Vec<LimitVerdict>,
) {
    let control = experiment.variants.first().map_or("", String::as_str);
    let mut values = Vec::new();
    let mut comparisons = Vec::new();
    for (metric, role) in provider_metrics(experiment, config) {
        let reads: Vec<ProviderRead> = experiment
            .variants
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let arm = if i == 0 { "control" } else { "candidate" };
                provider::read(metric, &experiment_context(experiment, v), arm, readings)
            })
            .collect();
        for read in reads.iter().skip(1) {
            let (c, t) = (reads[0].value(), read.value());
            let direction = c.zip(t).map(|(c, t)| {
                let signed = match metric.goal() {
                    Goal::Increase => t - c,
                    Goal::Decrease => c - t,
                };
                if signed > 0.0 {
                    Direction::Better
                } else if signed < 0.0 {
                    Direction::Worse
                } else {
                    Direction::Same
                }
            });
            comparisons.push(MetricComparison {
                metric: metric.name.clone(),
                role,
                kind: Some(metric.kind),
                goal: Some(metric.goal()),
                variant: read.variant.clone(),
                control_n: 0,
                variant_n: 0,
                control_value: c,
                variant_value: t,
                absolute_lift: None,
                relative_lift: None,
                always_valid_lift: None,
                p_value: None,
                always_valid_p_value: None,
                adjusted_p_value: None,
                adjusted_always_valid_p_value: None,
                prob_beat_control: None,
                cuped: None,
                direction,
                not_enough_data: Some(match (c, t) {
                    (Some(_), Some(_)) => "a prometheus metric is one value per variant: compared as read, without a statistical test".to_string(),
                    _ => "no value read from Prometheus at this look".to_string(),
                }),
            });
        }
        values.push(ProviderValues {
            metric: metric.name.clone(),
            role,
            goal: Some(metric.goal()),
            reads,
        });
    }
    let mut limits = Vec::new();
    for (index, limit) in experiment.limits.iter().enumerate() {
        let Some(metric) = config.metric(&limit.metric).filter(|m| m.is_prometheus()) else {
            continue;
        };
        for v in experiment.variants.iter().skip(1) {
            let arms = Arms {
                candidate: experiment_context(experiment, v),
                control: Some(control),
            };
            let a = provider::assess(metric, limit, &arms, readings, DEFAULT_ALPHA);
            limits.push(LimitVerdict {
                limit: index,
                metric: limit.metric.clone(),
                variant: v.clone(),
                outcome: a.outcome,
                message: a.message,
                numbers: a.numbers,
                reads: a.reads,
            });
        }
    }
    (values, comparisons, limits)
}

/// Analyzes `experiment` on `evidence` (its entity evidence) at time `now`. The first variant in
/// `experiment.variants` is the control. Pure: the same inputs give the same report.
/// `prometheus` metrics read no value here: see [`analyze_with_readings`].
pub fn analyze(
    experiment: &Experiment,
    config: &Config,
    evidence: &EntityEvidence,
    now: Millis,
) -> ExperimentReport {
    analyze_with_readings(experiment, config, evidence, &Readings::new(), now)
}

/// [`analyze`], with the readings of the look's provider queries (see [`experiment_queries`]).
pub fn analyze_with_readings(
    experiment: &Experiment,
    config: &Config,
    evidence: &EntityEvidence,
    readings: &Readings,
    now: Millis,
) -> ExperimentReport {
    let control = experiment.variants.first().cloned().unwrap_or_default();
    let alpha = experiment.stopping.alpha;
    let method = correction(experiment.correction);
    let shares = shares(experiment);
    let units: Vec<u64> = experiment
        .variants
        .iter()
        .map(|v| evidence.variants.get(v).map_or(0, |e| e.units))
        .collect();
    let arms = experiment
        .variants
        .iter()
        .zip(&units)
        .zip(&shares)
        .map(|((v, &u), &s)| ArmSummary {
            variant: v.clone(),
            units: u,
            expected_share: s,
        })
        .collect();
    let mut notes = Vec::new();
    if experiment.variants.len() < 2 {
        notes.push("an experiment needs a control and at least one other variant".to_string());
    }
    if experiment.design != Design::Split {
        notes.push(format!(
            "design {}: per-variant comparisons read the evidence as a split would; the interleaving analysis is separate",
            design_name(experiment.design)
        ));
    }
    let srm = srm_check(experiment, &units, &shares);

    let windowed = (experiment.design == Design::Switchback)
        .then(|| switchback::windows(experiment, config, evidence, now));
    // A switchback compares window values: continuous observations, whatever the metric's kind.
    let as_windows = |m: &Metric| Metric {
        kind: MetricKind::Sum,
        ..m.clone()
    };
    let window_metrics: Vec<Metric> = match &windowed {
        Some(_) => config.metrics.iter().map(as_windows).collect(),
        None => Vec::new(),
    };
    let metric_of = |name: &str| match &windowed {
        Some(_) => window_metrics.iter().find(|m| m.name == name),
        None => config.metric(name),
    };
    // Prometheus metrics have no evidence; they are compared from their readings below.
    let roles: Vec<(&str, Role)> = roles(experiment)
        .into_iter()
        .filter(|(name, _)| !config.metric(name).is_some_and(Metric::is_prometheus))
        .collect();
    let compare_all = |variants: &BTreeMap<String, VariantEvidence>| -> Vec<MetricComparison> {
        let mut out = Vec::new();
        for &(name, role) in &roles {
            for v in experiment.variants.iter().skip(1) {
                let mut c = comparison(
                    name,
                    role,
                    metric_of(name),
                    variants,
                    &control,
                    v,
                    experiment,
                );
                c.kind = config.metric(name).map(|m| m.kind);
                out.push(c);
            }
        }
        out
    };
    // Metrics with a maturity compare mature units only; the arms' unit counts (and the
    // sample-ratio check above) keep every exposed unit.
    let mature = windowed
        .is_none()
        .then(|| evidence.mature(config, now))
        .flatten();
    if let Some(m) = &mature {
        for (name, &ms) in &m.maturities {
            let counts = experiment
                .variants
                .iter()
                .map(|v| {
                    let n = |vs: &BTreeMap<String, VariantEvidence>| {
                        vs.get(v)
                            .and_then(|e| e.metrics.get(name))
                            .map_or(0, |s| s.n)
                    };
                    format!("{v} {} of {}", n(&m.variants), n(&evidence.variants))
                })
                .collect::<Vec<_>>()
                .join(", ");
            notes.push(format!(
                "{name}: mature units only (exposed ≥ {} ago): {counts}",
                crate::config::Duration::from_millis(ms)
            ));
        }
    }
    if windowed.is_some() && config.metrics.iter().any(|m| m.maturity.is_some()) {
        notes.push(
            "switchback: windows are compared by event time; maturity does not apply".to_string(),
        );
    }
    let compared = match (&windowed, &mature) {
        (Some((_, by_window)), _) => by_window,
        (None, Some(m)) => &m.variants,
        (None, None) => &evidence.variants,
    };
    let all_segments = match &mature {
        Some(m) => &m.segments,
        None => &evidence.segments,
    };

    let mut metrics = compare_all(compared);
    adjust_both(&mut metrics.iter_mut().collect::<Vec<_>>(), method);
    // Outside the family: without a p-value they would only make the correction stricter.
    let (provider_values, provider_comparisons, limits) =
        provider_part(experiment, config, readings);
    metrics.extend(provider_comparisons);

    let sample_size = match (experiment.stopping.rule, experiment.stopping.mde) {
        (StoppingRule::Fixed, Some(mde)) => Some(sample_size_plan(
            experiment,
            metric_of(&experiment.primary),
            compared,
            &shares,
            mde,
        )),
        (StoppingRule::Fixed, None) => {
            notes.push(
                "no stopping.mde: the fixed-horizon test has no sample size and runs until max_duration"
                    .to_string(),
            );
            None
        }
        (StoppingRule::Sequential, _) => None,
    };

    if let Some((summary, _)) = &windowed {
        notes.push(format!(
            "switchback: each complete {} window is one observation; n counts windows, and segments are not broken down (windows are not split by segment)",
            crate::config::Duration::from_millis(summary.window_ms)
        ));
        if let Some(why) = &summary.not_enough_data {
            notes.push(format!("switchback: {why}"));
        }
    }
    let mut segments: Vec<SegmentReport> = all_segments
        .iter()
        .filter(|_| windowed.is_none())
        .filter(|s| {
            let n = |v: &str| s.variants.get(v).map_or(0, |e| e.units);
            n(&control) > 0 && experiment.variants.iter().skip(1).any(|v| n(v) > 0)
        })
        .map(|s| SegmentReport {
            attribute: s.attribute.clone(),
            value: s.value.clone(),
            units: experiment
                .variants
                .iter()
                .map(|v| s.variants.get(v).map_or(0, |e| e.units))
                .collect(),
            comparisons: compare_all(&s.variants),
        })
        .collect();
    // Benjamini–Hochberg per metric × variant, across every segment value of every attribute.
    let width = segments.first().map_or(0, |s| s.comparisons.len());
    for k in 0..width {
        let mut family: Vec<&mut MetricComparison> = segments
            .iter_mut()
            .filter_map(|s| s.comparisons.get_mut(k))
            .collect();
        adjust_both(&mut family, rampart_stats::Correction::BenjaminiHochberg);
    }

    let flags = segment_flags(&segments, &metrics, experiment.stopping.rule, alpha);
    ExperimentReport {
        experiment: experiment.name.clone(),
        model: experiment.model.clone(),
        design: experiment.design,
        at: now,
        rule: experiment.stopping.rule,
        alpha,
        correction: experiment.correction,
        control,
        arms,
        srm,
        metrics,
        sample_size,
        segments,
        flags,
        notes,
        switchback: windowed.map(|(summary, _)| summary),
        interleaving: interleaving_method(experiment.design)
            .map(|_| analyze_interleaving(experiment, evidence.interleaving.as_ref())),
        provider_values,
        limits,
    }
}

/// A segment value where a variant is worse than the control beyond noise: always-valid
/// p-value, Benjamini–Hochberg adjusted across segment values, below alpha.
fn segment_flags(
    segments: &[SegmentReport],
    overall: &[MetricComparison],
    rule: StoppingRule,
    alpha: f64,
) -> Vec<SegmentFlag> {
    let mut flags = Vec::new();
    for s in segments {
        for c in &s.comparisons {
            let (Some(p), Some(lift), Some(Direction::Worse)) = (
                c.adjusted_always_valid_p_value,
                c.absolute_lift,
                c.direction,
            ) else {
                continue;
            };
            if p >= alpha {
                continue;
            }
            let wins_overall = overall
                .iter()
                .find(|o| o.metric == c.metric && o.variant == c.variant)
                .is_some_and(|o| {
                    o.direction == Some(Direction::Better)
                        && o.adjusted_for(rule).is_some_and(|p| p < alpha)
                });
            let relative = c.relative_lift.map(|r| r.estimate);
            let change = match relative {
                Some(r) => format!("{:+.2}%", r * 100.0),
                None => format!("{:+.4}", lift.estimate),
            };
            let message = format!(
                "{} is worse than the control on {} in {}={} ({change}, always-valid p = {:.4} after Benjamini–Hochberg across segments){}",
                c.variant,
                c.metric,
                s.attribute,
                s.value,
                p,
                if wins_overall { " although it wins overall" } else { "" }
            );
            flags.push(SegmentFlag {
                attribute: s.attribute.clone(),
                value: s.value.clone(),
                variant: c.variant.clone(),
                metric: c.metric.clone(),
                absolute_lift: lift.estimate,
                relative_lift: relative,
                adjusted_p_value: p,
                wins_overall,
                message,
            });
        }
    }
    flags
}
