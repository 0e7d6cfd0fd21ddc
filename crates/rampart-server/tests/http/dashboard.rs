//! The dashboard: its page and files over plain HTTP (open with auth on, content types, caching,
//! 404s, the page links only files that exist), the `/v1/series/{entity}` route its charts read,
//! and the page itself in headless Chromium (`tests/peers/dashboard.mjs`, Playwright): it asks for
//! the token, shows the numbers the API gives, draws its charts, and its Pause button pauses the
//! rollout with the reason typed into its prompt.

use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};

use crate::support::{blocking, error_of, eventually, node_scripts, peer, send_as, Reply, Server};

const READ: &str = "dash-read-token-0123456789";
const INGEST: &str = "dash-ingest-token-0123456789";
const OPERATE: &str = "dash-operate-token-0123456789";

/// A rollout with a gate against its control, a split experiment, a team-draft interleaving
/// experiment and a holdout; one-second evidence buckets so the charts get several points.
const CONFIG: &str = r#"
[server]
tick = "200ms"
evidence_bucket = "1s"

[auth]
tokens = [
  { token = "dash-read-token-0123456789", role = "read" },
  { token = "dash-ingest-token-0123456789", role = "ingest" },
  { token = "dash-operate-token-0123456789", role = "operate" },
]

[[models]]
name = "checkout-recs"
unit = "user"
variants = [{ name = "v1" }, { name = "v2" }]

[[models]]
name = "pricing"
unit = "user"
variants = [{ name = "p1" }, { name = "p2" }]

[[models]]
name = "search"
unit = "user"
variants = [{ name = "bm25" }, { name = "neural" }]

[[models]]
name = "banner"
unit = "user"
variants = [{ name = "b1" }, { name = "b2" }]

[[metrics]]
name = "conversion"
kind = "binary"
event = "purchase"
goal = "increase"

[[metrics]]
name = "clicks"
kind = "count"
event = "click"

[[holdouts]]
name = "long-term"
percent = 5
models = ["checkout-recs"]
salt = "dash-holdout"

[[rollouts]]
name = "recs-v2"
model = "checkout-recs"
baseline = "v1"
candidate = "v2"
salt = "dash-rollout"
stages = [{ traffic = 20, min_duration = "1h" }, { traffic = 100 }]
gates = [{ metric = "conversion", compare = "control", max_worsening = "5%" }]

[[rollouts]]
name = "banner-v2"
model = "banner"
baseline = "b1"
candidate = "b2"
salt = "dash-banner"
stages = [{ traffic = 50 }]
gates = [{ metric = "conversion", min = 0 }]

[[experiments]]
name = "price-test"
model = "pricing"
variants = ["p1", "p2"]
primary = "conversion"
stopping = { rule = "fixed", alpha = 0.05, mde = 0.05 }
salt = "dash-price"

[[experiments]]
name = "ranker"
model = "search"
design = "team-draft"
variants = ["bm25", "neural"]
primary = "clicks"
stopping = { rule = "fixed", alpha = 0.05, mde = 0.05 }
salt = "dash-ranker"
"#;

fn call(base: &str, method: &str, path: &str, body: Option<&Value>, token: &str) -> Reply {
    let body = body.map(Value::to_string);
    send_as(
        method,
        &format!("{base}{path}"),
        body.as_deref(),
        Some(token),
    )
}

fn ok(base: &str, method: &str, path: &str, body: Option<&Value>, token: &str) -> Value {
    let r = call(base, method, path, body, token);
    assert_eq!(r.status, 200, "{method} {path}: {}", r.text);
    r.json
}

/// A raw GET with optional extra headers: status, headers by lower-case name, body bytes.
fn raw_get(url: &str, headers: &[(&str, &str)]) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut req = ureq::get(url);
    for (k, v) in headers {
        req = req.set(k, v);
    }
    let resp = match req.call() {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("GET {url}: {e}"),
    };
    let status = resp.status();
    let names = resp.headers_names();
    let hs = names
        .iter()
        .map(|n| {
            (
                n.to_lowercase(),
                resp.header(n).unwrap_or_default().to_string(),
            )
        })
        .collect();
    let mut body = Vec::new();
    std::io::Read::read_to_end(&mut resp.into_reader(), &mut body).expect("body");
    (status, hs, body)
}

fn header<'a>(hs: &'a [(String, String)], name: &str) -> &'a str {
    hs.iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}

/// Every `src="/..."` and `href="/..."` of a page.
fn local_links(page: &str) -> Vec<String> {
    let mut out = Vec::new();
    for attr in ["src=\"/", "href=\"/"] {
        for (i, _) in page.match_indices(attr) {
            let rest = &page[i + attr.len() - 1..];
            out.push(rest[..rest.find('"').expect("closing quote")].to_string());
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_and_its_files_are_open_typed_cached_and_complete() {
    let mut server = Server::start(CONFIG).await;
    let base = server.base.clone();
    blocking(move || {
        let (status, hs, body) = raw_get(&format!("{base}/"), &[]);
        assert_eq!(status, 200, "the page needs no token");
        assert_eq!(header(&hs, "content-type"), "text/html; charset=utf-8");
        assert_eq!(header(&hs, "cache-control"), "no-cache");
        assert!(header(&hs, "content-security-policy").contains("script-src 'self'"));
        assert_eq!(header(&hs, "x-content-type-options"), "nosniff");
        let etag = header(&hs, "etag").to_string();
        assert!(etag.starts_with('"') && etag.len() > 2, "{etag:?}");
        let page = String::from_utf8(body).expect("utf-8");
        assert!(
            page.contains("uPlot") && page.contains("MIT license"),
            "the footer credits uPlot"
        );
        let (status, _, body) = raw_get(&format!("{base}/"), &[("if-none-match", &etag)]);
        assert_eq!(
            (status, body.len()),
            (304, 0),
            "an unchanged page is not sent again"
        );

        // The page links only files that exist, each with its type; a versioned link is
        // cacheable for good, an unversioned one is revalidated.
        let links = local_links(&page);
        assert_eq!(links.len(), 5, "{links:?}");
        let want_type = |path: &str| match path.rsplit('.').next().unwrap_or_default() {
            "js" => "text/javascript; charset=utf-8",
            "css" => "text/css; charset=utf-8",
            _ => "text/plain; charset=utf-8",
        };
        for link in &links {
            let (status, hs, body) = raw_get(&format!("{base}{link}"), &[]);
            assert_eq!(status, 200, "{link}");
            let path = link.split('?').next().unwrap_or_default();
            assert_eq!(header(&hs, "content-type"), want_type(path), "{link}");
            assert!(body.len() > 500, "{link}: {} bytes", body.len());
            let cache = header(&hs, "cache-control");
            if link.contains("?v=") {
                assert_eq!(cache, "public, max-age=31536000, immutable", "{link}");
                let (_, hs, _) = raw_get(&format!("{base}{path}"), &[]);
                assert_eq!(header(&hs, "cache-control"), "no-cache", "{path}");
                let (_, hs, _) = raw_get(&format!("{base}{path}?v=stale"), &[]);
                assert_eq!(header(&hs, "cache-control"), "no-cache", "{path}?v=stale");
            }
            let etag = header(&hs, "etag").to_string();
            let (status, _, _) = raw_get(&format!("{base}{link}"), &[("if-none-match", &etag)]);
            assert_eq!(status, 304, "{link}");
        }
        assert!(links.iter().any(|l| l == "/assets/uPlot-LICENSE.txt"));
        for a in rampart_server::DASHBOARD_ASSETS {
            assert!(
                links
                    .iter()
                    .any(|l| l.starts_with(&format!("/assets/{}", a.name))),
                "{} is linked from the page",
                a.name
            );
        }
        let (_, _, license) = raw_get(&format!("{base}/assets/uPlot-LICENSE.txt"), &[]);
        assert!(String::from_utf8_lossy(&license).contains("MIT License"));

        // Unknown files: our JSON error, naming what exists.
        let r = send_as("GET", &format!("{base}/assets/nope.js"), None, None);
        let e = error_of(&r, 404, "not_found");
        assert!(
            e["message"].as_str().unwrap().contains("dashboard.js"),
            "{}",
            r.text
        );
        let r = send_as("GET", &format!("{base}/assets/"), None, None);
        assert_eq!(r.status, 404);
        // The data is not open.
        let r = send_as("GET", &format!("{base}/v1/series/recs-v2"), None, None);
        error_of(&r, 401, "unauthorized");
    })
    .await;
    server.stop().await;
}

/// Assigns `units` of `model` in one batch; the replies, in order.
fn assign_batch(base: &str, model: &str, units: &[String]) -> Vec<Value> {
    let requests: Vec<Value> = units
        .iter()
        .map(|u| json!({"model": model, "unit": u}))
        .collect();
    let r = ok(
        base,
        "POST",
        "/v1/assign/batch",
        Some(&json!({ "requests": requests })),
        INGEST,
    );
    r["assignments"].as_array().expect("assignments").clone()
}

fn post_events(base: &str, events: &[Value]) {
    for chunk in events.chunks(1_000) {
        ok(
            base,
            "POST",
            "/v1/events",
            Some(&json!({ "events": chunk })),
            INGEST,
        );
    }
}

/// Whether unit `i` converts: 30% on `better`, 20% on any other variant (deterministic).
fn converts(i: usize, variant: &str, better: &str) -> bool {
    let permille = (i * 7_919) % 1_000;
    permille < if variant == better { 300 } else { 200 }
}

/// One round of traffic: rollout and experiment units with purchases, and interleaved lists of
/// the ranker experiment with clicks (neural preferred two times in three).
fn feed_round(base: &str, round: usize) {
    let mut events = Vec::new();
    for (model, better) in [("checkout-recs", "v2"), ("pricing", "p2")] {
        let units: Vec<String> = (0..700).map(|i| format!("{model}-r{round}-u{i}")).collect();
        for (i, (unit, reply)) in units
            .iter()
            .zip(assign_batch(base, model, &units))
            .enumerate()
        {
            let variant = reply["variant"].as_str().unwrap_or_default();
            if converts(i, variant, better) {
                events.push(json!({"id": format!("buy-{unit}"), "type": "purchase", "unit": unit, "model": model}));
            }
        }
    }
    for i in 0..40 {
        let unit = format!("searcher-r{round}-{i}");
        let docs: Vec<String> = (0..6).map(|d| format!("doc-{d}")).collect();
        let reversed: Vec<String> = docs.iter().rev().cloned().collect();
        let r = ok(
            base,
            "POST",
            "/v1/interleave",
            Some(&json!({"experiment": "ranker", "unit": unit,
                "rankings": {"bm25": docs, "neural": reversed}, "length": 6})),
            INGEST,
        );
        let prefer = if i % 3 == 2 { "bm25" } else { "neural" };
        let id = r["impression_id"].as_str().expect("impression id");
        let item = r["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|it| it["variant"] == prefer)
            .and_then(|it| it["id"].as_str())
            .expect("an item of each ranker");
        events.push(
            json!({"id": format!("click-{unit}"), "type": "click", "unit": unit, "model": "search",
            "attributes": {"impression_id": id, "item": item}}),
        );
    }
    post_events(base, &events);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn series_give_new_units_and_the_running_value_per_bucket() {
    let mut server = Server::start(CONFIG).await;
    let base = server.base.clone();
    blocking(move || {
        feed_round(&base, 0);
        std::thread::sleep(std::time::Duration::from_millis(1_100));
        feed_round(&base, 1);
        let s = ok(&base, "GET", "/v1/series/recs-v2", None, READ);
        assert_eq!(
            s["metric"], "conversion",
            "a rollout's first gate metric by default"
        );
        assert_eq!(
            (s["kind"].as_str(), s["statistic"].as_str()),
            (Some("rollout"), Some("mean"))
        );
        assert_eq!(s["bucket_ms"], 1_000);
        let starts = s["starts"].as_array().expect("starts");
        assert!(starts.len() >= 2, "two rounds a second apart: {starts:?}");
        assert!(starts.windows(2).all(|w| w[0].as_i64() < w[1].as_i64()));
        let evidence = ok(&base, "GET", "/v1/evidence/recs-v2", None, READ);
        for v in s["variants"].as_array().expect("variants") {
            let name = v["variant"].as_str().unwrap();
            let totals = &evidence["variants"][name];
            let new_units: u64 = v["new_units"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(Value::as_u64)
                .sum();
            assert_eq!(Some(new_units), totals["units"].as_u64(), "{name}");
            assert_eq!(
                v["units"].as_array().unwrap().last(),
                Some(&totals["units"]),
                "{name}"
            );
            assert_eq!(
                v["value"].as_array().unwrap().last(),
                Some(&totals["metrics"]["conversion"]["mean"]),
                "{name}: the last point is the value the gate reads"
            );
            assert_eq!(v["value"].as_array().unwrap().len(), starts.len());
        }
        let s = ok(&base, "GET", "/v1/series/ranker?metric=clicks", None, READ);
        assert_eq!(s["metric_kind"], "count");
        let s = ok(&base, "GET", "/v1/series/price-test", None, READ);
        assert_eq!(
            s["metric"], "conversion",
            "an experiment's primary metric by default"
        );

        let r = call(
            &base,
            "GET",
            "/v1/series/recs-v2?metric=revenue",
            None,
            READ,
        );
        let e = error_of(&r, 400, "unknown_metric");
        assert_eq!(e["field"], "metric");
        assert!(
            e["message"]
                .as_str()
                .unwrap()
                .contains("known metrics: conversion"),
            "{}",
            r.text
        );
        let r = call(&base, "GET", "/v1/series/nope", None, READ);
        let e = error_of(&r, 404, "not_found");
        assert!(
            e["message"].as_str().unwrap().contains("recs-v2"),
            "{}",
            r.text
        );
        let r = call(&base, "GET", "/v1/series/recs-v2", None, INGEST);
        error_of(&r, 403, "forbidden");
    })
    .await;
    server.stop().await;
}

/// A displayed number and its precision: `"+1.25 pp"` → (1.25, 2), `"20%"` → (20, 0).
fn displayed(text: &str) -> (f64, usize) {
    let t = text.trim_start_matches('<');
    let num: String = t
        .chars()
        .skip_while(|c| !(c.is_ascii_digit() || *c == '-' || *c == '+'))
        .take_while(|c| c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | ','))
        .filter(|c| *c != ',' && *c != '+')
        .collect();
    let value = num
        .parse::<f64>()
        .unwrap_or_else(|_| panic!("no number in {text:?}"));
    let decimals = num.split('.').nth(1).map_or(0, str::len);
    (value, decimals)
}

/// Asserts that `text` shows `want` (times `scale`) to its own precision.
fn shows(numbers: &Value, testid: &str, want: f64, scale: f64) {
    let text = numbers[testid]
        .as_str()
        .unwrap_or_else(|| panic!("{testid} is displayed: {numbers}"));
    let (value, decimals) = displayed(text);
    let half_ulp = 0.5 * 10f64.powi(-(decimals as i32)) + 1e-9;
    assert!(
        (value - want * scale).abs() <= half_ulp,
        "{testid} shows {text:?}, the API says {want} (×{scale})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_in_chromium_shows_the_api_numbers_and_pauses_a_rollout() {
    let (Some(node), Some(chromium)) = (peer("node"), peer("/usr/bin/chromium")) else {
        return;
    };
    let peers = node_scripts();
    let mut server = Server::start(CONFIG).await;
    let base = server.base.clone();
    let scratch = tempfile::tempdir().expect("temp dir");
    let screenshot = scratch.path().join("dashboard.png");
    let profile = scratch.path().join("chromium-profile");
    let shot = screenshot.clone();
    blocking(move || {
        // A rollout whose evidence fits in one bucket (one batch of exposures), then rolled back:
        // its charts have a single bucket and its buttons belong to a rollout that has ended.
        let banner_units: Vec<String> = (0..40).map(|i| format!("banner-u{i}")).collect();
        assign_batch(&base, "banner", &banner_units);
        let rolled_back = ok(
            &base,
            "POST",
            "/v1/rollouts/banner-v2/rollback",
            Some(&json!({"reason": "dashboard test: an ended rollout"})),
            OPERATE,
        );
        assert_eq!(rolled_back["status"], "rolled-back");
        for round in 0..3 {
            if round > 0 {
                std::thread::sleep(std::time::Duration::from_millis(1_050));
            }
            feed_round(&base, round);
        }
        let fed_at = rampart_server::now_ms();
        // The controller has looked at everything that was fed.
        let rollout = eventually(15, "a look after the last events", || {
            let r = ok(&base, "GET", "/v1/rollouts/recs-v2", None, READ);
            (r["last_look"]["at"].as_i64() > Some(fed_at)).then_some(r)
        });
        let price = ok(&base, "GET", "/v1/experiments/price-test", None, READ);
        let ranker = ok(&base, "GET", "/v1/experiments/ranker", None, READ);
        let reason = "dashboard test: hold the ramp for a look at the charts";

        let mut cmd = Command::new(&node);
        cmd.arg(peers.join("dashboard.mjs"))
            .current_dir(&peers)
            .env("DASHBOARD_URL", format!("{base}/"))
            .env("DASHBOARD_TOKEN", OPERATE)
            .env("DASHBOARD_ROLLOUT", "recs-v2")
            .env("DASHBOARD_REASON", reason)
            .env("DASHBOARD_SCREENSHOT", &shot)
            .env("CHROMIUM", &chromium)
            .env("CHROMIUM_PROFILE", &profile);
        if std::env::var_os("RAMPART_UPDATE_SCREENSHOT").is_some() {
            cmd.env(
                "DASHBOARD_DOCS_SCREENSHOT",
                Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/images/dashboard.png"),
            );
        }
        let out = cmd.output().expect("node runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "dashboard.mjs failed:\n{stderr}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let report: Value = serde_json::from_str(stdout.trim())
            .unwrap_or_else(|e| panic!("the script prints JSON ({e}):\n{stdout}\n{stderr}"));
        let n = &report["numbers"];

        assert_eq!(report["token_prompts"], 1, "the token is asked for once");
        assert_eq!(report["console_errors"], json!([]), "no console errors");
        // The browser logs failed requests too: only the one 401 that made the page ask.
        let network = report["network_errors"].as_array().expect("network errors");
        assert_eq!(network.len(), 1, "{network:?}");
        assert!(network[0].as_str().unwrap().contains("401"), "{network:?}");

        // The rollout as the API states it.
        shows(
            n,
            "rollout-recs-v2-traffic",
            rollout["traffic"].as_f64().unwrap(),
            1.0,
        );
        assert_eq!(n["rollout-recs-v2-traffic"], "20%");
        assert_eq!(n["rollout-recs-v2-stage"], "1 of 2");
        assert_eq!(n["rollout-recs-v2-status"], "Running");
        let look = &rollout["last_look"];
        let verdict = &look["verdicts"][0];
        assert_eq!(verdict["metric"], "conversion");
        let outcome = verdict["outcome"].as_str().unwrap();
        assert_eq!(
            n["gate-recs-v2-conversion-verdict"]
                .as_str()
                .map(str::to_lowercase)
                .as_deref(),
            Some(outcome)
        );
        let g = &verdict["numbers"];
        shows(
            n,
            "gate-recs-v2-conversion-candidate",
            g["candidate_estimate"].as_f64().unwrap(),
            100.0,
        );
        shows(
            n,
            "gate-recs-v2-conversion-control",
            g["control_estimate"].as_f64().unwrap(),
            100.0,
        );
        assert_eq!(g["measure"], "relative_difference");
        shows(
            n,
            "gate-recs-v2-conversion-estimate",
            g["estimate"].as_f64().unwrap(),
            100.0,
        );
        shows(
            n,
            "gate-recs-v2-conversion-limit",
            g["threshold"].as_f64().unwrap(),
            100.0,
        );
        let units = format!(
            "{} / {}",
            look["candidate_units"].as_u64().unwrap(),
            look["control_units"].as_u64().unwrap()
        );
        assert_eq!(
            n["rollout-recs-v2-units"]
                .as_str()
                .map(|s| s.replace(',', "")),
            Some(units)
        );
        let next = n["rollout-recs-v2-next"].as_str().unwrap_or_default();
        assert!(
            next.starts_with("in 59m") || next.starts_with("in 1h"),
            "{next}"
        );

        // The split experiment's lift, interval and p-value (fixed rule: the adjusted p-value).
        let c = price["report"]["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["metric"] == "conversion")
            .expect("a conversion comparison");
        let lift = &c["relative_lift"];
        shows(
            n,
            "experiment-price-test-conversion-lift",
            lift["estimate"].as_f64().unwrap(),
            100.0,
        );
        let ci = n["experiment-price-test-conversion-ci"].as_str().unwrap();
        let (lo, hi) = ci
            .trim_matches(['[', ']'])
            .split_once(", ")
            .expect("an interval");
        let bounds = json!({"lo": lo, "hi": hi});
        shows(&bounds, "lo", lift["lower"].as_f64().unwrap(), 100.0);
        shows(&bounds, "hi", lift["upper"].as_f64().unwrap(), 100.0);
        let p = c["adjusted_p_value"]
            .as_f64()
            .or(c["p_value"].as_f64())
            .unwrap();
        if p >= 0.0001 {
            shows(n, "experiment-price-test-conversion-p", p, 1.0);
        }
        shows(
            n,
            "experiment-price-test-conversion-control",
            c["control_value"].as_f64().unwrap(),
            100.0,
        );
        shows(
            n,
            "experiment-price-test-conversion-variant",
            c["variant_value"].as_f64().unwrap(),
            100.0,
        );

        // The interleaving preference: wins per ranker and ties.
        let pair = &ranker["report"]["interleaving"]["pairs"][0];
        let (first, second) = (
            pair["first"].as_str().unwrap(),
            pair["second"].as_str().unwrap(),
        );
        let wins = |v: &str| {
            n[format!("interleave-ranker-{v}-wins")]
                .as_str()
                .map(|s| s.replace(',', ""))
        };
        assert_eq!(wins(first), Some(pair["prefer_first"].to_string()));
        assert_eq!(wins(second), Some(pair["prefer_second"].to_string()));
        assert_eq!(
            n[format!("interleave-ranker-{first}-{second}-ties")],
            pair["tied"].to_string()
        );
        assert!(
            pair["prefer_first"].as_u64().unwrap() + pair["prefer_second"].as_u64().unwrap() > 0
        );

        // Models: 5% held out, then the rollout's 20% candidate and 20% control slices.
        shows(n, "model-checkout-recs-v2-share", 0.95 * 0.20, 100.0);
        shows(n, "model-checkout-recs-v1-share", 1.0 - 0.95 * 0.20, 100.0);
        shows(n, "holdout-long-term-percent", 5.0, 1.0);

        // Charts: a drawn canvas per chart; the interleaving experiment has no per-variant units
        // (every list mixes both rankers) and says so instead.
        let charts = report["charts"].as_array().expect("charts");
        for entity in [
            "rollout-recs-v2",
            "experiment-price-test",
            "experiment-ranker",
        ] {
            for which in ["units", "value"] {
                let id = format!("chart-{entity}-{which}");
                let chart = charts
                    .iter()
                    .find(|c| c["testid"] == id.as_str())
                    .unwrap_or_else(|| panic!("{id} in {charts:?}"));
                if entity == "experiment-ranker" {
                    let empty = chart["empty"].as_str().unwrap_or_default();
                    assert!(empty.contains("preference table"), "{chart}");
                } else {
                    assert!(
                        chart["width"].as_f64() > Some(100.0)
                            && chart["height"].as_f64() > Some(50.0),
                        "{chart}"
                    );
                }
            }
        }

        // Every chart's time axis runs from its first bucket's start to its last bucket's end:
        // a single bucket spans one bucket width, not years.
        for (entity, api_name) in [
            ("rollout-recs-v2", "recs-v2"),
            ("experiment-price-test", "price-test"),
            ("rollout-banner-v2", "banner-v2"),
        ] {
            let series = ok(&base, "GET", &format!("/v1/series/{api_name}"), None, READ);
            let starts: Vec<f64> = series["starts"]
                .as_array()
                .expect("starts")
                .iter()
                .map(|s| s.as_f64().unwrap() / 1000.0)
                .collect();
            let bucket = series["bucket_ms"].as_f64().unwrap() / 1000.0;
            if api_name == "banner-v2" {
                assert_eq!(
                    starts.len(),
                    1,
                    "one batch of exposures, one bucket: {series}"
                );
            } else {
                assert!(starts.len() >= 3, "three rounds a second apart: {series}");
            }
            for which in ["units", "value"] {
                let id = format!("chart-{entity}-{which}");
                let chart = charts
                    .iter()
                    .find(|c| c["testid"] == id.as_str())
                    .unwrap_or_else(|| panic!("{id} in {charts:?}"));
                let (lo, hi) = (chart["x_min"].as_f64(), chart["x_max"].as_f64());
                // The series may have grown a bucket between the browser's read and this one.
                assert_eq!(lo, Some(starts[0]), "{chart}");
                let hi = hi.unwrap_or_else(|| panic!("no x axis in {chart}"));
                // Buckets without exposures are absent (a loaded machine may skip a second), so
                // the bound is the last bucket's end, not a count of buckets.
                let last_end = starts[starts.len() - 1] + bucket;
                assert!(
                    hi <= last_end + 1e-9 && hi >= last_end - bucket - 1e-9,
                    "{id}: x axis {lo:?}..{hi}, buckets {starts:?} of {bucket} s"
                );
                assert!(chart["width"].as_f64() > Some(100.0), "{chart}");
            }
        }

        // The ended rollout's buttons are all disabled, say why, and are painted alike (grey,
        // whatever their kind); the running rollout's Pause was live.
        let buttons = &report["buttons"];
        for command in ["approve", "pause", "resume", "rollback"] {
            let b = &buttons[format!("rollout-banner-v2-{command}")];
            assert_eq!(b["disabled"], true, "{command}: {b}");
            assert!(
                b["title"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("has ended"),
                "{command}: {b}"
            );
            assert_eq!(
                (&b["background"], &b["color"]),
                (
                    &buttons["rollout-banner-v2-pause"]["background"],
                    &buttons["rollout-banner-v2-pause"]["color"]
                ),
                "{command} is painted as every disabled button: {buttons}"
            );
        }
        assert_ne!(
            buttons["rollout-banner-v2-approve"]["background"], "rgb(47, 91, 211)",
            "a disabled Approve is not painted in the accent colour: {buttons}"
        );
        // And the server refuses the command anyway, saying why.
        let r = call(
            &base,
            "POST",
            "/v1/rollouts/banner-v2/pause",
            Some(&json!({"reason": "late"})),
            OPERATE,
        );
        let e = error_of(&r, 409, "illegal_transition");
        assert!(
            e["message"]
                .as_str()
                .unwrap_or_default()
                .contains("has ended"),
            "{}",
            r.text
        );

        // Pause: the API shows it, the log has the dashboard's reason.
        let paused = ok(&base, "GET", "/v1/rollouts/recs-v2", None, READ);
        assert_eq!(paused["status"], "paused");
        let log = ok(&base, "GET", "/v1/decisions?entity=recs-v2", None, READ);
        let last = log["decisions"]
            .as_array()
            .unwrap()
            .last()
            .cloned()
            .expect("decisions");
        assert_eq!(
            (last["action"].as_str(), last["actor"].as_str()),
            (Some("pause"), Some("dashboard"))
        );
        assert_eq!(last["reason"], reason);
        let shown = report["after_pause"]["status"].as_str().unwrap_or_default();
        assert_eq!(shown, "Paused");
        let notice = report["after_pause"]["notice"].as_str().unwrap_or_default();
        assert!(notice.contains("pause done"), "{notice}");
        let row = report["after_pause"]["newest_decision"]
            .as_str()
            .unwrap_or_default();
        assert!(row.contains(reason) && row.contains("dashboard"), "{row}");

        let png = std::fs::read(&shot).expect("screenshot written");
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG");
        assert!(
            (20_000..8_000_000).contains(&png.len()),
            "{} bytes",
            png.len()
        );
    })
    .await;
    server.stop().await;
    drop(scratch);
    assert!(
        !screenshot.exists(),
        "the screenshot lived in the test's temp dir"
    );
}
