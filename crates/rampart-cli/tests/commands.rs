//! `rampart validate`, `rampart status` (JSON and tables, and an unreachable server) and config
//! reload on SIGHUP, through the real binary.

use serde_json::Value;

use crate::support::{eventually, get_json, repo_root, run, serve};

#[test]
fn validate_accepts_the_quickstart() {
    for name in ["quickstart.toml", "quickstart.yaml"] {
        let path = repo_root().join("examples").join(name);
        let out = run(&["validate", path.to_str().unwrap()]);
        assert_eq!(String::from_utf8_lossy(&out.stdout), "ok\n", "{name}");
        assert_eq!(out.status.code(), Some(0), "{name}");
    }
}

#[test]
fn validate_prints_every_error_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    let text = r#"[[models]]
name = "recs"
variants = [{ name = "v1" }, { name = "v2" }]
colour = "red"

[[metrics]]
name = "conversion"
kind = "binery"
event = "purchase"
"#;
    std::fs::write(&path, text).unwrap();
    let out = run(&["validate", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    let file = path.display().to_string();
    let model = lines
        .iter()
        .find(|l| l.contains("models[0].colour"))
        .expect(&stdout);
    assert!(model.starts_with(&format!("{file}:4: ")), "{model}");
    assert!(model.contains("unknown key"), "{model}");
    let metric = lines
        .iter()
        .find(|l| l.contains("metrics[0].kind"))
        .expect(&stdout);
    assert!(metric.starts_with(&format!("{file}:8: ")), "{metric}");
    assert!(
        metric.contains("binary"),
        "says what would be valid: {metric}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim(), format!("rampart: 2 error(s) in {file}"));
}

#[test]
fn status_prints_json_and_tables_of_a_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let config = repo_root().join("examples/quickstart.toml");
    let served = serve(&config, &dir.path().join("data"), &dir.path().join("log"));
    let want = get_json(&format!("{}/v1/status", served.base));

    let out = run(&["status", "--server", &served.base, "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let got: Value = serde_json::from_slice(&out.stdout).expect("status --json prints JSON");
    assert_eq!(got, want);
    assert_eq!(got["rollouts"][0]["name"], "recs-v2");

    let out = run(&["status", "--server", &served.base]);
    assert_eq!(out.status.code(), Some(0));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("config version 1"), "{table}");
    let rollout = table
        .lines()
        .find(|l| l.starts_with("recs-v2 "))
        .unwrap_or_else(|| panic!("the rollout has a row: {table}"));
    for cell in ["checkout-recs", "running", "1/5", "v1 → v2"] {
        assert!(rollout.contains(cell), "{cell} in {rollout:?}");
    }
    assert!(
        table.lines().any(|l| l.starts_with("ranker-bakeoff ")),
        "{table}"
    );
    served.stop();
}

#[test]
fn status_of_an_unreachable_server_fails_with_one_line() {
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let out = run(&["status", "--server", &url]);
    // The documented code of an unreachable server (docs/rollouts.md).
    assert_eq!(out.status.code(), Some(6));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(&format!("rampart: cannot reach the server at {url}: ")),
        "{stderr}"
    );
    assert!(stderr.contains("Connection refused"), "{stderr}");
}

#[test]
fn sighup_reloads_the_config_and_refuses_an_invalid_one() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("rampart.toml");
    let original = std::fs::read_to_string(repo_root().join("examples/quickstart.toml")).unwrap();
    std::fs::write(&config, &original).unwrap();
    let served = serve(&config, &dir.path().join("data"), &dir.path().join("log"));
    let status = || get_json(&format!("{}/v1/status", served.base));
    assert_eq!(status()["config_version"], 1);

    // An invalid edit: refused, logged, and the old config keeps serving.
    std::fs::write(&config, original.replace("percent = 2", "percent = 200")).unwrap();
    served.signal("HUP");
    eventually(10, "the refusal in the log", || {
        served
            .logs()
            .contains("config reload on SIGHUP refused")
            .then_some(())
    });
    assert_eq!(status()["config_version"], 1);
    assert_eq!(status()["holdouts"][0]["percent"], 2.0);

    // A valid edit: a third model.
    let edited = format!(
        "{original}\n[[models]]\nname = \"pricing\"\nunit = \"request\"\nvariants = [{{ name = \"p1\" }}]\n"
    );
    std::fs::write(&config, edited).unwrap();
    served.signal("HUP");
    let now = eventually(10, "config version 2", || {
        let s = status();
        (s["config_version"] == 2).then_some(s)
    });
    let models: Vec<&str> = now["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(models, ["checkout-recs", "search-ranking", "pricing"]);
    assert!(served.logs().contains("config reloaded on SIGHUP"));
    served.stop();
}
