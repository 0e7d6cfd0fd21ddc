//! Window-level aggregates of a `switchback` experiment. Every unit in a switchback experiment
//! gets the variant of the current window, so units are not independent observations: each
//! complete window is one observation, the window's value of the metric, and variants are
//! compared on their windows (Welch on window means; always-valid for the sequential rule).
//!
//! A window's value comes from the evidence time buckets inside it, every variant label summed
//! (a unit's label is its first exposure's; its later events still happened under the window's
//! variant): Σ value / units first exposed in the window for binary, count and sum metrics,
//! Σ numerator / Σ denominator for ratio metrics, and the mean over events for latency metrics.
//! The window's variant is the one its new units were exposed to. The buckets must tile the
//! windows: `server.evidence_bucket` must divide `window`.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::assign::switchback_window;
use crate::config::{Config, Experiment, MetricKind};
use crate::evidence::{EntityEvidence, MetricStats, VariantEvidence};
use crate::record::Millis;

/// One complete window: which variant served it and its value of each metric.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WindowObservation {
    /// Start of the window (ms since the Unix epoch); it lasts `window_ms`.
    pub start: Millis,
    pub variant: String,
    /// Units first exposed during the window.
    pub units: u64,
    /// Metric name → the window's value; a metric without a value here is left out.
    pub values: BTreeMap<String, f64>,
}

/// Windows observed per variant.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WindowCount {
    pub variant: String,
    pub windows: u64,
}

/// The window-level view of a switchback experiment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SwitchbackSummary {
    pub window_ms: u64,
    /// Per configured variant, in `experiment.variants` order.
    pub windows: Vec<WindowCount>,
    pub observations: Vec<WindowObservation>,
    /// Complete windows with data whose variant could not be told (no unit first exposed).
    pub unattributed_windows: u64,
    /// Why there are no window observations, when there are none.
    pub not_enough_data: Option<String>,
}

/// Sums of one window for one metric, all variant labels together.
#[derive(Debug, Clone, Copy, Default)]
struct Acc {
    n: u64,
    sum: f64,
    den: f64,
}

/// The window's value of a metric of `kind`, when defined.
fn value(kind: MetricKind, acc: Acc, units: u64) -> Option<f64> {
    let v = match kind {
        MetricKind::Ratio if acc.den != 0.0 => acc.sum / acc.den,
        MetricKind::Latency if acc.n > 0 => acc.sum / acc.n as f64,
        MetricKind::Binary | MetricKind::Count | MetricKind::Sum if units > 0 => {
            acc.sum / units as f64
        }
        _ => return None,
    };
    v.is_finite().then_some(v)
}

/// Splits a switchback experiment's evidence into complete windows (those ended by `now`) and
/// returns the summary with, per variant, each metric's statistics over its window values
/// (`n` = windows, as a `sum` metric: the comparison is Welch's on window means).
pub(super) fn windows(
    experiment: &Experiment,
    config: &Config,
    evidence: &EntityEvidence,
    now: Millis,
) -> (SwitchbackSummary, BTreeMap<String, VariantEvidence>) {
    let window_ms = experiment.window_ms();
    let mut summary = SwitchbackSummary {
        window_ms,
        windows: Vec::new(),
        observations: Vec::new(),
        unattributed_windows: 0,
        not_enough_data: None,
    };
    let metrics: Vec<(&str, MetricKind)> = experiment
        .metric_names()
        .into_iter()
        .filter_map(|n| Some((n, config.metric(n)?.kind)))
        .collect();
    let empty = |windows: u64| VariantEvidence {
        units: windows,
        metrics: metrics
            .iter()
            .map(|(n, _)| (n.to_string(), MetricStats::new(MetricKind::Sum)))
            .collect(),
    };
    let mut per_variant: BTreeMap<String, VariantEvidence> = experiment
        .variants
        .iter()
        .map(|v| (v.clone(), empty(0)))
        .collect();

    let bucket_ms = evidence.bucket_ms;
    if bucket_ms == 0 || !window_ms.is_multiple_of(bucket_ms) {
        let have = if bucket_ms == 0 {
            "a single time bucket".to_string()
        } else {
            format!(
                "time buckets of {}",
                crate::config::Duration::from_millis(bucket_ms)
            )
        };
        summary.not_enough_data = Some(format!(
            "window-level analysis needs evidence time buckets that divide the window ({}); the evidence has {have}: set server.evidence_bucket to a divisor of the window",
            crate::config::Duration::from_millis(window_ms)
        ));
        summary.windows = count(experiment, &summary.observations);
        return (summary, per_variant);
    }

    let current = switchback_window(window_ms, now);
    // Window index → (units per variant label, per-metric sums).
    let mut by_window: BTreeMap<i64, (BTreeMap<&str, u64>, Vec<Acc>)> = BTreeMap::new();
    for b in &evidence.buckets {
        let w = switchback_window(window_ms, b.start);
        if w >= current {
            continue; // not complete yet
        }
        let (units, accs) = by_window
            .entry(w)
            .or_insert_with(|| (BTreeMap::new(), vec![Acc::default(); metrics.len()]));
        for (label, v) in &b.variants {
            *units.entry(label.as_str()).or_default() += v.units;
            for (acc, (name, _)) in accs.iter_mut().zip(&metrics) {
                if let Some(s) = v.metrics.get(*name) {
                    acc.n += s.n;
                    acc.sum += s.sum;
                    acc.den += s.den_sum;
                }
            }
        }
    }

    for (w, (units, accs)) in by_window {
        let total: u64 = units.values().sum();
        // The label most new units carry; ties go to the first in name order.
        let Some((variant, _)) = units
            .iter()
            .filter(|(_, &n)| n > 0)
            .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
        else {
            summary.unattributed_windows += 1;
            continue;
        };
        let Some(arm) = per_variant.get_mut(*variant) else {
            summary.unattributed_windows += 1;
            continue;
        };
        arm.units += 1;
        let mut values = BTreeMap::new();
        for (acc, (name, kind)) in accs.iter().zip(&metrics) {
            let Some(x) = value(*kind, *acc, total) else {
                continue;
            };
            values.insert(name.to_string(), x);
            if let Some(s) = arm.metrics.get_mut(*name) {
                s.n += 1;
                s.sum += x;
                s.sum_sq += x * x;
            }
        }
        summary.observations.push(WindowObservation {
            start: w.saturating_mul(i64::try_from(window_ms).unwrap_or(i64::MAX)),
            variant: variant.to_string(),
            units: total,
            values,
        });
    }
    summary.windows = count(experiment, &summary.observations);
    if summary.observations.is_empty() {
        summary.not_enough_data = Some("no complete window with data yet".to_string());
    }
    (summary, per_variant)
}

fn count(experiment: &Experiment, observations: &[WindowObservation]) -> Vec<WindowCount> {
    experiment
        .variants
        .iter()
        .map(|v| WindowCount {
            variant: v.clone(),
            windows: observations.iter().filter(|o| &o.variant == v).count() as u64,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_values_follow_the_metric_kind() {
        let acc = Acc {
            n: 4,
            sum: 6.0,
            den: 3.0,
        };
        assert_eq!(value(MetricKind::Sum, acc, 3), Some(2.0));
        assert_eq!(value(MetricKind::Count, acc, 0), None);
        assert_eq!(value(MetricKind::Ratio, acc, 0), Some(2.0));
        assert_eq!(value(MetricKind::Latency, acc, 0), Some(1.5));
        let no_den = Acc { den: 0.0, ..acc };
        assert_eq!(value(MetricKind::Ratio, no_den, 5), None);
    }
}
