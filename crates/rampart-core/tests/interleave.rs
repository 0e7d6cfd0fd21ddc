//! Tests of ranking interleaving in the style of the reference implementations (Lerot, the
//! `interleaving` Python package): over many seeds the produced lists are exactly the possible lists
//! enumerated by hand, team draft keeps its teams balanced, credit on hand-built clicks matches
//! hand-computed outcomes, balanced interleaving shows its known bias, probabilistic credit equals
//! a brute-force marginalisation over team assignments and its lists follow the softmax model, and
//! multileaving gives antisymmetric preferences that vanish for identical rankings.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use rampart_core::interleave::{
    credit, interleave, Credit, Impression, InterleaveError, Item, Method, Outcome, DEFAULT_TAU,
};
use rampart_stats::{ChiSquared, Rng};

fn ranking(ids: &str) -> Vec<String> {
    ids.chars().map(|c| c.to_string()).collect()
}

fn rankings(all: &[&str]) -> Vec<Vec<String>> {
    all.iter().map(|ids| ranking(ids)).collect()
}

/// A list with its teams, as a comparable key: ("abc", [Some(0), ...]).
type Drawn = (String, Vec<Option<usize>>);

fn drawn(impression: &Impression) -> Drawn {
    (
        impression.ids().concat(),
        impression.items.iter().map(|item| item.team).collect(),
    )
}

/// How often each (list, teams) comes out over `seeds` seeds.
fn tally(method: Method, input: &[Vec<String>], length: usize, seeds: u64) -> BTreeMap<Drawn, u64> {
    let mut counts = BTreeMap::new();
    for seed in 0..seeds {
        let impression = interleave(method, input, length, &mut Rng::new(seed)).unwrap();
        *counts.entry(drawn(&impression)).or_insert(0) += 1;
    }
    counts
}

/// Asserts the tally holds exactly `expected` and each outcome about equally often (within five
/// binomial standard deviations).
fn assert_uniform_over(counts: &BTreeMap<Drawn, u64>, expected: &[(&str, &[Option<usize>])]) {
    let expected: BTreeSet<Drawn> = expected
        .iter()
        .map(|(ids, teams)| (ids.to_string(), teams.to_vec()))
        .collect();
    let got: BTreeSet<Drawn> = counts.keys().cloned().collect();
    assert_eq!(got, expected);
    let total: u64 = counts.values().sum();
    let p = 1.0 / expected.len() as f64;
    let sd = (total as f64 * p * (1.0 - p)).sqrt();
    for (key, &count) in counts {
        let deviation = (count as f64 - total as f64 * p).abs();
        assert!(deviation < 5.0 * sd, "{key:?} drawn {count} of {total}");
    }
}

fn click(impression: &Impression, ids: &[&str]) -> Credit {
    credit(impression, ids).unwrap()
}

fn team_impression(method: Method, input: &[Vec<String>], items: &[(&str, usize)]) -> Impression {
    Impression {
        method,
        rankings: input.to_vec(),
        items: items
            .iter()
            .map(|&(id, team)| Item {
                id: id.to_string(),
                team: Some(team),
            })
            .collect(),
    }
}

fn plain_impression(method: Method, input: &[Vec<String>], ids: &str) -> Impression {
    Impression {
        method,
        rankings: input.to_vec(),
        items: ids
            .chars()
            .map(|c| Item {
                id: c.to_string(),
                team: None,
            })
            .collect(),
    }
}

/// -1, 0 or +1.
fn sign(x: f64) -> f64 {
    if x == 0.0 {
        0.0
    } else {
        x.signum()
    }
}

const S: Option<usize> = None;
const A: Option<usize> = Some(0);
const B: Option<usize> = Some(1);
const C: Option<usize> = Some(2);

// ---------------------------------------------------------------------------------------------
// The exact set of possible lists.

#[test]
fn team_draft_produces_exactly_the_possible_lists() {
    let counts = tally(Method::TeamDraft, &rankings(&["abc", "bca"]), 3, 4000);
    assert_uniform_over(
        &counts,
        &[
            ("abc", &[A, B, A]),
            ("abc", &[A, B, B]),
            ("bac", &[B, A, A]),
            ("bac", &[B, A, B]),
        ],
    );
    // Partial overlap, cut at the length.
    let input = rankings(&["abcd", "eaf"]);
    let counts = tally(Method::TeamDraft, &input, 4, 4000);
    assert_uniform_over(
        &counts,
        &[
            ("aebf", &[A, B, A, B]),
            ("aefb", &[A, B, B, A]),
            ("eabf", &[B, A, A, B]),
            ("eafb", &[B, A, B, A]),
        ],
    );
    // Once B is used up, A fills the rest of the list alone.
    let counts = tally(Method::TeamDraft, &input, 10, 4000);
    assert_uniform_over(
        &counts,
        &[
            ("aebfcd", &[A, B, A, B, A, A]),
            ("aefbcd", &[A, B, B, A, A, A]),
            ("eabfcd", &[B, A, A, B, A, A]),
            ("eafbcd", &[B, A, B, A, A, A]),
        ],
    );
}

#[test]
fn balanced_produces_exactly_the_possible_lists() {
    let counts = tally(Method::Balanced, &rankings(&["abc", "bca"]), 3, 2000);
    assert_uniform_over(&counts, &[("abc", &[S, S, S]), ("bac", &[S, S, S])]);
    let input = rankings(&["abcd", "eaf"]);
    let counts = tally(Method::Balanced, &input, 5, 2000);
    assert_uniform_over(
        &counts,
        &[("aebcf", &[S, S, S, S, S]), ("eabfc", &[S, S, S, S, S])],
    );
    let counts = tally(Method::Balanced, &input, 10, 2000);
    assert_uniform_over(&counts, &[("aebcfd", &[S; 6]), ("eabfcd", &[S; 6])]);
}

#[test]
fn multileave_produces_exactly_the_possible_lists() {
    let counts = tally(
        Method::TeamDraftMultileave,
        &rankings(&["ab", "bc", "ca"]),
        3,
        6000,
    );
    assert_uniform_over(
        &counts,
        &[
            ("abc", &[A, B, C]),
            ("acb", &[A, C, B]),
            ("bac", &[B, A, C]),
            ("bca", &[B, C, A]),
            ("cab", &[C, A, B]),
            ("cba", &[C, B, A]),
        ],
    );
    // Rankings that share their top items.
    let counts = tally(
        Method::TeamDraftMultileave,
        &rankings(&["abc", "acb", "bac"]),
        3,
        6000,
    );
    assert_uniform_over(
        &counts,
        &[
            ("acb", &[A, B, C]),
            ("abc", &[A, C, B]),
            ("abc", &[B, A, C]),
            ("abc", &[B, C, A]),
            ("bac", &[C, A, B]),
            ("bac", &[C, B, A]),
        ],
    );
}

#[test]
fn multileave_of_two_rankings_is_team_draft() {
    let input = rankings(&["abcdef", "fedcba"]);
    for seed in 0..200 {
        let td = interleave(Method::TeamDraft, &input, 5, &mut Rng::new(seed)).unwrap();
        let tdm = interleave(Method::TeamDraftMultileave, &input, 5, &mut Rng::new(seed)).unwrap();
        assert_eq!(td.items, tdm.items);
    }
}

// ---------------------------------------------------------------------------------------------
// Invariants over random inputs.

/// A random permutation of `pool` cut to `keep` items.
fn shuffled(pool: &[String], keep: usize, rng: &mut Rng) -> Vec<String> {
    let mut v = pool.to_vec();
    for i in (1..v.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        v.swap(i, j);
    }
    v.truncate(keep);
    v
}

#[test]
fn team_draft_teams_stay_balanced_and_pick_their_best_free_item() {
    let pool: Vec<String> = (0..8).map(|i| format!("d{i}")).collect();
    let mut rng = Rng::new(7);
    for seed in 0..2000 {
        let k = if seed % 2 == 0 {
            2
        } else {
            3 + seed as usize % 3
        };
        let input: Vec<Vec<String>> = (0..k).map(|_| shuffled(&pool, 8, &mut rng)).collect();
        let method = if k == 2 {
            Method::TeamDraft
        } else {
            Method::TeamDraftMultileave
        };
        let length = 1 + rng.below(10) as usize;
        let impression = interleave(method, &input, length, &mut Rng::new(seed)).unwrap();
        assert_eq!(impression.items.len(), length.min(8));
        let mut sizes = vec![0usize; k];
        let mut shown = HashSet::new();
        for item in &impression.items {
            let team = item.team.unwrap();
            let best_free = input[team].iter().find(|id| !shown.contains(*id)).unwrap();
            assert_eq!(&item.id, best_free);
            assert!(shown.insert(item.id.clone()), "duplicate {}", item.id);
            sizes[team] += 1;
            let (min, max) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
            assert!(max - min <= 1, "team sizes {sizes:?}");
        }
    }
}

#[test]
fn every_method_fills_the_list_without_duplicates() {
    let pool: Vec<String> = (0..12).map(|i| format!("d{i}")).collect();
    let mut rng = Rng::new(11);
    let methods = [
        Method::TeamDraft,
        Method::Balanced,
        Method::Probabilistic { tau: DEFAULT_TAU },
        Method::TeamDraftMultileave,
    ];
    for seed in 0..2000 {
        let method = methods[seed as usize % 4];
        let k = if method.is_pairwise() { 2 } else { 3 };
        // Partly overlapping rankings of different lengths.
        let input: Vec<Vec<String>> = (0..k)
            .map(|_| {
                let keep = 1 + rng.below(8) as usize;
                shuffled(&pool, keep, &mut rng)
            })
            .collect();
        let union: HashSet<&String> = input.iter().flatten().collect();
        let length = 1 + rng.below(14) as usize;
        let impression = interleave(method, &input, length, &mut Rng::new(seed)).unwrap();
        assert_eq!(impression.items.len(), length.min(union.len()), "{method}");
        let ids: HashSet<&str> = impression.ids().into_iter().collect();
        assert_eq!(ids.len(), impression.items.len(), "{method}: duplicates");
        assert!(impression.items.iter().all(|item| union.contains(&item.id)));
        // Every produced impression can be credited.
        let clicked = impression.ids();
        let credit = credit(&impression, &clicked[..clicked.len() / 2]).unwrap();
        assert_eq!(credit.clicks.len(), k);
    }
}

#[test]
fn same_seed_same_impression() {
    let input = rankings(&["abcdefgh", "hgfedcba"]);
    for method in [
        Method::TeamDraft,
        Method::Balanced,
        Method::Probabilistic { tau: 1.5 },
    ] {
        let first = interleave(method, &input, 6, &mut Rng::new(99)).unwrap();
        let again = interleave(method, &input, 6, &mut Rng::new(99)).unwrap();
        assert_eq!(first, again);
    }
}

// ---------------------------------------------------------------------------------------------
// Credit on hand-built clicks.

#[test]
fn team_draft_credit_counts_clicks_per_team() {
    let input = rankings(&["acbd", "bdac"]);
    let imp = team_impression(
        Method::TeamDraft,
        &input,
        &[("a", 0), ("b", 1), ("c", 0), ("d", 1)],
    );
    let c = click(&imp, &["a", "c"]);
    assert_eq!(c.clicks, vec![2.0, 0.0]);
    assert_eq!(c.preference, vec![vec![0.0, 1.0], vec![-1.0, 0.0]]);
    assert_eq!(c.outcome(), Outcome::Win(0));
    assert_eq!(click(&imp, &["d"]).outcome(), Outcome::Win(1));
    assert_eq!(click(&imp, &["a", "b"]).outcome(), Outcome::Tie);
    assert_eq!(click(&imp, &[]).outcome(), Outcome::Tie);
    // Unknown ids are ignored, a repeated id counts once.
    let c = click(&imp, &["zz", "b", "b", "a", "d"]);
    assert_eq!(c.clicks, vec![1.0, 2.0]);
    assert_eq!(c.outcome(), Outcome::Win(1));
}

#[test]
fn multileave_credit_gives_pairwise_preferences() {
    let input = rankings(&["adg", "beh", "cf"]);
    let imp = team_impression(
        Method::TeamDraftMultileave,
        &input,
        &[("a", 0), ("b", 1), ("c", 2), ("d", 0), ("e", 1), ("f", 2)],
    );
    let c = click(&imp, &["a", "d", "b"]);
    assert_eq!(c.clicks, vec![2.0, 1.0, 0.0]);
    assert_eq!(
        c.preference,
        vec![
            vec![0.0, 1.0, 1.0],
            vec![-1.0, 0.0, 1.0],
            vec![-1.0, -1.0, 0.0]
        ]
    );
    assert_eq!(c.outcome(), Outcome::Win(0));
    let c = click(&imp, &["a", "e"]);
    assert_eq!(c.outcome(), Outcome::Tie);
    assert_eq!(c.pairwise(0, 2), Outcome::Win(0));
    assert_eq!(c.pairwise(2, 1), Outcome::Win(1));
    assert_eq!(c.pairwise(0, 1), Outcome::Tie);
}

#[test]
fn balanced_credit_counts_clicks_within_the_top_k() {
    let input = rankings(&["abc", "bca"]);
    let imp = plain_impression(Method::Balanced, &input, "abc");
    // Lowest click c: rank 3 in A, 2 in B, so k = 2; c is in B's top 2 only.
    let c = click(&imp, &["c"]);
    assert_eq!(c.clicks, vec![0.0, 1.0]);
    assert_eq!(c.outcome(), Outcome::Win(1));
    // k = 2: a is in A's top 2, c in B's top 2.
    let c = click(&imp, &["a", "c"]);
    assert_eq!(c.clicks, vec![1.0, 1.0]);
    assert_eq!(c.outcome(), Outcome::Tie);
    // Lowest click b has rank 1 in B, so k = 1: a counts for A, b for B.
    assert_eq!(click(&imp, &["a", "b"]).clicks, vec![1.0, 1.0]);
    assert_eq!(click(&imp, &["a"]).outcome(), Outcome::Win(0));
    // An item only in B: its rank there sets k.
    let input = rankings(&["abcd", "eaf"]);
    let imp = plain_impression(Method::Balanced, &input, "aebcfd");
    // Lowest click f (B rank 3): A's top 3 holds a, b; B's top 3 holds f.
    let c = click(&imp, &["b", "f", "a"]);
    assert_eq!(c.clicks, vec![2.0, 2.0]);
    let c = click(&imp, &["b", "f"]);
    assert_eq!(c.clicks, vec![1.0, 1.0]);
    let c = click(&imp, &["e", "c"]);
    assert_eq!(c.clicks, vec![1.0, 1.0]);
    assert_eq!(click(&imp, &["e", "b"]).clicks, vec![1.0, 1.0]);
    assert_eq!(click(&imp, &["e"]).outcome(), Outcome::Win(1));
}

#[test]
fn probabilistic_credit_matches_hand_computation() {
    // τ = 1, A = (a, b), B = (b, a), list (a, b).
    // Position 1: P_A(a) = 1/(1 + 1/2) = 2/3, P_B(a) = 1/3, so a is A's with probability 2/3.
    // Position 2: only b is left, P_A(b) = P_B(b) = 1, so b is A's with probability 1/2.
    let input = rankings(&["ab", "ba"]);
    let imp = plain_impression(Method::Probabilistic { tau: 1.0 }, &input, "ab");
    let close = |x: f64, y: f64| (x - y).abs() < 1e-12;
    let c = click(&imp, &["a"]);
    assert!(close(c.clicks[0], 2.0 / 3.0) && close(c.clicks[1], 1.0 / 3.0));
    assert!(close(c.preference[0][1], 1.0 / 3.0));
    assert!(close(c.preference[1][0], -1.0 / 3.0));
    assert_eq!(c.outcome(), Outcome::Win(0));
    let c = click(&imp, &["b"]);
    assert!(close(c.preference[0][1], 0.0));
    assert_eq!(c.outcome(), Outcome::Tie);
    // Both: A ahead with 2/3·1/2, B ahead with 1/3·1/2.
    let c = click(&imp, &["a", "b"]);
    assert!(close(c.clicks[0], 7.0 / 6.0) && close(c.clicks[1], 5.0 / 6.0));
    assert!(close(c.preference[0][1], 1.0 / 3.0 - 1.0 / 6.0));
}

// ---------------------------------------------------------------------------------------------
// The known bias of balanced interleaving.

#[test]
fn balanced_interleaving_favours_b_two_thirds_of_the_time() {
    // A = (a, b, c), B = (b, c, a): one uniformly random click. The two possible lists (shown
    // above to be the only ones) are equally likely.
    let input = rankings(&["abc", "bca"]);
    let mut exact = [0.0f64; 3];
    for list in ["abc", "bac"] {
        let imp = plain_impression(Method::Balanced, &input, list);
        for id in imp.ids() {
            let slot = match click(&imp, &[id]).outcome() {
                Outcome::Win(0) => 0,
                Outcome::Win(_) => 1,
                Outcome::Tie => 2,
            };
            exact[slot] += 0.5 / 3.0;
        }
    }
    assert!((exact[1] - 2.0 / 3.0).abs() < 1e-12, "{exact:?}");
    assert!((exact[0] - 1.0 / 3.0).abs() < 1e-12);

    // By simulation; team draft on the same input is unbiased.
    let n = 30_000;
    let mut clicks = Rng::new(2024);
    let mut wins = [[0u32; 2]; 2];
    for (m, method) in [Method::Balanced, Method::TeamDraft]
        .into_iter()
        .enumerate()
    {
        for seed in 0..n {
            let imp = interleave(method, &input, 3, &mut Rng::new(seed)).unwrap();
            let id = imp.items[clicks.below(3) as usize].id.clone();
            if let Outcome::Win(w) = click(&imp, &[id.as_str()]).outcome() {
                wins[m][w] += 1;
            }
        }
    }
    let n = n as f64;
    // 4 standard errors of a proportion near 2/3 (or 1/2) with n = 30,000.
    let tolerance = 4.0 * (2.0 / 9.0 / n).sqrt();
    assert!(
        (wins[0][1] as f64 / n - 2.0 / 3.0).abs() < tolerance,
        "{wins:?}"
    );
    assert!((wins[0][0] as f64 / n - 1.0 / 3.0).abs() < tolerance);
    assert!((wins[1][1] as f64 / n - 0.5).abs() < tolerance, "{wins:?}");
    assert!((wins[1][0] as f64 / n - 0.5).abs() < tolerance);
}

// ---------------------------------------------------------------------------------------------
// Probabilistic interleaving against brute force.

/// P(d | ranking, shown) straight from the definition: 1/rank^τ over the ranking's unshown items.
fn softmax(ranking: &[String], shown: &[String], d: &str, tau: f64) -> f64 {
    let weight = |i: usize| 1.0 / ((i + 1) as f64).powf(tau);
    let total: f64 = (0..ranking.len())
        .filter(|&i| !shown.contains(&ranking[i]))
        .map(weight)
        .sum();
    match ranking.iter().position(|x| x == d) {
        Some(i) if total > 0.0 => weight(i) / total,
        _ => 0.0,
    }
}

/// Every team assignment of `list` with its joint probability P(list, assignment).
fn assignments(input: &[Vec<String>], list: &[String], tau: f64) -> Vec<(Vec<usize>, f64)> {
    let len = list.len();
    (0..1u32 << len)
        .map(|mask| {
            let teams: Vec<usize> = (0..len).map(|t| (mask >> t) as usize & 1).collect();
            let mut p = 1.0;
            for t in 0..len {
                let shown = &list[..t];
                let live = input
                    .iter()
                    .filter(|r| r.iter().any(|d| !shown.contains(d)))
                    .count();
                p *= softmax(&input[teams[t]], shown, &list[t], tau) / live as f64;
            }
            (teams, p)
        })
        .collect()
}

#[test]
fn probabilistic_credit_equals_brute_force_marginalisation() {
    let pool: Vec<String> = (0..7).map(|i| format!("d{i}")).collect();
    let mut rng = Rng::new(5);
    let mut checked_ties_and_wins = [0u32; 2];
    for seed in 0..300 {
        let tau = [0.5, 1.0, 3.0][seed as usize % 3];
        let input = vec![
            shuffled(&pool, 3 + rng.below(5) as usize, &mut rng),
            shuffled(&pool, 3 + rng.below(5) as usize, &mut rng),
        ];
        let length = 2 + rng.below(7) as usize;
        let method = Method::Probabilistic { tau };
        let imp = interleave(method, &input, length, &mut Rng::new(seed)).unwrap();
        let list: Vec<String> = imp.items.iter().map(|i| i.id.clone()).collect();
        let clicked: Vec<&str> = list
            .iter()
            .filter(|_| rng.bernoulli(0.4))
            .map(String::as_str)
            .collect();
        let all = assignments(&input, &list, tau);
        let total: f64 = all.iter().map(|(_, p)| p).sum();
        assert!(total > 0.0);
        let (mut outcome, mut clicks_a, mut clicks_b) = (0.0, 0.0, 0.0);
        for (teams, p) in &all {
            let (mut ca, mut cb) = (0.0, 0.0);
            for (t, d) in list.iter().enumerate() {
                if clicked.contains(&d.as_str()) {
                    if teams[t] == 0 {
                        ca += 1.0;
                    } else {
                        cb += 1.0;
                    }
                }
            }
            let w = p / total;
            outcome += w * sign(ca - cb);
            clicks_a += w * ca;
            clicks_b += w * cb;
        }
        let c = click(&imp, &clicked);
        assert!(
            (c.preference[0][1] - outcome).abs() < 1e-10,
            "seed {seed}: {} vs {outcome}",
            c.preference[0][1]
        );
        assert!((c.preference[1][0] + outcome).abs() < 1e-10);
        assert!((c.clicks[0] - clicks_a).abs() < 1e-10);
        assert!((c.clicks[1] - clicks_b).abs() < 1e-10);
        checked_ties_and_wins[usize::from(outcome.abs() > 1e-9)] += 1;
    }
    // The instances exercise both decided and tied impressions.
    assert!(
        checked_ties_and_wins.iter().all(|&n| n > 30),
        "{checked_ties_and_wins:?}"
    );
}

/// Chi-square goodness of fit of the drawn lists against P(list) = Σ over assignments.
fn assert_lists_follow_softmax(input: &[Vec<String>], length: usize, tau: f64, n: u64) {
    let counts = tally(Method::Probabilistic { tau }, input, length, n);
    // The model's probability of every ordering of `length` items drawn from the union.
    let mut union: Vec<String> = input.iter().flatten().cloned().collect();
    union.sort();
    union.dedup();
    let mut lists: Vec<Vec<String>> = vec![vec![]];
    for _ in 0..length.min(union.len()) {
        lists = lists
            .into_iter()
            .flat_map(|l| {
                union
                    .iter()
                    .filter(|d| !l.contains(d))
                    .map(|d| {
                        let mut next = l.clone();
                        next.push(d.clone());
                        next
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
    }
    let mut expected = BTreeMap::new();
    for list in lists {
        let p: f64 = assignments(input, &list, tau).iter().map(|(_, p)| p).sum();
        if p > 0.0 {
            expected.insert(list.concat(), p);
        }
    }
    let total_p: f64 = expected.values().sum();
    assert!(
        (total_p - 1.0).abs() < 1e-12,
        "model probabilities sum to {total_p}"
    );
    let mut chi2 = 0.0;
    for (ids, _) in counts.keys() {
        assert!(expected.contains_key(ids), "impossible list {ids}");
    }
    for (ids, &p) in &expected {
        let observed = counts
            .iter()
            .filter(|((drawn, _), _)| drawn == ids)
            .map(|(_, &c)| c)
            .sum::<u64>() as f64;
        let e = p * n as f64;
        assert!(e >= 5.0, "cell {ids} too small for chi-square: {e}");
        chi2 += (observed - e).powi(2) / e;
    }
    let df = expected.len() as f64 - 1.0;
    let p_value = ChiSquared::new(df).unwrap().sf(chi2);
    assert!(p_value > 0.001, "chi2 {chi2} on {df} df, p = {p_value}");
}

#[test]
fn probabilistic_lists_follow_the_softmax_model() {
    assert_lists_follow_softmax(&rankings(&["abc", "cab"]), 3, 3.0, 40_000);
    assert_lists_follow_softmax(&rankings(&["abcd", "dcba"]), 2, 1.0, 40_000);
    // Partial overlap: B = (d, a) runs out early.
    assert_lists_follow_softmax(&rankings(&["abc", "da"]), 3, 1.0, 40_000);
}

// ---------------------------------------------------------------------------------------------
// Multileaving preferences.

/// Adds `weight` times the credit's preference matrix to `total`.
fn accumulate(total: &mut [[f64; 3]; 3], credit: &Credit, weight: f64) {
    for (row, prefs) in total.iter_mut().zip(&credit.preference) {
        for (cell, p) in row.iter_mut().zip(prefs) {
            *cell += weight * p;
        }
    }
}

#[test]
fn multileave_preferences_are_antisymmetric() {
    let pool: Vec<String> = (0..10).map(|i| format!("d{i}")).collect();
    let mut rng = Rng::new(3);
    for seed in 0..500 {
        let k = 3 + seed as usize % 3;
        let input: Vec<Vec<String>> = (0..k).map(|_| shuffled(&pool, 6, &mut rng)).collect();
        let imp = interleave(Method::TeamDraftMultileave, &input, 8, &mut Rng::new(seed)).unwrap();
        let clicked: Vec<&str> = imp
            .ids()
            .into_iter()
            .filter(|_| rng.bernoulli(0.3))
            .collect();
        let c = click(&imp, &clicked);
        assert_eq!(c.clicks.iter().sum::<f64>(), clicked.len() as f64);
        for i in 0..k {
            assert_eq!(c.preference[i][i], 0.0);
            for j in 0..k {
                assert_eq!(c.preference[i][j], -c.preference[j][i]);
                assert_eq!(c.preference[i][j], sign(c.clicks[i] - c.clicks[j]));
            }
        }
    }
}

#[test]
fn identical_rankings_have_no_expected_preference() {
    let input = rankings(&["abcdef", "abcdef", "abcdef"]);
    // Exactly: the list is always abcdef; each of the two rounds orders the teams by one of the
    // six permutations, all equally likely. Average over the 36 team patterns for fixed clicks.
    let perms = [
        [0, 1, 2],
        [0, 2, 1],
        [1, 0, 2],
        [1, 2, 0],
        [2, 0, 1],
        [2, 1, 0],
    ];
    for clicked in [
        vec!["a"],
        vec!["a", "d"],
        vec!["b", "c", "e"],
        vec!["a", "b", "f"],
    ] {
        let mut mean = [[0.0; 3]; 3];
        for first in &perms {
            for second in &perms {
                let items: Vec<(&str, usize)> = ["a", "b", "c", "d", "e", "f"]
                    .into_iter()
                    .zip(first.iter().chain(second).copied())
                    .collect();
                let imp = team_impression(Method::TeamDraftMultileave, &input, &items);
                let c = click(&imp, &clicked);
                accumulate(&mut mean, &c, 1.0 / 36.0);
            }
        }
        assert!(mean.iter().flatten().all(|p| p.abs() < 1e-12), "{mean:?}");
    }
    // By simulation with position-biased clicks.
    let n = 20_000;
    let mut clicks = Rng::new(77);
    let mut sum = [[0.0; 3]; 3];
    for seed in 0..n {
        let imp = interleave(Method::TeamDraftMultileave, &input, 6, &mut Rng::new(seed)).unwrap();
        assert_eq!(imp.ids().concat(), "abcdef");
        let clicked: Vec<&str> = imp
            .ids()
            .into_iter()
            .enumerate()
            .filter(|&(t, _)| clicks.bernoulli(0.5 / (t + 1) as f64))
            .map(|(_, id)| id)
            .collect();
        let c = click(&imp, &clicked);
        accumulate(&mut sum, &c, 1.0);
    }
    // Each preference is in [-1, 1]: 5 standard errors are below 5/sqrt(n).
    let tolerance = 5.0 / (n as f64).sqrt();
    for row in &sum {
        for &s in row {
            assert!((s / n as f64).abs() < tolerance, "{sum:?}");
        }
    }
}

#[test]
fn multileave_prefers_the_ranking_that_places_relevant_items_first() {
    // Ranking 0 puts the two relevant items (r, s) on top, ranking 2 puts them last.
    let input = rankings(&["rsxyz", "xrsyz", "xyzrs"]);
    let n = 5_000;
    let mut sum = [[0.0; 3]; 3];
    for seed in 0..n {
        let imp = interleave(Method::TeamDraftMultileave, &input, 5, &mut Rng::new(seed)).unwrap();
        let c = click(&imp, &["r", "s"]);
        accumulate(&mut sum, &c, 1.0 / n as f64);
    }
    assert!(
        sum[0][1] > 0.2 && sum[0][2] > 0.5 && sum[1][2] > 0.2,
        "{sum:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Errors and serialization.

#[test]
fn bad_input_is_a_typed_error() {
    let mut rng = Rng::new(1);
    let two = rankings(&["abc", "bca"]);
    let three = rankings(&["abc", "bca", "cab"]);
    assert_eq!(
        interleave(Method::TeamDraft, &two[..1], 3, &mut rng),
        Err(InterleaveError::TooFewRankings { got: 1 })
    );
    assert_eq!(
        interleave(Method::TeamDraftMultileave, &[], 3, &mut rng),
        Err(InterleaveError::TooFewRankings { got: 0 })
    );
    for method in [
        Method::TeamDraft,
        Method::Balanced,
        Method::Probabilistic { tau: 3.0 },
    ] {
        assert_eq!(
            interleave(method, &three, 3, &mut rng),
            Err(InterleaveError::TooManyRankings {
                method: method.name(),
                got: 3
            })
        );
    }
    assert!(interleave(Method::TeamDraftMultileave, &three, 3, &mut rng).is_ok());
    assert_eq!(
        interleave(Method::Balanced, &rankings(&["abc", ""]), 3, &mut rng),
        Err(InterleaveError::EmptyRanking { ranking: 1 })
    );
    assert_eq!(
        interleave(Method::TeamDraft, &two, 0, &mut rng),
        Err(InterleaveError::ZeroLength)
    );
    assert_eq!(
        interleave(Method::TeamDraft, &rankings(&["abc", "bcab"]), 3, &mut rng),
        Err(InterleaveError::DuplicateId {
            ranking: 1,
            id: "b".into(),
            first: 0,
            second: 3
        })
    );
    for tau in [-1.0, f64::NAN, f64::INFINITY, 101.0] {
        let err = interleave(Method::Probabilistic { tau }, &two, 3, &mut rng).unwrap_err();
        assert!(matches!(err, InterleaveError::InvalidTau { .. }), "{err}");
    }
    assert_eq!(
        "round-robin".parse::<Method>(),
        Err(InterleaveError::UnknownMethod {
            name: "round-robin".into()
        })
    );
}

#[test]
fn inconsistent_impressions_are_rejected_by_credit() {
    let input = rankings(&["abc", "bca"]);
    let problem = |imp: &Impression| match credit(imp, &["a"]) {
        Err(InterleaveError::InvalidItem {
            position, problem, ..
        }) => (position, problem),
        other => panic!("expected an invalid item, got {other:?}"),
    };
    let imp = team_impression(Method::TeamDraft, &input, &[("a", 0), ("b", 2)]);
    assert_eq!(problem(&imp), (1, "names a team beyond the rankings"));
    let imp = team_impression(Method::TeamDraft, &input, &[("a", 0), ("a", 1)]);
    assert_eq!(problem(&imp), (1, "appears twice in the list"));
    let imp = team_impression(Method::TeamDraft, &input, &[("z", 0)]);
    assert_eq!(problem(&imp), (0, "is in none of the rankings"));
    let imp = plain_impression(Method::TeamDraft, &input, "ab");
    assert_eq!(problem(&imp), (0, "has no team"));
    let imp = team_impression(
        Method::TeamDraft,
        &rankings(&["ab", "cd"]),
        &[("a", 0), ("b", 1)],
    );
    assert_eq!(problem(&imp), (1, "is not in the ranking of its team"));
    let imp = plain_impression(Method::Probabilistic { tau: 3.0 }, &input, "abz");
    assert_eq!(problem(&imp), (2, "is in none of the rankings"));
    let mut imp = plain_impression(Method::Balanced, &input, "abc");
    imp.rankings.push(ranking("cab"));
    assert!(matches!(
        credit(&imp, &["a"]),
        Err(InterleaveError::TooManyRankings { .. })
    ));
}

#[test]
fn impressions_round_trip_through_json() {
    let input = rankings(&["abcd", "dbca", "cadb"]);
    let mut rng = Rng::new(8);
    for method in [
        Method::TeamDraft,
        Method::Balanced,
        Method::Probabilistic { tau: 2.5 },
        Method::TeamDraftMultileave,
    ] {
        let k = if method.is_pairwise() { 2 } else { 3 };
        let imp = interleave(method, &input[..k], 4, &mut rng).unwrap();
        let json = serde_json::to_string(&imp).unwrap();
        let back: Impression = serde_json::from_str(&json).unwrap();
        assert_eq!(back, imp);
        assert_eq!(
            method.name().parse::<Method>().map(|m| m.name()),
            Ok(method.name())
        );
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value["method"], method.name());
    }
    let json = r#"{"method":"probabilistic","rankings":[["a","b"],["b","a"]],
        "items":[{"id":"b"},{"id":"a"}]}"#;
    let imp: Impression = serde_json::from_str(json).unwrap();
    assert_eq!(imp.method, Method::Probabilistic { tau: DEFAULT_TAU });
    let json = r#"{"method":"team-draft","rankings":[["a"],["b"]],
        "items":[{"id":"b","team":1},{"id":"a","team":0}]}"#;
    let imp: Impression = serde_json::from_str(json).unwrap();
    assert_eq!(click(&imp, &["b"]).outcome(), Outcome::Win(1));
}
