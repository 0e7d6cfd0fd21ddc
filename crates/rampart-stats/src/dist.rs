//! Distributions used by the tests: standard normal, Student t, chi-square, beta, binomial, and the
//! noncentral t needed by t-test power. Each exposes cdf / sf (upper tail, computed directly so that
//! tiny p-values keep their relative precision) / pdf and, where the tests need it, a quantile.

use crate::error::{check, StatsError};
use crate::special;

/// Which alternative hypothesis a test or interval is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Alternative {
    /// Effect ≠ null value; intervals are two-sided.
    TwoSided,
    /// Effect > null value; intervals are (lower, +∞).
    Greater,
    /// Effect < null value; intervals are (-∞, upper).
    Less,
}

/// The standard normal distribution N(0, 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Normal;

impl Normal {
    pub fn pdf(x: f64) -> f64 {
        special::normal_pdf(x)
    }
    pub fn cdf(x: f64) -> f64 {
        special::normal_cdf(x)
    }
    pub fn sf(x: f64) -> f64 {
        special::normal_cdf(-x)
    }
    /// Quantile (inverse cdf); ±∞ at 0 and 1.
    pub fn quantile(p: f64) -> f64 {
        special::normal_quantile(p)
    }
    /// Inverse survival function: x with P(Z > x) = q.
    pub fn isf(q: f64) -> f64 {
        special::normal_quantile_upper(q)
    }
}

/// Student's t distribution with `df` > 0 degrees of freedom (df may be fractional, as in Welch).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StudentT {
    df: f64,
}

impl StudentT {
    pub fn new(df: f64) -> Result<Self, StatsError> {
        check(df > 0.0 && !df.is_nan(), "df", df, "degrees of freedom > 0")?;
        Ok(StudentT { df })
    }
    pub fn df(&self) -> f64 {
        self.df
    }
    /// P(T ≤ t) for t ≤ 0, computed as ½ I_{df/(df+t²)}(df/2, ½).
    fn lower_tail(&self, t: f64) -> f64 {
        if t == f64::NEG_INFINITY {
            return 0.0;
        }
        if self.df.is_infinite() {
            return Normal::cdf(t);
        }
        if self.df >= LARGE_DF {
            return large_df_lower_tail(t, self.df);
        }
        let t2 = t * t;
        let x = self.df / (self.df + t2);
        let y = t2 / (self.df + t2);
        0.5 * special::incomplete_beta(0.5 * self.df, 0.5, x, y).0
    }
    pub fn cdf(&self, t: f64) -> f64 {
        if t <= 0.0 {
            self.lower_tail(t)
        } else {
            1.0 - self.lower_tail(-t)
        }
    }
    pub fn sf(&self, t: f64) -> f64 {
        self.cdf(-t)
    }
    pub fn pdf(&self, t: f64) -> f64 {
        let v = self.df;
        // 1 / (√v B(½, v/2)) · (1 + t²/v)^{−(v+1)/2}.
        (-special::ln_beta(0.5, 0.5 * v) - 0.5 * v.ln() - 0.5 * (v + 1.0) * (t * t / v).ln_1p())
            .exp()
    }
    /// Quantile for p in (0, 1), by safeguarded Newton on the lower tail (precise for tiny p).
    pub fn quantile(&self, p: f64) -> f64 {
        if p <= 0.0 {
            return f64::NEG_INFINITY;
        }
        if p >= 1.0 {
            return f64::INFINITY;
        }
        if p > 0.5 {
            return -self.lower_quantile(1.0 - p);
        }
        self.lower_quantile(p)
    }
    /// Inverse survival function: t with P(T > t) = q.
    pub fn isf(&self, q: f64) -> f64 {
        -self.quantile(q)
    }
    fn lower_quantile(&self, p: f64) -> f64 {
        if p == 0.5 {
            return 0.0;
        }
        let v = self.df;
        // Closed forms for 1 and 2 degrees of freedom.
        if v == 1.0 {
            return -1.0 / (std::f64::consts::PI * p).tan();
        }
        if v == 2.0 {
            return (2.0 * p - 1.0) / (2.0 * p * (1.0 - p)).sqrt();
        }
        // Cornish–Fisher start, then bracket on the lower tail.
        let z = Normal::quantile(p);
        let z3 = z * z * z;
        let mut x0 =
            z + (z3 + z) / (4.0 * v) + (5.0 * z3 * z * z + 16.0 * z3 + 3.0 * z) / (96.0 * v * v);
        if !x0.is_finite() || x0 >= 0.0 {
            x0 = z;
        }
        let mut lo = x0.min(-1.0);
        while self.lower_tail(lo) > p {
            lo *= 2.0;
            if !lo.is_finite() {
                return f64::NEG_INFINITY;
            }
        }
        // Newton on ln F(t) - ln p keeps the steps well scaled deep in the tail.
        let lnp = p.ln();
        special::newton_bracketed(
            |t| {
                let f = self.lower_tail(t);
                (f.ln() - lnp, self.pdf(t) / f)
            },
            lo,
            0.0,
            x0,
        )
    }
}

/// From this many degrees of freedom on, the lower tail is integrated from the density instead of
/// read from I_x(ν/2, ½): with x = ν/(ν+t²) within t²/ν of 1, the incomplete beta's power x^{ν/2}
/// and its continued fraction amplify the rounding of x by about ν, which cost 1e-9 relative at
/// ν = 1e7 and 1e-5 at 1e12 (a Welch test reaches such ν at a few million units per arm).
const LARGE_DF: f64 = 1e5;

/// Above this, the lower tail is Φ(t) minus the integral of f − φ over [t, 0] (F(0) = Φ(0) = ½),
/// with f − φ = φ·expm1(Δ) and Δ = ln f − ln φ summed as a series in 1/ν, so the difference keeps
/// its relative precision. Further out the tail itself is integrated, from −∞.
const TAIL_SPLIT: f64 = -4.0;

/// ln f_ν(s) − ln φ(s) for ν ≥ [`LARGE_DF`] and s² ≤ 16, as a series in 1/ν:
/// Δ = c₀ − s²/(2ν) + (ν+1)/2 Σ_{k≥2} (−1)^k (s²/ν)^k / k, where
/// c₀ = −ln B(½, ν/2) − ½ ln ν + ½ ln 2π = (ν/2) ln(1 + 1/ν) − ½ + δ((ν+1)/2) − δ(ν/2)
/// and δ is the Stirling remainder; (ν/2) ln(1 + 1/ν) − ½ = Σ_{k≥2} (−1)^{k+1} / (2k ν^{k−1}).
fn log_ratio_to_normal(s: f64, v: f64) -> f64 {
    let mut c0 = special::stirlerr(0.5 * (v + 1.0)) - special::stirlerr(0.5 * v);
    let mut power = 1.0 / v;
    for k in 2..12 {
        let term = power / (2 * k) as f64;
        c0 += if k % 2 == 0 { -term } else { term };
        power /= v;
    }
    let w = s * s / v;
    let mut sum = 0.0;
    let mut wk = w;
    for k in 2..40 {
        wk *= w;
        let term = wk / k as f64;
        sum += if k % 2 == 0 { term } else { -term };
        if term < 1e-18 * sum.abs() {
            break;
        }
    }
    c0 - 0.5 * w + 0.5 * (v + 1.0) * sum
}

/// P(T ≤ t) for t ≤ 0 at ν ≥ [`LARGE_DF`], by Gauss–Legendre quadrature of a density computed in
/// logarithms (`ln_1p`, and ln B(½, ν/2) without cancelling log-gammas): relative error below
/// 1e-13 (`tests/data/reference.json`, against mpmath at 60 digits).
fn large_df_lower_tail(t: f64, v: f64) -> f64 {
    if t >= TAIL_SPLIT {
        let gap = special::gauss_legendre(t, 0.0, 4, |s| {
            Normal::pdf(s) * log_ratio_to_normal(s, v).exp_m1()
        });
        return Normal::cdf(t) - gap;
    }
    // ∫_0^∞ f(t − u) du: near the normal, f(t − u)/f(t) ≈ exp(−|t|u − u²/2), so 40/|t| covers
    // more than 40 e-folds; panels of 5 e-folds each keep every panel smooth.
    let ln_c = -special::ln_beta(0.5, 0.5 * v) - 0.5 * v.ln();
    let pdf = |s: f64| (ln_c - 0.5 * (v + 1.0) * (s * s / v).ln_1p()).exp();
    let span = 40.0 / t.abs();
    special::gauss_legendre(0.0, span, 8, |u| pdf(t - u))
}

/// Chi-square distribution with `df` > 0 degrees of freedom.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChiSquared {
    df: f64,
}

impl ChiSquared {
    pub fn new(df: f64) -> Result<Self, StatsError> {
        check(
            df > 0.0 && df.is_finite(),
            "df",
            df,
            "degrees of freedom > 0",
        )?;
        Ok(ChiSquared { df })
    }
    pub fn cdf(&self, x: f64) -> f64 {
        special::incomplete_gamma(0.5 * self.df, 0.5 * x.max(0.0)).0
    }
    pub fn sf(&self, x: f64) -> f64 {
        special::incomplete_gamma(0.5 * self.df, 0.5 * x.max(0.0)).1
    }
}

/// Beta distribution with shape parameters a, b > 0.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Beta {
    a: f64,
    b: f64,
}

impl Beta {
    pub fn new(a: f64, b: f64) -> Result<Self, StatsError> {
        check(a > 0.0 && a.is_finite(), "a", a, "a shape parameter > 0")?;
        check(b > 0.0 && b.is_finite(), "b", b, "a shape parameter > 0")?;
        Ok(Beta { a, b })
    }
    pub fn mean(&self) -> f64 {
        self.a / (self.a + self.b)
    }
    pub fn pdf(&self, x: f64) -> f64 {
        special::beta_density(self.a, self.b, x, 1.0 - x)
    }
    pub fn cdf(&self, x: f64) -> f64 {
        special::incomplete_beta(self.a, self.b, x.clamp(0.0, 1.0), 1.0 - x.clamp(0.0, 1.0)).0
    }
    pub fn sf(&self, x: f64) -> f64 {
        special::incomplete_beta(self.a, self.b, x.clamp(0.0, 1.0), 1.0 - x.clamp(0.0, 1.0)).1
    }
}

/// Binomial distribution with `n` trials and success probability `p`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Binomial {
    n: u64,
    p: f64,
}

impl Binomial {
    pub fn new(n: u64, p: f64) -> Result<Self, StatsError> {
        check((0.0..=1.0).contains(&p), "p", p, "a probability in [0, 1]")?;
        Ok(Binomial { n, p })
    }
    pub fn pmf(&self, k: u64) -> f64 {
        if k > self.n {
            return 0.0;
        }
        special::binomial_density(k as f64, self.n as f64, self.p, 1.0 - self.p)
    }
    /// P(X ≤ k) = I_{1-p}(n-k, k+1).
    pub fn cdf(&self, k: u64) -> f64 {
        if k >= self.n {
            return 1.0;
        }
        let (n, k) = (self.n as f64, k as f64);
        special::incomplete_beta(n - k, k + 1.0, 1.0 - self.p, self.p).0
    }
    /// P(X > k) = I_p(k+1, n-k).
    pub fn sf(&self, k: u64) -> f64 {
        if k >= self.n {
            return 0.0;
        }
        let (n, k) = (self.n as f64, k as f64);
        special::incomplete_beta(k + 1.0, n - k, self.p, 1.0 - self.p).0
    }
}

/// Lower tail of the noncentral t distribution, P(T ≤ t; df, δ), by Lenth's algorithm AS 243
/// (Applied Statistics 38, 1989) on Guenther's series; absolute error below 1e-13.
pub(crate) fn noncentral_t_cdf(t: f64, df: f64, delta: f64) -> f64 {
    let (tt, del, negdel) = if t < 0.0 {
        (-t, -delta, true)
    } else {
        (t, delta, false)
    };
    let mut tnc = 0.0;
    let x = tt * tt / (tt * tt + df);
    if x > 0.0 {
        let lambda = del * del;
        let mut p = 0.5 * (-0.5 * lambda).exp();
        let mut q = (2.0 / std::f64::consts::PI).sqrt() * p * del;
        let mut s = 0.5 - p;
        // Guard against underflow of p for very large noncentrality.
        if s < 1e-7 {
            s = -0.5 * (-0.5 * lambda).exp_m1();
        }
        let mut a = 0.5;
        let b = 0.5 * df;
        let y = df / (tt * tt + df);
        let rxb = y.powf(b);
        // ln √π + ln Γ(b) − ln Γ(b + ½) = ln B(½, b).
        let albeta = special::ln_beta(0.5, b);
        let mut xodd = special::incomplete_beta(a, b, x, y).0;
        let mut godd = 2.0 * rxb * (a * x.ln() - albeta).exp();
        let mut xeven = if b * x <= 1e-8 { b * x } else { 1.0 - rxb };
        let mut geven = b * x * rxb;
        tnc = p * xodd + q * xeven;
        let mut en = 1.0;
        loop {
            a += 1.0;
            xodd -= godd;
            xeven -= geven;
            godd *= x * (a + b - 1.0) / a;
            geven *= x * (a + b - 0.5) / (a + 0.5);
            p *= lambda / (2.0 * en);
            q *= lambda / (2.0 * en + 1.0);
            s -= p;
            en += 1.0;
            tnc += p * xodd + q * xeven;
            let errbd = 2.0 * s * (xodd - godd);
            if errbd.abs() <= 1e-14 || en > 10_000.0 {
                break;
            }
        }
    }
    tnc += Normal::cdf(-del);
    let tnc = tnc.clamp(0.0, 1.0);
    if negdel {
        1.0 - tnc
    } else {
        tnc
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_quantile_round_trips() {
        for &df in &[1.0, 2.0, 3.5, 10.0, 1e4] {
            let t = StudentT::new(df).unwrap();
            for &p in &[1e-12, 0.001, 0.025, 0.4, 0.9, 0.999] {
                let x = t.quantile(p);
                assert!(((t.cdf(x) - p) / p).abs() < 1e-11, "df {df} p {p}");
            }
        }
    }

    #[test]
    fn noncentral_t_reduces_to_central() {
        let t = StudentT::new(7.0).unwrap();
        for &x in &[-3.0, -0.5, 0.7, 2.5] {
            assert!((noncentral_t_cdf(x, 7.0, 0.0) - t.cdf(x)).abs() < 1e-13);
        }
    }

    #[test]
    fn binomial_cdf_sums_pmf() {
        let b = Binomial::new(30, 0.37).unwrap();
        let mut acc = 0.0;
        for k in 0..30 {
            acc += b.pmf(k);
            assert!(((b.cdf(k) - acc) / acc).abs() < 1e-12);
            assert!((b.cdf(k) + b.sf(k) - 1.0).abs() < 1e-14);
        }
    }
}
