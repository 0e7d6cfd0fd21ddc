//! `POST /v1/assign` and `/v1/assign/batch`: every reason an assignment can have, stability,
//! generated units, QA forcing, and the JSON error of every kind of bad request.

use std::collections::{BTreeMap, HashSet};

use serde_json::json;

use crate::support::{
    assert_predicted, assign, blocking, error_of, get, post, predict, send, Expected, Server,
    CONFIG,
};

#[tokio::test(flavor = "multi_thread")]
async fn every_reason_matches_the_hashing_rule_and_is_stable() {
    let server = Server::start(CONFIG).await;
    let units: Vec<String> = (0..600).map(|i| format!("user-{i}")).collect();
    let predicted: Vec<Expected> = units.iter().map(|u| predict(server.running(), u)).collect();
    let base = server.base.clone();
    let (first, second) = blocking(move || {
        let first: Vec<_> = units
            .iter()
            .map(|u| assign(&base, "checkout-recs", u))
            .collect();
        let second: Vec<_> = units
            .iter()
            .map(|u| assign(&base, "checkout-recs", u))
            .collect();
        (first, second)
    })
    .await;

    let mut by_reason: BTreeMap<String, usize> = BTreeMap::new();
    for (i, want) in predicted.iter().enumerate() {
        let unit = format!("user-{i}");
        assert_predicted(&first[i], want, &unit);
        assert_eq!(first[i]["unit"], unit.as_str());
        assert_eq!(
            first[i]["variant"], second[i]["variant"],
            "{unit} is stable"
        );
        assert_eq!(first[i]["reason"], second[i]["reason"], "{unit} is stable");
        assert_ne!(
            first[i]["assignment_id"], second[i]["assignment_id"],
            "every call gets its own assignment id"
        );
        *by_reason.entry(want.reason.to_string()).or_default() += 1;
    }
    // Every branch was exercised, in about the configured shares: 10% holdout, 40% of the rest in
    // the experiment, then 20% candidate and 20% control of what is left.
    let share = |r: &str| by_reason.get(r).copied().unwrap_or(0) as f64 / 600.0;
    assert!((0.05..0.15).contains(&share("holdout")), "{by_reason:?}");
    assert!((0.28..0.44).contains(&share("experiment")), "{by_reason:?}");
    assert!((0.06..0.16).contains(&share("candidate")), "{by_reason:?}");
    assert!((0.06..0.16).contains(&share("control")), "{by_reason:?}");
    assert!((0.22..0.40).contains(&share("default")), "{by_reason:?}");
    let variants: HashSet<&str> = first
        .iter()
        .filter(|r| r["reason"] == "experiment")
        .map(|r| r["variant"].as_str().unwrap())
        .collect();
    assert_eq!(variants, HashSet::from(["v1", "v2"]));
}

#[tokio::test(flavor = "multi_thread")]
async fn request_units_forced_units_and_forced_variants() {
    let server = Server::start(CONFIG).await;
    let base = server.base.clone();
    blocking(move || {
        let url = format!("{base}/v1/assign");
        // A request-randomized model needs no unit and gets a fresh one per call.
        let a = post(&url, &json!({"model": "pricing"}));
        let b = post(&url, &json!({"model": "pricing"}));
        assert_eq!(a.status, 200, "{}", a.text);
        let (ua, ub) = (
            a.json["unit"].as_str().unwrap(),
            b.json["unit"].as_str().unwrap(),
        );
        assert_eq!(ua.len(), 16, "generated unit: {ua}");
        assert_ne!(ua, ub);
        assert_eq!(a.json["reason"], "default");
        assert_eq!(a.json["variant"], "p1");
        // Config-forced QA unit, ahead of every rule.
        let alice = assign(&base, "checkout-recs", "qa-alice");
        assert_eq!(alice["variant"], "v2");
        assert_eq!(alice["reason"], "forced");
        assert!(alice.get("rollout").is_none() && alice.get("holdout").is_none());
        // A forced variant in the request.
        for v in ["v1", "v2"] {
            let r = post(
                &url,
                &json!({"model": "checkout-recs", "unit": "user-7", "force": v}),
            );
            assert_eq!(r.status, 200, "{}", r.text);
            assert_eq!(r.json["variant"], v);
            assert_eq!(r.json["reason"], "forced");
        }
        let r = post(
            &url,
            &json!({"model": "checkout-recs", "unit": "user-7", "force": "v9"}),
        );
        let e = error_of(&r, 400, "invalid_force");
        assert_eq!(e["field"], "force");
        assert!(e["message"].as_str().unwrap().contains("v9"), "{e}");
        // Session units of the second model land in its own experiment.
        let s = assign(&base, "search-ranking", "session-1");
        assert_eq!(s["reason"], "experiment");
        assert_eq!(s["experiment"], "search-split");
        assert!(["bm25", "neural"].contains(&s["variant"].as_str().unwrap()));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_requests_get_json_errors() {
    let server = Server::start(CONFIG).await;
    let base = server.base.clone();
    blocking(move || {
        let url = format!("{base}/v1/assign");
        let r = post(&url, &json!({"model": "nope", "unit": "u"}));
        let e = error_of(&r, 400, "unknown_model");
        assert_eq!(e["field"], "model");
        let msg = e["message"].as_str().unwrap();
        for known in ["checkout-recs", "search-ranking", "pricing"] {
            assert!(msg.contains(known), "names the known models: {msg}");
        }

        let r = post(&url, &json!({"model": "checkout-recs"}));
        let e = error_of(&r, 400, "missing_unit");
        assert_eq!(e["field"], "unit");
        assert!(
            e["message"]
                .as_str()
                .unwrap()
                .contains("randomizes by user"),
            "{e}"
        );
        let r = post(&url, &json!({"model": "checkout-recs", "unit": ""}));
        assert_eq!(error_of(&r, 400, "invalid_unit")["field"], "unit");

        let r = send(
            "POST",
            &url,
            Some(r#"{"model": "checkout-recs", "unit": "u""#),
        );
        error_of(&r, 400, "malformed_json");
        let r = send("POST", &url, Some("not json"));
        error_of(&r, 400, "malformed_json");

        let r = post(
            &url,
            &json!({"model": "checkout-recs", "unit": "u", "colour": "red"}),
        );
        let e = error_of(&r, 400, "invalid_request");
        assert_eq!(e["field"], "colour");
        assert!(e["message"].as_str().unwrap().contains("colour"));

        let r = post(&url, &json!({"unit": "u"}));
        assert_eq!(error_of(&r, 400, "invalid_request")["field"], "model");

        let r = get(&url);
        error_of(&r, 405, "method_not_allowed");
        let r = post(&format!("{base}/healthz"), &json!({}));
        error_of(&r, 405, "method_not_allowed");
        let r = get(&format!("{base}/v2/assign"));
        error_of(&r, 404, "not_found");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn batch_assign_answers_in_order_and_names_the_bad_item() {
    let server = Server::start(CONFIG).await;
    let units: Vec<String> = (0..40).map(|i| format!("batch-{i}")).collect();
    let predicted: Vec<Expected> = units.iter().map(|u| predict(server.running(), u)).collect();
    let base = server.base.clone();
    blocking(move || {
        let url = format!("{base}/v1/assign/batch");
        let mut requests: Vec<_> = units
            .iter()
            .map(|u| json!({"model": "checkout-recs", "unit": u}))
            .collect();
        requests.push(json!({"model": "search-ranking", "unit": "s-1"}));
        requests.push(json!({"model": "pricing"}));
        let r = post(&url, &json!({ "requests": requests }));
        assert_eq!(r.status, 200, "{}", r.text);
        let out = r.json["assignments"].as_array().unwrap();
        assert_eq!(out.len(), units.len() + 2);
        for (i, want) in predicted.iter().enumerate() {
            assert_eq!(out[i]["unit"], units[i].as_str(), "answers keep the order");
            assert_predicted(&out[i], want, &units[i]);
            // The single form agrees with the batch form.
            let single = assign(&base, "checkout-recs", &units[i]);
            assert_eq!(single["variant"], out[i]["variant"]);
            assert_eq!(single["reason"], out[i]["reason"]);
        }
        assert_eq!(out[units.len()]["unit"], "s-1");
        assert_eq!(out[units.len() + 1]["unit"].as_str().unwrap().len(), 16);

        let bad = json!({"requests": [
            {"model": "checkout-recs", "unit": "a"},
            {"model": "checkout-recs", "unit": "b"},
            {"model": "nope", "unit": "c"},
        ]});
        let e = error_of(&post(&url, &bad), 400, "unknown_model");
        assert_eq!(e["field"], "requests[2].model");
        let bad = json!({"requests": [{"model": "checkout-recs"}]});
        let e = error_of(&post(&url, &bad), 400, "missing_unit");
        assert_eq!(e["field"], "requests[0].unit");
        let bad = json!({"requests": [{"model": "checkout-recs", "unit": "a", "x": 1}]});
        let e = error_of(&post(&url, &bad), 400, "invalid_request");
        assert_eq!(e["field"], "requests[0].x");
    })
    .await;
}
