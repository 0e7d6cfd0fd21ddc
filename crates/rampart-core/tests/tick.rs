//! The controller's whole decision at one tick (`tick::plan_tick`), table-driven: each case is a
//! config, a live state, traffic folded into evidence and a time, and the outcomes the tick must
//! return in their order — stage experiment starts, a winner's hand-off starting a rollout in the
//! same tick, a rollback — with the live state they leave.

use std::collections::BTreeMap;

use rampart_core::analysis::provider::Readings;
use rampart_core::assign::bucket;
use rampart_core::config::{load_str, Format};
use rampart_core::evidence::Aggregator;
use rampart_core::rollout::{self, Notification};
use rampart_core::state::{reconcile, ExperimentStatus, LiveState, RolloutStatus};
use rampart_core::tick::{
    effective_rollout, plan_experiment_change, plan_tick, HandOffRefusal, Outcome, Tick,
};
use rampart_core::{Assigner, Config, Exposure, Millis, OutcomeEvent, Record};

const M: Millis = 60_000;

const MODEL: &str = r#"
[[models]]
name = "recs"
variants = [{ name = "v1" }, { name = "v2" }, { name = "v3" }]

[[metrics]]
name = "conversion"
kind = "binary"
event = "purchase"
goal = "increase"
"#;

/// A rollout whose first stage runs experiment `pick` among two candidates.
const STAGED: &str = r#"
[[rollouts]]
name = "ship"
model = "recs"
baseline = "v1"
candidate = "v2"
stages = [
  { traffic = 20, experiment = "pick" },
  { traffic = 50, min_duration = "10m" },
]

[[experiments]]
name = "pick"
model = "recs"
variants = ["v2", "v3"]
primary = "conversion"
stopping = { rule = "sequential", alpha = 0.05 }
"#;

/// An experiment whose winner hands off to a rollout that waits to be started.
const HAND_OFF: &str = r#"
[[rollouts]]
name = "ship"
model = "recs"
baseline = "v1"
candidate = "v3"
autostart = false
stages = [{ traffic = 10, min_duration = "10m" }, { traffic = 100 }]

[[experiments]]
name = "bakeoff"
model = "recs"
variants = ["v1", "v2"]
primary = "conversion"
on_winner = { rollout = "ship" }
stopping = { rule = "sequential", alpha = 0.05 }
"#;

/// A rollout gated on conversion against its control.
const GATED: &str = r#"
[[rollouts]]
name = "ship"
model = "recs"
baseline = "v1"
candidate = "v2"
stages = [{ traffic = 50, min_duration = "1h" }, { traffic = 100 }]
gates = [{ metric = "conversion", compare = "control", max_worsening = "10%" }]
"#;

fn config(body: &str) -> Config {
    let text = format!("{MODEL}{body}");
    load_str(&text, Format::Toml, "t.toml").unwrap_or_else(|e| panic!("{e}"))
}

fn live(c: &Config) -> LiveState {
    let mut seed = 11u64;
    reconcile(c, &[], 0, &mut || {
        seed = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(1);
        seed
    })
    .expect("reconciles")
    .state
}

/// `units` units assigned under `state` over the minute before `now`, each converting when its
/// own hash falls under its variant's rate: deterministic evidence.
fn traffic(
    c: &Config,
    state: &LiveState,
    units: u64,
    rate: fn(&str) -> f64,
    now: Millis,
) -> Aggregator {
    let mut agg = Aggregator::new(c);
    let assigner = Assigner::new(c, state);
    for i in 0..units {
        let unit = format!("u{i}");
        let ts = now - M + (i * M as u64 / units) as Millis;
        let a = assigner.assign("recs", &unit, None, ts).expect("assigns");
        agg.fold(&Record::Exposure(Exposure {
            ts,
            model: "recs".into(),
            unit: unit.clone(),
            variant: a.variant.to_string(),
            reason: a.reason,
            entity: a.entity.map(|(k, n)| (k, n.to_string())),
            assignment_id: i + 1,
            segments: BTreeMap::new(),
        }));
        if (bucket(0xC0FFEE, &unit) as f64 / 10_000.0) < rate(a.variant) {
            agg.fold(&Record::Event(OutcomeEvent {
                id: format!("p-{unit}"),
                kind: "purchase".into(),
                unit,
                model: "recs".into(),
                value: None,
                ts: ts + 1,
                attributes: BTreeMap::new(),
            }));
        }
    }
    agg
}

/// Each outcome in a word: `looked ship`, `ship: advance`, `pick: start`, `refused ship`.
fn summary(tick: &Tick) -> Vec<String> {
    tick.outcomes
        .iter()
        .map(|o| match o {
            Outcome::RolloutLooked { rollout, .. } => format!("looked {rollout}"),
            Outcome::ExperimentLooked { experiment, .. } => format!("looked {experiment}"),
            Outcome::Rollout {
                rollout, actions, ..
            } => {
                let words: Vec<String> = actions
                    .iter()
                    .map(|a| match a {
                        rollout::Action::Log(d) => d.action.clone(),
                        rollout::Action::Notify(n) => format!("notify {n:?}"),
                    })
                    .collect();
                format!("{rollout}: {}", words.join(", "))
            }
            Outcome::Experiment {
                experiment,
                decisions,
                ..
            } => {
                let words: Vec<&str> = decisions.iter().map(|d| d.action.as_str()).collect();
                format!("{experiment}: {}", words.join(", "))
            }
            Outcome::HandOffRefused { rollout, .. } => format!("refused {rollout}"),
        })
        .collect()
}

struct Case {
    name: &'static str,
    config: &'static str,
    /// Changes the reconciled state before the traffic is drawn.
    setup: fn(&mut LiveState),
    units: u64,
    rate: fn(&str) -> f64,
    now: Millis,
    outcomes: &'static [&'static str],
    /// What the state left by the tick must show.
    after: fn(&LiveState),
}

fn none(_: &mut LiveState) {}

fn flat(_: &str) -> f64 {
    0.1
}

fn v2_wins(v: &str) -> f64 {
    if v == "v2" {
        0.4
    } else {
        0.1
    }
}

fn v2_harms(v: &str) -> f64 {
    if v == "v2" {
        0.02
    } else {
        0.3
    }
}

const CASES: &[Case] = &[
    Case {
        name: "a stage that names an experiment starts it; the rollout, then the experiment, are looked at",
        config: STAGED,
        setup: none,
        units: 0,
        rate: flat,
        now: 5 * M,
        outcomes: &["pick: start", "looked ship", "looked pick"],
        after: |s| {
            let pick = &s.experiments["pick"];
            assert_eq!(pick.status, ExperimentStatus::Running);
            assert_eq!(pick.started_at, Some(5 * M));
            assert_eq!(s.rollouts["ship"].status, RolloutStatus::Running);
            assert_eq!(s.rollouts["ship"].stage, 0);
        },
    },
    Case {
        name: "a winner hands off: the waiting rollout starts with it in the same tick",
        config: HAND_OFF,
        setup: none,
        units: 6_000,
        rate: v2_wins,
        now: 30 * M,
        outcomes: &[
            "looked bakeoff",
            "bakeoff: winner",
            "ship: start, notify StageChanged",
        ],
        after: |s| {
            assert_eq!(s.experiments["bakeoff"].status, ExperimentStatus::Stopped);
            assert_eq!(s.experiments["bakeoff"].winner.as_deref(), Some("v2"));
            let ship = &s.rollouts["ship"];
            assert_eq!(ship.status, RolloutStatus::Running);
            assert_eq!(ship.candidate.as_deref(), Some("v2"));
            assert_eq!(ship.stage, 0);
            assert_eq!(ship.stage_started_at, Some(30 * M));
        },
    },
    Case {
        name: "a winner whose rollout is already running leaves the running ramp as it is",
        config: HAND_OFF,
        setup: |s| {
            let ship = s.rollouts.get_mut("ship").expect("configured");
            ship.status = RolloutStatus::Paused;
        },
        units: 6_000,
        rate: v2_wins,
        now: 30 * M,
        outcomes: &["looked bakeoff", "bakeoff: winner", "refused ship"],
        after: |s| {
            assert_eq!(s.rollouts["ship"].status, RolloutStatus::Paused);
            assert_eq!(s.rollouts["ship"].candidate, None);
        },
    },
    Case {
        name: "a candidate that harms its gate metric is rolled back",
        config: GATED,
        setup: none,
        units: 6_000,
        rate: v2_harms,
        now: 30 * M,
        outcomes: &["looked ship", "ship: rollback, notify RolledBack"],
        after: |s| {
            assert_eq!(s.rollouts["ship"].status, RolloutStatus::RolledBack);
            assert_eq!(s.rollouts["ship"].traffic, 0.0);
        },
    },
    Case {
        name: "a rollout without enough evidence holds and changes nothing",
        config: GATED,
        setup: none,
        units: 40,
        rate: flat,
        now: 30 * M,
        outcomes: &["looked ship"],
        after: |s| {
            assert_eq!(s.rollouts["ship"].status, RolloutStatus::Running);
            assert_eq!(s.rollouts["ship"].stage, 0);
        },
    },
];

#[test]
fn each_tick_returns_its_outcomes_in_order() {
    for case in CASES {
        let c = config(case.config);
        let mut state = live(&c);
        (case.setup)(&mut state);
        let agg = traffic(&c, &state, case.units, case.rate, case.now);
        let tick = plan_tick(&c, &state, &agg, &Readings::new(), case.now);
        assert_eq!(summary(&tick), case.outcomes, "{}", case.name);
        (case.after)(&tick.state);
        // Every decision is stamped with the tick's time.
        assert!(
            tick.decisions().all(|d| d.ts == case.now),
            "{}: {:?}",
            case.name,
            tick.decisions().collect::<Vec<_>>()
        );
        // Each change's state is the one the tick leaves (nothing changes the same entity twice).
        for o in &tick.outcomes {
            match o {
                Outcome::Rollout { rollout, next, .. } => {
                    assert_eq!(&tick.state.rollouts[rollout], next, "{}", case.name)
                }
                Outcome::Experiment {
                    experiment, next, ..
                } => assert_eq!(&tick.state.experiments[experiment], next, "{}", case.name),
                _ => {}
            }
        }
        // The same inputs give the same tick: nothing but the arguments is read.
        let again = plan_tick(&c, &state, &agg, &Readings::new(), case.now);
        assert_eq!(again, tick, "{}", case.name);
    }
}

#[test]
fn the_hand_off_is_stamped_with_the_experiment_as_actor() {
    let c = config(HAND_OFF);
    let state = live(&c);
    let agg = traffic(&c, &state, 6_000, v2_wins, 30 * M);
    let tick = plan_tick(&c, &state, &agg, &Readings::new(), 30 * M);
    let start = tick
        .decisions()
        .find(|d| d.entity == "ship")
        .expect("the rollout starts");
    assert_eq!(start.actor, "experiment:bakeoff");
    assert!(
        start
            .reason
            .contains("experiment \"bakeoff\" declared v2 the winner"),
        "{}",
        start.reason
    );
}

#[test]
fn a_hand_off_to_a_rollout_that_cannot_start_says_why() {
    let c = config(HAND_OFF);
    let mut state = live(&c);
    if let Some(ship) = state.rollouts.get_mut("ship") {
        ship.status = RolloutStatus::Completed;
    }
    let mut won = state.experiments["bakeoff"].clone();
    won.status = ExperimentStatus::Stopped;
    won.winner = Some("v2".into());
    let actions = vec![rampart_core::experiment::Action::StartRollout {
        rollout: "ship".into(),
        experiment: "bakeoff".into(),
        candidate: "v2".into(),
    }];
    let tick = plan_experiment_change(&c, &state, "bakeoff", won, actions, 9 * M);
    let Some(Outcome::HandOffRefused { why, .. }) = tick.outcomes.last() else {
        panic!("{:?}", tick.outcomes)
    };
    let HandOffRefusal::CannotStart(message) = why else {
        panic!("{why:?}")
    };
    assert!(message.contains("completed"), "{message}");
    assert_eq!(tick.state.rollouts["ship"].status, RolloutStatus::Completed);
}

#[test]
fn gates_see_the_handed_off_candidate() {
    let c = config(HAND_OFF);
    let r = &c.rollouts[0];
    let mut state = live(&c).rollouts["ship"].clone();
    assert_eq!(effective_rollout(r, &state).candidate, "v3");
    assert!(matches!(
        effective_rollout(r, &state),
        std::borrow::Cow::Borrowed(_)
    ));
    state.candidate = Some("v2".into());
    let effective = effective_rollout(r, &state);
    assert_eq!(effective.candidate, "v2");
    assert_eq!(effective.baseline, "v1");
    assert_eq!(effective.stages, r.stages);
}

#[test]
fn a_notification_follows_every_rollback() {
    let c = config(GATED);
    let state = live(&c);
    let agg = traffic(&c, &state, 6_000, v2_harms, 30 * M);
    let tick = plan_tick(&c, &state, &agg, &Readings::new(), 30 * M);
    let notified: Vec<Notification> = tick
        .outcomes
        .iter()
        .flat_map(|o| match o {
            Outcome::Rollout { actions, .. } => actions
                .iter()
                .filter_map(|a| match a {
                    rollout::Action::Notify(n) => Some(*n),
                    rollout::Action::Log(_) => None,
                })
                .collect(),
            _ => Vec::new(),
        })
        .collect();
    assert_eq!(notified, [Notification::RolledBack]);
}
