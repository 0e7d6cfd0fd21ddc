//! Ranking interleaving: merge the rankings of two or more variants of a ranking model into one
//! result list ([`interleave`]), remember where each item came from (an [`Impression`]), and turn
//! the clicks on that list into credit per variant ([`credit`]).
//!
//! Methods ([`Method`]):
//! - `team-draft` (Radlinski, Kurup & Joachims 2008): the rankings take turns as in a team draft;
//!   each click counts for the team that placed the item;
//! - `balanced` (Joachims 2003): both rankings advance in step from a random first one; a click
//!   counts for every ranking that holds the item within the depth of the lowest click;
//! - `probabilistic` (Hofmann, Whiteson & de Rijke 2011): each position draws a ranking by a coin
//!   and an item from that ranking's softmax over ranks; credit is the expected outcome over every
//!   team assignment that could have produced the list, computed exactly;
//! - `team-draft-multileave` (Schuth et al. 2014): team draft for two or more rankings, giving a
//!   pairwise preference matrix.
//!
//! The rankings are passed in and randomness comes from a seeded [`Rng`]: no IO, no clock.
//! `docs/interleaving.md` states each credit rule and its sources.

mod balanced;
mod probabilistic;
mod team_draft;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::str::FromStr;

use rampart_stats::Rng;
use serde::{Deserialize, Serialize};

/// Default exponent τ of probabilistic interleaving's softmax P(d) ∝ 1/rank(d)^τ (Hofmann et al.).
pub const DEFAULT_TAU: f64 = 3.0;

/// Largest accepted τ: beyond it the softmax is already deterministic in double precision
/// (2^-100 ≈ 10^-30), and larger values would overflow the log-weights.
pub const MAX_TAU: f64 = 100.0;

/// Preferences closer to zero than this are ties: the exact marginalisation of probabilistic
/// interleaving sums floating-point terms that cancel only up to rounding.
const TIE_TOLERANCE: f64 = 1e-12;

/// How rankings are merged and clicks credited.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "kebab-case")]
pub enum Method {
    /// Team-draft interleaving of exactly two rankings.
    TeamDraft,
    /// Balanced interleaving of exactly two rankings.
    Balanced,
    /// Probabilistic interleaving of exactly two rankings with softmax exponent `tau`.
    Probabilistic {
        #[serde(default = "default_tau")]
        tau: f64,
    },
    /// Team-draft multileaving of two or more rankings.
    TeamDraftMultileave,
}

fn default_tau() -> f64 {
    DEFAULT_TAU
}

impl Method {
    /// Every method name, as accepted by [`Method::from_str`].
    pub const NAMES: [&'static str; 4] = [
        "team-draft",
        "balanced",
        "probabilistic",
        "team-draft-multileave",
    ];

    /// The method's name in config and API (`team-draft`, `balanced`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Method::TeamDraft => Self::NAMES[0],
            Method::Balanced => Self::NAMES[1],
            Method::Probabilistic { .. } => Self::NAMES[2],
            Method::TeamDraftMultileave => Self::NAMES[3],
        }
    }

    /// Whether the method merges exactly two rankings.
    pub fn is_pairwise(&self) -> bool {
        !matches!(self, Method::TeamDraftMultileave)
    }

    /// Whether each item is credited to exactly one ranking (its team).
    pub fn has_teams(&self) -> bool {
        matches!(self, Method::TeamDraft | Method::TeamDraftMultileave)
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Method {
    type Err = InterleaveError;

    /// Parses a method name; `probabilistic` gets the default τ.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "team-draft" => Ok(Method::TeamDraft),
            "balanced" => Ok(Method::Balanced),
            "probabilistic" => Ok(Method::Probabilistic { tau: DEFAULT_TAU }),
            "team-draft-multileave" => Ok(Method::TeamDraftMultileave),
            _ => Err(InterleaveError::UnknownMethod {
                name: s.to_string(),
            }),
        }
    }
}

/// One item of an interleaved list.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Item {
    pub id: String,
    /// Index of the ranking credited for this item; `None` for methods without a single team per
    /// item (balanced, probabilistic).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<usize>,
}

/// An interleaved list with what is needed to credit clicks on it later: the method and the input
/// rankings. Serializable so it can be stored with the impression id and replayed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Impression {
    #[serde(flatten)]
    pub method: Method,
    pub rankings: Vec<Vec<String>>,
    pub items: Vec<Item>,
}

impl Impression {
    /// The item ids in list order.
    pub fn ids(&self) -> Vec<&str> {
        self.items.iter().map(|item| item.id.as_str()).collect()
    }
}

/// What one impression's clicks say about the rankings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Credit {
    /// Clicks credited to each ranking: clicks on its team (team draft), clicks within the top k of
    /// the ranking (balanced), expected clicks on its team over all assignments (probabilistic).
    pub clicks: Vec<f64>,
    /// `preference[i][j]` in [-1, 1]: +1 when ranking i beat ranking j on this impression, -1 when
    /// it lost, 0 on a tie; for probabilistic interleaving the expectation of that outcome.
    /// Antisymmetric with a zero diagonal.
    pub preference: Vec<Vec<f64>>,
}

/// The result of one impression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// This ranking was preferred to every other ranking.
    Win(usize),
    /// No ranking was preferred to all others (always the case without clicks).
    Tie,
}

impl Credit {
    /// Which ranking won: the one preferred to every other, else a tie. For two rankings this is
    /// the usual win/loss/tie of an interleaved comparison.
    pub fn outcome(&self) -> Outcome {
        let winner = (0..self.preference.len()).find(|&i| {
            (0..self.preference.len()).all(|j| j == i || self.preference[i][j] > TIE_TOLERANCE)
        });
        winner.map_or(Outcome::Tie, Outcome::Win)
    }

    /// The outcome of ranking `i` against ranking `j` alone (`Win(i)`, `Win(j)` or `Tie`).
    pub fn pairwise(&self, i: usize, j: usize) -> Outcome {
        match self.preference.get(i).and_then(|row| row.get(j)) {
            Some(&p) if p > TIE_TOLERANCE => Outcome::Win(i),
            Some(&p) if p < -TIE_TOLERANCE => Outcome::Win(j),
            _ => Outcome::Tie,
        }
    }

    /// Builds the credit from per-ranking counts where the larger count wins each pair.
    fn from_counts(clicks: Vec<f64>) -> Credit {
        let preference = clicks
            .iter()
            .map(|ci| clicks.iter().map(|cj| sign(ci - cj)).collect())
            .collect();
        Credit { clicks, preference }
    }
}

fn sign(x: f64) -> f64 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        0.0
    }
}

/// Why rankings could not be interleaved or an impression credited.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InterleaveError {
    #[error("unknown interleaving method {name:?}; known methods: team-draft, balanced, probabilistic, team-draft-multileave")]
    UnknownMethod { name: String },
    #[error("interleaving needs at least two rankings, got {got}")]
    TooFewRankings { got: usize },
    #[error(
        "{method} interleaves exactly two rankings, got {got}; use team-draft-multileave for more"
    )]
    TooManyRankings { method: &'static str, got: usize },
    #[error("ranking {ranking} is empty")]
    EmptyRanking { ranking: usize },
    #[error("ranking {ranking} lists {id:?} twice (positions {first} and {second})")]
    DuplicateId {
        ranking: usize,
        id: String,
        first: usize,
        second: usize,
    },
    #[error("length must be at least 1")]
    ZeroLength,
    #[error("tau must be a number in [0, {MAX_TAU}], got {tau}")]
    InvalidTau { tau: f64 },
    #[error("item {position} ({id:?}) of the impression {problem}")]
    InvalidItem {
        position: usize,
        id: String,
        problem: &'static str,
    },
}

/// Merges `rankings` (best first, ids unique within each) into one list of at most `length` items
/// without duplicates, by `method`. The list stops early when every ranking is used up.
pub fn interleave(
    method: Method,
    rankings: &[Vec<String>],
    length: usize,
    rng: &mut Rng,
) -> Result<Impression, InterleaveError> {
    validate(method, rankings)?;
    if length == 0 {
        return Err(InterleaveError::ZeroLength);
    }
    let items = match method {
        Method::TeamDraft | Method::TeamDraftMultileave => {
            team_draft::interleave(rankings, length, rng)
        }
        Method::Balanced => balanced::interleave(&rankings[0], &rankings[1], length, rng),
        Method::Probabilistic { tau } => {
            probabilistic::interleave(&rankings[0], &rankings[1], tau, length, rng)
        }
    };
    Ok(Impression {
        method,
        rankings: rankings.to_vec(),
        items,
    })
}

/// Credit per ranking from the ids clicked on one impression. Clicks on ids not in the list are
/// ignored and a repeated id counts once. The impression is checked first, since it may come from
/// storage: an inconsistent one is an error, not a panic.
pub fn credit(impression: &Impression, clicked: &[&str]) -> Result<Credit, InterleaveError> {
    check_impression(impression)?;
    let clicked: HashSet<&str> = clicked.iter().copied().collect();
    let is_clicked: Vec<bool> = impression
        .items
        .iter()
        .map(|item| clicked.contains(item.id.as_str()))
        .collect();
    let rankings = &impression.rankings;
    Ok(match impression.method {
        Method::TeamDraft | Method::TeamDraftMultileave => {
            team_draft::credit(rankings.len(), &impression.items, &is_clicked)
        }
        Method::Balanced => {
            balanced::credit(&rankings[0], &rankings[1], &impression.items, &is_clicked)
        }
        Method::Probabilistic { tau } => probabilistic::credit(
            &rankings[0],
            &rankings[1],
            tau,
            &impression.items,
            &is_clicked,
        ),
    })
}

/// Checks the number of rankings for the method, that none is empty or repeats an id, and τ.
fn validate(method: Method, rankings: &[Vec<String>]) -> Result<(), InterleaveError> {
    if rankings.len() < 2 {
        return Err(InterleaveError::TooFewRankings {
            got: rankings.len(),
        });
    }
    if method.is_pairwise() && rankings.len() > 2 {
        return Err(InterleaveError::TooManyRankings {
            method: method.name(),
            got: rankings.len(),
        });
    }
    if let Method::Probabilistic { tau } = method {
        if !(0.0..=MAX_TAU).contains(&tau) {
            return Err(InterleaveError::InvalidTau { tau });
        }
    }
    for (r, ranking) in rankings.iter().enumerate() {
        if ranking.is_empty() {
            return Err(InterleaveError::EmptyRanking { ranking: r });
        }
        let mut seen: HashMap<&str, usize> = HashMap::with_capacity(ranking.len());
        for (pos, id) in ranking.iter().enumerate() {
            if let Some(first) = seen.insert(id.as_str(), pos) {
                return Err(InterleaveError::DuplicateId {
                    ranking: r,
                    id: id.clone(),
                    first,
                    second: pos,
                });
            }
        }
    }
    Ok(())
}

/// Checks a stored impression: valid rankings, unique items, each item in some ranking and, for
/// team methods, in the ranking of its team.
fn check_impression(impression: &Impression) -> Result<(), InterleaveError> {
    validate(impression.method, &impression.rankings)?;
    let sets: Vec<HashSet<&str>> = impression
        .rankings
        .iter()
        .map(|ranking| ranking.iter().map(String::as_str).collect())
        .collect();
    let mut seen = HashSet::with_capacity(impression.items.len());
    for (position, item) in impression.items.iter().enumerate() {
        let invalid = |problem| InterleaveError::InvalidItem {
            position,
            id: item.id.clone(),
            problem,
        };
        if !seen.insert(item.id.as_str()) {
            return Err(invalid("appears twice in the list"));
        }
        if !sets.iter().any(|set| set.contains(item.id.as_str())) {
            return Err(invalid("is in none of the rankings"));
        }
        if impression.method.has_teams() {
            match item.team {
                None => return Err(invalid("has no team")),
                Some(team) if team >= sets.len() => {
                    return Err(invalid("names a team beyond the rankings"))
                }
                Some(team) if !sets[team].contains(item.id.as_str()) => {
                    return Err(invalid("is not in the ranking of its team"))
                }
                Some(_) => {}
            }
        }
    }
    Ok(())
}
