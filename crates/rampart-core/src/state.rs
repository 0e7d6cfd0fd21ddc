//! Live state: what the config alone cannot say and the store keeps — each entity's salt (fixed at
//! creation), each rollout's stage and traffic share, each experiment's status, each layer's
//! allocation of buckets. `reconcile` merges a config with what was stored, purely.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::assign::BUCKETS;
use crate::config::Config;
use crate::record::{EntityKind, EntityRecord, Millis};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RolloutStatus {
    /// Configured with `autostart = false` and not started yet: no traffic.
    Pending,
    Running,
    AwaitingApproval,
    Paused,
    RolledBack,
    Completed,
}

impl RolloutStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RolloutStatus::Pending => "pending",
            RolloutStatus::Running => "running",
            RolloutStatus::AwaitingApproval => "awaiting-approval",
            RolloutStatus::Paused => "paused",
            RolloutStatus::RolledBack => "rolled-back",
            RolloutStatus::Completed => "completed",
        }
    }

    /// Whether the candidate currently serves a slice of traffic next to a control slice.
    pub fn serves_slices(self) -> bool {
        matches!(
            self,
            RolloutStatus::Running | RolloutStatus::AwaitingApproval | RolloutStatus::Paused
        )
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RolloutState {
    pub status: RolloutStatus,
    /// Index into the rollout's stages.
    pub stage: usize,
    /// Percent of traffic on the candidate, as last applied (stored, not recomputed from config).
    pub traffic: f64,
    pub started_at: Option<Millis>,
    pub stage_started_at: Option<Millis>,
    /// Time spent paused during the current stage; it does not count toward the stage's duration.
    #[serde(default)]
    pub paused_ms: i64,
    /// When the current pause began.
    #[serde(default)]
    pub paused_at: Option<Millis>,
    /// The status a `resume` returns to.
    #[serde(default)]
    pub resume_to: Option<RolloutStatus>,
    /// Looks in a row at which a metric provider failed.
    #[serde(default)]
    pub consecutive_errors: u32,
    /// Why the rollout is in its status, in words.
    #[serde(default)]
    pub reason: Option<String>,
    /// Overrides the configured candidate: set when an experiment's winner starts the rollout.
    #[serde(default)]
    pub candidate: Option<String>,
}

impl RolloutState {
    /// A rollout that has not started (`autostart = false`).
    pub fn pending() -> RolloutState {
        RolloutState {
            status: RolloutStatus::Pending,
            stage: 0,
            traffic: 0.0,
            started_at: None,
            stage_started_at: None,
            paused_ms: 0,
            paused_at: None,
            resume_to: None,
            consecutive_errors: 0,
            reason: None,
            candidate: None,
        }
    }

    /// The variant the rollout ramps up: the override when set, else the configured candidate.
    pub fn candidate_of<'a>(&'a self, rollout: &'a crate::config::Rollout) -> &'a str {
        self.candidate.as_deref().unwrap_or(&rollout.candidate)
    }

    /// Time spent in the current stage, not counting pauses.
    pub fn stage_elapsed(&self, now: Millis) -> i64 {
        let Some(start) = self.stage_started_at else {
            return 0;
        };
        let paused_now = self.paused_at.map_or(0, |p| now - p);
        (now - start - self.paused_ms - paused_now).max(0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExperimentStatus {
    Draft,
    Running,
    Stopped,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExperimentState {
    pub status: ExperimentStatus,
    pub started_at: Option<Millis>,
    pub stopped_at: Option<Millis>,
    #[serde(default)]
    pub winner: Option<String>,
    /// What was fixed when the experiment started; a reload may not change it while running.
    #[serde(default)]
    pub preregistration: Option<crate::experiment::PreRegistration>,
    /// Why the experiment is in its status, in words.
    #[serde(default)]
    pub reason: Option<String>,
}

/// A layer's buckets (of the layer's own hash) given to each experiment, as half-open ranges.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LayerState {
    pub slots: BTreeMap<String, Vec<(u32, u32)>>,
}

impl LayerState {
    fn used(&self) -> Vec<(u32, u32)> {
        let mut all: Vec<(u32, u32)> = self.slots.values().flatten().copied().collect();
        all.sort_unstable();
        all
    }

    /// Gives `experiment` exactly `want` buckets: keeps what it has (trimmed from the end when it
    /// shrinks), and takes free buckets lowest first when it grows. Returns false when the layer
    /// has too few free buckets.
    fn allocate(&mut self, experiment: &str, want: u32) -> bool {
        let mut mine = self.slots.remove(experiment).unwrap_or_default();
        let mut have: u32 = mine.iter().map(|(a, b)| b - a).sum();
        while have > want {
            let (a, b) = mine.pop().expect("have > 0 means a range exists");
            let excess = have - want;
            if b - a > excess {
                mine.push((a, b - excess));
                have = want;
            } else {
                have -= b - a;
            }
        }
        if have < want {
            let mut used = self.used();
            used.extend(mine.iter().copied());
            used.sort_unstable();
            let mut cursor = 0;
            let mut free = Vec::new();
            for (a, b) in used
                .iter()
                .copied()
                .chain(std::iter::once((BUCKETS, BUCKETS)))
            {
                if a > cursor {
                    free.push((cursor, a));
                }
                cursor = cursor.max(b);
            }
            let available: u32 = free.iter().map(|(a, b)| b - a).sum();
            if available < want - have {
                self.slots.insert(experiment.to_string(), mine);
                return false;
            }
            for (a, b) in free {
                if have == want {
                    break;
                }
                let take = (b - a).min(want - have);
                mine.push((a, a + take));
                have += take;
            }
            mine.sort_unstable();
            // Merge touching ranges so the stored form stays small.
            let mut merged: Vec<(u32, u32)> = Vec::new();
            for (a, b) in mine {
                match merged.last_mut() {
                    Some(last) if last.1 == a => last.1 = b,
                    _ => merged.push((a, b)),
                }
            }
            mine = merged;
        }
        self.slots.insert(experiment.to_string(), mine);
        true
    }
}

/// Everything the assigner needs beyond the config.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LiveState {
    pub salts: BTreeMap<(EntityKind, String), u64>,
    pub rollouts: BTreeMap<String, RolloutState>,
    pub experiments: BTreeMap<String, ExperimentState>,
    pub layers: BTreeMap<String, LayerState>,
}

impl LiveState {
    pub fn salt(&self, kind: EntityKind, name: &str) -> u64 {
        self.salts
            .get(&(kind, name.to_string()))
            .copied()
            .unwrap_or(0)
    }
}

/// A problem that stops a config from being applied to the live state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReconcileError {
    #[error("layer {layer:?} has too few free buckets for experiment {experiment:?} ({want} of 10000 needed)")]
    LayerFull {
        layer: String,
        experiment: String,
        want: u32,
    },
    #[error("stored state of {kind} {name:?} cannot be read: {message}")]
    BadState {
        kind: &'static str,
        name: String,
        message: String,
    },
}

/// The outcome of merging a config with stored records.
#[derive(Debug, Clone, PartialEq)]
pub struct Reconciled {
    pub state: LiveState,
    /// Records that are new or changed and must be stored.
    pub save: Vec<EntityRecord>,
    /// (kind, old name, new name) for entities renamed with `renamed_from`.
    pub renames: Vec<(EntityKind, String, String)>,
}

/// The salt a config pins with `salt = "..."`.
pub fn pinned_salt(text: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(text.as_bytes())
}

/// Merges `config` with `stored` records at time `now`. Entities seen for the first time get a salt
/// from `fresh_salt` (or their pinned salt) and their initial state; entities already stored keep
/// salt and state. `renamed_from` carries an old record over to the new name.
pub fn reconcile(
    config: &Config,
    stored: &[EntityRecord],
    now: Millis,
    fresh_salt: &mut dyn FnMut() -> u64,
) -> Result<Reconciled, ReconcileError> {
    let by_key: BTreeMap<(EntityKind, &str), &EntityRecord> = stored
        .iter()
        .map(|r| ((r.kind, r.name.as_str()), r))
        .collect();
    let mut out = Reconciled {
        state: LiveState::default(),
        save: Vec::new(),
        renames: Vec::new(),
    };

    // Finds the stored record of an entity (following a rename) or creates one.
    let mut entity = |kind: EntityKind,
                      name: &str,
                      renamed_from: Option<&str>,
                      salt: Option<&str>,
                      initial: serde_json::Value,
                      out: &mut Reconciled|
     -> EntityRecord {
        let existing = by_key.get(&(kind, name)).copied().or_else(|| {
            let old = renamed_from?;
            let rec = by_key.get(&(kind, old)).copied()?;
            out.renames.push((kind, old.to_string(), name.to_string()));
            Some(rec)
        });
        match existing {
            Some(rec) => EntityRecord {
                name: name.to_string(),
                ..rec.clone()
            },
            None => {
                let rec = EntityRecord {
                    kind,
                    name: name.to_string(),
                    salt: salt.map(pinned_salt).unwrap_or_else(&mut *fresh_salt),
                    state: initial,
                    updated_at: now,
                };
                out.save.push(rec.clone());
                rec
            }
        }
    };

    for h in &config.holdouts {
        let rec = entity(
            EntityKind::Holdout,
            &h.name,
            h.renamed_from.as_deref(),
            h.salt.as_deref(),
            serde_json::Value::Null,
            &mut out,
        );
        out.state
            .salts
            .insert((EntityKind::Holdout, h.name.clone()), rec.salt);
    }

    for r in &config.rollouts {
        let initial = if r.autostart {
            RolloutState {
                status: RolloutStatus::Running,
                traffic: r.stages.first().map(|s| s.traffic).unwrap_or(0.0),
                started_at: Some(now),
                stage_started_at: Some(now),
                ..RolloutState::pending()
            }
        } else {
            RolloutState::pending()
        };
        let rec = entity(
            EntityKind::Rollout,
            &r.name,
            r.renamed_from.as_deref(),
            r.salt.as_deref(),
            to_json(&initial),
            &mut out,
        );
        let state: RolloutState = from_json(EntityKind::Rollout, &rec)?;
        out.state
            .salts
            .insert((EntityKind::Rollout, r.name.clone()), rec.salt);
        out.state.rollouts.insert(r.name.clone(), state);
    }

    for e in &config.experiments {
        // A stage's experiment waits, as a draft, for its rollout to reach that stage.
        let autostart = e.autostart && !crate::stage::is_stage_experiment(config, &e.name);
        let initial = ExperimentState {
            status: if autostart {
                ExperimentStatus::Running
            } else {
                ExperimentStatus::Draft
            },
            started_at: autostart.then_some(now),
            stopped_at: None,
            winner: None,
            preregistration: autostart.then(|| crate::experiment::PreRegistration::of(e)),
            reason: None,
        };
        let rec = entity(
            EntityKind::Experiment,
            &e.name,
            e.renamed_from.as_deref(),
            e.salt.as_deref(),
            to_json(&initial),
            &mut out,
        );
        let state: ExperimentState = from_json(EntityKind::Experiment, &rec)?;
        out.state
            .salts
            .insert((EntityKind::Experiment, e.name.clone()), rec.salt);
        out.state.experiments.insert(e.name.clone(), state);
    }

    let mut layer_names: Vec<&str> = config
        .experiments
        .iter()
        .filter_map(|e| e.layer.as_deref())
        .collect();
    layer_names.sort_unstable();
    layer_names.dedup();
    for layer in layer_names {
        let rec = entity(
            EntityKind::Layer,
            layer,
            None,
            None,
            to_json(&LayerState::default()),
            &mut out,
        );
        let salt = rec.salt;
        let mut state: LayerState = from_json(EntityKind::Layer, &rec)?;
        let before = state.clone();
        let members: Vec<&crate::config::Experiment> = config
            .experiments
            .iter()
            .filter(|e| e.layer.as_deref() == Some(layer))
            .collect();
        // A renamed experiment keeps its buckets.
        for e in &members {
            if let Some(old) = e.renamed_from.as_deref() {
                if !state.slots.contains_key(&e.name) {
                    if let Some(ranges) = state.slots.remove(old) {
                        state.slots.insert(e.name.clone(), ranges);
                    }
                }
            }
        }
        state
            .slots
            .retain(|name, _| members.iter().any(|e| &e.name == name));
        for e in &members {
            let want = percent_to_buckets(e.traffic);
            if !state.allocate(&e.name, want) {
                return Err(ReconcileError::LayerFull {
                    layer: layer.to_string(),
                    experiment: e.name.clone(),
                    want,
                });
            }
        }
        if state != before {
            let updated = EntityRecord {
                state: to_json(&state),
                updated_at: now,
                ..rec
            };
            out.save
                .retain(|r| !(r.kind == EntityKind::Layer && r.name == layer));
            out.save.push(updated);
        }
        out.state
            .salts
            .insert((EntityKind::Layer, layer.to_string()), salt);
        out.state.layers.insert(layer.to_string(), state);
    }
    Ok(out)
}

/// Percent of traffic (0..=100) as a number of buckets out of 10,000.
pub fn percent_to_buckets(percent: f64) -> u32 {
    (percent.clamp(0.0, 100.0) * (BUCKETS as f64 / 100.0)).round() as u32
}

fn to_json<T: Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

fn from_json<T: for<'de> Deserialize<'de>>(
    kind: EntityKind,
    rec: &EntityRecord,
) -> Result<T, ReconcileError> {
    serde_json::from_value(rec.state.clone()).map_err(|e| ReconcileError::BadState {
        kind: kind.as_str(),
        name: rec.name.clone(),
        message: e.to_string(),
    })
}
