//! Evidence of interleaving experiments: impressions kept by id, clicks credited to the variants
//! that placed the clicked items, and per-unit preferences summed into [`InterleavingEvidence`].
//!
//! An impression enters as a tie (no clicks yet). A click event (the type of the experiment's
//! primary metric, with attributes `impression_id` and `item`) adds the item to that impression's
//! clicked set and recomputes its credit; the unit's running totals change by the difference
//! between the new and the old credit. A unit prefers variant `i` over `j` when, over its
//! impressions, `i` won more of their comparisons than `j` (the sign of the summed pairwise
//! outcomes); for two variants that is the sign of (wins of A − wins of B).
//!
//! Memory: team methods keep each shown item with its team; balanced and probabilistic
//! interleaving keep the rankings too, since their credit reads ranks beyond the list.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use serde::{Deserialize, Serialize};

use super::entity::{KeyHasher, UnitKey};
use crate::interleave::{self, Credit, Impression, Method, Outcome};
use crate::record::{ImpressionRecord, OutcomeEvent};

/// The event attribute naming the impression a click belongs to.
pub const IMPRESSION_ID_ATTRIBUTE: &str = "impression_id";
/// The event attribute naming the clicked item.
pub const ITEM_ATTRIBUTE: &str = "item";

/// What an interleaving experiment's evidence is made of; equal definitions keep their state
/// across a reconfiguration.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct InterleavingDef {
    pub method: Method,
    /// The event type that counts as a click; `None` when the primary metric names none.
    pub click: Option<String>,
    /// The experiment's variants; pair and preference counts follow this order.
    pub variants: Vec<String>,
}

/// Units' preferences between two variants (`first` before `second` in the experiment).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairEvidence {
    pub first: String,
    pub second: String,
    /// Units whose impressions favour `first` (more won comparisons than `second`).
    pub prefer_first: u64,
    pub prefer_second: u64,
    /// Units with as many won comparisons for both, including units without clicks.
    pub tied: u64,
    /// Σ over impressions of the credit's `preference[first][second]` (in [-1, 1] each; an
    /// expectation for probabilistic interleaving).
    pub preference_sum: f64,
}

/// The interleaving section of an experiment's evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InterleavingEvidence {
    #[serde(flatten)]
    pub method: Method,
    /// The event type counted as a click.
    pub click_event: Option<String>,
    pub variants: Vec<String>,
    /// Units with at least one impression.
    pub units: u64,
    pub impressions: u64,
    /// Click events matched to a stored impression of the same unit.
    pub clicks: u64,
    /// Click events whose impression is unknown, of another unit, or that lack the attributes.
    pub unmatched_clicks: u64,
    /// Impressions of this experiment that could not be credited (inconsistent or naming other
    /// variants) and were left out.
    pub invalid_impressions: u64,
    /// Impressions won by each variant (preferred to every other), in `variants` order.
    pub impression_wins: Vec<u64>,
    pub impression_ties: u64,
    /// Units preferring each variant to every other one, in `variants` order.
    pub units_preferring: Vec<u64>,
    /// Units preferring no variant to all others.
    pub tied_units: u64,
    /// Every pair of variants (i < j in `variants` order).
    pub pairs: Vec<PairEvidence>,
}

impl InterleavingEvidence {
    /// The pair of `first` and `second` (in either order, named as stored).
    pub fn pair(&self, first: &str, second: &str) -> Option<&PairEvidence> {
        self.pairs.iter().find(|p| {
            (p.first == first && p.second == second) || (p.first == second && p.second == first)
        })
    }
}

/// What is kept of an impression to credit its clicks.
#[derive(Debug, Clone)]
enum Kept {
    /// Team methods: item ids with their team as a variant index.
    Teams(Vec<(String, u16)>),
    /// Balanced and probabilistic: the impression, whose rankings the credit reads.
    Full(Impression),
}

/// One impression's contribution to its unit, in variant order.
#[derive(Debug, Clone, PartialEq)]
struct Contribution {
    /// The variant preferred to every other, if any.
    winner: Option<u16>,
    /// Per pair: sign of the pairwise outcome.
    signs: Vec<i8>,
    /// Per pair: the credit's preference.
    preference: Vec<f64>,
}

impl Contribution {
    fn tie(pairs: usize) -> Contribution {
        Contribution {
            winner: None,
            signs: vec![0; pairs],
            preference: vec![0.0; pairs],
        }
    }
}

#[derive(Debug, Clone)]
struct ImpressionEntry {
    unit: UnitKey,
    kept: Kept,
    /// Ranking index of the impression → variant index.
    to_variant: Vec<u16>,
    clicked: Vec<String>,
    current: Contribution,
}

/// A unit's running totals over its impressions.
#[derive(Debug, Clone)]
struct UnitTally {
    impressions: u32,
    wins: Vec<u32>,
    ties: u32,
    /// Per pair: Σ signs of the pairwise outcomes.
    net: Vec<i64>,
}

impl UnitTally {
    /// The variant this unit prefers to every other, if any.
    fn preferred(&self, k: usize) -> Option<usize> {
        (0..k).find(|&i| {
            (0..k).all(|j| {
                if j == i {
                    true
                } else if i < j {
                    self.net[pair_index(k, i, j)] > 0
                } else {
                    self.net[pair_index(k, j, i)] < 0
                }
            })
        })
    }
}

/// Index of pair (i, j), i < j, among the k(k−1)/2 pairs in row order.
fn pair_index(k: usize, i: usize, j: usize) -> usize {
    i * k - i * (i + 1) / 2 + (j - i - 1)
}

/// Running evidence of one interleaving experiment.
#[derive(Debug, Clone)]
pub(crate) struct InterleavingState {
    def: InterleavingDef,
    impressions: HashMap<String, ImpressionEntry>,
    units: HashMap<UnitKey, UnitTally, BuildHasherDefault<KeyHasher>>,
    clicks: u64,
    unmatched_clicks: u64,
    invalid_impressions: u64,
    impression_wins: Vec<u64>,
    impression_ties: u64,
    units_preferring: Vec<u64>,
    tied_units: u64,
    /// Per pair: (prefer first, prefer second, tied, preference sum).
    pairs: Vec<(u64, u64, u64, f64)>,
}

impl InterleavingState {
    pub fn new(def: InterleavingDef) -> InterleavingState {
        let k = def.variants.len();
        let pairs = k * k.saturating_sub(1) / 2;
        InterleavingState {
            def,
            impressions: HashMap::new(),
            units: HashMap::default(),
            clicks: 0,
            unmatched_clicks: 0,
            invalid_impressions: 0,
            impression_wins: vec![0; k],
            impression_ties: 0,
            units_preferring: vec![0; k],
            tied_units: 0,
            pairs: vec![(0, 0, 0, 0.0); pairs],
        }
    }

    fn k(&self) -> usize {
        self.def.variants.len()
    }

    /// Keeps an impression under its id, as a tie until clicks arrive. An impression that
    /// cannot be credited (inconsistent, other variants, a repeated id) is counted and left out.
    pub fn fold_impression(&mut self, record: &ImpressionRecord) {
        let Some(entry) = self.entry_of(record) else {
            self.invalid_impressions += 1;
            return;
        };
        let key = entry.unit;
        self.impressions.insert(record.impression_id.clone(), entry);
        self.impression_ties += 1;
        let k = self.k();
        let pairs = self.pairs.len();
        let is_new = !self.units.contains_key(&key);
        let tally = self.units.entry(key).or_insert_with(|| UnitTally {
            impressions: 0,
            wins: vec![0; k],
            ties: 0,
            net: vec![0; pairs],
        });
        tally.impressions += 1;
        tally.ties += 1;
        // A new impression is a tie: it changes no existing unit's preference.
        if is_new {
            self.count_unit(key, 1);
        }
    }

    /// The entry for a new impression, or `None` when it cannot be credited.
    fn entry_of(&self, record: &ImpressionRecord) -> Option<ImpressionEntry> {
        let imp = &record.impression;
        let k = self.k();
        if imp.method.name() != self.def.method.name()
            || record.variants.len() != k
            || imp.rankings.len() != k
            || self.impressions.contains_key(&record.impression_id)
        {
            return None;
        }
        let mut to_variant = Vec::with_capacity(k);
        for name in &record.variants {
            let i = self.def.variants.iter().position(|v| v == name)?;
            if to_variant.contains(&(i as u16)) {
                return None;
            }
            to_variant.push(i as u16);
        }
        // Checks the stored impression once; clicks then only add ids.
        interleave::credit(imp, &[]).ok()?;
        let kept = if imp.method.has_teams() {
            let items = imp
                .items
                .iter()
                .map(|item| Some((item.id.clone(), to_variant[item.team?])))
                .collect::<Option<Vec<_>>>()?;
            Kept::Teams(items)
        } else {
            Kept::Full(imp.clone())
        };
        Some(ImpressionEntry {
            unit: UnitKey::of(&record.unit),
            kept,
            to_variant,
            clicked: Vec::new(),
            current: Contribution::tie(self.pairs.len()),
        })
    }

    /// Credits a click event of the experiment's click type; other events are ignored.
    pub fn fold_event(&mut self, event: &OutcomeEvent) {
        if self.def.click.as_deref() != Some(event.kind.as_str()) {
            return;
        }
        let (Some(id), Some(item)) = (
            event.attributes.get(IMPRESSION_ID_ATTRIBUTE),
            event.attributes.get(ITEM_ATTRIBUTE),
        ) else {
            self.unmatched_clicks += 1;
            return;
        };
        let k = self.k();
        let pairs = self.pairs.len();
        let Some(entry) = self.impressions.get_mut(id) else {
            self.unmatched_clicks += 1;
            return;
        };
        let shown = match &entry.kept {
            Kept::Teams(items) => items.iter().any(|(i, _)| i == item),
            Kept::Full(imp) => imp.items.iter().any(|i| i.id == *item),
        };
        if entry.unit != UnitKey::of(&event.unit) || !shown {
            self.unmatched_clicks += 1;
            return;
        }
        self.clicks += 1;
        if entry.clicked.iter().any(|c| c == item) {
            return;
        }
        entry.clicked.push(item.clone());
        let Some(next) = contribution(entry, k, pairs) else {
            return;
        };
        let previous = std::mem::replace(&mut entry.current, next.clone());
        let key = entry.unit;
        self.apply(key, &previous, &next);
    }

    /// Moves a unit's totals from one contribution of an impression to another.
    fn apply(&mut self, key: UnitKey, old: &Contribution, new: &Contribution) {
        if old == new {
            return;
        }
        match old.winner {
            Some(w) => self.impression_wins[usize::from(w)] -= 1,
            None => self.impression_ties -= 1,
        }
        match new.winner {
            Some(w) => self.impression_wins[usize::from(w)] += 1,
            None => self.impression_ties += 1,
        }
        for (p, (a, b)) in old.preference.iter().zip(&new.preference).enumerate() {
            self.pairs[p].3 += b - a;
        }
        self.count_unit(key, -1);
        if let Some(t) = self.units.get_mut(&key) {
            match old.winner {
                Some(w) => t.wins[usize::from(w)] -= 1,
                None => t.ties -= 1,
            }
            match new.winner {
                Some(w) => t.wins[usize::from(w)] += 1,
                None => t.ties += 1,
            }
            for (p, (a, b)) in old.signs.iter().zip(&new.signs).enumerate() {
                t.net[p] += i64::from(*b) - i64::from(*a);
            }
        }
        self.count_unit(key, 1);
    }

    /// Adds (`by` = 1) or removes (`by` = −1) a unit's preferences from the unit counts.
    fn count_unit(&mut self, key: UnitKey, by: i64) {
        let k = self.k();
        let Some(t) = self.units.get(&key) else {
            return;
        };
        let step = |x: &mut u64| *x = x.wrapping_add_signed(by);
        match t.preferred(k) {
            Some(i) => step(&mut self.units_preferring[i]),
            None => step(&mut self.tied_units),
        }
        for (p, net) in t.net.iter().enumerate() {
            let slot = &mut self.pairs[p];
            match net.signum() {
                1 => step(&mut slot.0),
                -1 => step(&mut slot.1),
                _ => step(&mut slot.2),
            }
        }
    }

    pub fn evidence(&self) -> InterleavingEvidence {
        let k = self.k();
        let mut pairs = Vec::with_capacity(self.pairs.len());
        for i in 0..k {
            for j in i + 1..k {
                let (first, second, tied, sum) = self.pairs[pair_index(k, i, j)];
                pairs.push(PairEvidence {
                    first: self.def.variants[i].clone(),
                    second: self.def.variants[j].clone(),
                    prefer_first: first,
                    prefer_second: second,
                    tied,
                    preference_sum: sum,
                });
            }
        }
        InterleavingEvidence {
            method: self.def.method,
            click_event: self.def.click.clone(),
            variants: self.def.variants.clone(),
            units: self.units.len() as u64,
            impressions: self.impressions.len() as u64,
            clicks: self.clicks,
            unmatched_clicks: self.unmatched_clicks,
            invalid_impressions: self.invalid_impressions,
            impression_wins: self.impression_wins.clone(),
            impression_ties: self.impression_ties,
            units_preferring: self.units_preferring.clone(),
            tied_units: self.tied_units,
            pairs,
        }
    }
}

/// The impression's contribution with its current clicks, in variant order.
fn contribution(entry: &ImpressionEntry, k: usize, pairs: usize) -> Option<Contribution> {
    // Ranking index of each variant.
    let mut of_variant = vec![0usize; k];
    for (r, &v) in entry.to_variant.iter().enumerate() {
        of_variant[usize::from(v)] = r;
    }
    let credit = match &entry.kept {
        Kept::Teams(items) => team_credit(items, &entry.clicked, k),
        Kept::Full(imp) => {
            let clicked: Vec<&str> = entry.clicked.iter().map(String::as_str).collect();
            // Checked when the impression was folded; a failure here leaves it as it was.
            let credit = interleave::credit(imp, &clicked).ok()?;
            // Into variant order.
            Credit {
                clicks: (0..k).map(|v| credit.clicks[of_variant[v]]).collect(),
                preference: (0..k)
                    .map(|i| {
                        (0..k)
                            .map(|j| credit.preference[of_variant[i]][of_variant[j]])
                            .collect()
                    })
                    .collect(),
            }
        }
    };
    let mut signs = vec![0i8; pairs];
    let mut preference = vec![0.0; pairs];
    for i in 0..k {
        for j in i + 1..k {
            let p = pair_index(k, i, j);
            preference[p] = credit.preference[i][j];
            signs[p] = match credit.pairwise(i, j) {
                Outcome::Win(w) if w == i => 1,
                Outcome::Win(_) => -1,
                Outcome::Tie => 0,
            };
        }
    }
    let winner = match credit.outcome() {
        Outcome::Win(w) => u16::try_from(w).ok(),
        Outcome::Tie => None,
    };
    Some(Contribution {
        winner,
        signs,
        preference,
    })
}

/// Team-draft credit from items with their team (a variant index): a click counts for the team
/// of the clicked item and the team with more clicks wins each pair, as `interleave::credit`
/// computes it for team methods.
fn team_credit(items: &[(String, u16)], clicked: &[String], k: usize) -> Credit {
    let mut clicks = vec![0.0; k];
    for (id, team) in items {
        if clicked.iter().any(|c| c == id) {
            clicks[usize::from(*team)] += 1.0;
        }
    }
    let preference = clicks
        .iter()
        .map(|a| {
            clicks
                .iter()
                .map(|b| match a.partial_cmp(b) {
                    Some(std::cmp::Ordering::Greater) => 1.0,
                    Some(std::cmp::Ordering::Less) => -1.0,
                    _ => 0.0,
                })
                .collect()
        })
        .collect();
    Credit { clicks, preference }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interleave::Item;

    #[test]
    fn pairs_are_numbered_in_row_order() {
        let k = 4;
        let mut expected = 0;
        for i in 0..k {
            for j in i + 1..k {
                assert_eq!(pair_index(k, i, j), expected);
                expected += 1;
            }
        }
        assert_eq!(expected, 6);
    }

    #[test]
    fn team_credit_agrees_with_the_interleave_module() {
        let ids = |xs: &[&str]| xs.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let rankings = vec![ids(&["a", "b", "c"]), ids(&["c", "d"]), ids(&["e", "a"])];
        let items = [("a", 0usize), ("c", 1), ("e", 2), ("b", 0), ("d", 1)];
        let imp = Impression {
            method: Method::TeamDraftMultileave,
            rankings,
            items: items
                .iter()
                .map(|(id, t)| Item {
                    id: id.to_string(),
                    team: Some(*t),
                })
                .collect(),
        };
        let kept: Vec<(String, u16)> = items
            .iter()
            .map(|(id, t)| (id.to_string(), *t as u16))
            .collect();
        for clicked in [vec![], vec!["a"], vec!["a", "c", "d"], vec!["e", "b", "x"]] {
            let owned: Vec<String> = clicked.iter().map(|c| c.to_string()).collect();
            let want = interleave::credit(&imp, &clicked).unwrap();
            assert_eq!(team_credit(&kept, &owned, 3), want, "clicks {clicked:?}");
        }
    }
}
