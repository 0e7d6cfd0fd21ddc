//! Fold rate of the evidence aggregator: 1M units exposed to a rollout and an experiment of one
//! model, then outcome events for three metrics (binary, sum, latency) spread over the units.
//! A plain timing loop: records are built before the clock starts.
//!
//! Run: `cargo bench -p rampart-core --bench fold`; with `RAMPART_BENCH_MATURITY=2h` the binary
//! and sum metrics get that maturity, so both entities also keep cohorts.

use std::hint::black_box;
use std::time::Instant;

use rampart_core::config::{Attributes, Config};
use rampart_core::evidence::Aggregator;
use rampart_core::{EntityKind, Exposure, OutcomeEvent, Reason, Record};

const UNITS: u64 = 1_000_000;
const EVENTS: u64 = 1_000_000;
const PASSES: u64 = 3;

const CONFIG: &str = r#"
segments = ["country"]

[[models]]
name = "recs"
variants = [{ name = "v1" }, { name = "v2" }]

[[metrics]]
name = "converted"
kind = "binary"
event = "purchase"

[[metrics]]
name = "revenue"
kind = "sum"
event = "purchase"
window = "7d"

[[metrics]]
name = "latency"
kind = "latency"
event = "latency"

[[rollouts]]
name = "ramp"
model = "recs"
baseline = "v1"
candidate = "v2"
stages = [{ traffic = 50.0 }]
gates = [{ metric = "converted", max = 1 }, { metric = "revenue", max = 1e9 }, { metric = "latency", max = 1e6 }]

[[experiments]]
name = "test"
model = "recs"
variants = ["v1", "v2"]
primary = "converted"
secondary = ["revenue"]
guardrails = ["latency"]
"#;

/// splitmix64: reproducible and cheap.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

fn main() {
    let mut config: Config =
        rampart_core::config::load_str(CONFIG, rampart_core::config::Format::Toml, "bench.toml")
            .unwrap_or_else(|e| panic!("bench config: {e}"));
    if let Ok(maturity) = std::env::var("RAMPART_BENCH_MATURITY") {
        let maturity = maturity
            .parse()
            .unwrap_or_else(|e| panic!("RAMPART_BENCH_MATURITY: {e}"));
        for m in &mut config.metrics[..2] {
            m.maturity = Some(maturity);
        }
        println!("maturity {maturity} on converted and revenue");
    }
    let mut rng = Rng(1);
    let countries = ["de", "fr", "us", "jp"];

    let mut exposures = Vec::with_capacity(2 * UNITS as usize);
    for u in 0..UNITS {
        for (kind, name) in [
            (EntityKind::Rollout, "ramp"),
            (EntityKind::Experiment, "test"),
        ] {
            let mut segments = Attributes::new();
            segments.insert("country".into(), countries[(u % 4) as usize].into());
            exposures.push(Record::Exposure(Exposure {
                ts: (u / 100) as i64,
                model: "recs".into(),
                unit: format!("user-{u}"),
                variant: ["v1", "v2"][(rng.next() & 1) as usize].into(),
                reason: Reason::Candidate,
                entity: Some((kind, name.into())),
                assignment_id: u,
                segments,
            }));
        }
    }
    let events: Vec<Record> = (0..EVENTS)
        .map(|i| {
            let r = rng.next();
            // One purchase for every two latencies.
            let (kind, value) = match r % 3 {
                0 => ("purchase", Some((r % 10_000) as f64 / 100.0)),
                _ => ("latency", Some((r % 5_000) as f64 / 10.0 + 1.0)),
            };
            Record::Event(OutcomeEvent {
                id: i.to_string(),
                kind: kind.into(),
                unit: format!("user-{}", r % UNITS),
                model: "recs".into(),
                value,
                ts: 20_000 + i as i64,
                attributes: Attributes::new(),
            })
        })
        .collect();

    let mut agg = Aggregator::new(&config);
    let start = Instant::now();
    for r in &exposures {
        agg.fold(black_box(r));
    }
    let took = start.elapsed().as_secs_f64();
    println!(
        "exposures: {} in {:.3} s = {:.0} exposures/s ({} units per entity)",
        exposures.len(),
        took,
        exposures.len() as f64 / took,
        agg.units("ramp").unwrap_or(0)
    );

    let start = Instant::now();
    for _ in 0..PASSES {
        for r in &events {
            agg.fold(black_box(r));
        }
    }
    let took = start.elapsed().as_secs_f64();
    let n = (EVENTS * PASSES) as f64;
    println!(
        "events: {n} in {took:.3} s = {:.0} events/s (2 entities, 3 metrics each)",
        n / took
    );

    let start = Instant::now();
    let ev = agg.evidence("ramp");
    let took = start.elapsed().as_secs_f64();
    let units: u64 = ev.map_or(0, |e| e.variants.values().map(|v| v.units).sum());
    println!("snapshot: {:.3} ms ({units} units)", took * 1e3);

    if let Some(ev) = agg.evidence("ramp") {
        let start = Instant::now();
        let mature = ev.mature(&config, 1_000 * 3_600_000);
        let took = start.elapsed().as_secs_f64();
        if let Some(m) = mature {
            let n = m
                .variants
                .values()
                .map(|v| v.metrics["converted"].n)
                .sum::<u64>();
            println!(
                "mature view: {:.3} ms ({} cohorts, {n} mature units)",
                took * 1e3,
                ev.cohorts.len()
            );
        }
    }
}
