//! Group-sequential designs with Lan–DeMets alpha spending: O'Brien–Fleming-type and Pocock-type
//! spending functions, boundaries for K looks at given information fractions by numerical
//! integration of the joint normal distribution of the look statistics (the recursion of Armitage,
//! McPherson & Rowe 1969, as set out in Jennison & Turnbull 2000, ch. 19), the sequential test that
//! uses them, and exit probabilities under a drift for power and expected sample size.
//!
//! Computing a design costs milliseconds (K × grid²); the caller builds it once and caches it.

use crate::dist::{Alternative, Normal};
use crate::error::{check, check_alpha, StatsError};
use crate::special;

/// Lan–DeMets spending function: cumulative type I error spent by information fraction t.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spending {
    /// α(t) = 2 − 2Φ(z_{α/2} / √t): spends almost nothing early (Lan & DeMets 1983).
    OBrienFleming,
    /// α(t) = α · ln(1 + (e − 1)t): spends evenly (Lan & DeMets 1983).
    Pocock,
}

impl Spending {
    /// Cumulative alpha spent at fraction t ∈ [0, 1] for a design of total level `alpha`.
    pub fn spent(&self, alpha: f64, t: f64) -> f64 {
        if t <= 0.0 {
            return 0.0;
        }
        if t >= 1.0 {
            return alpha;
        }
        match self {
            Spending::OBrienFleming => 2.0 * Normal::sf(Normal::isf(alpha / 2.0) / t.sqrt()),
            Spending::Pocock => alpha * (1.0 + (std::f64::consts::E - 1.0) * t).ln(),
        }
    }
}

/// What a look of a group-sequential test decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupSequentialDecision {
    /// The statistic crossed the boundary: reject the null.
    Reject,
    /// Not crossed, more looks remain.
    Continue,
    /// Not crossed at the final look: the null is not rejected.
    Accept,
}

/// A group-sequential design: information fractions, spending function and efficacy boundaries on
/// the z scale. Two-sided designs reject when |Z_k| ≥ c_k; one-sided ones when Z_k ≥ c_k
/// (`Greater`) or Z_k ≤ −c_k (`Less`).
#[derive(Debug, Clone, PartialEq)]
pub struct GroupSequentialDesign {
    alpha: f64,
    alternative: Alternative,
    /// `None` for designs built from given boundaries.
    spending: Option<Spending>,
    fractions: Vec<f64>,
    boundaries: Vec<f64>,
}

/// Grid spacing (z units) for Simpson integration; finer for few looks where precision is cheap.
fn grid_step(looks: usize) -> f64 {
    if looks <= 20 {
        0.01
    } else {
        0.04
    }
}

/// How far below the mean the continuation region is truncated (one-sided designs).
const TRUNCATION: f64 = 9.0;

/// Sub-density of Z_k on a Simpson grid over the continuation region, after surviving looks 1..k.
struct Grid {
    z: Vec<f64>,
    /// density × Simpson weight, ready to integrate.
    weighted: Vec<f64>,
}

fn simpson(a: f64, b: f64, step: f64) -> (Vec<f64>, Vec<f64>) {
    let m = (((b - a) / step).ceil() as usize).max(2).div_ceil(2) * 2;
    let h = (b - a) / m as f64;
    let z: Vec<f64> = (0..=m).map(|i| a + h * i as f64).collect();
    let w = (0..=m)
        .map(|i| {
            let c = if i == 0 || i == m {
                1.0
            } else if i % 2 == 1 {
                4.0
            } else {
                2.0
            };
            c * h / 3.0
        })
        .collect();
    (z, w)
}

/// Walks through the looks: at each one, `boundary(k, exit)` picks c_k given a function returning
/// the upper (and, two-sided, lower) exit probability for a candidate c, then the density is carried
/// over the continuation region. Returns (boundaries, upper exit, lower exit) per look.
fn recurse(
    fractions: &[f64],
    two_sided: bool,
    drift: f64,
    step: f64,
    mut boundary: impl FnMut(usize, &dyn Fn(f64) -> f64) -> f64,
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let mut grid: Option<Grid> = None;
    let (mut cs, mut ups, mut lows) = (vec![], vec![], vec![]);
    let mut t_prev = 0.0;
    for (k, &t) in fractions.iter().enumerate() {
        let delta = t - t_prev;
        let sd = delta.sqrt();
        let st = t.sqrt();
        let sp = t_prev.sqrt();
        let mean_k = drift * st;
        // P(cross above c at look k) and P(cross below −c), integrating over the previous grid.
        let exits = |c: f64| -> (f64, f64) {
            match &grid {
                None => (
                    Normal::sf(c - mean_k),
                    if two_sided {
                        Normal::cdf(-c - mean_k)
                    } else {
                        0.0
                    },
                ),
                Some(g) => {
                    let (mut up, mut low) = (0.0, 0.0);
                    for (z, w) in g.z.iter().zip(&g.weighted) {
                        let shift = z * sp + drift * delta;
                        up += w * Normal::sf((c * st - shift) / sd);
                        if two_sided {
                            low += w * Normal::cdf((-c * st - shift) / sd);
                        }
                    }
                    (up, low)
                }
            }
        };
        let total = |c: f64| {
            let (u, l) = exits(c);
            u + l
        };
        let c = boundary(k, &total);
        let (up, low) = exits(c);
        cs.push(c);
        ups.push(up);
        lows.push(low);
        if k + 1 == fractions.len() {
            break;
        }
        // Continuation region of Z_k, truncated where the density is negligible.
        let hi = c.min(mean_k + TRUNCATION);
        let lo = if two_sided {
            (-c).max(mean_k - TRUNCATION)
        } else {
            mean_k - TRUNCATION
        };
        let (z, w) = simpson(lo, hi.max(lo + step), step);
        let density: Vec<f64> = match &grid {
            None => z.iter().map(|x| Normal::pdf(x - mean_k)).collect(),
            Some(g) => z
                .iter()
                .map(|x| {
                    let mut f = 0.0;
                    for (u, wu) in g.z.iter().zip(&g.weighted) {
                        f += wu * special::normal_pdf((x * st - u * sp - drift * delta) / sd);
                    }
                    f * st / sd
                })
                .collect(),
        };
        let weighted = density.iter().zip(&w).map(|(f, w)| f * w).collect();
        grid = Some(Grid { z, weighted });
        t_prev = t;
    }
    (cs, ups, lows)
}

fn check_fractions(fractions: &[f64]) -> Result<(), StatsError> {
    check(!fractions.is_empty(), "fractions", 0.0, "at least one look")?;
    let mut prev = 0.0;
    for &t in fractions {
        check(
            t > prev && t <= 1.0,
            "fractions",
            t,
            "increasing fractions in (0, 1]",
        )?;
        prev = t;
    }
    check(
        (prev - 1.0).abs() < 1e-12,
        "fractions",
        prev,
        "a last look at fraction 1",
    )
}

/// Boundaries beyond this are treated as "cannot reject at this look" (spending below ~1e-15).
const MAX_BOUNDARY: f64 = 8.0;

impl GroupSequentialDesign {
    /// Computes the boundaries for looks at increasing information fractions in (0, 1], the last
    /// being 1. `alpha` is the total type I error (split over both sides when two-sided).
    pub fn new(
        alpha: f64,
        alternative: Alternative,
        spending: Spending,
        fractions: &[f64],
    ) -> Result<Self, StatsError> {
        check_alpha(alpha)?;
        check_fractions(fractions)?;
        let two_sided = alternative == Alternative::TwoSided;
        let step = grid_step(fractions.len());
        let (boundaries, _, _) = recurse(fractions, two_sided, 0.0, step, |k, exit| {
            let before = if k == 0 {
                0.0
            } else {
                spending.spent(alpha, fractions[k - 1])
            };
            let increment = spending.spent(alpha, fractions[k]) - before;
            if exit(MAX_BOUNDARY) >= increment {
                return MAX_BOUNDARY;
            }
            special::brent(|c| exit(c) - increment, 0.0, MAX_BOUNDARY, 1e-10)
                .unwrap_or(MAX_BOUNDARY)
        });
        Ok(GroupSequentialDesign {
            alpha,
            alternative,
            spending: Some(spending),
            fractions: fractions.to_vec(),
            boundaries,
        })
    }

    /// A design with given boundaries (e.g. the classical Pocock or O'Brien–Fleming constants of
    /// Jennison & Turnbull 2000, Table 2.1); `alpha` is reported back, the boundaries decide.
    pub fn with_boundaries(
        alpha: f64,
        alternative: Alternative,
        fractions: &[f64],
        boundaries: &[f64],
    ) -> Result<Self, StatsError> {
        check_alpha(alpha)?;
        check_fractions(fractions)?;
        check(
            boundaries.len() == fractions.len(),
            "boundaries",
            boundaries.len() as f64,
            "one boundary per look",
        )?;
        for &c in boundaries {
            check(
                c > 0.0 && c.is_finite(),
                "boundaries",
                c,
                "positive finite boundaries",
            )?;
        }
        Ok(GroupSequentialDesign {
            alpha,
            alternative,
            spending: None,
            fractions: fractions.to_vec(),
            boundaries: boundaries.to_vec(),
        })
    }

    /// `looks` equally spaced looks.
    pub fn equally_spaced(
        alpha: f64,
        alternative: Alternative,
        spending: Spending,
        looks: usize,
    ) -> Result<Self, StatsError> {
        check(looks >= 1, "looks", looks as f64, "at least one look")?;
        let fractions: Vec<f64> = (1..=looks).map(|k| k as f64 / looks as f64).collect();
        Self::new(alpha, alternative, spending, &fractions)
    }

    pub fn alpha(&self) -> f64 {
        self.alpha
    }
    pub fn alternative(&self) -> Alternative {
        self.alternative
    }
    pub fn spending(&self) -> Option<Spending> {
        self.spending
    }
    pub fn fractions(&self) -> &[f64] {
        &self.fractions
    }
    /// Critical values c_k on the z scale (|Z| for two-sided designs).
    pub fn boundaries(&self) -> &[f64] {
        &self.boundaries
    }

    /// Decision at look `k` (0-based) for the z statistic (estimate / standard error).
    pub fn look(&self, k: usize, z: f64) -> Result<GroupSequentialDecision, StatsError> {
        check(
            k < self.boundaries.len(),
            "look",
            k as f64,
            "a look index of the design",
        )?;
        let c = self.boundaries[k];
        let crossed = match self.alternative {
            Alternative::TwoSided => z.abs() >= c,
            Alternative::Greater => z >= c,
            Alternative::Less => z <= -c,
        };
        Ok(if crossed {
            GroupSequentialDecision::Reject
        } else if k + 1 == self.boundaries.len() {
            GroupSequentialDecision::Accept
        } else {
            GroupSequentialDecision::Continue
        })
    }

    /// Probability of rejecting at each look when E[Z at fraction 1] = `drift` (drift = effect /
    /// standard error of the estimate at full information). For two-sided designs both sides count.
    pub fn exit_probabilities(&self, drift: f64) -> Vec<f64> {
        let two_sided = self.alternative == Alternative::TwoSided;
        let drift = if self.alternative == Alternative::Less {
            -drift
        } else {
            drift
        };
        let step = grid_step(self.fractions.len());
        let (_, ups, lows) = recurse(&self.fractions, two_sided, drift, step, |k, _| {
            self.boundaries[k]
        });
        ups.iter().zip(&lows).map(|(u, l)| u + l).collect()
    }

    /// Probability of rejecting at some look under the given drift (the type I error at drift 0).
    pub fn power(&self, drift: f64) -> f64 {
        self.exit_probabilities(drift).iter().sum()
    }

    /// Expected information fraction at stopping, E[t_stop] (multiply by the maximum sample size).
    pub fn expected_fraction(&self, drift: f64) -> f64 {
        let exits = self.exit_probabilities(drift);
        let stopped: f64 = exits.iter().sum();
        let early: f64 = exits.iter().zip(&self.fractions).map(|(p, t)| p * t).sum();
        early + (1.0 - stopped).max(0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spending_reaches_alpha() {
        for s in [Spending::OBrienFleming, Spending::Pocock] {
            assert!((s.spent(0.05, 1.0) - 0.05).abs() < 1e-15);
            assert!(s.spent(0.05, 0.5) < 0.05 && s.spent(0.05, 0.5) > 0.0);
        }
        // OBF-type spends less than Pocock-type early on.
        assert!(Spending::OBrienFleming.spent(0.05, 0.2) < Spending::Pocock.spent(0.05, 0.2));
    }

    #[test]
    fn single_look_is_fixed_sample_test() {
        let d = GroupSequentialDesign::new(0.05, Alternative::TwoSided, Spending::Pocock, &[1.0])
            .unwrap();
        assert!((d.boundaries()[0] - 1.959_963_984_540_054).abs() < 1e-8);
        let d = GroupSequentialDesign::new(
            0.025,
            Alternative::Greater,
            Spending::OBrienFleming,
            &[1.0],
        )
        .unwrap();
        assert!((d.boundaries()[0] - 1.959_963_984_540_054).abs() < 1e-8);
    }

    #[test]
    fn invalid_fractions_are_rejected() {
        assert!(GroupSequentialDesign::new(
            0.05,
            Alternative::TwoSided,
            Spending::Pocock,
            &[0.5, 0.4, 1.0]
        )
        .is_err());
        assert!(GroupSequentialDesign::new(
            0.05,
            Alternative::TwoSided,
            Spending::Pocock,
            &[0.5, 0.9]
        )
        .is_err());
    }
}
