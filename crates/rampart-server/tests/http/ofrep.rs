//! OpenFeature remote evaluation (OFREP) end to end: a real OpenFeature SDK with its OFREP provider
//! (`tests/peers/ofrep.mjs`, run by node) against a server with auth on gets the variants
//! `/v1/assign` gives, with the mapped reasons, FLAG_NOT_FOUND and TARGETING_KEY_MISSING, and every
//! evaluation logs its exposure; plain HTTP checks every shape and error of the single and bulk
//! forms, and the bulk form's ETag / `If-None-Match` → 304.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::{json, Value};

use crate::support::{blocking, error_of, node_scripts, peer, send_as, Reply, Server};

const INGEST: &str = "ofrep-ingest-token-0123456789";
const READ: &str = "ofrep-read-token-0123456789";
const OPERATE: &str = "ofrep-operate-token-0123456789";

/// A rollout at its first stage (20%, concurrent control) behind a 10% holdout with a QA unit; a
/// single-variant model; request units without a rollout; and a rollout the tests roll back.
const CONFIG: &str = r#"
segments = ["country"]

[server]
max_body_bytes = 4096

[auth]
tokens = [
  { token = "ofrep-ingest-token-0123456789", role = "ingest" },
  { token = "ofrep-read-token-0123456789", role = "read" },
  { token = "ofrep-operate-token-0123456789", role = "operate" },
]

[[models]]
name = "checkout-recs"
unit = "user"
variants = [{ name = "v1" }, { name = "v2", force_units = ["qa-alice"] }]

[[models]]
name = "banner"
unit = "user"
variants = [{ name = "blue" }]

[[models]]
name = "pricing"
unit = "request"
variants = [{ name = "p1" }, { name = "p2" }]

[[models]]
name = "legacy"
unit = "session"
variants = [{ name = "l1" }, { name = "l2" }]

[[metrics]]
name = "conversion"
kind = "binary"
event = "purchase"
goal = "increase"

[[holdouts]]
name = "global"
percent = 10
models = ["checkout-recs"]
salt = "ofrep-holdout"

[[rollouts]]
name = "recs-v2"
model = "checkout-recs"
baseline = "v1"
candidate = "v2"
salt = "ofrep-rollout"
stages = [{ traffic = 20, min_duration = "1h" }, { traffic = 100 }]
gates = [{ metric = "conversion", compare = "control", max_worsening = "2%" }]

[[rollouts]]
name = "legacy-l2"
model = "legacy"
baseline = "l1"
candidate = "l2"
stages = [{ traffic = 50, min_duration = "1h" }, { traffic = 100 }]
gates = [{ metric = "conversion", min = 0 }]
"#;

/// What an OFREP call answered: status, `ETag` header and body.
#[derive(Debug)]
struct Answer {
    status: u16,
    etag: Option<String>,
    text: String,
    json: Value,
}

/// POSTs `body` (raw) to an OFREP path with the ingest token and an optional `If-None-Match`.
fn ofrep(base: &str, path: &str, body: &str, if_none_match: Option<&str>) -> Answer {
    let mut req = ureq::post(&format!("{base}{path}"))
        .set("content-type", "application/json")
        .set("authorization", &format!("Bearer {INGEST}"));
    if let Some(tag) = if_none_match {
        req = req.set("if-none-match", tag);
    }
    let resp = match req.send_string(body) {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("POST {path}: {e}"),
    };
    let status = resp.status();
    let etag = resp.header("etag").map(str::to_string);
    let text = resp.into_string().expect("body readable");
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    Answer {
        status,
        etag,
        text,
        json,
    }
}

fn evaluate(base: &str, flag: &str, context: Value) -> Answer {
    ofrep(
        base,
        &format!("/ofrep/v1/evaluate/flags/{flag}"),
        &json!({ "context": context }).to_string(),
        None,
    )
}

/// Checks an OFREP evaluation failure: status, `key` and `errorCode`, and a non-empty reason.
fn failure(a: &Answer, status: u16, key: Option<&str>, code: &str) {
    assert_eq!(a.status, status, "{}", a.text);
    assert_eq!(a.json["errorCode"], code, "{}", a.text);
    assert_eq!(a.json.get("key").and_then(Value::as_str), key, "{}", a.text);
    assert!(
        a.json["errorDetails"]
            .as_str()
            .is_some_and(|d| !d.is_empty()),
        "a failure says why: {}",
        a.text
    );
}

/// `/v1/assign` as the ingest token.
fn assign(base: &str, model: &str, unit: &str) -> Value {
    let body = json!({"model": model, "unit": unit}).to_string();
    let r = send_as(
        "POST",
        &format!("{base}/v1/assign"),
        Some(&body),
        Some(INGEST),
    );
    assert_eq!(r.status, 200, "assign {model}/{unit}: {}", r.text);
    r.json
}

/// Waits until every exposure queued so far is stored: an event batch is acknowledged only after
/// everything queued before it.
fn sync(base: &str, n: usize) {
    let e = json!({"events": [{"id": format!("ofrep-sync-{n}"), "type": "sync", "unit": "s", "model": "pricing"}]});
    let r = send_as(
        "POST",
        &format!("{base}/v1/events"),
        Some(&e.to_string()),
        Some(INGEST),
    );
    assert_eq!(r.status, 200, "{}", r.text);
}

/// Stored exposures by (model, variant), from `/metrics`.
fn exposures(base: &str) -> BTreeMap<(String, String), u64> {
    let r = send_as("GET", &format!("{base}/metrics"), None, Some(READ));
    assert_eq!(r.status, 200, "{}", r.text);
    let mut out = BTreeMap::new();
    for line in r.text.lines() {
        let Some(rest) = line.strip_prefix("rampart_exposures_stored_total{") else {
            continue;
        };
        let (labels, value) = rest.split_once("} ").expect("sample");
        let label = |name: &str| {
            labels
                .split(',')
                .find_map(|kv| kv.strip_prefix(&format!("{name}=\"")))
                .map(|v| v.trim_end_matches('"').to_string())
                .expect("label")
        };
        out.insert((label("model"), label("variant")), value.parse().unwrap());
    }
    out
}

fn exposures_of(all: &BTreeMap<(String, String), u64>, model: &str) -> u64 {
    all.iter()
        .filter(|((m, _), _)| m == model)
        .map(|(_, n)| n)
        .sum()
}

/// The OpenFeature reason an assignment reason must show as, with `recs-v2` running.
fn expected_reason(assign_reason: &str) -> &'static str {
    match assign_reason {
        "forced" | "holdout" => "TARGETING_MATCH",
        "experiment" | "candidate" | "control" | "default" => "SPLIT",
        other => panic!("unexpected reason {other} for checkout-recs"),
    }
}

/// Runs `tests/peers/ofrep.mjs` on `job`.
fn run_sdk(node: &Path, job: &Value) -> Vec<Value> {
    let dir = node_scripts();
    let mut child = Command::new(node)
        .arg("ofrep.mjs")
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node starts");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(job.to_string().as_bytes())
        .expect("job written");
    let out = child.wait_with_output().expect("node finishes");
    assert!(
        out.status.success(),
        "ofrep.mjs failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Vec<Value>>(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "ofrep.mjs printed no JSON array ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openfeature_sdk_gets_what_assign_gives_and_logs_exposures() {
    let Some(node) = peer("node") else { return };
    let mut server = Server::start(CONFIG).await;
    let base = server.base.clone();
    blocking(move || {
        let r = send_as(
            "POST",
            &format!("{base}/v1/rollouts/legacy-l2/rollback"),
            Some(r#"{"reason": "test"}"#),
            Some(OPERATE),
        );
        assert_eq!(r.status, 200, "{}", r.text);
        let units: Vec<String> = (0..300)
            .map(|i| format!("user-{i}"))
            .chain(["qa-alice".to_string()])
            .collect();
        let mut evaluations: Vec<Value> = units
            .iter()
            .map(|u| json!({"flag": "checkout-recs", "default": "none", "context": {"targetingKey": u, "country": "fr"}}))
            .collect();
        evaluations.extend([
            json!({"flag": "banner", "default": "none", "context": {"targetingKey": "user-1"}}),
            json!({"flag": "legacy", "default": "none", "context": {"targetingKey": "session-1"}}),
            json!({"flag": "pricing", "default": "none", "context": {}}),
            json!({"flag": "no-such-model", "default": "fallback", "context": {"targetingKey": "user-1"}}),
            json!({"flag": "checkout-recs", "default": "fallback", "context": {"country": "fr"}}),
        ]);
        let job = json!({"baseUrl": base, "token": INGEST, "evaluations": evaluations});
        let before = exposures(&base);
        let results = run_sdk(&node, &job);
        assert_eq!(results.len(), evaluations.len());
        sync(&base, 0);
        let after = exposures(&base);

        // Every unit: the SDK's value, variant and reason are /v1/assign's (asked afterwards;
        // assignment is deterministic).
        let mut per_variant: BTreeMap<String, u64> = BTreeMap::new();
        let mut reasons: BTreeMap<String, u64> = BTreeMap::new();
        for (unit, got) in units.iter().zip(&results) {
            let want = assign(&base, "checkout-recs", unit);
            let variant = want["variant"].as_str().unwrap();
            let reason = want["reason"].as_str().unwrap();
            assert_eq!(got["errorCode"], Value::Null, "{unit}: {got}");
            assert_eq!(got["value"], variant, "value of {unit}: {got}");
            assert_eq!(got["variant"], variant, "variant of {unit}: {got}");
            assert_eq!(got["reason"], expected_reason(reason), "reason of {unit}: {got}");
            let meta = &got["flagMetadata"];
            assert_eq!(meta["assignment_reason"], reason, "{unit}: {got}");
            assert_eq!(meta["unit"], unit.as_str());
            assert_eq!(meta["rollout"], "recs-v2");
            assert_eq!(meta["stage"], 0);
            assert_eq!(meta["traffic"], 20.0);
            assert_eq!(meta["config_version"], 1);
            *per_variant.entry(variant.to_string()).or_default() += 1;
            *reasons.entry(reason.to_string()).or_default() += 1;
        }
        // The sample covers every path: QA unit, holdout, both slices and the unsplit rest.
        for r in ["forced", "holdout", "candidate", "control", "default"] {
            assert!(reasons.get(r).copied().unwrap_or(0) > 0, "no {r} unit among {reasons:?}");
        }
        let n = units.len();
        assert_eq!(
            (&results[n]["value"], &results[n]["reason"]),
            (&json!("blue"), &json!("STATIC")),
            "single-variant model: {}",
            results[n]
        );
        assert_eq!(
            (&results[n + 1]["value"], &results[n + 1]["reason"]),
            (&json!("l1"), &json!("DISABLED")),
            "rolled back: {}",
            results[n + 1]
        );
        assert_eq!(results[n + 1]["flagMetadata"]["rollout_status"], "rolled-back");
        assert_eq!(results[n + 2]["reason"], "STATIC", "request unit, no rollout: {}", results[n + 2]);
        assert!(
            ["p1", "p2"].contains(&results[n + 2]["value"].as_str().unwrap()),
            "{}",
            results[n + 2]
        );
        let unknown = &results[n + 3];
        assert_eq!(
            (&unknown["value"], &unknown["errorCode"], &unknown["reason"]),
            (&json!("fallback"), &json!("FLAG_NOT_FOUND"), &json!("ERROR")),
            "{unknown}"
        );
        assert!(
            unknown["errorMessage"].as_str().unwrap().contains("checkout-recs"),
            "the message lists the flags there are: {unknown}"
        );
        let keyless = &results[n + 4];
        assert_eq!(
            (&keyless["value"], &keyless["errorCode"]),
            (&json!("fallback"), &json!("TARGETING_KEY_MISSING")),
            "{keyless}"
        );

        // One exposure per successful evaluation, on the variant the SDK got; errors log none.
        let gained = |model: &str, variant: &str| {
            let key = (model.to_string(), variant.to_string());
            after.get(&key).copied().unwrap_or(0) - before.get(&key).copied().unwrap_or(0)
        };
        for (variant, count) in &per_variant {
            assert_eq!(gained("checkout-recs", variant), *count, "exposures of {variant}");
        }
        assert_eq!(
            exposures_of(&after, "checkout-recs") - exposures_of(&before, "checkout-recs"),
            n as u64
        );
        assert_eq!(gained("banner", "blue"), 1);
        assert_eq!(gained("legacy", "l1"), 1);
        assert_eq!(exposures_of(&after, "pricing") - exposures_of(&before, "pricing"), 1);
    })
    .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_flag_shapes_reasons_and_errors() {
    let mut server = Server::start(CONFIG).await;
    let base = server.base.clone();
    blocking(move || {
        let a = evaluate(
            &base,
            "checkout-recs",
            json!({"targetingKey": "user-7", "country": "fr"}),
        );
        assert_eq!(a.status, 200, "{}", a.text);
        let want = assign(&base, "checkout-recs", "user-7");
        let keys: Vec<&str> = a
            .json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            ["key", "metadata", "reason", "value", "variant"],
            "{}",
            a.text
        );
        assert_eq!(a.json["key"], "checkout-recs");
        assert_eq!(a.json["value"], want["variant"]);
        assert_eq!(a.json["variant"], want["variant"]);
        let meta = &a.json["metadata"];
        assert_eq!(meta["assignment_reason"], want["reason"]);
        assert_eq!(
            a.json["reason"],
            expected_reason(want["reason"].as_str().unwrap())
        );
        assert_eq!(
            meta["assignment_id"].as_str().map(str::len),
            Some(16),
            "{meta}"
        );
        assert_ne!(
            meta["assignment_id"], want["assignment_id"],
            "each evaluation is its own assignment"
        );
        assert_eq!(
            (
                &meta["rollout"],
                &meta["rollout_status"],
                &meta["stage"],
                &meta["traffic"]
            ),
            (
                &json!("recs-v2"),
                &json!("running"),
                &json!(0),
                &json!(20.0)
            )
        );
        let status = send_as("GET", &format!("{base}/v1/status"), None, Some(READ));
        assert_eq!(meta["config_version"], status.json["config_version"]);
        for v in meta.as_object().unwrap().values() {
            assert!(
                !v.is_object() && !v.is_array(),
                "metadata values are primitives: {meta}"
            );
        }

        let qa = evaluate(&base, "checkout-recs", json!({"targetingKey": "qa-alice"}));
        assert_eq!(
            (&qa.json["value"], &qa.json["reason"]),
            (&json!("v2"), &json!("TARGETING_MATCH"))
        );
        let banner = evaluate(&base, "banner", json!({"targetingKey": "user-7"}));
        assert_eq!(
            (&banner.json["value"], &banner.json["reason"]),
            (&json!("blue"), &json!("STATIC"))
        );
        assert!(
            banner.json["metadata"].get("rollout").is_none(),
            "{}",
            banner.text
        );
        // Request units need no key: one is generated and returned.
        let pricing = ofrep(&base, "/ofrep/v1/evaluate/flags/pricing", "", None);
        assert_eq!(pricing.status, 200, "{}", pricing.text);
        assert_eq!(pricing.json["reason"], "STATIC");
        assert_eq!(
            pricing.json["metadata"]["unit"].as_str().map(str::len),
            Some(16)
        );
        let legacy = evaluate(&base, "legacy", json!({"targetingKey": "s-1"}));
        assert_eq!(legacy.json["reason"], "SPLIT", "{}", legacy.text);
        let r = send_as(
            "POST",
            &format!("{base}/v1/rollouts/legacy-l2/rollback"),
            None,
            Some(OPERATE),
        );
        assert_eq!(r.status, 200, "{}", r.text);
        let legacy = evaluate(&base, "legacy", json!({"targetingKey": "s-1"}));
        assert_eq!(
            (&legacy.json["value"], &legacy.json["reason"]),
            (&json!("l1"), &json!("DISABLED"))
        );

        // Errors, each in the protocol's shape with the flag key.
        let path = "/ofrep/v1/evaluate/flags/checkout-recs";
        failure(
            &evaluate(&base, "nope", json!({"targetingKey": "u"})),
            404,
            Some("nope"),
            "FLAG_NOT_FOUND",
        );
        failure(
            &evaluate(&base, "checkout-recs", json!({"country": "fr"})),
            400,
            Some("checkout-recs"),
            "TARGETING_KEY_MISSING",
        );
        failure(
            &evaluate(&base, "checkout-recs", json!({"targetingKey": ""})),
            400,
            Some("checkout-recs"),
            "TARGETING_KEY_MISSING",
        );
        failure(
            &ofrep(&base, path, "", None),
            400,
            Some("checkout-recs"),
            "TARGETING_KEY_MISSING",
        );
        failure(
            &evaluate(&base, "checkout-recs", json!({"targetingKey": 42})),
            400,
            Some("checkout-recs"),
            "INVALID_CONTEXT",
        );
        failure(
            &evaluate(
                &base,
                "checkout-recs",
                json!({"targetingKey": "x".repeat(300)}),
            ),
            400,
            Some("checkout-recs"),
            "INVALID_CONTEXT",
        );
        failure(
            &ofrep(&base, path, r#"{"context": 5}"#, None),
            400,
            Some("checkout-recs"),
            "INVALID_CONTEXT",
        );
        failure(
            &ofrep(&base, path, r#"{"context": {"#, None),
            400,
            Some("checkout-recs"),
            "PARSE_ERROR",
        );
        failure(
            &ofrep(&base, path, r#"["context"]"#, None),
            400,
            Some("checkout-recs"),
            "PARSE_ERROR",
        );
        let extra = ofrep(&base, path, r#"{"context": {}, "flags": ["a"]}"#, None);
        failure(&extra, 400, Some("checkout-recs"), "PARSE_ERROR");
        assert!(
            extra.json["errorDetails"]
                .as_str()
                .unwrap()
                .contains("\"flags\""),
            "{}",
            extra.text
        );
        let huge = json!({"context": {"targetingKey": "u", "blob": "x".repeat(5000)}}).to_string();
        failure(
            &ofrep(&base, path, &huge, None),
            413,
            Some("checkout-recs"),
            "GENERAL",
        );

        // Auth stays rampart's: 401 without a token, 403 for a token that may not assign.
        let body = r#"{"context": {"targetingKey": "u"}}"#;
        let r: Reply = send_as("POST", &format!("{base}{path}"), Some(body), None);
        error_of(&r, 401, "unauthorized");
        let r = send_as("POST", &format!("{base}{path}"), Some(body), Some(READ));
        error_of(&r, 403, "forbidden");
    })
    .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_lists_every_flag_and_answers_304_until_something_changes() {
    let mut server = Server::start(CONFIG).await;
    let base = server.base.clone();
    blocking(move || {
        let bulk = "/ofrep/v1/evaluate/flags";
        let body = json!({"context": {"targetingKey": "user-7", "country": "fr"}}).to_string();
        let first = ofrep(&base, bulk, &body, None);
        assert_eq!(first.status, 200, "{}", first.text);
        let flags = first.json["flags"].as_array().expect("flags");
        let keys: Vec<&str> = flags.iter().map(|f| f["key"].as_str().unwrap()).collect();
        assert_eq!(
            keys,
            ["checkout-recs", "banner", "pricing", "legacy"],
            "config order"
        );
        let want = assign(&base, "checkout-recs", "user-7");
        assert_eq!(flags[0]["variant"], want["variant"]);
        assert_eq!(flags[1]["reason"], "STATIC");
        let tag = first.etag.clone().expect("an ETag");
        assert!(
            tag.starts_with('"') && tag.ends_with('"') && tag.len() > 2,
            "{tag}"
        );

        // The same question with the tag: 304, no body, nothing logged.
        sync(&base, 1);
        let before = exposures(&base);
        let again = ofrep(&base, bulk, &body, Some(&tag));
        assert_eq!(again.status, 304, "{}", again.text);
        assert_eq!(again.text, "");
        assert_eq!(again.etag.as_deref(), Some(tag.as_str()));
        for header in [
            format!("W/{tag}"),
            format!("\"other\", {tag}"),
            "*".to_string(),
        ] {
            assert_eq!(
                ofrep(&base, bulk, &body, Some(&header)).status,
                304,
                "{header}"
            );
        }
        sync(&base, 2);
        assert_eq!(exposures(&base), before, "a 304 logs no exposure");

        // Another context, or a stale tag: a full answer, which logs one exposure per flag.
        let other = json!({"context": {"targetingKey": "user-8"}}).to_string();
        let r = ofrep(&base, bulk, &other, Some(&tag));
        assert_eq!(r.status, 200, "{}", r.text);
        assert_ne!(r.etag.as_deref(), Some(tag.as_str()));
        assert_eq!(ofrep(&base, bulk, &body, Some("\"stale\"")).status, 200);
        sync(&base, 3);
        let after = exposures(&base);
        for model in ["checkout-recs", "banner", "pricing", "legacy"] {
            assert_eq!(
                exposures_of(&after, model) - exposures_of(&before, model),
                2,
                "{model}"
            );
        }

        // A rollout that moves changes the tag: the client re-fetches.
        let r = send_as(
            "POST",
            &format!("{base}/v1/rollouts/recs-v2/pause"),
            None,
            Some(OPERATE),
        );
        assert_eq!(r.status, 200, "{}", r.text);
        let moved = ofrep(&base, bulk, &body, Some(&tag));
        assert_eq!(moved.status, 200, "{}", moved.text);
        assert_ne!(moved.etag, first.etag);
        assert_eq!(
            moved.json["flags"][0]["metadata"]["rollout_status"],
            "paused"
        );
        let tag2 = moved.etag.clone().unwrap();
        assert_eq!(ofrep(&base, bulk, &body, Some(&tag2)).status, 304);

        // Without a targeting key, each flag that needs one fails inside the list.
        let keyless = ofrep(&base, bulk, r#"{"context": {"country": "fr"}}"#, None);
        assert_eq!(keyless.status, 200, "{}", keyless.text);
        let flags = keyless.json["flags"].as_array().unwrap();
        let codes: Vec<&Value> = flags.iter().map(|f| &f["errorCode"]).collect();
        let missing = json!("TARGETING_KEY_MISSING");
        assert_eq!(
            codes,
            [&missing, &missing, &Value::Null, &missing],
            "{}",
            keyless.text
        );
        assert_eq!(flags[2]["reason"], "STATIC");
        assert_eq!(flags[0]["key"], "checkout-recs");

        // Whole-request failures carry no key.
        for (raw, code) in [
            ("{", "PARSE_ERROR"),
            (r#"{"context": "x"}"#, "INVALID_CONTEXT"),
            (r#"{"context": {"targetingKey": []}}"#, "INVALID_CONTEXT"),
        ] {
            let r = ofrep(&base, bulk, raw, None);
            failure(&r, 400, None, code);
        }
    })
    .await;
    server.stop().await;
}
