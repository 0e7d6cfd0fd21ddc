//! Restart and reload: a server restarted on the same data directory keeps every assignment and
//! rebuilds exactly the same evidence; a reloaded config keeps the assignments of unchanged
//! entities, carries a renamed rollout over, and an invalid edit is refused whole.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::support::{
    assign, blocking, error_of, get, observed, post, post_events, Server, CONFIG,
};

/// Assigns `user-0..n` and sends a purchase and an order for each; returns unit → reply.
fn assign_and_send(base: &str, n: usize) -> BTreeMap<String, Value> {
    let mut replies = BTreeMap::new();
    let mut events = Vec::new();
    for i in 0..n {
        let unit = format!("user-{i}");
        replies.insert(unit.clone(), assign(base, "checkout-recs", &unit));
        events.push(
            json!({"id": format!("p-{i}"), "type": "purchase", "unit": unit,
                           "model": "checkout-recs"}),
        );
        events.push(
            json!({"id": format!("o-{i}"), "type": "order", "unit": unit,
                           "model": "checkout-recs", "value": (i % 9) as f64 * 1.25}),
        );
    }
    for chunk in events.chunks(40) {
        post_events(base, chunk);
    }
    replies
}

fn evidence(base: &str, entity: &str) -> Value {
    let r = get(&format!("{base}/v1/evidence/{entity}"));
    assert_eq!(r.status, 200, "{entity}: {}", r.text);
    r.json
}

const ENTITIES: [&str; 4] = ["recs-v2", "ranker-bakeoff", "global", "search-split"];

#[tokio::test(flavor = "multi_thread")]
async fn a_restart_keeps_assignments_and_rebuilds_identical_evidence() {
    restart_keeps_assignments_and_evidence(Server::start(CONFIG).await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restart_on_postgres_keeps_assignments_and_rebuilds_identical_evidence() {
    if let Some(server) = Server::start_on_postgres(CONFIG).await {
        let schema = server.schema.as_ref().expect("on postgres");
        let schema_name = schema.name().to_owned();
        let stored = server_rows(&server, "SELECT count(*) FROM exposures");
        assert_eq!(stored, "0", "a fresh schema in {schema_name}");
        let server = restart_keeps_assignments_and_evidence(server).await;
        // Everything went to PostgreSQL, nothing to the data directory.
        assert!(!server.data_dir.exists());
        let events = server_rows(&server, "SELECT count(*) FROM events");
        assert_eq!(
            events, "400",
            "200 purchases and 200 orders, the retry not stored again"
        );
    }
}

/// The first column of the first row of `sql` in the server's schema (the query runs on a
/// thread of its own, so it does not block the runtime's workers for more than the wait).
fn server_rows(server: &Server, sql: &str) -> String {
    let schema = server.schema.as_ref().expect("on postgres");
    schema.query(sql).unwrap()[0].clone().unwrap()
}

async fn restart_keeps_assignments_and_evidence(mut server: Server) -> Server {
    let base = server.base.clone();
    let (replies, before) = blocking(move || {
        assign(&base, "search-ranking", "session-1");
        let replies = assign_and_send(&base, 200);
        let before: Vec<Value> = ENTITIES.iter().map(|e| evidence(&base, e)).collect();
        (replies, before)
    })
    .await;
    let old_base = server.base.clone();
    server.restart().await;
    assert_ne!(server.base, old_base, "a new server on a new port");
    let base = server.base.clone();
    blocking(move || {
        let after: Vec<Value> = ENTITIES.iter().map(|e| evidence(&base, e)).collect();
        assert_eq!(after, before, "evidence rebuilt from the store is the same");
        assert!(before[0]["variants"]["v2"]["units"].as_u64().unwrap() > 0);
        let search = &before[3]["variants"];
        assert_eq!(
            search["bm25"]["units"].as_u64().unwrap() + search["neural"]["units"].as_u64().unwrap(),
            1
        );
        for (unit, old) in &replies {
            let new = assign(&base, "checkout-recs", unit);
            assert_eq!(observed(&new), observed(old), "{unit} keeps its assignment");
        }
        // The events sent before the restart are known: a retry counts as duplicates (and, as
        // an acknowledged batch, waits for the exposures queued before it).
        let retry = json!({"id": "p-0", "type": "purchase", "unit": "user-0",
                           "model": "checkout-recs"});
        assert_eq!(post_events(&base, &[retry]), (0, 1));
        // Exposures after the restart are not first exposures: nothing changes.
        let again: Vec<Value> = ENTITIES.iter().map(|e| evidence(&base, e)).collect();
        assert_eq!(again, before);
    })
    .await;
    server.stop().await;
    server
}

/// The test config with a metric added, a second experiment in the layer and the rollout renamed.
fn edited_config() -> String {
    let mut text = CONFIG.replace(
        "name = \"recs-v2\"\n",
        "name = \"recs-v2b\"\nrenamed_from = \"recs-v2\"\n",
    );
    text.push_str(
        r#"
[[metrics]]
name = "clicks"
kind = "count"
event = "click"

[[experiments]]
name = "ranker-bakeoff-2"
model = "checkout-recs"
variants = ["v1", "v2"]
traffic = 30
layer = "recs"
primary = "clicks"
"#,
    );
    text
}

#[tokio::test(flavor = "multi_thread")]
async fn reload_keeps_assignments_of_unchanged_entities() {
    let server = Server::start(CONFIG).await;
    let base = server.base.clone();
    let path = server.config_path.clone();
    blocking(move || {
        let replies = assign_and_send(&base, 300);
        let rollout_before = evidence(&base, "recs-v2");
        let bakeoff_before = evidence(&base, "ranker-bakeoff");
        let holdout_before = evidence(&base, "global");

        std::fs::write(&path, edited_config()).unwrap();
        let r = post(&format!("{base}/v1/config/reload"), &json!({}));
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["config_version"], 2);

        let mut moved = 0;
        let mut renamed = 0;
        for (unit, old) in &replies {
            let new = assign(&base, "checkout-recs", unit);
            let (ov, or, oe) = observed(old);
            let (nv, nr, ne) = observed(&new);
            match oe.as_ref().map(|(k, n)| (k.as_str(), n.as_str())) {
                Some(("rollout", "recs-v2")) if nr == "experiment" => {
                    // The new experiment took free layer buckets, some of them from rollout units.
                    assert_eq!(ne, Some(("experiment".into(), "ranker-bakeoff-2".into())));
                    moved += 1;
                }
                Some(("rollout", "recs-v2")) => {
                    assert_eq!((nv, nr), (ov, or), "{unit}");
                    assert_eq!(ne, Some(("rollout".into(), "recs-v2b".into())), "{unit}");
                    renamed += 1;
                }
                Some(("rollout", other)) => panic!("unexpected rollout {other}"),
                // Holdout, the first experiment, and the default keep exactly what they had
                // (default units may also move into the new experiment).
                None if ne.is_some() => {
                    assert_eq!(ne, Some(("experiment".into(), "ranker-bakeoff-2".into())));
                    moved += 1;
                }
                _ => assert_eq!((nv, nr, ne), (ov, or, oe), "{unit} keeps its assignment"),
            }
        }
        assert!(moved > 0 && renamed > 0, "moved {moved}, renamed {renamed}");

        // The renamed rollout kept its evidence; the old name is gone.
        let renamed_ev = evidence(&base, "recs-v2b");
        assert_eq!(renamed_ev["variants"], rollout_before["variants"]);
        error_of(
            &get(&format!("{base}/v1/evidence/recs-v2")),
            404,
            "not_found",
        );
        // Unchanged entities kept theirs; the holdout (every metric) now also has `clicks`.
        assert_eq!(evidence(&base, "ranker-bakeoff"), bakeoff_before);
        let holdout = evidence(&base, "global");
        for (v, before) in holdout_before["variants"].as_object().unwrap() {
            let now = &holdout["variants"][v];
            assert_eq!(now["units"], before["units"], "holdout rebuilt by replay");
            assert_eq!(now["metrics"]["revenue"], before["metrics"]["revenue"]);
            assert_eq!(now["metrics"]["clicks"]["n"], before["units"]);
            assert_eq!(now["metrics"]["clicks"]["sum"], 0.0);
        }
        let status = get(&format!("{base}/v1/status")).json;
        assert_eq!(status["config_version"], 2);
        assert_eq!(status["rollouts"][0]["name"], "recs-v2b");
        assert_eq!(status["experiments"].as_array().unwrap().len(), 3);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_invalid_edit_is_refused_and_the_old_config_keeps_serving() {
    let server = Server::start(CONFIG).await;
    let base = server.base.clone();
    let path = server.config_path.clone();
    blocking(move || {
        let before: Vec<Value> = (0..50)
            .map(|i| assign(&base, "checkout-recs", &format!("user-{i}")))
            .collect();
        // Two problems: traffic beyond 100% and an unknown key.
        let bad = CONFIG
            .replace("{ traffic = 100 }", "{ traffic = 150 }")
            .replace("traffic = 40\n", "traffic = 40\ncolour = \"red\"\n");
        std::fs::write(&path, &bad).unwrap();
        let r = post(&format!("{base}/v1/config/reload"), &json!({}));
        let e = error_of(&r, 422, "invalid_config");
        let details = e["details"].as_array().expect("every error listed");
        assert_eq!(details.len(), 2, "{}", r.text);
        let fields: Vec<&str> = details
            .iter()
            .map(|d| d["field"].as_str().unwrap())
            .collect();
        assert!(
            fields.contains(&"rollouts[0].stages[1].traffic"),
            "{fields:?}"
        );
        assert!(fields.contains(&"experiments[0].colour"), "{fields:?}");
        for d in details {
            assert!(d["line"].as_u64().is_some_and(|l| l > 0), "{d}");
            assert!(d["file"].as_str().unwrap().ends_with("rampart.toml"), "{d}");
        }
        // Still the first config, with every unit where it was.
        assert_eq!(get(&format!("{base}/v1/status")).json["config_version"], 1);
        for (i, old) in before.iter().enumerate() {
            let new = assign(&base, "checkout-recs", &format!("user-{i}"));
            assert_eq!(observed(&new), observed(old));
        }
        // Experiments of one layer that need more than 100% are refused too.
        let full = edited_config().replace("traffic = 30\n", "traffic = 70\n");
        std::fs::write(&path, full).unwrap();
        let r = post(&format!("{base}/v1/config/reload"), &json!({}));
        let e = error_of(&r, 422, "invalid_config");
        assert!(e["message"].as_str().unwrap().contains("layer"), "{e}");
        assert_eq!(get(&format!("{base}/v1/status")).json["config_version"], 1);
    })
    .await;
}
