//! The simulated world one seed plays in: when units arrive, which segment each is in, and what each
//! unit would do under each variant at a given time (time-of-day swings, the candidate's novelty
//! decay, conversions that arrive after a delay).
//!
//! Randomness is drawn per unit from a generator seeded by (seed, unit index) — common random
//! numbers — so every strategy run on the same seed sees the same units at the same times, and a
//! unit served the same variant at the same time behaves the same under every strategy.

use std::collections::BTreeMap;

use rampart_core::Millis;
use rampart_stats::Rng;

use crate::traffic::{poisson, Behaviour, Traffic};

pub const HOUR_MS: Millis = 3_600_000;
const DAY_MS: f64 = 86_400_000.0;

/// A variant's conversion rising and falling over the day: × (1 + amplitude · cos(2π (h − peak)/24)).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Daily {
    pub amplitude: f64,
    pub peak_hour: f64,
}

impl Daily {
    fn factor(&self, ts: Millis) -> f64 {
        let phase = (ts as f64 - self.peak_hour * HOUR_MS as f64) / DAY_MS;
        1.0 + self.amplitude * (std::f64::consts::TAU * phase).cos()
    }
}

/// The candidate's conversion starts `lift` (relative) away from its long-run value and decays
/// toward it with `half_life_ms`: × (1 + lift · 2^(−t / half_life)), t since the simulation start.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Novelty {
    pub lift: f64,
    pub half_life_ms: Millis,
}

impl Novelty {
    fn factor(&self, ts: Millis) -> f64 {
        1.0 + self.lift * (-(ts as f64) / self.half_life_ms.max(1) as f64).exp2()
    }
}

/// Time-dependent behaviour of one variant, on top of its long-run behaviour in the traffic model.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Dynamics {
    pub daily: Option<Daily>,
    pub novelty: Option<Novelty>,
}

/// Everything a strategy needs to simulate one seed.
#[derive(Debug, Clone, PartialEq)]
pub struct World {
    /// Arrivals, segments and long-run behaviour per variant (and per segment).
    pub traffic: Traffic,
    /// Time-of-day and novelty effects per variant name.
    pub dynamics: BTreeMap<String, Dynamics>,
    /// Mean delay between exposure and conversion (exponential); 0 = at once.
    pub conversion_delay_ms: Millis,
    /// Length of one step of simulated time (arrivals are drawn per step; controllers look per step).
    pub tick_ms: Millis,
    pub horizon_ms: Millis,
}

/// The per-unit random draws, fixed by (seed, unit index).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Draws {
    pub segment: f64,
    /// Uniform in [0, 1): a strategy that splits by share serves the candidate when below it.
    pub assign: f64,
    pub error: f64,
    pub conversion: f64,
    pub delay: f64,
    pub latency: f64,
    /// Seeds the unit's query (ranking scenarios) and any tie-breaking.
    pub query: u64,
}

/// One arriving unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Unit {
    pub index: u64,
    pub ts: Millis,
    pub draws: Draws,
}

/// What a unit does when served a variant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Outcome {
    pub error: bool,
    /// When its conversion event arrives, if it converts.
    pub converted_at: Option<Millis>,
    pub latency_ms: f64,
}

/// The arrivals of one seed: units per tick.
#[derive(Debug, Clone, PartialEq)]
pub struct Arrivals {
    pub seed: u64,
    pub tick_ms: Millis,
    pub per_tick: Vec<u64>,
    /// Index of the first unit of each tick.
    pub first: Vec<u64>,
}

impl Arrivals {
    pub fn ticks(&self) -> usize {
        self.per_tick.len()
    }

    /// The units arriving in tick `k`, spread evenly over it.
    pub fn units(&self, k: usize) -> impl Iterator<Item = Unit> + '_ {
        let n = self.per_tick.get(k).copied().unwrap_or(0);
        let start = self.first.get(k).copied().unwrap_or(0);
        let t0 = k as Millis * self.tick_ms;
        (0..n).map(move |i| {
            let index = start + i;
            Unit {
                index,
                ts: t0 + (self.tick_ms * i as Millis) / n.max(1) as Millis,
                draws: draws(self.seed, index),
            }
        })
    }

    /// Units arriving in ticks `from..` to the end.
    pub fn units_from(&self, from: usize) -> impl Iterator<Item = Unit> + '_ {
        (from..self.ticks()).flat_map(move |k| self.units(k))
    }

    pub fn total(&self) -> u64 {
        self.per_tick.iter().sum()
    }
}

/// The draws of unit `index` under `seed`.
pub fn draws(seed: u64, index: u64) -> Draws {
    // A different stream per unit; splitmix inside `Rng::new` decorrelates nearby keys.
    let mut rng = Rng::new(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ index);
    Draws {
        segment: rng.uniform(),
        assign: rng.uniform(),
        error: rng.uniform(),
        conversion: rng.uniform(),
        delay: rng.uniform(),
        latency: rng.normal(),
        query: rng.next_u64(),
    }
}

impl World {
    /// A world with only the traffic model: no time-of-day effects, no novelty, immediate outcomes.
    pub fn from_traffic(traffic: Traffic, tick_ms: Millis, horizon_ms: Millis) -> World {
        World {
            traffic,
            dynamics: BTreeMap::new(),
            conversion_delay_ms: 0,
            tick_ms,
            horizon_ms,
        }
    }

    /// Number of ticks up to the horizon.
    pub fn ticks(&self) -> usize {
        let tick = self.tick_ms.max(1);
        ((self.horizon_ms + tick - 1) / tick).max(0) as usize
    }

    /// Draws the arrivals of `seed`: Poisson per tick around the traffic's (cyclic) mean.
    pub fn arrivals(&self, seed: u64) -> Arrivals {
        let mut rng = Rng::new(seed ^ 0xA441_7A15);
        let ticks = self.ticks();
        let mut per_tick = Vec::with_capacity(ticks);
        let mut first = Vec::with_capacity(ticks);
        let mut next = 0u64;
        for k in 0..ticks {
            let from = k as Millis * self.tick_ms;
            let to = from + self.tick_ms;
            let n = poisson(&mut rng, self.traffic.expected_arrivals(from, to));
            first.push(next);
            per_tick.push(n);
            next += n;
        }
        Arrivals {
            seed,
            tick_ms: self.tick_ms,
            per_tick,
            first,
        }
    }

    /// The segment value of a unit, if the traffic has a segment attribute.
    pub fn segment(&self, unit: &Unit) -> Option<&str> {
        self.traffic.segment_for(unit.draws.segment)
    }

    /// The long-run behaviour of `variant` in `segment`.
    pub fn behaviour(&self, variant: &str, segment: Option<&str>) -> Option<&Behaviour> {
        self.traffic.behaviour(variant, segment)
    }

    /// The conversion probability of `variant` in `segment` at `ts`, with time-of-day and novelty.
    pub fn conversion_at(&self, variant: &str, segment: Option<&str>, ts: Millis) -> Option<f64> {
        let b = self.behaviour(variant, segment)?;
        let mut p = b.conversion;
        if let Some(d) = self.dynamics.get(variant) {
            if let Some(daily) = d.daily {
                p *= daily.factor(ts);
            }
            if let Some(novelty) = d.novelty {
                p *= novelty.factor(ts);
            }
        }
        Some(p.clamp(0.0, 1.0))
    }

    /// The error probability of `variant` in `segment` at `ts` (time-of-day applies to errors too).
    pub fn error_at(&self, variant: &str, segment: Option<&str>, ts: Millis) -> Option<f64> {
        let b = self.behaviour(variant, segment)?;
        let daily = self
            .dynamics
            .get(variant)
            .and_then(|d| d.daily)
            .map_or(1.0, |d| d.factor(ts));
        Some((b.error * daily).clamp(0.0, 1.0))
    }

    /// What `unit` does when served `variant` at its arrival time; `None` for an unknown variant.
    pub fn outcome(&self, unit: &Unit, variant: &str) -> Option<Outcome> {
        let segment = self.segment(unit);
        let b = self.behaviour(variant, segment)?;
        let conversion = self.conversion_at(variant, segment, unit.ts)?;
        let error = self.error_at(variant, segment, unit.ts)?;
        let converted_at = (unit.draws.conversion < conversion).then(|| {
            let delay = -(self.conversion_delay_ms as f64) * (1.0 - unit.draws.delay).ln();
            unit.ts + delay.round() as Millis
        });
        Some(Outcome {
            error: unit.draws.error < error,
            converted_at,
            latency_ms: b.latency_ms * (0.5 * unit.draws.latency).exp(),
        })
    }

    /// Whether `candidate` is worse than `baseline` for units of `segment`, by their long-run
    /// behaviour: lower conversion, more errors or slower.
    pub fn worse(&self, baseline: &str, candidate: &str, segment: Option<&str>) -> bool {
        match (
            self.behaviour(baseline, segment),
            self.behaviour(candidate, segment),
        ) {
            (Some(b), Some(c)) => {
                c.conversion < b.conversion || c.error > b.error || c.latency_ms > b.latency_ms
            }
            _ => false,
        }
    }

    /// The segment values units can have (with `other` when the shares leave room), or none.
    pub fn segment_values(&self) -> Vec<Option<&str>> {
        if self.traffic.segment_attribute.is_none() {
            return vec![None];
        }
        let mut out: Vec<Option<&str>> = self
            .traffic
            .segments
            .iter()
            .map(|s| Some(s.value.as_str()))
            .collect();
        let share: f64 = self.traffic.segments.iter().map(|s| s.share).sum();
        if share < 1.0 - 1e-9 {
            out.push(Some("other"));
        }
        out
    }

    /// Whether the candidate is worse for any segment (or overall when there are no segments).
    pub fn candidate_worse(&self, baseline: &str, candidate: &str) -> bool {
        self.segment_values()
            .into_iter()
            .any(|s| self.worse(baseline, candidate, s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn world() -> World {
        let b = |c: f64| Behaviour {
            conversion: c,
            error: 0.01,
            latency_ms: 50.0,
        };
        let traffic = Traffic {
            units_per_hour: 600.0,
            daily_amplitude: 0.0,
            peak_hour: 0.0,
            behaviour: BTreeMap::from([("a".to_string(), b(0.1)), ("b".to_string(), b(0.2))]),
            segment_attribute: None,
            segments: Vec::new(),
        };
        World::from_traffic(traffic, 60_000, 2 * HOUR_MS)
    }

    #[test]
    fn the_same_seed_gives_the_same_units_and_outcomes() {
        let w = world();
        let (a, b) = (w.arrivals(7), w.arrivals(7));
        assert_eq!(a, b);
        assert_ne!(a.per_tick, w.arrivals(8).per_tick);
        let ua: Vec<Unit> = a.units_from(0).collect();
        let ub: Vec<Unit> = b.units_from(0).collect();
        assert_eq!(ua, ub);
        assert_eq!(ua.len() as u64, a.total());
        // Served the better variant, every unit that converts on the worse one converts too.
        for u in &ua {
            let worse = w.outcome(u, "a").unwrap();
            let better = w.outcome(u, "b").unwrap();
            assert!(worse.converted_at.is_none() || better.converted_at.is_some());
            assert_eq!(worse.error, better.error);
        }
    }

    #[test]
    fn novelty_decays_to_the_long_run_value() {
        let mut w = world();
        w.dynamics.insert(
            "b".into(),
            Dynamics {
                daily: None,
                novelty: Some(Novelty {
                    lift: 0.5,
                    half_life_ms: HOUR_MS,
                }),
            },
        );
        let at = |h: i64| w.conversion_at("b", None, h * HOUR_MS).unwrap();
        assert!((at(0) - 0.3).abs() < 1e-12);
        assert!((at(1) - 0.25).abs() < 1e-12);
        assert!((at(40) - 0.2).abs() < 1e-9);
    }

    #[test]
    fn delays_are_exponential_with_the_given_mean() {
        let mut w = world();
        w.conversion_delay_ms = 30 * 60_000;
        let arrivals = w.arrivals(3);
        let delays: Vec<f64> = arrivals
            .units_from(0)
            .filter_map(|u| {
                let o = w.outcome(&u, "b")?;
                o.converted_at.map(|t| (t - u.ts) as f64)
            })
            .collect();
        let mean = delays.iter().sum::<f64>() / delays.len() as f64;
        // ~240 conversions: the standard error of the mean is about 30 min / √240 ≈ 2 min.
        assert!((mean - 1_800_000.0).abs() < 4.0 * 120_000.0, "mean {mean}");
    }
}
