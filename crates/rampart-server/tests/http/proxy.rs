//! The model proxy end to end: real model servers (one per variant, on port 0) behind a real
//! rampart. Routing follows `/v1/assign`; the unit comes from the header or a JSON field; large
//! chunked bodies stream through intact; hop-by-hop headers stop at the proxy; timeouts, failures
//! and retries on the baseline; shadow copies that never reach (or slow) the caller; and the
//! proxy's events in the evidence, the summary, `/metrics` and across a restart.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use http_body::Frame;
use serde_json::{json, Value};

use crate::support::{assign, blocking, error_of, eventually, get, spawn_upstream, Reply, Server};

/// Chunks of the `/big` answer, and their size.
const BIG_CHUNKS: usize = 64;
const BIG_CHUNK: usize = 32 * 1024;

/// One variant's model server.
#[derive(Clone)]
struct Upstream {
    variant: &'static str,
    /// How long `/score` takes.
    score_delay_ms: u64,
    /// `/held` answers only once this is true.
    release: tokio::sync::watch::Receiver<bool>,
    /// Calls of `/held` that arrived.
    held: Arc<AtomicUsize>,
}

async fn score(State(u): State<Upstream>) -> Json<Value> {
    tokio::time::sleep(std::time::Duration::from_millis(u.score_delay_ms)).await;
    Json(json!({"variant": u.variant, "score": 0.5}))
}

async fn echo(State(u): State<Upstream>, uri: Uri, headers: HeaderMap, body: Bytes) -> Json<Value> {
    let headers: BTreeMap<String, String> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("?").to_string()))
        .collect();
    Json(json!({
        "variant": u.variant, "path": uri.path(), "query": uri.query(),
        "body": String::from_utf8_lossy(&body), "headers": headers,
    }))
}

async fn slow(State(u): State<Upstream>, Path(ms): Path<u64>) -> Json<Value> {
    tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    Json(json!({"variant": u.variant}))
}

async fn fail(State(u): State<Upstream>) -> Response {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        Json(json!({"variant": u.variant, "error": "model crashed"})),
    )
        .into_response()
}

/// `{"y": 2x}` from the baseline; the candidate agrees (in other formatting) while x < 3.
async fn double(State(u): State<Upstream>, Json(req): Json<Value>) -> Response {
    let x = req["x"].as_i64().unwrap_or(0);
    let text = match (u.variant, x) {
        ("v1", _) => format!("{{\"y\":{}}}", 2 * x),
        (_, x) if x < 3 => format!("{{ \"y\" : {} }}", 2 * x),
        (_, x) => format!("{{\"y\":{}}}", 2 * x + 1),
    };
    ([("content-type", "application/json")], text).into_response()
}

async fn held(State(mut u): State<Upstream>) -> Json<Value> {
    u.held.fetch_add(1, Ordering::SeqCst);
    let _ = u.release.wait_for(|r| *r).await;
    Json(json!({"variant": u.variant, "held": true}))
}

/// A body sent in chunks with no length, so it goes out with chunked transfer encoding.
struct Chunks {
    sent: usize,
}

impl http_body::Body for Chunks {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if self.sent == BIG_CHUNKS {
            return Poll::Ready(None);
        }
        let chunk = big_chunk(self.sent);
        self.sent += 1;
        Poll::Ready(Some(Ok(Frame::data(chunk))))
    }
}

fn big_chunk(i: usize) -> Bytes {
    Bytes::from(vec![b'a' + (i % 26) as u8; BIG_CHUNK])
}

/// 2 MiB in 64 chunks, with hop-by-hop headers the proxy must not pass on. The request body is
/// read first: the `Connection` header makes the server close after answering, and closing with
/// unread input resets the connection, cutting the answer short.
async fn big(_request: Bytes) -> Response {
    let mut r = Response::new(Body::new(Chunks { sent: 0 }));
    let h = r.headers_mut();
    h.insert("x-model-header", "kept".parse().unwrap());
    h.insert("x-hop", "dropped".parse().unwrap());
    h.insert("connection", "x-hop".parse().unwrap());
    h.insert("keep-alive", "timeout=5".parse().unwrap());
    h.insert("proxy-authenticate", "Basic".parse().unwrap());
    r
}

/// Starts the model server of `variant`; returns its URL and the switch that releases `/held`.
async fn upstream(
    variant: &'static str,
    score_delay_ms: u64,
) -> (String, tokio::sync::watch::Sender<bool>, Arc<AtomicUsize>) {
    let (tx, rx) = tokio::sync::watch::channel(false);
    let count = Arc::new(AtomicUsize::new(0));
    let state = Upstream {
        variant,
        score_delay_ms,
        release: rx,
        held: count.clone(),
    };
    let app = Router::new()
        .route("/score", post(score))
        .route("/echo/{*rest}", post(echo))
        .route("/slow/{ms}", post(slow))
        .route("/fail", post(fail))
        .route("/double", post(double))
        .route("/held", post(held))
        .route("/big", post(big))
        .with_state(state);
    (spawn_upstream(app).await, tx, count)
}

/// An address nothing listens on.
fn closed_port() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    format!("http://{addr}")
}

fn config(v1: &str, v2: &str, dead: &str) -> String {
    format!(
        r#"
[[models]]
name = "recs"
unit = "user"
variants = [
  {{ name = "v1", endpoint = "{v1}" }},
  {{ name = "v2", endpoint = "{v2}/", timeout = "300ms" }},
]
[models.proxy]
unit_field = "user.id"

[[models]]
name = "recs-safe"
unit = "user"
variants = [
  {{ name = "v1", endpoint = "{v1}" }},
  {{ name = "v2", endpoint = "{v2}", timeout = "300ms" }},
]
[models.proxy]
retry_on_baseline = true

[[models]]
name = "shadowed"
unit = "user"
variants = [{{ name = "v1", endpoint = "{v1}" }}, {{ name = "v2", endpoint = "{v2}" }}]
[models.proxy]
shadow = "v2"
compare_output = true
shadow_limit = 2

[[models]]
name = "pricing"
unit = "request"
variants = [{{ name = "p1", endpoint = "{v1}" }}]

[[models]]
name = "dead"
unit = "request"
variants = [{{ name = "d1", endpoint = "{dead}" }}]

[[models]]
name = "bare"
unit = "user"
variants = [{{ name = "b1" }}, {{ name = "b2" }}]

[[metrics]]
name = "latency"
kind = "latency"
event = "response"

[[metrics]]
name = "errors"
kind = "count"
event = "error"

[[rollouts]]
name = "recs-v2"
model = "recs"
baseline = "v1"
candidate = "v2"
stages = [{{ traffic = 50 }}]
gates = [{{ metric = "latency", quantile = 0.9, max = 10000 }}]

[[rollouts]]
name = "safe-v2"
model = "recs-safe"
baseline = "v1"
candidate = "v2"
stages = [{{ traffic = 50 }}]
gates = [{{ metric = "errors", max = 100 }}]
"#
    )
}

/// Starts both model servers and rampart in front of them. v2's `/score` takes `v2_delay_ms`.
async fn start(
    v2_delay_ms: u64,
) -> (
    Server,
    [tokio::sync::watch::Sender<bool>; 2],
    Arc<AtomicUsize>,
) {
    let (v1, r1, _) = upstream("v1", 0).await;
    let (v2, r2, held2) = upstream("v2", v2_delay_ms).await;
    let server = Server::start(&config(&v1, &v2, &closed_port())).await;
    (server, [r1, r2], held2)
}

/// A proxied answer: status, headers (lower-case names) and body.
struct Proxied {
    status: u16,
    headers: BTreeMap<String, String>,
    body: String,
}

impl Proxied {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
    fn reply(&self) -> Reply {
        Reply {
            status: self.status,
            text: self.body.clone(),
            json: self.json(),
            www_authenticate: None,
        }
    }
}

fn predict(base: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Proxied {
    let mut req =
        ureq::post(&format!("{base}/v1/predict/{path}")).set("content-type", "application/json");
    for (k, v) in headers {
        req = req.set(k, v);
    }
    let resp = match req.send_string(body) {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("predict {path}: {e}"),
    };
    let status = resp.status();
    let headers = resp
        .headers_names()
        .into_iter()
        .map(|n| {
            let v = resp.header(&n).unwrap_or_default().to_string();
            (n.to_ascii_lowercase(), v)
        })
        .collect();
    let body = resp
        .into_string()
        .unwrap_or_else(|e| panic!("body of {path} readable: {e}"));
    Proxied {
        status,
        headers,
        body,
    }
}

/// Units of `model` whose assignment (by `/v1/assign`) is `variant`.
fn units_on(base: &str, model: &str, variant: &str, n: usize) -> Vec<String> {
    let out: Vec<String> = (0..400)
        .map(|i| format!("{model}-unit-{i}"))
        .filter(|u| assign(base, model, u)["variant"] == variant)
        .take(n)
        .collect();
    assert_eq!(out.len(), n, "enough units of {model} on {variant}");
    out
}

fn summary(base: &str, model: &str) -> Value {
    let r = get(&format!("{base}/v1/proxy/{model}"));
    assert_eq!(r.status, 200, "{}", r.text);
    r.json
}

fn variant<'a>(summary: &'a Value, name: &str) -> &'a Value {
    summary["variants"]
        .as_array()
        .and_then(|vs| vs.iter().find(|v| v["name"] == name))
        .unwrap_or_else(|| panic!("{name} in {summary}"))
}

/// The value of one sample of `/metrics`, 0 when absent.
fn metric(base: &str, series: &str) -> f64 {
    let text = get(&format!("{base}/metrics")).text;
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread")]
async fn calls_go_to_the_assigned_variant_with_the_unit_from_header_or_body() {
    let (mut server, _release, _) = start(0).await;
    let base = server.base.clone();
    blocking(move || {
        let mut seen = BTreeMap::new();
        for i in 0..30 {
            let unit = format!("user-{i}");
            let want = assign(&base, "recs", &unit)["variant"]
                .as_str()
                .unwrap()
                .to_string();
            let by_header = predict(
                &base,
                "recs/echo/a/b?k=1&z=2",
                &[("x-rampart-unit", &unit)],
                "{}",
            );
            assert_eq!(by_header.status, 200, "{}", by_header.body);
            assert_eq!(
                by_header.header("x-rampart-variant"),
                Some(want.as_str()),
                "{unit}"
            );
            let echoed = by_header.json();
            assert_eq!(
                echoed["variant"],
                want.as_str(),
                "the variant's server answered"
            );
            assert_eq!(
                echoed["path"], "/echo/a/b",
                "the endpoint gets the rest of the path"
            );
            assert_eq!(echoed["query"], "k=1&z=2");
            let body = json!({"user": {"id": unit}, "features": [1, 2]}).to_string();
            let by_field = predict(&base, "recs/echo/x", &[], &body);
            assert_eq!(by_field.status, 200, "{}", by_field.body);
            assert_eq!(
                by_field.header("x-rampart-variant"),
                Some(want.as_str()),
                "{unit}"
            );
            assert_eq!(
                by_field.json()["body"],
                body.as_str(),
                "the body arrives unchanged"
            );
            *seen.entry(want).or_insert(0) += 1;
        }
        assert_eq!(seen.len(), 2, "both variants answered some units: {seen:?}");

        // No unit: the error names the configured field.
        let r = predict(&base, "recs/score", &[], r#"{"user": {"name": "x"}}"#).reply();
        let e = error_of(&r, 400, "missing_unit");
        assert_eq!(e["field"], "user.id");
        let r = predict(&base, "recs-safe/score", &[], "{}").reply();
        assert_eq!(error_of(&r, 400, "missing_unit")["field"], "X-Rampart-Unit");
        // Request units need none.
        let r = predict(&base, "pricing/score", &[], "{}");
        assert_eq!((r.status, r.header("x-rampart-variant")), (200, Some("p1")));

        let r = predict(&base, "nope/score", &[("x-rampart-unit", "u")], "{}").reply();
        assert!(error_of(&r, 404, "not_found")["message"]
            .as_str()
            .unwrap()
            .contains("recs"));
        let r = predict(&base, "bare/score", &[("x-rampart-unit", "u")], "{}").reply();
        let e = error_of(&r, 409, "no_endpoint");
        assert!(
            e["message"].as_str().unwrap().contains("has no endpoint"),
            "{e}"
        );
    })
    .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bodies_stream_through_and_hop_by_hop_headers_stop_at_the_proxy() {
    let (mut server, _release, _) = start(0).await;
    let base = server.base.clone();
    blocking(move || {
        let r = predict(&base, "pricing/big", &[], "{}");
        assert_eq!(r.status, 200);
        let want: Vec<u8> = (0..BIG_CHUNKS)
            .flat_map(|i| big_chunk(i).to_vec())
            .collect();
        assert_eq!(r.body.len(), want.len(), "2 MiB arrive");
        assert!(r.body.as_bytes() == want.as_slice(), "in order, intact");
        assert_eq!(r.header("x-model-header"), Some("kept"));
        for h in ["x-hop", "keep-alive", "proxy-authenticate"] {
            assert_eq!(r.header(h), None, "{h} is hop-by-hop: {:?}", r.headers);
        }

        let r = predict(
            &base,
            "pricing/echo/h",
            &[
                ("connection", "keep-alive, x-secret"),
                ("x-secret", "1"),
                ("keep-alive", "timeout=5"),
                ("proxy-authorization", "Basic eA=="),
                ("x-request-id", "abc"),
            ],
            "{}",
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let got = &r.json()["headers"];
        assert_eq!(got["x-request-id"], "abc", "end-to-end headers pass: {got}");
        for h in ["x-secret", "keep-alive", "proxy-authorization"] {
            assert!(got.get(h).is_none(), "{h} reached the model server: {got}");
        }
    })
    .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn timeouts_failures_and_retries_on_the_baseline() {
    let (mut server, _release, _) = start(0).await;
    let base = server.base.clone();
    blocking(move || {
        // v2 may take 300ms: a 1s answer is a 504 and an `error` event.
        let unit = units_on(&base, "recs", "v2", 1).remove(0);
        let r = predict(&base, "recs/slow/1000", &[("x-rampart-unit", &unit)], "{}").reply();
        let e = error_of(&r, 504, "upstream_timeout");
        assert!(e["message"].as_str().unwrap().contains("\"v2\""), "{e}");
        // A fast answer from v1's side of the same model passes.
        let u1 = units_on(&base, "recs", "v1", 1).remove(0);
        let r = predict(&base, "recs/slow/1", &[("x-rampart-unit", &u1)], "{}");
        assert_eq!(r.status, 200);

        // Nothing listens: 502 naming the variant and the endpoint.
        let r = predict(&base, "dead/score", &[], "{}").reply();
        let e = error_of(&r, 502, "upstream_unreachable");
        let message = e["message"].as_str().unwrap();
        assert!(
            message.contains("\"d1\"") && message.contains("http://127.0.0.1:"),
            "{message}"
        );

        // With retry_on_baseline, v2's failures are answered by v1, and say so.
        let units = units_on(&base, "recs-safe", "v2", 2);
        let r = predict(
            &base,
            "recs-safe/fail",
            &[("x-rampart-unit", &units[0])],
            "{}",
        );
        assert_eq!(
            r.status, 500,
            "v1 fails the same path and its answer is passed on"
        );
        assert_eq!(r.header("x-rampart-variant"), Some("v1"));
        assert_eq!(r.header("x-rampart-retried-from"), Some("v2"));
        let r = predict(
            &base,
            "recs-safe/slow/400",
            &[("x-rampart-unit", &units[1])],
            "{}",
        );
        assert_eq!(
            r.status, 200,
            "v2 times out after 300ms, v1 answers: {}",
            r.body
        );
        assert_eq!(r.header("x-rampart-variant"), Some("v1"));
        assert_eq!(r.header("x-rampart-retried-from"), Some("v2"));
        assert_eq!(r.json()["variant"], "v1");
        // A unit of the baseline is never retried.
        let u1 = units_on(&base, "recs-safe", "v1", 1).remove(0);
        let r = predict(&base, "recs-safe/fail", &[("x-rampart-unit", &u1)], "{}");
        assert_eq!((r.status, r.header("x-rampart-retried-from")), (500, None));

        // Every failure is an error event of the variant that failed.
        let s = summary(&base, "recs-safe");
        let v2 = variant(&s, "v2");
        assert_eq!(v2["calls"]["errors"], 2, "a 500 and a timeout: {s}");
        assert_eq!(v2["calls"]["by_status"]["5xx"], 1, "{s}");
        let v1 = variant(&s, "v1");
        assert_eq!(v1["calls"]["errors"], 2, "{s}");
        assert_eq!(v1["calls"]["by_status"]["5xx"], 2, "{s}");
        assert_eq!(v1["calls"]["by_status"]["2xx"], 1, "{s}");
        assert_eq!(
            metric(
                &base,
                "rampart_proxy_retries_total{model=\"recs-safe\",variant=\"v2\"}"
            ),
            2.0
        );
        assert_eq!(
            metric(
                &base,
                "rampart_proxy_requests_total{model=\"recs\",variant=\"v2\",class=\"timeout\"}"
            ),
            1.0
        );
        assert_eq!(
            metric(
                &base,
                "rampart_proxy_requests_total{model=\"dead\",variant=\"d1\",class=\"unreachable\"}"
            ),
            1.0
        );
        // The rollout's evidence counts what v2's units went through, retries included: the
        // `error` of v2 and of v1 for the first unit, v2's timeout for the second.
        crate::support::sync(&base);
        let ev = get(&format!("{base}/v1/evidence/safe-v2")).json;
        assert_eq!(
            ev["variants"]["v2"]["metrics"]["errors"]["sum"], 3.0,
            "{ev}"
        );
        assert_eq!(
            ev["variants"]["v1"]["metrics"]["errors"]["sum"], 1.0,
            "{ev}"
        );
    })
    .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn shadow_copies_are_recorded_and_never_reach_or_slow_the_caller() {
    let (mut server, release, shadow_held) = start(0).await;
    // The baseline's `/held` answers at once; the shadow's waits until released, so a caller
    // that waited for the shadow would hang here.
    release[0].send(true).unwrap();
    let base = server.base.clone();
    let b = base.clone();
    blocking(move || {
        for i in 0..3 {
            let unit = format!("s-{i}");
            let r = predict(&b, "shadowed/held", &[("x-rampart-unit", &unit)], "{}");
            assert_eq!(r.status, 200, "{}", r.body);
            assert_eq!(r.header("x-rampart-variant"), Some("v1"));
            assert_eq!(r.json()["variant"], "v1", "the baseline answers");
        }
        // shadow_limit = 2: two copies wait at the shadow, the third was dropped.
        eventually(5, "two shadow calls in flight", || {
            (summary(&b, "shadowed")["shadows_in_flight"] == 2).then_some(())
        });
        assert_eq!(
            metric(
                &b,
                "rampart_proxy_shadow_dropped_total{model=\"shadowed\",variant=\"v2\"}"
            ),
            1.0
        );
    })
    .await;
    assert_eq!(shadow_held.load(Ordering::SeqCst), 2);
    release[1].send(true).unwrap();
    blocking(move || {
        eventually(5, "the held shadows to finish", || {
            (summary(&base, "shadowed")["shadows_in_flight"] == 0).then_some(())
        });
        // Outputs compared: the shadow agrees (as JSON, not as bytes) for x < 3 and differs after.
        for x in 0..5 {
            let unit = format!("d-{x}");
            let r = predict(
                &base,
                "shadowed/double",
                &[("x-rampart-unit", &unit)],
                &json!({"x": x}).to_string(),
            );
            assert_eq!(
                r.body,
                format!("{{\"y\":{}}}", 2 * x),
                "the caller gets the baseline's output"
            );
        }
        let s = eventually(5, "the compared shadow outputs", || {
            let s = summary(&base, "shadowed");
            (variant(&s, "v2")["compared"] == 7).then_some(s)
        });
        let v2 = variant(&s, "v2");
        // The held calls differ too: each server names itself in its answer.
        assert_eq!(v2["differing"], 4, "2 held + x = 3, 4: {s}");
        assert_eq!(v2["shadow"]["responses"], 7, "2 held + 5 compared: {s}");
        assert_eq!(
            v2["calls"]["responses"], 0,
            "the shadow answered no caller: {s}"
        );
        assert_eq!(variant(&s, "v1")["calls"]["responses"], 8, "{s}");
        assert!(
            v2["shadow"]["latency_ms"]["max"].as_f64().unwrap() > 0.0,
            "{s}"
        );
        assert_eq!(
            metric(
                &base,
                "rampart_proxy_shadow_diffs_total{model=\"shadowed\",variant=\"v2\"}"
            ),
            4.0
        );
        assert_eq!(
            metric(
                &base,
                "rampart_proxy_shadow_calls_total{model=\"shadowed\",variant=\"v2\"}"
            ),
            7.0
        );
    })
    .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn proxy_latency_reaches_the_evidence_and_the_summary_survives_a_restart() {
    // v2's model takes 150ms to score, v1's answers at once.
    let (mut server, _release, _) = start(150).await;
    let base = server.base.clone();
    let b = base.clone();
    let calls = blocking(move || {
        let mut calls: BTreeMap<String, u64> = BTreeMap::new();
        for i in 0..24 {
            let unit = format!("lat-{i}");
            let r = predict(&b, "recs/score", &[("x-rampart-unit", &unit)], "{}");
            assert_eq!(r.status, 200, "{}", r.body);
            *calls.entry(r.header("x-rampart-variant").unwrap().to_string()).or_default() += 1;
        }
        crate::support::sync(&b);
        let ev = get(&format!("{b}/v1/evidence/recs-v2")).json;
        for (v, n) in &calls {
            let m = &ev["variants"][v]["metrics"]["latency"];
            assert_eq!(m["n"], *n, "one latency per call of {v}: {ev}");
            let mean = m["sum"].as_f64().unwrap() / *n as f64;
            if v == "v2" {
                assert!(mean >= 150.0, "v2's 150ms show: {mean}");
            } else {
                assert!(mean < 150.0, "v1 answers at once: {mean}");
            }
        }
        let s = summary(&b, "recs");
        assert!(variant(&s, "v2")["calls"]["latency_ms"]["p50"].as_f64().unwrap() >= 149.0, "{s}");
        let hist = metric(&b, "rampart_proxy_request_duration_seconds_bucket{model=\"recs\",variant=\"v2\",le=\"0.1\"}");
        assert_eq!(hist, 0.0, "no v2 call under 100ms");
        calls
    })
    .await;
    assert_eq!(calls.len(), 2, "both variants served: {calls:?}");
    let before = blocking({
        let b = base.clone();
        move || summary(&b, "recs")
    })
    .await;
    server.restart().await;
    let base = server.base.clone();
    let after = blocking(move || summary(&base, "recs")).await;
    assert_eq!(
        after["variants"], before["variants"],
        "rebuilt from the stored events"
    );
    server.stop().await;
}

/// A model server that answers every POST with the path and query it received.
async fn echo_path(uri: Uri) -> Json<Value> {
    Json(json!({ "received": uri.path_and_query().map(|p| p.as_str().to_string()) }))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_call_naming_the_model_alone_goes_to_the_endpoint_as_configured() {
    let upstream = spawn_upstream(Router::new().fallback(post(echo_path))).await;
    let config = format!(
        r#"
[[models]]
name = "scorer"
unit = "request"
variants = [{{ name = "s1", endpoint = "{upstream}/api/score" }}]
"#
    );
    let mut server = Server::start(&config).await;
    let base = server.base.clone();
    blocking(move || {
        let call = |path: &str| {
            let r = crate::support::send("POST", &format!("{base}{path}"), Some("{\"x\": 1}"));
            assert_eq!(r.status, 200, "{path}: {}", r.text);
            r.json["received"].as_str().unwrap_or_default().to_string()
        };
        assert_eq!(call("/v1/predict/scorer"), "/api/score");
        assert_eq!(call("/v1/predict/scorer?v=2"), "/api/score?v=2");
        assert_eq!(call("/v1/predict/scorer/batch"), "/api/score/batch");
        // The rest of the path reaches the model server as the caller spelled it.
        assert_eq!(
            call("/v1/predict/scorer/a/b%20c/%C3%A9?q=1"),
            "/api/score/a/b%20c/%C3%A9?q=1"
        );
        let r = crate::support::send("POST", &format!("{base}/v1/predict/nope"), Some("{}"));
        let e = error_of(&r, 404, "not_found");
        assert!(
            e["message"]
                .as_str()
                .unwrap_or_default()
                .contains("known models: scorer"),
            "{e}"
        );
    })
    .await;
    server.stop().await;
}
