//! Planning a release before it starts: the decision checklist that picks between an interleaving
//! experiment and a staged rollout, the sample sizes and durations of both workflows, and a config
//! block that carries the plan out.
//!
//! Pure: answers and numbers come in, a [`Plan`] comes out. Reading flags, files and a terminal is
//! the CLI's job. The model behind every number is written down in `docs/plan.md`.
//!
//! - [`PlanInput`] collects answers from any source ([`PlanInput::from_toml`], [`PlanInput::set_number`],
//!   [`PlanInput::set_text`]); [`PlanInput::missing`] names what is still needed.
//! - [`assess_checklist`] scores the seven criteria toward each workflow and recommends one.
//! - [`compute_numbers`] sizes a split test, an interleaved test and a staged rollout.
//! - [`config_snippet`] writes the `[[rollouts]]` or `[[experiments]]` block of the recommendation.
//! - [`plan`] does all three.

use serde::Serialize;

use rampart_stats::{
    proportion_effect_size, sample_size, simulate_sequential, Alternative, AsymptoticCs, Msprt,
    PowerSpec, PowerTest, SequentialMethod, StatsError,
};

use crate::analysis::{HORIZON_UNITS, MIN_RELATIVE_EFFECT};

/// Points by which interleaving must lead the staged rollout to be recommended (the guide's rule).
pub const INTERLEAVING_LEAD: i32 = 10;

/// A/B impressions needed per team-draft impression for the same power, as measured in
/// `docs/interleaving.md` under the navigational click model: 4,550 A/B impressions to reach
/// significance against 1,637 for team draft at 95% power. The A/B test there points the wrong way,
/// so 2.78 is a lower bound of interleaving's advantage, never an overstatement of it.
pub const DEFAULT_INTERLEAVING_FACTOR: f64 = 4550.0 / 1637.0;

pub const DEFAULT_ALPHA: f64 = 0.05;
pub const DEFAULT_POWER: f64 = 0.8;
/// Share of the model's units in a split or interleaved experiment, in percent.
pub const DEFAULT_TRAFFIC: f64 = 100.0;

/// Stages of the staged plan: traffic in percent and minimum duration in hours. The guide's common
/// practice: 24 hours for early stages, 48–72 hours for later ones; the last stage only completes.
pub const DEFAULT_STAGES: [(f64, u64); 5] =
    [(1.0, 24), (5.0, 24), (20.0, 48), (50.0, 72), (100.0, 0)];

/// Seeded simulation of the mSPRT stopping time: runs, seed, looks, and the horizon as a multiple
/// of the fixed-horizon sample.
const SEQUENTIAL_RUNS: usize = 1000;
const SEQUENTIAL_SEED: u64 = 20_260_101;
const SEQUENTIAL_LOOKS: usize = 100;
const SEQUENTIAL_HORIZON: f64 = 3.0;

/// Why a plan cannot be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlanError {
    /// Required answers are absent; their names as flags take (`traffic-volume`).
    #[error(
        "missing answers: {}; give them as --NAME flags, in an --answers file, or interactively (--interactive)",
        .0.join(", ")
    )]
    Missing(Vec<&'static str>),
    /// An answer outside its range.
    #[error("{name}: {value} is not valid: expected {expected}")]
    OutOfRange {
        name: &'static str,
        value: String,
        expected: &'static str,
    },
    /// A key no plan knows.
    #[error("unknown answer `{0}`")]
    UnknownKey(String),
    /// The answers file cannot be read as a plan.
    #[error("line {line}: {message}")]
    File { line: usize, message: String },
    /// The numbers are outside what the statistics can size.
    #[error("cannot size the plan: {0}")]
    Stats(#[from] StatsError),
    /// The staged plan can never gather the units its gate needs.
    #[error("the staged plan never reaches {units} units per arm: no stage keeps a control")]
    Unreachable { units: u64 },
}

/// The seven criteria of the guide's decision checklist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Criterion {
    TrafficVolume,
    RiskTolerance,
    InfrastructureMaturity,
    TeamExpertise,
    MonitoringCapability,
    IterationSpeed,
    StakeholderAlignment,
}

/// The two workflows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    Interleaving,
    StagedRollout,
}

impl Strategy {
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Interleaving => "interleaving",
            Strategy::StagedRollout => "staged rollout",
        }
    }
}

impl Criterion {
    pub const ALL: [Criterion; 7] = [
        Criterion::TrafficVolume,
        Criterion::RiskTolerance,
        Criterion::InfrastructureMaturity,
        Criterion::TeamExpertise,
        Criterion::MonitoringCapability,
        Criterion::IterationSpeed,
        Criterion::StakeholderAlignment,
    ];

    /// The name as a flag takes it: `traffic-volume`.
    pub fn name(self) -> &'static str {
        match self {
            Criterion::TrafficVolume => "traffic-volume",
            Criterion::RiskTolerance => "risk-tolerance",
            Criterion::InfrastructureMaturity => "infrastructure-maturity",
            Criterion::TeamExpertise => "team-expertise",
            Criterion::MonitoringCapability => "monitoring-capability",
            Criterion::IterationSpeed => "iteration-speed",
            Criterion::StakeholderAlignment => "stakeholder-alignment",
        }
    }

    /// The guide's question, with what 1 and 5 mean.
    pub fn question(self) -> &'static str {
        match self {
            Criterion::TrafficVolume => {
                "traffic volume: enough traffic to detect meaningful metric differences within a reasonable time? (1 little, 5 plenty)"
            }
            Criterion::RiskTolerance => {
                "risk tolerance: how well can you absorb a model failure? (1 a failure is catastrophic, 5 cheap to undo)"
            }
            Criterion::InfrastructureMaturity => {
                "infrastructure maturity: an experimentation platform with real-time logging and analysis? (1 none, 5 mature)"
            }
            Criterion::TeamExpertise => {
                "team expertise: experienced with experiment design and statistical analysis? (1 new to it, 5 expert)"
            }
            Criterion::MonitoringCapability => {
                "monitoring capability: robust monitoring and alerting across many dimensions? (1 little, 5 robust)"
            }
            Criterion::IterationSpeed => {
                "iteration speed requirement: need to test many model variants quickly? (1 rarely, 5 constantly)"
            }
            Criterion::StakeholderAlignment => {
                "stakeholder alignment: are stakeholders comfortable with the uncertainty of an experiment? (1 not at all, 5 fully)"
            }
        }
    }

    /// The workflow a high answer favours, per the guide. Monitoring is the one criterion where
    /// "yes" favours staged rollouts: gates are only as good as the alerts behind them.
    pub fn favours(self) -> Strategy {
        match self {
            Criterion::MonitoringCapability => Strategy::StagedRollout,
            _ => Strategy::Interleaving,
        }
    }

    fn parse(key: &str) -> Option<Criterion> {
        let key = key.replace('_', "-");
        Criterion::ALL.into_iter().find(|c| c.name() == key)
    }

    fn index(self) -> usize {
        Criterion::ALL
            .iter()
            .position(|c| *c == self)
            .unwrap_or_default()
    }
}

/// Points of one answer a (1–5): a toward the workflow a high answer favours and 6 − a toward the
/// other, so every criterion hands out 6 points and a neutral 3 splits them evenly.
/// Returns (interleaving, staged).
pub fn score(criterion: Criterion, answer: u8) -> Result<(u8, u8), PlanError> {
    if !(1..=5).contains(&answer) {
        return Err(PlanError::OutOfRange {
            name: criterion.name(),
            value: answer.to_string(),
            expected: "a whole number from 1 to 5",
        });
    }
    Ok(match criterion.favours() {
        Strategy::Interleaving => (answer, 6 - answer),
        Strategy::StagedRollout => (6 - answer, answer),
    })
}

/// One scored answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Score {
    pub criterion: Criterion,
    pub answer: u8,
    pub interleaving: u8,
    pub staged: u8,
}

/// The scored checklist and what it recommends.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Checklist {
    pub scores: Vec<Score>,
    pub interleaving: u32,
    pub staged: u32,
    /// interleaving − staged.
    pub lead: i32,
    pub recommendation: Strategy,
    /// Which answers pushed which way, and the rule applied.
    pub reason: String,
}

/// Scores the seven answers (in [`Criterion::ALL`] order) and recommends interleaving only when it
/// leads by [`INTERLEAVING_LEAD`] points or more; otherwise a staged rollout comes first.
pub fn assess_checklist(answers: &[u8; 7]) -> Result<Checklist, PlanError> {
    let mut scores = Vec::with_capacity(7);
    for (criterion, &answer) in Criterion::ALL.into_iter().zip(answers) {
        let (interleaving, staged) = score(criterion, answer)?;
        scores.push(Score {
            criterion,
            answer,
            interleaving,
            staged,
        });
    }
    let interleaving: u32 = scores.iter().map(|s| u32::from(s.interleaving)).sum();
    let staged: u32 = scores.iter().map(|s| u32::from(s.staged)).sum();
    let lead = interleaving as i32 - staged as i32;
    let recommendation = if lead >= INTERLEAVING_LEAD {
        Strategy::Interleaving
    } else {
        Strategy::StagedRollout
    };
    let pushes = |want: std::cmp::Ordering| {
        scores
            .iter()
            .filter(|s| s.interleaving.cmp(&s.staged) == want)
            .map(|s| {
                let by = (i32::from(s.interleaving) - i32::from(s.staged)).abs();
                format!("{} {} (+{by})", s.criterion.name(), s.answer)
            })
            .collect::<Vec<_>>()
    };
    let rule = if lead >= INTERLEAVING_LEAD {
        format!("interleaving leads by {lead} points, at least {INTERLEAVING_LEAD}: interleaving")
    } else if lead > 0 {
        format!(
            "interleaving leads by only {lead} points, fewer than {INTERLEAVING_LEAD}: start with a staged rollout"
        )
    } else if lead == 0 {
        "the scores tie: start with a staged rollout".to_string()
    } else {
        format!(
            "the staged rollout leads by {}: start with a staged rollout",
            -lead
        )
    };
    let mut reason = format!("interleaving {interleaving}, staged rollout {staged}; {rule}");
    for (label, want) in [
        ("toward interleaving", std::cmp::Ordering::Greater),
        ("toward a staged rollout", std::cmp::Ordering::Less),
        ("neutral", std::cmp::Ordering::Equal),
    ] {
        let list = pushes(want);
        if !list.is_empty() {
            let list = if want == std::cmp::Ordering::Equal {
                list.iter()
                    .map(|s| s.trim_end_matches(" (+0)").to_string())
                    .collect::<Vec<_>>()
            } else {
                list
            };
            reason.push_str(&format!(". {label}: {}", list.join(", ")));
        }
    }
    Ok(Checklist {
        scores,
        interleaving,
        staged,
        lead,
        recommendation,
        reason,
    })
}

/// Everything a plan is made from, each part optional until [`PlanInput::resolve`]: later sources
/// override earlier ones through [`PlanInput::merge`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PlanInput {
    pub answers: [Option<u8>; 7],
    /// Units (users, sessions or requests, as the model randomizes) arriving per day.
    pub units_per_day: Option<f64>,
    /// The baseline's rate of the primary binary metric, e.g. 0.05 for 5% conversion.
    pub baseline_rate: Option<f64>,
    /// Minimum detectable effect, relative to the baseline rate (0.05 = 5%).
    pub mde: Option<f64>,
    pub alpha: Option<f64>,
    pub power: Option<f64>,
    pub interleaving_factor: Option<f64>,
    /// Share of units in an experiment, percent.
    pub traffic: Option<f64>,
    pub model: Option<String>,
    pub baseline: Option<String>,
    pub candidate: Option<String>,
    pub metric: Option<String>,
    /// The model ranks items, so variants can be interleaved in one list (team draft).
    pub ranking: Option<bool>,
}

/// The numeric keys besides the checklist.
const NUMBER_KEYS: [&str; 7] = [
    "units-per-day",
    "baseline-rate",
    "mde",
    "alpha",
    "power",
    "interleaving-factor",
    "traffic",
];
const TEXT_KEYS: [&str; 4] = ["model", "baseline", "candidate", "metric"];

/// A question to ask for a missing answer: its name, the question and the range allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Question {
    pub name: &'static str,
    pub text: &'static str,
    pub range: &'static str,
}

impl PlanInput {
    /// Sets a numeric answer by name (`traffic-volume` or `traffic_volume`), checking its range.
    pub fn set_number(&mut self, key: &str, value: f64) -> Result<(), PlanError> {
        if let Some(c) = Criterion::parse(key) {
            let ok = value.fract() == 0.0 && (1.0..=5.0).contains(&value);
            if !ok {
                return Err(PlanError::OutOfRange {
                    name: c.name(),
                    value: value.to_string(),
                    expected: "a whole number from 1 to 5",
                });
            }
            self.answers[c.index()] = Some(value as u8);
            return Ok(());
        }
        let key = key.replace('_', "-");
        let (name, slot, ok, expected): (_, &mut Option<f64>, bool, _) = match key.as_str() {
            "units-per-day" => (
                "units-per-day",
                &mut self.units_per_day,
                value > 0.0 && value.is_finite(),
                "a number of units per day above 0",
            ),
            "baseline-rate" => (
                "baseline-rate",
                &mut self.baseline_rate,
                value > 0.0 && value < 1.0,
                "a rate strictly between 0 and 1",
            ),
            "mde" => (
                "mde",
                &mut self.mde,
                value > 0.0 && value < 1.0,
                "a relative effect strictly between 0 and 1 (0.05 = 5%)",
            ),
            "alpha" => (
                "alpha",
                &mut self.alpha,
                value > 0.0 && value < 0.5,
                "a level strictly between 0 and 0.5",
            ),
            "power" => (
                "power",
                &mut self.power,
                value > 0.0 && value < 1.0,
                "a probability strictly between 0 and 1",
            ),
            "interleaving-factor" => (
                "interleaving-factor",
                &mut self.interleaving_factor,
                value > 0.0 && value.is_finite(),
                "a positive number: A/B units per interleaved impression",
            ),
            "traffic" => (
                "traffic",
                &mut self.traffic,
                value > 0.0 && value <= 100.0,
                "a percent above 0 and at most 100",
            ),
            _ => return Err(PlanError::UnknownKey(key)),
        };
        if !ok {
            return Err(PlanError::OutOfRange {
                name,
                value: value.to_string(),
                expected,
            });
        }
        *slot = Some(value);
        Ok(())
    }

    /// Sets an answer from text: a number for numeric keys, a name for `model`, `baseline`,
    /// `candidate` and `metric`, `true`/`false` for `ranking`.
    pub fn set_text(&mut self, key: &str, text: &str) -> Result<(), PlanError> {
        let key = key.replace('_', "-");
        let text = text.trim();
        if key == "ranking" {
            self.ranking = Some(match text {
                "true" | "yes" | "y" => true,
                "false" | "no" | "n" => false,
                _ => {
                    return Err(PlanError::OutOfRange {
                        name: "ranking",
                        value: text.to_string(),
                        expected: "true or false",
                    })
                }
            });
            return Ok(());
        }
        if let Some(&name) = TEXT_KEYS.iter().find(|k| **k == key) {
            let ok = !text.is_empty()
                && text
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
            if !ok {
                return Err(PlanError::OutOfRange {
                    name,
                    value: text.to_string(),
                    expected: "a name of letters, digits, `_`, `.` and `-`",
                });
            }
            let slot = match name {
                "model" => &mut self.model,
                "baseline" => &mut self.baseline,
                "candidate" => &mut self.candidate,
                _ => &mut self.metric,
            };
            *slot = Some(text.to_string());
            return Ok(());
        }
        let known = Criterion::parse(&key).is_some() || NUMBER_KEYS.contains(&key.as_str());
        if !known {
            return Err(PlanError::UnknownKey(key));
        }
        let value: f64 = text.parse().map_err(|_| PlanError::OutOfRange {
            name: Criterion::parse(&key)
                .map(Criterion::name)
                .or_else(|| NUMBER_KEYS.iter().copied().find(|k| *k == key))
                .unwrap_or("answer"),
            value: text.to_string(),
            expected: "a number",
        })?;
        self.set_number(&key, value)
    }

    /// Reads an answers file: `[checklist]` with the seven criteria, `[numbers]` with
    /// `units_per_day`, `baseline_rate`, `mde`, `alpha`, `power`, `interleaving_factor`, `traffic`,
    /// and `[config]` with `model`, `baseline`, `candidate`, `metric`, `ranking`.
    pub fn from_toml(text: &str) -> Result<PlanInput, PlanError> {
        use toml_edit::{ImDocument, Item, Value};
        let line_of = |offset: Option<usize>| {
            offset.map_or(1, |o| text[..o.min(text.len())].matches('\n').count() + 1)
        };
        let doc = ImDocument::parse(text).map_err(|e| PlanError::File {
            line: line_of(e.span().map(|s| s.start)),
            message: e.message().to_string(),
        })?;
        let mut input = PlanInput::default();
        for (section, item) in doc.as_table().iter() {
            let Some(table) = item.as_table() else {
                return Err(PlanError::File {
                    line: line_of(item.span().map(|s| s.start)),
                    message: format!(
                        "`{section}` is not a table; expected [checklist], [numbers] or [config]"
                    ),
                });
            };
            if !matches!(section, "checklist" | "numbers" | "config") {
                return Err(PlanError::File {
                    line: line_of(table.span().map(|s| s.start)),
                    message: format!(
                        "unknown section `{section}`; expected [checklist], [numbers] or [config]"
                    ),
                });
            }
            for (key, item) in table.iter() {
                let line = line_of(
                    table
                        .key(key)
                        .and_then(|k| k.span())
                        .or_else(|| item.span())
                        .map(|s| s.start),
                );
                let at = |e: PlanError| PlanError::File {
                    line,
                    message: format!("{section}.{key}: {e}"),
                };
                let in_section = match section {
                    "checklist" => Criterion::parse(key).is_some(),
                    "numbers" => NUMBER_KEYS.contains(&key.replace('_', "-").as_str()),
                    _ => key == "ranking" || TEXT_KEYS.contains(&key),
                };
                if !in_section {
                    return Err(at(PlanError::UnknownKey(key.to_string())));
                }
                match item {
                    Item::Value(Value::Integer(i)) if section != "config" => {
                        input.set_number(key, *i.value() as f64).map_err(at)?
                    }
                    Item::Value(Value::Float(f)) if section != "config" => {
                        input.set_number(key, *f.value()).map_err(at)?
                    }
                    Item::Value(Value::String(s)) if section == "config" => {
                        input.set_text(key, s.value()).map_err(at)?
                    }
                    Item::Value(Value::Boolean(b)) if key == "ranking" => {
                        input.ranking = Some(*b.value())
                    }
                    _ => {
                        return Err(at(PlanError::OutOfRange {
                            name: "value",
                            value: item.type_name().to_string(),
                            expected: if section == "config" {
                                "a string (or true/false for ranking)"
                            } else {
                                "a number"
                            },
                        }))
                    }
                }
            }
        }
        Ok(input)
    }

    /// `self` with every answer `over` gives replaced by `over`'s.
    pub fn merge(mut self, over: PlanInput) -> PlanInput {
        for (mine, theirs) in self.answers.iter_mut().zip(over.answers) {
            if theirs.is_some() {
                *mine = theirs;
            }
        }
        macro_rules! take {
            ($($f:ident),*) => { $( if over.$f.is_some() { self.$f = over.$f; } )* };
        }
        take!(
            units_per_day,
            baseline_rate,
            mde,
            alpha,
            power,
            interleaving_factor,
            traffic,
            model,
            baseline,
            candidate,
            metric,
            ranking
        );
        self
    }

    /// The required answers still absent, as questions, in the order they are asked.
    pub fn missing(&self) -> Vec<Question> {
        let mut out: Vec<Question> = Criterion::ALL
            .into_iter()
            .filter(|c| self.answers[c.index()].is_none())
            .map(|c| Question {
                name: c.name(),
                text: c.question(),
                range: "1-5",
            })
            .collect();
        let numbers = [
            (
                self.units_per_day,
                "units-per-day",
                "units per day: how many units (users, sessions or requests) reach the model each day?",
                "a number > 0",
            ),
            (
                self.baseline_rate,
                "baseline-rate",
                "baseline rate: the baseline's rate of the primary metric (0.05 = 5%)?",
                "0-1, exclusive",
            ),
            (
                self.mde,
                "mde",
                "minimum detectable effect, relative to the baseline rate (0.05 = 5%)?",
                "0-1, exclusive",
            ),
        ];
        for (value, name, text, range) in numbers {
            if value.is_none() {
                out.push(Question { name, text, range });
            }
        }
        out
    }

    /// The complete input with defaults filled in, or the names of what is missing.
    pub fn resolve(&self) -> Result<ResolvedInput, PlanError> {
        let missing = self.missing();
        if !missing.is_empty() {
            return Err(PlanError::Missing(missing.iter().map(|q| q.name).collect()));
        }
        let mut answers = [0u8; 7];
        for (a, given) in answers.iter_mut().zip(self.answers) {
            *a = given.unwrap_or_default();
        }
        let numbers = Assumptions {
            units_per_day: self.units_per_day.unwrap_or_default(),
            baseline_rate: self.baseline_rate.unwrap_or_default(),
            mde: self.mde.unwrap_or_default(),
            alpha: self.alpha.unwrap_or(DEFAULT_ALPHA),
            power: self.power.unwrap_or(DEFAULT_POWER),
            interleaving_factor: self
                .interleaving_factor
                .unwrap_or(DEFAULT_INTERLEAVING_FACTOR),
            traffic: self.traffic.unwrap_or(DEFAULT_TRAFFIC),
        };
        let names = Names {
            model: self.model.clone().unwrap_or_else(|| "my-model".to_string()),
            baseline: self.baseline.clone().unwrap_or_else(|| "v1".to_string()),
            candidate: self.candidate.clone().unwrap_or_else(|| "v2".to_string()),
            metric: self
                .metric
                .clone()
                .unwrap_or_else(|| "conversion".to_string()),
            ranking: self.ranking.unwrap_or(false),
        };
        Ok(ResolvedInput {
            answers,
            numbers,
            names,
        })
    }
}

/// A complete input.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResolvedInput {
    pub answers: [u8; 7],
    pub numbers: Assumptions,
    pub names: Names,
}

/// The figures the numbers are computed from.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Assumptions {
    pub units_per_day: f64,
    pub baseline_rate: f64,
    pub mde: f64,
    pub alpha: f64,
    pub power: f64,
    pub interleaving_factor: f64,
    pub traffic: f64,
}

/// Names used in the config block.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Names {
    pub model: String,
    pub baseline: String,
    pub candidate: String,
    pub metric: String,
    pub ranking: bool,
}

/// What the mSPRT is expected to need, from a seeded simulation of `rampart_stats`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SequentialEstimate {
    /// Mean units per arm at stopping (runs that never stop count at the horizon).
    pub expected_units_per_arm: f64,
    /// Share of simulated runs that stopped by the horizon.
    pub power_by_horizon: f64,
    pub horizon_units_per_arm: f64,
}

/// A split (A/B) test of the binary metric.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SplitPlan {
    /// Cohen's h between p(1 + mde) and p.
    pub effect_size: f64,
    pub units_per_arm: u64,
    pub arms: u32,
    pub days: u64,
    /// The always-valid test of a `sequential` stopping rule, as the experiment analysis runs it.
    pub sequential: SequentialEstimate,
    pub sequential_days: f64,
}

/// A team-draft interleaved test: every impression compares both variants, so one "arm".
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct InterleavingPlan {
    pub factor: f64,
    /// ⌈split units of both arms / factor⌉.
    pub impressions: u64,
    pub days: u64,
}

/// One stage of the staged plan.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct StagePlan {
    /// Candidate share, percent.
    pub traffic: f64,
    pub min_duration_hours: u64,
    /// Share of the smaller arm (candidate or concurrent control), percent.
    pub arm_share: f64,
    pub units_per_arm_per_day: f64,
    pub units_per_arm_at_start: f64,
    pub units_per_arm_at_end: f64,
    /// How long the stage lasts: its minimum, or longer until the gate has its units.
    pub hours: u64,
}

/// The staged rollout with a non-inferiority gate against the concurrent control.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StagedPlan {
    /// Relative non-inferiority margin (the candidate may be this much worse): the mde.
    pub margin: f64,
    /// Cohen's h between p and p(1 − margin).
    pub effect_size: f64,
    /// One-sided fixed-horizon units per arm to pass the gate with the given power.
    pub gate_units_per_arm: u64,
    /// The gate's always-valid pass look, as `analysis` runs it.
    pub sequential_gate: SequentialEstimate,
    pub stages: Vec<StagePlan>,
    pub total_hours: u64,
    pub total_days: f64,
}

/// All numbers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Numbers {
    pub split: SplitPlan,
    pub interleaving: InterleavingPlan,
    pub staged: StagedPlan,
}

/// Days to a decision: ⌈n · arms / (units per day · traffic share)⌉ with the share in percent.
pub fn days_to_decision(
    units_per_arm: u64,
    arms: u32,
    units_per_day: f64,
    traffic_percent: f64,
) -> Result<u64, PlanError> {
    if !(units_per_day > 0.0 && units_per_day.is_finite()) {
        return Err(PlanError::OutOfRange {
            name: "units-per-day",
            value: units_per_day.to_string(),
            expected: "a number of units per day above 0",
        });
    }
    if !(traffic_percent > 0.0 && traffic_percent <= 100.0) {
        return Err(PlanError::OutOfRange {
            name: "traffic",
            value: traffic_percent.to_string(),
            expected: "a percent above 0 and at most 100",
        });
    }
    // Percent kept whole so integer inputs divide exactly (no 0.2 · 500 = 100.00000000000001).
    let days = (units_per_arm as f64 * f64::from(arms) * 100.0) / (units_per_day * traffic_percent);
    Ok(days.ceil() as u64)
}

fn check_rate(name: &'static str, value: f64) -> Result<(), PlanError> {
    if value > 0.0 && value < 1.0 {
        Ok(())
    } else {
        Err(PlanError::OutOfRange {
            name,
            value: value.to_string(),
            expected: "a baseline rate and mde whose shifted rate stays strictly between 0 and 1",
        })
    }
}

fn simulate(
    tau2: f64,
    alpha: f64,
    alternative: Alternative,
    effect_size: f64,
    fixed_units: f64,
) -> Result<SequentialEstimate, PlanError> {
    let horizon = (SEQUENTIAL_HORIZON * fixed_units).max(SEQUENTIAL_LOOKS as f64);
    let looks: Vec<f64> = (1..=SEQUENTIAL_LOOKS)
        .map(|k| horizon * k as f64 / SEQUENTIAL_LOOKS as f64)
        .collect();
    let method = SequentialMethod::Msprt(Msprt::new(tau2, alpha, alternative)?);
    let plan = simulate_sequential(
        &method,
        effect_size,
        &looks,
        1.0,
        SEQUENTIAL_RUNS,
        SEQUENTIAL_SEED,
    )?;
    Ok(SequentialEstimate {
        expected_units_per_arm: plan.expected_n1,
        power_by_horizon: plan.power,
        horizon_units_per_arm: plan.max_n1,
    })
}

/// Sizes the three designs. The staged plan uses [`DEFAULT_STAGES`].
pub fn compute_numbers(a: &Assumptions) -> Result<Numbers, PlanError> {
    compute_numbers_with_stages(a, &DEFAULT_STAGES)
}

/// Sizes the three designs with the given stages (traffic percent, minimum hours), traffic rising.
pub fn compute_numbers_with_stages(
    a: &Assumptions,
    stages: &[(f64, u64)],
) -> Result<Numbers, PlanError> {
    let p = a.baseline_rate;
    check_rate("baseline-rate", p)?;
    let treated = p * (1.0 + a.mde);
    check_rate("mde", treated)?;
    let limit = p * (1.0 - a.mde);
    check_rate("mde", limit)?;
    if !(a.interleaving_factor > 0.0 && a.interleaving_factor.is_finite()) {
        return Err(PlanError::OutOfRange {
            name: "interleaving-factor",
            value: a.interleaving_factor.to_string(),
            expected: "a positive number: A/B units per interleaved impression",
        });
    }
    let sigma2 = p * (1.0 - p);

    // Split test: two-sided z-test on Cohen's h, as the experiment analysis sizes a fixed rule.
    let h = proportion_effect_size(treated, p)?;
    let n = sample_size(
        PowerTest::Z,
        h,
        a.power,
        &PowerSpec::new(a.alpha, Alternative::TwoSided, 1.0),
    )?;
    let units_per_arm = n.ceil() as u64;
    let days = days_to_decision(units_per_arm, 2, a.units_per_day, a.traffic)?;
    // The experiment's mSPRT mixes over max((mde·p)², ρ²σ̂²), σ̂² = V·n; standardized by σ.
    let rho2_two = AsymptoticCs::new(a.alpha, HORIZON_UNITS, Alternative::TwoSided)?.rho2();
    let tau2 = ((a.mde * p).powi(2) / sigma2).max(2.0 * rho2_two);
    let sequential = simulate(tau2, a.alpha, Alternative::TwoSided, h, n)?;
    let sequential_days =
        sequential.expected_units_per_arm * 2.0 * 100.0 / (a.units_per_day * a.traffic);
    let split = SplitPlan {
        effect_size: h,
        units_per_arm,
        arms: 2,
        days,
        sequential,
        sequential_days,
    };

    // Interleaving: the split test's units of both arms, divided by the measured sensitivity.
    let impressions = ((units_per_arm * 2) as f64 / a.interleaving_factor).ceil() as u64;
    let interleaving = InterleavingPlan {
        factor: a.interleaving_factor,
        impressions: impressions.max(1),
        days: days_to_decision(impressions.max(1), 1, a.units_per_day, a.traffic)?,
    };

    // Staged: the gate's pass look rejects "candidate ≤ −margin" when the candidate equals the
    // control: a one-sided test of a shift of size margin.
    let h_gate = proportion_effect_size(p, limit)?;
    let n_gate = sample_size(
        PowerTest::Z,
        h_gate,
        a.power,
        &PowerSpec::new(a.alpha, Alternative::Greater, 1.0),
    )?;
    let gate_units = n_gate.ceil() as u64;
    // The gate mixes over max((MIN_RELATIVE_EFFECT)², ρ²σ̂²) in relative units; σ of the relative
    // estimate per unit is σ/p.
    let rho2_one = AsymptoticCs::new(a.alpha, HORIZON_UNITS, Alternative::Greater)?.rho2();
    let tau2_gate = (MIN_RELATIVE_EFFECT.powi(2) * p * p / sigma2).max(2.0 * rho2_one);
    let sequential_gate = simulate(tau2_gate, a.alpha, Alternative::Greater, h_gate, n_gate)?;
    let staged = plan_stages(a, stages, gate_units, h_gate, sequential_gate)?;
    Ok(Numbers {
        split,
        interleaving,
        staged,
    })
}

/// Walks the stages with evidence kept across them (the candidate and control slices only grow):
/// each stage lasts its minimum, or longer until each arm holds the gate's units.
fn plan_stages(
    a: &Assumptions,
    stages: &[(f64, u64)],
    gate_units: u64,
    effect_size: f64,
    sequential_gate: SequentialEstimate,
) -> Result<StagedPlan, PlanError> {
    let mut cumulative = 0.0;
    let mut planned = Vec::with_capacity(stages.len());
    let mut total_hours = 0;
    for &(traffic, min_hours) in stages {
        // Concurrent control: an equal slice up to 50%, what is left above (none at 100%).
        let arm_share = traffic.min(100.0 - traffic).max(0.0);
        let per_day = a.units_per_day * arm_share / 100.0;
        let need = gate_units as f64 - cumulative;
        let hours = if need <= 0.0 {
            min_hours
        } else if per_day > 0.0 {
            min_hours.max((need * 24.0 / per_day).ceil() as u64)
        } else {
            return Err(PlanError::Unreachable { units: gate_units });
        };
        let start = cumulative;
        cumulative += per_day * hours as f64 / 24.0;
        total_hours += hours;
        planned.push(StagePlan {
            traffic,
            min_duration_hours: min_hours,
            arm_share,
            units_per_arm_per_day: per_day,
            units_per_arm_at_start: start,
            units_per_arm_at_end: cumulative,
            hours,
        });
    }
    Ok(StagedPlan {
        margin: a.mde,
        effect_size,
        gate_units_per_arm: gate_units,
        sequential_gate,
        stages: planned,
        total_hours,
        total_days: total_hours as f64 / 24.0,
    })
}

/// A config block carrying out the recommendation: a `[[rollouts]]` block with the staged plan and
/// its non-inferiority gate, or an `[[experiments]]` block (team draft for ranking models, else a
/// split with a fixed rule sized by the same mde). It names the model, variants and metric of
/// `names`, which the rest of the config must define.
pub fn config_snippet(
    recommendation: Strategy,
    input: &ResolvedInput,
    numbers: &Numbers,
) -> String {
    let n = &input.names;
    let a = &input.numbers;
    let mut out = String::new();
    match recommendation {
        Strategy::StagedRollout => {
            let s = &numbers.staged;
            out.push_str("[[rollouts]]\n");
            out.push_str(&format!("name = \"{}-{}\"\n", n.model, n.candidate));
            out.push_str(&format!("model = \"{}\"\n", n.model));
            out.push_str(&format!("baseline = \"{}\"\n", n.baseline));
            out.push_str(&format!("candidate = \"{}\"\n", n.candidate));
            out.push_str("control = \"concurrent\"\n");
            out.push_str(&format!(
                "# The first stage holds until each arm has the {} units the gate needs.\n",
                s.gate_units_per_arm
            ));
            out.push_str("stages = [\n");
            for (i, st) in s.stages.iter().enumerate() {
                let mut parts = vec![format!("traffic = {}", st.traffic)];
                if st.min_duration_hours > 0 {
                    parts.push(format!("min_duration = \"{}h\"", st.min_duration_hours));
                }
                if i == 0 && s.gate_units_per_arm > 0 {
                    parts.push(format!("min_units = {}", s.gate_units_per_arm));
                }
                out.push_str(&format!("  {{ {} }},\n", parts.join(", ")));
            }
            out.push_str("]\n");
            out.push_str(&format!(
                "gates = [\n  {{ metric = \"{}\", compare = \"control\", max_worsening = \"{}%\", alpha = {} }},\n]\n",
                n.metric,
                crate::config::text::short_number(a.mde * 100.0),
                a.alpha
            ));
            out.push_str("on_fail = \"rollback\"\n");
        }
        Strategy::Interleaving => {
            let (design, days, stopping) = if n.ranking {
                (
                    "team-draft",
                    numbers.interleaving.days,
                    format!(
                        "rule = \"sequential\", alpha = {}, power = {}, mde = {}",
                        a.alpha, a.power, a.mde
                    ),
                )
            } else {
                (
                    "split",
                    numbers.split.days,
                    format!(
                        "rule = \"fixed\", alpha = {}, power = {}, mde = {}",
                        a.alpha, a.power, a.mde
                    ),
                )
            };
            // Twice the planned duration as a backstop: the rule, not the clock, should end it.
            let max_days = (2 * days).max(1);
            out.push_str("[[experiments]]\n");
            out.push_str(&format!(
                "name = \"{}-{}-vs-{}\"\n",
                n.model, n.baseline, n.candidate
            ));
            out.push_str(&format!("model = \"{}\"\n", n.model));
            out.push_str(&format!("design = \"{design}\"\n"));
            out.push_str(&format!(
                "variants = [\"{}\", \"{}\"]\n",
                n.baseline, n.candidate
            ));
            out.push_str(&format!("traffic = {}\n", a.traffic));
            out.push_str(&format!("primary = \"{}\"\n", n.metric));
            out.push_str(&format!(
                "stopping = {{ {stopping}, max_duration = \"{max_days}d\" }}\n"
            ));
        }
    }
    out
}

/// The whole plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    pub input: ResolvedInput,
    pub checklist: Checklist,
    pub numbers: Numbers,
    pub snippet: String,
}

/// Scores the checklist, sizes the designs and writes the config block of the recommendation.
pub fn plan(input: &PlanInput) -> Result<Plan, PlanError> {
    let input = input.resolve()?;
    let checklist = assess_checklist(&input.answers)?;
    let numbers = compute_numbers(&input.numbers)?;
    let snippet = config_snippet(checklist.recommendation, &input, &numbers);
    Ok(Plan {
        input,
        checklist,
        numbers,
        snippet,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_criterion_hands_out_six_points() {
        for c in Criterion::ALL {
            for a in 1..=5 {
                let (i, s) = score(c, a).unwrap();
                assert_eq!(i + s, 6, "{c:?} {a}");
            }
        }
        assert_eq!(score(Criterion::MonitoringCapability, 5).unwrap(), (1, 5));
        assert_eq!(score(Criterion::TrafficVolume, 5).unwrap(), (5, 1));
        assert!(score(Criterion::TrafficVolume, 0).is_err());
    }

    #[test]
    fn names_parse_with_either_separator() {
        assert_eq!(
            Criterion::parse("traffic_volume"),
            Some(Criterion::TrafficVolume)
        );
        assert_eq!(
            Criterion::parse("stakeholder-alignment"),
            Some(Criterion::StakeholderAlignment)
        );
        assert_eq!(Criterion::parse("volume"), None);
    }
}
