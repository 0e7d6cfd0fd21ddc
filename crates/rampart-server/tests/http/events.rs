//! `POST /v1/events`: counts of accepted and duplicate events, idempotent retries, all-or-nothing
//! batches that list every invalid event, and the limits on the body.

use serde_json::{json, Value};

use crate::support::{blocking, error_of, post, post_events, send, Server, CONFIG};

fn event(id: &str, kind: &str, unit: &str) -> Value {
    json!({"id": id, "type": kind, "unit": unit, "model": "checkout-recs"})
}

#[tokio::test(flavor = "multi_thread")]
async fn retried_batches_count_once() {
    let server = Server::start(CONFIG).await;
    let base = server.base.clone();
    blocking(move || {
        let batch: Vec<Value> = (0..25)
            .map(|i| event(&format!("e-{i}"), "click", &format!("u-{}", i % 5)))
            .collect();
        assert_eq!(post_events(&base, &batch), (25, 0));
        assert_eq!(post_events(&base, &batch), (0, 25), "a retry counts once");
        // Half known, half new; an id repeated inside one batch counts once too.
        let mut mixed: Vec<Value> = batch[..10].to_vec();
        mixed.extend((25..35).map(|i| event(&format!("e-{i}"), "click", "u-1")));
        mixed.push(event("e-34", "click", "u-1"));
        assert_eq!(post_events(&base, &mixed), (10, 11));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn one_invalid_event_refuses_the_whole_batch_and_every_problem_is_listed() {
    let server = Server::start(CONFIG).await;
    let base = server.base.clone();
    blocking(move || {
        let now = crate::support::now_ms();
        let valid = [
            event("ok-0", "purchase", "u-1"),
            json!({"id": "ok-1", "type": "order", "unit": "u-2", "model": "checkout-recs",
                   "value": 12.5, "attributes": {"country": "de", "app": true, "build": 7}}),
            json!({"id": "ok-2", "type": "click", "unit": "u-3", "model": "checkout-recs",
                   "ts": "2024-05-01T10:00:00.250+02:00"}),
            json!({"id": "ok-3", "type": "click", "unit": "u-3", "model": "checkout-recs",
                   "ts": now - 1_000}),
        ];
        // (raw event text, its expected field); raw text because JSON values cannot say 1e999.
        let invalid: Vec<(String, &str, &str)> = vec![
            (
                r#"{"id": "bad-0", "type": "order", "unit": "u", "model": "checkout-recs", "value": 1e999}"#.into(),
                "value",
                "out of range",
            ),
            (
                r#"{"id": "bad-1", "type": "order", "unit": "u", "model": "checkout-recs", "value": "3"}"#.into(),
                "value",
                "invalid type",
            ),
            (
                json!({"id": "bad-2", "type": "click", "unit": "u", "model": "checkout-recs",
                       "ts": now + 10 * 60 * 1000}).to_string(),
                "ts",
                "future",
            ),
            (
                json!({"id": "bad-3", "type": "click", "unit": "u", "model": "checkout-recs",
                       "ts": "yesterday"}).to_string(),
                "ts",
                "RFC 3339",
            ),
            (event("bad-4", "click", "u").to_string().replace("checkout-recs", "nope"), "model", "known models"),
            (event("", "click", "u").to_string(), "id", "1 to 256"),
            (event("bad-6", "click", "").to_string(), "unit", "1 to 256"),
            (event("bad-7", "", "u").to_string(), "type", "1 to 256"),
            (
                json!({"id": "bad-8", "type": "click", "unit": "u", "model": "checkout-recs",
                       "attributes": {"country": {"code": "de"}}}).to_string(),
                "attributes.country",
                "strings, numbers or booleans",
            ),
            (
                json!({"id": "bad-9", "type": "click", "unit": "u", "model": "checkout-recs",
                       "colour": "red"}).to_string(),
                "colour",
                "unknown field",
            ),
        ];
        // Valid events at even indexes, invalid ones between them.
        let mut items: Vec<String> = Vec::new();
        let mut bad_index = Vec::new();
        for (i, (raw, _, _)) in invalid.iter().enumerate() {
            if let Some(v) = valid.get(i) {
                items.push(v.to_string());
            }
            bad_index.push(items.len());
            items.push(raw.clone());
        }
        let body = format!(r#"{{"events": [{}]}}"#, items.join(","));
        let r = send("POST", &format!("{base}/v1/events"), Some(&body));
        let e = error_of(&r, 400, "invalid_events");
        assert_eq!(e["field"], "events");
        let details = e["details"].as_array().expect("details list every invalid event");
        assert_eq!(details.len(), invalid.len(), "{}", r.text);
        for ((d, (_, field, reason)), index) in details.iter().zip(&invalid).zip(&bad_index) {
            assert_eq!(d["index"], *index as u64, "{d}");
            assert_eq!(d["field"], *field, "{d}");
            let text = d["reason"].as_str().unwrap();
            assert!(text.contains(reason), "{d} should say {reason:?}");
        }

        // Nothing of the refused batch was stored: the valid events alone are all new.
        assert_eq!(post_events(&base, &valid), (4, 0));
        assert_eq!(post_events(&base, &valid), (0, 4));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn body_limits_and_shapes() {
    let server = Server::start(CONFIG).await;
    let base = server.base.clone();
    blocking(move || {
        let url = format!("{base}/v1/events");
        // server.max_body_bytes is 8192 in the test config.
        let big: Vec<Value> = (0..200)
            .map(|i| event(&format!("big-{i}"), "click", "u"))
            .collect();
        let body = json!({ "events": big }).to_string();
        assert!(body.len() > 8192);
        let r = send("POST", &url, Some(&body));
        error_of(&r, 413, "payload_too_large");
        // Nothing of it was stored.
        assert_eq!(crate::support::post_events(&base, &big[..20]), (20, 0));

        error_of(
            &send("POST", &url, Some(r#"{"events": [}"#)),
            400,
            "malformed_json",
        );
        let e = error_of(&post(&url, &json!({"events": []})), 400, "empty_batch");
        assert_eq!(e["field"], "events");
        let e = error_of(&post(&url, &json!({"event": []})), 400, "invalid_request");
        assert_eq!(e["field"], "event");
        let e = error_of(&post(&url, &json!({})), 400, "invalid_request");
        assert_eq!(e["field"], "events");
    })
    .await;
}
