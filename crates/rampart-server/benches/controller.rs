//! The controller's cost per tick with 100 active rollouts, each with three gates (an error-rate
//! cap on a ratio metric, a conversion comparison with the control, a p99 latency cap) and
//! evidence of 10,000 units per arm. rampart runs in this process on a temporary data directory;
//! the evidence is folded straight into its aggregator (no HTTP, no store) before the clock starts.
//! Stage 1 lasts an hour, so no look changes state and every tick does the same work.
//!
//! Three figures per round: a whole `rampart_server::tick` (evidence snapshots, gates, the state
//! machine, under the control lock); the 100 evidence snapshots alone; and
//! `rampart_core::rollout::look` alone on snapshots taken beforehand.
//!
//! Run: `cargo bench -p rampart-server --bench controller`; `RAMPART_BENCH_ROLLOUTS` (default 100)
//! sets the rollouts, `RAMPART_BENCH_UNITS` (default 10,000) the units per arm,
//! `RAMPART_BENCH_ROUNDS` (default 20) the ticks timed.

use std::error::Error;
use std::fmt::Write;
use std::time::Instant;

use rampart_core::evidence::EntityEvidence;
use rampart_core::rollout::look;
use rampart_core::{EntityKind, Exposure, OutcomeEvent, Reason, Record};
use rampart_server::{Options, Running};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `rollouts` models, each with one autostarting rollout and the three gates.
fn config(rollouts: usize) -> String {
    let mut c = String::from(
        r#"
[server]
tick = "1h"

[[metrics]]
name = "error_rate"
kind = "ratio"
numerator = "error"
denominator = "request"
goal = "decrease"

[[metrics]]
name = "conversion"
kind = "binary"
event = "purchase"
goal = "increase"

[[metrics]]
name = "latency"
kind = "latency"
event = "response"
"#,
    );
    for i in 0..rollouts {
        let _ = write!(
            c,
            r#"
[[models]]
name = "model-{i}"
variants = [{{ name = "v1" }}, {{ name = "v2" }}]

[[rollouts]]
name = "rollout-{i}"
model = "model-{i}"
baseline = "v1"
candidate = "v2"
stages = [{{ traffic = 50, min_duration = "1h" }}, {{ traffic = 100 }}]
gates = [
  {{ metric = "error_rate", max = 0.05 }},
  {{ metric = "conversion", compare = "control", max_worsening = "5%" }},
  {{ metric = "latency", quantile = 0.99, max = 800 }},
]
"#
        );
    }
    c
}

/// The records of one rollout: `units` exposures per arm, and for every unit two requests, a
/// latency, an error for one unit in a hundred and a purchase for one in ten.
fn records(rollout: usize, units: usize, ts: i64) -> Vec<Record> {
    let model = format!("model-{rollout}");
    let entity = Some((EntityKind::Rollout, format!("rollout-{rollout}")));
    let mut out = Vec::with_capacity(units * 2 * 5);
    for (variant, reason) in [("v2", Reason::Candidate), ("v1", Reason::Control)] {
        for u in 0..units {
            let unit = format!("{variant}-{u}");
            out.push(Record::Exposure(Exposure {
                ts,
                model: model.clone(),
                unit: unit.clone(),
                variant: variant.to_string(),
                reason,
                entity: entity.clone(),
                assignment_id: u as u64,
                segments: Default::default(),
            }));
            let event = |kind: &str, n: usize, value: Option<f64>| {
                Record::Event(OutcomeEvent {
                    id: format!("{rollout}-{unit}-{kind}-{n}"),
                    kind: kind.to_string(),
                    unit: unit.clone(),
                    model: model.clone(),
                    value,
                    ts,
                    attributes: Default::default(),
                })
            };
            out.push(event("request", 0, None));
            out.push(event("request", 1, None));
            out.push(event("response", 0, Some(40.0 + (u % 400) as f64)));
            if u % 100 == 7 {
                out.push(event("error", 0, None));
            }
            if u % 10 == 3 {
                out.push(event("purchase", 0, None));
            }
        }
    }
    out
}

fn median_ms(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> Result<(), Box<dyn Error>> {
    let rollouts = env_usize("RAMPART_BENCH_ROLLOUTS", 100).max(1);
    let units = env_usize("RAMPART_BENCH_UNITS", 10_000).max(2);
    let rounds = env_usize("RAMPART_BENCH_ROUNDS", 20).max(1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let dir = tempfile::tempdir()?;
    let config_path = dir.path().join("rampart.toml");
    std::fs::write(&config_path, config(rollouts))?;
    let running: Running = rt.block_on(rampart_server::start(Options {
        config_path,
        data_dir: Some(dir.path().join("data")),
        listen: Some("127.0.0.1:0".into()),
        ..Default::default()
    }))?;
    let shared = running.shared.clone();

    let folding = Instant::now();
    let ts = rampart_server::now_ms();
    let mut folded = 0usize;
    for r in 0..rollouts {
        let batch = records(r, units, ts);
        folded += batch.len();
        let mut agg = shared.aggregator.lock().map_err(|e| e.to_string())?;
        for record in &batch {
            agg.fold(record);
        }
    }
    println!(
        "{rollouts} rollouts x 3 gates, {units} units per arm: {folded} records folded in {:.1} s",
        folding.elapsed().as_secs_f64()
    );

    let live = shared.live.load_full();
    let names: Vec<String> = live
        .config
        .rollouts
        .iter()
        .map(|r| r.name.clone())
        .collect();
    let snapshots = || -> Vec<Option<EntityEvidence>> {
        let agg = shared.aggregator.lock().unwrap_or_else(|p| p.into_inner());
        names.iter().map(|n| agg.evidence(n)).collect()
    };
    let evidence = snapshots();
    let now = rampart_server::now_ms();
    let first: Vec<_> = live
        .config
        .rollouts
        .iter()
        .zip(&evidence)
        .map(|(r, e)| {
            look(
                r,
                &live.config,
                &live.state.rollouts[&r.name],
                e.as_ref(),
                now,
            )
        })
        .collect();
    let verdicts: Vec<String> = first[0]
        .verdicts
        .iter()
        .map(|v| format!("{} {:?}", v.metric, v.outcome))
        .collect();
    println!("verdicts of rollout-0: {}", verdicts.join(", "));
    if first.iter().any(|l| !l.actions.is_empty()) {
        return Err("a look decided something: every tick would not do the same work".into());
    }

    let (mut tick_ms, mut snapshot_ms, mut look_ms) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        let t = Instant::now();
        rt.block_on(rampart_server::tick(&shared))
            .map_err(|e| e.message)?;
        tick_ms.push(t.elapsed().as_secs_f64() * 1e3);

        let t = Instant::now();
        let evidence = snapshots();
        snapshot_ms.push(t.elapsed().as_secs_f64() * 1e3);

        let now = rampart_server::now_ms();
        let t = Instant::now();
        for (r, e) in live.config.rollouts.iter().zip(&evidence) {
            let l = look(
                r,
                &live.config,
                &live.state.rollouts[&r.name],
                e.as_ref(),
                now,
            );
            std::hint::black_box(l);
        }
        look_ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let decisions = rt.block_on(async {
        let store = shared.store.clone();
        tokio::task::spawn_blocking(move || store.decisions(None, 10))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())
    })?;
    if !decisions.is_empty() {
        return Err(format!("{} decisions were logged during the bench", decisions.len()).into());
    }

    let tick = median_ms(tick_ms);
    println!("\nmedians over {rounds} ticks ({rollouts} active rollouts):");
    println!(
        "  whole tick            {tick:8.2} ms   ({:.0} rollouts/s)",
        rollouts as f64 / tick * 1e3
    );
    println!("  evidence snapshots    {:8.2} ms", median_ms(snapshot_ms));
    println!("  gates + step (look)   {:8.2} ms", median_ms(look_ms));
    drop(shared);
    rt.block_on(running.shutdown());
    Ok(())
}
