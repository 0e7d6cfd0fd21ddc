//! Experiments in the running service: the reports the controller's looks leave (the looks, and
//! the hand-off of a winner to the rollout named by `on_winner`, are decided in
//! `tick::plan_tick`), commands, the pre-registration check a reload must pass, and the API:
//! list, inspect with the latest report, start and stop.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use rampart_core::config::{Config, Experiment};
use rampart_core::experiment::{
    analyze, check_preregistration, look, step, Command, ExperimentReport, Input, Verdict,
};
use rampart_core::state::{ExperimentState, ExperimentStatus};
use rampart_core::tick::plan_experiment_change;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::app::{parse_body, Shared};
use crate::clock::now_ms;
use crate::error::{ApiError, ApiPath};
use crate::live::Live;

/// The report and verdict of the controller's last look at one experiment.
#[derive(Debug, Clone, Serialize)]
pub struct LastReport {
    pub report: ExperimentReport,
    pub verdict: Option<Verdict>,
}

/// Last reports by experiment name.
pub type Reports = Mutex<HashMap<String, LastReport>>;

/// Runs a command from the API or CLI on one experiment; returns the new state.
pub async fn command(
    shared: &Shared,
    name: &str,
    command: Command,
    actor: &str,
    reason: &str,
) -> Result<ExperimentState, ApiError> {
    let _guard = shared.control_lock.lock().await;
    let now = now_ms();
    let live = shared.live.load_full();
    let (experiment, state) = find(&live, name)?;
    let (next, actions) = step(
        experiment,
        state,
        Input::Command {
            command,
            actor,
            reason,
        },
        now,
    )
    .map_err(|e| ApiError::new(StatusCode::CONFLICT, "illegal_transition", e.to_string()))?;
    if state.status == ExperimentStatus::Running && next.status == ExperimentStatus::Stopped {
        // The numbers as they stand at a manual stop are the experiment's final report.
        let evidence = shared
            .aggregator
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .evidence(name);
        if let Some(evidence) = evidence {
            let report = analyze(experiment, &live.config, &evidence, now);
            shared
                .experiment_reports
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(
                    name.to_string(),
                    LastReport {
                        report,
                        verdict: None,
                    },
                );
        }
    }
    let plan = plan_experiment_change(
        &live.config,
        &live.state,
        &experiment.name,
        next.clone(),
        actions,
        now,
    );
    crate::controller::carry_out(shared, plan.outcomes, now).await?;
    Ok(next)
}

fn find<'a>(live: &'a Live, name: &str) -> Result<(&'a Experiment, &'a ExperimentState), ApiError> {
    live.config
        .experiment(name)
        .zip(live.state.experiments.get(name))
        .ok_or_else(|| {
            let known: Vec<&str> = live
                .config
                .experiments
                .iter()
                .map(|e| e.name.as_str())
                .collect();
            ApiError::not_found(format!(
                "no experiment {name:?}; known experiments: {}",
                known.join(", ")
            ))
            .with_field("name")
        })
}

/// Refuses a config that changes what a running experiment pre-registered, listing every change.
pub(crate) fn check_preregistrations(live: &Live, config: &Config) -> Result<(), ApiError> {
    let mut changes = Vec::new();
    for e in &config.experiments {
        let state = live.state.experiments.get(&e.name).or_else(|| {
            let old = e.renamed_from.as_ref()?;
            live.state.experiments.get(old)
        });
        if let Some(Err(found)) = state.map(|s| check_preregistration(s, e)) {
            changes.extend(found);
        }
    }
    if changes.is_empty() {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "preregistration_changed",
        format!(
            "reload refused: {} pre-registered item(s) of running experiments changed ({}). \
             Stop the experiment first, or configure a new experiment under a new name (it gets a new salt) and leave this one as it is",
            changes.len(),
            changes.join("; ")
        ),
    )
    .with_details(json!(changes)))
}

pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/v1/experiments", get(list))
        .route("/v1/experiments/{name}", get(show))
        .route("/v1/experiments/{name}/{command}", post(run_command))
}

/// An experiment as the API lists it: plan, live state and outcome.
fn view(experiment: &Experiment, state: Option<&ExperimentState>) -> Value {
    json!({
        "name": experiment.name,
        "model": experiment.model,
        "design": experiment.design,
        "variants": experiment.variants,
        "control": experiment.variants.first(),
        "weights": experiment.weights,
        "traffic": experiment.traffic,
        "layer": experiment.layer,
        "primary": experiment.primary,
        "secondary": experiment.secondary,
        "guardrails": experiment.guardrails,
        "stopping": experiment.stopping,
        "correction": experiment.correction,
        "on_winner": experiment.on_winner.as_ref().map(|w| &w.rollout),
        "status": state.map(|s| s.status),
        "started_at": state.and_then(|s| s.started_at),
        "stopped_at": state.and_then(|s| s.stopped_at),
        "winner": state.and_then(|s| s.winner.clone()),
        "reason": state.and_then(|s| s.reason.clone()),
        "preregistration": state.and_then(|s| s.preregistration.clone()),
    })
}

/// The last look's report, else one computed now: a running experiment gets its verdict too, a
/// stopped one the numbers as they stand, a draft none.
fn latest(
    shared: &Shared,
    live: &Live,
    experiment: &Experiment,
    state: &ExperimentState,
) -> Option<LastReport> {
    let kept = shared
        .experiment_reports
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&experiment.name)
        .cloned();
    if kept.is_some() || state.status == ExperimentStatus::Draft {
        return kept;
    }
    let evidence = shared
        .aggregator
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .evidence(&experiment.name);
    let now = now_ms();
    if state.status == ExperimentStatus::Running {
        let l = look(experiment, &live.config, state, evidence.as_ref(), now);
        return l.report.map(|report| LastReport {
            report,
            verdict: l.verdict,
        });
    }
    evidence.map(|ev| LastReport {
        report: analyze(experiment, &live.config, &ev, now),
        verdict: None,
    })
}

fn detail(shared: &Shared, live: &Live, name: &str) -> Result<Value, ApiError> {
    let (experiment, state) = find(live, name)?;
    let mut out = view(experiment, Some(state));
    let last = latest(shared, live, experiment, state);
    out["verdict"] = json!(last.as_ref().and_then(|l| l.verdict.clone()));
    out["report"] = json!(last.map(|l| l.report));
    Ok(out)
}

async fn list(State(s): State<Arc<Shared>>) -> Json<Value> {
    let live = s.live.load();
    let all: Vec<Value> = live
        .config
        .experiments
        .iter()
        .map(|e| view(e, live.state.experiments.get(&e.name)))
        .collect();
    Json(json!({ "experiments": all }))
}

async fn show(
    State(s): State<Arc<Shared>>,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    let live = s.live.load_full();
    Ok(Json(detail(&s, &live, &name)?))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CommandBody {
    #[serde(default)]
    reason: String,
    /// Who asks; recorded in the decision log.
    #[serde(default)]
    actor: Option<String>,
}

async fn run_command(
    State(s): State<Arc<Shared>>,
    ApiPath((name, command)): ApiPath<(String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let cmd = Command::parse(&command).ok_or_else(|| {
        ApiError::not_found(format!("no command {command:?}; valid: start, stop"))
            .with_field("command")
    })?;
    let body: CommandBody = match &body {
        Ok(b) if b.iter().all(u8::is_ascii_whitespace) => CommandBody::default(),
        _ => parse_body(body)?,
    };
    let actor = body.actor.unwrap_or_else(|| "api".to_string());
    self::command(&s, &name, cmd, &actor, &body.reason).await?;
    let live = s.live.load_full();
    Ok(Json(detail(&s, &live, &name)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(primary: &str) -> Config {
        let text = format!(
            r#"
[[models]]
name = "recs"
variants = [{{ name = "v1" }}, {{ name = "v2" }}, {{ name = "v3" }}]

[[metrics]]
name = "conversion"
kind = "binary"
event = "purchase"

[[metrics]]
name = "revenue"
kind = "sum"
event = "order"

[[rollouts]]
name = "ship"
model = "recs"
baseline = "v1"
candidate = "v3"
autostart = false
stages = [{{ traffic = 10 }}]

[[experiments]]
name = "bakeoff"
model = "recs"
variants = ["v1", "v2"]
primary = "{primary}"
"#
        );
        rampart_core::config::load_str(&text, rampart_core::config::Format::Toml, "t.toml")
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn live(config: Config) -> Live {
        let reconciled =
            rampart_core::state::reconcile(&config, &[], 0, &mut || 7).expect("reconciles");
        let assigner = rampart_core::Assigner::new(&config, &reconciled.state);
        Live {
            config: Arc::new(config),
            config_version: 1,
            state: reconciled.state,
            assigner,
        }
    }

    #[test]
    fn a_changed_primary_metric_of_a_running_experiment_is_refused() {
        let running = live(config("conversion"));
        assert_eq!(
            running.state.experiments["bakeoff"].status,
            ExperimentStatus::Running
        );
        assert_eq!(
            check_preregistrations(&running, &config("conversion")),
            Ok(())
        );
        let err = check_preregistrations(&running, &config("revenue")).unwrap_err();
        assert_eq!(err.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(err.code, "preregistration_changed");
        let details = err.details.expect("every change listed");
        assert_eq!(details.as_array().map(Vec::len), Some(1));
        let line = details[0].as_str().unwrap_or_default();
        assert!(line.contains("primary was \"conversion\""), "{line}");
        assert!(line.contains("is now \"revenue\""), "{line}");
    }

    #[test]
    fn a_stopped_experiment_may_change() {
        let mut stopped = live(config("conversion"));
        if let Some(s) = stopped.state.experiments.get_mut("bakeoff") {
            s.status = ExperimentStatus::Stopped;
        }
        assert_eq!(check_preregistrations(&stopped, &config("revenue")), Ok(()));
    }
}
