//! Gates on PromQL metrics against a real Prometheus (peers convention: skipped when
//! `prometheus` is not installed, unless `RAMPART_REQUIRE_PEERS` is set). A small HTTP target on
//! port 0 exposes `app_latency_seconds{model,variant}` with values the test sets; Prometheus scrapes
//! it every second; rampart ticks every 200 ms with four rollouts on four models:
//! - `good-ship`: the candidate is under the limit and close to the control: it passes every
//!   stage, with the value Prometheus reports in its verdicts;
//! - `bad-ship`: the candidate is over the limit: the gate fails and the rollout rolls back;
//! - `ghost-ship`: its query matches no series: inconclusive at every look, never passes, and is
//!   not a provider error;
//! - `wait-ship`: its candidate has no series either, until Prometheus is stopped: then every
//!   query fails and the rollout holds after the consecutive-error limit.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::support::{blocking, decisions, eventually, get, peer, rollout, Server};

/// A target that answers every request with the exposition of the current values.
struct Target {
    addr: String,
    values: Arc<Mutex<BTreeMap<(String, String), f64>>>,
}

impl Target {
    fn start() -> Target {
        let listener = TcpListener::bind("127.0.0.1:0").expect("target binds");
        let addr = listener.local_addr().unwrap().to_string();
        let values: Arc<Mutex<BTreeMap<(String, String), f64>>> = Arc::default();
        let shown = values.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut line = String::new();
                // The request line and headers, up to the blank line.
                while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
                    if line == "\r\n" || line == "\n" {
                        break;
                    }
                    line.clear();
                }
                let mut body = String::from("# TYPE app_latency_seconds gauge\n");
                for ((model, variant), v) in shown.lock().unwrap().iter() {
                    body.push_str(&format!(
                        "app_latency_seconds{{model=\"{model}\",variant=\"{variant}\"}} {v}\n"
                    ));
                }
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        Target { addr, values }
    }

    fn set(&self, model: &str, variant: &str, value: f64) {
        self.values
            .lock()
            .unwrap()
            .insert((model.to_string(), variant.to_string()), value);
    }
}

/// A Prometheus process on a free port, scraping `target` every second; killed on drop.
struct Prometheus {
    child: Option<Child>,
    url: String,
}

impl Prometheus {
    fn start(program: &Path, dir: &Path, target: &str) -> Prometheus {
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: app\n    static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
        let child = Command::new(program)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("prometheus starts");
        Prometheus {
            child: Some(child),
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    /// The value of an instant query, once Prometheus answers it with one sample.
    fn value(&self, query: &str) -> Option<f64> {
        let answer = ureq::get(&format!("{}/api/v1/query", self.url))
            .query("query", query)
            .call()
            .ok()?
            .into_string()
            .ok()?;
        let json: Value = serde_json::from_str(&answer).ok()?;
        json["data"]["result"][0]["value"][1].as_str()?.parse().ok()
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        self.stop();
    }
}

fn config(prometheus_url: &str) -> String {
    let mut text = format!(
        r#"
[server]
tick = "200ms"

[prometheus]
url = "{prometheus_url}"
timeout = "2s"

[[metrics]]
name = "latency"
kind = "prometheus"
query = 'max(app_latency_seconds{{model="{{{{model}}}}",variant="{{{{variant}}}}"}})'
goal = "decrease"
"#
    );
    for (model, gates) in [
        ("good", GATES),
        ("bad", GATES),
        ("ghost", GATES),
        ("wait", GATES),
    ] {
        text.push_str(&format!(
            r#"
[[models]]
name = "{model}"
variants = [{{ name = "v1" }}, {{ name = "v2" }}]

[[rollouts]]
name = "{model}-ship"
model = "{model}"
baseline = "v1"
candidate = "v2"
stages = [{{ traffic = 10 }}, {{ traffic = 50 }}, {{ traffic = 100 }}]
gates = {gates}
"#
        ));
    }
    text
}

/// At most 250 ms, and at most 10% above the control.
const GATES: &str = r#"[
  { metric = "latency", max = 0.25 },
  { metric = "latency", compare = "control", max_worsening = "10%" },
]"#;

fn status(r: &Value) -> &str {
    r["status"].as_str().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn gates_read_prometheus_and_act_on_what_it_reports() {
    let Some(program) = peer("prometheus") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let target = Target::start();
    target.set("good", "v1", 0.19);
    target.set("good", "v2", 0.2);
    target.set("bad", "v1", 0.2);
    target.set("bad", "v2", 0.4);
    target.set("wait", "v1", 0.2); // the candidate has no series yet
    let mut prometheus = Prometheus::start(&program, dir.path(), &target.addr);
    let ready = {
        let url = prometheus.url.clone();
        blocking(move || {
            let p = Prometheus { child: None, url };
            eventually(60, "Prometheus to scrape the target", || {
                p.value(r#"app_latency_seconds{model="bad",variant="v2"}"#)
            })
        })
        .await
    };
    assert_eq!(ready, 0.4);

    let mut server = Server::start(&config(&prometheus.url)).await;
    let base = server.base.clone();

    let (good, bad, ghost) = {
        let base = base.clone();
        blocking(move || {
            let good = eventually(30, "good-ship to complete", || {
                let r = rollout(&base, "good-ship");
                (status(&r) == "completed").then_some(r)
            });
            let bad = eventually(30, "bad-ship to roll back", || {
                let r = rollout(&base, "bad-ship");
                (status(&r) == "rolled-back").then_some(r)
            });
            // Looks keep coming; the ghost's never pass and are no provider errors.
            let first = rollout(&base, "ghost-ship")["last_look"]["at"]
                .as_i64()
                .unwrap_or(0);
            let ghost = eventually(30, "ghost-ship to be looked at five more times", || {
                let r = rollout(&base, "ghost-ship");
                let at = r["last_look"]["at"].as_i64().unwrap_or(0);
                (at >= first + 1_000).then_some(r)
            });
            (good, bad, ghost)
        })
        .await
    };

    // The good candidate passed every stage on the values Prometheus reports.
    let log = {
        let base = base.clone();
        blocking(move || decisions(&base, "good-ship")).await
    };
    let advance = log
        .iter()
        .find(|d| d["action"] == "advance")
        .unwrap_or_else(|| panic!("an advance in {log:?}"));
    let verdicts = &advance["evidence"]["verdicts"];
    assert_eq!(verdicts[0]["outcome"], "pass", "{verdicts}");
    assert_eq!(verdicts[0]["numbers"]["estimate"], 0.2);
    assert_eq!(verdicts[0]["numbers"]["threshold"], 0.25);
    let read = &verdicts[0]["reads"][0];
    assert_eq!(
        read["query"],
        r#"max(app_latency_seconds{model="good",variant="v2"})"#
    );
    assert_eq!(read["reading"]["status"], "value");
    assert_eq!(read["reading"]["value"], 0.2);
    assert_eq!(verdicts[1]["outcome"], "pass");
    assert_eq!(verdicts[1]["numbers"]["control_estimate"], 0.19);
    assert_eq!(
        verdicts[1]["reads"][1]["query"],
        r#"max(app_latency_seconds{model="good",variant="v1"})"#
    );
    assert_eq!(good["traffic"], 100.0);

    // The bad candidate failed its limit and was rolled back, with the numbers in the log.
    assert!(
        bad["reason"]
            .as_str()
            .is_some_and(|r| r.contains("candidate 0.4, at most 0.25 allowed")),
        "{bad}"
    );
    let log = {
        let base = base.clone();
        blocking(move || decisions(&base, "bad-ship")).await
    };
    let rollback = log.last().expect("a decision");
    assert_eq!(rollback["action"], "rollback");
    assert_eq!(rollback["evidence"]["verdicts"][0]["outcome"], "fail");
    assert_eq!(
        rollback["evidence"]["verdicts"][0]["reads"][0]["reading"]["value"],
        0.4
    );

    // A series that does not exist is inconclusive and never passes, and is no provider error.
    assert_eq!(status(&ghost), "running", "{ghost}");
    assert_eq!(ghost["stage"], 0);
    let look = &ghost["last_look"];
    assert_eq!(look["verdicts"][0]["outcome"], "inconclusive", "{look}");
    assert_eq!(
        look["verdicts"][0]["reads"][0]["reading"]["status"],
        "no_value"
    );
    assert!(
        look["verdicts"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("no series")),
        "{look}"
    );
    assert!(look.get("provider_error").is_none(), "{look}");

    // /metrics shows the verdicts and the queries.
    let metrics = {
        let base = base.clone();
        blocking(move || get(&format!("{base}/metrics")).text).await
    };
    assert!(
        metrics.contains(
            "rampart_gate_verdict{rollout=\"ghost-ship\",gate=\"0\",metric=\"latency\",outcome=\"inconclusive\"} 1"
        ),
        "{metrics}"
    );
    assert!(metrics.contains("rampart_provider_errors_total{provider=\"prometheus\"} 0"));

    // Prometheus stops: every query fails, and the waiting rollout holds after the limit.
    prometheus.stop();
    let wait = {
        let base = base.clone();
        blocking(move || {
            eventually(30, "wait-ship to hold on provider errors", || {
                let r = rollout(&base, "wait-ship");
                (status(&r) == "paused").then_some(r)
            })
        })
        .await
    };
    let reason = wait["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("the metric provider failed 4 looks in a row")
            && reason.contains("cannot reach Prometheus"),
        "{reason}"
    );
    assert_eq!(wait["stage"], 0, "it never passed");
    let metrics = blocking(move || get(&format!("{base}/metrics")).text).await;
    let errors: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("rampart_provider_errors_total{provider=\"prometheus\"} "))
        .and_then(|v| v.parse().ok())
        .expect("the provider error counter");
    assert!(errors >= 4, "{errors} provider errors counted");
    server.stop().await;
}

/// The alert rules and the scrape config of docs/prometheus.md pass `promtool`.
#[test]
fn documented_rules_and_scrape_config_pass_promtool() {
    let Some(promtool) = peer("promtool") else {
        return;
    };
    let doc = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/prometheus.md"),
    )
    .expect("docs/prometheus.md");
    let blocks: Vec<&str> = doc
        .split("```yaml\n")
        .skip(1)
        .map(|rest| rest.split("```").next().unwrap_or_default())
        .collect();
    assert_eq!(blocks.len(), 2, "a scrape config and a rules file");
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "0123456789abcdef\n").unwrap();
    let scrape = dir.path().join("prometheus.yml");
    std::fs::write(
        &scrape,
        blocks[0].replace(
            "/etc/prometheus/rampart-read.token",
            &token.display().to_string(),
        ),
    )
    .unwrap();
    let rules = dir.path().join("rules.yml");
    std::fs::write(&rules, blocks[1]).unwrap();
    for args in [
        ["check", "config", scrape.to_str().unwrap()],
        ["check", "rules", rules.to_str().unwrap()],
    ] {
        let out = Command::new(&promtool)
            .args(args)
            .output()
            .expect("promtool runs");
        assert!(
            out.status.success(),
            "promtool {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = Command::new(&promtool)
        .args(["check", "rules", rules.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("5 rules found"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
