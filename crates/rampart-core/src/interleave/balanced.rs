//! Balanced interleaving (Joachims 2003), with the credit rule as stated by Chapelle, Joachims,
//! Radlinski & Yue (2012): both rankings advance in step from a randomly chosen first one, so the
//! top of the list holds the top k of each ranking for some k.

use std::collections::{HashMap, HashSet};

use rampart_stats::Rng;

use super::{Credit, Item};

/// Builds the list: one coin decides which ranking leads; then the ranking that has advanced less
/// (the leader on equal depth) offers its next item, which is added unless already present. When
/// one ranking is used up the other goes on alone.
pub(super) fn interleave(a: &[String], b: &[String], length: usize, rng: &mut Rng) -> Vec<Item> {
    let a_first = rng.below(2) == 0;
    let (mut ka, mut kb) = (0, 0);
    let mut used: HashSet<&str> = HashSet::with_capacity(length);
    let mut items = Vec::with_capacity(length);
    while items.len() < length && (ka < a.len() || kb < b.len()) {
        let take_a = if ka == a.len() {
            false
        } else if kb == b.len() {
            true
        } else {
            ka < kb || (ka == kb && a_first)
        };
        let id = if take_a {
            ka += 1;
            a[ka - 1].as_str()
        } else {
            kb += 1;
            b[kb - 1].as_str()
        };
        if used.insert(id) {
            items.push(Item {
                id: id.to_string(),
                team: None,
            });
        }
    }
    items
}

/// Let d be the lowest clicked item and k the best rank d has in either ranking. Each ranking gets
/// the clicks on items among its own top k; the ranking with more wins.
pub(super) fn credit(a: &[String], b: &[String], items: &[Item], is_clicked: &[bool]) -> Credit {
    let Some(lowest) = is_clicked.iter().rposition(|&c| c) else {
        return Credit::from_counts(vec![0.0, 0.0]);
    };
    let rank_a = ranks(a);
    let rank_b = ranks(b);
    let rank = |ranks: &HashMap<&str, usize>, id: &str| ranks.get(id).copied();
    let lowest_id = items[lowest].id.as_str();
    // The impression was checked: the item is in at least one ranking.
    let k = match (rank(&rank_a, lowest_id), rank(&rank_b, lowest_id)) {
        (Some(x), Some(y)) => x.min(y),
        (Some(x), None) | (None, Some(x)) => x,
        (None, None) => usize::MAX,
    };
    let mut clicks = vec![0.0, 0.0];
    for (item, _) in items.iter().zip(is_clicked).filter(|(_, &c)| c) {
        let id = item.id.as_str();
        if rank(&rank_a, id).is_some_and(|r| r <= k) {
            clicks[0] += 1.0;
        }
        if rank(&rank_b, id).is_some_and(|r| r <= k) {
            clicks[1] += 1.0;
        }
    }
    Credit::from_counts(clicks)
}

/// 1-based rank of each id.
fn ranks(ranking: &[String]) -> HashMap<&str, usize> {
    ranking
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), i + 1))
        .collect()
}
