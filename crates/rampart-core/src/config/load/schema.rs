//! The shape of a config file as data, and the structure check that walks a document tree against
//! it: unknown keys, missing keys, wrong types, unknown enum values and malformed durations are all
//! found in one pass, each with its field path and line. The walk also builds the JSON value that
//! is deserialized into [`Config`](crate::config::Config) once the structure is sound.

use std::collections::BTreeMap;

use serde_json::{Map, Number, Value as Json};

use super::tree::{Node, Value};
use crate::config::text::edit_distance;
use crate::config::{Duration, Worsening, WORSENING_FORMS};

/// What a value must look like.
#[derive(Debug)]
pub(super) enum Shape {
    Table(&'static [Field]),
    List(&'static Shape),
    Str,
    /// Any finite number; integers are accepted.
    Number,
    /// A non-negative integer.
    Count,
    Bool,
    Duration,
    Enum(&'static [&'static str]),
    /// A tolerance: `"5%"` or a number (see [`Worsening`]).
    Worsening,
    /// A key that no longer exists: any value is refused with the message the function builds,
    /// which says what replaced it.
    Removed(fn(&Value) -> String),
}

#[derive(Debug)]
pub(super) struct Field {
    pub name: &'static str,
    pub shape: Shape,
    pub required: bool,
}

const fn req(name: &'static str, shape: Shape) -> Field {
    Field {
        name,
        shape,
        required: true,
    }
}

const fn opt(name: &'static str, shape: Shape) -> Field {
    Field {
        name,
        shape,
        required: false,
    }
}

pub(super) const UNIT_KINDS: &[&str] = &["user", "session", "request"];
pub(super) const METRIC_KINDS: &[&str] =
    &["binary", "count", "sum", "ratio", "latency", "prometheus"];
pub(super) const CONTROLS: &[&str] = &["concurrent", "none"];
pub(super) const ON_FAIL: &[&str] = &["rollback", "pause"];
pub(super) const ON_TIMEOUT: &[&str] = &["hold", "rollback", "advance"];
pub(super) const APPROVALS: &[&str] = &["auto", "manual"];
pub(super) const COMPARES: &[&str] = &["control"];
pub(super) const GOALS: &[&str] = &["increase", "decrease"];
pub(super) const NOTIFICATIONS: &[&str] = &[
    "stage-changed",
    "approval-needed",
    "paused",
    "rolled-back",
    "completed",
];
pub(super) const ROLES: &[&str] = &["read", "ingest", "operate", "admin"];
pub(super) const WEBHOOK_FORMATS: &[&str] = &["json", "slack"];
pub(super) const DESIGNS: &[&str] = &[
    "split",
    "team-draft",
    "balanced",
    "probabilistic",
    "team-draft-multileave",
    "switchback",
];
pub(super) const STOPPING_RULES: &[&str] = &["fixed", "sequential"];
pub(super) const CORRECTIONS: &[&str] = &["holm", "bh", "bonferroni"];

const SERVER: &[Field] = &[
    opt("listen", Shape::Str),
    opt("data_dir", Shape::Str),
    opt("tick", Shape::Duration),
    opt("evidence_bucket", Shape::Duration),
    opt("max_body_bytes", Shape::Count),
    opt("header_timeout", Shape::Duration),
    opt("body_timeout", Shape::Duration),
    opt("request_timeout", Shape::Duration),
];

const AUTH: &[Field] = &[
    opt(
        "tokens",
        Shape::List(&Shape::Table(&[
            req("token", Shape::Str),
            req("role", Shape::Enum(ROLES)),
        ])),
    ),
    opt("token_file", Shape::Str),
    opt("token_env", Shape::Str),
];

const VARIANT: Shape = Shape::Table(&[
    req("name", Shape::Str),
    opt("endpoint", Shape::Str),
    opt("force_units", Shape::List(&Shape::Str)),
    opt("timeout", Shape::Duration),
]);

const PROXY: &[Field] = &[
    opt("unit_field", Shape::Str),
    opt("timeout", Shape::Duration),
    opt("retry_on_baseline", Shape::Bool),
    opt("shadow", Shape::Str),
    opt("compare_output", Shape::Bool),
    opt("shadow_limit", Shape::Count),
];

const MODEL: Shape = Shape::Table(&[
    req("name", Shape::Str),
    opt("unit", Shape::Enum(UNIT_KINDS)),
    req("variants", Shape::List(&VARIANT)),
    opt("baseline", Shape::Str),
    opt("proxy", Shape::Table(PROXY)),
]);

const METRIC: Shape = Shape::Table(&[
    req("name", Shape::Str),
    req("kind", Shape::Enum(METRIC_KINDS)),
    opt("event", Shape::Str),
    opt("numerator", Shape::Str),
    opt("denominator", Shape::Str),
    opt("window", Shape::Duration),
    opt("maturity", Shape::Duration),
    opt("goal", Shape::Enum(GOALS)),
    opt("query", Shape::Str),
]);

const HOLDOUT: Shape = Shape::Table(&[
    req("name", Shape::Str),
    req("percent", Shape::Number),
    opt("models", Shape::List(&Shape::Str)),
    opt("salt", Shape::Str),
    opt("renamed_from", Shape::Str),
]);

const STAGE: Shape = Shape::Table(&[
    req("traffic", Shape::Number),
    opt("min_duration", Shape::Duration),
    opt("min_units", Shape::Count),
    opt("max_duration", Shape::Duration),
    opt("on_timeout", Shape::Enum(ON_TIMEOUT)),
    opt("approval", Shape::Enum(APPROVALS)),
    opt("experiment", Shape::Str),
]);

const GATE: Shape = Shape::Table(&[
    req("metric", Shape::Str),
    opt("max", Shape::Number),
    opt("min", Shape::Number),
    opt("quantile", Shape::Number),
    opt("compare", Shape::Enum(COMPARES)),
    opt("max_worsening", Shape::Worsening),
    opt("margin", Shape::Removed(removed_margin)),
    opt("margin_kind", Shape::Removed(removed_margin_kind)),
    opt("alpha", Shape::Number),
]);

const ROLLOUT: Shape = Shape::Table(&[
    req("name", Shape::Str),
    req("model", Shape::Str),
    req("baseline", Shape::Str),
    req("candidate", Shape::Str),
    opt("control", Shape::Enum(CONTROLS)),
    req("stages", Shape::List(&STAGE)),
    opt("gates", Shape::List(&GATE)),
    opt("on_fail", Shape::Enum(ON_FAIL)),
    opt("autostart", Shape::Bool),
    opt("segments", Shape::List(&Shape::Str)),
    opt("salt", Shape::Str),
    opt("renamed_from", Shape::Str),
]);

const STOPPING: &[Field] = &[
    opt("rule", Shape::Enum(STOPPING_RULES)),
    opt("alpha", Shape::Number),
    opt("power", Shape::Number),
    opt("mde", Shape::Number),
    opt("max_duration", Shape::Duration),
];

const ON_WINNER: &[Field] = &[req("rollout", Shape::Str)];

const EXPERIMENT: Shape = Shape::Table(&[
    req("name", Shape::Str),
    req("model", Shape::Str),
    opt("design", Shape::Enum(DESIGNS)),
    req("variants", Shape::List(&Shape::Str)),
    opt("weights", Shape::List(&Shape::Number)),
    opt("traffic", Shape::Number),
    opt("window", Shape::Duration),
    opt("layer", Shape::Str),
    req("primary", Shape::Str),
    opt("secondary", Shape::List(&Shape::Str)),
    opt("guardrails", Shape::List(&Shape::Str)),
    opt("stopping", Shape::Table(STOPPING)),
    opt("correction", Shape::Enum(CORRECTIONS)),
    opt("autostart", Shape::Bool),
    opt("on_winner", Shape::Table(ON_WINNER)),
    opt("limits", Shape::List(&GATE)),
    opt("segments", Shape::List(&Shape::Str)),
    opt("salt", Shape::Str),
    opt("renamed_from", Shape::Str),
]);

/// The whole file.
pub(super) const CONFIG: Shape = Shape::Table(&[
    opt("server", Shape::Table(SERVER)),
    opt("models", Shape::List(&MODEL)),
    opt("metrics", Shape::List(&METRIC)),
    opt("holdouts", Shape::List(&HOLDOUT)),
    opt("rollouts", Shape::List(&ROLLOUT)),
    opt("experiments", Shape::List(&EXPERIMENT)),
    opt("segments", Shape::List(&Shape::Str)),
    opt("webhooks", Shape::List(&WEBHOOK)),
    opt("auth", Shape::Table(AUTH)),
    opt("prometheus", Shape::Table(PROMETHEUS)),
    opt("store", Shape::Table(STORE)),
]);

const STORE: &[Field] = &[opt("url", Shape::Str), opt("url_env", Shape::Str)];

const PROMETHEUS: &[Field] = &[
    req("url", Shape::Str),
    opt("timeout", Shape::Duration),
    opt("token_file", Shape::Str),
    opt("token_env", Shape::Str),
];

const WEBHOOK: Shape = Shape::Table(&[
    opt("url", Shape::Str),
    opt("url_env", Shape::Str),
    opt("url_file", Shape::Str),
    opt("events", Shape::List(&Shape::Enum(NOTIFICATIONS))),
    opt("format", Shape::Enum(WEBHOOK_FORMATS)),
]);

/// `margin` was signed ("-0.02" meant "2% worse is fine"), so a positive one, written meaning a
/// tolerance, demanded an improvement instead: it is refused with its replacement spelled out.
fn removed_margin(value: &Value) -> String {
    let replacement = match value {
        Value::Int(i) => Some(*i as f64),
        Value::Float(f) if f.is_finite() => Some(*f),
        _ => None,
    }
    .map(|m| {
        let worse = -m;
        let percent = worse * 100.0;
        if m <= 0.0 {
            format!(
                "margin = {m} becomes max_worsening = \"{}%\" (with margin_kind = \"absolute\": max_worsening = {}); ",
                crate::config::text::short_number(percent),
                crate::config::text::short_number(worse)
            )
        } else {
            format!("margin = {m} demanded a candidate better than the control by that much; to allow {}% worse write max_worsening = \"{}%\"; ", crate::config::text::short_number(m * 100.0), crate::config::text::short_number(m * 100.0))
        }
    })
    .unwrap_or_default();
    format!(
        "`margin` is replaced by `max_worsening`, the amount the candidate may be worse than the control, written as a positive number (the sign is gone): {replacement}max_worsening takes {WORSENING_FORMS}"
    )
}

fn removed_margin_kind(_: &Value) -> String {
    format!("`margin_kind` is gone: the form of `max_worsening` says the kind, {WORSENING_FORMS}")
}

/// One structural problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Problem {
    pub field: String,
    pub line: Option<usize>,
    pub message: String,
}

/// The outcome of the structure check.
pub(super) struct Checked {
    /// The known parts of the document, ready for serde; keys with null values are left out.
    pub json: Json,
    pub problems: Vec<Problem>,
    /// False when a value was refused or a required key is missing, so `json` is not the file.
    pub complete: bool,
    /// The line of every field path seen, for placing later problems.
    pub lines: BTreeMap<String, usize>,
}

/// Walks `root` against the config schema.
pub(super) fn check(root: &Node) -> Checked {
    let mut walk = Walk {
        problems: Vec::new(),
        complete: true,
        lines: BTreeMap::new(),
    };
    let json = walk
        .node(&CONFIG, root, "")
        .unwrap_or(Json::Object(Map::new()));
    Checked {
        json,
        problems: walk.problems,
        complete: walk.complete,
        lines: walk.lines,
    }
}

struct Walk {
    problems: Vec<Problem>,
    complete: bool,
    lines: BTreeMap<String, usize>,
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Names the values a shape accepts, for "expected ..." messages.
fn expected(shape: &Shape) -> String {
    match shape {
        Shape::Table(_) => "a table".to_string(),
        Shape::List(_) => "a list".to_string(),
        Shape::Str => "a string".to_string(),
        Shape::Number => "a number".to_string(),
        Shape::Count => "a whole number, 0 or more".to_string(),
        Shape::Bool => "true or false".to_string(),
        Shape::Duration => "a duration such as \"30s\", \"24h\" or \"7d\"".to_string(),
        Shape::Enum(values) => format!("one of {}", quoted(values)),
        Shape::Worsening => WORSENING_FORMS.to_string(),
        Shape::Removed(_) => "nothing (the key is gone)".to_string(),
    }
}

fn quoted(values: &[&str]) -> String {
    values
        .iter()
        .map(|v| format!("\"{v}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

fn suggestion(key: &str, fields: &[Field]) -> Option<&'static str> {
    fields
        .iter()
        .map(|f| (edit_distance(key, f.name), f.name))
        .filter(|(d, name)| *d <= 2.max(name.len() / 4) && *d < name.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, name)| name)
}

impl Walk {
    fn problem(&mut self, field: &str, line: Option<usize>, message: String) {
        self.problems.push(Problem {
            field: field.to_string(),
            line,
            message,
        });
    }

    fn refuse(&mut self, shape: &Shape, node: &Node, path: &str) -> Option<Json> {
        self.complete = false;
        let message = format!(
            "expected {}, found {}",
            expected(shape),
            node.value.describe()
        );
        self.problem(path, node.line, message);
        None
    }

    /// The JSON for `node` when it fits `shape`; `None` (with problems recorded) when it does not.
    fn node(&mut self, shape: &Shape, node: &Node, path: &str) -> Option<Json> {
        if let Some(line) = node.line {
            self.lines.entry(path.to_string()).or_insert(line);
        }
        match (shape, &node.value) {
            (Shape::Table(fields), Value::Table(entries)) => {
                Some(self.table(fields, entries, node.line, path))
            }
            (Shape::List(item), Value::List(items)) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, n) in items.iter().enumerate() {
                    if let Some(j) = self.node(item, n, &format!("{path}[{i}]")) {
                        out.push(j);
                    }
                }
                Some(Json::Array(out))
            }
            (Shape::Str, Value::Str(s)) => Some(Json::String(s.clone())),
            (Shape::Number, Value::Int(i)) => Some(Json::Number((*i).into())),
            (Shape::Number, Value::Float(f)) => match Number::from_f64(*f) {
                Some(n) if f.is_finite() => Some(Json::Number(n)),
                _ => {
                    self.complete = false;
                    self.problem(
                        path,
                        node.line,
                        format!("expected a finite number, found {f}"),
                    );
                    None
                }
            },
            (Shape::Count, Value::Int(i)) if *i >= 0 => Some(Json::Number((*i).into())),
            (Shape::Bool, Value::Bool(b)) => Some(Json::Bool(*b)),
            (Shape::Duration, Value::Str(s)) => match s.parse::<Duration>() {
                Ok(_) => Some(Json::String(s.clone())),
                Err(e) => {
                    self.complete = false;
                    self.problem(path, node.line, e.to_string());
                    None
                }
            },
            (Shape::Worsening, Value::Int(i)) => Some(Json::Number((*i).into())),
            (Shape::Worsening, Value::Float(f)) => match Number::from_f64(*f) {
                Some(n) if f.is_finite() => Some(Json::Number(n)),
                _ => {
                    self.complete = false;
                    let message = format!("expected {WORSENING_FORMS}, found {f}");
                    self.problem(path, node.line, message);
                    None
                }
            },
            (Shape::Worsening, Value::Str(s)) if Worsening::parse_percent(s).is_some() => {
                Some(Json::String(s.clone()))
            }
            (Shape::Worsening, Value::Str(s)) => {
                self.complete = false;
                let message = format!("expected {WORSENING_FORMS}, found {s:?}");
                self.problem(path, node.line, message);
                None
            }
            // The rest of the file can still be checked: the key now changes no value.
            (Shape::Removed(message), value) => {
                self.problem(path, node.line, message(value));
                None
            }
            (Shape::Enum(values), Value::Str(s)) if values.contains(&s.as_str()) => {
                Some(Json::String(s.clone()))
            }
            (Shape::Enum(values), Value::Str(s)) => {
                self.complete = false;
                let message = format!("unknown value {s:?}; valid values: {}", quoted(values));
                self.problem(path, node.line, message);
                None
            }
            _ => self.refuse(shape, node, path),
        }
    }

    fn table(
        &mut self,
        fields: &[Field],
        entries: &[super::tree::Entry],
        line: Option<usize>,
        path: &str,
    ) -> Json {
        let mut out = Map::new();
        for entry in entries {
            let field_path = join(path, &entry.key);
            if let Some(l) = entry.line {
                self.lines.insert(field_path.clone(), l);
            }
            let Some(field) = fields.iter().find(|f| f.name == entry.key) else {
                // An unknown key changes no value, so the rest of the file can still be checked.
                let valid: Vec<&str> = fields.iter().map(|f| f.name).collect();
                let hint = suggestion(&entry.key, fields)
                    .map(|s| format!(" (did you mean `{s}`?)"))
                    .unwrap_or_default();
                let message = format!(
                    "unknown key `{}`{hint}; valid keys here: {}",
                    entry.key,
                    valid.join(", ")
                );
                self.problem(&field_path, entry.line, message);
                continue;
            };
            if entry.node.value == Value::Null {
                if field.required {
                    self.complete = false;
                    self.problem(
                        &field_path,
                        entry.line,
                        format!("`{}` needs a value: {}", field.name, expected(&field.shape)),
                    );
                }
                continue;
            }
            // Report the key's own line rather than where a multi-line value starts.
            let node = Node {
                line: entry.line.or(entry.node.line),
                value: entry.node.value.clone(),
            };
            if let Some(j) = self.node(&field.shape, &node, &field_path) {
                out.insert(field.name.to_string(), j);
            }
        }
        for field in fields.iter().filter(|f| f.required) {
            if !entries.iter().any(|e| e.key == field.name) {
                self.complete = false;
                let message = format!(
                    "missing required key `{}` ({})",
                    field.name,
                    expected(&field.shape)
                );
                self.problem(&join(path, field.name), line, message);
            }
        }
        Json::Object(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    /// Every key of the schema set, every option present, every list non-empty.
    fn full() -> Json {
        serde_json::json!({
            "server": { "listen": "127.0.0.1:1", "data_dir": "d", "tick": "1s", "evidence_bucket": "1h", "max_body_bytes": 10,
                "header_timeout": "5s", "body_timeout": "6s", "request_timeout": "7s" },
            "auth": { "tokens": [{ "token": "0123456789abcdef", "role": "read" }], "token_file": "t", "token_env": "T" },
            "models": [{ "name": "m", "unit": "user", "baseline": "a",
                "variants": [{ "name": "a", "endpoint": "http://x", "force_units": ["u"], "timeout": "2s" }],
                "proxy": { "unit_field": "user.id", "timeout": "1s", "retry_on_baseline": true, "shadow": "b",
                    "compare_output": true, "shadow_limit": 8 } }],
            "metrics": [{ "name": "x", "kind": "ratio", "event": "e", "numerator": "n", "denominator": "d", "window": "1d", "maturity": "2h", "goal": "decrease", "query": "up" }],
            "holdouts": [{ "name": "h", "percent": 1, "models": ["m"], "salt": "s", "renamed_from": "g" }],
            "rollouts": [{ "name": "r", "model": "m", "baseline": "a", "candidate": "b", "control": "none",
                "stages": [{ "traffic": 1, "min_duration": "1h", "min_units": 1, "max_duration": "2h",
                    "on_timeout": "hold", "approval": "auto", "experiment": "e" }],
                "gates": [{ "metric": "x", "max": 1, "min": 0, "quantile": 0.5, "compare": "control",
                    "max_worsening": "10%", "alpha": 0.05 }],
                "on_fail": "pause", "autostart": false, "segments": ["s"], "salt": "s", "renamed_from": "q" }],
            "experiments": [{ "name": "e", "model": "m", "design": "split", "variants": ["a", "b"], "weights": [1, 2],
                "traffic": 5, "window": "1h", "layer": "l", "primary": "x", "secondary": ["x"], "guardrails": ["x"],
                "stopping": { "rule": "fixed", "alpha": 0.1, "power": 0.9, "mde": 0.01, "max_duration": "1d" },
                "correction": "bh", "autostart": false, "on_winner": { "rollout": "r" }, "segments": ["s"],
                "limits": [{ "metric": "x", "max": 1, "min": 0, "quantile": 0.5, "compare": "control",
                    "max_worsening": 0.1, "alpha": 0.05 }],
                "salt": "s", "renamed_from": "q" }],
            "segments": ["s"],
            "webhooks": [{ "url": "http://x", "url_env": "U", "url_file": "u", "events": ["completed"], "format": "slack" }],
            "prometheus": { "url": "http://p:9090", "timeout": "2s", "token_file": "t", "token_env": "T" },
            "store": { "url": "postgres://db/r", "url_env": "U" }
        })
    }

    fn at<'a>(json: &'a mut Json, pointer: &str) -> &'a mut Json {
        json.pointer_mut(pointer)
            .unwrap_or_else(|| panic!("no {pointer}"))
    }

    /// Walks the schema beside `value` (at `pointer` in `root`) and checks, field by field, that
    /// serde agrees on which keys exist, which are required and which enum values are accepted.
    fn agree(shape: &Shape, root: &Json, pointer: &str) {
        match shape {
            Shape::Table(fields) => {
                let value = root.pointer(pointer).unwrap();
                let object = value
                    .as_object()
                    .unwrap_or_else(|| panic!("{pointer} is not an object"));
                let mut keys: Vec<&str> = object.keys().map(|k| k.as_str()).collect();
                let mut names: Vec<&str> = fields
                    .iter()
                    .filter(|f| !matches!(f.shape, Shape::Removed(_)))
                    .map(|f| f.name)
                    .collect();
                keys.sort_unstable();
                names.sort_unstable();
                assert_eq!(
                    keys, names,
                    "schema and serde disagree on the keys at {pointer}"
                );
                for f in fields
                    .iter()
                    .filter(|f| !matches!(f.shape, Shape::Removed(_)))
                {
                    let mut without = root.clone();
                    at(&mut without, pointer)
                        .as_object_mut()
                        .unwrap()
                        .remove(f.name);
                    let ok = serde_json::from_value::<Config>(without).is_ok();
                    assert_eq!(
                        ok, !f.required,
                        "{pointer}/{}: required is {}",
                        f.name, f.required
                    );
                    agree(&f.shape, root, &format!("{pointer}/{}", f.name));
                }
            }
            Shape::List(item) => agree(item, root, &format!("{pointer}/0")),
            Shape::Enum(values) => {
                for v in *values {
                    let mut with = root.clone();
                    *at(&mut with, pointer) = Json::String(v.to_string());
                    assert!(
                        serde_json::from_value::<Config>(with).is_ok(),
                        "{pointer} = {v:?} is refused by serde"
                    );
                }
                let mut with = root.clone();
                *at(&mut with, pointer) = Json::String("no-such-value".into());
                assert!(
                    serde_json::from_value::<Config>(with).is_err(),
                    "{pointer} takes any string"
                );
            }
            _ => {}
        }
    }

    #[test]
    fn schema_matches_the_config_types() {
        let literal = full();
        let config: Config =
            serde_json::from_value(literal.clone()).expect("the full config deserializes");
        // Serializing shows every field serde knows, so schema keys == serde keys in both directions.
        let back = serde_json::to_value(&config).unwrap();
        agree(&CONFIG, &back, "");
        agree(&CONFIG, &literal, "");
    }

    #[test]
    fn suggests_close_keys_only() {
        let Shape::Table(fields) = &STAGE else {
            unreachable!()
        };
        assert_eq!(suggestion("trafic", fields), Some("traffic"));
        assert_eq!(suggestion("min_unit", fields), Some("min_units"));
        assert_eq!(suggestion("colour", fields), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
