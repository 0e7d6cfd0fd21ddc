//! Staged rollouts driven by the controller of a running server (`tick = "100ms"`): healthy traffic
//! posted to `/v1/events` advances a stage and the new share shows in `/v1/assign`; errors roll it
//! back within about one tick; a restart mid-stage keeps the stage, its elapsed time and every
//! assignment, and the stage still ends on time.

use std::time::{Duration, Instant};

use rampart_core::assign::bucket;
use rampart_core::state::pinned_salt;
use serde_json::{json, Value};

use crate::support::{
    assign, assign_all, blocking, decisions, eventually, post_events, rollout, Server,
};

/// One model, an error-rate metric and a three-stage rollout (10% for 1 s, 40% for an hour, 100%)
/// whose gate caps the candidate's error rate at 5%. `MIN_DURATION` is replaced per scenario.
const STAGED: &str = r#"
[server]
tick = "100ms"

[[models]]
name = "recs"
variants = [{ name = "v1" }, { name = "v2" }]

[[metrics]]
name = "error_rate"
kind = "ratio"
numerator = "error"
denominator = "request"
goal = "decrease"

[[rollouts]]
name = "recs-v2"
model = "recs"
baseline = "v1"
candidate = "v2"
salt = "staged-salt"
stages = [
  { traffic = 10, min_duration = "MIN_DURATION" },
  { traffic = 40, min_duration = "1h" },
  { traffic = 100 },
]
gates = [{ metric = "error_rate", max = 0.05 }]
"#;

fn staged(min_duration: &str) -> String {
    STAGED.replace("MIN_DURATION", min_duration)
}

/// The rollout's bucket of a unit: below the stage's share in buckets is the candidate.
fn rollout_bucket(unit: &str) -> u32 {
    bucket(pinned_salt("staged-salt"), unit)
}

fn units(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i}")).collect()
}

/// Posts one `request` event per unit, 1,000 per batch.
fn post_requests(base: &str, units: &[String]) {
    let events: Vec<Value> = units
        .iter()
        .map(|u| json!({"id": format!("req-{u}"), "type": "request", "unit": u, "model": "recs"}))
        .collect();
    for chunk in events.chunks(1_000) {
        post_events(base, chunk);
    }
}

/// The units whose reply has the given reason.
fn with_reason(units: &[String], replies: &[Value], reason: &str) -> Vec<String> {
    units
        .iter()
        .zip(replies)
        .filter(|(_, r)| r["reason"] == reason)
        .map(|(u, _)| u.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn healthy_traffic_advances_the_stage_and_the_new_share_is_served() {
    let server = Server::start(&staged("1s")).await;
    let base = server.base.clone();
    blocking(move || {
        let first = units("early", 6_000);
        let replies = assign_all(&base, "recs", &first);
        let candidates = with_reason(&first, &replies, "candidate");
        let controls = with_reason(&first, &replies, "control");
        // 10% each, give or take five standard deviations.
        for (arm, n) in [("candidate", candidates.len()), ("control", controls.len())] {
            assert!((485..=715).contains(&n), "{arm} units: {n}");
        }
        let mut exposed = candidates.clone();
        exposed.extend(controls.iter().cloned());
        post_requests(&base, &exposed);
        // Healthy traffic: an error for one unit in a hundred, far under the 5% cap.
        let errors: Vec<Value> = exposed
            .iter()
            .step_by(100)
            .map(|u| json!({"id": format!("err-{u}"), "type": "error", "unit": u, "model": "recs"}))
            .collect();
        post_events(&base, &errors);
        let candidate_errors = candidates.iter().step_by(100).count();

        let r = eventually(10, "stage 2", || {
            let r = rollout(&base, "recs-v2");
            (r["stage"] == 1).then_some(r)
        });
        assert_eq!(r["status"], "running");
        assert_eq!(r["traffic"], 40.0);

        let log = decisions(&base, "recs-v2");
        let advance = log
            .iter()
            .find(|d| d["action"] == "advance")
            .unwrap_or_else(|| panic!("an advance in {log:?}"));
        assert_eq!(advance["actor"], "controller");
        assert_eq!(advance["from_state"], "running (stage 1/3, 10%)");
        assert_eq!(advance["to_state"], "running (stage 2/3, 40%)");
        let reason = advance["reason"].as_str().unwrap();
        assert!(reason.starts_with("stage 1 passed"), "{reason}");
        let evidence = &advance["evidence"];
        assert_eq!(evidence["candidate_units"], candidates.len() as u64);
        assert_eq!(evidence["control_units"], controls.len() as u64);
        let verdicts = evidence["verdicts"].as_array().expect("verdicts");
        assert_eq!(verdicts.len(), 1, "{evidence}");
        assert_eq!(verdicts[0]["metric"], "error_rate");
        assert_eq!(verdicts[0]["outcome"], "pass");
        let estimate = verdicts[0]["numbers"]["candidate_estimate"]
            .as_f64()
            .unwrap();
        let expected = candidate_errors as f64 / candidates.len() as f64;
        assert!(
            (estimate - expected).abs() < 1e-12,
            "{estimate} vs {expected}"
        );
        assert_eq!(verdicts[0]["numbers"]["threshold"], 0.05);
        // Stage 2 began with the advance, which came after stage 1's minimum duration.
        let advanced = advance["ts"].as_i64().unwrap();
        assert_eq!(r["stage_started_at"], advanced);
        let began = r["started_at"].as_i64().unwrap();
        assert!(
            advanced - began >= 1_000,
            "stage 1 lasted {} ms",
            advanced - began
        );

        // Units already on the candidate stay there; fresh units see the 40% share.
        for (u, reply) in first.iter().zip(&replies).take(500) {
            if reply["reason"] == "candidate" {
                assert_eq!(assign(&base, "recs", u)["variant"], "v2", "{u}");
            }
        }
        let fresh = units("late", 4_000);
        let replies = assign_all(&base, "recs", &fresh);
        let mut on_candidate = 0;
        for (u, reply) in fresh.iter().zip(&replies) {
            let b = rollout_bucket(u);
            let want = if b < 4_000 {
                ("v2", "candidate")
            } else if b >= 6_000 {
                ("v1", "control")
            } else {
                ("v1", "default")
            };
            assert_eq!(
                (reply["variant"].as_str(), reply["reason"].as_str()),
                (Some(want.0), Some(want.1)),
                "{u}"
            );
            on_candidate += usize::from(reply["reason"] == "candidate");
        }
        let share = on_candidate as f64 / fresh.len() as f64;
        // Binomial standard deviation at 4,000 units is 0.8 points; allow four.
        assert!((share - 0.40).abs() < 0.032, "candidate share {share}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_on_the_candidate_roll_back_within_about_a_tick() {
    let server = Server::start(&staged("1h")).await;
    let base = server.base.clone();
    blocking(move || {
        let all = units("user", 2_000);
        let replies = assign_all(&base, "recs", &all);
        let candidates = with_reason(&all, &replies, "candidate");
        let controls = with_reason(&all, &replies, "control");
        let mut exposed = candidates.clone();
        exposed.extend(controls.iter().cloned());
        post_requests(&base, &exposed);
        // A few ticks on healthy traffic: nothing happens mid-stage.
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(rollout(&base, "recs-v2")["status"], "running");

        // The tipping batch: an error for nine candidate units in ten.
        let errors: Vec<Value> = candidates
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 10 != 0)
            .map(|(_, u)| json!({"id": format!("err-{u}"), "type": "error", "unit": u, "model": "recs"}))
            .collect();
        let watched = candidates[0].clone();
        let posted = Instant::now();
        post_events(&base, &errors);
        let reply = eventually(10, "the baseline for a candidate unit", || {
            let r = assign(&base, "recs", &watched);
            (r["variant"] == "v1").then_some(r)
        });
        let took = posted.elapsed();
        println!(
            "rollback: {} ms from the tipping batch's POST to the first assignment of the baseline",
            took.as_millis()
        );
        assert_eq!(reply["reason"], "rolled-back");
        assert_eq!(reply["rollout"], "recs-v2");

        let r = rollout(&base, "recs-v2");
        assert_eq!(r["status"], "rolled-back");
        assert_eq!(r["traffic"], 0.0);
        for (u, reply) in all.iter().zip(assign_all(&base, "recs", &all)) {
            assert_eq!(
                (reply["variant"].as_str(), reply["reason"].as_str()),
                (Some("v1"), Some("rolled-back")),
                "{u}"
            );
        }

        let log = decisions(&base, "recs-v2");
        let rollbacks: Vec<&Value> = log.iter().filter(|d| d["action"] == "rollback").collect();
        assert_eq!(rollbacks.len(), 1, "{log:?}");
        let d = rollbacks[0];
        assert_eq!(d["actor"], "controller");
        assert_eq!(d["from_state"], "running (stage 1/3, 10%)");
        assert_eq!(d["to_state"], "rolled-back");
        let reason = d["reason"].as_str().unwrap();
        assert!(reason.contains("error_rate"), "names the metric: {reason}");
        let verdict = &d["evidence"]["verdicts"][0];
        assert_eq!(verdict["outcome"], "fail");
        assert_eq!(verdict["harm"], true);
        let estimate = verdict["numbers"]["candidate_estimate"].as_f64().unwrap();
        let expected = errors.len() as f64 / candidates.len() as f64;
        assert!((estimate - expected).abs() < 1e-9, "{estimate} vs {expected}");
    })
    .await;
}

/// Stage 1 lasts 3 s and needs 20 units per arm; no gates, so it ends on time and units alone.
const RESTARTED: &str = r#"
[server]
tick = "100ms"

[[models]]
name = "recs"
variants = [{ name = "v1" }, { name = "v2" }]

[[rollouts]]
name = "recs-v2"
model = "recs"
baseline = "v1"
candidate = "v2"
stages = [
  { traffic = 20, min_duration = "3s", min_units = 20 },
  { traffic = 50, min_duration = "1h" },
]
"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_restart_mid_stage_keeps_the_stage_its_clock_and_every_assignment() {
    let mut server = Server::start(RESTARTED).await;
    let base = server.base.clone();
    let all = units("user", 1_000);
    let (before, status) = {
        let all = all.clone();
        blocking(move || {
            let replies = assign_all(&base, "recs", &all);
            std::thread::sleep(Duration::from_millis(1_000));
            (replies, rollout(&base, "recs-v2"))
        })
        .await
    };
    assert_eq!(status["stage"], 0);
    assert!(status["stage_elapsed_ms"].as_i64().unwrap() >= 1_000);
    let stage_started = status["stage_started_at"].as_i64().unwrap();
    server.restart().await;
    let base = server.base.clone();
    blocking(move || {
        let r = rollout(&base, "recs-v2");
        assert_eq!(r["status"], "running");
        assert_eq!(r["stage"], 0, "the same stage after the restart");
        assert_eq!(
            r["stage_started_at"], stage_started,
            "the stage clock is kept"
        );
        let elapsed = r["stage_elapsed_ms"].as_i64().unwrap();
        assert!((1_000..3_000).contains(&elapsed), "elapsed {elapsed} ms");
        assert_eq!(r["next_decision_in_ms"], json!(3_000 - elapsed));

        let after = assign_all(&base, "recs", &all);
        for ((u, old), new) in all.iter().zip(&before).zip(&after) {
            assert_eq!(
                (&old["variant"], &old["reason"]),
                (&new["variant"], &new["reason"]),
                "{u}"
            );
        }

        let r = eventually(10, "stage 2 after the restart", || {
            let r = rollout(&base, "recs-v2");
            (r["stage"] == 1).then_some(r)
        });
        assert_eq!(r["traffic"], 50.0);
        let log = decisions(&base, "recs-v2");
        assert_eq!(log.len(), 1, "one decision: {log:?}");
        let ts = log[0]["ts"].as_i64().unwrap();
        let took = ts - stage_started;
        // Not before the minimum, and within a few ticks of it.
        assert!((3_000..3_900).contains(&took), "advanced after {took} ms");
        assert_eq!(log[0]["action"], "advance");
        // Candidates of stage 1 stay candidates at 50%.
        for (u, old) in all.iter().zip(&before) {
            if old["reason"] == "candidate" {
                assert_eq!(assign(&base, "recs", u)["variant"], "v2", "{u}");
            }
        }
    })
    .await;
}
