//! `openapi.json` against the server: the routes of the router (read from its source), the access
//! table `POLICY` and the document list the same routes with the same roles; real requests and
//! responses of the main endpoints, errors included, validate against the document's schemas.

use std::collections::BTreeSet;

use rampart_server::{Access, OPENAPI, POLICY};
use serde_json::{json, Value};

use crate::auth::{call, start_with_auth, ADMIN, INGEST, READ};
use crate::schema::violations;
use crate::support::{blocking, Reply};

const METHODS: &[&str] = &["get", "post", "put", "delete", "patch"];

fn document() -> Value {
    serde_json::from_str(OPENAPI).expect("openapi.json is JSON")
}

/// `(METHOD, path)` of every `.route("path", get(..).post(..))` in the server's source.
fn routes_in_source() -> BTreeSet<(String, String)> {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = BTreeSet::new();
    for entry in std::fs::read_dir(&src).expect("src readable") {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for (start, _) in text.match_indices(".route(\"") {
            let rest = &text[start + ".route(\"".len()..];
            let route = &rest[..rest.find('"').expect("closing quote")];
            // The route's arguments end where its parenthesis closes.
            let mut depth = 1;
            let mut end = rest.len();
            for (i, c) in rest.char_indices() {
                match c {
                    '(' => depth += 1,
                    ')' => depth -= 1,
                    _ => {}
                }
                if depth == 0 {
                    end = i;
                    break;
                }
            }
            let args = &rest[route.len()..end];
            let bytes = args.as_bytes();
            for m in METHODS {
                for (i, _) in args.match_indices(&format!("{m}(")) {
                    let before = if i == 0 { b' ' } else { bytes[i - 1] };
                    if !before.is_ascii_alphanumeric() && before != b'_' {
                        out.insert((m.to_uppercase(), documented_path(route)));
                    }
                }
            }
        }
    }
    out
}

/// The OpenAPI spelling of an axum route: a `{*rest}` wildcard is a plain `{rest}` parameter.
fn documented_path(route: &str) -> String {
    route.replace("{*", "{")
}

#[test]
fn router_policy_and_document_list_the_same_routes() {
    let doc = document();
    assert_eq!(doc["openapi"], "3.1.0");
    let source = routes_in_source();
    assert!(source.len() >= 20, "the scan finds the routes: {source:?}");
    let policy: BTreeSet<(String, String)> = POLICY
        .iter()
        .map(|(m, p, _)| (m.to_string(), documented_path(p)))
        .collect();
    assert_eq!(policy.len(), POLICY.len(), "POLICY lists a route twice");
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().unwrap() {
            assert!(METHODS.contains(&method.as_str()), "{path}: {method}");
            let method = method.to_uppercase();
            documented.insert((method.clone(), path.clone()));
            let (_, _, access) = POLICY
                .iter()
                .find(|(m, p, _)| *m == method && documented_path(p) == *path)
                .unwrap_or_else(|| panic!("{method} {path} is documented but not in POLICY"));
            let role = match access {
                Access::Open => "open",
                Access::Needs(r) => r.as_str(),
            };
            assert_eq!(op["x-rampart-role"], role, "{method} {path}");
            assert_eq!(
                op["security"] == json!([]),
                role == "open",
                "{method} {path}"
            );
            let responses = op["responses"].as_object().expect("responses");
            assert!(responses.contains_key("200"), "{method} {path}");
            assert_eq!(
                responses.contains_key("401") && responses.contains_key("403"),
                role != "open",
                "{method} {path}: 401 and 403 are documented where auth applies"
            );
        }
    }
    assert_eq!(
        source, documented,
        "router (left) and openapi.json (right) differ"
    );
    assert_eq!(
        policy, documented,
        "POLICY (left) and openapi.json (right) differ"
    );
}

/// Validates a reply against the document's schema for (route, method, status), and the request
/// body against the request schema.
fn conforms(doc: &Value, method: &str, route: &str, request: Option<&Value>, r: &Reply) {
    let op = &doc["paths"][route][method.to_lowercase()];
    assert!(op.is_object(), "{method} {route} is documented");
    if let Some(body) = request {
        let schema = &op["requestBody"]["content"]["application/json"]["schema"];
        let bad = violations(doc, schema, body);
        assert!(bad.is_empty(), "request of {method} {route}: {bad:?}");
    }
    let status = r.status.to_string();
    let response = &op["responses"][&status];
    assert!(
        response.is_object(),
        "{method} {route} answered {status}, which is not documented: {}",
        r.text
    );
    let schema = &response["content"]["application/json"]["schema"];
    let bad = violations(doc, schema, &r.json);
    assert!(
        bad.is_empty(),
        "{method} {route} {status}: {bad:?}\n{}",
        r.text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_responses_validate_against_the_document() {
    let mut server = start_with_auth().await;
    let base = server.base.clone();
    blocking(move || {
        let doc = document();
        let check = |method: &str, route: &str, path: &str, body: Option<Value>, token: &str, want: u16| {
            let r = call(&base, method, path, body.as_ref(), Some(token));
            assert_eq!(r.status, want, "{method} {path}: {}", r.text);
            conforms(&doc, method, route, body.as_ref(), &r);
            r
        };
        let assign = json!({"model": "recs", "unit": "u-1", "context": {"country": "fr"}});
        check("POST", "/v1/assign", "/v1/assign", Some(assign), INGEST, 200);
        let forced = json!({"model": "recs", "unit": "qa", "force": "v2"});
        check("POST", "/v1/assign", "/v1/assign", Some(forced), ADMIN, 200);
        let batch = json!({"requests": [{"model": "recs", "unit": "u-2"}, {"model": "pricing"}]});
        let r = check("POST", "/v1/assign/batch", "/v1/assign/batch", Some(batch), INGEST, 200);
        assert_eq!(r.json["assignments"].as_array().map(Vec::len), Some(2));
        let events = json!({"events": [
            {"id": "e1", "type": "purchase", "unit": "u-1", "model": "recs", "value": 3.5, "ts": "2026-01-01T00:00:00Z"},
            {"id": "e2", "type": "click", "unit": "u-2", "model": "recs", "attributes": {"country": "fr", "n": 2}},
        ]});
        check("POST", "/v1/events", "/v1/events", Some(events), INGEST, 200);
        let rankings = json!({"experiment": "ranker", "unit": "u-1", "rankings": {"s1": ["a", "b"], "s2": ["b", "a"]}});
        check("POST", "/v1/interleave", "/v1/interleave", Some(rankings), INGEST, 200);
        // The proxy's 200 is the model server's own answer, so only its summary is checked here.
        let r = call(&base, "POST", "/v1/predict/scorer/score", Some(&json!({"x": 1})), Some(INGEST));
        assert_eq!(r.status, 200, "{}", r.text);
        let r = check("GET", "/v1/proxy/{model}", "/v1/proxy/scorer", None, READ, 200);
        assert_eq!(r.json["variants"][0]["name"], "s1", "{}", r.text);
        check("POST", "/v1/predict/{model}/{path}", "/v1/predict/nope/score", None, INGEST, 404);
        let r = call(&base, "POST", "/v1/predict/scorer", Some(&json!({"x": 1})), Some(INGEST));
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["score"], 1, "{}", r.text);
        check("POST", "/v1/predict/{model}", "/v1/predict/nope", None, INGEST, 404);
        check("GET", "/v1/status", "/v1/status", None, READ, 200);
        // `conversion` has a maturity: the rollout keeps cohorts once its exposures are folded.
        for i in 0..20 {
            let unit = json!({"model": "recs", "unit": format!("cohort-{i}")});
            assert_eq!(call(&base, "POST", "/v1/assign", Some(&unit), Some(INGEST)).status, 200);
        }
        let mut cohorts = 0;
        for _ in 0..100 {
            let r = call(&base, "GET", "/v1/evidence/recs-v2", None, Some(READ));
            cohorts = r.json["cohorts"].as_array().map_or(0, Vec::len);
            if cohorts > 0 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        assert_eq!(cohorts, 1, "the exposures of the rollout are folded into one cohort");
        for entity in ["recs-v2", "ranker", "global"] {
            let r = check("GET", "/v1/evidence/{entity}", &format!("/v1/evidence/{entity}"), None, READ, 200);
            let has = r.json.get("cohorts").is_some();
            assert_eq!(has, entity == "recs-v2", "{entity}: {}", r.text);
        }
        check("GET", "/v1/rollouts", "/v1/rollouts", None, READ, 200);
        check("GET", "/v1/rollouts/{name}", "/v1/rollouts/recs-v2", None, READ, 200);
        let pause = json!({"reason": "schema check", "actor": "test"});
        check("POST", "/v1/rollouts/{name}/{command}", "/v1/rollouts/recs-v2/pause", Some(pause), ADMIN, 200);
        check("GET", "/v1/experiments", "/v1/experiments", None, READ, 200);
        check("GET", "/v1/experiments/{name}", "/v1/experiments/ranker", None, READ, 200);
        check("POST", "/v1/experiments/{name}/{command}", "/v1/experiments/price-test/start", None, ADMIN, 200);
        check("GET", "/v1/experiments/{name}", "/v1/experiments/price-test", None, READ, 200);
        check("GET", "/v1/holdouts", "/v1/holdouts", None, READ, 200);
        check("GET", "/v1/holdouts/{name}", "/v1/holdouts/global", None, READ, 200);
        let r = check("GET", "/v1/decisions", "/v1/decisions?entity=recs-v2", None, READ, 200);
        assert!(!r.json["decisions"].as_array().unwrap().is_empty(), "the pause is logged");
        check("POST", "/v1/kill", "/v1/kill", Some(json!({"reason": "drill"})), ADMIN, 200);
        check("POST", "/v1/config/reload", "/v1/config/reload", None, ADMIN, 200);
        let verdict = check("GET", "/v1/rollouts/{name}/verdict", "/v1/rollouts/recs-v2/verdict", None, READ, 200);
        assert_eq!(verdict.json["verdict"], "fail", "the kill switch rolled recs-v2 back: {}", verdict.text);
        check("GET", "/v1/rollouts/{name}/verdict", "/v1/rollouts/nope/verdict", None, READ, 404);
        let flag = "/ofrep/v1/evaluate/flags/{key}";
        let evaluation = json!({"context": {"targetingKey": "u-1", "country": "fr"}});
        check("POST", flag, "/ofrep/v1/evaluate/flags/recs", Some(evaluation.clone()), INGEST, 200);
        check("POST", flag, "/ofrep/v1/evaluate/flags/pricing", Some(json!({})), INGEST, 200);
        check("POST", flag, "/ofrep/v1/evaluate/flags/nope", Some(evaluation.clone()), INGEST, 404);
        check("POST", flag, "/ofrep/v1/evaluate/flags/recs", Some(json!({"context": {}})), INGEST, 400);
        let bulk = "/ofrep/v1/evaluate/flags";
        let r = check("POST", bulk, bulk, Some(evaluation), INGEST, 200);
        assert_eq!(r.json["flags"].as_array().map(Vec::len), Some(4), "one flag per model");
        check("POST", bulk, bulk, Some(json!({"context": {}})), INGEST, 200);
        for entity in ["recs-v2", "ranker", "global"] {
            check("GET", "/v1/series/{entity}", &format!("/v1/series/{entity}"), None, READ, 200);
        }
        check("GET", "/v1/series/{entity}", "/v1/series/recs-v2?metric=clicks", None, READ, 400);
        check("GET", "/v1/series/{entity}", "/v1/series/nope", None, READ, 404);
        check("GET", "/healthz", "/healthz", None, READ, 200);
        check("GET", "/readyz", "/readyz", None, READ, 200);
        let r = check("GET", "/openapi.json", "/openapi.json", None, READ, 200);
        assert_eq!(r.json, doc, "the served document is the file");

        // Errors: 400, 401, 403, 404 and 413 all in the documented shape.
        let unknown = json!({"model": "nope", "unit": "u"});
        let r = check("POST", "/v1/assign", "/v1/assign", Some(unknown), INGEST, 400);
        assert_eq!(r.json["error"]["field"], "model");
        let r = call(&base, "GET", "/v1/status", None, None);
        assert_eq!(r.status, 401);
        conforms(&doc, "GET", "/v1/status", None, &r);
        check("POST", "/v1/events", "/v1/events", Some(json!({"events": [{"id": "x", "type": "t", "unit": "u", "model": "recs"}]})), READ, 403);
        check("GET", "/v1/rollouts/{name}", "/v1/rollouts/nope", None, READ, 404);
        // Valid by the schema, only too large (server.max_body_bytes is 4096).
        let many: Vec<Value> = (0..100).map(|i| json!({"id": format!("x-{i}"), "type": "t", "unit": "u", "model": "recs"})).collect();
        let huge = json!({ "events": many });
        check("POST", "/v1/events", "/v1/events", Some(huge), INGEST, 413);
    })
    .await;
    server.stop().await;
}
