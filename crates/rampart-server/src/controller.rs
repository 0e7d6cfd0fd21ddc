//! The controller: at every tick, under the control lock, the pure `tick::plan_tick` decides for
//! every active rollout and running experiment (stage experiments, the effective candidate and
//! winner hand-offs included), and [`carry_out`] does what it decided, in its order — per change
//! the decision log and the stored state in one store transaction, then the traffic (a new
//! assigner swapped in), then notifications. Commands from the API go through the same path
//! (`tick::plan_rollout_change`, `tick::plan_experiment_change`).
//!
//! Before a tick takes the control lock, it runs the Prometheus queries of the `prometheus` gates
//! and experiment metrics ([`read_providers`]), so a slow provider never holds the lock.

use std::collections::HashMap;
use std::time::Duration;

use rampart_core::analysis::provider::{Reading, Readings};
use rampart_core::analysis::GateVerdict;
use rampart_core::config::Rollout;
use rampart_core::rollout::{describe, step, Action, Input, Notification};
use rampart_core::state::{ExperimentState, RolloutState};
use rampart_core::tick::{
    effective_rollout, is_looked_at, plan_rollout_change, plan_tick, HandOffRefusal, Outcome,
};
use rampart_core::{Decision, EntityKind, Millis};

use crate::app::Shared;
use crate::clock::now_ms;
use crate::effects::{persist_step, swap_state};
use crate::error::ApiError;
use crate::experiments::LastReport;
use crate::live::Live;

/// The last look at one rollout, for status pages.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct LastLook {
    pub at: Millis,
    pub verdicts: Vec<GateVerdict>,
    pub candidate_units: u64,
    pub control_units: u64,
    /// A metric provider's failure at this look, counted toward the consecutive-error limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider_error: Option<String>,
}

/// Last looks by rollout name.
pub type Looks = std::sync::Mutex<HashMap<String, LastLook>>;

/// One look at every active rollout, after reading their provider metrics.
pub async fn tick(shared: &Shared) -> Result<(), ApiError> {
    let readings = read_providers(shared).await;
    tick_with(shared, &readings).await
}

/// Runs the provider queries that the active rollouts and running experiments read at this look,
/// without the control lock. A rollout or experiment that changes meanwhile renders other queries
/// at its look, finds no reading for them and is inconclusive until the next tick.
pub async fn read_providers(shared: &Shared) -> Readings {
    let live = shared.live.load_full();
    let mut queries: Vec<String> = Vec::new();
    for rollout in &live.config.rollouts {
        let Some(state) = live.state.rollouts.get(&rollout.name) else {
            continue;
        };
        if is_looked_at(state) {
            let effective = effective_rollout(rollout, state);
            queries.extend(rampart_core::analysis::rollout_queries(
                &effective,
                &live.config,
                state.stage,
            ));
        }
    }
    for experiment in &live.config.experiments {
        let running = live
            .state
            .experiments
            .get(&experiment.name)
            .is_some_and(|s| s.status == rampart_core::state::ExperimentStatus::Running);
        if running {
            queries.extend(rampart_core::experiment::experiment_queries(
                experiment,
                &live.config,
            ));
        }
    }
    queries.sort();
    queries.dedup();
    let Some(config) = live
        .config
        .prometheus
        .as_ref()
        .filter(|_| !queries.is_empty())
    else {
        return Readings::new();
    };
    let dir = shared
        .config_path
        .as_deref()
        .and_then(std::path::Path::parent);
    let readings = match crate::prometheus::Prometheus::new(config, dir, |v| std::env::var(v).ok())
    {
        Ok(client) => crate::prometheus::read_all(std::sync::Arc::new(client), queries).await,
        Err(message) => queries
            .into_iter()
            .map(|q| {
                let message = message.clone();
                (q, Reading::Error { message })
            })
            .collect(),
    };
    for (query, reading) in &readings {
        shared.telemetry.count_provider_reading(reading);
        if let Reading::Error { message } = reading {
            tracing::warn!(provider = "prometheus", query = %query, error = %message, "provider query failed");
        }
    }
    readings
}

/// One tick with the provider readings read for it: the pure `tick::plan_tick` decides, then
/// every outcome is carried out in the order it returned them.
pub async fn tick_with(shared: &Shared, readings: &Readings) -> Result<(), ApiError> {
    let _guard = shared.control_lock.lock().await;
    let now = now_ms();
    let live = shared.live.load_full();
    // The aggregator is locked per entity, not for the whole tick, so ingest keeps folding.
    let evidence = |name: &str| {
        shared
            .aggregator
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .evidence(name)
    };
    let plan = plan_tick(&live.config, &live.state, &evidence, readings, now);
    carry_out(shared, plan.outcomes, now).await
}

/// Runs a command from the API or CLI on one rollout; returns the new state.
pub async fn command(
    shared: &Shared,
    name: &str,
    command: rampart_core::rollout::Command,
    actor: &str,
    reason: &str,
) -> Result<RolloutState, ApiError> {
    let _guard = shared.control_lock.lock().await;
    let now = now_ms();
    let live = shared.live.load_full();
    let rollout = live
        .config
        .rollout(name)
        .ok_or_else(|| unknown_rollout(&live, name))?;
    let state = live
        .state
        .rollouts
        .get(name)
        .ok_or_else(|| unknown_rollout(&live, name))?;
    let (next, actions) = step(
        rollout,
        state,
        Input::Command {
            command,
            actor,
            reason,
        },
        now,
    )
    .map_err(|e| {
        ApiError::new(
            axum::http::StatusCode::CONFLICT,
            "illegal_transition",
            e.to_string(),
        )
    })?;
    let plan = plan_rollout_change(&live.config, &live.state, name, next.clone(), actions, now);
    carry_out(shared, plan.outcomes, now).await?;
    Ok(next)
}

pub fn unknown_rollout(live: &Live, name: &str) -> ApiError {
    let known: Vec<&str> = live
        .config
        .rollouts
        .iter()
        .map(|r| r.name.as_str())
        .collect();
    ApiError::not_found(format!(
        "no rollout {name:?}; known rollouts: {}",
        known.join(", ")
    ))
    .with_field("name")
}

/// Carries out a tick's outcomes in their order. A change is logged and stored in one store
/// transaction, then the live view is swapped (the next assignment follows it), then webhooks
/// are sent; a look is kept for status pages.
pub(crate) async fn carry_out(
    shared: &Shared,
    outcomes: Vec<Outcome>,
    now: Millis,
) -> Result<(), ApiError> {
    for outcome in outcomes {
        match outcome {
            Outcome::RolloutLooked {
                rollout,
                verdicts,
                assessment,
            } => {
                shared
                    .looks
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(
                        rollout,
                        LastLook {
                            at: now,
                            verdicts,
                            candidate_units: assessment.candidate_units,
                            control_units: assessment.control_units,
                            provider_error: assessment.provider_error,
                        },
                    );
            }
            Outcome::ExperimentLooked {
                experiment,
                report,
                verdict,
            } => {
                shared
                    .experiment_reports
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(
                        experiment,
                        LastReport {
                            report: *report,
                            verdict,
                        },
                    );
            }
            Outcome::Rollout {
                rollout,
                next,
                actions,
            } => apply_rollout(shared, &rollout, next, actions, now).await?,
            Outcome::Experiment {
                experiment,
                next,
                decisions,
            } => apply_experiment(shared, &experiment, next, decisions, now).await?,
            Outcome::HandOffRefused {
                rollout,
                experiment,
                candidate,
                why,
            } => match why {
                HandOffRefusal::NotConfigured => tracing::warn!(
                    rollout,
                    experiment,
                    "the winner's rollout is not configured"
                ),
                HandOffRefusal::AlreadyActive => tracing::warn!(
                    rollout,
                    experiment,
                    candidate,
                    "the winner's rollout is already active; its candidate stays"
                ),
                HandOffRefusal::CannotStart(error) => tracing::warn!(
                    rollout,
                    experiment,
                    candidate,
                    error,
                    "the winner's rollout cannot start"
                ),
            },
        }
    }
    Ok(())
}

/// A rollout's change: log and store, swap the traffic, notify.
async fn apply_rollout(
    shared: &Shared,
    name: &str,
    next: RolloutState,
    actions: Vec<Action>,
    now: Millis,
) -> Result<(), ApiError> {
    let decisions: Vec<Decision> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Log(d) => Some(d.clone()),
            Action::Notify(_) => None,
        })
        .collect();
    let state = serde_json::to_value(&next).map_err(|e| ApiError::internal(e.to_string()))?;
    let logged = persist_step(shared, EntityKind::Rollout, name, state, decisions, now).await?;
    swap_state(shared, |s| {
        s.rollouts.insert(name.to_string(), next.clone());
    });
    for d in &logged {
        tracing::info!(rollout = name, action = %d.action, from = %d.from_state, to = %d.to_state, reason = %d.reason, "decision");
    }
    let live = shared.live.load();
    let rollout = live.config.rollout(name);
    for a in &actions {
        if let (Action::Notify(kind), Some(r)) = (a, rollout) {
            shared
                .notifier
                .send(notification(r, &next, *kind, logged.last()));
        }
    }
    Ok(())
}

/// An experiment's change: log and store, then a new assigner (which routes its units).
async fn apply_experiment(
    shared: &Shared,
    name: &str,
    next: ExperimentState,
    decisions: Vec<Decision>,
    now: Millis,
) -> Result<(), ApiError> {
    let state = serde_json::to_value(&next).map_err(|e| ApiError::internal(e.to_string()))?;
    let logged = persist_step(shared, EntityKind::Experiment, name, state, decisions, now).await?;
    swap_state(shared, |s| {
        s.experiments.insert(name.to_string(), next.clone());
    });
    for d in &logged {
        tracing::info!(experiment = %name, action = %d.action, from = %d.from_state, to = %d.to_state, reason = %d.reason, "decision");
    }
    Ok(())
}

fn notification(
    rollout: &Rollout,
    state: &RolloutState,
    kind: Notification,
    decision: Option<&Decision>,
) -> crate::notify::Event {
    crate::notify::Event {
        kind,
        rollout: rollout.name.clone(),
        model: rollout.model.clone(),
        state: describe(rollout, state),
        traffic: state.traffic,
        reason: decision.map(|d| d.reason.clone()).unwrap_or_default(),
        actor: decision.map(|d| d.actor.clone()).unwrap_or_default(),
        decision_id: decision.map(|d| d.id),
    }
}

/// Ticks until the server stops. A failed tick is logged and the next one tries again.
pub fn spawn(shared: std::sync::Weak<Shared>, every: Duration) {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            let Some(shared) = shared.upgrade() else {
                return;
            };
            let readings = read_providers(&shared).await;
            if let Err(e) = tick_with(&shared, &readings).await {
                tracing::error!(error = %e.message, "controller tick failed");
            }
        }
    });
}
