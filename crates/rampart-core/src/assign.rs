//! Deterministic assignment: the [`Assigner`], compiled once from a config and the live state, maps
//! (model, unit key) to a variant and the reason for it without IO, locks or allocation.
//!
//! A unit's bucket for an entity is `xxh3_64_with_seed(unit key, salt) % 10000`. The order of
//! decisions is: forced variants (QA), holdouts, experiments (through their layer), the rollout,
//! else the model's baseline. `docs/assignment.md` publishes test vectors.
//!
//! A `switchback` experiment picks the variant by time, not by unit: the window that `now` falls
//! in ([`switchback_window`]) serves one variant to every unit in the experiment. An experiment
//! named by a rollout stage takes its units from the rollout's candidate slice while the rollout
//! is in that stage; the control slice keeps the baseline.
//!
//! [`Assigner::expected_split`] reads the same compiled tables to say what share of a model's
//! units each slice takes, so what is shown (the dashboard) cannot drift from what is served.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use xxhash_rust::xxh3::xxh3_64_with_seed;

use crate::config::{Config, Design, UnitKind};
use crate::record::{EntityKind, Millis, Reason};
use crate::state::{percent_to_buckets, ExperimentStatus, LiveState, RolloutStatus};

/// FNV-1a, for the short names (models, variants, unit keys of QA lists) the assigner looks up on
/// every call: far cheaper than a streaming hasher for a few bytes, and the keys come from config.
#[derive(Default)]
struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for b in bytes {
            h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

type Names = BuildHasherDefault<Fnv>;

/// Number of buckets a unit can fall in; traffic shares are multiples of 0.01%.
pub const BUCKETS: u32 = 10_000;

/// Mixed into an experiment's salt to pick the variant, so that which units are in the experiment
/// and which variant they get are independent.
pub const VARIANT_SALT_MIX: u64 = 0x9E37_79B9_7F4A_7C15;

/// Mixed into a switchback experiment's salt to order its variants within each block of windows.
pub const SWITCHBACK_SALT_MIX: u64 = 0xC2B2_AE3D_27D4_EB4F;

/// The index of the switchback window `now` falls in: windows are `window_ms` long and counted
/// from the Unix epoch, so window `k` is `[k·window_ms, (k+1)·window_ms)`.
#[inline]
pub fn switchback_window(window_ms: u64, now: Millis) -> i64 {
    let w = i64::try_from(window_ms.max(1)).unwrap_or(i64::MAX);
    now.div_euclid(w)
}

/// The order key of variant `i` within block `block`: variants run in increasing key order.
#[inline]
fn order_key(salt: u64, block: i64, i: usize) -> u64 {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&block.to_le_bytes());
    bytes[8..].copy_from_slice(&(i as u64).to_le_bytes());
    xxh3_64_with_seed(&bytes, salt ^ SWITCHBACK_SALT_MIX)
}

/// Which of `n` variants (by index) serves switchback window `window`. Windows are grouped in
/// blocks of `n`; within a block the variants run in a random order seeded by the salt and the
/// block index (sorted by [`order_key`], ties by index), so each variant serves exactly one window
/// per block. O(n²) without allocation, for the handful of variants an experiment has.
pub fn switchback_variant(salt: u64, n: usize, window: i64) -> usize {
    if n <= 1 {
        return 0;
    }
    let len = n as i64;
    let (block, position) = (window.div_euclid(len), window.rem_euclid(len) as usize);
    let key = |i: usize| (order_key(salt, block, i), i);
    (0..n)
        .find(|&i| (0..n).filter(|&j| key(j) < key(i)).count() == position)
        .unwrap_or(0)
}

/// The order in which `n` variants (by index) serve the windows of block `block`.
pub fn switchback_order(salt: u64, n: usize, block: i64) -> Vec<usize> {
    let len = n as i64;
    (0..len)
        .map(|p| switchback_variant(salt, n, block.saturating_mul(len).saturating_add(p)))
        .collect()
}

/// The bucket of `unit` under `salt`, in `0..BUCKETS`.
#[inline]
pub fn bucket(salt: u64, unit: &str) -> u32 {
    (xxh3_64_with_seed(unit.as_bytes(), salt) % BUCKETS as u64) as u32
}

/// The variant a unit gets and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Assignment<'a> {
    pub variant: &'a str,
    pub reason: Reason,
    /// The rollout, experiment or holdout that decided; `None` for the default.
    pub entity: Option<(EntityKind, &'a str)>,
}

/// One slice of a model's units in [`Assigner::expected_split`]: the units that get `variant`
/// for `reason` from `entity` (none for the default), as a share of all units.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Slice {
    pub reason: Reason,
    pub entity: Option<String>,
    pub variant: String,
    pub share: f64,
}

/// Why a unit could not be assigned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssignError {
    #[error("unknown model {model:?}; known models: {known}")]
    UnknownModel { model: String, known: String },
    #[error("model {model:?} has no variant {variant:?}; its variants: {known}")]
    UnknownVariant {
        model: String,
        variant: String,
        known: String,
    },
}

#[derive(Debug, Clone)]
struct Holdout {
    name: String,
    salt: u64,
    buckets: u32,
}

#[derive(Debug, Clone)]
enum Membership {
    /// In the experiment when the bucket under its own salt is below the threshold.
    Own { salt: u64, buckets: u32 },
    /// In the experiment when the bucket under the layer's salt falls in one of these ranges.
    Layer { salt: u64, ranges: Vec<(u32, u32)> },
}

/// How an experiment picks the variant of a unit inside it.
#[derive(Debug, Clone)]
enum Pick {
    /// By the unit's bucket under the variant salt.
    Hash {
        variant_salt: u64,
        /// Cumulative upper bucket bound per variant index, the last being BUCKETS.
        cut: Vec<(u32, u16)>,
    },
    /// By the time: the window's variant for every unit.
    Window {
        salt: u64,
        window_ms: u64,
        variants: Vec<u16>,
    },
}

impl Pick {
    fn of(e: &crate::config::Experiment, salt: u64, variants: &[u16]) -> Pick {
        match e.design {
            Design::Switchback => Pick::Window {
                salt,
                window_ms: e.window_ms(),
                variants: variants.to_vec(),
            },
            _ => Pick::Hash {
                variant_salt: salt ^ VARIANT_SALT_MIX,
                cut: cumulative_cut(variants, e.weights.as_deref()),
            },
        }
    }

    /// Each variant's share of the units inside: by bucket widths, or (switchback) equal shares
    /// of the time.
    fn shares(&self) -> Vec<(u16, f64)> {
        match self {
            Pick::Hash { cut, .. } => {
                let mut lo = 0;
                cut.iter()
                    .map(|&(hi, i)| {
                        let share = f64::from(hi - lo) / f64::from(BUCKETS);
                        lo = hi;
                        (i, share)
                    })
                    .collect()
            }
            Pick::Window { variants, .. } => {
                let n = variants.len().max(1) as f64;
                variants.iter().map(|&i| (i, 1.0 / n)).collect()
            }
        }
    }

    #[inline]
    fn variant(&self, unit: &str, now: Millis, fallback: u16) -> u16 {
        match self {
            Pick::Hash { variant_salt, cut } => {
                let b = bucket(*variant_salt, unit);
                cut.iter()
                    .find(|(hi, _)| b < *hi)
                    .map_or(fallback, |(_, i)| *i)
            }
            Pick::Window {
                salt,
                window_ms,
                variants,
            } => {
                let w = switchback_window(*window_ms, now);
                variants
                    .get(switchback_variant(*salt, variants.len(), w))
                    .copied()
                    .unwrap_or(fallback)
            }
        }
    }
}

#[derive(Debug, Clone)]
struct Experiment {
    name: String,
    membership: Membership,
    pick: Pick,
}

/// The experiment a rollout runs in its candidate slice during the current stage.
#[derive(Debug, Clone)]
struct StageExperiment {
    name: String,
    pick: Pick,
}

#[derive(Debug, Clone)]
struct Rollout {
    name: String,
    salt: u64,
    status: RolloutStatus,
    baseline: u16,
    candidate: u16,
    /// Buckets below this get the candidate.
    candidate_below: u32,
    /// Buckets at or above this (when it is below BUCKETS) are the concurrent control.
    control_from: u32,
    /// Splits the candidate slice while its stage runs an experiment.
    experiment: Option<StageExperiment>,
}

#[derive(Debug, Clone)]
struct Model {
    unit: UnitKind,
    variants: Vec<String>,
    index: HashMap<String, u16, Names>,
    baseline: u16,
    forced: HashMap<String, u16, Names>,
    holdouts: Vec<Holdout>,
    experiments: Vec<Experiment>,
    rollout: Option<Rollout>,
}

/// Immutable, compiled form of config plus live state. Rebuilt (and swapped in) whenever either
/// changes; cheap to share between threads.
#[derive(Debug, Clone, Default)]
pub struct Assigner {
    models: HashMap<String, Model, Names>,
    names: Vec<String>,
}

impl Assigner {
    /// Compiles an assigner. The config is assumed valid (see `config::load_str`); references that
    /// do not resolve are skipped rather than trusted.
    pub fn new(config: &Config, state: &LiveState) -> Assigner {
        let mut models = HashMap::with_hasher(Names::default());
        for m in &config.models {
            let index: HashMap<String, u16, Names> = m
                .variants
                .iter()
                .enumerate()
                .map(|(i, v)| (v.name.clone(), i as u16))
                .collect();
            let baseline = index.get(m.baseline()).copied().unwrap_or(0);
            let forced = m
                .variants
                .iter()
                .enumerate()
                .flat_map(|(i, v)| v.force_units.iter().map(move |u| (u.clone(), i as u16)))
                .collect();
            let holdouts = config
                .holdouts
                .iter()
                .filter(|h| h.models.as_ref().is_none_or(|ms| ms.contains(&m.name)))
                .map(|h| Holdout {
                    name: h.name.clone(),
                    salt: state.salt(EntityKind::Holdout, &h.name),
                    buckets: percent_to_buckets(h.percent),
                })
                .collect();
            let running = |name: &str| {
                state.experiments.get(name).map(|s| s.status) == Some(ExperimentStatus::Running)
            };
            // Variant indices of an experiment, when they all resolve.
            let indices = |e: &crate::config::Experiment| -> Option<Vec<u16>> {
                e.variants.iter().map(|v| index.get(v).copied()).collect()
            };
            let experiments = config
                .experiments
                .iter()
                .filter(|e| {
                    e.model == m.name && matches!(e.design, Design::Split | Design::Switchback)
                })
                // A stage's experiment draws its units from the rollout, not from the model.
                .filter(|e| !crate::stage::is_stage_experiment(config, &e.name))
                .filter(|e| running(&e.name))
                .filter_map(|e| {
                    let salt = state.salt(EntityKind::Experiment, &e.name);
                    let membership = match &e.layer {
                        Some(layer) => Membership::Layer {
                            salt: state.salt(EntityKind::Layer, layer),
                            ranges: state.layers.get(layer)?.slots.get(&e.name)?.clone(),
                        },
                        None => Membership::Own {
                            salt,
                            buckets: percent_to_buckets(e.traffic),
                        },
                    };
                    let variants = indices(e)?;
                    Some(Experiment {
                        name: e.name.clone(),
                        membership,
                        pick: Pick::of(e, salt, &variants),
                    })
                })
                .collect();
            let rollout = config
                .rollouts
                .iter()
                .filter(|r| r.model == m.name)
                .find_map(|r| {
                    let st = state.rollouts.get(&r.name)?;
                    if st.status == RolloutStatus::Pending {
                        return None;
                    }
                    let t = percent_to_buckets(st.traffic);
                    let experiment = crate::stage::current_experiment(r, st)
                        .and_then(|name| config.experiment(name))
                        .filter(|e| e.model == m.name && running(&e.name))
                        .and_then(|e| {
                            let salt = state.salt(EntityKind::Experiment, &e.name);
                            Some(StageExperiment {
                                name: e.name.clone(),
                                pick: Pick::of(e, salt, &indices(e)?),
                            })
                        });
                    Some(Rollout {
                        name: r.name.clone(),
                        salt: state.salt(EntityKind::Rollout, &r.name),
                        status: st.status,
                        baseline: *index.get(&r.baseline)?,
                        candidate: *index.get(st.candidate_of(r))?,
                        candidate_below: t,
                        control_from: match r.control {
                            crate::config::Control::Concurrent => t.max(BUCKETS - t),
                            crate::config::Control::None => BUCKETS,
                        },
                        experiment,
                    })
                });
            models.insert(
                m.name.clone(),
                Model {
                    unit: m.unit,
                    variants: m.variants.iter().map(|v| v.name.clone()).collect(),
                    index,
                    baseline,
                    forced,
                    holdouts,
                    experiments,
                    rollout,
                },
            );
        }
        let names = config.models.iter().map(|m| m.name.clone()).collect();
        Assigner { models, names }
    }

    /// What randomizes this model's assignments, if the model exists.
    pub fn unit_kind(&self, model: &str) -> Option<UnitKind> {
        self.models.get(model).map(|m| m.unit)
    }

    /// Whether units of `model` are currently split by hashing: an active rollout serves its
    /// slices, or an experiment of the model runs. When false, every unit that is neither forced
    /// nor held out gets the same variant. False for an unknown model.
    pub fn splits(&self, model: &str) -> bool {
        self.models.get(model).is_some_and(|m| {
            !m.experiments.is_empty()
                || m.rollout.as_ref().is_some_and(|r| r.status.serves_slices())
        })
    }

    /// The share of `model`'s units each slice is expected to take, in the order [`assign`]
    /// decides (forced units, a handful, are left out); `None` for an unknown model. Hashes under
    /// different salts are independent, so each step takes its fraction of the units the earlier
    /// steps left; experiments of one layer hold disjoint ranges of the layer's buckets.
    ///
    /// [`assign`]: Assigner::assign
    pub fn expected_split(&self, model: &str) -> Option<Vec<Slice>> {
        let m = self.models.get(model)?;
        let frac = |buckets: u32| f64::from(buckets) / f64::from(BUCKETS);
        let mut slices = Vec::new();
        let mut add = |reason, entity: Option<&str>, variant: u16, share: f64| {
            if share > 0.0 {
                slices.push(Slice {
                    reason,
                    entity: entity.map(str::to_string),
                    variant: m.variants[variant as usize].clone(),
                    share,
                });
            }
        };
        let mut left = 1.0;
        let baseline = m.rollout.as_ref().map_or(m.baseline, |r| r.baseline);
        for h in &m.holdouts {
            let share = left * frac(h.buckets);
            add(Reason::Holdout, Some(&h.name), baseline, share);
            left -= share;
        }
        // Fraction of each layer's buckets taken by the experiments already counted.
        let mut layer_taken: HashMap<u64, f64> = HashMap::new();
        for e in &m.experiments {
            let inside = match &e.membership {
                Membership::Own { buckets, .. } => frac(*buckets),
                Membership::Layer { salt, ranges } => {
                    let own: f64 = ranges.iter().map(|&(lo, hi)| frac(hi - lo)).sum();
                    let taken = layer_taken.entry(*salt).or_insert(0.0);
                    let given_not_taken = if *taken < 1.0 {
                        own / (1.0 - *taken)
                    } else {
                        0.0
                    };
                    *taken += own;
                    given_not_taken
                }
            };
            let share = left * inside.min(1.0);
            for (i, part) in e.pick.shares() {
                add(Reason::Experiment, Some(&e.name), i, share * part);
            }
            left -= share;
        }
        if let Some(r) = &m.rollout {
            let name = Some(r.name.as_str());
            match r.status {
                RolloutStatus::RolledBack => {
                    add(Reason::RolledBack, name, r.baseline, left);
                    left = 0.0;
                }
                RolloutStatus::Completed => {
                    add(Reason::Completed, name, r.candidate, left);
                    left = 0.0;
                }
                _ => {
                    let candidate = left * frac(r.candidate_below);
                    match &r.experiment {
                        Some(e) => {
                            for (i, part) in e.pick.shares() {
                                add(Reason::Experiment, Some(&e.name), i, candidate * part);
                            }
                        }
                        None => add(Reason::Candidate, name, r.candidate, candidate),
                    }
                    let control = left * frac(BUCKETS.saturating_sub(r.control_from));
                    add(Reason::Control, name, r.baseline, control);
                    left -= candidate + control;
                    add(Reason::Default, None, r.baseline, left);
                    left = 0.0;
                }
            }
        }
        add(Reason::Default, None, m.baseline, left);
        Some(slices)
    }

    /// Assigns `unit` of `model` at time `now` (which only switchback experiments read). `force`
    /// asks for a variant (QA); the caller decides whether the requester may force.
    pub fn assign<'a>(
        &'a self,
        model: &str,
        unit: &str,
        force: Option<&str>,
        now: Millis,
    ) -> Result<Assignment<'a>, AssignError> {
        let m = self
            .models
            .get(model)
            .ok_or_else(|| AssignError::UnknownModel {
                model: model.to_string(),
                known: self.names.join(", "),
            })?;
        let variant = |i: u16| m.variants[i as usize].as_str();
        if let Some(f) = force {
            let i = *m.index.get(f).ok_or_else(|| AssignError::UnknownVariant {
                model: model.to_string(),
                variant: f.to_string(),
                known: m.variants.join(", "),
            })?;
            return Ok(Assignment {
                variant: variant(i),
                reason: Reason::Forced,
                entity: None,
            });
        }
        if let Some(&i) = m.forced.get(unit) {
            return Ok(Assignment {
                variant: variant(i),
                reason: Reason::Forced,
                entity: None,
            });
        }
        // Holdout units keep the baseline the rollout started from, even after it completes.
        let baseline = m.rollout.as_ref().map_or(m.baseline, |r| r.baseline);
        for h in &m.holdouts {
            if bucket(h.salt, unit) < h.buckets {
                return Ok(Assignment {
                    variant: variant(baseline),
                    reason: Reason::Holdout,
                    entity: Some((EntityKind::Holdout, &h.name)),
                });
            }
        }
        for e in &m.experiments {
            let inside = match &e.membership {
                Membership::Own { salt, buckets } => bucket(*salt, unit) < *buckets,
                Membership::Layer { salt, ranges } => {
                    let b = bucket(*salt, unit);
                    ranges.iter().any(|&(lo, hi)| lo <= b && b < hi)
                }
            };
            if inside {
                let i = e.pick.variant(unit, now, baseline);
                return Ok(Assignment {
                    variant: variant(i),
                    reason: Reason::Experiment,
                    entity: Some((EntityKind::Experiment, &e.name)),
                });
            }
        }
        if let Some(r) = &m.rollout {
            let entity = Some((EntityKind::Rollout, r.name.as_str()));
            match r.status {
                RolloutStatus::RolledBack => {
                    return Ok(Assignment {
                        variant: variant(r.baseline),
                        reason: Reason::RolledBack,
                        entity,
                    })
                }
                RolloutStatus::Completed => {
                    return Ok(Assignment {
                        variant: variant(r.candidate),
                        reason: Reason::Completed,
                        entity,
                    })
                }
                _ => {
                    let b = bucket(r.salt, unit);
                    if let (true, Some(e)) = (b < r.candidate_below, &r.experiment) {
                        return Ok(Assignment {
                            variant: variant(e.pick.variant(unit, now, r.candidate)),
                            reason: Reason::Experiment,
                            entity: Some((EntityKind::Experiment, e.name.as_str())),
                        });
                    }
                    if b < r.candidate_below {
                        return Ok(Assignment {
                            variant: variant(r.candidate),
                            reason: Reason::Candidate,
                            entity,
                        });
                    }
                    if b >= r.control_from {
                        return Ok(Assignment {
                            variant: variant(r.baseline),
                            reason: Reason::Control,
                            entity,
                        });
                    }
                    return Ok(Assignment {
                        variant: variant(r.baseline),
                        reason: Reason::Default,
                        entity: None,
                    });
                }
            }
        }
        Ok(Assignment {
            variant: variant(m.baseline),
            reason: Reason::Default,
            entity: None,
        })
    }
}

/// Splits the buckets among variants in proportion to their weights (equal when none).
fn cumulative_cut(variants: &[u16], weights: Option<&[f64]>) -> Vec<(u32, u16)> {
    let w: Vec<f64> = match weights {
        Some(w) if w.len() == variants.len() => w.to_vec(),
        _ => vec![1.0; variants.len()],
    };
    let total: f64 = w.iter().sum();
    let mut acc = 0.0;
    let mut cut = Vec::with_capacity(variants.len());
    for (i, (&v, wi)) in variants.iter().zip(&w).enumerate() {
        acc += wi;
        let hi = if i + 1 == variants.len() {
            BUCKETS
        } else {
            ((acc / total) * BUCKETS as f64).round() as u32
        };
        cut.push((hi, v));
    }
    cut
}
