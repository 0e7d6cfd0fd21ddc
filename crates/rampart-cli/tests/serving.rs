//! `rampart serve` as an operator runs it: started on a large store it answers `/healthz` at once
//! and `/readyz` 503 `not_ready` until the store is replayed; its `/metrics` passes
//! `promtool check metrics` and counts the requests made; with `--log-format json` every request's
//! id appears in its JSON log lines; a closed stdout does not stop it.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rampart_core::{Exposure, Reason, Record};
use rampart_store::{SqliteStore, Store};
use serde_json::Value;

use crate::support::{peer, rampart, serve_args};

const CONFIG: &str = r#"
[[models]]
name = "recs"
variants = [{ name = "a" }, { name = "b" }]

[[metrics]]
name = "hits"
kind = "count"
event = "hit"

[[experiments]]
name = "exp"
model = "recs"
variants = ["a", "b"]
primary = "hits"
"#;

/// Records in the start-up store: 10 million in a release build (`cargo test --release`; written
/// in about 10 s, replayed in about 8 s on a 2-core machine); 1 million in the debug build CI
/// runs (written in about 4 s, and still seconds for the debug binary to replay). `RAMPART_STARTUP_RECORDS` sets another size.
fn startup_records() -> u64 {
    std::env::var("RAMPART_STARTUP_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if cfg!(debug_assertions) {
            1_000_000
        } else {
            10_000_000
        })
}

/// Writes `n` exposures of `exp` into a store at `dir`, in large transactions.
fn fill_store(dir: &Path, n: u64) {
    let store = SqliteStore::open(dir).expect("store opens");
    const BATCH: u64 = 100_000;
    let mut written = 0;
    while written < n {
        let batch: Vec<Record> = (written..(written + BATCH).min(n))
            .map(|i| {
                Record::Exposure(Exposure {
                    ts: 1_700_000_000_000 + i as i64,
                    model: "recs".into(),
                    unit: format!("u{}", i % 500_000),
                    variant: if i % 2 == 0 { "a" } else { "b" }.into(),
                    reason: Reason::Experiment,
                    entity: Some((rampart_core::EntityKind::Experiment, "exp".into())),
                    assignment_id: i,
                    segments: Default::default(),
                })
            })
            .collect();
        written += batch.len() as u64;
        store.append(&batch).expect("batch stored");
    }
}

/// A port nobody listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Status and JSON body of a GET with a short timeout; `None` when nothing answered.
fn probe(url: &str) -> Option<(u16, Value)> {
    let resp = match ureq::get(url).timeout(Duration::from_millis(500)).call() {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(_) => return None,
    };
    let status = resp.status();
    Some((status, resp.into_json().unwrap_or(Value::Null)))
}

#[test]
fn a_large_store_is_live_at_once_and_ready_once_replayed() {
    let n = startup_records();
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let config = dir.path().join("rampart.toml");
    std::fs::write(&config, CONFIG).expect("config written");
    let filled = Instant::now();
    fill_store(&data, n);
    println!("{n} records written in {:?}", filled.elapsed());

    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let log = dir.path().join("serve.log");
    let started = Instant::now();
    let mut child = rampart()
        .arg("serve")
        .arg("--config")
        .arg(&config)
        .arg("--data-dir")
        .arg(&data)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("rampart serve starts");
    let mut kill = scopeguard(&mut child);

    // Live within a second of the process starting, long before the store is replayed.
    let live_after = loop {
        if let Some((200, body)) = probe(&format!("{base}/healthz")) {
            assert_eq!(body["status"], "ok");
            break started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "no /healthz within 1 s; log:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    println!("/healthz answered {live_after:?} after the process started");

    // Not ready yet, in the documented error shape; the API answers the same until it is.
    let (status, body) = probe(&format!("{base}/readyz")).expect("readyz answers");
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "not_ready", "{body}");
    let (status, body) = probe(&format!("{base}/v1/status")).expect("status answers");
    assert_eq!(
        (status, &body["error"]["code"]),
        (503, &Value::from("not_ready"))
    );

    // Then ready, with everything replayed, and the same probes keep answering meanwhile.
    let mut not_ready_answers = 0;
    let ready_after = loop {
        match probe(&format!("{base}/readyz")) {
            Some((200, body)) => {
                assert_eq!(body["status"], "ready");
                break started.elapsed();
            }
            Some((503, body)) => {
                assert_eq!(body["error"]["code"], "not_ready");
                not_ready_answers += 1;
            }
            other => panic!("/readyz during start-up: {other:?}"),
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "not ready after 300 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    println!("/readyz 200 {ready_after:?} after the process started ({not_ready_answers} not_ready answers before)");
    assert!(ready_after > live_after);
    let (status, body) = probe(&format!("{base}/v1/status")).expect("status answers");
    assert_eq!(status, 200, "{body}");
    let logs = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        logs.contains(&format!("records={n}")),
        "every record replayed; log:\n{logs}"
    );
    kill.stop();
}

/// Kills the server if the test fails before stopping it.
struct Guard<'a>(&'a mut std::process::Child);

fn scopeguard(child: &mut std::process::Child) -> Guard<'_> {
    Guard(child)
}

impl Guard<'_> {
    /// SIGTERM, and a clean exit.
    fn stop(&mut self) {
        let ok = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "SIGTERM sent");
        let status = self.0.wait().expect("server exits");
        assert!(status.success(), "clean shutdown: {status}");
    }
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

#[test]
fn metrics_pass_promtool_and_json_logs_carry_the_request_id() {
    let promtool = Path::new("/usr/bin/promtool");
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("rampart.toml");
    std::fs::write(&config, CONFIG).expect("config written");
    let log = dir.path().join("serve.log");
    let served = serve_args(
        &config,
        &dir.path().join("data"),
        &log,
        &[("RUST_LOG", "info,rampart::http=debug")],
        &["--log-format", "json"],
    );
    let base = served.base.clone();

    let assigns = 5;
    for i in 0..assigns {
        let resp = ureq::post(&format!("{base}/v1/assign"))
            .set("x-request-id", &format!("req-assign-{i}"))
            .send_json(serde_json::json!({"model": "recs", "unit": format!("u{i}")}))
            .expect("assign answers");
        assert_eq!(resp.status(), 200);
        assert_eq!(
            resp.header("x-request-id"),
            Some(format!("req-assign-{i}").as_str())
        );
    }
    let bad = ureq::post(&format!("{base}/v1/assign"))
        .set("x-request-id", "req-bad")
        .send_json(serde_json::json!({"model": "nope", "unit": "u"}));
    assert!(matches!(bad, Err(ureq::Error::Status(400, _))));
    let scrape = ureq::get(&format!("{base}/metrics"))
        .call()
        .expect("metrics answer")
        .into_string()
        .expect("metrics text");

    let sample = |series: &str| -> Option<f64> {
        scrape
            .lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    };
    let name = "rampart_http_request_duration_seconds";
    assert_eq!(
        sample(&format!(
            "{name}_count{{method=\"POST\",route=\"/v1/assign\",status=\"2xx\"}}"
        )),
        Some(f64::from(assigns)),
        "{scrape}"
    );
    assert_eq!(
        sample(&format!(
            "{name}_count{{method=\"POST\",route=\"/v1/assign\",status=\"4xx\"}}"
        )),
        Some(1.0),
        "{scrape}"
    );
    let build_info = scrape
        .lines()
        .find(|l| l.starts_with("rampart_build_info{"))
        .unwrap_or_else(|| panic!("no rampart_build_info in\n{scrape}"));
    assert!(
        build_info.contains(&format!("version=\"{}\"", env!("CARGO_PKG_VERSION"))),
        "{build_info}"
    );
    assert!(build_info.contains("rustc=\"1."), "{build_info}");
    assert!(build_info.ends_with(" 1"), "{build_info}");
    for process in [
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_start_time_seconds",
    ] {
        let v = sample(process).unwrap_or_else(|| panic!("no {process} in\n{scrape}"));
        assert!(v > 0.0, "{process} {v}");
    }
    // CPU time is counted in clock ticks of 10 ms: a young, idle server may not have used one.
    let cpu = sample("process_cpu_seconds_total")
        .unwrap_or_else(|| panic!("no process_cpu_seconds_total in\n{scrape}"));
    assert!(
        (0.0..60.0).contains(&cpu),
        "process_cpu_seconds_total {cpu}"
    );

    if peer("promtool", promtool.exists()) {
        let mut check = Command::new(promtool)
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("promtool runs");
        use std::io::Write;
        check
            .stdin
            .take()
            .expect("stdin")
            .write_all(scrape.as_bytes())
            .expect("scrape piped");
        let out = check.wait_with_output().expect("promtool finishes");
        let report = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "promtool: {report}");
        assert_eq!(report.trim(), "", "promtool found problems:\n{report}");
    }

    // Every line is JSON; the request's lines carry its id.
    let logs = served.logs();
    let lines: Vec<Value> = logs
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let of_request = |id: &str| -> Vec<&Value> {
        lines
            .iter()
            .filter(|l| l["span"]["request_id"] == id)
            .collect()
    };
    let bad_lines = of_request("req-bad");
    assert!(!bad_lines.is_empty(), "no log line of req-bad in\n{logs}");
    assert!(
        bad_lines.iter().any(|l| l["fields"]["status"] == 400),
        "{bad_lines:?}"
    );
    for i in 0..assigns {
        assert!(
            !of_request(&format!("req-assign-{i}")).is_empty(),
            "no log line of req-assign-{i} in\n{logs}"
        );
    }
    served.stop();
}

#[test]
fn serve_refuses_a_timeout_flag_out_of_range() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("rampart.toml");
    std::fs::write(&config, CONFIG).expect("config written");
    let out = rampart()
        .arg("serve")
        .arg("--config")
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args(["--listen", "127.0.0.1:0", "--header-timeout", "2h"])
        .output()
        .expect("rampart runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("server.header_timeout") && err.contains("must be from 100ms to 1h, found 2h"),
        "{err}"
    );
    // Nothing was opened.
    assert!(!dir.path().join("data").exists());
}

/// A server whose stdout nobody reads any more (started as `rampart serve | head -0`) keeps
/// serving: the announcement is not worth the service.
#[test]
fn a_closed_stdout_does_not_stop_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("rampart.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = rampart()
        .arg("serve")
        .arg("--config")
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The reader goes away before the server has written anything.
    drop(child.stdout.take());
    let base = format!("http://127.0.0.1:{port}");
    crate::support::eventually(30, "the server answers", || {
        crate::support::http("GET", &format!("{base}/readyz"), None)
            .ok()
            .filter(|(status, _)| *status == 200)
    });
    std::thread::sleep(Duration::from_millis(300));
    assert!(child.try_wait().unwrap().is_none(), "the server exited");
    let (status, _) = crate::support::http("GET", &format!("{base}/healthz"), None).unwrap();
    assert_eq!(status, 200);
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let _ = child.wait();
}
