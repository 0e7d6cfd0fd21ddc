//! The model proxy: `POST /v1/predict/{model}[/{*path}]` assigns the caller's unit exactly as
//! `/v1/assign` does, forwards the call to the assigned variant's endpoint over a pooled HTTP/1
//! client, streams the answer back with `X-Rampart-Variant`, and turns every call into outcome
//! events (`response`, `error`) so latency and error gates need no client change. It can fall
//! back on the baseline when another variant fails, and in shadow mode sends a copy of each call
//! to a shadow variant whose answer never reaches the caller. `GET /v1/proxy/{model}` summarises
//! what the proxy's events say per variant. The decisions (plan, unit lookup, comparison, events)
//! are `rampart_core::proxy`'s; this module does the IO.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use http_body::{Body as HttpBody, Frame, SizeHint};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rampart_core::config::{Model, UnitKind};
use rampart_core::proxy::{
    diff_event, plan_call, same_output, unit_from_json, upstream_url, CallOutcome, ProxySummary,
    Target,
};
use rampart_core::OutcomeEvent;
use serde_json::{json, Map, Value};
use tokio::sync::{oneshot, Semaphore};

use crate::app::{decide, AssignRequest, Shared, MAX_ID_LEN};
use crate::auth::Caller;
use crate::clock::now_ms;
use crate::error::{ApiError, ApiPath};
use crate::telemetry::CallClass;

/// The unit key of a proxied call.
pub const UNIT_HEADER: &str = "x-rampart-unit";
/// The variant whose answer the caller got.
pub const VARIANT_HEADER: &str = "x-rampart-variant";
/// The variant that failed before the baseline answered.
pub const RETRIED_FROM_HEADER: &str = "x-rampart-retried-from";
/// Most bytes of an output kept to compare a shadow's answer with the baseline's; larger
/// outputs are not compared.
const MAX_COMPARED_BYTES: usize = 1 << 20;
/// Idle upstream connections kept per host.
const POOL_IDLE_PER_HOST: usize = 256;

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        // With nothing after the model the call goes to the endpoint as configured.
        .route("/v1/predict/{model}", post(predict))
        .route("/v1/predict/{model}/{*path}", post(predict))
        .route("/v1/proxy/{model}", get(summary))
}

/// The proxy's shared parts: the pooled client, each model's shadow slots and the summary of
/// the proxy's events.
pub(crate) struct Proxy {
    client: Client<HttpsConnector<HttpConnector>, Body>,
    /// Per model: its `shadow_limit` and the semaphore holding that many slots.
    shadow_slots: Mutex<HashMap<String, (usize, Arc<Semaphore>)>>,
    summary: Mutex<ProxySummary>,
}

impl Proxy {
    pub(crate) fn new() -> Proxy {
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(std::time::Duration::from_secs(90))
            .pool_max_idle_per_host(POOL_IDLE_PER_HOST)
            .build(crate::tls::https_connector());
        Proxy {
            client,
            shadow_slots: Mutex::new(HashMap::new()),
            summary: Mutex::new(ProxySummary::default()),
        }
    }

    /// Replaces the summary with one rebuilt from the store at start-up.
    pub(crate) fn restore(&self, summary: ProxySummary) {
        *self.summary.lock().unwrap_or_else(|p| p.into_inner()) = summary;
    }

    /// A slot for one shadow call of `model`, or `None` when `limit` calls are in flight.
    fn shadow_slot(&self, model: &str, limit: usize) -> Option<tokio::sync::OwnedSemaphorePermit> {
        let sem = {
            let mut slots = self.shadow_slots.lock().unwrap_or_else(|p| p.into_inner());
            let entry = slots
                .entry(model.to_string())
                .or_insert_with(|| (limit, Arc::new(Semaphore::new(limit))));
            // A reload changed the limit: calls in flight keep their old slots.
            if entry.0 != limit {
                *entry = (limit, Arc::new(Semaphore::new(limit)));
            }
            entry.1.clone()
        };
        sem.try_acquire_owned().ok()
    }

    fn shadows_in_flight(&self, model: &str) -> usize {
        let slots = self.shadow_slots.lock().unwrap_or_else(|p| p.into_inner());
        slots
            .get(model)
            .map_or(0, |(limit, sem)| limit - sem.available_permits())
    }
}

/// The answer of one upstream call: what happened, the response when there was one, and why it
/// failed when there was none.
struct Answer {
    outcome: CallOutcome,
    response: Option<hyper::Response<Incoming>>,
    failure: String,
}

/// The parts of the caller's request that every upstream call copies.
struct Outgoing {
    method: Method,
    path: String,
    query: Option<String>,
    headers: HeaderMap,
}

/// The model the call names; the rest of the path is taken raw from the URI (see [`rest_of_path`]).
#[derive(Debug, serde::Deserialize)]
struct PredictPath {
    model: String,
}

/// What follows `/v1/predict/{model}/` in the request path, as the caller sent it (still
/// percent-encoded, so the upstream request line stays valid); empty for `/v1/predict/{model}`.
fn rest_of_path(path: &str) -> &str {
    let after = path.strip_prefix("/v1/predict/").unwrap_or_default();
    after.split_once('/').map_or("", |(_, rest)| rest)
}

async fn predict(
    State(s): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    ApiPath(PredictPath { model: model_name }): ApiPath<PredictPath>,
    req: Request,
) -> Result<Response, ApiError> {
    let live = s.live.load_full();
    let model = live.config.model(&model_name).ok_or_else(|| {
        let known: Vec<&str> = live.config.models.iter().map(|m| m.name.as_str()).collect();
        ApiError::not_found(format!(
            "unknown model {model_name:?}; known models: {}",
            known.join(", ")
        ))
        .with_field("model")
    })?;
    let max_body = live.config.server.max_body_bytes;
    let (parts, body) = req.into_parts();
    let mut body = Some(body);
    let mut buffered: Option<Bytes> = None;

    let unit = match header_unit(&parts.headers)? {
        Some(u) => Some(u),
        None if model.unit == UnitKind::Request => None,
        None => match &model.proxy.unit_field {
            Some(field) => {
                let bytes = read_body(body.take(), max_body).await?;
                let unit = unit_from_json(&bytes, field).map_err(|e| {
                    ApiError::bad_request("missing_unit", e.to_string()).with_field(field.clone())
                })?;
                buffered = Some(bytes);
                Some(unit)
            }
            None => {
                return Err(ApiError::bad_request(
                    "missing_unit",
                    format!(
                        "model {model_name:?} randomizes by {}: send the unit key in the X-Rampart-Unit header, or name the JSON body field that holds it in [models.proxy] unit_field",
                        json!(model.unit).as_str().unwrap_or("unit")
                    ),
                )
                .with_field("X-Rampart-Unit"))
            }
        },
    };

    // Shadow mode answers every call from the baseline: no assignment, no exposure.
    let (variant, unit, call_id, exposure) = if model.proxy.shadow.is_some() {
        let id = format!("{:016x}", s.assignment_id());
        let unit = unit.unwrap_or_else(|| id.clone());
        (model.baseline().to_string(), unit, id, None)
    } else {
        let context = match &buffered {
            Some(b) if !live.config.segments.is_empty() => {
                serde_json::from_slice::<Map<String, Value>>(b).ok()
            }
            _ => None,
        };
        let request = AssignRequest {
            model: model_name.clone(),
            unit,
            context,
            force: None,
        };
        let (resp, exposure) = decide(&s, request, None, caller)?;
        (resp.variant, resp.unit, resp.assignment_id, Some(exposure))
    };

    let plan = plan_call(model, &variant);
    let primary_endpoint = endpoint_of(model, &plan.primary)?;
    if let Some(exposure) = exposure {
        s.writer
            .expose(exposure)
            .await
            .map_err(ApiError::internal)?;
    }
    if plan.needs_body_copy() && buffered.is_none() {
        buffered = Some(read_body(body.take(), max_body).await?);
    }
    let out = Outgoing {
        method: parts.method.clone(),
        path: rest_of_path(parts.uri.path()).to_string(),
        query: parts.uri.query().map(str::to_string),
        headers: forward_headers(&parts.headers, s.tokens.load().is_on()),
    };
    let body_of = |body: &mut Option<Body>| match &buffered {
        Some(b) => Body::from(b.clone()),
        None => body.take().unwrap_or_else(Body::empty),
    };

    // The shadow starts first, so it runs alongside the baseline; it gets the baseline's output
    // through `baseline_output` when outputs are compared.
    let mut baseline_output = None;
    if let Some(shadow) = &plan.shadow {
        baseline_output = spawn_shadow(
            &s,
            model,
            shadow,
            &out,
            buffered.clone().unwrap_or_default(),
            &unit,
            &call_id,
        );
    }

    let answer = call(
        &s,
        &out,
        &primary_endpoint,
        plan.primary.timeout,
        body_of(&mut body),
    )
    .await;
    record(&s, model, &plan.primary, &answer, &unit, &call_id, false).await;
    let mut answered_by = &plan.primary;
    let mut answer = answer;
    let mut retried_from = None;
    if let Some(fallback) = plan.fallback.as_ref().filter(|_| answer.outcome.is_error()) {
        if let Some(endpoint) = &fallback.endpoint {
            s.telemetry
                .proxy
                .count_retry(&model.name, &plan.primary.variant);
            let retry = call(&s, &out, endpoint, fallback.timeout, body_of(&mut body)).await;
            record(
                &s,
                model,
                fallback,
                &retry,
                &unit,
                &format!("{call_id}-retry"),
                false,
            )
            .await;
            retried_from = Some(plan.primary.variant.clone());
            answered_by = fallback;
            answer = retry;
        }
    }

    let Some(response) = answer.response else {
        let endpoint = answered_by.endpoint.as_deref().unwrap_or_default();
        let (status, code) = match answer.outcome {
            CallOutcome::TimedOut { .. } => (StatusCode::GATEWAY_TIMEOUT, "upstream_timeout"),
            _ => (StatusCode::BAD_GATEWAY, "upstream_unreachable"),
        };
        let mut message = format!(
            "variant {:?} of model {:?} at {endpoint}: {}",
            answered_by.variant, model.name, answer.failure
        );
        if let Some(from) = &retried_from {
            message.push_str(&format!(" (after variant {from:?} failed)"));
        }
        return Err(ApiError::new(status, code, message));
    };
    let (mut head, incoming) = response.into_parts();
    strip_hop_by_hop(&mut head.headers);
    if let Ok(v) = HeaderValue::from_str(&answered_by.variant) {
        head.headers
            .insert(HeaderName::from_static(VARIANT_HEADER), v);
    }
    if let Some(from) = retried_from.and_then(|f| HeaderValue::from_str(&f).ok()) {
        head.headers
            .insert(HeaderName::from_static(RETRIED_FROM_HEADER), from);
    }
    let body = match baseline_output {
        Some(tx) => Body::new(Tee {
            inner: incoming,
            kept: Vec::new(),
            overflowed: false,
            tx: Some(tx),
        }),
        None => Body::new(incoming),
    };
    Ok(Response::from_parts(head, body))
}

/// The unit key of the `X-Rampart-Unit` header, if sent.
fn header_unit(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(v) = headers.get(UNIT_HEADER) else {
        return Ok(None);
    };
    match v.to_str() {
        Ok(u) if !u.is_empty() && u.len() <= MAX_ID_LEN => Ok(Some(u.to_string())),
        _ => Err(ApiError::bad_request(
            "invalid_unit",
            format!("the X-Rampart-Unit header must be 1 to {MAX_ID_LEN} visible ASCII characters"),
        )
        .with_field("X-Rampart-Unit")),
    }
}

/// The endpoint of a planned call, or the 409 that says which variant has none.
fn endpoint_of(model: &Model, target: &Target) -> Result<String, ApiError> {
    target.endpoint.clone().ok_or_else(|| {
        let j = model
            .variants
            .iter()
            .position(|v| v.name == target.variant)
            .unwrap_or(0);
        ApiError::new(
            StatusCode::CONFLICT,
            "no_endpoint",
            format!(
                "variant {:?} of model {:?} has no endpoint to forward to; set its endpoint in the config",
                target.variant, model.name
            ),
        )
        .with_field(format!("models.{}.variants[{j}].endpoint", model.name))
    })
}

/// Reads a whole request body, up to `max` bytes.
async fn read_body(body: Option<Body>, max: usize) -> Result<Bytes, ApiError> {
    let Some(body) = body else {
        return Ok(Bytes::new());
    };
    match Limited::new(body, max).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.is::<LengthLimitError>() => Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "request body exceeds server.max_body_bytes",
        )),
        Err(e) => Err(ApiError::bad_request("unreadable_body", e.to_string())),
    }
}

/// Headers defined as hop-by-hop (RFC 9110 §7.6.1), removed in both directions besides those the
/// `Connection` header names and every `Proxy-*` header.
const HOP_BY_HOP: [&str; 6] = [
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for n in named {
        headers.remove(n);
    }
    for n in HOP_BY_HOP {
        headers.remove(n);
    }
    let proxy: Vec<HeaderName> = headers
        .keys()
        .filter(|k| k.as_str().starts_with("proxy-"))
        .cloned()
        .collect();
    for n in proxy {
        headers.remove(n);
    }
}

/// The caller's headers as sent upstream: no hop-by-hop headers, no `Host` (the client sets the
/// endpoint's), and no `Authorization` when it carried rampart's own token.
fn forward_headers(headers: &HeaderMap, auth_on: bool) -> HeaderMap {
    let mut out = headers.clone();
    strip_hop_by_hop(&mut out);
    out.remove(header::HOST);
    if auth_on {
        out.remove(header::AUTHORIZATION);
    }
    out
}

/// One upstream call, timed: the answer's head within `timeout`, or why there is none.
async fn call(
    s: &Shared,
    out: &Outgoing,
    endpoint: &str,
    timeout: rampart_core::config::Duration,
    body: Body,
) -> Answer {
    let started = Instant::now();
    let elapsed = || started.elapsed().as_secs_f64() * 1000.0;
    let failed = |failure: String| Answer {
        outcome: CallOutcome::Failed {
            latency_ms: elapsed(),
        },
        response: None,
        failure,
    };
    let url = upstream_url(endpoint, &out.path, out.query.as_deref());
    let uri: Uri = match url.parse() {
        Ok(u) => u,
        Err(e) => return failed(format!("{url} is not a valid URL: {e}")),
    };
    let mut req = hyper::Request::new(body);
    *req.method_mut() = out.method.clone();
    *req.uri_mut() = uri;
    *req.headers_mut() = out.headers.clone();
    let wait = std::time::Duration::from_millis(timeout.as_millis());
    match tokio::time::timeout(wait, s.proxy.client.request(req)).await {
        Ok(Ok(response)) => Answer {
            outcome: CallOutcome::Answered {
                status: response.status().as_u16(),
                latency_ms: elapsed(),
            },
            response: Some(response),
            failure: String::new(),
        },
        Ok(Err(e)) => failed(format!("unreachable: {}", crate::tls::explain(&e))),
        Err(_) => Answer {
            outcome: CallOutcome::TimedOut {
                latency_ms: elapsed(),
            },
            response: None,
            failure: format!("no answer within the timeout of {} ms", timeout.as_millis()),
        },
    }
}

/// Records one call: its telemetry, its events (queued to the writer without waiting for their
/// commit) and the summary.
async fn record(
    s: &Shared,
    model: &Model,
    target: &Target,
    answer: &Answer,
    unit: &str,
    call_id: &str,
    shadow: bool,
) {
    let latency_ms = match answer.outcome {
        CallOutcome::Answered { latency_ms, .. }
        | CallOutcome::TimedOut { latency_ms }
        | CallOutcome::Failed { latency_ms } => latency_ms,
    };
    if !shadow {
        let class = match answer.outcome {
            CallOutcome::Answered { status, .. } => CallClass::Status(status),
            CallOutcome::TimedOut { .. } => CallClass::Timeout,
            CallOutcome::Failed { .. } => CallClass::Unreachable,
        };
        s.telemetry
            .proxy
            .count_call(&model.name, &target.variant, class, latency_ms / 1000.0);
    }
    let events = answer.outcome.events(
        &model.name,
        unit,
        &target.variant,
        shadow,
        &format!("proxy-{call_id}"),
        now_ms(),
    );
    submit(s, events).await;
}

async fn submit(s: &Shared, events: Vec<OutcomeEvent>) {
    {
        let mut summary = s.proxy.summary.lock().unwrap_or_else(|p| p.into_inner());
        for e in &events {
            summary.fold(e);
        }
    }
    if let Err(e) = s.writer.submit(events).await {
        tracing::error!(error = %e, "proxy events not queued");
    }
}

/// Sends the shadow copy of a call, unless the model's shadow slots are all taken (then counts a
/// drop). Returns where to send the baseline's output when outputs are compared.
fn spawn_shadow(
    s: &Arc<Shared>,
    model: &Model,
    shadow: &Target,
    out: &Outgoing,
    body: Bytes,
    unit: &str,
    call_id: &str,
) -> Option<oneshot::Sender<Option<Bytes>>> {
    let Some(permit) = s.proxy.shadow_slot(&model.name, model.proxy.shadow_limit) else {
        s.telemetry
            .proxy
            .count_shadow_dropped(&model.name, &shadow.variant);
        return None;
    };
    let endpoint = shadow.endpoint.clone()?;
    let (tx, rx) = oneshot::channel::<Option<Bytes>>();
    let compare = model.proxy.compare_output;
    let (s, model, shadow, unit, call_id) = (
        s.clone(),
        model.clone(),
        shadow.clone(),
        unit.to_string(),
        call_id.to_string(),
    );
    let out = Outgoing {
        method: out.method.clone(),
        path: out.path.clone(),
        query: out.query.clone(),
        headers: out.headers.clone(),
    };
    tokio::spawn(async move {
        let _permit = permit;
        let mut answer = call(&s, &out, &endpoint, shadow.timeout, Body::from(body)).await;
        // The shadow's output, read whole (up to the comparison limit) so its connection is reused.
        let output = match answer.response.take() {
            Some(r) => to_bytes_limited(r.into_body(), MAX_COMPARED_BYTES).await,
            None => None,
        };
        record(&s, &model, &shadow, &answer, &unit, &call_id, true).await;
        let mut differs = false;
        if compare && !answer.outcome.is_error() {
            let wait = std::time::Duration::from_millis(model.proxy.timeout.as_millis());
            let baseline: Option<Bytes> = tokio::time::timeout(wait, rx)
                .await
                .ok()
                .and_then(Result::ok)
                .flatten();
            if let (Some(a), Some(b)) = (baseline, output) {
                differs = !same_output(&a, &b);
                let event = diff_event(
                    &model.name,
                    &unit,
                    &shadow.variant,
                    differs,
                    &format!("proxy-{call_id}"),
                    now_ms(),
                );
                submit(&s, vec![event]).await;
            }
        }
        s.telemetry.proxy.count_shadow(
            &model.name,
            &shadow.variant,
            answer.outcome.is_error(),
            differs,
        );
    });
    compare.then_some(tx)
}

async fn to_bytes_limited(body: Incoming, max: usize) -> Option<Bytes> {
    Limited::new(body, max)
        .collect()
        .await
        .ok()
        .map(|c| c.to_bytes())
}

/// The baseline's response body on its way to the caller, with a copy (up to
/// [`MAX_COMPARED_BYTES`]) handed to the shadow task at its end; `None` when it was too large,
/// failed, or the caller went away first.
struct Tee {
    inner: Incoming,
    kept: Vec<u8>,
    overflowed: bool,
    tx: Option<oneshot::Sender<Option<Bytes>>>,
}

impl Tee {
    fn finish(&mut self, complete: bool) {
        if let Some(tx) = self.tx.take() {
            let output =
                (complete && !self.overflowed).then(|| Bytes::from(std::mem::take(&mut self.kept)));
            let _ = tx.send(output);
        }
    }
}

impl HttpBody for Tee {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    if this.kept.len() + data.len() <= MAX_COMPARED_BYTES {
                        this.kept.extend_from_slice(data);
                    } else {
                        this.overflowed = true;
                        this.kept = Vec::new();
                    }
                }
            }
            Poll::Ready(None) => this.finish(true),
            Poll::Ready(Some(Err(_))) => this.finish(false),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Tee {
    fn drop(&mut self) {
        let complete = self.inner.is_end_stream();
        self.finish(complete);
    }
}

/// `GET /v1/proxy/{model}`: the model's proxy settings and, per variant, what its calls and shadow
/// calls did (from the proxy's stored events, so counts survive restarts).
async fn summary(
    State(s): State<Arc<Shared>>,
    ApiPath(model_name): ApiPath<String>,
) -> Result<Response, ApiError> {
    let live = s.live.load();
    let model = live.config.model(&model_name).ok_or_else(|| {
        let known: Vec<&str> = live.config.models.iter().map(|m| m.name.as_str()).collect();
        ApiError::not_found(format!(
            "unknown model {model_name:?}; known models: {}",
            known.join(", ")
        ))
        .with_field("model")
    })?;
    let summary = s.proxy.summary.lock().unwrap_or_else(|p| p.into_inner());
    let seen = summary.model(&model.name);
    let mut names: Vec<&str> = model.variants.iter().map(|v| v.name.as_str()).collect();
    // Variants removed from the config keep their numbers.
    for name in seen.into_iter().flat_map(|m| m.keys()) {
        if !names.contains(&name.as_str()) {
            names.push(name);
        }
    }
    let calls = |c: &rampart_core::proxy::Calls| {
        json!({
            "responses": c.responses, "errors": c.errors, "by_status": c.by_status,
            "latency_ms": c.latency(),
        })
    };
    let variants: Vec<Value> = names
        .iter()
        .map(|name| {
            let config = model.variant(name);
            let stats = seen.and_then(|m| m.get(*name)).cloned().unwrap_or_default();
            json!({
                "name": name,
                "endpoint": config.and_then(|v| v.endpoint.clone()),
                "timeout_ms": config.map(|_| rampart_core::proxy::timeout_of(model, name).as_millis()),
                "calls": calls(&stats.calls),
                "shadow": calls(&stats.shadow),
                "compared": stats.compared,
                "differing": stats.differing,
            })
        })
        .collect();
    Ok(Json(json!({
        "model": model.name,
        "baseline": model.baseline(),
        "shadow": model.proxy.shadow,
        "retry_on_baseline": model.proxy.retry_on_baseline,
        "compare_output": model.proxy.compare_output,
        "shadow_limit": model.proxy.shadow_limit,
        "shadows_in_flight": s.proxy.shadows_in_flight(&model.name),
        "variants": variants,
    }))
    .into_response())
}
