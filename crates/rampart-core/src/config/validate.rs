//! Semantic checks of a parsed config: names, references, traffic shares, stage plans, gates and
//! experiment designs. Every rule adds a [`Problem`] with the field path it is about and what would
//! be valid; nothing stops at the first one. A config that is valid but almost certainly not meant
//! (a gate that can only pass on an improvement, or never) gets a warning the same way.
//! `docs/config.md` lists the rules and the warnings.

use std::collections::HashMap;
use std::net::SocketAddr;

use super::load::{ConfigError, ConfigErrors};
use super::{
    Compare, Config, Control, Design, Duration, Experiment, Gate, Goal, MetricKind, Model, Rollout,
    StoppingRule, UnitKind, Worsening,
};
use crate::analysis::provider::{placeholders, EXPERIMENT_PLACEHOLDERS, ROLLOUT_PLACEHOLDERS};

/// One broken rule: the field path it is about and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    pub field: String,
    pub message: String,
}

impl Problem {
    fn at(self, file: &str) -> ConfigError {
        ConfigError {
            file: file.to_string(),
            line: None,
            field: self.field,
            message: self.message,
        }
    }
}

/// The controller cannot usefully look at evidence more often than this.
const MIN_TICK: Duration = Duration::from_millis(100);
/// Harm is acted on only at a look, so a longer tick would leave a harmful candidate serving for
/// longer than any stage plan means to.
const MAX_TICK: Duration = Duration::from_secs(3_600);
const MAX_EVIDENCE_BUCKET: Duration = Duration::from_secs(7 * 86_400);
/// The longest span any other duration may have (stage lengths, windows, maturities, timeouts of
/// queries): beyond a year it is a typo, not a plan.
const MAX_SPAN: Duration = Duration::from_secs(366 * 86_400);
const MAX_BODY_BYTES: usize = 1 << 30;
const MAX_PROMETHEUS_TIMEOUT: Duration = Duration::from_secs(600);
/// A model call held longer than this is a stuck connection, not a slow model.
const MAX_PROXY_TIMEOUT: Duration = Duration::from_secs(600);
/// Client timeouts (headers, body, whole request): shorter cuts off healthy clients on a slow
/// network, longer lets a stalled client hold its connection for no purpose.
const MIN_CLIENT_TIMEOUT: Duration = Duration::from_millis(100);
const MAX_CLIENT_TIMEOUT: Duration = Duration::from_secs(3_600);
const MIN_EVIDENCE_BUCKET: Duration = Duration::from_secs(1);
/// Traffic shares are whole buckets of 10000, so 0.01% is the finest share that can be served.
const PERCENT_STEP: f64 = 0.01;

impl Config {
    /// Runs the semantic rules on a config built in code (a loaded config has passed them already).
    /// Errors name `file` and carry no line.
    pub fn validate(&self, file: &str) -> Result<(), ConfigErrors> {
        let problems = validate(self);
        if problems.is_empty() {
            return Ok(());
        }
        Err(ConfigErrors(
            problems.into_iter().map(|p| p.at(file)).collect(),
        ))
    }

    /// What is valid but almost certainly not meant (see `docs/config.md`, "Warnings"), for a
    /// config built in code; the warnings name `file` and carry no line.
    pub fn warnings(&self, file: &str) -> Vec<ConfigError> {
        warnings(self).into_iter().map(|p| p.at(file)).collect()
    }
}

/// Every problem found, in the order of the file's sections.
pub(crate) fn validate(config: &Config) -> Vec<Problem> {
    check(config).0
}

/// The warnings of a config that has no problems (see [`check`]).
pub(crate) fn warnings(config: &Config) -> Vec<Problem> {
    check(config).1
}

/// Every problem and every warning, each in the order of the file's sections.
pub(crate) fn check(config: &Config) -> (Vec<Problem>, Vec<Problem>) {
    let mut v = Validator {
        config,
        problems: Vec::new(),
        warnings: Vec::new(),
    };
    v.server();
    v.auth();
    v.segments();
    v.models();
    v.metrics();
    v.holdouts();
    v.rollouts();
    v.experiments();
    v.webhooks();
    v.prometheus();
    v.goals();
    (v.problems, v.warnings)
}

/// What is wrong with `url` as the address of an outbound HTTP call, if anything: the clients
/// speak `http://` and `https://` only, and need a host and, when given, a port number. The URL
/// itself is not quoted (a webhook URL is a secret).
pub fn http_url_problem(url: &str) -> Option<String> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Some("expected an http:// or https:// URL with a host".to_string());
    };
    if scheme != "http" && scheme != "https" {
        return Some(format!(
            "the scheme {scheme:?} is not supported: expected an http:// or https:// URL with a host"
        ));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host, port) = match host_port.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((h, p)) => (h, p.strip_prefix(':')),
            None => return Some("the IPv6 address of the host has no closing ]".to_string()),
        },
        None => match host_port.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (host_port, None),
        },
    };
    if host.is_empty() {
        return Some(format!("expected an {scheme}:// URL with a host"));
    }
    if host.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Some("the host must not contain spaces or control characters".to_string());
    }
    if let Some(p) = port {
        if p.parse::<u16>().is_err() {
            return Some("the port must be a number from 0 to 65535".to_string());
        }
    }
    if rest.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Some("a URL must not contain spaces or control characters (write %20)".to_string());
    }
    None
}

struct Validator<'a> {
    config: &'a Config,
    problems: Vec<Problem>,
    warnings: Vec<Problem>,
}

/// The goal a metric's name suggests, for the fix in an error message; never applied.
pub(crate) fn goal_from_name(name: &str) -> Option<(Goal, &'static str)> {
    let n = name.to_ascii_lowercase();
    const LOWER: &[(&str, &str)] = &[
        ("error", "an error rate"),
        ("err", "an error rate"),
        ("fail", "a failure rate"),
        ("crash", "a crash rate"),
        ("exception", "an exception rate"),
        ("5xx", "a server-error rate"),
        ("timeout", "a timeout rate"),
        ("latency", "a latency"),
        ("duration", "a duration"),
        ("bounce", "a bounce rate"),
        ("churn", "a churn rate"),
        ("abandon", "an abandonment rate"),
        ("refund", "a refund rate"),
        ("complaint", "a complaint rate"),
        ("cost", "a cost"),
        ("unsubscribe", "an unsubscribe rate"),
    ];
    const HIGHER: &[(&str, &str)] = &[
        ("conversion", "a conversion rate"),
        ("convert", "a conversion rate"),
        ("click", "a click rate"),
        ("ctr", "a click-through rate"),
        ("revenue", "revenue"),
        ("purchase", "purchases"),
        ("order", "orders"),
        ("signup", "sign-ups"),
        ("retention", "retention"),
        ("engagement", "engagement"),
        ("success", "a success rate"),
    ];
    let find = |list: &[(&str, &'static str)]| {
        list.iter()
            .find(|(w, _)| n.contains(w))
            .map(|(_, what)| *what)
    };
    match (find(LOWER), find(HIGHER)) {
        (Some(what), None) => Some((Goal::Decrease, what)),
        (None, Some(what)) => Some((Goal::Increase, what)),
        _ => None,
    }
}

/// `a, b, c`, or a note that there is nothing to choose from.
fn choices<'a>(names: impl IntoIterator<Item = &'a str>, what: &str) -> String {
    let names: Vec<&str> = names.into_iter().collect();
    if names.is_empty() {
        format!("no {what} are defined")
    } else {
        format!("defined {what}: {}", names.join(", "))
    }
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')
}

/// Whether `percent` is a whole number of 0.01% steps (allowing for float representation).
fn on_step(percent: f64) -> bool {
    let steps = percent / PERCENT_STEP;
    (steps - steps.round()).abs() < 1e-6
}

fn kind_name(kind: MetricKind) -> &'static str {
    match kind {
        MetricKind::Binary => "binary",
        MetricKind::Count => "count",
        MetricKind::Sum => "sum",
        MetricKind::Ratio => "ratio",
        MetricKind::Latency => "latency",
        MetricKind::Prometheus => "prometheus",
    }
}

fn design_name(design: Design) -> &'static str {
    match design {
        Design::Split => "split",
        Design::TeamDraft => "team-draft",
        Design::Balanced => "balanced",
        Design::Probabilistic => "probabilistic",
        Design::TeamDraftMultileave => "team-draft-multileave",
        Design::Switchback => "switchback",
    }
}

impl<'a> Validator<'a> {
    fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem {
            field: field.into(),
            message: message.into(),
        });
    }

    fn warn(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.warnings.push(Problem {
            field: field.into(),
            message: message.into(),
        });
    }

    /// A duration no longer than `max`, with the reason in `why`.
    fn at_most(&mut self, field: &str, value: Option<Duration>, max: Duration, why: &str) {
        if let Some(v) = value.filter(|v| *v > max) {
            self.push(
                field,
                format!("must be at most {max}{why}, found {v} ({})", v.elapsed()),
            );
        }
    }

    /// A comparison with the control reads which way is better: a metric compared by a gate
    /// needs its goal written down (latency metrics are lower-is-better by kind). One error per
    /// metric, at its `goal`, naming the first gate that compares it.
    fn goals(&mut self) {
        let config = self.config;
        let mut users: Vec<(&str, String)> = Vec::new();
        for (i, r) in config.rollouts.iter().enumerate() {
            for (g, gate) in r.gates.iter().enumerate() {
                if gate.compare.is_some() {
                    users.push((&gate.metric, format!("rollouts[{i}].gates[{g}]")));
                }
            }
        }
        for (i, e) in config.experiments.iter().enumerate() {
            for (k, limit) in e.limits.iter().enumerate() {
                if limit.compare.is_some() {
                    users.push((&limit.metric, format!("experiments[{i}].limits[{k}]")));
                }
            }
        }
        for (i, m) in config.metrics.iter().enumerate() {
            // Prometheus metrics get their own error for a missing goal.
            if m.goal.is_some() || matches!(m.kind, MetricKind::Latency | MetricKind::Prometheus) {
                continue;
            }
            let Some((_, gate)) = users.iter().find(|(name, _)| *name == m.name) else {
                continue;
            };
            let fix = match goal_from_name(&m.name) {
                Some((Goal::Decrease, what)) => format!("the name reads like {what}, so probably goal = \"decrease\" (lower is better); goal = \"increase\" if higher is better"),
                Some((Goal::Increase, what)) => format!("the name reads like {what}, so probably goal = \"increase\" (higher is better); goal = \"decrease\" if lower is better"),
                None => "add goal = \"increase\" (higher is better) or goal = \"decrease\" (lower is better)".to_string(),
            };
            self.push(
                format!("metrics[{i}].goal"),
                format!("metric {:?} is compared with the control ({gate}) but has no goal, so which direction is worse is unknown: {fix}", m.name),
            );
        }
        // Experiments decide winners and guardrail harm by the goal too; there a missing one
        // still reads as higher-is-better, so it is a warning rather than an error.
        for (i, m) in config.metrics.iter().enumerate() {
            if m.goal.is_some() || matches!(m.kind, MetricKind::Latency | MetricKind::Prometheus) {
                continue;
            }
            if users.iter().any(|(name, _)| *name == m.name) {
                continue;
            }
            let Some((j, e)) = config
                .experiments
                .iter()
                .enumerate()
                .find(|(_, e)| e.metric_names().contains(&m.name.as_str()))
            else {
                continue;
            };
            let guess = match goal_from_name(&m.name) {
                Some((Goal::Decrease, what)) => {
                    format!("; the name reads like {what}, so probably goal = \"decrease\"")
                }
                _ => String::new(),
            };
            self.warn(
                format!("metrics[{i}].goal"),
                format!("metric {:?} is analysed by experiment {:?} (experiments[{j}]) without a goal, so higher is taken as better{guess}; state it with goal = \"increase\" or \"decrease\"", m.name, e.name),
            );
        }
    }

    /// Names end up in URLs, metric labels and file names, so they are kept to a safe alphabet.
    fn name(&mut self, field: &str, kind: &str, name: &str) {
        if name.is_empty() {
            self.push(field, format!("a {kind} name must not be empty"));
        } else if !name.chars().all(is_name_char) {
            self.push(
                field,
                format!("{kind} name {name:?} may only contain letters, digits, '_', '.' and '-'"),
            );
        }
    }

    /// Reports every repeat of a name, pointing at its first use.
    fn unique(&mut self, kind: &str, items: Vec<(String, &str)>) {
        let mut first: HashMap<&str, String> = HashMap::new();
        for (field, name) in items {
            match first.get(name) {
                Some(earlier) => {
                    let message =
                        format!("duplicate {kind} name {name:?} (already used at {earlier})");
                    self.push(field, message);
                }
                None => {
                    first.insert(name, field.trim_end_matches(".name").to_string());
                }
            }
        }
    }

    /// `renamed_from` carries history over from an old name: it must be another name, one that
    /// no longer exists, and claimed by one entity only.
    fn renames(&mut self, kind: &str, section: &str, items: Vec<(&str, Option<&str>)>) {
        let names: Vec<&str> = items.iter().map(|(n, _)| *n).collect();
        let mut claimed: HashMap<&str, usize> = HashMap::new();
        for (i, (own, old)) in items.iter().enumerate() {
            let Some(old) = *old else { continue };
            let field = format!("{section}[{i}].renamed_from");
            if old == *own {
                self.push(
                    field,
                    format!(
                        "renamed_from must name the {kind}'s former name, not its own name {own:?}"
                    ),
                );
                continue;
            }
            self.name(&field, kind, old);
            if let Some(j) = names.iter().position(|n| *n == old) {
                self.push(
                    field,
                    format!("renamed_from {old:?} is still the name of {section}[{j}]; a rename needs the old name gone"),
                );
            } else if let Some(j) = claimed.get(old) {
                self.push(
                    field,
                    format!("{section}[{j}] is already renamed from {old:?}"),
                );
            } else {
                claimed.insert(old, i);
            }
        }
    }

    fn percent(&mut self, field: &str, value: f64) {
        if !(0.0..=100.0).contains(&value) {
            self.push(
                field,
                format!("must be a percentage between 0 and 100, found {value}"),
            );
        } else if !on_step(value) {
            self.push(
                field,
                format!("{value} is finer than the 0.01% steps traffic is split in"),
            );
        }
    }

    fn probability(&mut self, field: &str, value: f64, example: &str) {
        if !(value > 0.0 && value < 1.0) {
            self.push(
                field,
                format!("must be strictly between 0 and 1 (e.g. {example}), found {value}"),
            );
        }
    }

    fn finite(&mut self, field: &str, value: Option<f64>) {
        if let Some(v) = value {
            if !v.is_finite() {
                self.push(field, format!("must be a finite number, found {v}"));
            }
        }
    }

    /// Segment attributes of a rollout or experiment must be split out in the evidence.
    fn segment_refs(&mut self, section: &str, segments: &[String]) {
        for (k, s) in segments.iter().enumerate() {
            if !self.config.segments.contains(s) {
                self.push(
                    format!("{section}.segments[{k}]"),
                    format!(
                        "segment {s:?} is not in the top-level segments list, so evidence is not split by it; {}",
                        choices(self.config.segments.iter().map(String::as_str), "segments")
                    ),
                );
            }
        }
    }

    fn variant_ref(&mut self, field: &str, model: &Model, variant: &str) -> bool {
        if model.variants.iter().any(|v| v.name == variant) {
            return true;
        }
        let known = choices(model.variants.iter().map(|v| v.name.as_str()), "variants");
        self.push(
            field,
            format!(
                "unknown variant {variant:?} of model {:?}; {known}",
                model.name
            ),
        );
        false
    }

    fn model_ref(&mut self, field: &str, model: &str) -> Option<&'a Model> {
        let found = self.config.model(model);
        if found.is_none() {
            let known = choices(self.config.models.iter().map(|m| m.name.as_str()), "models");
            self.push(field, format!("unknown model {model:?}; {known}"));
        }
        found
    }

    fn metric_ref(&mut self, field: &str, metric: &str) -> Option<MetricKind> {
        let found = self.config.metric(metric).map(|m| m.kind);
        if found.is_none() {
            let known = choices(
                self.config.metrics.iter().map(|m| m.name.as_str()),
                "metrics",
            );
            self.push(field, format!("unknown metric {metric:?}; {known}"));
        }
        found
    }

    fn server(&mut self) {
        for (field, message) in self.config.store.problems() {
            self.push(field, message);
        }
        let s = &self.config.server;
        if s.listen.parse::<SocketAddr>().is_err() {
            self.push(
                "server.listen",
                format!("expected an IP address and port such as \"127.0.0.1:8080\" or \"[::]:8080\", found {:?}", s.listen),
            );
        }
        if s.data_dir
            .as_ref()
            .is_some_and(|d| d.as_os_str().is_empty())
        {
            self.push(
                "server.data_dir",
                "must not be empty; leave it out for the default ./rampart-data",
            );
        }
        if s.tick < MIN_TICK {
            self.push(
                "server.tick",
                format!("must be at least {MIN_TICK}, found {}", s.tick),
            );
        }
        if s.tick > MAX_TICK {
            self.push(
                "server.tick",
                format!(
                    "must be at most {MAX_TICK} (gates act on harm only at a look), found {} ({})",
                    s.tick,
                    s.tick.elapsed()
                ),
            );
        }
        self.at_most(
            "server.evidence_bucket",
            Some(s.evidence_bucket),
            MAX_EVIDENCE_BUCKET,
            " (one time bucket of the charts)",
        );
        if s.evidence_bucket < MIN_EVIDENCE_BUCKET {
            self.push(
                "server.evidence_bucket",
                format!(
                    "must be at least {MIN_EVIDENCE_BUCKET}, found {}",
                    s.evidence_bucket
                ),
            );
        }
        if s.max_body_bytes == 0 {
            self.push("server.max_body_bytes", "must be at least 1 byte");
        } else if s.max_body_bytes > MAX_BODY_BYTES {
            self.push(
                "server.max_body_bytes",
                format!("must be at most {MAX_BODY_BYTES} (1 GiB; a request body is held in memory), found {}", s.max_body_bytes),
            );
        }
        for (key, value) in [
            ("server.header_timeout", s.header_timeout),
            ("server.body_timeout", s.body_timeout),
            ("server.request_timeout", s.request_timeout),
        ] {
            if value < MIN_CLIENT_TIMEOUT || value > MAX_CLIENT_TIMEOUT {
                self.push(
                    key,
                    format!(
                        "must be from {MIN_CLIENT_TIMEOUT} to {MAX_CLIENT_TIMEOUT}, found {value}"
                    ),
                );
            }
        }
        // A proxied call that fails is retried on the baseline, so it may take twice its timeout.
        let request_timeout = s.request_timeout;
        let slowest = self
            .config
            .models
            .iter()
            .enumerate()
            .flat_map(|(i, m)| {
                let model =
                    std::iter::once((format!("models[{i}].proxy.timeout"), m.proxy.timeout));
                let variants = m.variants.iter().enumerate().filter_map(move |(j, v)| {
                    v.timeout
                        .map(|t| (format!("models[{i}].variants[{j}].timeout"), t))
                });
                model.chain(variants)
            })
            .filter(|(_, t)| t.as_millis() > 0)
            .max_by_key(|(_, t)| t.as_millis());
        if let Some((field, t)) = slowest {
            let needed = Duration::from_millis(t.as_millis().saturating_mul(2));
            if self
                .config
                .models
                .iter()
                .any(|m| m.variants.iter().any(|v| v.endpoint.is_some()))
                && request_timeout < needed
            {
                self.push(
                    "server.request_timeout",
                    format!(
                        "is {request_timeout}, shorter than twice {field} ({t}): a proxied call and its retry on the baseline would be cut off; use at least {needed}"
                    ),
                );
            }
        }
    }

    /// Inline tokens are checked here; tokens from `token_file` and `token_env` are checked with
    /// them when the server reads those sources.
    fn auth(&mut self) {
        let a = &self.config.auth;
        for e in super::check_tokens(&super::inline_tokens(a)) {
            self.push(format!("{}.token", e.source_name), e.message);
        }
        self.secret_fields(
            "auth.token",
            a.token_env.as_deref(),
            a.token_file.as_deref(),
        );
    }

    /// The `{at}_env` and `{at}_file` fields of one secret: a variable name and a path.
    fn secret_fields(&mut self, at: &str, env: Option<&str>, file: Option<&std::path::Path>) {
        if let Some(problem) = file.and_then(super::secret::file_name_problem) {
            self.push(format!("{at}_file"), problem);
        }
        if let Some(problem) = env.and_then(super::secret::env_name_problem) {
            self.push(format!("{at}_env"), problem);
        }
    }

    fn segments(&mut self) {
        let config = self.config;
        for (i, s) in config.segments.iter().enumerate() {
            self.name(&format!("segments[{i}]"), "segment", s);
        }
        let items = config
            .segments
            .iter()
            .enumerate()
            .map(|(i, s)| (format!("segments[{i}]"), s.as_str()))
            .collect();
        self.unique("segment", items);
    }

    fn webhooks(&mut self) {
        for (i, w) in self.config.webhooks.iter().enumerate() {
            let at = format!("webhooks[{i}]");
            let given: Vec<&str> = [
                ("url", w.url.is_some()),
                ("url_env", w.url_env.is_some()),
                ("url_file", w.url_file.is_some()),
            ]
            .into_iter()
            .filter_map(|(name, set)| set.then_some(name))
            .collect();
            match given.as_slice() {
                [] => self.push(
                    at.clone(),
                    "a webhook needs its URL in url, url_env (an environment variable) or url_file (a file)",
                ),
                [_] => {}
                [_, second, ..] => self.push(
                    format!("{at}.{second}"),
                    format!(
                        "give the URL in exactly one of url, url_env and url_file, not {}",
                        given.join(" and ")
                    ),
                ),
            }
            if let Some(problem) = w.url.as_deref().and_then(http_url_problem) {
                self.push(format!("{at}.url"), problem);
            }
            self.secret_fields(
                &format!("{at}.url"),
                w.url_env.as_deref(),
                w.url_file.as_deref(),
            );
        }
    }

    fn models(&mut self) {
        let config = self.config;
        for (i, m) in config.models.iter().enumerate() {
            let at = format!("models[{i}]");
            self.name(&format!("{at}.name"), "model", &m.name);
            if m.variants.is_empty() {
                self.push(
                    format!("{at}.variants"),
                    "a model needs at least one variant",
                );
            }
            for (j, v) in m.variants.iter().enumerate() {
                let vat = format!("{at}.variants[{j}]");
                self.name(&format!("{vat}.name"), "variant", &v.name);
                if let Some(endpoint) = &v.endpoint {
                    if let Some(problem) = http_url_problem(endpoint) {
                        self.push(
                            format!("{vat}.endpoint"),
                            format!("{problem}, found {:?}", super::secret::shown_url(endpoint)),
                        );
                    }
                }
            }
            let items = m
                .variants
                .iter()
                .enumerate()
                .map(|(j, v)| (format!("{at}.variants[{j}].name"), v.name.as_str()))
                .collect();
            self.unique("variant", items);
            if let Some(b) = &m.baseline {
                self.variant_ref(&format!("{at}.baseline"), m, b);
            }
            self.proxy(&at, m);
            // A unit forced to two variants would get whichever is checked first: refuse it.
            let mut forced: HashMap<&str, (usize, usize)> = HashMap::new();
            for (j, v) in m.variants.iter().enumerate() {
                for (k, unit) in v.force_units.iter().enumerate() {
                    let field = format!("{at}.variants[{j}].force_units[{k}]");
                    if unit.is_empty() {
                        self.push(field, "a unit key must not be empty");
                        continue;
                    }
                    match forced.get(unit.as_str()) {
                        Some(&(j0, k0)) if j0 != j => self.push(
                            field,
                            format!(
                                "unit key {unit:?} is also forced to variant {:?} ({at}.variants[{j0}].force_units[{k0}]); a unit can be forced to one variant only",
                                m.variants[j0].name
                            ),
                        ),
                        Some(_) => {}
                        None => {
                            forced.insert(unit, (j, k));
                        }
                    }
                }
            }
        }
        let items = config
            .models
            .iter()
            .enumerate()
            .map(|(i, m)| (format!("models[{i}].name"), m.name.as_str()))
            .collect();
        self.unique("model", items);
    }

    /// `[models.proxy]` and the variants' timeouts.
    fn proxy(&mut self, at: &str, m: &Model) {
        let p = &m.proxy;
        let timeout = |v: Duration| v.as_millis() == 0 || v > MAX_PROXY_TIMEOUT;
        if timeout(p.timeout) {
            self.push(
                format!("{at}.proxy.timeout"),
                format!(
                    "a proxy timeout must be between 1ms and 10m, found {}ms",
                    p.timeout.as_millis()
                ),
            );
        }
        for (j, v) in m.variants.iter().enumerate() {
            if let Some(t) = v.timeout.filter(|t| timeout(*t)) {
                self.push(
                    format!("{at}.variants[{j}].timeout"),
                    format!(
                        "a proxy timeout must be between 1ms and 10m, found {}ms",
                        t.as_millis()
                    ),
                );
            }
        }
        if let Some(path) = &p.unit_field {
            let field = format!("{at}.proxy.unit_field");
            if m.unit == UnitKind::Request {
                self.push(field, format!("model {:?} randomizes by request, so it reads no unit key; remove unit_field or set unit = \"user\" or \"session\"", m.name));
            } else if path.is_empty() || path.split('.').any(str::is_empty) {
                self.push(field, format!("expected a JSON field name or a dotted path such as \"user_id\" or \"context.user.id\", found {path:?}"));
            }
        }
        if p.shadow_limit == 0 {
            self.push(
                format!("{at}.proxy.shadow_limit"),
                "shadow_limit must be at least 1 (shadow calls in flight at once)",
            );
        }
        if p.compare_output && p.shadow.is_none() {
            self.push(
                format!("{at}.proxy.compare_output"),
                "compare_output compares the shadow's output with the baseline's: it needs proxy.shadow",
            );
        }
        let Some(shadow) = &p.shadow else { return };
        let field = format!("{at}.proxy.shadow");
        if !self.variant_ref(&field, m, shadow) {
            return;
        }
        if shadow == m.baseline() {
            self.push(
                field,
                format!("the shadow must differ from the baseline {shadow:?}, which answers every call in shadow mode"),
            );
            return;
        }
        for name in [m.baseline(), shadow.as_str()] {
            if m.variant(name).is_some_and(|v| v.endpoint.is_none()) {
                self.push(
                    field.clone(),
                    format!("shadow mode calls variants {:?} and {shadow:?}, but {name:?} has no endpoint", m.baseline()),
                );
            }
        }
    }

    fn metrics(&mut self) {
        let config = self.config;
        for (i, m) in config.metrics.iter().enumerate() {
            let at = format!("metrics[{i}]");
            self.name(&format!("{at}.name"), "metric", &m.name);
            let kind = kind_name(m.kind);
            if m.kind == MetricKind::Ratio {
                if m.event.is_some() {
                    self.push(
                        format!("{at}.event"),
                        "a ratio metric reads numerator and denominator events, not event",
                    );
                }
                for (key, value) in [("numerator", &m.numerator), ("denominator", &m.denominator)] {
                    if value.is_none() {
                        self.push(
                            format!("{at}.{key}"),
                            format!("a ratio metric needs a {key} event type"),
                        );
                    }
                }
            } else if m.kind == MetricKind::Prometheus {
                self.prometheus_metric(&at, m);
            } else {
                if m.event.is_none() {
                    self.push(
                        format!("{at}.event"),
                        format!("a {kind} metric needs an event type (e.g. event = \"purchase\")"),
                    );
                }
                for (key, value) in [("numerator", &m.numerator), ("denominator", &m.denominator)] {
                    if value.is_some() {
                        self.push(
                            format!("{at}.{key}"),
                            format!("only ratio metrics take {key}; a {kind} metric reads one event type, set with event"),
                        );
                    }
                }
            }
            for (key, value) in [
                ("event", &m.event),
                ("numerator", &m.numerator),
                ("denominator", &m.denominator),
            ] {
                if value.as_deref() == Some("") {
                    self.push(format!("{at}.{key}"), "an event type must not be empty");
                }
            }
            if m.query.is_some() && m.kind != MetricKind::Prometheus {
                self.push(
                    format!("{at}.query"),
                    format!("only prometheus metrics take a query; a {kind} metric is folded from outcome events"),
                );
            }
            if m.window == Some(Duration::from_millis(0)) {
                self.push(
                    format!("{at}.window"),
                    "must be longer than 0; leave it out for an unbounded window",
                );
            }
            self.maturity(&at, m);
            self.at_most(&format!("{at}.window"), m.window, MAX_SPAN, "");
            self.at_most(&format!("{at}.maturity"), m.maturity, MAX_SPAN, "");
        }
        let items = config
            .metrics
            .iter()
            .enumerate()
            .map(|(i, m)| (format!("metrics[{i}].name"), m.name.as_str()))
            .collect();
        self.unique("metric", items);
    }

    fn holdouts(&mut self) {
        let config = self.config;
        for (i, h) in config.holdouts.iter().enumerate() {
            let at = format!("holdouts[{i}]");
            self.name(&format!("{at}.name"), "holdout", &h.name);
            self.percent(&format!("{at}.percent"), h.percent);
            for (k, m) in h.models.iter().flatten().enumerate() {
                self.model_ref(&format!("{at}.models[{k}]"), m);
            }
        }
        let items = config
            .holdouts
            .iter()
            .enumerate()
            .map(|(i, h)| (format!("holdouts[{i}].name"), h.name.as_str()))
            .collect();
        self.unique("holdout", items);
        let renames = config
            .holdouts
            .iter()
            .map(|h| (h.name.as_str(), h.renamed_from.as_deref()))
            .collect();
        self.renames("holdout", "holdouts", renames);
    }

    fn rollouts(&mut self) {
        let config = self.config;
        // The first autostarting rollout of each model, by index.
        let mut active: HashMap<&str, usize> = HashMap::new();
        for (i, r) in config.rollouts.iter().enumerate() {
            let at = format!("rollouts[{i}]");
            self.name(&format!("{at}.name"), "rollout", &r.name);
            if let Some(model) = self.model_ref(&format!("{at}.model"), &r.model) {
                let baseline_ok = self.variant_ref(&format!("{at}.baseline"), model, &r.baseline);
                let candidate_ok =
                    self.variant_ref(&format!("{at}.candidate"), model, &r.candidate);
                if baseline_ok && candidate_ok && r.baseline == r.candidate {
                    self.push(
                        format!("{at}.candidate"),
                        format!(
                            "the candidate must differ from the baseline {:?}",
                            r.baseline
                        ),
                    );
                }
            }
            self.stages(&at, r);
            for (g, gate) in r.gates.iter().enumerate() {
                let gat = format!("{at}.gates[{g}]");
                self.gate(&gat, gate, r.control);
                self.provider_context(
                    &format!("{gat}.metric"),
                    &gate.metric,
                    ROLLOUT_PLACEHOLDERS,
                    "a rollout gate",
                );
            }
            if r.autostart {
                match active.get(r.model.as_str()) {
                    Some(&first) => self.push(
                        format!("{at}.autostart"),
                        format!(
                            "model {:?} already has an autostarting rollout ({:?}, rollouts[{first}]); a model runs one rollout at a time, so set autostart = false on all but one",
                            r.model, config.rollouts[first].name
                        ),
                    ),
                    None => {
                        active.insert(&r.model, i);
                    }
                }
            }
            self.segment_refs(&at, &r.segments);
        }
        let items = config
            .rollouts
            .iter()
            .enumerate()
            .map(|(i, r)| (format!("rollouts[{i}].name"), r.name.as_str()))
            .collect();
        self.unique("rollout", items);
        let renames = config
            .rollouts
            .iter()
            .map(|r| (r.name.as_str(), r.renamed_from.as_deref()))
            .collect();
        self.renames("rollout", "rollouts", renames);
    }

    fn stages(&mut self, at: &str, r: &Rollout) {
        if r.stages.is_empty() {
            self.push(
                format!("{at}.stages"),
                "a rollout needs at least one stage, e.g. stages = [{ traffic = 100 }]",
            );
        }
        let mut previous: Option<f64> = None;
        for (s, stage) in r.stages.iter().enumerate() {
            let sat = format!("{at}.stages[{s}]");
            self.percent(&format!("{sat}.traffic"), stage.traffic);
            if let Some(p) = previous {
                // Checked even when out of range, so one typo does not hide the plan's shape.
                if stage.traffic.partial_cmp(&p) != Some(std::cmp::Ordering::Greater) {
                    self.push(
                        format!("{sat}.traffic"),
                        format!(
                            "traffic must rise from stage to stage: {} is not above the previous stage's {p}",
                            stage.traffic
                        ),
                    );
                }
            }
            previous = Some(stage.traffic);
            if stage.min_units == Some(0) {
                self.push(
                    format!("{sat}.min_units"),
                    "must be at least 1; leave it out for no minimum",
                );
            }
            if stage.max_duration == Some(Duration::from_millis(0)) {
                self.push(format!("{sat}.max_duration"), "must be longer than 0");
            }
            self.at_most(
                &format!("{sat}.min_duration"),
                stage.min_duration,
                MAX_SPAN,
                "",
            );
            self.at_most(
                &format!("{sat}.max_duration"),
                stage.max_duration,
                MAX_SPAN,
                "",
            );
            if let (Some(min), Some(max)) = (stage.min_duration, stage.max_duration) {
                if max < min {
                    self.push(
                        format!("{sat}.max_duration"),
                        format!("max_duration {max} is shorter than min_duration {min}"),
                    );
                }
            }
            if let Some(e) = &stage.experiment {
                match self.config.experiment(e) {
                    None => {
                        let known = choices(
                            self.config.experiments.iter().map(|x| x.name.as_str()),
                            "experiments",
                        );
                        self.push(
                            format!("{sat}.experiment"),
                            format!("unknown experiment {e:?}; {known}"),
                        );
                    }
                    Some(x) if x.model != r.model => self.push(
                        format!("{sat}.experiment"),
                        format!(
                            "experiment {e:?} is on model {:?}, but this rollout is on model {:?}",
                            x.model, r.model
                        ),
                    ),
                    Some(_) => {}
                }
            }
        }
    }

    fn gate(&mut self, at: &str, gate: &Gate, control: Control) {
        let kind = self.metric_ref(&format!("{at}.metric"), &gate.metric);
        if kind == Some(MetricKind::Prometheus) {
            self.prometheus_gate(at, gate);
        }
        if let Some(q) = gate.quantile {
            match kind {
                Some(MetricKind::Prometheus) => {}
                Some(k) if k != MetricKind::Latency => self.push(
                    format!("{at}.quantile"),
                    format!(
                        "quantile applies only to latency metrics; {:?} is a {} metric",
                        gate.metric,
                        kind_name(k)
                    ),
                ),
                _ => self.probability(&format!("{at}.quantile"), q, "0.99"),
            }
        }
        if gate.max.is_none() && gate.min.is_none() && gate.compare.is_none() {
            self.push(at, "a gate needs max, min or compare = \"control\"");
        }
        self.finite(&format!("{at}.max"), gate.max);
        self.finite(&format!("{at}.min"), gate.min);
        if let (Some(min), Some(max)) = (gate.min, gate.max) {
            if min > max {
                self.push(
                    format!("{at}.min"),
                    format!("min {min} is above max {max}, so no value can pass"),
                );
            }
        }
        if let Some(k) = kind {
            self.limits(at, gate, k);
        }
        if gate.compare == Some(Compare::Control) && control == Control::None {
            self.push(
                format!("{at}.compare"),
                "compare = \"control\" needs a control group, but the rollout has control = \"none\"; use max/min, or control = \"concurrent\"",
            );
        }
        self.worsening(at, gate, kind);
        if let Some(a) = gate.alpha {
            if kind != Some(MetricKind::Prometheus) {
                self.probability(&format!("{at}.alpha"), a, "0.05");
            }
        }
    }

    /// `max` and `min` against the values a metric of this kind can take: a limit no value can
    /// meet is an error, one that can never be shown met (the test needs the candidate beyond it
    /// by more than noise) a warning.
    fn limits(&mut self, at: &str, gate: &Gate, kind: MetricKind) {
        let what = match kind {
            MetricKind::Binary => "a binary metric is a share of units, from 0 to 1",
            MetricKind::Count => "a count metric is a number of events per unit, 0 or more",
            MetricKind::Latency => "a latency metric is in milliseconds, 0 or more",
            _ => return,
        };
        if let Some(max) = gate.max.filter(|m| m.is_finite()) {
            if max < 0.0 {
                self.push(
                    format!("{at}.max"),
                    format!("max {max} is below 0 and {what}, so no candidate can pass; give the largest value you accept, e.g. max = 0.01"),
                );
            } else if max == 0.0 {
                self.warn(
                    format!("{at}.max"),
                    format!("max = 0 can never pass: {what}, and a pass needs the candidate shown below the limit, which no value can be; give the largest value you accept, e.g. max = 0.001"),
                );
            }
        }
        if let Some(min) = gate.min.filter(|m| m.is_finite()) {
            if kind == MetricKind::Binary && min > 1.0 {
                self.push(
                    format!("{at}.min"),
                    format!("min {min} is above 1 and {what}, so no candidate can pass; give the smallest share you accept, e.g. min = 0.99"),
                );
            } else if kind == MetricKind::Binary && min == 1.0 {
                self.warn(
                    format!("{at}.min"),
                    format!("min = 1 can never pass: {what}, and a pass needs the candidate shown above the limit, which no share can be; give the smallest share you accept, e.g. min = 0.99"),
                );
            } else if min < 0.0 {
                self.warn(
                    format!("{at}.min"),
                    format!("min {min} can never fail: {what}; give the smallest value you accept"),
                );
            }
        }
    }

    /// `max_worsening`: only with comparisons, 0 or more, and a warning when the gate could then
    /// pass only on an improvement (or never fail).
    fn worsening(&mut self, at: &str, gate: &Gate, kind: Option<MetricKind>) {
        let field = format!("{at}.max_worsening");
        if gate.max_worsening.is_some() && gate.compare.is_none() {
            self.push(
                field.clone(),
                "max_worsening applies only to comparisons: add compare = \"control\"",
            );
            return;
        }
        if gate.compare.is_none() {
            return;
        }
        let w = gate.worsening();
        let amount = w.amount();
        if !amount.is_finite() {
            self.push(field, format!("must be a finite amount, found {w}"));
            return;
        }
        if amount < 0.0 {
            let fixed = match w {
                Worsening::Relative(p) => format!("\"{}%\"", super::text::short_number(-p)),
                Worsening::Absolute(a) => super::text::short_number(-a),
            };
            self.push(
                field,
                format!("must be 0 or more, found {w}: it is how much worse than the control the candidate may be, in the direction of the metric's goal, so it has no sign; write max_worsening = {fixed}"),
            );
            return;
        }
        let goal = self.config.metric(&gate.metric).map(|m| m.goal());
        // A prometheus comparison compares two readings without a test: equal passes.
        let tested = !matches!(kind, Some(MetricKind::Prometheus) | None);
        if amount == 0.0 && tested {
            let how = if gate.max_worsening.is_none() {
                "no max_worsening is set, so no worsening is allowed"
            } else {
                "max_worsening is 0"
            };
            self.warn(
                field,
                format!("{how}: this gate passes only once the candidate is shown better than the control, and a candidate equal to it stays inconclusive until the stage times out; allow the worsening you would accept, e.g. max_worsening = \"2%\""),
            );
        } else if let (Worsening::Relative(p), Some(Goal::Increase)) = (w, goal) {
            if p >= 100.0 {
                self.warn(
                    field,
                    format!("max_worsening = {w} lets the candidate lose all of the control's value (higher is better), so this gate can never fail; give the largest drop you accept, e.g. max_worsening = \"5%\""),
                );
            }
        }
    }

    fn prometheus(&mut self) {
        let Some(p) = &self.config.prometheus else {
            return;
        };
        if let Some(problem) = http_url_problem(&p.url) {
            self.push(
                "prometheus.url",
                format!(
                    "{problem} (the Prometheus server, e.g. \"http://127.0.0.1:9090\"), found {:?}",
                    super::secret::shown_url(&p.url)
                ),
            );
        }
        if p.timeout == Duration::from_millis(0) {
            self.push("prometheus.timeout", "must be longer than 0, e.g. \"5s\"");
        }
        self.at_most(
            "prometheus.timeout",
            Some(p.timeout),
            MAX_PROMETHEUS_TIMEOUT,
            " (a query held longer is a stuck connection)",
        );
        self.secret_fields(
            "prometheus.token",
            p.token_env.as_deref(),
            p.token_file.as_deref(),
        );
        if p.token_file.is_some() && p.token_env.is_some() {
            self.push(
                "prometheus.token_env",
                "give the bearer token in token_file or in token_env, not both",
            );
        }
    }

    /// A metric's `maturity`: longer than 0, and only on metrics that are one value per unit.
    fn maturity(&mut self, at: &str, m: &super::Metric) {
        let Some(maturity) = m.maturity else { return };
        let field = format!("{at}.maturity");
        match m.kind {
            MetricKind::Prometheus => self.push(
                field,
                "maturity applies to metrics folded from outcome events per unit; a prometheus metric has no units (remove maturity)",
            ),
            MetricKind::Latency => self.push(
                field,
                "maturity applies to binary, count, sum and ratio metrics; a latency metric is counted per event as it arrives (remove maturity)",
            ),
            _ if maturity.as_millis() == 0 => self.push(
                field,
                "must be longer than 0, e.g. maturity = \"2h\"; leave it out to compare all units",
            ),
            _ => {}
        }
    }

    /// The rules of a `prometheus` metric: a query with known placeholders, a goal, no event
    /// keys, and a `[prometheus]` section to read it from.
    fn prometheus_metric(&mut self, at: &str, m: &super::Metric) {
        for (key, value) in [
            ("event", &m.event),
            ("numerator", &m.numerator),
            ("denominator", &m.denominator),
        ] {
            if value.is_some() {
                self.push(
                    format!("{at}.{key}"),
                    format!(
                        "a prometheus metric reads its query, not outcome events; remove {key}"
                    ),
                );
            }
        }
        if m.window.is_some() {
            self.push(
                format!("{at}.window"),
                "window applies to outcome events; put the range in the query instead, e.g. rate(...[5m])",
            );
        }
        match m.query.as_deref() {
            None => self.push(
                format!("{at}.query"),
                "a prometheus metric needs a PromQL query, e.g. query = 'sum(rate(errors_total{version=\"{{variant}}\"}[2m]))'",
            ),
            Some(q) if q.trim().is_empty() => {
                self.push(format!("{at}.query"), "the query must not be empty")
            }
            Some(q) => {
                if let Err(e) = placeholders(q) {
                    self.push(format!("{at}.query"), e.to_string());
                }
            }
        }
        if m.goal.is_none() {
            self.push(
                format!("{at}.goal"),
                "a prometheus metric needs goal = \"increase\" or \"decrease\": which way is better cannot be told from a query",
            );
        }
        if self.config.prometheus.is_none() {
            self.push(
                format!("{at}.kind"),
                "a prometheus metric is read from the Prometheus server, but there is no [prometheus] section; add one with its url, e.g. [prometheus] url = \"http://127.0.0.1:9090\"",
            );
        }
    }

    /// Gate keys that need unit-level data have no meaning on a `prometheus` metric.
    fn prometheus_gate(&mut self, at: &str, gate: &Gate) {
        if gate.quantile.is_some() {
            self.push(
                format!("{at}.quantile"),
                format!("{:?} is a prometheus metric: one number per variant, with no events to take a quantile of; compute the quantile in the query (histogram_quantile) and use max/min", gate.metric),
            );
        }
        if gate.alpha.is_some() {
            self.push(
                format!("{at}.alpha"),
                format!("{:?} is a prometheus metric: one number per variant with no per-unit variance, so its gate compares values without a statistical test and has no alpha; remove it", gate.metric),
            );
        }
    }

    /// A `prometheus` metric's placeholders must all have a value where it is used.
    fn provider_context(&mut self, field: &str, metric: &str, allowed: &[&str], used_in: &str) {
        let Some(q) = self
            .config
            .metric(metric)
            .filter(|m| m.kind == MetricKind::Prometheus)
            .and_then(|m| m.query.as_deref())
        else {
            return;
        };
        let Ok(names) = placeholders(q) else { return };
        let mut reported: Vec<&str> = Vec::new();
        for name in &names {
            if !allowed.contains(&name.as_str()) && !reported.contains(&name.as_str()) {
                reported.push(name);
                let valid = allowed
                    .iter()
                    .map(|p| format!("{{{{{p}}}}}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                self.push(
                    field,
                    format!("the query of metric {metric:?} uses {{{{{name}}}}}, which has no value in {used_in}; valid here: {valid}"),
                );
            }
        }
    }

    fn experiments(&mut self) {
        let config = self.config;
        // Per layer: total share so far, in 0.01% buckets, and the experiments that take it.
        let mut layers: HashMap<&str, (u64, Vec<String>)> = HashMap::new();
        for (i, e) in config.experiments.iter().enumerate() {
            let at = format!("experiments[{i}]");
            self.name(&format!("{at}.name"), "experiment", &e.name);
            self.experiment_variants(&at, e);
            self.percent(&format!("{at}.traffic"), e.traffic);
            if let Some(layer) = &e.layer {
                self.name(&format!("{at}.layer"), "layer", layer);
                let (total, members) = layers.entry(layer).or_default();
                let before = *total;
                *total += (e.traffic.clamp(0.0, 100.0) / PERCENT_STEP).round() as u64;
                members.push(format!("{} {}%", e.name, e.traffic));
                if *total > 10_000 && before <= 10_000 {
                    let share = *total as f64 * PERCENT_STEP;
                    let message = format!(
                        "layer {layer:?} needs {share}% of traffic in total ({}); experiments in one layer share 100%",
                        members.join(", ")
                    );
                    self.push(format!("{at}.layer"), message);
                }
            }
            if self.metric_ref(&format!("{at}.primary"), &e.primary) == Some(MetricKind::Prometheus)
            {
                self.push(
                    format!("{at}.primary"),
                    format!("{:?} is a prometheus metric and cannot be the primary metric: the stopping rule decides with a statistical test on per-unit data, and a query gives one number per variant with no variance; make it a secondary metric or a guardrail with a limit", e.primary),
                );
            }
            for (k, m) in e.secondary.iter().enumerate() {
                let field = format!("{at}.secondary[{k}]");
                self.metric_ref(&field, m);
                self.provider_context(&field, m, EXPERIMENT_PLACEHOLDERS, "an experiment");
            }
            for (k, m) in e.guardrails.iter().enumerate() {
                let field = format!("{at}.guardrails[{k}]");
                if self.metric_ref(&field, m) == Some(MetricKind::Prometheus)
                    && !e.limits.iter().any(|l| l.metric == *m)
                {
                    self.push(
                        field.clone(),
                        format!("guardrail {m:?} is a prometheus metric, which has no statistical test against the control: give it a limit, e.g. limits = [{{ metric = {m:?}, max = 0.01 }}] or {{ metric = {m:?}, compare = \"control\", max_worsening = \"10%\" }}"),
                    );
                }
                self.provider_context(&field, m, EXPERIMENT_PLACEHOLDERS, "an experiment");
            }
            for (k, limit) in e.limits.iter().enumerate() {
                let lat = format!("{at}.limits[{k}]");
                self.gate(&lat, limit, Control::Concurrent);
                if !e.guardrails.contains(&limit.metric) {
                    self.push(
                        format!("{lat}.metric"),
                        format!(
                            "limits apply to the experiment's guardrails; add {:?} to guardrails",
                            limit.metric
                        ),
                    );
                }
                if let Some(m) = config
                    .metric(&limit.metric)
                    .filter(|m| m.kind != MetricKind::Prometheus)
                {
                    self.push(
                        format!("{lat}.metric"),
                        format!("limits apply to prometheus metrics; {:?} is a {} metric, which the always-valid test against the control guards", m.name, kind_name(m.kind)),
                    );
                }
            }
            self.stopping(&at, e);
            if let Some(w) = &e.on_winner {
                match config.rollout(&w.rollout) {
                    None => {
                        let known =
                            choices(config.rollouts.iter().map(|r| r.name.as_str()), "rollouts");
                        self.push(
                            format!("{at}.on_winner.rollout"),
                            format!("unknown rollout {:?}; {known}", w.rollout),
                        );
                    }
                    Some(r) if r.model != e.model => self.push(
                        format!("{at}.on_winner.rollout"),
                        format!(
                            "rollout {:?} is on model {:?}, but this experiment is on model {:?}",
                            r.name, r.model, e.model
                        ),
                    ),
                    Some(_) => {}
                }
            }
            self.segment_refs(&at, &e.segments);
        }
        let items = config
            .experiments
            .iter()
            .enumerate()
            .map(|(i, e)| (format!("experiments[{i}].name"), e.name.as_str()))
            .collect();
        self.unique("experiment", items);
        let renames = config
            .experiments
            .iter()
            .map(|e| (e.name.as_str(), e.renamed_from.as_deref()))
            .collect();
        self.renames("experiment", "experiments", renames);
    }

    fn experiment_variants(&mut self, at: &str, e: &Experiment) {
        let n = e.variants.len();
        if n < 2 {
            self.push(
                format!("{at}.variants"),
                format!("an experiment compares at least 2 variants, found {n}"),
            );
        }
        let design = design_name(e.design);
        match e.design {
            Design::TeamDraft | Design::Balanced | Design::Probabilistic if n > 2 => self.push(
                format!("{at}.variants"),
                format!("design {design:?} interleaves exactly 2 variants, found {n}; use \"team-draft-multileave\" for more"),
            ),
            Design::TeamDraftMultileave if n == 2 => self.push(
                format!("{at}.variants"),
                format!("design \"team-draft-multileave\" needs at least 3 variants, found {n}; use \"team-draft\" for 2"),
            ),
            _ => {}
        }
        if let Some(model) = self.model_ref(&format!("{at}.model"), &e.model) {
            for (k, v) in e.variants.iter().enumerate() {
                self.variant_ref(&format!("{at}.variants[{k}]"), model, v);
            }
        }
        for (k, v) in e.variants.iter().enumerate() {
            if let Some(first) = e.variants[..k].iter().position(|x| x == v) {
                self.push(
                    format!("{at}.variants[{k}]"),
                    format!("variant {v:?} is already listed at variants[{first}]"),
                );
            }
        }
        if let Some(window) = e.window {
            if e.design != Design::Switchback {
                self.push(
                    format!("{at}.window"),
                    format!("window applies only to design \"switchback\", not {design:?}"),
                );
            } else if window.as_millis() == 0 {
                self.push(format!("{at}.window"), "must be longer than 0");
            }
            self.at_most(&format!("{at}.window"), Some(window), MAX_SPAN, "");
        }
        if let Some(weights) = &e.weights {
            if e.design != Design::Split {
                self.push(
                    format!("{at}.weights"),
                    format!("weights apply only to design \"split\", not {design:?}"),
                );
            } else if weights.len() != n {
                self.push(
                    format!("{at}.weights"),
                    format!(
                        "{} weights for {n} variants; give one weight per variant",
                        weights.len()
                    ),
                );
            }
            for (k, w) in weights.iter().enumerate() {
                if !(w.is_finite() && *w > 0.0) {
                    self.push(
                        format!("{at}.weights[{k}]"),
                        format!("weights must be positive numbers, found {w}"),
                    );
                }
            }
        }
    }

    fn stopping(&mut self, at: &str, e: &Experiment) {
        let s = &e.stopping;
        self.probability(&format!("{at}.stopping.alpha"), s.alpha, "0.05");
        self.probability(&format!("{at}.stopping.power"), s.power, "0.8");
        if let Some(mde) = s.mde {
            if !(mde.is_finite() && mde > 0.0) {
                self.push(
                    format!("{at}.stopping.mde"),
                    format!("must be a positive relative effect (0.02 = 2%), found {mde}"),
                );
            }
        }
        if s.max_duration == Some(Duration::from_millis(0)) {
            self.push(
                format!("{at}.stopping.max_duration"),
                "must be longer than 0",
            );
        }
        self.at_most(
            &format!("{at}.stopping.max_duration"),
            s.max_duration,
            MAX_SPAN,
            "",
        );
        if s.rule == StoppingRule::Fixed && s.mde.is_none() && s.max_duration.is_none() {
            self.push(
                format!("{at}.stopping"),
                "a fixed-horizon test needs mde (to size the sample) or max_duration (to end it)",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outbound_urls_need_http_or_https_a_host_and_a_numeric_port() {
        for ok in [
            "http://127.0.0.1:9090",
            "https://hooks.slack.com/services/T0/B0/x",
            "https://[::1]:8443/v1",
            "http://user:pass@prom:9090/",
            "https://h?q=1",
        ] {
            assert_eq!(http_url_problem(ok), None, "{ok}");
        }
        let problem = |u: &str| http_url_problem(u).unwrap_or_else(|| panic!("{u} accepted"));
        assert_eq!(
            problem("ftp://files.internal/x"),
            "the scheme \"ftp\" is not supported: expected an http:// or https:// URL with a host"
        );
        assert_eq!(
            problem("HTTPS://h"),
            "the scheme \"HTTPS\" is not supported: expected an http:// or https:// URL with a host"
        );
        assert_eq!(
            problem("127.0.0.1:9000"),
            "expected an http:// or https:// URL with a host"
        );
        assert_eq!(
            problem("https:///path"),
            "expected an https:// URL with a host"
        );
        assert_eq!(
            problem("http://h:99999/"),
            "the port must be a number from 0 to 65535"
        );
        assert_eq!(
            problem("http://h:x"),
            "the port must be a number from 0 to 65535"
        );
        assert_eq!(
            problem("http://[::1/"),
            "the IPv6 address of the host has no closing ]"
        );
        assert!(problem("http://h/a b").contains("spaces"));
        assert!(problem("http://a b/").contains("spaces"));
    }

    #[test]
    fn percent_steps() {
        assert!(on_step(0.01));
        assert!(on_step(33.33));
        assert!(on_step(100.0));
        assert!(!on_step(0.005));
        assert!(!on_step(12.3456));
    }

    #[test]
    fn validate_on_a_built_config_names_the_file() {
        let config = Config {
            segments: vec!["a b".into()],
            ..Config::default()
        };
        let errs = config.validate("built").unwrap_err();
        assert_eq!(errs.0.len(), 1);
        assert_eq!(errs.0[0].to_string(), "built: segments[0]: segment name \"a b\" may only contain letters, digits, '_', '.' and '-'");
        assert!(Config::default().validate("built").is_ok());
    }

    #[test]
    fn auth_tokens_are_checked_with_their_field_paths() {
        let mut config = Config::default();
        let token = |t: &str| super::super::TokenEntry {
            token: t.into(),
            role: super::super::Role::Operate,
        };
        config.auth.tokens = vec![
            token("short"),
            token("long-enough-token-1"),
            token("long-enough-token-1"),
        ];
        config.auth.token_env = Some(String::new());
        let fields: Vec<String> = validate(&config).into_iter().map(|p| p.field).collect();
        assert_eq!(
            fields,
            [
                "auth.tokens[0].token",
                "auth.tokens[2].token",
                "auth.token_env"
            ]
        );
    }
}
