//! The controller's whole decision at one tick, pure: [`plan_tick`] takes the config, the live
//! state, an [`EvidenceSource`], the provider readings and `now`, and returns every [`Outcome`]
//! in the order the controller must carry them out. The server applies them (decision log and
//! stored state in one transaction, a new live view, webhooks); the simulator applies them to its
//! own state on simulated time. Both run the same decision: stage experiments, the effective
//! candidate, winner hand-offs, not only the rollout's gates.
//!
//! The order of one tick, each step seeing the state the steps before it left:
//!
//! 1. stage experiments are started and stopped to match the stages the rollouts are in (a rollout
//!    that started at load time may already be in a stage that runs an experiment);
//! 2. every rollout active at that point (running or awaiting approval), in config order: the
//!    assessment of its stage experiment, the look with its effective candidate, and when the look
//!    changes something, the rollout's change followed by the stage experiment starts and stops it
//!    calls for;
//! 3. every experiment running at that point, in config order: its look, and when it changes
//!    something, the experiment's change followed by the hand-off of a winner to the rollout its
//!    `on_winner` names (that rollout's start, then its stage experiment starts). A rollout started
//!    by a hand-off gets its first look at the next tick; an experiment a hand-off starts likewise.
//!
//! Commands take the same path: [`plan_rollout_change`] and [`plan_experiment_change`] turn one
//! entity's step into the outcomes that follow from it.

use std::borrow::Cow;

use crate::analysis::provider::Readings;
use crate::analysis::GateVerdict;
use crate::config::{Config, Rollout};
use crate::evidence::{Aggregator, EntityEvidence};
use crate::experiment::{self, ExperimentReport, Verdict};
use crate::record::{Decision, Millis};
use crate::rollout::{self, Assessment, Command, Input};
use crate::stage;
use crate::state::{ExperimentState, ExperimentStatus, LiveState, RolloutState, RolloutStatus};

/// Where a tick reads the evidence of an entity (a rollout or an experiment) by its name.
pub trait EvidenceSource {
    fn evidence(&self, entity: &str) -> Option<EntityEvidence>;
}

impl EvidenceSource for Aggregator {
    fn evidence(&self, entity: &str) -> Option<EntityEvidence> {
        Aggregator::evidence(self, entity)
    }
}

impl<F: Fn(&str) -> Option<EntityEvidence>> EvidenceSource for F {
    fn evidence(&self, entity: &str) -> Option<EntityEvidence> {
        self(entity)
    }
}

/// Why a winner's hand-off started no rollout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandOffRefusal {
    /// `on_winner` names a rollout the config does not have.
    NotConfigured,
    /// The rollout is already active; a running ramp keeps its candidate.
    AlreadyActive,
    /// The rollout's state does not allow a start (for example, it completed).
    CannotStart(String),
}

/// One thing the controller carries out, in the order [`plan_tick`] returns them.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The look at an active rollout, kept for status pages whether or not it changed anything.
    RolloutLooked {
        rollout: String,
        verdicts: Vec<GateVerdict>,
        assessment: Assessment,
    },
    /// The report and verdict of the look at a running experiment.
    ExperimentLooked {
        experiment: String,
        report: Box<ExperimentReport>,
        verdict: Option<Verdict>,
    },
    /// A rollout's new state with its decision log entries and notifications.
    Rollout {
        rollout: String,
        next: RolloutState,
        actions: Vec<rollout::Action>,
    },
    /// An experiment's new state with its decision log entries.
    Experiment {
        experiment: String,
        next: ExperimentState,
        decisions: Vec<Decision>,
    },
    /// A winner's hand-off that started nothing, and why.
    HandOffRefused {
        rollout: String,
        experiment: String,
        candidate: String,
        why: HandOffRefusal,
    },
}

/// Everything one tick decided, and the live state once all of it is applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Tick {
    pub outcomes: Vec<Outcome>,
    pub state: LiveState,
}

impl Tick {
    /// Every decision log entry of the tick, in order.
    pub fn decisions(&self) -> impl Iterator<Item = &Decision> {
        self.outcomes.iter().flat_map(|o| match o {
            Outcome::Rollout { actions, .. } => actions
                .iter()
                .filter_map(|a| match a {
                    rollout::Action::Log(d) => Some(d),
                    rollout::Action::Notify(_) => None,
                })
                .collect::<Vec<_>>(),
            Outcome::Experiment { decisions, .. } => decisions.iter().collect(),
            _ => Vec::new(),
        })
    }
}

/// The rollout as its gates must see it: with the candidate an experiment handed off, if any.
pub fn effective_rollout<'a>(rollout: &'a Rollout, state: &RolloutState) -> Cow<'a, Rollout> {
    match &state.candidate {
        Some(c) if *c != rollout.candidate => Cow::Owned(Rollout {
            candidate: c.clone(),
            ..rollout.clone()
        }),
        _ => Cow::Borrowed(rollout),
    }
}

/// Whether the controller looks at a rollout in this state.
pub fn is_looked_at(state: &RolloutState) -> bool {
    matches!(
        state.status,
        RolloutStatus::Running | RolloutStatus::AwaitingApproval
    )
}

/// The controller's whole decision at one tick (see the module doc for the order).
pub fn plan_tick(
    config: &Config,
    state: &LiveState,
    evidence: &dyn EvidenceSource,
    readings: &Readings,
    now: Millis,
) -> Tick {
    let mut plan = Plan {
        config,
        state: state.clone(),
        outcomes: Vec::new(),
        now,
    };
    plan.sync_stage_experiments();
    let active: Vec<&Rollout> = config
        .rollouts
        .iter()
        .filter(|r| plan.state.rollouts.get(&r.name).is_some_and(is_looked_at))
        .collect();
    for r in active {
        plan.look_at_rollout(r, evidence, readings);
    }
    let running: Vec<&crate::config::Experiment> = config
        .experiments
        .iter()
        .filter(|e| {
            plan.state
                .experiments
                .get(&e.name)
                .is_some_and(|s| s.status == ExperimentStatus::Running)
        })
        .collect();
    for e in running {
        plan.look_at_experiment(e, evidence, readings);
    }
    Tick {
        outcomes: plan.outcomes,
        state: plan.state,
    }
}

/// The outcomes of one rollout step (a command's, typically): the rollout's change, then the stage
/// experiment starts and stops it calls for. Empty when the step changes nothing.
pub fn plan_rollout_change(
    config: &Config,
    state: &LiveState,
    rollout: &str,
    next: RolloutState,
    actions: Vec<rollout::Action>,
    now: Millis,
) -> Tick {
    let mut plan = Plan {
        config,
        state: state.clone(),
        outcomes: Vec::new(),
        now,
    };
    plan.rollout_change(rollout, next, actions);
    Tick {
        outcomes: plan.outcomes,
        state: plan.state,
    }
}

/// The outcomes of one experiment step (a command's, typically): the experiment's change, then the
/// hand-off of a winner it declares. Empty when the step changes nothing.
pub fn plan_experiment_change(
    config: &Config,
    state: &LiveState,
    experiment: &str,
    next: ExperimentState,
    actions: Vec<experiment::Action>,
    now: Millis,
) -> Tick {
    let mut plan = Plan {
        config,
        state: state.clone(),
        outcomes: Vec::new(),
        now,
    };
    plan.experiment_change(experiment, next, actions);
    Tick {
        outcomes: plan.outcomes,
        state: plan.state,
    }
}

/// A tick being planned: the working state each step reads and changes, and what was decided.
struct Plan<'a> {
    config: &'a Config,
    state: LiveState,
    outcomes: Vec<Outcome>,
    now: Millis,
}

impl Plan<'_> {
    fn sync_stage_experiments(&mut self) {
        for change in stage::plan_stage_experiments(self.config, &self.state, self.now) {
            let decisions = change
                .actions
                .into_iter()
                .filter_map(|a| match a {
                    experiment::Action::Log(d) => Some(d),
                    experiment::Action::StartRollout { .. } => None,
                })
                .collect();
            self.state
                .experiments
                .insert(change.experiment.clone(), change.next.clone());
            self.outcomes.push(Outcome::Experiment {
                experiment: change.experiment,
                next: change.next,
                decisions,
            });
        }
    }

    fn look_at_rollout(&mut self, r: &Rollout, evidence: &dyn EvidenceSource, readings: &Readings) {
        let Some(state) = self.state.rollouts.get(&r.name).filter(|s| is_looked_at(s)) else {
            return;
        };
        let in_stage = stage::current_experiment(r, state).and_then(|name| {
            let e = self.config.experiment(name)?;
            let s = self.state.experiments.get(name)?;
            Some(stage::assess(e, s, evidence.evidence(name).as_ref()))
        });
        let rollout::Look {
            next,
            actions,
            verdicts,
            assessment,
        } = rollout::look_with_readings(
            &effective_rollout(r, state),
            self.config,
            state,
            evidence.evidence(&r.name).as_ref(),
            in_stage.as_ref(),
            readings,
            self.now,
        );
        self.outcomes.push(Outcome::RolloutLooked {
            rollout: r.name.clone(),
            verdicts,
            assessment,
        });
        self.rollout_change(&r.name, next, actions);
    }

    fn rollout_change(&mut self, name: &str, next: RolloutState, actions: Vec<rollout::Action>) {
        if self.state.rollouts.get(name) == Some(&next) && actions.is_empty() {
            return;
        }
        self.state.rollouts.insert(name.to_string(), next.clone());
        self.outcomes.push(Outcome::Rollout {
            rollout: name.to_string(),
            next,
            actions,
        });
        self.sync_stage_experiments();
    }

    fn look_at_experiment(
        &mut self,
        e: &crate::config::Experiment,
        evidence: &dyn EvidenceSource,
        readings: &Readings,
    ) {
        let Some(state) = self.state.experiments.get(&e.name) else {
            return;
        };
        let experiment::Look {
            next,
            actions,
            report,
            verdict,
        } = experiment::look_with_readings(
            e,
            self.config,
            state,
            evidence.evidence(&e.name).as_ref(),
            readings,
            self.now,
        );
        if let Some(report) = report {
            self.outcomes.push(Outcome::ExperimentLooked {
                experiment: e.name.clone(),
                report: Box::new(report),
                verdict,
            });
        }
        self.experiment_change(&e.name, next, actions);
    }

    fn experiment_change(
        &mut self,
        name: &str,
        next: ExperimentState,
        actions: Vec<experiment::Action>,
    ) {
        if self.state.experiments.get(name) == Some(&next) && actions.is_empty() {
            return;
        }
        let mut decisions = Vec::new();
        let mut hand_offs = Vec::new();
        for a in actions {
            match a {
                experiment::Action::Log(d) => decisions.push(d),
                experiment::Action::StartRollout {
                    rollout,
                    experiment,
                    candidate,
                } => hand_offs.push((rollout, experiment, candidate)),
            }
        }
        self.state
            .experiments
            .insert(name.to_string(), next.clone());
        self.outcomes.push(Outcome::Experiment {
            experiment: name.to_string(),
            next,
            decisions,
        });
        for (rollout, experiment, candidate) in hand_offs {
            self.hand_off(rollout, experiment, candidate);
        }
    }

    /// Starts `rollout` with the experiment's winner as its candidate. A rollout that is already
    /// active keeps its candidate: a running ramp is not switched under its users' feet.
    fn hand_off(&mut self, rollout: String, experiment: String, candidate: String) {
        let refused = |why| Outcome::HandOffRefused {
            rollout: rollout.clone(),
            experiment: experiment.clone(),
            candidate: candidate.clone(),
            why,
        };
        let (Some(r), Some(state)) = (
            self.config.rollout(&rollout),
            self.state.rollouts.get(&rollout),
        ) else {
            self.outcomes.push(refused(HandOffRefusal::NotConfigured));
            return;
        };
        let actor = format!("experiment:{experiment}");
        let reason = format!(
            "experiment {experiment:?} declared {candidate} the winner; {candidate} is the candidate"
        );
        let command = Input::Command {
            command: Command::Start,
            actor: &actor,
            reason: &reason,
        };
        match rollout::step(r, state, command, self.now) {
            Ok((_, actions)) if actions.is_empty() => {
                self.outcomes.push(refused(HandOffRefusal::AlreadyActive));
            }
            Ok((mut next, actions)) => {
                next.candidate = Some(candidate.clone());
                self.rollout_change(&rollout, next, actions);
            }
            Err(e) => {
                self.outcomes
                    .push(refused(HandOffRefusal::CannotStart(e.to_string())));
            }
        }
    }
}
