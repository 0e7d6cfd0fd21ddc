//! The OpenFeature Remote Evaluation Protocol (OFREP): `POST /ofrep/v1/evaluate/flags/{key}` for
//! one flag and `POST /ofrep/v1/evaluate/flags` for all of them, in the protocol's request and
//! response shapes, so any OpenFeature SDK with an OFREP provider can read rampart's assignments.
//!
//! A flag is a model; its value is the variant's name. `context.targetingKey` is the unit key, and
//! the other context fields are attributes (segments), as the `context` of `/v1/assign`. Every
//! evaluation goes through the same assignment path as `/v1/assign` and logs an exposure just as
//! it does. The OFREP reason says how the variant was chosen ([`ofrep_reason`]); rampart's own
//! reason, the rollout and its stage travel in `metadata`. Errors use the protocol's shape
//! (`{"key", "errorCode", "errorDetails"}`), not rampart's; auth failures (401, 403) stay rampart's.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Json, Router};
use rampart_core::assign::switchback_window;
use rampart_core::config::Design;
use rampart_core::state::{ExperimentStatus, RolloutStatus};
use rampart_core::{Exposure, Millis, Reason};
use serde_json::{json, Map, Value};

use crate::app::{decide_in, AssignRequest, Shared};
use crate::auth::Caller;
use crate::clock::now_ms;
use crate::error::{ApiError, ApiPath};
use crate::live::Live;

pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/ofrep/v1/evaluate/flags/{key}", post(evaluate))
        .route("/ofrep/v1/evaluate/flags", post(evaluate_all))
}

/// The OpenFeature error codes an evaluation can end with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ErrorCode {
    ParseError,
    TargetingKeyMissing,
    InvalidContext,
    FlagNotFound,
    General,
}

impl ErrorCode {
    fn as_str(self) -> &'static str {
        match self {
            ErrorCode::ParseError => "PARSE_ERROR",
            ErrorCode::TargetingKeyMissing => "TARGETING_KEY_MISSING",
            ErrorCode::InvalidContext => "INVALID_CONTEXT",
            ErrorCode::FlagNotFound => "FLAG_NOT_FOUND",
            ErrorCode::General => "GENERAL",
        }
    }
}

/// An evaluation that did not give a value: the HTTP status, the OpenFeature code and why.
#[derive(Debug, Clone)]
struct Failure {
    status: StatusCode,
    code: ErrorCode,
    details: String,
}

impl Failure {
    fn new(status: StatusCode, code: ErrorCode, details: impl Into<String>) -> Failure {
        Failure {
            status,
            code,
            details: details.into(),
        }
    }

    fn general(details: impl Into<String>) -> Failure {
        Failure::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::General,
            details,
        )
    }

    /// The failure of one flag, as the single form answers it and the bulk form lists it.
    fn of_flag(&self, key: &str) -> Value {
        json!({"key": key, "errorCode": self.code.as_str(), "errorDetails": self.details})
    }

    fn flag_response(&self, key: &str) -> Response {
        self.log();
        (self.status, Json(self.of_flag(key))).into_response()
    }

    /// A failure of the whole bulk request (no flag key).
    fn bulk_response(&self) -> Response {
        self.log();
        let body = json!({"errorCode": self.code.as_str(), "errorDetails": self.details});
        (self.status, Json(body)).into_response()
    }

    fn log(&self) {
        if self.status.is_server_error() {
            tracing::error!(code = self.code.as_str(), message = %self.details, "OFREP evaluation failed");
        }
    }
}

/// What an evaluation request carries: the unit key and the context its attributes come from.
#[derive(Debug, Default)]
struct Context {
    targeting_key: Option<String>,
    fields: Map<String, Value>,
}

/// Reads `{"context": {...}}`; an empty body is an empty context.
fn parse_request(body: Result<Bytes, BytesRejection>) -> Result<Context, Failure> {
    let bytes = body.map_err(|r| {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Failure::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::General,
                "request body exceeds server.max_body_bytes",
            )
        } else {
            Failure::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::ParseError,
                r.body_text(),
            )
        }
    })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Context::default());
    }
    let parse_error =
        |details: String| Failure::new(StatusCode::BAD_REQUEST, ErrorCode::ParseError, details);
    let invalid_context =
        |details: String| Failure::new(StatusCode::BAD_REQUEST, ErrorCode::InvalidContext, details);
    let body: Value = serde_json::from_slice(&bytes)
        .map_err(|e| parse_error(format!("request body is not valid JSON: {e}")))?;
    let Value::Object(mut body) = body else {
        return Err(parse_error(
            r#"the request body must be a JSON object such as {"context": {"targetingKey": "user-1"}}"#.into(),
        ));
    };
    if let Some(k) = body.keys().find(|k| *k != "context") {
        return Err(parse_error(format!(
            "unknown field {k:?}: the request body has one field, context"
        )));
    }
    let fields = match body.remove("context") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m,
        Some(other) => {
            return Err(invalid_context(format!(
                "context must be a JSON object, not {}",
                kind_of(&other)
            )))
        }
    };
    let targeting_key = match fields.get("targetingKey") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => {
            return Err(invalid_context(format!(
                "context.targetingKey must be a string (the unit key), not {}",
                kind_of(other)
            )))
        }
    };
    Ok(Context {
        targeting_key,
        fields,
    })
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The OpenFeature reason of an assignment. `split` says whether the model's units are split by
/// hashing right now ([`rampart_core::Assigner::splits`]), which tells a hashed default apart from
/// the only variant there is to serve.
pub fn ofrep_reason(reason: Reason, split: bool) -> &'static str {
    match reason {
        // Chosen for this very unit: a QA list or the holdout.
        Reason::Forced | Reason::Holdout => "TARGETING_MATCH",
        Reason::Experiment | Reason::Candidate | Reason::Control => "SPLIT",
        // Outside both slices of a rollout, or outside a running experiment's traffic.
        Reason::Default if split => "SPLIT",
        // Every unit gets the same variant: one variant, nothing running, or a finished rollout.
        Reason::Default | Reason::Completed => "STATIC",
        // Rolled back (one rollout, or all of them by the kill switch): the baseline for everyone.
        Reason::RolledBack => "DISABLED",
    }
}

/// Evaluates one flag: the assignment (through `/v1/assign`'s path) and the exposure to log.
fn evaluate_flag(
    s: &Shared,
    live: &Live,
    key: &str,
    ctx: &Context,
    caller: Caller,
) -> Result<(Value, Exposure), Failure> {
    let req = AssignRequest {
        model: key.to_string(),
        unit: ctx.targeting_key.clone(),
        context: Some(ctx.fields.clone()),
        force: None,
    };
    let (resp, exposure) = decide_in(s, live, req, None, caller).map_err(|e| failure_of(key, e))?;
    let mut metadata = Map::new();
    metadata.insert("assignment_reason".into(), json!(resp.reason));
    metadata.insert("assignment_id".into(), json!(resp.assignment_id));
    metadata.insert("unit".into(), json!(resp.unit));
    metadata.insert("config_version".into(), json!(live.config_version));
    if let Some(e) = &resp.experiment {
        metadata.insert("experiment".into(), json!(e));
    }
    if let Some(h) = &resp.holdout {
        metadata.insert("holdout".into(), json!(h));
    }
    // The model's rollout as the assigner sees it: the first one that has started.
    let rollout = live
        .config
        .rollouts
        .iter()
        .filter(|r| r.model == key)
        .filter_map(|r| Some((r, live.state.rollouts.get(&r.name)?)))
        .find(|(_, st)| st.status != RolloutStatus::Pending);
    if let Some((r, st)) = rollout {
        metadata.insert("rollout".into(), json!(r.name));
        metadata.insert("rollout_status".into(), json!(st.status.as_str()));
        metadata.insert("stage".into(), json!(st.stage));
        metadata.insert("traffic".into(), json!(st.traffic));
    }
    let value = json!({
        "key": key,
        "value": resp.variant,
        "variant": resp.variant,
        "reason": ofrep_reason(exposure.reason, live.assigner.splits(key)),
        "metadata": metadata,
    });
    Ok((value, exposure))
}

/// Turns an assignment error into the protocol's code for it.
fn failure_of(key: &str, e: ApiError) -> Failure {
    match e.code {
        "unknown_model" => {
            let known = e.message.split("known models: ").nth(1).unwrap_or("");
            Failure::new(
                StatusCode::NOT_FOUND,
                ErrorCode::FlagNotFound,
                format!("no flag {key:?}: flags are the models of the config ({known})"),
            )
        }
        "missing_unit" => Failure::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::TargetingKeyMissing,
            format!("{}; send it as context.targetingKey", e.message),
        ),
        "invalid_unit" => Failure::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidContext,
            e.message
                .replace("unit must be", "context.targetingKey must be"),
        ),
        _ if e.status.is_server_error() => Failure::general(e.message),
        _ => Failure::new(StatusCode::BAD_REQUEST, ErrorCode::General, e.message),
    }
}

async fn evaluate(
    State(s): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    uri: axum::http::Uri,
    key: Result<ApiPath<String>, ApiError>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    // A key that is not UTF-8 is an OFREP parse error, answered in OFREP's shape like the rest.
    let key = match key {
        Ok(ApiPath(k)) => k,
        Err(e) => {
            let raw = uri.path().rsplit('/').next().unwrap_or_default();
            return Failure::new(StatusCode::BAD_REQUEST, ErrorCode::ParseError, e.message)
                .flag_response(raw);
        }
    };
    let ctx = match parse_request(body) {
        Ok(c) => c,
        Err(f) => return f.flag_response(&key),
    };
    let live = s.live.load();
    match evaluate_flag(&s, &live, &key, &ctx, caller) {
        Ok((value, exposure)) => match s.writer.expose(exposure).await {
            Ok(()) => Json(value).into_response(),
            Err(e) => Failure::general(e).flag_response(&key),
        },
        Err(f) => f.flag_response(&key),
    }
}

async fn evaluate_all(
    State(s): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let ctx = match parse_request(body) {
        Ok(c) => c,
        Err(f) => return f.bulk_response(),
    };
    let live = s.live.load();
    let etag = bulk_etag(&live, &ctx, now_ms());
    let etag_header = HeaderValue::from_str(&etag).ok();
    if matches_any(&headers, &etag) {
        // The client holds these very answers; it was logged when it fetched them.
        let mut resp = StatusCode::NOT_MODIFIED.into_response();
        if let Some(v) = etag_header {
            resp.headers_mut().insert(header::ETAG, v);
        }
        return resp;
    }
    let mut flags = Vec::with_capacity(live.config.models.len());
    let mut exposures = Vec::with_capacity(live.config.models.len());
    for m in &live.config.models {
        match evaluate_flag(&s, &live, &m.name, &ctx, caller) {
            Ok((value, exposure)) => {
                flags.push(value);
                exposures.push(exposure);
            }
            Err(f) if f.status.is_server_error() => return f.bulk_response(),
            Err(f) => flags.push(f.of_flag(&m.name)),
        }
    }
    for e in exposures {
        if let Err(e) = s.writer.expose(e).await {
            return Failure::general(e).bulk_response();
        }
    }
    let mut resp = Json(json!({ "flags": flags })).into_response();
    if let Some(v) = etag_header {
        resp.headers_mut().insert(header::ETAG, v);
    }
    resp
}

/// The entity tag of a bulk answer: it changes whenever the answer can — a new config version, any
/// change of rollout, experiment or layer state (a stage moving, a rollback), a new switchback
/// window, or another context.
fn bulk_etag(live: &Live, ctx: &Context, now: Millis) -> String {
    let mut text = format!("{}\n", live.config_version);
    let state = json!({
        "rollouts": live.state.rollouts,
        "experiments": live.state.experiments,
        "layers": live.state.layers,
    });
    text.push_str(&state.to_string());
    text.push('\n');
    for e in &live.config.experiments {
        let running = live
            .state
            .experiments
            .get(&e.name)
            .is_some_and(|st| st.status == ExperimentStatus::Running);
        if e.design == Design::Switchback && running {
            text.push_str(&format!(
                "{}@{}\n",
                e.name,
                switchback_window(e.window_ms(), now)
            ));
        }
    }
    text.push_str(&Value::Object(ctx.fields.clone()).to_string());
    format!("\"{:032x}\"", xxhash_rust::xxh3::xxh3_128(text.as_bytes()))
}

/// Whether `If-None-Match` names `etag` (weak or strong) or is `*`.
fn matches_any(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_map_to_openfeature() {
        assert_eq!(ofrep_reason(Reason::Forced, true), "TARGETING_MATCH");
        assert_eq!(ofrep_reason(Reason::Holdout, false), "TARGETING_MATCH");
        for r in [Reason::Experiment, Reason::Candidate, Reason::Control] {
            assert_eq!(ofrep_reason(r, true), "SPLIT", "{r:?}");
        }
        assert_eq!(ofrep_reason(Reason::Default, true), "SPLIT");
        assert_eq!(ofrep_reason(Reason::Default, false), "STATIC");
        assert_eq!(ofrep_reason(Reason::Completed, false), "STATIC");
        assert_eq!(ofrep_reason(Reason::RolledBack, false), "DISABLED");
    }

    fn parse(body: &str) -> Result<Context, Failure> {
        parse_request(Ok(Bytes::from(body.to_string())))
    }

    #[test]
    fn requests_parse_or_say_what_is_wrong() {
        let c = parse(r#"{"context": {"targetingKey": "u-1", "country": "fr"}}"#).unwrap();
        assert_eq!(c.targeting_key.as_deref(), Some("u-1"));
        assert_eq!(c.fields["country"], "fr");
        assert!(parse("  ").unwrap().targeting_key.is_none());
        assert!(parse(r#"{"context": {"targetingKey": ""}}"#)
            .unwrap()
            .targeting_key
            .is_none());
        assert!(parse(r#"{"context": null}"#).unwrap().fields.is_empty());
        let code = |body: &str| parse(body).map(|_| ()).unwrap_err().code;
        assert_eq!(code("{"), ErrorCode::ParseError);
        assert_eq!(code("[1]"), ErrorCode::ParseError);
        assert_eq!(code(r#"{"contxt": {}}"#), ErrorCode::ParseError);
        assert_eq!(code(r#"{"context": 3}"#), ErrorCode::InvalidContext);
        assert_eq!(
            code(r#"{"context": {"targetingKey": 7}}"#),
            ErrorCode::InvalidContext
        );
        let f = parse(r#"{"context": [1]}"#).map(|_| ()).unwrap_err();
        assert_eq!(f.details, "context must be a JSON object, not an array");
    }

    #[test]
    fn if_none_match_lists_and_weak_tags_match() {
        let tag = "\"abc\"";
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::IF_NONE_MATCH, HeaderValue::from_str(v).unwrap());
            matches_any(&h, tag)
        };
        assert!(with("\"abc\""));
        assert!(with("\"x\", W/\"abc\""));
        assert!(with("*"));
        assert!(!with("\"abd\""));
        assert!(!matches_any(&HeaderMap::new(), tag));
    }
}
