//! Time series for charts: per time bucket and per variant, the units first exposed in the bucket
//! and one metric's running value at the end of the bucket, read from an entity's evidence.
//!
//! The running value is the metric's value over everything folded up to the bucket's end (mean
//! per unit for binary, count and sum; `Σ numerator / Σ denominator` for ratio; the 95th
//! percentile of the events for latency), so the last point of a variant is the value the
//! analysis reads. Buckets where a variant has no value yet give `None`.

use serde::Serialize;

use super::{EntityEvidence, MetricStats, VariantEvidence};
use crate::config::MetricKind;
use crate::record::{EntityKind, Millis};

/// The quantile a latency series shows.
pub const LATENCY_QUANTILE: f64 = 0.95;

/// One metric of one entity over time, in columns a chart can plot directly.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Series {
    pub entity: String,
    pub kind: EntityKind,
    pub metric: String,
    pub metric_kind: MetricKind,
    /// What `value` is: `mean`, `ratio` or `p95`.
    pub statistic: &'static str,
    pub bucket_ms: u64,
    /// Bucket starts in Unix milliseconds, ascending; the x axis of every variant.
    pub starts: Vec<Millis>,
    /// One entry per variant, in variant name order.
    pub variants: Vec<VariantSeries>,
}

/// The columns of one variant, aligned with [`Series::starts`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VariantSeries {
    pub variant: String,
    /// Units first exposed (registered) during the bucket.
    pub new_units: Vec<u64>,
    /// Units registered up to the bucket's end.
    pub units: Vec<u64>,
    /// The metric's running value at the bucket's end; `None` while undefined.
    pub value: Vec<Option<f64>>,
}

/// Why no series could be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SeriesError {
    /// The entity keeps no evidence for `metric`; `known` lists the metrics it does keep.
    UnknownMetric { metric: String, known: Vec<String> },
}

impl std::fmt::Display for SeriesError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SeriesError::UnknownMetric { metric, known } => write!(
                f,
                "no evidence for metric {metric:?} here; known metrics: {}",
                known.join(", ")
            ),
        }
    }
}

/// The metrics an entity keeps evidence for, in name order.
pub fn series_metrics(evidence: &EntityEvidence) -> Vec<String> {
    let mut names: Vec<String> = evidence
        .variants
        .values()
        .flat_map(|v| v.metrics.keys().cloned())
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Computes the series of `metric` from `evidence` (bucket deltas summed in bucket order, so
/// each variant's last value equals the value of its totals).
pub fn compute_series(evidence: &EntityEvidence, metric: &str) -> Result<Series, SeriesError> {
    let known = series_metrics(evidence);
    let metric_kind = evidence
        .variants
        .values()
        .find_map(|v| v.metrics.get(metric).map(|m| m.kind))
        .ok_or_else(|| SeriesError::UnknownMetric {
            metric: metric.to_string(),
            known,
        })?;
    let starts: Vec<Millis> = evidence.buckets.iter().map(|b| b.start).collect();
    let variants = evidence
        .variants
        .keys()
        .map(|name| {
            let mut running = VariantEvidence {
                units: 0,
                metrics: Default::default(),
            };
            let mut out = VariantSeries {
                variant: name.clone(),
                new_units: Vec::with_capacity(starts.len()),
                units: Vec::with_capacity(starts.len()),
                value: Vec::with_capacity(starts.len()),
            };
            for bucket in &evidence.buckets {
                let delta = bucket.variants.get(name);
                if let Some(delta) = delta {
                    running.units += delta.units;
                    if let Some(stats) = delta.metrics.get(metric) {
                        running
                            .metrics
                            .entry(metric.to_string())
                            .or_insert_with(|| MetricStats::new(metric_kind))
                            .merge(stats);
                    }
                }
                out.new_units.push(delta.map_or(0, |d| d.units));
                out.units.push(running.units);
                out.value
                    .push(running.metrics.get(metric).and_then(value_of));
            }
            out
        })
        .collect();
    Ok(Series {
        entity: evidence.name.clone(),
        kind: evidence.kind,
        metric: metric.to_string(),
        metric_kind,
        statistic: statistic_of(metric_kind),
        bucket_ms: evidence.bucket_ms,
        starts,
        variants,
    })
}

fn statistic_of(kind: MetricKind) -> &'static str {
    match kind {
        MetricKind::Ratio => "ratio",
        MetricKind::Latency => "p95",
        MetricKind::Binary | MetricKind::Count | MetricKind::Sum => "mean",
        // Read from Prometheus at each look; no evidence is kept, so no series either.
        MetricKind::Prometheus => "none",
    }
}

/// The value a chart shows for running statistics.
fn value_of(stats: &MetricStats) -> Option<f64> {
    match stats.kind {
        MetricKind::Ratio => stats.ratio(),
        MetricKind::Latency => stats.quantile(LATENCY_QUANTILE),
        MetricKind::Binary | MetricKind::Count | MetricKind::Sum => stats.mean(),
        MetricKind::Prometheus => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{load_str, Format};
    use crate::evidence::Aggregator;
    use crate::record::{Exposure, OutcomeEvent, Reason, Record};

    const CONFIG: &str = r#"
[server]
evidence_bucket = "1m"

[[models]]
name = "recs"
variants = [{ name = "v1" }, { name = "v2" }]

[[metrics]]
name = "conversion"
kind = "binary"
event = "purchase"

[[metrics]]
name = "latency"
kind = "latency"
event = "response"

[[experiments]]
name = "bakeoff"
model = "recs"
variants = ["v1", "v2"]
primary = "conversion"
guardrails = ["latency"]
"#;

    fn exposure(unit: &str, variant: &str, ts: Millis) -> Record {
        Record::Exposure(Exposure {
            ts,
            model: "recs".into(),
            unit: unit.into(),
            variant: variant.into(),
            reason: Reason::Experiment,
            entity: Some((EntityKind::Experiment, "bakeoff".into())),
            assignment_id: 0,
            segments: Default::default(),
        })
    }

    fn event(id: &str, kind: &str, unit: &str, value: Option<f64>, ts: Millis) -> Record {
        Record::Event(OutcomeEvent {
            id: id.into(),
            kind: kind.into(),
            unit: unit.into(),
            model: "recs".into(),
            value,
            ts,
            attributes: Default::default(),
        })
    }

    fn evidence(records: &[Record]) -> EntityEvidence {
        let config = load_str(CONFIG, Format::Toml, "t.toml").unwrap_or_else(|e| panic!("{e}"));
        let mut agg = Aggregator::new(&config);
        for r in records {
            agg.fold(r);
        }
        agg.evidence("bakeoff").expect("evidence")
    }

    const MIN: Millis = 60_000;

    #[test]
    fn running_conversion_and_new_units_per_bucket() {
        let ev = evidence(&[
            exposure("a", "v1", 0),
            exposure("b", "v1", 1_000),
            exposure("c", "v2", 2_000),
            event("e1", "purchase", "a", None, MIN + 5),
            exposure("d", "v2", 2 * MIN),
            event("e2", "purchase", "c", None, 2 * MIN + 1),
            event("e3", "purchase", "d", None, 2 * MIN + 2),
        ]);
        let s = compute_series(&ev, "conversion").expect("series");
        assert_eq!(s.starts, vec![0, MIN, 2 * MIN]);
        assert_eq!(s.statistic, "mean");
        assert_eq!(s.bucket_ms, MIN as u64);
        let v1 = &s.variants[0];
        assert_eq!(v1.variant, "v1");
        assert_eq!(v1.new_units, vec![2, 0, 0]);
        assert_eq!(v1.units, vec![2, 2, 2]);
        assert_eq!(v1.value, vec![Some(0.0), Some(0.5), Some(0.5)]);
        let v2 = &s.variants[1];
        assert_eq!(v2.new_units, vec![1, 0, 1]);
        assert_eq!(v2.units, vec![1, 1, 2]);
        assert_eq!(v2.value, vec![Some(0.0), Some(0.0), Some(1.0)]);
        // The last point is the value of the totals.
        assert_eq!(
            v2.value.last().copied().flatten(),
            ev.variants["v2"].metrics["conversion"].mean()
        );
    }

    #[test]
    fn latency_shows_the_running_p95_and_is_empty_before_events() {
        let mut records = vec![exposure("a", "v1", 0), exposure("b", "v2", 0)];
        for i in 0..100 {
            records.push(event(
                &format!("r{i}"),
                "response",
                "b",
                Some(f64::from(i + 1)),
                MIN,
            ));
        }
        let s = compute_series(&evidence(&records), "latency").expect("series");
        assert_eq!(s.statistic, "p95");
        assert_eq!(s.metric_kind, MetricKind::Latency);
        assert_eq!(s.variants[0].value, vec![None, None]);
        let p95 = s.variants[1].value[1].expect("a p95");
        assert!((p95 - 95.0).abs() <= 95.0 * 0.005, "{p95}");
        assert_eq!(s.variants[1].value[0], None);
    }

    #[test]
    fn an_unknown_metric_names_the_known_ones() {
        let ev = evidence(&[exposure("a", "v1", 0)]);
        let err = compute_series(&ev, "revenue").unwrap_err();
        assert_eq!(
            err,
            SeriesError::UnknownMetric {
                metric: "revenue".into(),
                known: vec!["conversion".into(), "latency".into()],
            }
        );
        assert!(err
            .to_string()
            .contains("known metrics: conversion, latency"));
    }
}
