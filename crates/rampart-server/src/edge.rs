//! The HTTP edge: the accept loop, the layers every request passes, and what answers while the
//! store is still loading.
//!
//! The port is bound before the store is opened. Until [`Switch::serve_app`] installs the API, a
//! small start-up router answers: `/healthz` 200 at once (the process is alive), every other path
//! 503 `not_ready` with the number of records replayed so far, so a liveness probe never kills a
//! server that is replaying a large store and a readiness probe keeps traffic away until it is
//! done.
//!
//! Slow clients are bounded in three places: hyper closes a connection whose request headers do
//! not arrive within `server.header_timeout` (an idle keep-alive connection too); a request body
//! that pauses longer than `server.body_timeout` fails its read; and a request that has no
//! response headers after `server.request_timeout` (body read included) is answered 408. The
//! timeouts end at the response headers, so a streamed response body is never cut off.
//!
//! Every request gets an id: the caller's `x-request-id` when it sends one, a new one otherwise.
//! The id is echoed in the response and is a field of the request's span, so every log line
//! written while serving the request carries it; one line per request at debug level
//! (`rampart::http`), 5xx answers other than `not_ready` at warn. The latency of every request is
//! counted in `rampart_http_request_duration_seconds` by method, route template and status class.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use hyper_util::rt::{TokioIo, TokioTimer};
use rampart_core::config::ServerConfig;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tower::ServiceExt;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::timeout::{RequestBodyTimeoutLayer, TimeoutLayer};
use tower_http::trace::TraceLayer;

use crate::error::ApiError;
use crate::telemetry::Telemetry;

/// The header that carries a request's id, in and out.
pub(crate) const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Longest request id taken from a caller; a longer one is replaced by a new id.
const MAX_REQUEST_ID_LEN: usize = 128;

/// The route label of a request no route matched.
pub(crate) const UNMATCHED: &str = "unmatched";
/// The route label of a request answered `not_ready` during start-up.
pub(crate) const STARTING: &str = "starting";

/// How long a client may take, from `[server]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub header: Duration,
    pub body: Duration,
    pub request: Duration,
}

impl Timeouts {
    pub fn from_config(server: &ServerConfig) -> Timeouts {
        let ms = |d: rampart_core::config::Duration| Duration::from_millis(d.as_millis());
        Timeouts {
            header: ms(server.header_timeout),
            body: ms(server.body_timeout),
            request: ms(server.request_timeout),
        }
    }
}

/// The route template a request matched, handed from inside the router to the layers outside it.
#[derive(Debug, Clone)]
struct RouteTemplate(Arc<str>);

/// Records the matched route's template on the response; a `route_layer`, so it runs after routing.
pub(crate) async fn tag_route(req: Request, next: Next) -> Response {
    let template = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| Arc::<str>::from(m.as_str()));
    let mut res = next.run(req).await;
    if let Some(t) = template {
        res.extensions_mut().insert(RouteTemplate(t));
    }
    res
}

/// Wraps `router` in the layers every request passes (outermost first): request id (a caller's
/// if usable), span and request log, latency histogram, id echo, timeouts.
pub(crate) fn layered(router: Router, telemetry: Arc<Telemetry>, timeouts: Timeouts) -> Router {
    let stack = tower::ServiceBuilder::new()
        .layer(axum::middleware::from_fn(bound_request_id))
        .layer(SetRequestIdLayer::new(REQUEST_ID, NewRequestId))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_request(())
                .on_response(log_response)
                .on_body_chunk(())
                .on_eos(())
                .on_failure(()),
        )
        .layer(axum::middleware::from_fn_with_state(telemetry, measure))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(axum::middleware::map_response(timeout_as_json))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeouts.request,
        ))
        .layer(RequestBodyTimeoutLayer::new(timeouts.body));
    router.layer(stack)
}

/// Makes ids for requests that come without one (or with one too long to log): 32 hex digits.
#[derive(Debug, Clone, Copy)]
struct NewRequestId;

impl MakeRequestId for NewRequestId {
    fn make_request_id<B>(&mut self, _req: &axum::http::Request<B>) -> Option<RequestId> {
        let id = format!(
            "{:016x}{:016x}",
            crate::live::random_u64(),
            crate::live::random_u64()
        );
        HeaderValue::from_str(&id).ok().map(RequestId::new)
    }
}

fn request_span<B>(req: &axum::http::Request<B>) -> tracing::Span {
    let id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    tracing::info_span!(
        target: "rampart::http",
        "request",
        request_id = id,
        method = %req.method(),
        path = req.uri().path(),
    )
}

fn log_response<B>(res: &axum::http::Response<B>, latency: Duration, _span: &tracing::Span) {
    let status = res.status().as_u16();
    let ms = latency.as_secs_f64() * 1e3;
    if res.status().is_server_error() && res.status() != StatusCode::SERVICE_UNAVAILABLE {
        tracing::warn!(target: "rampart::http", status, latency_ms = ms, "answered with a server error");
    } else {
        tracing::debug!(target: "rampart::http", status, latency_ms = ms, "answered");
    }
}

async fn measure(State(t): State<Arc<Telemetry>>, req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let started = Instant::now();
    let res = next.run(req).await;
    let route = res
        .extensions()
        .get::<RouteTemplate>()
        .map_or_else(|| Arc::from(UNMATCHED), |r| r.0.clone());
    t.http
        .observe(&method, route, res.status(), started.elapsed());
    res
}

/// The request timeout answers an empty 408; give it the API's error shape.
async fn timeout_as_json(res: Response) -> Response {
    if res.status() == StatusCode::REQUEST_TIMEOUT
        && !res.headers().contains_key(header::CONTENT_TYPE)
    {
        return ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            "the request was not answered within server.request_timeout (its body included); send the whole request promptly",
        )
        .into_response();
    }
    res
}

/// Replaces a caller's id that is too long to log with a new one; see [`MAX_REQUEST_ID_LEN`].
pub(crate) async fn bound_request_id(mut req: Request, next: Next) -> Response {
    let too_long = req
        .headers()
        .get(REQUEST_ID)
        .is_some_and(|v| v.len() > MAX_REQUEST_ID_LEN || v.to_str().is_err());
    if too_long {
        req.headers_mut().remove(REQUEST_ID);
    }
    next.run(req).await
}

/// What answers before the store is loaded: `/healthz` ok, everything else 503 `not_ready`.
fn starting_router(replayed: Arc<AtomicU64>) -> Router {
    let not_ready = move || {
        let replayed = replayed.clone();
        async move {
            let n = replayed.load(Ordering::Relaxed);
            // The error shape by hand: every probe during start-up is expected, not worth a log line.
            let err = Json(json!({"error": {
                "code": "not_ready",
                "message": format!("rampart is starting: loading the store ({n} records replayed so far)"),
            }}));
            let mut res = (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::RETRY_AFTER, "1")],
                err,
            )
                .into_response();
            res.extensions_mut()
                .insert(RouteTemplate(Arc::from(STARTING)));
            res
        }
    };
    Router::new()
        .route("/healthz", get(healthz))
        .fallback(not_ready)
}

/// The liveness probe: the process is up and its accept loop runs.
pub(crate) async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// The service behind the port: the start-up router until the API is installed, then the API.
#[derive(Clone)]
pub(crate) struct Switch {
    app: Arc<OnceLock<Router>>,
    starting: Router,
}

impl Switch {
    /// A switch that answers as the start-up router; `replayed` is shown in its `not_ready`.
    pub(crate) fn starting(
        telemetry: Arc<Telemetry>,
        timeouts: Timeouts,
        replayed: Arc<AtomicU64>,
    ) -> Switch {
        let starting = starting_router(replayed).route_layer(axum::middleware::from_fn(tag_route));
        Switch {
            app: Arc::new(OnceLock::new()),
            starting: layered(starting, telemetry, timeouts),
        }
    }

    /// From now on every request (on new and open connections) goes to `app`.
    pub(crate) fn serve_app(&self, app: Router) {
        let _ = self.app.set(app);
    }

    async fn call(&self, req: Request) -> Result<Response, Infallible> {
        let router = self.app.get().unwrap_or(&self.starting).clone();
        router.oneshot(req).await
    }
}

/// Accepts connections on `listener` and serves them with `switch` until `stop` fires, then
/// finishes the requests in flight.
pub(crate) fn spawn_accept_loop(
    listener: TcpListener,
    switch: Switch,
    header_timeout: Duration,
    stop: oneshot::Receiver<()>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(header_timeout);
        tokio::pin!(stop);
        loop {
            let (stream, _) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(pair) => pair,
                    Err(e) => {
                        // Out of file descriptors and the like: wait rather than spin.
                        tracing::error!(error = %e, "cannot accept a connection");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
                _ = &mut stop => break,
            };
            let _ = stream.set_nodelay(true);
            let switch = switch.clone();
            let service =
                hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let switch = switch.clone();
                    async move { switch.call(req.map(Body::new)).await }
                });
            let conn = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
            tokio::spawn(async move {
                // A client that goes away or times out ends its connection; nothing to report.
                let _ = conn.await;
            });
        }
        drop(listener);
        graceful.shutdown().await;
    })
}
