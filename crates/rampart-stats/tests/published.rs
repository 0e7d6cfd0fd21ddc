//! Sequential methods against published formulas and tables, where scipy and statsmodels have no
//! implementation. Each expected value names its source.

use rampart_stats::*;

/// Jennison & Turnbull (2000), *Group Sequential Methods with Applications to Clinical Trials*,
/// Table 2.1: constants C_P(K, α) of Pocock's test (|Z_k| ≥ C_P at every look) for two-sided
/// α = 0.05 and K equally spaced looks, to three decimals.
const POCOCK: [(usize, f64); 4] = [(2, 2.178), (3, 2.289), (4, 2.361), (5, 2.413)];

/// Jennison & Turnbull (2000), Table 2.3: constants C_B(K, α) of the O'Brien & Fleming test
/// (|Z_k| ≥ C_B √(K/k)) for two-sided α = 0.05.
const OBRIEN_FLEMING: [(usize, f64); 4] = [(2, 1.977), (3, 2.004), (4, 2.024), (5, 2.040)];

fn equal(k: usize) -> Vec<f64> {
    (1..=k).map(|i| i as f64 / k as f64).collect()
}

#[test]
fn classical_boundaries_have_the_tabulated_type_one_error() {
    // Rounding the constants to 3 decimals moves α by at most ~2e-4.
    for (k, c) in POCOCK {
        let d = GroupSequentialDesign::with_boundaries(
            0.05,
            Alternative::TwoSided,
            &equal(k),
            &vec![c; k],
        )
        .unwrap();
        let alpha = d.power(0.0);
        assert!((alpha - 0.05).abs() < 3e-4, "Pocock K={k}: {alpha}");
    }
    for (k, c) in OBRIEN_FLEMING {
        let b: Vec<f64> = (1..=k).map(|i| c * (k as f64 / i as f64).sqrt()).collect();
        let d = GroupSequentialDesign::with_boundaries(0.05, Alternative::TwoSided, &equal(k), &b)
            .unwrap();
        let alpha = d.power(0.0);
        assert!(
            (alpha - 0.05).abs() < 3e-4,
            "O'Brien-Fleming K={k}: {alpha}"
        );
    }
}

#[test]
fn lan_demets_spending_values() {
    // Lan & DeMets (1983), Biometrika 70:659–663: α₁(t) = 2 − 2Φ(z_{α/2}/√t) and
    // α₂(t) = α ln(1 + (e − 1)t). At t = ½, α = 0.05: 2 − 2Φ(2.771808) = 0.0055746 and
    // 0.05 · ln(1.8591409) = 0.05 · 0.6201145 = 0.0310057.
    let obf = Spending::OBrienFleming.spent(0.05, 0.5);
    assert!((obf - 2.0 * Normal::sf(1.959_963_984_540_054 / 0.5_f64.sqrt())).abs() < 1e-15);
    assert!((obf - 0.005_574_596).abs() < 1e-8, "{obf}");
    let pocock = Spending::Pocock.spent(0.05, 0.5);
    assert!((pocock - 0.031_005_7).abs() < 1e-7, "{pocock}");
}

#[test]
fn spending_design_exits_spend_exactly_the_increments() {
    // By construction (Lan & DeMets 1983) the exit probability at look k under the null equals
    // α(t_k) − α(t_{k−1}); recomputing it through the recursion checks the boundaries.
    for spending in [Spending::OBrienFleming, Spending::Pocock] {
        for alt in [Alternative::TwoSided, Alternative::Greater] {
            let fr = [0.2, 0.45, 0.7, 1.0];
            let d = GroupSequentialDesign::new(0.05, alt, spending, &fr).unwrap();
            let exits = d.exit_probabilities(0.0);
            let mut prev = 0.0;
            for (k, t) in fr.iter().enumerate() {
                let inc = spending.spent(0.05, *t) - prev;
                prev = spending.spent(0.05, *t);
                assert!(
                    (exits[k] - inc).abs() < 1e-7,
                    "{spending:?} {alt:?} look {k}: {} vs {inc}",
                    exits[k]
                );
            }
        }
    }
}

#[test]
fn group_sequential_power_of_a_single_look_is_the_z_test() {
    // With one look the design is the fixed-sample z-test: power = Φ(drift − z_{α/2}) + Φ(−drift − z_{α/2}).
    let d =
        GroupSequentialDesign::new(0.05, Alternative::TwoSided, Spending::Pocock, &[1.0]).unwrap();
    let z = Normal::isf(0.025);
    let expect = Normal::cdf(2.5 - z) + Normal::cdf(-2.5 - z);
    assert!((d.power(2.5) - expect).abs() < 1e-9);
}

#[test]
fn msprt_matches_johari_et_al_two_sample_formula() {
    // Johari, Pekelis & Walsh (2017), "Always valid inference: bringing sequential analysis to A/B
    // testing" (arXiv:1512.04922), two-sample normal mSPRT with n units per arm and per-unit
    // variance σ² in each: Λ_n = √(2σ²/(2σ² + nτ²)) · exp(n²τ²(Ȳ − X̄ − θ₀)² / (4σ²(2σ² + nτ²))).
    let (sigma2, tau2, n, diff, theta0): (f64, f64, f64, f64, f64) =
        (2.3, 0.01, 5000.0, 0.11, 0.02);
    let expect = (2.0 * sigma2 / (2.0 * sigma2 + n * tau2)).sqrt()
        * (n * n * tau2 * (diff - theta0).powi(2) / (4.0 * sigma2 * (2.0 * sigma2 + n * tau2)))
            .exp();
    let m = Msprt::new(tau2, 0.05, Alternative::TwoSided).unwrap();
    let look = m.look(diff, 2.0 * sigma2 / n, theta0, None).unwrap();
    assert!(((look.likelihood_ratio - expect) / expect).abs() < 1e-12);
    assert!((look.p_value - (1.0 / expect).min(1.0)).abs() < 1e-12);
    // The confidence sequence is the set of θ₀ not rejected: its ends have Λ = 1/α exactly.
    for end in [look.interval.lower, look.interval.upper] {
        let at_end = m.look(diff, 2.0 * sigma2 / n, end, None).unwrap();
        assert!(
            (at_end.likelihood_ratio - 20.0).abs() < 1e-9,
            "{}",
            at_end.likelihood_ratio
        );
    }
}

#[test]
fn one_sided_mixture_is_the_half_normal_integral() {
    // Robbins (1970) mixture: Λ = ∫ exp(θx/V − θ²/(2V)) · 2φ(θ/τ)/τ dθ over θ > 0, by Simpson.
    let (x, v, tau2): (f64, f64, f64) = (0.05, 4e-4, 0.0009);
    let tau = tau2.sqrt();
    let steps = 20_000;
    let h = 12.0 * tau / steps as f64;
    let mut integral = 0.0;
    for i in 0..=steps {
        let th = h * i as f64;
        let w = if i == 0 || i == steps {
            1.0
        } else if i % 2 == 1 {
            4.0
        } else {
            2.0
        };
        integral +=
            w * (th * x / v - th * th / (2.0 * v)).exp() * 2.0 * Normal::pdf(th / tau) / tau;
    }
    integral *= h / 3.0;
    let m = Msprt::new(tau2, 0.05, Alternative::Greater).unwrap();
    let lr = m.look(x, v, 0.0, None).unwrap().likelihood_ratio;
    assert!(
        ((lr - integral) / integral).abs() < 1e-8,
        "{lr} vs {integral}"
    );
    // Against the wrong direction the one-sided test finds no evidence: Λ = 2·√(4/13)·e^{2.163}·Φ(−2.08)
    // ≈ 0.18 < 1, so the p-value is 1.
    let less = Msprt::new(tau2, 0.05, Alternative::Less)
        .unwrap()
        .look(x, v, 0.0, None)
        .unwrap();
    assert!(
        (less.likelihood_ratio - 0.18).abs() < 0.01 && less.p_value == 1.0,
        "{}",
        less.likelihood_ratio
    );
}

#[test]
fn asymptotic_cs_matches_waudby_smith_et_al() {
    // Waudby-Smith, Arnold, Wu, Howard & Ramdas (2024), "Time-uniform central limit theory and
    // asymptotic confidence sequences", Annals of Statistics, Theorem 2.2: for the mean of n units
    // with standard deviation σ̂, μ̂ ± σ̂ √( 2(nρ² + 1)/(n²ρ²) · ln(√(nρ² + 1)/α) ), and ρ chosen to
    // minimize the width at n = t*: ρ² = (−2 ln α + ln(−2 ln α + 1)) / t*.
    let (alpha, tstar, n, sigma2, mean): (f64, f64, f64, f64, f64) =
        (0.05, 5000.0, 12_000.0, 3.7, 0.4);
    let l = -2.0 * alpha.ln();
    let rho2 = (l + (l + 1.0).ln()) / tstar;
    let half = sigma2.sqrt()
        * (2.0 * (n * rho2 + 1.0) / (n * n * rho2) * ((n * rho2 + 1.0).sqrt() / alpha).ln()).sqrt();
    let cs = AsymptoticCs::new(alpha, tstar, Alternative::TwoSided).unwrap();
    assert!((cs.rho2() - rho2).abs() < 1e-18);
    let look = cs.look(mean, sigma2 / n, n, 0.0, None).unwrap();
    assert!(((look.interval.upper - mean - half) / half).abs() < 1e-12);
    assert!(((mean - look.interval.lower - half) / half).abs() < 1e-12);
    // ρ² makes the width smallest at n = t* among nearby tuning parameters.
    let width = |t: f64| {
        let cs = AsymptoticCs::new(alpha, t, Alternative::TwoSided).unwrap();
        cs.look(0.0, 1.0 / tstar, tstar, 0.0, None)
            .unwrap()
            .interval
            .upper
    };
    assert!(width(tstar) < width(tstar * 1.2) && width(tstar) < width(tstar / 1.2));
}

#[test]
fn confidence_sequence_and_p_value_agree() {
    // Duality (Johari et al. 2017): the always-valid p-value is ≤ α exactly when the confidence
    // sequence excludes the null value.
    let m = Msprt::new(0.002, 0.1, Alternative::TwoSided).unwrap();
    for diff in [-0.2, -0.05, 0.0, 0.03, 0.08, 0.3] {
        let l = m.look(diff, 1e-3, 0.0, None).unwrap();
        assert_eq!(l.rejected, !l.interval.contains(0.0), "diff {diff}");
    }
}
