//! The config schema: one file (TOML, YAML accepted) that declares models, metrics, holdouts,
//! rollouts and experiments. `load` parses and validates it; every problem is reported at once,
//! each with its file, line and field path (see `ConfigError`).

mod auth;
mod duration;
mod load;
mod secret;
mod store;
pub mod text;
mod validate;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use auth::{
    check_tokens, inline_tokens, parse_token_lines, AuthConfig, Role, SourcedToken, TokenEntry,
    TokenError, MIN_TOKEN_LEN,
};
pub use duration::{Duration, DurationError};
pub use load::{
    check_file, check_str, load_file, load_str, ConfigError, ConfigErrors, Format, Loaded,
};
pub use secret::{has_password, inline_secrets, redact, redact_password, SecretSource, REDACTED};
pub use store::StoreConfig;
pub use validate::http_url_problem;

/// The whole config file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub server: ServerConfig,
    /// The shared PostgreSQL store; the embedded SQLite store when left out.
    #[serde(default)]
    pub store: StoreConfig,
    /// Bearer tokens and their roles; none means the API is open and served on loopback only.
    #[serde(default)]
    pub auth: AuthConfig,
    #[serde(default)]
    pub models: Vec<Model>,
    #[serde(default)]
    pub metrics: Vec<Metric>,
    #[serde(default)]
    pub holdouts: Vec<Holdout>,
    #[serde(default)]
    pub rollouts: Vec<Rollout>,
    #[serde(default)]
    pub experiments: Vec<Experiment>,
    /// Event or assignment-context attributes whose values split evidence into segments.
    #[serde(default)]
    pub segments: Vec<String>,
    /// Where rollout notifications go.
    #[serde(default)]
    pub webhooks: Vec<Webhook>,
    /// The Prometheus server that `prometheus` metrics are read from.
    #[serde(default)]
    pub prometheus: Option<PrometheusConfig>,
}

/// The `[prometheus]` section: where `prometheus` metrics are queried, and how.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusConfig {
    /// Base URL of the Prometheus HTTP API, e.g. `http://127.0.0.1:9090`.
    pub url: String,
    /// How long one instant query may take before it counts as a provider error.
    #[serde(default = "default_prometheus_timeout")]
    pub timeout: Duration,
    /// A file holding the bearer token sent to Prometheus; relative to the config file.
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// An environment variable holding the bearer token sent to Prometheus.
    #[serde(default)]
    pub token_env: Option<String>,
}

fn default_prometheus_timeout() -> Duration {
    Duration::from_secs(5)
}

/// A receiver of rollout notifications (stage changes, approvals needed, pauses, rollbacks,
/// completions), posted as JSON. Its URL is a secret (whoever has it can post), so it can be kept
/// out of the config text: exactly one of `url`, `url_env` and `url_file` is given.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    #[serde(default)]
    pub url: Option<String>,
    /// An environment variable holding the URL.
    #[serde(default)]
    pub url_env: Option<String>,
    /// A file holding the URL; relative to the config file.
    #[serde(default)]
    pub url_file: Option<PathBuf>,
    /// Which notifications to send; all when omitted.
    #[serde(default)]
    pub events: Option<Vec<crate::rollout::Notification>>,
    #[serde(default)]
    pub format: WebhookFormat,
}

// The URL stays out of logs and panic messages.
impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("url", &self.url.as_ref().map(|_| secret::REDACTED))
            .field("url_env", &self.url_env)
            .field("url_file", &self.url_file)
            .field("events", &self.events)
            .field("format", &self.format)
            .finish()
    }
}

impl Webhook {
    /// Where the URL comes from; `None` only in a config that failed validation.
    pub fn url_source(&self) -> Option<SecretSource<'_>> {
        match (&self.url, &self.url_env, &self.url_file) {
            (Some(u), None, None) => Some(SecretSource::Inline(u)),
            (None, Some(v), None) => Some(SecretSource::Env(v)),
            (None, None, Some(f)) => Some(SecretSource::File(f)),
            _ => None,
        }
    }

    pub fn wants(&self, kind: crate::rollout::Notification) -> bool {
        self.events.as_ref().is_none_or(|e| e.contains(&kind))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum WebhookFormat {
    /// The notification as a JSON object.
    #[default]
    Json,
    /// `{"text": "..."}`, as Slack's incoming webhooks take it.
    Slack,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    #[serde(default = "default_listen")]
    pub listen: String,
    #[serde(default)]
    pub data_dir: Option<PathBuf>,
    /// How often the controller looks at evidence (100ms at the least).
    #[serde(default = "default_tick")]
    pub tick: Duration,
    /// Width of the time buckets evidence is kept in, for charts.
    #[serde(default = "default_bucket")]
    pub evidence_bucket: Duration,
    /// Largest request body accepted, in bytes.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// How long a client may take to send a request's headers (an idle keep-alive connection is
    /// closed after the same time).
    #[serde(default = "default_header_timeout")]
    pub header_timeout: Duration,
    /// The longest wait for the next piece of a request body.
    #[serde(default = "default_body_timeout")]
    pub body_timeout: Duration,
    /// How long a request may take from its headers to its response headers, body read included.
    #[serde(default = "default_request_timeout")]
    pub request_timeout: Duration,
}

fn default_listen() -> String {
    "127.0.0.1:8080".to_string()
}
fn default_tick() -> Duration {
    Duration::from_secs(5)
}
fn default_bucket() -> Duration {
    Duration::from_secs(3_600)
}
fn default_max_body() -> usize {
    16 * 1024 * 1024
}
fn default_header_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_body_timeout() -> Duration {
    Duration::from_secs(30)
}
fn default_request_timeout() -> Duration {
    Duration::from_secs(60)
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: default_listen(),
            data_dir: None,
            tick: default_tick(),
            evidence_bucket: default_bucket(),
            max_body_bytes: default_max_body(),
            header_timeout: default_header_timeout(),
            body_timeout: default_body_timeout(),
            request_timeout: default_request_timeout(),
        }
    }
}

/// A named decision point served by several variants.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Model {
    pub name: String,
    #[serde(default)]
    pub unit: UnitKind,
    pub variants: Vec<Variant>,
    /// The variant every unit gets when nothing else applies; the first variant when omitted.
    #[serde(default)]
    pub baseline: Option<String>,
    /// How `/v1/predict/{model}/...` forwards calls to the variants' endpoints.
    #[serde(default)]
    pub proxy: ProxyConfig,
}

/// The model proxy's settings for one model (`[models.proxy]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxyConfig {
    /// Dotted path of the JSON body field holding the unit key, when the caller sends no
    /// `X-Rampart-Unit` header (e.g. `user_id`, `context.user.id`).
    #[serde(default)]
    pub unit_field: Option<String>,
    /// How long a variant may take to answer (its response headers); a variant's own `timeout`
    /// overrides it.
    #[serde(default = "default_proxy_timeout")]
    pub timeout: Duration,
    /// When a non-baseline variant fails or times out, send the call to the baseline instead.
    #[serde(default)]
    pub retry_on_baseline: bool,
    /// Shadow mode: the baseline answers every call, and a copy goes to this variant.
    #[serde(default)]
    pub shadow: Option<String>,
    /// Compare the shadow's output with the baseline's and record differences.
    #[serde(default)]
    pub compare_output: bool,
    /// Most shadow calls in flight at once; copies beyond it are dropped and counted.
    #[serde(default = "default_shadow_limit")]
    pub shadow_limit: usize,
}

fn default_proxy_timeout() -> Duration {
    Duration::from_secs(5)
}
fn default_shadow_limit() -> usize {
    64
}

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig {
            unit_field: None,
            timeout: default_proxy_timeout(),
            retry_on_baseline: false,
            shadow: None,
            compare_output: false,
            shadow_limit: default_shadow_limit(),
        }
    }
}

impl Model {
    pub fn variant(&self, name: &str) -> Option<&Variant> {
        self.variants.iter().find(|v| v.name == name)
    }

    pub fn baseline(&self) -> &str {
        self.baseline
            .as_deref()
            .or_else(|| self.variants.first().map(|v| v.name.as_str()))
            .unwrap_or("")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum UnitKind {
    #[default]
    User,
    Session,
    /// Every call is randomized on its own.
    Request,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    pub name: String,
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Unit keys that always get this variant (for QA).
    #[serde(default)]
    pub force_units: Vec<String>,
    /// How long this variant's endpoint may take to answer; `[models.proxy] timeout` when omitted.
    #[serde(default)]
    pub timeout: Option<Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricKind {
    /// 1 if the unit had at least one event, else 0.
    Binary,
    /// Number of events per unit.
    Count,
    /// Sum of event values per unit.
    Sum,
    /// Sum of numerator values over sum of denominator values (delta method over units).
    Ratio,
    /// Event values in milliseconds; quantiles from a histogram.
    Latency,
    /// A PromQL instant query read from the `[prometheus]` server: one number per variant, no
    /// outcome events.
    Prometheus,
}

/// How outcome events become one number per unit and per variant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metric {
    pub name: String,
    pub kind: MetricKind,
    /// Event type for binary, count, sum and latency metrics.
    #[serde(default)]
    pub event: Option<String>,
    /// Event types of a ratio metric.
    #[serde(default)]
    pub numerator: Option<String>,
    #[serde(default)]
    pub denominator: Option<String>,
    /// Attribution window after a unit's first exposure; unbounded when omitted.
    #[serde(default)]
    pub window: Option<Duration>,
    /// Comparisons with the control read only units first exposed at least this long before the
    /// look, so both arms are compared on units of the same exposure age; all units when omitted.
    #[serde(default)]
    pub maturity: Option<Duration>,
    /// Which direction is better. Required for metrics compared with the control, except latency
    /// (lower is better by kind); see [`Metric::goal`].
    #[serde(default)]
    pub goal: Option<Goal>,
    /// The PromQL query of a `prometheus` metric, with `{{placeholders}}` (see
    /// [`crate::analysis::provider`]).
    #[serde(default)]
    pub query: Option<String>,
}

/// Which direction of a metric is good, for comparisons with the control.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Goal {
    /// Higher is better (conversion, revenue, clicks).
    Increase,
    /// Lower is better (latency, error rate).
    Decrease,
}

impl Metric {
    /// Whether the metric is read from Prometheus rather than folded from outcome events.
    pub fn is_prometheus(&self) -> bool {
        self.kind == MetricKind::Prometheus
    }

    /// The configured goal, else `Decrease` for latency metrics and `Increase` for the others.
    /// Validation refuses a comparison gate on a non-latency metric without a goal, so the
    /// fallback only reaches metrics whose direction no gate reads.
    pub fn goal(&self) -> Goal {
        self.goal.unwrap_or(match self.kind {
            MetricKind::Latency => Goal::Decrease,
            _ => Goal::Increase,
        })
    }

    /// The event types this metric reads.
    pub fn event_types(&self) -> impl Iterator<Item = &str> {
        [&self.event, &self.numerator, &self.denominator]
            .into_iter()
            .filter_map(|e| e.as_deref())
    }
}

/// Units kept on the baseline of every model (or of the listed models) as a long-term reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Holdout {
    pub name: String,
    pub percent: f64,
    /// Models this holdout applies to; all models when omitted.
    #[serde(default)]
    pub models: Option<Vec<String>>,
    #[serde(default)]
    pub salt: Option<String>,
    #[serde(default)]
    pub renamed_from: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Control {
    /// An equal-sized concurrent slice on the baseline is the comparison group.
    #[default]
    Concurrent,
    /// No comparison group: only absolute gates are possible.
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum OnFail {
    #[default]
    Rollback,
    Pause,
}

/// The staged workflow: a plan of stages, each ended by its gates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rollout {
    pub name: String,
    pub model: String,
    pub baseline: String,
    pub candidate: String,
    #[serde(default)]
    pub control: Control,
    pub stages: Vec<Stage>,
    #[serde(default)]
    pub gates: Vec<Gate>,
    #[serde(default)]
    pub on_fail: OnFail,
    /// Start at the first stage as soon as the config is applied.
    #[serde(default = "yes")]
    pub autostart: bool,
    /// Segment attributes whose values get their own guardrail check.
    #[serde(default)]
    pub segments: Vec<String>,
    #[serde(default)]
    pub salt: Option<String>,
    #[serde(default)]
    pub renamed_from: Option<String>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Approval {
    #[default]
    Auto,
    Manual,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum OnTimeout {
    #[default]
    Hold,
    Rollback,
    Advance,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    /// Percent of the model's traffic on the candidate, 0..=100.
    pub traffic: f64,
    #[serde(default)]
    pub min_duration: Option<Duration>,
    /// Units per arm needed before the stage may end.
    #[serde(default)]
    pub min_units: Option<u64>,
    #[serde(default)]
    pub max_duration: Option<Duration>,
    #[serde(default)]
    pub on_timeout: OnTimeout,
    #[serde(default)]
    pub approval: Approval,
    /// An experiment to run among candidates during this stage.
    #[serde(default)]
    pub experiment: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compare {
    Control,
}

/// How much worse than the control a comparison gate lets the candidate be, always written as a
/// positive amount in the direction of the metric's goal: `"5%"` (a share of the control's value)
/// or a plain number in the metric's own units (`0.002`, `20` ms).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Worsening {
    /// A percentage of the control's value: `Relative(5.0)` is written `"5%"`.
    Relative(f64),
    /// An amount in the metric's own units.
    Absolute(f64),
}

impl Worsening {
    /// No worsening allowed (the tolerance of a gate that sets none).
    pub const NONE: Worsening = Worsening::Relative(0.0);

    /// The amount as the analysis uses it: a fraction of the control for relative tolerances
    /// (`"5%"` → 0.05), the metric's units for absolute ones.
    pub fn amount(self) -> f64 {
        match self {
            Worsening::Relative(percent) => percent / 100.0,
            Worsening::Absolute(a) => a,
        }
    }

    pub fn is_relative(self) -> bool {
        matches!(self, Worsening::Relative(_))
    }

    /// Parses the string form, `"<number>%"`; `None` when it is not one.
    pub fn parse_percent(s: &str) -> Option<Worsening> {
        let number = s.strip_suffix('%')?;
        if number.is_empty() || number.trim() != number {
            return None;
        }
        number
            .parse::<f64>()
            .ok()
            .filter(|p| p.is_finite())
            .map(Worsening::Relative)
    }
}

impl std::fmt::Display for Worsening {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Worsening::Relative(p) => write!(f, "\"{p}%\""),
            Worsening::Absolute(a) => write!(f, "{a}"),
        }
    }
}

impl Serialize for Worsening {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Worsening::Relative(p) => s.collect_str(&format_args!("{p}%")),
            Worsening::Absolute(a) => s.serialize_f64(*a),
        }
    }
}

impl<'de> Deserialize<'de> for Worsening {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl serde::de::Visitor<'_> for Visit {
            type Value = Worsening;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(WORSENING_FORMS)
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Worsening, E> {
                Worsening::parse_percent(v)
                    .ok_or_else(|| E::custom(format!("expected {WORSENING_FORMS}, found {v:?}")))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Worsening, E> {
                Ok(Worsening::Absolute(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Worsening, E> {
                Ok(Worsening::Absolute(v as f64))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Worsening, E> {
                Ok(Worsening::Absolute(v as f64))
            }
        }
        d.deserialize_any(Visit)
    }
}

/// The accepted forms of `max_worsening`, for error messages.
pub const WORSENING_FORMS: &str = "a percentage of the control's value such as \"5%\", or a number in the metric's own units such as 0.002";

/// One go/no-go check at the end of (and during) a stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gate {
    pub metric: String,
    /// Upper limit on the candidate's value (or its quantile for latency metrics).
    #[serde(default)]
    pub max: Option<f64>,
    /// Lower limit on the candidate's value.
    #[serde(default)]
    pub min: Option<f64>,
    /// For latency metrics: which quantile `max`/`min` apply to, in (0, 1).
    #[serde(default)]
    pub quantile: Option<f64>,
    /// Compare with the concurrent control instead of a fixed limit.
    #[serde(default)]
    pub compare: Option<Compare>,
    /// For comparisons: how much worse than the control the candidate may be (0 or more, in the
    /// direction of the metric's goal); none allowed when omitted.
    #[serde(default)]
    pub max_worsening: Option<Worsening>,
    #[serde(default)]
    pub alpha: Option<f64>,
}

impl Gate {
    /// The comparison's tolerance: the configured one, else no worsening at all.
    pub fn worsening(&self) -> Worsening {
        self.max_worsening.unwrap_or(Worsening::NONE)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Design {
    #[default]
    Split,
    TeamDraft,
    Balanced,
    Probabilistic,
    TeamDraftMultileave,
    Switchback,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum StoppingRule {
    Fixed,
    #[default]
    Sequential,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Correction {
    #[default]
    Holm,
    Bh,
    Bonferroni,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stopping {
    #[serde(default)]
    pub rule: StoppingRule,
    #[serde(default = "default_alpha")]
    pub alpha: f64,
    #[serde(default = "default_power")]
    pub power: f64,
    /// Minimum detectable effect, relative to the control (0.02 = 2%).
    #[serde(default)]
    pub mde: Option<f64>,
    #[serde(default)]
    pub max_duration: Option<Duration>,
}

fn default_alpha() -> f64 {
    0.05
}
fn default_power() -> f64 {
    0.8
}

impl Default for Stopping {
    fn default() -> Self {
        Stopping {
            rule: StoppingRule::default(),
            alpha: default_alpha(),
            power: default_power(),
            mde: None,
            max_duration: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OnWinner {
    pub rollout: String,
}

/// The interleaving workflow: concurrent variants, a design, a stopping rule, a decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Experiment {
    pub name: String,
    pub model: String,
    #[serde(default)]
    pub design: Design,
    pub variants: Vec<String>,
    /// Relative weights of the variants for `split`; equal when omitted.
    #[serde(default)]
    pub weights: Option<Vec<f64>>,
    /// Percent of eligible units in the experiment.
    #[serde(default = "hundred")]
    pub traffic: f64,
    /// `switchback` only: how long each variant serves before the next one; 1h when omitted.
    #[serde(default)]
    pub window: Option<Duration>,
    /// Experiments in one layer never share a unit.
    #[serde(default)]
    pub layer: Option<String>,
    pub primary: String,
    #[serde(default)]
    pub secondary: Vec<String>,
    #[serde(default)]
    pub guardrails: Vec<String>,
    #[serde(default)]
    pub stopping: Stopping,
    #[serde(default)]
    pub correction: Correction,
    #[serde(default = "yes")]
    pub autostart: bool,
    #[serde(default)]
    pub on_winner: Option<OnWinner>,
    /// Limits on `prometheus` guardrail metrics, checked on every variant: the keys of a rollout
    /// gate (`max`, `min`, `compare = "control"` with `max_worsening`).
    #[serde(default)]
    pub limits: Vec<Gate>,
    #[serde(default)]
    pub segments: Vec<String>,
    #[serde(default)]
    pub salt: Option<String>,
    #[serde(default)]
    pub renamed_from: Option<String>,
}

fn hundred() -> f64 {
    100.0
}

/// The switchback window when an experiment does not set one.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(3_600);

impl Experiment {
    /// The switchback window in milliseconds (the configured one, else [`DEFAULT_WINDOW`]).
    pub fn window_ms(&self) -> u64 {
        self.window.unwrap_or(DEFAULT_WINDOW).as_millis()
    }

    /// Primary, secondary and guardrail metrics, in that order, without repeats.
    pub fn metric_names(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for m in std::iter::once(&self.primary)
            .chain(&self.secondary)
            .chain(&self.guardrails)
        {
            if !out.contains(&m.as_str()) {
                out.push(m);
            }
        }
        out
    }
}

impl Rollout {
    pub fn metric_names(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for g in &self.gates {
            if !out.contains(&g.metric.as_str()) {
                out.push(&g.metric);
            }
        }
        out
    }
}

impl Config {
    pub fn model(&self, name: &str) -> Option<&Model> {
        self.models.iter().find(|m| m.name == name)
    }
    pub fn metric(&self, name: &str) -> Option<&Metric> {
        self.metrics.iter().find(|m| m.name == name)
    }
    pub fn rollout(&self, name: &str) -> Option<&Rollout> {
        self.rollouts.iter().find(|r| r.name == name)
    }
    pub fn experiment(&self, name: &str) -> Option<&Experiment> {
        self.experiments.iter().find(|e| e.name == name)
    }
}

/// Free-form attributes carried by assignments and events (segment values, forced variants).
pub type Attributes = BTreeMap<String, String>;
