//! `POST /v1/interleave`: merges the rankings of an interleaving experiment's variants into one
//! result list for a unit, logs the impression through the writer and answers with the list and
//! the variant that placed each item. Clicks on it come back as events carrying
//! `attributes.impression_id` and `attributes.item`.
//!
//! The randomness of each list is seeded from the experiment's salt and the impression id, so a
//! stored impression can be reproduced. Units in a holdout of the model never enter the
//! experiment: they get the baseline variant's ranking and no impression is logged.

use std::collections::HashSet;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use rampart_core::assign::bucket;
use rampart_core::config::{Experiment, UnitKind};
use rampart_core::experiment::interleaving_method;
use rampart_core::interleave::{interleave, Impression, Method};
use rampart_core::state::{percent_to_buckets, ExperimentStatus};
use rampart_core::{EntityKind, ImpressionRecord};
use rampart_stats::Rng;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::app::{parse_body, Shared};
use crate::clock::now_ms;
use crate::error::ApiError;
use crate::live::Live;

/// Longest interleaved list served.
pub const MAX_LENGTH: u64 = 100;
/// List length when the request names none.
pub const DEFAULT_LENGTH: u64 = 10;
/// Longest item id and unit key accepted.
const MAX_ID_LEN: usize = 256;

pub fn routes() -> Router<Arc<Shared>> {
    Router::new().route("/v1/interleave", post(handle))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InterleaveRequest {
    experiment: String,
    #[serde(default)]
    unit: Option<String>,
    /// Variant name → item ids, best first. Read as raw JSON so errors can name the item.
    rankings: Map<String, Value>,
    #[serde(default)]
    length: Option<u64>,
}

async fn handle(
    State(s): State<Arc<Shared>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let req: InterleaveRequest = parse_body(body)?;
    let live = s.live.load_full();
    let experiment = interleaving_experiment(&live, &req.experiment)?;
    let method = interleaving_method(experiment.design).ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            "not_interleaving",
            format!(
                "experiment {:?} has design {}, which serves one variant per unit; use /v1/assign",
                experiment.name,
                json!(experiment.design).as_str().unwrap_or("split")
            ),
        )
    })?;
    let length = match req.length {
        None => DEFAULT_LENGTH,
        Some(n) if (1..=MAX_LENGTH).contains(&n) => n,
        Some(n) => {
            return Err(ApiError::bad_request(
                "invalid_length",
                format!("length must be 1 to {MAX_LENGTH}, got {n}"),
            )
            .with_field("length"))
        }
    };
    let rankings = check_rankings(experiment, &req.rankings)?;
    let unit = unit_of(&live, experiment, req.unit, || {
        format!("{:016x}", s.assignment_id())
    })?;

    if let Some(holdout) = holdout_of(&live, &experiment.model, &unit) {
        let model = live.config.model(&experiment.model);
        let baseline = model
            .map(|m| m.baseline())
            .filter(|b| experiment.variants.iter().any(|v| v == b))
            .or(experiment.variants.first().map(String::as_str))
            .unwrap_or_default();
        let index = experiment
            .variants
            .iter()
            .position(|v| v == baseline)
            .unwrap_or(0);
        let items: Vec<Value> = rankings[index]
            .iter()
            .take(usize::try_from(length).unwrap_or(usize::MAX))
            .map(|id| json!({"id": id, "variant": baseline}))
            .collect();
        return Ok(Json(json!({
            "experiment": experiment.name,
            "unit": unit,
            "holdout": holdout,
            "items": items,
        })));
    }

    let impression_id = format!("{:016x}", s.assignment_id());
    let salt = live.state.salt(EntityKind::Experiment, &experiment.name);
    let mut rng = Rng::new(impression_seed(salt, &impression_id));
    let impression = interleave(
        method,
        &rankings,
        usize::try_from(length).unwrap_or(usize::MAX),
        &mut rng,
    )
    .map_err(|e| ApiError::bad_request("invalid_rankings", e.to_string()).with_field("rankings"))?;
    let items = response_items(&impression, &experiment.variants);
    let record = ImpressionRecord {
        ts: now_ms(),
        model: experiment.model.clone(),
        experiment: experiment.name.clone(),
        unit: unit.clone(),
        impression_id: impression_id.clone(),
        impression,
        variants: experiment.variants.clone(),
    };
    s.writer
        .impression(record)
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(json!({
        "experiment": experiment.name,
        "unit": unit,
        "method": method.name(),
        "impression_id": impression_id,
        "items": items,
    })))
}

/// The seed of one impression's draws: the experiment's salt mixed with the impression id.
pub fn impression_seed(salt: u64, impression_id: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64_with_seed(impression_id.as_bytes(), salt)
}

/// The experiment, if it exists and is running.
fn interleaving_experiment<'a>(live: &'a Live, name: &str) -> Result<&'a Experiment, ApiError> {
    let experiment = live.config.experiment(name).ok_or_else(|| {
        let known: Vec<&str> = live
            .config
            .experiments
            .iter()
            .map(|e| e.name.as_str())
            .collect();
        ApiError::not_found(format!(
            "no experiment {name:?}; known experiments: {}",
            known.join(", ")
        ))
        .with_field("experiment")
    })?;
    let status = live.state.experiments.get(name).map(|s| s.status);
    if status != Some(ExperimentStatus::Running) {
        let now = status.map_or("unknown".to_string(), |s| {
            json!(s).as_str().unwrap_or("unknown").to_string()
        });
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_running",
            format!("experiment {name:?} is {now}, not running: it serves no interleaved lists"),
        ));
    }
    Ok(experiment)
}

/// The rankings in the experiment's variant order, after checking that they name exactly its
/// variants, are not empty and hold each id once.
fn check_rankings(
    experiment: &Experiment,
    rankings: &Map<String, Value>,
) -> Result<Vec<Vec<String>>, ApiError> {
    let bad = |field: String, message: String| {
        ApiError::bad_request("invalid_rankings", message).with_field(field)
    };
    let expected = experiment.variants.join(", ");
    for name in rankings.keys() {
        if !experiment.variants.contains(name) {
            return Err(bad(
                format!("rankings.{name}"),
                format!(
                    "{name:?} is not a variant of experiment {:?}; rankings must name exactly {expected}",
                    experiment.name
                ),
            ));
        }
    }
    let mut out = Vec::with_capacity(experiment.variants.len());
    for variant in &experiment.variants {
        let field = format!("rankings.{variant}");
        let Some(value) = rankings.get(variant) else {
            return Err(bad(
                field,
                format!("the ranking of variant {variant:?} is missing; rankings must name exactly {expected}"),
            ));
        };
        let Some(list) = value.as_array() else {
            return Err(bad(
                field,
                "a ranking is a list of item ids, best first".to_string(),
            ));
        };
        if list.is_empty() {
            return Err(bad(
                field,
                format!("the ranking of variant {variant:?} is empty"),
            ));
        }
        let mut seen = HashSet::with_capacity(list.len());
        let mut ids = Vec::with_capacity(list.len());
        for (i, item) in list.iter().enumerate() {
            let at = format!("{field}[{i}]");
            let Some(id) = item.as_str() else {
                return Err(bad(at, "an item id must be a string".to_string()));
            };
            if !crate::app::id_len_ok(id) {
                return Err(bad(
                    at,
                    format!("an item id must be 1 to {MAX_ID_LEN} characters"),
                ));
            }
            if !seen.insert(id) {
                return Err(bad(
                    at,
                    format!("the ranking of variant {variant:?} lists {id:?} twice"),
                ));
            }
            ids.push(id.to_string());
        }
        out.push(ids);
    }
    Ok(out)
}

/// The unit key: as given, or generated for a model randomized per request.
fn unit_of(
    live: &Live,
    experiment: &Experiment,
    unit: Option<String>,
    generate: impl FnOnce() -> String,
) -> Result<String, ApiError> {
    let kind = live.assigner.unit_kind(&experiment.model);
    match (kind, unit) {
        (Some(UnitKind::Request), None) => Ok(generate()),
        (_, Some(u)) if crate::app::id_len_ok(&u) => Ok(u),
        (_, Some(_)) => Err(ApiError::bad_request(
            "invalid_unit",
            format!("unit must be 1 to {MAX_ID_LEN} characters"),
        )
        .with_field("unit")),
        (_, None) => Err(ApiError::bad_request(
            "missing_unit",
            format!(
                "model {:?} does not randomize per request: the unit key is required",
                experiment.model
            ),
        )
        .with_field("unit")),
    }
}

/// The holdout of `model` that keeps `unit`, if any (the same rule as assignment).
fn holdout_of<'a>(live: &'a Live, model: &str, unit: &str) -> Option<&'a str> {
    live.config
        .holdouts
        .iter()
        .filter(|h| {
            h.models
                .as_ref()
                .is_none_or(|ms| ms.iter().any(|m| m == model))
        })
        .find(|h| {
            let salt = live.state.salt(EntityKind::Holdout, &h.name);
            bucket(salt, unit) < percent_to_buckets(h.percent)
        })
        .map(|h| h.name.as_str())
}

/// The reply's items: each id with the variant that placed it (`null` for methods that credit
/// by rank rather than by team: balanced and probabilistic).
fn response_items(impression: &Impression, variants: &[String]) -> Vec<Value> {
    impression
        .items
        .iter()
        .map(|item| {
            let variant = match impression.method {
                Method::TeamDraft | Method::TeamDraftMultileave => {
                    item.team.and_then(|t| variants.get(t))
                }
                _ => None,
            };
            json!({"id": item.id, "variant": variant})
        })
        .collect()
}
