//! What every scenario needs: the test config, a server started on port 0 over a temporary data
//! directory (and restarted on the same one), a blocking HTTP client that returns status and JSON
//! for every answer (with an optional bearer token), and an independent prediction of the variant a unit of `checkout-recs` gets.

use std::path::PathBuf;

use rampart_core::assign::{bucket, VARIANT_SALT_MIX};
use rampart_core::state::pinned_salt;
use rampart_core::EntityKind;
use rampart_server::{start, Options, Running};
use serde_json::{json, Value};

/// Three models (user, session and request units), four metrics, a pinned-salt holdout, rollout
/// and layered experiment on `checkout-recs`, and a second experiment on `search-ranking`.
pub const CONFIG: &str = r#"
segments = ["country"]

[server]
max_body_bytes = 8192

[[models]]
name = "checkout-recs"
unit = "user"
variants = [
  { name = "v1" },
  { name = "v2", force_units = ["qa-alice"] },
]

[[models]]
name = "search-ranking"
unit = "session"
variants = [{ name = "bm25" }, { name = "neural" }]

[[models]]
name = "pricing"
unit = "request"
variants = [{ name = "p1" }, { name = "p2" }]

[[metrics]]
name = "conversion"
kind = "binary"
event = "purchase"
window = "1m"
goal = "increase"

[[metrics]]
name = "revenue"
kind = "sum"
event = "order"

[[metrics]]
name = "ctr"
kind = "ratio"
numerator = "click"
denominator = "impression"

[[metrics]]
name = "latency"
kind = "latency"
event = "response"

[[holdouts]]
name = "global"
percent = 10
models = ["checkout-recs"]
salt = "holdout-salt"

[[rollouts]]
name = "recs-v2"
model = "checkout-recs"
baseline = "v1"
candidate = "v2"
salt = "rollout-salt"
stages = [
  { traffic = 20, min_duration = "1h" },
  { traffic = 100 },
]
gates = [
  { metric = "conversion", compare = "control", max_worsening = "2%" },
  { metric = "revenue", min = 0 },
]

[[experiments]]
name = "ranker-bakeoff"
model = "checkout-recs"
variants = ["v1", "v2"]
traffic = 40
layer = "recs"
primary = "conversion"
secondary = ["revenue"]
salt = "bakeoff-salt"

[[experiments]]
name = "search-split"
model = "search-ranking"
variants = ["bm25", "neural"]
primary = "ctr"
salt = "search-salt"
"#;

/// Holdout share of `checkout-recs` in buckets (10%).
pub const HOLDOUT_BUCKETS: u32 = 1_000;
/// The rollout's first stage in buckets (20%).
pub const STAGE_ONE_BUCKETS: u32 = 2_000;

/// A running server with its data directory and config file.
pub struct Server {
    pub running: Option<Running>,
    pub base: String,
    pub config_path: PathBuf,
    pub data_dir: PathBuf,
    /// The PostgreSQL schema the server stores into, when it does not use the data directory.
    pub schema: Option<rampart_store::testing::TestSchema>,
    _dir: tempfile::TempDir,
}

impl Server {
    /// Starts a server on port 0 with `config` in a fresh temporary directory.
    pub async fn start(config: &str) -> Server {
        Self::start_with(config, |_| {}).await
    }

    /// [`Server::start`], after `prepare` has written what else the config refers to into the
    /// directory (e.g. a token file).
    pub async fn start_with(config: &str, prepare: impl FnOnce(&std::path::Path)) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        prepare(dir.path());
        let config_path = dir.path().join("rampart.toml");
        std::fs::write(&config_path, config).expect("config written");
        let data_dir = dir.path().join("data");
        let mut server = Server {
            running: None,
            base: String::new(),
            config_path,
            data_dir,
            schema: None,
            _dir: dir,
        };
        server.boot().await;
        server
    }

    /// [`Server::start`] on a fresh PostgreSQL schema instead of the embedded store; None when
    /// PostgreSQL is not there (and not required).
    pub async fn start_on_postgres(config: &str) -> Option<Server> {
        let schema = blocking(rampart_store::testing::TestSchema::create).await?;
        let dir = tempfile::tempdir().expect("temp dir");
        let config_path = dir.path().join("rampart.toml");
        std::fs::write(&config_path, config).expect("config written");
        let mut server = Server {
            running: None,
            base: String::new(),
            config_path,
            data_dir: dir.path().join("data"),
            schema: Some(schema),
            _dir: dir,
        };
        server.boot().await;
        Some(server)
    }

    async fn boot(&mut self) {
        let running = start(Options {
            config_path: self.config_path.clone(),
            data_dir: Some(self.data_dir.clone()),
            listen: Some("127.0.0.1:0".into()),
            store_url: self.schema.as_ref().map(|s| s.url()),
            ..Default::default()
        })
        .await
        .expect("server starts");
        self.base = format!("http://{}", running.addr);
        self.running = Some(running);
    }

    /// Stops the server (draining the writer) and starts a new one on the same files.
    pub async fn restart(&mut self) {
        self.stop().await;
        self.boot().await;
    }

    pub async fn stop(&mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown().await;
        }
    }

    pub fn running(&self) -> &Running {
        self.running.as_ref().expect("server is running")
    }
}

/// Runs blocking client code off the runtime's worker threads.
pub async fn blocking<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    tokio::task::spawn_blocking(f)
        .await
        .expect("client code does not panic")
}

/// An HTTP answer: status code, raw body and the body as JSON (`Null` when it is not JSON).
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub text: String,
    pub json: Value,
    /// The `WWW-Authenticate` challenge of a 401.
    pub www_authenticate: Option<String>,
}

/// Sends a request with an optional raw body; every status is an answer, not an error.
pub fn send(method: &str, url: &str, body: Option<&str>) -> Reply {
    send_as(method, url, body, None)
}

/// [`send`] with an optional `Authorization: Bearer` token.
pub fn send_as(method: &str, url: &str, body: Option<&str>, token: Option<&str>) -> Reply {
    let mut req = ureq::request(method, url).set("content-type", "application/json");
    if let Some(t) = token {
        req = req.set("authorization", &format!("Bearer {t}"));
    }
    let result = match body {
        Some(b) => req.send_string(b),
        None => req.call(),
    };
    let resp = match result {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{method} {url}: transport error: {e}"),
    };
    let status = resp.status();
    let www_authenticate = resp.header("www-authenticate").map(str::to_string);
    let text = resp.into_string().expect("body readable");
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    Reply {
        status,
        text,
        json,
        www_authenticate,
    }
}

pub fn get(url: &str) -> Reply {
    send("GET", url, None)
}

pub fn post(url: &str, body: &Value) -> Reply {
    send("POST", url, Some(&body.to_string()))
}

/// Assigns `unit` of `model` and insists on a 200.
pub fn assign(base: &str, model: &str, unit: &str) -> Value {
    let r = post(
        &format!("{base}/v1/assign"),
        &json!({"model": model, "unit": unit}),
    );
    assert_eq!(r.status, 200, "assign {model}/{unit}: {}", r.text);
    r.json
}

/// Posts events and insists on a 200; returns (accepted, duplicates).
pub fn post_events(base: &str, events: &[Value]) -> (u64, u64) {
    let r = post(&format!("{base}/v1/events"), &json!({ "events": events }));
    assert_eq!(r.status, 200, "events: {}", r.text);
    (
        r.json["accepted"].as_u64().expect("accepted"),
        r.json["duplicates"].as_u64().expect("duplicates"),
    )
}

/// Waits until every exposure queued so far is stored and folded: assign replies do not wait
/// for their exposure, but an event batch is acknowledged only after everything queued before
/// it. The event is for `pricing`, which no entity of the test config reads.
pub fn sync(base: &str) {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let e = json!({"id": format!("sync-{n}"), "type": "sync", "unit": "sync", "model": "pricing"});
    assert_eq!(post_events(base, &[e]), (1, 0));
}

/// Checks the shape `{"error": {"code", "message", ...}}` and returns the inner object.
pub fn error_of(r: &Reply, status: u16, code: &str) -> Value {
    assert_eq!(r.status, status, "{}", r.text);
    let e = r.json["error"].clone();
    assert_eq!(e["code"], code, "{}", r.text);
    assert!(
        e["message"].as_str().is_some_and(|m| !m.is_empty()),
        "an error says what is wrong: {}",
        r.text
    );
    e
}

/// What `checkout-recs` must answer for a unit: (variant, reason, entity field, entity name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    pub variant: &'static str,
    pub reason: &'static str,
    pub entity: Option<(&'static str, String)>,
}

/// Recomputes the assignment of `checkout-recs` from the published hashing rule: holdout first,
/// then the layer's experiment, then the rollout's first stage with its concurrent control. Salts
/// are the pinned ones of the config; only the layer's (fresh, stored) salt and bucket ranges are
/// read from the server's live state.
pub fn predict(running: &Running, unit: &str) -> Expected {
    if unit == "qa-alice" {
        return Expected {
            variant: "v2",
            reason: "forced",
            entity: None,
        };
    }
    if bucket(pinned_salt("holdout-salt"), unit) < HOLDOUT_BUCKETS {
        return Expected {
            variant: "v1",
            reason: "holdout",
            entity: Some(("holdout", "global".into())),
        };
    }
    let live = running.shared.live.load();
    let layer_salt = live.state.salt(EntityKind::Layer, "recs");
    let b = bucket(layer_salt, unit);
    let in_layer = |exp: &str| {
        live.state.layers["recs"]
            .slots
            .get(exp)
            .is_some_and(|ranges| ranges.iter().any(|&(lo, hi)| lo <= b && b < hi))
    };
    if in_layer("ranker-bakeoff") {
        let v = bucket(pinned_salt("bakeoff-salt") ^ VARIANT_SALT_MIX, unit);
        return Expected {
            variant: if v < 5_000 { "v1" } else { "v2" },
            reason: "experiment",
            entity: Some(("experiment", "ranker-bakeoff".into())),
        };
    }
    let r = bucket(pinned_salt("rollout-salt"), unit);
    if r < STAGE_ONE_BUCKETS {
        Expected {
            variant: "v2",
            reason: "candidate",
            entity: Some(("rollout", "recs-v2".into())),
        }
    } else if r >= 10_000 - STAGE_ONE_BUCKETS {
        Expected {
            variant: "v1",
            reason: "control",
            entity: Some(("rollout", "recs-v2".into())),
        }
    } else {
        Expected {
            variant: "v1",
            reason: "default",
            entity: None,
        }
    }
}

/// The (variant, reason, entity) an assign reply states, in the form of [`Expected`].
pub fn observed(reply: &Value) -> (String, String, Option<(String, String)>) {
    let entity = ["rollout", "experiment", "holdout"]
        .iter()
        .find_map(|k| reply[*k].as_str().map(|n| (k.to_string(), n.to_string())));
    (
        reply["variant"].as_str().expect("variant").to_string(),
        reply["reason"].as_str().expect("reason").to_string(),
        entity,
    )
}

/// Asserts that a reply is the predicted assignment.
pub fn assert_predicted(reply: &Value, want: &Expected, unit: &str) {
    let (variant, reason, entity) = observed(reply);
    assert_eq!(variant, want.variant, "variant of {unit}: {reply}");
    assert_eq!(reason, want.reason, "reason of {unit}: {reply}");
    assert_eq!(
        entity,
        want.entity
            .as_ref()
            .map(|(k, n)| (k.to_string(), n.clone())),
        "entity of {unit}: {reply}"
    );
}

/// The current time in Unix milliseconds, by the same clock the server reads.
pub fn now_ms() -> i64 {
    rampart_server::now_ms()
}

/// Polls `check` every 20 ms until it gives a value; fails naming `what` after `secs` seconds.
pub fn eventually<T>(secs: u64, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out after {secs} s waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Assigns every unit of `model` through `/v1/assign/batch`, 500 per call; replies in order.
pub fn assign_all(base: &str, model: &str, units: &[String]) -> Vec<Value> {
    let mut out = Vec::with_capacity(units.len());
    for chunk in units.chunks(500) {
        let requests: Vec<Value> = chunk
            .iter()
            .map(|u| json!({"model": model, "unit": u}))
            .collect();
        let r = post(
            &format!("{base}/v1/assign/batch"),
            &json!({ "requests": requests }),
        );
        assert_eq!(r.status, 200, "assign batch: {}", r.text);
        out.extend(
            r.json["assignments"]
                .as_array()
                .expect("assignments")
                .iter()
                .cloned(),
        );
    }
    out
}

/// `GET /v1/rollouts/{name}`, insisting on a 200.
pub fn rollout(base: &str, name: &str) -> Value {
    let r = get(&format!("{base}/v1/rollouts/{name}"));
    assert_eq!(r.status, 200, "rollout {name}: {}", r.text);
    r.json
}

/// `POST /v1/rollouts/{name}/{command}` with a reason and an actor; every status is an answer.
pub fn command(base: &str, name: &str, command: &str, actor: &str, reason: &str) -> Reply {
    post(
        &format!("{base}/v1/rollouts/{name}/{command}"),
        &json!({"actor": actor, "reason": reason}),
    )
}

/// The decision log of one entity, oldest first.
pub fn decisions(base: &str, entity: &str) -> Vec<Value> {
    let r = get(&format!("{base}/v1/decisions?entity={entity}"));
    assert_eq!(r.status, 200, "decisions of {entity}: {}", r.text);
    r.json["decisions"].as_array().expect("decisions").clone()
}

/// A program outside cargo that a test drives (node, nginx, ...): its path, or `None` when it is
/// not installed, after printing `skipped: <program> not installed`; the test then returns. With
/// `RAMPART_REQUIRE_PEERS` set (CI) a missing program fails the test instead.
pub fn peer(program: &str) -> Option<PathBuf> {
    let found = if program.contains('/') {
        Some(PathBuf::from(program)).filter(|p| p.is_file())
    } else {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(program))
                .find(|p| p.is_file())
        })
    };
    if found.is_none() {
        assert!(
            std::env::var_os("RAMPART_REQUIRE_PEERS").is_none(),
            "{program} is not installed, and RAMPART_REQUIRE_PEERS is set"
        );
        println!("skipped: {program} not installed");
    }
    found
}

/// `tests/peers`, the folder of the node scripts some tests run, with its packages installed
/// (`npm ci` on first use; the npm registry is reachable here).
pub fn node_scripts() -> PathBuf {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/peers");
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        if dir.join("node_modules/.package-lock.json").is_file() {
            return;
        }
        let npm = peer("npm").expect("npm comes with node");
        let status = std::process::Command::new(npm)
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .status()
            .expect("npm runs");
        assert!(status.success(), "npm ci in {} failed", dir.display());
    });
    dir
}

/// Serves `app` on a fresh loopback port (a model server, a webhook receiver...); returns its
/// base URL. Runs on the caller's tokio runtime until the test ends.
pub async fn spawn_upstream(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("upstream binds");
    let addr = listener.local_addr().expect("upstream address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}
