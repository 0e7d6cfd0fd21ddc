//! The evidence of one rollout, experiment or holdout: its registered units with their compact
//! per-unit values, and the per-variant statistics by time bucket and by segment. Experiments
//! also keep the pre-exposure values of units not registered yet, which become the units'
//! covariates (for CUPED) when they register.
//!
//! When a metric has a `maturity`, the entity also keeps **cohorts**: per-variant statistics keyed
//! by the time bucket of each unit's first exposure (overall and per segment value), into which
//! every change of such a metric's per-unit value is folded. Summing the cohorts old enough gives
//! the statistics of the mature units (see `EntityEvidence::mature`).

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hash, Hasher};

use super::histogram;
use super::interleaving::{InterleavingDef, InterleavingState};
use super::stats::MetricStats;
use super::{BucketEvidence, CohortEvidence, EntityEvidence, SegmentEvidence, VariantEvidence};
use crate::config::{Metric, MetricKind};
use crate::record::{EntityKind, Exposure, ImpressionRecord, Millis, OutcomeEvent};

/// Largest magnitude accepted for an event value: keeps squares and sums finite.
pub(crate) const MAX_ABS_VALUE: f64 = 1e100;

/// Most units an experiment keeps pre-exposure values for while they wait for their first
/// exposure; units seen after that get no pre-exposure values (their covariate is 0). Bounds the
/// memory spent on units of the model that never join the experiment.
pub const MAX_WAITING_UNITS: usize = 1_000_000;

/// What evidence is kept for an entity. Two definitions that are equal keep the same state
/// across a reconfiguration.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct EntityDef {
    pub kind: EntityKind,
    /// Models whose exposures and events feed the entity; `None` for all models.
    pub models: Option<Vec<String>>,
    pub metrics: Vec<Metric>,
    pub segments: Vec<String>,
    /// Interleaving experiments only: what their impressions and clicks are credited by.
    pub interleaving: Option<InterleavingDef>,
}

impl EntityDef {
    pub fn covers(&self, model: &str) -> bool {
        self.models
            .as_ref()
            .is_none_or(|ms| ms.iter().any(|m| m == model))
    }

    /// The `model` field of the evidence: the model, or the models joined by `,`, or `*`.
    fn model_label(&self) -> String {
        self.models
            .as_ref()
            .map_or_else(|| "*".to_string(), |ms| ms.join(","))
    }
}

/// The xxh3-128 hash of a unit key, split so the table entry needs 8-byte alignment only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct UnitKey(u64, u64);

impl UnitKey {
    pub fn of(unit: &str) -> UnitKey {
        let h = xxhash_rust::xxh3::xxh3_128(unit.as_bytes());
        UnitKey(h as u64, (h >> 64) as u64)
    }
}

impl Hash for UnitKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Already a good hash: hand it over as is.
        state.write_u64(self.0);
    }
}

/// Passes a `UnitKey`'s bits through instead of hashing them again.
#[derive(Default)]
pub(crate) struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
    fn write(&mut self, bytes: &[u8]) {
        // Not reached by UnitKey; a plain FNV-1a keeps the type correct for anything else.
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
    }
}

/// Which part of a metric an event type feeds.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Role {
    /// The one event type of a binary, count, sum or latency metric.
    Event,
    Numerator,
    Denominator,
    /// A ratio whose numerator and denominator are the same event type.
    Both,
}

/// Where a metric's per-unit values live in the unit's row.
#[derive(Debug, Clone)]
struct MetricSlot {
    kind: MetricKind,
    window: Option<i64>,
    /// Offset in the per-unit row; binary/count/sum use one value, ratio two, latency none.
    offset: usize,
    /// Offset in the per-unit covariate row: experiments' binary, count and sum metrics only.
    pre: Option<usize>,
    /// The metric has a maturity: its changes are folded into the unit's cohort too.
    cohort: bool,
}

/// Per-variant statistics of one group (a time bucket, a segment value, or the totals).
#[derive(Debug, Clone)]
struct VariantAcc {
    units: u64,
    metrics: Vec<MetricStats>,
}

impl VariantAcc {
    fn new(slots: &[MetricSlot]) -> VariantAcc {
        VariantAcc {
            units: 0,
            metrics: slots.iter().map(|s| MetricStats::new(s.kind)).collect(),
        }
    }

    fn merge(&mut self, other: &VariantAcc) {
        self.units += other.units;
        for (a, b) in self.metrics.iter_mut().zip(&other.metrics) {
            a.merge(b);
        }
    }

    fn is_empty(&self) -> bool {
        self.units == 0 && self.metrics.iter().all(MetricStats::is_empty)
    }

    /// Registers a unit whose per-unit values are `row` and covariates `pre` (empty: all zero).
    fn add_unit(&mut self, slots: &[MetricSlot], row: &[f64], pre: &[f64]) {
        let at = |i: usize| row.get(i).copied().unwrap_or(0.0);
        self.units += 1;
        for (slot, stats) in slots.iter().zip(&mut self.metrics) {
            match slot.kind {
                MetricKind::Latency => {}
                MetricKind::Ratio => {
                    let (num, den) = (at(slot.offset), at(slot.offset + 1));
                    stats.n += 1;
                    stats.sum += num;
                    stats.sum_sq += num * num;
                    stats.den_sum += den;
                    stats.den_sum_sq += den * den;
                    stats.cross += num * den;
                }
                _ => {
                    let v = at(slot.offset);
                    stats.n += 1;
                    stats.sum += v;
                    stats.sum_sq += v * v;
                    if let Some(o) = slot.pre {
                        let x = pre.get(o).copied().unwrap_or(0.0);
                        stats.pre_n += 1;
                        stats.pre_sum += x;
                        stats.pre_sum_sq += x * x;
                        stats.pre_cross += x * v;
                    }
                }
            }
        }
    }

    fn to_evidence(&self, names: &[&str]) -> VariantEvidence {
        VariantEvidence {
            units: self.units,
            metrics: names
                .iter()
                .map(|n| n.to_string())
                .zip(self.metrics.iter().cloned())
                .collect(),
        }
    }
}

/// A change of one metric caused by one event, applied to every group the unit belongs to.
#[derive(Debug, Clone, Copy)]
enum Change {
    /// A per-unit value (or numerator/denominator pair) went from `old` to `new`; `pre` is the
    /// unit's covariate when the metric keeps one.
    Value {
        old: (f64, f64),
        new: (f64, f64),
        ratio: bool,
        pre: Option<f64>,
    },
    Latency(f64),
    Skipped,
}

impl Change {
    fn apply(self, stats: &mut MetricStats) {
        match self {
            Change::Value {
                old,
                new,
                ratio,
                pre,
            } => {
                stats.sum += new.0 - old.0;
                stats.sum_sq += new.0 * new.0 - old.0 * old.0;
                if let Some(x) = pre {
                    stats.pre_cross += x * (new.0 - old.0);
                }
                if ratio {
                    stats.den_sum += new.1 - old.1;
                    stats.den_sum_sq += new.1 * new.1 - old.1 * old.1;
                    stats.cross += new.0 * new.1 - old.0 * old.1;
                }
            }
            Change::Latency(v) => {
                stats.n += 1;
                stats.sum += v;
                stats.sum_sq += v * v;
                if let Some(h) = &mut stats.histogram {
                    h.record_unchecked(v);
                }
            }
            Change::Skipped => stats.skipped += 1,
        }
    }
}

/// The values seen for one segment attribute and the statistics of each.
#[derive(Debug, Clone)]
struct SegmentAttr {
    attribute: String,
    values: Vec<String>,
    index: HashMap<String, u32>,
    /// `[value][variant]`.
    stats: Vec<Vec<VariantAcc>>,
    /// `[value]`: cohorts by first-exposure bucket (empty unless the entity keeps cohorts).
    cohorts: Vec<Vec<Bucket>>,
}

/// One time bucket: per-variant deltas of everything that happened in `[start, start + width)`,
/// or (a cohort) the statistics of the units first exposed in it.
#[derive(Debug, Clone)]
struct Bucket {
    start: Millis,
    variants: Vec<VariantAcc>,
}

/// The start of the bucket holding `ts`.
fn bucket_start(bucket_ms: u64, ts: Millis) -> Millis {
    if bucket_ms == 0 {
        return 0;
    }
    let w = i64::try_from(bucket_ms).unwrap_or(i64::MAX);
    ts.div_euclid(w) * w
}

/// The per-variant statistics of the bucket starting at `start`, inserted in order if new.
fn bucket_in(buckets: &mut Vec<Bucket>, start: Millis) -> &mut Vec<VariantAcc> {
    // Records arrive mostly in time order: the last bucket is the usual hit.
    let pos = match buckets.last() {
        Some(b) if b.start == start => buckets.len() - 1,
        _ => match buckets.binary_search_by_key(&start, |b| b.start) {
            Ok(p) => p,
            Err(p) => {
                buckets.insert(
                    p,
                    Bucket {
                        start,
                        variants: Vec::new(),
                    },
                );
                p
            }
        },
    };
    &mut buckets[pos].variants
}

/// A registered unit: its first exposure and where its per-unit values are. Kept in the unit
/// table itself so that folding an event touches one table entry, not two.
#[derive(Debug, Clone, Copy)]
struct UnitEntry {
    first_ts: Millis,
    /// Registration order: the unit's row in `values` and `seg_of`.
    slot: u32,
    variant: u16,
}

/// Whether an event at `ts` is inside a metric's attribution window.
fn in_window(first_ts: Millis, window: Option<i64>, ts: Millis) -> bool {
    ts >= first_ts && window.is_none_or(|w| ts <= first_ts.saturating_add(w))
}

fn acc_at<'a>(accs: &'a mut Vec<VariantAcc>, v: usize, slots: &[MetricSlot]) -> &'a mut VariantAcc {
    if accs.len() <= v {
        accs.resize_with(v + 1, || VariantAcc::new(slots));
    }
    &mut accs[v]
}

/// Evidence of one entity, folded record by record.
#[derive(Debug, Clone)]
pub(crate) struct EntityState {
    pub name: String,
    pub def: EntityDef,
    bucket_ms: u64,
    slots: Vec<MetricSlot>,
    /// Event type → the metrics that read it; a handful of types, so a list beats a map.
    readers: Vec<(String, Vec<(usize, Role)>)>,
    /// Per-unit values per row.
    stride: usize,
    variants: Vec<String>,
    units: HashMap<UnitKey, UnitEntry, BuildHasherDefault<KeyHasher>>,
    /// `stride` values per unit, in registration order.
    values: Vec<f64>,
    /// One entry per unit and segment attribute: 0 when unknown, else value index + 1.
    seg_of: Vec<u32>,
    segments: Vec<SegmentAttr>,
    buckets: Vec<Bucket>,
    /// Some metric has a maturity (rollouts and experiments only): cohorts are kept.
    keeps_cohorts: bool,
    /// Per first-exposure bucket: the statistics of the units first exposed in it.
    cohorts: Vec<Bucket>,
    interleaving: Option<InterleavingState>,
    /// Covariate values per unit (experiments only; 0 elsewhere).
    pre_stride: usize,
    /// `pre_stride` covariates per registered unit, in registration order; fixed at registration.
    covariates: Vec<f64>,
    /// Units not registered yet that had counted events → their row in `waiting_values`.
    waiting: HashMap<UnitKey, u32, BuildHasherDefault<KeyHasher>>,
    /// `pre_stride` pre-exposure values per waiting unit.
    waiting_values: Vec<f64>,
    /// Rows of `waiting_values` freed by a registration, reused before the vector grows.
    waiting_free: Vec<u32>,
}

impl EntityState {
    pub fn new(name: String, def: EntityDef, variants: &[String], bucket_ms: u64) -> EntityState {
        let mut slots = Vec::with_capacity(def.metrics.len());
        let mut readers: Vec<(String, Vec<(usize, Role)>)> = Vec::new();
        let mut stride = 0;
        let mut pre_stride = 0;
        // Only experiments keep covariates, to bound memory; ratio and latency have none.
        let keeps_pre = def.kind == EntityKind::Experiment;
        // Holdouts are a long-term reference compared across entities: they keep no cohorts.
        let keeps_cohorts = def.kind != EntityKind::Holdout
            && def
                .metrics
                .iter()
                .any(|m| m.maturity.is_some() && m.kind != MetricKind::Latency);
        for (i, m) in def.metrics.iter().enumerate() {
            let pre = (keeps_pre
                && matches!(
                    m.kind,
                    MetricKind::Binary | MetricKind::Count | MetricKind::Sum
                ))
            .then(|| {
                pre_stride += 1;
                pre_stride - 1
            });
            slots.push(MetricSlot {
                kind: m.kind,
                window: m
                    .window
                    .map(|w| i64::try_from(w.as_millis()).unwrap_or(i64::MAX)),
                offset: stride,
                pre,
                cohort: keeps_cohorts && m.maturity.is_some() && m.kind != MetricKind::Latency,
            });
            stride += match m.kind {
                MetricKind::Latency => 0,
                MetricKind::Ratio => 2,
                _ => 1,
            };
            let mut read = |t: &Option<String>, role| {
                if let Some(t) = t {
                    match readers.iter_mut().find(|(k, _)| k == t) {
                        Some((_, list)) => list.push((i, role)),
                        None => readers.push((t.clone(), vec![(i, role)])),
                    }
                }
            };
            if m.kind == MetricKind::Ratio {
                if m.numerator.is_some() && m.numerator == m.denominator {
                    read(&m.numerator, Role::Both);
                } else {
                    read(&m.numerator, Role::Numerator);
                    read(&m.denominator, Role::Denominator);
                }
            } else {
                read(&m.event, Role::Event);
            }
        }
        let segments = def
            .segments
            .iter()
            .map(|a| SegmentAttr {
                attribute: a.clone(),
                values: Vec::new(),
                index: HashMap::new(),
                stats: Vec::new(),
                cohorts: Vec::new(),
            })
            .collect();
        let mut state = EntityState {
            name,
            bucket_ms,
            slots,
            readers,
            stride,
            variants: Vec::new(),
            units: HashMap::default(),
            values: Vec::new(),
            seg_of: Vec::new(),
            segments,
            buckets: Vec::new(),
            keeps_cohorts,
            cohorts: Vec::new(),
            interleaving: def.interleaving.clone().map(InterleavingState::new),
            def,
            pre_stride,
            covariates: Vec::new(),
            waiting: HashMap::default(),
            waiting_values: Vec::new(),
            waiting_free: Vec::new(),
        };
        state.add_variants(variants);
        state
    }

    /// Makes sure the configured variants are listed (so they show up, empty, before any unit).
    pub fn add_variants(&mut self, variants: &[String]) {
        for v in variants {
            self.variant_index(v);
        }
    }

    fn variant_index(&mut self, name: &str) -> Option<u16> {
        if let Some(i) = self.variants.iter().position(|v| v == name) {
            return u16::try_from(i).ok();
        }
        let i = u16::try_from(self.variants.len()).ok()?;
        self.variants.push(name.to_string());
        Some(i)
    }

    pub fn bucket_ms(&self) -> u64 {
        self.bucket_ms
    }

    /// Number of units registered.
    pub fn unit_count(&self) -> usize {
        self.units.len()
    }

    /// Number of units holding pre-exposure values while they wait for their first exposure.
    pub fn waiting_count(&self) -> usize {
        self.waiting.len()
    }

    fn bucket_mut(&mut self, ts: Millis) -> &mut Vec<VariantAcc> {
        bucket_in(&mut self.buckets, bucket_start(self.bucket_ms, ts))
    }

    /// Registers the unit on its first exposure; later exposures change nothing.
    pub fn fold_exposure(&mut self, key: UnitKey, exposure: &Exposure) {
        if self.units.contains_key(&key) {
            return;
        }
        let Ok(slot) = u32::try_from(self.units.len()) else {
            return;
        };
        let Some(variant) = self.variant_index(&exposure.variant) else {
            return;
        };
        self.units.insert(
            key,
            UnitEntry {
                first_ts: exposure.ts,
                slot,
                variant,
            },
        );
        self.values.resize(self.values.len() + self.stride, 0.0);
        let pre = self.take_waiting(key);
        let v = usize::from(variant);
        for a in 0..self.segments.len() {
            let value = exposure.segments.get(&self.segments[a].attribute);
            let code = match value {
                Some(value) => self.join_segment(a, value, v, exposure.ts, &[], &pre),
                None => 0,
            };
            self.seg_of.push(code);
        }
        let slots = std::mem::take(&mut self.slots);
        acc_at(self.bucket_mut(exposure.ts), v, &slots).add_unit(&slots, &[], &pre);
        if self.keeps_cohorts {
            let cohort = bucket_in(&mut self.cohorts, bucket_start(self.bucket_ms, exposure.ts));
            acc_at(cohort, v, &slots).add_unit(&slots, &[], &pre);
        }
        self.slots = slots;
        self.covariates.extend_from_slice(&pre);
    }

    /// The pre-exposure values of a unit that registers now (zeros when it had none); its
    /// waiting row is freed.
    fn take_waiting(&mut self, key: UnitKey) -> Vec<f64> {
        let ps = self.pre_stride;
        let Some(row) = self.waiting.remove(&key) else {
            return vec![0.0; ps];
        };
        let at = row as usize * ps;
        let pre = self.waiting_values[at..at + ps].to_vec();
        self.waiting_values[at..at + ps].fill(0.0);
        self.waiting_free.push(row);
        pre
    }

    /// Folds an event of a unit not registered yet into its pre-exposure values, by the same
    /// per-unit rules as the metrics (no window: everything before the first exposure counts).
    fn fold_waiting(&mut self, key: UnitKey, event: &OutcomeEvent) {
        if self.pre_stride == 0 {
            return;
        }
        let Some((_, readers)) = self.readers.iter().find(|(t, _)| *t == event.kind) else {
            return;
        };
        if !readers.iter().any(|&(m, _)| self.slots[m].pre.is_some()) {
            return;
        }
        let ps = self.pre_stride;
        let row = match self.waiting.get(&key) {
            Some(&row) => row,
            None => {
                if self.waiting.len() >= MAX_WAITING_UNITS {
                    return;
                }
                let row = match self.waiting_free.pop() {
                    Some(row) => row,
                    None => {
                        let Ok(row) = u32::try_from(self.waiting_values.len() / ps) else {
                            return;
                        };
                        self.waiting_values
                            .resize(self.waiting_values.len() + ps, 0.0);
                        row
                    }
                };
                self.waiting.insert(key, row);
                row
            }
        };
        let at = row as usize * ps;
        for &(m, _) in readers {
            let slot = &self.slots[m];
            let Some(o) = slot.pre else {
                continue;
            };
            let x = &mut self.waiting_values[at + o];
            match slot.kind {
                MetricKind::Binary => *x = 1.0,
                MetricKind::Count => *x += 1.0,
                _ => {
                    let v = event.value.unwrap_or(1.0);
                    if v.is_finite() && v.abs() <= MAX_ABS_VALUE {
                        *x += v;
                    }
                }
            }
        }
    }

    /// Keeps an interleaved impression of this (interleaving) experiment.
    pub fn fold_impression(&mut self, impression: &ImpressionRecord) {
        if let Some(il) = &mut self.interleaving {
            il.fold_impression(impression);
        }
    }

    /// Adds a unit first exposed at `first_ts` with per-unit values `row` to the segment
    /// `attribute = value`; returns the code stored for the unit (value index + 1).
    fn join_segment(
        &mut self,
        a: usize,
        value: &str,
        variant: usize,
        first_ts: Millis,
        row: &[f64],
        pre: &[f64],
    ) -> u32 {
        let seg = &mut self.segments[a];
        let idx = match seg.index.get(value) {
            Some(&i) => i,
            None => {
                let i = seg.values.len() as u32;
                seg.values.push(value.to_string());
                seg.index.insert(value.to_string(), i);
                seg.stats.push(Vec::new());
                seg.cohorts.push(Vec::new());
                i
            }
        };
        acc_at(&mut seg.stats[idx as usize], variant, &self.slots).add_unit(&self.slots, row, pre);
        if self.keeps_cohorts {
            let start = bucket_start(self.bucket_ms, first_ts);
            let cohort = bucket_in(&mut seg.cohorts[idx as usize], start);
            acc_at(cohort, variant, &self.slots).add_unit(&self.slots, row, pre);
        }
        idx + 1
    }

    /// Counts an outcome event for every metric that reads its type, if the unit is registered
    /// and the event is inside the metric's window.
    pub fn fold_event(&mut self, key: UnitKey, event: &OutcomeEvent) {
        if let Some(il) = &mut self.interleaving {
            il.fold_event(event);
        }
        let Some(&unit) = self.units.get(&key) else {
            self.fold_waiting(key, event);
            return;
        };
        let Some(r) = self.readers.iter().position(|(t, _)| *t == event.kind) else {
            return;
        };
        let counts = |slot: &MetricSlot| in_window(unit.first_ts, slot.window, event.ts);
        if !self.readers[r]
            .1
            .iter()
            .any(|&(m, _)| counts(&self.slots[m]))
        {
            return;
        }
        let slot = unit.slot as usize;
        let v = usize::from(unit.variant);
        let row_at = slot * self.stride;
        let pre_at = slot * self.pre_stride;
        let seg_at = slot * self.segments.len();

        // A segment value the unit did not have yet may come with this event: the unit joins with
        // its values so far, then the event counts there too.
        for a in 0..self.segments.len() {
            if self.seg_of[seg_at + a] == 0 {
                if let Some(value) = event.attributes.get(&self.segments[a].attribute) {
                    let row = self.values[row_at..row_at + self.stride].to_vec();
                    let pre = self.covariates[pre_at..pre_at + self.pre_stride].to_vec();
                    self.seg_of[seg_at + a] =
                        self.join_segment(a, value, v, unit.first_ts, &row, &pre);
                }
            }
        }

        for k in 0..self.readers[r].1.len() {
            let (m, role) = self.readers[r].1[k];
            if !counts(&self.slots[m]) {
                continue;
            }
            let change = self.change_for(m, role, row_at, pre_at, event.value);
            self.apply(m, v, seg_at, (event.ts, unit.first_ts), change);
        }
    }

    /// Updates the unit's row for metric `m` and says how its statistics change.
    fn change_for(
        &mut self,
        m: usize,
        role: Role,
        row_at: usize,
        pre_at: usize,
        value: Option<f64>,
    ) -> Change {
        let slot = &self.slots[m];
        let at = row_at + slot.offset;
        let pre = slot.pre.map(|o| self.covariates[pre_at + o]);
        // Sum and ratio take the value, 1 when absent; it must keep the sums finite.
        let amount = || {
            let x = value.unwrap_or(1.0);
            (x.is_finite() && x.abs() <= MAX_ABS_VALUE).then_some(x)
        };
        match slot.kind {
            // Read from Prometheus: never declared in evidence, so no event reaches one.
            MetricKind::Prometheus => Change::Skipped,
            MetricKind::Latency => match value {
                Some(x) if histogram::check_value(x).is_ok() => Change::Latency(x),
                _ => Change::Skipped,
            },
            MetricKind::Binary | MetricKind::Count | MetricKind::Sum => {
                let old = self.values[at];
                let new = match slot.kind {
                    MetricKind::Binary => 1.0,
                    MetricKind::Count => old + 1.0,
                    _ => match amount() {
                        Some(x) => old + x,
                        None => return Change::Skipped,
                    },
                };
                self.values[at] = new;
                Change::Value {
                    old: (old, 0.0),
                    new: (new, 0.0),
                    ratio: false,
                    pre,
                }
            }
            MetricKind::Ratio => {
                let Some(x) = amount() else {
                    return Change::Skipped;
                };
                let old = (self.values[at], self.values[at + 1]);
                let mut new = old;
                if matches!(role, Role::Numerator | Role::Both | Role::Event) {
                    new.0 += x;
                }
                if matches!(role, Role::Denominator | Role::Both) {
                    new.1 += x;
                }
                self.values[at] = new.0;
                self.values[at + 1] = new.1;
                Change::Value {
                    old,
                    new,
                    ratio: true,
                    pre: None,
                }
            }
        }
    }

    /// Applies a change to the time bucket of the event time and to every segment the unit is
    /// in; for a metric with a maturity also to the unit's cohorts (by its first exposure).
    fn apply(
        &mut self,
        m: usize,
        v: usize,
        seg_at: usize,
        (ts, first_ts): (Millis, Millis),
        change: Change,
    ) {
        if let Change::Value { old, new, .. } = change {
            if old == new {
                return;
            }
        }
        let slots = std::mem::take(&mut self.slots);
        change.apply(&mut acc_at(self.bucket_mut(ts), v, &slots).metrics[m]);
        let cohort = slots[m]
            .cohort
            .then(|| bucket_start(self.bucket_ms, first_ts));
        if let Some(start) = cohort {
            change.apply(&mut acc_at(bucket_in(&mut self.cohorts, start), v, &slots).metrics[m]);
        }
        for (a, seg) in self.segments.iter_mut().enumerate() {
            let code = self.seg_of[seg_at + a];
            if code != 0 {
                let at = code as usize - 1;
                change.apply(&mut acc_at(&mut seg.stats[at], v, &slots).metrics[m]);
                if let Some(start) = cohort {
                    let acc = acc_at(bucket_in(&mut seg.cohorts[at], start), v, &slots);
                    change.apply(&mut acc.metrics[m]);
                }
            }
        }
        self.slots = slots;
    }

    /// A snapshot: totals per variant are the sums of the bucket deltas, in bucket order, so
    /// adding up `buckets` reproduces them bit for bit.
    pub fn evidence(&self) -> EntityEvidence {
        let names: Vec<&str> = self.def.metrics.iter().map(|m| m.name.as_str()).collect();
        let empty = VariantAcc::new(&self.slots);
        let all_variants = |accs: &[VariantAcc]| -> BTreeMap<String, VariantEvidence> {
            self.variants
                .iter()
                .enumerate()
                .map(|(i, name)| {
                    (
                        name.clone(),
                        accs.get(i).unwrap_or(&empty).to_evidence(&names),
                    )
                })
                .collect()
        };

        let mut totals: Vec<VariantAcc> = vec![empty.clone(); self.variants.len()];
        let mut buckets = Vec::with_capacity(self.buckets.len());
        for b in &self.buckets {
            let mut variants = BTreeMap::new();
            for (i, acc) in b.variants.iter().enumerate() {
                if acc.is_empty() {
                    continue;
                }
                totals[i].merge(acc);
                variants.insert(self.variants[i].clone(), acc.to_evidence(&names));
            }
            buckets.push(BucketEvidence {
                start: b.start,
                variants,
            });
        }

        let mut segments = Vec::new();
        for seg in &self.segments {
            let mut order: Vec<usize> = (0..seg.values.len()).collect();
            order.sort_by(|&a, &b| seg.values[a].cmp(&seg.values[b]));
            for i in order {
                segments.push(SegmentEvidence {
                    attribute: seg.attribute.clone(),
                    value: seg.values[i].clone(),
                    variants: all_variants(&seg.stats[i]),
                });
            }
        }

        EntityEvidence {
            kind: self.def.kind,
            name: self.name.clone(),
            model: self.def.model_label(),
            bucket_ms: self.bucket_ms,
            variants: all_variants(&totals),
            segments,
            buckets,
            cohorts: self.cohort_evidence(),
            interleaving: self.interleaving.as_ref().map(InterleavingState::evidence),
        }
    }
}

impl EntityState {
    /// The cohorts, by start, each with the metrics that have a maturity only; a variant or
    /// segment value appears in a cohort only when it has units there.
    fn cohort_evidence(&self) -> Vec<CohortEvidence> {
        if !self.keeps_cohorts {
            return Vec::new();
        }
        let kept: Vec<(usize, &str)> = self
            .slots
            .iter()
            .zip(&self.def.metrics)
            .enumerate()
            .filter(|(_, (slot, _))| slot.cohort)
            .map(|(i, (_, m))| (i, m.name.as_str()))
            .collect();
        let per_variant = |accs: &[VariantAcc]| -> BTreeMap<String, VariantEvidence> {
            accs.iter()
                .enumerate()
                .filter(|(_, acc)| !acc.is_empty())
                .map(|(i, acc)| {
                    let metrics = kept
                        .iter()
                        .map(|&(m, name)| (name.to_string(), acc.metrics[m].clone()))
                        .collect();
                    (
                        self.variants[i].clone(),
                        VariantEvidence {
                            units: acc.units,
                            metrics,
                        },
                    )
                })
                .collect()
        };
        let mut cohorts: BTreeMap<Millis, CohortEvidence> = self
            .cohorts
            .iter()
            .map(|b| {
                let c = CohortEvidence {
                    start: b.start,
                    variants: per_variant(&b.variants),
                    segments: Vec::new(),
                };
                (b.start, c)
            })
            .collect();
        for seg in &self.segments {
            let mut order: Vec<usize> = (0..seg.values.len()).collect();
            order.sort_by(|&a, &b| seg.values[a].cmp(&seg.values[b]));
            for i in order {
                for b in &seg.cohorts[i] {
                    let cohort = cohorts.entry(b.start).or_insert_with(|| CohortEvidence {
                        start: b.start,
                        variants: BTreeMap::new(),
                        segments: Vec::new(),
                    });
                    cohort.segments.push(SegmentEvidence {
                        attribute: seg.attribute.clone(),
                        value: seg.values[i].clone(),
                        variants: per_variant(&b.variants),
                    });
                }
            }
        }
        cohorts.into_values().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_key_hasher_passes_bits_through() {
        let k = UnitKey::of("user-1");
        let mut h = KeyHasher::default();
        k.hash(&mut h);
        assert_eq!(h.finish(), k.0);
        assert_ne!(UnitKey::of("user-1"), UnitKey::of("user-2"));
    }

    #[test]
    fn per_unit_row_is_compact() {
        // The table entry is the 16-byte key, the first exposure time, the row and the variant.
        assert_eq!(std::mem::size_of::<(UnitKey, UnitEntry)>(), 32);
    }
}
