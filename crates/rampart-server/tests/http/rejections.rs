//! Every way a request can be refused answers the JSON error shape `{"error": {...}}` with a
//! `field` and a message that says what would be valid: bad query strings, path segments that
//! are not UTF-8, unknown routes and methods, bodies too large or not objects, wrong JSON types;
//! limits count characters, not bytes; a holdout over every model lists them.

use serde_json::{json, Value};

use crate::support::{blocking, error_of, get, post, send, Server, CONFIG};

/// The error object of `r`, insisting on its status, code and field.
fn refused(r: &crate::support::Reply, status: u16, code: &str, field: &str) -> Value {
    let e = error_of(r, status, code);
    assert_eq!(e["field"], field, "{}", r.text);
    assert!(
        !e["message"]
            .as_str()
            .unwrap_or_default()
            .contains("untagged"),
        "{}",
        r.text
    );
    e
}

fn message(e: &Value) -> &str {
    e["message"].as_str().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_extractor_rejection_is_a_json_error_with_a_field() {
    let mut server = Server::start(CONFIG).await;
    let base = server.base.clone();
    blocking(move || {
        let e = refused(
            &get(&format!("{base}/v1/decisions?limit=x")),
            400,
            "invalid_query",
            "limit",
        );
        assert!(message(&e).contains("invalid digit"), "{e}");
        let e = refused(
            &get(&format!("{base}/v1/decisions?limit=-1")),
            400,
            "invalid_query",
            "limit",
        );
        assert!(message(&e).contains("limit"), "{e}");
        let e = refused(
            &get(&format!("{base}/v1/decisions?limit=100001")),
            400,
            "invalid_query",
            "limit",
        );
        assert!(message(&e).contains("0 to 100000"), "{e}");
        let e = refused(
            &get(&format!("{base}/v1/decisions?colour=red")),
            400,
            "invalid_query",
            "colour",
        );
        assert!(
            message(&e)
                .contains("unknown query parameter \"colour\"; expected `entity` or `limit`"),
            "{e}"
        );
        assert_eq!(get(&format!("{base}/v1/decisions?limit=0")).status, 200);

        let e = refused(
            &get(&format!("{base}/v1/rollouts/%FF%FE")),
            400,
            "invalid_path",
            "name",
        );
        assert!(message(&e).contains("not valid UTF-8"), "{e}");
        refused(
            &get(&format!("{base}/v1/evidence/a%C3")),
            400,
            "invalid_path",
            "entity",
        );
        refused(
            &get(&format!("{base}/v1/series/%FF?metric=ctr")),
            400,
            "invalid_path",
            "entity",
        );

        // Path parameters that name nothing configured name the parameter and the known values.
        let e = refused(
            &get(&format!("{base}/v1/rollouts/nope")),
            404,
            "not_found",
            "name",
        );
        assert!(message(&e).contains("known rollouts: recs-v2"), "{e}");
        let e = refused(
            &post(&format!("{base}/v1/rollouts/recs-v2/jump"), &json!({})),
            404,
            "not_found",
            "command",
        );
        assert!(message(&e).contains("valid: start, approve"), "{e}");
        let e = refused(
            &get(&format!("{base}/v1/holdouts/nope")),
            404,
            "not_found",
            "name",
        );
        assert!(message(&e).contains("known holdouts: global"), "{e}");
        refused(
            &get(&format!("{base}/v1/evidence/nope")),
            404,
            "not_found",
            "entity",
        );

        // OFREP answers in its own shape, a key that is not UTF-8 included.
        let r = send(
            "POST",
            &format!("{base}/ofrep/v1/evaluate/flags/%FF"),
            Some("{}"),
        );
        assert_eq!(r.status, 400, "{}", r.text);
        assert_eq!(r.json["errorCode"], "PARSE_ERROR", "{}", r.text);
        assert_eq!(r.json["key"], "%FF", "{}", r.text);
        assert!(
            r.json["errorDetails"]
                .as_str()
                .unwrap_or_default()
                .contains("not valid UTF-8"),
            "{}",
            r.text
        );

        let r = send("DELETE", &format!("{base}/v1/assign"), None);
        let e = error_of(&r, 405, "method_not_allowed");
        assert!(message(&e).contains("method"), "{e}");
        let r = get(&format!("{base}/v2/nothing"));
        let e = error_of(&r, 404, "not_found");
        assert!(message(&e).contains("no such endpoint"), "{e}");

        // server.max_body_bytes is 8192 in the test config.
        let big =
            json!({"model": "checkout-recs", "unit": "u", "context": {"pad": "x".repeat(9000)}});
        refused(
            &post(&format!("{base}/v1/assign"), &big),
            413,
            "payload_too_large",
            "body",
        );
    })
    .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bodies_must_be_objects_and_every_field_error_names_the_field() {
    let mut server = Server::start(CONFIG).await;
    let base = server.base.clone();
    blocking(move || {
        let assign = format!("{base}/v1/assign");
        let arrays = [
            (assign.clone(), json!([{"model": "checkout-recs", "unit": "u"}])),
            (format!("{base}/v1/assign/batch"), json!([[{"model": "pricing"}]])),
            (format!("{base}/v1/events"), json!([])),
            (format!("{base}/v1/interleave"), json!(["ranker-bakeoff"])),
            (format!("{base}/v1/rollouts/recs-v2/pause"), json!(["why"])),
            (format!("{base}/v1/kill"), json!(["why"])),
        ];
        for (url, body) in arrays {
            let e = refused(&post(&url, &body), 400, "invalid_request", "body");
            assert!(message(&e).contains("must be a JSON object"), "{url}: {e}");
            assert!(message(&e).contains("found an array"), "{url}: {e}");
        }
        let e = refused(&post(&assign, &json!("checkout-recs")), 400, "invalid_request", "body");
        assert!(message(&e).contains("found a string"), "{e}");
        let batch = json!({"requests": [{"model": "pricing"}, ["checkout-recs", "u"]]});
        let e = refused(&post(&format!("{base}/v1/assign/batch"), &batch), 400, "invalid_request", "requests[1]");
        assert!(message(&e).contains("requests[1] must be a JSON object"), "{e}");

        // Wrong types and unknown fields name the field and what is accepted.
        let e = refused(&post(&assign, &json!({"model": 5})), 400, "invalid_request", "model");
        assert!(message(&e).contains("invalid type: integer `5`, expected a string"), "{e}");
        let e = refused(&post(&assign, &json!({"model": "pricing", "context": [1]})), 400, "invalid_request", "context");
        assert!(message(&e).contains("expected a map"), "{e}");
        let batch = json!({"requests": [{"model": "pricing", "unit": 7}]});
        refused(&post(&format!("{base}/v1/assign/batch"), &batch), 400, "invalid_request", "requests[0].unit");
        let e = refused(&post(&assign, &json!({"model": "pricing", "units": "u"})), 400, "invalid_request", "units");
        assert!(message(&e).contains("expected one of `model`, `unit`, `context`, `force`"), "{e}");
        let interleave = json!({"experiment": "x", "rankings": {}, "length": -1});
        refused(&post(&format!("{base}/v1/interleave"), &interleave), 400, "invalid_request", "length");
        let e = refused(&post(&format!("{base}/v1/kill"), &json!({"actor": 3})), 400, "invalid_request", "actor");
        assert!(message(&e).contains("expected a string"), "{e}");

        // An event's ts of the wrong kind says which kinds are accepted.
        let event = json!({"events": [{"id": "t-1", "type": "click", "unit": "u", "model": "checkout-recs", "ts": true}]});
        let r = post(&format!("{base}/v1/events"), &event);
        let e = refused(&r, 400, "invalid_events", "events");
        assert_eq!(e["details"][0]["field"], "ts", "{e}");
        let reason = e["details"][0]["reason"].as_str().unwrap_or_default();
        assert!(reason.contains("Unix milliseconds (an integer) or RFC 3339 text"), "{reason}");
        let event = json!({"events": [["t-2", "click"]]});
        let e = refused(&post(&format!("{base}/v1/events"), &event), 400, "invalid_events", "events");
        let reason = e["details"][0]["reason"].as_str().unwrap_or_default();
        assert!(reason.contains("an event must be a JSON object"), "{reason}");
    })
    .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn length_limits_count_characters_not_bytes() {
    let mut server = Server::start(CONFIG).await;
    let base = server.base.clone();
    blocking(move || {
        let assign = format!("{base}/v1/assign");
        // Seven characters, 14 bytes; and 256 characters of two bytes each.
        for unit in ["éèêëàâä".to_string(), "é".repeat(256)] {
            let r = post(&assign, &json!({"model": "checkout-recs", "unit": unit}));
            assert_eq!(r.status, 200, "{}", r.text);
            assert_eq!(r.json["unit"], unit.as_str());
        }
        let e = refused(
            &post(&assign, &json!({"model": "checkout-recs", "unit": "é".repeat(257)})),
            400,
            "invalid_unit",
            "unit",
        );
        assert!(message(&e).contains("1 to 256 characters; this one has 257"), "{e}");

        let event = |id: &str, kind: &str, unit: &str| {
            json!({"events": [{"id": id, "type": kind, "unit": unit, "model": "checkout-recs"}]})
        };
        let long = "ü".repeat(256);
        let r = post(&format!("{base}/v1/events"), &event(&long, &long, &long));
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["accepted"], 1);
        for (i, field) in ["id", "type", "unit"].iter().enumerate() {
            let mut parts = [long.clone(), long.clone(), long.clone()];
            parts[i] = "ü".repeat(257);
            let r = post(&format!("{base}/v1/events"), &event(&parts[0], &parts[1], &parts[2]));
            let e = refused(&r, 400, "invalid_events", "events");
            assert_eq!(e["details"][0]["field"], *field, "{e}");
            let reason = e["details"][0]["reason"].as_str().unwrap_or_default();
            assert!(reason.contains("1 to 256 characters; this one has 257"), "{reason}");
        }
    })
    .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_holdout_over_every_model_lists_them() {
    let config = r#"
[[models]]
name = "recs"
variants = [{ name = "v1" }, { name = "v2" }]

[[models]]
name = "pricing"
unit = "request"
variants = [{ name = "p1" }]

[[holdouts]]
name = "everything"
percent = 5
"#;
    let mut server = Server::start(config).await;
    let base = server.base.clone();
    blocking(move || {
        let all = json!(["recs", "pricing"]);
        let r = get(&format!("{base}/v1/holdouts"));
        assert_eq!(r.json["holdouts"][0]["models"], all, "{}", r.text);
        let r = get(&format!("{base}/v1/holdouts/everything"));
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["models"], all, "{}", r.text);
        let r = get(&format!("{base}/v1/status"));
        assert_eq!(r.json["holdouts"][0]["models"], all, "{}", r.text);
    })
    .await;
    server.stop().await;
}
