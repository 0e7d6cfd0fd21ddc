//! The holdout report: per model and metric, the holdout's units against the exposed units, with
//! the lift of the exposed units over the holdout, its interval and p-value. Pure.
//!
//! "Exposed units" of a model are the units registered with the model's rollouts and experiments,
//! every arm pooled: the units outside the holdout that took part in what was tested or shipped,
//! in the proportions they saw each variant. For each metric, only the entities that track it
//! count (a rollout tracks its gates' metrics, an experiment its own metrics). Units that only ever got the default assignment (no
//! rollout or experiment) are in no evidence and so are not counted; a unit registered with two
//! entities of the model counts in both. The holdout side is the holdout's units on the model's
//! variants (its baseline); its per-unit values count the events of every model the holdout
//! covers, so the numbers are exact for a holdout of one model.

use serde::Serialize;

use super::compare::{self, Lift, Missing};
use super::report::Direction;
use crate::config::{Config, Goal, Holdout, MetricKind};
use crate::evidence::{EntityEvidence, MetricStats};
use crate::record::{EntityKind, Millis};

/// Level of the holdout report's intervals and tests (two-sided).
pub const HOLDOUT_ALPHA: f64 = 0.05;

/// One metric on one model: the holdout against the exposed units.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HoldoutComparison {
    pub model: String,
    pub metric: String,
    pub kind: MetricKind,
    pub goal: Goal,
    /// Units (latency: events) behind each side's value.
    pub holdout_n: u64,
    pub exposed_n: u64,
    /// Mean per unit (latency: per event), or Σ numerator / Σ denominator for ratio metrics.
    pub holdout_value: Option<f64>,
    pub exposed_value: Option<f64>,
    /// Exposed − holdout, with the fixed-horizon two-sided 1 − alpha interval.
    pub absolute_lift: Option<Lift>,
    /// Exposed / holdout − 1, with the delta-method interval.
    pub relative_lift: Option<Lift>,
    pub p_value: Option<f64>,
    /// Which way the exposed units moved the metric, judged by its goal.
    pub direction: Option<Direction>,
    /// The rollouts and experiments whose units make the exposed side of this metric: those
    /// that track it (a rollout tracks its gates' metrics, an experiment its own metrics).
    pub exposed_from: Vec<String>,
    pub not_enough_data: Option<String>,
}

/// The rollouts and experiments whose units are the exposed side of one model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExposedSource {
    pub model: String,
    pub kind: EntityKind,
    pub name: String,
    pub units: u64,
}

/// Everything the numbers say about a holdout at one time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HoldoutReport {
    pub holdout: String,
    pub percent: f64,
    pub models: Vec<String>,
    pub at: Millis,
    pub alpha: f64,
    /// Units in the holdout, every model together.
    pub holdout_units: u64,
    pub sources: Vec<ExposedSource>,
    /// Per model (config order), then per metric (config order).
    pub comparisons: Vec<HoldoutComparison>,
    pub notes: Vec<String>,
}

fn finite(x: Option<f64>) -> Option<f64> {
    x.filter(|v| v.is_finite())
}

/// Compares `holdout`'s units with the exposed units of each model it covers. `holdout_evidence`
/// is the holdout's own evidence; `others` may hold any entities' evidence: the rollouts' and
/// experiments' of each model are used, the rest is ignored.
pub fn holdout_report(
    holdout: &Holdout,
    config: &Config,
    holdout_evidence: &EntityEvidence,
    others: &[EntityEvidence],
    now: Millis,
) -> HoldoutReport {
    let models: Vec<&crate::config::Model> = config
        .models
        .iter()
        .filter(|m| {
            holdout
                .models
                .as_ref()
                .is_none_or(|ms| ms.contains(&m.name))
        })
        .collect();
    let mut notes = Vec::new();
    if models.len() > 1 {
        notes.push(format!(
            "the holdout covers {} models: its units' values count the events of all of them, while each model's exposed units count that model's events only",
            models.len()
        ));
    }
    let mut sources = Vec::new();
    let mut comparisons = Vec::new();
    for model in &models {
        let names: Vec<&str> = model.variants.iter().map(|v| v.name.as_str()).collect();
        let exposed: Vec<&EntityEvidence> = others
            .iter()
            .filter(|e| matches!(e.kind, EntityKind::Rollout | EntityKind::Experiment))
            .filter(|e| e.model == model.name)
            .collect();
        for e in &exposed {
            sources.push(ExposedSource {
                model: model.name.clone(),
                kind: e.kind,
                name: e.name.clone(),
                units: e.variants.values().map(|v| v.units).sum(),
            });
        }
        if exposed.is_empty() {
            notes.push(format!(
                "model {:?} has no rollout or experiment: there are no exposed units to compare with",
                model.name
            ));
        }
        for metric in &config.metrics {
            let mut held = MetricStats::new(metric.kind);
            for (variant, v) in &holdout_evidence.variants {
                if names.contains(&variant.as_str()) {
                    if let Some(s) = v.metrics.get(&metric.name) {
                        held.merge(s);
                    }
                }
            }
            let mut out_of = MetricStats::new(metric.kind);
            let mut from = Vec::new();
            for e in &exposed {
                let mut tracked = false;
                for v in e.variants.values() {
                    if let Some(s) = v.metrics.get(&metric.name) {
                        out_of.merge(s);
                        tracked = true;
                    }
                }
                if tracked {
                    from.push(e.name.clone());
                }
            }
            let mut row = compare_one(&model.name, metric, &held, &out_of);
            row.exposed_from = from;
            comparisons.push(row);
        }
    }
    HoldoutReport {
        holdout: holdout.name.clone(),
        percent: holdout.percent,
        models: models.iter().map(|m| m.name.clone()).collect(),
        at: now,
        alpha: HOLDOUT_ALPHA,
        holdout_units: holdout_evidence.variants.values().map(|v| v.units).sum(),
        sources,
        comparisons,
        notes,
    }
}

fn compare_one(
    model: &str,
    metric: &crate::config::Metric,
    holdout: &MetricStats,
    exposed: &MetricStats,
) -> HoldoutComparison {
    let mut out = HoldoutComparison {
        model: model.to_string(),
        metric: metric.name.clone(),
        kind: metric.kind,
        goal: metric.goal(),
        holdout_n: holdout.n,
        exposed_n: exposed.n,
        holdout_value: finite(compare::arm_value(holdout)),
        exposed_value: finite(compare::arm_value(exposed)),
        absolute_lift: None,
        relative_lift: None,
        p_value: None,
        direction: None,
        exposed_from: Vec::new(),
        not_enough_data: None,
    };
    match compare::compare(metric, holdout, exposed, HOLDOUT_ALPHA, None) {
        Ok(t) => {
            out.holdout_value = Some(t.control);
            out.exposed_value = Some(t.treatment);
            out.absolute_lift = Some(t.absolute);
            out.relative_lift = t.relative;
            out.p_value = Some(t.p_value);
            let signed = match metric.goal() {
                Goal::Increase => t.absolute.estimate,
                Goal::Decrease => -t.absolute.estimate,
            };
            out.direction = Some(if signed > 0.0 {
                Direction::Better
            } else if signed < 0.0 {
                Direction::Worse
            } else {
                Direction::Same
            });
        }
        Err(missing) => {
            let text = match missing {
                Missing::TooFew { arm: "control", n } => format!(
                    "not enough data: the holdout has {n} observation(s); at least 2 are needed"
                ),
                Missing::TooFew { n, .. } => format!(
                    "not enough data: the exposed units have {n} observation(s); at least 2 are needed"
                ),
                other => other.report(),
            };
            out.not_enough_data = Some(text);
        }
    }
    out
}
