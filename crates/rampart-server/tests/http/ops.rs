//! What operators read: `/healthz`, `/readyz`, `/v1/status` (the config and the live state) and
//! the `/metrics` counters.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use crate::support::{assign, blocking, get, post, post_events, send, Server, CONFIG};

/// One sample of a Prometheus text page.
#[derive(Debug, Clone, PartialEq)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Parses a text page (format 0.0.4): every sample line is `name{labels} value` or `name value`,
/// and every sampled name has a `# HELP` and a `# TYPE` line before its first sample.
fn parse_exposition(text: &str) -> Vec<Sample> {
    let mut help = BTreeSet::new();
    let mut typed = BTreeSet::new();
    let mut histograms = BTreeSet::new();
    let mut samples = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, doc) = rest.split_once(' ').expect("HELP has a name and a text");
            assert!(!doc.trim().is_empty(), "empty HELP for {name}");
            help.insert(name.to_string());
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE has a name and a kind");
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            assert!(typed.insert(name.to_string()), "{name} typed twice");
            if kind == "histogram" {
                histograms.insert(name.to_string());
            }
            continue;
        }
        assert!(
            !line.starts_with('#') && !line.trim().is_empty(),
            "stray line {line:?}"
        );
        let name_end = line
            .find(['{', ' '])
            .unwrap_or_else(|| panic!("no value in {line:?}"));
        let name = &line[..name_end];
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad name in {line:?}"
        );
        let mut rest = &line[name_end..];
        let mut labels = BTreeMap::new();
        if let Some(inner) = rest.strip_prefix('{') {
            let mut chars = inner.char_indices().peekable();
            let mut close = None;
            while let Some((i, c)) = chars.next() {
                if c == '}' {
                    close = Some(i);
                    break;
                }
                if c == ',' {
                    continue;
                }
                let mut key = String::from(c);
                for (_, c) in chars.by_ref() {
                    if c == '=' {
                        break;
                    }
                    key.push(c);
                }
                assert_eq!(chars.next().map(|p| p.1), Some('"'), "{line:?}");
                let mut value = String::new();
                loop {
                    match chars.next().map(|p| p.1) {
                        Some('\\') => match chars.next().map(|p| p.1) {
                            Some('n') => value.push('\n'),
                            Some(c @ ('\\' | '"')) => value.push(c),
                            other => panic!("bad escape {other:?} in {line:?}"),
                        },
                        Some('"') => break,
                        Some(c) => value.push(c),
                        None => panic!("unterminated label value in {line:?}"),
                    }
                }
                assert!(
                    labels.insert(key, value).is_none(),
                    "label twice in {line:?}"
                );
            }
            let close = close.unwrap_or_else(|| panic!("unclosed labels in {line:?}"));
            rest = &inner[close + 1..];
        }
        let value = rest
            .strip_prefix(' ')
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or_else(|| panic!("bad value in {line:?}"));
        // A histogram's samples are `<name>_bucket`, `<name>_sum` and `<name>_count`.
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix))
            .filter(|base| histograms.contains(*base))
            .unwrap_or(name);
        assert!(help.contains(family), "{name} sampled without HELP");
        assert!(typed.contains(family), "{name} sampled without TYPE");
        samples.push(Sample {
            name: name.to_string(),
            labels,
            value,
        });
    }
    let mut seen = BTreeSet::new();
    for s in &samples {
        assert!(
            seen.insert((s.name.clone(), s.labels.clone())),
            "{s:?} twice"
        );
    }
    samples
}

/// Reads `/metrics` and parses it.
fn scrape(base: &str) -> Vec<Sample> {
    let r = get(&format!("{base}/metrics"));
    assert_eq!(r.status, 200);
    parse_exposition(&r.text)
}

/// The sum of the samples of `name` whose labels include every pair of `want`.
fn total(samples: &[Sample], name: &str, want: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| s.name == name)
        .filter(|s| {
            want.iter()
                .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
        .sum()
}

/// The one sample of `name` with exactly `labels`.
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    let want: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let found: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.name == name && s.labels == want)
        .collect();
    assert_eq!(found.len(), 1, "{name} {labels:?}: {found:?}");
    found[0].value
}

#[test]
fn the_parser_reads_escaped_labels_and_refuses_untyped_names() {
    let text = "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"q\\\"\\\\\\n\",y=\"\"} 4\n";
    let s = parse_exposition(text);
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].labels["x"], "q\"\\\n");
    assert_eq!(s[0].labels["y"], "");
    assert_eq!(s[0].value, 4.0);
    let untyped = std::panic::catch_unwind(|| parse_exposition("# HELP b B.\nb 1\n"));
    assert!(untyped.is_err());
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
        let mut models = s["models"].clone();
        let splits: Vec<Value> = models
            .as_array_mut()
            .expect("models")
            .iter_mut()
            .map(|m| m.as_object_mut().and_then(|m| m.remove("split")).expect("split"))
            .collect();
        assert_eq!(
            models,
            json!([
                {"name": "checkout-recs", "unit": "user", "baseline": "v1", "variants": ["v1", "v2"]},
                {"name": "search-ranking", "unit": "session", "baseline": "bm25", "variants": ["bm25", "neural"]},
                {"name": "pricing", "unit": "request", "baseline": "p1", "variants": ["p1", "p2"]},
            ])
        );
        // 10% held out, 40% of the rest in ranker-bakeoff, then 20% candidate and 20% control.
        let expected = [
            vec![
                ("holdout", json!("global"), "v1", 0.1),
                ("experiment", json!("ranker-bakeoff"), "v1", 0.18),
                ("experiment", json!("ranker-bakeoff"), "v2", 0.18),
                ("candidate", json!("recs-v2"), "v2", 0.108),
                ("control", json!("recs-v2"), "v1", 0.108),
                ("default", Value::Null, "v1", 0.324),
            ],
            vec![
                ("experiment", json!("search-split"), "bm25", 0.5),
                ("experiment", json!("search-split"), "neural", 0.5),
            ],
            vec![("default", Value::Null, "p1", 1.0)],
        ];
        for (split, want) in splits.iter().zip(&expected) {
            let got = split.as_array().expect("split slices");
            assert_eq!(got.len(), want.len(), "{split}");
            for (g, (reason, entity, variant, share)) in got.iter().zip(want) {
                assert_eq!((&g["reason"], &g["entity"], &g["variant"]), (&json!(reason), entity, &json!(variant)), "{split}");
                assert!((g["share"].as_f64().expect("share") - share).abs() < 1e-12, "{split}");
            }
        }
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
            parse_exposition(&r.text)
        };
        let start = read();
        assert_eq!(total(&start, "rampart_assignments_total", &[]), 0.0);
        assert_eq!(value(&start, "rampart_config_reloads_total", &[]), 0.0);
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
        assert_eq!(total(&end, "rampart_assignments_total", &[]), 7.0);
        // Exposures were stored before the event batches that followed them were acknowledged.
        assert_eq!(total(&end, "rampart_exposures_stored_total", &[]), 7.0);
        let ingested = |model| value(&end, "rampart_events_ingested_total", &[("model", model)]);
        assert_eq!(ingested("checkout-recs"), 5.0);
        assert_eq!(ingested("pricing"), 0.0);
        assert_eq!(value(&end, "rampart_events_duplicate_total", &[]), 2.0);
        assert_eq!(value(&end, "rampart_events_rejected_total", &[]), 2.0);
        assert_eq!(value(&end, "rampart_store_errors_total", &[]), 0.0);
        assert_eq!(value(&end, "rampart_config_reloads_total", &[]), 1.0);
        // Nothing waits in the writer once every batch was acknowledged.
        assert_eq!(value(&end, "rampart_writer_queue_depth", &[]), 0.0);
        let lag = value(&end, "rampart_ingest_lag_seconds", &[]);
        assert!((0.0..60.0).contains(&lag), "lag {lag}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn labelled_counters_equal_the_counts_of_the_replies() {
    let server = Server::start(CONFIG).await;
    let base = server.base.clone();
    blocking(move || {
        // (model, variant, reason) -> assignments, as the replies say.
        let mut replied: BTreeMap<(String, String, String), u64> = BTreeMap::new();
        let mut units = vec!["qa-alice".to_string()];
        units.extend((0..120).map(|i| format!("lab-{i}")));
        for (i, unit) in units.iter().enumerate() {
            let model = ["checkout-recs", "search-ranking", "pricing"][i % 3];
            let a = assign(&base, model, unit);
            let key = (
                model.to_string(),
                a["variant"].as_str().unwrap().to_string(),
                a["reason"].as_str().unwrap().to_string(),
            );
            *replied.entry(key).or_insert(0) += 1;
        }
        // At least three reasons, so the labels are really told apart.
        let reasons: BTreeSet<&String> = replied.keys().map(|k| &k.2).collect();
        assert!(reasons.len() >= 3, "{replied:?}");

        let event = |id: &str, model: &str| {
            json!({"id": id, "type": "click", "unit": "lab-1", "model": model})
        };
        assert_eq!(
            post_events(
                &base,
                &[event("e1", "checkout-recs"), event("e2", "checkout-recs"), event("e3", "search-ranking")]
            ),
            (3, 0)
        );
        assert_eq!(
            post_events(&base, &[event("e3", "search-ranking"), event("e4", "search-ranking")]),
            (1, 1)
        );

        let m = scrape(&base);
        let served: usize = replied.values().sum::<u64>() as usize;
        assert_eq!(served, units.len());
        for s in m.iter().filter(|s| s.name == "rampart_assignments_total") {
            let key = (
                s.labels["model"].clone(),
                s.labels["variant"].clone(),
                s.labels["reason"].clone(),
            );
            let want = replied.get(&key).copied().unwrap_or(0);
            assert_eq!(s.value, want as f64, "{key:?}");
        }
        for ((model, variant, reason), n) in &replied {
            let labels = [("model", model.as_str()), ("variant", variant.as_str()), ("reason", reason.as_str())];
            assert_eq!(value(&m, "rampart_assignments_total", &labels), *n as f64);
        }
        // Every exposure was stored before the event batches after it were acknowledged.
        let mut by_variant: BTreeMap<(String, String), u64> = BTreeMap::new();
        for ((model, variant, _), n) in &replied {
            *by_variant.entry((model.clone(), variant.clone())).or_insert(0) += n;
        }
        for s in m.iter().filter(|s| s.name == "rampart_exposures_stored_total") {
            let key = (s.labels["model"].clone(), s.labels["variant"].clone());
            let want = by_variant.get(&key).copied().unwrap_or(0);
            assert_eq!(s.value, want as f64, "{key:?}");
        }
        assert_eq!(
            total(&m, "rampart_exposures_stored_total", &[]),
            units.len() as f64
        );
        let ingested = |model| value(&m, "rampart_events_ingested_total", &[("model", model)]);
        assert_eq!(ingested("checkout-recs"), 2.0);
        assert_eq!(ingested("search-ranking"), 2.0);
        assert_eq!(ingested("pricing"), 0.0);
        assert_eq!(value(&m, "rampart_events_duplicate_total", &[]), 1.0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rollout_gauges_match_the_rollout_and_follow_a_rollback() {
    let server = Server::start(CONFIG).await;
    let base = server.base.clone();
    // A look fills the gate verdicts.
    rampart_server::tick(&server.running().shared)
        .await
        .expect("tick");
    blocking(move || {
        let check = |m: &[Sample], r: &serde_json::Value| {
            let name = [("rollout", "recs-v2")];
            assert_eq!(
                value(m, "rampart_rollout_stage", &name),
                r["stage"].as_f64().unwrap() + 1.0
            );
            assert_eq!(
                value(m, "rampart_rollout_traffic_percent", &name),
                r["traffic"].as_f64().unwrap()
            );
            let current = r["status"].as_str().unwrap();
            let statuses: Vec<&Sample> = m
                .iter()
                .filter(|s| s.name == "rampart_rollout_status")
                .collect();
            assert_eq!(statuses.len(), 6);
            for s in statuses {
                let want = if s.labels["status"] == current {
                    1.0
                } else {
                    0.0
                };
                assert_eq!(s.value, want, "{s:?}");
            }
            assert_eq!(total(m, "rampart_rollout_status", &name), 1.0);
        };
        let r = get(&format!("{base}/v1/rollouts/recs-v2")).json;
        let m = scrape(&base);
        assert_eq!(r["status"], "running");
        check(&m, &r);

        let verdicts: Vec<&serde_json::Value> = r["last_look"]["verdicts"]
            .as_array()
            .expect("a look was taken")
            .iter()
            .filter(|v| v["segment"].is_null())
            .collect();
        assert_eq!(verdicts.len(), 2, "one per gate");
        for v in &verdicts {
            let gate = v["gate"].as_u64().unwrap().to_string();
            let labels = |outcome| {
                [
                    ("rollout", "recs-v2"),
                    ("gate", gate.as_str()),
                    ("metric", v["metric"].as_str().unwrap()),
                    ("outcome", outcome),
                ]
            };
            for outcome in ["pass", "fail", "inconclusive"] {
                let want = if v["outcome"] == outcome { 1.0 } else { 0.0 };
                assert_eq!(value(&m, "rampart_gate_verdict", &labels(outcome)), want);
            }
        }
        assert_eq!(
            total(&m, "rampart_gate_verdict", &[]),
            verdicts.len() as f64
        );

        let rollbacks = |m: &[Sample]| {
            total(
                m,
                "rampart_decisions_total",
                &[("entity_kind", "rollout"), ("action", "rollback")],
            )
        };
        let before = rollbacks(&m);
        let rolled = post(
            &format!("{base}/v1/rollouts/recs-v2/rollback"),
            &json!({"reason": "test"}),
        );
        assert_eq!(rolled.status, 200, "{}", rolled.text);
        let r = get(&format!("{base}/v1/rollouts/recs-v2")).json;
        assert_eq!(r["status"], "rolled-back");
        let m = scrape(&base);
        check(&m, &r);
        assert_eq!(
            value(
                &m,
                "rampart_rollout_status",
                &[("rollout", "recs-v2"), ("status", "rolled-back")]
            ),
            1.0
        );
        assert_eq!(rollbacks(&m), before + 1.0);
        let log = get(&format!("{base}/v1/decisions")).json;
        let logged = log["decisions"].as_array().unwrap().len() as f64;
        assert_eq!(total(&m, "rampart_decisions_total", &[]), logged);
    })
    .await;
}
