//! Plays one staged rollout on simulated time through the real decision path: `Assigner` →
//! exposures and outcome events → `evidence::Aggregator` → `tick::plan_tick`, the controller's
//! whole decision as the server makes it (stage experiments, the effective candidate, winner
//! hand-offs, gate analysis and the state machines) → a new `Assigner` when the state changes.
//! Every rollout and experiment of the config is decided on, as in the server; the run follows the
//! one named. Conversions that arrive after a delay wait in a queue and are folded when simulated
//! time reaches them.

use rampart_core::analysis::provider::Readings;
use rampart_core::config::{Attributes, Config};
use rampart_core::evidence::Aggregator;
use rampart_core::rollout::{Command, Input};
use rampart_core::state::{reconcile, LiveState, RolloutStatus};
use rampart_core::tick::{effective_rollout, plan_rollout_change, plan_tick, Tick};
use rampart_core::{Assigner, Decision, Exposure, Millis, OutcomeEvent, Reason, Record};
use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rampart_stats::Rng;

use crate::traffic::Traffic;
use crate::world::{Arrivals, World};

/// How one simulated rollout ended.
#[derive(Debug, Clone, PartialEq)]
pub struct RolloutRun {
    pub status: RolloutStatus,
    /// Index of the stage the rollout was in at the end.
    pub stage: usize,
    /// Every decision of the run, in order: the rollout's, and those of the experiments its stages
    /// run or whose winners hand off to it.
    pub decisions: Vec<Decision>,
    /// The live state at the end: the rollout's (with a handed-off candidate) and every
    /// experiment's.
    pub state: LiveState,
    /// Units that were served the candidate.
    pub candidate_units: u64,
    /// Simulated time at which the rollout rolled back or completed.
    pub decided_at: Option<Millis>,
    /// Simulated time when the run stopped.
    pub ended_at: Millis,
    /// Units served the candidate, up to the horizon, while it is worse than the baseline for the
    /// unit's segment (after completion every unit is served the candidate).
    pub worse_units: u64,
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
    let world = World::from_traffic(traffic.clone(), opts.tick_ms, opts.horizon_ms);
    let arrivals = world.arrivals(opts.seed);
    run_rollout_in(config, name, &world, &arrivals, opts)
}

/// Plays the rollout named `name` of `config` in `world` with the units of `arrivals` (whose
/// tick must be `opts.tick_ms`); `opts.horizon_ms` is taken from the world.
pub fn run_rollout_in(
    config: &Config,
    name: &str,
    world: &World,
    arrivals: &Arrivals,
    opts: RunOptions,
) -> Result<RolloutRun, String> {
    let rollout = config
        .rollout(name)
        .ok_or_else(|| format!("no rollout {name:?} in the config"))?;
    let mut salt_rng = Rng::new(opts.seed ^ 0x5A17);
    let reconciled =
        reconcile(config, &[], 0, &mut || salt_rng.next_u64()).map_err(|e| e.to_string())?;
    let mut state: LiveState = reconciled.state;
    let mut assigner = Assigner::new(config, &state);
    let mut aggregator = Aggregator::new(config);
    let mut decisions = Vec::new();
    let mut candidate_units = 0u64;
    let mut worse_units = 0u64;
    let mut awaiting_since: Option<Millis> = None;
    let mut now: Millis = 0;
    let attribute = world.traffic.segment_attribute.clone();
    // Conversions not yet arrived: (time, unit index).
    let mut pending: BinaryHeap<Reverse<(Millis, u64)>> = BinaryHeap::new();
    let purchase = |unit: String, ts: Millis| {
        Record::Event(OutcomeEvent {
            id: String::new(),
            kind: "purchase".to_string(),
            unit,
            model: rollout.model.clone(),
            value: None,
            ts,
            attributes: Attributes::new(),
        })
    };

    // The candidate the rollout serves: a winner's hand-off may change it.
    let mut candidate = rollout.candidate.clone();
    for k in 0..arrivals.ticks() {
        let until = (k as Millis + 1) * opts.tick_ms;
        for u in arrivals.units(k) {
            let ts = u.ts;
            let unit = format!("u{}", u.index);
            let segment = world.segment(&u);
            let a = assigner
                .assign(&rollout.model, &unit, None, ts)
                .map_err(|e| e.to_string())?;
            if a.reason == Reason::Candidate || a.reason == Reason::Completed {
                candidate_units += 1;
                if world.worse(&rollout.baseline, &candidate, segment) {
                    worse_units += 1;
                }
            }
            // Units of a rollout or an experiment are evidence; the others (default) are not.
            if a.entity.is_none() {
                continue;
            }
            let variant = a.variant.to_string();
            let mut segments = Attributes::new();
            if let (Some(attr), Some(value)) = (&attribute, segment) {
                segments.insert(attr.clone(), value.to_string());
            }
            aggregator.fold(&Record::Exposure(Exposure {
                ts,
                model: rollout.model.clone(),
                unit: unit.clone(),
                variant: variant.clone(),
                reason: a.reason,
                entity: a.entity.map(|(k, n)| (k, n.to_string())),
                assignment_id: u.index + 1,
                segments,
            }));
            let Some(o) = world.outcome(&u, &variant) else {
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
            if o.error {
                emit("error", None);
            }
            emit("response", Some(o.latency_ms));
            match o.converted_at {
                Some(at) if at <= ts => aggregator.fold(&purchase(unit, at)),
                Some(at) => pending.push(Reverse((at, u.index))),
                None => {}
            }
        }
        now = until;
        while let Some(&Reverse((at, index))) = pending.peek() {
            if at > now {
                break;
            }
            pending.pop();
            aggregator.fold(&purchase(format!("u{index}"), at));
        }
        let before = state.clone();
        let Tick {
            outcomes,
            state: after,
        } = plan_tick(config, &state, &aggregator, &Readings::new(), now);
        let mut ticks = vec![Tick {
            outcomes,
            state: after,
        }];
        let mut current = ticks[0]
            .state
            .rollouts
            .get(name)
            .cloned()
            .ok_or("the rollout has no state")?;
        if current.status == RolloutStatus::AwaitingApproval {
            let since = *awaiting_since.get_or_insert(now);
            if opts.approve_after_ms.is_some_and(|d| now - since >= d) {
                let (next, actions) = rampart_core::rollout::step(
                    rollout,
                    &current,
                    Input::Command {
                        command: Command::Approve,
                        actor: "simulated approver",
                        reason: "",
                    },
                    now,
                )
                .map_err(|e| e.to_string())?;
                let approved =
                    plan_rollout_change(config, &ticks[0].state, name, next, actions, now);
                current = approved
                    .state
                    .rollouts
                    .get(name)
                    .cloned()
                    .ok_or("the rollout has no state")?;
                ticks.push(approved);
                awaiting_since = None;
            }
        }
        for t in &ticks {
            decisions.extend(t.decisions().cloned());
        }
        if let Some(last) = ticks.pop() {
            state = last.state;
        }
        if state != before {
            candidate = effective_rollout(rollout, &current).candidate.clone();
            assigner = Assigner::new(config, &state);
        }
        let result = current;
        if matches!(
            result.status,
            RolloutStatus::RolledBack | RolloutStatus::Completed
        ) {
            if result.status == RolloutStatus::Completed {
                // From here on every unit is served the candidate.
                worse_units += arrivals
                    .units_from(k + 1)
                    .filter(|u| world.worse(&rollout.baseline, &candidate, world.segment(u)))
                    .count() as u64;
            }
            return Ok(RolloutRun {
                status: result.status,
                stage: result.stage,
                decisions,
                state,
                candidate_units,
                decided_at: Some(now),
                ended_at: now,
                worse_units,
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
        state,
        candidate_units,
        decided_at: None,
        ended_at: now,
        worse_units,
    })
}
