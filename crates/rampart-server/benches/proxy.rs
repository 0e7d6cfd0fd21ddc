//! The model proxy's added latency and throughput: one constant-answer model server (bare hyper
//! 1.x, in this process), called (a) directly, (b) through rampart's `/v1/predict` (assignment,
//! exposure and a `response` event per call, as in production), and (c) through nginx as a
//! keep-alive reverse proxy with a generated config. The same load generator drives all three in
//! turns: `wrk` (one thread, 32 connections, `--latency`) with a Lua script that POSTs a small JSON
//! body with a new `X-Rampart-Unit` per request. Without `wrk` the bench says so and exits
//! successfully; without nginx it skips (c) with a line saying so.
//!
//! Run: `cargo bench -p rampart-server --bench proxy`; `RAMPART_BENCH_SECONDS` (default 10) sets
//! the length of one wrk run, `RAMPART_BENCH_ROUNDS` (default 3) the number of turns.

// Only `median` is needed here; the other benches use the rest.
#[allow(dead_code)]
mod common;

use std::error::Error;
use std::fmt;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use hyper::body::{Body, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

const CONNECTIONS: u32 = 32;
const NGINX: &str = "/usr/sbin/nginx";

/// What the model server answers.
const CONSTANT_JSON: &str = r#"{"score":0.73,"model":"scorer"}"#;

/// POSTs a small feature vector with a new unit key per request.
const SCRIPT: &str = r#"
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local counter = 0
request = function()
  counter = counter + 1
  wrk.headers["X-Rampart-Unit"] = "u" .. counter
  return wrk.format(nil, nil, nil, '{"features":[0.1,0.2,0.3,0.4]}')
end
"#;

const CONFIG: &str = r#"
[[models]]
name = "scorer"
unit = "user"
variants = [{ name = "v1", endpoint = "UPSTREAM" }, { name = "v2", endpoint = "UPSTREAM" }]

[[metrics]]
name = "latency"
kind = "latency"
event = "response"

[[rollouts]]
name = "scorer-v2"
model = "scorer"
baseline = "v1"
candidate = "v2"
stages = [{ traffic = 20 }]
gates = [{ metric = "latency", quantile = 0.99, max = 100 }]
"#;

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

/// Runs wrk against `url`; `None` when wrk is not installed.
fn run_wrk(script: &Path, url: &str, seconds: u64) -> Result<Option<WrkRun>, Box<dyn Error>> {
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
    parse_wrk(&text)
        .map(Some)
        .ok_or_else(|| fail(format!("unreadable wrk report:\n{text}")))
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

/// nginx in the foreground as a keep-alive reverse proxy to `upstream`; killed on drop.
struct Nginx {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> Result<SocketAddr, Box<dyn Error>> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?)
}

/// Starts nginx with a generated config under `dir`; `None` when it is not installed.
fn start_nginx(dir: &Path, upstream: SocketAddr) -> Result<Option<Nginx>, Box<dyn Error>> {
    if !Path::new(NGINX).exists() {
        return Ok(None);
    }
    let addr = free_port()?;
    let d = dir.display();
    let conf = format!(
        "worker_processes auto;\ndaemon off;\npid {d}/nginx.pid;\nerror_log {d}/nginx-error.log warn;\n\
         events {{ worker_connections 1024; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
         fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
         upstream model {{ server {upstream}; keepalive 64; }}\n\
         server {{\n    listen {addr};\n    location / {{\n      proxy_pass http://model;\n\
         proxy_http_version 1.1;\n      proxy_set_header Connection \"\";\n    }}\n  }}\n}}\n"
    );
    let path = dir.join("nginx.conf");
    std::fs::write(&path, conf)?;
    let child = Command::new(NGINX)
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()?;
    let nginx = Nginx { child, addr };
    // Ready when it answers.
    for _ in 0..100 {
        if ureq::post(&format!("http://{addr}/score"))
            .send_string("{}")
            .is_ok()
        {
            return Ok(Some(nginx));
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Err(fail(format!(
        "nginx did not answer on {addr}; see {d}/nginx-error.log"
    )))
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&v| v > 0)
        .unwrap_or(default)
}

fn print_row(label: &str, run: [f64; 3], direct_p50: f64) {
    let [rps, p50, p99] = run;
    println!(
        "| {label:<24} | {rps:>10.0} | {p50:>8.3} | {p99:>8.3} | {:>+14.3} |",
        p50 - direct_p50
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
    let upstream: SocketAddr = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(serve_constant(listener));
        Ok::<_, std::io::Error>(addr)
    })?;
    let config_path = dir.path().join("rampart.toml");
    std::fs::write(
        &config_path,
        CONFIG.replace("UPSTREAM", &format!("http://{upstream}")),
    )?;
    let rampart = rt.block_on(rampart_server::start(rampart_server::Options {
        config_path,
        data_dir: Some(dir.path().join("data")),
        listen: Some("127.0.0.1:0".into()),
    }))?;

    // Each target answers the model's output before anything is measured.
    let probe = ureq::post(&format!("http://{}/v1/predict/scorer/score", rampart.addr))
        .set("X-Rampart-Unit", "probe")
        .send_string("{}")?;
    if probe.header("x-rampart-variant").is_none() || probe.into_string()? != CONSTANT_JSON {
        return Err(fail("rampart's proxy did not pass the model's answer on"));
    }
    let mut targets = vec![
        ("model server directly", format!("http://{upstream}/score")),
        (
            "rampart /v1/predict",
            format!("http://{}/v1/predict/scorer/score", rampart.addr),
        ),
    ];
    let nginx = start_nginx(dir.path(), upstream)?;
    match &nginx {
        Some(n) => targets.push(("nginx proxy_pass", format!("http://{}/score", n.addr))),
        None => println!("skipped: nginx not installed ({NGINX}); measuring without it"),
    }

    let mut runs: Vec<Vec<WrkRun>> = vec![Vec::new(); targets.len()];
    println!(
        "proxy: wrk -t1 -c{CONNECTIONS} -d{seconds}s --latency, {rounds} rounds, targets in turns"
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
            println!(
                "  {label}: {:.0} req/s, p50 {:.3} ms, p99 {:.3} ms",
                run.requests_per_s, run.p50_ms, run.p99_ms
            );
            runs[i].push(run);
        }
    }

    println!("\nmedians over {rounds} rounds:");
    println!(
        "| {:<24} | {:>10} | {:>8} | {:>8} | {:>14} |",
        "target", "requests/s", "p50 ms", "p99 ms", "added p50 ms"
    );
    println!(
        "|{:-<26}|{:-<12}|{:-<10}|{:-<10}|{:-<16}|",
        "", "", "", "", ""
    );
    let medians: Vec<[f64; 3]> = runs
        .iter()
        .map(|rs| {
            let pick = |f: fn(&WrkRun) -> f64| {
                common::median(&rs.iter().map(f).collect::<Vec<_>>()).unwrap_or(0.0)
            };
            [
                pick(|r| r.requests_per_s),
                pick(|r| r.p50_ms),
                pick(|r| r.p99_ms),
            ]
        })
        .collect();
    for ((label, _), m) in targets.iter().zip(&medians) {
        print_row(label, *m, medians[0][1]);
    }

    // Every proxied call became a `response` event.
    let shared = rampart.shared.clone();
    rt.block_on(shared.writer.flush());
    let events = shared.telemetry.events_ingested_total();
    let calls: u64 = runs[1].iter().map(|r| r.requests).sum::<u64>() + 1;
    println!("proxied calls {calls} (wrk's count), response events stored {events}");
    drop(shared);
    drop(nginx);
    rt.block_on(rampart.shutdown());
    Ok(())
}
