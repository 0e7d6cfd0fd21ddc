//! rampart-sim: simulated traffic and outcomes that drive rampart's real decision logic — the same
//! assigner, evidence aggregator and controller decision (`tick::plan_tick`: stage experiments,
//! winner hand-offs, gate analysis and state machines) the server runs — on simulated time, so a
//! whole staged rollout plays out in milliseconds.
//!
//! - A [`Traffic`] model says how many units arrive per hour (with a daily cycle), which segment
//!   each belongs to, and how each variant behaves; a [`World`] adds time-of-day effects, novelty
//!   decay and delayed conversions, and draws one seed's units with common random numbers.
//! - [`run_rollout`] plays one rollout to its end (or a horizon) and returns what happened.
//! - A [`Scenario`] ([`parse_scenario`]) describes a release to rehearse; [`run_seed`] plays the
//!   release strategies on one seed ([`StrategyKind`]) and [`summarize`] turns many seeds into
//!   per-strategy figures. `rampart simulate` is the command around them.

mod rollout;
mod scenario;
mod strategy;
mod summary;
mod traffic;
mod world;

pub use rollout::{run_rollout, run_rollout_in, RolloutRun, RunOptions};
pub use scenario::{
    parse_scenario, AbSettings, ClickModel, FixedThreshold, Promote, Ranker, Ranking, Scenario,
    SimMetric, ThresholdCheck, METRICS,
};
pub use strategy::{
    assess_interval, planned_units_per_arm, run_seed, step_threshold, ArmInterval, Ending,
    IntervalResult, StrategyKind, StrategyRun, ThresholdState, ThresholdStep,
};
pub use summary::{quantile, summarize, StrategySummary};
pub use traffic::{Behaviour, Segment, Traffic};
pub use world::{draws, Arrivals, Daily, Draws, Dynamics, Novelty, Outcome, Unit, World, HOUR_MS};
