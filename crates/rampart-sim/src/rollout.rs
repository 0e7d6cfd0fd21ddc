//! Plays one staged rollout on simulated time through the real decision path: `Assigner` →
//! exposures and outcome events → `evidence::Aggregator` → `rollout::look` (gate analysis and the
//! state machine) → a new `Assigner` when the state changes.

use rampart_core::config::{Attributes, Config};
use rampart_core::evidence::Aggregator;
use rampart_core::rollout::{look, Action, Command, Input};
use rampart_core::state::{reconcile, LiveState, RolloutStatus};
use rampart_core::{
    Assigner, Decision, EntityKind, Exposure, Millis, OutcomeEvent, Reason, Record,
};
use rampart_stats::Rng;

use crate::traffic::{poisson, Traffic};

/// How one simulated rollout ended.
#[derive(Debug, Clone, PartialEq)]
pub struct RolloutRun {
    pub status: RolloutStatus,
    /// Index of the stage the rollout was in at the end.
    pub stage: usize,
    pub decisions: Vec<Decision>,
    /// Units that were served the candidate.
    pub candidate_units: u64,
    /// Simulated time at which the rollout rolled back or completed.
    pub decided_at: Option<Millis>,
    /// Simulated time when the run stopped.
    pub ended_at: Millis,
}

/// Options of a run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunOptions {
    /// How often the controller looks, in ms.
    pub tick_ms: Millis,
    /// Stop after this much simulated time.
    pub horizon_ms: Millis,
    /// Approve a stage that waits for approval after this long; never when `None`.
    pub approve_after_ms: Option<Millis>,
    pub seed: u64,
}

/// Plays the rollout named `name` of `config` under `traffic`.
pub fn run_rollout(
    config: &Config,
    name: &str,
    traffic: &Traffic,
    opts: RunOptions,
) -> Result<RolloutRun, String> {
    let rollout = config
        .rollout(name)
        .ok_or_else(|| format!("no rollout {name:?} in the config"))?;
    let mut rng = Rng::new(opts.seed);
    let mut salt_rng = Rng::new(opts.seed ^ 0x5A17);
    let reconciled =
        reconcile(config, &[], 0, &mut || salt_rng.next_u64()).map_err(|e| e.to_string())?;
    let mut state: LiveState = reconciled.state;
    let mut assigner = Assigner::new(config, &state);
    let mut aggregator = Aggregator::new(config);
    let mut decisions = Vec::new();
    let mut candidate_units = 0u64;
    let mut next_unit = 0u64;
    let mut awaiting_since: Option<Millis> = None;
    let mut now: Millis = 0;
    let attribute = traffic.segment_attribute.clone();

    while now < opts.horizon_ms {
        let until = now + opts.tick_ms;
        let arrivals = poisson(&mut rng, traffic.expected_arrivals(now, until));
        for i in 0..arrivals {
            let ts = now + (opts.tick_ms * i as i64) / arrivals.max(1) as i64;
            let unit = format!("u{next_unit}");
            next_unit += 1;
            let segment = traffic.draw_segment(&mut rng).map(str::to_string);
            let a = assigner
                .assign(&rollout.model, &unit, None, ts)
                .map_err(|e| e.to_string())?;
            let in_rollout = a
                .entity
                .is_some_and(|(k, n)| k == EntityKind::Rollout && n == name);
            if a.reason == Reason::Candidate || a.reason == Reason::Completed {
                candidate_units += 1;
            }
            if !in_rollout {
                continue;
            }
            let variant = a.variant.to_string();
            let mut segments = Attributes::new();
            if let (Some(attr), Some(value)) = (&attribute, &segment) {
                segments.insert(attr.clone(), value.clone());
            }
            aggregator.fold(&Record::Exposure(Exposure {
                ts,
                model: rollout.model.clone(),
                unit: unit.clone(),
                variant: variant.clone(),
                reason: a.reason,
                entity: a.entity.map(|(k, n)| (k, n.to_string())),
                assignment_id: next_unit,
                segments,
            }));
            let Some(b) = traffic.behaviour(&variant, segment.as_deref()) else {
                continue;
            };
            let mut emit = |kind: &str, value: Option<f64>| {
                aggregator.fold(&Record::Event(OutcomeEvent {
                    id: String::new(),
                    kind: kind.to_string(),
                    unit: unit.clone(),
                    model: rollout.model.clone(),
                    value,
                    ts,
                    attributes: Attributes::new(),
                }));
            };
            emit("request", None);
            if rng.bernoulli(b.error) {
                emit("error", None);
            }
            if rng.bernoulli(b.conversion) {
                emit("purchase", None);
            }
            emit("response", Some(b.latency_ms * (0.5 * rng.normal()).exp()));
        }
        now = until;

        let current = state
            .rollouts
            .get(name)
            .cloned()
            .ok_or("the rollout has no state")?;
        let evidence = aggregator.evidence(name);
        let mut result = look(rollout, config, &current, evidence.as_ref(), now);
        if result.next.status == RolloutStatus::AwaitingApproval {
            let since = *awaiting_since.get_or_insert(now);
            if opts.approve_after_ms.is_some_and(|d| now - since >= d) {
                let (next, actions) = rampart_core::rollout::step(
                    rollout,
                    &result.next,
                    Input::Command {
                        command: Command::Approve,
                        actor: "simulated approver",
                        reason: "",
                    },
                    now,
                )
                .map_err(|e| e.to_string())?;
                result.next = next;
                result.actions.extend(actions);
                awaiting_since = None;
            }
        }
        for a in result.actions {
            if let Action::Log(d) = a {
                decisions.push(d);
            }
        }
        if result.next != current {
            state.rollouts.insert(name.to_string(), result.next.clone());
            assigner = Assigner::new(config, &state);
        }
        if matches!(
            result.next.status,
            RolloutStatus::RolledBack | RolloutStatus::Completed
        ) {
            return Ok(RolloutRun {
                status: result.next.status,
                stage: result.next.stage,
                decisions,
                candidate_units,
                decided_at: Some(now),
                ended_at: now,
            });
        }
    }
    let last = state
        .rollouts
        .get(name)
        .cloned()
        .ok_or("the rollout has no state")?;
    Ok(RolloutRun {
        status: last.status,
        stage: last.stage,
        decisions,
        candidate_units,
        decided_at: None,
        ended_at: now,
    })
}
