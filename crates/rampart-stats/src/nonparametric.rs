//! Distribution-free comparisons for skewed metrics such as latency: the Mann–Whitney U test
//! (normal approximation with tie and continuity corrections, or the exact null distribution for
//! small samples without ties, as scipy `mannwhitneyu`), the Hodges–Lehmann shift estimate, and the
//! exact binomial test (scipy `binomtest`).

use crate::dist::{Alternative, Binomial, Normal};
use crate::error::{check, check_finite, Reason, StatsError};

/// How the Mann–Whitney p-value is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MannWhitneyMethod {
    /// Exact when there are no ties and one sample has at most 8 values, else asymptotic (scipy).
    Auto,
    /// Exact null distribution of U (no ties assumed; U is truncated to an integer as scipy does).
    Exact,
    /// Normal approximation with tie correction and continuity correction.
    Asymptotic,
}

/// Result of the Mann–Whitney U test.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MannWhitney {
    /// U statistic of the treatment sample (number of pairs where treatment > control, ties ½).
    pub u: f64,
    pub p_value: f64,
    /// The standardized statistic when the normal approximation was used.
    pub z: Option<f64>,
    pub exact: bool,
}

/// Largest n₁·n₂ for which the exact distribution is built (its cost is O(min(n)·n₁·n₂)).
const MAX_EXACT_CELLS: usize = 250_000;

/// Mann–Whitney U test; `Greater` means treatment values tend to be larger than control values.
pub fn mann_whitney(
    treatment: &[f64],
    control: &[f64],
    alternative: Alternative,
    method: MannWhitneyMethod,
) -> Result<MannWhitney, StatsError> {
    check_finite(treatment)?;
    check_finite(control)?;
    let (n1, n2) = (treatment.len(), control.len());
    if n1 == 0 || n2 == 0 {
        return Err(StatsError::data(Reason::TooFewUnits));
    }
    // Average ranks over the pooled sample.
    let mut all: Vec<(f64, bool)> = treatment
        .iter()
        .map(|&v| (v, true))
        .chain(control.iter().map(|&v| (v, false)))
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (mut r1, mut tie_term, mut has_ties) = (0.0, 0.0, false);
    let mut i = 0;
    while i < all.len() {
        let mut j = i;
        while j + 1 < all.len() && all[j + 1].0 == all[i].0 {
            j += 1;
        }
        let t = (j - i + 1) as f64;
        if t > 1.0 {
            has_ties = true;
            tie_term += t * t * t - t;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        r1 += rank * all[i..=j].iter().filter(|e| e.1).count() as f64;
        i = j + 1;
    }
    let (f1, f2) = (n1 as f64, n2 as f64);
    let u1 = r1 - f1 * (f1 + 1.0) / 2.0;
    let u2 = f1 * f2 - u1;
    let (u, factor) = match alternative {
        Alternative::Greater => (u1, 1.0),
        Alternative::Less => (u2, 1.0),
        Alternative::TwoSided => (u1.max(u2), 2.0),
    };
    let exact = match method {
        MannWhitneyMethod::Exact => true,
        MannWhitneyMethod::Asymptotic => false,
        MannWhitneyMethod::Auto => !(has_ties || n1 > 8 && n2 > 8),
    };
    if exact {
        check(
            n1 * n2 <= MAX_EXACT_CELLS,
            "n1*n2",
            (n1 * n2) as f64,
            "at most 250000 pairs for the exact method",
        )?;
        let p = (factor * exact_u_sf(u.trunc() as usize, n1, n2)).clamp(0.0, 1.0);
        return Ok(MannWhitney {
            u: u1,
            p_value: p,
            z: None,
            exact: true,
        });
    }
    let n = f1 + f2;
    let s = (f1 * f2 / 12.0 * ((n + 1.0) - tie_term / (n * (n - 1.0)))).sqrt();
    if s.is_nan() || s <= 0.0 {
        return Err(StatsError::data(Reason::ZeroVariance));
    }
    let z = (u - f1 * f2 / 2.0 - 0.5) / s;
    let p = (factor * Normal::sf(z)).clamp(0.0, 1.0);
    Ok(MannWhitney {
        u: u1,
        p_value: p,
        z: Some(z),
        exact: false,
    })
}

/// P(U ≥ k) under the null for sample sizes m, n without ties. The counts of U are the coefficients
/// of the Gaussian binomial ∏_{i=1}^{m} (1 − q^{n+i}) / (1 − q^i).
fn exact_u_sf(k: usize, m: usize, n: usize) -> f64 {
    let (m, n) = (m.min(n), m.max(n));
    let len = m * n + 1;
    let mut c = vec![0.0_f64; len];
    c[0] = 1.0;
    for i in 1..=m {
        // Multiply by (1 − q^{n+i}), then divide by (1 − q^i) (a running sum with stride i).
        let a = n + i;
        for j in (a..len).rev() {
            c[j] -= c[j - a];
        }
        for j in i..len {
            c[j] += c[j - i];
        }
    }
    let total: f64 = c.iter().sum();
    if k >= len {
        return 0.0;
    }
    // Sum the smaller side directly for precision; the distribution is symmetric.
    let kc = m * n - k;
    if k > kc {
        c[k..].iter().sum::<f64>() / total
    } else {
        1.0 - c[..k].iter().sum::<f64>() / total
    }
}

/// Hodges–Lehmann estimate of the shift treatment − control: the median of all n₁·n₂ pairwise
/// differences (Hodges & Lehmann 1963). Costs O(n₁·n₂) memory; intended for samples up to a few
/// thousand values each.
pub fn hodges_lehmann(treatment: &[f64], control: &[f64]) -> Result<f64, StatsError> {
    check_finite(treatment)?;
    check_finite(control)?;
    if treatment.is_empty() || control.is_empty() {
        return Err(StatsError::data(Reason::TooFewUnits));
    }
    let cells = treatment.len() * control.len();
    check(
        cells <= 50_000_000,
        "n1*n2",
        cells as f64,
        "at most 5e7 pairs",
    )?;
    let mut d: Vec<f64> = Vec::with_capacity(cells);
    for t in treatment {
        for c in control {
            d.push(t - c);
        }
    }
    let mid = cells / 2;
    let (_, hi, _) = d.select_nth_unstable_by(mid, |a, b| a.total_cmp(b));
    let hi = *hi;
    if cells % 2 == 1 {
        return Ok(hi);
    }
    let lo = d[..mid].iter().copied().fold(f64::NEG_INFINITY, f64::max);
    Ok(0.5 * (lo + hi))
}

/// Result of the exact binomial test.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BinomialTest {
    /// k / n.
    pub estimate: f64,
    pub p_value: f64,
}

/// Exact test of "success probability = p" from k successes in n trials (scipy `binomtest`; the
/// two-sided p-value sums all outcomes no more likely than the observed one, with relative
/// tolerance 1e-7). With p = ½ on signs of paired differences it is the sign test.
pub fn binomial_test(
    k: u64,
    n: u64,
    p: f64,
    alternative: Alternative,
) -> Result<BinomialTest, StatsError> {
    check(n >= 1, "n", n as f64, "at least one trial")?;
    check(k <= n, "k", k as f64, "k ≤ n")?;
    let dist = Binomial::new(n, p)?;
    let p_value = match alternative {
        Alternative::Less => dist.cdf(k),
        Alternative::Greater => {
            if k == 0 {
                1.0
            } else {
                dist.sf(k - 1)
            }
        }
        Alternative::TwoSided => two_sided_binomial(&dist, k, n, p),
    };
    Ok(BinomialTest {
        estimate: k as f64 / n as f64,
        p_value: p_value.min(1.0),
    })
}

fn two_sided_binomial(dist: &Binomial, k: u64, n: u64, p: f64) -> f64 {
    let d = dist.pmf(k);
    let rerr = 1.0 + 1e-7;
    let nf = n as f64;
    let kf = k as f64;
    if kf == p * nf {
        return 1.0;
    }
    // Binary search on the far side of the mode for the last term ≤ d·(1 + 1e-7) (scipy's
    // `_binary_search_for_binom_tst`, on signed integers).
    let search = |a: &dyn Fn(i64) -> f64, target: f64, mut lo: i64, mut hi: i64| -> i64 {
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let v = a(mid);
            if v < target {
                lo = mid + 1;
            } else if v > target {
                hi = mid - 1;
            } else {
                return mid;
            }
        }
        if a(lo) <= target {
            lo
        } else {
            lo - 1
        }
    };
    let pmf = |x: i64| {
        if x < 0 || x as u64 > n {
            0.0
        } else {
            dist.pmf(x as u64)
        }
    };
    let sf = |x: i64| if x < 0 { 1.0 } else { dist.sf(x as u64) };
    let cdf = |x: i64| if x < 0 { 0.0 } else { dist.cdf(x as u64) };
    let n = n as i64;
    let k = k as i64;
    if kf < p * nf {
        let ix = search(&|x| -pmf(x), -d * rerr, (p * nf).ceil() as i64, n);
        let y = n - ix + i64::from(d * rerr == pmf(ix));
        cdf(k) + sf(n - y)
    } else {
        let ix = search(&pmf, d * rerr, 0, (p * nf).floor() as i64);
        let y = ix + 1;
        cdf(y - 1) + sf(k - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_distribution_small_case() {
        // m = n = 2: U takes 0,1,2,2,3,4 over the 6 arrangements ⇒ P(U ≥ 3) = 2/6.
        assert!((exact_u_sf(3, 2, 2) - 2.0 / 6.0).abs() < 1e-15);
        assert!((exact_u_sf(0, 2, 2) - 1.0).abs() < 1e-15);
    }

    #[test]
    fn hodges_lehmann_of_shifted_sample() {
        let c = [1.0, 2.0, 3.0, 4.0];
        let t: Vec<f64> = c.iter().map(|x| x + 10.0).collect();
        assert_eq!(hodges_lehmann(&t, &c).unwrap(), 10.0);
        // Differences 9, 10, 11 ⇒ median 10; with an even count the middle two are averaged.
        assert_eq!(hodges_lehmann(&[11.0], &[1.0, 2.0]).unwrap(), 9.5);
    }

    #[test]
    fn sign_test_symmetry() {
        let a = binomial_test(3, 10, 0.5, Alternative::TwoSided).unwrap();
        let b = binomial_test(7, 10, 0.5, Alternative::TwoSided).unwrap();
        assert!((a.p_value - b.p_value).abs() < 1e-15);
        // P(X ≤ 3) + P(X ≥ 7) = 2·176/1024.
        assert!((a.p_value - 352.0 / 1024.0).abs() < 1e-14);
    }
}
