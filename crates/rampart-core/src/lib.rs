//! rampart-core: the pure domain of rampart.
//!
//! - [`config`]: the schema of the one config file, its loading and validation;
//! - [`analysis`]: turns a rollout's evidence into gate verdicts (pass, fail with harm, inconclusive);
//! - [`assign`]: the [`Assigner`], compiled from config and live state, that maps a unit to a variant;
//! - [`record`]: exposures, outcome events and decisions as they are logged;
//! - [`evidence`]: folds exposures and outcome events into per-variant sufficient statistics.
//!
//! Nothing here does IO, reads a clock or spawns a task: time is always passed in.

pub mod analysis;
pub mod assign;
pub mod config;
pub mod evidence;
pub mod record;
pub mod rollout;
pub mod state;

pub use assign::{AssignError, Assigner, Assignment};

pub use config::Config;
pub use record::{
    Decision, EntityKind, EntityRecord, Exposure, Millis, OutcomeEvent, Reason, Record,
};
