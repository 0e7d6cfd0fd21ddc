//! The control API of staged rollouts over HTTP: pause, resume, rollback, start again, abort and
//! the kill switch, each recorded in the decision log with the actor and reason sent; commands
//! that do not apply answer 409 `illegal_transition` and change nothing.

use serde_json::{json, Value};

use crate::support::{
    assign, blocking, command, decisions, error_of, get, post, rollout, send, Server,
};

/// Two models with a rollout each: `recs-v2` starts at once and stays in stage 1 for an hour;
/// `search-v2` waits for `start`.
const CONFIG: &str = r#"
[server]
tick = "100ms"

[[models]]
name = "recs"
variants = [{ name = "v1" }, { name = "v2" }]

[[models]]
name = "search"
variants = [{ name = "bm25" }, { name = "neural" }]

[[rollouts]]
name = "recs-v2"
model = "recs"
baseline = "v1"
candidate = "v2"
stages = [{ traffic = 30, min_duration = "1h" }, { traffic = 100 }]

[[rollouts]]
name = "search-v2"
model = "search"
baseline = "bm25"
candidate = "neural"
autostart = false
stages = [{ traffic = 50, min_duration = "1h" }, { traffic = 100 }]
"#;

/// The newest decision of an entity.
fn last(base: &str, entity: &str) -> Value {
    decisions(base, entity).pop().expect("a decision")
}

/// A unit that gets the candidate of `recs-v2` while it runs at 30%.
fn candidate_unit(base: &str) -> String {
    (0..200)
        .map(|i| format!("user-{i}"))
        .find(|u| assign(base, "recs", u)["reason"] == "candidate")
        .expect("one unit in 200 gets the candidate at 30%")
}

#[tokio::test(flavor = "multi_thread")]
async fn pause_resume_rollback_start_and_abort_are_logged_with_actor_and_reason() {
    let server = Server::start(CONFIG).await;
    let base = server.base.clone();
    blocking(move || {
        let unit = candidate_unit(&base);

        let r = command(&base, "recs-v2", "pause", "alice", "checking dashboards");
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["status"], "paused");
        assert_eq!(r.json["reason"], "checking dashboards");
        let d = last(&base, "recs-v2");
        assert_eq!(
            (&d["action"], &d["actor"], &d["reason"]),
            (
                &json!("pause"),
                &json!("alice"),
                &json!("checking dashboards")
            )
        );
        assert_eq!(d["from_state"], "running (stage 1/2, 30%)");
        assert_eq!(d["to_state"], "paused (stage 1/2, 30%)");
        // A paused rollout keeps serving its slices.
        assert_eq!(assign(&base, "recs", &unit)["variant"], "v2");
        // Pausing again changes nothing and logs nothing.
        let logged = decisions(&base, "recs-v2").len();
        assert_eq!(command(&base, "recs-v2", "pause", "alice", "").status, 200);
        assert_eq!(decisions(&base, "recs-v2").len(), logged);

        let r = command(&base, "recs-v2", "resume", "bob", "dashboards are fine");
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["status"], "running");
        let d = last(&base, "recs-v2");
        assert_eq!(
            (&d["action"], &d["actor"], &d["reason"]),
            (
                &json!("resume"),
                &json!("bob"),
                &json!("dashboards are fine")
            )
        );

        // Commands that do not apply: 409, nothing logged, nothing changed.
        let logged = decisions(&base, "recs-v2").len();
        for verb in ["approve", "resume"] {
            let r = command(&base, "recs-v2", verb, "eve", "");
            let e = error_of(&r, 409, "illegal_transition");
            let message = e["message"].as_str().unwrap();
            assert!(
                message.contains(&format!("cannot {verb}")) && message.contains("running"),
                "{message}"
            );
        }
        assert_eq!(decisions(&base, "recs-v2").len(), logged);
        assert_eq!(rollout(&base, "recs-v2")["status"], "running");

        let r = command(&base, "recs-v2", "rollback", "carol", "error budget burnt");
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["status"], "rolled-back");
        assert_eq!(r.json["traffic"], 0.0);
        let d = last(&base, "recs-v2");
        assert_eq!(
            (&d["action"], &d["actor"], &d["reason"]),
            (
                &json!("rollback"),
                &json!("carol"),
                &json!("error budget burnt")
            )
        );
        let reply = assign(&base, "recs", &unit);
        assert_eq!(
            (&reply["variant"], &reply["reason"]),
            (&json!("v1"), &json!("rolled-back"))
        );
        error_of(
            &command(&base, "recs-v2", "rollback", "carol", ""),
            409,
            "illegal_transition",
        );

        // A rolled-back rollout can start again from stage 1; the unit is back on the candidate.
        let r = command(&base, "recs-v2", "start", "dave", "fixed in v2.1");
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(
            (&r.json["status"], &r.json["stage"]),
            (&json!("running"), &json!(0))
        );
        assert_eq!(assign(&base, "recs", &unit)["variant"], "v2");

        // A command without a body is fine: the actor is `api`, the reason a default.
        let r = send("POST", &format!("{base}/v1/rollouts/recs-v2/abort"), None);
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["status"], "rolled-back");
        let d = last(&base, "recs-v2");
        assert_eq!(
            (&d["action"], &d["actor"], &d["reason"]),
            (&json!("abort"), &json!("api"), &json!("abort by api"))
        );

        let log = decisions(&base, "recs-v2");
        let actions: Vec<&str> = log.iter().map(|d| d["action"].as_str().unwrap()).collect();
        assert_eq!(actions, ["pause", "resume", "rollback", "start", "abort"]);
        // `limit` keeps the newest, still in log order.
        let newest = get(&format!("{base}/v1/decisions?entity=recs-v2&limit=2"));
        let newest: Vec<&str> = newest.json["decisions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["action"].as_str().unwrap())
            .collect();
        assert_eq!(newest, ["start", "abort"]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_kill_switch_rolls_back_every_active_rollout() {
    let server = Server::start(CONFIG).await;
    let base = server.base.clone();
    blocking(move || {
        assert_eq!(rollout(&base, "search-v2")["status"], "pending");
        let r = command(&base, "search-v2", "start", "alice", "");
        assert_eq!(r.json["status"], "running", "{}", r.text);
        assert_eq!(last(&base, "search-v2")["reason"], "started");

        let r = post(
            &format!("{base}/v1/kill"),
            &json!({"actor": "oncall", "reason": "incident 42"}),
        );
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json, json!({"rolled_back": ["recs-v2", "search-v2"]}));
        for name in ["recs-v2", "search-v2"] {
            assert_eq!(rollout(&base, name)["status"], "rolled-back");
            let d = last(&base, name);
            assert_eq!(
                (&d["action"], &d["actor"], &d["reason"]),
                (&json!("rollback"), &json!("oncall"), &json!("incident 42")),
                "{name}"
            );
        }
        for i in 0..50 {
            let reply = assign(&base, "search", &format!("s-{i}"));
            assert_eq!(
                (&reply["variant"], &reply["reason"]),
                (&json!("bm25"), &json!("rolled-back"))
            );
        }
        // Nothing left to roll back: an empty list, and nothing logged.
        let all = get(&format!("{base}/v1/decisions")).json["decisions"]
            .as_array()
            .unwrap()
            .len();
        let r = send("POST", &format!("{base}/v1/kill"), None);
        assert_eq!(r.json, json!({"rolled_back": []}));
        assert_eq!(
            get(&format!("{base}/v1/decisions")).json["decisions"]
                .as_array()
                .unwrap()
                .len(),
            all
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_rollouts_commands_and_bodies_are_refused() {
    let server = Server::start(CONFIG).await;
    let base = server.base.clone();
    blocking(move || {
        let e = error_of(&get(&format!("{base}/v1/rollouts/nope")), 404, "not_found");
        assert!(
            e["message"]
                .as_str()
                .unwrap()
                .contains("recs-v2, search-v2"),
            "{e}"
        );
        error_of(&command(&base, "nope", "pause", "a", ""), 404, "not_found");
        let e = error_of(
            &command(&base, "recs-v2", "launch", "a", ""),
            404,
            "not_found",
        );
        assert!(e["message"].as_str().unwrap().contains("approve"), "{e}");
        let r = post(
            &format!("{base}/v1/rollouts/recs-v2/pause"),
            &json!({"why": "typo"}),
        );
        let e = error_of(&r, 400, "invalid_request");
        assert_eq!(e["field"], "why");
        let r = send(
            "POST",
            &format!("{base}/v1/rollouts/recs-v2/pause"),
            Some("{"),
        );
        error_of(&r, 400, "malformed_json");
        // None of it changed anything.
        assert_eq!(rollout(&base, "recs-v2")["status"], "running");
        assert!(decisions(&base, "recs-v2").is_empty());
        let list = get(&format!("{base}/v1/rollouts")).json;
        let names: Vec<&str> = list["rollouts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["recs-v2", "search-v2"]);
    })
    .await;
}
