//! Cost of one assignment decision in process: 10^6 distinct user keys (built before the clock
//! starts) through the compiled `Assigner` of (a) a model with only a rollout at 20% and (b) a
//! model behind a holdout, a layer of two experiments and a rollout (every step of the decision
//! order is reached), next to (c) the floor: one `xxh3_64_with_seed` of the key and a compare.
//! Each case runs several times; the median is printed.
//!
//! Run: `cargo bench -p rampart-core --bench assign`

use std::error::Error;
use std::hint::black_box;
use std::time::Instant;

use rampart_core::config::{load_str, Format};
use rampart_core::state::reconcile;
use rampart_core::{Assigner, Config, Reason};
use xxhash_rust::xxh3::xxh3_64_with_seed;

const KEYS: usize = 1_000_000;
const RUNS: usize = 7;

const ROLLOUT_ONLY: &str = r#"
[[models]]
name = "checkout-recs"
variants = [{ name = "v1" }, { name = "v2" }]

[[metrics]]
name = "conversion"
kind = "binary"
event = "purchase"
goal = "increase"

[[rollouts]]
name = "recs-v2"
model = "checkout-recs"
baseline = "v1"
candidate = "v2"
stages = [{ traffic = 20 }, { traffic = 100 }]
gates = [{ metric = "conversion", compare = "control", max_worsening = "2%" }]
"#;

const FULL_ORDER: &str = r#"
[[models]]
name = "checkout-recs"
variants = [{ name = "v1" }, { name = "v2" }, { name = "v3" }]

[[metrics]]
name = "conversion"
kind = "binary"
event = "purchase"
goal = "increase"

[[holdouts]]
name = "global"
percent = 2

[[rollouts]]
name = "recs-v2"
model = "checkout-recs"
baseline = "v1"
candidate = "v2"
stages = [{ traffic = 20 }, { traffic = 100 }]
gates = [{ metric = "conversion", compare = "control", max_worsening = "2%" }]

[[experiments]]
name = "ranker-a"
model = "checkout-recs"
variants = ["v1", "v3"]
traffic = 20
layer = "recs"
primary = "conversion"

[[experiments]]
name = "ranker-b"
model = "checkout-recs"
variants = ["v1", "v2", "v3"]
traffic = 30
layer = "recs"
primary = "conversion"
"#;

/// Compiles the assigner a fresh server would serve for `text`: first-time salts, initial state.
fn compile(name: &str, text: &str) -> Result<Assigner, Box<dyn Error>> {
    let config: Config = load_str(text, Format::Toml, name)?;
    let mut next = 0x5eed_u64;
    let reconciled = reconcile(&config, &[], 0, &mut || {
        next = next.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        next
    })?;
    Ok(Assigner::new(&config, &reconciled.state))
}

/// Runs `pass` over all keys `RUNS` times and returns the median ns per key, plus the last
/// pass's result so the caller can check the work was real.
fn median_ns<T>(keys: &[String], mut pass: impl FnMut(&[String]) -> T) -> (f64, T) {
    let mut ns = Vec::with_capacity(RUNS);
    let mut last = None;
    for _ in 0..RUNS {
        let start = Instant::now();
        let out = pass(black_box(keys));
        ns.push(start.elapsed().as_nanos() as f64 / keys.len() as f64);
        last = Some(out);
    }
    ns.sort_by(f64::total_cmp);
    let out = last.expect("RUNS is not zero");
    (ns[RUNS / 2], out)
}

/// Counts decisions per reason, in the order of `Reason`'s variants that can occur here.
fn tally(assigner: &Assigner, keys: &[String]) -> [u64; 5] {
    let mut counts = [0u64; 5];
    for k in keys {
        let a = assigner
            .assign(black_box("checkout-recs"), black_box(k), None, black_box(0))
            .expect("the bench model exists");
        let slot = match a.reason {
            Reason::Holdout => 0,
            Reason::Experiment => 1,
            Reason::Candidate => 2,
            Reason::Control => 3,
            _ => 4,
        };
        counts[slot] += 1;
    }
    counts
}

fn report(label: &str, ns: f64, counts: Option<[u64; 5]>) {
    print!(
        "{label:<44}{ns:>8.1} ns/decision {:>12.0} decisions/s",
        1e9 / ns
    );
    if let Some(c) = counts {
        let pct = |n: u64| 100.0 * n as f64 / KEYS as f64;
        print!(
            "   holdout {:.1}% experiment {:.1}% candidate {:.1}% control {:.1}% default {:.1}%",
            pct(c[0]),
            pct(c[1]),
            pct(c[2]),
            pct(c[3]),
            pct(c[4])
        );
    }
    println!();
}

fn main() -> Result<(), Box<dyn Error>> {
    let keys: Vec<String> = (0..KEYS).map(|i| format!("user-{i:08}")).collect();
    let rollout_only = compile("rollout-only", ROLLOUT_ONLY)?;
    let full_order = compile("full-order", FULL_ORDER)?;
    println!("assignment bench: {KEYS} distinct keys, median of {RUNS} passes");

    let (ns, counts) = median_ns(&keys, |keys| tally(&rollout_only, keys));
    report("(a) rollout at 20%", ns, Some(counts));
    // A 20% candidate slice with an equal concurrent control.
    assert!((190_000..210_000).contains(&counts[2]), "{counts:?}");
    assert!((190_000..210_000).contains(&counts[3]), "{counts:?}");

    let (ns, counts) = median_ns(&keys, |keys| tally(&full_order, keys));
    report(
        "(b) holdout + layer of 2 experiments + rollout",
        ns,
        Some(counts),
    );
    // 2% held out, then half the layer's buckets in experiments, the rest through the rollout.
    assert!((15_000..25_000).contains(&counts[0]), "{counts:?}");
    assert!((470_000..510_000).contains(&counts[1]), "{counts:?}");

    let salt = black_box(0x5eed_u64);
    let threshold = black_box(2_000u64);
    let (ns, inside) = median_ns(&keys, |keys| {
        keys.iter()
            .filter(|k| xxh3_64_with_seed(k.as_bytes(), salt) % 10_000 < threshold)
            .count()
    });
    report("(c) floor: one xxh3_64_with_seed + compare", ns, None);
    assert!((190_000..210_000).contains(&inside), "{inside}");
    Ok(())
}
