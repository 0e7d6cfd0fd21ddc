//! `rampart rollout …`, `rampart log` and `rampart kill`: the control verbs of staged rollouts,
//! sent to a running server.

use clap::Subcommand;
use serde_json::{json, Value};

use crate::client::{actor, encode, Target};
use crate::table::{self, cell};

#[derive(Subcommand, Debug, Clone)]
pub enum RolloutVerb {
    /// Show one rollout: stage, traffic, gates and their last verdicts.
    Status {
        name: String,
    },
    /// Start a rollout configured with autostart = false (or restart a rolled-back one).
    Start {
        name: String,
    },
    /// Let a stage that waits for approval advance.
    Approve {
        name: String,
    },
    Pause {
        name: String,
    },
    Resume {
        name: String,
    },
    /// Skip the rest of the current stage.
    Promote {
        name: String,
    },
    /// Send every unit back to the baseline now.
    Rollback {
        name: String,
    },
    /// Stop the rollout for good: the baseline for everyone.
    Abort {
        name: String,
    },
}

impl RolloutVerb {
    fn parts(&self) -> (&'static str, &str) {
        match self {
            RolloutVerb::Status { name } => ("status", name),
            RolloutVerb::Start { name } => ("start", name),
            RolloutVerb::Approve { name } => ("approve", name),
            RolloutVerb::Pause { name } => ("pause", name),
            RolloutVerb::Resume { name } => ("resume", name),
            RolloutVerb::Promote { name } => ("promote", name),
            RolloutVerb::Rollback { name } => ("rollback", name),
            RolloutVerb::Abort { name } => ("abort", name),
        }
    }
}

pub fn rollout(
    target: &Target,
    verb: &RolloutVerb,
    reason: Option<&str>,
    json: bool,
) -> Result<(), String> {
    let (command, name) = verb.parts();
    let body = if command == "status" {
        target.get(&format!("/v1/rollouts/{name}"))?
    } else {
        target.post(
            &format!("/v1/rollouts/{name}/{command}"),
            &json!({ "reason": reason.unwrap_or_default(), "actor": actor() }),
        )?
    };
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&body).unwrap_or_default()
        );
    } else {
        print_rollout(&body);
    }
    Ok(())
}

fn print_rollout(r: &Value) {
    let stages = r["stages"].as_array().map_or(0, Vec::len);
    let stage = r["stage"]
        .as_u64()
        .map_or("-".to_string(), |s| format!("{}/{stages}", s + 1));
    println!(
        "rollout {} of {}: {} → {}\nstatus {}   stage {}   traffic {}%",
        cell(&r["name"]),
        cell(&r["model"]),
        cell(&r["baseline"]),
        cell(&r["candidate"]),
        cell(&r["status"]),
        stage,
        cell(&r["traffic"])
    );
    if let Some(reason) = r["reason"].as_str() {
        println!("why: {reason}");
    }
    if let Some(ms) = r["next_decision_in_ms"].as_i64() {
        println!("stage minimum reached in {} s", ms / 1000);
    }
    let look = &r["last_look"];
    if look.is_object() {
        println!(
            "\nunits: {} candidate, {} control (looked at {})",
            cell(&look["candidate_units"]),
            cell(&look["control_units"]),
            look["at"].as_i64().map(table::time).unwrap_or_default()
        );
        table::print(
            &["GATE", "METRIC", "VERDICT", "DETAIL"],
            look["verdicts"].as_array().into_iter().flatten().map(|v| {
                vec![
                    cell(&v["gate"]),
                    cell(&v["metric"]),
                    cell(&v["outcome"]),
                    cell(&v["message"]),
                ]
            }),
        );
    }
}

pub fn log(target: &Target, entity: Option<&str>, limit: usize, json: bool) -> Result<(), String> {
    let mut path = format!("/v1/decisions?limit={limit}");
    if let Some(e) = entity {
        path.push_str(&format!("&entity={}", encode(e)));
    }
    let body = target.get(&path)?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&body["decisions"]).unwrap_or_default()
        );
        return Ok(());
    }
    table::print(
        &[
            "TIME (UTC)",
            "ENTITY",
            "ACTION",
            "FROM",
            "TO",
            "ACTOR",
            "REASON",
        ],
        body["decisions"].as_array().into_iter().flatten().map(|d| {
            vec![
                d["ts"].as_i64().map(table::time).unwrap_or_default(),
                cell(&d["entity"]),
                cell(&d["action"]),
                cell(&d["from_state"]),
                cell(&d["to_state"]),
                cell(&d["actor"]),
                cell(&d["reason"]),
            ]
        }),
    );
    Ok(())
}

pub fn kill(target: &Target, reason: Option<&str>, json: bool) -> Result<(), String> {
    let body = target.post(
        "/v1/kill",
        &json!({ "reason": reason.unwrap_or("kill switch"), "actor": actor() }),
    )?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&body).unwrap_or_default()
        );
        return Ok(());
    }
    let names: Vec<String> = body["rolled_back"]
        .as_array()
        .into_iter()
        .flatten()
        .map(cell)
        .collect();
    if names.is_empty() {
        println!("no active rollout to roll back");
    } else {
        println!("rolled back: {}", names.join(", "));
    }
    Ok(())
}
