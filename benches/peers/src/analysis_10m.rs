//! Analysis of a split experiment with 10 million units, in two steps:
//!
//! - `generate DIR [UNITS]` writes a realistic log into a real rampart data directory (the SQLite
//!   store, through its batch append): every unit is assigned by rampart's `Assigner` for the
//!   experiment `checkout-test` (v1/v2 at 50/50) and exposed once, 30% of them a second time;
//!   10% click (1–3 clicks); v1 converts at 4.0% and v2 at 4.4% with 1–3 purchases whose values
//!   are log-normal (median 33). Exposures are spread over 14 days and every event follows its
//!   unit's first exposure. Seeded: the same UNITS give the same log.
//! - `report DIR OUT.json` times what `rampart serve` does at start and at every look: open the
//!   store, rebuild the evidence by replaying the log into an `Aggregator`, snapshot the
//!   experiment's evidence and run `experiment::analyze` on it (the report `rampart report`
//!   shows). It writes the per-variant units, means and sample variances of the two metrics to
//!   OUT.json for `duckdb_analysis.py` to compare.
//!
//! Run (from benches/peers): `cargo run --release --bin analysis_10m -- generate data/10m`, then
//! `cargo run --release --bin analysis_10m -- report data/10m data/rampart.json`.

use std::error::Error;
use std::path::Path;
use std::time::Instant;

use rampart_core::config::{load_str, Format};
use rampart_core::evidence::Aggregator;
use rampart_core::experiment::analyze;
use rampart_core::state::reconcile;
use rampart_core::{Assigner, Config, EntityKind, Exposure, OutcomeEvent, Reason, Record};
use rampart_store::{SqliteStore, Store};

pub const CONFIG: &str = r#"
[[models]]
name = "checkout-recs"
variants = [{ name = "v1" }, { name = "v2" }]

[[metrics]]
name = "conversion"
kind = "binary"
event = "purchase"

[[metrics]]
name = "revenue"
kind = "sum"
event = "purchase"

[[experiments]]
name = "checkout-test"
model = "checkout-recs"
variants = ["v1", "v2"]
primary = "conversion"
secondary = ["revenue"]
salt = "bench-10m"
"#;

const EXPERIMENT: &str = "checkout-test";
const MODEL: &str = "checkout-recs";
/// 2026-11-01T00:00:00Z
const T0: i64 = 1_793_491_200_000;
const DAYS: i64 = 14;
const HOUR: i64 = 3_600_000;
/// Records per append (one transaction each).
const BATCH: usize = 50_000;

fn config() -> Result<Config, Box<dyn Error>> {
    Ok(load_str(CONFIG, Format::Toml, "analysis-10m.toml")?)
}

/// SplitMix64: a seeded, dependency-free generator; `mix` is its bijective finalizer.
struct Rng(u64);

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.0)
    }
    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// Standard normal (Box–Muller).
    fn normal(&mut self) -> f64 {
        let u = 1.0 - self.unit();
        let v = self.unit();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

fn generate(dir: &Path, units: u64) -> Result<(), Box<dyn Error>> {
    if dir.join("rampart.db").exists() {
        return Err(format!("{} already holds a store; remove it first", dir.display()).into());
    }
    std::fs::create_dir_all(dir)?;
    let config = config()?;
    let reconciled = reconcile(&config, &[], T0, &mut || 0x5eed)?;
    let assigner = Assigner::new(&config, &reconciled.state);
    let store = SqliteStore::open(dir)?;
    let mut rng = Rng(42);
    let (mut exposures, mut events) = (0u64, 0u64);
    let mut records: Vec<Record> = Vec::with_capacity(BATCH + 16);
    let span = DAYS * 24 * HOUR;
    let started = Instant::now();
    for i in 0..units {
        let unit = format!("u{:016x}", mix(i));
        let a = assigner.assign(MODEL, &unit, None, T0)?;
        if a.reason != Reason::Experiment {
            return Err(format!("unit {unit} is not in the experiment: {:?}", a.reason).into());
        }
        let variant = a.variant.to_owned();
        let ts = T0 + (i as i64) * span / units as i64;
        let exposure = |ts: i64, rng: &mut Rng| {
            Record::Exposure(Exposure {
                ts,
                model: MODEL.to_owned(),
                unit: unit.clone(),
                variant: variant.clone(),
                reason: Reason::Experiment,
                entity: Some((EntityKind::Experiment, EXPERIMENT.to_owned())),
                assignment_id: rng.next(),
                segments: Default::default(),
            })
        };
        let mut event = |kind: &str, ts: i64, value: Option<f64>| {
            events += 1;
            Record::Event(OutcomeEvent {
                id: format!("e{events:x}"),
                kind: kind.to_owned(),
                unit: unit.clone(),
                model: MODEL.to_owned(),
                value,
                ts,
                attributes: Default::default(),
            })
        };
        records.push(exposure(ts, &mut rng));
        exposures += 1;
        if rng.unit() < 0.10 {
            for _ in 0..=rng.below(3) {
                let at = ts + 1 + rng.below(HOUR as u64) as i64;
                records.push(event("click", at, None));
            }
        }
        if rng.unit() < 0.30 {
            let at = ts + 1 + rng.below(3 * 24 * HOUR as u64) as i64;
            records.push(exposure(at, &mut rng));
            exposures += 1;
        }
        let rate = if variant == "v2" { 0.044 } else { 0.040 };
        if rng.unit() < rate {
            for _ in 0..=rng.below(3) {
                let at = ts + 1 + rng.below(7 * 24 * HOUR as u64) as i64;
                let value = (3.5 + 0.8 * rng.normal()).exp();
                // Cents, as a shop would send them.
                let value = (value * 100.0).round() / 100.0;
                records.push(event("purchase", at, Some(value)));
            }
        }
        if records.len() >= BATCH {
            store.append(&records)?;
            records.clear();
        }
        if (i + 1) % 1_000_000 == 0 {
            eprintln!(
                "{} units, {exposures} exposures, {events} events, {:.0} s",
                i + 1,
                started.elapsed().as_secs_f64()
            );
        }
    }
    store.append(&records)?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "generated {units} units: {exposures} exposures and {events} events in {secs:.1} s ({:.0} records/s)",
        (exposures + events) as f64 / secs
    );
    Ok(())
}

/// CPU time of this process so far (user + system), from /proc/self/stat; 0 where it is missing.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at its closing parenthesis.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name; 100 ticks/s.
    ticks(11).unwrap_or(0.0) / 100.0 + ticks(12).unwrap_or(0.0) / 100.0
}

fn report(dir: &Path, out: &Path) -> Result<(), Box<dyn Error>> {
    let config = config()?;
    let experiment = config
        .experiments
        .iter()
        .find(|e| e.name == EXPERIMENT)
        .ok_or("the config has the experiment")?;

    let started = Instant::now();
    let cpu_start = cpu_seconds();
    let store = SqliteStore::open(dir)?;
    let opened = started.elapsed();
    let cpu_opened = cpu_seconds();
    let mut aggregator = Aggregator::new(&config);
    let mut records = 0u64;
    store.replay(0, &mut |_, record| {
        aggregator.fold(&record);
        records += 1;
    })?;
    let replayed = started.elapsed();
    let cpu_replayed = cpu_seconds();
    let evidence = aggregator
        .evidence(EXPERIMENT)
        .ok_or("the aggregator has the experiment")?;
    let snapshot = started.elapsed();
    let analysis = analyze(experiment, &config, &evidence, T0 + (DAYS + 7) * 24 * HOUR);
    let total = started.elapsed();
    let cpu_total = cpu_seconds();
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
    println!("rampart: {records} records replayed");
    println!(
        "  open store (lock, migrations, event-id set)  {:>9.0} ms wall {:>9.0} ms CPU",
        ms(opened),
        (cpu_opened - cpu_start) * 1e3
    );
    println!(
        "  replay + evidence fold                       {:>9.0} ms wall {:>9.0} ms CPU ({:.0} records per CPU second)",
        ms(replayed - opened),
        (cpu_replayed - cpu_opened) * 1e3,
        records as f64 / (cpu_replayed - cpu_opened)
    );
    println!(
        "  evidence snapshot                            {:>9.1} ms",
        ms(snapshot - replayed)
    );
    println!(
        "  experiment::analyze                          {:>9.1} ms",
        ms(total - snapshot)
    );
    println!(
        "  total                                        {:>9.0} ms wall {:>9.0} ms CPU",
        ms(total),
        (cpu_total - cpu_start) * 1e3
    );
    for c in &analysis.metrics {
        println!(
            "  {} {} vs {}: {:?} vs {:?}, relative lift {:?}, p = {:?}",
            c.metric,
            c.variant,
            analysis.control,
            c.control_value,
            c.variant_value,
            c.relative_lift.as_ref().map(|l| l.estimate),
            c.p_value
        );
    }

    let mut variants = serde_json::Map::new();
    for (name, v) in &evidence.variants {
        let mut metrics = serde_json::Map::new();
        for (metric, s) in &v.metrics {
            metrics.insert(
                metric.clone(),
                serde_json::json!({"n": s.n, "mean": s.mean(), "variance": s.variance()}),
            );
        }
        variants.insert(
            name.clone(),
            serde_json::json!({"units": v.units, "metrics": metrics}),
        );
    }
    let body = serde_json::json!({
        "experiment": EXPERIMENT,
        "records": records,
        "ms": {
            "open": ms(opened),
            "replay_fold": ms(replayed - opened),
            "snapshot": ms(snapshot - replayed),
            "analyze": ms(total - snapshot),
            "total": ms(total),
            "cpu_total": (cpu_total - cpu_start) * 1e3,
        },
        "variants": variants,
    });
    std::fs::write(out, serde_json::to_string_pretty(&body)? + "\n")?;
    Ok(())
}

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["generate", dir] => generate(Path::new(dir), 10_000_000),
        ["generate", dir, units] => generate(Path::new(dir), units.parse()?),
        ["report", dir, out] => report(Path::new(dir), Path::new(out)),
        _ => Err("usage: analysis_10m generate DIR [UNITS] | report DIR OUT.json".into()),
    }
}
