//! `rampart rollout …`, `rampart log` and `rampart kill` against a real `rampart serve`: a stage
//! that waits for manual approval is approved from the command line, commands that do not apply
//! fail with one line and exit code 1, and every command lands in the decision log with its
//! actor and reason.

use std::path::Path;
use std::process::Output;

use serde_json::{json, Value};

use crate::support::{eventually, get_json, http, rampart, serve, Served};

/// `recs-v2` waits for approval after stage 1; `search-v2` stays in stage 1 for an hour.
const CONFIG: &str = r#"
[server]
tick = "100ms"

[[models]]
name = "recs"
variants = [{ name = "v1" }, { name = "v2" }]

[[models]]
name = "search"
variants = [{ name = "bm25" }, { name = "neural" }]

[[rollouts]]
name = "recs-v2"
model = "recs"
baseline = "v1"
candidate = "v2"
stages = [{ traffic = 10, approval = "manual" }, { traffic = 50, min_duration = "1h" }]

[[rollouts]]
name = "search-v2"
model = "search"
baseline = "bm25"
candidate = "neural"
stages = [{ traffic = 20, min_duration = "1h" }, { traffic = 100 }]
"#;

fn start(dir: &Path) -> Served {
    let config = dir.join("rampart.toml");
    std::fs::write(&config, CONFIG).unwrap();
    serve(&config, &dir.join("data"), &dir.join("log"))
}

/// Runs `rampart ARGS --server BASE` as user `dana`, so the actor it sends is known.
fn cli(base: &str, args: &[&str]) -> Output {
    rampart()
        .args(args)
        .args(["--server", base])
        .env("USER", "dana")
        .output()
        .expect("rampart runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts a failed command: exit code 1, nothing on stdout, one line on stderr; returns it.
fn failed(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(1), "{}", stdout(out));
    assert!(out.stdout.is_empty(), "{}", stdout(out));
    let err = stderr(out);
    assert_eq!(err.lines().count(), 1, "{err}");
    err
}

fn rollout(base: &str, name: &str) -> Value {
    get_json(&format!("{base}/v1/rollouts/{name}"))
}

/// `rampart log NAME --json`, parsed.
fn log(base: &str, name: &str) -> Vec<Value> {
    let out = cli(base, &["log", name, "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).expect("log --json prints JSON");
    v.as_array().expect("a list of decisions").clone()
}

#[test]
fn a_manual_stage_waits_for_rampart_rollout_approve() {
    let dir = tempfile::tempdir().unwrap();
    let served = start(dir.path());
    let base = served.base.clone();

    eventually(10, "awaiting approval", || {
        (rollout(&base, "recs-v2")["status"] == "awaiting-approval").then_some(())
    });
    // It stays there, tick after tick.
    std::thread::sleep(std::time::Duration::from_millis(500));
    let r = rollout(&base, "recs-v2");
    assert_eq!(
        (&r["status"], &r["stage"]),
        (&json!("awaiting-approval"), &json!(0))
    );
    let waiting = log(&base, "recs-v2");
    assert_eq!(waiting.len(), 1, "{waiting:?}");
    assert_eq!(waiting[0]["action"], "await-approval");
    assert_eq!(waiting[0]["actor"], "controller");

    // A rollout waiting for a person: exit code 4, as documented for scripts.
    let out = cli(&base, &["rollout", "status", "recs-v2"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(out.stderr.is_empty(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("status awaiting-approval   stage 1/2   traffic 10.0%"),
        "{text}"
    );

    // Approving a running rollout is illegal: 409 over HTTP, one line and exit 1 from the CLI.
    let (status, body) = http(
        "POST",
        &format!("{base}/v1/rollouts/search-v2/approve"),
        Some(&json!({"actor": "x", "reason": ""})),
    )
    .unwrap();
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "illegal_transition");
    let err = failed(&cli(&base, &["rollout", "approve", "search-v2"]));
    assert!(
        err.starts_with(&format!("rampart: {base}/v1/rollouts/search-v2/approve: 409: cannot approve rollout \"search-v2\": it is running")),
        "{err}"
    );
    assert!(log(&base, "search-v2").is_empty());

    let out = cli(
        &base,
        &[
            "rollout",
            "approve",
            "recs-v2",
            "--reason",
            "metrics look fine",
            "--json",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let shown: Value = serde_json::from_slice(&out.stdout).expect("--json prints JSON");
    assert_eq!(
        (&shown["status"], &shown["stage"], &shown["traffic"]),
        (&json!("running"), &json!(1), &json!(50.0))
    );
    let r = rollout(&base, "recs-v2");
    assert_eq!((&r["status"], &r["stage"]), (&json!("running"), &json!(1)));
    let d = log(&base, "recs-v2").pop().unwrap();
    assert_eq!(
        (&d["action"], &d["actor"], &d["reason"]),
        (
            &json!("approve"),
            &json!("dana (cli)"),
            &json!("metrics look fine")
        )
    );
    assert_eq!(d["from_state"], "awaiting-approval (stage 1/2, 10%)");
    assert_eq!(d["to_state"], "running (stage 2/2, 50%)");

    // Approving twice is illegal too.
    let err = failed(&cli(&base, &["rollout", "approve", "recs-v2"]));
    assert!(err.contains("409: cannot approve"), "{err}");
    served.stop();
}

#[test]
fn pause_resume_rollback_abort_and_kill_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let served = start(dir.path());
    let base = served.base.clone();

    // recs-v2 first reaches its approval, so the log's order below is known.
    eventually(10, "awaiting approval", || {
        (rollout(&base, "recs-v2")["status"] == "awaiting-approval").then_some(())
    });
    let ok = |args: &[&str]| {
        let out = cli(&base, args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        stdout(&out)
    };
    let text = ok(&[
        "rollout",
        "pause",
        "search-v2",
        "--reason",
        "checking latency",
    ]);
    assert!(text.contains("status paused"), "{text}");
    assert!(text.contains("why: checking latency"), "{text}");
    let text = ok(&[
        "rollout",
        "resume",
        "search-v2",
        "--reason",
        "latency is fine",
    ]);
    assert!(
        text.contains("status running   stage 1/2   traffic 20.0%"),
        "{text}"
    );
    let err = failed(&cli(&base, &["rollout", "resume", "search-v2"]));
    assert!(err.contains("409: cannot resume"), "{err}");
    let text = ok(&["rollout", "rollback", "search-v2", "--reason", "errors up"]);
    assert!(text.contains("status rolled-back"), "{text}");
    assert!(ok(&["rollout", "start", "search-v2"]).contains("status running"));
    let text = ok(&[
        "rollout",
        "abort",
        "search-v2",
        "--reason",
        "superseded by v3",
    ]);
    assert!(text.contains("status rolled-back"), "{text}");
    assert_eq!(rollout(&base, "search-v2")["status"], "rolled-back");

    let entries = log(&base, "search-v2");
    let got: Vec<(&str, &str, &str)> = entries
        .iter()
        .map(|d| {
            (
                d["action"].as_str().unwrap(),
                d["actor"].as_str().unwrap(),
                d["reason"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("pause", "dana (cli)", "checking latency"),
            ("resume", "dana (cli)", "latency is fine"),
            ("rollback", "dana (cli)", "errors up"),
            ("start", "dana (cli)", "started"),
            ("abort", "dana (cli)", "superseded by v3"),
        ]
    );
    for d in &entries {
        assert_eq!(d["entity"], "search-v2");
        assert_eq!(d["entity_kind"], "rollout");
        assert!(d["id"].as_i64().unwrap() > 0 && d["ts"].as_i64().unwrap() > 0);
    }

    // The table form: a header and one row per decision, newest last.
    let table = ok(&["log", "search-v2"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 6, "{table}");
    assert!(lines[0].starts_with("TIME (UTC)"), "{table}");
    assert!(
        lines[5].contains("abort") && lines[5].contains("superseded by v3"),
        "{table}"
    );

    // The kill switch takes the rollouts still active (only recs-v2 by now).
    let text = ok(&["kill", "--reason", "incident 42"]);
    assert_eq!(text, "rolled back: recs-v2\n");
    assert_eq!(rollout(&base, "recs-v2")["status"], "rolled-back");
    let d = log(&base, "recs-v2").pop().unwrap();
    assert_eq!(
        (&d["action"], &d["actor"], &d["reason"]),
        (
            &json!("rollback"),
            &json!("dana (cli)"),
            &json!("incident 42")
        )
    );
    assert_eq!(ok(&["kill"]), "no active rollout to roll back\n");

    // Every entity: `rampart log` without a name, newest `--limit` only.
    let out = cli(&base, &["log", "--json", "--limit", "2"]);
    let all: Value = serde_json::from_slice(&out.stdout).unwrap();
    let entities: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["entity"].as_str().unwrap())
        .collect();
    assert_eq!(entities, ["search-v2", "recs-v2"]);

    // An unknown rollout: one line, exit 1.
    let err = failed(&cli(&base, &["rollout", "status", "nope"]));
    assert!(err.contains("404: no rollout \"nope\""), "{err}");
    served.stop();
}
