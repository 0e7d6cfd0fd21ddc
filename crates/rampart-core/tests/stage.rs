//! Experiments inside rollout stages (start and stop with the stage, units from the candidate
//! slice, the stage ends on the verdict and a winner becomes the candidate), run on simulated
//! time; and holdouts: their units never enter an experiment, and the holdout report's numbers.

use std::collections::BTreeMap;

use rampart_core::assign::bucket;
use rampart_core::config::{load_str, Format};
use rampart_core::evidence::Aggregator;
use rampart_core::experiment::{self, holdout_report, Action as XAction};
use rampart_core::rollout::{self, Assessment, Input};
use rampart_core::stage::{self, StageOutcome};
use rampart_core::state::{
    percent_to_buckets, reconcile, ExperimentStatus, LiveState, RolloutStatus,
};
use rampart_core::{Assigner, Config, EntityKind, Exposure, Millis, OutcomeEvent, Reason, Record};

const M: Millis = 60_000;

const CONFIG: &str = r#"
[server]
evidence_bucket = "1m"

[[models]]
name = "recs"
variants = [{ name = "v1" }, { name = "v2" }, { name = "v3" }]

[[metrics]]
name = "conversion"
kind = "binary"
event = "purchase"
goal = "increase"

[[holdouts]]
name = "forever"
percent = 10

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

fn config() -> Config {
    load_str(CONFIG, Format::Toml, "t.toml").unwrap_or_else(|e| panic!("{e}"))
}

/// The same with a gate on conversion, so that the rollout's units track it too.
fn gated() -> Config {
    let text = CONFIG.replace(
        "  { traffic = 50, min_duration = \"10m\" },\n]",
        "  { traffic = 50, min_duration = \"10m\" },\n]\ngates = [{ metric = \"conversion\", compare = \"control\", max_worsening = \"50%\" }]",
    );
    assert_ne!(text, CONFIG);
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

fn logs(actions: &[XAction]) -> Vec<&rampart_core::Decision> {
    actions
        .iter()
        .filter_map(|a| match a {
            XAction::Log(d) => Some(d),
            XAction::StartRollout { .. } => None,
        })
        .collect()
}

#[test]
fn a_stage_experiment_waits_as_a_draft_and_starts_with_its_stage() {
    let c = config();
    let mut state = live(&c);
    // autostart (the default) does not apply: the rollout starts it.
    assert_eq!(state.experiments["pick"].status, ExperimentStatus::Draft);
    assert_eq!(state.rollouts["ship"].status, RolloutStatus::Running);

    let changes = stage::plan_stage_experiments(&c, &state, 5 * M);
    assert_eq!(changes.len(), 1);
    let start = &changes[0];
    assert_eq!(start.experiment, "pick");
    assert_eq!(start.next.status, ExperimentStatus::Running);
    assert_eq!(start.next.started_at, Some(5 * M));
    let log = logs(&start.actions);
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].action, "start");
    assert_eq!(log[0].actor, "rollout:ship");
    assert!(log[0].reason.contains("stage 1 of rollout \"ship\" began"));
    state.experiments.insert("pick".into(), start.next.clone());
    assert!(stage::plan_stage_experiments(&c, &state, 6 * M).is_empty());

    // The stage ends (here by a promote): the experiment stops.
    if let Some(r) = state.rollouts.get_mut("ship") {
        r.stage = 1;
        r.traffic = 50.0;
    }
    let changes = stage::plan_stage_experiments(&c, &state, 7 * M);
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].next.status, ExperimentStatus::Stopped);
    let log = logs(&changes[0].actions);
    assert_eq!(log[0].action, "stop");
    assert!(log[0].reason.contains("stage 1 of rollout \"ship\" ended"));
    state
        .experiments
        .insert("pick".into(), changes[0].next.clone());
    assert!(stage::plan_stage_experiments(&c, &state, 8 * M).is_empty());
}

#[test]
fn the_stage_ends_on_the_experiment_verdict() {
    let c = config();
    let r = &c.rollouts[0];
    let state = live(&c).rollouts["ship"].clone();
    let tick = |outcome: Option<StageOutcome>| {
        let a = Assessment {
            all_pass: true,
            candidate_units: 500,
            control_units: 500,
            experiment: outcome,
            ..Default::default()
        };
        rollout::step(r, &state, Input::Tick(&a), 30 * M).expect("ticks are legal")
    };
    // Gates passing is not enough while the experiment has no verdict.
    for waiting in [None, Some(StageOutcome::Running)] {
        let (next, actions) = tick(waiting);
        assert_eq!(next, state);
        assert!(actions.is_empty());
    }
    let (next, _) = tick(Some(StageOutcome::Winner {
        variant: "v3".into(),
    }));
    assert_eq!(next.stage, 1);
    assert_eq!(next.traffic, 50.0);
    assert_eq!(next.candidate.as_deref(), Some("v3"));
    assert!(next
        .reason
        .unwrap_or_default()
        .contains("declared v3 the winner"));

    let (next, _) = tick(Some(StageOutcome::NoWinner {
        reason: "no difference".into(),
    }));
    assert_eq!(next.status, RolloutStatus::Paused);
    assert_eq!(next.stage, 0);
    assert_eq!(next.candidate, None);

    let (next, _) = tick(Some(StageOutcome::Breach {
        reason: "guardrail breach: v3 harms conversion".into(),
    }));
    assert_eq!(next.status, RolloutStatus::RolledBack);
}

fn expose(agg: &mut Aggregator, a: &rampart_core::Assignment<'_>, unit: &str, ts: Millis) {
    agg.fold(&Record::Exposure(Exposure {
        ts,
        model: "recs".into(),
        unit: unit.to_string(),
        variant: a.variant.to_string(),
        reason: a.reason,
        entity: a.entity.map(|(k, n)| (k, n.to_string())),
        assignment_id: 0,
        segments: BTreeMap::new(),
    }));
}

fn purchase(agg: &mut Aggregator, unit: &str, ts: Millis) {
    agg.fold(&Record::Event(OutcomeEvent {
        id: format!("p-{unit}"),
        kind: "purchase".into(),
        unit: unit.to_string(),
        model: "recs".into(),
        value: None,
        ts,
        attributes: BTreeMap::new(),
    }));
}

#[test]
fn a_winner_among_candidates_ramps_on_simulated_time() {
    let c = config();
    let mut state = live(&c);
    let mut agg = Aggregator::new(&c);
    let mut decisions = Vec::new();
    let rate = |v: &str| match v {
        "v3" => 0.30,
        "v2" => 0.10,
        _ => 0.12,
    };
    let mut next_unit = 0u64;
    let mut experiment_units = BTreeMap::new();
    let mut now = 0;
    while now < 600 * M && state.rollouts["ship"].status != RolloutStatus::Completed {
        now += M;
        // The controller's tick: stage experiments, experiments, then the rollout.
        for ch in stage::plan_stage_experiments(&c, &state, now) {
            decisions.extend(logs(&ch.actions).into_iter().cloned());
            state.experiments.insert(ch.experiment.clone(), ch.next);
        }
        let e = c.experiment("pick").expect("configured");
        let look = experiment::look(
            e,
            &c,
            &state.experiments["pick"],
            agg.evidence("pick").as_ref(),
            now,
        );
        decisions.extend(logs(&look.actions).into_iter().cloned());
        state.experiments.insert("pick".into(), look.next);
        let r = c.rollout("ship").expect("configured");
        let rs = state.rollouts["ship"].clone();
        let effective = rampart_core::config::Rollout {
            candidate: rs.candidate_of(r).to_string(),
            ..r.clone()
        };
        let in_stage = stage::current_experiment(r, &rs).map(|name| {
            let x = c.experiment(name).expect("configured");
            stage::assess(x, &state.experiments[name], agg.evidence(name).as_ref())
        });
        let look = rollout::look_with_experiment(
            &effective,
            &c,
            &rs,
            agg.evidence("ship").as_ref(),
            in_stage.as_ref(),
            now,
        );
        for a in &look.actions {
            if let rollout::Action::Log(d) = a {
                decisions.push(d.clone());
            }
        }
        state.rollouts.insert("ship".into(), look.next);
        for ch in stage::plan_stage_experiments(&c, &state, now) {
            decisions.extend(logs(&ch.actions).into_iter().cloned());
            state.experiments.insert(ch.experiment.clone(), ch.next);
        }

        // A minute of traffic.
        let assigner = Assigner::new(&c, &state);
        for i in 0..400u64 {
            let unit = format!("u{next_unit}");
            next_unit += 1;
            let ts = now + (i * M as u64 / 400) as Millis;
            let a = assigner.assign("recs", &unit, None, ts).expect("assigns");
            if a.reason == Reason::Experiment {
                assert_eq!(state.rollouts["ship"].stage, 0, "only stage 1 runs it");
                *experiment_units
                    .entry(a.variant.to_string())
                    .or_insert(0u64) += 1;
            }
            expose(&mut agg, &a, &unit, ts);
            // A deterministic draw: the unit's own hash against the variant's rate.
            let draw = bucket(0xC0FFEE, &unit) as f64 / 10_000.0;
            if draw < rate(a.variant) {
                purchase(&mut agg, &unit, ts + 1);
            }
        }
    }
    let actions: Vec<(&str, &str)> = decisions
        .iter()
        .map(|d| (d.entity.as_str(), d.action.as_str()))
        .collect();
    assert_eq!(
        actions,
        [
            ("pick", "start"),
            ("pick", "winner"),
            ("ship", "advance"),
            ("ship", "complete")
        ],
        "{decisions:#?}"
    );
    assert_eq!(state.experiments["pick"].winner.as_deref(), Some("v3"));
    let rs = &state.rollouts["ship"];
    assert_eq!(rs.candidate.as_deref(), Some("v3"));
    assert_eq!(rs.status, RolloutStatus::Completed);
    // Both candidates shared the candidate slice.
    let (v2, v3) = (experiment_units["v2"], experiment_units["v3"]);
    assert!(v2 > 100 && v3 > 100, "{experiment_units:?}");
    assert!(
        (v2 as f64 / v3 as f64 - 1.0).abs() < 0.2,
        "{experiment_units:?}"
    );
    // After the stage, the winner is what the candidate slice gets.
    let assigner = Assigner::new(&c, &state);
    let after = assigner
        .assign("recs", "late-unit", None, now)
        .expect("assigns");
    assert!(matches!(after.variant, "v3" | "v1"));
}

#[test]
fn units_in_a_holdout_never_enter_an_experiment() {
    let text = format!(
        "{CONFIG}\n{}",
        r#"
[[models]]
name = "batch"
variants = [{ name = "b1" }, { name = "b2" }]

[[experiments]]
name = "everyone"
model = "recs"
design = "split"
variants = ["v1", "v3"]
traffic = 100
primary = "conversion"

[[experiments]]
name = "alternate"
model = "batch"
design = "switchback"
variants = ["b1", "b2"]
primary = "conversion"
"#
    );
    let c = load_str(&text, Format::Toml, "t.toml").unwrap_or_else(|e| panic!("{e}"));
    let mut state = live(&c);
    // The stage experiment runs too, so every route into an experiment is open.
    for ch in stage::plan_stage_experiments(&c, &state, 0) {
        state.experiments.insert(ch.experiment.clone(), ch.next);
    }
    assert!(state
        .experiments
        .values()
        .all(|s| s.status == ExperimentStatus::Running));
    let a = Assigner::new(&c, &state);
    let salt = state.salt(EntityKind::Holdout, "forever");
    let held = percent_to_buckets(10.0);
    let mut held_out = 0;
    let n = 20_000;
    for i in 0..n {
        let unit = format!("user-{i}");
        let in_holdout = bucket(salt, &unit) < held;
        for (model, baseline) in [("recs", "v1"), ("batch", "b1")] {
            let got = a
                .assign(model, &unit, None, i as Millis * M)
                .expect("assigns");
            if in_holdout {
                assert_eq!(got.reason, Reason::Holdout, "{unit} on {model}");
                assert_eq!(got.variant, baseline);
                assert_eq!(got.entity, Some((EntityKind::Holdout, "forever")));
            } else {
                assert_ne!(got.reason, Reason::Holdout);
                // Outside the holdout every unit is in an experiment: 100% traffic each.
                assert_eq!(got.reason, Reason::Experiment, "{unit} on {model}");
            }
        }
        held_out += usize::from(in_holdout);
    }
    assert!((1_700..2_300).contains(&held_out), "{held_out} of {n}");
}

#[test]
fn the_holdout_report_compares_holdout_and_exposed_units() {
    let c = gated();
    let mut state = live(&c);
    for ch in stage::plan_stage_experiments(&c, &state, 0) {
        state.experiments.insert(ch.experiment.clone(), ch.next);
    }
    let assigner = Assigner::new(&c, &state);
    let mut agg = Aggregator::new(&c);
    // (units, converted) of the holdout and of the exposed units (rollout or experiment).
    let (mut held, mut exposed) = ((0u64, 0u64), (0u64, 0u64));
    for i in 0..6_000u64 {
        let unit = format!("u{i}");
        let a = assigner.assign("recs", &unit, None, 0).expect("assigns");
        expose(&mut agg, &a, &unit, 0);
        let converts = bucket(0xBEEF, &unit)
            < if a.reason == Reason::Holdout {
                1_000
            } else {
                1_500
            };
        if converts {
            purchase(&mut agg, &unit, 5);
        }
        let side = match a.entity.map(|(k, _)| k) {
            Some(EntityKind::Holdout) => &mut held,
            Some(EntityKind::Rollout | EntityKind::Experiment) => &mut exposed,
            _ => continue,
        };
        side.0 += 1;
        side.1 += u64::from(converts);
    }
    let holdout = &c.holdouts[0];
    let own = agg.evidence("forever").expect("holdout evidence");
    let others: Vec<_> = ["ship", "pick"]
        .iter()
        .filter_map(|n| agg.evidence(n))
        .collect();
    let report = holdout_report(holdout, &c, &own, &others, 9);
    assert_eq!(report.holdout_units, held.0);
    assert_eq!(report.sources.len(), 2, "{:?}", report.sources);
    assert_eq!(
        report.sources.iter().map(|s| s.units).sum::<u64>(),
        exposed.0,
        "{:?}",
        report.sources
    );
    let row = &report.comparisons[0];
    assert_eq!(
        (row.model.as_str(), row.metric.as_str()),
        ("recs", "conversion")
    );
    assert_eq!(row.exposed_from, ["ship", "pick"]);
    assert_eq!(row.holdout_n, held.0);
    assert_eq!(row.exposed_n, exposed.0);
    let (ph, pe) = (
        held.1 as f64 / held.0 as f64,
        exposed.1 as f64 / exposed.0 as f64,
    );
    assert!((row.holdout_value.expect("value") - ph).abs() < 1e-12);
    assert!((row.exposed_value.expect("value") - pe).abs() < 1e-12);
    let lift = row.absolute_lift.expect("lift");
    assert!((lift.estimate - (pe - ph)).abs() < 1e-12);
    // Unpooled standard error of the difference of two proportions, 95% interval.
    let se = (ph * (1.0 - ph) / held.0 as f64 + pe * (1.0 - pe) / exposed.0 as f64).sqrt();
    assert!((lift.upper - lift.lower - 2.0 * 1.959_963_985 * se).abs() < 1e-6);
    let rel = row.relative_lift.expect("relative lift");
    assert!((rel.estimate - (pe / ph - 1.0)).abs() < 1e-9);
    let p = row.p_value.expect("p-value");
    assert!((0.0..0.05).contains(&p), "{p}");
    assert_eq!(row.direction, Some(experiment::Direction::Better));
}
