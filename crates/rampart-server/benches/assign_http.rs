//! `POST /v1/assign` over loopback HTTP, next to its ceiling measured in the same run: a bare
//! hyper 1.x server that reads the body and answers a constant JSON. Both run in this process on
//! one tokio runtime; `wrk` (one thread, 32 connections) drives them in turns with a Lua script
//! that sends a new unit key in every request. rampart logs an exposure per request, as in
//! production. Without `wrk` installed the bench says so and exits successfully.
//!
//! Run: `cargo bench -p rampart-server --bench assign_http`; `RAMPART_BENCH_SECONDS` (default 10)
//! sets the length of one wrk run, `RAMPART_BENCH_ROUNDS` (default 3) the number of turns.

mod common;

use std::error::Error;
use std::fmt;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;

use hyper::body::{Body, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

const CONNECTIONS: u32 = 32;

/// What the ceiling answers, about the size of rampart's reply.
const CONSTANT_JSON: &str =
    r#"{"variant":"v1","reason":"default","assignment_id":"0000000000000001","unit":"u1"}"#;

/// POSTs `{"model": "checkout-recs", "unit": "u<n>"}` with n counting up, so every request is a
/// unit rampart has not seen.
const SCRIPT: &str = r#"
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local counter = 0
request = function()
  counter = counter + 1
  return wrk.format(nil, nil, nil, '{"model":"checkout-recs","unit":"u' .. counter .. '"}')
end
"#;

/// A failure of the bench itself.
#[derive(Debug)]
struct BenchError(String);

impl fmt::Display for BenchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Error for BenchError {}

fn fail(message: impl Into<String>) -> Box<dyn Error> {
    Box::new(BenchError(message.into()))
}

/// The figures of one wrk run.
#[derive(Debug, Clone, Copy)]
struct WrkRun {
    requests_per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
    requests: u64,
    non_2xx: u64,
    socket_errors: u64,
    /// CPU seconds this process (the server, not wrk) used during the run.
    server_cpu_s: f64,
    /// Of which rampart's writer thread, which stores the exposures.
    writer_cpu_s: f64,
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
        server_cpu_s: 0.0,
        writer_cpu_s: 0.0,
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
    let parsed = [run.requests_per_s, run.p50_ms, run.p99_ms]
        .iter()
        .all(|v| v.is_finite());
    parsed.then_some(run)
}

/// Runs wrk against `url` for `seconds`; `None` when wrk is not installed.
fn run_wrk(script: &Path, url: &str, seconds: u64) -> Result<Option<WrkRun>, Box<dyn Error>> {
    let writer_cpu = || {
        common::thread_times()
            .get("rampart-writer")
            .map_or(0.0, |t| t.on_cpu_s)
    };
    let (cpu, writer) = (common::cpu_time(), writer_cpu());
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
    let server_cpu_s = common::cpu_time().saturating_sub(cpu).as_secs_f64();
    let writer_cpu_s = writer_cpu() - writer;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(fail(format!(
            "wrk failed ({}): {}{}",
            output.status,
            text,
            String::from_utf8_lossy(&output.stderr)
        )));
    }
    let mut run =
        parse_wrk(&text).ok_or_else(|| fail(format!("unreadable wrk report:\n{text}")))?;
    run.server_cpu_s = server_cpu_s;
    run.writer_cpu_s = writer_cpu_s;
    Ok(Some(run))
}

/// Serves `CONSTANT_JSON` to every request on `listener`, reading each body first.
async fn serve_constant(listener: tokio::net::TcpListener) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let service = service_fn(|req: Request<Incoming>| async move {
                let mut body = std::pin::pin!(req.into_body());
                while let Some(frame) =
                    std::future::poll_fn(|cx| body.as_mut().poll_frame(cx)).await
                {
                    frame?;
                }
                let mut resp = Response::new(CONSTANT_JSON.to_string());
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

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&v| v > 0)
        .unwrap_or(default)
}

impl WrkRun {
    /// CPU microseconds the server process spent per answered request.
    fn server_cpu_us(&self) -> f64 {
        self.server_cpu_s * 1e6 / self.requests.max(1) as f64
    }

    /// Of which the writer thread, storing the exposure.
    fn writer_cpu_us(&self) -> f64 {
        self.writer_cpu_s * 1e6 / self.requests.max(1) as f64
    }
}

/// One table row: requests/s, p50 and p99 in ms, server and writer CPU µs per request.
fn print_row(label: &str, figures: [f64; 5]) {
    let [requests_per_s, p50_ms, p99_ms, cpu_us, writer_us] = figures;
    println!(
        "| {label:<26} | {requests_per_s:>10.0} | {p50_ms:>8.3} | {p99_ms:>8.3} | {cpu_us:>17.1} | {writer_us:>17.1} |"
    );
}

fn main() -> Result<(), Box<dyn Error>> {
    let seconds = env_u64("RAMPART_BENCH_SECONDS", 10);
    let rounds = env_u64("RAMPART_BENCH_ROUNDS", 3);
    let dir = tempfile::tempdir()?;
    let script = dir.path().join("post.lua");
    std::fs::write(&script, SCRIPT)?;

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let rampart = common::start_rampart(&rt, dir.path())?;
    let ceiling: SocketAddr = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(serve_constant(listener));
        Ok::<_, std::io::Error>(addr)
    })?;

    // One request each by hand first: both must answer what the bench claims they answer.
    let agent = ureq::agent();
    let reply: serde_json::Value = agent
        .post(&format!("http://{}/v1/assign", rampart.addr))
        .send_json(serde_json::json!({"model": "checkout-recs", "unit": "probe"}))?
        .into_json()?;
    if reply["variant"].as_str().is_none() {
        return Err(fail(format!("rampart answered without a variant: {reply}")));
    }
    let constant = agent
        .post(&format!("http://{ceiling}/"))
        .send_string(r#"{"model":"checkout-recs","unit":"probe"}"#)?
        .into_string()?;
    if constant != CONSTANT_JSON {
        return Err(fail(format!("the ceiling answered {constant:?}")));
    }

    let targets = [
        ("bare hyper (ceiling)", format!("http://{ceiling}/")),
        (
            "rampart /v1/assign",
            format!("http://{}/v1/assign", rampart.addr),
        ),
    ];
    let mut runs: Vec<Vec<WrkRun>> = vec![Vec::new(); targets.len()];
    println!(
        "assign over HTTP: wrk -t1 -c{CONNECTIONS} -d{seconds}s --latency, {rounds} rounds, \
         targets in turns"
    );
    println!(
        "| {:<26} | {:>10} | {:>8} | {:>8} | {:>17} | {:>17} |",
        "target", "requests/s", "p50 ms", "p99 ms", "server CPU µs/req", "writer CPU µs/req"
    );
    println!(
        "|{:-<28}|{:-<12}|{:-<10}|{:-<10}|{:-<19}|{:-<19}|",
        "", "", "", "", "", ""
    );
    for _ in 0..rounds {
        for (i, (label, url)) in targets.iter().enumerate() {
            let Some(run) = run_wrk(&script, url, seconds)? else {
                println!("wrk is not installed (apt-get install wrk): nothing measured");
                return Ok(());
            };
            if run.non_2xx > 0 || run.socket_errors > 0 {
                return Err(fail(format!(
                    "{label}: {} non-2xx responses and {} socket errors in {} requests",
                    run.non_2xx, run.socket_errors, run.requests
                )));
            }
            print_row(
                label,
                [
                    run.requests_per_s,
                    run.p50_ms,
                    run.p99_ms,
                    run.server_cpu_us(),
                    run.writer_cpu_us(),
                ],
            );
            runs[i].push(run);
        }
    }

    println!("\nmedians over {rounds} rounds:");
    let mut medians = Vec::new();
    for ((label, _), rs) in targets.iter().zip(&runs) {
        let pick = |f: fn(&WrkRun) -> f64| {
            common::median(&rs.iter().map(f).collect::<Vec<_>>()).unwrap_or(0.0)
        };
        let requests_per_s = pick(|r| r.requests_per_s);
        print_row(
            label,
            [
                requests_per_s,
                pick(|r| r.p50_ms),
                pick(|r| r.p99_ms),
                pick(WrkRun::server_cpu_us),
                pick(WrkRun::writer_cpu_us),
            ],
        );
        medians.push(requests_per_s);
    }
    if let [ceiling, ours] = medians[..] {
        println!(
            "rampart serves {:.0}% of the ceiling's requests/s",
            100.0 * ours / ceiling
        );
    }

    // Every answered assignment must have been logged as an exposure.
    let shared = rampart.shared.clone();
    rt.block_on(shared.writer.flush());
    let assigned = shared.telemetry.assignments_total();
    let stored = shared.telemetry.exposures_stored_total();
    println!("assignments answered {assigned}, exposures stored {stored}");
    drop(shared);
    rt.block_on(rampart.shutdown());
    if assigned != stored {
        return Err(fail("some answered assignments were not stored"));
    }
    Ok(())
}
