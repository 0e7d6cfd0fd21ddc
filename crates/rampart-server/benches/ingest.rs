//! Durable ingest over loopback HTTP, end to end: rampart runs in this process on a temporary data
//! directory with the quickstart config; client threads in the same process, one keep-alive
//! connection each (a `ureq::Agent` per thread), post pre-built batches of 1,000 outcome events
//! with unique ids to `POST /v1/events`. A batch is acknowledged only once it is stored, so the
//! rate reported is of durable events. Before the clock starts the units are exposed through
//! `/v1/assign/batch`, so the evidence fold after each commit does its real work.
//!
//! Run: `cargo bench -p rampart-server --bench ingest`; `RAMPART_BENCH_EVENTS` (default 300,000)
//! sets the events per run, `RAMPART_BENCH_ROUNDS` (default 3) the runs per connection count.

mod common;

use std::error::Error;
use std::fmt::Write;
use std::sync::Barrier;
use std::time::Instant;

use common::ThreadTime;

use xxhash_rust::xxh3::xxh3_128_with_seed;

const BATCH: usize = 1_000;
const UNITS: usize = 100_000;
const CONNECTIONS: [usize; 2] = [2, 4];
/// The acknowledged rate this bench is held against.
const TARGET_PER_S: f64 = 200_000.0;

/// One batch body: events `first..first + BATCH`, with random-looking 32-hex-digit ids and the
/// event types of the quickstart metrics, mostly for `checkout-recs` (whose units are exposed).
fn batch_body(first: u64, ts: i64) -> String {
    let mut body = String::with_capacity(BATCH * 190);
    body.push_str(r#"{"events":["#);
    for n in first..first + BATCH as u64 {
        if n > first {
            body.push(',');
        }
        let id = xxh3_128_with_seed(&n.to_le_bytes(), 0x5eed);
        let model = if n % 10 == 9 {
            "search-ranking"
        } else {
            "checkout-recs"
        };
        let unit = n.wrapping_mul(7_919) % UNITS as u64;
        let (kind, value) = match n % 10 {
            _ if n % 100 == 42 => ("error", None),
            0..=3 => ("impression", None),
            4 => ("click", None),
            5 | 7 => ("request", None),
            6 | 9 => ("response", Some(20.0 + (n % 2_300) as f64 / 10.0)),
            _ => ("purchase", Some((n % 9_973) as f64 * 0.25)),
        };
        let _ = write!(
            body,
            r#"{{"id":"{id:032x}","type":"{kind}","unit":"user-{unit}","model":"{model}","ts":{ts},"attributes":{{"country":"fr"}}"#
        );
        if let Some(v) = value {
            let _ = write!(body, r#","value":{v}"#);
        }
        body.push('}');
    }
    body.push_str("]}");
    body
}

/// Exposes `user-0..user-UNITS` of `checkout-recs`, a thousand per request.
fn expose_units(base: &str) -> Result<(), Box<dyn Error>> {
    let agent = ureq::agent();
    for start in (0..UNITS).step_by(BATCH) {
        let requests: Vec<serde_json::Value> = (start..start + BATCH)
            .map(|u| serde_json::json!({"model": "checkout-recs", "unit": format!("user-{u}")}))
            .collect();
        let reply: serde_json::Value = agent
            .post(&format!("{base}/v1/assign/batch"))
            .send_json(serde_json::json!({ "requests": requests }))?
            .into_json()?;
        let answered = reply["assignments"].as_array().map_or(0, Vec::len);
        if answered != BATCH {
            return Err(format!("assign/batch answered {answered} of {BATCH}").into());
        }
    }
    Ok(())
}

/// What one run measured: events acknowledged, wall seconds, CPU seconds of the whole process
/// (server and clients), and the times of the writer thread and of the tokio workers.
#[derive(Debug, Clone, Copy)]
struct RunFigures {
    accepted: u64,
    wall_s: f64,
    cpu_s: f64,
    writer: ThreadTime,
    workers: ThreadTime,
}

impl RunFigures {
    fn per_event_us(&self, seconds: f64) -> f64 {
        seconds * 1e6 / self.accepted.max(1) as f64
    }

    fn share(&self, seconds: f64) -> f64 {
        100.0 * seconds / self.wall_s.max(1e-9)
    }
}

/// Times of the writer thread and of the tokio workers so far.
fn server_threads() -> (ThreadTime, ThreadTime) {
    let mut writer = ThreadTime::default();
    let mut workers = ThreadTime::default();
    for (name, t) in common::thread_times() {
        let sum = if name == "rampart-writer" {
            &mut writer
        } else if name.starts_with("tokio") {
            &mut workers
        } else {
            continue;
        };
        sum.on_cpu_s += t.on_cpu_s;
        sum.runnable_s += t.runnable_s;
    }
    (writer, workers)
}

/// Posts `bodies` round-robin over `connections` threads, each checking that every batch was
/// stored whole.
fn post_all(
    url: &str,
    bodies: &[String],
    connections: usize,
) -> Result<RunFigures, Box<dyn Error>> {
    let barrier = Barrier::new(connections + 1);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..connections)
            .map(|c| {
                let barrier = &barrier;
                scope.spawn(move || -> Result<u64, String> {
                    let agent = ureq::AgentBuilder::new().build();
                    barrier.wait();
                    let mut accepted = 0u64;
                    for body in bodies.iter().skip(c).step_by(connections) {
                        let reply: serde_json::Value = agent
                            .post(url)
                            .set("Content-Type", "application/json")
                            .send_string(body)
                            .map_err(|e| e.to_string())?
                            .into_json()
                            .map_err(|e| e.to_string())?;
                        let stored = reply["accepted"].as_u64().unwrap_or(0);
                        if stored != BATCH as u64 {
                            return Err(format!("a batch of {BATCH} was answered {reply}"));
                        }
                        accepted += stored;
                    }
                    Ok(accepted)
                })
            })
            .collect();
        barrier.wait();
        let (wall, cpu, (writer, tokio)) = (Instant::now(), common::cpu_time(), server_threads());
        let mut accepted = 0;
        for w in workers {
            accepted += w
                .join()
                .map_err(|_| "a client thread panicked")?
                .map_err(|e| format!("a client failed: {e}"))?;
        }
        let wall_s = wall.elapsed().as_secs_f64();
        let cpu_s = common::cpu_time().saturating_sub(cpu).as_secs_f64();
        let (writer_after, tokio_after) = server_threads();
        Ok(RunFigures {
            accepted,
            wall_s,
            cpu_s,
            writer: writer_after - writer,
            workers: tokio_after - tokio,
        })
    })
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&v| v > 0)
        .unwrap_or(default)
}

fn main() -> Result<(), Box<dyn Error>> {
    let events = env_usize("RAMPART_BENCH_EVENTS", 300_000).div_ceil(BATCH) * BATCH;
    let rounds = env_usize("RAMPART_BENCH_ROUNDS", 3);
    let dir = tempfile::tempdir()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let rampart = common::start_rampart(&rt, dir.path())?;
    let base = format!("http://{}", rampart.addr);
    let url = format!("{base}/v1/events");
    expose_units(&base)?;
    rt.block_on(rampart.shared.writer.flush());

    println!(
        "durable ingest over HTTP: batches of {BATCH}, {events} events per run, {rounds} runs per \
         connection count, {UNITS} exposed units"
    );
    println!(
        "(writer µs, HTTP µs, clients µs: CPU per event of the writer thread, of the tokio \
         workers (HTTP, JSON, validation) and of the rest of this process (the clients); writer \
         on, writer rq, HTTP rq: time running and waiting in the run queue for a core, as a share \
         of wall time; the rest of the writer's time it waits for the disk or for work)"
    );
    println!(
        "| {:>5} | {:>7} | {:>6} | {:>8} | {:>10} | {:>9} | {:>9} | {:>9} | {:>9} | {:>10} | {:>10} |",
        "conns",
        "events",
        "wall s",
        "events/s",
        "ev./CPU s",
        "writer µs",
        "writer on",
        "writer rq",
        "HTTP µs",
        "HTTP rq",
        "clients µs"
    );
    println!(
        "|{:-<7}|{:-<9}|{:-<8}|{:-<10}|{:-<12}|{:-<11}|{:-<11}|{:-<11}|{:-<11}|{:-<12}|{:-<12}|",
        "", "", "", "", "", "", "", "", "", "", ""
    );
    let mut next_event = 0u64;
    let mut summary = Vec::new();
    let mut sent = 0u64;
    for connections in CONNECTIONS {
        let mut runs = Vec::new();
        for _ in 0..rounds {
            let ts = rampart_server::now_ms();
            let bodies: Vec<String> = (0..events / BATCH)
                .map(|b| batch_body(next_event + (b * BATCH) as u64, ts))
                .collect();
            next_event += events as u64;
            let r = post_all(&url, &bodies, connections)?;
            sent += r.accepted;
            println!(
                "| {connections:>5} | {:>7} | {:>6.3} | {:>8.0} | {:>10.0} | {:>9.2} | {:>8.0}% | {:>8.0}% | {:>9.2} | {:>9.0}% | {:>10.2} |",
                r.accepted,
                r.wall_s,
                r.accepted as f64 / r.wall_s,
                r.accepted as f64 / r.cpu_s.max(1e-9),
                r.per_event_us(r.writer.on_cpu_s),
                r.share(r.writer.on_cpu_s),
                r.share(r.writer.runnable_s),
                r.per_event_us(r.workers.on_cpu_s),
                r.share(r.workers.runnable_s),
                r.per_event_us(r.cpu_s - r.writer.on_cpu_s - r.workers.on_cpu_s).max(0.0),
            );
            runs.push(r);
        }
        let pick = |f: &dyn Fn(&RunFigures) -> f64| {
            common::median(&runs.iter().map(f).collect::<Vec<_>>()).unwrap_or(0.0)
        };
        summary.push((
            connections,
            pick(&|r| r.accepted as f64 / r.wall_s),
            pick(&|r| r.accepted as f64 / r.cpu_s.max(1e-9)),
            pick(&|r| r.per_event_us(r.writer.on_cpu_s)),
        ));
    }

    println!("\nmedians (target {TARGET_PER_S:.0} events/s acknowledged):");
    for (connections, rate, cpu_rate, writer_us) in &summary {
        let verdict = if *rate >= TARGET_PER_S {
            "meets"
        } else {
            "below"
        };
        // The writer is one thread: it cannot store faster than one event per writer_us.
        println!(
            "{connections} connections: {rate:.0} events/s wall ({verdict} the target), \
             {cpu_rate:.0} events per CPU second; writer {writer_us:.2} µs/event, so at most \
             {:.0} events/s with the writer alone on a core",
            1e6 / writer_us.max(1e-9)
        );
    }

    let stored = rampart.shared.telemetry.events_ingested_total();
    rt.block_on(rampart.shutdown());
    if stored != sent {
        return Err(format!("{sent} events acknowledged but {stored} counted as stored").into());
    }
    Ok(())
}
