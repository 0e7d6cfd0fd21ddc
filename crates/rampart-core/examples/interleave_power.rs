//! Benchmark program: how many impressions team-draft interleaving needs to tell a better ranker
//! from a worse one with 95% power, against a split A/B test on clicks per impression, under three
//! cascade click models (perfect, navigational, informational). Prints a markdown table.
//!
//! Run: `cargo run --release -p rampart-core --example interleave_power`. The set-up, the tests and
//! the reasons behind them are written down in `docs/interleaving.md`.

use rampart_core::interleave::{credit, interleave, Method, Outcome};
use rampart_stats::{binomial_test, welch, Alternative, Moments, Rng, TestSpec};

/// Candidate documents per query; each ranker shows its top `PAGE`.
const CANDIDATES: usize = 20;
/// Length of the result list, interleaved or not.
const PAGE: usize = 10;
/// Standard deviation of the noise added to the grade before sorting, for each ranker.
const BETTER_NOISE: f64 = 0.5;
const WORSE_NOISE: f64 = 1.0;
const ALPHA: f64 = 0.05;
const TARGET_POWER: f64 = 0.95;
/// Simulated experiments per sample size: the power estimate has a standard error of about 0.011.
const REPLICATES: usize = 400;
/// Impressions used to estimate the per-impression rates printed beside the table.
const PILOT: usize = 100_000;
/// Largest sample size searched (per design; per arm for the A/B test).
const MAX_N: usize = 1 << 16;
const SEED: u64 = 20_141_103;

/// A cascade click model: the user reads top-down, clicks an item of grade g with probability
/// `click[g]` and, after a click, stops reading with probability `stop[g]`.
struct ClickModel {
    name: &'static str,
    click: [f64; 3],
    stop: [f64; 3],
}

const MODELS: [ClickModel; 3] = [
    ClickModel {
        name: "perfect",
        click: [0.0, 0.5, 1.0],
        stop: [0.0, 0.0, 0.0],
    },
    ClickModel {
        name: "navigational",
        click: [0.05, 0.5, 0.95],
        stop: [0.2, 0.5, 0.9],
    },
    ClickModel {
        name: "informational",
        click: [0.4, 0.7, 0.9],
        stop: [0.1, 0.3, 0.5],
    },
];

/// Grades 0, 1, 2 drawn uniformly for each candidate of a fresh query.
fn draw_query(rng: &mut Rng) -> Vec<u8> {
    (0..CANDIDATES).map(|_| rng.below(3) as u8).collect()
}

/// Candidate indices sorted by grade plus Gaussian noise, best first.
fn rank(grades: &[u8], noise: f64, rng: &mut Rng) -> Vec<usize> {
    let mut scored: Vec<(f64, usize)> = grades
        .iter()
        .enumerate()
        .map(|(i, &g)| (f64::from(g) + noise * rng.normal(), i))
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    scored.into_iter().map(|(_, i)| i).collect()
}

/// Which of the shown items (given by grade, top first) the user clicks.
fn cascade(model: &ClickModel, shown: impl Iterator<Item = u8>, rng: &mut Rng) -> Vec<bool> {
    let mut reading = true;
    shown
        .map(|g| {
            let clicked = reading && rng.bernoulli(model.click[usize::from(g)]);
            if clicked && rng.bernoulli(model.stop[usize::from(g)]) {
                reading = false;
            }
            clicked
        })
        .collect()
}

/// One team-draft impression: +1 when the better ranker wins, -1 when the worse one wins, 0 tie.
fn interleaved_impression(model: &ClickModel, ids: &[String], rng: &mut Rng) -> i8 {
    let grades = draw_query(rng);
    let to_ids = |order: Vec<usize>| order.into_iter().map(|i| ids[i].clone()).collect();
    let rankings: Vec<Vec<String>> = vec![
        to_ids(rank(&grades, BETTER_NOISE, rng)),
        to_ids(rank(&grades, WORSE_NOISE, rng)),
    ];
    let impression = interleave(Method::TeamDraft, &rankings, PAGE, rng)
        .expect("two non-empty rankings of distinct ids");
    // Ids are the candidate indices written out.
    let index = |id: &str| id.parse::<usize>().expect("ids are indices");
    let clicks = cascade(
        model,
        impression.items.iter().map(|item| grades[index(&item.id)]),
        rng,
    );
    let clicked: Vec<&str> = impression
        .items
        .iter()
        .zip(&clicks)
        .filter(|(_, &c)| c)
        .map(|(item, _)| item.id.as_str())
        .collect();
    match credit(&impression, &clicked)
        .expect("a fresh impression is consistent")
        .outcome()
    {
        Outcome::Win(0) => 1,
        Outcome::Win(_) => -1,
        Outcome::Tie => 0,
    }
}

/// One impression of a single ranker's top `PAGE`: the number of clicks.
fn ab_impression(model: &ClickModel, noise: f64, rng: &mut Rng) -> u8 {
    let grades = draw_query(rng);
    let order = rank(&grades, noise, rng);
    let clicks = cascade(model, order[..PAGE].iter().map(|&i| grades[i]), rng);
    clicks.iter().filter(|&&c| c).count() as u8
}

/// Seeded streams of per-impression results, one per simulated experiment, extended on demand.
/// The experiment of size n reads the first n results of its stream, so experiments of different
/// sizes share their impressions (common random numbers) and estimated power rises smoothly in n.
struct Streams<T> {
    rngs: Vec<Rng>,
    results: Vec<Vec<T>>,
}

impl<T> Streams<T> {
    fn new(seed: u64) -> Self {
        Streams {
            rngs: (0..REPLICATES as u64)
                .map(|r| Rng::new(seed.wrapping_mul(1_000_003).wrapping_add(r)))
                .collect(),
            results: (0..REPLICATES).map(|_| Vec::new()).collect(),
        }
    }

    fn extend_to(&mut self, n: usize, draw: &mut impl FnMut(&mut Rng) -> T) {
        for (rng, results) in self.rngs.iter_mut().zip(&mut self.results) {
            while results.len() < n {
                results.push(draw(rng));
            }
        }
    }
}

/// Smallest n in 1..=MAX_N with power(n) ≥ TARGET_POWER: doubling, then bisection. Estimated
/// power is not exactly monotone (discrete tests, simulation noise), so this is the crossing that
/// bisection finds. `None` when even MAX_N falls short.
fn smallest_n(mut power: impl FnMut(usize) -> f64) -> Option<usize> {
    let (mut lo, mut hi) = (0, 8);
    while power(hi) < TARGET_POWER {
        if hi >= MAX_N {
            return None;
        }
        lo = hi;
        hi = (hi * 2).min(MAX_N);
    }
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if power(mid) >= TARGET_POWER {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Some(hi)
}

/// Share of experiments of n interleaved impressions where the sign test on non-tied impressions
/// is significant and favours the better ranker.
fn interleaving_power(streams: &Streams<i8>, n: usize) -> f64 {
    let detected = streams
        .results
        .iter()
        .filter(|results| {
            let wins = results[..n].iter().filter(|&&r| r > 0).count() as u64;
            let losses = results[..n].iter().filter(|&&r| r < 0).count() as u64;
            wins > losses
                && binomial_test(wins, wins + losses, 0.5, Alternative::TwoSided)
                    .is_ok_and(|t| t.p_value < ALPHA)
        })
        .count();
    detected as f64 / REPLICATES as f64
}

/// Of experiments with n impressions per arm: the share where Welch's test on clicks per
/// impression is significant, and the share of those that favour the better ranker.
fn ab_power(streams: &Streams<(u8, u8)>, n: usize) -> (f64, f64) {
    let moments = |values: &mut dyn Iterator<Item = u8>| {
        let (mut sum, mut sum_sq) = (0.0, 0.0);
        for v in values {
            let v = f64::from(v);
            sum += v;
            sum_sq += v * v;
        }
        Moments::from_sums(n as f64, sum, sum_sq)
    };
    let (mut significant, mut right_way) = (0, 0);
    for results in &streams.results {
        let better = moments(&mut results[..n].iter().map(|r| r.0));
        let worse = moments(&mut results[..n].iter().map(|r| r.1));
        // Zero variance (tiny n) is a non-result, not a rejection.
        if let Ok(c) = welch(&worse, &better, TestSpec::new(ALPHA, Alternative::TwoSided)) {
            if c.absolute.p_value < ALPHA {
                significant += 1;
                if c.absolute.estimate > 0.0 {
                    right_way += 1;
                }
            }
        }
    }
    let share = if significant == 0 {
        0.0
    } else {
        f64::from(right_way) / f64::from(significant)
    };
    (significant as f64 / REPLICATES as f64, share)
}

/// Per-impression rates from a pilot run.
struct Pilot {
    win_better: f64,
    win_worse: f64,
    clicks_better: f64,
    clicks_worse: f64,
    any_click_better: f64,
    any_click_worse: f64,
}

fn pilot(model: &ClickModel, ids: &[String], seed: u64) -> Pilot {
    let mut rng = Rng::new(seed);
    let (mut wins, mut losses) = (0, 0);
    let (mut clicks, mut any) = ([0.0; 2], [0.0; 2]);
    for _ in 0..PILOT {
        match interleaved_impression(model, ids, &mut rng) {
            1 => wins += 1,
            -1 => losses += 1,
            _ => {}
        }
        for (arm, noise) in [BETTER_NOISE, WORSE_NOISE].into_iter().enumerate() {
            let c = ab_impression(model, noise, &mut rng);
            clicks[arm] += f64::from(c);
            any[arm] += f64::from(u8::from(c > 0));
        }
    }
    let n = PILOT as f64;
    Pilot {
        win_better: f64::from(wins) / n,
        win_worse: f64::from(losses) / n,
        clicks_better: clicks[0] / n,
        clicks_worse: clicks[1] / n,
        any_click_better: any[0] / n,
        any_click_worse: any[1] / n,
    }
}

fn show(n: Option<usize>) -> String {
    n.map_or(format!("> {MAX_N}"), |n| n.to_string())
}

fn main() {
    let ids: Vec<String> = (0..CANDIDATES).map(|i| i.to_string()).collect();
    println!(
        "{CANDIDATES} candidates per query (grades 0/1/2 uniform), top {PAGE} shown; better ranker: \
         grade + N(0, {BETTER_NOISE}²), worse: grade + N(0, {WORSE_NOISE}²)."
    );
    println!(
        "Power {TARGET_POWER} at alpha {ALPHA}, {REPLICATES} seeded experiments per n; \
         per-impression rates from {PILOT} pilot impressions.\n"
    );
    println!(
        "| click model | team-draft win / loss / tie | team-draft n | A/B clicks per impression \
         (better / worse) | A/B any-click rate (better / worse) | A/B n | A/B significant results \
         favouring the better ranker | ratio A/B ÷ team-draft |"
    );
    println!("| --- | --- | ---: | --- | --- | ---: | ---: | ---: |");
    for (m, model) in MODELS.iter().enumerate() {
        let seed = SEED + 1_000 * m as u64;
        let p = pilot(model, &ids, seed);

        let mut interleaved = Streams::new(seed + 1);
        let mut draw = |rng: &mut Rng| interleaved_impression(model, &ids, rng);
        let n_interleaving = smallest_n(|n| {
            interleaved.extend_to(n, &mut draw);
            interleaving_power(&interleaved, n)
        });

        let mut split = Streams::new(seed + 2);
        let mut draw = |rng: &mut Rng| {
            (
                ab_impression(model, BETTER_NOISE, rng),
                ab_impression(model, WORSE_NOISE, rng),
            )
        };
        let per_arm = smallest_n(|n| {
            split.extend_to(n, &mut draw);
            ab_power(&split, n).0
        });
        let right_way = per_arm.map(|n| ab_power(&split, n).1);
        let n_ab = per_arm.map(|n| 2 * n);
        // When the significant A/B results point at the worse ranker, the A/B test never finds
        // the better one, however many impressions it gets.
        let ratio = match (n_ab, n_interleaving, right_way) {
            (_, _, Some(share)) if share < 0.5 => "∞ (A/B points the wrong way)".to_string(),
            (Some(ab), Some(il), _) => format!("{:.1}", ab as f64 / il as f64),
            _ => "n/a".to_string(),
        };
        println!(
            "| {} | {:.3} / {:.3} / {:.3} | {} | {:.3} / {:.3} | {:.4} / {:.4} | {} | {} | {} |",
            model.name,
            p.win_better,
            p.win_worse,
            1.0 - p.win_better - p.win_worse,
            show(n_interleaving),
            p.clicks_better,
            p.clicks_worse,
            p.any_click_better,
            p.any_click_worse,
            show(n_ab),
            right_way.map_or("n/a".to_string(), |s| format!("{:.0}%", 100.0 * s)),
            ratio,
        );
    }
}
