//! Probabilistic interleaving (Hofmann, Whiteson & de Rijke 2011). Each ranking r becomes a softmax
//! over its items not yet shown, P_r(d) ∝ 1/rank_r(d)^τ with rank_r the item's original rank in r.
//! Each position draws a ranking by a fair coin (among the rankings with items left) and an item
//! from that ranking's softmax.
//!
//! Credit marginalises the team assignment. Which items are still free at position t depends on the
//! list only, not on the assignment, so the probability of the list under an assignment a is
//! Π_t ½·P_{a_t}(d_t | free_t): a product of per-position factors. The posterior over assignments
//! is therefore independent per position, with P(a_t = A) = P_A(d_t) / (P_A(d_t) + P_B(d_t)).
//! The outcome of an assignment depends only on who owns the clicked positions, so the exact
//! expected outcome is a Poisson-binomial sum over the m clicked positions: O(L·n + m²) time for a
//! list of L items drawn from n, instead of the 2^L of enumerating assignments. No Monte-Carlo
//! estimate is needed at any length.

use std::collections::HashSet;

use rampart_stats::Rng;

use super::{Credit, Item};

/// Builds the list by sampling as described in the module doc.
pub(super) fn interleave(
    a: &[String],
    b: &[String],
    tau: f64,
    length: usize,
    rng: &mut Rng,
) -> Vec<Item> {
    let rankings = [a, b];
    let mut used: HashSet<&str> = HashSet::with_capacity(length);
    let mut free: Vec<(usize, f64)> = Vec::new();
    let mut items = Vec::with_capacity(length);
    while items.len() < length {
        let live: Vec<usize> = (0..rankings.len())
            .filter(|&r| rankings[r].iter().any(|id| !used.contains(id.as_str())))
            .collect();
        let ranking = match live.len() {
            0 => break,
            1 => rankings[live[0]],
            n => rankings[live[rng.below(n as u64) as usize]],
        };
        free.clear();
        free.extend(
            ranking
                .iter()
                .enumerate()
                .filter(|(_, id)| !used.contains(id.as_str()))
                .map(|(i, _)| (i, log_weight(i, tau))),
        );
        // Weights fall with rank, so the first free item has the largest: scale by it to keep
        // every exponent ≤ 0 (no overflow for large τ).
        let top = free[0].1;
        let total: f64 = free.iter().map(|&(_, w)| (w - top).exp()).sum();
        let mut u = rng.uniform() * total;
        let mut pick = free[free.len() - 1].0;
        for &(i, w) in &free {
            u -= (w - top).exp();
            if u < 0.0 {
                pick = i;
                break;
            }
        }
        let id = ranking[pick].as_str();
        used.insert(id);
        items.push(Item {
            id: id.to_string(),
            team: None,
        });
    }
    items
}

/// Expected clicks per ranking and expected outcome over all team assignments (module doc).
pub(super) fn credit(
    a: &[String],
    b: &[String],
    tau: f64,
    items: &[Item],
    is_clicked: &[bool],
) -> Credit {
    let mut used: HashSet<&str> = HashSet::with_capacity(items.len());
    // P(position belongs to A | list) for each clicked position.
    let mut owned_by_a = Vec::new();
    for (item, &clicked) in items.iter().zip(is_clicked) {
        if clicked {
            let log_a = log_probability(a, &used, &item.id, tau);
            let log_b = log_probability(b, &used, &item.id, tau);
            owned_by_a.push(match (log_a, log_b) {
                (Some(la), Some(lb)) => 1.0 / (1.0 + (lb - la).exp()),
                (Some(_), None) => 1.0,
                (None, Some(_)) => 0.0,
                // Ruled out by the impression check: every item is in some ranking.
                (None, None) => 0.5,
            });
        }
        used.insert(item.id.as_str());
    }
    let expected_a: f64 = owned_by_a.iter().sum();
    let expected_b = owned_by_a.len() as f64 - expected_a;
    let (a_ahead, b_ahead) = lead_probabilities(&owned_by_a);
    let p = a_ahead - b_ahead;
    Credit {
        clicks: vec![expected_a, expected_b],
        preference: vec![vec![0.0, p], vec![-p, 0.0]],
    }
}

/// ln of the unnormalised softmax weight of the item at 0-based index `i`.
fn log_weight(i: usize, tau: f64) -> f64 {
    -tau * ((i + 1) as f64).ln()
}

/// ln P_r(id | free items), or `None` when `id` is not in the ranking (probability zero).
fn log_probability(ranking: &[String], used: &HashSet<&str>, id: &str, tau: f64) -> Option<f64> {
    let index = ranking.iter().position(|x| x == id)?;
    let free = ranking
        .iter()
        .enumerate()
        .filter(|(_, x)| !used.contains(x.as_str()))
        .map(|(i, _)| log_weight(i, tau));
    Some(log_weight(index, tau) - log_sum_exp(free))
}

fn log_sum_exp(values: impl Iterator<Item = f64> + Clone) -> f64 {
    let max = values.clone().fold(f64::NEG_INFINITY, f64::max);
    if max == f64::NEG_INFINITY {
        return max;
    }
    max + values.map(|v| (v - max).exp()).sum::<f64>().ln()
}

/// (P(A has more clicks), P(B has more clicks)) when clicked position t is A's with probability
/// `owned_by_a[t]`, independently: the distribution of the difference built one position at a time.
fn lead_probabilities(owned_by_a: &[f64]) -> (f64, f64) {
    let m = owned_by_a.len();
    // dist[d + m] = P(clicks_A - clicks_B = d).
    let mut dist = vec![0.0; 2 * m + 1];
    dist[m] = 1.0;
    for &p in owned_by_a {
        let mut next = vec![0.0; 2 * m + 1];
        for (d, &mass) in dist.iter().enumerate().filter(|(_, &mass)| mass > 0.0) {
            next[d + 1] += p * mass;
            next[d - 1] += (1.0 - p) * mass;
        }
        dist = next;
    }
    (dist[m + 1..].iter().sum(), dist[..m].iter().sum())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lead_probabilities_sum_the_difference_distribution() {
        assert_eq!(lead_probabilities(&[]), (0.0, 0.0));
        assert_eq!(lead_probabilities(&[0.5, 0.5]), (0.25, 0.25));
        // A certainly owns one click and B another: A leads only if it owns the third.
        let (a, b) = lead_probabilities(&[1.0, 0.0, 0.3]);
        assert!((a - 0.3).abs() < 1e-15 && (b - 0.7).abs() < 1e-15);
        // Three clicks at 0.8: A leads with 2 or 3 of them.
        let (a, b) = lead_probabilities(&[0.8; 3]);
        assert!((a - (0.512 + 3.0 * 0.64 * 0.2)).abs() < 1e-12);
        assert!((b - (0.008 + 3.0 * 0.04 * 0.8)).abs() < 1e-12);
    }

    #[test]
    fn log_sum_exp_is_stable() {
        assert!((log_sum_exp([0.0, 0.0].into_iter()) - 2f64.ln()).abs() < 1e-15);
        assert!((log_sum_exp([-1000.0, -1000.0].into_iter()) - (2f64.ln() - 1000.0)).abs() < 1e-9);
        assert_eq!(log_sum_exp(std::iter::empty()), f64::NEG_INFINITY);
    }
}
