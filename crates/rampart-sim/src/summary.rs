//! Per-strategy figures over many seeds: decision counts, time to decision (median and p90),
//! units exposed to a worse model, and the false rollback and false promotion rates.

use serde::Serialize;

use crate::strategy::{Ending, StrategyKind, StrategyRun};
use crate::world::HOUR_MS;

/// What one strategy did over all seeds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StrategySummary {
    pub strategy: StrategyKind,
    pub runs: u64,
    pub promoted: u64,
    pub rolled_back: u64,
    pub undecided: u64,
    /// Hours to a decision; undecided runs count at the horizon, so these are lower bounds when
    /// `undecided` > 0.
    pub hours_to_decision_median: f64,
    pub hours_to_decision_p90: f64,
    /// Mean over seeds of the units served a variant worse than the baseline.
    pub worse_units_mean: f64,
    /// Share of runs rolled back although the candidate is not worse; `None` when it is worse.
    pub false_rollback_rate: Option<f64>,
    /// Share of runs promoting a worse variant; `None` when the candidate is not worse.
    pub false_promotion_rate: Option<f64>,
    /// Whether the candidate is worse than the baseline (the truth the rates are judged by).
    pub candidate_worse: bool,
}

/// The `q` quantile (0..=1) of sorted values by the nearest-rank rule.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Summarizes the runs of each strategy in `kinds` order (strategies without runs are left out).
pub fn summarize(
    runs: &[StrategyRun],
    kinds: &[StrategyKind],
    horizon_ms: i64,
) -> Vec<StrategySummary> {
    let mut out = Vec::new();
    for &kind in kinds {
        let mine: Vec<&StrategyRun> = runs.iter().filter(|r| r.strategy == kind).collect();
        if mine.is_empty() {
            continue;
        }
        let n = mine.len() as u64;
        let count = |e: Ending| mine.iter().filter(|r| r.ending == e).count() as u64;
        let mut hours: Vec<f64> = mine
            .iter()
            .map(|r| r.decided_at.unwrap_or(horizon_ms) as f64 / HOUR_MS as f64)
            .collect();
        hours.sort_by(f64::total_cmp);
        let worse = mine.iter().filter(|r| r.candidate_worse).count() as u64;
        let rate = |k: u64| k as f64 / n as f64;
        out.push(StrategySummary {
            strategy: kind,
            runs: n,
            promoted: count(Ending::Promoted),
            rolled_back: count(Ending::RolledBack),
            undecided: count(Ending::Undecided),
            hours_to_decision_median: quantile(&hours, 0.5),
            hours_to_decision_p90: quantile(&hours, 0.9),
            worse_units_mean: mine.iter().map(|r| r.worse_units).sum::<f64>() / n as f64,
            false_rollback_rate: (worse < n)
                .then(|| rate(mine.iter().filter(|r| r.false_rollback).count() as u64)),
            false_promotion_rate: (worse > 0)
                .then(|| rate(mine.iter().filter(|r| r.false_promotion).count() as u64)),
            candidate_worse: worse > 0,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_quantiles() {
        let v = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0];
        assert_eq!(quantile(&v, 0.5), 5.0);
        assert_eq!(quantile(&v, 0.9), 9.0);
        assert_eq!(quantile(&v, 1.0), 10.0);
        assert_eq!(quantile(&[3.0], 0.9), 3.0);
        assert_eq!(quantile(&[], 0.5), 0.0);
    }
}
