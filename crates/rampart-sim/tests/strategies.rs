//! The strategy simulator on the shipped example scenarios and on hand-made ones: scenario errors
//! name file, line and field; runs are deterministic per seed; rampart rolls back a bad model and
//! exposes fewer units to it than a fixed-horizon A/B test; on a null change its false rollbacks
//! stay within the level its gates allow; a one-segment harm is caught by the segment guardrail;
//! and the fixed-threshold rule does what it says on a case small enough to check by hand.

use rampart_sim::{
    assess_interval, parse_scenario, run_seed, step_threshold, summarize, ArmInterval, Ending,
    FixedThreshold, IntervalResult, Scenario, SimMetric, StrategyKind, ThresholdCheck,
    ThresholdState, ThresholdStep,
};
use rampart_stats::Binomial;

fn example(name: &str) -> Scenario {
    let path = format!(
        "{}/../../examples/scenarios/{name}.toml",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    parse_scenario(&text, &path).unwrap_or_else(|e| panic!("{e}"))
}

const MINIMAL: &str = r#"
[traffic]
units_per_hour = 1000

[baseline]
name = "v1"
conversion = 0.1

[candidate]
name = "v2"
conversion = 0.1

[run]
horizon = "1d"
"#;

#[test]
fn scenario_errors_name_the_line_the_field_and_what_is_valid() {
    let text = r#"[traffic]
units_per_hour = -5
segment_atribute = "platform"

[baseline]
name = "v1"
conversion = 1.5

[candidate]
name = "v2"
conversion = 0.1
novelty = { lift = 0.1 }

[rollout]
stages = [{ traffic = 10 }, { traffic = 100 }]
gates = [{ metric = "revenue", compare = "control", max_worsening = "10%" }]

[run]
horizon = "1d"
"#;
    let errors = parse_scenario(text, "s.toml").unwrap_err();
    let find = |field: &str| {
        errors
            .0
            .iter()
            .find(|e| e.field == field)
            .unwrap_or_else(|| panic!("no error at {field}: {errors}"))
    };
    let e = find("traffic.units_per_hour");
    assert_eq!(e.line, Some(2));
    assert!(e.message.contains("above 0"), "{}", e.message);
    let e = find("traffic.segment_atribute");
    assert_eq!(e.line, Some(3));
    assert!(
        e.message.contains("did you mean `segment_attribute`"),
        "{}",
        e.message
    );
    let e = find("baseline.conversion");
    assert_eq!(e.line, Some(7));
    assert!(
        e.message.contains("a probability from 0 to 1"),
        "{}",
        e.message
    );
    let e = find("candidate.novelty.half_life");
    assert!(e.message.contains("missing required key"), "{}", e.message);
    // The rollout section goes through the config loader; its problems come back at `rollout.*`
    // on the scenario's own line.
    let e = find("rollout.gates[0].metric");
    assert_eq!(e.line, Some(16));
    assert!(e.message.contains("revenue"), "{}", e.message);
    assert!(errors.to_string().starts_with("s.toml:"), "{errors}");

    let errors = parse_scenario("[traffic\n", "bad.toml").unwrap_err();
    assert!(
        errors.0[0].message.starts_with("not valid TOML"),
        "{errors}"
    );

    let no_horizon = MINIMAL.replace("horizon = \"1d\"", "");
    let errors = parse_scenario(&no_horizon, "s.toml").unwrap_err();
    assert_eq!(errors.0.len(), 1, "{errors}");
    assert_eq!(errors.0[0].field, "run.horizon");
}

#[test]
fn a_minimal_scenario_gets_the_default_plan_and_rules() {
    let s = parse_scenario(MINIMAL, "minimal.toml").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.name, "minimal");
    let stages: Vec<f64> = s.config.rollouts[0]
        .stages
        .iter()
        .map(|s| s.traffic)
        .collect();
    assert_eq!(stages, [1.0, 5.0, 20.0, 50.0, 100.0]);
    assert_eq!(s.fixed_threshold.stages, stages);
    assert_eq!(s.fixed_threshold.checks.len(), 2);
    assert_eq!((s.seeds, s.first_seed), (50, 1));
    assert!(!s.candidate_worse());
}

#[test]
fn the_same_seed_gives_the_same_runs() {
    let s = example("bad-fraud-model");
    let kinds = StrategyKind::ALL;
    let a = run_seed(&s, &kinds, 5).unwrap();
    let b = run_seed(&s, &kinds, 5).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.len(), 4, "no rankers: interleaving is left out");
    let c = run_seed(&s, &kinds, 6).unwrap();
    assert_ne!(a, c);
    // Every strategy of a seed sees the same units.
    assert!(a.iter().all(|r| r.units == a[0].units));
}

#[test]
fn rampart_rolls_back_the_bad_model_and_exposes_fewer_units_than_a_fixed_horizon_ab_test() {
    let s = example("bad-fraud-model");
    let kinds = [StrategyKind::Rampart, StrategyKind::FixedHorizonAb];
    let runs: Vec<_> = (1..=8)
        .flat_map(|seed| run_seed(&s, &kinds, seed).unwrap())
        .collect();
    let summary = summarize(&runs, &kinds, s.world.horizon_ms);
    let (rampart, ab) = (&summary[0], &summary[1]);
    println!("{summary:#?}");
    assert!(
        rampart.rolled_back >= 7,
        "rolled back in {} of 8",
        rampart.rolled_back
    );
    assert_eq!(rampart.false_promotion_rate, Some(0.0));
    assert!(
        rampart.worse_units_mean < ab.worse_units_mean,
        "rampart {} vs A/B {}",
        rampart.worse_units_mean,
        ab.worse_units_mean
    );
}

/// The smallest k with P(X ≥ k) ≤ 1% for X ~ Binomial(n, p).
fn upper_bound(n: u64, p: f64) -> u64 {
    let b = Binomial::new(n, p).unwrap();
    // P(X ≥ k) = P(X > k − 1).
    (1..=n).find(|&k| b.sf(k - 1) <= 0.01).unwrap_or(n + 1)
}

#[test]
fn on_a_null_change_rampart_rolls_back_no_more_often_than_its_gates_allow() {
    let s = example("null-change");
    let gates = s.config.rollouts[0].gates.len() as f64;
    // Each gate's harm test is always-valid at alpha = 0.05, so over the whole rollout a false
    // rollback happens with probability at most gates × alpha (union bound).
    let nominal = gates * 0.05;
    let seeds = 12;
    let runs: Vec<_> = (100..100 + seeds)
        .flat_map(|seed| run_seed(&s, &[StrategyKind::Rampart], seed).unwrap())
        .collect();
    let rolled_back = runs
        .iter()
        .filter(|r| r.ending == Ending::RolledBack)
        .count() as u64;
    let bound = upper_bound(seeds, nominal);
    println!("null change: {rolled_back} of {seeds} rolled back; a count of {bound} or more has probability ≤ 1% at the nominal {nominal}");
    assert!(
        rolled_back < bound,
        "{rolled_back} false rollbacks of {seeds}"
    );
    assert!(runs
        .iter()
        .all(|r| !r.candidate_worse && r.worse_units == 0.0));
}

#[test]
fn the_one_segment_harm_is_caught_by_the_segment_guardrail() {
    let s = example("one-segment-harm");
    for seed in 1..=4 {
        let runs = run_seed(
            &s,
            &[StrategyKind::Rampart, StrategyKind::FixedHorizonAb],
            seed,
        )
        .unwrap();
        let r = &runs[0];
        assert_eq!(r.ending, Ending::RolledBack, "seed {seed}: {}", r.reason);
        assert!(r.reason.contains("ios"), "seed {seed}: {}", r.reason);
        assert!(!r.reason.contains("web"), "seed {seed}: {}", r.reason);
        // The whole-population A/B test does not see it.
        assert_eq!(
            runs[1].ending,
            Ending::Promoted,
            "seed {seed}: {}",
            runs[1].reason
        );
        assert!(runs[1].false_promotion);
    }
}

fn rule() -> FixedThreshold {
    FixedThreshold {
        interval_ms: 3_600_000,
        failure_limit: 2,
        success_count: 2,
        min_units: 10,
        checks: vec![
            ThresholdCheck {
                metric: SimMetric::ErrorRate,
                max: Some(0.05),
                min: None,
                max_ratio: None,
                min_ratio: None,
                quantile: 0.99,
            },
            ThresholdCheck {
                metric: SimMetric::Conversion,
                max: None,
                min: None,
                max_ratio: None,
                min_ratio: Some(0.9),
                quantile: 0.99,
            },
        ],
        stages: vec![10.0, 100.0],
    }
}

fn arm(units: u64, errors: u64, conversions: u64) -> ArmInterval {
    ArmInterval {
        units,
        errors,
        conversions,
        latencies: Vec::new(),
    }
}

#[test]
fn fixed_threshold_checks_and_steps_as_the_rule_says() {
    let r = rule();
    let base = || arm(1000, 10, 100);
    // 4/100 errors ≤ 5%, conversion 9/100 = 0.9 × the baseline's 0.1: passes.
    assert_eq!(
        assess_interval(&r, &mut arm(100, 4, 9), &mut base()),
        IntervalResult::Pass
    );
    // 6/100 errors > 5%: fails.
    assert!(
        matches!(assess_interval(&r, &mut arm(100, 6, 10), &mut base()), IntervalResult::Fail(m) if m.contains("error_rate"))
    );
    // 8/100 conversion is 0.8 × the baseline: fails.
    assert!(
        matches!(assess_interval(&r, &mut arm(100, 0, 8), &mut base()), IntervalResult::Fail(m) if m.contains("conversion"))
    );
    // Fewer than min_units: skipped.
    assert_eq!(
        assess_interval(&r, &mut arm(9, 9, 0), &mut base()),
        IntervalResult::Skipped
    );
    // No baseline units (the 100% stage): ratio checks cannot fail.
    assert_eq!(
        assess_interval(&r, &mut arm(100, 1, 0), &mut arm(0, 0, 0)),
        IntervalResult::Pass
    );

    // pass, fail, pass → advance; skipped; pass, fail → second failure rolls back.
    let fail = IntervalResult::Fail("x".into());
    let mut s = ThresholdState::default();
    let mut steps = Vec::new();
    for result in [
        IntervalResult::Pass,
        fail.clone(),
        IntervalResult::Pass,
        IntervalResult::Skipped,
        IntervalResult::Pass,
        fail.clone(),
    ] {
        let (next, step) = step_threshold(&r, s, &result);
        s = next;
        steps.push(step);
    }
    use ThresholdStep::*;
    assert_eq!(steps, [Stay, Stay, Advance, Stay, Stay, RollBack]);
    assert_eq!(
        s,
        ThresholdState {
            stage: 1,
            passes: 1,
            failures: 2
        }
    );

    // Two passes in each of the two stages promote.
    let mut s = ThresholdState::default();
    let mut steps = Vec::new();
    for _ in 0..4 {
        let (next, step) = step_threshold(&r, s, &IntervalResult::Pass);
        s = next;
        steps.push(step);
    }
    assert_eq!(steps, [Stay, Advance, Stay, Promote]);
}

#[test]
fn interleaving_finds_the_better_ranker() {
    let mut s = example("ranker-swap");
    s.world.horizon_ms = 12 * 3_600_000;
    let runs = run_seed(&s, &[StrategyKind::Interleaving], 1).unwrap();
    let r = &runs[0];
    assert_eq!(r.ending, Ending::Promoted, "{}", r.reason);
    assert!(r.reason.starts_with("v2 preferred to v1"), "{}", r.reason);
    // The third ranker is worse than the baseline and placed about a third of every list.
    let per_unit = r.worse_units / (r.units as f64);
    assert!(per_unit > 0.0 && per_unit < 0.4, "{per_unit}");
}

#[test]
fn maturity_keeps_delayed_conversions_from_rolling_back_a_better_candidate() {
    let s = example("better-recommender");
    let maturity = s.config.metric("conversion").and_then(|m| m.maturity);
    assert_eq!(maturity, Some("3h".parse().unwrap()));
    let mut naive = s.clone();
    naive.config.metrics[0].maturity = None;
    // Seeds whose better candidate the conversion gate rolled back right after a ramp-up, when it
    // compared the candidate's fresh units with the control's older ones.
    for seed in [9, 24] {
        let without = &run_seed(&naive, &[StrategyKind::Rampart], seed).unwrap()[0];
        assert_eq!(without.ending, Ending::RolledBack, "seed {seed}");
        assert!(
            without.reason.contains("conversion vs control"),
            "{}",
            without.reason
        );
        let with = &run_seed(&s, &[StrategyKind::Rampart], seed).unwrap()[0];
        assert_eq!(
            with.ending,
            Ending::Promoted,
            "seed {seed}: {}",
            with.reason
        );
    }
    // A worse candidate is still rolled back on its mature units.
    let mut worse = s.clone();
    worse
        .world
        .traffic
        .behaviour
        .get_mut("v2")
        .unwrap()
        .conversion = 0.07;
    for seed in [1, 2] {
        let r = &run_seed(&worse, &[StrategyKind::Rampart], seed).unwrap()[0];
        assert_eq!(r.ending, Ending::RolledBack, "seed {seed}: {}", r.reason);
        assert!(
            r.reason.contains("mature units: exposed ≥ 3h ago"),
            "{}",
            r.reason
        );
    }
}

#[test]
fn a_metric_maturity_in_a_scenario_is_checked() {
    let text = format!("{MINIMAL}\n[metrics.conversion]\nmaturity = \"soon\"\n\n[metrics.latency]\nmaturity = \"1h\"\n");
    let errors = parse_scenario(&text, "s.toml").unwrap_err();
    let fields: Vec<&str> = errors.0.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        ["metrics.conversion.maturity", "metrics.latency"],
        "{errors}"
    );
    assert!(
        errors.0[0].message.contains("invalid duration \"soon\""),
        "{errors}"
    );
    assert!(
        errors.0[1]
            .message
            .contains("valid keys here: conversion, error_rate"),
        "{errors}"
    );
}
