//! Evidence: the [`Aggregator`] folds exposures and outcome events, in the order the store
//! keeps them, into per-unit values and then into per-variant sufficient statistics
//! ([`MetricStats`]) for every metric of every rollout, experiment and holdout in the config,
//! split by segment and by time bucket.
//!
//! Folding is deterministic: the same records in the same order give bit-for-bit equal
//! evidence, so evidence rebuilt by replay after a restart equals the evidence built live.
//!
//! Rules, in short (docs/evidence.md has the details):
//! - a unit is registered with an entity on its first exposure to it (variant, time, segment
//!   values); later exposures change nothing;
//! - an outcome event counts for a metric when the unit is registered and
//!   `first_exposure <= event.ts <= first_exposure + window`; an event folded before the unit's
//!   first exposure does not count, even if its timestamp is later;
//! - binary/count/sum/ratio statistics are over units (every registered unit is in `n`),
//!   latency statistics are over events;
//! - experiments keep, per unit not registered yet, its values of the binary, count and sum
//!   metrics from the events folded so far; on registration they become the unit's pre-exposure
//!   covariate, fixed from then on (`MetricStats::pre_*`, read by CUPED);
//! - interleaving experiments also keep their impressions and credit clicks on them to the
//!   variants, summed into per-unit preferences (see [`InterleavingEvidence`]).
//!
//! - when a metric has a `maturity`, rollouts and experiments also keep its statistics per
//!   cohort (the time bucket of the unit's first exposure), so a look can compare the arms on
//!   their mature units only ([`EntityEvidence::mature`]).
//!
//! [`compute_series`] turns the time buckets into per-variant columns for charts.

mod entity;
mod histogram;
mod interleaving;
mod maturity;
mod series;
mod stats;

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::record::{EntityKind, Millis, Reason, Record};
use entity::{EntityDef, EntityState, UnitKey};

pub use entity::MAX_WAITING_UNITS;
use interleaving::InterleavingDef;

pub use histogram::{Histogram, HistogramError, ACCURACY as HISTOGRAM_ACCURACY};
pub use interleaving::{
    InterleavingEvidence, PairEvidence, IMPRESSION_ID_ATTRIBUTE, ITEM_ATTRIBUTE,
};
pub use maturity::{cohort_is_mature, MatureEvidence};
pub use series::{
    compute_series, series_metrics, Series, SeriesError, VariantSeries, LATENCY_QUANTILE,
};
pub use stats::MetricStats;

/// A snapshot of the evidence of one entity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntityEvidence {
    pub kind: EntityKind,
    pub name: String,
    /// The entity's model; for a holdout its models joined by `,`, or `*` for all models.
    pub model: String,
    /// Width of the time buckets in milliseconds (0: a single bucket starting at 0).
    pub bucket_ms: u64,
    /// Totals per variant name.
    pub variants: BTreeMap<String, VariantEvidence>,
    /// Per segment attribute and value, in attribute order then value order.
    pub segments: Vec<SegmentEvidence>,
    /// Per-bucket deltas, by start; a variant appears in a bucket only when something changed.
    pub buckets: Vec<BucketEvidence>,
    /// Per first-exposure bucket, by start: the statistics of the units first exposed in it, for
    /// the metrics with a `maturity` only. Empty when no metric has one (and for holdouts).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cohorts: Vec<CohortEvidence>,
    /// Interleaving experiments: impressions, credited clicks and per-unit preferences.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interleaving: Option<InterleavingEvidence>,
}

/// Statistics of one variant: how many units are registered and each metric's sums.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VariantEvidence {
    pub units: u64,
    /// Key = metric name.
    pub metrics: BTreeMap<String, MetricStats>,
}

impl VariantEvidence {
    /// Adds `other` into `self` (metrics missing on one side are taken as empty).
    pub fn merge(&mut self, other: &VariantEvidence) {
        self.units += other.units;
        for (name, stats) in &other.metrics {
            self.metrics
                .entry(name.clone())
                .or_insert_with(|| MetricStats::new(stats.kind))
                .merge(stats);
        }
    }
}

/// The units whose `attribute` has `value`, per variant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentEvidence {
    pub attribute: String,
    pub value: String,
    pub variants: BTreeMap<String, VariantEvidence>,
}

/// What changed during `[start, start + bucket_ms)`, per variant (deltas, or running totals
/// from [`EntityEvidence::cumulative`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BucketEvidence {
    pub start: Millis,
    pub variants: BTreeMap<String, VariantEvidence>,
}

/// The units first exposed during `[start, start + bucket_ms)`: per variant, their count and the
/// statistics of the metrics with a maturity (every outcome of these units, whenever it came),
/// overall and per segment value (only the values with units in the cohort).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CohortEvidence {
    pub start: Millis,
    pub variants: BTreeMap<String, VariantEvidence>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub segments: Vec<SegmentEvidence>,
}

impl EntityEvidence {
    /// Running totals at the end of each bucket, for charts. The last one equals `variants`
    /// (for the variants that had any change) bit for bit.
    pub fn cumulative(&self) -> Vec<BucketEvidence> {
        let mut running: BTreeMap<String, VariantEvidence> = BTreeMap::new();
        self.buckets
            .iter()
            .map(|b| {
                for (name, delta) in &b.variants {
                    running
                        .entry(name.clone())
                        .or_insert_with(|| VariantEvidence {
                            units: 0,
                            metrics: BTreeMap::new(),
                        })
                        .merge(delta);
                }
                BucketEvidence {
                    start: b.start,
                    variants: running.clone(),
                }
            })
            .collect()
    }
}

/// Folds records into evidence for every entity of a config. Pure: no IO, no clock.
#[derive(Debug, Clone)]
pub struct Aggregator {
    entities: Vec<EntityState>,
    /// Per entity kind: name (and `renamed_from` alias) → index in `entities`.
    by_name: HashMap<EntityKind, HashMap<String, usize>>,
    /// Model → entities fed by its events; `all_models` are fed by every model.
    by_model: HashMap<String, Vec<usize>>,
    all_models: Vec<usize>,
}

/// An entity as the config declares it: its definition, configured variants and former name.
struct Declared {
    name: String,
    def: EntityDef,
    variants: Vec<String>,
    renamed_from: Option<String>,
}

fn declared(config: &Config) -> Vec<Declared> {
    // Metrics read from Prometheus fold no events, so they keep no evidence.
    let metrics = |names: Vec<&str>| {
        names
            .into_iter()
            .filter_map(|n| config.metric(n))
            .filter(|m| !m.is_prometheus())
            .map(folded)
            .collect()
    };
    let segments = |own: &[String]| {
        let mut all = config.segments.clone();
        for s in own {
            if !all.contains(s) {
                all.push(s.clone());
            }
        }
        all
    };
    let mut out = Vec::new();
    for r in &config.rollouts {
        out.push(Declared {
            name: r.name.clone(),
            def: EntityDef {
                kind: EntityKind::Rollout,
                models: Some(vec![r.model.clone()]),
                metrics: metrics(r.metric_names()),
                segments: segments(&r.segments),
                interleaving: None,
            },
            variants: vec![r.baseline.clone(), r.candidate.clone()],
            renamed_from: r.renamed_from.clone(),
        });
    }
    for e in &config.experiments {
        out.push(Declared {
            name: e.name.clone(),
            def: EntityDef {
                kind: EntityKind::Experiment,
                models: Some(vec![e.model.clone()]),
                metrics: metrics(e.metric_names()),
                segments: segments(&e.segments),
                interleaving: interleaving_def(config, e),
            },
            variants: e.variants.clone(),
            renamed_from: e.renamed_from.clone(),
        });
    }
    for h in &config.holdouts {
        let baselines = config
            .models
            .iter()
            .filter(|m| h.models.as_ref().is_none_or(|ms| ms.contains(&m.name)))
            .map(|m| m.baseline().to_string())
            .filter(|b| !b.is_empty());
        let mut variants: Vec<String> = Vec::new();
        for b in baselines {
            if !variants.contains(&b) {
                variants.push(b);
            }
        }
        out.push(Declared {
            name: h.name.clone(),
            def: EntityDef {
                kind: EntityKind::Holdout,
                models: h.models.clone(),
                metrics: config
                    .metrics
                    .iter()
                    .filter(|m| !m.is_prometheus())
                    .map(folded)
                    .collect(),
                segments: config.segments.clone(),
                interleaving: None,
            },
            variants,
            renamed_from: h.renamed_from.clone(),
        });
    }
    out
}

impl Aggregator {
    /// Empty evidence for every rollout, experiment and holdout of `config`.
    pub fn new(config: &Config) -> Aggregator {
        let mut agg = Aggregator {
            entities: Vec::new(),
            by_name: HashMap::new(),
            by_model: HashMap::new(),
            all_models: Vec::new(),
        };
        agg.reconfigure(config);
        agg
    }

    /// Applies a new config: entities whose definition (model, metrics and their definitions,
    /// segments) is unchanged keep their state, also when renamed with `renamed_from`; removed
    /// ones are dropped; new or changed ones start empty. A changed bucket width changes every
    /// entity. Returns the names of entities that started empty (the caller may rebuild them by
    /// replay).
    pub fn reconfigure(&mut self, config: &Config) -> Vec<String> {
        let bucket_ms = config.server.evidence_bucket.as_millis();
        let mut old: HashMap<(EntityKind, String), EntityState> = self
            .entities
            .drain(..)
            .map(|e| ((e.def.kind, e.name.clone()), e))
            .collect();
        let mut started_empty = Vec::new();
        for d in declared(config) {
            let kind = d.def.kind;
            let previous = old.remove(&(kind, d.name.clone())).or_else(|| {
                let from = d.renamed_from.as_ref()?;
                old.remove(&(kind, from.clone()))
            });
            let state = match previous {
                Some(mut s) if s.def == d.def && s.bucket_ms() == bucket_ms => {
                    s.name = d.name;
                    s.add_variants(&d.variants);
                    s
                }
                _ => {
                    started_empty.push(d.name.clone());
                    EntityState::new(d.name, d.def, &d.variants, bucket_ms)
                }
            };
            self.entities.push(state);
        }

        self.by_name.clear();
        self.by_model.clear();
        self.all_models.clear();
        for (i, e) in self.entities.iter().enumerate() {
            self.by_name
                .entry(e.def.kind)
                .or_default()
                .entry(e.name.clone())
                .or_insert(i);
            match &e.def.models {
                Some(ms) => {
                    for m in ms {
                        self.by_model.entry(m.clone()).or_default().push(i);
                    }
                }
                None => self.all_models.push(i),
            }
        }
        // Exposures logged under a former name still reach the renamed entity on replay.
        let aliases = declared(config)
            .into_iter()
            .filter_map(|d| Some((d.def.kind, d.renamed_from?, d.name)));
        for (kind, from, to) in aliases {
            let names = self.by_name.entry(kind).or_default();
            if let Some(&i) = names.get(&to) {
                names.entry(from).or_insert(i);
            }
        }
        started_empty
    }

    /// Folds one stored record. Records must come in store order.
    pub fn fold(&mut self, record: &Record) {
        match record {
            Record::Exposure(x) => {
                let Some((kind, name)) = &x.entity else {
                    return;
                };
                // After a rollback or a completion everyone gets one variant: such exposures are
                // logged for the record but compare nothing.
                if matches!(x.reason, Reason::RolledBack | Reason::Completed) {
                    return;
                }
                let Some(&i) = self.by_name.get(kind).and_then(|n| n.get(name)) else {
                    return;
                };
                let entity = &mut self.entities[i];
                if entity.def.covers(&x.model) {
                    entity.fold_exposure(UnitKey::of(&x.unit), x);
                }
            }
            Record::Impression(m) => {
                let entity = self
                    .by_name
                    .get(&EntityKind::Experiment)
                    .and_then(|n| n.get(&m.experiment))
                    .map(|&i| &mut self.entities[i]);
                if let Some(entity) = entity.filter(|e| e.def.covers(&m.model)) {
                    entity.fold_impression(m);
                }
            }
            Record::Event(e) => {
                let key = UnitKey::of(&e.unit);
                let listed = self.by_model.get(&e.model).map_or(&[][..], Vec::as_slice);
                for &i in listed.iter().chain(&self.all_models) {
                    self.entities[i].fold_event(key, e);
                }
            }
        }
    }

    /// A snapshot of one entity's evidence, by name.
    pub fn evidence(&self, entity: &str) -> Option<EntityEvidence> {
        self.entities
            .iter()
            .find(|e| e.name == entity)
            .map(EntityState::evidence)
    }

    /// Names of the entities, in config order (rollouts, experiments, holdouts).
    pub fn entities(&self) -> impl Iterator<Item = &str> {
        self.entities.iter().map(|e| e.name.as_str())
    }

    /// Number of units registered with an entity.
    pub fn units(&self, entity: &str) -> Option<usize> {
        self.entities
            .iter()
            .find(|e| e.name == entity)
            .map(EntityState::unit_count)
    }

    /// Number of units an experiment holds pre-exposure values for, awaiting their first
    /// exposure (at most [`MAX_WAITING_UNITS`]); 0 for rollouts and holdouts.
    pub fn waiting_units(&self, entity: &str) -> Option<usize> {
        self.entities
            .iter()
            .find(|e| e.name == entity)
            .map(EntityState::waiting_count)
    }
}

/// What an interleaving experiment credits: its method and the click event of its primary metric
/// (a ratio metric's numerator). `None` for other designs.
fn interleaving_def(
    config: &Config,
    experiment: &crate::config::Experiment,
) -> Option<InterleavingDef> {
    let method = crate::experiment::interleaving_method(experiment.design)?;
    let click = config
        .metric(&experiment.primary)
        .and_then(|m| m.event.clone().or_else(|| m.numerator.clone()));
    Some(InterleavingDef {
        method,
        click,
        variants: experiment.variants.clone(),
    })
}

/// The parts of a metric that decide what is folded; `goal` only matters to the analysis, so
/// changing it keeps the evidence. Of `maturity` only its presence matters (cohorts are kept or
/// not): changing its length keeps the evidence too.
fn folded(m: &crate::config::Metric) -> crate::config::Metric {
    crate::config::Metric {
        goal: None,
        maturity: m.maturity.map(|_| crate::config::Duration::from_millis(1)),
        ..m.clone()
    }
}
