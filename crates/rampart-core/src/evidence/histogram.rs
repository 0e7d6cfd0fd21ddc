//! A log-bucketed histogram for latency metrics: relative accuracy of 0.5% on every quantile,
//! mergeable, and serialized with only its non-empty bins.

use serde::{Deserialize, Serialize};

/// Relative accuracy of every quantile estimate (0.5%, so p50/p95/p99 are well within 1%).
pub const ACCURACY: f64 = 0.005;
/// Ratio between the bounds of consecutive bins: `(1 + ACCURACY) / (1 - ACCURACY)`.
const GAMMA: f64 = (1.0 + ACCURACY) / (1.0 - ACCURACY);
/// `GAMMA.ln()`, which cannot be computed in a constant; a unit test checks the literal.
const LN_GAMMA: f64 = 0.010_000_083_334_583_179;
/// Positive values below this share the lowest bin: a latency under a nanosecond is noise, and the
/// floor bounds the number of bins a single outlier can open.
pub const MIN_TRACKED: f64 = 1e-6;
/// Largest value accepted (in milliseconds, about 31 years).
pub const MAX_VALUE: f64 = 1e12;

/// Why a value was not recorded.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum HistogramError {
    #[error("value {0} is not a finite number")]
    NotFinite(f64),
    #[error("value {0} is negative; latencies are >= 0")]
    Negative(f64),
    #[error("value {0} is larger than {MAX_VALUE}")]
    TooLarge(f64),
    #[error("quantile {0} is not in [0, 1]")]
    BadQuantile(f64),
    #[error("histogram was written with accuracy {found}, this build uses {ACCURACY}")]
    Accuracy { found: f64 },
    #[error("histogram bin {0} is outside the range any accepted value falls in")]
    BinOutOfRange(i32),
    #[error("histogram bin counts add up to {bins} but its count says {count}")]
    Count { bins: u64, count: u64 },
}

/// Counts of values in logarithmic bins. Bin `i` holds the values in `(γ^(i-1), γ^i]` with
/// `γ = (1 + ACCURACY) / (1 - ACCURACY)`; zero has a bin of its own.
///
/// Stored densely from the lowest to the highest non-empty bin, so recording is an index
/// computation and an increment.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(try_from = "HistogramRepr", into = "HistogramRepr")]
pub struct Histogram {
    count: u64,
    zero: u64,
    /// Index of the bin held in `bins[0]`.
    offset: i32,
    bins: Vec<u64>,
    min: f64,
    max: f64,
}

/// Representative value of bin `i`: the point whose relative distance to both bounds is `ACCURACY`.
fn bin_value(i: i32) -> f64 {
    (f64::from(i) * LN_GAMMA).exp() * 2.0 / (GAMMA + 1.0)
}

fn bin_index(v: f64) -> i32 {
    // Values are within [MIN_TRACKED, MAX_VALUE], so the index is within about ±3000.
    (v.max(MIN_TRACKED).ln() / LN_GAMMA).ceil() as i32
}

impl Histogram {
    pub fn new() -> Histogram {
        Histogram::default()
    }

    /// Adds one value; refuses negative, non-finite and too-large values and leaves the
    /// histogram unchanged.
    pub fn record(&mut self, v: f64) -> Result<(), HistogramError> {
        check_value(v)?;
        self.record_unchecked(v);
        Ok(())
    }

    /// Records a value already accepted by `check_value`.
    pub(crate) fn record_unchecked(&mut self, v: f64) {
        if self.count == 0 {
            self.min = v;
            self.max = v;
        } else {
            self.min = self.min.min(v);
            self.max = self.max.max(v);
        }
        self.count += 1;
        if v == 0.0 {
            self.zero += 1;
            return;
        }
        let i = bin_index(v);
        *self.slot(i) += 1;
    }

    fn slot(&mut self, i: i32) -> &mut u64 {
        if self.bins.is_empty() {
            self.offset = i;
            self.bins.push(0);
        } else if i < self.offset {
            let grow = (self.offset - i) as usize;
            self.bins.splice(0..0, std::iter::repeat_n(0, grow));
            self.offset = i;
        } else if (i - self.offset) as usize >= self.bins.len() {
            self.bins.resize((i - self.offset) as usize + 1, 0);
        }
        &mut self.bins[(i - self.offset) as usize]
    }

    /// Adds every value of `other` to this histogram.
    pub fn merge(&mut self, other: &Histogram) {
        if other.count == 0 {
            return;
        }
        if self.count == 0 {
            self.min = other.min;
            self.max = other.max;
        } else {
            self.min = self.min.min(other.min);
            self.max = self.max.max(other.max);
        }
        self.count += other.count;
        self.zero += other.zero;
        for (k, &c) in other.bins.iter().enumerate() {
            if c != 0 {
                *self.slot(other.offset + k as i32) += c;
            }
        }
    }

    /// Number of values recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Smallest and largest value recorded, exactly.
    pub fn min(&self) -> Option<f64> {
        (self.count > 0).then_some(self.min)
    }
    pub fn max(&self) -> Option<f64> {
        (self.count > 0).then_some(self.max)
    }

    /// The `q`-quantile: an estimate within `ACCURACY` (relative) of the value of rank
    /// `ceil(q * count)` in sorted order (the smallest value at or above a share `q` of the
    /// values). `None` when empty or when `q` is outside `[0, 1]`.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        self.try_quantile(q).ok().flatten()
    }

    /// Like `quantile`, with the reason when `q` is not a quantile.
    pub fn try_quantile(&self, q: f64) -> Result<Option<f64>, HistogramError> {
        if !(0.0..=1.0).contains(&q) {
            return Err(HistogramError::BadQuantile(q));
        }
        if self.count == 0 {
            return Ok(None);
        }
        let rank = ((q * self.count as f64).ceil() as u64).clamp(1, self.count);
        if rank <= self.zero {
            return Ok(Some(0.0));
        }
        let mut seen = self.zero;
        for (k, &c) in self.bins.iter().enumerate() {
            seen += c;
            if seen >= rank {
                let v = bin_value(self.offset + k as i32);
                // The exact extremes are known; never report past them.
                return Ok(Some(v.clamp(self.min, self.max)));
            }
        }
        Ok(Some(self.max))
    }

    /// Non-empty bins as `(representative value, count)`, ascending; zero first when present.
    pub fn bins(&self) -> impl Iterator<Item = (f64, u64)> + '_ {
        let zero = (self.zero > 0).then_some((0.0, self.zero));
        zero.into_iter().chain(
            self.bins
                .iter()
                .enumerate()
                .filter(|(_, &c)| c > 0)
                .map(|(k, &c)| (bin_value(self.offset + k as i32), c)),
        )
    }

    fn sparse(&self) -> impl Iterator<Item = (i32, u64)> + '_ {
        self.bins
            .iter()
            .enumerate()
            .filter(|(_, &c)| c > 0)
            .map(|(k, &c)| (self.offset + k as i32, c))
    }
}

/// Whether `v` may be recorded as a latency.
pub(crate) fn check_value(v: f64) -> Result<(), HistogramError> {
    if !v.is_finite() {
        Err(HistogramError::NotFinite(v))
    } else if v < 0.0 {
        Err(HistogramError::Negative(v))
    } else if v > MAX_VALUE {
        Err(HistogramError::TooLarge(v))
    } else {
        Ok(())
    }
}

/// Equal when they hold the same values in the same bins, however their storage grew.
impl PartialEq for Histogram {
    fn eq(&self, other: &Histogram) -> bool {
        self.count == other.count
            && self.zero == other.zero
            && self.min().map(f64::to_bits) == other.min().map(f64::to_bits)
            && self.max().map(f64::to_bits) == other.max().map(f64::to_bits)
            && self.sparse().eq(other.sparse())
    }
}

/// The serialized form: non-empty bins only, as `[index, count]` pairs.
#[derive(Serialize, Deserialize)]
struct HistogramRepr {
    accuracy: f64,
    count: u64,
    zero: u64,
    #[serde(default)]
    min: Option<f64>,
    #[serde(default)]
    max: Option<f64>,
    bins: Vec<(i32, u64)>,
}

impl From<Histogram> for HistogramRepr {
    fn from(h: Histogram) -> HistogramRepr {
        HistogramRepr {
            accuracy: ACCURACY,
            count: h.count,
            zero: h.zero,
            min: h.min(),
            max: h.max(),
            bins: h.sparse().collect(),
        }
    }
}

impl TryFrom<HistogramRepr> for Histogram {
    type Error = HistogramError;

    fn try_from(r: HistogramRepr) -> Result<Histogram, HistogramError> {
        if r.accuracy != ACCURACY {
            return Err(HistogramError::Accuracy { found: r.accuracy });
        }
        let mut h = Histogram::new();
        let mut bins = r.zero;
        h.zero = r.zero;
        let reachable = bin_index(MIN_TRACKED)..=bin_index(MAX_VALUE);
        for (i, c) in r.bins {
            if !reachable.contains(&i) {
                return Err(HistogramError::BinOutOfRange(i));
            }
            let slot = h.slot(i);
            *slot = slot.saturating_add(c);
            bins = bins.saturating_add(c);
        }
        if bins != r.count {
            return Err(HistogramError::Count {
                bins,
                count: r.count,
            });
        }
        h.count = r.count;
        h.min = r.min.unwrap_or(0.0);
        h.max = r.max.unwrap_or(0.0);
        Ok(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ln_gamma_literal_matches() {
        assert!((LN_GAMMA - GAMMA.ln()).abs() < 1e-15);
    }

    #[test]
    fn every_value_is_within_accuracy_of_its_bin() {
        let mut v = MIN_TRACKED;
        while v < MAX_VALUE {
            let est = bin_value(bin_index(v));
            assert!(
                (est - v).abs() <= v * ACCURACY * (1.0 + 1e-9),
                "{v} -> {est}"
            );
            v *= 1.37;
        }
    }

    #[test]
    fn zero_has_its_own_bin_and_bad_values_are_refused() {
        let mut h = Histogram::new();
        h.record(0.0).unwrap();
        h.record(0.0).unwrap();
        h.record(10.0).unwrap();
        assert_eq!(h.record(-1.0), Err(HistogramError::Negative(-1.0)));
        assert!(matches!(
            h.record(f64::NAN),
            Err(HistogramError::NotFinite(_))
        ));
        assert_eq!(h.record(1e13), Err(HistogramError::TooLarge(1e13)));
        assert_eq!(h.count(), 3);
        assert_eq!(h.quantile(0.5), Some(0.0));
        assert_eq!(h.quantile(0.67), Some(10.0)); // clamped to the exact max
        assert_eq!(h.try_quantile(1.5), Err(HistogramError::BadQuantile(1.5)));
        assert_eq!(h.bins().collect::<Vec<_>>()[0], (0.0, 2));
    }

    #[test]
    fn merge_equals_recording_everything_in_one() {
        let (mut a, mut b, mut all) = (Histogram::new(), Histogram::new(), Histogram::new());
        for i in 0..200 {
            let v = f64::from(i) * 3.7;
            if i % 3 == 0 { &mut a } else { &mut b }.record(v).unwrap();
            all.record(v).unwrap();
        }
        a.merge(&b);
        assert_eq!(a, all);
        assert_eq!(a.quantile(0.9), all.quantile(0.9));
    }

    #[test]
    fn serde_round_trip_keeps_only_non_empty_bins() {
        let mut h = Histogram::new();
        for v in [1.0, 1.0, 100.0, 0.0] {
            h.record(v).unwrap();
        }
        let json = serde_json::to_value(&h).unwrap();
        assert_eq!(json["bins"].as_array().unwrap().len(), 2);
        assert_eq!(json["zero"], 1);
        let back: Histogram = serde_json::from_value(json).unwrap();
        assert_eq!(back, h);
        let bad = serde_json::json!({"accuracy": 0.01, "count": 0, "zero": 0, "bins": []});
        assert!(serde_json::from_value::<Histogram>(bad).is_err());
        let far = serde_json::json!({"accuracy": ACCURACY, "count": 2, "zero": 0,
            "bins": [[i32::MIN, 1], [i32::MAX, 1]]});
        assert!(serde_json::from_value::<Histogram>(far).is_err());
        let miscounted = serde_json::json!({"accuracy": ACCURACY, "count": 5, "zero": 0,
            "bins": [[10, 1]]});
        assert!(serde_json::from_value::<Histogram>(miscounted).is_err());
    }
}
