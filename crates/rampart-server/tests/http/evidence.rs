//! `GET /v1/evidence/{entity}`: units and metric sums per variant, computed here from the
//! assignments the server gave and the events sent; which outcomes do not count.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::support::{
    assign, blocking, error_of, get, observed, post_events, predict, sync, Server, CONFIG,
};

/// Expected sums of one variant of one entity.
#[derive(Debug, Default, Clone, PartialEq)]
struct Sums {
    units: u64,
    purchasers: u64,
    revenue: f64,
    revenue_sq: f64,
    clicks: f64,
    impressions: f64,
    responses: u64,
    response_ms: f64,
}

/// Events of unit `i`: a purchase for every third, an order of (i % 7) / 2 + 1 for every second,
/// two impressions each and a click for every fourth, one response of 10·(i % 5) ms.
fn events_of(i: usize, unit: &str) -> (Vec<Value>, Sums) {
    let ev = |kind: &str, n: usize, value: Option<f64>| {
        let mut e = json!({"id": format!("{unit}-{kind}-{n}"), "type": kind, "unit": unit,
                           "model": "checkout-recs"});
        if let Some(v) = value {
            e["value"] = json!(v);
        }
        e
    };
    let mut out = vec![ev("impression", 0, None), ev("impression", 1, None)];
    let mut s = Sums {
        units: 1,
        impressions: 2.0,
        responses: 1,
        response_ms: 10.0 * (i % 5) as f64,
        ..Sums::default()
    };
    out.push(ev("response", 0, Some(s.response_ms)));
    if i.is_multiple_of(3) {
        out.push(ev("purchase", 0, None));
        s.purchasers = 1;
    }
    if i.is_multiple_of(2) {
        let v = (i % 7) as f64 / 2.0 + 1.0;
        out.push(ev("order", 0, Some(v)));
        s.revenue = v;
        s.revenue_sq = v * v;
    }
    if i.is_multiple_of(4) {
        out.push(ev("click", 0, None));
        s.clicks = 1.0;
    }
    (out, s)
}

fn add(a: &mut Sums, b: &Sums) {
    a.units += b.units;
    a.purchasers += b.purchasers;
    a.revenue += b.revenue;
    a.revenue_sq += b.revenue_sq;
    a.clicks += b.clicks;
    a.impressions += b.impressions;
    a.responses += b.responses;
    a.response_ms += b.response_ms;
}

/// Checks one variant's JSON against the sums; the holdout also carries ctr and latency.
fn check_variant(v: &Value, want: &Sums, all_metrics: bool, what: &str) {
    assert_eq!(v["units"], want.units, "{what}: units");
    let m = &v["metrics"];
    assert_eq!(m["conversion"]["n"], want.units, "{what}: conversion n");
    assert_eq!(m["conversion"]["sum"], want.purchasers as f64, "{what}");
    assert_eq!(m["conversion"]["sum_sq"], want.purchasers as f64, "{what}");
    assert_eq!(m["revenue"]["n"], want.units, "{what}: revenue n");
    assert_eq!(m["revenue"]["sum"], want.revenue, "{what}: revenue sum");
    assert_eq!(m["revenue"]["sum_sq"], want.revenue_sq, "{what}");
    if all_metrics {
        assert_eq!(m["ctr"]["sum"], want.clicks, "{what}: clicks");
        assert_eq!(m["ctr"]["den_sum"], want.impressions, "{what}: impressions");
        assert_eq!(m["latency"]["n"], want.responses, "{what}: latency n");
        assert_eq!(m["latency"]["sum"], want.response_ms, "{what}: latency sum");
    } else {
        assert!(m.get("ctr").is_none(), "{what}: only the entity's metrics");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn evidence_sums_match_the_assignments_and_events() {
    let server = Server::start(CONFIG).await;
    let base = server.base.clone();
    let expected = blocking(move || {
        let mut expected: BTreeMap<String, BTreeMap<String, Sums>> = BTreeMap::new();
        let mut events = Vec::new();
        for i in 0..300 {
            let unit = format!("user-{i}");
            let reply = assign(&base, "checkout-recs", &unit);
            let (variant, _, entity) = observed(&reply);
            let (evs, sums) = events_of(i, &unit);
            // Events of units no entity registered count nowhere, but are sent all the same.
            events.extend(evs);
            if let Some((_, name)) = entity {
                add(
                    expected
                        .entry(name)
                        .or_default()
                        .entry(variant)
                        .or_default(),
                    &sums,
                );
            }
        }
        for chunk in events.chunks(40) {
            assert_eq!(post_events(&base, chunk), (chunk.len() as u64, 0));
        }
        expected
    })
    .await;
    assert_eq!(
        expected.keys().collect::<Vec<_>>(),
        ["global", "ranker-bakeoff", "recs-v2"]
    );
    let base = server.base.clone();
    blocking(move || {
        for (entity, variants) in &expected {
            let r = get(&format!("{base}/v1/evidence/{entity}"));
            assert_eq!(r.status, 200, "{}", r.text);
            assert_eq!(r.json["name"], entity.as_str());
            assert_eq!(r.json["model"], "checkout-recs");
            let got = r.json["variants"].as_object().unwrap();
            for (variant, want) in variants {
                check_variant(
                    &got[variant],
                    want,
                    entity == "global",
                    &format!("{entity}/{variant}"),
                );
            }
            let units: u64 = got.values().map(|v| v["units"].as_u64().unwrap()).sum();
            let want: u64 = variants.values().map(|s| s.units).sum();
            assert_eq!(units, want, "{entity}: no other variant has units");
        }
        let r = get(&format!("{base}/v1/evidence/nope"));
        let e = error_of(&r, 404, "not_found");
        let msg = e["message"].as_str().unwrap();
        assert!(msg.contains("recs-v2") && msg.contains("global"), "{msg}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn outcomes_before_exposure_or_outside_the_window_do_not_count() {
    let server = Server::start(CONFIG).await;
    // A unit the rollout's candidate slice will take, found before it is ever assigned.
    let unit = (0..)
        .map(|i| format!("late-{i}"))
        .find(|u| predict(server.running(), u).reason == "candidate")
        .unwrap();
    let base = server.base.clone();
    blocking(move || {
        let purchase = |id: &str, ts: Option<i64>| {
            let mut e =
                json!({"id": id, "type": "purchase", "unit": unit, "model": "checkout-recs"});
            if let Some(t) = ts {
                e["ts"] = json!(t);
            }
            e
        };
        let conversion = || {
            let r = get(&format!("{base}/v1/evidence/recs-v2"));
            assert_eq!(r.status, 200, "{}", r.text);
            let v = &r.json["variants"]["v2"];
            (
                v["units"].as_u64().unwrap(),
                v["metrics"]["conversion"]["sum"].as_f64().unwrap(),
            )
        };
        assert_eq!(conversion(), (0, 0.0));
        // Sent before the unit's first exposure: does not count, even once it is exposed.
        assert_eq!(post_events(&base, &[purchase("early", None)]), (1, 0));
        let before = crate::support::now_ms();
        let reply = assign(&base, "checkout-recs", &unit);
        assert_eq!(reply["reason"], "candidate");
        sync(&base);
        assert_eq!(conversion(), (1, 0.0));
        // Stamped before the first exposure, and after the 1m window: neither counts.
        let late = crate::support::now_ms() + 2 * 60 * 1000;
        assert_eq!(
            post_events(
                &base,
                &[
                    purchase("stamped-before", Some(before - 60 * 60 * 1000)),
                    purchase("after-window", Some(late)),
                ]
            ),
            (2, 0)
        );
        assert_eq!(conversion(), (1, 0.0));
        // Inside the window it counts.
        assert_eq!(post_events(&base, &[purchase("in-window", None)]), (1, 0));
        assert_eq!(conversion(), (1, 1.0));
    })
    .await;
}
