//! The model proxy's decisions, without IO: which variants a call goes to ([`plan_call`]), where
//! the unit key sits in a JSON body ([`unit_from_json`]), whether a shadow answered the same as
//! the baseline ([`same_output`]), the outcome events a call becomes ([`CallOutcome::events`]),
//! and the per-variant summary those events fold into ([`ProxySummary`]).
//!
//! Event types written by the proxy (docs/proxy.md):
//! - `response`: one per answered call, value = latency in ms, attributes `variant`, `status`;
//! - `error`: the variant failed, timed out or answered 5xx, attributes `variant`, `reason`;
//! - `shadow_response`, `shadow_error`, `shadow_diff`: the same for the shadow copy of a call,
//!   with the shadow variant in the `variant` attribute (a unit is never exposed to the shadow,
//!   so evidence does not attribute these events to it: [`ProxySummary`] does).

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::config::{Duration, Model};
use crate::evidence::Histogram;
use crate::record::{Millis, OutcomeEvent};

pub const RESPONSE: &str = "response";
pub const ERROR: &str = "error";
pub const SHADOW_RESPONSE: &str = "shadow_response";
pub const SHADOW_ERROR: &str = "shadow_error";
pub const SHADOW_DIFF: &str = "shadow_diff";
/// The attribute naming the variant that answered (or failed) on every proxy event.
pub const VARIANT_ATTRIBUTE: &str = "variant";

/// Where one call goes: the variant that answers, the one to fall back on, the shadow copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallPlan {
    pub primary: Target,
    /// The baseline, when `retry_on_baseline` is on and the primary is another variant.
    pub fallback: Option<Target>,
    /// Shadow mode's copy: never answers the caller.
    pub shadow: Option<Target>,
}

/// A variant's endpoint and how long it may take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub variant: String,
    /// `None` when the config gives the variant no endpoint.
    pub endpoint: Option<String>,
    pub timeout: Duration,
}

impl CallPlan {
    /// Whether the request body must be kept to be sent more than once.
    pub fn needs_body_copy(&self) -> bool {
        self.fallback.is_some() || self.shadow.is_some()
    }
}

/// The timeout of `variant`: its own, else the model's proxy timeout.
pub fn timeout_of(model: &Model, variant: &str) -> Duration {
    model
        .variant(variant)
        .and_then(|v| v.timeout)
        .unwrap_or(model.proxy.timeout)
}

fn target(model: &Model, variant: &str) -> Target {
    Target {
        variant: variant.to_string(),
        endpoint: model.variant(variant).and_then(|v| v.endpoint.clone()),
        timeout: timeout_of(model, variant),
    }
}

/// Plans a call of `model` for a unit assigned `assigned` (ignored in shadow mode, where the
/// baseline answers every call).
pub fn plan_call(model: &Model, assigned: &str) -> CallPlan {
    let baseline = model.baseline();
    if let Some(shadow) = &model.proxy.shadow {
        return CallPlan {
            primary: target(model, baseline),
            fallback: None,
            shadow: Some(target(model, shadow)),
        };
    }
    CallPlan {
        primary: target(model, assigned),
        fallback: (model.proxy.retry_on_baseline && assigned != baseline)
            .then(|| target(model, baseline)),
        shadow: None,
    }
}

/// The upstream URL: the endpoint, `/`, the rest of the caller's path, and its query. A call
/// with no path after the model goes to the endpoint exactly as configured.
pub fn upstream_url(endpoint: &str, path: &str, query: Option<&str>) -> String {
    let mut url = if path.is_empty() {
        endpoint.to_string()
    } else {
        let mut url = endpoint.trim_end_matches('/').to_string();
        url.push('/');
        url.push_str(path.trim_start_matches('/'));
        url
    };
    if let Some(q) = query.filter(|q| !q.is_empty()) {
        url.push('?');
        url.push_str(q);
    }
    url
}

/// Why no unit key could be read from a JSON body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnitFieldError {
    #[error("the request body is not JSON, so the unit field {path:?} cannot be read: {reason}")]
    NotJson { path: String, reason: String },
    #[error("the request body has no field {path:?} and no X-Rampart-Unit header was sent")]
    Missing { path: String },
    #[error("the field {path:?} must be a non-empty string or a number to be a unit key")]
    NotScalar { path: String },
}

/// Reads the unit key at the dotted `path` (`user_id`, `context.user.id`) of a JSON body.
pub fn unit_from_json(body: &[u8], path: &str) -> Result<String, UnitFieldError> {
    let root: Value = serde_json::from_slice(body).map_err(|e| UnitFieldError::NotJson {
        path: path.to_string(),
        reason: e.to_string(),
    })?;
    let mut at = &root;
    for key in path.split('.') {
        at = at.get(key).ok_or_else(|| UnitFieldError::Missing {
            path: path.to_string(),
        })?;
    }
    match at {
        Value::String(s) if !s.is_empty() => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        _ => Err(UnitFieldError::NotScalar {
            path: path.to_string(),
        }),
    }
}

/// Whether two outputs are the same: equal bytes, or both JSON and equal as values (so key
/// order and whitespace do not count as differences).
pub fn same_output(a: &[u8], b: &[u8]) -> bool {
    if a == b {
        return true;
    }
    match (
        serde_json::from_slice::<Value>(a),
        serde_json::from_slice::<Value>(b),
    ) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

/// What happened to one upstream call.
#[derive(Debug, Clone, PartialEq)]
pub enum CallOutcome {
    /// The variant answered with this status after `latency_ms`.
    Answered { status: u16, latency_ms: f64 },
    /// No answer within the timeout.
    TimedOut { latency_ms: f64 },
    /// No answer: connection refused, reset, bad URL...
    Failed { latency_ms: f64 },
}

impl CallOutcome {
    /// A failure for retries, errors and gates: no answer, or a 5xx.
    pub fn is_error(&self) -> bool {
        match self {
            CallOutcome::Answered { status, .. } => *status >= 500,
            _ => true,
        }
    }

    fn reason(&self) -> String {
        match self {
            CallOutcome::Answered { status, .. } => format!("status_{status}"),
            CallOutcome::TimedOut { .. } => "timeout".into(),
            CallOutcome::Failed { .. } => "unreachable".into(),
        }
    }

    /// The outcome events of this call of `variant` for `unit`: a `response` when the variant
    /// answered, an `error` when it failed (both for a 5xx). `shadow` picks the `shadow_*`
    /// types; `id` makes the event ids (`{id}-response`, `{id}-error`).
    pub fn events(
        &self,
        model: &str,
        unit: &str,
        variant: &str,
        shadow: bool,
        id: &str,
        ts: Millis,
    ) -> Vec<OutcomeEvent> {
        let (response, error) = if shadow {
            (SHADOW_RESPONSE, SHADOW_ERROR)
        } else {
            (RESPONSE, ERROR)
        };
        let event = |kind: &str, value: Option<f64>, attrs: &[(&str, String)]| OutcomeEvent {
            id: format!("{id}-{kind}"),
            kind: kind.to_string(),
            unit: unit.to_string(),
            model: model.to_string(),
            value,
            ts,
            attributes: std::iter::once((VARIANT_ATTRIBUTE.to_string(), variant.to_string()))
                .chain(attrs.iter().map(|(k, v)| (k.to_string(), v.clone())))
                .collect(),
        };
        let mut out = Vec::with_capacity(2);
        if let CallOutcome::Answered { status, latency_ms } = self {
            out.push(event(
                response,
                Some(*latency_ms),
                &[("status", status.to_string())],
            ));
        }
        if self.is_error() {
            out.push(event(error, None, &[("reason", self.reason())]));
        }
        out
    }
}

/// The `shadow_diff` event of a compared shadow call: value 1 when the outputs differ, 0 when
/// they are the same (so a `sum` or `count` metric can read it).
pub fn diff_event(
    model: &str,
    unit: &str,
    variant: &str,
    differs: bool,
    id: &str,
    ts: Millis,
) -> OutcomeEvent {
    OutcomeEvent {
        id: format!("{id}-{SHADOW_DIFF}"),
        kind: SHADOW_DIFF.to_string(),
        unit: unit.to_string(),
        model: model.to_string(),
        value: Some(if differs { 1.0 } else { 0.0 }),
        ts,
        attributes: [(VARIANT_ATTRIBUTE.to_string(), variant.to_string())].into(),
    }
}

/// Per model and variant: what the proxy's events say, for calls answered to callers and for
/// shadow copies apart. Folded from the stored events, so it survives restarts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProxySummary {
    models: BTreeMap<String, BTreeMap<String, VariantSummary>>,
}

/// One variant's calls (answered to callers) and shadow calls.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct VariantSummary {
    pub calls: Calls,
    pub shadow: Calls,
    /// Shadow outputs compared with the baseline's, and how many differed.
    pub compared: u64,
    pub differing: u64,
}

/// Counts and latency of one kind of call.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Calls {
    /// Answers received (any status).
    pub responses: u64,
    /// Failures, timeouts and 5xx answers.
    pub errors: u64,
    /// Answers by status class: `2xx`, `4xx`, ...
    pub by_status: BTreeMap<String, u64>,
    #[serde(skip)]
    latency: Histogram,
}

/// Latency quantiles in milliseconds of one kind of call; `None` before the first answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LatencySummary {
    pub p50: Option<f64>,
    pub p90: Option<f64>,
    pub p99: Option<f64>,
    pub max: Option<f64>,
}

impl Calls {
    pub fn latency(&self) -> LatencySummary {
        LatencySummary {
            p50: self.latency.quantile(0.5),
            p90: self.latency.quantile(0.9),
            p99: self.latency.quantile(0.99),
            max: self.latency.max(),
        }
    }
}

impl ProxySummary {
    /// Folds one stored event; events that are not the proxy's are ignored.
    pub fn fold(&mut self, e: &OutcomeEvent) {
        let shadow = match e.kind.as_str() {
            RESPONSE | ERROR => false,
            SHADOW_RESPONSE | SHADOW_ERROR | SHADOW_DIFF => true,
            _ => return,
        };
        // A caller's own `response` or `error` events carry no variant: not the proxy's.
        let Some(variant) = e.attributes.get(VARIANT_ATTRIBUTE) else {
            return;
        };
        let v = self
            .models
            .entry(e.model.clone())
            .or_default()
            .entry(variant.clone())
            .or_default();
        let calls = if shadow { &mut v.shadow } else { &mut v.calls };
        match e.kind.as_str() {
            RESPONSE | SHADOW_RESPONSE => {
                calls.responses += 1;
                if let Some(class) = e.attributes.get("status").and_then(|s| s.get(..1)) {
                    *calls.by_status.entry(format!("{class}xx")).or_default() += 1;
                }
                if let Some(ms) = e.value {
                    // A value the histogram refuses (negative, absurd) is not a latency.
                    let _ = calls.latency.record(ms);
                }
            }
            ERROR | SHADOW_ERROR => calls.errors += 1,
            _ => {
                v.compared += 1;
                if e.value.is_some_and(|d| d != 0.0) {
                    v.differing += 1;
                }
            }
        }
    }

    /// The variants of `model` seen so far, by name.
    pub fn model(&self, model: &str) -> Option<&BTreeMap<String, VariantSummary>> {
        self.models.get(model)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ProxyConfig, UnitKind, Variant};

    fn model(proxy: ProxyConfig) -> Model {
        let variant = |name: &str, endpoint: Option<&str>, timeout: Option<u64>| Variant {
            name: name.into(),
            endpoint: endpoint.map(str::to_string),
            force_units: vec![],
            timeout: timeout.map(Duration::from_millis),
        };
        Model {
            name: "m".into(),
            unit: UnitKind::User,
            variants: vec![
                variant("v1", Some("http://a:1"), None),
                variant("v2", Some("http://b:2/"), Some(250)),
                variant("v3", None, None),
            ],
            baseline: None,
            proxy,
        }
    }

    #[test]
    fn plans_follow_assignment_retry_and_shadow() {
        let m = model(ProxyConfig::default());
        let p = plan_call(&m, "v2");
        assert_eq!(p.primary.variant, "v2");
        assert_eq!(p.primary.timeout, Duration::from_millis(250));
        assert_eq!((p.fallback, p.shadow), (None, None));
        assert_eq!(plan_call(&m, "v3").primary.endpoint, None);

        let m = model(ProxyConfig {
            retry_on_baseline: true,
            ..ProxyConfig::default()
        });
        let p = plan_call(&m, "v2");
        let fallback = p.fallback.clone().expect("a fallback");
        assert_eq!(fallback.variant, "v1");
        assert_eq!(fallback.timeout, Duration::from_secs(5));
        assert!(p.needs_body_copy());
        // The baseline has nothing to fall back on.
        assert_eq!(plan_call(&m, "v1").fallback, None);

        let m = model(ProxyConfig {
            shadow: Some("v2".into()),
            retry_on_baseline: true,
            ..ProxyConfig::default()
        });
        let p = plan_call(&m, "v2");
        assert_eq!(
            p.primary.variant, "v1",
            "the baseline answers in shadow mode"
        );
        assert_eq!(p.shadow.map(|s| s.variant), Some("v2".to_string()));
        assert_eq!(p.fallback, None);
    }

    #[test]
    fn urls_join_endpoint_path_and_query() {
        assert_eq!(
            upstream_url("http://b:2/", "score", Some("x=1")),
            "http://b:2/score?x=1"
        );
        assert_eq!(
            upstream_url("http://b:2/api", "v1/predict", None),
            "http://b:2/api/v1/predict"
        );
        // No path after the model: the endpoint as configured.
        assert_eq!(upstream_url("http://b:2", "", Some("")), "http://b:2");
        assert_eq!(
            upstream_url("http://b:2/api/score", "", None),
            "http://b:2/api/score"
        );
        assert_eq!(
            upstream_url("http://b:2/api/", "", Some("x=1")),
            "http://b:2/api/?x=1"
        );
    }

    #[test]
    fn unit_fields_are_read_by_dotted_path() {
        let body = br#"{"user_id": "u-7", "ctx": {"user": {"id": 42}}, "empty": ""}"#;
        assert_eq!(unit_from_json(body, "user_id").unwrap(), "u-7");
        assert_eq!(unit_from_json(body, "ctx.user.id").unwrap(), "42");
        assert_eq!(
            unit_from_json(body, "ctx.user.name"),
            Err(UnitFieldError::Missing {
                path: "ctx.user.name".into()
            })
        );
        assert!(matches!(
            unit_from_json(body, "ctx"),
            Err(UnitFieldError::NotScalar { .. })
        ));
        assert!(matches!(
            unit_from_json(body, "empty"),
            Err(UnitFieldError::NotScalar { .. })
        ));
        assert!(matches!(
            unit_from_json(b"user_id=1", "user_id"),
            Err(UnitFieldError::NotJson { .. })
        ));
    }

    #[test]
    fn outputs_compare_as_json_or_bytes() {
        assert!(same_output(
            br#"{"a":1,"b":[2]}"#,
            br#"{ "b": [2], "a": 1 }"#
        ));
        assert!(!same_output(br#"{"a":1}"#, br#"{"a":2}"#));
        assert!(same_output(b"plain", b"plain"));
        assert!(!same_output(b"plain", b"plain "));
    }

    #[test]
    fn outcomes_become_events_and_fold_into_the_summary() {
        let ok = CallOutcome::Answered {
            status: 200,
            latency_ms: 12.5,
        };
        let e = ok.events("m", "u", "v2", false, "c1", 1_000);
        assert_eq!(e.len(), 1);
        assert_eq!((e[0].kind.as_str(), e[0].value), (RESPONSE, Some(12.5)));
        assert_eq!(e[0].id, "c1-response");
        assert_eq!(e[0].attributes["status"], "200");
        assert_eq!(e[0].attributes["variant"], "v2");

        let bad = CallOutcome::Answered {
            status: 503,
            latency_ms: 3.0,
        };
        let kinds: Vec<String> = bad
            .events("m", "u", "v2", false, "c2", 1_000)
            .into_iter()
            .map(|e| e.kind)
            .collect();
        assert_eq!(kinds, ["response", "error"]);
        let late =
            CallOutcome::TimedOut { latency_ms: 250.0 }.events("m", "u", "v2", true, "c3", 1);
        assert_eq!(late.len(), 1);
        assert_eq!(late[0].kind, SHADOW_ERROR);
        assert_eq!(late[0].attributes["reason"], "timeout");

        let mut s = ProxySummary::default();
        for ev in ok
            .events("m", "u", "v2", false, "c1", 1)
            .iter()
            .chain(&bad.events("m", "u", "v2", false, "c2", 1))
            .chain(&late)
            .chain([&diff_event("m", "u", "v2", true, "c3", 1)])
            .chain([&diff_event("m", "u", "v2", false, "c4", 1)])
        {
            s.fold(ev);
        }
        // A caller's own `error` event (no variant attribute) is not the proxy's.
        s.fold(&OutcomeEvent {
            id: "x".into(),
            kind: ERROR.into(),
            unit: "u".into(),
            model: "m".into(),
            value: None,
            ts: 1,
            attributes: Default::default(),
        });
        let v = &s.model("m").unwrap()["v2"];
        assert_eq!((v.calls.responses, v.calls.errors), (2, 1));
        assert_eq!(v.calls.by_status["2xx"], 1);
        assert_eq!(v.calls.by_status["5xx"], 1);
        assert_eq!((v.shadow.responses, v.shadow.errors), (0, 1));
        assert_eq!((v.compared, v.differing), (2, 1));
        let max = v.calls.latency().max.unwrap();
        assert!((max - 12.5).abs() < 0.1, "{max}");
    }
}
