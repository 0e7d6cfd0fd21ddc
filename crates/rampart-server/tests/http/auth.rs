//! Access control end to end: every route called without a token, with an unknown one and with a
//! token of every role, against the matrix of `POLICY` (admin ⊇ operate ⊇ read and ingest); the
//! 401 challenge and error shape; `force` reserved to operate and admin; tokens from `token_file`;
//! and the refusal to start without tokens on a non-loopback address or with a missing token file.

use rampart_core::config::Role;
use rampart_server::{start, Access, Options, ServeError, POLICY};
use serde_json::{json, Value};

use crate::support::{blocking, error_of, send_as, Reply, Server};

pub const READ: &str = "read-token-0123456789";
pub const INGEST: &str = "ingest-token-0123456789";
pub const OPERATE: &str = "operate-token-0123456789";
pub const ADMIN: &str = "admin-token-0123456789";

/// Two roles inline, two in `tokens.txt` beside the config (written by [`start_with_auth`]).
pub const AUTH_CONFIG: &str = r#"
[server]
max_body_bytes = 4096

[auth]
tokens = [
  { token = "read-token-0123456789", role = "read" },
  { token = "ingest-token-0123456789", role = "ingest" },
]
token_file = "tokens.txt"

[[models]]
name = "recs"
unit = "user"
variants = [{ name = "v1" }, { name = "v2" }]

[[models]]
name = "search"
unit = "user"
variants = [{ name = "s1" }, { name = "s2" }]

[[models]]
name = "pricing"
unit = "request"
variants = [{ name = "p1" }, { name = "p2" }]

[[models]]
name = "scorer"
unit = "request"
variants = [{ name = "s1", endpoint = "http://upstream.invalid" }]

[[metrics]]
name = "conversion"
kind = "binary"
event = "purchase"
maturity = "1h"
goal = "increase"

[[metrics]]
name = "clicks"
kind = "count"
event = "click"

[[holdouts]]
name = "global"
percent = 10
models = ["recs"]

[[rollouts]]
name = "recs-v2"
model = "recs"
baseline = "v1"
candidate = "v2"
stages = [{ traffic = 20, min_duration = "1h" }, { traffic = 100 }]
gates = [{ metric = "conversion", compare = "control", max_worsening = "2%" }]

[[experiments]]
name = "ranker"
model = "search"
design = "team-draft"
variants = ["s1", "s2"]
primary = "clicks"

[[experiments]]
name = "price-test"
model = "pricing"
variants = ["p1", "p2"]
primary = "conversion"
autostart = false
"#;

/// Starts the auth test server, with the operate and admin tokens in its token file and a model
/// server for `scorer` that answers every POST with `{"score": 1}`.
pub async fn start_with_auth() -> Server {
    let score = || async { axum::Json(json!({"score": 1})) };
    let model_server = crate::support::spawn_upstream(
        axum::Router::new()
            .route("/", axum::routing::post(score))
            .route("/{*path}", axum::routing::post(score)),
    )
    .await;
    let config = AUTH_CONFIG.replace("http://upstream.invalid", &model_server);
    Server::start_with(&config, |dir| {
        let lines = format!("# operators\noperate {OPERATE}\n\nadmin {ADMIN}\n");
        std::fs::write(dir.join("tokens.txt"), lines).expect("token file written");
    })
    .await
}

/// The documented matrix (docs/api.md), written out independently of the server's `POLICY`:
/// the role each route needs, `None` for the open probes.
const MATRIX: &[(&str, &str, Option<Role>)] = &[
    ("GET", "/healthz", None),
    ("GET", "/readyz", None),
    ("GET", "/metrics", Some(Role::Read)),
    ("GET", "/openapi.json", Some(Role::Read)),
    ("POST", "/v1/assign", Some(Role::Ingest)),
    ("POST", "/v1/assign/batch", Some(Role::Ingest)),
    ("POST", "/v1/events", Some(Role::Ingest)),
    ("POST", "/v1/interleave", Some(Role::Ingest)),
    ("POST", "/v1/predict/{model}", Some(Role::Ingest)),
    ("POST", "/v1/predict/{model}/{*path}", Some(Role::Ingest)),
    ("GET", "/v1/status", Some(Role::Read)),
    ("GET", "/v1/evidence/{entity}", Some(Role::Read)),
    ("GET", "/v1/decisions", Some(Role::Read)),
    ("GET", "/v1/rollouts", Some(Role::Read)),
    ("GET", "/v1/rollouts/{name}", Some(Role::Read)),
    ("GET", "/v1/rollouts/{name}/verdict", Some(Role::Read)),
    ("POST", "/v1/rollouts/{name}/{command}", Some(Role::Operate)),
    ("POST", "/v1/kill", Some(Role::Operate)),
    ("GET", "/v1/experiments", Some(Role::Read)),
    ("GET", "/v1/experiments/{name}", Some(Role::Read)),
    (
        "POST",
        "/v1/experiments/{name}/{command}",
        Some(Role::Operate),
    ),
    ("GET", "/v1/holdouts", Some(Role::Read)),
    ("GET", "/v1/holdouts/{name}", Some(Role::Read)),
    ("POST", "/v1/config/reload", Some(Role::Admin)),
    ("POST", "/ofrep/v1/evaluate/flags/{key}", Some(Role::Ingest)),
    ("POST", "/ofrep/v1/evaluate/flags", Some(Role::Ingest)),
    ("GET", "/v1/series/{entity}", Some(Role::Read)),
    ("GET", "/", None),
    ("GET", "/assets/{file}", None),
    ("GET", "/v1/proxy/{model}", Some(Role::Read)),
];

/// Which callers each role admits: admin ⊇ operate ⊇ read and ingest.
fn admits(caller: Role, needed: Role) -> bool {
    matches!(
        (caller, needed),
        (Role::Admin, _)
            | (Role::Operate, Role::Operate | Role::Read | Role::Ingest)
            | (Role::Read, Role::Read)
            | (Role::Ingest, Role::Ingest)
    )
}

/// The callers of the matrix: no token, an unknown token, then one token per role.
const CALLERS: [(&str, Option<&str>, Option<Role>); 6] = [
    ("no token", None, None),
    ("unknown token", Some("not-a-token-0123456789"), None),
    ("read", Some(READ), Some(Role::Read)),
    ("ingest", Some(INGEST), Some(Role::Ingest)),
    ("operate", Some(OPERATE), Some(Role::Operate)),
    ("admin", Some(ADMIN), Some(Role::Admin)),
];

/// A valid request for a route of `POLICY`: concrete path and body. `turn` counts earlier
/// successful calls of the route, so state-changing commands alternate (pause, resume, ...).
fn request(method: &str, route: &str, turn: usize) -> (String, Option<Value>) {
    let id = format!("{route}-{turn}");
    match (method, route) {
        ("POST", "/v1/assign") => (route.into(), Some(json!({"model": "recs", "unit": id}))),
        ("POST", "/v1/assign/batch") => (
            route.into(),
            Some(json!({"requests": [{"model": "recs", "unit": id}, {"model": "pricing"}]})),
        ),
        ("POST", "/v1/events") => (
            route.into(),
            Some(
                json!({"events": [{"id": id, "type": "purchase", "unit": "u1", "model": "recs"}]}),
            ),
        ),
        ("POST", "/v1/interleave") => (
            route.into(),
            Some(json!({"experiment": "ranker", "unit": id,
                "rankings": {"s1": ["a", "b", "c"], "s2": ["c", "b", "a"]}})),
        ),
        ("POST", "/v1/rollouts/{name}/{command}") => {
            let cmd = if turn.is_multiple_of(2) {
                "pause"
            } else {
                "resume"
            };
            (
                format!("/v1/rollouts/recs-v2/{cmd}"),
                Some(json!({"reason": "auth walk"})),
            )
        }
        ("POST", "/v1/experiments/{name}/{command}") => {
            let cmd = if turn.is_multiple_of(2) {
                "start"
            } else {
                "stop"
            };
            (format!("/v1/experiments/price-test/{cmd}"), None)
        }
        ("POST", "/v1/kill") => (route.into(), Some(json!({"reason": "auth walk"}))),
        ("POST", "/v1/config/reload") => (route.into(), None),
        ("POST", "/ofrep/v1/evaluate/flags/{key}") => (
            "/ofrep/v1/evaluate/flags/recs".into(),
            Some(json!({"context": {"targetingKey": id}})),
        ),
        ("POST", "/ofrep/v1/evaluate/flags") => {
            (route.into(), Some(json!({"context": {"targetingKey": id}})))
        }
        ("GET", "/assets/{file}") => ("/assets/dashboard.js".into(), None),
        ("POST", "/v1/predict/{model}") => ("/v1/predict/scorer".into(), Some(json!({"x": 1}))),
        ("POST", "/v1/predict/{model}/{*path}") => {
            ("/v1/predict/scorer/score".into(), Some(json!({"x": 1})))
        }
        ("GET", "/v1/proxy/{model}") => ("/v1/proxy/scorer".into(), None),
        ("GET", _) => (
            route.replace("{entity}", "recs-v2").replace(
                "{name}",
                match route {
                    r if r.starts_with("/v1/experiments") => "ranker",
                    r if r.starts_with("/v1/holdouts") => "global",
                    _ => "recs-v2",
                },
            ),
            None,
        ),
        _ => panic!("the walk has no request for {method} {route}: add one"),
    }
}

pub fn call(
    base: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
    token: Option<&str>,
) -> Reply {
    let body = body.map(Value::to_string);
    send_as(method, &format!("{base}{path}"), body.as_deref(), token)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_answers_every_role_as_the_matrix_says() {
    let mut server = start_with_auth().await;
    let base = server.base.clone();
    // Every served route is in the matrix, and the server's table agrees with it.
    let policy: Vec<(&str, &str, Option<Role>)> = POLICY
        .iter()
        .map(|(m, p, a)| {
            let role = match a {
                Access::Open => None,
                Access::Needs(r) => Some(*r),
            };
            (*m, *p, role)
        })
        .collect();
    assert_eq!(
        policy, MATRIX,
        "POLICY (left) and the documented matrix (right) differ"
    );
    blocking(move || {
        for (method, route, needs) in MATRIX {
            let mut turn = 0;
            for (who, token, role) in CALLERS {
                let (path, body) = request(method, route, turn);
                let r = call(&base, method, &path, body.as_ref(), token);
                let want = match (needs, role) {
                    (None, _) => 200,
                    (Some(_), None) => 401,
                    (Some(needed), Some(role)) if admits(role, *needed) => 200,
                    (Some(_), Some(_)) => 403,
                };
                match want {
                    200 => {
                        assert_eq!(r.status, 200, "{who} {method} {path}: {}", r.text);
                        turn += 1;
                    }
                    401 => {
                        let e = error_of(&r, 401, "unauthorized");
                        assert!(e.get("field").is_none(), "{}", r.text);
                        let challenge = r.www_authenticate.clone().unwrap_or_default();
                        assert!(
                            challenge.starts_with("Bearer"),
                            "{who} {method} {path}: {challenge:?}"
                        );
                        assert_eq!(
                            challenge.contains("invalid_token"),
                            token.is_some(),
                            "{who}: {challenge}"
                        );
                    }
                    _ => {
                        let e = error_of(&r, 403, "forbidden");
                        let message = e["message"].as_str().unwrap();
                        let needed = needs.map_or("", Role::as_str);
                        assert!(
                            message.contains(&format!("needs the {needed} role")),
                            "{message}"
                        );
                    }
                }
            }
        }
    })
    .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn force_is_for_operate_and_admin_and_headers_are_strict() {
    let mut server = start_with_auth().await;
    let base = server.base.clone();
    blocking(move || {
        let forced = json!({"model": "recs", "unit": "qa-1", "force": "v2"});
        let r = call(&base, "POST", "/v1/assign", Some(&forced), Some(INGEST));
        let e = error_of(&r, 403, "forbidden");
        assert_eq!(e["field"], "force");
        assert!(
            e["message"]
                .as_str()
                .unwrap()
                .contains("this token's role is ingest"),
            "{}",
            r.text
        );
        let batch = json!({"requests": [{"model": "recs", "unit": "a"}, forced.clone()]});
        let r = call(
            &base,
            "POST",
            "/v1/assign/batch",
            Some(&batch),
            Some(INGEST),
        );
        assert_eq!(error_of(&r, 403, "forbidden")["field"], "requests[1].force");
        for token in [OPERATE, ADMIN] {
            let r = call(&base, "POST", "/v1/assign", Some(&forced), Some(token));
            assert_eq!(r.status, 200, "{}", r.text);
            assert_eq!(
                (r.json["variant"].as_str(), r.json["reason"].as_str()),
                (Some("v2"), Some("forced"))
            );
        }
        // The read role cannot assign at all, force or not.
        let r = call(&base, "POST", "/v1/assign", Some(&forced), Some(READ));
        error_of(&r, 403, "forbidden");

        // Only the Bearer scheme counts; a token is compared whole.
        let status = |header: &str| {
            let r = ureq::get(&format!("{base}/v1/status"))
                .set("authorization", header)
                .call();
            match r {
                Ok(r) => r.status(),
                Err(ureq::Error::Status(code, _)) => code,
                Err(e) => panic!("{e}"),
            }
        };
        assert_eq!(status(&format!("Bearer {READ}")), 200);
        assert_eq!(status(&format!("bearer {READ}")), 200);
        assert_eq!(status(&format!("Basic {READ}")), 401);
        assert_eq!(status(&format!("Bearer {READ}x")), 401);
        assert_eq!(status(&format!("Bearer {}", &READ[..READ.len() - 1])), 401);
        // Unknown paths stay plain 404s, token or not.
        let r = call(&base, "GET", "/v1/nothing-here", None, None);
        error_of(&r, 404, "not_found");
    })
    .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_tokens_means_loopback_only_and_bad_token_sources_stop_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("rampart.toml");
    let models = "[[models]]\nname = \"m\"\nvariants = [{ name = \"a\" }]\n";
    std::fs::write(&config, models).unwrap();
    let opts = |listen: &str| Options {
        config_path: config.clone(),
        data_dir: Some(dir.path().join("data")),
        listen: Some(listen.into()),
        ..Default::default()
    };
    let err = start(opts("0.0.0.0:0")).await.err().expect("refused");
    assert!(
        matches!(&err, ServeError::Unprotected { addr } if addr == "0.0.0.0:0"),
        "{err}"
    );
    let text = err.to_string();
    assert!(
        text.contains("0.0.0.0:0") && text.contains("[auth]"),
        "{text}"
    );
    assert!(
        !dir.path().join("data").exists(),
        "nothing is created by a refused start"
    );

    std::fs::write(
        &config,
        format!("{models}[auth]\ntoken_file = \"missing.txt\"\n"),
    )
    .unwrap();
    let err = start(opts("127.0.0.1:0")).await.err().expect("refused");
    let text = err.to_string();
    assert!(matches!(err, ServeError::Auth(_)), "{text}");
    assert!(
        text.contains("auth.token_file") && text.contains("missing.txt"),
        "{text}"
    );

    // Without tokens a loopback address is served, and openly.
    std::fs::write(&config, models).unwrap();
    let running = start(opts("127.0.0.1:0")).await.expect("loopback is fine");
    let base = format!("http://{}", running.addr);
    let r = blocking(move || call(&base, "GET", "/v1/status", None, None)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_rereads_tokens_but_cannot_switch_auth_off() {
    let mut server = start_with_auth().await;
    let base = server.base.clone();
    let dir = server.config_path.parent().unwrap().to_path_buf();
    // Rotate: a new admin token replaces the old one.
    std::fs::write(
        dir.join("tokens.txt"),
        "admin rotated-admin-token-0123456789\n",
    )
    .unwrap();
    let b = base.clone();
    blocking(move || {
        let r = call(&b, "POST", "/v1/config/reload", None, Some(ADMIN));
        assert_eq!(r.status, 200, "{}", r.text);
        let r = call(&b, "GET", "/v1/status", None, Some(ADMIN));
        error_of(&r, 401, "unauthorized");
        let r = call(
            &b,
            "GET",
            "/v1/status",
            None,
            Some("rotated-admin-token-0123456789"),
        );
        assert_eq!(r.status, 200, "{}", r.text);
    })
    .await;
    let plain = AUTH_CONFIG
        .split("[[models]]")
        .skip(1)
        .map(|s| format!("[[models]]{s}"))
        .collect::<String>();
    std::fs::write(&server.config_path, plain).unwrap();
    blocking(move || {
        let r = call(
            &base,
            "POST",
            "/v1/config/reload",
            None,
            Some("rotated-admin-token-0123456789"),
        );
        let e = error_of(&r, 422, "invalid_config");
        assert_eq!(e["field"], "auth");
        let r = call(&base, "GET", "/v1/status", None, None);
        error_of(&r, 401, "unauthorized");
    })
    .await;
    server.stop().await;
}
