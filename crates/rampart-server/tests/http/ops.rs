//! What operators read: `/healthz`, `/readyz`, `/v1/status` (the config and the live state) and
//! the `/metrics` counters.

use std::collections::BTreeMap;

use serde_json::json;

use crate::support::{assign, blocking, get, post, post_events, send, Server, CONFIG};

/// The counters of a Prometheus text page, by name.
fn counters(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (name, value) = l.split_once(' ')?;
            Some((name.to_string(), value.trim().parse().ok()?))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn health_readiness_and_status_match_the_config() {
    let server = Server::start(CONFIG).await;
    let base = server.base.clone();
    blocking(move || {
        let h = get(&format!("{base}/healthz"));
        assert_eq!((h.status, h.json.clone()), (200, json!({"status": "ok"})));
        let r = get(&format!("{base}/readyz"));
        assert_eq!((r.status, r.json.clone()), (200, json!({"status": "ready"})));

        let s = get(&format!("{base}/v1/status"));
        assert_eq!(s.status, 200);
        let s = s.json;
        assert_eq!(s["config_version"], 1);
        assert_eq!(
            s["models"],
            json!([
                {"name": "checkout-recs", "unit": "user", "baseline": "v1", "variants": ["v1", "v2"]},
                {"name": "search-ranking", "unit": "session", "baseline": "bm25", "variants": ["bm25", "neural"]},
                {"name": "pricing", "unit": "request", "baseline": "p1", "variants": ["p1", "p2"]},
            ])
        );
        let r = &s["rollouts"][0];
        assert_eq!(r["name"], "recs-v2");
        assert_eq!(r["model"], "checkout-recs");
        assert_eq!((r["baseline"].clone(), r["candidate"].clone()), (json!("v1"), json!("v2")));
        assert_eq!(r["status"], "running");
        assert_eq!(r["stage"], 0);
        assert_eq!(r["stages"], 2);
        assert_eq!(r["traffic"], 20.0);
        let started = r["started_at"].as_i64().unwrap();
        assert!((crate::support::now_ms() - started).abs() < 60_000);
        assert_eq!(r["stage_started_at"], started);
        let e = &s["experiments"];
        assert_eq!(e.as_array().unwrap().len(), 2);
        assert_eq!(e[0]["name"], "ranker-bakeoff");
        assert_eq!(e[0]["layer"], "recs");
        assert_eq!(e[0]["traffic"], 40.0);
        assert_eq!(e[0]["status"], "running");
        assert_eq!(e[0]["design"], "split");
        assert_eq!(e[1]["name"], "search-split");
        assert_eq!(e[1]["layer"], json!(null));
        assert_eq!(e[1]["traffic"], 100.0);
        assert_eq!(
            s["holdouts"],
            json!([{"name": "global", "percent": 10.0, "models": ["checkout-recs"]}])
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_counters_move_with_traffic() {
    let server = Server::start(CONFIG).await;
    let base = server.base.clone();
    blocking(move || {
        let read = || {
            let r = get(&format!("{base}/metrics"));
            assert_eq!(r.status, 200);
            assert!(r.text.contains("# TYPE rampart_assignments_total counter"));
            counters(&r.text)
        };
        let start = read();
        assert_eq!(start["rampart_assignments_total"], 0);
        assert_eq!(start["rampart_config_reloads_total"], 0);
        for i in 0..7 {
            assign(&base, "checkout-recs", &format!("m-{i}"));
        }
        let events: Vec<_> = (0..5)
            .map(|i| {
                json!({"id": format!("x-{i}"), "type": "click", "unit": "m-1",
                            "model": "checkout-recs"})
            })
            .collect();
        post_events(&base, &events);
        post_events(&base, &events[..2]);
        let bad = r#"{"events": [{"id": "y", "type": "click", "unit": "", "model": "checkout-recs"},
                                 {"id": "z", "type": "click", "unit": "u", "model": "no"}]}"#;
        assert_eq!(
            send("POST", &format!("{base}/v1/events"), Some(bad)).status,
            400
        );
        assert_eq!(
            post(&format!("{base}/v1/config/reload"), &json!({})).status,
            200
        );
        let end = read();
        assert_eq!(end["rampart_assignments_total"], 7);
        // Exposures were stored before the event batches that followed them were acknowledged.
        assert_eq!(end["rampart_exposures_stored_total"], 7);
        assert_eq!(end["rampart_events_ingested_total"], 5);
        assert_eq!(end["rampart_events_duplicate_total"], 2);
        assert_eq!(end["rampart_events_rejected_total"], 2);
        assert_eq!(end["rampart_store_errors_total"], 0);
        assert_eq!(end["rampart_config_reloads_total"], 1);
    })
    .await;
}
