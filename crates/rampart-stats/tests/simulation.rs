//! Seeded simulations of error rates under continuous monitoring: looks every 100 units per arm up
//! to 20,000, with cumulative sums so that each look is O(1). Under the null the naive repeated
//! t-test rejects far more often than α while mSPRT, the asymptotic confidence sequence and the
//! group-sequential test stay at α; under an effect, the power promised by the planning functions is
//! what the simulation delivers.

use rampart_stats::*;

const ALPHA: f64 = 0.05;
const STEP: usize = 100;
const MAX_N: usize = 20_000;
const LOOKS: usize = MAX_N / STEP;
/// Smallest standardized effect of interest, used to pick the mSPRT mixing variance.
const MIN_EFFECT: f64 = 0.03;

/// The four monitoring rules, evaluated on the same simulated data.
struct Monitors {
    msprt: Msprt,
    cs: AsymptoticCs,
    design: GroupSequentialDesign,
}

impl Monitors {
    /// `sigma` is the per-unit standard deviation: τ² is in the units of the estimate.
    fn new(sigma: f64) -> Self {
        Monitors {
            msprt: Msprt::new(
                mixing_variance_for_effect(MIN_EFFECT * sigma).unwrap(),
                ALPHA,
                Alternative::TwoSided,
            )
            .unwrap(),
            cs: AsymptoticCs::new(ALPHA, AsymptoticCs::DEFAULT_TUNING, Alternative::TwoSided)
                .unwrap(),
            design: GroupSequentialDesign::equally_spaced(
                ALPHA,
                Alternative::TwoSided,
                Spending::OBrienFleming,
                LOOKS,
            )
            .unwrap(),
        }
    }
}

/// Per method: in how many runs the null was rejected, and the summed control size at stopping.
#[derive(Default, Debug)]
struct Tally {
    naive: usize,
    msprt: usize,
    cs: usize,
    gs: usize,
    fixed: usize,
    msprt_n: f64,
    cs_n: f64,
    gs_n: f64,
}

/// Simulates `runs` experiments whose per-unit values come from `draw(rng, is_treatment)`.
fn simulate(
    runs: usize,
    seed: u64,
    sigma: f64,
    mut draw: impl FnMut(&mut Rng, bool) -> f64,
) -> Tally {
    let m = Monitors::new(sigma);
    let mut rng = Rng::new(seed);
    let mut tally = Tally::default();
    for _ in 0..runs {
        let (mut sc, mut qc, mut st, mut qt) = (0.0, 0.0, 0.0, 0.0);
        let (mut naive, mut ms, mut cs, mut gs) =
            (false, None::<usize>, None::<usize>, None::<usize>);
        let (mut ms_state, mut cs_state) = (None, None);
        for look in 0..LOOKS {
            for _ in 0..STEP {
                let c = draw(&mut rng, false);
                let t = draw(&mut rng, true);
                sc += c;
                qc += c * c;
                st += t;
                qt += t * t;
            }
            let n = ((look + 1) * STEP) as f64;
            let (c, t) = (Moments::from_sums(n, sc, qc), Moments::from_sums(n, st, qt));
            let Ok(cmp) = welch(&c, &t, TestSpec::two_sided(ALPHA)) else {
                continue;
            };
            let (est, var) = (cmp.absolute.estimate, cmp.absolute.std_error.powi(2));
            naive |= cmp.absolute.p_value < ALPHA;
            if look + 1 == LOOKS && cmp.absolute.p_value < ALPHA {
                tally.fixed += 1;
            }
            if ms.is_none() {
                let l = m.msprt.look(est, var, 0.0, ms_state.as_ref()).unwrap();
                if l.rejected {
                    ms = Some(look);
                }
                ms_state = Some(l);
            }
            if cs.is_none() {
                let l =
                    m.cs.look(est, var, 2.0 * n, 0.0, cs_state.as_ref())
                        .unwrap();
                if l.rejected {
                    cs = Some(look);
                }
                cs_state = Some(l);
            }
            if gs.is_none()
                && m.design.look(look, est / var.sqrt()).unwrap() == GroupSequentialDecision::Reject
            {
                gs = Some(look);
            }
        }
        let stop = |x: Option<usize>| x.map_or(MAX_N, |l| (l + 1) * STEP) as f64;
        tally.naive += usize::from(naive);
        tally.msprt += usize::from(ms.is_some());
        tally.cs += usize::from(cs.is_some());
        tally.gs += usize::from(gs.is_some());
        tally.msprt_n += stop(ms);
        tally.cs_n += stop(cs);
        tally.gs_n += stop(gs);
    }
    tally
}

#[test]
fn under_the_null_only_the_naive_test_inflates_alpha() {
    let runs = 2000;
    let t = simulate(runs, 11, 1.0, |rng, _| rng.normal());
    let rate = |k: usize| k as f64 / runs as f64;
    // Monte-Carlo allowance: 2.58 standard errors of a rate α over 2,000 runs (≈ 0.0126).
    let allowance = 2.58 * (ALPHA * (1.0 - ALPHA) / runs as f64).sqrt();
    println!(
        "null, {runs} runs: naive {:.4}, mSPRT {:.4}, CS {:.4}, group-sequential {:.4}, fixed {:.4}",
        rate(t.naive),
        rate(t.msprt),
        rate(t.cs),
        rate(t.gs),
        rate(t.fixed)
    );
    assert!(
        rate(t.naive) > 0.15,
        "naive repeated t-test rejected only {}",
        rate(t.naive)
    );
    assert!(
        rate(t.msprt) <= ALPHA + allowance,
        "mSPRT type I error {}",
        rate(t.msprt)
    );
    assert!(
        rate(t.cs) <= ALPHA + allowance,
        "confidence sequence type I error {}",
        rate(t.cs)
    );
    assert!(
        rate(t.gs) <= ALPHA + allowance,
        "group-sequential type I error {}",
        rate(t.gs)
    );
    // The group-sequential test spends its whole α, so it should also not be far below it.
    assert!(
        rate(t.gs) >= ALPHA - allowance,
        "group-sequential type I error {}",
        rate(t.gs)
    );
    assert!(rate(t.fixed) <= ALPHA + allowance && rate(t.fixed) >= ALPHA - allowance);
}

#[test]
fn under_an_effect_power_matches_the_plan() {
    // Conversion 10.0 % vs 10.9 %: the planning functions use the standardized effect with the
    // average of the two arms' variances.
    let (pc, pt) = (0.100, 0.109);
    let sigma = ((pc * (1.0 - pc) + pt * (1.0 - pt)) / 2.0_f64).sqrt();
    let d = (pt - pc) / sigma;
    let runs = 2000;
    let t = simulate(runs, 23, sigma, |rng, treated| {
        f64::from(u8::from(rng.bernoulli(if treated { pt } else { pc })))
    });
    let rate = |k: usize| k as f64 / runs as f64;
    // The plans work in standardized units (σ = 1).
    let m = Monitors::new(1.0);
    let looks: Vec<f64> = (1..=LOOKS).map(|k| (k * STEP) as f64).collect();

    let fixed = power_z(
        d,
        MAX_N as f64,
        &PowerSpec::new(ALPHA, Alternative::TwoSided, 1.0),
    )
    .unwrap();
    let gs = plan_group_sequential(&m.design, d, MAX_N as f64, 1.0).unwrap();
    let ms =
        simulate_sequential(&SequentialMethod::Msprt(m.msprt), d, &looks, 1.0, 20_000, 5).unwrap();
    let cs = simulate_sequential(
        &SequentialMethod::AsymptoticCs(m.cs),
        d,
        &looks,
        1.0,
        20_000,
        6,
    )
    .unwrap();

    println!(
        "effect d = {d:.4}: planned/simulated power fixed {fixed:.3}/{:.3}, GS {:.3}/{:.3}, mSPRT {:.3}/{:.3}, CS {:.3}/{:.3}",
        rate(t.fixed),
        gs.power,
        rate(t.gs),
        ms.power,
        rate(t.msprt),
        cs.power,
        rate(t.cs)
    );
    let within = |planned: f64, simulated: f64, what: &str| {
        assert!(
            (planned - simulated).abs() <= 0.03,
            "{what}: planned power {planned:.3}, simulated {simulated:.3}"
        );
    };
    within(fixed, rate(t.fixed), "fixed horizon");
    within(gs.power, rate(t.gs), "group sequential");
    within(ms.power, rate(t.msprt), "mSPRT");
    within(cs.power, rate(t.cs), "confidence sequence");
    // The sequential tests reach their decision early on average, as planned (within 5 %).
    let mean_n = |total: f64| total / runs as f64;
    for (plan, total, what) in [
        (gs.expected_n1, t.gs_n, "group sequential"),
        (ms.expected_n1, t.msprt_n, "mSPRT"),
        (cs.expected_n1, t.cs_n, "confidence sequence"),
    ] {
        let sim = mean_n(total);
        assert!(sim < 0.9 * MAX_N as f64, "{what} stops at {sim} on average");
        assert!(
            ((plan - sim) / sim).abs() < 0.05,
            "{what}: planned E[n] {plan:.0}, simulated {sim:.0}"
        );
    }
}
