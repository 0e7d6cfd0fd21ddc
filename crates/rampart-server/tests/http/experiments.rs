//! Split experiments run by the controller of a real server (`tick = "100ms"`): a better variant
//! wins under the sequential rule and is handed to a staged rollout as its candidate; a skewed
//! split is caught by the sample-ratio check and blocks the decision; a reload that changes a
//! running experiment's plan is refused; start and stop go through the API with their errors.

use rampart_core::assign::{bucket, VARIANT_SALT_MIX};
use rampart_core::state::pinned_salt;
use serde_json::{json, Value};

use crate::support::{
    assign, assign_all, blocking, decisions, error_of, eventually, get, post, post_events, rollout,
    sync, Server,
};

/// Model `recs` with three variants; experiment `bakeoff` (v1 control against v2, sequential)
/// hands its winner to rollout `ship`, configured with candidate v3 and not started.
const HANDOFF: &str = r#"
[server]
tick = "100ms"

[[models]]
name = "recs"
variants = [{ name = "v1" }, { name = "v2" }, { name = "v3" }]

[[models]]
name = "pricing"
unit = "request"
variants = [{ name = "p1" }, { name = "p2" }]

[[metrics]]
name = "conversion"
kind = "binary"
event = "purchase"

[[metrics]]
name = "revenue"
kind = "sum"
event = "order"

[[rollouts]]
name = "ship"
model = "recs"
baseline = "v1"
candidate = "v3"
autostart = false
salt = "ship-salt"
stages = [{ traffic = 30, min_duration = "1h" }, { traffic = 100 }]

[[experiments]]
name = "bakeoff"
model = "recs"
variants = ["v1", "v2"]
primary = "conversion"
stopping = { rule = "sequential", alpha = 0.05 }
on_winner = { rollout = "ship" }
salt = "bakeoff-salt"
AUTOSTART
"#;

fn config(autostart: bool) -> String {
    HANDOFF.replace(
        "AUTOSTART",
        if autostart { "" } else { "autostart = false" },
    )
}

fn units(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i}")).collect()
}

/// `GET /v1/experiments/{name}`, insisting on a 200.
fn experiment(base: &str, name: &str) -> Value {
    let r = get(&format!("{base}/v1/experiments/{name}"));
    assert_eq!(r.status, 200, "experiment {name}: {}", r.text);
    r.json
}

/// A `purchase` for the first `per_ten` units of every ten of `units`.
fn purchases(units: &[String], per_ten: usize) -> Vec<Value> {
    units
        .iter()
        .enumerate()
        .filter(|(k, _)| k % 10 < per_ten)
        .map(|(_, u)| json!({"id": format!("buy-{u}"), "type": "purchase", "unit": u, "model": "recs"}))
        .collect()
}

/// Posts every event in one batch, which the server folds at once: no look sees half of it.
fn post_all(base: &str, batches: &[&[Value]]) {
    let all: Vec<Value> = batches.concat();
    post_events(base, &all);
}

/// Splits `units` by the variant their replies name.
fn by_variant(units: &[String], replies: &[Value], variant: &str) -> Vec<String> {
    units
        .iter()
        .zip(replies)
        .filter(|(_, r)| r["variant"] == variant)
        .map(|(u, _)| u.clone())
        .collect()
}

fn close(a: &Value, b: f64) -> bool {
    a.as_f64().is_some_and(|a| (a - b).abs() < 1e-12)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sequential_winner_is_handed_to_its_rollout_as_candidate() {
    let mut server = Server::start(&config(true)).await;
    let base = server.base.clone();
    blocking(move || {
        let all = units("u", 2_400);
        let replies = assign_all(&base, "recs", &all);
        assert!(replies.iter().all(|r| r["experiment"] == "bakeoff"));
        let (v1, v2) = (
            by_variant(&all, &replies, "v1"),
            by_variant(&all, &replies, "v2"),
        );
        assert_eq!(v1.len() + v2.len(), all.len());
        // 20% of v1's units convert, 30% of v2's.
        let (buy_v1, buy_v2) = (purchases(&v1, 2), purchases(&v2, 3));
        post_all(&base, &[&buy_v1, &buy_v2]);
        let (bought_v1, bought_v2) = (buy_v1.len(), buy_v2.len());

        let e = eventually(15, "the experiment to stop", || {
            let e = experiment(&base, "bakeoff");
            (e["status"] == "stopped").then_some(e)
        });
        assert_eq!(e["winner"], "v2", "{e}");
        let reason = e["reason"].as_str().unwrap_or_default();
        assert!(
            reason.starts_with("winner: v2 beats v1 on conversion"),
            "{reason}"
        );

        // The report behind the decision holds the exact rates posted.
        let report = &e["report"];
        let c = &report["metrics"][0];
        assert_eq!(c["metric"], "conversion");
        assert_eq!(c["variant"], "v2");
        assert_eq!(c["control_n"], v1.len() as u64);
        assert_eq!(c["variant_n"], v2.len() as u64);
        assert!(
            close(&c["control_value"], bought_v1 as f64 / v1.len() as f64),
            "{c}"
        );
        assert!(
            close(&c["variant_value"], bought_v2 as f64 / v2.len() as f64),
            "{c}"
        );
        assert!(
            c["adjusted_always_valid_p_value"]
                .as_f64()
                .is_some_and(|p| p < 0.05),
            "{c}"
        );
        assert_eq!(report["srm"]["blocked"], false);
        assert_eq!(e["verdict"], json!({"verdict": "winner", "variant": "v2"}));

        let log = decisions(&base, "bakeoff");
        let winner = log
            .iter()
            .find(|d| d["action"] == "winner")
            .unwrap_or_else(|| panic!("a winner decision in {log:?}"));
        assert_eq!(winner["actor"], "controller");
        assert_eq!(winner["reason"], e["reason"]);
        assert_eq!(winner["to_state"], "stopped (winner v2)");

        // The rollout starts right after the experiment's state is stored.
        let log = eventually(5, "the rollout to start", || {
            let log = decisions(&base, "ship");
            (!log.is_empty()).then_some(log)
        });
        assert_eq!(log.len(), 1, "{log:?}");
        assert_eq!(log[0]["action"], "start");
        assert_eq!(log[0]["actor"], "experiment:bakeoff");
        let why = log[0]["reason"].as_str().unwrap_or_default();
        assert!(why.contains("declared v2 the winner"), "{why}");

        // The decision is logged before the new state is swapped in: wait for the swap.
        let r = eventually(5, "the rollout to run", || {
            let r = rollout(&base, "ship");
            (r["status"] == "running").then_some(r)
        });
        assert_eq!(r["candidate"], "v2", "the winner, not the configured v3");
        assert_eq!(r["traffic"], 30.0);

        // The stopped experiment no longer assigns; the rollout's candidate slice gets v2.
        let fresh = units("after", 1_000);
        let replies = assign_all(&base, "recs", &fresh);
        assert!(replies.iter().all(|r| r.get("experiment").is_none()));
        let candidates: Vec<&Value> = replies
            .iter()
            .filter(|r| r["reason"] == "candidate")
            .collect();
        assert!(
            (200..=400).contains(&candidates.len()),
            "{}",
            candidates.len()
        );
        assert!(candidates
            .iter()
            .all(|r| r["variant"] == "v2" && r["rollout"] == "ship"));
        assert!(replies.iter().all(|r| r["variant"] != "v3"));
    })
    .await;

    // The override is stored with the rollout's state.
    server.restart().await;
    let base = server.base.clone();
    blocking(move || {
        let r = rollout(&base, "ship");
        assert_eq!(
            (r["status"].as_str(), r["candidate"].as_str()),
            (Some("running"), Some("v2"))
        );
        let e = experiment(&base, "bakeoff");
        assert_eq!(
            (e["status"].as_str(), e["winner"].as_str()),
            (Some("stopped"), Some("v2"))
        );
        // After a restart the stopped experiment's report is computed from the replayed evidence.
        let units: u64 = e["report"]["srm"]["units"]
            .as_array()
            .expect("units")
            .iter()
            .filter_map(Value::as_u64)
            .sum();
        assert_eq!(units, 2_400);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_skewed_split_blocks_the_decision() {
    let server = Server::start(&config(true)).await;
    let base = server.base.clone();
    blocking(move || {
        // Equal weights, but only 3 units in 7 of those hashed to v2 are ever exposed: 70/30.
        let variant_salt = pinned_salt("bakeoff-salt") ^ VARIANT_SALT_MIX;
        let (mut v1, mut v2) = (Vec::new(), Vec::new());
        for u in units("skew", 20_000) {
            if bucket(variant_salt, &u) < 5_000 {
                if v1.len() < 1_400 {
                    v1.push(u);
                }
            } else if v2.len() < 600 {
                v2.push(u);
            }
        }
        let mut exposed = v1.clone();
        exposed.extend(v2.iter().cloned());
        let replies = assign_all(&base, "recs", &exposed);
        assert_eq!(
            by_variant(&exposed, &replies, "v1"),
            v1,
            "the hashing rule predicts v1"
        );
        // A strong effect: 10% against 60%.
        post_all(&base, &[&purchases(&v1, 1), &purchases(&v2, 6)]);
        let posted = rampart_server::now_ms();

        let e = eventually(10, "a look at all the data", || {
            let e = experiment(&base, "bakeoff");
            let seen = e["report"]["srm"]["units"] == json!([1_400, 600])
                && e["report"]["at"].as_i64().is_some_and(|at| at > posted);
            seen.then_some(e)
        });
        let srm = &e["report"]["srm"];
        assert_eq!(srm["blocked"], true, "{srm}");
        assert!(srm["p_value"].as_f64().is_some_and(|p| p < 0.001), "{srm}");
        assert!(srm["message"]
            .as_str()
            .unwrap_or_default()
            .starts_with("sample ratio mismatch"));
        assert_eq!(e["verdict"]["verdict"], "not-yet");
        let why = e["verdict"]["reason"].as_str().unwrap_or_default();
        assert!(why.starts_with("blocked: sample ratio mismatch"), "{why}");
        // The effect alone would have won.
        let c = &e["report"]["metrics"][0];
        assert!(
            c["adjusted_always_valid_p_value"]
                .as_f64()
                .is_some_and(|p| p < 1e-6),
            "{c}"
        );
        assert_eq!(c["direction"], "better");
        assert_eq!(e["status"], "running");
        assert_eq!(e["winner"], Value::Null);
        assert!(decisions(&base, "bakeoff").is_empty());
        assert_eq!(rollout(&base, "ship")["status"], "pending");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reload_that_changes_the_plan_of_a_running_experiment_is_refused() {
    let server = Server::start(&config(true)).await;
    let base = server.base.clone();
    let path = server.config_path.clone();
    blocking(move || {
        let before = get(&format!("{base}/v1/status")).json["config_version"].clone();
        let edited = config(true)
            .replace(r#"primary = "conversion""#, r#"primary = "revenue""#)
            .replace("alpha = 0.05", "alpha = 0.1");
        std::fs::write(&path, edited).expect("config edited");
        let r = post(&format!("{base}/v1/config/reload"), &json!({}));
        let err = error_of(&r, 422, "preregistration_changed");
        let changes: Vec<&str> = err["details"]
            .as_array()
            .expect("details")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(changes.len(), 2, "{changes:?}");
        assert!(
            changes[0].contains(r#"primary was "conversion""#),
            "{}",
            changes[0]
        );
        assert!(
            changes[1].contains("stopping.alpha was 0.05"),
            "{}",
            changes[1]
        );
        let message = err["message"].as_str().unwrap_or_default();
        assert!(message.contains("Stop the experiment first"), "{message}");

        // The old config keeps serving.
        assert_eq!(
            get(&format!("{base}/v1/status")).json["config_version"],
            before
        );
        let e = experiment(&base, "bakeoff");
        assert_eq!(e["primary"], "conversion");
        assert_eq!(e["preregistration"]["primary"], "conversion");
        assert_eq!(assign(&base, "recs", "someone")["experiment"], "bakeoff");

        // Once stopped, the same edit applies.
        let r = post(
            &format!("{base}/v1/experiments/bakeoff/stop"),
            &json!({"actor": "dana", "reason": "switching the primary metric"}),
        );
        assert_eq!(r.status, 200, "{}", r.text);
        let r = post(&format!("{base}/v1/config/reload"), &json!({}));
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(experiment(&base, "bakeoff")["primary"], "revenue");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn start_and_stop_over_http() {
    let server = Server::start(&config(false)).await;
    let base = server.base.clone();
    blocking(move || {
        let url = |cmd: &str| format!("{base}/v1/experiments/bakeoff/{cmd}");
        let list = get(&format!("{base}/v1/experiments")).json;
        assert_eq!(list["experiments"][0]["name"], "bakeoff");
        assert_eq!(list["experiments"][0]["status"], "draft");
        assert_eq!(list["experiments"][0]["preregistration"], Value::Null);
        assert_eq!(experiment(&base, "bakeoff")["report"], Value::Null);
        assert!(assign(&base, "recs", "early").get("experiment").is_none());

        let e = error_of(&post(&url("stop"), &json!({})), 409, "illegal_transition");
        assert!(e["message"]
            .as_str()
            .unwrap_or_default()
            .contains("it is draft"));
        error_of(
            &get(&format!("{base}/v1/experiments/nope")),
            404,
            "not_found",
        );
        error_of(
            &post(&format!("{base}/v1/experiments/nope/start"), &json!({})),
            404,
            "not_found",
        );
        error_of(&post(&url("promote"), &json!({})), 404, "not_found");
        error_of(
            &post(&url("start"), &json!({"who": "x"})),
            400,
            "invalid_request",
        );

        let r = post(
            &url("start"),
            &json!({"actor": "dana", "reason": "kick-off"}),
        );
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["status"], "running");
        assert_eq!(r.json["preregistration"]["primary"], "conversion");
        assert_eq!(r.json["preregistration"]["weights"], json!([0.5, 0.5]));
        // A running experiment has a report at once, computed on demand before any tick.
        assert_eq!(r.json["report"]["experiment"], "bakeoff");
        assert_eq!(r.json["verdict"]["verdict"], "not-yet");
        let started = r.json["started_at"].as_i64().expect("started_at");
        // Starting twice changes nothing.
        let again = post(&url("start"), &json!({}));
        assert_eq!(again.status, 200, "{}", again.text);
        assert_eq!(again.json["started_at"], started);

        let replies = assign_all(&base, "recs", &units("in", 200));
        assert!(replies.iter().all(|r| r["experiment"] == "bakeoff"));
        sync(&base);

        let r = post(
            &url("stop"),
            &json!({"actor": "dana", "reason": "budget cut"}),
        );
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["status"], "stopped");
        assert_eq!(r.json["winner"], Value::Null);
        assert_eq!(r.json["reason"], "manual stop by dana: budget cut");
        let units_seen: u64 = r.json["report"]["srm"]["units"]
            .as_array()
            .expect("units")
            .iter()
            .filter_map(Value::as_u64)
            .sum();
        assert_eq!(units_seen, 200);
        assert!(assign(&base, "recs", "late").get("experiment").is_none());
        let e = error_of(&post(&url("start"), &json!({})), 409, "illegal_transition");
        assert!(e["message"]
            .as_str()
            .unwrap_or_default()
            .contains("configure a new experiment"));

        let log = decisions(&base, "bakeoff");
        let actions: Vec<(&str, &str, &str)> = log
            .iter()
            .map(|d| {
                (
                    d["action"].as_str().unwrap_or_default(),
                    d["actor"].as_str().unwrap_or_default(),
                    d["reason"].as_str().unwrap_or_default(),
                )
            })
            .collect();
        assert_eq!(
            actions,
            vec![
                ("start", "dana", "kick-off"),
                ("stop", "dana", "manual stop by dana: budget cut")
            ]
        );
        // Nothing was handed off: a manual stop names no winner.
        assert_eq!(rollout(&base, "ship")["status"], "pending");
    })
    .await;
}
