//! Experiments inside rollout stages, pure. A stage may name an experiment (`stages[i].experiment`)
//! to run among candidates: while the rollout is in that stage, the rollout's candidate slice is
//! split among the experiment's variants (the control slice keeps the baseline), and the stage ends
//! on the experiment's verdict.
//!
//! - [`current_experiment`]: the experiment a rollout's current stage runs, if any;
//! - [`assess`]: what that experiment tells the rollout ([`StageExperiment`]);
//! - [`plan_stage_experiments`]: the starts and stops that follow from stages beginning and ending,
//!   as experiment steps (decision log entries and new states) for the controller to apply.
//!
//! The assigner reads [`is_stage_experiment`]: such an experiment never takes units of its own.

use serde::Serialize;

use crate::config::{Config, Experiment, Rollout};
use crate::evidence::EntityEvidence;
use crate::experiment::{self, Command, Input};
use crate::record::Millis;
use crate::state::{ExperimentState, ExperimentStatus, LiveState, RolloutState};

/// The actor a rollout's starts and stops of its stage experiments are logged under.
pub fn actor(rollout: &str) -> String {
    format!("rollout:{rollout}")
}

/// Whether some rollout stage names experiment `name`.
pub fn is_stage_experiment(config: &Config, name: &str) -> bool {
    config
        .rollouts
        .iter()
        .flat_map(|r| &r.stages)
        .any(|s| s.experiment.as_deref() == Some(name))
}

/// The experiment the rollout's current stage runs: only while the rollout serves its slices
/// (running, awaiting approval or paused).
pub fn current_experiment<'a>(rollout: &'a Rollout, state: &RolloutState) -> Option<&'a str> {
    if !state.status.serves_slices() {
        return None;
    }
    rollout.stages.get(state.stage)?.experiment.as_deref()
}

/// What a stage's experiment says to its rollout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum StageOutcome {
    /// Not started yet, or running without a verdict: the stage waits.
    Running,
    /// The experiment stopped with this winner: it becomes the rollout's candidate.
    Winner { variant: String },
    /// A variant harmed one of the experiment's guardrails: the stage fails.
    Breach { reason: String },
    /// The experiment stopped without a winner (no difference, maximum duration, manual stop).
    NoWinner { reason: String },
}

/// A stage experiment as the rollout's look sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StageExperiment {
    pub experiment: String,
    pub outcome: StageOutcome,
    /// Units of the experiment's smallest arm: what the stage's `min_units` counts.
    pub smallest_arm: u64,
}

/// Reads a stage experiment's state (and evidence, for its units) as the rollout needs it.
pub fn assess(
    experiment: &Experiment,
    state: &ExperimentState,
    evidence: Option<&EntityEvidence>,
) -> StageExperiment {
    let outcome = match (state.status, &state.winner) {
        (ExperimentStatus::Draft | ExperimentStatus::Running, _) => StageOutcome::Running,
        (ExperimentStatus::Stopped, Some(w)) => StageOutcome::Winner { variant: w.clone() },
        (ExperimentStatus::Stopped, None) => {
            let reason = state
                .reason
                .clone()
                .unwrap_or_else(|| "stopped".to_string());
            if reason.starts_with(experiment::BREACH_PREFIX) {
                StageOutcome::Breach { reason }
            } else {
                StageOutcome::NoWinner { reason }
            }
        }
    };
    let smallest_arm = experiment
        .variants
        .iter()
        .map(|v| {
            evidence
                .and_then(|e| e.variants.get(v))
                .map_or(0, |x| x.units)
        })
        .min()
        .unwrap_or(0);
    StageExperiment {
        experiment: experiment.name.clone(),
        outcome,
        smallest_arm,
    }
}

/// One stage experiment's start or stop: its next state and the actions (decision log entries).
#[derive(Debug, Clone, PartialEq)]
pub struct StageChange {
    pub experiment: String,
    pub next: ExperimentState,
    pub actions: Vec<experiment::Action>,
}

/// The starts and stops the rollouts' current stages call for: an experiment named by a stage
/// starts (from draft) when its rollout is in that stage, and stops (when running) once no
/// rollout is in a stage that names it. A stopped experiment is never started again.
pub fn plan_stage_experiments(config: &Config, live: &LiveState, now: Millis) -> Vec<StageChange> {
    let mut out = Vec::new();
    for e in &config.experiments {
        let Some(state) = live.experiments.get(&e.name) else {
            continue;
        };
        // Rollouts naming `e` in a stage, with the stage they are in when it is that one.
        let mut named_by = None;
        let mut wanted_by = None;
        for r in config.rollouts.iter().filter(|r| r.model == e.model) {
            let Some(k) = r
                .stages
                .iter()
                .position(|s| s.experiment.as_deref() == Some(e.name.as_str()))
            else {
                continue;
            };
            named_by.get_or_insert((r, k));
            let in_stage = live
                .rollouts
                .get(&r.name)
                .is_some_and(|st| current_experiment(r, st) == Some(e.name.as_str()));
            if in_stage && wanted_by.is_none() {
                let stage = live.rollouts.get(&r.name).map_or(k, |st| st.stage);
                wanted_by = Some((r, stage));
            }
        }
        let (command, (r, k), why) = match (state.status, wanted_by, named_by) {
            (ExperimentStatus::Draft, Some(at), _) => (Command::Start, at, "began"),
            (ExperimentStatus::Running, None, Some(at)) => (Command::Stop, at, "ended"),
            _ => continue,
        };
        let actor = actor(&r.name);
        let reason = match command {
            Command::Start => format!(
                "stage {} of rollout {:?} {why}: the experiment runs in the rollout's candidate slice during that stage",
                k + 1,
                r.name
            ),
            Command::Stop => format!("stage {} of rollout {:?} {why}", k + 1, r.name),
        };
        let input = Input::Command {
            command,
            actor: &actor,
            reason: &reason,
        };
        if let Ok((next, actions)) = experiment::step(e, state, input, now) {
            out.push(StageChange {
                experiment: e.name.clone(),
                next,
                actions,
            });
        }
    }
    out
}
