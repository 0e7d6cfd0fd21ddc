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

// Only `median` and `wrk` are needed here; the other benches use the rest.
#[allow(dead_code)]
mod common;

use std::error::Error;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use common::wrk::{self, env_u64, fail, serve_constant, WrkRun, CONNECTIONS};

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
        tokio::spawn(serve_constant(listener, CONSTANT_JSON));
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
        store_url: None,
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
            let Some(run) = wrk::run(label, &script, url, seconds)? else {
                println!("wrk is not installed (apt-get install wrk): nothing measured");
                return Ok(());
            };
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
