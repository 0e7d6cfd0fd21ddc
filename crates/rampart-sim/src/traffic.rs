//! The traffic model: arrivals per hour with an optional daily cycle, segments, and per-variant
//! behaviour (conversion probability, error probability per request, latency).

use std::collections::BTreeMap;

use rampart_stats::Rng;

/// How units of one variant behave.
#[derive(Debug, Clone, PartialEq)]
pub struct Behaviour {
    /// Probability that a unit converts (a `purchase` event) after exposure.
    pub conversion: f64,
    /// Probability that a unit's request fails (an `error` event next to its `request` event).
    pub error: f64,
    /// Median latency in milliseconds (log-normal, sigma 0.5).
    pub latency_ms: f64,
}

/// A share of the units with its own behaviour per variant (falls back to the traffic's).
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    /// The segment attribute's value, e.g. `"mobile"`.
    pub value: String,
    /// Fraction of arriving units in this segment; the shares of all segments sum to at most 1.
    pub share: f64,
    pub behaviour: BTreeMap<String, Behaviour>,
}

/// Who arrives and how they behave.
#[derive(Debug, Clone, PartialEq)]
pub struct Traffic {
    /// Mean arrivals per hour, averaged over a day.
    pub units_per_hour: f64,
    /// Peak-to-mean amplitude of a cosine-shaped daily cycle (0 = flat, 0.5 = ±50%).
    pub daily_amplitude: f64,
    /// Hour of the day (0–24, simulated time starts at midnight) when arrivals peak.
    pub peak_hour: f64,
    /// Behaviour per variant name.
    pub behaviour: BTreeMap<String, Behaviour>,
    /// The segment attribute name and its segments; units outside every segment get `"other"`.
    pub segment_attribute: Option<String>,
    pub segments: Vec<Segment>,
}

impl Traffic {
    /// Expected arrivals between `from` and `to` (ms), integrating the daily cycle.
    pub fn expected_arrivals(&self, from: i64, to: i64) -> f64 {
        let day = 86_400_000.0;
        let w = std::f64::consts::TAU / day;
        let hours = (to - from) as f64 / 3_600_000.0;
        let peak = self.peak_hour * 3_600_000.0;
        // ∫ (1 + a cos(w (t − peak))) dt, in hours.
        let cycle = if self.daily_amplitude == 0.0 {
            0.0
        } else {
            self.daily_amplitude
                * ((w * (to as f64 - peak)).sin() - (w * (from as f64 - peak)).sin())
                / w
                / 3_600_000.0
        };
        (self.units_per_hour * (hours + cycle)).max(0.0)
    }

    /// Draws a segment value for a new unit.
    pub fn draw_segment(&self, rng: &mut Rng) -> Option<&str> {
        self.segment_for(rng.uniform())
    }

    /// The segment value of a unit whose segment draw is `u` in [0, 1).
    pub fn segment_for(&self, mut u: f64) -> Option<&str> {
        self.segment_attribute.as_ref()?;
        for s in &self.segments {
            if u < s.share {
                return Some(&s.value);
            }
            u -= s.share;
        }
        Some("other")
    }

    /// The behaviour of `variant` for a unit in `segment`.
    pub fn behaviour(&self, variant: &str, segment: Option<&str>) -> Option<&Behaviour> {
        segment
            .and_then(|v| self.segments.iter().find(|s| s.value == v))
            .and_then(|s| s.behaviour.get(variant))
            .or_else(|| self.behaviour.get(variant))
    }
}

/// A Poisson draw with mean `lambda` (inversion for small means, normal approximation above).
pub fn poisson(rng: &mut Rng, lambda: f64) -> u64 {
    if lambda <= 0.0 {
        return 0;
    }
    if lambda > 50.0 {
        let x = lambda + lambda.sqrt() * rng.normal();
        return x.round().max(0.0) as u64;
    }
    let l = (-lambda).exp();
    let (mut k, mut p) = (0u64, 1.0);
    loop {
        p *= rng.uniform();
        if p <= l {
            return k;
        }
        k += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrivals_integrate_the_daily_cycle() {
        let t = Traffic {
            units_per_hour: 100.0,
            daily_amplitude: 0.5,
            peak_hour: 6.0,
            behaviour: BTreeMap::new(),
            segment_attribute: None,
            segments: Vec::new(),
        };
        // A whole day averages out to the mean rate.
        assert!((t.expected_arrivals(0, 86_400_000) - 2_400.0).abs() < 1e-6);
        // The first half-day is the busy half: more than the mean.
        assert!(t.expected_arrivals(0, 43_200_000) > 1_200.0 + 100.0);
    }

    #[test]
    fn poisson_draws_have_the_right_mean() {
        let mut rng = Rng::new(1);
        for lambda in [0.5, 7.0, 400.0] {
            let n = 20_000;
            let mean = (0..n)
                .map(|_| poisson(&mut rng, lambda) as f64)
                .sum::<f64>()
                / n as f64;
            assert!(
                (mean - lambda).abs() < 4.0 * (lambda / n as f64).sqrt(),
                "λ={lambda}: mean {mean}"
            );
        }
    }
}
