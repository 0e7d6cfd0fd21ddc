//! Crash durability, on the embedded store and on PostgreSQL: event batches stream into the
//! real binary, which is killed with SIGKILL mid-stream. After a restart on the same store
//! every acknowledged event is stored
//! exactly once (checked through the API and by opening the store itself), every batch is stored
//! whole or not at all, and re-sending every batch reports duplicates for exactly the stored ones.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use rampart_core::Record;
use rampart_store::testing::TestSchema;
use rampart_store::{PostgresStore, SqliteStore, Store};
use serde_json::{json, Value};

use crate::support::{eventually, get_json, http, serve_with_env};

const CONFIG: &str = r#"
[[models]]
name = "recs"
variants = [{ name = "a" }, { name = "b" }]

[[metrics]]
name = "hits"
kind = "count"
event = "hit"

[[experiments]]
name = "exp"
model = "recs"
variants = ["a", "b"]
primary = "hits"
"#;

const UNITS: usize = 20;
const BATCH: usize = 100;
/// Batches acknowledged before the kill.
const ACKED_BEFORE_KILL: usize = 25;

fn batch(k: usize) -> Value {
    let events: Vec<Value> = (0..BATCH)
        .map(|j| {
            json!({"id": format!("b{k}-e{j}"), "type": "hit", "unit": format!("u{}", j % UNITS),
                   "model": "recs"})
        })
        .collect();
    json!({ "events": events })
}

/// What the client saw for one batch.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Sent {
    Acked { accepted: u64, duplicates: u64 },
    Failed,
}

/// Total `hits` of the experiment over its variants, and its units.
fn hits(base: &str) -> (f64, u64) {
    let ev = get_json(&format!("{base}/v1/evidence/exp"));
    let variants = ev["variants"].as_object().expect("variants");
    (
        variants
            .values()
            .map(|v| v["metrics"]["hits"]["sum"].as_f64().unwrap())
            .sum(),
        variants
            .values()
            .map(|v| v["units"].as_u64().unwrap())
            .sum(),
    )
}

#[test]
fn acknowledged_events_survive_sigkill_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let open = || -> Box<dyn Store> { Box::new(SqliteStore::open(&data).expect("store opens")) };
    survives_sigkill(dir.path(), &[], &open);
}

#[test]
fn acknowledged_events_survive_sigkill_exactly_once_on_postgres() {
    let Some(schema) = TestSchema::create() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let url = schema.url();
    let open = || -> Box<dyn Store> { Box::new(PostgresStore::open(&url).expect("store opens")) };
    survives_sigkill(dir.path(), &[("RAMPART_STORE_URL", &url)], &open);
    // The data directory was never used.
    assert!(!dir.path().join("data").exists());
}

/// Runs the scenario with the server's store chosen by `env`; `open` opens that store.
fn survives_sigkill(
    dir: &std::path::Path,
    env: &[(&str, &str)],
    open: &dyn Fn() -> Box<dyn Store>,
) {
    let config = dir.join("rampart.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let data = dir.join("data");
    let serve = |log: &str| serve_with_env(&config, &data, &dir.join(log), env);
    let served = serve("log-1");
    for u in 0..UNITS {
        let (status, body) = http(
            "POST",
            &format!("{}/v1/assign", served.base),
            Some(&json!({"model": "recs", "unit": format!("u{u}")})),
        )
        .unwrap();
        assert_eq!((status, &body["reason"]), (200, &json!("experiment")));
    }

    // Stream batches until the server dies; record what each got.
    let sent: Arc<Mutex<BTreeMap<usize, Sent>>> = Arc::default();
    let client = {
        let sent = sent.clone();
        let url = format!("{}/v1/events", served.base);
        std::thread::spawn(move || {
            for k in 0.. {
                let outcome = match http("POST", &url, Some(&batch(k))) {
                    Ok((200, body)) => Sent::Acked {
                        accepted: body["accepted"].as_u64().unwrap(),
                        duplicates: body["duplicates"].as_u64().unwrap(),
                    },
                    _ => Sent::Failed,
                };
                sent.lock().unwrap().insert(k, outcome);
                if outcome == Sent::Failed {
                    return;
                }
            }
        })
    };
    eventually(60, "batches acknowledged", || {
        (sent.lock().unwrap().len() >= ACKED_BEFORE_KILL).then_some(())
    });
    served.crash();
    client.join().unwrap();
    let sent = sent.lock().unwrap().clone();
    let acked: BTreeSet<usize> = sent
        .iter()
        .filter_map(|(k, s)| match s {
            Sent::Acked {
                accepted,
                duplicates,
            } => {
                assert_eq!((*accepted, *duplicates), (BATCH as u64, 0), "batch {k}");
                Some(*k)
            }
            Sent::Failed => None,
        })
        .collect();
    assert!(acked.len() >= ACKED_BEFORE_KILL);
    assert_eq!(sent.len(), acked.len() + 1, "the stream ended at the kill");
    let last = *sent.keys().last().unwrap();

    // Through the API: the evidence rebuilt after the restart counts at least every acked event.
    let served = serve("log-2");
    let (api_hits, units) = hits(&served.base);
    assert_eq!(units, UNITS as u64);
    served.stop();

    // In the store itself: each event once, each batch whole or absent, every acked batch there.
    let store = open();
    let mut ids: Vec<String> = Vec::new();
    store
        .replay(0, &mut |_, rec| {
            if let Record::Event(e) = rec {
                ids.push(e.id);
            }
        })
        .unwrap();
    let (exposures, events) = store.count_records().unwrap();
    drop(store);
    assert_eq!(exposures, UNITS as u64);
    assert_eq!(events, ids.len() as u64);
    let unique: BTreeSet<&str> = ids.iter().map(String::as_str).collect();
    assert_eq!(unique.len(), ids.len(), "no event is stored twice");
    let mut per_batch: BTreeMap<usize, usize> = BTreeMap::new();
    for id in &ids {
        let k = id[1..id.find('-').unwrap()].parse().unwrap();
        *per_batch.entry(k).or_default() += 1;
    }
    for (k, n) in &per_batch {
        assert_eq!(*n, BATCH, "batch {k} is stored whole");
        assert!(*k <= last, "batch {k} was sent");
    }
    let stored: BTreeSet<usize> = per_batch.keys().copied().collect();
    assert!(
        stored.is_superset(&acked),
        "every acknowledged batch is stored"
    );
    assert!(
        stored.len() <= acked.len() + 1,
        "at most the batch in flight besides"
    );
    assert_eq!(
        api_hits,
        ids.len() as f64,
        "evidence counts every stored event once"
    );

    // Re-send every batch: exactly the stored ones are duplicates.
    let served = serve("log-3");
    for k in 0..=last {
        let (status, body) = http(
            "POST",
            &format!("{}/v1/events", served.base),
            Some(&batch(k)),
        )
        .unwrap();
        assert_eq!(status, 200, "{body}");
        let dup = if stored.contains(&k) { BATCH } else { 0 };
        assert_eq!(
            (body["accepted"].as_u64(), body["duplicates"].as_u64()),
            (Some((BATCH - dup) as u64), Some(dup as u64)),
            "batch {k}"
        );
    }
    assert_eq!(hits(&served.base).0, ((last + 1) * BATCH) as f64);
    served.stop();
}
