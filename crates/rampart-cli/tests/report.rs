//! `rampart experiment …` and `rampart report` against a real `rampart serve`: an experiment is
//! started and stopped from the command line (illegal commands fail with one line and exit code
//! 1), and its report as a table and as a Markdown record carries the numbers of its JSON report;
//! a rollout's report shows its gates.

use std::path::Path;
use std::process::Output;

use serde_json::{json, Value};

use crate::support::{eventually, get_json, http, rampart, serve, Served};

/// `bakeoff` (fixed horizon, a plan far larger than the test's traffic, so nothing is decided)
/// waits for a start; `search-v2` ramps another model with one gate.
const CONFIG: &str = r#"
[server]
tick = "100ms"

[[models]]
name = "recs"
variants = [{ name = "v1" }, { name = "v2" }]

[[models]]
name = "search"
variants = [{ name = "bm25" }, { name = "neural" }]

[[metrics]]
name = "conversion"
kind = "binary"
event = "purchase"
goal = "increase"

[[rollouts]]
name = "search-v2"
model = "search"
baseline = "bm25"
candidate = "neural"
stages = [{ traffic = 20, min_duration = "1h" }, { traffic = 100 }]
gates = [{ metric = "conversion", compare = "control", max_worsening = "2%" }]

[[experiments]]
name = "bakeoff"
model = "recs"
variants = ["v1", "v2"]
primary = "conversion"
stopping = { rule = "fixed", mde = 0.01 }
autostart = false
"#;

fn start(dir: &Path) -> Served {
    let config = dir.join("rampart.toml");
    std::fs::write(&config, CONFIG).unwrap();
    serve(&config, &dir.join("data"), &dir.join("log"))
}

/// Runs `rampart ARGS --server BASE` as user `dana`.
fn cli(base: &str, args: &[&str]) -> Output {
    rampart()
        .args(args)
        .args(["--server", base])
        .env("USER", "dana")
        .output()
        .expect("rampart runs")
}

/// Stdout of a command that must succeed.
fn ok(out: &Output) -> String {
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// The one stderr line of a command that must fail with exit code 1.
fn failed(out: &Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(err.lines().count(), 1, "{err}");
    err
}

/// Assigns `n` units of `recs` and posts a purchase for 2 in 10 of v1's and 4 in 10 of v2's.
fn traffic(base: &str, n: usize) {
    let requests: Vec<Value> = (0..n)
        .map(|i| json!({"model": "recs", "unit": format!("u{i}")}))
        .collect();
    let (status, body) = http(
        "POST",
        &format!("{base}/v1/assign/batch"),
        Some(&json!({ "requests": requests })),
    )
    .expect("server reachable");
    assert_eq!(status, 200, "{body}");
    let mut seen = std::collections::HashMap::new();
    let mut events = Vec::new();
    for (i, a) in body["assignments"]
        .as_array()
        .expect("assignments")
        .iter()
        .enumerate()
    {
        assert_eq!(a["experiment"], "bakeoff", "{a}");
        let variant = a["variant"].as_str().expect("variant").to_string();
        let k = seen.entry(variant.clone()).or_insert(0usize);
        let share = if variant == "v1" { 2 } else { 4 };
        if *k % 10 < share {
            events.push(json!({"id": format!("buy-{i}"), "type": "purchase", "unit": format!("u{i}"), "model": "recs"}));
        }
        *k += 1;
    }
    let (status, body) = http(
        "POST",
        &format!("{base}/v1/events"),
        Some(&json!({ "events": events })),
    )
    .expect("server reachable");
    assert_eq!(status, 200, "{body}");
}

fn p(v: &Value) -> String {
    match v.as_f64() {
        Some(x) if x > 0.0 && x < 1e-4 => format!("{x:.2e}"),
        Some(x) => format!("{x:.4}"),
        None => "-".to_string(),
    }
}

/// The numbers of the comparison as both renderings print them.
fn printed(c: &Value) -> Vec<String> {
    let f = |v: &Value| format!("{:.4}", v.as_f64().expect("a number"));
    let abs = &c["absolute_lift"];
    let rel = &c["relative_lift"];
    let pct = |v: &Value| format!("{:+.2}%", v.as_f64().expect("a number") * 100.0);
    let signed = |v: &Value| format!("{:+.4}", v.as_f64().expect("a number"));
    vec![
        f(&c["control_value"]),
        f(&c["variant_value"]),
        format!(
            "{} [{}, {}]",
            signed(&abs["estimate"]),
            signed(&abs["lower"]),
            signed(&abs["upper"])
        ),
        format!(
            "{} [{}, {}]",
            pct(&rel["estimate"]),
            pct(&rel["lower"]),
            pct(&rel["upper"])
        ),
        p(&c["p_value"]),
        p(&c["adjusted_p_value"]),
        p(&c["always_valid_p_value"]),
        p(&c["adjusted_always_valid_p_value"]),
        f(&c["prob_beat_control"]),
    ]
}

#[test]
fn experiment_verbs_and_reports_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let base = server.base.clone();

    let out = ok(&cli(&base, &["experiment", "status", "bakeoff"]));
    assert!(
        out.contains("experiment bakeoff of recs: split design, control v1"),
        "{out}"
    );
    assert!(out.contains("status draft"), "{out}");
    let err = failed(&cli(&base, &["report", "bakeoff"]));
    assert!(err.contains("has no report: it is draft"), "{err}");
    let err = failed(&cli(&base, &["experiment", "stop", "bakeoff"]));
    assert!(err.contains("409") && err.contains("it is draft"), "{err}");

    let out = ok(&cli(
        &base,
        &["experiment", "start", "bakeoff", "--reason", "kick-off"],
    ));
    assert!(out.contains("status running"), "{out}");
    assert!(out.contains("verdict: not yet"), "{out}");

    traffic(&base, 600);
    eventually(10, "the look at all 600 units", || {
        let e = get_json(&format!("{base}/v1/experiments/bakeoff"));
        let c = &e["report"]["metrics"][0];
        let n = c["control_n"].as_u64().unwrap_or(0) + c["variant_n"].as_u64().unwrap_or(0);
        (n == 600 && !c["p_value"].is_null()).then_some(())
    });

    let out = ok(&cli(&base, &["report", "bakeoff", "--json"]));
    let report: Value = serde_json::from_str(&out).expect("the report is JSON");
    assert_eq!(report["experiment"], "bakeoff");
    assert_eq!(report["rule"], "fixed");
    let c = report["metrics"][0].clone();
    assert_eq!(c["variant"], "v2");
    let units: u64 = report["arms"]
        .as_array()
        .expect("arms")
        .iter()
        .filter_map(|a| a["units"].as_u64())
        .sum();
    assert_eq!(units, 600);
    let numbers = printed(&c);

    let table = ok(&cli(&base, &["report", "bakeoff"]));
    assert!(
        table.contains("conversion (primary, binary, goal increase)"),
        "{table}"
    );
    let line = table
        .lines()
        .find(|l| l.starts_with("v2 "))
        .unwrap_or_else(|| panic!("a row for v2 in {table}"));
    let mut at = 0;
    for n in &numbers {
        let found = line[at..]
            .find(n.as_str())
            .unwrap_or_else(|| panic!("{n} after column {at} of {line:?}"));
        at += found + n.len();
    }
    let srm = report["srm"]["message"].as_str().expect("srm message");
    assert!(table.contains(&format!("SRM: {srm}")), "{table}");
    assert!(table.contains("sample size for mde 0.01"), "{table}");
    assert!(
        table.contains("verdict: not yet: the planned sample is not reached"),
        "{table}"
    );

    let out = ok(&cli(
        &base,
        &["experiment", "stop", "bakeoff", "--reason", "budget cut"],
    ));
    assert!(out.contains("status stopped"), "{out}");
    assert!(
        out.contains("why: manual stop by dana (cli): budget cut"),
        "{out}"
    );
    let err = failed(&cli(&base, &["experiment", "start", "bakeoff"]));
    assert!(err.contains("configure a new experiment"), "{err}");

    let record = ok(&cli(&base, &["report", "bakeoff", "--format", "markdown"]));
    assert!(
        record.starts_with("# Experiment record: bakeoff\n"),
        "{record}"
    );
    for row in [
        "| design | split |",
        "| variants (first is the control) | v1, v2 |",
        "| split | 50.00% / 50.00% |",
        "| primary metric | conversion |",
        "| stopping rule | fixed |",
        "| minimum detectable effect | 0.01 |",
    ] {
        assert!(record.contains(row), "{row} in {record}");
    }
    let timeline: Vec<&str> = record
        .lines()
        .filter(|l| l.contains("| bakeoff |"))
        .collect();
    assert_eq!(timeline.len(), 2, "{record}");
    assert!(timeline[0].contains("| start | draft → running | dana (cli) | kick-off |"));
    assert!(timeline[1].contains(
        "| stop | running → stopped | dana (cli) | manual stop by dana (cli): budget cut |"
    ));
    let result = format!("| conversion | primary | v2 | {} |", numbers.join(" | "));
    assert!(record.contains(&result), "{result} in {record}");
    assert!(record.contains("Stopped without a winner."), "{record}");

    eventually(10, "a look at the rollout", || {
        let r = get_json(&format!("{base}/v1/rollouts/search-v2"));
        r["last_look"].is_object().then_some(())
    });
    let out = ok(&cli(&base, &["report", "search-v2"]));
    assert!(
        out.contains("rollout search-v2 of search: bm25 → neural"),
        "{out}"
    );
    assert!(out.lines().any(|l| l.starts_with("GATE")), "{out}");
    assert!(out.lines().any(|l| l.contains("conversion")), "{out}");
    let err = failed(&cli(
        &base,
        &["report", "search-v2", "--format", "markdown"],
    ));
    assert!(err.contains("is a rollout"), "{err}");
    let err = failed(&cli(&base, &["report", "nope"]));
    assert!(
        err.contains("no experiment, rollout or holdout \"nope\""),
        "{err}"
    );
    server.stop();
}
