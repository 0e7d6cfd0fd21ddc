//! Mature evidence: for every metric with a `maturity`, the statistics of the units first
//! exposed at least that long before a look, summed from the cohorts (statistics keyed by the
//! time bucket of the units' first exposure). Comparing arms on mature units only keeps units
//! whose outcomes have not arrived yet from making the arm with more recent units look worse.
//!
//! A cohort `[start, start + bucket_ms)` is mature at `now` when it ends at or before
//! `now - maturity`, so a unit counts once it is between `maturity` and `maturity + bucket_ms`
//! old, in every arm alike. Pure: `now` is passed in.

use std::collections::{BTreeMap, HashMap};

use super::{EntityEvidence, MetricStats, SegmentEvidence, VariantEvidence};
use crate::config::{Config, MetricKind};
use crate::record::{EntityKind, Millis};

/// The evidence a comparison reads at a look: per variant and per segment, like the entity's
/// evidence, but every metric with a maturity holds the statistics of its mature units only.
/// `units` stays the count of all exposed units.
#[derive(Debug, Clone, PartialEq)]
pub struct MatureEvidence {
    pub variants: BTreeMap<String, VariantEvidence>,
    /// In the order of `EntityEvidence::segments`.
    pub segments: Vec<SegmentEvidence>,
    /// Metric name → maturity in ms, for the metrics whose statistics were replaced.
    pub maturities: BTreeMap<String, u64>,
}

/// Whether the units first exposed in the cohort starting at `start` are all at least
/// `maturity_ms` old at `now`. With `bucket_ms = 0` (a single cohort) no unit is ever known to be.
pub fn cohort_is_mature(start: Millis, bucket_ms: u64, maturity_ms: u64, now: Millis) -> bool {
    if bucket_ms == 0 {
        return false;
    }
    let end = start.saturating_add(i64::try_from(bucket_ms).unwrap_or(i64::MAX));
    end <= now.saturating_sub(i64::try_from(maturity_ms).unwrap_or(i64::MAX))
}

impl EntityEvidence {
    /// The evidence of the mature units at `now` for the metrics of `config` that have a
    /// maturity and are kept by this entity; `None` when there is none (or for a holdout, which
    /// compares all its units). Sums of the cohorts' sufficient statistics, in cohort order.
    pub fn mature(&self, config: &Config, now: Millis) -> Option<MatureEvidence> {
        if self.kind == EntityKind::Holdout {
            return None;
        }
        let maturities: BTreeMap<String, u64> = config
            .metrics
            .iter()
            .filter(|m| !matches!(m.kind, MetricKind::Latency | MetricKind::Prometheus))
            .filter(|m| {
                self.variants
                    .values()
                    .any(|v| v.metrics.contains_key(&m.name))
            })
            .filter_map(|m| Some((m.name.clone(), m.maturity?.as_millis())))
            .collect();
        if maturities.is_empty() {
            return None;
        }
        let kinds: HashMap<&str, MetricKind> = config
            .metrics
            .iter()
            .map(|m| (m.name.as_str(), m.kind))
            .collect();
        let segment_index: HashMap<(&str, &str), usize> = self
            .segments
            .iter()
            .enumerate()
            .map(|(i, s)| ((s.attribute.as_str(), s.value.as_str()), i))
            .collect();

        // [metric][variant] and [segment][metric][variant] sums over the mature cohorts.
        type Sums = BTreeMap<String, BTreeMap<String, MetricStats>>;
        let mut overall: Sums = BTreeMap::new();
        let mut by_segment: Vec<Sums> = vec![BTreeMap::new(); self.segments.len()];
        let add = |sums: &mut Sums,
                   variants: &BTreeMap<String, VariantEvidence>,
                   metric: &str,
                   kind: MetricKind| {
            for (variant, v) in variants {
                if let Some(stats) = v.metrics.get(metric) {
                    sums.entry(metric.to_string())
                        .or_default()
                        .entry(variant.clone())
                        .or_insert_with(|| MetricStats::new(kind))
                        .merge(stats);
                }
            }
        };
        for cohort in &self.cohorts {
            for (metric, &maturity) in &maturities {
                if !cohort_is_mature(cohort.start, self.bucket_ms, maturity, now) {
                    continue;
                }
                let kind = kinds[metric.as_str()];
                add(&mut overall, &cohort.variants, metric, kind);
                for s in &cohort.segments {
                    if let Some(&i) = segment_index.get(&(s.attribute.as_str(), s.value.as_str())) {
                        add(&mut by_segment[i], &s.variants, metric, kind);
                    }
                }
            }
        }

        let replace = |variants: &BTreeMap<String, VariantEvidence>, sums: &Sums| {
            let mut out = variants.clone();
            for (variant, v) in out.iter_mut() {
                for metric in maturities.keys() {
                    let Some(stats) = v.metrics.get_mut(metric) else {
                        continue;
                    };
                    *stats = sums
                        .get(metric)
                        .and_then(|by_variant| by_variant.get(variant))
                        .cloned()
                        .unwrap_or_else(|| MetricStats::new(stats.kind));
                }
            }
            out
        };
        Some(MatureEvidence {
            variants: replace(&self.variants, &overall),
            segments: self
                .segments
                .iter()
                .zip(&by_segment)
                .map(|(s, sums)| SegmentEvidence {
                    attribute: s.attribute.clone(),
                    value: s.value.clone(),
                    variants: replace(&s.variants, sums),
                })
                .collect(),
            maturities,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cohort_is_mature_once_its_end_is_maturity_old() {
        let hour = 3_600_000;
        // Units first exposed in [0, 1h) are all 2h old at 3h.
        assert!(cohort_is_mature(0, hour as u64, 2 * hour as u64, 3 * hour));
        assert!(!cohort_is_mature(
            0,
            hour as u64,
            2 * hour as u64,
            3 * hour - 1
        ));
        assert!(!cohort_is_mature(0, 0, 1, i64::MAX));
        assert!(!cohort_is_mature(i64::MAX - 5, 10, 1, i64::MAX));
    }
}
