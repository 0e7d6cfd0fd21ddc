//! `rampart experiment status|start|stop` and `rampart report`: the verbs of split experiments
//! and their reports, sent to a running server. A report is a table per metric for people, the
//! report's JSON for scripts, or a Markdown experiment record (the design as pre-registered, the
//! timeline of decisions, the results and the outcome) to file after a deployment. For a rollout
//! name, `report` prints the rollout with its gates' last verdicts; for a holdout name, the
//! holdout against the exposed units of each model, metric by metric.

use clap::{Subcommand, ValueEnum};
use serde_json::{json, Value};

use crate::client::{actor, encode, Target};
use crate::exit::{out, outln, Failure};
use crate::rollouts::{self, RolloutVerb};
use crate::table::{self, cell};

#[derive(Subcommand, Debug, Clone)]
pub enum ExperimentVerb {
    /// Show one experiment: status, outcome and the latest verdict.
    Status { name: String },
    /// Start an experiment configured with autostart = false; its plan is recorded.
    Start { name: String },
    /// Stop a running experiment now, without a winner.
    Stop { name: String },
}

/// How `rampart report` prints an experiment.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReportFormat {
    /// Aligned tables for a terminal.
    #[default]
    Table,
    /// An experiment record in Markdown.
    Markdown,
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

pub fn experiment(
    target: &Target,
    verb: &ExperimentVerb,
    reason: Option<&str>,
    json: bool,
) -> Result<(), Failure> {
    let body = match verb {
        ExperimentVerb::Status { name } => target.get(&format!("/v1/experiments/{name}"))?,
        ExperimentVerb::Start { name } | ExperimentVerb::Stop { name } => {
            let command = if matches!(verb, ExperimentVerb::Start { .. }) {
                "start"
            } else {
                "stop"
            };
            target.post(
                &format!("/v1/experiments/{name}/{command}"),
                &json!({ "reason": reason.unwrap_or_default(), "actor": actor() }),
            )?
        }
    };
    if json {
        outln!("{}", pretty(&body));
    } else {
        out!("{}", header(&body));
        if let Some(v) = verdict_text(&body["verdict"]) {
            outln!("verdict: {v}");
        }
    }
    Ok(())
}

pub fn report(
    target: &Target,
    name: &str,
    format: ReportFormat,
    json: bool,
) -> Result<(), Failure> {
    let status = target.get("/v1/status")?;
    let named = |key: &str| {
        status[key]
            .as_array()
            .is_some_and(|all| all.iter().any(|e| e["name"] == name))
    };
    if !named("experiments") {
        if named("rollouts") {
            if format == ReportFormat::Markdown {
                return Err(Failure::from(format!(
                    "{name:?} is a rollout; the Markdown record is for experiments (use --json or the table)"
                )));
            }
            let verb = RolloutVerb::Status {
                name: name.to_string(),
                watch: false,
                timeout: None,
                interval: rampart_core::config::Duration::from_secs(1),
            };
            // A report is read, whatever the rollout's state: only `rollout status` exits by it.
            return rollouts::rollout(target, &verb, None, json).map(|_| ());
        }
        if named("holdouts") {
            if format == ReportFormat::Markdown {
                return Err(Failure::from(format!(
                    "{name:?} is a holdout; the Markdown record is for experiments (use --json or the table)"
                )));
            }
            return holdout(target, name, json);
        }
        return Err(Failure::from(format!(
            "no experiment, rollout or holdout {name:?} on the server"
        )));
    }
    let body = target.get(&format!("/v1/experiments/{name}"))?;
    if body["report"].is_null() {
        return Err(Failure::from(format!(
            "experiment {name:?} has no report: it is {}; start it first",
            cell(&body["status"])
        )));
    }
    if json {
        outln!("{}", pretty(&body["report"]));
        return Ok(());
    }
    match format {
        ReportFormat::Table => print_report(&body),
        ReportFormat::Markdown => {
            let mut timeline = decisions(target, name)?;
            if let Some(rollout) = body["on_winner"].as_str() {
                let by_me = format!("experiment:{name}");
                timeline.extend(
                    decisions(target, rollout)?
                        .into_iter()
                        .filter(|d| d["actor"] == by_me.as_str()),
                );
                timeline.sort_by_key(|d| (d["ts"].as_i64(), d["id"].as_i64()));
            }
            out!("{}", markdown(&body, &timeline));
        }
    }
    Ok(())
}

const HOLDOUT_COLUMNS: [&str; 8] = [
    "model",
    "holdout",
    "exposed",
    "n holdout",
    "n exposed",
    "lift",
    "relative lift",
    "p",
];

/// `rampart report HOLDOUT`: per metric, the holdout against the exposed units of each model.
fn holdout(target: &Target, name: &str, json: bool) -> Result<(), Failure> {
    let body = target.get(&format!("/v1/holdouts/{}", encode(name)))?;
    let report = &body["report"];
    if json {
        outln!("{}", pretty(report));
        return Ok(());
    }
    outln!(
        "holdout {} ({}% of units, models: {}); {} units held out",
        cell(&report["holdout"]),
        cell(&report["percent"]),
        list(&report["models"]),
        cell(&report["holdout_units"])
    );
    outln!(
        "report of {}; lift = exposed − holdout, two-sided {} intervals",
        time(&report["at"]),
        report["alpha"]
            .as_f64()
            .map_or("-".to_string(), |a| format!("{:.0}%", (1.0 - a) * 100.0))
    );
    let sources: Vec<String> = report["sources"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|x| {
            format!(
                "{}/{} {} ({} units)",
                cell(&x["model"]),
                cell(&x["kind"]),
                cell(&x["name"]),
                cell(&x["units"])
            )
        })
        .collect();
    if !sources.is_empty() {
        outln!("exposed units from: {}", sources.join(", "));
    }
    let all: Vec<&Value> = report["comparisons"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    let mut metrics: Vec<&str> = Vec::new();
    for c in &all {
        let m = c["metric"].as_str().unwrap_or_default();
        if !metrics.contains(&m) {
            metrics.push(m);
        }
    }
    for metric in metrics {
        let rows: Vec<&&Value> = all.iter().filter(|c| c["metric"] == metric).collect();
        outln!(
            "\n{metric} ({}, goal {})",
            cell(&rows[0]["kind"]),
            cell(&rows[0]["goal"])
        );
        table::print(
            &HOLDOUT_COLUMNS,
            rows.iter().map(|c| {
                vec![
                    cell(&c["model"]),
                    num(&c["holdout_value"]),
                    num(&c["exposed_value"]),
                    cell(&c["holdout_n"]),
                    cell(&c["exposed_n"]),
                    lift(&c["absolute_lift"], false),
                    lift(&c["relative_lift"], true),
                    pval(&c["p_value"]),
                ]
            }),
        );
        for c in &rows {
            if let Some(why) = c["not_enough_data"].as_str() {
                outln!("{}: {why}", cell(&c["model"]));
            }
        }
    }
    for n in report["notes"].as_array().into_iter().flatten() {
        outln!("note: {}", cell(n));
    }
    Ok(())
}

fn decisions(target: &Target, entity: &str) -> Result<Vec<Value>, Failure> {
    let body = target.get(&format!(
        "/v1/decisions?limit=100000&entity={}",
        encode(entity)
    ))?;
    Ok(body["decisions"].as_array().cloned().unwrap_or_default())
}

/// A number with four decimals; `-` when absent.
pub fn num(v: &Value) -> String {
    v.as_f64().map_or("-".to_string(), |x| format!("{x:.4}"))
}

/// A p-value: four decimals, or two significant digits in scientific notation below 0.0001.
pub fn pval(v: &Value) -> String {
    match v.as_f64() {
        Some(p) if p > 0.0 && p < 1e-4 => format!("{p:.2e}"),
        Some(p) => format!("{p:.4}"),
        None => "-".to_string(),
    }
}

/// A lift with its interval: `+0.1000 [+0.0500, +0.1500]`, or in percent for relative lifts.
pub fn lift(v: &Value, percent: bool) -> String {
    let part = |x: &Value| {
        x.as_f64().map_or("?".to_string(), |x| {
            if percent {
                format!("{:+.2}%", x * 100.0)
            } else {
                format!("{x:+.4}")
            }
        })
    };
    if v.is_null() {
        return "-".to_string();
    }
    format!(
        "{} [{}, {}]",
        part(&v["estimate"]),
        part(&v["lower"]),
        part(&v["upper"])
    )
}

fn time(v: &Value) -> String {
    v.as_i64()
        .map_or("-".to_string(), |ms| format!("{} UTC", table::time(ms)))
}

fn list(v: &Value) -> String {
    let items: Vec<String> = v.as_array().into_iter().flatten().map(cell).collect();
    if items.is_empty() {
        "-".to_string()
    } else {
        items.join(", ")
    }
}

/// What a verdict says, in words; `None` when there is none.
pub fn verdict_text(v: &Value) -> Option<String> {
    let text = match v["verdict"].as_str()? {
        "not-yet" => format!("not yet: {}", cell(&v["reason"])),
        "winner" => format!("winner {}", cell(&v["variant"])),
        "no-difference" => "no difference".to_string(),
        "guardrail-breach" => format!(
            "guardrail breach: {} harms {}",
            cell(&v["variant"]),
            cell(&v["metric"])
        ),
        "max-duration" => "maximum duration reached".to_string(),
        other => other.to_string(),
    };
    Some(text)
}

fn header(e: &Value) -> String {
    let mut out = format!(
        "experiment {} of {}: {} design, control {}, variants {}\nstatus {}   started {}   stopped {}   winner {}\n",
        cell(&e["name"]),
        cell(&e["model"]),
        cell(&e["design"]),
        cell(&e["control"]),
        list(&e["variants"]),
        cell(&e["status"]),
        time(&e["started_at"]),
        time(&e["stopped_at"]),
        cell(&e["winner"]),
    );
    if let Some(reason) = e["reason"].as_str() {
        out.push_str(&format!("why: {reason}\n"));
    }
    out
}

/// The comparisons of one metric, in report order.
fn by_metric(report: &Value) -> Vec<(String, Vec<&Value>)> {
    let mut out: Vec<(String, Vec<&Value>)> = Vec::new();
    for c in report["metrics"].as_array().into_iter().flatten() {
        let m = cell(&c["metric"]);
        match out.iter_mut().find(|(n, _)| *n == m) {
            Some((_, cs)) => cs.push(c),
            None => out.push((m, vec![c])),
        }
    }
    out
}

fn units(report: &Value) -> String {
    report["arms"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| format!("{} {}", cell(&a["variant"]), cell(&a["units"])))
        .collect::<Vec<_>>()
        .join(", ")
}

fn sample_size(report: &Value) -> Option<String> {
    let plan = &report["sample_size"];
    if plan.is_null() {
        return None;
    }
    if let Some(why) = plan["not_enough_data"].as_str() {
        return Some(format!("sample size: {why}"));
    }
    let arms: Vec<String> = plan["arms"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            format!(
                "{} {}/{}",
                cell(&a["variant"]),
                cell(&a["observed"]),
                cell(&a["required"])
            )
        })
        .collect();
    Some(format!(
        "sample size for mde {}: {:.0}% of the plan ({})",
        cell(&plan["mde"]),
        plan["progress"].as_f64().unwrap_or(0.0) * 100.0,
        arms.join(", ")
    ))
}

const COLUMNS: [&str; 10] = [
    "VARIANT",
    "CONTROL",
    "VALUE",
    "ABS LIFT [CI]",
    "REL LIFT [CI]",
    "P",
    "ADJ P",
    "ALWAYS-VALID P",
    "ADJ ALWAYS-VALID P",
    "P(BEAT CONTROL)",
];

/// The results table of the Markdown record: the metric and its role, then `COLUMNS`.
const MD_COLUMNS: [&str; 12] = [
    "metric",
    "role",
    "variant",
    "control",
    "value",
    "abs lift [CI]",
    "rel lift [CI]",
    "p",
    "adj p",
    "always-valid p",
    "adj always-valid p",
    "P(beat control)",
];

/// The numbers of one comparison, in `COLUMNS` order.
fn row(c: &Value) -> Vec<String> {
    vec![
        cell(&c["variant"]),
        num(&c["control_value"]),
        num(&c["variant_value"]),
        lift(&c["absolute_lift"], false),
        lift(&c["relative_lift"], true),
        pval(&c["p_value"]),
        pval(&c["adjusted_p_value"]),
        pval(&c["always_valid_p_value"]),
        pval(&c["adjusted_always_valid_p_value"]),
        num(&c["prob_beat_control"]),
    ]
}

/// Columns added when a comparison has a CUPED-adjusted lift.
const CUPED_COLUMNS: [&str; 3] = ["CUPED ABS LIFT [CI]", "CUPED P", "VAR REDUCTION"];

/// The CUPED numbers of one comparison, in `CUPED_COLUMNS` order; `-` when it has none.
fn cuped_cells(c: &Value) -> Vec<String> {
    let cuped = &c["cuped"];
    let reduction = cuped["variance_reduction"]
        .as_f64()
        .map_or("-".to_string(), |r| format!("{:.1}%", r * 100.0));
    vec![
        lift(&cuped["absolute_lift"], false),
        pval(&cuped["p_value"]),
        reduction,
    ]
}

fn has_cuped<'a>(mut comparisons: impl Iterator<Item = &'a Value>) -> bool {
    comparisons.any(|c| c["cuped"].is_object())
}

fn print_report(e: &Value) {
    let report = &e["report"];
    out!("{}", header(e));
    outln!(
        "report of {} ({} rule, alpha {}, {} correction); units: {}",
        time(&report["at"]),
        cell(&report["rule"]),
        cell(&report["alpha"]),
        cell(&report["correction"]),
        units(report)
    );
    for (metric, comparisons) in by_metric(report) {
        let first = comparisons[0];
        outln!(
            "\n{metric} ({}, {}, goal {})",
            cell(&first["role"]),
            cell(&first["kind"]),
            cell(&first["goal"])
        );
        if has_cuped(comparisons.iter().copied()) {
            let columns: Vec<&str> = COLUMNS.iter().chain(&CUPED_COLUMNS).copied().collect();
            let rows = comparisons.iter().map(|c| {
                let mut r = row(c);
                r.extend(cuped_cells(c));
                r
            });
            table::print(&columns, rows);
        } else {
            table::print(&COLUMNS, comparisons.iter().map(|c| row(c)));
        }
        for c in &comparisons {
            if let Some(why) = c["not_enough_data"].as_str() {
                outln!("{}: {why}", cell(&c["variant"]));
            }
        }
    }
    outln!("\nSRM: {}", cell(&report["srm"]["message"]));
    if let Some(s) = sample_size(report) {
        outln!("{s}");
    }
    for f in report["flags"].as_array().into_iter().flatten() {
        outln!("segment: {}", cell(&f["message"]));
    }
    for n in report["notes"].as_array().into_iter().flatten() {
        outln!("note: {}", cell(n));
    }
    match verdict_text(&e["verdict"]) {
        Some(v) => outln!("verdict: {v}"),
        None => outln!("verdict: - ({})", cell(&e["status"])),
    }
}

/// A Markdown table cell: pipes escaped, line breaks flattened.
fn md(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

fn md_table(out: &mut String, headers: &[&str], rows: &[Vec<String>]) {
    out.push_str(&format!("| {} |\n", headers.join(" | ")));
    out.push_str(&format!("|{}\n", " --- |".repeat(headers.len())));
    for r in rows {
        let cells: Vec<String> = r.iter().map(|c| md(c)).collect();
        out.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
}

/// The experiment record: design as pre-registered, timeline, results, outcome.
pub fn markdown(e: &Value, timeline: &[Value]) -> String {
    let report = &e["report"];
    let plan = if e["preregistration"].is_null() {
        // A state stored before plans were recorded: the configuration stands in.
        json!({
            "design": e["design"], "variants": e["variants"], "weights": e["weights"],
            "primary": e["primary"], "secondary": e["secondary"], "guardrails": e["guardrails"],
            "alpha": e["stopping"]["alpha"], "power": e["stopping"]["power"],
            "mde": e["stopping"]["mde"], "rule": e["stopping"]["rule"],
            "max_duration": e["stopping"]["max_duration"], "correction": e["correction"],
        })
    } else {
        e["preregistration"].clone()
    };
    let mut out = format!("# Experiment record: {}\n\n", cell(&e["name"]));
    out.push_str(&format!(
        "Model `{}`; control `{}`. Status **{}**; started {}; stopped {}.\n\n",
        cell(&e["model"]),
        cell(&e["control"]),
        cell(&e["status"]),
        time(&e["started_at"]),
        time(&e["stopped_at"]),
    ));

    out.push_str("## Design as pre-registered\n\n");
    let split = plan["weights"]
        .as_array()
        .map(|w| {
            w.iter()
                .map(|x| format!("{:.2}%", x.as_f64().unwrap_or(0.0) * 100.0))
                .collect::<Vec<_>>()
                .join(" / ")
        })
        .unwrap_or_else(|| "equal".to_string());
    let none = |v: &Value| {
        if v.is_null() {
            "none".to_string()
        } else {
            cell(v)
        }
    };
    let items = vec![
        vec!["design".to_string(), cell(&plan["design"])],
        vec![
            "variants (first is the control)".to_string(),
            list(&plan["variants"]),
        ],
        vec!["split".to_string(), split],
        vec!["primary metric".to_string(), cell(&plan["primary"])],
        vec!["secondary metrics".to_string(), list(&plan["secondary"])],
        vec!["guardrails".to_string(), list(&plan["guardrails"])],
        vec!["stopping rule".to_string(), cell(&plan["rule"])],
        vec!["alpha".to_string(), cell(&plan["alpha"])],
        vec!["power".to_string(), cell(&plan["power"])],
        vec!["minimum detectable effect".to_string(), none(&plan["mde"])],
        vec!["maximum duration".to_string(), none(&plan["max_duration"])],
        vec!["correction".to_string(), cell(&plan["correction"])],
        vec![
            "winner hands off to rollout".to_string(),
            none(&e["on_winner"]),
        ],
    ];
    md_table(&mut out, &["item", "value"], &items);

    out.push_str("\n## Timeline\n\n");
    let rows: Vec<Vec<String>> = timeline
        .iter()
        .map(|d| {
            vec![
                time(&d["ts"]),
                cell(&d["entity"]),
                cell(&d["action"]),
                format!("{} → {}", cell(&d["from_state"]), cell(&d["to_state"])),
                cell(&d["actor"]),
                cell(&d["reason"]),
            ]
        })
        .collect();
    if rows.is_empty() {
        out.push_str("No decision logged.\n");
    } else {
        md_table(
            &mut out,
            &["time", "entity", "decision", "state", "actor", "reason"],
            &rows,
        );
    }

    out.push_str("\n## Results\n\n");
    out.push_str(&format!(
        "As of {}, {} rule at alpha {}, p-values adjusted by {}. Units: {}.\n\n",
        time(&report["at"]),
        cell(&report["rule"]),
        cell(&report["alpha"]),
        cell(&report["correction"]),
        units(report)
    ));
    out.push_str(&format!(
        "Sample ratio: {}.\n\n",
        cell(&report["srm"]["message"])
    ));
    if let Some(s) = sample_size(report) {
        out.push_str(&format!("{}.\n\n", s[..1].to_uppercase() + &s[1..]));
    }
    let cuped = has_cuped(report["metrics"].as_array().into_iter().flatten());
    let rows: Vec<Vec<String>> = report["metrics"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            let mut r = vec![cell(&c["metric"]), cell(&c["role"])];
            r.extend(row(c));
            if cuped {
                r.extend(cuped_cells(c));
            }
            r
        })
        .collect();
    let mut headers = MD_COLUMNS.to_vec();
    if cuped {
        headers.extend(["CUPED abs lift [CI]", "CUPED p", "variance reduction"]);
    }
    md_table(&mut out, &headers, &rows);
    let notes: Vec<String> = report["metrics"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| {
            let why = c["not_enough_data"].as_str()?;
            Some(format!(
                "- {} / {}: {why}\n",
                cell(&c["metric"]),
                cell(&c["variant"])
            ))
        })
        .chain(
            report["flags"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|f| format!("- segment: {}\n", cell(&f["message"]))),
        )
        .chain(
            report["notes"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|n| format!("- {}\n", cell(n))),
        )
        .collect();
    if !notes.is_empty() {
        out.push('\n');
        out.push_str(&notes.concat());
    }

    out.push_str("\n## Outcome\n\n");
    let outcome = match (e["status"].as_str(), e["winner"].as_str()) {
        (Some("stopped"), Some(w)) => format!("Winner: **{w}**."),
        (Some("stopped"), None) => "Stopped without a winner.".to_string(),
        _ => "Still running: no outcome yet.".to_string(),
    };
    out.push_str(&outcome);
    if let Some(reason) = e["reason"].as_str() {
        out.push_str(&format!(" Reason: {reason}."));
    }
    if let Some(v) = verdict_text(&e["verdict"]) {
        out.push_str(&format!("\n\nLast verdict: {v}."));
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_print_with_fixed_precision() {
        assert_eq!(num(&json!(0.2)), "0.2000");
        assert_eq!(num(&Value::Null), "-");
        assert_eq!(pval(&json!(0.04567)), "0.0457");
        assert_eq!(pval(&json!(0.0000123)), "1.23e-5");
        assert_eq!(pval(&json!(0.0)), "0.0000");
        let l = json!({"estimate": 0.1, "lower": 0.05, "upper": 0.15});
        assert_eq!(lift(&l, false), "+0.1000 [+0.0500, +0.1500]");
        let r = json!({"estimate": 0.5, "lower": -0.2, "upper": 1.2});
        assert_eq!(lift(&r, true), "+50.00% [-20.00%, +120.00%]");
        assert_eq!(lift(&Value::Null, true), "-");
    }

    #[test]
    fn cuped_columns_only_when_present() {
        let with = json!({"variant": "v2", "cuped": {
            "absolute_lift": {"estimate": 0.1, "lower": 0.05, "upper": 0.15},
            "p_value": 0.0012, "variance_reduction": 0.4567, "theta": 0.8}});
        assert_eq!(
            cuped_cells(&with),
            vec!["+0.1000 [+0.0500, +0.1500]", "0.0012", "45.7%"]
        );
        let without = json!({"variant": "v3"});
        assert_eq!(cuped_cells(&without), vec!["-", "-", "-"]);
        assert!(has_cuped([&without, &with].into_iter()));
        assert!(!has_cuped([&without].into_iter()));
    }

    #[test]
    fn verdicts_read_as_words() {
        let v = json!({"verdict": "winner", "variant": "v2"});
        assert_eq!(verdict_text(&v).as_deref(), Some("winner v2"));
        let v = json!({"verdict": "not-yet", "reason": "blocked: srm"});
        assert_eq!(verdict_text(&v).as_deref(), Some("not yet: blocked: srm"));
        assert_eq!(verdict_text(&Value::Null), None);
    }

    #[test]
    fn the_record_escapes_pipes_and_lists_the_plan() {
        let e = json!({
            "name": "bakeoff", "model": "recs", "control": "v1", "status": "stopped",
            "winner": "v2", "reason": "winner: v2 | clear", "on_winner": "ship",
            "preregistration": {"design": "split", "variants": ["v1", "v2"], "weights": [0.5, 0.5],
                "primary": "conversion", "secondary": [], "guardrails": [], "alpha": 0.05,
                "power": 0.8, "mde": null, "rule": "sequential", "max_duration": null,
                "correction": "holm"},
            "report": {"at": 0, "rule": "sequential", "alpha": 0.05, "correction": "holm",
                "arms": [{"variant": "v1", "units": 10}, {"variant": "v2", "units": 12}],
                "srm": {"message": "units 10/12 match"},
                "metrics": [{"metric": "conversion", "role": "primary", "variant": "v2",
                    "control_value": 0.2, "variant_value": 0.3, "p_value": 0.01}]},
            "verdict": null,
        });
        let d = json!({"ts": 0, "entity": "bakeoff", "action": "winner", "from_state": "running",
            "to_state": "stopped (winner v2)", "actor": "controller", "reason": "a | b"});
        let text = markdown(&e, &[d]);
        assert!(text.contains("| split | 50.00% / 50.00% |"), "{text}");
        assert!(
            text.contains("| minimum detectable effect | none |"),
            "{text}"
        );
        assert!(
            text.contains("| winner hands off to rollout | ship |"),
            "{text}"
        );
        assert!(text.contains("| a \\| b |"), "{text}");
        assert!(
            text.contains("| conversion | primary | v2 | 0.2000 | 0.3000 | - | - | 0.0100 |"),
            "{text}"
        );
        assert!(text.contains("Units: v1 10, v2 12."), "{text}");
        assert!(
            text.contains("Winner: **v2**. Reason: winner: v2 | clear."),
            "{text}"
        );
    }
}
