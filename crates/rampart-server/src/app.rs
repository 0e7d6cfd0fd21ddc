//! The HTTP API: routes, request and response shapes, and the shared state handlers read.
//! `router(shared)` builds the whole service so tests can drive it with or without a socket.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Extension;
use axum::{Json, Router};
use rampart_core::config::{Attributes, UnitKind};
use rampart_core::evidence::Aggregator;
use rampart_core::{EntityKind, Exposure, Millis, OutcomeEvent};
use rampart_store::Store;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};

use crate::auth::{load_tokens, Caller, Tokens};
use crate::clock::{now_ms, parse_rfc3339};
use crate::error::{parse_json, ApiError, ApiPath};
use crate::live::{apply_config, Live};
use crate::telemetry::{Gauges, RolloutGauges, Telemetry};
use crate::writer::Writer;

/// The OpenAPI 3.1 document of every route, served at `/openapi.json`.
pub const OPENAPI: &str = include_str!("openapi.json");

/// Events stamped further ahead than this are refused (clock skew allowance).
const MAX_FUTURE_MS: Millis = 5 * 60 * 1000;
/// The longest `unit`, event `id` and `type`, in characters (not bytes).
pub(crate) const MAX_ID_LEN: usize = 256;

/// Whether `text` is 1 to [`MAX_ID_LEN`] characters long.
pub(crate) fn id_len_ok(text: &str) -> bool {
    !text.is_empty() && text.chars().count() <= MAX_ID_LEN
}

/// The configured models a holdout covers: its list, or every model when it names none.
pub(crate) fn holdout_models(
    h: &rampart_core::config::Holdout,
    config: &rampart_core::config::Config,
) -> Vec<String> {
    match &h.models {
        Some(m) => m.clone(),
        None => config.models.iter().map(|m| m.name.clone()).collect(),
    }
}

/// What every handler can reach.
pub struct Shared {
    pub live: ArcSwap<Live>,
    pub writer: Writer,
    pub aggregator: Arc<Mutex<Aggregator>>,
    pub store: Arc<dyn Store>,
    pub telemetry: Arc<Telemetry>,
    /// The file `reload` reads; none when the config came from elsewhere.
    pub config_path: Option<PathBuf>,
    pub ready: AtomicBool,
    /// Serialises everything that changes live state: reloads, controller ticks, commands.
    pub control_lock: tokio::sync::Mutex<()>,
    /// The controller's last look at each rollout.
    pub looks: crate::controller::Looks,
    /// The controller's last report on each experiment.
    pub experiment_reports: crate::experiments::Reports,
    pub notifier: crate::notify::Notifier,
    /// Bearer tokens; empty (auth off) until `start` reads `[auth]`, replaced on reload.
    pub tokens: ArcSwap<Tokens>,
    /// The model proxy's upstream client, shadow limits and per-variant summary.
    pub(crate) proxy: crate::proxy::Proxy,
    next_id: AtomicU64,
}

impl Shared {
    pub fn new(
        live: Live,
        writer: Writer,
        aggregator: Arc<Mutex<Aggregator>>,
        store: Arc<dyn Store>,
        telemetry: Arc<Telemetry>,
        config_path: Option<PathBuf>,
        notifier: crate::notify::Notifier,
    ) -> Shared {
        Shared {
            live: ArcSwap::from_pointee(live),
            writer,
            aggregator,
            store,
            telemetry,
            config_path,
            ready: AtomicBool::new(false),
            control_lock: tokio::sync::Mutex::new(()),
            looks: Default::default(),
            experiment_reports: Default::default(),
            notifier,
            tokens: ArcSwap::from_pointee(Tokens::default()),
            proxy: crate::proxy::Proxy::new(),
            // Random high bits keep ids of different processes apart.
            next_id: AtomicU64::new(crate::live::random_u64() & 0xFFFF_FFFF_0000_0000),
        }
    }

    pub(crate) fn assignment_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Re-reads the config file and applies it; units keep their assignments (salts are stored).
    pub async fn reload(&self) -> Result<i64, ApiError> {
        let path = self.config_path.clone().ok_or_else(|| {
            ApiError::new(
                StatusCode::CONFLICT,
                "no_config_file",
                "this server was not started from a config file",
            )
        })?;
        let _guard = self.control_lock.lock().await;
        let text = std::fs::read_to_string(&path).map_err(|e| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_config",
                format!("cannot read {}: {e}", path.display()),
            )
        })?;
        let format = rampart_core::config::Format::from_path(&path);
        let loaded = rampart_core::config::check_str(&text, format, &path.display().to_string()).map_err(|errs| {
            let details: Vec<Value> = errs
                .0
                .iter()
                .map(|e| json!({"file": e.file, "line": e.line, "field": e.field, "message": e.message}))
                .collect();
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_config", errs.to_string()).with_details(json!(details))
        })?;
        // Valid but almost certainly not meant (e.g. a gate that can only pass on an improvement).
        for w in &loaded.warnings {
            tracing::warn!(warning = %w, "config warning");
        }
        let config = loaded.config;
        crate::experiments::check_preregistrations(&self.live.load(), &config)?;
        if let Some(p) = &config.prometheus {
            crate::prometheus::Prometheus::new(p, path.parent(), |v| std::env::var(v).ok())
                .map_err(|e| {
                    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_config", e)
                        .with_field("prometheus")
                })?;
        }
        let hooks = crate::notify::resolve_webhooks(&config.webhooks, path.parent(), |v| {
            std::env::var(v).ok()
        })
        .map_err(|errs| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_config",
                errs.join("; "),
            )
            .with_field("webhooks")
        })?;
        let tokens = load_tokens(&config.auth, path.parent(), |v| std::env::var(v).ok()).map_err(
            |errs| {
                let text: Vec<String> = errs.iter().map(ToString::to_string).collect();
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_config",
                    text.join("; "),
                )
            },
        )?;
        // Switching auth off would open a server that may listen beyond loopback.
        if self.tokens.load().is_on() && !tokens.is_on() {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_config",
                "the reloaded config has no [auth] token; auth can only be switched off by a restart",
            )
            .with_field("auth"));
        }
        let store = self.store.clone();
        let live =
            tokio::task::spawn_blocking(move || apply_config(&*store, config, &text, now_ms()))
                .await
                .map_err(|e| ApiError::internal(e.to_string()))?
                .map_err(|e| {
                    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_config", e)
                })?;
        let config = live.config.clone();
        let version = live.config_version;
        let restarted = self
            .aggregator
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .reconfigure(&config);
        // Cells first, so every variant the new view serves has its counters.
        self.telemetry.register_models(&config);
        self.live.store(Arc::new(live));
        self.tokens.store(Arc::new(tokens));
        self.notifier.replace(hooks);
        if !restarted.is_empty() {
            self.writer
                .rebuild(config)
                .await
                .map_err(ApiError::internal)?;
        }
        self.telemetry
            .config_reloads
            .fetch_add(1, Ordering::Relaxed);
        tracing::info!(version, "config reloaded");
        Ok(version)
    }
}

/// The whole HTTP API.
pub fn router(shared: Arc<Shared>, max_body: usize) -> Router {
    let telemetry = shared.telemetry.clone();
    let timeouts = crate::edge::Timeouts::from_config(&shared.live.load().config.server);
    let api = Router::new()
        .route("/v1/assign", post(assign))
        .route("/v1/assign/batch", post(assign_batch))
        .route("/v1/events", post(events))
        .route("/v1/status", get(status))
        .route("/v1/evidence/{entity}", get(evidence))
        .route("/v1/config/reload", post(reload))
        .route("/healthz", get(crate::edge::healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .merge(crate::rollouts::routes())
        .merge(crate::experiments::routes())
        .merge(crate::interleave::routes())
        .merge(crate::holdouts::routes())
        .merge(crate::ofrep::routes())
        .merge(crate::verdict::routes())
        .merge(crate::series::routes())
        .merge(crate::dashboard::routes())
        .merge(crate::proxy::routes())
        // Only for matched routes, so the route's pattern is known; unknown paths get a plain 404.
        .route_layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            crate::auth::require,
        ))
        .fallback(|| async {
            ApiError::not_found("no such endpoint; see /v1/status for what is served")
        })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this endpoint does not take that method",
            )
        })
        .route_layer(axum::middleware::from_fn(crate::edge::tag_route))
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(shared);
    crate::edge::layered(api, telemetry, timeouts)
}

/// Reads a JSON object body into `T`, with our error shape for every way it can fail.
pub(crate) fn parse_body<T: serde::de::DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
) -> Result<T, ApiError> {
    parse_json(&read_body(body)?, None)
}

/// The body's bytes, or the error for a body too large or cut short.
pub(crate) fn read_body(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|r| {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "request body exceeds server.max_body_bytes",
            )
            .with_field("body")
        } else {
            ApiError::bad_request("unreadable_body", r.body_text()).with_field("body")
        }
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AssignRequest {
    pub(crate) model: String,
    #[serde(default)]
    pub(crate) unit: Option<String>,
    #[serde(default)]
    pub(crate) context: Option<Map<String, Value>>,
    /// Asks for a variant (QA).
    #[serde(default)]
    pub(crate) force: Option<String>,
}

#[derive(Debug, Serialize)]
pub(crate) struct AssignResponse {
    pub(crate) variant: String,
    pub(crate) reason: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) rollout: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) experiment: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) holdout: Option<String>,
    pub(crate) assignment_id: String,
    /// Echoed, or generated for per-request randomization.
    pub(crate) unit: String,
}

async fn assign(
    State(s): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let req: AssignRequest = parse_body(body)?;
    let (resp, exposure) = decide(&s, req, None, caller)?;
    s.writer
        .expose(exposure)
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(resp).into_response())
}

/// Items stay raw until each is parsed on its own, so an error can name `requests[i].field`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AssignBatch<'a> {
    #[serde(borrow)]
    requests: Vec<&'a RawValue>,
}

async fn assign_batch(
    State(s): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let bytes = read_body(body)?;
    let batch: AssignBatch = parse_json(&bytes, None)?;
    let mut out = Vec::with_capacity(batch.requests.len());
    let mut exposures = Vec::with_capacity(batch.requests.len());
    for (i, raw) in batch.requests.iter().enumerate() {
        let req: AssignRequest = parse_json(raw.get().as_bytes(), Some(&format!("requests[{i}]")))?;
        let (resp, exposure) = decide(&s, req, Some(i), caller)?;
        out.push(resp);
        exposures.push(exposure);
    }
    for e in exposures {
        s.writer.expose(e).await.map_err(ApiError::internal)?;
    }
    Ok(Json(json!({ "assignments": out })).into_response())
}

/// Assigns one request against the live assigner; returns the reply and the exposure to log.
pub(crate) fn decide(
    s: &Shared,
    req: AssignRequest,
    index: Option<usize>,
    caller: Caller,
) -> Result<(AssignResponse, Exposure), ApiError> {
    decide_in(s, &s.live.load(), req, index, caller)
}

/// [`decide`] against a given live view, for callers that read more of the same view.
pub(crate) fn decide_in(
    s: &Shared,
    live: &Live,
    req: AssignRequest,
    index: Option<usize>,
    caller: Caller,
) -> Result<(AssignResponse, Exposure), ApiError> {
    let at = |field: &str| match index {
        Some(i) => format!("requests[{i}].{field}"),
        None => field.to_string(),
    };
    if req.force.is_some() && !caller.may_force() {
        let role = caller.role.map_or("none", |r| r.as_str());
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "force is for QA: it needs an operate or admin token; this token's role is {role}"
            ),
        )
        .with_field(at("force")));
    }
    let kind = live.assigner.unit_kind(&req.model).ok_or_else(|| {
        let known: Vec<&str> = live.config.models.iter().map(|m| m.name.as_str()).collect();
        ApiError::bad_request(
            "unknown_model",
            format!(
                "unknown model {:?}; known models: {}",
                req.model,
                known.join(", ")
            ),
        )
        .with_field(at("model"))
    })?;
    let id = s.assignment_id();
    let unit = match (kind, req.unit) {
        (UnitKind::Request, None) => format!("{id:016x}"),
        (_, Some(u)) if id_len_ok(&u) => u,
        (_, Some(u)) => {
            return Err(ApiError::bad_request(
                "invalid_unit",
                format!(
                    "unit must be 1 to {MAX_ID_LEN} characters; this one has {}",
                    u.chars().count()
                ),
            )
            .with_field(at("unit")))
        }
        (_, None) => {
            return Err(ApiError::bad_request(
                "missing_unit",
                format!(
                    "model {:?} randomizes by {}: the unit key is required",
                    req.model,
                    // The config's spelling (`user`, `session`), not the Rust variant name.
                    json!(kind).as_str().unwrap_or("unit")
                ),
            )
            .with_field(at("unit")));
        }
    };
    // One clock read: the exposure's time is the time the (switchback) window was read at.
    let now = now_ms();
    let a = live
        .assigner
        .assign(&req.model, &unit, req.force.as_deref(), now)
        .map_err(|e| {
            ApiError::bad_request("invalid_force", e.to_string()).with_field(at("force"))
        })?;
    let segments = segment_values(&live.config.segments, req.context.as_ref());
    let mut resp = AssignResponse {
        variant: a.variant.to_string(),
        reason: a.reason.as_str(),
        rollout: None,
        experiment: None,
        holdout: None,
        assignment_id: format!("{id:016x}"),
        unit: unit.clone(),
    };
    match a.entity {
        Some((EntityKind::Rollout, n)) => resp.rollout = Some(n.to_string()),
        Some((EntityKind::Experiment, n)) => resp.experiment = Some(n.to_string()),
        Some((EntityKind::Holdout, n)) => resp.holdout = Some(n.to_string()),
        _ => {}
    }
    let exposure = Exposure {
        ts: now,
        model: req.model,
        unit,
        variant: resp.variant.clone(),
        reason: a.reason,
        entity: a.entity.map(|(k, n)| (k, n.to_string())),
        assignment_id: id,
        segments,
    };
    s.telemetry
        .count_assignment(&exposure.model, &exposure.variant, exposure.reason);
    Ok((resp, exposure))
}

/// The configured segment attributes present in a request context, as text.
fn segment_values(names: &[String], context: Option<&Map<String, Value>>) -> Attributes {
    let mut out = Attributes::new();
    if let Some(ctx) = context {
        for n in names {
            if let Some(v) = ctx.get(n).and_then(scalar_text) {
                out.insert(n.clone(), v);
            }
        }
    }
    out
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EventBatch<'a> {
    #[serde(borrow)]
    events: Vec<&'a RawValue>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EventIn {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    unit: String,
    model: String,
    #[serde(default)]
    value: Option<f64>,
    /// Unix milliseconds or RFC 3339 text; read as JSON so a wrong kind gets our message.
    #[serde(default)]
    ts: Option<Value>,
    #[serde(default)]
    attributes: Option<Map<String, Value>>,
}

async fn events(
    State(s): State<Arc<Shared>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let bytes = read_body(body)?;
    let batch: EventBatch = parse_json(&bytes, None)?;
    if batch.events.is_empty() {
        return Err(
            ApiError::bad_request("empty_batch", "events must hold at least one event")
                .with_field("events"),
        );
    }
    let now = now_ms();
    let live = s.live.load();
    let mut good = Vec::with_capacity(batch.events.len());
    let mut bad = Vec::new();
    for (i, raw) in batch.events.iter().enumerate() {
        match check_event(raw.get(), &live, now) {
            Ok(e) => good.push(e),
            Err((field, reason)) => bad.push(json!({"index": i, "field": field, "reason": reason})),
        }
    }
    if !bad.is_empty() {
        s.telemetry
            .events_rejected
            .fetch_add(bad.len() as u64, Ordering::Relaxed);
        let first = bad[0]["reason"].as_str().unwrap_or_default().to_string();
        return Err(ApiError::bad_request(
            "invalid_events",
            format!(
                "{} of {} events are invalid (first: {first}); nothing of the batch was stored",
                bad.len(),
                batch.events.len()
            ),
        )
        .with_field("events")
        .with_details(json!(bad)));
    }
    let stored = s
        .writer
        .ingest(good)
        .await
        .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "store_unavailable", e))?;
    Ok(Json(json!({"accepted": stored.accepted, "duplicates": stored.duplicates})).into_response())
}

/// Checks one event; on failure says which field and why.
fn check_event(raw: &str, live: &Live, now: Millis) -> Result<OutcomeEvent, (String, String)> {
    if !raw.trim_start().starts_with('{') {
        return Err((String::new(), "an event must be a JSON object ({\"id\": ..., \"type\": ..., \"unit\": ..., \"model\": ...})".to_string()));
    }
    let e: EventIn = parse_json(raw.as_bytes(), None).map_err(|err| {
        (
            err.field.filter(|f| f != "body").unwrap_or_default(),
            err.message,
        )
    })?;
    let text_field = |name: &str, v: &str| -> Result<(), (String, String)> {
        if !id_len_ok(v) {
            return Err((
                name.to_string(),
                format!(
                    "{name} must be 1 to {MAX_ID_LEN} characters; this one has {}",
                    v.chars().count()
                ),
            ));
        }
        Ok(())
    };
    text_field("id", &e.id)?;
    text_field("type", &e.kind)?;
    text_field("unit", &e.unit)?;
    if live.config.model(&e.model).is_none() {
        let known: Vec<&str> = live.config.models.iter().map(|m| m.name.as_str()).collect();
        return Err((
            "model".into(),
            format!(
                "unknown model {:?}; known models: {}",
                e.model,
                known.join(", ")
            ),
        ));
    }
    if let Some(v) = e.value {
        if !v.is_finite() {
            return Err(("value".into(), "value must be a finite number".into()));
        }
    }
    let ts = match e.ts {
        None | Some(Value::Null) => now,
        Some(Value::Number(n)) => n.as_i64().ok_or_else(|| {
            ("ts".to_string(), format!("ts {n} is not whole Unix milliseconds; send an integer such as 1769860800000 or RFC 3339 text such as \"2026-01-31T12:00:00Z\""))
        })?,
        Some(Value::String(t)) => parse_rfc3339(&t).ok_or_else(|| {
            ("ts".to_string(), format!("ts {t:?} is neither Unix milliseconds nor RFC 3339 (e.g. 2026-01-31T12:00:00Z)"))
        })?,
        Some(other) => {
            return Err(("ts".to_string(), format!("ts must be Unix milliseconds (an integer) or RFC 3339 text (e.g. \"2026-01-31T12:00:00Z\"); found {other}")))
        }
    };
    if ts > now + MAX_FUTURE_MS {
        return Err((
            "ts".into(),
            format!(
                "ts is {} s in the future; at most 300 s is accepted",
                (ts - now) / 1000
            ),
        ));
    }
    if ts < 0 {
        return Err(("ts".into(), "ts must not be before 1970-01-01".into()));
    }
    let mut attributes = Attributes::new();
    for (k, v) in e.attributes.unwrap_or_default() {
        let text = scalar_text(&v).ok_or_else(|| {
            (
                format!("attributes.{k}"),
                "attribute values must be strings, numbers or booleans".to_string(),
            )
        })?;
        attributes.insert(k, text);
    }
    Ok(OutcomeEvent {
        id: e.id,
        kind: e.kind,
        unit: e.unit,
        model: e.model,
        value: e.value,
        ts,
        attributes,
    })
}

async fn status(State(s): State<Arc<Shared>>) -> Json<Value> {
    let live = s.live.load();
    let c = &live.config;
    let models: Vec<Value> = c
        .models
        .iter()
        .map(|m| {
            json!({
                "name": m.name, "unit": m.unit, "baseline": m.baseline(),
                "variants": m.variants.iter().map(|v| &v.name).collect::<Vec<_>>(),
                "split": live.assigner.expected_split(&m.name),
            })
        })
        .collect();
    let rollouts: Vec<Value> = c
        .rollouts
        .iter()
        .map(|r| {
            let st = live.state.rollouts.get(&r.name);
            json!({
                "name": r.name, "model": r.model, "baseline": r.baseline, "candidate": st.map_or(r.candidate.as_str(), |s| s.candidate_of(r)),
                "status": st.map(|s| s.status.as_str()), "stage": st.map(|s| s.stage),
                "stages": r.stages.len(), "traffic": st.map(|s| s.traffic),
                "started_at": st.and_then(|s| s.started_at), "stage_started_at": st.and_then(|s| s.stage_started_at),
            })
        })
        .collect();
    let experiments: Vec<Value> = c
        .experiments
        .iter()
        .map(|e| {
            let st = live.state.experiments.get(&e.name);
            json!({
                "name": e.name, "model": e.model, "design": e.design, "variants": e.variants,
                "traffic": e.traffic, "layer": e.layer, "status": st.map(|s| s.status),
                "started_at": st.and_then(|s| s.started_at),
            })
        })
        .collect();
    let holdouts: Vec<Value> = c
        .holdouts
        .iter()
        .map(|h| json!({"name": h.name, "percent": h.percent, "models": holdout_models(h, c)}))
        .collect();
    // Kinds and goals, so readers (the dashboard) can format and colour values.
    let metrics: Vec<Value> = c
        .metrics
        .iter()
        .map(|m| json!({"name": m.name, "kind": m.kind, "goal": m.goal()}))
        .collect();
    Json(json!({
        "config_version": live.config_version,
        "models": models, "rollouts": rollouts, "experiments": experiments, "holdouts": holdouts,
        "metrics": metrics,
    }))
}

async fn evidence(
    State(s): State<Arc<Shared>>,
    ApiPath(entity): ApiPath<String>,
) -> Result<Response, ApiError> {
    let ev = s
        .aggregator
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .evidence(&entity);
    match ev {
        Some(ev) => Ok(Json(ev).into_response()),
        None => {
            let known: Vec<String> = s
                .aggregator
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .entities()
                .map(str::to_string)
                .collect();
            Err(ApiError::not_found(format!(
                "no rollout, experiment or holdout {entity:?}; known: {}",
                known.join(", ")
            ))
            .with_field("entity"))
        }
    }
}

async fn reload(State(s): State<Arc<Shared>>) -> Result<Json<Value>, ApiError> {
    let version = s.reload().await?;
    Ok(Json(json!({"config_version": version})))
}

async fn readyz(State(s): State<Arc<Shared>>) -> Response {
    if s.ready.load(Ordering::Acquire) {
        Json(json!({"status": "ready"})).into_response()
    } else {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "still loading the store",
        )
        .into_response()
    }
}

async fn metrics(State(s): State<Arc<Shared>>) -> Response {
    let live = s.live.load();
    let rollouts = {
        let looks = s.looks.lock().unwrap_or_else(|p| p.into_inner());
        live.config
            .rollouts
            .iter()
            .filter_map(|r| {
                let state = live.state.rollouts.get(&r.name)?.clone();
                // Overall verdicts only: segment verdicts would repeat a gate's labels.
                let verdicts = looks.get(&r.name).map_or_else(Vec::new, |l| {
                    l.verdicts
                        .iter()
                        .filter(|v| v.segment.is_none())
                        .map(|v| (v.gate, v.metric.clone(), v.outcome))
                        .collect()
                });
                Some(RolloutGauges {
                    name: r.name.clone(),
                    state,
                    verdicts,
                })
            })
            .collect()
    };
    let gauges = Gauges {
        writer_queue_depth: s.writer.queue_depth(),
        rollouts,
    };
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        s.telemetry.render(&gauges),
    )
        .into_response()
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}
