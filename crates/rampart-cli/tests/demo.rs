//! `rampart demo --exit`: the real binary tells the whole story on a fast clock, and the decision
//! log in its data directory shows it happened — the bad fraud scorer rolled back before 100% on
//! evidence its model proxy recorded, the better recommender completed, the bake-off's winner the
//! truly best ranker and its rollout started. Also the refusals: a directory that is not a demo's,
//! a speed that is not one.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use rampart_core::Decision;
use rampart_store::{SqliteStore, Store};

use crate::support::{get_json, rampart, serve};

/// Runs `command`, killing it after `limit`; stdout and stderr go through files so a chatty
/// child never blocks on a full pipe.
fn run_with_limit(mut command: Command, dir: &Path, limit: Duration) -> Output {
    let (out_path, err_path) = (dir.join("stdout.txt"), dir.join("stderr.txt"));
    let mut child = command
        .stdout(Stdio::from(std::fs::File::create(&out_path).unwrap()))
        .stderr(Stdio::from(std::fs::File::create(&err_path).unwrap()))
        .spawn()
        .expect("rampart starts");
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait works") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "rampart demo did not finish within {limit:?}; output so far:\n{}\n{}",
                std::fs::read_to_string(&out_path).unwrap_or_default(),
                std::fs::read_to_string(&err_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    Output {
        status,
        stdout: std::fs::read(&out_path).unwrap_or_default(),
        stderr: std::fs::read(&err_path).unwrap_or_default(),
    }
}

fn of<'a>(decisions: &'a [Decision], entity: &str) -> Vec<&'a Decision> {
    decisions.iter().filter(|d| d.entity == entity).collect()
}

#[test]
fn the_demo_tells_the_whole_story() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut command = rampart();
    command
        .args(["demo", "--exit", "--speed", "2000", "--seed", "7"])
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data);
    let out = run_with_limit(command, tmp.path(), Duration::from_secs(240));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("The story is complete"), "{stdout}");
    assert!(stdout.contains(&format!(
        "rampart serve --config {}",
        data.join("demo.toml").display()
    )));

    let store = SqliteStore::open(&data).unwrap();
    let decisions = store.decisions(None, 10_000).unwrap();
    let log = || {
        decisions
            .iter()
            .map(|d| format!("{} {} {}: {}", d.entity, d.action, d.to_state, d.reason))
            .collect::<Vec<_>>()
            .join("\n")
    };

    // The bad candidate: rolled back by a gate, never at 100%.
    let fraud = of(&decisions, "fraud-v2");
    let rollback = fraud
        .iter()
        .find(|d| d.action == "rollback")
        .unwrap_or_else(|| panic!("fraud-v2 was not rolled back:\n{}", log()));
    assert_eq!(rollback.actor, "controller");
    assert!(rollback.reason.contains("harm"), "{}", rollback.reason);
    assert!(
        fraud
            .iter()
            .all(|d| d.action != "complete" && !d.to_state.contains("100%")),
        "{}",
        log()
    );

    // The good candidate: every stage passed by the gates, then completed.
    let recs = of(&decisions, "recs-v2");
    let actions: Vec<&str> = recs.iter().map(|d| d.action.as_str()).collect();
    assert_eq!(
        actions,
        ["advance", "advance", "advance", "complete"],
        "{}",
        log()
    );
    assert!(recs.iter().all(|d| d.actor == "controller"));
    assert!(recs[2].to_state.contains("100%"), "{}", recs[2].to_state);

    // The bake-off: neural (the ranker with the least noise) is the winner ...
    let bakeoff = of(&decisions, "search-bakeoff");
    let winner = bakeoff
        .iter()
        .find(|d| d.action == "winner")
        .unwrap_or_else(|| panic!("no winner:\n{}", log()));
    assert_eq!(winner.evidence["verdict"]["verdict"], "winner");
    assert_eq!(winner.evidence["verdict"]["variant"], "neural");
    // ... handed to search-ship, which started with it as its candidate.
    let ship = of(&decisions, "search-ship");
    let start = ship
        .iter()
        .find(|d| d.action == "start")
        .unwrap_or_else(|| panic!("search-ship did not start:\n{}", log()));
    assert_eq!(start.actor, "experiment:search-bakeoff");
    assert!(start.reason.contains("neural"), "{}", start.reason);
    assert!(start.ts >= winner.ts);

    // Every decision is in the summary, and the config the demo ran is there to read.
    for d in &decisions {
        assert!(
            stdout.contains(&format!("{} {}:", d.entity, d.action)),
            "{} {} missing from the summary:\n{stdout}",
            d.entity,
            d.action
        );
    }
    let config = std::fs::read_to_string(data.join("demo.toml")).unwrap();
    assert!(!config.contains(":9301\""), "the toy ports are filled in");
    rampart_core::config::load_file(&data.join("demo.toml")).unwrap_or_else(|e| panic!("{e}"));
    drop(store);

    // The fraud scorer's latency and errors came from the model proxy: its summary, folded from
    // the stored events after a restart, has calls of both variants, and v2's failures and slow
    // tail that the gates saw. The rollback's numbers read the same events.
    let served = serve(
        &data.join("demo.toml"),
        &data,
        &tmp.path().join("serve.log"),
    );
    let summary = get_json(&format!("{}/v1/proxy/fraud-scorer", served.base));
    let variant = |name: &str| {
        summary["variants"]
            .as_array()
            .and_then(|vs| vs.iter().find(|v| v["name"] == name))
            .map(|v| v["calls"].clone())
            .unwrap_or_else(|| panic!("no {name} in {summary}"))
    };
    let (v1, v2) = (variant("v1"), variant("v2"));
    for calls in [&v1, &v2] {
        assert!(calls["responses"].as_u64().unwrap() > 0, "{summary}");
        assert!(
            calls["latency_ms"]["p99"].as_f64().unwrap() > 0.0,
            "{summary}"
        );
    }
    assert!(
        v1["responses"].as_u64().unwrap() > 20 * v2["responses"].as_u64().unwrap(),
        "v2 only ever had 1% of payments: {summary}"
    );
    let verdicts = rollback.evidence["verdicts"].as_array().unwrap();
    let cited: Vec<&str> = verdicts
        .iter()
        .filter_map(|v| v["metric"].as_str())
        .collect();
    assert!(
        cited.contains(&"failed_calls") && cited.contains(&"latency"),
        "{cited:?}"
    );
    // The gate that showed harm saw it in the proxy's events of v2.
    let failed: Vec<&str> = verdicts
        .iter()
        .filter(|v| v["outcome"] == "fail")
        .filter_map(|v| v["metric"].as_str())
        .collect();
    assert!(!failed.is_empty(), "{}", rollback.reason);
    for metric in failed {
        match metric {
            "failed_calls" => assert!(v2["errors"].as_u64().unwrap() > 0, "{summary}"),
            "latency" => assert!(
                v2["latency_ms"]["max"].as_f64().unwrap() > 50.0,
                "v2's slow tail: {summary}"
            ),
            _ => {}
        }
    }
    assert!(
        stdout.contains("Fraud scoring through rampart's model proxy"),
        "{stdout}"
    );
    served.stop();
}

#[test]
fn the_demo_refuses_a_directory_that_is_not_a_demos() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("notes.txt"), "keep me").unwrap();
    let out = rampart()
        .args(["demo", "--exit", "--data-dir"])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("is not empty and is not a previous demo's data directory"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("notes.txt")).unwrap(),
        "keep me"
    );
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 1);
}

#[test]
fn the_demo_refuses_a_speed_that_is_not_a_speed_up() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("never-created");
    for speed in ["0.5", "-3", "NaN"] {
        let out = rampart()
            .args(["demo", "--exit", &format!("--speed={speed}"), "--data-dir"])
            .arg(&data)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{speed}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("--speed: speed must be a number from 1 to 1000000"),
            "{speed}: {stderr}"
        );
    }
    assert!(!data.exists(), "nothing is created for a refused start");
}
