//! Split experiments: analysis, stopping rules and lifecycle, all pure.
//!
//! - [`analyze`] turns an experiment's evidence into an [`ExperimentReport`]: per metric and per
//!   variant against the control (the first variant; for `switchback`, on window-level values),
//!   values, lifts with intervals,
//!   fixed-horizon and always-valid p-values adjusted across the family, the sample-ratio check,
//!   the fixed-horizon sample size, a segment breakdown that flags where a variant is worse, and
//!   a CUPED-adjusted lift beside each comparison whose arms carry pre-exposure covariates
//!   (informative: the stopping rule reads the unadjusted tests);
//! - [`decide`] applies the stopping rule (`fixed` or `sequential`) to a report: a [`Verdict`];
//! - [`step`] moves the state machine (draft → running → stopped) on a command or a verdict and
//!   returns the actions (decision log entries, a rollout to start for the winner);
//! - [`check_preregistration`] lists what a reload would change of the plan fixed at start;
//! - [`look`] is one look of the controller: analyze, decide, step; [`look_with_readings`] adds
//!   the values of `prometheus` metrics read at the look, and their `limits`;
//! - [`analyze_interleaving`] reads the per-unit preferences of an interleaving design
//!   (`team-draft`, `balanced`, `probabilistic`, `team-draft-multileave`), which `analyze` and
//!   `decide` use for those designs;
//! - [`holdout_report`] compares a holdout's units with the exposed units of each model.
//!
//! `docs/experiments.md` has the formulas and the rules.

mod compare;
mod decide;
mod holdout;
mod interleaving;
mod lifecycle;
mod preregistration;
mod report;
mod switchback;

pub use compare::{CupedLift, Lift};
pub use decide::{decide, Verdict};
pub use holdout::{holdout_report, ExposedSource, HoldoutComparison, HoldoutReport, HOLDOUT_ALPHA};
pub use interleaving::{
    always_valid_preference, analyze_interleaving, analyze_pair, interleaving_method, unit_scores,
    InterleavingReport, InterleavingSampleSize, Preference, BOOTSTRAP_RESAMPLES,
};
pub use lifecycle::{describe, step, Action, Command, IllegalCommand, Input, BREACH_PREFIX};
pub use preregistration::{check_preregistration, PreRegistration};
pub use report::{
    analyze, analyze_with_readings, experiment_queries, ArmSummary, ArmTarget, Direction,
    ExperimentReport, LimitVerdict, MetricComparison, ProviderValues, Role, SampleSizePlan,
    SegmentFlag, SegmentReport, SrmCheck, SRM_ALPHA,
};
pub use switchback::{SwitchbackSummary, WindowCount, WindowObservation};

use std::collections::BTreeMap;

use crate::analysis::provider::Readings;
use crate::config::{Config, Experiment};
use crate::evidence::EntityEvidence;
use crate::record::{EntityKind, Millis};
use crate::state::{ExperimentState, ExperimentStatus};

/// One look of the controller at one experiment: the report, the verdict, and the step they
/// lead to. `report` and `verdict` are `None` when the experiment is not running.
#[derive(Debug, Clone, PartialEq)]
pub struct Look {
    pub next: ExperimentState,
    pub actions: Vec<Action>,
    pub report: Option<ExperimentReport>,
    pub verdict: Option<Verdict>,
}

/// Analyzes a running experiment, applies its stopping rule and steps the state machine; an
/// experiment that is not running is left as it is. Missing evidence counts as no data.
pub fn look(
    experiment: &Experiment,
    config: &Config,
    state: &ExperimentState,
    evidence: Option<&EntityEvidence>,
    now: Millis,
) -> Look {
    look_with_readings(experiment, config, state, evidence, &Readings::new(), now)
}

/// [`look`], with the readings of the experiment's provider queries (see [`experiment_queries`]).
pub fn look_with_readings(
    experiment: &Experiment,
    config: &Config,
    state: &ExperimentState,
    evidence: Option<&EntityEvidence>,
    readings: &Readings,
    now: Millis,
) -> Look {
    if state.status != ExperimentStatus::Running {
        return Look {
            next: state.clone(),
            actions: Vec::new(),
            report: None,
            verdict: None,
        };
    }
    let empty;
    let evidence = match evidence {
        Some(e) => e,
        None => {
            empty = EntityEvidence {
                kind: EntityKind::Experiment,
                name: experiment.name.clone(),
                model: experiment.model.clone(),
                bucket_ms: 0,
                variants: BTreeMap::new(),
                segments: Vec::new(),
                buckets: Vec::new(),
                cohorts: Vec::new(),
                interleaving: None,
            };
            &empty
        }
    };
    let report = analyze_with_readings(experiment, config, evidence, readings, now);
    let verdict = decide(&report, experiment, state.started_at.unwrap_or(now), now);
    let input = lifecycle::Input::Tick {
        verdict: &verdict,
        report: &report,
    };
    let (next, actions) = match step(experiment, state, input, now) {
        Ok(done) => done,
        Err(_) => (state.clone(), Vec::new()), // ticks are always legal
    };
    Look {
        next,
        actions,
        report: Some(report),
        verdict: Some(verdict),
    }
}
