//! The HTTP edge over a real port: stalled clients (headers that never end, a body shorter than
//! its `Content-Length`) are disconnected within the configured timeouts while other requests are
//! served; request ids are accepted, generated and echoed; every answer is counted in the latency
//! histogram by route template.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::support::{blocking, get, Server, CONFIG};

/// The configured timeouts of these tests, and how much later than them a close may come.
const HEADER_TIMEOUT: Duration = Duration::from_millis(1_500);
const BODY_TIMEOUT: Duration = Duration::from_millis(2_000);
const SLACK: Duration = Duration::from_millis(1_500);

fn config() -> String {
    CONFIG.replace(
        "[server]\n",
        "[server]\nheader_timeout = \"1500ms\"\nbody_timeout = \"2s\"\nrequest_timeout = \"20s\"\n",
    )
}

/// Reads until the server closes the connection; returns what it sent and when it closed.
fn read_until_closed(mut s: TcpStream, started: Instant, give_up: Duration) -> (String, Duration) {
    s.set_read_timeout(Some(give_up)).expect("read timeout set");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            // A reset is a close too.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!(
                "connection still open after {:?}: {e}; got {:?}",
                started.elapsed(),
                String::from_utf8_lossy(&got)
            ),
        }
    }
    (
        String::from_utf8_lossy(&got).into_owned(),
        started.elapsed(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn twenty_stalled_clients_are_disconnected_within_the_timeouts() {
    let server = Server::start(&config()).await;
    let addr = server.running().addr;
    let base = server.base.clone();
    blocking(move || {
        let started = Instant::now();
        let mut partial_headers = Vec::new();
        let mut short_bodies = Vec::new();
        for i in 0..10 {
            let mut s = TcpStream::connect(addr).expect("connects");
            // The request line and one header, never the blank line that ends the headers.
            write!(s, "POST /v1/events HTTP/1.1\r\nHost: rampart\r\nX-Client: {i}\r\n")
                .expect("partial headers sent");
            partial_headers.push(s);
            let mut s = TcpStream::connect(addr).expect("connects");
            // Whole headers announcing 1000 bytes, then 11 of them.
            write!(
                s,
                "POST /v1/events HTTP/1.1\r\nHost: rampart\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"events\":"
            )
            .expect("headers and part of the body sent");
            short_bodies.push(s);
        }
        // The stalled connections hold nothing up: a normal request is served meanwhile.
        let t = Instant::now();
        let r = get(&format!("{base}/v1/status"));
        assert_eq!(r.status, 200, "{}", r.text);
        assert!(t.elapsed() < Duration::from_secs(1), "status took {:?}", t.elapsed());

        let give_up = HEADER_TIMEOUT.max(BODY_TIMEOUT) + SLACK * 2;
        for s in partial_headers {
            let (got, closed) = read_until_closed(s, started, give_up);
            assert!(
                closed >= HEADER_TIMEOUT - Duration::from_millis(100)
                    && closed <= HEADER_TIMEOUT + SLACK,
                "partial headers closed after {closed:?} (header timeout {HEADER_TIMEOUT:?})"
            );
            // Nothing was routed: no API answer for a request that never arrived.
            assert!(!got.contains("\"accepted\""), "{got}");
        }
        for s in short_bodies {
            let (got, closed) = read_until_closed(s, started, give_up);
            assert!(
                closed >= BODY_TIMEOUT - Duration::from_millis(100)
                    && closed <= BODY_TIMEOUT + SLACK,
                "short body closed after {closed:?} (body timeout {BODY_TIMEOUT:?})"
            );
            // The handler saw its body read fail: a 4xx in the error shape, never a 200.
            let status: u16 = got
                .split_whitespace()
                .nth(1)
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| panic!("no status line in {got:?}"));
            assert!((400..500).contains(&status), "{got}");
            assert!(got.contains("\"error\""), "{got}");
        }
        // And the server still serves afterwards.
        assert_eq!(get(&format!("{base}/healthz")).status, 200);
    })
    .await;
}

/// Sends a GET with optional `x-request-id`; returns the status and the id in the response.
fn get_with_id(url: &str, id: Option<&str>) -> (u16, Option<String>) {
    let mut req = ureq::get(url);
    if let Some(id) = id {
        req = req.set("x-request-id", id);
    }
    let resp = match req.call() {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("GET {url}: {e}"),
    };
    (
        resp.status(),
        resp.header("x-request-id").map(str::to_string),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn request_ids_are_echoed_or_generated() {
    let server = Server::start(CONFIG).await;
    let base = server.base.clone();
    blocking(move || {
        let (status, echoed) = get_with_id(&format!("{base}/v1/status"), Some("caller-id-42"));
        assert_eq!((status, echoed.as_deref()), (200, Some("caller-id-42")));
        // Errors carry it too.
        let (status, echoed) = get_with_id(&format!("{base}/v1/nowhere"), Some("lost-7"));
        assert_eq!((status, echoed.as_deref()), (404, Some("lost-7")));
        let (_, a) = get_with_id(&format!("{base}/healthz"), None);
        let (_, b) = get_with_id(&format!("{base}/healthz"), None);
        let (a, b) = (a.expect("generated id"), b.expect("generated id"));
        assert_eq!(a.len(), 32, "{a}");
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()), "{a}");
        assert_ne!(a, b, "each request gets its own id");
        // An id too long to log is replaced, not echoed.
        let long = "x".repeat(200);
        let (_, c) = get_with_id(&format!("{base}/healthz"), Some(&long));
        assert_eq!(c.expect("replacement id").len(), 32);
    })
    .await;
}

/// The value of the sample `name{labels}` in a scrape (labels in the order rendered).
fn sample(scrape: &str, series: &str) -> Option<f64> {
    scrape
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_latency_histogram_counts_by_route_template_and_status_class() {
    let server = Server::start(CONFIG).await;
    let base = server.base.clone();
    blocking(move || {
        for _ in 0..3 {
            assert_eq!(get(&format!("{base}/v1/evidence/recs-v2")).status, 200);
        }
        assert_eq!(get(&format!("{base}/v1/evidence/no-such-entity")).status, 404);
        assert_eq!(get(&format!("{base}/no/such/path")).status, 404);
        let scrape = get(&format!("{base}/metrics")).text;
        let name = "rampart_http_request_duration_seconds";
        let count = |route: &str, status: &str| {
            sample(
                &scrape,
                &format!("{name}_count{{method=\"GET\",route=\"{route}\",status=\"{status}\"}}"),
            )
        };
        assert_eq!(count("/v1/evidence/{entity}", "2xx"), Some(3.0), "{scrape}");
        assert_eq!(count("/v1/evidence/{entity}", "4xx"), Some(1.0), "{scrape}");
        assert_eq!(count("unmatched", "4xx"), Some(1.0), "{scrape}");
        // Raw paths never become labels.
        assert!(!scrape.contains("route=\"/v1/evidence/recs-v2"), "{scrape}");
        assert!(!scrape.contains("/no/such/path"), "{scrape}");
        let inf = sample(
            &scrape,
            &format!(
                "{name}_bucket{{method=\"GET\",route=\"/v1/evidence/{{entity}}\",status=\"2xx\",le=\"+Inf\"}}"
            ),
        );
        assert_eq!(inf, Some(3.0));
        assert!(
            scrape.contains("rampart_build_info{version=\""),
            "{scrape}"
        );
        assert!(sample(&scrape, "process_open_fds").is_some_and(|v| v > 0.0), "{scrape}");
    })
    .await;
}
