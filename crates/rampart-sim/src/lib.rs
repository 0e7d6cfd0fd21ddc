//! rampart-sim: simulated traffic and outcomes that drive rampart's real decision logic — the same
//! assigner, evidence aggregator, gate analysis and rollout state machine the server runs — on
//! simulated time, so a whole staged rollout plays out in milliseconds.
//!
//! A [`Traffic`] model says how many units arrive per hour (with an optional daily cycle), which
//! segment each belongs to, and how each variant behaves (conversion and error rates, per segment).
//! [`run_rollout`] plays one rollout to its end (or a horizon) and returns what happened.

mod rollout;
mod traffic;

pub use rollout::{run_rollout, RolloutRun, RunOptions};
pub use traffic::{Behaviour, Segment, Traffic};
