//! The experiment state machine, pure: `step(experiment, state, input, now)` returns the next
//! state and the actions the controller must carry out. States: draft → running → stopped.
//! Commands start and stop; a tick applies the stopping verdict. Every transition logs a
//! [`Decision`]; a winner with `on_winner = { rollout = ... }` also asks for that rollout.

use serde::Serialize;

use super::decide::Verdict;
use super::preregistration::PreRegistration;
use super::report::ExperimentReport;
use crate::config::Experiment;
use crate::record::{Decision, EntityKind, Millis};
use crate::state::{ExperimentState, ExperimentStatus};

/// What a person (or a script) asks of an experiment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Command {
    Start,
    Stop,
}

impl Command {
    pub fn parse(s: &str) -> Option<Command> {
        match s {
            "start" => Some(Command::Start),
            "stop" => Some(Command::Stop),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Command::Start => "start",
            Command::Stop => "stop",
        }
    }
}

/// What `step` is asked to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Input<'a> {
    /// The controller's periodic look: the stopping verdict and the report it rests on.
    Tick {
        verdict: &'a Verdict,
        report: &'a ExperimentReport,
    },
    Command {
        command: Command,
        actor: &'a str,
        reason: &'a str,
    },
}

/// What the controller must do after a step.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Append to the decision log (before anything else is applied).
    Log(Decision),
    /// Start the rollout `rollout` with the winning variant as its candidate.
    StartRollout {
        rollout: String,
        experiment: String,
        candidate: String,
    },
}

/// A command that does not apply in the experiment's current status; nothing changes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot {command} experiment {experiment:?}: it is {status}; {hint}")]
pub struct IllegalCommand {
    pub experiment: String,
    pub command: &'static str,
    pub status: &'static str,
    pub hint: &'static str,
}

fn status_str(s: ExperimentStatus) -> &'static str {
    match s {
        ExperimentStatus::Draft => "draft",
        ExperimentStatus::Running => "running",
        ExperimentStatus::Stopped => "stopped",
    }
}

/// Short text of a state for logs: `stopped (winner v2)`.
pub fn describe(state: &ExperimentState) -> String {
    match (&state.status, &state.winner) {
        (ExperimentStatus::Stopped, Some(w)) => format!("stopped (winner {w})"),
        (status, _) => status_str(*status).to_string(),
    }
}

/// Computes the next state of `experiment` and the actions to carry out.
pub fn step(
    experiment: &Experiment,
    state: &ExperimentState,
    input: Input<'_>,
    now: Millis,
) -> Result<(ExperimentState, Vec<Action>), IllegalCommand> {
    let mut next = state.clone();
    let mut actions = Vec::new();
    let mut log = |next: &mut ExperimentState,
                   action: &str,
                   reason: String,
                   actor: &str,
                   evidence: serde_json::Value| {
        next.reason = Some(reason.clone());
        actions.push(Action::Log(Decision {
            id: 0,
            ts: now,
            entity_kind: EntityKind::Experiment,
            entity: experiment.name.clone(),
            action: action.to_string(),
            from_state: describe(state),
            to_state: describe(next),
            reason,
            actor: actor.to_string(),
            evidence,
        }));
    };
    let illegal = |command: Command, hint: &'static str| IllegalCommand {
        experiment: experiment.name.clone(),
        command: command.as_str(),
        status: status_str(state.status),
        hint,
    };
    match input {
        Input::Command {
            command,
            actor,
            reason,
        } => {
            let why = |default: String| {
                if reason.is_empty() {
                    default
                } else {
                    reason.to_string()
                }
            };
            match (command, state.status) {
                (Command::Start, ExperimentStatus::Draft) => {
                    next.status = ExperimentStatus::Running;
                    next.started_at = Some(now);
                    next.stopped_at = None;
                    next.winner = None;
                    let plan = PreRegistration::of(experiment);
                    let evidence = serde_json::json!({ "preregistration": plan });
                    next.preregistration = Some(plan);
                    log(
                        &mut next,
                        "start",
                        why(format!("started by {actor}")),
                        actor,
                        evidence,
                    );
                }
                // Already running: a repeated start changes nothing.
                (Command::Start, ExperimentStatus::Running) => {}
                (Command::Start, ExperimentStatus::Stopped) => {
                    return Err(illegal(
                        command,
                        "a stopped experiment cannot start again (its error rates are spent); configure a new experiment",
                    ))
                }
                (Command::Stop, ExperimentStatus::Running) => {
                    next.status = ExperimentStatus::Stopped;
                    next.stopped_at = Some(now);
                    let detail = if reason.is_empty() {
                        String::new()
                    } else {
                        format!(": {reason}")
                    };
                    log(
                        &mut next,
                        "stop",
                        format!("manual stop by {actor}{detail}"),
                        actor,
                        serde_json::Value::Null,
                    );
                }
                (Command::Stop, ExperimentStatus::Draft) => {
                    return Err(illegal(
                        command,
                        "it has not started; remove it from the config or leave it as a draft",
                    ))
                }
                (Command::Stop, ExperimentStatus::Stopped) => {
                    return Err(illegal(command, "it is already stopped"))
                }
            }
        }
        Input::Tick { verdict, report } => {
            if state.status != ExperimentStatus::Running {
                return Ok((next, actions));
            }
            // A state stored before pre-registration existed gets its plan at the first look.
            if next.preregistration.is_none() {
                next.preregistration = Some(PreRegistration::of(experiment));
            }
            let (action, reason) = match verdict {
                Verdict::NotYet { .. } => return Ok((next, actions)),
                Verdict::Winner { variant } => {
                    next.winner = Some(variant.clone());
                    ("winner", winner_reason(experiment, report, variant))
                }
                Verdict::NoDifference => (
                    "no-difference",
                    format!(
                        "no difference: no variant differs from {} on {} by the effect looked for",
                        report.control, experiment.primary
                    ),
                ),
                Verdict::GuardrailBreach { variant, metric } => {
                    ("guardrail-breach", breach_reason(report, variant, metric))
                }
                Verdict::MaxDuration => (
                    "max-duration",
                    format!(
                        "max duration {} reached without a winner",
                        experiment
                            .stopping
                            .max_duration
                            .map_or("?".to_string(), |d| d.to_string())
                    ),
                ),
            };
            next.status = ExperimentStatus::Stopped;
            next.stopped_at = Some(now);
            let evidence = serde_json::json!({ "verdict": verdict, "report": report });
            log(&mut next, action, reason, "controller", evidence);
            if let (Verdict::Winner { variant }, Some(on)) = (verdict, &experiment.on_winner) {
                actions.push(Action::StartRollout {
                    rollout: on.rollout.clone(),
                    experiment: experiment.name.clone(),
                    candidate: variant.clone(),
                });
            }
        }
    }
    Ok((next, actions))
}

fn lift_text(c: &super::report::MetricComparison) -> String {
    match (c.relative_lift, c.absolute_lift) {
        (Some(r), _) => format!("{:+.2}%", r.estimate * 100.0),
        (None, Some(a)) => format!("{:+.4}", a.estimate),
        _ => "?".to_string(),
    }
}

fn winner_reason(experiment: &Experiment, report: &ExperimentReport, variant: &str) -> String {
    if let Some(interleaving) = &report.interleaving {
        // Any variant may win an interleaved comparison, the control included.
        return format!(
            "winner: {variant} on {}: {}",
            experiment.primary,
            interleaving.winner_text(variant, report.rule)
        );
    }
    let mut reason = format!(
        "winner: {variant} beats {} on {}",
        report.control, experiment.primary
    );
    if let Some(c) = report.comparison(&experiment.primary, variant) {
        let p = c.adjusted_for(report.rule).unwrap_or(1.0);
        let kind = match report.rule {
            crate::config::StoppingRule::Sequential => "always-valid",
            crate::config::StoppingRule::Fixed => "fixed-horizon",
        };
        reason.push_str(&format!(" ({}, {kind} adjusted p = {p:.4})", lift_text(c)));
    }
    let caveats: Vec<&str> = report
        .flags
        .iter()
        .filter(|f| f.variant == variant)
        .map(|f| f.message.as_str())
        .collect();
    if !caveats.is_empty() {
        reason.push_str(&format!("; but {}", caveats.join("; ")));
    }
    reason
}

/// How the reason of a stop on a guardrail breach begins; a rollout stage reads it.
pub const BREACH_PREFIX: &str = "guardrail breach";

fn breach_reason(report: &ExperimentReport, variant: &str, metric: &str) -> String {
    let mut reason = format!("{BREACH_PREFIX}: {variant} harms {metric}");
    if let Some(c) = report.comparison(metric, variant) {
        reason.push_str(&format!(
            " ({} vs {}, always-valid adjusted p = {:.4})",
            lift_text(c),
            report.control,
            c.adjusted_always_valid_p_value.unwrap_or(1.0)
        ));
    }
    reason
}
