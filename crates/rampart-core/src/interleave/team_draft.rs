//! Team-draft interleaving (Radlinski, Kurup & Joachims 2008) and its multileaving form (Schuth
//! et al. 2014): the team with the fewest picks so far, ties broken uniformly at random, adds its
//! best item not yet in the list. Each click counts for the team that placed the item.

use std::collections::HashSet;

use rampart_stats::Rng;

use super::{Credit, Item};

/// Builds the list. For two rankings this is exactly team draft: at equal team sizes a fair coin
/// picks who goes first, else the smaller team picks. A ranking whose items are all in the list
/// drops out and the others go on filling the list, so team sizes stay within one of each other
/// as long as no ranking is used up.
pub(super) fn interleave(rankings: &[Vec<String>], length: usize, rng: &mut Rng) -> Vec<Item> {
    let k = rankings.len();
    let mut used: HashSet<&str> = HashSet::with_capacity(length);
    // Index of each ranking's best item that may still be free.
    let mut next = vec![0usize; k];
    let mut sizes = vec![0usize; k];
    let mut candidates = Vec::with_capacity(k);
    let mut items = Vec::with_capacity(length);
    while items.len() < length {
        candidates.clear();
        let mut smallest = usize::MAX;
        for (team, ranking) in rankings.iter().enumerate() {
            while next[team] < ranking.len() && used.contains(ranking[next[team]].as_str()) {
                next[team] += 1;
            }
            if next[team] == ranking.len() {
                continue;
            }
            if sizes[team] < smallest {
                smallest = sizes[team];
                candidates.clear();
            }
            if sizes[team] == smallest {
                candidates.push(team);
            }
        }
        let team = match candidates.len() {
            0 => break,
            1 => candidates[0],
            n => candidates[rng.below(n as u64) as usize],
        };
        let id = rankings[team][next[team]].as_str();
        used.insert(id);
        sizes[team] += 1;
        next[team] += 1;
        items.push(Item {
            id: id.to_string(),
            team: Some(team),
        });
    }
    items
}

/// Clicks per team; each pair is won by the team with more clicks.
pub(super) fn credit(rankings: usize, items: &[Item], is_clicked: &[bool]) -> Credit {
    let mut clicks = vec![0.0; rankings];
    for (item, &clicked) in items.iter().zip(is_clicked) {
        if let (true, Some(team)) = (clicked, item.team) {
            clicks[team] += 1.0;
        }
    }
    Credit::from_counts(clicks)
}
