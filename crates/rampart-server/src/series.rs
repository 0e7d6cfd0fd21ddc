//! `GET /v1/series/{entity}?metric=NAME`: one metric of a rollout, experiment or holdout per time
//! bucket and per variant (units first exposed in the bucket, the metric's running value), in
//! columns a chart plots directly. Computed from the evidence by `evidence::compute_series`.

use std::sync::Arc;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use rampart_core::evidence::{compute_series, series_metrics, Series, SeriesError};
use rampart_core::{Config, EntityKind};
use serde::Deserialize;

use crate::app::Shared;
use crate::error::{ApiError, ApiPath, ApiQuery};

pub fn routes() -> Router<Arc<Shared>> {
    Router::new().route("/v1/series/{entity}", get(series))
}

#[derive(Debug, Deserialize)]
struct SeriesQuery {
    metric: Option<String>,
}

async fn series(
    State(s): State<Arc<Shared>>,
    ApiPath(entity): ApiPath<String>,
    ApiQuery(query): ApiQuery<SeriesQuery>,
) -> Result<Json<Series>, ApiError> {
    let (evidence, known) = {
        let aggregator = s.aggregator.lock().unwrap_or_else(|p| p.into_inner());
        let known: Vec<String> = aggregator.entities().map(str::to_string).collect();
        (aggregator.evidence(&entity), known)
    };
    let evidence = evidence.ok_or_else(|| {
        ApiError::not_found(format!(
            "no rollout, experiment or holdout {entity:?}; known: {}",
            known.join(", ")
        ))
        .with_field("entity")
    })?;
    let live = s.live.load();
    let metric = match query.metric {
        Some(m) => m,
        None => headline_metric(&live.config, evidence.kind, &evidence.name)
            .or_else(|| series_metrics(&evidence).into_iter().next())
            .ok_or_else(|| {
                ApiError::bad_request("unknown_metric", format!("{entity:?} keeps no metric"))
                    .with_field("metric")
            })?,
    };
    compute_series(&evidence, &metric)
        .map(Json)
        .map_err(|e| match e {
            SeriesError::UnknownMetric { .. } => {
                ApiError::bad_request("unknown_metric", e.to_string()).with_field("metric")
            }
        })
}

/// The metric a chart shows when none is asked for: a rollout's first gate, an experiment's
/// primary metric; none for a holdout (its first metric by name is taken).
fn headline_metric(config: &Config, kind: EntityKind, name: &str) -> Option<String> {
    match kind {
        EntityKind::Rollout => config
            .rollout(name)?
            .gates
            .first()
            .map(|g| g.metric.clone()),
        EntityKind::Experiment => Some(config.experiment(name)?.primary.clone()),
        _ => None,
    }
}
