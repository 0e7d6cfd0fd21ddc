//! Ranking interleaving end to end (`tick = "100ms"`): a team-draft experiment between a better
//! ranker (relevant items first) and a worse one (random order), users clicking through a seeded
//! cascade and posting `click` events with `impression_id` and `item`; the controller stops it
//! with the better ranker as winner, and a restart rebuilds the same interleaving evidence. Also
//! the request errors, the holdout answer and the reproducibility of a list from its id.

use rampart_core::assign::bucket;
use rampart_core::interleave::{interleave, Method};
use rampart_core::state::pinned_salt;
use rampart_stats::Rng;
use serde_json::{json, Value};

use crate::support::{blocking, error_of, eventually, get, post, post_events, sync, Server};

const CONFIG: &str = r#"
[server]
tick = "100ms"

[[models]]
name = "search"
unit = "user"
variants = [{ name = "v1" }, { name = "v2" }]

[[models]]
name = "feed"
unit = "user"
variants = [{ name = "f1" }, { name = "f2" }]

[[models]]
name = "pricing"
unit = "request"
variants = [{ name = "p1" }, { name = "p2" }]

[[metrics]]
name = "clicks"
kind = "count"
event = "click"

[[holdouts]]
name = "longterm"
percent = 10
models = ["search"]
salt = "longterm-salt"

[[experiments]]
name = "ranker"
model = "search"
design = "team-draft"
variants = ["v2", "v1"]
primary = "clicks"
stopping = { rule = "sequential", alpha = 0.05 }
salt = "ranker-salt"

[[experiments]]
name = "feed-order"
model = "feed"
design = "team-draft"
variants = ["f1", "f2"]
primary = "clicks"
autostart = false

[[experiments]]
name = "price-split"
model = "pricing"
variants = ["p1", "p2"]
primary = "clicks"
"#;

/// Holdout share of `search` in buckets (10%).
const HOLDOUT_BUCKETS: u32 = 1_000;

fn in_holdout(unit: &str) -> bool {
    bucket(pinned_salt("longterm-salt"), unit) < HOLDOUT_BUCKETS
}

/// One query: 20 documents, each relevant with probability 0.3; the better ranker puts the
/// relevant ones first, the worse one shuffles everything.
struct Query {
    better: Vec<String>,
    worse: Vec<String>,
    relevant: Vec<String>,
}

fn shuffle(items: &mut [String], rng: &mut Rng) {
    for i in (1..items.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        items.swap(i, j);
    }
}

fn query(tag: &str, rng: &mut Rng) -> Query {
    let docs: Vec<String> = (0..20).map(|d| format!("{tag}-d{d}")).collect();
    let relevant: Vec<String> = docs
        .iter()
        .filter(|_| rng.bernoulli(0.3))
        .cloned()
        .collect();
    let mut better: Vec<String> = relevant.clone();
    better.extend(docs.iter().filter(|d| !relevant.contains(d)).cloned());
    let mut worse = docs.clone();
    shuffle(&mut worse, rng);
    Query {
        better,
        worse,
        relevant,
    }
}

/// A cascade user: reads top-down, clicks a relevant item with 0.9 and another with 0.05, and
/// stops after a click with 0.5.
fn cascade(items: &[Value], relevant: &[String], rng: &mut Rng) -> Vec<String> {
    let mut clicked = Vec::new();
    for item in items {
        let id = item["id"].as_str().unwrap_or_default().to_string();
        let p = if relevant.contains(&id) { 0.9 } else { 0.05 };
        if rng.bernoulli(p) {
            clicked.push(id);
            if rng.bernoulli(0.5) {
                break;
            }
        }
    }
    clicked
}

fn interleave_request(base: &str, body: &Value) -> crate::support::Reply {
    post(&format!("{base}/v1/interleave"), body)
}

fn request(experiment: &str, unit: &str, v2: &[String], v1: &[String]) -> Value {
    json!({"experiment": experiment, "unit": unit, "rankings": {"v2": v2, "v1": v1}, "length": 10})
}

fn checks_requests(base: &str) {
    let ranks = |xs: &[&str]| xs.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let (good, bad) = (ranks(&["a", "b", "c"]), ranks(&["c", "a", "d"]));
    let unit = (0..)
        .map(|i| format!("probe-{i}"))
        .find(|u| !in_holdout(u))
        .unwrap_or_default();

    let r = interleave_request(base, &request("nope", &unit, &good, &bad));
    let e = error_of(&r, 404, "not_found");
    assert!(e["message"].as_str().unwrap_or_default().contains("ranker"));

    let r = interleave_request(
        base,
        &json!({"experiment": "price-split", "unit": "u", "rankings": {"p1": ["a"], "p2": ["b"]}}),
    );
    error_of(&r, 409, "not_interleaving");
    let r = interleave_request(
        base,
        &json!({"experiment": "feed-order", "unit": "u", "rankings": {"f1": ["a"], "f2": ["b"]}}),
    );
    error_of(&r, 409, "not_running");

    let cases: Vec<(Value, &str)> = vec![
        (json!({"v2": good}), "rankings.v1"),
        (json!({"v2": good, "v1": bad, "v3": good}), "rankings.v3"),
        (json!({"v2": [], "v1": bad}), "rankings.v2"),
        (json!({"v2": ["a", "b", "a"], "v1": bad}), "rankings.v2[2]"),
        (json!({"v2": good, "v1": ["c", 7]}), "rankings.v1[1]"),
        (json!({"v2": good, "v1": "c"}), "rankings.v1"),
    ];
    for (rankings, field) in cases {
        let r = interleave_request(
            base,
            &json!({"experiment": "ranker", "unit": unit, "rankings": rankings}),
        );
        let e = error_of(&r, 400, "invalid_rankings");
        assert_eq!(e["field"], field, "{}", r.text);
    }
    for length in [0, 101] {
        let mut body = request("ranker", &unit, &good, &bad);
        body["length"] = json!(length);
        let e = error_of(&interleave_request(base, &body), 400, "invalid_length");
        assert_eq!(e["field"], "length");
    }
    let r = interleave_request(base, &json!({"experiment": "ranker", "unit": unit}));
    let e = error_of(&r, 400, "invalid_request");
    assert_eq!(e["field"], "rankings");
    let r = interleave_request(
        base,
        &json!({"experiment": "ranker", "rankings": {"v2": good, "v1": bad}}),
    );
    assert_eq!(error_of(&r, 400, "missing_unit")["field"], "unit");

    // A list is reproducible from the experiment's salt and its impression id.
    let r = interleave_request(base, &request("ranker", &unit, &good, &bad));
    assert_eq!(r.status, 200, "{}", r.text);
    let id = r.json["impression_id"].as_str().expect("an impression id");
    let seed = xxhash_rust::xxh3::xxh3_64_with_seed(id.as_bytes(), pinned_salt("ranker-salt"));
    let again = interleave(
        Method::TeamDraft,
        &[good.clone(), bad.clone()],
        10,
        &mut Rng::new(seed),
    )
    .expect("valid rankings");
    let served: Vec<(String, String)> = r.json["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| {
            (
                i["id"].as_str().unwrap_or_default().to_string(),
                i["variant"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let names = ["v2", "v1"];
    let expected: Vec<(String, String)> = again
        .items
        .iter()
        .map(|i| (i.id.clone(), names[i.team.unwrap_or(9)].to_string()))
        .collect();
    assert_eq!(served, expected);
    assert_eq!(served.len(), 4, "the union of both rankings");
    assert_eq!(r.json["method"], "team-draft");
}

fn interleaving_evidence(base: &str) -> Value {
    let r = get(&format!("{base}/v1/evidence/ranker"));
    assert_eq!(r.status, 200, "{}", r.text);
    r.json["interleaving"].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn team_draft_finds_the_better_ranker_and_survives_a_restart() {
    let mut server = Server::start(CONFIG).await;
    let base = server.base.clone();
    let evidence_before = blocking(move || {
        checks_requests(&base);
        let mut rng = Rng::new(20_080_101);
        let mut clicks = Vec::new();
        let (mut shown, mut held_out) = (1u64, 0u64); // the reproducibility probe counts
        for user in 0..240 {
            let unit = format!("user-{user}");
            for q in 0..2 {
                let query = query(&format!("{unit}-q{q}"), &mut rng);
                let r = interleave_request(
                    &base,
                    &request("ranker", &unit, &query.better, &query.worse),
                );
                assert_eq!(r.status, 200, "{}", r.text);
                let items = r.json["items"].as_array().expect("items").clone();
                assert_eq!(items.len(), 10);
                if in_holdout(&unit) {
                    held_out += 1;
                    assert_eq!(r.json["holdout"], "longterm", "{}", r.json);
                    assert!(r.json.get("impression_id").is_none());
                    let ids: Vec<&str> = items.iter().filter_map(|i| i["id"].as_str()).collect();
                    let baseline: Vec<&str> =
                        query.worse[..10].iter().map(String::as_str).collect();
                    assert_eq!(ids, baseline, "the baseline v1 ranking only");
                    assert!(items.iter().all(|i| i["variant"] == "v1"));
                    continue;
                }
                shown += 1;
                let id = r.json["impression_id"].as_str().expect("id").to_string();
                for item in cascade(&items, &query.relevant, &mut rng) {
                    clicks.push(json!({
                        "id": format!("click-{id}-{item}"),
                        "type": "click",
                        "unit": unit,
                        "model": "search",
                        "attributes": {"impression_id": id, "item": item},
                    }));
                }
            }
        }
        assert!(
            held_out > 0 && shown > 300,
            "{held_out} held out, {shown} shown"
        );
        // No click yet: every unit ties and nothing is decided.
        sync(&base);
        let quiet = interleaving_evidence(&base);
        assert_eq!(quiet["impressions"], shown);
        assert_eq!(quiet["tied_units"], quiet["units"]);
        for chunk in clicks.chunks(200) {
            let (accepted, duplicates) = post_events(&base, chunk);
            assert_eq!((accepted, duplicates), (chunk.len() as u64, 0));
        }

        let e = eventually(20, "the experiment to stop", || {
            let r = get(&format!("{base}/v1/experiments/ranker"));
            (r.json["status"] == "stopped").then_some(r.json)
        });
        assert_eq!(e["winner"], "v2", "{e}");
        let reason = e["reason"].as_str().unwrap_or_default();
        assert!(
            reason.starts_with("winner: v2 on clicks: preferred to v1"),
            "{reason}"
        );
        let pair = &e["report"]["interleaving"]["pairs"][0];
        assert_eq!(
            (pair["first"].as_str(), pair["second"].as_str()),
            (Some("v2"), Some("v1"))
        );
        let delta = pair["delta"].as_f64().expect("delta");
        let lower = pair["interval"]["lower"].as_f64().expect("interval");
        assert!(delta > 0.0 && lower > 0.0, "{pair}");
        assert!(
            pair["adjusted_always_valid_p_value"]
                .as_f64()
                .unwrap_or(1.0)
                < 0.05
        );

        let ev = interleaving_evidence(&base);
        assert_eq!(ev["method"], "team-draft");
        assert_eq!(ev["impressions"], shown);
        assert_eq!(ev["clicks"], clicks.len() as u64);
        assert_eq!(ev["unmatched_clicks"], 0);
        let prefer_v2 = ev["pairs"][0]["prefer_first"].as_u64().unwrap_or(0);
        let prefer_v1 = ev["pairs"][0]["prefer_second"].as_u64().unwrap_or(0);
        assert!(prefer_v2 > 2 * prefer_v1, "{ev}");
        ev
    })
    .await;

    server.restart().await;
    let base = server.base.clone();
    let evidence_after = blocking(move || interleaving_evidence(&base)).await;
    assert_eq!(evidence_after, evidence_before);
    server.stop().await;
}
