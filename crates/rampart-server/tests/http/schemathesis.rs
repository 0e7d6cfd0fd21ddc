//! schemathesis (`st run --checks all`) against a real server on a real port, seeded with the
//! config in `tests/schemathesis/` (auth on, a rollout, experiments, a holdout over every model
//! and a proxied model with a real upstream), so the document and the server are compared in both
//! directions, stateful paths included. Skipped when `st` is missing unless
//! `RAMPART_REQUIRE_PEERS` is set.

use std::path::Path;
use std::process::Command;

use serde_json::json;

use crate::support::{blocking, peer, Server};

/// The admin token of `tests/schemathesis/config.toml`, so every operation is reachable.
const TOKEN: &str = "admin-token-0123456789";
/// Examples per operation and phase: the whole run stays within a couple of minutes.
const MAX_EXAMPLES: &str = "25";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_failure_of_any_check() {
    let Some(st) = peer("st") else { return };
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/schemathesis");
    let model_server = crate::support::spawn_upstream(
        axum::Router::new().fallback(|| async { axum::Json(json!({"score": 1})) }),
    )
    .await;
    let config = std::fs::read_to_string(dir.join("config.toml"))
        .expect("config readable")
        .replace("http://127.0.0.1:18712", &model_server);
    assert!(
        config.contains(&model_server),
        "the proxied model points at the upstream"
    );
    let mut server = Server::start(&config).await;
    let base = server.base.clone();
    let work = server.data_dir.parent().expect("temp dir").to_path_buf();
    let out = blocking(move || {
        Command::new(st)
            .arg("--config-file")
            .arg(dir.join("schemathesis.toml"))
            .args(["--no-color", "run", &format!("{base}/openapi.json")])
            .args(["--checks", "all", "--max-examples", MAX_EXAMPLES])
            .args([
                "--workers",
                "1",
                "--seed",
                "1",
                "--generation-database",
                "none",
            ])
            .args(["-H", &format!("Authorization: Bearer {TOKEN}")])
            // Reports and caches go to the test's temporary directory.
            .current_dir(&work)
            .output()
            .expect("st runs")
    })
    .await;
    server.stop().await;
    let text = String::from_utf8_lossy(&out.stdout);
    let summary = text
        .lines()
        .rev()
        .find(|l| l.contains(" in ") && l.starts_with('='))
        .unwrap_or_default()
        .to_string();
    assert!(
        out.status.success(),
        "schemathesis reports failures ({summary}):\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !summary.contains("failure") && !summary.contains("error"),
        "{summary}\n{text}"
    );
    let doc: serde_json::Value = serde_json::from_str(rampart_server::OPENAPI).expect("JSON");
    let operations: usize = doc["paths"]
        .as_object()
        .expect("paths")
        .values()
        .map(|item| item.as_object().map_or(0, |m| m.len()))
        .sum();
    // Every operation of the document passed the coverage and the fuzzing phase, except
    // `GET /openapi.json`, which schemathesis leaves out when it reads the document from there.
    let tested = operations - 1;
    assert!(
        text.contains(&format!("Selected: {tested}/{tested}")),
        "{tested} operations selected:\n{text}"
    );
    let passed = format!("✅ {tested} passed");
    let phases = text.lines().filter(|l| l.trim() == passed).count();
    assert!(phases >= 2, "{passed} in each phase:\n{text}");
}
