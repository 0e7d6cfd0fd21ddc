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
use std::net::SocketAddr;
use std::path::Path;

use common::wrk::{self, env_u64, fail, serve_constant, WrkRun, CONNECTIONS};

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

/// One wrk run with the CPU this process (the server, not wrk) used during it.
#[derive(Debug, Clone, Copy)]
struct Measured {
    wrk: WrkRun,
    server_cpu_s: f64,
    /// Of which rampart's writer thread, which stores the exposures.
    writer_cpu_s: f64,
}

/// Runs wrk against `url` and measures this process's CPU meanwhile; `None` when wrk is not
/// installed.
fn measure(
    label: &str,
    script: &Path,
    url: &str,
    seconds: u64,
) -> Result<Option<Measured>, Box<dyn Error>> {
    let writer_cpu = || {
        common::thread_times()
            .get("rampart-writer")
            .map_or(0.0, |t| t.on_cpu_s)
    };
    let (cpu, writer) = (common::cpu_time(), writer_cpu());
    let Some(wrk) = wrk::run(label, script, url, seconds)? else {
        return Ok(None);
    };
    Ok(Some(Measured {
        wrk,
        server_cpu_s: common::cpu_time().saturating_sub(cpu).as_secs_f64(),
        writer_cpu_s: writer_cpu() - writer,
    }))
}

impl Measured {
    /// CPU microseconds the server process spent per answered request.
    fn server_cpu_us(&self) -> f64 {
        self.server_cpu_s * 1e6 / self.wrk.requests.max(1) as f64
    }

    /// Of which the writer thread, storing the exposure.
    fn writer_cpu_us(&self) -> f64 {
        self.writer_cpu_s * 1e6 / self.wrk.requests.max(1) as f64
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
        tokio::spawn(serve_constant(listener, CONSTANT_JSON));
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
    let mut runs: Vec<Vec<Measured>> = vec![Vec::new(); targets.len()];
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
            let Some(run) = measure(label, &script, url, seconds)? else {
                println!("wrk is not installed (apt-get install wrk): nothing measured");
                return Ok(());
            };
            print_row(
                label,
                [
                    run.wrk.requests_per_s,
                    run.wrk.p50_ms,
                    run.wrk.p99_ms,
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
        let pick = |f: fn(&Measured) -> f64| {
            common::median(&rs.iter().map(f).collect::<Vec<_>>()).unwrap_or(0.0)
        };
        let requests_per_s = pick(|r| r.wrk.requests_per_s);
        print_row(
            label,
            [
                requests_per_s,
                pick(|r| r.wrk.p50_ms),
                pick(|r| r.wrk.p99_ms),
                pick(Measured::server_cpu_us),
                pick(Measured::writer_cpu_us),
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
