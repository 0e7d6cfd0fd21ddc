//! The staged-rollout state machine, pure: `step(rollout, state, input, now)` returns the next state
//! and the actions the controller must carry out (log a decision, notify). It never reads a clock,
//! never does IO and never mutates its input.
//!
//! States: pending → running(stage) ⇄ awaiting approval → … → completed, with paused and rolled back
//! reachable from any active state. A stage ends when its minimum duration and units per arm have
//! passed and every gate passes; a stage with `approval = "manual"` then waits for `approve`. A gate
//! that shows harm rolls back (or pauses, with `on_fail = "pause"`) at once, mid-stage.
//!
//! A stage that names an experiment ends on the experiment's verdict instead of the gates' pass
//! (its candidate slice is the experiment's): a winner becomes the candidate of the stages that
//! follow, a guardrail breach fails the stage like a gate's harm, and an end without a winner
//! holds the rollout for a person. Gate harm still applies during such a stage.

use serde::Serialize;

use crate::analysis::provider::Readings;
use crate::analysis::{assess_gates_with, GateVerdict, Outcome};
use crate::config::{Approval, Config, OnFail, OnTimeout, Rollout};
use crate::evidence::EntityEvidence;
use crate::record::{Decision, EntityKind, Millis};
use crate::stage::{StageExperiment, StageOutcome};
use crate::state::{RolloutState, RolloutStatus};

/// Looks in a row with a failing metric provider after which a rollout holds.
pub const DEFAULT_ERROR_LIMIT: u32 = 4;

/// What a person (or a script) asks of a rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Command {
    Start,
    Approve,
    Pause,
    Resume,
    /// Skip the rest of the current stage: go to the next one now.
    Promote,
    Rollback,
    /// Stop the rollout for good: the baseline for everyone.
    Abort,
}

impl Command {
    pub fn parse(s: &str) -> Option<Command> {
        Some(match s {
            "start" => Command::Start,
            "approve" => Command::Approve,
            "pause" => Command::Pause,
            "resume" => Command::Resume,
            "promote" => Command::Promote,
            "rollback" => Command::Rollback,
            "abort" => Command::Abort,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Command::Start => "start",
            Command::Approve => "approve",
            Command::Pause => "pause",
            Command::Resume => "resume",
            Command::Promote => "promote",
            Command::Rollback => "rollback",
            Command::Abort => "abort",
        }
    }
}

/// What the gates said at one look, reduced to what the state machine needs.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Assessment {
    /// A gate's sequential test shows harm: why, in words.
    pub harm: Option<String>,
    /// Every gate passes (true when the rollout has no gates).
    pub all_pass: bool,
    /// A metric provider failed at this look.
    pub provider_error: Option<String>,
    /// Units exposed so far in the candidate and the control arm.
    pub candidate_units: u64,
    pub control_units: u64,
    /// The verdicts and numbers behind this look, kept with any decision it leads to.
    pub evidence: serde_json::Value,
    /// The current stage's experiment, when the stage names one; `None` reads as still running.
    pub experiment: Option<StageOutcome>,
}

/// What `step` is asked to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Input<'a> {
    /// The controller's periodic look.
    Tick(&'a Assessment),
    Command {
        command: Command,
        actor: &'a str,
        reason: &'a str,
    },
}

/// Who hears about a transition (webhooks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Notification {
    StageChanged,
    ApprovalNeeded,
    Paused,
    RolledBack,
    Completed,
}

/// What the controller must do after a step.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Append to the decision log (before anything else is applied).
    Log(Decision),
    Notify(Notification),
}

/// A command that does not apply in the rollout's current status; nothing changes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot {command} rollout {rollout:?}: it is {status}; {hint}")]
pub struct IllegalCommand {
    pub rollout: String,
    pub command: &'static str,
    pub status: &'static str,
    pub hint: &'static str,
}

/// Computes the next state of `rollout` and the actions to carry out.
pub fn step(
    rollout: &Rollout,
    state: &RolloutState,
    input: Input<'_>,
    now: Millis,
) -> Result<(RolloutState, Vec<Action>), IllegalCommand> {
    let mut t = Transition {
        rollout,
        before: state,
        next: state.clone(),
        actions: Vec::new(),
        now,
    };
    match input {
        Input::Tick(a) => t.tick(a),
        Input::Command {
            command,
            actor,
            reason,
        } => t.command(command, actor, reason)?,
    }
    Ok((t.next, t.actions))
}

/// Short text of a state for logs: `running (stage 2/5, 5%)`.
pub fn describe(rollout: &Rollout, s: &RolloutState) -> String {
    match s.status {
        RolloutStatus::Pending | RolloutStatus::RolledBack | RolloutStatus::Completed => {
            s.status.as_str().to_string()
        }
        _ => format!(
            "{} (stage {}/{}, {}%)",
            s.status.as_str(),
            s.stage + 1,
            rollout.stages.len(),
            s.traffic
        ),
    }
}

struct Transition<'a> {
    rollout: &'a Rollout,
    before: &'a RolloutState,
    next: RolloutState,
    actions: Vec<Action>,
    now: Millis,
}

impl Transition<'_> {
    fn illegal(&self, command: Command, hint: &'static str) -> IllegalCommand {
        IllegalCommand {
            rollout: self.rollout.name.clone(),
            command: command.as_str(),
            status: self.before.status.as_str(),
            hint,
        }
    }

    fn log(&mut self, action: &str, reason: String, actor: &str, evidence: serde_json::Value) {
        self.next.reason = Some(reason.clone());
        self.actions.push(Action::Log(Decision {
            id: 0,
            ts: self.now,
            entity_kind: EntityKind::Rollout,
            entity: self.rollout.name.clone(),
            action: action.to_string(),
            from_state: describe(self.rollout, self.before),
            to_state: describe(self.rollout, &self.next),
            reason,
            actor: actor.to_string(),
            evidence,
        }));
    }

    fn enter_stage(&mut self, stage: usize) {
        self.next.status = RolloutStatus::Running;
        self.next.stage = stage;
        self.next.traffic = self.rollout.stages[stage].traffic;
        self.next.stage_started_at = Some(self.now);
        self.next.paused_ms = 0;
        self.next.paused_at = None;
        self.next.resume_to = None;
        self.next.consecutive_errors = 0;
    }

    /// Moves past the current stage: to the next one, or to completion after the last.
    fn advance(&mut self, action: &str, reason: String, actor: &str, evidence: serde_json::Value) {
        let following = self.next.stage + 1;
        if following < self.rollout.stages.len() {
            self.enter_stage(following);
            self.log(action, reason, actor, evidence);
            self.actions
                .push(Action::Notify(Notification::StageChanged));
        } else {
            self.next.status = RolloutStatus::Completed;
            self.next.traffic = 100.0;
            self.next.paused_at = None;
            self.log("complete", reason, actor, evidence);
            self.actions.push(Action::Notify(Notification::Completed));
        }
    }

    fn roll_back(
        &mut self,
        action: &str,
        reason: String,
        actor: &str,
        evidence: serde_json::Value,
    ) {
        self.next.status = RolloutStatus::RolledBack;
        self.next.traffic = 0.0;
        self.next.paused_at = None;
        self.next.resume_to = None;
        self.log(action, reason, actor, evidence);
        self.actions.push(Action::Notify(Notification::RolledBack));
    }

    fn pause(&mut self, reason: String, actor: &str, evidence: serde_json::Value) {
        self.next.resume_to = Some(self.before.status);
        self.next.status = RolloutStatus::Paused;
        self.next.paused_at = Some(self.now);
        self.log("pause", reason, actor, evidence);
        self.actions.push(Action::Notify(Notification::Paused));
    }

    fn command(
        &mut self,
        command: Command,
        actor: &str,
        reason: &str,
    ) -> Result<(), IllegalCommand> {
        use RolloutStatus::*;
        let why = |default: &str| {
            if reason.is_empty() {
                default.to_string()
            } else {
                reason.to_string()
            }
        };
        let status = self.before.status;
        // An ended rollout takes no command but a fresh start (after a rollback only).
        match (command, status) {
            (Command::Start, _) => {}
            (_, Completed) => {
                return Err(self.illegal(
                    command,
                    "the rollout has ended and takes no more commands; configure a new rollout to ship again",
                ))
            }
            (_, RolledBack) => {
                return Err(self.illegal(
                    command,
                    "the rollout has ended (rolled back) and takes no more commands but start, which runs it again from its first stage",
                ))
            }
            _ => {}
        }
        match (command, status) {
            (Command::Start, Running | AwaitingApproval | Paused) => {} // already started: nothing changes
            (Command::Start, Pending | RolledBack) => {
                self.enter_stage(0);
                self.next.started_at = Some(self.now);
                self.log("start", why("started"), actor, serde_json::Value::Null);
                self.actions
                    .push(Action::Notify(Notification::StageChanged));
            }
            (Command::Start, Completed) => {
                return Err(self.illegal(
                    command,
                    "a completed rollout cannot start again; configure a new rollout",
                ))
            }
            (Command::Approve, AwaitingApproval)
            | (Command::Promote, Running | AwaitingApproval | Paused) => {
                let verb = if command == Command::Approve {
                    "approve"
                } else {
                    "promote"
                };
                self.advance(
                    verb,
                    why(&format!("{verb}d by {actor}")),
                    actor,
                    serde_json::Value::Null,
                );
            }
            (Command::Approve, _) => {
                return Err(
                    self.illegal(command, "only a rollout awaiting approval can be approved")
                )
            }
            (Command::Pause, Running | AwaitingApproval) => {
                self.pause(why("paused"), actor, serde_json::Value::Null)
            }
            (Command::Pause, Paused) => {}
            (Command::Resume, Paused) => {
                let paused_for = self.before.paused_at.map_or(0, |p| self.now - p);
                self.next.paused_ms += paused_for;
                self.next.paused_at = None;
                self.next.status = self.before.resume_to.unwrap_or(Running);
                self.next.resume_to = None;
                self.next.consecutive_errors = 0;
                self.log("resume", why("resumed"), actor, serde_json::Value::Null);
            }
            (Command::Resume, _) => {
                return Err(self.illegal(command, "only a paused rollout can be resumed"))
            }
            (Command::Rollback | Command::Abort, Running | AwaitingApproval | Paused) => {
                let verb = command.as_str();
                self.roll_back(
                    verb,
                    why(&format!("{verb} by {actor}")),
                    actor,
                    serde_json::Value::Null,
                );
            }
            (Command::Abort, Pending) => self.roll_back(
                "abort",
                why(&format!("abort by {actor}")),
                actor,
                serde_json::Value::Null,
            ),
            (Command::Promote | Command::Pause, _) | (Command::Rollback | Command::Abort, _) => {
                return Err(self.illegal(command, "the rollout is not active"))
            }
        }
        Ok(())
    }

    fn tick(&mut self, a: &Assessment) {
        if !matches!(
            self.before.status,
            RolloutStatus::Running | RolloutStatus::AwaitingApproval
        ) {
            return;
        }
        // Harm shown by the gates that could be read acts even while a provider fails.
        if let Some(harm) = &a.harm {
            match self.rollout.on_fail {
                OnFail::Rollback => {
                    self.roll_back("rollback", harm.clone(), "controller", a.evidence.clone())
                }
                OnFail::Pause => self.pause(
                    format!("holding for a person: {harm}"),
                    "controller",
                    a.evidence.clone(),
                ),
            }
            return;
        }
        if let Some(err) = &a.provider_error {
            self.next.consecutive_errors = self.before.consecutive_errors + 1;
            if self.next.consecutive_errors >= DEFAULT_ERROR_LIMIT {
                let reason = format!(
                    "holding: the metric provider failed {} looks in a row (last: {err})",
                    self.next.consecutive_errors
                );
                self.pause(reason, "controller", a.evidence.clone());
            }
            return;
        }
        self.next.consecutive_errors = 0;
        if self.before.status == RolloutStatus::AwaitingApproval {
            return;
        }
        let stage = &self.rollout.stages[self.before.stage];
        let mut ready = a.all_pass;
        let mut winner = None;
        if let Some(name) = &stage.experiment {
            match &a.experiment {
                Some(StageOutcome::Winner { variant }) => {
                    ready = true;
                    winner = Some(variant.clone());
                }
                Some(StageOutcome::Breach { reason }) => {
                    let harm = format!("stage experiment {name:?} stopped: {reason}");
                    match self.rollout.on_fail {
                        OnFail::Rollback => {
                            self.roll_back("rollback", harm, "controller", a.evidence.clone())
                        }
                        OnFail::Pause => self.pause(
                            format!("holding for a person: {harm}"),
                            "controller",
                            a.evidence.clone(),
                        ),
                    }
                    return;
                }
                Some(StageOutcome::NoWinner { reason }) => {
                    let reason = format!(
                        "holding: stage experiment {name:?} ended without a winner ({reason}); promote to go on with {}, or roll back",
                        self.before.candidate_of(self.rollout)
                    );
                    self.pause(reason, "controller", a.evidence.clone());
                    return;
                }
                Some(StageOutcome::Running) | None => ready = false,
            }
        }
        let elapsed = self.before.stage_elapsed(self.now);
        let long_enough = stage
            .min_duration
            .is_none_or(|d| elapsed >= d.as_millis() as i64);
        let min_units = stage.min_units.unwrap_or(0);
        let enough_units = match self.rollout.control {
            crate::config::Control::Concurrent => {
                a.candidate_units.min(a.control_units) >= min_units
            }
            crate::config::Control::None => a.candidate_units >= min_units,
        };
        if long_enough && enough_units && ready {
            let duration = crate::config::Duration::from_millis(elapsed as u64).elapsed();
            let reason = match (&winner, &stage.experiment) {
                (Some(w), Some(name)) => {
                    self.next.candidate = Some(w.clone());
                    format!(
                        "stage {} passed: experiment {name:?} declared {w} the winner after {duration} with {} units in its smallest arm and {} control units; {w} is the candidate from now on",
                        self.before.stage + 1,
                        a.candidate_units,
                        a.control_units
                    )
                }
                _ => format!(
                    "stage {} passed: every gate passes after {duration} with {} candidate and {} control units",
                    self.before.stage + 1,
                    a.candidate_units,
                    a.control_units
                ),
            };
            if stage.approval == Approval::Manual {
                self.next.status = RolloutStatus::AwaitingApproval;
                self.log(
                    "await-approval",
                    format!("{reason}; waiting for approval"),
                    "controller",
                    a.evidence.clone(),
                );
                self.actions
                    .push(Action::Notify(Notification::ApprovalNeeded));
            } else {
                self.advance("advance", reason, "controller", a.evidence.clone());
            }
            return;
        }
        if let Some(max) = stage.max_duration {
            if elapsed >= max.as_millis() as i64 {
                let reason = format!(
                    "stage {} reached its maximum duration {max} without passing",
                    self.before.stage + 1
                );
                match stage.on_timeout {
                    OnTimeout::Hold => self.pause(
                        format!("holding: {reason}"),
                        "controller",
                        a.evidence.clone(),
                    ),
                    OnTimeout::Rollback => {
                        self.roll_back("rollback", reason, "controller", a.evidence.clone())
                    }
                    OnTimeout::Advance => {
                        self.advance("advance", reason, "controller", a.evidence.clone())
                    }
                }
            }
        }
    }
}

/// One look of the controller at one rollout: the gate verdicts on its evidence, what they add up
/// to, and the step they lead to.
#[derive(Debug, Clone, PartialEq)]
pub struct Look {
    pub next: RolloutState,
    pub actions: Vec<Action>,
    pub verdicts: Vec<GateVerdict>,
    pub assessment: Assessment,
}

/// Runs the gates of an active rollout on its evidence and steps the state machine; an inactive
/// rollout is left as it is. A stage that names an experiment never ends here: see
/// [`look_with_experiment`].
pub fn look(
    rollout: &Rollout,
    config: &Config,
    state: &RolloutState,
    evidence: Option<&EntityEvidence>,
    now: Millis,
) -> Look {
    look_with_experiment(rollout, config, state, evidence, None, now)
}

/// [`look`], with what the current stage's experiment says (see [`crate::stage::assess`]): its
/// outcome decides the stage's end and its smallest arm counts as the candidate's units.
pub fn look_with_experiment(
    rollout: &Rollout,
    config: &Config,
    state: &RolloutState,
    evidence: Option<&EntityEvidence>,
    experiment: Option<&StageExperiment>,
    now: Millis,
) -> Look {
    look_with_readings(
        rollout,
        config,
        state,
        evidence,
        experiment,
        &Readings::new(),
        now,
    )
}

/// [`look_with_experiment`], with the readings of the provider queries of the rollout's
/// `prometheus` gates (see [`crate::analysis::rollout_queries`]). A failed reading sets the
/// assessment's `provider_error`, which counts toward [`DEFAULT_ERROR_LIMIT`].
pub fn look_with_readings(
    rollout: &Rollout,
    config: &Config,
    state: &RolloutState,
    evidence: Option<&EntityEvidence>,
    experiment: Option<&StageExperiment>,
    readings: &Readings,
    now: Millis,
) -> Look {
    if !matches!(
        state.status,
        RolloutStatus::Running | RolloutStatus::AwaitingApproval
    ) {
        return Look {
            next: state.clone(),
            actions: Vec::new(),
            verdicts: Vec::new(),
            assessment: Assessment::default(),
        };
    }
    let verdicts = assess_gates_with(rollout, config, evidence, readings, state.stage, now);
    let mut assessment = summarize(rollout, evidence, &verdicts);
    if let Some(x) = experiment {
        assessment.candidate_units = x.smallest_arm;
        assessment.experiment = Some(x.outcome.clone());
        assessment.evidence["experiment"] = serde_json::json!(x);
    }
    let (next, actions) = match step(rollout, state, Input::Tick(&assessment), now) {
        Ok(done) => done,
        Err(_) => (state.clone(), Vec::new()), // ticks are always legal
    };
    Look {
        next,
        actions,
        verdicts,
        assessment,
    }
}

/// Reduces verdicts to what the state machine needs, keeping them as evidence for the log.
pub fn summarize(
    rollout: &Rollout,
    evidence: Option<&EntityEvidence>,
    verdicts: &[GateVerdict],
) -> Assessment {
    let units = |variant: &str| {
        evidence
            .and_then(|e| e.variants.get(variant))
            .map_or(0, |v| v.units)
    };
    let (candidate_units, control_units) = (units(&rollout.candidate), units(&rollout.baseline));
    let harm: Vec<&str> = verdicts
        .iter()
        .filter(|v| v.harm)
        .map(|v| v.message.as_str())
        .collect();
    let provider_error = verdicts.iter().find_map(GateVerdict::provider_error);
    Assessment {
        harm: (!harm.is_empty()).then(|| harm.join("; ")),
        all_pass: verdicts.iter().all(|v| v.outcome == Outcome::Pass),
        candidate_units,
        control_units,
        evidence: serde_json::json!({
            "verdicts": verdicts,
            "candidate_units": candidate_units,
            "control_units": control_units,
            "provider_error": provider_error,
        }),
        provider_error,
        experiment: None,
    }
}
