//! The control API of staged rollouts: list and inspect them, run commands (start, approve, pause,
//! resume, promote, rollback, abort), the kill switch, and the decision log.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use rampart_core::config::Rollout;
use rampart_core::rollout::Command;
use rampart_core::state::{RolloutState, RolloutStatus};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::app::{parse_body, Shared};
use crate::clock::now_ms;
use crate::controller;
use crate::error::{ApiError, ApiPath, ApiQuery};

pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/v1/rollouts", get(list))
        .route("/v1/rollouts/{name}", get(show))
        .route("/v1/rollouts/{name}/{command}", post(run_command))
        .route("/v1/kill", post(kill))
        .route("/v1/decisions", get(decisions))
}

/// A rollout as the API shows it: plan, live state, last look and what comes next.
pub fn view(shared: &Shared, rollout: &Rollout, state: Option<&RolloutState>) -> Value {
    let look = shared
        .looks
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&rollout.name)
        .cloned();
    let now = now_ms();
    let next_decision_in_ms = state.and_then(|s| {
        (s.status == RolloutStatus::Running).then(|| {
            let min = rollout
                .stages
                .get(s.stage)
                .and_then(|st| st.min_duration)
                .map_or(0, |d| d.as_millis() as i64);
            (min - s.stage_elapsed(now)).max(0)
        })
    });
    json!({
        "name": rollout.name,
        "model": rollout.model,
        "baseline": rollout.baseline,
        "candidate": state.map_or(rollout.candidate.as_str(), |s| s.candidate_of(rollout)),
        "control": rollout.control,
        "on_fail": rollout.on_fail,
        "stages": rollout.stages,
        "gates": rollout.gates,
        "status": state.map(|s| s.status.as_str()),
        "stage": state.map(|s| s.stage),
        "traffic": state.map(|s| s.traffic),
        "started_at": state.and_then(|s| s.started_at),
        "stage_started_at": state.and_then(|s| s.stage_started_at),
        "stage_elapsed_ms": state.filter(|s| s.status.serves_slices()).map(|s| s.stage_elapsed(now)),
        "next_decision_in_ms": next_decision_in_ms,
        "reason": state.and_then(|s| s.reason.clone()),
        "last_look": look,
    })
}

async fn list(State(s): State<Arc<Shared>>) -> Json<Value> {
    let live = s.live.load();
    let all: Vec<Value> = live
        .config
        .rollouts
        .iter()
        .map(|r| view(&s, r, live.state.rollouts.get(&r.name)))
        .collect();
    Json(json!({ "rollouts": all }))
}

async fn show(
    State(s): State<Arc<Shared>>,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    let live = s.live.load();
    let r = live
        .config
        .rollout(&name)
        .ok_or_else(|| controller::unknown_rollout(&live, &name))?;
    Ok(Json(view(&s, r, live.state.rollouts.get(&name))))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CommandBody {
    #[serde(default)]
    reason: String,
    /// Who asks; recorded in the decision log.
    #[serde(default)]
    actor: Option<String>,
}

fn command_body(body: Result<Bytes, BytesRejection>) -> Result<CommandBody, ApiError> {
    match &body {
        Ok(b) if b.iter().all(u8::is_ascii_whitespace) => Ok(CommandBody::default()),
        _ => parse_body(body),
    }
}

async fn run_command(
    State(s): State<Arc<Shared>>,
    ApiPath((name, command)): ApiPath<(String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let cmd = Command::parse(&command).ok_or_else(|| {
        ApiError::not_found(format!(
            "no command {command:?}; valid: start, approve, pause, resume, promote, rollback, abort"
        ))
        .with_field("command")
    })?;
    let body = command_body(body)?;
    let actor = body.actor.unwrap_or_else(|| "api".to_string());
    controller::command(&s, &name, cmd, &actor, &body.reason).await?;
    let live = s.live.load();
    let r = live
        .config
        .rollout(&name)
        .ok_or_else(|| controller::unknown_rollout(&live, &name))?;
    Ok(Json(view(&s, r, live.state.rollouts.get(&name))))
}

/// Rolls back every active rollout at once.
async fn kill(
    State(s): State<Arc<Shared>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let body = command_body(body)?;
    let actor = body.actor.unwrap_or_else(|| "api".to_string());
    let reason = if body.reason.is_empty() {
        "kill switch".to_string()
    } else {
        body.reason
    };
    let live = s.live.load_full();
    let mut rolled_back = Vec::new();
    for r in &live.config.rollouts {
        let active = live
            .state
            .rollouts
            .get(&r.name)
            .is_some_and(|st| st.status.serves_slices());
        if active {
            controller::command(&s, &r.name, Command::Rollback, &actor, &reason).await?;
            rolled_back.push(r.name.clone());
        }
    }
    Ok(Json(json!({ "rolled_back": rolled_back })))
}

/// The most decisions one request lists.
const MAX_DECISIONS: usize = 100_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DecisionQuery {
    entity: Option<String>,
    limit: Option<usize>,
}

async fn decisions(
    State(s): State<Arc<Shared>>,
    ApiQuery(q): ApiQuery<DecisionQuery>,
) -> Result<Json<Value>, ApiError> {
    let store = s.store.clone();
    let limit = q.limit.unwrap_or(1_000);
    if limit > MAX_DECISIONS {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("limit is {limit}; it must be 0 to {MAX_DECISIONS}"),
        )
        .with_field("limit"));
    }
    let list = tokio::task::spawn_blocking(move || store.decisions(q.entity.as_deref(), limit))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(Json(json!({ "decisions": list })))
}
