//! The scenario file of `rampart simulate`: traffic, the true behaviour of the baseline and the
//! candidate (per segment, by time of day, with novelty and delayed conversions), the rollout plan
//! and gates rampart uses (the main config's `[[rollouts]]` syntax, checked by the config loader),
//! the fixed-threshold rule, the A/B settings, optional rankers, and the run's horizon and seeds.
//!
//! [`parse_scenario`] is pure (text in, [`Scenario`] or every problem out); each problem names the
//! file, line and field and says what would be valid, in the config loader's error format.
//! `docs/simulate.md` documents every key.

use std::collections::{BTreeMap, BTreeSet};

use rampart_core::config::text::{edit_distance, LineIndex};
use rampart_core::config::{load_str, Config, ConfigError, ConfigErrors, Duration, Format};
use rampart_core::plan::DEFAULT_STAGES;
use rampart_core::Millis;
use serde_json::{Map, Value as Json};
use toml_edit::{ImDocument, Item, Table};

use crate::traffic::{Behaviour, Segment, Traffic};
use crate::world::{Daily, Dynamics, Novelty, World};

/// The model, rollout and metric names of the generated rampart config.
pub const MODEL: &str = "model";
pub const ROLLOUT: &str = "rollout";
/// Metrics the gates and threshold checks may name.
pub const METRICS: [&str; 3] = ["conversion", "error_rate", "latency"];

/// A metric of the simulated world.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SimMetric {
    Conversion,
    ErrorRate,
    Latency,
}

impl SimMetric {
    fn parse(s: &str) -> Option<SimMetric> {
        match s {
            "conversion" => Some(SimMetric::Conversion),
            "error_rate" => Some(SimMetric::ErrorRate),
            "latency" => Some(SimMetric::Latency),
            _ => None,
        }
    }
}

/// One check of the fixed-threshold rule on the candidate's value in one interval.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ThresholdCheck {
    pub metric: SimMetric,
    pub max: Option<f64>,
    pub min: Option<f64>,
    /// Upper limit on candidate ÷ baseline in the same interval.
    pub max_ratio: Option<f64>,
    /// Lower limit on candidate ÷ baseline in the same interval.
    pub min_ratio: Option<f64>,
    /// Latency only: the quantile compared (0.99 by default).
    pub quantile: f64,
}

/// The fixed-threshold rule (as Flagger and Argo Rollouts judge a canary).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FixedThreshold {
    pub interval_ms: Millis,
    /// Failed intervals (over the whole rollout) that roll back.
    pub failure_limit: u32,
    /// Passing intervals in a stage that advance to the next stage.
    pub success_count: u32,
    /// Intervals with fewer candidate units are skipped: neither pass nor fail.
    pub min_units: u64,
    pub checks: Vec<ThresholdCheck>,
    /// Candidate traffic per stage, percent: the rollout plan's.
    pub stages: Vec<f64>,
}

/// When an A/B test promotes the candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Promote {
    /// Unless it is significantly worse on conversion or error rate.
    NoHarm,
    /// Only when its conversion is significantly better (and nothing significantly worse).
    Win,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AbSettings {
    pub alpha: f64,
    pub power: f64,
    /// Relative minimum detectable effect on conversion.
    pub mde: f64,
    pub promote: Promote,
    /// How often the sequential test looks.
    pub look_every_ms: Millis,
}

/// Cascade click model: P(click | grade) and P(stop after a click | grade) for grades 0, 1, 2.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct ClickModel {
    pub click: [f64; 3],
    pub stop: [f64; 3],
}

pub const CLICK_MODELS: [&str; 3] = ["perfect", "navigational", "informational"];

impl ClickModel {
    /// The models of Hofmann, Whiteson & de Rijke (2013), as in `docs/interleaving.md`.
    pub fn named(name: &str) -> Option<ClickModel> {
        Some(match name {
            "perfect" => ClickModel {
                click: [0.0, 0.5, 1.0],
                stop: [0.0, 0.0, 0.0],
            },
            "navigational" => ClickModel {
                click: [0.05, 0.5, 0.95],
                stop: [0.2, 0.5, 0.9],
            },
            "informational" => ClickModel {
                click: [0.4, 0.7, 0.9],
                stop: [0.1, 0.3, 0.5],
            },
            _ => return None,
        })
    }
}

/// A ranker: sorts a query's items by grade + N(0, noise²); less noise ranks better.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Ranker {
    pub name: String,
    pub noise: f64,
}

/// Rankers compared by team-draft interleaving (multileaving for three or more).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Ranking {
    /// Candidate items per query (grades 0, 1, 2 drawn uniformly).
    pub items: usize,
    /// Items shown per impression.
    pub shown: usize,
    pub click_model: ClickModel,
    /// The first is the baseline ranker.
    pub rankers: Vec<Ranker>,
    /// Preference Δ the always-valid test is tuned to.
    pub mde: f64,
}

/// A parsed, validated scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    pub world: World,
    pub baseline: String,
    pub candidate: String,
    /// The rampart config the `rampart` strategy runs (model [`MODEL`], rollout [`ROLLOUT`]).
    pub config: Config,
    pub fixed_threshold: FixedThreshold,
    pub ab: AbSettings,
    pub ranking: Option<Ranking>,
    pub seeds: u64,
    pub first_seed: u64,
    /// Manual stages are approved after this long; never when `None`.
    pub approve_after_ms: Option<Millis>,
}

impl Scenario {
    /// Whether the candidate is worse than the baseline for any segment (see [`World::worse`]).
    pub fn candidate_worse(&self) -> bool {
        self.world.candidate_worse(&self.baseline, &self.candidate)
    }
}

/// Reads scenario text; `file` names it in errors.
pub fn parse_scenario(text: &str, file: &str) -> Result<Scenario, ConfigErrors> {
    let lines = LineIndex::new(text);
    let doc = ImDocument::parse(text).map_err(|e| {
        ConfigErrors(vec![ConfigError {
            file: file.to_string(),
            line: lines.of(e.span()),
            field: String::new(),
            message: format!("not valid TOML: {}", e.message().trim_end()),
        }])
    })?;
    let mut r = Reader {
        file,
        lines: BTreeMap::new(),
        errors: Vec::new(),
    };
    let root = r.table_json(doc.as_table(), "", &lines);
    let scenario = r.scenario(&root, file);
    if r.errors.is_empty() {
        if let Some(s) = scenario {
            return Ok(s);
        }
    }
    let mut errors = r.errors;
    errors.sort_by_key(|e| e.line.unwrap_or(usize::MAX));
    if errors.is_empty() {
        errors.push(r_error(file, "the scenario could not be read"));
    }
    Err(ConfigErrors(errors))
}

fn r_error(file: &str, message: &str) -> ConfigError {
    ConfigError {
        file: file.to_string(),
        line: None,
        field: String::new(),
        message: message.to_string(),
    }
}

const SECTIONS: &[&str] = &[
    "scenario",
    "traffic",
    "baseline",
    "candidate",
    "outcomes",
    "metrics",
    "rollout",
    "fixed_threshold",
    "ab",
    "ranking",
    "run",
];

struct Reader<'f> {
    file: &'f str,
    lines: BTreeMap<String, usize>,
    errors: Vec<ConfigError>,
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn describe(v: &Json) -> String {
    match v {
        Json::Null => "nothing".to_string(),
        Json::Bool(b) => format!("a boolean ({b})"),
        Json::Number(n) => format!("a number ({n})"),
        Json::String(s) => format!("a string ({s:?})"),
        Json::Array(_) => "a list".to_string(),
        Json::Object(_) => "a table".to_string(),
    }
}

impl Reader<'_> {
    fn line_of(&self, field: &str) -> Option<usize> {
        let mut path = field;
        loop {
            if let Some(&line) = self.lines.get(path) {
                return Some(line);
            }
            let cut = path.rfind(['.', '['])?;
            path = &path[..cut];
        }
    }

    fn err(&mut self, field: &str, message: impl Into<String>) {
        self.errors.push(ConfigError {
            file: self.file.to_string(),
            line: self.line_of(field),
            field: field.to_string(),
            message: message.into(),
        });
    }

    fn table_json(&mut self, table: &Table, path: &str, lines: &LineIndex) -> Json {
        let mut out = Map::new();
        for (key, item) in table.iter() {
            let p = join(path, key);
            if let Some(l) = table.key(key).and_then(|k| lines.of(k.span())) {
                self.lines.insert(p.clone(), l);
            }
            out.insert(key.to_string(), self.item_json(item, &p, lines));
        }
        Json::Object(out)
    }

    fn item_json(&mut self, item: &Item, path: &str, lines: &LineIndex) -> Json {
        match item {
            Item::None => Json::Null,
            Item::Value(v) => self.value_json(v, path, lines),
            Item::Table(t) => {
                if let Some(l) = lines.of(t.span()) {
                    self.lines.entry(path.to_string()).or_insert(l);
                }
                self.table_json(t, path, lines)
            }
            Item::ArrayOfTables(a) => Json::Array(
                a.iter()
                    .enumerate()
                    .map(|(i, t)| {
                        let p = format!("{path}[{i}]");
                        if let Some(l) = lines.of(t.span()) {
                            self.lines.insert(p.clone(), l);
                        }
                        self.table_json(t, &p, lines)
                    })
                    .collect(),
            ),
        }
    }

    fn value_json(&mut self, v: &toml_edit::Value, path: &str, lines: &LineIndex) -> Json {
        use toml_edit::Value as V;
        if let Some(l) = lines.of(v.span()) {
            self.lines.entry(path.to_string()).or_insert(l);
        }
        match v {
            V::String(s) => Json::String(s.value().clone()),
            V::Integer(i) => Json::Number((*i.value()).into()),
            V::Float(f) => serde_json::Number::from_f64(*f.value())
                .map(Json::Number)
                // NaN and infinities are refused where numbers are read.
                .unwrap_or_else(|| Json::String(f.value().to_string())),
            V::Boolean(b) => Json::Bool(*b.value()),
            V::Datetime(d) => Json::String(d.value().to_string()),
            V::Array(a) => Json::Array(
                a.iter()
                    .enumerate()
                    .map(|(i, v)| self.value_json(v, &format!("{path}[{i}]"), lines))
                    .collect(),
            ),
            V::InlineTable(t) => {
                let mut out = Map::new();
                for (key, v) in t.iter() {
                    let p = join(path, key);
                    if let Some(l) = t.key(key).and_then(|k| lines.of(k.span())) {
                        self.lines.insert(p.clone(), l);
                    }
                    out.insert(key.to_string(), self.value_json(v, &p, lines));
                }
                Json::Object(out)
            }
        }
    }

    /// The table at `path`, with unknown keys reported; `None` when absent or not a table.
    fn table<'j>(
        &mut self,
        value: Option<&'j Json>,
        path: &str,
        keys: &[&str],
    ) -> Option<&'j Map<String, Json>> {
        let value = value?;
        let Some(map) = value.as_object() else {
            self.err(path, format!("expected a table, found {}", describe(value)));
            return None;
        };
        for key in map.keys() {
            if !keys.contains(&key.as_str()) {
                let hint = keys
                    .iter()
                    .map(|k| (edit_distance(key, k), *k))
                    .filter(|(d, k)| *d <= 2.max(k.len() / 4) && *d < k.len())
                    .min_by_key(|(d, _)| *d)
                    .map(|(_, k)| format!(" (did you mean `{k}`?)"))
                    .unwrap_or_default();
                self.err(
                    &join(path, key),
                    format!(
                        "unknown key `{key}`{hint}; valid keys here: {}",
                        keys.join(", ")
                    ),
                );
            }
        }
        Some(map)
    }

    /// A number accepted by `ok`, or `default` when absent (`None`: required).
    fn number(
        &mut self,
        t: &Map<String, Json>,
        path: &str,
        key: &str,
        default: Option<f64>,
        ok: impl Fn(f64) -> bool,
        expected: &str,
    ) -> Option<f64> {
        let field = join(path, key);
        match t.get(key) {
            None => {
                if default.is_none() {
                    self.err(&field, format!("missing required key `{key}` ({expected})"));
                }
                default
            }
            Some(Json::Number(n)) => match n.as_f64() {
                Some(x) if x.is_finite() && ok(x) => Some(x),
                _ => {
                    self.err(&field, format!("{n} is out of range: expected {expected}"));
                    None
                }
            },
            Some(v) => {
                self.err(
                    &field,
                    format!("expected {expected}, found {}", describe(v)),
                );
                None
            }
        }
    }

    fn string(
        &mut self,
        t: &Map<String, Json>,
        path: &str,
        key: &str,
        required: bool,
    ) -> Option<String> {
        let field = join(path, key);
        match t.get(key) {
            None if required => {
                self.err(&field, format!("missing required key `{key}` (a string)"));
                None
            }
            None => None,
            Some(Json::String(s)) if !s.trim().is_empty() => Some(s.clone()),
            Some(v) => {
                self.err(
                    &field,
                    format!("expected a non-empty string, found {}", describe(v)),
                );
                None
            }
        }
    }

    fn duration(
        &mut self,
        t: &Map<String, Json>,
        path: &str,
        key: &str,
        default: Option<Millis>,
        positive: bool,
    ) -> Option<Millis> {
        let field = join(path, key);
        let expected = "a duration such as \"30s\", \"5m\", \"24h\" or \"7d\"";
        match t.get(key) {
            None => {
                if default.is_none() {
                    self.err(&field, format!("missing required key `{key}` ({expected})"));
                }
                default
            }
            Some(Json::String(s)) => match s.parse::<Duration>() {
                Ok(d) if positive && d.as_millis() == 0 => {
                    self.err(&field, "must be longer than 0s");
                    None
                }
                Ok(d) => Some(d.as_millis() as Millis),
                Err(e) => {
                    self.err(&field, e.to_string());
                    None
                }
            },
            Some(v) => {
                self.err(
                    &field,
                    format!("expected {expected}, found {}", describe(v)),
                );
                None
            }
        }
    }

    fn choice(
        &mut self,
        t: &Map<String, Json>,
        path: &str,
        key: &str,
        values: &[&str],
        default: &'static str,
    ) -> Option<String> {
        let field = join(path, key);
        let quoted: Vec<String> = values.iter().map(|v| format!("\"{v}\"")).collect();
        match t.get(key) {
            None => Some(default.to_string()),
            Some(Json::String(s)) if values.contains(&s.as_str()) => Some(s.clone()),
            Some(v) => {
                self.err(
                    &field,
                    format!(
                        "expected one of {}, found {}",
                        quoted.join(", "),
                        describe(v)
                    ),
                );
                None
            }
        }
    }

    fn list<'j>(&mut self, t: &'j Map<String, Json>, path: &str, key: &str) -> Vec<&'j Json> {
        match t.get(key) {
            None => Vec::new(),
            Some(Json::Array(a)) => a.iter().collect(),
            Some(v) => {
                self.err(
                    &join(path, key),
                    format!("expected a list, found {}", describe(v)),
                );
                Vec::new()
            }
        }
    }

    fn scenario(&mut self, root: &Json, file: &str) -> Option<Scenario> {
        let root_map = self.table(Some(root), "", SECTIONS)?;
        let empty = Json::Object(Map::new());
        let section = |name: &str| root_map.get(name);

        let meta = self
            .table(section("scenario"), "scenario", &["name", "description"])
            .cloned()
            .unwrap_or_default();
        let name = self
            .string(&meta, "scenario", "name", false)
            .unwrap_or_else(|| {
                std::path::Path::new(file)
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .unwrap_or("scenario")
                    .to_string()
            });
        let description = self
            .string(&meta, "scenario", "description", false)
            .unwrap_or_default();

        let traffic = self.traffic(section("traffic"));
        let segment_values: Vec<String> = traffic
            .as_ref()
            .map(|t| t.segments.iter().map(|s| s.value.clone()).collect())
            .unwrap_or_default();
        let baseline = self.variant(section("baseline"), "baseline", &segment_values);
        let candidate = self.variant(section("candidate"), "candidate", &segment_values);
        if let (Some(b), Some(c)) = (&baseline, &candidate) {
            if b.name == c.name {
                self.err(
                    "candidate.name",
                    format!(
                        "the candidate needs a name of its own; the baseline is also called {:?}",
                        b.name
                    ),
                );
            }
        }

        let outcomes = self
            .table(section("outcomes"), "outcomes", &["conversion_delay"])
            .cloned()
            .unwrap_or_default();
        let delay = self.duration(&outcomes, "outcomes", "conversion_delay", Some(0), false);

        let run = self
            .table(
                section("run"),
                "run",
                &["horizon", "tick", "seeds", "seed", "approve_after"],
            )
            .cloned()
            .unwrap_or_default();
        let horizon = self.duration(&run, "run", "horizon", None, true);
        let tick = self.duration(&run, "run", "tick", Some(5 * 60_000), true);
        let seeds = self.number(
            &run,
            "run",
            "seeds",
            Some(50.0),
            |x| x.fract() == 0.0 && (1.0..=100_000.0).contains(&x),
            "a whole number of seeds from 1 to 100000",
        );
        let first_seed = self.number(
            &run,
            "run",
            "seed",
            Some(1.0),
            |x| x.fract() == 0.0 && x >= 0.0,
            "a whole number, 0 or more",
        );
        let approve_after = match run.get("approve_after") {
            None => Some(None),
            Some(_) => self
                .duration(&run, "run", "approve_after", None, false)
                .map(Some),
        };
        if let (Some(h), Some(t)) = (horizon, tick) {
            if t > h {
                self.err(
                    "run.tick",
                    "must not be longer than run.horizon: the controller looks once per tick",
                );
            }
        }

        let ab = self.ab(section("ab"));
        let rollout_json = section("rollout");
        // The rollout is checked even when a variant has a bad value, under the names given.
        let name_of = |section: &str, fallback: &str| {
            root_map
                .get(section)
                .and_then(|v| v.get("name"))
                .and_then(Json::as_str)
                .filter(|n| !n.is_empty())
                .unwrap_or(fallback)
                .to_string()
        };
        let names = (
            name_of("baseline", "baseline"),
            name_of("candidate", "candidate"),
        );
        let maturities = self.maturities(section("metrics"));
        let plan = self.rollout(
            rollout_json,
            &names,
            traffic.as_ref(),
            ab.as_ref(),
            &maturities,
        );
        let stages: Vec<f64> = plan
            .as_ref()
            .and_then(|c| c.rollout(ROLLOUT))
            .map(|r| r.stages.iter().map(|s| s.traffic).collect())
            .unwrap_or_default();
        let fixed = self.fixed_threshold(section("fixed_threshold").or(Some(&empty)), stages);
        let ranking = match section("ranking") {
            Some(v) => self
                .ranking(v, baseline.as_ref(), candidate.as_ref())
                .map(Some),
            None => Some(None),
        };

        let mut traffic = traffic?;
        let (baseline, candidate) = (baseline?, candidate?);
        let mut dynamics = BTreeMap::new();
        for v in [&baseline, &candidate] {
            traffic
                .behaviour
                .insert(v.name.clone(), v.behaviour.clone());
            for s in traffic.segments.iter_mut() {
                let b = v
                    .segments
                    .get(&s.value)
                    .cloned()
                    .unwrap_or_else(|| v.behaviour.clone());
                s.behaviour.insert(v.name.clone(), b);
            }
            dynamics.insert(v.name.clone(), v.dynamics);
        }
        let world = World {
            traffic,
            dynamics,
            conversion_delay_ms: delay?,
            tick_ms: tick?,
            horizon_ms: horizon?,
        };
        let ab = ab?;
        let fixed = fixed?;
        Some(Scenario {
            name,
            description,
            world,
            baseline: baseline.name,
            candidate: candidate.name,
            config: plan?,
            fixed_threshold: fixed,
            ab,
            ranking: ranking?,
            seeds: seeds? as u64,
            first_seed: first_seed? as u64,
            approve_after_ms: approve_after?,
        })
    }

    fn traffic(&mut self, value: Option<&Json>) -> Option<Traffic> {
        let Some(value) = value else {
            self.err(
                "traffic",
                "missing required section [traffic] (units_per_hour, ...)",
            );
            return None;
        };
        let p = "traffic";
        let t = self.table(
            Some(value),
            p,
            &[
                "units_per_hour",
                "daily_amplitude",
                "peak_hour",
                "segment_attribute",
                "segments",
            ],
        )?;
        let units = self.number(
            t,
            p,
            "units_per_hour",
            None,
            |x| x > 0.0,
            "a number of units per hour above 0",
        );
        let amplitude = self.number(
            t,
            p,
            "daily_amplitude",
            Some(0.0),
            |x| (0.0..1.0).contains(&x),
            "an amplitude from 0 (flat) to below 1",
        );
        let peak = self.number(
            t,
            p,
            "peak_hour",
            Some(12.0),
            |x| (0.0..24.0).contains(&x),
            "an hour of the day from 0 to below 24",
        );
        let attribute = self.string(t, p, "segment_attribute", false);
        let mut segments = Vec::new();
        let mut seen = BTreeSet::new();
        let mut total = 0.0;
        let list = self.list(t, p, "segments");
        if !list.is_empty() && attribute.is_none() {
            self.err(
                "traffic.segment_attribute",
                "segments need a segment_attribute (the attribute name, e.g. \"platform\")",
            );
        }
        for (i, s) in list.into_iter().enumerate() {
            let sp = format!("traffic.segments[{i}]");
            let Some(st) = self.table(Some(s), &sp, &["value", "share"]) else {
                continue;
            };
            let value = self.string(st, &sp, "value", true);
            let share = self.number(
                st,
                &sp,
                "share",
                None,
                |x| x > 0.0 && x <= 1.0,
                "a share above 0 and at most 1",
            );
            if let (Some(value), Some(share)) = (value, share) {
                if !seen.insert(value.clone()) || value == "other" {
                    self.err(
                        &format!("{sp}.value"),
                        format!("segment {value:?} is listed twice or is the reserved \"other\" (units outside every listed segment)"),
                    );
                }
                total += share;
                segments.push(Segment {
                    value,
                    share,
                    behaviour: BTreeMap::new(),
                });
            }
        }
        if total > 1.0 + 1e-9 {
            self.err(
                "traffic.segments",
                format!("the shares add up to {total}; they must add up to at most 1 (the rest is \"other\")"),
            );
        }
        Some(Traffic {
            units_per_hour: units?,
            daily_amplitude: amplitude?,
            peak_hour: peak?,
            behaviour: BTreeMap::new(),
            segment_attribute: attribute,
            segments,
        })
    }

    fn behaviour(
        &mut self,
        t: &Map<String, Json>,
        p: &str,
        base: Option<&Behaviour>,
    ) -> Option<Behaviour> {
        let conversion = self.number(
            t,
            p,
            "conversion",
            base.map(|b| b.conversion),
            |x| (0.0..=1.0).contains(&x),
            "a probability from 0 to 1",
        );
        let error = self.number(
            t,
            p,
            "error_rate",
            Some(base.map_or(0.0, |b| b.error)),
            |x| (0.0..=1.0).contains(&x),
            "a probability from 0 to 1",
        );
        let latency = self.number(
            t,
            p,
            "latency_ms",
            Some(base.map_or(100.0, |b| b.latency_ms)),
            |x| x > 0.0,
            "a median latency in milliseconds above 0",
        );
        Some(Behaviour {
            conversion: conversion?,
            error: error?,
            latency_ms: latency?,
        })
    }

    fn variant(
        &mut self,
        value: Option<&Json>,
        p: &str,
        segment_values: &[String],
    ) -> Option<VariantSpec> {
        let Some(value) = value else {
            self.err(
                p,
                format!("missing required section [{p}] (name, conversion, ...)"),
            );
            return None;
        };
        let mut keys = vec![
            "name",
            "conversion",
            "error_rate",
            "latency_ms",
            "daily",
            "segments",
        ];
        if p == "candidate" {
            keys.push("novelty");
        }
        let t = self.table(Some(value), p, &keys)?;
        let name = self.string(t, p, "name", true);
        if let Some(n) = &name {
            if !n
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
            {
                self.err(
                    &format!("{p}.name"),
                    format!(
                        "{n:?} is not a valid variant name: use letters, digits, `_`, `.` and `-`"
                    ),
                );
            }
        }
        let behaviour = self.behaviour(t, p, None);
        let mut dynamics = Dynamics::default();
        if let Some(d) = t.get("daily") {
            let dp = format!("{p}.daily");
            if let Some(dt) = self.table(Some(d), &dp, &["amplitude", "peak_hour"]) {
                let a = self.number(
                    dt,
                    &dp,
                    "amplitude",
                    None,
                    |x| (0.0..1.0).contains(&x),
                    "an amplitude from 0 to below 1",
                );
                let h = self.number(
                    dt,
                    &dp,
                    "peak_hour",
                    Some(12.0),
                    |x| (0.0..24.0).contains(&x),
                    "an hour of the day from 0 to below 24",
                );
                if let (Some(amplitude), Some(peak_hour)) = (a, h) {
                    dynamics.daily = Some(Daily {
                        amplitude,
                        peak_hour,
                    });
                }
            }
        }
        if let Some(n) = t.get("novelty") {
            let np = format!("{p}.novelty");
            if let Some(nt) = self.table(Some(n), &np, &["lift", "half_life"]) {
                let lift = self.number(
                    nt,
                    &np,
                    "lift",
                    None,
                    |x| x > -1.0,
                    "a relative lift above -1 (0.2 = starts 20% above its long-run conversion)",
                );
                let half = self.duration(nt, &np, "half_life", None, true);
                if let (Some(lift), Some(half_life_ms)) = (lift, half) {
                    dynamics.novelty = Some(Novelty { lift, half_life_ms });
                }
            }
        }
        let mut segments = BTreeMap::new();
        if let Some(s) = t.get("segments") {
            let sp = format!("{p}.segments");
            let names: Vec<&str> = segment_values.iter().map(String::as_str).collect();
            if let Some(st) = self.table(Some(s), &sp, &names) {
                for (value, over) in st {
                    if !names.contains(&value.as_str()) {
                        continue; // reported as an unknown key above
                    }
                    let op = format!("{sp}.{value}");
                    let Some(ot) =
                        self.table(Some(over), &op, &["conversion", "error_rate", "latency_ms"])
                    else {
                        continue;
                    };
                    if let Some(b) = behaviour
                        .as_ref()
                        .and_then(|base| self.behaviour(ot, &op, Some(base)))
                    {
                        segments.insert(value.clone(), b);
                    }
                }
            }
        }
        Some(VariantSpec {
            name: name?,
            behaviour: behaviour?,
            dynamics,
            segments,
        })
    }

    fn ab(&mut self, value: Option<&Json>) -> Option<AbSettings> {
        let empty = Map::new();
        let p = "ab";
        let t = match value {
            Some(v) => self.table(
                Some(v),
                p,
                &["alpha", "power", "mde", "promote", "look_every"],
            )?,
            None => &empty,
        };
        let alpha = self.number(
            t,
            p,
            "alpha",
            Some(0.05),
            |x| x > 0.0 && x < 0.5,
            "a level strictly between 0 and 0.5",
        );
        let power = self.number(
            t,
            p,
            "power",
            Some(0.8),
            |x| x > 0.0 && x < 1.0,
            "a probability strictly between 0 and 1",
        );
        let mde = self.number(
            t,
            p,
            "mde",
            Some(0.05),
            |x| x > 0.0 && x < 1.0,
            "a relative effect strictly between 0 and 1 (0.05 = 5%)",
        );
        let promote = self
            .choice(t, p, "promote", &["no-harm", "win"], "no-harm")
            .map(|s| {
                if s == "win" {
                    Promote::Win
                } else {
                    Promote::NoHarm
                }
            });
        let look = self.duration(t, p, "look_every", Some(3_600_000), true);
        Some(AbSettings {
            alpha: alpha?,
            power: power?,
            mde: mde?,
            promote: promote?,
            look_every_ms: look?,
        })
    }

    /// Builds the rampart config around the `[rollout]` section (or the default plan) and runs the
    /// config loader on it; its problems are reported at the scenario's `rollout.*` fields.
    /// `[metrics]`: per metric that arrives late, the `maturity` its rollout gates use.
    fn maturities(&mut self, value: Option<&Json>) -> BTreeMap<&'static str, Millis> {
        const METRICS: [&str; 2] = ["conversion", "error_rate"];
        let mut out = BTreeMap::new();
        let Some(t) = self.table(value, "metrics", &METRICS).cloned() else {
            return out;
        };
        for name in METRICS {
            let path = format!("metrics.{name}");
            let Some(m) = self.table(t.get(name), &path, &["maturity"]).cloned() else {
                continue;
            };
            if let Some(ms) = self.duration(&m, &path, "maturity", Some(0), true) {
                if ms > 0 {
                    out.insert(name, ms);
                }
            }
        }
        out
    }

    fn rollout(
        &mut self,
        value: Option<&Json>,
        (b, c): &(String, String),
        traffic: Option<&Traffic>,
        ab: Option<&AbSettings>,
        maturities: &BTreeMap<&'static str, Millis>,
    ) -> Option<Config> {
        const KEYS: &[&str] = &["stages", "gates", "control", "on_fail", "segments"];
        let body = match value {
            Some(v) => {
                if let Some(t) = v.as_object() {
                    for own in ["name", "model", "baseline", "candidate"] {
                        if t.contains_key(own) {
                            self.err(
                                &format!("rollout.{own}"),
                                format!("`{own}` is set by the simulator (from [baseline] and [candidate]); valid keys here: {}", KEYS.join(", ")),
                            );
                        }
                    }
                }
                let t = self.table(Some(v), "rollout", KEYS)?;
                let mut out = String::new();
                for (k, v) in t {
                    if KEYS.contains(&k.as_str()) {
                        out.push_str(&format!("{k} = {}\n", toml_inline(v)));
                    }
                }
                out
            }
            None => default_plan(traffic?, ab?.mde),
        };
        let segments = traffic
            .and_then(|t| t.segment_attribute.clone())
            .map(|a| format!("segments = [{}]\n", toml_inline(&Json::String(a))))
            .unwrap_or_default();
        let maturity = |name: &str| {
            maturities
                .get(name)
                .map(|ms| format!("maturity = \"{ms}ms\"\n"))
                .unwrap_or_default()
        };
        let text = format!(
            "{segments}[[models]]\nname = \"{MODEL}\"\nvariants = [{{ name = {} }}, {{ name = {} }}]\n\n\
             [[metrics]]\nname = \"conversion\"\nkind = \"binary\"\nevent = \"purchase\"\ngoal = \"increase\"\n{}\n\
             [[metrics]]\nname = \"error_rate\"\nkind = \"ratio\"\nnumerator = \"error\"\ndenominator = \"request\"\ngoal = \"decrease\"\n{}\n\
             [[metrics]]\nname = \"latency\"\nkind = \"latency\"\nevent = \"response\"\n\n\
             [[rollouts]]\nname = \"{ROLLOUT}\"\nmodel = \"{MODEL}\"\nbaseline = {}\ncandidate = {}\n{body}",
            toml_inline(&Json::String(b.clone())),
            toml_inline(&Json::String(c.clone())),
            maturity("conversion"),
            maturity("error_rate"),
            toml_inline(&Json::String(b.clone())),
            toml_inline(&Json::String(c.clone())),
        );
        match load_str(&text, Format::Toml, "scenario") {
            Ok(config) => Some(config),
            Err(errors) => {
                for e in errors.0 {
                    let field = match e.field.strip_prefix("rollouts[0]") {
                        Some(rest) => format!("rollout{rest}"),
                        None if e.field.is_empty() => "rollout".to_string(),
                        None => format!("rollout ({})", e.field),
                    };
                    let message = e
                        .message
                        .replace("rollouts[0].", "rollout.")
                        .replace("metrics: ", "metrics (conversion, error_rate, latency): ");
                    let message = if value.is_none() {
                        format!("the default plan: {message}")
                    } else {
                        message
                    };
                    self.err(&field, message);
                }
                None
            }
        }
    }

    fn fixed_threshold(
        &mut self,
        value: Option<&Json>,
        stages: Vec<f64>,
    ) -> Option<FixedThreshold> {
        let p = "fixed_threshold";
        let t = self.table(
            value,
            p,
            &[
                "interval",
                "failure_limit",
                "success_count",
                "min_units",
                "checks",
            ],
        )?;
        let interval = self.duration(t, p, "interval", Some(3_600_000), true);
        let whole = |lo: f64| move |x: f64| x.fract() == 0.0 && x >= lo && x <= 1e9;
        let failure_limit = self.number(
            t,
            p,
            "failure_limit",
            Some(2.0),
            whole(1.0),
            "a whole number of failed intervals, 1 or more",
        );
        let success_count = self.number(
            t,
            p,
            "success_count",
            Some(3.0),
            whole(1.0),
            "a whole number of passing intervals per stage, 1 or more",
        );
        let min_units = self.number(
            t,
            p,
            "min_units",
            Some(0.0),
            whole(0.0),
            "a whole number of candidate units, 0 or more",
        );
        let mut checks = Vec::new();
        let list = self.list(t, p, "checks");
        let explicit = t.contains_key("checks");
        for (i, c) in list.into_iter().enumerate() {
            let cp = format!("{p}.checks[{i}]");
            let Some(ct) = self.table(
                Some(c),
                &cp,
                &["metric", "max", "min", "max_ratio", "min_ratio", "quantile"],
            ) else {
                continue;
            };
            let metric = self.string(ct, &cp, "metric", true);
            let metric = metric.and_then(|m| {
                let parsed = SimMetric::parse(&m);
                if parsed.is_none() {
                    self.err(
                        &format!("{cp}.metric"),
                        format!(
                            "unknown metric {m:?}; valid metrics: {}",
                            METRICS.join(", ")
                        ),
                    );
                }
                parsed
            });
            let any = |x: f64| x >= 0.0;
            let max = self.number(ct, &cp, "max", Some(f64::NAN), any, "a number, 0 or more");
            let min = self.number(ct, &cp, "min", Some(f64::NAN), any, "a number, 0 or more");
            let pos = |x: f64| x > 0.0;
            let max_ratio =
                self.number(ct, &cp, "max_ratio", Some(f64::NAN), pos, "a ratio above 0");
            let min_ratio =
                self.number(ct, &cp, "min_ratio", Some(f64::NAN), pos, "a ratio above 0");
            let quantile = self.number(
                ct,
                &cp,
                "quantile",
                Some(0.99),
                |x| x > 0.0 && x < 1.0,
                "a quantile strictly between 0 and 1",
            );
            let some = |x: Option<f64>| x.filter(|v| !v.is_nan());
            let (max, min, max_ratio, min_ratio) =
                (some(max), some(min), some(max_ratio), some(min_ratio));
            if max.is_none() && min.is_none() && max_ratio.is_none() && min_ratio.is_none() {
                self.err(
                    &cp,
                    "a check needs at least one limit: max, min, max_ratio or min_ratio",
                );
            }
            if ct.contains_key("quantile") && metric != Some(SimMetric::Latency) {
                self.err(
                    &format!("{cp}.quantile"),
                    "quantile applies to the latency metric only",
                );
            }
            if let (Some(metric), Some(quantile)) = (metric, quantile) {
                checks.push(ThresholdCheck {
                    metric,
                    max,
                    min,
                    max_ratio,
                    min_ratio,
                    quantile,
                });
            }
        }
        if !explicit {
            checks = vec![
                ThresholdCheck {
                    metric: SimMetric::Conversion,
                    max: None,
                    min: None,
                    max_ratio: None,
                    min_ratio: Some(0.95),
                    quantile: 0.99,
                },
                ThresholdCheck {
                    metric: SimMetric::ErrorRate,
                    max: None,
                    min: None,
                    max_ratio: Some(1.1),
                    min_ratio: None,
                    quantile: 0.99,
                },
            ];
        } else if checks.is_empty() && self.errors.is_empty() {
            self.err(
                &format!("{p}.checks"),
                "give at least one check, or leave `checks` out for the defaults",
            );
        }
        Some(FixedThreshold {
            interval_ms: interval?,
            failure_limit: failure_limit? as u32,
            success_count: success_count? as u32,
            min_units: min_units? as u64,
            checks,
            stages,
        })
    }

    fn ranking(
        &mut self,
        value: &Json,
        baseline: Option<&VariantSpec>,
        candidate: Option<&VariantSpec>,
    ) -> Option<Ranking> {
        let p = "ranking";
        let t = self.table(
            Some(value),
            p,
            &["items", "shown", "click_model", "rankers", "mde"],
        )?;
        let items = self.number(
            t,
            p,
            "items",
            Some(20.0),
            |x| x.fract() == 0.0 && (2.0..=1000.0).contains(&x),
            "a whole number of items per query from 2 to 1000",
        );
        let shown = self.number(
            t,
            p,
            "shown",
            Some(10.0),
            |x| x.fract() == 0.0 && (1.0..=1000.0).contains(&x),
            "a whole number of shown items from 1 to 1000",
        );
        if let (Some(i), Some(s)) = (items, shown) {
            if s > i {
                self.err(
                    "ranking.shown",
                    format!("shows {s} items but a query has only {i} (ranking.items)"),
                );
            }
        }
        let click = self
            .choice(t, p, "click_model", &CLICK_MODELS, "navigational")
            .and_then(|s| ClickModel::named(&s));
        let mde = self.number(
            t,
            p,
            "mde",
            Some(0.05),
            |x| x > 0.0 && x < 0.5,
            "a preference Δ strictly between 0 and 0.5",
        );
        let mut rankers: Vec<Ranker> = Vec::new();
        for (i, r) in self.list(t, p, "rankers").into_iter().enumerate() {
            let rp = format!("{p}.rankers[{i}]");
            let Some(rt) = self.table(Some(r), &rp, &["name", "noise"]) else {
                continue;
            };
            let name = self.string(rt, &rp, "name", true);
            let noise = self.number(
                rt,
                &rp,
                "noise",
                None,
                |x| x >= 0.0,
                "a noise standard deviation, 0 or more (0 ranks by grade exactly)",
            );
            if let (Some(name), Some(noise)) = (name, noise) {
                if rankers.iter().any(|r| r.name == name) {
                    self.err(
                        &format!("{rp}.name"),
                        format!("ranker {name:?} is listed twice"),
                    );
                }
                rankers.push(Ranker { name, noise });
            }
        }
        if let (Some(b), Some(c)) = (baseline, candidate) {
            for v in [&b.name, &c.name] {
                if !rankers.iter().any(|r| &r.name == v) {
                    self.err(
                        "ranking.rankers",
                        format!("no ranker is named {v:?}: the baseline and the candidate must be among the rankers (found {})",
                            rankers.iter().map(|r| format!("{:?}", r.name)).collect::<Vec<_>>().join(", ")),
                    );
                }
            }
            // The baseline ranker first, the candidate second, the others after.
            rankers.sort_by_key(|r| {
                if r.name == b.name {
                    0
                } else if r.name == c.name {
                    1
                } else {
                    2
                }
            });
        }
        Some(Ranking {
            items: items? as usize,
            shown: shown? as usize,
            click_model: click?,
            rankers,
            mde: mde?,
        })
    }
}

struct VariantSpec {
    name: String,
    behaviour: Behaviour,
    dynamics: Dynamics,
    segments: BTreeMap<String, Behaviour>,
}

/// The default plan: `rampart plan`'s stages, non-inferiority gates on conversion and error rate
/// with the A/B mde as the allowed worsening, and a segment guardrail when the traffic has segments.
fn default_plan(traffic: &Traffic, mde: f64) -> String {
    let stages: Vec<String> = DEFAULT_STAGES
        .iter()
        .map(|(t, h)| match h {
            0 => format!("{{ traffic = {t} }}"),
            h => format!("{{ traffic = {t}, min_duration = \"{h}h\" }}"),
        })
        .collect();
    let pct = rampart_core::config::text::short_number(mde * 100.0);
    let mut out = format!(
        "stages = [{}]\ngates = [\n  {{ metric = \"conversion\", compare = \"control\", max_worsening = \"{pct}%\" }},\n  {{ metric = \"error_rate\", compare = \"control\", max_worsening = \"{pct}%\" }},\n]\n",
        stages.join(", "),
    );
    if let Some(a) = &traffic.segment_attribute {
        out.push_str(&format!(
            "segments = [{}]\n",
            toml_inline(&Json::String(a.clone()))
        ));
    }
    out
}

/// A JSON value as an inline TOML value (JSON string escapes are valid in TOML basic strings).
fn toml_inline(v: &Json) -> String {
    match v {
        Json::Null => "\"\"".to_string(),
        Json::Bool(b) => b.to_string(),
        Json::Number(n) => n.to_string(),
        Json::String(s) => serde_json::to_string(s).unwrap_or_default(),
        Json::Array(a) => format!(
            "[{}]",
            a.iter().map(toml_inline).collect::<Vec<_>>().join(", ")
        ),
        Json::Object(m) => format!(
            "{{ {} }}",
            m.iter()
                .map(|(k, v)| format!(
                    "{} = {}",
                    serde_json::to_string(k).unwrap_or_default(),
                    toml_inline(v)
                ))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}
