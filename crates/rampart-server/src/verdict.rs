//! `GET /v1/rollouts/{name}/verdict`: the current stage's verdict in one word (`pass`, `fail`,
//! `inconclusive`) with the gate numbers behind it, for tools that poll a URL and read a JSON
//! path — an Argo Rollouts `web` metric (`jsonPath: "{$.verdict}"`, see docs/kubernetes.md).
//! Built from the controller's last look; `rampart_core::verdict` decides the word.

use std::sync::Arc;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use rampart_core::analysis::GateVerdict;
use rampart_core::verdict::assess_stage_verdict;
use serde_json::{json, Value};

use crate::app::Shared;
use crate::controller::unknown_rollout;
use crate::error::{ApiError, ApiPath};

pub fn routes() -> Router<Arc<Shared>> {
    Router::new().route("/v1/rollouts/{name}/verdict", get(verdict))
}

async fn verdict(
    State(s): State<Arc<Shared>>,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    let live = s.live.load();
    let rollout = live
        .config
        .rollout(&name)
        .ok_or_else(|| unknown_rollout(&live, &name))?;
    let state = live.state.rollouts.get(&name);
    let look = s
        .looks
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&name)
        .cloned();
    let v = assess_stage_verdict(rollout, state, look.as_ref().map(|l| l.verdicts.as_slice()));
    let gates: Vec<Value> = look
        .as_ref()
        .map_or(&[][..], |l| l.verdicts.as_slice())
        .iter()
        .map(gate)
        .collect();
    Ok(Json(json!({
        "rollout": rollout.name,
        "verdict": v.outcome,
        "reason": v.reason,
        "status": state.map(|s| s.status.as_str()),
        "stage": state.map(|s| s.stage),
        "stages": rollout.stages.len(),
        "traffic": state.map(|s| s.traffic),
        "looked_at": look.as_ref().map(|l| l.at),
        "candidate_units": look.as_ref().map(|l| l.candidate_units),
        "control_units": look.as_ref().map(|l| l.control_units),
        "gates": gates,
        "config_version": live.config_version,
    })))
}

/// One gate verdict with its numbers flattened, so a JSON path reaches them in one step
/// (`{$.gates[0].estimate}`).
fn gate(v: &GateVerdict) -> Value {
    let n = &v.numbers;
    json!({
        "gate": v.gate,
        "metric": v.metric,
        "outcome": v.outcome,
        "segment": v.segment.as_ref().map(|(a, val)| json!({"attribute": a, "value": val})),
        "estimate": n.estimate,
        "lower": n.lower,
        "upper": n.upper,
        "threshold": n.threshold,
        "p_value": n.p_value,
        "candidate_estimate": n.candidate_estimate,
        "control_estimate": n.control_estimate,
        "n_candidate": n.n_candidate,
        "n_control": n.n_control,
        "message": v.message,
    })
}
