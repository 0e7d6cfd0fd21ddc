//! Bearer tokens through the real binary: a server whose tokens come from `token_env`, the CLI
//! sending `--token` or `RAMPART_TOKEN`, the 401 and 403 lines, and `rampart serve` refusing a
//! non-loopback address without tokens.

use serde_json::Value;

use crate::support::{rampart, repo_root, run, serve, serve_with_env};

const READ: &str = "cli-read-token-0123456789";
const OPERATE: &str = "cli-operate-token-0123456789";

#[test]
fn the_cli_sends_its_token_and_reports_refusals_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("rampart.toml");
    let quickstart = std::fs::read_to_string(repo_root().join("examples/quickstart.toml")).unwrap();
    std::fs::write(
        &config,
        format!("{quickstart}\n[auth]\ntoken_env = \"RAMPART_CLI_TEST_TOKENS\"\n"),
    )
    .unwrap();
    let tokens = format!("# from the environment\nread {READ}\noperate {OPERATE}\n");
    let served = serve_with_env(
        &config,
        &dir.path().join("data"),
        &dir.path().join("log"),
        &[("RAMPART_CLI_TEST_TOKENS", &tokens)],
    );
    let base = served.base.clone();

    let out = run(&["status", "--server", &base, "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("/v1/status: 401:") && stderr.contains("--token"),
        "{stderr}"
    );

    let out = run(&["status", "--server", &base, "--json", "--token", READ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(status["rollouts"][0]["name"], "recs-v2");

    let out = rampart()
        .args(["status", "--server", &base, "--json"])
        .env("RAMPART_TOKEN", READ)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The kill switch needs operate: read is refused with the role named, operate goes through.
    let out = run(&["kill", "--server", &base, "--token", READ, "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("403") && stderr.contains("needs the operate role"),
        "{stderr}"
    );
    let out = run(&[
        "kill", "--server", &base, "--token", OPERATE, "--json", "--reason", "drill",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let killed: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(killed["rolled_back"], serde_json::json!(["recs-v2"]));
    let logs = served.logs();
    assert!(logs.contains("auth is on"), "{logs}");
    served.stop();
}

#[test]
fn serve_without_tokens_stays_on_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let config = repo_root().join("examples/quickstart.toml");
    let out = run(&[
        "serve",
        "--config",
        config.to_str().unwrap(),
        "--data-dir",
        dir.path().join("data").to_str().unwrap(),
        "--listen",
        "0.0.0.0:0",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("refusing to listen on 0.0.0.0:0") && stderr.contains("[auth]"),
        "{stderr}"
    );
    assert!(!dir.path().join("data").exists());

    let served = serve(&config, &dir.path().join("data"), &dir.path().join("log"));
    let logs = served.logs();
    assert!(
        logs.contains("auth is off") && logs.contains("loopback only"),
        "{logs}"
    );
    served.stop();
}
