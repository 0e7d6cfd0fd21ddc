//! What gets logged: exposures, outcome events, interleaved impressions and decisions, plus the
//! per-entity state that is stored so a restart resumes where it left off. Timestamps are Unix
//! milliseconds.

use serde::{Deserialize, Serialize};

use crate::config::Attributes;
use crate::interleave::Impression;

/// Unix time in milliseconds. Passed in everywhere; the core holds no clock.
pub type Millis = i64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntityKind {
    Rollout,
    Experiment,
    Holdout,
    Layer,
}

impl EntityKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EntityKind::Rollout => "rollout",
            EntityKind::Experiment => "experiment",
            EntityKind::Holdout => "holdout",
            EntityKind::Layer => "layer",
        }
    }

    pub fn parse(s: &str) -> Option<EntityKind> {
        Some(match s {
            "rollout" => EntityKind::Rollout,
            "experiment" => EntityKind::Experiment,
            "holdout" => EntityKind::Holdout,
            "layer" => EntityKind::Layer,
            _ => return None,
        })
    }
}

/// Why a unit got its variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    /// A QA override: a unit key listed in config, or a forced variant in the request.
    Forced,
    /// The unit is in a holdout and keeps the baseline.
    Holdout,
    /// The unit is in an experiment's traffic and got one of its variants.
    Experiment,
    /// The unit is in a rollout's candidate slice.
    Candidate,
    /// The unit is in a rollout's concurrent control slice (baseline).
    Control,
    /// The rollout was rolled back: baseline for everyone.
    RolledBack,
    /// The rollout completed: the candidate for everyone.
    Completed,
    /// Nothing applied: the model's baseline.
    Default,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Forced => "forced",
            Reason::Holdout => "holdout",
            Reason::Experiment => "experiment",
            Reason::Candidate => "candidate",
            Reason::Control => "control",
            Reason::RolledBack => "rolled-back",
            Reason::Completed => "completed",
            Reason::Default => "default",
        }
    }

    pub fn parse(s: &str) -> Option<Reason> {
        Some(match s {
            "forced" => Reason::Forced,
            "holdout" => Reason::Holdout,
            "experiment" => Reason::Experiment,
            "candidate" => Reason::Candidate,
            "control" => Reason::Control,
            "rolled-back" => Reason::RolledBack,
            "completed" => Reason::Completed,
            "default" => Reason::Default,
            _ => return None,
        })
    }
}

/// A logged assignment: the unit saw this variant at this time, because of this entity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Exposure {
    pub ts: Millis,
    pub model: String,
    pub unit: String,
    pub variant: String,
    pub reason: Reason,
    /// The rollout, experiment or holdout that decided; none for the default.
    pub entity: Option<(EntityKind, String)>,
    pub assignment_id: u64,
    /// Values of the configured segment attributes found in the request context.
    #[serde(default)]
    pub segments: Attributes,
}

/// Something that happened after an exposure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutcomeEvent {
    /// Client-chosen id; a repeated id is a duplicate and counts once.
    pub id: String,
    /// The event type, e.g. `purchase`.
    #[serde(rename = "type")]
    pub kind: String,
    pub unit: String,
    pub model: String,
    #[serde(default)]
    pub value: Option<f64>,
    pub ts: Millis,
    #[serde(default)]
    pub attributes: Attributes,
}

/// A logged interleaved result list of an interleaving experiment: what the unit was shown and
/// which variant placed each item, so that later clicks (events carrying `impression_id` and
/// `item` attributes) can be credited.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImpressionRecord {
    pub ts: Millis,
    pub model: String,
    pub experiment: String,
    pub unit: String,
    /// Unique per impression; clicks name it.
    pub impression_id: String,
    /// The method, the input rankings and the list with each item's team.
    pub impression: Impression,
    /// The variant name of each ranking index of `impression`.
    pub variants: Vec<String>,
}

/// One entry of the append-only log the store keeps in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Exposure(Exposure),
    Event(OutcomeEvent),
    Impression(ImpressionRecord),
}

/// An entry of the decision log: what the controller (or a person) did, why, and on what evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// Assigned by the store; 0 before it is stored.
    #[serde(default)]
    pub id: i64,
    pub ts: Millis,
    pub entity_kind: EntityKind,
    pub entity: String,
    /// What was done: `start`, `advance`, `hold`, `rollback`, `winner`, …
    pub action: String,
    pub from_state: String,
    pub to_state: String,
    pub reason: String,
    /// `controller`, or the person or token that asked.
    pub actor: String,
    /// Metric values, intervals and p-values the decision rests on.
    #[serde(default)]
    pub evidence: serde_json::Value,
}

/// Stored per rollout, experiment, holdout and layer: its salt (fixed at creation) and its live
/// state as JSON owned by the core.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntityRecord {
    pub kind: EntityKind,
    pub name: String,
    pub salt: u64,
    pub state: serde_json::Value,
    pub updated_at: Millis,
}
