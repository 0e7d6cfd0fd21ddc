//! Webhooks of staged rollouts, received by small local HTTP servers: one that answers 200, one
//! that fails once before it answers (to see the retry), one that never answers (the controller
//! and the other webhooks carry on), and a Slack-format one that subscribes to two kinds only;
//! and webhook URLs and tokens kept out of the stored config versions.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::{
    blocking, command, decisions, error_of, eventually, rollout, send_as, Server,
};

/// A request body a receiver got, and when.
#[derive(Debug, Clone)]
struct Received {
    at: Instant,
    body: Value,
}

/// A local HTTP receiver on port 0 that records every POST body. It answers 500 to the first
/// `failures` requests and 200 after; a `silent` one accepts connections and never answers.
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    fn start(failures: usize, silent: bool) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("receiver binds");
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let got = Arc::new(Mutex::new(Vec::new()));
        let record = got.clone();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for (n, stream) in listener.incoming().enumerate() {
                let Ok(stream) = stream else { return };
                if silent {
                    record.lock().unwrap().push(Received {
                        at: Instant::now(),
                        body: Value::Null,
                    });
                    held.push(stream); // open, unread, unanswered
                    continue;
                }
                let status = if n < failures {
                    "500 Internal Server Error"
                } else {
                    "200 OK"
                };
                if let Some(body) = answer(stream, status) {
                    record.lock().unwrap().push(Received {
                        at: Instant::now(),
                        body,
                    });
                }
            }
        });
        Receiver { url, got }
    }

    fn bodies(&self) -> Vec<Value> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .map(|r| r.body.clone())
            .collect()
    }

    fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }
}

/// Reads one request (headers, then `content-length` bytes of JSON) and answers `status`.
fn answer(stream: TcpStream, status: &str) -> Option<Value> {
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut reader = BufReader::new(stream);
    let mut length = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().ok()?;
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    let mut stream = reader.into_inner();
    let reply = format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
    stream.write_all(reply.as_bytes()).ok()?;
    serde_json::from_slice(&body).ok()
}

/// `recs-v2` waits for approval after stage 1, spends 300 ms in stage 2 and completes after
/// stage 3; `search-v2` is there to be paused and rolled back.
fn config(all: &str, flaky: &str, silent: &str, slack: &str) -> String {
    format!(
        r#"
[server]
tick = "100ms"

[[models]]
name = "recs"
variants = [{{ name = "v1" }}, {{ name = "v2" }}]

[[models]]
name = "search"
variants = [{{ name = "bm25" }}, {{ name = "neural" }}]

[[rollouts]]
name = "recs-v2"
model = "recs"
baseline = "v1"
candidate = "v2"
stages = [
  {{ traffic = 10, approval = "manual" }},
  {{ traffic = 50, min_duration = "300ms" }},
  {{ traffic = 100 }},
]

[[rollouts]]
name = "search-v2"
model = "search"
baseline = "bm25"
candidate = "neural"
stages = [{{ traffic = 20, min_duration = "1h" }}, {{ traffic = 100 }}]

[[webhooks]]
url = "{silent}"

[[webhooks]]
url = "{all}"

[[webhooks]]
url = "{flaky}"
events = ["approval-needed"]

[[webhooks]]
url = "{slack}"
events = ["rolled-back", "completed"]
format = "slack"
"#
    )
}

/// The decision with `action` in an entity's log.
fn decision(base: &str, entity: &str, action: &str) -> Value {
    decisions(base, entity)
        .into_iter()
        .find(|d| d["action"] == action)
        .unwrap_or_else(|| panic!("no {action} decision for {entity}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn webhooks_get_every_transition_retry_failures_and_never_block_the_controller() {
    let all = Receiver::start(0, false);
    let flaky = Receiver::start(1, false);
    let silent = Receiver::start(0, true);
    let slack = Receiver::start(0, false);
    let server = Server::start(&config(&all.url, &flaky.url, &silent.url, &slack.url)).await;
    let base = server.base.clone();
    blocking(move || {
        eventually(10, "approval needed", || {
            (all.bodies().len() == 1).then_some(())
        });
        assert_eq!(rollout(&base, "recs-v2")["status"], "awaiting-approval");
        // The silent receiver gets the first notification and holds it: the others did not wait.
        // (Each receiver has its own delivery thread, so it may arrive a moment after `all`'s.)
        eventually(10, "the silent receiver's request", || {
            (silent.received().len() == 1).then_some(())
        });

        assert_eq!(command(&base, "search-v2", "pause", "alice", "a look").status, 200);
        assert_eq!(command(&base, "search-v2", "rollback", "alice", "too slow").status, 200);
        assert_eq!(command(&base, "recs-v2", "approve", "bob", "ship it").status, 200);
        eventually(10, "completion", || {
            (rollout(&base, "recs-v2")["status"] == "completed").then_some(())
        });
        let bodies = eventually(10, "six notifications", || {
            let b = all.bodies();
            (b.len() == 6).then_some(b)
        });

        let kinds: Vec<&str> = bodies.iter().map(|b| b["kind"].as_str().unwrap()).collect();
        assert_eq!(
            kinds,
            ["approval-needed", "paused", "rolled-back", "stage-changed", "stage-changed", "completed"]
        );
        let approval = decision(&base, "recs-v2", "await-approval");
        assert_eq!(
            bodies[0],
            json!({
                "kind": "approval-needed",
                "rollout": "recs-v2",
                "model": "recs",
                "state": "awaiting-approval (stage 1/3, 10%)",
                "traffic": 10.0,
                "reason": approval["reason"],
                "actor": "controller",
                "decision_id": approval["id"],
            })
        );
        let rolled_back = decision(&base, "search-v2", "rollback");
        assert_eq!(
            bodies[2],
            json!({
                "kind": "rolled-back",
                "rollout": "search-v2",
                "model": "search",
                "state": "rolled-back",
                "traffic": 0.0,
                "reason": "too slow",
                "actor": "alice",
                "decision_id": rolled_back["id"],
            })
        );
        assert_eq!(bodies[1]["state"], "paused (stage 1/2, 20%)");
        let approved = decision(&base, "recs-v2", "approve");
        assert_eq!(
            (&bodies[3]["state"], &bodies[3]["actor"], &bodies[3]["reason"], &bodies[3]["decision_id"]),
            (&json!("running (stage 2/3, 50%)"), &json!("bob"), &json!("ship it"), &approved["id"])
        );
        assert_eq!(bodies[4]["state"], "running (stage 3/3, 100%)");
        assert_eq!(bodies[4]["actor"], "controller");
        let completed = decision(&base, "recs-v2", "complete");
        assert_eq!(
            (&bodies[5]["state"], &bodies[5]["traffic"], &bodies[5]["decision_id"]),
            (&json!("completed"), &json!(100.0), &completed["id"])
        );

        // Refused once, delivered on the retry: the same body twice, half a second apart.
        let tries = eventually(10, "the retry", || {
            let r = flaky.received();
            (r.len() == 2).then_some(r)
        });
        assert_eq!(tries[0].body, tries[1].body);
        assert_eq!(tries[0].body, bodies[0]);
        let gap = tries[1].at - tries[0].at;
        assert!(gap >= Duration::from_millis(400), "retried after {gap:?}");

        // Slack format, and only the two kinds subscribed to.
        let texts = eventually(10, "two chat messages", || {
            let b = slack.bodies();
            (b.len() == 2).then_some(b)
        });
        assert_eq!(
            texts[0],
            json!({"text": "rampart: rollout search-v2 of search was rolled back: rolled-back (too slow)"})
        );
        let done = texts[1]["text"].as_str().unwrap();
        assert!(
            done.starts_with("rampart: rollout recs-v2 of recs completed: completed ("),
            "{done}"
        );
        assert_eq!(texts[1].as_object().unwrap().len(), 1);

        // Still one connection held by the silent receiver, and nothing more was waited for.
        assert_eq!(silent.received().len(), 1);
    })
    .await;
}

/// An admin token and a webhook URL given inline, a second webhook URL in a file: both receivers
/// get the rollout's notifications, yet no stored config version, data file or API answer holds
/// either secret; reloads still make new versions, move the file's webhook to the URL the file
/// names now, and refuse a URL file that is gone.
#[tokio::test(flavor = "multi_thread")]
async fn webhook_urls_and_tokens_stay_out_of_stored_config_versions() {
    const TOKEN: &str = "admin-secret-token-5b1e77";
    const PATH_SECRET: &str = "slack-secret-path-91c2";
    const MARKER: &str = "history-marker-7f3a";
    let inline = Receiver::start(0, false);
    let from_file = Receiver::start(0, false);
    let rotated = Receiver::start(0, false);
    let rotated_url = format!("{}/T2/B2/rotated-secret-path-a3b9", rotated.url);
    let inline_url = format!("{}/T0/B0/{PATH_SECRET}", inline.url);
    let file_url = format!("{}/T1/B1/file-secret-path-0d4f", from_file.url);
    let config = move |extra: &str| {
        format!(
            r#"# {MARKER}{extra}
[server]
tick = "100ms"

[auth]
tokens = [{{ token = "{TOKEN}", role = "admin" }}]

[[models]]
name = "recs"
variants = [{{ name = "v1" }}, {{ name = "v2" }}]

[[rollouts]]
name = "recs-v2"
model = "recs"
baseline = "v1"
candidate = "v2"
stages = [{{ traffic = 50 }}, {{ traffic = 100 }}]

[[models]]
name = "search"
variants = [{{ name = "a" }}, {{ name = "b" }}]

[[rollouts]]
name = "search-b"
model = "search"
baseline = "a"
candidate = "b"
stages = [{{ traffic = 10, min_duration = "1h" }}, {{ traffic = 100 }}]

[[webhooks]]
url = "{inline_url}"

[[webhooks]]
url_file = "hook.url"
"#
        )
    };
    let first = config("");
    let file_url_written = file_url.clone();
    let mut server = Server::start_with(&first, move |dir| {
        std::fs::write(dir.join("hook.url"), format!("{file_url_written}\n")).unwrap();
    })
    .await;
    let base = server.base.clone();
    let config_path = server.config_path.clone();
    let secrets = [
        TOKEN,
        PATH_SECRET,
        "file-secret-path-0d4f",
        "rotated-secret-path-a3b9",
    ];
    let answers = blocking(move || {
        let get = |path: &str| send_as("GET", &format!("{base}{path}"), None, Some(TOKEN));
        let reload = || {
            send_as(
                "POST",
                &format!("{base}/v1/config/reload"),
                None,
                Some(TOKEN),
            )
        };
        // Both URLs were read and used.
        for (name, r) in [("inline", &inline), ("file", &from_file)] {
            let bodies = eventually(10, name, || {
                let b = r.bodies();
                (b.len() == 2).then_some(b)
            });
            assert_eq!(bodies[1]["kind"], "completed", "{name}: {bodies:?}");
        }
        let mut answers = Vec::new();
        // An unchanged file is the same version; a changed one is the next.
        let same = reload();
        assert_eq!(same.json["config_version"], 1, "{}", same.text);
        // The URL file now names another receiver: the reload replaces the webhooks.
        std::fs::write(config_path.with_file_name("hook.url"), &rotated_url).unwrap();
        std::fs::write(&config_path, config("\n# a second look")).unwrap();
        let changed = reload();
        assert_eq!(changed.json["config_version"], 2, "{}", changed.text);
        let pause = send_as(
            "POST",
            &format!("{base}/v1/rollouts/search-b/pause"),
            Some(r#"{"actor": "alice", "reason": "a look"}"#),
            Some(TOKEN),
        );
        assert_eq!(pause.status, 200, "{}", pause.text);
        let paused = eventually(10, "the pause at the new receiver", || {
            let b = rotated.bodies();
            (b.len() == 1).then_some(b)
        });
        assert_eq!(paused[0]["kind"], "paused");
        assert_eq!(paused[0]["rollout"], "search-b");
        eventually(10, "the pause at the inline receiver", || {
            (inline.bodies().len() == 3).then_some(())
        });
        assert_eq!(
            from_file.bodies().len(),
            2,
            "the replaced receiver gets nothing new"
        );
        // The file the URL is read from is gone: the reload is refused, naming the field.
        std::fs::remove_file(config_path.with_file_name("hook.url")).unwrap();
        std::fs::write(&config_path, config("\n# a third look")).unwrap();
        let refused = reload();
        let e = error_of(&refused, 422, "invalid_config");
        assert_eq!(e["field"], "webhooks", "{}", refused.text);
        assert!(
            e["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("webhooks[1].url_file: cannot read ")),
            "{}",
            refused.text
        );
        answers.extend([same.text, changed.text, refused.text]);
        for path in [
            "/v1/status",
            "/v1/rollouts",
            "/v1/rollouts/recs-v2",
            "/v1/decisions?entity=recs-v2",
            "/metrics",
        ] {
            let r = get(path);
            assert_eq!(r.status, 200, "{path}: {}", r.text);
            answers.push(r.text);
        }
        answers
    })
    .await;
    for text in &answers {
        for s in secrets {
            assert!(!text.contains(s), "an API answer holds {s}: {text}");
        }
    }
    let data_dir = server.data_dir.clone();
    server.stop().await;

    // The latest stored version is the file as written, with the inline secrets replaced.
    let store = rampart_store::SqliteStore::open(&data_dir).unwrap();
    let (version, text) = rampart_store::Store::latest_config(&store)
        .unwrap()
        .unwrap();
    assert_eq!(version, 2);
    assert!(
        text.starts_with(&format!("# {MARKER}\n# a second look\n")),
        "{text}"
    );
    assert!(
        text.contains("tokens = [{ token = \"<redacted>\", role = \"admin\" }]"),
        "{text}"
    );
    assert!(text.contains("url = \"<redacted>\""), "{text}");
    assert!(text.contains("url_file = \"hook.url\""), "{text}");
    drop(store);
    // No byte of any data file holds a secret, though the stored text is there (the marker).
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(&data_dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            bytes.extend(std::fs::read(&path).unwrap());
        }
    }
    let holds = |needle: &str| bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
    assert!(
        holds(MARKER),
        "the config versions are in the data directory"
    );
    for s in secrets {
        assert!(!holds(s), "a data file holds {s}");
    }
}
