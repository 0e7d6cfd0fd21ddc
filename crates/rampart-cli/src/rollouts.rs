//! `rampart rollout …`, `rampart log` and `rampart kill`: the control verbs of staged rollouts,
//! sent to a running server; `rollout status --watch`, which follows a rollout until it ends or
//! waits for a person, with the exit code of the state it reached.

use std::time::{Duration, Instant};

use clap::Subcommand;
use rampart_core::config::Duration as ConfigDuration;
use serde_json::{json, Value};

use crate::client::{actor, encode, Target};
use crate::exit::{outln, Exit, Failure};
use crate::table::{self, cell};

#[derive(Subcommand, Debug, Clone)]
pub enum RolloutVerb {
    /// Show one rollout: stage, traffic, gates and their last verdicts. The exit code tells its
    /// state: 0 running or completed, 3 rolled back, 4 paused, awaiting approval or pending.
    #[command(after_help = crate::exit::table())]
    Status {
        name: String,
        /// Follow the rollout, printing each change, until it completes, is rolled back or waits
        /// for a person; exit with that state's code.
        #[arg(long, short)]
        watch: bool,
        /// With --watch: stop after this long (e.g. `30m`) with exit code 5. Without it, wait
        /// as long as it takes.
        #[arg(long, requires = "watch", value_parser = crate::client::positive_duration)]
        timeout: Option<ConfigDuration>,
        /// With --watch: how often to ask the server.
        #[arg(long, requires = "watch", default_value = "1s", value_parser = interval)]
        interval: ConfigDuration,
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
            RolloutVerb::Status { name, .. } => ("status", name),
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

fn interval(s: &str) -> Result<ConfigDuration, String> {
    let d: ConfigDuration = s.parse().map_err(|e| format!("{e}"))?;
    if d.as_millis() < 10 {
        return Err("must be at least 10ms".to_string());
    }
    Ok(d)
}

/// Runs a rollout verb; `status` exits with the code of the rollout's state.
pub fn rollout(
    target: &Target,
    verb: &RolloutVerb,
    reason: Option<&str>,
    json: bool,
) -> Result<Exit, Failure> {
    if let RolloutVerb::Status {
        name,
        watch: true,
        timeout,
        interval,
    } = verb
    {
        let every = Duration::from_millis(interval.as_millis());
        return watch(target, name, *timeout, every, json);
    }
    let (command, name) = verb.parts();
    let path = format!("/v1/rollouts/{}", encode(name));
    let body = if command == "status" {
        target.get(&path)?
    } else {
        target.post(
            &format!("{path}/{command}"),
            &json!({ "reason": reason.unwrap_or_default(), "actor": actor() }),
        )?
    };
    if json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&body).unwrap_or_default()
        );
    } else {
        print_rollout(&body);
    }
    if command == "status" {
        return Ok(exit_of(&body)?.0);
    }
    Ok(Exit::Ok)
}

/// The exit code of a rollout as the API shows it, and whether a watch ends there.
fn exit_of(rollout: &Value) -> Result<(Exit, bool), Failure> {
    let status = rollout["status"].as_str().unwrap_or_default();
    Exit::of_rollout_status(status).ok_or_else(|| {
        Failure::from(format!(
            "rollout {}: unknown status {status:?} from the server",
            cell(&rollout["name"])
        ))
    })
}

/// What a watch prints when it changes: status, stage and traffic.
fn summary(r: &Value) -> String {
    let stages = r["stages"].as_array().map_or(0, Vec::len);
    let stage = r["stage"]
        .as_u64()
        .map_or("-".to_string(), |s| format!("{}/{stages}", s + 1));
    format!(
        "{}   stage {stage}   traffic {}%",
        cell(&r["status"]),
        cell(&r["traffic"])
    )
}

/// Polls the rollout every `every`, printing a line (or with `json` a JSON object) whenever its
/// status, stage or traffic changes, until it reaches a state that ends the watch or `timeout`
/// passes.
fn watch(
    target: &Target,
    name: &str,
    timeout: Option<ConfigDuration>,
    every: Duration,
    json: bool,
) -> Result<Exit, Failure> {
    let started = Instant::now();
    let deadline = timeout.map(|t| started + Duration::from_millis(t.as_millis()));
    let path = format!("/v1/rollouts/{}", encode(name));
    let timed_out = |last: &str| {
        let waited = timeout.unwrap_or_default();
        let last = match last {
            "" => "no answer from the server yet",
            seen => seen,
        };
        Failure::new(
            Exit::TimedOut,
            format!("rollout {name} did not finish within {waited} (--timeout); last seen: {last}"),
        )
    };
    let mut shown = String::new();
    loop {
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        let body = match target.get_within(&path, left) {
            Ok(body) => body,
            // The request was cut short by the deadline, not by the request timeout.
            Err(f)
                if f.exit == Exit::Unreachable && deadline.is_some_and(|d| Instant::now() >= d) =>
            {
                return Err(timed_out(&shown));
            }
            Err(f) => return Err(f),
        };
        let (exit, done) = exit_of(&body)?;
        let now = summary(&body);
        if now != shown {
            if json {
                outln!("{}", serde_json::to_string(&body).unwrap_or_default());
            } else {
                let why = body["reason"]
                    .as_str()
                    .map(|r| format!("   why: {r}"))
                    .unwrap_or_default();
                // Whole seconds: the controller decides on ticks, milliseconds would be noise.
                let secs = started.elapsed().as_secs();
                let since = match secs {
                    0 => "0s".to_string(),
                    _ => ConfigDuration::from_secs(secs).elapsed(),
                };
                outln!("[+{since}] rollout {name}: {now}{why}");
            }
            shown = now;
        }
        if done {
            return Ok(exit);
        }
        let mut pause = every;
        if let Some(d) = deadline {
            let left = d.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(timed_out(&shown));
            }
            pause = pause.min(left);
        }
        std::thread::sleep(pause);
    }
}

fn print_rollout(r: &Value) {
    let stages = r["stages"].as_array().map_or(0, Vec::len);
    let stage = r["stage"]
        .as_u64()
        .map_or("-".to_string(), |s| format!("{}/{stages}", s + 1));
    outln!(
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
        outln!("why: {reason}");
    }
    if let Some(ms) = r["next_decision_in_ms"].as_i64() {
        outln!("stage minimum reached in {} s", ms / 1000);
    }
    let look = &r["last_look"];
    if look.is_object() {
        outln!(
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

pub fn log(target: &Target, entity: Option<&str>, limit: usize, json: bool) -> Result<(), Failure> {
    let mut path = format!("/v1/decisions?limit={limit}");
    if let Some(e) = entity {
        path.push_str(&format!("&entity={}", encode(e)));
    }
    let body = target.get(&path)?;
    if json {
        outln!(
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

pub fn kill(target: &Target, reason: Option<&str>, json: bool) -> Result<(), Failure> {
    let body = target.post(
        "/v1/kill",
        &json!({ "reason": reason.unwrap_or("kill switch"), "actor": actor() }),
    )?;
    if json {
        outln!(
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
        outln!("no active rollout to roll back");
    } else {
        outln!("rolled back: {}", names.join(", "));
    }
    Ok(())
}
