//! Times the analysis of one experiment from sufficient statistics: 5 metrics × 3 variants
//! (2 treatments against the control) with Welch / two-proportion z-tests, relative lift, an mSPRT
//! look per comparison, Holm and Benjamini–Hochberg corrections, and the SRM check. The
//! group-sequential design is built once outside the timed loop, as callers cache it.
//!
//! Run: `cargo bench -p rampart-stats --bench analysis`. A plain timing loop keeps the crate free of
//! benchmark dependencies.

use std::hint::black_box;
use std::time::Instant;

use rampart_stats::*;

struct Experiment {
    units: [u64; 3],
    conversions: [Proportion; 3],
    means: [[Moments; 3]; 4],
}

fn experiment() -> Experiment {
    let m = |n: f64, mean: f64, var: f64| Moments::new(n, mean, var);
    Experiment {
        units: [100_120, 99_870, 100_010],
        conversions: [
            Proportion::new(100_120, 10_040),
            Proportion::new(99_870, 10_210),
            Proportion::new(100_010, 9_950),
        ],
        means: [
            [
                m(100_120.0, 52.1, 900.0),
                m(99_870.0, 52.9, 930.0),
                m(100_010.0, 51.8, 905.0),
            ],
            [
                m(100_120.0, 3.2, 4.1),
                m(99_870.0, 3.25, 4.3),
                m(100_010.0, 3.19, 4.0),
            ],
            [
                m(100_120.0, 0.21, 0.05),
                m(99_870.0, 0.215, 0.052),
                m(100_010.0, 0.209, 0.049),
            ],
            [
                m(100_120.0, 180.0, 2500.0),
                m(99_870.0, 176.0, 2400.0),
                m(100_010.0, 181.0, 2550.0),
            ],
        ],
    }
}

/// The whole analysis; returns something derived from every result so nothing is optimized away.
fn analyze(e: &Experiment, msprt: &Msprt) -> f64 {
    let spec = TestSpec::two_sided(0.05);
    let mut p_values = [1.0; 10];
    let mut acc = 0.0;
    for v in 1..3 {
        if let Ok(c) = two_proportions(&e.conversions[0], &e.conversions[v], spec) {
            let look = msprt
                .look(c.absolute.estimate, c.absolute.std_error.powi(2), 0.0, None)
                .unwrap();
            p_values[v - 1] = c.absolute.p_value;
            acc += look.p_value + c.relative.map_or(0.0, |r| r.estimate);
        }
        for (k, metric) in e.means.iter().enumerate() {
            if let Ok(c) = welch(&metric[0], &metric[v], spec) {
                let look = msprt
                    .look(c.absolute.estimate, c.absolute.std_error.powi(2), 0.0, None)
                    .unwrap();
                p_values[2 + 2 * k + (v - 1)] = c.absolute.p_value;
                acc += look.p_value + c.relative.map_or(0.0, |r| r.estimate);
            }
        }
    }
    let holm = adjust_p_values(&p_values, Correction::Holm).unwrap();
    let bh = adjust_p_values(&p_values, Correction::BenjaminiHochberg).unwrap();
    let srm = sample_ratio_mismatch(&e.units, &[1.0, 1.0, 1.0]).unwrap();
    acc + holm[0] + bh[0] + srm.p_value
}

fn main() {
    let e = experiment();
    let msprt = Msprt::new(
        mixing_variance_for_effect(0.01).unwrap(),
        0.05,
        Alternative::TwoSided,
    )
    .unwrap();
    let start = Instant::now();
    let design = GroupSequentialDesign::equally_spaced(
        0.05,
        Alternative::TwoSided,
        Spending::OBrienFleming,
        10,
    )
    .unwrap();
    let design_time = start.elapsed();
    black_box(&design);

    // Warm up, then time batches and report the best per-iteration time and the median.
    for _ in 0..1_000 {
        black_box(analyze(black_box(&e), &msprt));
    }
    let iterations = 2_000;
    let mut samples = Vec::new();
    for _ in 0..15 {
        let start = Instant::now();
        for _ in 0..iterations {
            black_box(analyze(black_box(&e), &msprt));
        }
        samples.push(start.elapsed().as_secs_f64() / iterations as f64);
    }
    samples.sort_by(f64::total_cmp);
    println!(
        "analysis of one experiment (5 metrics x 3 variants, 10 comparisons, mSPRT, Holm, BH, SRM)"
    );
    println!("  best   {:8.2} us", samples[0] * 1e6);
    println!("  median {:8.2} us", samples[samples.len() / 2] * 1e6);
    println!(
        "  throughput {:.0} comparisons/s (median)",
        10.0 / samples[samples.len() / 2]
    );
    println!(
        "group-sequential design, 10 looks (built once per design): {:.2} ms",
        design_time.as_secs_f64() * 1e3
    );
}
