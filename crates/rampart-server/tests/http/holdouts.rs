//! `GET /v1/holdouts/{name}`: the holdout's units against the exposed units of its model, with
//! numbers computed here from the assignments the server gave and the purchases sent.

use serde_json::json;

use crate::support::{assign, blocking, error_of, get, post_events, sync, Server, CONFIG};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_holdout_report_compares_held_out_and_exposed_units() {
    let server = Server::start(CONFIG).await;
    let base = server.base.clone();
    blocking(move || {
        // (units, purchasers) of the holdout and of the units in the model's rollout or experiment.
        let (mut held, mut exposed) = ((0u64, 0u64), (0u64, 0u64));
        let mut events = Vec::new();
        for i in 0..1_500 {
            let unit = format!("h-user-{i}");
            let reply = assign(&base, "checkout-recs", &unit);
            let buys = i % 3 == 0;
            if buys {
                events.push(json!({"id": format!("{unit}-buy"), "type": "purchase",
                                   "unit": unit, "model": "checkout-recs"}));
            }
            let side = if reply["holdout"].is_string() {
                &mut held
            } else if reply["rollout"].is_string() || reply["experiment"].is_string() {
                &mut exposed
            } else {
                continue;
            };
            side.0 += 1;
            side.1 += u64::from(buys);
        }
        sync(&base);
        for chunk in events.chunks(40) {
            post_events(&base, chunk);
        }
        let r = get(&format!("{base}/v1/holdouts/global"));
        assert_eq!(r.status, 200, "{}", r.text);
        let report = &r.json["report"];
        assert_eq!(report["holdout_units"], held.0);
        let row = report["comparisons"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["metric"] == "conversion" && c["model"] == "checkout-recs")
            .expect("a conversion row")
            .clone();
        assert_eq!(row["holdout_n"], held.0);
        assert_eq!(row["exposed_n"], exposed.0);
        let close =
            |v: &serde_json::Value, want: f64| (v.as_f64().expect("a number") - want).abs() < 1e-12;
        assert!(
            close(&row["holdout_value"], held.1 as f64 / held.0 as f64),
            "{row}"
        );
        assert!(
            close(&row["exposed_value"], exposed.1 as f64 / exposed.0 as f64),
            "{row}"
        );
        assert!(row["p_value"].as_f64().is_some(), "{row}");
        assert_eq!(row["exposed_from"], json!(["recs-v2", "ranker-bakeoff"]));

        let missing = get(&format!("{base}/v1/holdouts/nope"));
        let e = error_of(&missing, 404, "not_found");
        assert!(e["message"].as_str().unwrap_or_default().contains("global"));
    })
    .await;
}
