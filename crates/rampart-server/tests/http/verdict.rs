//! `GET /v1/rollouts/{name}/verdict` as Argo Rollouts reads it: the AnalysisTemplate documented in
//! `docs/kubernetes.md` is parsed, and its URL, header, JSON path and success / failure conditions
//! are applied to real verdicts of a passing, a failing and an inconclusive rollout driven by the
//! controller of a running server. A tiny evaluator covers what the template uses: a `{$.a.b}` JSON
//! path and `result == "..."` / `result != "..."` conditions, with Argo's rule that a measurement
//! matching neither condition is inconclusive.

use std::path::Path;

use serde_json::{json, Value};
use yaml_rust2::{Yaml, YamlLoader};

use crate::support::{blocking, error_of, eventually, send_as, Server};

const INGEST: &str = "verdict-ingest-token-0123456789";
const READ: &str = "verdict-read-token-0123456789";

/// Three models, each with a rollout at 50% whose gate caps the error rate at 5%: one gets healthy
/// traffic, one harmful traffic (and pauses on it), one almost none.
const CONFIG: &str = r#"
[server]
tick = "100ms"

[auth]
tokens = [
  { token = "verdict-ingest-token-0123456789", role = "ingest" },
  { token = "verdict-read-token-0123456789", role = "read" },
]

[[models]]
name = "healthy"
variants = [{ name = "v1" }, { name = "v2" }]

[[models]]
name = "harmful"
variants = [{ name = "v1" }, { name = "v2" }]

[[models]]
name = "quiet"
variants = [{ name = "v1" }, { name = "v2" }]

[[metrics]]
name = "error_rate"
kind = "ratio"
numerator = "error"
denominator = "request"
goal = "decrease"

[[rollouts]]
name = "passing"
model = "healthy"
baseline = "v1"
candidate = "v2"
stages = [{ traffic = 50, min_duration = "1h" }, { traffic = 100 }]
gates = [{ metric = "error_rate", max = 0.05 }]

[[rollouts]]
name = "failing"
model = "harmful"
baseline = "v1"
candidate = "v2"
on_fail = "pause"
stages = [{ traffic = 50, min_duration = "1h" }, { traffic = 100 }]
gates = [{ metric = "error_rate", max = 0.05 }]

[[rollouts]]
name = "waiting"
model = "quiet"
baseline = "v1"
candidate = "v2"
stages = [{ traffic = 50, min_duration = "1h" }, { traffic = 100 }]
gates = [{ metric = "error_rate", max = 0.05 }]
"#;

/// The documented AnalysisTemplate: the first YAML document in docs/kubernetes.md of that kind.
fn analysis_template() -> Yaml {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/kubernetes.md");
    let text = std::fs::read_to_string(&path).expect("docs/kubernetes.md readable");
    let blocks = text
        .split("```yaml\n")
        .skip(1)
        .map(|b| b.split("```").next().unwrap_or(""));
    for block in blocks {
        let docs = YamlLoader::load_from_str(block)
            .unwrap_or_else(|e| panic!("YAML block does not parse: {e}\n{block}"));
        for doc in docs {
            if doc["kind"].as_str() == Some("AnalysisTemplate") {
                assert_eq!(doc["apiVersion"].as_str(), Some("argoproj.io/v1alpha1"));
                return doc;
            }
        }
    }
    panic!("docs/kubernetes.md has no AnalysisTemplate");
}

/// The parts of the template's metric that the measurement depends on.
struct Metric {
    url: String,
    authorization: String,
    json_path: String,
    success: String,
    failure: String,
    /// The default values of the template's arguments.
    args: Vec<(String, Option<String>)>,
}

fn metric_of(template: &Yaml) -> Metric {
    let spec = &template["spec"];
    let metrics = spec["metrics"].as_vec().expect("spec.metrics");
    assert_eq!(metrics.len(), 1, "one metric");
    let m = &metrics[0];
    for key in ["interval", "count", "failureLimit", "inconclusiveLimit"] {
        assert!(!m[key].is_badvalue(), "the metric sets {key}");
    }
    assert_eq!(
        m["failureLimit"].as_i64(),
        Some(0),
        "a fail verdict fails at once"
    );
    let count = m["count"].as_i64().expect("count");
    assert_eq!(
        m["inconclusiveLimit"].as_i64(),
        Some(count - 1),
        "inconclusive measurements are tolerated until the last"
    );
    let web = &m["provider"]["web"];
    let header = web["headers"]
        .as_vec()
        .expect("headers")
        .iter()
        .find(|h| h["key"].as_str() == Some("Authorization"))
        .expect("an Authorization header");
    let args = spec["args"]
        .as_vec()
        .expect("args")
        .iter()
        .map(|a| {
            let name = a["name"].as_str().expect("arg name").to_string();
            if name == "token" {
                assert_eq!(
                    a["valueFrom"]["secretKeyRef"]["key"].as_str(),
                    Some("token"),
                    "the token comes from a Secret"
                );
            }
            (name, a["value"].as_str().map(str::to_string))
        })
        .collect();
    let text = |y: &Yaml, what: &str| {
        y.as_str()
            .unwrap_or_else(|| panic!("{what} is a string"))
            .to_string()
    };
    Metric {
        url: text(&web["url"], "url"),
        authorization: text(&header["value"], "the Authorization header"),
        json_path: text(&web["jsonPath"], "jsonPath"),
        success: text(&m["successCondition"], "successCondition"),
        failure: text(&m["failureCondition"], "failureCondition"),
        args,
    }
}

/// Replaces `{{args.NAME}}` with the given values, else the argument's default.
fn resolve(template: &str, metric: &Metric, given: &[(&str, &str)]) -> String {
    let mut out = template.to_string();
    for (name, default) in &metric.args {
        let value = given
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.to_string())
            .or_else(|| default.clone())
            .unwrap_or_else(|| panic!("argument {name} has no value"));
        out = out.replace(&format!("{{{{args.{name}}}}}"), &value);
    }
    assert!(!out.contains("{{"), "unresolved argument in {out}");
    out
}

/// Evaluates a JSON path of the form `{$.a.b}`.
fn json_path<'a>(path: &str, value: &'a Value) -> &'a Value {
    let inner = path
        .strip_prefix('{')
        .and_then(|p| p.strip_suffix('}'))
        .and_then(|p| p.strip_prefix('$'))
        .unwrap_or_else(|| panic!("unsupported jsonPath {path}"));
    inner
        .split('.')
        .filter(|s| !s.is_empty())
        .fold(value, |v, key| &v[key])
}

/// Evaluates `result == "x"` or `result != "x"` on a string result.
fn condition(expr: &str, result: &str) -> bool {
    let (op, literal) = if let Some((lhs, rhs)) = expr.split_once("==") {
        assert_eq!(lhs.trim(), "result", "{expr}");
        ("==", rhs)
    } else if let Some((lhs, rhs)) = expr.split_once("!=") {
        assert_eq!(lhs.trim(), "result", "{expr}");
        ("!=", rhs)
    } else {
        panic!("unsupported condition {expr}");
    };
    let literal = literal.trim().trim_matches('"');
    (op == "==") == (result == literal)
}

/// Argo's phase of one measurement when both conditions are set.
fn phase(metric: &Metric, result: &str) -> &'static str {
    if condition(&metric.failure, result) {
        "Failed"
    } else if condition(&metric.success, result) {
        "Successful"
    } else {
        "Inconclusive"
    }
}

/// Measures the verdict of `rollout` as the template would: (phase, the verdict answer).
fn measure(base: &str, metric: &Metric, rollout: &str) -> (&'static str, Value) {
    let args = [("rampart-url", base), ("rollout", rollout), ("token", READ)];
    let url = resolve(&metric.url, metric, &args);
    let auth = resolve(&metric.authorization, metric, &args);
    let resp = match ureq::get(&url).set("authorization", &auth).call() {
        Ok(r) => r,
        Err(e) => panic!("GET {url}: {e}"),
    };
    let body: Value = resp.into_json().expect("JSON");
    let result = json_path(&metric.json_path, &body)
        .as_str()
        .unwrap_or_else(|| panic!("{} reads no string from {body}", metric.json_path))
        .to_string();
    (phase(metric, &result), body)
}

fn post(base: &str, path: &str, body: &Value) -> Value {
    let r = send_as(
        "POST",
        &format!("{base}{path}"),
        Some(&body.to_string()),
        Some(INGEST),
    );
    assert_eq!(r.status, 200, "{path}: {}", r.text);
    r.json
}

/// Assigns `n` units of `model` and sends a request event for every candidate unit, and an error
/// for every `error_every`-th of them.
fn traffic(base: &str, model: &str, n: usize, error_every: usize) {
    let units: Vec<String> = (0..n).map(|i| format!("{model}-{i}")).collect();
    let mut candidates = Vec::new();
    for chunk in units.chunks(500) {
        let requests: Vec<Value> = chunk
            .iter()
            .map(|u| json!({"model": model, "unit": u}))
            .collect();
        let r = post(base, "/v1/assign/batch", &json!({ "requests": requests }));
        for (u, a) in chunk.iter().zip(r["assignments"].as_array().unwrap()) {
            if a["reason"] == "candidate" {
                candidates.push(u.clone());
            }
        }
    }
    let mut events = Vec::new();
    for (i, u) in candidates.iter().enumerate() {
        events
            .push(json!({"id": format!("req-{u}"), "type": "request", "unit": u, "model": model}));
        if i % error_every == error_every - 1 {
            events.push(
                json!({"id": format!("err-{u}"), "type": "error", "unit": u, "model": model}),
            );
        }
    }
    for chunk in events.chunks(500) {
        post(base, "/v1/events", &json!({ "events": chunk }));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documented_analysis_template_reads_pass_fail_and_inconclusive() {
    let metric = metric_of(&analysis_template());
    assert_eq!(metric.json_path, "{$.verdict}");
    assert!(
        metric
            .url
            .ends_with("/v1/rollouts/{{args.rollout}}/verdict"),
        "{}",
        metric.url
    );
    assert_eq!(metric.authorization, "Bearer {{args.token}}");
    let mut server = Server::start(CONFIG).await;
    let base = server.base.clone();
    blocking(move || {
        // Before any look or traffic: inconclusive, which neither passes nor fails.
        let (first, body) = measure(&base, &metric, "waiting");
        assert_eq!(first, "Inconclusive", "{body}");
        assert_eq!(body["verdict"], "inconclusive");

        traffic(&base, "healthy", 2_000, 100);
        traffic(&base, "harmful", 600, 2);
        traffic(&base, "quiet", 10, 1_000);

        let (_, passing) = eventually(20, "a passing verdict", || {
            let m = measure(&base, &metric, "passing");
            (m.0 == "Successful").then_some(m)
        });
        assert_eq!(passing["verdict"], "pass");
        assert_eq!(
            (&passing["status"], &passing["stage"], &passing["stages"]),
            (&json!("running"), &json!(0), &json!(2))
        );
        assert_eq!(passing["traffic"], 50.0);
        assert_eq!(passing["reason"], "all 1 gates pass");
        let gate = &passing["gates"][0];
        assert_eq!(
            (&gate["metric"], &gate["outcome"], &gate["threshold"]),
            (&json!("error_rate"), &json!("pass"), &json!(0.05))
        );
        let estimate = gate["estimate"].as_f64().unwrap();
        assert!((0.005..0.02).contains(&estimate), "about 1% errors: {gate}");
        assert!(
            passing["candidate_units"].as_u64().unwrap() > 800,
            "{passing}"
        );
        assert!(passing["looked_at"].as_i64().is_some());

        let (_, failing) = eventually(20, "a failing verdict", || {
            let m = measure(&base, &metric, "failing");
            // The look is recorded just before the controller acts on it.
            (m.0 == "Failed" && m.1["status"] == "paused").then_some(m)
        });
        assert_eq!(failing["verdict"], "fail");
        let reason = failing["reason"].as_str().unwrap();
        assert!(reason.starts_with("gate 0 (error_rate) fails"), "{reason}");
        assert_eq!(failing["gates"][0]["outcome"], "fail");

        // The quiet rollout has been looked at, with too little evidence to tell.
        let (phase, waiting) = measure(&base, &metric, "waiting");
        assert_eq!(phase, "Inconclusive", "{waiting}");
        assert!(waiting["looked_at"].as_i64().is_some(), "{waiting}");
        assert_eq!(waiting["gates"][0]["outcome"], "inconclusive");
        assert_eq!(
            waiting["reason"],
            "not enough evidence yet for gate 0 (error_rate)"
        );

        let r = send_as(
            "GET",
            &format!("{base}/v1/rollouts/nope/verdict"),
            None,
            Some(READ),
        );
        error_of(&r, 404, "not_found");
    })
    .await;
    server.stop().await;
}

#[test]
fn the_condition_evaluator_follows_argo() {
    let m = Metric {
        url: String::new(),
        authorization: String::new(),
        json_path: "{$.verdict}".into(),
        success: "result == \"pass\"".into(),
        failure: "result == \"fail\"".into(),
        args: Vec::new(),
    };
    assert_eq!(phase(&m, "pass"), "Successful");
    assert_eq!(phase(&m, "fail"), "Failed");
    assert_eq!(phase(&m, "inconclusive"), "Inconclusive");
    assert!(condition("result != \"fail\"", "pass"));
    assert_eq!(json_path("{$.a.b}", &json!({"a": {"b": "x"}})), "x");
}
