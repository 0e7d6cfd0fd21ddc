//! Metrics read from a metrics provider (Prometheus) instead of folded from outcome events: the
//! `{{placeholder}}` templates of their queries, the queries a look needs ([`rollout_queries`],
//! [`experiment_queries`]), and the pure step from [`Readings`] to verdicts.
//!
//! Such a metric is one number per variant, with no per-unit variance, so its checks are plain
//! comparisons without a statistical test: `max`/`min` on the candidate's value, and
//! `compare = "control"` with `max_worsening` on the candidate against the baseline's value. A reading
//! that is missing, failed, empty, several series or not a finite number makes the check
//! inconclusive: it never passes. A failed reading is also a provider error, which the rollout
//! state machine counts toward its consecutive-error limit.
//!
//! The server does the IO: it renders the queries a look needs, runs them, and hands the readings
//! (keyed by the query as sent) to the analysis, which renders the same queries again to find them.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use super::{empty_numbers, fmt_num, fmt_signed, fmt_signed_pct, GateNumbers, Measure, Outcome};
use crate::config::{Gate, Goal, Metric, Worsening};

/// Every placeholder a query may use.
pub const PLACEHOLDERS: &[&str] = &[
    "model",
    "variant",
    "baseline",
    "candidate",
    "rollout",
    "stage",
    "experiment",
];

/// A query template that cannot be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error(
        "unknown placeholder {{{{{name}}}}}; valid placeholders: {}",
        valid_list()
    )]
    Unknown { name: String },
    #[error("`{{{{` at byte {at} is not closed by `}}}}`; placeholders are written {{{{name}}}}, e.g. {{{{variant}}}}")]
    Unclosed { at: usize },
    #[error("placeholder {{{{{name}}}}} has no value in {context}")]
    NoValue { name: String, context: &'static str },
}

fn valid_list() -> String {
    PLACEHOLDERS
        .iter()
        .map(|p| format!("{{{{{p}}}}}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The placeholders of `template`, in order of appearance (repeats kept).
pub fn placeholders(template: &str) -> Result<Vec<String>, TemplateError> {
    let mut out = Vec::new();
    let mut rest = template;
    let mut offset = 0;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            return Err(TemplateError::Unclosed { at: offset + start });
        };
        let name = after[..end].trim();
        if !PLACEHOLDERS.contains(&name) {
            return Err(TemplateError::Unknown {
                name: name.to_string(),
            });
        }
        out.push(name.to_string());
        let consumed = start + 2 + end + 2;
        offset += consumed;
        rest = &rest[consumed..];
    }
    Ok(out)
}

/// The values a query is rendered with. `None` marks a placeholder that has no meaning where the
/// metric is used (`{{experiment}}` in a rollout gate, `{{stage}}` in an experiment).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Context<'a> {
    /// Where the query is used, for errors: "a rollout gate", "an experiment".
    pub used_in: &'static str,
    pub model: &'a str,
    pub variant: &'a str,
    pub baseline: Option<&'a str>,
    pub candidate: Option<&'a str>,
    pub rollout: Option<&'a str>,
    /// 1-based, as `rampart_rollout_stage` reports it.
    pub stage: Option<usize>,
    pub experiment: Option<&'a str>,
}

impl Context<'_> {
    fn value(&self, name: &str) -> Option<String> {
        match name {
            "model" => Some(self.model.to_string()),
            "variant" => Some(self.variant.to_string()),
            "baseline" => self.baseline.map(str::to_string),
            "candidate" => self.candidate.map(str::to_string),
            "rollout" => self.rollout.map(str::to_string),
            "stage" => self.stage.map(|s| s.to_string()),
            "experiment" => self.experiment.map(str::to_string),
            _ => None,
        }
    }
}

/// The placeholders with a value in a rollout gate, and in an experiment.
pub const ROLLOUT_PLACEHOLDERS: &[&str] = &[
    "model",
    "variant",
    "baseline",
    "candidate",
    "rollout",
    "stage",
];
pub const EXPERIMENT_PLACEHOLDERS: &[&str] = &["model", "variant", "baseline", "experiment"];

/// `template` with every placeholder replaced by its value in `ctx`.
pub fn render(template: &str, ctx: &Context<'_>) -> Result<String, TemplateError> {
    placeholders(template)?;
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find("}}").unwrap_or(after.len());
        let name = after[..end].trim();
        let value = ctx.value(name).ok_or_else(|| TemplateError::NoValue {
            name: name.to_string(),
            context: ctx.used_in,
        })?;
        out.push_str(&value);
        rest = after.get(end + 2..).unwrap_or("");
    }
    out.push_str(rest);
    Ok(out)
}

/// What a provider answered to one query.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Reading {
    /// One number (NaN and infinities are kept, and make a check inconclusive).
    Value { value: f64 },
    /// The query ran but gave no single number: no series, several series, or not a number.
    NoValue { reason: String },
    /// The provider failed: unreachable, timed out, an HTTP or query error, an unreadable answer.
    Error { message: String },
}

/// Readings of one look, by the query as sent.
pub type Readings = BTreeMap<String, Reading>;

/// One query a check read, with what came back; kept with the verdict as evidence.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProviderRead {
    /// `candidate` or `control`.
    pub arm: &'static str,
    pub variant: String,
    /// The query as sent; empty when the template could not be rendered.
    pub query: String,
    pub reading: Reading,
}

impl ProviderRead {
    /// The value, when the reading is a finite number.
    pub fn value(&self) -> Option<f64> {
        match self.reading {
            Reading::Value { value } if value.is_finite() => Some(value),
            _ => None,
        }
    }

    /// Why there is no usable value, or `None` when there is one.
    fn problem(&self) -> Option<String> {
        let what = format!("the {} ({})", self.arm, self.variant);
        match &self.reading {
            Reading::Value { value } if value.is_finite() => None,
            Reading::Value { value } => Some(format!("{what} reads {value}, not a finite number")),
            Reading::NoValue { reason } => Some(format!("{what} has no value: {reason}")),
            Reading::Error { message } => Some(format!("{what} could not be read: {message}")),
        }
    }

    /// The provider's failure, if this read failed.
    pub fn error(&self) -> Option<&str> {
        match &self.reading {
            Reading::Error { message } => Some(message),
            _ => None,
        }
    }
}

/// Reads `metric` for `variant` from `readings`: renders the query and looks it up. A query that
/// was not run at this look reads as an error (the look raced a change, or nothing was fetched).
pub fn read(
    metric: &Metric,
    ctx: &Context<'_>,
    arm: &'static str,
    readings: &Readings,
) -> ProviderRead {
    let variant = ctx.variant.to_string();
    let template = metric.query.as_deref().unwrap_or_default();
    match render(template, ctx) {
        Ok(query) => {
            let reading = readings.get(&query).cloned().unwrap_or(Reading::Error {
                message: "the query was not run at this look".to_string(),
            });
            ProviderRead {
                arm,
                variant,
                query,
                reading,
            }
        }
        Err(e) => ProviderRead {
            arm,
            variant,
            query: String::new(),
            reading: Reading::NoValue {
                reason: format!("the query cannot be rendered: {e}"),
            },
        },
    }
}

/// The arms one set of checks reads: the candidate's context, and the control's variant (none
/// when there is no control group).
pub(crate) struct Arms<'a> {
    pub candidate: Context<'a>,
    pub control: Option<&'a str>,
}

/// The verdict of one gate (or experiment limit) on a provider metric.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Assessed {
    pub outcome: Outcome,
    pub message: String,
    pub numbers: GateNumbers,
    pub reads: Vec<ProviderRead>,
}

/// What one check found.
struct Check {
    label: String,
    /// `Ok(true)` passes, `Ok(false)` fails, `Err` is why it cannot tell.
    result: Result<bool, String>,
    numbers: GateNumbers,
    detail: String,
}

/// The checks of `gate` on `metric` (max, min, compare) with the readings of this look. Every
/// check runs on the values as they are: there is no per-unit data to test.
pub(crate) fn assess(
    metric: &Metric,
    gate: &Gate,
    arms: &Arms<'_>,
    readings: &Readings,
    alpha: f64,
) -> Assessed {
    let candidate = read(metric, &arms.candidate, "candidate", readings);
    let mut reads = vec![candidate.clone()];
    let control = match (gate.compare, arms.control) {
        (Some(_), Some(variant)) => {
            let ctx = Context {
                variant,
                ..arms.candidate.clone()
            };
            let r = read(metric, &ctx, "control", readings);
            reads.push(r.clone());
            Some(r)
        }
        _ => None,
    };
    let mut checks = Vec::new();
    for (limit, word) in [(gate.max, "max"), (gate.min, "min")] {
        let Some(limit) = limit else { continue };
        let label = format!("{} {word} {}", metric.name, fmt_num(limit));
        let mut numbers = empty_numbers(alpha);
        numbers.measure = Some(Measure::Value);
        numbers.threshold = Some(limit);
        let (result, detail) = match candidate.value() {
            Some(v) => {
                numbers.estimate = Some(v);
                numbers.candidate_estimate = Some(v);
                let ok = if word == "max" {
                    v <= limit
                } else {
                    v >= limit
                };
                let allowed = if word == "max" {
                    format!("at most {} allowed", fmt_num(limit))
                } else {
                    format!("at least {} required", fmt_num(limit))
                };
                (Ok(ok), format!("candidate {}, {allowed}", fmt_num(v)))
            }
            None => (Err(candidate.problem().unwrap_or_default()), String::new()),
        };
        checks.push(Check {
            label,
            result,
            numbers,
            detail,
        });
    }
    if gate.compare.is_some() {
        let goal = metric.goal();
        let label = format!(
            "{} vs control ({})",
            metric.name,
            match goal {
                Goal::Increase => "higher is better",
                Goal::Decrease => "lower is better",
            }
        );
        let mut numbers = empty_numbers(alpha);
        let (result, detail) = match &control {
            None => (
                Err("compare = \"control\" needs a control group, and there is none".to_string()),
                String::new(),
            ),
            Some(c) => compare(goal, gate, &candidate, c, &mut numbers),
        };
        checks.push(Check {
            label,
            result,
            numbers,
            detail,
        });
    }
    combine(checks, reads, alpha)
}

/// The candidate against the control's value, in the goal's direction, with the gate's tolerance:
/// the same quantities as the statistical comparison (`docs/gates.md`), without the test.
fn compare(
    goal: Goal,
    gate: &Gate,
    candidate: &ProviderRead,
    control: &ProviderRead,
    numbers: &mut GateNumbers,
) -> (Result<bool, String>, String) {
    let (t, c) = match (candidate.value(), control.value()) {
        (Some(t), Some(c)) => (t, c),
        _ => {
            let why = [candidate.problem(), control.problem()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join("; ");
            return (Err(why), String::new());
        }
    };
    numbers.candidate_estimate = Some(t);
    numbers.control_estimate = Some(c);
    let worsening = gate.worsening();
    let amount = worsening.amount();
    let (measure, estimate) = match worsening {
        Worsening::Absolute(_) => (Measure::Difference, t - c),
        Worsening::Relative(_) => {
            if c == 0.0 {
                return (
                    Err("the control's value is 0, so a relative change is undefined (give max_worsening as an amount in the metric's units, e.g. max_worsening = 0.01)".to_string()),
                    String::new(),
                );
            }
            (Measure::RelativeDifference, t / c - 1.0)
        }
    };
    // The change may go the wrong way by at most `amount`; beyond that fails.
    let (limit, ok) = match goal {
        Goal::Increase => (-amount, estimate >= -amount),
        Goal::Decrease => (amount, estimate <= amount),
    };
    numbers.measure = Some(measure);
    numbers.estimate = Some(estimate);
    numbers.threshold = Some(limit);
    let show = |x: f64| match measure {
        Measure::RelativeDifference => fmt_signed_pct(x),
        _ => fmt_signed(x),
    };
    let allowed = super::allowed_worsening(goal, worsening);
    (
        Ok(ok),
        format!(
            "candidate {} vs control {}, change {}, {allowed}",
            fmt_num(t),
            fmt_num(c),
            show(estimate)
        ),
    )
}

/// Fail when any check fails, pass when all pass, else inconclusive; the numbers are those of
/// the deciding check (the first failing one, else the first one not passing).
fn combine(checks: Vec<Check>, reads: Vec<ProviderRead>, alpha: f64) -> Assessed {
    let outcome = if checks.iter().any(|c| c.result == Ok(false)) {
        Outcome::Fail
    } else if !checks.is_empty() && checks.iter().all(|c| c.result == Ok(true)) {
        Outcome::Pass
    } else {
        Outcome::Inconclusive
    };
    let decisive = checks
        .iter()
        .position(|c| c.result == Ok(false))
        .or_else(|| checks.iter().position(|c| c.result != Ok(true)))
        .unwrap_or(0);
    let numbers = checks
        .get(decisive)
        .map_or_else(|| empty_numbers(alpha), |c| c.numbers.clone());
    let message = if checks.is_empty() {
        "the gate has no max, min or compare".to_string()
    } else {
        checks
            .iter()
            .map(|c| match &c.result {
                Ok(true) => format!(
                    "{}: {} (prometheus, no statistical test): pass",
                    c.label, c.detail
                ),
                Ok(false) => format!(
                    "{}: {} (prometheus, no statistical test): fail: beyond the limit",
                    c.label, c.detail
                ),
                Err(why) => format!("{}: inconclusive: {why}", c.label),
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    Assessed {
        outcome,
        message,
        numbers,
        reads,
    }
}

/// The first provider failure among `reads`, as one line, for the consecutive-error limit.
pub fn provider_error<'a>(
    metric: &str,
    reads: impl IntoIterator<Item = &'a ProviderRead>,
) -> Option<String> {
    reads.into_iter().find_map(|r| {
        r.error()
            .map(|e| format!("{metric} ({} {}): {e}", r.arm, r.variant))
    })
}

impl fmt::Display for Reading {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reading::Value { value } => write!(f, "{value}"),
            Reading::NoValue { reason } => write!(f, "no value: {reason}"),
            Reading::Error { message } => write!(f, "error: {message}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Compare, MetricKind};

    fn ctx<'a>(variant: &'a str) -> Context<'a> {
        Context {
            used_in: "a rollout gate",
            model: "recs",
            variant,
            baseline: Some("v1"),
            candidate: Some("v2"),
            rollout: Some("ship"),
            stage: Some(2),
            experiment: None,
        }
    }

    #[test]
    fn templates_render_every_placeholder_and_name_unknown_ones() {
        let q = r#"rate(x{app="{{model}}",version="{{ variant }}",r="{{rollout}}",s="{{stage}}"}[1m]) / {{baseline}}{{candidate}}"#;
        assert_eq!(
            render(q, &ctx("v2")).unwrap(),
            r#"rate(x{app="recs",version="v2",r="ship",s="2"}[1m]) / v1v2"#
        );
        assert_eq!(render("up", &ctx("v2")).unwrap(), "up");
        let err = render("x{v=\"{{versoin}}\"}", &ctx("v2")).unwrap_err();
        assert_eq!(
            err,
            TemplateError::Unknown {
                name: "versoin".into()
            }
        );
        let text = err.to_string();
        assert!(text.contains("{{versoin}}"), "{text}");
        assert!(
            text.contains("{{model}}, {{variant}}, {{baseline}}"),
            "{text}"
        );
        assert_eq!(
            placeholders("a{{model}}b{{model"),
            Err(TemplateError::Unclosed { at: 11 })
        );
        let none = render("{{experiment}}", &ctx("v2")).unwrap_err();
        assert_eq!(
            none.to_string(),
            "placeholder {{experiment}} has no value in a rollout gate"
        );
        assert_eq!(
            placeholders("{{model}} {{variant}} {{model}}").unwrap(),
            ["model", "variant", "model"]
        );
    }

    fn metric(goal: Goal) -> Metric {
        Metric {
            name: "p99".into(),
            kind: MetricKind::Prometheus,
            event: None,
            numerator: None,
            denominator: None,
            window: None,
            maturity: None,
            goal: Some(goal),
            query: Some("q{v=\"{{variant}}\"}".into()),
        }
    }

    fn gate(max: Option<f64>, min: Option<f64>, compare: bool, worse: Option<f64>) -> Gate {
        Gate {
            metric: "p99".into(),
            max,
            min,
            quantile: None,
            compare: compare.then_some(Compare::Control),
            max_worsening: worse.map(Worsening::Relative),
            alpha: None,
        }
    }

    fn readings(pairs: &[(&str, Reading)]) -> Readings {
        pairs
            .iter()
            .map(|(v, r)| (format!("q{{v=\"{v}\"}}"), r.clone()))
            .collect()
    }

    fn value(v: f64) -> Reading {
        Reading::Value { value: v }
    }

    fn run(metric: &Metric, gate: &Gate, readings: &Readings) -> Assessed {
        let arms = Arms {
            candidate: ctx("v2"),
            control: Some("v1"),
        };
        assess(metric, gate, &arms, readings, 0.05)
    }

    #[test]
    fn max_and_min_compare_the_candidates_value_with_the_limit() {
        let m = metric(Goal::Decrease);
        let g = gate(Some(0.25), Some(0.01), false, None);
        let pass = run(&m, &g, &readings(&[("v2", value(0.2))]));
        assert_eq!(pass.outcome, Outcome::Pass, "{}", pass.message);
        assert_eq!(pass.numbers.estimate, Some(0.2));
        assert_eq!(pass.numbers.threshold, Some(0.25));
        assert_eq!(pass.reads.len(), 1);
        assert_eq!(pass.reads[0].query, "q{v=\"v2\"}");
        // The limit itself is allowed: "at most".
        assert_eq!(
            run(&m, &g, &readings(&[("v2", value(0.25))])).outcome,
            Outcome::Pass
        );
        let high = run(&m, &g, &readings(&[("v2", value(0.31))]));
        assert_eq!(high.outcome, Outcome::Fail);
        assert_eq!(high.numbers.estimate, Some(0.31));
        assert_eq!(high.numbers.threshold, Some(0.25));
        assert!(
            high.message
                .contains("candidate 0.31, at most 0.25 allowed"),
            "{}",
            high.message
        );
        let low = run(&m, &g, &readings(&[("v2", value(0.001))]));
        assert_eq!(low.outcome, Outcome::Fail);
        assert_eq!(
            low.numbers.threshold,
            Some(0.01),
            "the failing check decides"
        );
    }

    #[test]
    fn errors_empty_results_and_nan_are_inconclusive_never_pass() {
        let m = metric(Goal::Decrease);
        let g = gate(Some(0.25), None, false, None);
        let cases = [
            Reading::Error {
                message: "connection refused".into(),
            },
            Reading::NoValue {
                reason: "the query returned no series".into(),
            },
            value(f64::NAN),
            value(f64::INFINITY),
        ];
        for r in cases {
            let a = run(&m, &g, &readings(&[("v2", r.clone())]));
            assert_eq!(a.outcome, Outcome::Inconclusive, "{r:?}");
            assert_eq!(a.numbers.estimate, None, "{r:?}");
            assert!(a.message.contains("inconclusive"), "{}", a.message);
        }
        // A query that was not run at this look counts as a provider error.
        let missing = run(&m, &g, &Readings::new());
        assert_eq!(missing.outcome, Outcome::Inconclusive);
        assert!(provider_error("p99", &missing.reads).is_some());
        let failed = run(
            &m,
            &g,
            &readings(&[(
                "v2",
                Reading::Error {
                    message: "timed out".into(),
                },
            )]),
        );
        assert_eq!(
            provider_error("p99", &failed.reads).as_deref(),
            Some("p99 (candidate v2): timed out")
        );
        let empty = run(
            &m,
            &g,
            &readings(&[(
                "v2",
                Reading::NoValue {
                    reason: "no series".into(),
                },
            )]),
        );
        assert_eq!(
            provider_error("p99", &empty.reads),
            None,
            "no data is not a failure"
        );
    }

    #[test]
    fn compare_with_control_follows_the_goal_and_the_tolerance() {
        // Lower is better: the candidate may be 10% above the control.
        let down = metric(Goal::Decrease);
        let g = gate(None, None, true, Some(10.0));
        let ok = run(
            &down,
            &g,
            &readings(&[("v2", value(1.05)), ("v1", value(1.0))]),
        );
        assert_eq!(ok.outcome, Outcome::Pass, "{}", ok.message);
        assert!(
            ok.message
                .contains("at most +10% higher than the control allowed"),
            "{}",
            ok.message
        );
        assert_eq!(ok.numbers.measure, Some(Measure::RelativeDifference));
        assert!((ok.numbers.estimate.unwrap() - 0.05).abs() < 1e-12);
        assert!((ok.numbers.threshold.unwrap() - 0.1).abs() < 1e-12);
        assert_eq!(ok.numbers.control_estimate, Some(1.0));
        assert_eq!(ok.reads.len(), 2);
        assert_eq!(ok.reads[1].query, "q{v=\"v1\"}");
        let bad = run(
            &down,
            &g,
            &readings(&[("v2", value(1.2)), ("v1", value(1.0))]),
        );
        assert_eq!(bad.outcome, Outcome::Fail, "{}", bad.message);
        // Higher is better: the candidate may be 10% below the control.
        let up = metric(Goal::Increase);
        assert_eq!(
            run(
                &up,
                &g,
                &readings(&[("v2", value(0.95)), ("v1", value(1.0))])
            )
            .outcome,
            Outcome::Pass
        );
        let worse = run(
            &up,
            &g,
            &readings(&[("v2", value(0.85)), ("v1", value(1.0))]),
        );
        assert_eq!(worse.outcome, Outcome::Fail);
        assert!((worse.numbers.threshold.unwrap() + 0.1).abs() < 1e-12);
        assert!(
            worse
                .message
                .contains("at most 10% lower than the control allowed"),
            "{}",
            worse.message
        );
        // No tolerance: anything worse than the control fails, equal passes.
        let strict = gate(None, None, true, None);
        assert_eq!(
            run(
                &up,
                &strict,
                &readings(&[("v2", value(1.0)), ("v1", value(1.0))])
            )
            .outcome,
            Outcome::Pass
        );
        assert_eq!(
            run(
                &down,
                &strict,
                &readings(&[("v2", value(1.01)), ("v1", value(1.0))])
            )
            .outcome,
            Outcome::Fail
        );
        // Absolute tolerances are in the metric's units.
        let mut abs = gate(None, None, true, None);
        abs.max_worsening = Some(Worsening::Absolute(0.05));
        let a = run(
            &down,
            &abs,
            &readings(&[("v2", value(0.34)), ("v1", value(0.3))]),
        );
        assert_eq!(a.outcome, Outcome::Pass);
        assert_eq!(a.numbers.measure, Some(Measure::Difference));
        assert_eq!(
            run(
                &down,
                &abs,
                &readings(&[("v2", value(0.36)), ("v1", value(0.3))])
            )
            .outcome,
            Outcome::Fail
        );
        // A missing control value, or a zero one for a relative tolerance, is inconclusive.
        let no_control = run(&down, &g, &readings(&[("v2", value(1.0))]));
        assert_eq!(no_control.outcome, Outcome::Inconclusive);
        let zero = run(
            &down,
            &g,
            &readings(&[("v2", value(1.0)), ("v1", value(0.0))]),
        );
        assert_eq!(zero.outcome, Outcome::Inconclusive);
        assert!(
            zero.message.contains("max_worsening = 0.01"),
            "{}",
            zero.message
        );
    }

    #[test]
    fn a_failing_check_outweighs_an_inconclusive_one() {
        let m = metric(Goal::Decrease);
        let g = gate(Some(0.5), None, true, Some(10.0));
        let a = run(
            &m,
            &g,
            &readings(&[("v2", value(0.9)), ("v1", value(f64::NAN))]),
        );
        assert_eq!(a.outcome, Outcome::Fail);
        assert_eq!(a.numbers.measure, Some(Measure::Value));
    }
}
