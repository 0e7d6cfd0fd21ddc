//! Outbound HTTPS of the real binary: a certificate authority made in the test signs a
//! certificate for `localhost` and `127.0.0.1`; local HTTPS servers (a webhook receiver, a model
//! server, Prometheus with `--web.config.file`) present it; `rampart serve` trusts the CA through
//! `SSL_CERT_FILE` only. Webhook notifications arrive with their bodies, the proxy forwards to the
//! https model server, and a PromQL gate acts on the value Prometheus serves over TLS. A server
//! that trusts another CA fails those connections with an error that names the certificate.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{json, Value};

use crate::support::{eventually, get_json, http, peer, serve_with_env};

/// A CA and a server certificate it signed, as PEM files in `dir`, and the rustls server config
/// that presents that certificate.
struct Pki {
    ca_file: PathBuf,
    cert_file: PathBuf,
    key_file: PathBuf,
    server: Arc<rustls::ServerConfig>,
    ca_der: CertificateDer<'static>,
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl Pki {
    fn make(dir: &Path, name: &str) -> Pki {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(rcgen::DnType::CommonName, format!("{name} test CA"));
        ca.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        let ca = ca.self_signed(&ca_key).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let leaf =
            rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
                .unwrap()
                .signed_by(&key, &ca, &ca_key)
                .unwrap();
        let ca_file = dir.join(format!("{name}-ca.pem"));
        let cert_file = dir.join(format!("{name}-server.pem"));
        let key_file = dir.join(format!("{name}-server.key"));
        std::fs::write(&ca_file, ca.pem()).unwrap();
        std::fs::write(&cert_file, leaf.pem()).unwrap();
        std::fs::write(&key_file, key.serialize_pem()).unwrap();
        let server = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![leaf.der().clone()],
                PrivateKeyDer::Pkcs8(key.serialize_der().into()),
            )
            .unwrap();
        Pki {
            ca_file,
            cert_file,
            key_file,
            server: Arc::new(server),
            ca_der: ca.der().clone(),
        }
    }

    /// A client of the test's own that trusts this CA only (to wait for Prometheus).
    fn agent(&self) -> ureq::Agent {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca_der.clone()).unwrap();
        let config = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        ureq::AgentBuilder::new()
            .tls_config(Arc::new(config))
            .timeout(std::time::Duration::from_secs(5))
            .build()
    }
}

/// One request an HTTPS server got.
#[derive(Debug, Clone)]
struct Request {
    path: String,
    body: Value,
}

/// An HTTPS server on a loopback port: every request is recorded and answered 200 with
/// `answer(request)`, then the connection is closed. A failed handshake records nothing.
struct HttpsServer {
    port: u16,
    got: Arc<Mutex<Vec<Request>>>,
}

impl HttpsServer {
    fn start(config: Arc<rustls::ServerConfig>, answer: fn(&Request) -> Value) -> HttpsServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let got: Arc<Mutex<Vec<Request>>> = Arc::default();
        let record = got.clone();
        std::thread::spawn(move || {
            for tcp in listener.incoming() {
                let Ok(tcp) = tcp else { return };
                let config = config.clone();
                let record = record.clone();
                std::thread::spawn(move || {
                    let _ = tcp.set_read_timeout(Some(std::time::Duration::from_secs(10)));
                    let conn = rustls::ServerConnection::new(config).unwrap();
                    let tls = rustls::StreamOwned::new(conn, tcp);
                    if let Some((request, mut tls)) = read_request(tls) {
                        let body = answer(&request).to_string();
                        record.lock().unwrap().push(request);
                        let _ = write!(
                            tls,
                            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                            body.len()
                        );
                        tls.conn.send_close_notify();
                        let _ = tls.flush();
                    }
                });
            }
        });
        HttpsServer { port, got }
    }

    fn requests(&self) -> Vec<Request> {
        self.got.lock().unwrap().clone()
    }
}

type Tls = rustls::StreamOwned<rustls::ServerConnection, std::net::TcpStream>;

/// The request line, the headers and `content-length` bytes of JSON body.
fn read_request(tls: Tls) -> Option<(Request, Tls)> {
    let mut reader = BufReader::new(tls);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let path = line.split_whitespace().nth(1)?.to_string();
    let mut length = 0;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).ok()? == 0 {
            return None;
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().ok()?;
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
    Some((Request { path, body }, reader.into_inner()))
}

fn model_answer(request: &Request) -> Value {
    json!({"served_by": "v2-over-tls", "path": request.path, "echo": request.body})
}

fn receiver_answer(_: &Request) -> Value {
    json!({"ok": true})
}

/// A rollout that completes in two stages (notifying each), and a model whose only variant is an
/// https model server, for the proxy.
fn webhook_and_proxy_config(hook: &str, model: &str) -> String {
    format!(
        r#"
[server]
tick = "100ms"

[[models]]
name = "recs"
variants = [{{ name = "v1" }}, {{ name = "v2" }}]

[[models]]
name = "scorer"
unit = "request"
variants = [{{ name = "tls", endpoint = "{model}" }}]

[[rollouts]]
name = "recs-v2"
model = "recs"
baseline = "v1"
candidate = "v2"
stages = [{{ traffic = 50 }}, {{ traffic = 100 }}]

[[webhooks]]
url = "{hook}"
"#
    )
}

#[test]
fn webhooks_and_the_proxy_reach_https_servers_signed_by_a_ca_from_ssl_cert_file() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::make(dir.path(), "trusted");
    let other = Pki::make(dir.path(), "other");
    let receiver = HttpsServer::start(pki.server.clone(), receiver_answer);
    let model = HttpsServer::start(pki.server.clone(), model_answer);
    let config = dir.path().join("rampart.toml");
    std::fs::write(
        &config,
        webhook_and_proxy_config(
            &format!("https://127.0.0.1:{}/hook", receiver.port),
            &format!("https://localhost:{}/api", model.port),
        ),
    )
    .unwrap();

    let ca = pki.ca_file.to_str().unwrap();
    let served = serve_with_env(
        &config,
        &dir.path().join("data"),
        &dir.path().join("rampart.log"),
        &[("SSL_CERT_FILE", ca)],
    );
    let base = served.base.clone();

    // Every transition of the rollout arrives at the HTTPS receiver, in order.
    let bodies = eventually(20, "two notifications over TLS", || {
        let got = receiver.requests();
        (got.len() == 2).then_some(got)
    });
    assert!(bodies.iter().all(|r| r.path == "/hook"), "{bodies:?}");
    let kinds: Vec<&str> = bodies
        .iter()
        .map(|r| r.body["kind"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(kinds, ["stage-changed", "completed"]);
    assert_eq!(bodies[0].body["rollout"], "recs-v2");
    assert_eq!(bodies[0].body["state"], "running (stage 2/2, 100%)");
    assert_eq!(bodies[0].body["traffic"], 100.0);
    assert_eq!(bodies[1].body["state"], "completed");
    assert_eq!(bodies[1].body["actor"], "controller");
    assert_eq!(
        get_json(&format!("{base}/v1/rollouts/recs-v2"))["status"],
        "completed"
    );

    // The proxy forwards to the https model server and streams its answer back.
    let (status, answer) = http(
        "POST",
        &format!("{base}/v1/predict/scorer/score?k=3"),
        Some(&json!({"features": [1, 2]})),
    )
    .unwrap();
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer,
        json!({"served_by": "v2-over-tls", "path": "/api/score?k=3", "echo": {"features": [1, 2]}})
    );
    assert_eq!(model.requests().len(), 1);

    // A server that trusts another CA refuses the same certificate, and says why.
    let refused_dir = dir.path().join("refused");
    std::fs::create_dir(&refused_dir).unwrap();
    let refused = serve_with_env(
        &config,
        &refused_dir.join("data"),
        &refused_dir.join("rampart.log"),
        &[("SSL_CERT_FILE", other.ca_file.to_str().unwrap())],
    );
    let (status, answer) = http(
        "POST",
        &format!("{}/v1/predict/scorer/score", refused.base),
        Some(&json!({})),
    )
    .unwrap();
    assert_eq!(status, 502, "{answer}");
    assert_eq!(answer["error"]["code"], "upstream_unreachable");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("invalid peer certificate: UnknownIssuer")
            && message.contains("not signed by a trusted CA")
            && message.contains("SSL_CERT_FILE"),
        "{message}"
    );
    assert_eq!(
        model.requests().len(),
        1,
        "no request got past the handshake"
    );
    // Its webhook deliveries fail on the certificate too, and are counted.
    eventually(30, "the refused webhook deliveries to be given up", || {
        let metrics = ureq::get(&format!("{}/metrics", refused.base))
            .call()
            .ok()?
            .into_string()
            .ok()?;
        metrics
            .contains("rampart_webhooks_failed_total 2")
            .then_some(())
    });
    let logs = refused.logs();
    assert!(
        logs.contains("not signed by a trusted CA"),
        "the log names the certificate problem:\n{logs}"
    );
    // ... and names the receiver by scheme, host and port only: a webhook's path is a credential.
    assert!(
        logs.contains(&format!("https://127.0.0.1:{}", receiver.port)) && !logs.contains("/hook"),
        "{logs}"
    );
    assert_eq!(
        receiver.requests().len(),
        2,
        "nothing new reached the receiver"
    );
}

/// Prometheus serving its API over TLS with the test's certificate (`--web.config.file`),
/// scraping a plain-HTTP target that exposes `app_latency_seconds{model,variant}`.
struct Prometheus {
    child: Child,
    url: String,
}

impl Prometheus {
    fn start(program: &Path, dir: &Path, pki: &Pki, target: &str) -> Prometheus {
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: app\n    static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .unwrap();
        let web = dir.join("web.yml");
        std::fs::write(
            &web,
            format!(
                "tls_server_config:\n  cert_file: {}\n  key_file: {}\n",
                pki.cert_file.display(),
                pki.key_file.display()
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
            .arg(format!("--web.config.file={}", web.display()))
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
            child,
            url: format!("https://localhost:{port}"),
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A plain-HTTP scrape target with fixed values: `good` v2 at 0.2 s, `bad` v2 at 0.4 s.
fn start_target() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
                if line == "\r\n" || line == "\n" {
                    break;
                }
                line.clear();
            }
            let body = "# TYPE app_latency_seconds gauge\n\
                app_latency_seconds{model=\"good\",variant=\"v2\"} 0.2\n\
                app_latency_seconds{model=\"bad\",variant=\"v2\"} 0.4\n";
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    addr
}

fn prometheus_config(url: &str) -> String {
    let mut text = format!(
        r#"
[server]
tick = "200ms"

[prometheus]
url = "{url}"
timeout = "2s"

[[metrics]]
name = "latency"
kind = "prometheus"
query = 'max(app_latency_seconds{{model="{{{{model}}}}",variant="{{{{variant}}}}"}})'
goal = "decrease"
"#
    );
    for model in ["good", "bad"] {
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
stages = [{{ traffic = 10 }}, {{ traffic = 100 }}]
gates = [{{ metric = "latency", max = 0.25 }}]
"#
        ));
    }
    text
}

#[test]
fn a_promql_gate_reads_prometheus_behind_tls() {
    let Some(program) = which("prometheus") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::make(dir.path(), "trusted");
    let other = Pki::make(dir.path(), "other");
    let prometheus = Prometheus::start(&program, dir.path(), &pki, &start_target());
    let agent = pki.agent();
    let query = |q: &str| -> Option<f64> {
        let text = agent
            .get(&format!("{}/api/v1/query", prometheus.url))
            .query("query", q)
            .call()
            .ok()?
            .into_string()
            .ok()?;
        let json: Value = serde_json::from_str(&text).ok()?;
        json["data"]["result"][0]["value"][1].as_str()?.parse().ok()
    };
    let ready = eventually(60, "Prometheus (over TLS) to scrape the target", || {
        query(r#"app_latency_seconds{model="bad",variant="v2"}"#)
    });
    assert_eq!(ready, 0.4);

    let config = dir.path().join("rampart.toml");
    std::fs::write(&config, prometheus_config(&prometheus.url)).unwrap();
    let served = serve_with_env(
        &config,
        &dir.path().join("data"),
        &dir.path().join("rampart.log"),
        &[("SSL_CERT_FILE", pki.ca_file.to_str().unwrap())],
    );
    let base = served.base.clone();
    let rollout = |name: &str| get_json(&format!("{base}/v1/rollouts/{name}"));
    eventually(30, "good-ship to complete", || {
        (rollout("good-ship")["status"] == "completed").then_some(())
    });
    let bad = eventually(30, "bad-ship to roll back", || {
        let r = rollout("bad-ship");
        (r["status"] == "rolled-back").then_some(r)
    });
    assert!(
        bad["reason"]
            .as_str()
            .is_some_and(|r| r.contains("candidate 0.4, at most 0.25 allowed")),
        "{bad}"
    );
    let log = get_json(&format!("{base}/v1/decisions?entity=good-ship"));
    let advance = log["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["action"] == "advance")
        .cloned()
        .unwrap_or_else(|| panic!("an advance in {log}"));
    let verdict = &advance["evidence"]["verdicts"][0];
    assert_eq!(verdict["outcome"], "pass", "{verdict}");
    assert_eq!(verdict["reads"][0]["reading"]["value"], 0.2);
    assert_eq!(verdict["numbers"]["estimate"], 0.2);

    // Trusting another CA, every query is a provider error that names the certificate.
    let refused_dir = dir.path().join("refused");
    std::fs::create_dir(&refused_dir).unwrap();
    let refused = serve_with_env(
        &config,
        &refused_dir.join("data"),
        &refused_dir.join("rampart.log"),
        &[("SSL_CERT_FILE", other.ca_file.to_str().unwrap())],
    );
    let look = eventually(30, "a look that failed on the certificate", || {
        let r = get_json(&format!("{}/v1/rollouts/good-ship", refused.base));
        let look = r["last_look"].clone();
        look.get("provider_error").is_some().then_some(look)
    });
    let text = look.to_string();
    assert!(
        text.contains(&format!(
            "cannot reach Prometheus at {}/api/v1/query",
            prometheus.url
        )) && text.contains("invalid peer certificate: UnknownIssuer")
            && text.contains("not signed by a trusted CA"),
        "{look}"
    );
    assert_eq!(
        get_json(&format!("{}/v1/rollouts/good-ship", refused.base))["stage"],
        0
    );
}

/// The path of `program`, or `None` after the skip message (a failure with RAMPART_REQUIRE_PEERS).
fn which(program: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(program))
            .find(|p| p.is_file())
    });
    peer(program, found.is_some()).then(|| found.unwrap())
}
