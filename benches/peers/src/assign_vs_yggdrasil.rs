//! Assignment in process, rampart against unleash-yggdrasil (Unleash's Rust evaluation engine),
//! on the same 10^6 distinct user keys, in the same process:
//!
//! - (a) a gradual rollout at 20%: rampart's `Assigner` on a model whose rollout sends 20% of
//!   units to the candidate (with a concurrent control of 20%) against yggdrasil's `is_enabled`
//!   on a flag with one `flexibleRollout` strategy at 20%, stickiness `userId`;
//! - (b) variants: a split experiment on 20% of units with variants v1/v2 at 50/50 against
//!   yggdrasil's `get_variant` on a flag with the same 20% `flexibleRollout` strategy and two
//!   variants of weight 500 each, stickiness `userId`.
//!
//! Both sides get their inputs built before the clock starts (rampart the key strings, yggdrasil
//! a `Context` per key). Each case runs several passes; the median ns per evaluation is printed,
//! in wall time and in the thread's CPU time (steadier on a shared machine),
//! with the share of keys in each arm on both sides (they hash differently, so the same key may
//! land in different arms, but the shares must agree within sampling error; the program fails
//! if they differ by more than 5 standard errors).
//!
//! Run: `cargo run --release --bin assign_vs_yggdrasil` (from benches/peers)

use std::error::Error;
use std::hint::black_box;
use std::time::Instant;

use rampart_core::config::{load_str, Format};
use rampart_core::state::reconcile;
use rampart_core::{Assigner, Config, Reason};
use unleash_yggdrasil::{ClientFeatures, Context, EngineState};

const KEYS: usize = 1_000_000;
const RUNS: usize = 7;

const RAMPART: &str = r#"
[[models]]
name = "checkout-recs"
variants = [{ name = "v1" }, { name = "v2" }]

[[models]]
name = "search-ranking"
variants = [{ name = "v1" }, { name = "v2" }]

[[metrics]]
name = "conversion"
kind = "binary"
event = "purchase"

[[rollouts]]
name = "recs-v2"
model = "checkout-recs"
baseline = "v1"
candidate = "v2"
stages = [{ traffic = 20 }, { traffic = 100 }]
gates = [{ metric = "conversion", compare = "control", margin = -0.02 }]

[[experiments]]
name = "ranker"
model = "search-ranking"
variants = ["v1", "v2"]
traffic = 20
primary = "conversion"
"#;

const UNLEASH: &str = r#"{
  "version": 2,
  "features": [
    {
      "name": "recs-v2",
      "type": "release",
      "enabled": true,
      "strategies": [
        { "name": "flexibleRollout",
          "parameters": { "rollout": "20", "stickiness": "userId", "groupId": "recs-v2" } }
      ]
    },
    {
      "name": "ranker",
      "type": "experiment",
      "enabled": true,
      "strategies": [
        { "name": "flexibleRollout",
          "parameters": { "rollout": "20", "stickiness": "userId", "groupId": "ranker" },
          "variants": [
            { "name": "v1", "weight": 500, "weightType": "variable", "stickiness": "userId" },
            { "name": "v2", "weight": 500, "weightType": "variable", "stickiness": "userId" }
          ] }
      ]
    }
  ]
}"#;

/// Compiles the assigner a fresh server would serve: first-time salts, initial state.
fn rampart() -> Result<Assigner, Box<dyn Error>> {
    let config: Config = load_str(RAMPART, Format::Toml, "peers.toml")?;
    let mut next = 0x5eed_u64;
    let reconciled = reconcile(&config, &[], 0, &mut || {
        next = next.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        next
    })?;
    Ok(Assigner::new(&config, &reconciled.state))
}

fn unleash() -> Result<EngineState, Box<dyn Error>> {
    let features: ClientFeatures = serde_json::from_str(UNLEASH)?;
    let engine = EngineState::default();
    if let Some(warnings) = engine.apply_client_features(features) {
        if !warnings.is_empty() {
            return Err(format!("yggdrasil warned: {warnings:?}").into());
        }
    }
    Ok(engine)
}

/// CPU time of the calling thread in ns (`/proc/thread-self/schedstat`), unaffected by time
/// spent waiting for a core on a shared machine; `None` where it is missing.
fn thread_cpu_ns() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    stat.split_whitespace().next()?.parse().ok()
}

/// Per evaluation: the median wall ns and the median CPU ns of `RUNS` passes.
struct Timing {
    wall: f64,
    cpu: Option<f64>,
}

impl std::fmt::Display for Timing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:>7.1} ns/evaluation wall", self.wall)?;
        match self.cpu {
            Some(cpu) => write!(f, " {cpu:>7.1} CPU"),
            None => Ok(()),
        }
    }
}

/// Runs `pass` `RUNS` times; its timing and the last pass's arm counts.
fn median_ns<const N: usize>(mut pass: impl FnMut() -> [u64; N]) -> (Timing, [u64; N]) {
    let (mut wall, mut cpu) = (Vec::with_capacity(RUNS), Vec::with_capacity(RUNS));
    let mut last = [0; N];
    for _ in 0..RUNS {
        let (start, cpu_start) = (Instant::now(), thread_cpu_ns());
        last = pass();
        wall.push(start.elapsed().as_nanos() as f64 / KEYS as f64);
        if let (Some(a), Some(b)) = (cpu_start, thread_cpu_ns()) {
            cpu.push(b.saturating_sub(a) as f64 / KEYS as f64);
        }
    }
    wall.sort_by(f64::total_cmp);
    cpu.sort_by(f64::total_cmp);
    let timing = Timing {
        wall: wall[RUNS / 2],
        cpu: (cpu.len() == RUNS).then(|| cpu[RUNS / 2]),
    };
    (timing, last)
}

fn pct(n: u64) -> f64 {
    100.0 * n as f64 / KEYS as f64
}

/// Fails when two shares of the same arm differ by more than 5 standard errors of a difference
/// of two proportions over `KEYS` keys each.
fn check_share(arm: &str, a: u64, b: u64) -> Result<(), Box<dyn Error>> {
    let (pa, pb) = (a as f64 / KEYS as f64, b as f64 / KEYS as f64);
    let p = (pa + pb) / 2.0;
    let se = (2.0 * p * (1.0 - p) / KEYS as f64).sqrt();
    let z = (pa - pb) / se;
    println!(
        "  {arm:<28} rampart {:>6.3}%  yggdrasil {:>6.3}%  difference {:+.3} points, z = {z:+.2}",
        100.0 * pa,
        100.0 * pb,
        100.0 * (pa - pb)
    );
    if z.abs() > 5.0 {
        return Err(format!("{arm}: the shares differ (z = {z:.1})").into());
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn Error>> {
    let keys: Vec<String> = (0..KEYS).map(|i| format!("user-{i:08}")).collect();
    let contexts: Vec<Context> = keys
        .iter()
        .map(|k| Context {
            user_id: Some(k.clone()),
            ..Context::default()
        })
        .collect();
    let assigner = rampart()?;
    let engine = unleash()?;
    println!("assignment vs unleash-yggdrasil: {KEYS} distinct keys, median of {RUNS} passes");

    // (a) rollout at 20%: candidate, control, rest.
    let (r_ns, r) = median_ns(|| {
        let mut c = [0u64; 3];
        for k in black_box(&keys) {
            let a = assigner
                .assign(black_box("checkout-recs"), k, None, 0)
                .expect("the model exists");
            c[match a.reason {
                Reason::Candidate => 0,
                Reason::Control => 1,
                _ => 2,
            }] += 1;
        }
        c
    });
    let (u_ns, u) = median_ns(|| {
        let mut c = [0u64; 2];
        for ctx in black_box(&contexts) {
            c[usize::from(!engine.is_enabled(black_box("recs-v2"), ctx, &None))] += 1;
        }
        c
    });
    // Both sides, key by key: how many keys each puts in the 20%.
    let both = keys
        .iter()
        .zip(&contexts)
        .filter(|(k, ctx)| {
            let a = assigner.assign("checkout-recs", k, None, 0).ok();
            a.is_some_and(|a| a.reason == Reason::Candidate)
                && engine.is_enabled("recs-v2", ctx, &None)
        })
        .count() as u64;
    println!("(a) rollout at 20%");
    println!(
        "  rampart Assigner::assign            {r_ns}   candidate {:.2}%, control {:.2}%, default {:.2}%",
        pct(r[0]), pct(r[1]), pct(r[2])
    );
    println!(
        "  yggdrasil is_enabled                {u_ns}   enabled {:.2}%",
        pct(u[0])
    );
    check_share("candidate / enabled", r[0], u[0])?;
    println!(
        "  keys in the 20% on both sides: {:.2}% (independent hashes: 4% expected)",
        pct(both)
    );

    // (b) variants: v1, v2 inside the 20%, rest.
    let (r_ns, r) = median_ns(|| {
        let mut c = [0u64; 3];
        for k in black_box(&keys) {
            let a = assigner
                .assign(black_box("search-ranking"), k, None, 0)
                .expect("the model exists");
            c[match (a.reason, a.variant) {
                (Reason::Experiment, "v1") => 0,
                (Reason::Experiment, "v2") => 1,
                _ => 2,
            }] += 1;
        }
        c
    });
    let (u_ns, u) = median_ns(|| {
        let mut c = [0u64; 3];
        for ctx in black_box(&contexts) {
            let v = engine.get_variant(black_box("ranker"), ctx, &None);
            c[match (v.feature_enabled, v.name.as_str()) {
                (true, "v1") => 0,
                (true, "v2") => 1,
                _ => 2,
            }] += 1;
        }
        c
    });
    println!("(b) 20% of units, variants v1/v2 at 50/50");
    println!(
        "  rampart Assigner::assign            {r_ns}   v1 {:.2}%, v2 {:.2}%, not in it {:.2}%",
        pct(r[0]),
        pct(r[1]),
        pct(r[2])
    );
    println!(
        "  yggdrasil get_variant               {u_ns}   v1 {:.2}%, v2 {:.2}%, disabled {:.2}%",
        pct(u[0]),
        pct(u[1]),
        pct(u[2])
    );
    check_share("v1", r[0], u[0])?;
    check_share("v2", r[1], u[1])?;
    check_share("not in it / disabled", r[2], u[2])?;
    Ok(())
}
