//! `rampart_core::plan`: the checklist's scores and recommendation (with the 10-point boundary),
//! sample sizes against statsmodels, days and stage durations against their formulas, the answers
//! file, and the config block loading as part of a real config.

use std::path::PathBuf;

use rampart_core::config::{load_str, Compare, Design, Format, StoppingRule};
use rampart_core::plan::{
    assess_checklist, compute_numbers, compute_numbers_with_stages, config_snippet,
    days_to_decision, plan, Assumptions, Criterion, PlanError, PlanInput, Strategy,
    DEFAULT_INTERLEAVING_FACTOR, DEFAULT_STAGES, INTERLEAVING_LEAD,
};

/// The models and metrics a config block refers to.
const BASE: &str = r#"[[models]]
name = "checkout-recs"
variants = [{ name = "v1" }, { name = "v2" }]

[[metrics]]
name = "conversion"
kind = "binary"
event = "purchase"
goal = "increase"
"#;

fn assumptions(units_per_day: f64, baseline_rate: f64, mde: f64) -> Assumptions {
    Assumptions {
        units_per_day,
        baseline_rate,
        mde,
        alpha: 0.05,
        power: 0.8,
        interleaving_factor: DEFAULT_INTERLEAVING_FACTOR,
        traffic: 100.0,
    }
}

fn full_input(answers: [u8; 7]) -> PlanInput {
    let mut input = PlanInput::default();
    for (c, a) in Criterion::ALL.into_iter().zip(answers) {
        input.set_number(c.name(), f64::from(a)).unwrap();
    }
    input.set_number("units-per-day", 100_000.0).unwrap();
    input.set_number("baseline-rate", 0.1).unwrap();
    input.set_number("mde", 0.1).unwrap();
    input.set_text("model", "checkout-recs").unwrap();
    input
}

#[test]
fn scores_follow_the_mapping_and_the_ten_point_rule() {
    // Answers in checklist order: traffic, risk, infrastructure, team, monitoring, iteration,
    // stakeholders. Expected totals are worked out by hand from "a toward the favoured side,
    // 6 − a toward the other; monitoring favours the staged rollout".
    let cases: [([u8; 7], u32, u32, Strategy); 7] = [
        ([3, 3, 3, 3, 3, 3, 3], 21, 21, Strategy::StagedRollout),
        // Exactly 10 ahead: interleaving (the guide says "by 10 points or more").
        ([5, 5, 4, 3, 3, 3, 3], 26, 16, Strategy::Interleaving),
        // 8 ahead: not enough.
        ([5, 5, 3, 3, 3, 3, 3], 25, 17, Strategy::StagedRollout),
        // 12 ahead, with low monitoring counting toward interleaving.
        ([5, 5, 3, 3, 1, 3, 3], 27, 15, Strategy::Interleaving),
        // Strong monitoring alone takes 10 ahead back to 6 ahead.
        ([5, 5, 4, 3, 5, 3, 3], 24, 18, Strategy::StagedRollout),
        ([5, 5, 5, 5, 1, 5, 5], 35, 7, Strategy::Interleaving),
        ([1, 1, 1, 1, 5, 1, 1], 7, 35, Strategy::StagedRollout),
    ];
    for (answers, interleaving, staged, want) in cases {
        let c = assess_checklist(&answers).unwrap();
        assert_eq!(
            (c.interleaving, c.staged),
            (interleaving, staged),
            "{answers:?}"
        );
        assert_eq!(c.lead, interleaving as i32 - staged as i32);
        assert_eq!(c.recommendation, want, "{answers:?}: {}", c.reason);
        assert_eq!(
            c.recommendation == Strategy::Interleaving,
            c.lead >= INTERLEAVING_LEAD
        );
        assert_eq!(c.scores.len(), 7);
    }
}

#[test]
fn the_reason_names_what_pushed_which_way() {
    let c = assess_checklist(&[5, 2, 3, 3, 4, 3, 3]).unwrap();
    assert_eq!(c.recommendation, Strategy::StagedRollout);
    assert!(
        c.reason
            .contains("toward interleaving: traffic-volume 5 (+4)"),
        "{}",
        c.reason
    );
    assert!(
        c.reason.contains(
            "toward a staged rollout: risk-tolerance 2 (+2), monitoring-capability 4 (+2)"
        ),
        "{}",
        c.reason
    );
    assert!(c.reason.contains("scores tie"), "{}", c.reason);
    let c = assess_checklist(&[5, 5, 4, 3, 3, 3, 3]).unwrap();
    assert!(
        c.reason.contains("leads by 10 points, at least 10"),
        "{}",
        c.reason
    );
}

#[test]
fn answers_outside_one_to_five_are_refused() {
    assert!(matches!(
        assess_checklist(&[0, 3, 3, 3, 3, 3, 3]),
        Err(PlanError::OutOfRange {
            name: "traffic-volume",
            ..
        })
    ));
    let mut input = PlanInput::default();
    for bad in ["6", "2.5", "0", "nan", "x"] {
        assert!(input.set_text("risk-tolerance", bad).is_err(), "{bad}");
    }
    assert_eq!(input.answers, [None; 7]);
    for (key, bad) in [
        ("baseline-rate", "1"),
        ("baseline-rate", "0"),
        ("mde", "-0.1"),
        ("units-per-day", "inf"),
        ("units-per-day", "0"),
        ("alpha", "0.5"),
        ("power", "1"),
        ("traffic", "101"),
        ("interleaving-factor", "0"),
        ("model", "no spaces"),
    ] {
        assert!(input.set_text(key, bad).is_err(), "{key} = {bad}");
    }
    assert!(matches!(
        input.set_text("colour", "3"),
        Err(PlanError::UnknownKey(_))
    ));
}

#[test]
fn missing_answers_are_all_named() {
    let mut input = PlanInput::default();
    input.set_text("traffic_volume", "4").unwrap();
    input.set_text("mde", "0.05").unwrap();
    let err = input.resolve().unwrap_err();
    let PlanError::Missing(names) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(
        names,
        &[
            "risk-tolerance",
            "infrastructure-maturity",
            "team-expertise",
            "monitoring-capability",
            "iteration-speed",
            "stakeholder-alignment",
            "units-per-day",
            "baseline-rate",
        ]
    );
    let line = err.to_string();
    assert!(!line.contains('\n'), "{line}");
    assert!(
        line.starts_with("missing answers: risk-tolerance, "),
        "{line}"
    );
}

#[test]
fn split_sample_size_matches_statsmodels() {
    // statsmodels 0.15: h = proportion_effectsize(0.11, 0.10) = 0.03262940076737697;
    // NormalIndPower().solve_power(h, power=0.8, alpha=0.05, ratio=1, alternative="two-sided")
    // = 14744.104836925611.
    let n = compute_numbers(&assumptions(100_000.0, 0.1, 0.1)).unwrap();
    assert!((n.split.effect_size - 0.032_629_400_767_376_97).abs() < 1e-12);
    assert_eq!(n.split.units_per_arm, 14_745);
    assert_eq!(n.split.arms, 2);
    // proportion_effectsize(0.0525, 0.05) = 0.011338312223164948; at alpha 0.01 and power 0.9:
    // 231482.52772286808.
    let mut a = assumptions(100_000.0, 0.05, 0.05);
    a.alpha = 0.01;
    a.power = 0.9;
    let n = compute_numbers(&a).unwrap();
    assert!((n.split.effect_size - 0.011_338_312_223_164_948).abs() < 1e-12);
    assert_eq!(n.split.units_per_arm, 231_483);
}

#[test]
fn gate_sample_size_matches_statsmodels() {
    // Non-inferiority with margin 10% at p = 0.10: the pass look must reject "candidate ≤ 0.09"
    // when it is at 0.10. statsmodels: h = proportion_effectsize(0.10, 0.09) = 0.034115800762489434,
    // NormalIndPower().solve_power(h, power=0.8, alpha=0.05, alternative="larger") = 10623.974071129374.
    let n = compute_numbers(&assumptions(100_000.0, 0.1, 0.1)).unwrap();
    assert!((n.staged.effect_size - 0.034_115_800_762_489_434).abs() < 1e-12);
    assert_eq!(n.staged.gate_units_per_arm, 10_624);
    assert!((n.staged.margin - 0.1).abs() < 1e-15);
}

#[test]
fn days_are_units_over_daily_traffic_rounded_up() {
    assert_eq!(days_to_decision(1000, 2, 2000.0, 100.0).unwrap(), 1);
    assert_eq!(days_to_decision(1001, 2, 2000.0, 100.0).unwrap(), 2);
    assert_eq!(days_to_decision(100, 1, 500.0, 20.0).unwrap(), 1);
    assert_eq!(days_to_decision(14_745, 2, 1_000.0, 50.0).unwrap(), 59);
    assert!(days_to_decision(1, 2, 0.0, 100.0).is_err());
    assert!(days_to_decision(1, 2, 1000.0, 0.0).is_err());

    // The plan's own days follow ceil(n · arms · 100 / (units per day · traffic %)).
    for (units_per_day, traffic) in [(100_000u64, 100u64), (7_000, 30), (123_457, 5)] {
        let mut a = assumptions(units_per_day as f64, 0.1, 0.1);
        a.traffic = traffic as f64;
        let n = compute_numbers(&a).unwrap();
        let per_day = units_per_day * traffic;
        let ceil_div = |x: u64| x.div_ceil(per_day);
        assert_eq!(n.split.days, ceil_div(n.split.units_per_arm * 2 * 100));
        let impressions = ((n.split.units_per_arm * 2) as f64 / DEFAULT_INTERLEAVING_FACTOR).ceil();
        assert_eq!(n.interleaving.impressions, impressions as u64);
        assert_eq!(
            n.interleaving.days,
            ceil_div(n.interleaving.impressions * 100)
        );
    }
}

#[test]
fn interleaving_factor_divides_the_split_units() {
    let mut a = assumptions(10_000.0, 0.1, 0.1);
    a.interleaving_factor = 4.0;
    let n = compute_numbers(&a).unwrap();
    // 2 · 14,745 / 4 = 7,372.5 → 7,373.
    assert_eq!(n.interleaving.impressions, 7_373);
    assert_eq!(n.interleaving.days, 1);
    assert!((DEFAULT_INTERLEAVING_FACTOR - 4550.0 / 1637.0).abs() < 1e-15);
}

#[test]
fn stages_last_their_minimum_or_until_the_gate_has_its_units() {
    // 100,000 units a day: 1% is 1,000 per arm a day; the gate needs 10,624 per arm, so stage 1
    // lasts ceil(10,624 · 24 / 1,000) = 255 hours, and every later stage only its minimum.
    let n = compute_numbers(&assumptions(100_000.0, 0.1, 0.1)).unwrap();
    let s = &n.staged;
    let traffic: Vec<f64> = s.stages.iter().map(|st| st.traffic).collect();
    assert_eq!(traffic, [1.0, 5.0, 20.0, 50.0, 100.0]);
    let hours: Vec<u64> = s.stages.iter().map(|st| st.hours).collect();
    assert_eq!(hours, [255, 24, 48, 72, 0]);
    assert_eq!(s.total_hours, 399);
    assert!((s.total_days - 399.0 / 24.0).abs() < 1e-12);
    assert!((s.stages[0].units_per_arm_per_day - 1_000.0).abs() < 1e-9);
    assert!(s.stages[0].units_per_arm_at_end >= 10_624.0);
    assert!((s.stages[0].units_per_arm_at_end - 10_625.0).abs() < 1e-6);
    // The 100% stage has no concurrent control left.
    assert_eq!(s.stages[4].arm_share, 0.0);
    for w in s.stages.windows(2) {
        assert_eq!(w[0].units_per_arm_at_end, w[1].units_per_arm_at_start);
    }

    // Plenty of traffic: every stage at its minimum, 24 + 24 + 48 + 72 = 168 hours.
    let n = compute_numbers(&assumptions(1e9, 0.1, 0.1)).unwrap();
    let minimum: u64 = DEFAULT_STAGES.iter().map(|(_, h)| h).sum();
    assert_eq!(n.staged.total_hours, minimum);
    assert_eq!(minimum, 168);

    // A 60% stage keeps a 40% control: the arm share is the smaller slice.
    let n = compute_numbers_with_stages(&assumptions(1_000.0, 0.1, 0.1), &[(60.0, 0)]).unwrap();
    assert_eq!(n.staged.stages[0].arm_share, 40.0);
    assert_eq!(
        n.staged.stages[0].hours,
        (10_624.0_f64 * 24.0 / 400.0).ceil() as u64
    );

    // Without a stage that keeps a control, the gate never has its units.
    let err = compute_numbers_with_stages(&assumptions(1_000.0, 0.1, 0.1), &[(100.0, 24)]);
    assert_eq!(err.unwrap_err(), PlanError::Unreachable { units: 10_624 });
}

#[test]
fn sequential_estimates_are_seeded_and_plausible() {
    let a = assumptions(100_000.0, 0.1, 0.1);
    let first = compute_numbers(&a).unwrap();
    let again = compute_numbers(&a).unwrap();
    assert_eq!(first, again, "seeded: the same numbers every run");
    for (est, fixed) in [
        (first.split.sequential, first.split.units_per_arm),
        (
            first.staged.sequential_gate,
            first.staged.gate_units_per_arm,
        ),
    ] {
        // The horizon is three fixed samples; by then the always-valid test has more than the
        // fixed test's power, and it stops well before the horizon on average.
        assert!((est.horizon_units_per_arm - 3.0 * fixed as f64).abs() < 3.0);
        assert!(est.power_by_horizon > 0.8, "{est:?}");
        assert!(est.expected_units_per_arm > 0.3 * fixed as f64, "{est:?}");
        assert!(
            est.expected_units_per_arm < est.horizon_units_per_arm,
            "{est:?}"
        );
    }
    let days = first.split.sequential.expected_units_per_arm * 2.0 / 100_000.0;
    assert!((first.split.sequential_days - days).abs() < 1e-9);
}

#[test]
fn rates_pushed_out_of_range_are_refused() {
    assert!(matches!(
        compute_numbers(&assumptions(1_000.0, 0.6, 0.9)),
        Err(PlanError::OutOfRange { name: "mde", .. })
    ));
    assert!(compute_numbers(&assumptions(1_000.0, f64::NAN, 0.1)).is_err());
    let mut a = assumptions(1_000.0, 0.1, 0.1);
    a.power = 0.01;
    assert!(matches!(compute_numbers(&a), Err(PlanError::Stats(_))));
}

fn load(snippet: &str) -> rampart_core::Config {
    let text = format!("{BASE}\n{snippet}");
    load_str(&text, Format::Toml, "plan.toml").unwrap_or_else(|e| panic!("{e}\n{text}"))
}

#[test]
fn the_staged_snippet_loads_and_carries_the_numbers() {
    let p = plan(&full_input([3, 2, 3, 3, 4, 3, 3])).unwrap();
    assert_eq!(p.checklist.recommendation, Strategy::StagedRollout);
    let config = load(&p.snippet);
    let r = &config.rollouts[0];
    assert_eq!(r.model, "checkout-recs");
    assert_eq!((r.baseline.as_str(), r.candidate.as_str()), ("v1", "v2"));
    let traffic: Vec<f64> = r.stages.iter().map(|s| s.traffic).collect();
    assert_eq!(traffic, [1.0, 5.0, 20.0, 50.0, 100.0]);
    let hours: Vec<Option<u64>> = r
        .stages
        .iter()
        .map(|s| s.min_duration.map(|d| d.as_millis() / 3_600_000))
        .collect();
    assert_eq!(hours, [Some(24), Some(24), Some(48), Some(72), None]);
    assert_eq!(
        r.stages[0].min_units,
        Some(p.numbers.staged.gate_units_per_arm)
    );
    assert_eq!(r.gates.len(), 1);
    assert_eq!(r.gates[0].metric, "conversion");
    assert_eq!(r.gates[0].compare, Some(Compare::Control));
    assert_eq!(
        r.gates[0].max_worsening,
        Some(rampart_core::config::Worsening::Relative(10.0))
    );
    assert_eq!(r.gates[0].alpha, Some(0.05));
}

#[test]
fn the_experiment_snippets_load_split_or_team_draft() {
    let mut input = full_input([5, 5, 4, 3, 3, 3, 3]);
    let p = plan(&input).unwrap();
    assert_eq!(p.checklist.recommendation, Strategy::Interleaving);
    let config = load(&p.snippet);
    let e = &config.experiments[0];
    assert_eq!(e.design, Design::Split);
    assert_eq!(e.variants, ["v1", "v2"]);
    assert_eq!(e.primary, "conversion");
    assert_eq!(e.stopping.rule, StoppingRule::Fixed);
    assert_eq!(e.stopping.mde, Some(0.1));
    assert_eq!(e.stopping.power, 0.8);
    let days = e.stopping.max_duration.unwrap().as_millis() / 86_400_000;
    assert_eq!(days, 2 * p.numbers.split.days);

    input.ranking = Some(true);
    input.set_text("traffic", "40").unwrap();
    let p = plan(&input).unwrap();
    let config = load(&p.snippet);
    let e = &config.experiments[0];
    assert_eq!(e.design, Design::TeamDraft);
    assert_eq!(e.traffic, 40.0);
    assert_eq!(e.stopping.rule, StoppingRule::Sequential);
    let days = e.stopping.max_duration.unwrap().as_millis() / 86_400_000;
    assert_eq!(days, 2 * p.numbers.interleaving.days);

    // The block for the other strategy loads too, with the same input.
    let resolved = input.resolve().unwrap();
    let staged = config_snippet(Strategy::StagedRollout, &resolved, &p.numbers);
    assert_eq!(load(&staged).rollouts.len(), 1);
}

fn example() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/plan/answers.toml")
}

#[test]
fn the_example_answers_file_reads_completely() {
    let text = std::fs::read_to_string(example()).unwrap();
    let input = PlanInput::from_toml(&text).unwrap();
    assert_eq!(
        input.answers,
        [
            Some(4),
            Some(2),
            Some(3),
            Some(3),
            Some(4),
            Some(3),
            Some(2)
        ]
    );
    assert_eq!(input.units_per_day, Some(250_000.0));
    assert_eq!(input.baseline_rate, Some(0.04));
    assert_eq!(input.mde, Some(0.05));
    assert_eq!(input.model.as_deref(), Some("checkout-recs"));
    assert_eq!(input.ranking, Some(true));
    assert!(input.missing().is_empty());
    let p = plan(&input).unwrap();
    // +2 for traffic, +2 staged each for risk, monitoring and stakeholders: staged leads by 4.
    assert_eq!(p.checklist.lead, -4);
    assert_eq!(p.checklist.recommendation, Strategy::StagedRollout);
    load(&p.snippet);
}

#[test]
fn answers_file_errors_name_the_line_and_key() {
    let err =
        PlanInput::from_toml("[checklist]\ntraffic_volume = 4\nrisk_tolerance = 9\n").unwrap_err();
    let PlanError::File { line, message } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(*line, 3);
    assert!(
        message.starts_with("checklist.risk_tolerance: "),
        "{message}"
    );
    assert!(message.contains("1 to 5"), "{message}");

    let err = PlanInput::from_toml("[numbers]\nmde = 0.1\nunits = 5\n").unwrap_err();
    assert!(matches!(&err, PlanError::File { line: 3, .. }), "{err:?}");
    assert!(err.to_string().contains("unknown answer `units`"), "{err}");

    let err = PlanInput::from_toml("[numbers]\nmde = \"big\"\n").unwrap_err();
    assert!(matches!(&err, PlanError::File { line: 2, .. }), "{err:?}");

    let err = PlanInput::from_toml("[config]\nmodel = 5\n").unwrap_err();
    assert!(err.to_string().contains("expected a string"), "{err}");

    let err = PlanInput::from_toml("[answers]\nmde = 0.1\n").unwrap_err();
    assert!(
        err.to_string().contains("unknown section `answers`"),
        "{err}"
    );

    let err = PlanInput::from_toml("[numbers]\nmde = \n").unwrap_err();
    assert!(matches!(&err, PlanError::File { line: 2, .. }), "{err:?}");
}

#[test]
fn later_sources_override_earlier_ones() {
    let file =
        PlanInput::from_toml("[checklist]\ntraffic_volume = 2\n[numbers]\nmde = 0.1\n").unwrap();
    let mut flags = PlanInput::default();
    flags.set_text("traffic-volume", "5").unwrap();
    flags.set_text("baseline-rate", "0.2").unwrap();
    let merged = file.merge(flags);
    assert_eq!(merged.answers[0], Some(5));
    assert_eq!(merged.mde, Some(0.1));
    assert_eq!(merged.baseline_rate, Some(0.2));
}
