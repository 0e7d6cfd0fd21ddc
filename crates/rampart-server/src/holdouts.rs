//! Holdouts in the API: `GET /v1/holdouts` lists them, `GET /v1/holdouts/{name}` reports the
//! holdout's units against the exposed units of each model it covers (`experiment::holdout_report`).

use std::sync::Arc;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use rampart_core::experiment::holdout_report;
use rampart_core::EntityKind;
use serde_json::{json, Value};

use crate::app::{holdout_models, Shared};
use crate::clock::now_ms;
use crate::error::{ApiError, ApiPath};

pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/v1/holdouts", get(list))
        .route("/v1/holdouts/{name}", get(show))
}

async fn list(State(s): State<Arc<Shared>>) -> Json<Value> {
    let live = s.live.load();
    let all: Vec<Value> = live
        .config
        .holdouts
        .iter()
        .map(|h| json!({ "name": h.name, "percent": h.percent, "models": holdout_models(h, &live.config) }))
        .collect();
    Json(json!({ "holdouts": all }))
}

async fn show(
    State(s): State<Arc<Shared>>,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    let live = s.live.load_full();
    let Some(holdout) = live.config.holdouts.iter().find(|h| h.name == name) else {
        let known: Vec<&str> = live
            .config
            .holdouts
            .iter()
            .map(|h| h.name.as_str())
            .collect();
        return Err(ApiError::not_found(format!(
            "no holdout {name:?}; known holdouts: {}",
            known.join(", ")
        ))
        .with_field("name"));
    };
    let (own, others) = {
        let aggregator = s.aggregator.lock().unwrap_or_else(|p| p.into_inner());
        let others: Vec<_> = live
            .config
            .rollouts
            .iter()
            .map(|r| r.name.as_str())
            .chain(live.config.experiments.iter().map(|e| e.name.as_str()))
            .filter_map(|n| aggregator.evidence(n))
            .filter(|e| e.kind != EntityKind::Holdout)
            .collect();
        (aggregator.evidence(&name), others)
    };
    let own = own
        .filter(|e| e.kind == EntityKind::Holdout)
        .ok_or_else(|| ApiError::internal(format!("holdout {name:?} has no evidence")))?;
    let report = holdout_report(holdout, &live.config, &own, &others, now_ms());
    Ok(Json(json!({
        "name": holdout.name,
        "percent": holdout.percent,
        "models": holdout_models(holdout, &live.config),
        "report": report,
    })))
}
