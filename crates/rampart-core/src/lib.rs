//! rampart-core: the pure domain of rampart.
//!
//! - [`config`]: the schema of the one config file, its loading and validation;
//! - [`assign`]: the [`Assigner`], compiled from config and live state, that maps a unit to a variant;
//! - [`record`]: exposures, outcome events, impressions and decisions as they are logged;
//! - [`evidence`]: folds exposures and outcome events into per-variant sufficient statistics;
//! - [`analysis`]: turns a rollout's evidence into gate verdicts (pass, fail with harm, inconclusive);
//! - [`experiment`]: analyzes split experiments, applies their stopping rules and steps their lifecycle;
//! - [`interleave`]: merges the rankings of ranking-model variants into one list and credits clicks;
//! - [`stage`]: experiments run inside a rollout stage, among the rollout's candidates;
//! - [`proxy`]: the model proxy's call plans, unit-key lookup, output comparison and events;
//! - [`tick`]: the controller's whole decision at one tick, as data the server and the simulator apply;
//! - [`verdict`]: one pass / fail / inconclusive word for a rollout's current stage (for Argo Rollouts).
//!
//! Nothing here does IO, reads a clock or spawns a task: time is always passed in.

pub mod analysis;
pub mod assign;
pub mod config;
pub mod evidence;
pub mod experiment;
pub mod interleave;
pub mod plan;
pub mod proxy;
pub mod record;
pub mod rollout;
pub mod stage;
pub mod state;
pub mod tick;
pub mod verdict;

pub use assign::{AssignError, Assigner, Assignment};

pub use config::Config;
pub use record::{
    Decision, EntityKind, EntityRecord, Exposure, ImpressionRecord, Millis, OutcomeEvent, Reason,
    Record,
};
