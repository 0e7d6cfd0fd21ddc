//! wrk as the HTTP benches' load generator: running it (one thread, `CONNECTIONS` connections,
//! `--latency`, a Lua script) and reading its report; plus the constant-answer hyper server the
//! benches measure against, and the errors and settings they share.

use std::error::Error;
use std::fmt;
use std::io::ErrorKind;
use std::path::Path;
use std::process::Command;

use hyper::body::{Body, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

pub const CONNECTIONS: u32 = 32;

/// A failure of the bench itself.
#[derive(Debug)]
struct BenchError(String);

impl fmt::Display for BenchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Error for BenchError {}

pub fn fail(message: impl Into<String>) -> Box<dyn Error> {
    Box::new(BenchError(message.into()))
}

/// A positive integer from the environment, else `default`.
pub fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&v| v > 0)
        .unwrap_or(default)
}

/// The figures of one wrk run.
#[derive(Debug, Clone, Copy)]
pub struct WrkRun {
    pub requests_per_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub requests: u64,
    pub non_2xx: u64,
    pub socket_errors: u64,
}

/// A latency as wrk prints it (`812.00us`, `1.25ms`, `2.00s`), in milliseconds.
fn parse_latency(text: &str) -> Option<f64> {
    let (number, scale) = if let Some(n) = text.strip_suffix("us") {
        (n, 1e-3)
    } else if let Some(n) = text.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('m') {
        (n, 60e3)
    } else {
        (text.strip_suffix('s')?, 1e3)
    };
    number.parse::<f64>().ok().map(|v| v * scale)
}

/// Reads requests/s, p50, p99, the request count and the error counts from wrk's report.
fn parse_wrk(out: &str) -> Option<WrkRun> {
    let mut run = WrkRun {
        requests_per_s: f64::NAN,
        p50_ms: f64::NAN,
        p99_ms: f64::NAN,
        requests: 0,
        non_2xx: 0,
        socket_errors: 0,
    };
    for line in out.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["Requests/sec:", v] => run.requests_per_s = v.parse().ok()?,
            ["50%", v] => run.p50_ms = parse_latency(v)?,
            ["99%", v] => run.p99_ms = parse_latency(v)?,
            [n, "requests", "in", ..] => run.requests = n.parse().ok()?,
            ["Non-2xx", "or", "3xx", "responses:", n] => run.non_2xx = n.parse().ok()?,
            ["Socket", "errors:", rest @ ..] => {
                // "connect 0, read 0, write 0, timeout 0"
                run.socket_errors = rest
                    .iter()
                    .filter_map(|w| w.trim_end_matches(',').parse::<u64>().ok())
                    .sum();
            }
            _ => {}
        }
    }
    [run.requests_per_s, run.p50_ms, run.p99_ms]
        .iter()
        .all(|v| v.is_finite())
        .then_some(run)
}

/// Runs wrk against `url` (the target called `label`) for `seconds`; `None` when wrk is not
/// installed. Any non-2xx answer or socket error fails the bench: a fast error is no figure.
pub fn run(
    label: &str,
    script: &Path,
    url: &str,
    seconds: u64,
) -> Result<Option<WrkRun>, Box<dyn Error>> {
    let output = Command::new("wrk")
        .args(["-t1", &format!("-c{CONNECTIONS}"), &format!("-d{seconds}s")])
        .arg("--latency")
        .arg("-s")
        .arg(script)
        .arg(url)
        .output();
    let output = match output {
        Ok(o) => o,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(fail(format!(
            "wrk failed ({}): {text}{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        )));
    }
    let run = parse_wrk(&text).ok_or_else(|| fail(format!("unreadable wrk report:\n{text}")))?;
    if run.non_2xx > 0 || run.socket_errors > 0 {
        return Err(fail(format!(
            "{label}: {} non-2xx responses and {} socket errors in {} requests",
            run.non_2xx, run.socket_errors, run.requests
        )));
    }
    Ok(Some(run))
}

/// Serves `body` as JSON to every request on `listener`, reading each request's body first.
pub async fn serve_constant(listener: tokio::net::TcpListener, body: &'static str) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let service = service_fn(move |req: Request<Incoming>| async move {
                let mut request_body = std::pin::pin!(req.into_body());
                while let Some(frame) =
                    std::future::poll_fn(|cx| request_body.as_mut().poll_frame(cx)).await
                {
                    frame?;
                }
                let mut resp = Response::new(body.to_string());
                resp.headers_mut().insert(
                    hyper::header::CONTENT_TYPE,
                    hyper::header::HeaderValue::from_static("application/json"),
                );
                Ok::<_, hyper::Error>(resp)
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
