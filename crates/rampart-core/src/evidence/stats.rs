//! Sufficient statistics of one metric for one variant (or segment, or time bucket), and the
//! values derived from them. These are what the analysis reads; they add up across buckets.

use serde::{Deserialize, Serialize, Serializer};

use super::histogram::Histogram;
use crate::config::MetricKind;

/// Sums over units (binary, count, sum, ratio) or over events (latency) of one metric.
///
/// For binary, count and sum metrics `n` is the number of registered units and `sum`, `sum_sq`
/// are over their per-unit values. For ratio metrics `sum`/`sum_sq` are over per-unit numerators,
/// `den_sum`/`den_sum_sq` over denominators and `cross` is `Σ numerator·denominator`. For latency
/// metrics `n` is the number of latency events, `sum`/`sum_sq` are over event values and
/// `histogram` holds their distribution.
///
/// Experiments also keep a pre-exposure covariate x per unit for binary, count and sum metrics
/// (the unit's value of the metric from events folded before its first exposure): `pre_n` units
/// carry one, `pre_sum`/`pre_sum_sq` are over x and `pre_cross` is `Σ x·value`. They are zero
/// elsewhere.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct MetricStats {
    pub kind: MetricKind,
    pub n: u64,
    pub sum: f64,
    pub sum_sq: f64,
    #[serde(default)]
    pub den_sum: f64,
    #[serde(default)]
    pub den_sum_sq: f64,
    #[serde(default)]
    pub cross: f64,
    /// Events that would have counted but carried an unusable value (not finite, out of range,
    /// negative or missing latency).
    #[serde(default)]
    pub skipped: u64,
    #[serde(default)]
    pub histogram: Option<Histogram>,
    #[serde(default)]
    pub pre_n: u64,
    #[serde(default)]
    pub pre_sum: f64,
    #[serde(default)]
    pub pre_sum_sq: f64,
    #[serde(default)]
    pub pre_cross: f64,
}

/// A derived value is only reported when it is a finite number.
fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

impl MetricStats {
    /// Empty statistics; latency metrics get an empty histogram.
    pub fn new(kind: MetricKind) -> MetricStats {
        MetricStats {
            kind,
            n: 0,
            sum: 0.0,
            sum_sq: 0.0,
            den_sum: 0.0,
            den_sum_sq: 0.0,
            cross: 0.0,
            skipped: 0,
            histogram: (kind == MetricKind::Latency).then(Histogram::new),
            pre_n: 0,
            pre_sum: 0.0,
            pre_sum_sq: 0.0,
            pre_cross: 0.0,
        }
    }

    /// Adds `other` (same metric) into `self`: the statistics of the union of both groups.
    pub fn merge(&mut self, other: &MetricStats) {
        self.n += other.n;
        self.sum += other.sum;
        self.sum_sq += other.sum_sq;
        self.den_sum += other.den_sum;
        self.den_sum_sq += other.den_sum_sq;
        self.cross += other.cross;
        self.skipped += other.skipped;
        self.pre_n += other.pre_n;
        self.pre_sum += other.pre_sum;
        self.pre_sum_sq += other.pre_sum_sq;
        self.pre_cross += other.pre_cross;
        if let (Some(a), Some(b)) = (&mut self.histogram, &other.histogram) {
            a.merge(b);
        } else if self.histogram.is_none() {
            self.histogram.clone_from(&other.histogram);
        }
    }

    /// True when adding these statistics would change nothing.
    pub fn is_empty(&self) -> bool {
        self.n == 0
            && self.sum == 0.0
            && self.sum_sq == 0.0
            && self.den_sum == 0.0
            && self.den_sum_sq == 0.0
            && self.cross == 0.0
            && self.skipped == 0
            && self.pre_n == 0
            && self.pre_sum == 0.0
            && self.pre_sum_sq == 0.0
            && self.pre_cross == 0.0
            && self.histogram.as_ref().is_none_or(|h| h.count() == 0)
    }

    /// Mean per unit (per event for latency; of the numerator for ratio). `None` when `n == 0`.
    pub fn mean(&self) -> Option<f64> {
        if self.n == 0 {
            return None;
        }
        finite(self.sum / self.n as f64)
    }

    /// Sample variance (divisor `n - 1`). `None` below two observations. Rounding can make
    /// `sum_sq - sum²/n` slightly negative for constant values; that is reported as 0.
    pub fn variance(&self) -> Option<f64> {
        sample_moment(self.n, self.sum_sq, self.sum, self.sum)
    }

    /// Mean of the per-unit denominators of a ratio metric.
    pub fn den_mean(&self) -> Option<f64> {
        if self.n == 0 {
            return None;
        }
        finite(self.den_sum / self.n as f64)
    }

    /// Sample variance of the per-unit denominators of a ratio metric.
    pub fn den_variance(&self) -> Option<f64> {
        sample_moment(self.n, self.den_sum_sq, self.den_sum, self.den_sum)
    }

    /// Sample covariance of per-unit numerator and denominator (ratio metrics).
    pub fn covariance(&self) -> Option<f64> {
        if self.n < 2 {
            return None;
        }
        let n = self.n as f64;
        finite((self.cross - self.sum * self.den_sum / n) / (n - 1.0))
    }

    /// `Σ numerator / Σ denominator` of a ratio metric. `None` when the denominator sums to 0.
    pub fn ratio(&self) -> Option<f64> {
        if self.den_sum == 0.0 {
            return None;
        }
        finite(self.sum / self.den_sum)
    }

    /// Mean of the pre-exposure covariate. `None` when no unit carries one.
    pub fn pre_mean(&self) -> Option<f64> {
        if self.pre_n == 0 {
            return None;
        }
        finite(self.pre_sum / self.pre_n as f64)
    }

    /// Sample variance of the pre-exposure covariate.
    pub fn pre_variance(&self) -> Option<f64> {
        sample_moment(self.pre_n, self.pre_sum_sq, self.pre_sum, self.pre_sum)
    }

    /// Sample covariance of the per-unit value with its pre-exposure covariate; `None` unless
    /// every unit carries a covariate (`pre_n == n`) and there are two of them.
    pub fn pre_covariance(&self) -> Option<f64> {
        if self.pre_n != self.n || self.n < 2 {
            return None;
        }
        let n = self.n as f64;
        finite((self.pre_cross - self.sum * self.pre_sum / n) / (n - 1.0))
    }

    /// The `q`-quantile of a latency metric, within 0.5% (relative) of the exact sample
    /// quantile; `None` for other kinds, when empty, or when `q` is outside `[0, 1]`.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        self.histogram.as_ref()?.quantile(q)
    }
}

/// `(Σx² − (Σx)²/n)/(n−1)` or, with two different sums, the covariance; `None` when undefined.
fn sample_moment(n: u64, sum_sq: f64, a: f64, b: f64) -> Option<f64> {
    if n < 2 {
        return None;
    }
    let nf = n as f64;
    finite(((sum_sq - a * b / nf) / (nf - 1.0)).max(0.0))
}

/// The JSON form carries the derived values too, so a reader need not compute them; fields
/// that mean nothing for the kind are left out.
#[derive(Serialize)]
struct MetricStatsOut<'a> {
    kind: MetricKind,
    n: u64,
    sum: f64,
    sum_sq: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    den_sum: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    den_sum_sq: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cross: Option<f64>,
    skipped: u64,
    mean: Option<f64>,
    variance: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ratio: Option<Option<f64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    den_mean: Option<Option<f64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    den_variance: Option<Option<f64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    covariance: Option<Option<f64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    p50: Option<Option<f64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    p95: Option<Option<f64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    p99: Option<Option<f64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    histogram: Option<&'a Histogram>,
    #[serde(skip_serializing_if = "is_zero_u64")]
    pre_n: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pre_sum: f64,
    #[serde(skip_serializing_if = "is_zero")]
    pre_sum_sq: f64,
    #[serde(skip_serializing_if = "is_zero")]
    pre_cross: f64,
}

fn is_zero(x: &f64) -> bool {
    *x == 0.0
}

fn is_zero_u64(x: &u64) -> bool {
    *x == 0
}

impl Serialize for MetricStats {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let ratio = self.kind == MetricKind::Ratio;
        let latency = self.histogram.is_some();
        let only = |on: bool, v: f64| on.then_some(v);
        MetricStatsOut {
            kind: self.kind,
            n: self.n,
            sum: self.sum,
            sum_sq: self.sum_sq,
            den_sum: only(ratio, self.den_sum),
            den_sum_sq: only(ratio, self.den_sum_sq),
            cross: only(ratio, self.cross),
            skipped: self.skipped,
            mean: self.mean(),
            variance: self.variance(),
            ratio: ratio.then(|| self.ratio()),
            den_mean: ratio.then(|| self.den_mean()),
            den_variance: ratio.then(|| self.den_variance()),
            covariance: ratio.then(|| self.covariance()),
            p50: latency.then(|| self.quantile(0.5)),
            p95: latency.then(|| self.quantile(0.95)),
            p99: latency.then(|| self.quantile(0.99)),
            histogram: self.histogram.as_ref(),
            pre_n: self.pre_n,
            pre_sum: self.pre_sum,
            pre_sum_sq: self.pre_sum_sq,
            pre_cross: self.pre_cross,
        }
        .serialize(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from_values(kind: MetricKind, xs: &[f64]) -> MetricStats {
        let mut s = MetricStats::new(kind);
        for &x in xs {
            s.n += 1;
            s.sum += x;
            s.sum_sq += x * x;
        }
        s
    }

    #[test]
    fn mean_and_sample_variance() {
        let s = from_values(MetricKind::Sum, &[1.0, 2.0, 3.0, 6.0]);
        assert_eq!(s.mean(), Some(3.0));
        // deviations -2, -1, 0, 3 → 14 / 3
        assert!((s.variance().unwrap() - 14.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn degenerate_inputs_give_none_not_nan() {
        let empty = MetricStats::new(MetricKind::Ratio);
        assert_eq!(empty.mean(), None);
        assert_eq!(empty.variance(), None);
        assert_eq!(empty.ratio(), None);
        assert_eq!(empty.covariance(), None);
        assert_eq!(empty.quantile(0.5), None);
        let one = from_values(MetricKind::Count, &[5.0]);
        assert_eq!(one.variance(), None);
        let constant = from_values(MetricKind::Sum, &[0.1; 7]);
        assert!(constant.variance().unwrap() >= 0.0);
    }

    #[test]
    fn json_has_derived_values_for_the_kind() {
        let s = from_values(MetricKind::Count, &[1.0, 3.0]);
        let j = serde_json::to_value(&s).unwrap();
        assert_eq!(j["mean"], 2.0);
        assert_eq!(j["variance"], 2.0);
        assert!(j.get("ratio").is_none() && j.get("p50").is_none() && j.get("cross").is_none());
        assert!(j.get("pre_n").is_none() && j.get("pre_cross").is_none());
        let back: MetricStats = serde_json::from_value(j).unwrap();
        assert_eq!(back, s);

        // Covariate moments are written when set, and read back.
        let mut c = from_values(MetricKind::Count, &[1.0, 3.0]);
        c.pre_n = 2;
        c.pre_sum = 4.0;
        c.pre_sum_sq = 10.0;
        c.pre_cross = 10.0;
        let j = serde_json::to_value(&c).unwrap();
        assert_eq!(j["pre_n"], 2);
        assert_eq!(j["pre_cross"], 10.0);
        let back: MetricStats = serde_json::from_value(j).unwrap();
        assert_eq!(back, c);
        // x = (1, 3), y = (1, 3): mean 2, variance 2, covariance 2.
        assert_eq!(c.pre_mean(), Some(2.0));
        assert_eq!(c.pre_variance(), Some(2.0));
        assert_eq!(c.pre_covariance(), Some(2.0));
        c.pre_n = 1;
        assert_eq!(c.pre_covariance(), None);

        let mut l = MetricStats::new(MetricKind::Latency);
        let j = serde_json::to_value(&l).unwrap();
        assert!(j["p50"].is_null() && j.get("p50").is_some());
        l.histogram.as_mut().unwrap().record(12.0).unwrap();
        let j = serde_json::to_value(&l).unwrap();
        assert_eq!(j["p99"], 12.0);
    }
}
