//! What a script can rely on, through the real binary and a real `rampart serve`: the
//! documented exit codes of `rollout status` with and without `--watch --timeout` (a rollout
//! that completes, one the controller rolls back, one that outlasts the timeout, one that waits
//! for approval), an unreachable or silent server, usage errors, a closed stdout, shell
//! completions, `validate --json`, and `serve` configured from environment variables.

use std::io::Read;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{eventually, get_json, rampart, repo_root, run, serve, spawn_served, Served};

/// Exit codes as docs/rollouts.md documents them.
const OK: i32 = 0;
const ERROR: i32 = 1;
const USAGE: i32 = 2;
const ROLLED_BACK: i32 = 3;
const WAITING: i32 = 4;
const TIMED_OUT: i32 = 5;
const UNREACHABLE: i32 = 6;

/// `ships` completes after two 2 s stages; `fails` waits for more units than it will ever see
/// and is rolled back by the controller when its stage's 2 s `max_duration` passes; `slow`
/// stays an hour in its first stage; `waits` needs an approval.
const CONFIG: &str = r#"
[server]
tick = "100ms"

[[models]]
name = "recs"
variants = [{ name = "v1" }, { name = "v2" }]

[[models]]
name = "search"
variants = [{ name = "v1" }, { name = "v2" }]

[[models]]
name = "pricing"
variants = [{ name = "v1" }, { name = "v2" }]

[[models]]
name = "fraud"
variants = [{ name = "v1" }, { name = "v2" }]

[[rollouts]]
name = "ships"
model = "recs"
baseline = "v1"
candidate = "v2"
stages = [{ traffic = 10, min_duration = "2s" }, { traffic = 50, min_duration = "2s" }, { traffic = 100 }]

[[rollouts]]
name = "fails"
model = "search"
baseline = "v1"
candidate = "v2"
stages = [{ traffic = 10, min_units = 1000000, max_duration = "2s", on_timeout = "rollback" }, { traffic = 100 }]

[[rollouts]]
name = "slow"
model = "pricing"
baseline = "v1"
candidate = "v2"
stages = [{ traffic = 20, min_duration = "1h" }, { traffic = 100 }]

[[rollouts]]
name = "waits"
model = "fraud"
baseline = "v1"
candidate = "v2"
stages = [{ traffic = 5, approval = "manual" }, { traffic = 100 }]
"#;

fn start(dir: &Path) -> Served {
    let config = dir.join("rampart.toml");
    std::fs::write(&config, CONFIG).unwrap();
    serve(&config, &dir.join("data"), &dir.join("log"))
}

fn cli(base: &str, args: &[&str]) -> Output {
    rampart()
        .args(args)
        .args(["--server", base])
        .output()
        .expect("rampart runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The exit code, with the output shown when an assertion on it fails.
fn code(out: &Output) -> (i32, String) {
    (
        out.status.code().expect("exited, not killed"),
        format!(
            "stdout:\n{}stderr:\n{}",
            text(&out.stdout),
            text(&out.stderr)
        ),
    )
}

#[test]
fn a_script_waiting_on_rollout_status_watch_gets_the_documented_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let served = start(dir.path());
    let base = served.base.clone();
    let watch = |name: &str, timeout: &str| {
        let started = Instant::now();
        let out = cli(
            &base,
            &[
                "rollout",
                "status",
                name,
                "--watch",
                "--timeout",
                timeout,
                "--interval",
                "100ms",
            ],
        );
        (out, started.elapsed())
    };

    // All three watches run at once, as three scripts would.
    let (completed, rolled_back, timed_out) = std::thread::scope(|s| {
        let a = s.spawn(|| watch("ships", "2m"));
        let b = s.spawn(|| watch("fails", "2m"));
        let c = s.spawn(|| watch("slow", "1500ms"));
        (a.join().unwrap(), b.join().unwrap(), c.join().unwrap())
    });

    // (a) Completed: 0, and every change was printed on its way there.
    let (out, _) = completed;
    let (status, shown) = code(&out);
    assert_eq!(status, OK, "{shown}");
    let lines: Vec<String> = text(&out.stdout).lines().map(String::from).collect();
    assert!(
        lines[0].contains("rollout ships: running   stage 1/3   traffic 10.0%"),
        "{shown}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("rollout ships: running   stage 2/3   traffic 50.0%")),
        "{shown}"
    );
    assert!(
        lines.last().unwrap().contains("rollout ships: completed"),
        "{shown}"
    );
    assert!(out.stderr.is_empty(), "{shown}");
    assert_eq!(
        get_json(&format!("{base}/v1/rollouts/ships"))["status"],
        "completed"
    );

    // (b) Rolled back by the controller: 3, with the reason.
    let (out, _) = rolled_back;
    let (status, shown) = code(&out);
    assert_eq!(status, ROLLED_BACK, "{shown}");
    let last = text(&out.stdout).lines().last().unwrap().to_string();
    assert!(last.contains("rollout fails: rolled-back"), "{shown}");
    assert!(last.contains("why: "), "{shown}");
    assert_eq!(
        get_json(&format!("{base}/v1/rollouts/fails"))["status"],
        "rolled-back"
    );

    // (c) Still running when the timeout passes: 5, soon after it, with one line saying so.
    let (out, took) = timed_out;
    let (status, shown) = code(&out);
    assert_eq!(status, TIMED_OUT, "{shown}");
    assert!(
        took >= Duration::from_millis(1500) && took < Duration::from_secs(10),
        "{took:?}"
    );
    let err = text(&out.stderr);
    assert_eq!(
        err.trim_end(),
        "rampart: rollout slow did not finish within 1500ms (--timeout); last seen: running   stage 1/2   traffic 20.0%",
        "{shown}"
    );
    assert_eq!(text(&out.stdout).lines().count(), 1, "{shown}");

    // A rollout waiting for approval ends a watch at once: 4.
    eventually(10, "awaiting approval", || {
        (get_json(&format!("{base}/v1/rollouts/waits"))["status"] == "awaiting-approval")
            .then_some(())
    });
    let (out, took) = watch("waits", "1m");
    let (status, shown) = code(&out);
    assert_eq!(status, WAITING, "{shown}");
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert!(
        text(&out.stdout).contains("rollout waits: awaiting-approval"),
        "{shown}"
    );

    // Without --watch: the state once, with its code; --json prints the rollout.
    for (name, want) in [
        ("ships", OK),
        ("fails", ROLLED_BACK),
        ("slow", OK),
        ("waits", WAITING),
    ] {
        let out = cli(&base, &["rollout", "status", name, "--json"]);
        let (status, shown) = code(&out);
        assert_eq!(status, want, "{name}: {shown}");
        let body: Value = serde_json::from_slice(&out.stdout).expect("--json prints JSON");
        assert_eq!(body["name"], name);
    }
    // Watching with --json: one JSON object per change, the last one the final state.
    let out = cli(&base, &["rollout", "status", "fails", "--watch", "--json"]);
    assert_eq!(code(&out).0, ROLLED_BACK, "{}", code(&out).1);
    let last: Value = serde_json::from_str(text(&out.stdout).lines().last().unwrap()).unwrap();
    assert_eq!(last["status"], "rolled-back");

    // An unknown rollout is a general error.
    let out = cli(&base, &["rollout", "status", "nope", "--watch"]);
    let (status, shown) = code(&out);
    assert_eq!(status, ERROR, "{shown}");
    assert!(
        text(&out.stderr).contains("404: no rollout \"nope\""),
        "{shown}"
    );
    served.stop();
}

#[test]
fn an_unreachable_or_silent_server_gives_the_unreachable_code_within_the_timeout() {
    // Refused: a port that was free a moment ago.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let refused = format!("http://127.0.0.1:{port}");
    let out = cli(
        &refused,
        &["rollout", "status", "x", "--watch", "--timeout", "30s"],
    );
    let (status, shown) = code(&out);
    assert_eq!(status, UNREACHABLE, "{shown}");
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{shown}");
    assert!(
        err.starts_with(&format!("rampart: cannot reach the server at {refused}: ")),
        "{shown}"
    );

    // Silent: the kernel accepts connections into the backlog, nobody ever answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = format!("http://{}", silent.local_addr().unwrap());
    let started = Instant::now();
    let out = cli(&addr, &["log", "--request-timeout", "1s"]);
    let took = started.elapsed();
    let (status, shown) = code(&out);
    assert_eq!(status, UNREACHABLE, "{shown}");
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(8),
        "{took:?}"
    );
    assert_eq!(
        text(&out.stderr).trim_end(),
        format!("rampart: no answer from the server at {addr} within 1s"),
        "{shown}"
    );
    // The variable sets the same timeout.
    let out = rampart()
        .args(["status", "--server", &addr])
        .env("RAMPART_REQUEST_TIMEOUT", "500ms")
        .output()
        .unwrap();
    assert_eq!(code(&out).0, UNREACHABLE, "{}", code(&out).1);
    assert!(
        text(&out.stderr).contains("within 500ms"),
        "{}",
        code(&out).1
    );

    // A watch whose --timeout ends first times out, however long a request may take.
    let started = Instant::now();
    let out = cli(
        &addr,
        &["rollout", "status", "x", "--watch", "--timeout", "1s"],
    );
    let took = started.elapsed();
    assert_eq!(code(&out).0, TIMED_OUT, "{}", code(&out).1);
    assert!(took < Duration::from_secs(8), "{took:?}");
    assert_eq!(
        text(&out.stderr).trim_end(),
        "rampart: rollout x did not finish within 1s (--timeout); last seen: no answer from the server yet"
    );
    drop(silent);
}

#[test]
fn usage_errors_exit_with_the_usage_code_and_help_with_success() {
    for args in [
        &["rollout", "status"][..],
        &["rollout", "status", "x", "--timeout", "5m"],
        &["rollout", "status", "x", "--watch", "--timeout", "0s"],
        &["rollout", "status", "x", "--watch", "--timeout", "soon"],
        &["log", "--request-timeout", "-1s"],
        &["frobnicate"],
        &["completions", "tcsh"],
        &["validate"],
    ] {
        let out = run(args);
        let (status, shown) = code(&out);
        assert_eq!(status, USAGE, "{args:?}: {shown}");
        assert!(out.stdout.is_empty(), "{args:?}: {shown}");
        assert!(
            text(&out.stderr).starts_with("error: "),
            "{args:?}: {shown}"
        );
    }
    let out = run(&["--help"]);
    assert_eq!(code(&out).0, OK);
    let help = text(&out.stdout);
    assert!(help.contains("Exit codes:"), "{help}");
    assert!(
        help.contains("  5  rollout status --watch: --timeout passed first"),
        "{help}"
    );
    let out = run(&["rollout", "status", "--help"]);
    assert_eq!(code(&out).0, OK);
    assert!(
        text(&out.stdout).contains("  3  rollout status: rolled back"),
        "{}",
        code(&out).1
    );
}

/// Runs `rampart ARGS` with its stdout a pipe whose reading end is closed before it writes.
fn into_closed_pipe(args: &[&str]) -> Output {
    let mut child = rampart()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let mut stderr = Vec::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_end(&mut stderr)
        .unwrap();
    let status = child.wait().unwrap();
    Output {
        status,
        stdout: Vec::new(),
        stderr,
    }
}

#[test]
fn a_closed_stdout_ends_a_command_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let served = start(dir.path());
    let base = served.base.clone();
    eventually(10, "a decision in the log", || {
        (!get_json(&format!("{base}/v1/decisions"))["decisions"]
            .as_array()
            .unwrap()
            .is_empty())
        .then_some(())
    });
    let answers = repo_root().join("examples/plan/answers.toml");
    let commands: Vec<Vec<String>> = vec![
        vec!["log".into(), "--server".into(), base.clone()],
        vec![
            "log".into(),
            "--json".into(),
            "--server".into(),
            base.clone(),
        ],
        vec!["status".into(), "--server".into(), base.clone()],
        vec![
            "rollout".into(),
            "status".into(),
            "ships".into(),
            "--server".into(),
            base.clone(),
        ],
        vec!["completions".into(), "bash".into()],
        vec!["--help".into()],
        vec![
            "plan".into(),
            "--answers".into(),
            answers.display().to_string(),
        ],
    ];
    for args in &commands {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        // Each command does print when someone reads.
        let read = run(&args);
        assert!(!read.stdout.is_empty(), "{args:?}: {}", code(&read).1);
        let out = into_closed_pipe(&args);
        let (status, shown) = code(&out);
        assert_eq!(status, OK, "{args:?}: {shown}");
        assert!(out.stderr.is_empty(), "{args:?}: {shown}");
    }
    served.stop();
}

#[test]
fn completions_cover_the_subcommands_of_each_shell() {
    for (shell, marker) in [
        ("bash", "complete -F _rampart"),
        ("zsh", "#compdef rampart"),
        ("fish", "complete -c rampart"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let out = run(&["completions", shell]);
        let (status, shown) = code(&out);
        assert_eq!(status, OK, "{shell}: {shown}");
        let script = text(&out.stdout);
        assert!(script.contains(marker), "{shell}: {marker} missing");
        for sub in [
            "serve",
            "validate",
            "rollout",
            "completions",
            "log",
            "export",
        ] {
            assert!(script.contains(sub), "{shell}: {sub} missing");
        }
    }
    // bash completes `rollout status` with its flags.
    let out = run(&["completions", "bash"]);
    let script = text(&out.stdout);
    let watch = script
        .split("\n        rampart__subcmd__rollout__subcmd__status)")
        .nth(1)
        .expect("a case for `rollout status`");
    let opts = watch.lines().find(|l| l.contains("opts=")).unwrap();
    for flag in ["--watch", "--timeout", "--interval", "--request-timeout"] {
        assert!(opts.contains(flag), "{flag} in {opts}");
    }
}

#[test]
fn validate_json_lists_every_error_with_its_field_path() {
    let path = repo_root().join("examples/quickstart.toml");
    let out = run(&["validate", "--json", path.to_str().unwrap()]);
    let (status, shown) = code(&out);
    assert_eq!(status, OK, "{shown}");
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["ok"], true);
    assert_eq!(v["errors"], serde_json::json!([]));
    assert!(v["warnings"].is_array(), "{v}");

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        r#"[[models]]
name = "recs"
variants = [{ name = "v1" }, { name = "v2" }]
colour = "red"

[[metrics]]
name = "conversion"
kind = "binery"
event = "purchase"
"#,
    )
    .unwrap();
    let out = run(&["validate", "--json", bad.to_str().unwrap()]);
    let (status, shown) = code(&out);
    assert_eq!(status, ERROR, "{shown}");
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let file = bad.display().to_string();
    assert_eq!(
        (&v["ok"], &v["file"]),
        (&Value::Bool(false), &Value::String(file.clone()))
    );
    let errors = v["errors"].as_array().unwrap();
    let got: Vec<(&str, u64)> = errors
        .iter()
        .map(|e| (e["field"].as_str().unwrap(), e["line"].as_u64().unwrap()))
        .collect();
    assert_eq!(got, [("models[0].colour", 4), ("metrics[0].kind", 8)]);
    assert!(errors.iter().all(|e| e["file"] == file.as_str()));
    assert!(errors[0]["message"]
        .as_str()
        .unwrap()
        .contains("unknown key"));
    assert!(errors[1]["message"].as_str().unwrap().contains("binary"));
    assert_eq!(
        text(&out.stderr).trim_end(),
        format!("rampart: 2 error(s) in {file}")
    );
}

#[test]
fn serve_takes_its_flags_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("rampart.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let data = dir.path().join("env-data");
    let mut cmd = rampart();
    cmd.arg("serve")
        .env("RAMPART_CONFIG", &config)
        .env("RAMPART_DATA_DIR", &data)
        .env("RAMPART_LISTEN", "127.0.0.1:0");
    let served = spawn_served(cmd, &dir.path().join("log"));
    let status = get_json(&format!("{}/v1/status", served.base));
    assert_eq!(status["rollouts"].as_array().unwrap().len(), 4);
    assert!(
        std::fs::read_dir(&data).unwrap().next().is_some(),
        "the store lives in RAMPART_DATA_DIR"
    );
    // A flag wins over its variable.
    served.stop();
    let other = dir.path().join("flag-data");
    let mut cmd = rampart();
    cmd.args(["serve", "--data-dir"])
        .arg(&other)
        .env("RAMPART_CONFIG", &config)
        .env("RAMPART_DATA_DIR", &data)
        .env("RAMPART_LISTEN", "127.0.0.1:0");
    let served = spawn_served(cmd, &dir.path().join("log2"));
    assert!(std::fs::read_dir(&other).unwrap().next().is_some());
    served.stop();
}
